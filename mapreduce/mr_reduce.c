/*
 * mr_reduce: grouping records by key, and the reduce phase, the second
 * half of the shuffle.
 *
 * DESIGN. A rank reduces the partitions it gets from mr_part_next one at
 * a time. A partition's sources are its records in memory, walked bucket
 * by bucket (each sorted when the walk reaches it: mr_bucket_settle, its
 * own chunks and in direct mode the other ranks'), and its range of
 * every spilled run (read back in 1 MiB blocks, checksum verified at the
 * end). reduce_part merges them in record order (sort key, then key and
 * value bytes: mr_rec_cmp, or keys only if values_unordered), groups
 * equal keys (struct group: values pointed at in memory, copied from
 * runs, whose spans do not stay put) and calls the reduce function once
 * per key; what it emits goes to jr->tmpout/part-NNNNN (format in
 * mr_int.h). The combiner (mr_map.c) uses the same grouping on a sorted
 * send buffer.
 *
 * Its place: after the map phase (and in direct mode the exchange). It
 * calls mr_bucket_settle, mr_direct_produce (between buckets, the
 * producer side of the rings) and mr_part_next of mr_direct.c. Safety:
 * the output goes to the temporary directory only; mr_job.c renames it
 * into place when every rank succeeded.
 */
#include <errno.h>
#include <stdlib.h>

#include "mapreduce/mr_job_int.h"

/* --- grouping: shared by combine and reduce ----------------------------- */

/*
 * Add rec's value to the group: pointed at where it is if the record stays
 * put until the reduce call (stable), else copied.
 */
int mr_group_add(struct group *g, const uint8_t *rec, int stable)
{
	size_t vl = mr_rec_vlen(rec);

	if (!stable && g->vlen + vl > g->vcap) {
		size_t cap = (g->vlen + vl) * 2 + 256;
		uint8_t *nb = realloc(g->vbuf, cap);
		if (!nb)
			return -ENOMEM;
		g->vbuf = nb;
		g->vcap = cap;
	}
	if (g->nv == g->capv) {
		size_t cap = g->capv ? g->capv * 2 : 64;
		size_t *no = realloc(g->voff, cap * sizeof(size_t)), *ns;
		if (!no)
			return -ENOMEM;
		g->voff = no;
		ns = realloc(g->vsz, cap * sizeof(size_t));
		if (!ns)
			return -ENOMEM;
		g->vsz = ns;
		struct mr_value *nv = realloc(g->vals, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		g->vals = nv;
		g->capv = cap;
	}
	g->vsz[g->nv] = vl;
	if (stable) {
		g->vals[g->nv].p = mr_rec_val(rec);
		g->voff[g->nv++] = SIZE_MAX;
		return 0;
	}
	memcpy(g->vbuf + g->vlen, mr_rec_val(rec), vl);
	g->voff[g->nv++] = g->vlen;
	g->vlen += vl;
	return 0;
}

int mr_group_call(struct group *g, mr_reduce_fn fn, void *arg, struct mr_emitter *em)
{
	for (size_t i = 0; i < g->nv; i++) {
		if (g->voff[i] != SIZE_MAX)
			g->vals[i].p = g->vbuf + g->voff[i];
		g->vals[i].len = g->vsz[i];
	}
	g->active = 0;
	return fn(arg, g->key, g->klen, g->vals, g->nv, em);
}

/* --- reduce phase ------------------------------------------------------- */

struct src {
	struct mr_rfile rf; /* a run's range for this partition */
	uint32_t want, part;
	const uint8_t *cur; /* current record or NULL */
	uint64_t sk;        /* and its sort key */
	int mem;            /* the in-memory source: walks its buckets */
	uint32_t bucket, bend;
	struct mr_iter it;
};

static int src_next(struct jr *jr, struct src *s)
{
	const uint8_t *h;
	int err;

	if (s->mem) {
		while (!(s->cur = mr_iter_next(&s->it, &s->sk)) && s->bucket < s->bend) {
			uint32_t b = s->bucket++;
			size_t n = bucket_n(jr, b);
			double tq = MPI_Wtime();
			mr_direct_produce(jr);
			if (n && mr_bucket_settle(jr, &jr->pi[b], b >> jr->fan_bits))
				return jr->rc;
			jr->t_settle += MPI_Wtime() - tq;
			s->it = (struct mr_iter){ .idx = jr->idx, .n = n, .keys_only = jr->job->values_unordered };
		}
		return 0;
	}
	err = mr_run_next(&s->rf, s->want, &h);
	if (err == MR_ECORRUPT && mr_rfile_remaining(&s->rf) == 0) {
		s->cur = NULL;
		return mr_jr_fail(jr, MR_ECORRUPT, "a spilled run failed its checksum");
	}
	if (err)
		return mr_jr_fail(jr, err, "a spilled run is %s", err == MR_ECORRUPT ? "truncated" : strerror(-err));
	s->cur = h;
	if (h)
		s->sk = mr_sk(s->part, mr_hash(mr_rec_key(h), mr_rec_klen(h)));
	return 0;
}

static int write_out_header(struct mr_wfile *w, int part)
{
	uint32_t magic = 0x314f524d, p = (uint32_t)part; /* "MRO1" */
	mr_wfile_write(w, &magic, 4);
	return mr_wfile_write(w, &p, 4);
}

static int reduce_part(struct jr *jr, int part)
{
	struct mr_job *job = jr->job;
	int ns = jr->nruns + 1, rc = 0;
	struct src *srcs = calloc((size_t)ns, sizeof(*srcs));
	struct mr_wfile w = { 0 };
	struct mr_emitter em = { .jr = jr, .mode = EM_REDUCE, .split = part };
	struct group g = { 0 };
	char path[PATH_MAX + 32];
	int (*cmp)(const uint8_t *, const uint8_t *) = job->values_unordered ? mr_key_cmp : mr_rec_cmp;

	if (!srcs)
		return mr_jr_fail(jr, -ENOMEM, "out of memory");
	for (int i = 1; i < ns; i++)
		srcs[i].rf.fd = -1;
	/* the in-memory source: this partition's buckets, each sorted in turn */
	srcs[0].mem = 1;
	srcs[0].bucket = (uint32_t)part << jr->fan_bits;
	srcs[0].bend = (uint32_t)(part + 1) << jr->fan_bits;
	for (int r = 0; r < jr->nruns && !rc; r++) {
		struct src *s = &srcs[r + 1];
		s->want = jr->runs[r].crc[part];
		s->part = (uint32_t)part;
		rc = mr_rfile_open(&s->rf, jr->runs[r].path, jr->runs[r].off[part],
				   jr->runs[r].off[part + 1] - jr->runs[r].off[part]);
		if (rc) {
			mr_jr_fail(jr, rc, "%s: cannot reopen a spilled run: %s", jr->runs[r].path, strerror(-rc));
			break;
		}
	}
	for (int i = 0; i < ns && !rc; i++)
		rc = src_next(jr, &srcs[i]);
	if (!rc && job->output_dir) {
		snprintf(path, sizeof(path), "%s/part-%05d", jr->tmpout, part);
		rc = mr_wfile_open(&w, path);
		if (rc)
			mr_jr_fail(jr, rc, "%s: %s", path, strerror(-rc));
		else
			rc = write_out_header(&w, part);
		em.wf = &w;
	}
	while (!rc) {
		struct src *best = NULL;
		if (ns == 1)
			best = srcs[0].cur ? &srcs[0] : NULL;
		else
			for (int i = 0; i < ns; i++)
				if (srcs[i].cur && (!best || srcs[i].sk < best->sk ||
						    (srcs[i].sk == best->sk && cmp(srcs[i].cur, best->cur) < 0)))
					best = &srcs[i];
		if (!best)
			break;
		if (!group_same(&g, best->cur)) {
			if (g.active) {
				rc = mr_group_call(&g, job->reduce, job->reduce_arg, &em);
				if (rc) {
					mr_jr_fail(jr, MR_EREDUCE, "partition %d: reduce function failed (%d)", part, rc);
					break;
				}
			}
			group_start(&g, best->cur);
		}
		rc = mr_group_add(&g, best->cur, best->mem);
		if (rc) {
			mr_jr_fail(jr, rc, "out of memory");
			break;
		}
		rc = src_next(jr, best);
	}
	if (!rc && g.active) {
		rc = mr_group_call(&g, job->reduce, job->reduce_arg, &em);
		if (rc)
			mr_jr_fail(jr, MR_EREDUCE, "partition %d: reduce function failed (%d)", part, rc);
	}
	if (em.wf) {
		uint64_t trailer[2] = { em.nout, w.bytes - 8 };
		int crc_rc;
		mr_wfile_write(&w, trailer, sizeof(trailer));
		uint32_t c = mr_wfile_crc(&w);
		mr_wfile_write(&w, &c, 4);
		crc_rc = mr_wfile_close(&w, 0); /* scan outputs need no fsync: a crash reruns the scan */
		if (!rc && crc_rc)
			rc = mr_jr_fail(jr, crc_rc, "%s: %s", path, strerror(-crc_rc));
	}
	jr->out += em.nout;
	for (int i = 0; i < ns; i++) {
		if (!srcs[i].mem)
			mr_rfile_close(&srcs[i].rf);
	}
	free(srcs);
	group_release(&g);
	return rc ? (jr->rc ? jr->rc : rc) : 0;
}

int mr_reduce_phase(struct jr *jr)
{
	int rc = 0, cursor = 0;

	mr_direct_produce(jr); /* the consumers' first buckets */
	for (int p; !rc && (p = mr_part_next(jr, &cursor)) >= 0;) {
		rc = reduce_part(jr, p);
		jr->reduced++;
		for (int b = p << jr->fan_bits; b < (p + 1) << jr->fan_bits; b++)
			pidx_clear(&jr->pi[b]);
	}
	return rc;
}
