/*
 * job_tasks: the task runner. See job_tasks.h.
 *
 * DESIGN: every rank claims the next pending task from curator.db (highest
 * priority first, kinds at their rank limit passed over), applies it
 * through its kind's ops entry (job_tasks_int.h) and records the outcome;
 * the runner knows nothing of any kind beyond that entry. A kind that
 * batches has the claimed task and up to its batch size - 1 more of its
 * sort run as one (one sync for many egroups) with every outcome recorded
 * in one transaction. While a task that reads egroups runs, the next ones'
 * egroups are read ahead (the kernel reads them while this task syncs).
 * Bytes moved or freed are throttled for the whole run, all ranks
 * together (struct budgets: a counter per budget in curator.db).
 *
 * The executors keep the ordering and idempotency rules (job_tasks_int.h),
 * so a claim lost in a crash only means the task runs again: tasks left
 * running by a dead runner go back to pending when the next run starts.
 */
#include "jobs/job_tasks.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobs/job_tasks_int.h"
#include "storage/st_lease.h"

#define AHEAD_ALONE(nranks) (2 * (nranks)) /* tasks read ahead of one that runs alone: two per rank */

int job_task_apply(struct st_store *st, const struct job_task *t, int64_t sweep_grace, int64_t *bytes,
		   struct st_msg *err)
{
	const struct job_task_ops *op = job_task_ops_get(t->kind);
	struct job_task_env env = { .sweep_grace = sweep_grace };

	*bytes = 0;
	if (!op)
		return st_fail(err, ST_EINVAL, "task %" PRId64 ": unknown kind %d", t->id, t->kind);
	return op->apply(st, t, &env, bytes, err);
}

/*
 * The run's byte budgets (job_tasks.h: --rate, --throttle), shared by all
 * ranks. Every rank adds the bytes of each task it finishes to the
 * budget's counter in curator.db (job_db_budget_take) and gets back the
 * run's total so far, then waits until t0 + total / rate on its own
 * monotonic clock: the total is the cluster's and t0 was taken right after
 * the run's start was agreed (a collective), so by the time a byte counts
 * as done the whole run has taken at least total / rate. The counter needs
 * no clock shared between hosts; it costs one statement per throttled
 * task (none without a rate). If curator.db cannot be written the rank
 * throttles on its own bytes at rate / ranks (its share).
 */
struct budgets {
	int64_t run;     /* the run's number in curator.db (0: counting locally) */
	double t0;       /* monotonic seconds, right after the agreed start */
	int nranks;
	int64_t local[JT_NKINDS + 1]; /* fallback counters: per kind, [JT_NKINDS] the overall one */
};

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait until `until` (monotonic seconds), in steps that look at the stop flag. */
static void wait_until(double until, volatile int *stop)
{
	for (double now = mono_now(); now < until && !(stop && *stop); now = mono_now()) {
		double d = until - now < 0.1 ? until - now : 0.1;
		usleep((useconds_t)(d * 1e6) + 1);
	}
}

/* bytes (moved or freed) of a task of kind against its budget: its own rate, else the overall one. */
static void throttle(struct job_db *db, struct budgets *b, const struct job_run_opts *o, int kind, int64_t bytes)
{
	int own = (unsigned)kind < JT_NKINDS && o->kind_mbps[kind] > 0; /* (a newer curator's kind: the overall rate) */
	double rate = own ? o->kind_mbps[kind] : o->rate_mbps;
	int slot = own ? kind : JT_NKINDS;
	int64_t total;

	if (rate <= 0 || bytes <= 0)
		return;
	if (!b->run || job_db_budget_take(db, b->run, slot == JT_NKINDS ? "rate" : job_task_kind_name(kind), bytes,
					  &total, NULL)) {
		b->local[slot] += bytes;
		total = b->local[slot] * b->nranks; /* this rank's share of the rate */
	}
	wait_until(b->t0 + (double)total / (rate * 1048576.0), o->stop);
}

/* Is any budget set? */
static int throttled(const struct job_run_opts *o)
{
	for (int k = 0; k < JT_NKINDS; k++)
		if (o->kind_mbps[k] > 0)
			return 1;
	return o->rate_mbps > 0;
}

/*
 * While this task runs, let the kernel read the egroups the next n (of
 * kind, -1: any; any rank may claim them) will read: copying and verifying
 * then overlap with this task's fdatasync instead of waiting after it.
 */
static void prefetch_next(struct st_store *st, struct job_db *db, int kind, int n)
{
	int kinds[64], got = 0;
	uint64_t targets[64];

	if (n > 64)
		n = 64;
	if (job_db_task_peek(db, kind, n, kinds, targets, &got, NULL))
		return;
	for (int i = 0; i < got; i++) {
		const struct job_task_ops *op = job_task_ops_get(kinds[i]);
		struct st_egroup_rec g;
		if (!op || op->reads_egroups == JOB_READS_NONE)
			continue;
		st_egroup_rec_init(&g);
		if (st_meta_egroup_get(st_store_meta(st), targets[i], &g, NULL) == 0)
			st_store_prefetch(st, &g, op->reads_egroups == JOB_READS_REPLICAS);
		st_egroup_rec_release(&g);
	}
}

/*
 * Record one task's outcome (done, stale, or failed: retried until its third attempt).
 * NEEDSWORK: t->kind indexes res unchecked; a row of a kind this curator does not know
 * (a newer curator's) would be out of range.
 */
static int finish_one(struct job_db *db, const struct job_task *t, int trc, int64_t bytes, const struct st_msg *terr,
		      struct job_run_result *res, struct st_msg *err)
{
	res->node_tasks[0]++; /* this rank's, until the sums */
	if (trc == 0) {
		int64_t abs_bytes = bytes < 0 ? -bytes : bytes;
		res->done[t->kind]++;
		if (bytes > 0)
			res->bytes_reclaimed += bytes;
		if (!t->node)
			res->bytes_anywhere += abs_bytes;
		else if (t->node == res->rank_node)
			res->bytes_local += abs_bytes;
		else
			res->bytes_remote += abs_bytes;
		return job_db_task_finish(db, t->id, JS_DONE, bytes, terr->text[0] ? terr->text : NULL, err);
	}
	if (trc == ST_ESTALE) {
		res->stale[t->kind]++;
		return job_db_task_finish(db, t->id, JS_STALE, 0, terr->text, err);
	}
	res->failed[t->kind]++;
	return job_db_task_finish(db, t->id, t->attempts >= 3 ? JS_FAILED : JS_PENDING, 0, terr->text, err);
}

/* How task t runs in a batch, or NULL when it runs alone. */
static const struct job_task_batch *batch_of(const struct job_task *t)
{
	const struct job_task_ops *op = job_task_ops_get(t->kind);

	if (!op || !op->batch || (op->batch->member && !op->batch->member(t)))
		return NULL;
	return op->batch;
}

/* Does task u go in the same batch as t (of its kind)? */
static int same_batch(const struct job_task_batch *b, const struct job_task *t, const struct job_task *u)
{
	return !b->member || b->member(u) == b->member(t);
}

/*
 * Tasks in a batch b of this kind: b->max, or when b->share and several
 * ranks run, the pending ones shared between the ranks (one rank must not
 * take them all), at least b->min.
 */
static int batch_size(struct job_db *db, const struct job_task_batch *b, int kind, int nranks)
{
	int64_t pending, size = b->max;

	if (b->share && nranks > 1 && job_db_tasks_pending(db, kind, &pending, NULL) == 0)
		size = (pending + nranks) / nranks; /* the claimed one and its share */
	return size < b->min ? b->min : size > b->max ? b->max : (int)size;
}

/*
 * Run claimed task *first and up to batch_size() - 1 more of its sort (at
 * most limit in all) as one batch b; record every outcome in one curator.db
 * transaction. Returns the tasks run, or -1 (*rc set) when nothing could.
 */
static int run_batch(struct st_store *st, struct job_db *db, const struct job_run_opts *o, const struct job_task_batch *b,
		     struct job_task *first, int64_t limit, int nranks, struct job_run_result *res,
		     struct budgets *bud, int *rc, struct st_msg *err)
{
	struct job_task tasks[JOB_BATCH_MAX], more[JOB_BATCH_MAX];
	const struct job_task *ptr[JOB_BATCH_MAX];
	int size = batch_size(db, b, first->kind, nranks);
	int64_t bb[JOB_BATCH_MAX], want = limit - 1 < size - 1 ? limit - 1 : size - 1, batch_bytes = 0;
	int rcs[JOB_BATCH_MAX], nb = 1, got = 0, kind = first->kind, intx;
	struct st_msg *errs = calloc(JOB_BATCH_MAX, sizeof(*errs));

	if (!errs) {
		*rc = st_fail(err, -ENOMEM, "out of memory");
		job_task_release(first);
		return -1;
	}
	tasks[0] = *first;
	if (want > 0)
		*rc = job_db_task_claim_many(db, kind, o->kind_ranks, (int)want, more, &got, err);
	for (int i = 0; i < got; i++) {
		if (!same_batch(b, first, &more[i])) { /* another sort of task of the kind: back to the queue */
			job_db_task_finish(db, more[i].id, JS_PENDING, 0, NULL, NULL);
			job_task_release(&more[i]);
			continue;
		}
		tasks[nb++] = more[i];
	}
	for (int i = 0; i < nb; i++)
		ptr[i] = &tasks[i];
	if (b->ahead_before)
		prefetch_next(st, db, kind, b->ahead_before);
	b->apply(st, ptr, nb, bb, rcs, errs); /* (every outcome is in rcs) */
	if (b->ahead_after)
		prefetch_next(st, db, kind, b->ahead_after);
	intx = job_db_tasks_finish_begin(db, NULL) == 0;
	for (int i = 0; i < nb; i++) {
		int prc = finish_one(db, &tasks[i], rcs[i], bb[i], &errs[i], res, err);
		if (!*rc)
			*rc = prc;
		batch_bytes += bb[i] < 0 ? -bb[i] : bb[i];
		job_task_release(&tasks[i]);
	}
	if (intx && job_db_tasks_finish_commit(db, *rc ? NULL : err) && !*rc)
		*rc = -EIO;
	throttle(db, bud, o, kind, batch_bytes); /* after the commit: never waits holding curator.db */
	free(errs);
	return nb;
}

/* Attach the results to the latest scan's report (rank 0; best effort). */
static void record_results(struct job_db *db, const struct job_run_result *res)
{
	char json[4096];
	size_t off = (size_t)snprintf(json, sizeof(json), "{\"bytes_reclaimed\":%" PRId64, res->bytes_reclaimed);

	off += (size_t)snprintf(json + off, sizeof(json) - off,
				",\"locality\":{\"bytes_local\":%" PRId64 ",\"bytes_remote\":%" PRId64
				",\"bytes_anywhere\":%" PRId64 ",\"tasks_by_node\":{",
				res->bytes_local, res->bytes_remote, res->bytes_anywhere);
	for (int k = 1, first = 1; k <= JOB_RUN_NODES_MAX; k++)
		if (res->node_tasks[k]) {
			off += (size_t)snprintf(json + off, sizeof(json) - off, "%s\"%d\":%" PRIu64, first ? "" : ",", k,
						res->node_tasks[k]);
			first = 0;
		}
	off += (size_t)snprintf(json + off, sizeof(json) - off, "}}");

	for (int k = 0; k < JT_NKINDS; k++)
		off += (size_t)snprintf(json + off, sizeof(json) - off,
					",\"%s\":{\"done\":%" PRIu64 ",\"stale\":%" PRIu64 ",\"failed\":%" PRIu64 "}",
					job_task_kind_name(k), res->done[k], res->stale[k], res->failed[k]);
	snprintf(json + off, sizeof(json) - off, "}");
	job_db_scan_task_results(db, json, NULL);
}

/*
 * Collective. Which nodes the ranks run on (ranks[n]: how many on node n,
 * 1..JOB_RUN_NODES_MAX), and this handle's claims made local: tasks of
 * nodes where other ranks run and this one does not are left to them.
 */
static int gather_nodes(struct mr_ctx *mr, struct st_store *st, struct job_db *db, int64_t *ranks)
{
	uint32_t me = st_store_node(st), elsewhere[JOB_RUN_NODES_MAX];
	int n = 0;

	for (uint32_t k = 1; k <= JOB_RUN_NODES_MAX; k++) {
		ranks[k] = mr_sum(mr, me == k);
		if (ranks[k] > 0 && k != me)
			elsewhere[n++] = k;
	}
	/* a rank of a node past the limit claims anything (no locality for it) */
	return db && me >= 1 && me <= JOB_RUN_NODES_MAX ? job_db_set_locality(db, elsewhere, n) : 0;
}

int job_tasks_run(struct mr_ctx *mr, struct st_store *st, const struct job_run_opts *o, struct job_run_result *res,
		  struct st_msg *err)
{
	int64_t ranks_on[JOB_RUN_NODES_MAX + 1] = { 0 };
	struct job_db *db = NULL;
	int64_t limit = o->max > 0 ? (o->max + mr_nranks(mr) - 1) / mr_nranks(mr) : INT64_MAX, ran = 0;
	struct budgets bud = { .nranks = mr_nranks(mr) };
	int rc = job_db_open(st_config_dir(st_store_config(st)), &db, err);

	memset(res, 0, sizeof(*res));
	res->rank_node = st_store_node(st);
	if (gather_nodes(mr, st, db, ranks_on) && !rc)
		rc = st_fail(err, ST_EINVAL, "task runner: the ranks' nodes do not fit the locality list");
	st_store_async_unlink(st, 1);
	if (!rc) { /* claims are recorded under this rank's lease */
		struct st_lease *lease = NULL;
		char what[64];
		snprintf(what, sizeof(what), "tasks run rank %d", mr_rank(mr));
		st_store_set_holder(st, ST_LEASE_RANK, what);
		rc = st_store_lease(st, &lease, err);
		if (!rc)
			job_db_set_runner(db, st_lease_id(lease));
	}
	if (!rc && mr_rank(mr) == 0) { /* dead runners' tasks: their leases reaped first */
		rc = st_store_leases_reap(st, NULL, err);
		if (!rc)
			rc = job_db_tasks_requeue_running(db, st_store_config(st), err);
	}
	if (!rc && mr_rank(mr) == 0 && throttled(o) && job_db_budget_start(db, &bud.run, NULL))
		bud.run = 0; /* (each rank then throttles on its share) */
	rc = mr_agree(mr, rc);
	mr_bcast(mr, &bud.run, sizeof(bud.run), 0);
	bud.t0 = mono_now();
	while (!rc && ran < limit && !(o->stop && *o->stop)) {
		const struct job_task_ops *op;
		const struct job_task_batch *b;
		struct job_task t;
		struct st_msg terr = { "" };
		int64_t bytes = 0;
		int got = 0, trc, k;

		rc = job_db_task_claim(db, o->kind, o->kind_ranks, &t, &got, err);
		if (rc || !got)
			break;
		op = job_task_ops_get(t.kind);
		b = batch_of(&t);
		if (b) { /* in batches: one sync for many egroups (batches read ahead themselves) */
			int nb = run_batch(st, db, o, b, &t, limit - ran, mr_nranks(mr), res, &bud, &rc, err);
			if (nb < 0)
				break;
			ran += nb;
			continue;
		}
		if (op && op->reads_egroups != JOB_READS_NONE)
			prefetch_next(st, db, o->kind, AHEAD_ALONE(mr_nranks(mr)));
		trc = job_task_apply(st, &t, o->sweep_grace, &bytes, &terr);
		rc = finish_one(db, &t, trc, bytes, &terr, res, err);
		k = t.kind;
		job_task_release(&t);
		throttle(db, &bud, o, k, bytes < 0 ? -bytes : bytes);
		ran++;
	}
	st_store_async_unlink(st, 0); /* every retired file gone before the results count it */
	rc = mr_agree(mr, rc);
	for (int k = 0; k < JT_NKINDS; k++) {
		res->done[k] = (uint64_t)mr_sum(mr, (int64_t)res->done[k]);
		res->stale[k] = (uint64_t)mr_sum(mr, (int64_t)res->stale[k]);
		res->failed[k] = (uint64_t)mr_sum(mr, (int64_t)res->failed[k]);
	}
	res->bytes_reclaimed = mr_sum(mr, res->bytes_reclaimed);
	res->bytes_local = mr_sum(mr, res->bytes_local);
	res->bytes_remote = mr_sum(mr, res->bytes_remote);
	res->bytes_anywhere = mr_sum(mr, res->bytes_anywhere);
	{
		uint64_t mine = res->node_tasks[0];
		uint32_t me = res->rank_node;
		res->node_tasks[0] = 0;
		res->nodes_with_ranks = 0;
		for (uint32_t k = 1; k <= JOB_RUN_NODES_MAX; k++) {
			if (!ranks_on[k])
				continue;
			res->node_tasks[k] = (uint64_t)mr_sum(mr, me == k ? (int64_t)mine : 0);
			res->nodes_with_ranks++;
		}
	}
	if (!rc && mr_rank(mr) == 0)
		record_results(db, res);
	job_db_close(db);
	return rc;
}
