/*
 * job_db_report: the read side of curator.db (job_db.h) for people and
 * monitoring: what `curator report` (text, JSON, HTML, Prometheus),
 * `curator status`, `curator explain`, `curator tasks list` and the scan
 * progress show. Every statement on curator.db lives in jobs/job_db*.c;
 * callers get plain values, structs, or rows through callbacks.
 *
 * Order of calls: job_db_open(), then any of these, then job_db_close().
 * A scan is named by its id: job_db_scan_latest() or job_db_scan_last_done()
 * find one, job_db_scan_get() reads its row, the job_db_scan_*() functions
 * read what it recorded (counters, phases, usage, findings, task results).
 *
 * Callbacks: each row is handed to fn(arg, ...) while the statement is
 * stepped; strings and structs passed to fn are valid only during that
 * call. A non-zero return from fn stops the walk and is returned.
 *
 * Errors: 0, ST_ENOTFOUND where said ("not found" is a normal result), or
 * an SQLite failure mapped by st_sql_fail (ST_EIO, ST_EBUSY, ...) with err
 * filled (err may be NULL).
 *
 * Thread rules: as job_db.h (one handle per thread). Local, not MPI; all
 * of these only read.
 */
#ifndef JOB_DB_REPORT_H
#define JOB_DB_REPORT_H

#include <stdint.h>

#include "jobs/job_db.h"

/* --- scans ------------------------------------------------------------- */

/* One row of the scans table (job_db.h). */
struct job_scan_row {
	int64_t id;
	char kind[16];    /* "full", "partial" or "selective" */
	int dry_run;
	char state[16];   /* "running", "done" or "failed" */
	double started;
	double ended;     /* 0 while it runs */
	int64_t s0;
	int ranks;
	int has_error;    /* error is set (it may be "") */
	char error[512];
};

/* The newest scan: *id, or ST_ENOTFOUND when no scan has run (*id untouched). */
int job_db_scan_latest(struct job_db *db, int64_t *id, struct st_msg *err);

/*
 * The newest scan in state done, of one kind ("full", "partial",
 * "selective"; NULL: full or partial, the scans that look at every egroup,
 * never a selective one, which reads only a deleted vdisk's rows): *id, 0
 * when there is none (which is not an error).
 */
int job_db_scan_last_done(struct job_db *db, const char *kind, int64_t *id, struct st_msg *err);

/* The row of scan id into *s: 0 or ST_ENOTFOUND (*s untouched). */
int job_db_scan_get(struct job_db *db, int64_t id, struct job_scan_row *s, struct st_msg *err);

/*
 * The duration in whole seconds of the last done scan of the same kind as
 * scan `id` and older than it (for an ETA): *secs, 0 when there is none.
 */
int job_db_scan_prev_secs(struct job_db *db, int64_t id, int64_t *secs, struct st_msg *err);

/* What a running scan last recorded of itself (job_db.h: beats and phases). */
struct job_scan_progress {
	char owner[160];        /* host:pid that began it ("" for scans older than the column) */
	int64_t heartbeat;      /* the counter its ranks bump (only its motion means anything) */
	char phase[64];         /* "MR1 extent references", ..., "queueing tasks"; "" before the first */
	int phase_index, phase_count; /* 1-based and of how many (0, 0 while queueing) */
	double phase_started;   /* policy clock, when the phase began (0: not yet) */
	int64_t records;        /* records its ranks read in the phase so far (as of their last beats) */
	int64_t to_queue, queued; /* tasks its ranks are queueing, and handled so far */
};

/* The progress columns of scan id into *p: 0 or ST_ENOTFOUND (*p untouched). */
int job_db_scan_progress(struct job_db *db, int64_t id, struct job_scan_progress *p, struct st_msg *err);

/* The ids of the scans in state running, oldest first: ids[0..*n), at most max. */
int job_db_scans_running(struct job_db *db, int max, int64_t *ids, int *n, struct st_msg *err);

/*
 * The last done scan of the same kind as scan `id` and older than it, for
 * an estimate: its id (*prev, 0 when there is none), and its phase named
 * `phase`: the records it read (*records) and its seconds (*secs), and the
 * seconds of the phases after that one (*after); all 0 when not found.
 */
int job_db_scan_prev_phase(struct job_db *db, int64_t id, const char *phase, int64_t *prev, int64_t *records,
			   double *secs, double *after, struct st_msg *err);

/*
 * The ids of the newest `max` done scans (of kind, NULL: any), oldest
 * first, into ids[0..*n).
 */
int job_db_scans_recent(struct job_db *db, const char *kind, int max, int64_t *ids, int *n, struct st_msg *err);

/*
 * Per kind of scan, its newest done scan: fn(arg, kind, value) where value
 * is that scan's duration in seconds (job_db_scans_last_secs, in scan
 * order) or when it ended (job_db_scans_last_end, by kind).
 */
typedef int (*job_kind_value_fn)(void *arg, const char *kind, double value);
int job_db_scans_last_secs(struct job_db *db, job_kind_value_fn fn, void *arg, struct st_msg *err);
int job_db_scans_last_end(struct job_db *db, job_kind_value_fn fn, void *arg, struct st_msg *err);

/*
 * The whole report of scan id as one JSON document built by SQLite's JSON
 * functions (the format the README documents: the scan row, phases,
 * counters, task results, tasks queued by kind, usage, the first 1000
 * findings). *json is malloc'd, the caller frees it. 0, ST_ENOTFOUND
 * ("scan N: not found" in err), -ENOMEM.
 */
int job_db_scan_json(struct job_db *db, int64_t id, char **json, struct st_msg *err);

/*
 * Counter `name` (e.g. "dead_bytes") of the scan's counters: *v, or
 * ST_ENOTFOUND with *v = 0 when the scan or the counter is missing.
 */
int job_db_scan_counter(struct job_db *db, int64_t scan, const char *name, int64_t *v, struct st_msg *err);

/* One phase of a scan as recorded by job_db_scan_end (phase may be NULL). */
struct job_scan_phase {
	const char *phase;
	double secs;
	int64_t records_in, records_out;
};
typedef int (*job_phase_fn)(void *arg, const struct job_scan_phase *p);
/* The scan's phases in order. No rows for an unknown scan. */
int job_db_scan_phases(struct job_db *db, int64_t scan, job_phase_fn fn, void *arg, struct st_msg *err);

/*
 * What `tasks run` recorded against the scan (job_db_scan_task_results
 * attaches its results to the latest done scan): *bytes reclaimed, or
 * ST_ENOTFOUND when no task results are attached to it.
 */
int job_db_scan_reclaimed(struct job_db *db, int64_t scan, int64_t *bytes, struct st_msg *err);
/*
 * Where its tasks ran (job_tasks.h, locality): bytes of tasks run on a rank
 * of their node, elsewhere, and of tasks of no node. ST_ENOTFOUND when no
 * results, or results of a curator before locality, are attached.
 */
int job_db_scan_locality(struct job_db *db, int64_t scan, int64_t *local, int64_t *remote, int64_t *anywhere,
			 struct st_msg *err);
/* Its results per task kind name: fn(arg, kind, done, stale, failed). */
typedef int (*job_result_fn)(void *arg, const char *kind, int64_t done, int64_t stale, int64_t failed);
int job_db_scan_kind_results(struct job_db *db, int64_t scan, job_result_fn fn, void *arg, struct st_msg *err);

/* One row of the usage the scan measured (job_db_usage_add). */
struct job_usage {
	int64_t disk;
	int tier;
	int64_t bytes, egroups;
};
typedef int (*job_usage_fn)(void *arg, const struct job_usage *u);
/* The scan's usage rows, by disk. */
int job_db_scan_usage(struct job_db *db, int64_t scan, job_usage_fn fn, void *arg, struct st_msg *err);
/* Their sums over one tier (-1: all tiers); 0 when there are none. */
int job_db_scan_usage_sum(struct job_db *db, int64_t scan, int tier, int64_t *bytes, int64_t *egroups,
			  struct st_msg *err);

/*
 * The scan's first `max` findings, by kind: fn(arg, f) with every string
 * of f set (extent "" when it names none).
 */
typedef int (*job_finding_fn)(void *arg, const struct job_finding *f);
int job_db_scan_findings(struct job_db *db, int64_t scan, int max, job_finding_fn fn, void *arg, struct st_msg *err);

/*
 * The findings of scan `scan` about one egroup, in the order recorded:
 * fn(arg, f) as for job_db_scan_findings. 0 or an error.
 */
int job_db_egroup_findings(struct job_db *db, int64_t scan, uint64_t egroup, job_finding_fn fn, void *arg,
			   struct st_msg *err);

/* --- tasks ------------------------------------------------------------- */

/*
 * Tasks as rows: t has every field but arg/arglen (NULL, 0); attempts is
 * the stored count; error is "" when none.
 */
typedef int (*job_task_fn)(void *arg, const struct job_task *t, const char *error);

/*
 * The queue for `curator tasks list`: tasks of kind (-1: any) in state
 * (-1: pending and running), highest priority first, then oldest.
 */
int job_db_tasks_list(struct job_db *db, int kind, int state, job_task_fn fn, void *arg, struct st_msg *err);

/*
 * Every task about one item, oldest first: those whose target is `target`,
 * or, when bytes is non-NULL, those whose argument contains bytes[0..len)
 * (an extent id).
 */
int job_db_tasks_about(struct job_db *db, uint64_t target, const void *bytes, size_t len, job_task_fn fn, void *arg,
		       struct st_msg *err);

/* How many tasks are in state s: *n. */
int job_db_tasks_count(struct job_db *db, enum job_task_state s, int64_t *n, struct st_msg *err);

/*
 * Pending and running tasks by kind and priority, highest priority first:
 * fn(arg, kind, priority, tasks, running, bytes) (bytes: their estimates).
 */
typedef int (*job_queue_fn)(void *arg, int kind, int priority, int64_t tasks, int64_t running, int64_t bytes);
int job_db_tasks_queue(struct job_db *db, job_queue_fn fn, void *arg, struct st_msg *err);

/*
 * Space being freed, as ZFS's `freeing`: the estimated bytes of the
 * pending and running tasks that free space (extent_delete,
 * egroup_compact, egroup_delete, file_sweep) and how many they are, and
 * what those done since the queue last held none of them (since: then,
 * on the policy clock; 0 = unknown) gave back. A few statements on small
 * tables (queue_sums, freeing): cheap with any queue. 0 or an error.
 */
struct job_freeing {
	int64_t pending_bytes, pending_tasks;
	int64_t freed_bytes, freed_tasks;
	double since;
};
int job_db_freeing(struct job_db *db, struct job_freeing *f, struct st_msg *err);

/*
 * Every task kind with tasks, by kind: fn(arg, kind, n, done_bytes) with
 * n[s] the tasks in each state s (JS_PENDING..JS_FAILED) and done_bytes
 * what the done ones reclaimed.
 */
typedef int (*job_kind_fn)(void *arg, int kind, const int64_t n[JS_FAILED + 1], int64_t done_bytes);
int job_db_tasks_by_kind(struct job_db *db, job_kind_fn fn, void *arg, struct st_msg *err);

#endif
