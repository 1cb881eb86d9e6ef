/*
 * job_db: the curator database, `curator.db` in the cluster directory
 * (SQLite, WAL): the history of scans (their reports), what each scan found,
 * and the task queue.
 *
 *   scans     id, kind (full|partial), dry_run, state (running|done|failed),
 *             start/end, S0, ranks, phases (JSON), counters (JSON), error,
 *             task results (JSON, after `tasks run`)
 *   findings  scan, kind, egroup, extent, detail   (one per notable item)
 *   usage     scan, disk, tier, bytes, egroups     (from MR3 / the partial reduce)
 *   tasks     id, scan, kind, target, expected version, priority, state
 *             (pending|running|done|stale|failed), attempts, bytes, arg (blob),
 *             error, updated
 *   requests  scans asked for by hand (`scan --request`) for the daemon
 *   events    disk and node failures and other triggers, for the daemon
 *   daemon    one row: the running master (pid, host, heartbeat, what it
 *             does now: phase, progress, when the next scans are due)
 *
 * Order of calls: job_db_open() gives a handle, every other function takes
 * it, job_db_close() frees it. The handle is opaque: only jobs/job_db.c and
 * jobs/job_db_report.c (the read side for reports, status and explain, see
 * job_db_report.h) run statements on curator.db.
 *
 * Thread rules: one handle per thread; any number of processes and MPI ranks
 * may open it (every write is one IMMEDIATE transaction).
 */
#ifndef JOB_DB_H
#define JOB_DB_H

#include <stddef.h>
#include <stdint.h>

#include "jobs/job_kind.h" /* enum job_task_kind, its names and priorities */
#include "storage/st_util.h"

enum job_task_state { JS_PENDING = 0, JS_RUNNING, JS_DONE, JS_STALE, JS_FAILED };
const char *job_task_state_name(enum job_task_state s);

struct job_task {
	int64_t id;
	int64_t scan;
	enum job_task_kind kind;
	uint64_t target;       /* egroup id, vdisk id or disk id (sweep) */
	uint64_t version;      /* expected egroup version (0: none) */
	int priority;
	enum job_task_state state;
	int attempts;
	int64_t bytes;         /* estimated, then reclaimed */
	uint8_t *arg;          /* owned; kind-specific */
	size_t arglen;
};

/* An open curator.db (opaque). */
struct job_db;

/*
 * Open curator.db in the cluster directory dir, creating it and its schema
 * if needed (several ranks may do so at once). *db is a handle the caller
 * frees with job_db_close; NULL on failure. 0, -ENOMEM, or an SQLite
 * failure mapped by st_sql (err filled).
 */
int job_db_open(const char *dir, struct job_db **db, struct st_msg *err);
/* Close and free the handle. NULL is a no-op. */
void job_db_close(struct job_db *db);

/* A new scan row in state running; *id receives its id. */
int job_db_scan_begin(struct job_db *db, const char *kind, int dry_run, uint64_t s0, int ranks, int64_t *id,
		      struct st_msg *err);
/* Finish a scan: state done or failed, with the phases and counters JSON. */
int job_db_scan_end(struct job_db *db, int64_t id, int ok, const char *phases_json, const char *counters_json,
		    const char *error, struct st_msg *err);

/* Queue tasks (one transaction). Tasks equal to a pending one are skipped. */
int job_db_tasks_add(struct job_db *db, const struct job_task *t, int n, struct st_msg *err);

/* Record findings and usage (one transaction each). */
struct job_finding {
	const char *kind;
	uint64_t egroup;
	const char *extent; /* formatted id or NULL */
	const char *detail;
};
int job_db_findings_add(struct job_db *db, int64_t scan, const struct job_finding *f, int n, struct st_msg *err);
int job_db_usage_add(struct job_db *db, int64_t scan, uint32_t disk, int tier, uint64_t bytes, uint64_t egroups,
		     struct st_msg *err);

/*
 * The next n pending tasks a claim would hand out (of one kind, -1: any),
 * without claiming them: their kinds and targets, for read-ahead. 0 and
 * *got (<= n), or an error.
 */
int job_db_task_peek(struct job_db *db, int kind, int n, int *kinds, uint64_t *targets, int *got, struct st_msg *err);

/* How many tasks are pending (of one kind, -1: any). 0 or an error. */
int job_db_tasks_pending(struct job_db *db, int kind, int64_t *n, struct st_msg *err);

/*
 * Claim the next pending task (highest priority, then oldest), optionally
 * of one kind (-1: any), marking it running; a kind whose running tasks
 * already number kind_ranks[kind] (> 0; kind_ranks may be NULL) is passed
 * over. 0 with *got = 0 when none. The arg buffer is owned by t until
 * job_task_release.
 */
int job_db_task_claim(struct job_db *db, int kind, const int *kind_ranks, struct job_task *t, int *got,
		      struct st_msg *err);
/* As job_db_task_claim, up to max tasks in one transaction into t[0..*got). */
int job_db_task_claim_many(struct job_db *db, int kind, const int *kind_ranks, int max, struct job_task *t, int *got,
			   struct st_msg *err);
void job_task_release(struct job_task *t);

/* Record a task's outcome. */
int job_db_task_finish(struct job_db *db, int64_t id, enum job_task_state state, int64_t bytes, const char *error,
		       struct st_msg *err);

/* Tasks left running by a dead runner go back to pending (attempts kept). */
int job_db_tasks_requeue_running(struct job_db *db, struct st_msg *err);

/* Queue a request for a scan ("full" or "partial") for the daemon. */
int job_db_request_add(struct job_db *db, const char *kind, struct st_msg *err);
/* Take the oldest open request: *kind "full"/"partial" or "" when none. */
int job_db_request_take(struct job_db *db, char *kind, size_t len, struct st_msg *err);

/* Record an event (kind "disk_failed", "node_down", ...) that triggers a scan. */
int job_db_event_add(struct job_db *db, const char *kind, const char *detail, struct st_msg *err);
/* Events with an id above *after: *n of them; *after advances. */
int job_db_events_since(struct job_db *db, int64_t *after, int *n, struct st_msg *err);

/* The daemon row: written by the master, read by `curator status`. */
struct job_daemon_state {
	int64_t pid;
	char host[128];
	int ranks;
	double started, heartbeat;
	char state[32];      /* idle, scanning, tasks, stopping */
	int64_t scan_id;     /* running scan, 0 = none */
	char phase[64];
	int phase_index, phases;
	double phase_started;
	double next_full, next_partial;
};
int job_db_daemon_put(struct job_db *db, const struct job_daemon_state *s, struct st_msg *err);
/* 0 and *found = 1 if a row exists. */
int job_db_daemon_get(struct job_db *db, struct job_daemon_state *s, int *found, struct st_msg *err);

/* End time and id of the latest finished scan of a kind (0 if none). */
int job_db_last_scan(struct job_db *db, const char *kind, int64_t *id, double *ended, struct st_msg *err);

/* --- the task runner's statements (jobs/job_tasks.c) ---------------------- */

/*
 * One transaction around many job_db_task_finish calls (a batch's
 * outcomes): begin (BEGIN IMMEDIATE), then commit. 0 or an error (err
 * filled; err may be NULL); a failed commit is rolled back. Not nested.
 */
int job_db_tasks_finish_begin(struct job_db *db, struct st_msg *err);
int job_db_tasks_finish_commit(struct job_db *db, struct st_msg *err);

/*
 * Attach the JSON object json (`tasks run` results: bytes_reclaimed and per
 * kind {done, stale, failed}) to the latest finished scan as its
 * task_results. 0 (also when there is no finished scan) or an error.
 */
int job_db_scan_task_results(struct job_db *db, const char *json, struct st_msg *err);

#endif
