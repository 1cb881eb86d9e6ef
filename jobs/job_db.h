/*
 * job_db: the curator database, `curator.db` in the cluster directory
 * (SQLite, WAL): the history of scans (their reports), what each scan found,
 * and the task queue.
 *
 *   scans     id, kind (full|partial), dry_run, state (running|done|failed),
 *             start/end, S0, ranks, phases (JSON), counters (JSON), error,
 *             task results (JSON, after `tasks run`); while it runs: its
 *             owner (host:pid, for people), heartbeat (a counter its ranks
 *             bump every few seconds), the phase it is in and its progress
 *             (records of the phase so far, tasks to queue and queued)
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
 * Indexes (schema version 1, PRAGMA user_version): tasks_queue (state,
 * priority DESC, id) hands out the next task and counts tasks by state;
 * tasks_live, UNIQUE (kind, target) over the pending and running tasks
 * only, is what makes a task a duplicate: queueing N tasks is N index
 * probes, O(N log N), never a scan of the queue. queue_sums (kind,
 * priority -> pending, running, bytes) is kept by every change of the
 * queue in the same transaction, so the queue's size (status, pending) is
 * read in O(kinds), not O(tasks). job_db_open upgrades an older file in
 * place (one transaction): the new columns, then, if the queue holds
 * duplicates, it keeps one of each (the running one, else the oldest),
 * builds the index and the sums.
 *
 * The queue's shards (schema version 4): tasks and queue_sums are split
 * over JOB_DB_SHARDS (2) files by a fixed hash of (kind, target):
 * curator.db's own tables are shard 0, curator-q1.db beside it holds
 * shard 1 (ids from 2^40 + 1 up: an id names its shard). A scan's tasks
 * are inserted into both files at once, one writer thread each (SQLite has
 * one writer per file; jobs/job_db_add.c). Each handle attaches the other
 * files and reads them all through TEMP views named tasks and queue_sums;
 * claims merge the shards' queues by priority. A file opened at version 3
 * moves its live tasks of shard 1 there (one transaction per file). The
 * two files belong together, and carry one random pair id (a table
 * queue_pair in each) to know it: a new curator.db, or one restored from
 * another backup than its curator-q1.db, empties that file at its next
 * open (its tasks were another queue's); a deleted curator-q1.db loses its
 * pending tasks. Either way the next full scan queues again what is still
 * to do: tasks are derived from the metadata, never the other way round.
 *
 * Order of calls: job_db_open() gives a handle, every other function takes
 * it, job_db_close() frees it. The handle is opaque: only jobs/job_db*.c
 * (the read side for reports, status and explain: job_db_report.h) run
 * statements on curator.db.
 *
 * Thread rules: one handle per thread; any number of processes and MPI ranks
 * may open it (every write is one IMMEDIATE transaction). Nothing here is
 * MPI-collective. job_db_tasks_add_batched runs threads of its own (one
 * per shard, each with its own connection) and joins them before it
 * returns.
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
	uint32_t node;         /* the node of the disk it reads or writes first (0: none, or any) */
};

/* An open curator.db (opaque). */
struct job_db;

/*
 * Open curator.db in the cluster directory dir, creating it and its schema
 * if needed, or upgrading an older one in place (several ranks may do so at
 * once: one does it, the others wait for it). A file already at the current
 * schema is opened without a write (a reader such as `curator status` never
 * waits for a writer). *db is a handle the caller frees with job_db_close;
 * NULL on failure. 0, -ENOMEM, or an SQLite failure mapped by st_sql (err
 * filled).
 */
int job_db_open(const char *dir, struct job_db **db, struct st_msg *err);

/*
 * For a reader with a connection of its own to dir/curator.db (tools,
 * tests, an admin's look): attach the queue's other shards
 * (dir/curator-q<s>.db, see "The queue's shards" above) and make the TEMP
 * views `tasks` and `queue_sums` over all of them, as every job_db handle
 * has; writes must name a shard's schema (main, q1, ...). Outside a
 * transaction; a shard file not there yet is left out of the views. 0 or
 * an SQLite failure (err filled).
 */
struct sqlite3;
int job_db_sql_attach_queue(struct sqlite3 *sql, const char *dir, struct st_msg *err);
/* Close and free the handle. NULL is a no-op. */
void job_db_close(struct job_db *db);

/* --- scans ------------------------------------------------------------- */

/*
 * A new scan row in state running, owned by this process (owner: host:pid,
 * shown to people; liveness is the heartbeat below, never the pid); *id
 * receives its id.
 */
int job_db_scan_begin(struct job_db *db, const char *kind, int dry_run, uint64_t s0, int ranks, int64_t *id,
		      struct st_msg *err);
/*
 * Finish a scan: state done or failed, with the phases and counters JSON.
 * A scan no longer running (declared dead by an observer, see
 * job_db_scans_reap) stays as the observer left it: ST_ESTALE.
 */
int job_db_scan_end(struct job_db *db, int64_t id, int ok, const char *phases_json, const char *counters_json,
		    const char *error, struct st_msg *err);

/*
 * Liveness and progress of a running scan. Every rank of the scan calls
 * job_db_scan_beat at least every JOB_DB_BEAT_SECS while it works (the
 * scan's long loops poll; each queueing batch beats in its own
 * transaction): the row's heartbeat counter moves, and the rank's records
 * of the current phase and tasks queued since its last beat are added to
 * the row's totals. Rank 0 calls job_db_scan_phase as each phase starts
 * (its name, 1-based index and the count; the records go back to 0) and
 * job_db_scan_to_queue adds what a rank is about to queue.
 *
 * Each returns 0, or ST_ESTALE when the row is no longer running: an
 * observer declared the scan dead (its heartbeat did not move for the TTL,
 * as it saw it). The scan must then stop and commit nothing more (the
 * fence of DESIGN.md §4a; every queueing batch checks it in its own
 * transaction). Other errors: st_sql's (err filled).
 */
#define JOB_DB_BEAT_SECS 2.0
int job_db_scan_beat(struct job_db *db, int64_t scan, int64_t records, int64_t queued, struct st_msg *err);
int job_db_scan_phase(struct job_db *db, int64_t scan, const char *phase, int index, int count, struct st_msg *err);
int job_db_scan_to_queue(struct job_db *db, int64_t scan, int64_t n, struct st_msg *err);

/*
 * The observer's side (the daemon calls it every tick; a running scan
 * calls it as it beats). Every scan in state running whose heartbeat has
 * not changed for ttl seconds, measured on this process's monotonic clock
 * from when this handle first saw that value (the first call only
 * remembers what it sees), is marked failed with an error that says so, in
 * a compare-and-set on the value seen (a beat in between wins). Never by
 * pid or host. *reaped (may be NULL): how many. 0 or an error.
 */
int job_db_scans_reap(struct job_db *db, double ttl, int *reaped, struct st_msg *err);

/*
 * Mark failed every scan still `running`: called by the holder of the scan
 * lock (st_store_lock "scan") right after it took it, when no other scan
 * can be running, since a scan holds that lock from its start to its end
 * and a lock passes on only once its holder's lease is dead (st_lease.h).
 * So a scan whose processes died is recorded failed as soon as the next
 * scan starts, whatever host it ran on. *failed (may be NULL): how many.
 * 0 or an error.
 */
int job_db_scans_orphaned(struct job_db *db, int *failed, struct st_msg *err);

/*
 * The TTL after which a scan that does not beat is dead: CURATOR_SCAN_TTL
 * (a duration: "30s", "2m"; whole seconds) when set and valid, else
 * JOB_DB_SCAN_TTL seconds.
 */
#define JOB_DB_SCAN_TTL 30
double job_db_scan_ttl(void);

/* --- the task queue ------------------------------------------------------ */

/*
 * Queue tasks t[0..n). A task is a duplicate, and is skipped, when a task
 * of the same kind and target is pending or running, or comes earlier in
 * t. One pass: the tasks are sorted by (kind, target), stably, then
 * inserted with one prepared statement (INSERT ... ON CONFLICT DO NOTHING
 * against tasks_live) in transactions of o->batch tasks; within a priority
 * the claim order is that of the ids, so (kind, target) order per call.
 * Between batches, *o->stop set stops it with -ECANCELED (the batches
 * before are committed: each task stands alone, carrying its version). When
 * o->scan > 0 each batch also beats that scan's row (job_db_scan_beat, its
 * queued total) in its own transaction, and a scan no longer running stops
 * the queueing with ST_ESTALE, that batch rolled back. o->progress (may be
 * NULL) is called after each batch with the tasks handled so far.
 * [out] *added (may be NULL): the tasks inserted. o may be NULL (defaults).
 * 0, -ECANCELED, ST_ESTALE, -ENOMEM, or an SQLite failure (that batch
 * rolled back; err filled). CURATOR_QUEUE_BATCH (tasks) overrides the
 * default batch and CURATOR_QUEUE_DELAY_US sleeps after each batch (tests).
 */
struct job_db_add_opts {
	int batch;            /* tasks per transaction (0: JOB_DB_ADD_BATCH) */
	volatile int *stop;   /* may be NULL */
	int64_t scan;         /* 0: none */
	void (*progress)(void *arg, int64_t done, int64_t total);
	void *progress_arg;
};
#define JOB_DB_ADD_BATCH 32768
int job_db_tasks_add_batched(struct job_db *db, const struct job_task *t, int n, const struct job_db_add_opts *o,
			     int64_t *added, struct st_msg *err);
/* As job_db_tasks_add_batched with the defaults and nothing to stop it. */
int job_db_tasks_add(struct job_db *db, const struct job_task *t, int n, struct st_msg *err);

/*
 * The next n pending tasks a claim would hand out (of one kind, -1: any),
 * without claiming them: their kinds and targets, for read-ahead. 0 and
 * *got (<= n), or an error.
 */
int job_db_task_peek(struct job_db *db, int kind, int n, int *kinds, uint64_t *targets, int *got, struct st_msg *err);

/* How many tasks are pending (of one kind, -1: any). 0 or an error. */
int job_db_tasks_pending(struct job_db *db, int kind, int64_t *n, struct st_msg *err);
/* Whether any task is pending: *yes 0 or 1 (one index probe). 0 or an error. */
int job_db_tasks_waiting(struct job_db *db, int *yes, struct st_msg *err);

/*
 * Claim the next pending task (highest priority, then oldest), optionally
 * of one kind (-1: any), marking it running; a kind whose running tasks
 * already number kind_ranks[kind] (> 0; kind_ranks may be NULL) is passed
 * over. 0 with *got = 0 when none. The arg buffer is owned by t until
 * job_task_release.
 */
int job_db_task_claim(struct job_db *db, int kind, const int *kind_ranks, struct job_task *t, int *got,
		      struct st_msg *err);
/*
 * Locality (DESIGN.md §10): the claims of this handle pass over tasks whose
 * node is one of elsewhere[0..n): nodes where other ranks run and this one
 * does not, so a task that reads or writes a disk runs on a rank of that
 * disk's node when one exists. Tasks of node 0 and of nodes without a rank
 * go to any rank. n = 0 (the default) claims every task. 0, or ST_EINVAL
 * when the list does not fit (nothing passed over then). Local.
 */
int job_db_set_locality(struct job_db *db, const uint32_t *elsewhere, int n);
/* As job_db_task_claim, up to max tasks in one transaction into t[0..*got). */
int job_db_task_claim_many(struct job_db *db, int kind, const int *kind_ranks, int max, struct job_task *t, int *got,
			   struct st_msg *err);
void job_task_release(struct job_task *t);

/* Record a task's outcome. */
int job_db_task_finish(struct job_db *db, int64_t id, enum job_task_state state, int64_t bytes, const char *error,
		       struct st_msg *err);

/*
 * The lease (storage/st_lease.h, st_lease_id of the rank's store lease)
 * this handle's claims record as their runner. Set it before claiming.
 */
void job_db_set_runner(struct job_db *db, int64_t lease);

/*
 * Tasks left running by a dead runner go back to pending (attempts kept):
 * a runner is its lease in cfg's config.db (DESIGN.md §4a), dead once an
 * observer declared it so (st_store_leases_reap) or gone; a live or
 * fencing lease keeps its tasks. Never judged by pid or host.
 */
struct st_config;
int job_db_tasks_requeue_running(struct job_db *db, struct st_config *cfg, struct st_msg *err);

/* --- findings and usage -------------------------------------------------- */

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

/* --- requests, events, the daemon row ------------------------------------ */

/* Queue a request for a scan ("full" or "partial") for the daemon. */
int job_db_request_add(struct job_db *db, const char *kind, struct st_msg *err);
/* Take the oldest open request: *kind "full"/"partial" or "" when none. */
int job_db_request_take(struct job_db *db, char *kind, size_t len, struct st_msg *err);

/* Record an event (kind "disk_failed", "node_down", "vdisk_deleted", ...) that triggers a scan. */
int job_db_event_add(struct job_db *db, const char *kind, const char *detail, struct st_msg *err);
/* Events with an id above *after: *n of them; *after advances. */
int job_db_events_since(struct job_db *db, int64_t *after, int *n, struct st_msg *err);

/*
 * The same, told apart: *n_deleted "vdisk_deleted" events (a vdisk or
 * snapshot deleted: the daemon answers with a selective scan), *n_other
 * the rest (failures: a partial scan). *after advances past both.
 */
int job_db_events_split(struct job_db *db, int64_t *after, int *n_deleted, int *n_other, struct st_msg *err);

/*
 * Each event with an id above after, oldest first: cb(arg, id, kind,
 * detail) (detail "" when none; both valid during the call); a non-zero
 * return stops and is returned. 0, cb's return, or a curator.db error.
 */
int job_db_events_each(struct job_db *db, int64_t after,
		       int (*cb)(void *arg, int64_t id, const char *kind, const char *detail), void *arg,
		       struct st_msg *err);

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
 * Cluster-wide byte budgets of one task run (`--rate`, `--throttle`): a
 * counter per budget name, shared by every rank of the run through
 * curator.db (table budgets: run, name, bytes; created by the first run
 * that needs it, so a file without throttled runs never has it).
 *
 * job_db_budget_start (rank 0, once per run) opens a run: *run gets a new
 * run number, and the rows of runs long gone (all but the last 16) are
 * dropped. job_db_budget_take adds bytes to the named budget of run and
 * gives back the run's total for it, bytes included, in one statement
 * (atomic between ranks and processes). The runner turns that total into
 * a deadline (job_tasks.c). 0 or an SQLite error (err filled; may be NULL).
 */
int job_db_budget_start(struct job_db *db, int64_t *run, struct st_msg *err);
int job_db_budget_take(struct job_db *db, int64_t run, const char *name, int64_t bytes, int64_t *total,
		       struct st_msg *err);

/*
 * Attach the JSON object json (`tasks run` results: bytes_reclaimed and per
 * kind {done, stale, failed}) to the latest finished scan as its
 * task_results. 0 (also when there is no finished scan) or an error.
 */
int job_db_scan_task_results(struct job_db *db, const char *json, struct st_msg *err);

#endif
