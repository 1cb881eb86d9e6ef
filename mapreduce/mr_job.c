/*
 * mr_job: running one MapReduce job: setup, the phases in turn with every
 * outcome agreed, the commit, the release. See mr.h for the model and
 * mr_job_int.h for the design of the shuffle and how its files relate.
 *
 * DESIGN. mr_job_run is the only entry point of a job and the only place
 * that orders the phases (the other files hold the phases). Every step
 * that can fail on one rank is followed by mr_agree, so that all ranks
 * take the same branch and no rank waits in a collective the others have
 * skipped: a rank's error becomes every rank's result, with the message
 * of the first rank that failed. jr_setup sizes the job's memory from its
 * budget (send buffers, then the store's arena, its buckets and chunks);
 * shm_setup chooses how the ranks of a host shuffle (direct, rings of
 * pieces, rings of entries, or MPI messages) and sets up the rings.
 *
 * Its place: the top. It calls mr_map_phase (mr_map.c),
 * mr_direct_setup and mr_direct_exchange (mr_direct.c) and
 * mr_reduce_phase (mr_reduce.c); every file calls its mr_jr_fail and
 * mr_jr_agree_fan. Safety: the output is written into OUTPUT.tmp and
 * renamed into place, after _SUCCESS is written and synced, only when
 * every rank's reduce succeeded; a job that fails before the commit
 * removes OUTPUT.tmp and leaves an earlier OUTPUT as it was.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mapreduce/mr_job_int.h"

int mr_rm_tree(const char *path);

/* Record the first error of this rank with its message. */
int mr_jr_fail(struct jr *jr, int rc, const char *fmt, ...)
{
	if (!jr->rc) {
		char msg[400];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		jr->rc = rc;
		mr_set_err(jr->ctx, "job %s: rank %d: %s", jr->job->name ? jr->job->name : "?", jr->ctx->rank, msg);
	}
	return rc;
}

/* --- the job ------------------------------------------------------------ */

void mr_job_init(struct mr_job *job)
{
	memset(job, 0, sizeof(*job));
	job->nparts = 64;
	job->mem_budget = 512ULL << 20;
}

static int validate(struct mr_ctx *ctx, const struct mr_job *job)
{
	if (job->ninputs < 1 || job->ninputs > MR_MAX_INPUTS || !job->reduce || job->nparts < 1 ||
	    job->nparts > 65535 || job->ncounters < 0 || job->ncounters > MR_MAX_COUNTERS ||
	    job->mem_budget < (4u << 20)) {
		mr_set_err(ctx, "job %s: invalid description (inputs, reduce, 1..65535 partitions, budget >= 4M)",
			   job->name ? job->name : "?");
		return MR_EINVAL;
	}
	for (int i = 0; i < job->ninputs; i++)
		if (!job->inputs[i].read || !job->inputs[i].map || job->inputs[i].nsplits < 0) {
			mr_set_err(ctx, "job %s: input %d lacks a reader or map function", job->name ? job->name : "?", i);
			return MR_EINVAL;
		}
	return 0;
}

/*
 * The send buffers: one pair per rank, each 1/64 of the budget shared by
 * the ranks, within 64 KiB..256 KiB. 0 or -ENOMEM (jr->rc set).
 */
static int send_setup(struct jr *jr)
{
	struct mr_ctx *ctx = jr->ctx;

	jr->sbsize = jr->job->mem_budget / 64 / (uint64_t)ctx->nranks;
	if (jr->sbsize > (256u << 10)) /* stays in L2: 1 MiB buffers were measured slower */
		jr->sbsize = 256u << 10;
	if (jr->sbsize < (64u << 10))
		jr->sbsize = 64u << 10;
	jr->sbsize &= ~(size_t)4095; /* ring slots stay aligned */
	jr->sb = calloc((size_t)ctx->nranks, sizeof(*jr->sb));
	jr->endreq = calloc((size_t)ctx->nranks, sizeof(MPI_Request));
	if (!jr->sb || !jr->endreq)
		return mr_jr_fail(jr, -ENOMEM, "out of memory");
	for (int d = 0; d < ctx->nranks; d++) {
		jr->sb[d].req[0] = jr->sb[d].req[1] = MPI_REQUEST_NULL;
		jr->sb[d].b[0] = malloc(jr->sbsize);
		jr->sb[d].b[1] = malloc(jr->sbsize);
		if (!jr->sb[d].b[0] || !jr->sb[d].b[1])
			return mr_jr_fail(jr, -ENOMEM, "out of memory");
		jr->endreq[d] = MPI_REQUEST_NULL;
	}
	return 0;
}

/*
 * The store: the arena (what the send buffers and the rings leave of the
 * budget), its buckets and chunks, and where each partition is reduced
 * (p % nranks until the direct shuffle assigns the host's). 0 or -ENOMEM
 * (jr->rc set).
 */
static int store_setup(struct jr *jr)
{
	struct mr_ctx *ctx = jr->ctx;
	struct mr_job *job = jr->job;
	uint64_t budget = job->mem_budget, avail;

	/*
	 * The arena gets 85 % of what the send buffers leave; the rest is for
	 * the index of the one bucket being sorted (16 bytes a record, and as
	 * much again while sorting: a small share when keys spread over the
	 * buckets, more than the budget says when one holds them all).
	 */
	avail = budget - jr->sbsize * (2 * (uint64_t)ctx->nranks + RING_SLOTS * (uint64_t)(ctx->local_ranks - 1));
	jr->cap = (size_t)(avail / 100 * 85);
	if (jr->cap > (3ULL << 30))
		jr->cap = 3ULL << 30;
	/*
	 * Buckets: up to 256 in all (more open chunks to append to cost more
	 * in the map phase than smaller buckets save in the reduce: measured
	 * with the refcount join, 64 partitions: 1, 4 and 16 buckets a
	 * partition), none smaller than 1 MiB when the arena is full.
	 */
	while ((job->nparts << (jr->fan_bits + 1)) <= 256 &&
	       jr->cap / ((size_t)job->nparts << (jr->fan_bits + 1)) >= (1u << 20))
		jr->fan_bits++;
	/* chunks: small enough that every bucket can hold several */
	jr->chunk = jr->cap / (((size_t)job->nparts << jr->fan_bits) * 16);
	jr->chunk = jr->chunk > (64u << 10) ? 64u << 10 : jr->chunk < 512 ? 512 : jr->chunk & ~(size_t)63;
	if (ctx->arena_cap < jr->cap || ctx->arena_cap > jr->cap + jr->cap / 2) {
		mr_ctx_trim(ctx); /* too small, or much larger than this budget allows */
		ctx->arena = malloc(jr->cap);
		ctx->arena_cap = ctx->arena ? jr->cap : 0;
	}
	jr->arena = ctx->arena;
	jr->pi = calloc((size_t)job->nparts << jr->fan_bits, sizeof(*jr->pi));
	jr->dest = malloc((size_t)job->nparts * sizeof(*jr->dest));
	if (!jr->dest)
		return mr_jr_fail(jr, -ENOMEM, "out of memory");
	jr->keep = malloc((size_t)job->nparts);
	if (!jr->keep)
		return mr_jr_fail(jr, -ENOMEM, "out of memory");
	for (int p = 0; p < job->nparts; p++) {
		jr->dest[p] = p % ctx->nranks;
		jr->keep[p] = jr->dest[p] == ctx->rank;
	}
	if (!jr->arena || !jr->pi)
		return mr_jr_fail(jr, -ENOMEM, "cannot allocate the %llu-byte memory budget", (unsigned long long)budget);
	return 0;
}

/* This rank's scratch directory, send buffers and store. 0 or this rank's error (jr->rc). Local. */
static int jr_setup(struct jr *jr)
{
	struct mr_ctx *ctx = jr->ctx;

	snprintf(jr->scratch, sizeof(jr->scratch), "%s/mr-%s-%ld-%d-r%d", ctx->scratch, ctx->host, (long)getpid(),
		 ctx->jobseq, ctx->rank);
	if (mkdir(jr->scratch, 0700) < 0 && errno != EEXIST)
		return mr_jr_fail(jr, -errno, "%s: %s", jr->scratch, strerror(errno));
	if (send_setup(jr))
		return jr->rc;
	return store_setup(jr);
}

void mr_jr_agree_fan(struct jr *jr)
{
	int fan = jr->fan_bits, minfan;

	MPI_Allreduce(&fan, &minfan, 1, MPI_INT, MPI_MIN, jr->ctx->local);
	jr->fan_bits = minfan;
}

/*
 * Collective over the ranks of this host: the shared-memory rings
 * between them (none if this host has one rank or MR_SHM=0). Every rank
 * of the host must call it after jr_setup succeeded everywhere.
 */
static int shm_setup(struct jr *jr)
{
	struct mr_ctx *ctx = jr->ctx;
	int L = ctx->local_ranks, me, want, all;
	unsigned long long sb = jr->sbsize, minsb;
	const char *env = getenv("MR_SHM");
	MPI_Info info;
	uint8_t *mine;

	jr->inr = L > 1 ? calloc((size_t)L - 1, sizeof(*jr->inr)) : NULL;
	want = L > 1 && jr->inr && !(env && !strcmp(env, "0"));
	MPI_Allreduce(&want, &all, 1, MPI_INT, MPI_MIN, ctx->local);
	if (!all)
		return 0;
	if (!jr->job->combine && mr_direct_setup(jr))
		return 0; /* no rings: the host's records stay where they are mapped */
	/* one slot size on the host: the smallest send buffer */
	MPI_Allreduce(&sb, &minsb, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, ctx->local);
	jr->sbsize = (size_t)minsb;
	jr->pieces = !jr->job->combine;
	if (jr->pieces) { /* the senders file into the receivers' buckets: one fan-out */
		mr_jr_agree_fan(jr);
		jr->pc = calloc((size_t)jr->job->nparts << jr->fan_bits, sizeof(*jr->pc));
		if (!jr->pc)
			mr_abort(ctx, "out of memory");
	}
	{ /* a slot full of half-used pieces, one per bucket, would go out nearly empty */
		size_t nb = ((size_t)(jr->job->nparts + ctx->nranks - 1) / ctx->nranks) << jr->fan_bits;
		jr->piece = jr->sbsize / (2 * nb);
		jr->piece = jr->piece > PIECE ? PIECE : jr->piece < 64 ? 64 : jr->piece;
	}
	jr->dirsz = jr->sbsize / jr->piece * sizeof(struct pdir);
	jr->stride = (RING_HDR + jr->dirsz + jr->sbsize + 63) & ~(size_t)63;
	MPI_Comm_rank(ctx->local, &me);
	MPI_Info_create(&info);
	MPI_Info_set(info, "alloc_shared_noncontig", "true");
	MPI_Win_allocate_shared((MPI_Aint)((size_t)(L - 1) * RING_SLOTS * jr->stride), 1, info, ctx->local, &mine,
				&jr->shwin);
	MPI_Info_free(&info);
	jr->shm = 1;
	for (int k = 0; k < (L - 1) * RING_SLOTS; k++)
		*(uint64_t *)(mine + (size_t)k * jr->stride) = 0;
	MPI_Win_lock_all(MPI_MODE_NOCHECK, jr->shwin);
	MPI_Win_sync(jr->shwin);
	MPI_Barrier(ctx->local);
	MPI_Win_sync(jr->shwin);
	jr->ninr = L - 1;
	for (int k = 0; k < L - 1; k++)
		jr->inr[k].base = mine + (size_t)k * RING_SLOTS * jr->stride;
	for (int d = 0; d < ctx->nranks; d++) {
		int ld = ctx->local_of[d], disp;
		MPI_Aint sz;
		uint8_t *base;
		struct sbuf *s = &jr->sb[d];
		if (d == ctx->rank || ld < 0)
			continue;
		MPI_Win_shared_query(jr->shwin, ld, &sz, &disp, &base);
		s->ring = base + (size_t)(me < ld ? me : me - 1) * RING_SLOTS * jr->stride;
		s->head = 0;
		free(s->b[0]);
		free(s->b[1]);
		s->b[0] = s->ring + RING_HDR + jr->dirsz;
		s->b[1] = NULL;
		s->cur = 0;
	}
	return 0;
}

/* Collective when the rings are in use (frees the shared window). */
static void jr_release(struct jr *jr)
{
	for (int d = 0; jr->sb && d < jr->ctx->nranks; d++) {
		if (jr->sb[d].ring)
			continue;
		free(jr->sb[d].b[0]);
		free(jr->sb[d].b[1]);
	}
	if (jr->shm) {
		MPI_Win_unlock_all(jr->shwin);
		MPI_Win_free(&jr->shwin);
	}
	free(jr->inr);
	free(jr->pc);
	for (uint32_t b = 0; jr->rl && b < (uint32_t)jr->job->nparts << jr->fan_bits; b++)
		free(jr->rl[b].c);
	free(jr->rl);
	free(jr->lpid);
	free(jr->qlist);
	free(jr->qstart);
	if (jr->rings)
		MPI_Win_free(&jr->rwin);
	for (int k = 0; jr->rout && k < jr->ctx->local_ranks; k++) {
		free(jr->rout[k].el);
		free(jr->rin[k].el);
	}
	free(jr->rout);
	free(jr->rin);
	free(jr->keep);
	free(jr->scr[0]);
	free(jr->scr[1]);
	free(jr->sb);
	free(jr->endreq);
	/* the arena stays with the context for the next job */
	free(jr->idx);
	free(jr->itmp);
	free(jr->cnt);
	for (int b = 0; jr->pi && b < jr->job->nparts << jr->fan_bits; b++) {
		free(jr->pi[b].ch);
		free(jr->pi[b].chlen);
	}
	free(jr->pi);
	free(jr->dest);
	free(jr->rbuf);
	for (int r = 0; r < jr->nruns; r++) {
		free(jr->runs[r].off);
		free(jr->runs[r].crc);
	}
	free(jr->runs);
	mr_rm_tree(jr->scratch);
}

/* Write _SUCCESS into the temporary directory and rename it into place. */
static int commit_output(struct jr *jr, const char *out)
{
	char path[PATH_MAX + 32], line[64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/_SUCCESS", jr->tmpout);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	snprintf(line, sizeof(line), "%d %d\n", jr->job->nparts, jr->ctx->nranks);
	fputs(line, f);
	fflush(f);
	fsync(fileno(f));
	fclose(f);
	mr_rm_tree(out);
	if (rename(jr->tmpout, out) < 0)
		return -errno;
	return 0;
}

/*
 * Collective: the temporary output directory OUTPUT.tmp, emptied first by
 * rank 0 of a crashed job's leftovers. A failure is this rank's error
 * (jr->rc), agreed with jr_setup's.
 */
static void output_begin(struct jr *jr)
{
	struct mr_ctx *ctx = jr->ctx;

	snprintf(jr->tmpout, sizeof(jr->tmpout), "%s.tmp", jr->job->output_dir);
	if (ctx->rank == 0)
		mr_rm_tree(jr->tmpout); /* a crashed job's leftovers */
	MPI_Barrier(ctx->comm);
	if (mkdir(jr->tmpout, 0755) < 0 && errno != EEXIST)
		mr_jr_fail(jr, -errno, "%s: %s", jr->tmpout, strerror(errno));
}

/*
 * Collective, after every rank's reduce succeeded: rank 0 commits the
 * output, then each rank on another host (no shared file system) commits
 * its own. The agreed outcome.
 */
static int output_finish(struct jr *jr)
{
	struct mr_ctx *ctx = jr->ctx;
	const char *out = jr->job->output_dir;
	int crc_rc;

	MPI_Barrier(ctx->comm);
	crc_rc = ctx->rank == 0 ? commit_output(jr, out) : 0;
	MPI_Barrier(ctx->comm);
	/* ranks on other hosts (no shared file system) commit their own */
	if (ctx->rank != 0 && access(jr->tmpout, F_OK) == 0)
		crc_rc = commit_output(jr, out);
	if (crc_rc)
		mr_jr_fail(jr, crc_rc, "committing %s: %s", out, strerror(-crc_rc));
	return mr_agree(ctx, jr->rc);
}

/*
 * Collective: the job's totals over every rank into *job (counters,
 * records, spills, the slowest rank's map and reduce seconds: t0..t1 and
 * t1..t2) and, with MR_DEBUG, this rank's figures on stderr.
 */
static void report(struct jr *jr, double t0, double t1, double t2)
{
	struct mr_ctx *ctx = jr->ctx;
	struct mr_job *job = jr->job;
	double tmax;

	MPI_Allreduce(jr->counters, job->counters, MR_MAX_COUNTERS, MPI_INT64_T, MPI_SUM, ctx->comm);
	job->records_in = (uint64_t)mr_sum(ctx, (int64_t)jr->in);
	job->records_mapped = (uint64_t)mr_sum(ctx, (int64_t)jr->mapped);
	job->records_out = (uint64_t)mr_sum(ctx, (int64_t)jr->out);
	job->spills = (uint64_t)mr_sum(ctx, (int64_t)jr->spills);
	if (jr->debug && !ctx->rank) /* how the ranks of a host shuffled */
		fprintf(stderr, "mr: job %s: shuffle between the ranks of a host: %s\n", job->name ? job->name : "?",
			jr->direct ? "direct (stores read in place)" : jr->shm ? (jr->pieces ? "shared-memory pieces" : "shared-memory slots")
			: "MPI messages");
	if (jr->debug) /* per-rank timings, for tuning */
		fprintf(stderr, "mr: job %s rank %d: map %.3f s (%llu in, %llu mapped), reduce %.3f s (%d partitions, %d taken "
			"from another rank's queue, %llu out), %llu spills\n",
			job->name ? job->name : "?", ctx->rank, t1 - t0, (unsigned long long)jr->in,
			(unsigned long long)jr->mapped, t2 - t1, jr->reduced, jr->stolen, (unsigned long long)jr->out,
			(unsigned long long)jr->spills);
	tmax = t1 - t0;
	MPI_Allreduce(&tmax, &job->map_secs, 1, MPI_DOUBLE, MPI_MAX, ctx->comm);
	tmax = t2 - t1;
	MPI_Allreduce(&tmax, &job->reduce_secs, 1, MPI_DOUBLE, MPI_MAX, ctx->comm);
	if (jr->debug > 2) /* where the time went, from the start of the map */
		fprintf(stderr, "mr: job %s rank %d timeline: splits done %.3f, map ended %.3f, exchange %.3f, reduce done %.3f "
			"(other ranks' records %.3f: %llu buckets from rings, %llu read in; indexing and sorting %.3f), "
			"all reduced %.3f, committed %.3f\n",
			job->name ? job->name : "?", ctx->rank, jr->t_splits - t0, jr->t_ends - t0, t1 - t0,
			jr->t_reduced - t0, jr->t_pull, (unsigned long long)jr->ring_hits, (unsigned long long)jr->ring_misses,
			jr->t_settle - jr->t_pull, t2 - t0, MPI_Wtime() - t0);
}

/*
 * The job, step by step (see mr_job_int.h): every step's outcome is
 * agreed before the next, so all ranks take the same branches.
 */
int mr_job_run(struct mr_ctx *ctx, struct mr_job *job)
{
	struct jr *jr = calloc(1, sizeof(*jr));
	double t0, t1, t2;
	int rc;

	if (!jr)
		mr_abort(ctx, "out of memory");
	ctx->errmsg[0] = 0;
	ctx->jobseq++;
	jr->ctx = ctx;
	jr->job = job;
	jr->debug = getenv("MR_DEBUG") ? atoi(getenv("MR_DEBUG")) : 0;
	job->spills = 0;
	rc = mr_agree(ctx, validate(ctx, job));
	if (rc) {
		free(jr);
		return rc;
	}
	if (job->output_dir)
		output_begin(jr);
	if (!jr->rc)
		jr_setup(jr);
	rc = mr_agree(ctx, jr->rc);
	if (!rc)
		rc = mr_agree(ctx, shm_setup(jr));
	t0 = MPI_Wtime();
	if (!rc)
		rc = mr_agree(ctx, mr_map_phase(jr));
	if (!rc && jr->direct)
		rc = mr_agree(ctx, mr_direct_exchange(jr));
	t1 = MPI_Wtime();
	if (!rc) {
		rc = mr_reduce_phase(jr);
		jr->t_reduced = MPI_Wtime();
		rc = mr_agree(ctx, rc);
	}
	t2 = MPI_Wtime();
	if (!rc && job->output_dir)
		rc = output_finish(jr);
	if (rc && job->output_dir)
		mr_rm_tree(jr->tmpout);
	report(jr, t0, t1, t2);
	jr_release(jr);
	free(jr);
	return rc;
}
