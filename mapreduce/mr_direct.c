/*
 * mr_direct: the direct shuffle between the ranks of a host, its rings,
 * and the sort of one bucket (mr_bucket_settle).
 *
 * DESIGN. In direct mode (a job without a combiner, more than one rank on
 * the host, process_vm_readv allowed between them: mr_direct_setup) a
 * record for a partition of another rank of this host stays in the store
 * of the rank that mapped it, as if it were its own; nothing crosses
 * between cores in the map phase. After the map, mr_direct_exchange:
 *
 *   1. every rank publishes its store directory (its buckets' chunks:
 *      addresses and lengths, and its spilled runs) to the host
 *      (MPI_Allgatherv on ctx->local);
 *   2. every rank computes the same reduce queues from it (direct_assign:
 *      largest partitions first, each to the rank whose reduce work
 *      would end lowest) and publishes its own queue's length in the
 *      shared queue word;
 *   3. each rank keeps the other ranks' chunks and runs of the host's
 *      partitions (jr->rl, jr->runs): it may reduce any of them;
 *   4. ring_setup: a ring in shared memory from every rank to every other.
 *
 * In the reduce, a rank takes partitions from its queue, then the
 * smallest left in the others' (mr_part_next). Between its own buckets
 * it copies its records of the consumers' next buckets into their rings
 * (mr_direct_produce); a consumer sorting a bucket (mr_bucket_settle)
 * indexes its own chunks, then the ring slots holding the bucket, then
 * reads the rest with process_vm_readv (pull_remote). Without direct
 * mode mr_bucket_settle sorts only the rank's own chunks and
 * mr_part_next walks the static assignment (p % nranks).
 *
 * Its place: after the map phase (setup before it), under the reduce
 * (mr_reduce.c calls mr_part_next, mr_direct_produce, mr_bucket_settle)
 * and the spill (mr_store.c calls mr_bucket_settle). It calls only
 * mr_store_run_new and mr_jr_agree_fan. Safety: a ring slot is published
 * by storing its element number last (release) and read only after an
 * acquire load finds it, and must match the producer's directory (bucket
 * and bytes); a slot not there yet is read from the mapper's memory
 * instead, and every remote record is checked for size before it is
 * indexed (MR_ECORRUPT, not a crash). The other ranks read a rank's
 * chunks until the reduce phase's outcome is agreed: nothing writes the
 * arena after the map (the reduce files nothing into the store), and it
 * is reused only by the next job, after that agreement and jr_release.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mapreduce/mr_job_int.h"

/* --- setup, before the map ---------------------------------------------- */

static volatile uint64_t cma_probe = 0x6d722d636d612121ULL; /* read by the other ranks of this host */

/*
 * Collective over the ranks of this host (more than one, MR_SHM not 0, a
 * job without a combiner): direct mode if every rank can read the next
 * one's memory (process_vm_readv: same user, no ptrace restriction) and
 * MR_DIRECT is not 0 on any. Agrees the buckets' fan-out (the smallest).
 * 1 if direct.
 */
int mr_direct_setup(struct jr *jr)
{
	struct mr_ctx *ctx = jr->ctx;
	int L = ctx->local_ranks, me, ok, all;
	const char *env = getenv("MR_DIRECT");
	int64_t mine[2] = { (int64_t)getpid(), (int64_t)(uintptr_t)&cma_probe }, *every = calloc((size_t)L * 2, sizeof(int64_t));

	if (!every)
		mr_abort(ctx, "out of memory");
	MPI_Comm_rank(ctx->local, &me);
	ok = !(env && !strcmp(env, "0"));
	MPI_Allgather(mine, 2, MPI_INT64_T, every, 2, MPI_INT64_T, ctx->local);
	if (ok) {
		uint64_t v = 0;
		int peer = (me + 1) % L;
		struct iovec lv = { &v, sizeof(v) }, rv = { (void *)(uintptr_t)every[2 * peer + 1], sizeof(v) };
		ok = process_vm_readv((pid_t)every[2 * peer], &lv, 1, &rv, 1, 0) == (ssize_t)sizeof(v) && v == cma_probe;
	}
	MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, ctx->local);
	if (!all) {
		free(every);
		return 0;
	}
	mr_jr_agree_fan(jr);
	if (ctx->qwin == MPI_WIN_NULL) { /* the reduce queues' words, kept for the next jobs */
		MPI_Aint sz;
		int du;
		void *base;
		MPI_Win_allocate_shared(me == 0 ? (MPI_Aint)((size_t)L * sizeof(uint64_t)) : 0, sizeof(uint64_t),
					MPI_INFO_NULL, ctx->local, &base, &ctx->qwin);
		MPI_Win_shared_query(ctx->qwin, 0, &sz, &du, &base);
		ctx->q = base;
	}
	jr->lme = me;
	jr->lpid = malloc((size_t)L * sizeof(*jr->lpid));
	if (!jr->lpid)
		mr_abort(ctx, "out of memory");
	for (int k = 0; k < L; k++)
		jr->lpid[k] = every[2 * k];
	free(every);
	for (int p = 0; p < jr->job->nparts; p++)
		jr->keep[p] = ctx->local_of[jr->dest[p]] >= 0;
	jr->direct = 1;
	return 1;
}

/* --- the exchange, after the map ---------------------------------------- */

/* A growing byte buffer for mr_direct_exchange. */
struct blob {
	uint8_t *b;
	size_t len, cap;
	int oom;
};

static void blob_put(struct blob *x, const void *p, size_t n)
{
	if (x->len + n > x->cap) {
		size_t cap = (x->len + n) * 2 + 4096;
		uint8_t *nb = x->oom ? NULL : realloc(x->b, cap);
		if (!nb) {
			x->oom = 1;
			return;
		}
		x->b = nb;
		x->cap = cap;
	}
	memcpy(x->b + x->len, p, n);
	x->len += n;
}

/*
 * Walk local rank k's store directory (its blob) in one of two passes.
 * Pass 0 adds the bytes it holds of each partition, in its store and its
 * runs, to held[p * L + k]. Pass 1 (k another rank) takes what concerns the
 * host's partitions (any may come to this rank's reduce): their buckets'
 * chunks into jr->rl, and every run (reduce_part opens only its
 * partitions' ranges).
 */
static int walk_blob(struct jr *jr, const uint8_t *p, const uint8_t *end, int k, int pass, uint64_t *held)
{
	int L = jr->ctx->local_ranks, nparts = jr->job->nparts;
	uint32_t nb = (uint32_t)nparts << jr->fan_bits;
	uint64_t nbk, nr;

#define TAKE(dst, n)                                                             \
	do {                                                                     \
		if ((size_t)(end - p) < (size_t)(n))                             \
			return mr_jr_fail(jr, MR_ECORRUPT, "a torn store directory"); \
		memcpy((dst), p, (n));                                           \
		p += (n);                                                        \
	} while (0)
	TAKE(&nbk, 8);
	for (uint64_t i = 0; i < nbk; i++) {
		uint64_t hdr[3];
		TAKE(hdr, sizeof(hdr));
		if (hdr[0] >= nb)
			return mr_jr_fail(jr, MR_ECORRUPT, "a torn store directory");
		uint32_t part = (uint32_t)hdr[0] >> jr->fan_bits;
		struct rlist *r = &jr->rl[hdr[0]];
		int mine = pass == 1 && jr->keep[part]; /* any of the host's: this rank may reduce it */
		if (mine)
			r->n += hdr[1];
		for (uint64_t c = 0; c < hdr[2]; c++) {
			uint64_t ch[2];
			TAKE(ch, sizeof(ch));
			if (pass == 0)
				held[(size_t)part * L + k] += ch[1];
			if (!mine || !ch[1])
				continue;
			if (r->nc == r->cap) {
				int cap = r->cap ? r->cap * 2 : 16;
				struct rchunk *nc = realloc(r->c, (size_t)cap * sizeof(*nc));
				if (!nc)
					mr_abort(jr->ctx, "out of memory");
				r->c = nc;
				r->cap = cap;
			}
			r->c[r->nc++] = (struct rchunk){ .addr = ch[0], .len = ch[1], .src = k };
			r->bytes += ch[1];
		}
	}
	TAKE(&nr, 8);
	for (uint64_t i = 0; i < nr; i++) {
		size_t offb = (size_t)(nparts + 1) * 8, crcb = (size_t)nparts * 4;
		const uint8_t *path, *off;
		uint64_t plen;
		struct run *rr;
		TAKE(&plen, 8);
		if (plen >= sizeof(rr->path) || (size_t)(end - p) < plen + offb + crcb)
			return mr_jr_fail(jr, MR_ECORRUPT, "a torn store directory");
		path = p;
		off = p + plen;
		p += plen + offb + crcb;
		if (pass == 0) {
			for (int q = 0; q < nparts; q++) {
				uint64_t a, z;
				memcpy(&a, off + (size_t)q * 8, 8);
				memcpy(&z, off + (size_t)(q + 1) * 8, 8);
				held[(size_t)q * L + k] += z - a;
			}
			continue;
		}
		if (!(rr = mr_store_run_new(jr)))
			mr_abort(jr->ctx, "out of memory");
		memcpy(rr->path, path, plen);
		memcpy(rr->off, off, offb);
		memcpy(rr->crc, off + offb, crcb);
		jr->nruns++;
	}
#undef TAKE
	return 0;
}

/*
 * The reduce queues of the host's partitions, from what each rank holds of
 * them: largest first, each to the queue of the rank whose reduce work
 * would end lowest, a partition costing its bytes plus half the bytes the
 * rank must read from the others. The same on every rank of the host (same
 * data, integers). A rank that mapped less would otherwise read more in
 * its reduce and finish last (0.05 s of 0.5 measured when the map split
 * 12.5 M : 17.5 M). A rank works through its queue largest first and then
 * takes the smallest left in the others' (mr_part_next): a rank slowed down
 * by something else no longer holds the job back.
 */
static void direct_assign(struct jr *jr, const uint64_t *held, const int *world_of)
{
	int L = jr->ctx->local_ranks, nparts = jr->job->nparts, n = 0;
	int *order = malloc((size_t)nparts * sizeof(int)), *to = malloc((size_t)nparts * sizeof(int));
	uint64_t *tot = calloc((size_t)nparts, sizeof(uint64_t)), *load = calloc((size_t)L, sizeof(uint64_t));

	jr->qlist = malloc((size_t)nparts * sizeof(int));
	jr->qstart = calloc((size_t)L + 1, sizeof(int));
	if (!order || !to || !tot || !load || !jr->qlist || !jr->qstart)
		mr_abort(jr->ctx, "out of memory");
	for (int p = 0; p < nparts; p++) {
		if (!jr->keep[p])
			continue; /* another host's */
		for (int k = 0; k < L; k++)
			tot[p] += held[(size_t)p * L + k];
		order[n++] = p;
	}
	for (int i = 1; i < n; i++) /* by bytes, descending, then partition (a few hundred at most) */
		for (int j = i; j > 0 && (tot[order[j]] > tot[order[j - 1]] ||
					  (tot[order[j]] == tot[order[j - 1]] && order[j] < order[j - 1])); j--) {
			int t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (int i = 0; i < n; i++) {
		int p = order[i], best = 0;
		uint64_t bestv = UINT64_MAX;
		for (int k = 0; k < L; k++) {
			uint64_t v = load[k] + tot[p] + (tot[p] - held[(size_t)p * L + k]) / 2;
			if (v < bestv) {
				bestv = v;
				best = k;
			}
		}
		load[best] = bestv;
		jr->dest[p] = world_of[best]; /* its owner's, unless taken by another */
		to[i] = best;
		jr->qstart[best + 1]++;
	}
	for (int k = 0; k < L; k++)
		jr->qstart[k + 1] += jr->qstart[k];
	memset(load, 0, (size_t)L * sizeof(uint64_t)); /* now: how many each queue holds so far */
	for (int i = 0; i < n; i++)
		jr->qlist[jr->qstart[to[i]] + (int)load[to[i]]++] = order[i];
	free(order);
	free(to);
	free(tot);
	free(load);
}

/* Bytes of bucket b's records that local rank src holds (its chunks in r). */
static size_t rl_bytes_of(const struct rlist *r, int src)
{
	size_t n = 0;
	for (int c = 0; c < r->nc; c++)
		if (r->c[c].src == src)
			n += r->c[c].len;
	return n;
}

/* Bytes of a bucket's records in this rank's store. */
static size_t own_bytes(const struct pidx *x)
{
	size_t n = 0;
	for (int c = 0; c < x->nch; c++)
		n += x->chlen[c];
	return n;
}

/*
 * Collective over the ranks of this host, at the end of mr_direct_exchange
 * (ok: this rank's went well): a ring from every rank to every other one,
 * unless MR_RING=0 on any rank, a rank's exchange failed or the rings
 * would take more than RING_TOTAL_MAX. A slot holds the largest bucket a
 * rank has of the host's partitions, up to RING_SLOT_MAX (or MR_RING_SLOT
 * bytes, rounded up to 64; larger buckets go by process_vm_readv). Each side lists
 * the ring's elements from what it knows (the producer its store, the
 * consumer the producer's directory): the same list.
 */
static void ring_setup(struct jr *jr, int ok)
{
	struct mr_ctx *ctx = jr->ctx;
	int L = ctx->local_ranks, me = jr->lme, all;
	uint32_t nb = (uint32_t)jr->job->nparts << jr->fan_bits;
	const char *env = getenv("MR_RING"), *cap_env = getenv("MR_RING_SLOT");
	unsigned long long mx = 0, gmx, cap = cap_env ? strtoull(cap_env, NULL, 10) : 0;
	size_t slot, ringsz;
	MPI_Aint sz;
	int du;
	uint8_t *base;

	for (uint32_t b = 0; b < nb; b++) {
		size_t v = jr->keep[b >> jr->fan_bits] ? own_bytes(&jr->pi[b]) : 0;
		mx = v > mx ? v : mx;
	}
	ok = ok && !(env && !strcmp(env, "0")) && L <= 64;
	MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, ctx->local);
	MPI_Allreduce(&mx, &gmx, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, ctx->local);
	if (!cap || cap > RING_SLOT_MAX)
		cap = RING_SLOT_MAX;
	MPI_Allreduce(MPI_IN_PLACE, &cap, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, ctx->local); /* the same on every rank */
	slot = ((gmx < cap ? (size_t)gmx : (size_t)cap) + 63) & ~(size_t)63;
	ringsz = RING_N * sizeof(struct rslot) + 64 + RING_N * slot;
	if (!all || !gmx || (size_t)L * (size_t)(L - 1) * ringsz > RING_TOTAL_MAX)
		return;
	/* ring from p to c at (p * L + c) * ringsz; the diagonal is never touched */
	MPI_Win_allocate_shared(me == 0 ? (MPI_Aint)((size_t)L * L * ringsz) : 0, 1, MPI_INFO_NULL, ctx->local, &base,
				&jr->rwin);
	MPI_Win_shared_query(jr->rwin, 0, &sz, &du, &base);
	jr->rings = 1;
	jr->rslot = slot;
	jr->rout = calloc((size_t)L, sizeof(*jr->rout));
	jr->rin = calloc((size_t)L, sizeof(*jr->rin));
	if (!jr->rout || !jr->rin)
		mr_abort(ctx, "out of memory");
	for (int k = 0; k < L; k++) {
		struct ring *side[2] = { &jr->rout[k], &jr->rin[k] };
		if (k == me)
			continue;
		for (int i = 0; i < 2; i++) {
			uint8_t *rb = base + (size_t)(i == 0 ? me * L + k : k * L + me) * ringsz;
			int who = i == 0 ? k : me; /* whose queue the elements follow */
			struct ring *g = side[i];
			g->slot = (volatile struct rslot *)rb;
			g->at = (volatile int64_t *)(rb + RING_N * sizeof(struct rslot));
			g->data = rb + RING_N * sizeof(struct rslot) + 64;
			if (!(g->el = malloc((size_t)nb * sizeof(*g->el))))
				mr_abort(ctx, "out of memory");
			for (int q = jr->qstart[who]; q < jr->qstart[who + 1]; q++)
				for (uint32_t b = (uint32_t)jr->qlist[q] << jr->fan_bits;
				     b < (uint32_t)(jr->qlist[q] + 1) << jr->fan_bits; b++) {
					size_t v = i == 0 ? own_bytes(&jr->pi[b]) : rl_bytes_of(&jr->rl[b], k);
					if (v && v <= slot)
						g->el[g->n++] = b;
				}
		}
		/* ours to set before the agreement that follows: our slots empty, our place at the start */
		for (int s2 = 0; s2 < RING_N; s2++)
			jr->rout[k].slot[s2].j = -1;
		*jr->rin[k].at = 0;
	}
}

/*
 * Collective over the ranks of this host, after a successful map phase in
 * direct mode: every rank tells the others where its buckets' chunks are
 * in its store and which runs it spilled; the host's partitions are
 * assigned to reducers (direct_assign); each rank keeps what concerns its
 * own (jr->rl, and the runs appended to jr->runs).
 */
int mr_direct_exchange(struct jr *jr)
{
	struct mr_ctx *ctx = jr->ctx;
	int L = ctx->local_ranks, me, nparts = jr->job->nparts, rc = 0;
	uint32_t nb = (uint32_t)nparts << jr->fan_bits;
	struct blob x = { 0 };
	int *sizes = calloc((size_t)L, sizeof(int)), *offs = calloc((size_t)L, sizeof(int)), mysize;
	int *world_of = calloc((size_t)L, sizeof(int));
	uint64_t *held = calloc((size_t)nparts * L, sizeof(uint64_t));
	uint8_t *all = NULL;
	uint64_t cnt;

	if (!sizes || !offs || !world_of || !held)
		mr_abort(ctx, "direct shuffle: out of memory");
	me = jr->lme;
	/* every bucket holding records: bucket, records, chunks, then (address, length) each */
	cnt = 0;
	for (uint32_t b = 0; b < nb; b++)
		cnt += jr->pi[b].n > 0;
	blob_put(&x, &cnt, 8);
	for (uint32_t b = 0; b < nb; b++) {
		struct pidx *p = &jr->pi[b];
		uint64_t hdr[3] = { b, p->n, (uint64_t)p->nch };
		if (!p->n)
			continue;
		blob_put(&x, hdr, sizeof(hdr));
		for (int c = 0; c < p->nch; c++) {
			uint64_t ch[2] = { (uint64_t)(uintptr_t)p->ch[c], p->chlen[c] };
			blob_put(&x, ch, sizeof(ch));
		}
	}
	/* runs: path, then nparts + 1 offsets and nparts checksums */
	cnt = (uint64_t)jr->nruns;
	blob_put(&x, &cnt, 8);
	for (int r = 0; r < jr->nruns; r++) {
		uint64_t plen = strlen(jr->runs[r].path);
		blob_put(&x, &plen, 8);
		blob_put(&x, jr->runs[r].path, plen);
		blob_put(&x, jr->runs[r].off, (size_t)(nparts + 1) * 8);
		blob_put(&x, jr->runs[r].crc, (size_t)nparts * 4);
	}
	if (x.oom || x.len > INT32_MAX)
		mr_abort(ctx, "direct shuffle: out of memory");
	mysize = (int)x.len;
	MPI_Allgather(&mysize, 1, MPI_INT, sizes, 1, MPI_INT, ctx->local);
	{
		size_t total = 0;
		for (int k = 0; k < L; k++) {
			offs[k] = (int)total;
			total += (size_t)sizes[k];
		}
		if (total > INT32_MAX || !(all = malloc(total + 1)))
			mr_abort(ctx, "direct shuffle: out of memory");
	}
	MPI_Allgatherv(x.b, mysize, MPI_BYTE, all, sizes, offs, MPI_BYTE, ctx->local);
	free(x.b);
	jr->rl = calloc(nb, sizeof(*jr->rl));
	if (!jr->rl)
		mr_abort(ctx, "out of memory");
	for (int w = 0; w < ctx->nranks; w++)
		if (ctx->local_of[w] >= 0)
			world_of[ctx->local_of[w]] = w;
	for (int k = 0; k < L && !rc; k++)
		rc = walk_blob(jr, all + offs[k], all + offs[k] + sizes[k], k, 0, held);
	if (!rc) {
		direct_assign(jr, held, world_of);
		/* our queue, whole: the others see it after the agreement that follows */
		__atomic_store_n(&ctx->q[me], (uint64_t)(jr->qstart[me + 1] - jr->qstart[me]), __ATOMIC_SEQ_CST);
	}
	for (int k = 0; k < L && !rc; k++)
		if (k != me)
			rc = walk_blob(jr, all + offs[k], all + offs[k] + sizes[k], k, 1, held);
	ring_setup(jr, !rc);
	free(all);
	free(sizes);
	free(offs);
	free(world_of);
	free(held);
	return rc;
}

/* --- during the reduce -------------------------------------------------- */

/*
 * The next partition for this rank to reduce, or -1 when there is none
 * left. Without direct mode: the next one at or after *cursor it was
 * assigned. In direct mode, from the host's queues (jr->own: it came from
 * this rank's own). Each queue is one word in shared memory, head << 32 |
 * tail, changed only by compare-and-swap: the owner takes from the head
 * (its largest), the others from the tail (the smallest, where an
 * imbalance is evened out finest), from the queue with the most left.
 */
int mr_part_next(struct jr *jr, int *cursor)
{
	volatile uint64_t *q = jr->ctx->q;
	int L = jr->ctx->local_ranks, me = jr->lme;
	uint64_t v;

	if (!jr->direct) {
		while (*cursor < jr->job->nparts && jr->dest[*cursor] != jr->ctx->rank)
			(*cursor)++;
		return *cursor < jr->job->nparts ? (*cursor)++ : -1;
	}
	jr->own = 1;
	v = __atomic_load_n(&q[me], __ATOMIC_ACQUIRE);
	while ((uint32_t)(v >> 32) < (uint32_t)v)
		if (__atomic_compare_exchange_n(&q[me], &v, v + (1ULL << 32), 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return jr->qlist[jr->qstart[me] + (int)(v >> 32)];
	jr->own = 0;
	for (;;) {
		int victim = -1;
		uint32_t most = 0;
		for (int k = 0; k < L; k++) {
			uint64_t w = __atomic_load_n(&q[k], __ATOMIC_ACQUIRE);
			uint32_t left = (uint32_t)w - (uint32_t)(w >> 32);
			if (k != me && (uint32_t)(w >> 32) < (uint32_t)w && left > most) {
				most = left;
				victim = k;
				v = w;
			}
		}
		if (victim < 0)
			return -1;
		if (__atomic_compare_exchange_n(&q[victim], &v, v - 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			jr->stolen++;
			return jr->qlist[jr->qstart[victim] + (int)(uint32_t)v - 1];
		}
	}
}

/*
 * Producer: copy the next buckets the consumers will want into their
 * rings, as far as they have freed slots; skip those a consumer has gone
 * past (it read them itself).
 */
void mr_direct_produce(struct jr *jr)
{
	for (int c = 0; jr->rings && c < jr->ctx->local_ranks; c++) {
		struct ring *g = &jr->rout[c];
		int64_t at;
		if (c == jr->lme || g->x >= g->n)
			continue;
		at = __atomic_load_n(g->at, __ATOMIC_ACQUIRE);
		if (g->x <= at)
			g->x = (int)at + 1;
		while (g->x < g->n && g->x < at - 1 + RING_N) {
			int s = g->x % RING_N;
			const struct pidx *x = &jr->pi[g->el[g->x]];
			uint8_t *d = g->data + (size_t)s * jr->rslot;
			size_t len = 0;
			for (int k = 0; k < x->nch; k++) { /* none if this rank reduced the partition itself */
				memcpy(d + len, x->ch[k], x->chlen[k]);
				len += x->chlen[k];
			}
			g->slot[s].bucket = g->el[g->x];
			g->slot[s].len = len;
			__atomic_store_n(&g->slot[s].j, (int64_t)g->x, __ATOMIC_RELEASE);
			g->x++;
		}
	}
}

/*
 * Read a bucket's chunks in the other ranks' stores (r), but those of the
 * ranks in skip, into a scratch buffer (the other one of the two than last
 * time), one process_vm_readv per run of chunks of one rank; bytes: what
 * that must come to. The records, or NULL (failed).
 */
static const uint8_t *pull_remote(struct jr *jr, const struct rlist *r, uint64_t skip, size_t bytes)
{
	int s = jr->scur ^= 1;
	size_t off = 0;

	if (bytes > jr->scrcap[s]) {
		size_t cap = bytes + bytes / 4 + 4096;
		uint8_t *nb = realloc(jr->scr[s], cap);
		if (!nb) {
			mr_jr_fail(jr, -ENOMEM, "out of memory");
			return NULL;
		}
		jr->scr[s] = nb;
		jr->scrcap[s] = cap;
	}
	for (int c = 0; c < r->nc;) {
		struct iovec lv = { jr->scr[s] + off, 0 }, rv[256];
		int k = 0, src = r->c[c].src;
		ssize_t got;
		if (src < 64 && (skip >> src & 1)) { /* in a ring */
			c++;
			continue;
		}
		for (; c < r->nc && r->c[c].src == src && k < 256; c++, k++) {
			rv[k].iov_base = (void *)(uintptr_t)r->c[c].addr;
			rv[k].iov_len = r->c[c].len;
			lv.iov_len += r->c[c].len;
		}
		got = process_vm_readv((pid_t)jr->lpid[src], &lv, 1, rv, (unsigned long)k, 0);
		if (got != (ssize_t)lv.iov_len) {
			mr_jr_fail(jr, got < 0 ? -errno : MR_ECORRUPT, "reading the store of local rank %d: %s", src,
			     got < 0 ? strerror(errno) : "short read");
			return NULL;
		}
		off += lv.iov_len;
	}
	if (off != bytes) {
		mr_jr_fail(jr, MR_ECORRUPT, "another rank's store directory does not add up");
		return NULL;
	}
	return jr->scr[s];
}

/* Index record e of partition part at jr->itmp[k] (its sort key hashed again); OR what differs into *diff. */
static inline void index_rec(struct jr *jr, size_t k, uint32_t part, const uint8_t *e, uint64_t *diff)
{
	jr->itmp[k].sk = mr_sk(part, mr_hash(mr_rec_key(e), mr_rec_klen(e)));
	jr->itmp[k].rec = e;
	*diff |= jr->itmp[k].sk ^ jr->itmp[0].sk;
}

/*
 * Where bucket b's records in the other ranks' stores are (r: their
 * chunks): the regions taken from the rings (this rank's own partitions
 * only), then one region read in with process_vm_readv for the rest.
 * The number of regions (at most local ranks), or -1 (failed).
 */
static int remote_regions(struct jr *jr, const struct rlist *r, uint32_t b, const uint8_t **reg, size_t *regn)
{
	size_t rest = r->bytes;
	uint64_t skip = 0;
	int nreg = 0;

	for (int src = 0; jr->rings && jr->own && src < jr->ctx->local_ranks; src++) {
		struct ring *g = &jr->rin[src];
		if (src == jr->lme || g->x >= g->n || g->el[g->x] != b)
			continue;
		int64_t j = g->x++;
		volatile struct rslot *sl = &g->slot[j % RING_N];
		__atomic_store_n(g->at, j, __ATOMIC_RELEASE); /* frees element j - 2 */
		if (__atomic_load_n(&sl->j, __ATOMIC_ACQUIRE) != j) {
			jr->ring_misses++;
			continue;
		}
		if (sl->bucket != b || sl->len != rl_bytes_of(r, src)) {
			mr_jr_fail(jr, MR_ECORRUPT, "a ring slot from local rank %d does not match its store", src);
			return -1;
		}
		reg[nreg] = g->data + (size_t)(j % RING_N) * jr->rslot;
		regn[nreg++] = sl->len;
		rest -= sl->len;
		skip |= 1ULL << src;
		jr->ring_hits++;
	}
	if (rest) {
		if (!(reg[nreg] = pull_remote(jr, r, skip, rest)))
			return -1;
		regn[nreg++] = rest;
	}
	return nreg;
}

/*
 * Build bucket x's index (part: its partition) from its chunks into
 * jr->idx, one bucket at a time, hashing each key again for its sort key,
 * and sort it (walk it with mr_iter). In direct mode the bucket's records
 * in the other ranks' stores are read in and indexed after its own.
 */
int mr_bucket_settle(struct jr *jr, struct pidx *x, uint32_t part)
{
	uint32_t b = (uint32_t)(x - jr->pi);
	size_t k = 0, total = bucket_n(jr, b);
	const struct rlist *r = jr->rl ? &jr->rl[b] : NULL;
	uint64_t diff = 0;

	if (total > jr->icap) {
		size_t cap = total + total / 4 + 1024;
		free(jr->idx);
		free(jr->itmp);
		jr->idx = malloc(cap * sizeof(*jr->idx));
		jr->itmp = malloc(cap * sizeof(*jr->itmp));
		jr->icap = jr->idx && jr->itmp ? cap : 0;
		if (!jr->icap)
			return mr_jr_fail(jr, -ENOMEM, "out of memory");
	}
	if (!jr->cnt && !(jr->cnt = malloc(MR_SORT_COUNTS * sizeof(*jr->cnt))))
		return mr_jr_fail(jr, -ENOMEM, "out of memory");
	for (int c = 0; c < x->nch; c++)
		for (size_t off = 0; off < x->chlen[c] && k < x->n;) {
			const uint8_t *e = x->ch[c] + off;
			index_rec(jr, k++, part, e, &diff);
			off += mr_rec_size(e);
		}
	if (k != x->n)
		return mr_jr_fail(jr, MR_ECORRUPT, "the store lost track of its records");
	if (r && r->nc) { /* the other ranks' records */
		const uint8_t *reg[65];
		size_t regn[65];
		double tq = MPI_Wtime();
		int nreg = remote_regions(jr, r, b, reg, regn);
		if (nreg < 0)
			return jr->rc;
		jr->t_pull += MPI_Wtime() - tq;
		for (int i = 0; i < nreg; i++) {
			const uint8_t *e = reg[i];
			for (size_t off = 0; off < regn[i];) {
				size_t sz;
				if (regn[i] - off < MR_HDR || (sz = mr_rec_size(e + off)) > regn[i] - off ||
				    !mr_rec_klen(e + off) || k == total)
					return mr_jr_fail(jr, MR_ECORRUPT, "a torn record in another rank's store");
				index_rec(jr, k++, part, e + off, &diff);
				off += sz;
			}
		}
		if (k != total)
			return mr_jr_fail(jr, MR_ECORRUPT, "another rank's store lost track of its records");
	}
	return mr_sort_from(jr->itmp, jr->idx, total, diff, jr->cnt) ? mr_jr_fail(jr, -ENOMEM, "sorting: out of memory") : 0;
}
