/*
 * mr_store: the store of one job on one rank, and its spills to runs.
 *
 * DESIGN. The store is the arena of the context cut into chunks, each
 * belonging to one bucket (a slice of a partition) and holding bare
 * records (layout in mr_int.h); mr_job_int.h has the fast path
 * (store_reserve, store_commit, inline where the map and the receive
 * path file records) and this file the rest: a bucket's next chunk, and
 * when the arena is full, a spill. A spill writes the whole store as one
 * sorted run file in the scratch directory, partition by partition and
 * each bucket sorted, with the byte offset and crc32c of every
 * partition's range (struct run), then empties the store; the reduce
 * phase merges the runs with what is in memory.
 *
 * Its place in the shuffle: at the bottom. The map (mr_emit), the
 * receive path (absorb) and the reduce's sources file into and read from
 * the store; this file calls only mr_bucket_settle (mr_direct.c) to sort
 * a bucket it spills. Safety: a failed spill fails the job (its run is
 * never read: no reduce follows a failed map), and the reduce checks
 * every partition's range of a run against the crc32c written with it
 * (MR_ECORRUPT).
 */
#include <errno.h>
#include <stdlib.h>

#include "mapreduce/mr_job_int.h"

static int spill(struct jr *jr);

__attribute__((noinline)) uint8_t *mr_store_reserve_chunk(struct jr *jr, uint32_t b, size_t sz)
{
	struct pidx *x = &jr->pi[b];
	size_t csz = (sz + jr->chunk - 1) / jr->chunk * jr->chunk;

	if (csz > jr->cap) {
		mr_jr_fail(jr, MR_EINVAL, "a %zu-byte record does not fit the memory budget", sz);
		return NULL;
	}
	if (jr->used + csz > jr->cap && spill(jr))
		return NULL;
	if (x->nch == x->chcap) {
		int cap = x->chcap ? x->chcap * 2 : 16;
		uint8_t **nc = realloc(x->ch, (size_t)cap * sizeof(*nc));
		size_t *nl = nc ? realloc(x->chlen, (size_t)cap * sizeof(*nl)) : NULL;
		if (nc)
			x->ch = nc;
		if (!nl) {
			mr_jr_fail(jr, -ENOMEM, "out of memory");
			return NULL;
		}
		x->chlen = nl;
		x->chcap = cap;
	}
	x->ch[x->nch] = x->tail = jr->arena + jr->used;
	x->chlen[x->nch++] = 0;
	x->left = csz;
	jr->used += csz;
	return x->tail;
}

/* Empty the store (its records are in a run). */
static void store_reset(struct jr *jr)
{
	for (int b = 0; b < jr->job->nparts << jr->fan_bits; b++)
		pidx_clear(&jr->pi[b]);
	jr->used = 0;
	jr->n = 0;
}

struct run *mr_store_run_new(struct jr *jr)
{
	struct run *r = realloc(jr->runs, (size_t)(jr->nruns + 1) * sizeof(*r));

	if (!r)
		return NULL;
	jr->runs = r;
	r = &jr->runs[jr->nruns];
	memset(r, 0, sizeof(*r));
	r->off = calloc((size_t)jr->job->nparts + 1, sizeof(uint64_t));
	r->crc = calloc((size_t)jr->job->nparts, sizeof(uint32_t));
	if (!r->off || !r->crc) {
		free(r->off);
		free(r->crc);
		return NULL;
	}
	return r;
}

/* Write the store as a sorted run, partition by partition, and empty it. */
static int spill(struct jr *jr)
{
	int nparts = jr->job->nparts;
	struct run *r;
	struct mr_wfile w;
	int rc;

	if (jr->n == 0) {
		store_reset(jr);
		return 0;
	}
	r = mr_store_run_new(jr);
	if (!r)
		return mr_jr_fail(jr, -ENOMEM, "out of memory");
	snprintf(r->path, sizeof(r->path), "%s/run-%04d", jr->scratch, jr->nruns);
	rc = mr_wfile_open(&w, r->path);
	if (rc) {
		free(r->off);
		free(r->crc);
		return mr_jr_fail(jr, rc, "%s: %s", r->path, strerror(-rc));
	}
	jr->nruns++;
	for (int p = 0; p < nparts && !rc; p++) {
		for (int b = p << jr->fan_bits; b < (p + 1) << jr->fan_bits && !rc; b++) {
			struct pidx *x = &jr->pi[b];
			if (x->n) {
				rc = mr_bucket_settle(jr, x, (uint32_t)p);
				struct mr_iter it = { .idx = jr->idx, .n = x->n, .keys_only = jr->job->values_unordered };
				const uint8_t *rec;
				uint64_t sk;
				while (!rc && (rec = mr_iter_next(&it, &sk)))
					rc = mr_wfile_write(&w, rec, mr_rec_size(rec));
			}
			pidx_clear(x);
		}
		r->crc[p] = mr_wfile_crc(&w);
		mr_wfile_crc_reset(&w);
		r->off[p + 1] = w.bytes;
	}
	if (!rc)
		rc = mr_wfile_close(&w, 0);
	else
		mr_wfile_close(&w, 0);
	if (rc)
		return mr_jr_fail(jr, rc, "spilling to %s: %s", r->path, strerror(-rc));
	jr->spills++;
	store_reset(jr);
	return 0;
}
