/*
 * job_tasks: running the task queue (job_db.h) that the scans fill.
 *
 * `curator tasks run` and the daemon call job_tasks_run on every rank: it
 * claims tasks highest priority first and applies each through its kind's
 * executor (jobs/job_kind.h lists the kinds and the file of each family).
 * job_task_apply applies one task, for tests and tools.
 *
 * Every task is idempotent and carries the egroup version its scan read:
 * the executor re-reads the row and applies the task only if the version
 * still matches (compare-and-set), else marks it stale; the next scan
 * recomputes it. Data moves first, metadata flips second (CAS), old copies
 * go last, so a crash anywhere leaves at worst unreachable bytes or orphan
 * files that a later scan collects.
 */
#ifndef JOB_TASKS_H
#define JOB_TASKS_H

#include "jobs/job_db.h"
#include "mapreduce/mr.h"
#include "storage/st_store.h"

struct job_run_opts {
	int kind;           /* -1: every kind */
	int64_t max;        /* tasks in all (0: no limit) */
	double rate_mbps;   /* MiB/s moved or freed by all ranks together (0: unthrottled) */
	int64_t sweep_grace;/* seconds (< 0: 3600) */
	double kind_mbps[JT_NKINDS];  /* per kind, all ranks together, instead of rate_mbps (0: rate_mbps) */
	int kind_ranks[JT_NKINDS];    /* ranks running a kind at once (0: all) */
	volatile int *stop;           /* stop claiming when non-zero */
};

/*
 * Locality: a task's bytes (freed, moved or read, as reclaimed counts them
 * but unsigned) are local when it ran on a rank of its node (the node of
 * the disk it reads or writes first, stamped by the scan), remote when it
 * ran elsewhere (its node had no rank, or is 0 for none: metadata-only
 * tasks and tasks of lost egroups count as neither, in bytes_anywhere).
 */
#define JOB_RUN_NODES_MAX 64 /* per-node tallies kept for nodes 1..64 (st_store_init's limit) */
struct job_run_result {
	uint64_t done[JT_NKINDS], stale[JT_NKINDS], failed[JT_NKINDS];
	int64_t bytes_reclaimed;
	int64_t bytes_local, bytes_remote, bytes_anywhere;
	uint64_t node_tasks[JOB_RUN_NODES_MAX + 1]; /* tasks run by the ranks of each node (index: node id) */
	int nodes_with_ranks;                       /* nodes the run's ranks were on */
	uint32_t rank_node;                         /* this rank's node (differs per rank) */
};

/*
 * Local. Apply one task t (not claimed: nothing is recorded in curator.db)
 * with the given file_sweep grace (seconds, < 0: 3600).
 * [out] *bytes: freed (> 0), or moved or read (< 0).
 * Returns 0 done (err may carry a note), ST_ESTALE (the row changed since
 * the scan: nothing applied), ST_EINVAL (an unknown kind or a bad
 * argument), or another error (err filled). Safe from several threads only
 * with a store each.
 */
int job_task_apply(struct st_store *st, const struct job_task *t, int64_t sweep_grace, int64_t *bytes,
		   struct st_msg *err);

/*
 * Collective. Every rank claims and applies tasks (of o->kind, or any),
 * highest priority first, until none is left, o->max is reached (shared
 * out between the ranks) or *o->stop is set.
 * Budgets: the bytes every rank moves or frees count against one budget
 * for the whole run: a kind with kind_mbps against its own, the others
 * against rate_mbps. After each task (or batch) a rank adds its bytes to
 * the budget's counter in curator.db and waits until the run has lasted
 * total / rate since its agreed start, so over the run the ranks together
 * move at most rate x its duration, plus at most one task (or batch) per
 * rank at any moment in between. A wait ends early when *o->stop is set.
 * Tasks a dead runner left running go back to pending first (rank 0).
 * Each rank claims only tasks of its own node, of node 0, or of nodes no
 * rank runs on (the ranks' nodes are gathered first: collective).
 * [out] *res: the outcomes by kind, the bytes reclaimed, local and
 * remote, and the tasks by node, summed over the ranks (the same on every
 * rank but rank_node); rank 0 records them with the latest
 * finished scan in curator.db.
 * Returns 0, or an error one of the ranks had (agreed: the same on every
 * rank; err filled on the rank that had it). A task's own failure is an outcome, not
 * an error: it is retried by a later run until its third attempt.
 */
int job_tasks_run(struct mr_ctx *mr, struct st_store *st, const struct job_run_opts *o, struct job_run_result *res,
		  struct st_msg *err);

#endif
