/*
 * job_tasks: the executors of the task queue (job_db.h). Every task is
 * idempotent and carries the egroup version its scan read: the executor
 * re-reads the row and applies the task only if the version still matches
 * (compare-and-set), else marks it stale; the next scan recomputes it.
 * Data moves first, metadata flips second (CAS), old copies go last, so a
 * crash anywhere leaves at worst unreachable bytes or orphan files that a
 * later scan collects.
 *
 * Compaction (egroup_compact) first marks the egroup MOVING by CAS, which
 * stops appends and refcount increments to it (snapshots wait and
 * re-resolve); then it copies the live extents into a new egroup (stamped
 * with a fresh operation's sequence, as the safety rule requires), repoints
 * their extent-ID rows by CAS, deletes the dead extents' extent-ID rows,
 * deletes the old row by CAS and finally its files. A MOVING egroup found
 * by a later scan is compacted again (rolled forward).
 */
#ifndef JOB_TASKS_H
#define JOB_TASKS_H

#include "jobs/job_db.h"
#include "mapreduce/mr.h"
#include "storage/st_store.h"

struct job_run_opts {
	int kind;           /* -1: every kind */
	int64_t max;        /* tasks in all (0: no limit) */
	double rate_mbps;   /* per rank, bytes moved or freed (0: unthrottled) */
	int64_t sweep_grace;/* seconds (< 0: 3600) */
	double kind_mbps[JT_NKINDS];  /* per kind, per rank (0: only rate_mbps) */
	int kind_ranks[JT_NKINDS];    /* ranks running a kind at once (0: all) */
	volatile int *stop;           /* stop claiming when non-zero */
};

struct job_run_result {
	uint64_t done[JT_NKINDS], stale[JT_NKINDS], failed[JT_NKINDS];
	int64_t bytes_reclaimed;
};

/*
 * Local. Apply one task: 0 done (*bytes: freed), ST_ESTALE (the row
 * changed: nothing applied), or an error (err filled).
 */
int job_task_apply(struct st_store *st, const struct job_task *t, int64_t sweep_grace, int64_t *bytes,
		   struct st_msg *err);

/*
 * Collective. Every rank claims and applies tasks, highest priority first,
 * until none is left (or max is reached); results are summed over ranks and
 * recorded with the latest scan in curator.db.
 */
int job_tasks_run(struct mr_ctx *mr, struct st_store *st, const struct job_run_opts *o, struct job_run_result *res,
		  struct st_msg *err);

#endif
