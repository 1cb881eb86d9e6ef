/*
 * job_db: curator.db. See job_db.h. Uses the storage layer's SQLite
 * helpers (WAL, busy timeout; synchronous=NORMAL: see job_db_open).
 *
 * DESIGN. This file holds the handle and the schema (creation and the
 * in-place upgrade, gated by PRAGMA user_version so that opening a current
 * file writes nothing), the scan rows with their liveness (heartbeat,
 * progress, the observer that declares a silent scan dead), findings,
 * usage, requests, events and the daemon row. The task queue is in
 * jobs/job_db_queue.c, the read side for people in jobs/job_db_report.c;
 * the three share the handle through job_db_int.h.
 *
 * Liveness follows DESIGN.md §4a without leases yet (issue 21): a running
 * scan's ranks bump its heartbeat counter; an observer remembers the value
 * and when it saw it on its own monotonic clock, and only a value that has
 * not moved for the TTL makes the scan dead, in a compare-and-set on that
 * value. A scan that finds its row no longer running stops and commits
 * nothing more (every queueing batch checks it in the same transaction).
 */
#include "jobs/job_db_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage/st_sql.h"

#define SCHEMA_VERSION 4

const char *job_task_state_name(enum job_task_state s)
{
	static const char *n[] = { "pending", "running", "done", "stale", "failed" };
	return (unsigned)s <= JS_FAILED ? n[s] : "?";
}

double job_db_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double job_db_now(void)
{
	return (double)st_now();
}

/* Version 0: the tables as every older curator.db has them. */
static const char schema_v0[] =
	"CREATE TABLE IF NOT EXISTS scans(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, dry_run INTEGER NOT NULL,"
	"  state TEXT NOT NULL, started REAL NOT NULL, ended REAL, s0 INTEGER NOT NULL, ranks INTEGER NOT NULL,"
	"  phases TEXT, counters TEXT, error TEXT, task_results TEXT);"
	"CREATE TABLE IF NOT EXISTS findings(scan INTEGER NOT NULL, kind TEXT NOT NULL, egroup INTEGER,"
	"  extent TEXT, detail TEXT);"
	"CREATE INDEX IF NOT EXISTS findings_scan ON findings(scan, kind);"
	"CREATE TABLE IF NOT EXISTS usage(scan INTEGER NOT NULL, disk INTEGER NOT NULL, tier INTEGER NOT NULL,"
	"  bytes INTEGER NOT NULL, egroups INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS tasks(id INTEGER PRIMARY KEY, scan INTEGER NOT NULL, kind INTEGER NOT NULL,"
	"  target INTEGER NOT NULL, version INTEGER NOT NULL, priority INTEGER NOT NULL,"
	"  state INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,"
	"  arg BLOB, error TEXT, runner INTEGER, created REAL NOT NULL, updated REAL);"
	"CREATE INDEX IF NOT EXISTS tasks_queue ON tasks(state, priority DESC, id);"
	"CREATE TABLE IF NOT EXISTS requests(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, at REAL NOT NULL, taken REAL);"
	"CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY, at REAL NOT NULL, kind TEXT NOT NULL, detail TEXT);"
	"CREATE TABLE IF NOT EXISTS daemon(id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER, host TEXT, ranks INTEGER,"
	"  started REAL, heartbeat REAL, state TEXT, scan_id INTEGER, phase TEXT, phase_index INTEGER, phases INTEGER,"
	"  phase_started REAL, next_full REAL, next_partial REAL);";

/* Version 1: a running scan's owner, heartbeat and progress. */
static const char *const scan_cols_v1[][2] = {
	{ "owner", "TEXT" },
	{ "heartbeat", "INTEGER NOT NULL DEFAULT 0" },
	{ "phase", "TEXT" },
	{ "phase_index", "INTEGER NOT NULL DEFAULT 0" },
	{ "phase_count", "INTEGER NOT NULL DEFAULT 0" },
	{ "phase_started", "REAL" },
	{ "records", "INTEGER NOT NULL DEFAULT 0" },
	{ "to_queue", "INTEGER NOT NULL DEFAULT 0" },
	{ "queued", "INTEGER NOT NULL DEFAULT 0" },
};

/*
 * Version 1: the queue's duplicate rule as a unique index (one of each
 * duplicate kept first: the running one, else the oldest), the running
 * scans found by index, and the queue's sums per kind and priority
 * (job_db_queue.c keeps them in the transactions that change the queue).
 */
static const char upgrade_v1[] =
	"DELETE FROM tasks WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER"
	"  (PARTITION BY kind, target ORDER BY state DESC, id) AS n FROM tasks WHERE state IN (0, 1)) WHERE n > 1);"
	"CREATE UNIQUE INDEX IF NOT EXISTS tasks_live ON tasks(kind, target) WHERE state IN (0, 1);"
	"CREATE INDEX IF NOT EXISTS scans_running ON scans(id) WHERE state = 'running';"
	"CREATE TABLE IF NOT EXISTS queue_sums(kind INTEGER NOT NULL, priority INTEGER NOT NULL,"
	"  pending INTEGER NOT NULL DEFAULT 0, running INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (kind, priority)) WITHOUT ROWID;"
	"DELETE FROM queue_sums;"
	"INSERT INTO queue_sums SELECT kind, priority, sum(state = 0), sum(state = 1), sum(bytes) FROM tasks"
	"  WHERE state IN (0, 1) GROUP BY kind, priority;";

/*
 * Version 2: what the space-freeing tasks (job_db_int.h JOB_DB_FREEING)
 * have freed since the queue last held none of them (`curator status`'s
 * "freeing" line), kept by job_db_queue.c in the transactions that queue
 * and finish them. An upgraded file starts at 0 freed.
 */
static const char upgrade_v2[] =
	"CREATE TABLE IF NOT EXISTS freeing(id INTEGER PRIMARY KEY CHECK (id = 1), freed INTEGER NOT NULL,"
	"  tasks INTEGER NOT NULL, since REAL);"
	"INSERT OR IGNORE INTO freeing(id, freed, tasks, since) VALUES (1, 0, 0, NULL);";

static int int_query(sqlite3 *sql, const char *q, const char *a, const char *b, int *v, struct st_msg *err)
{
	sqlite3_stmt *st;
	int src, rc = st_sql_prepare(sql, q, &st, err);

	*v = 0;
	if (rc)
		return rc;
	if (a)
		sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		*v = sqlite3_column_int(st, 0);
	else if (src != SQLITE_DONE)
		rc = st_sql_fail(sql, src, "curator.db schema", err);
	sqlite3_finalize(st);
	return rc;
}

/* Bring a file below SCHEMA_VERSION up to it, in one transaction (the shards attached). */
static int upgrade(struct job_db *db, int upto, struct st_msg *err)
{
	sqlite3 *sql = db->sql;
	int v = 0, from, rc = st_sql_begin(sql, err);

	if (rc)
		return rc;
	rc = int_query(sql, "PRAGMA user_version", NULL, NULL, &v, err); /* again, under the write lock */
	from = v;
	if (!rc && v < 1) {
		rc = st_sql_exec(sql, schema_v0, err);
		for (size_t i = 0; !rc && i < sizeof(scan_cols_v1) / sizeof(scan_cols_v1[0]); i++) {
			char q[160];
			int have;
			rc = int_query(sql, "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2", "scans",
				       scan_cols_v1[i][0], &have, err);
			if (rc || have)
				continue;
			snprintf(q, sizeof(q), "ALTER TABLE scans ADD COLUMN %s %s", scan_cols_v1[i][0], scan_cols_v1[i][1]);
			rc = st_sql_exec(sql, q, err);
		}
		if (!rc)
			rc = st_sql_exec(sql, upgrade_v1, err);
		if (!rc)
			rc = st_sql_exec(sql, "PRAGMA user_version = 1", err);
		v = 1;
	}
	if (!rc && v < 2) {
		rc = st_sql_exec(sql, upgrade_v2, err);
		if (!rc)
			rc = st_sql_exec(sql, "PRAGMA user_version = 2", err);
	}
	if (!rc && v < 3) { /* version 3: the node a task reads or writes (locality; 0 on older rows: any rank) */
		int have;
		rc = int_query(sql, "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2", "tasks", "node", &have,
			       err);
		if (!rc && !have)
			rc = st_sql_exec(sql, "ALTER TABLE tasks ADD COLUMN node INTEGER NOT NULL DEFAULT 0", err);
		if (!rc)
			rc = st_sql_exec(sql, "PRAGMA user_version = 3", err);
	}
	if (!rc && v < 4 && upto >= 4) { /* version 4: the queue in shards (job_db_shard.c), the live tasks of the others moved */
		rc = job_db_shards_schema(db, from, err); /* (0: a new file) */
		if (!rc)
			rc = st_sql_exec(sql, "PRAGMA user_version = 4", err);
	}
	if (rc) {
		st_sql_rollback(sql);
		return rc;
	}
	return st_sql_commit(sql, err);
}

/*
 * Waiting for the write lock: 1 ms naps for up to a minute (as long as
 * st_sql's busy timeout). SQLite's own handler backs off to 100 ms naps,
 * so a rank waiting while another rank queues a batch woke up to 100 ms
 * after the lock was free, at every hand-over between the ranks' batches.
 */
int job_db_busy_nap(void *arg, int n)
{
	(void)arg;
	if (n >= 60000)
		return 0;
	usleep(1000);
	return 1;
}

/*
 * The shards' side of the schema, in a transaction of its own when there is
 * something to do: a file below version 4 (its live tasks copied into the
 * emptied shards: job_db_int.h job_db_shards_prepare), a current one
 * whose shard file is new (deleted, or never there: its tables), or a shard
 * file without curator.db's pair id (another curator.db's: emptied,
 * job_db_shards_pair). A current file with its own shards is only read, as
 * opening a current file should.
 */
static int shards_ready(struct job_db *db, int v, struct st_msg *err)
{
	int rc = 0, missing = v < 4;

	for (int s = 1; s < JOB_DB_SHARDS && !missing; s++)
		missing = !job_db_shard_present(db->sql, s);
	if (!missing)
		missing = !job_db_shards_paired(db->sql);
	for (int i = 0; missing && i < 500; i++) {
		rc = st_sql_begin(db->sql, err);
		if (!rc)
			rc = int_query(db->sql, "PRAGMA user_version", NULL, NULL, &v, err); /* under the write lock */
		if (!rc)
			rc = job_db_shards_prepare(db, v, err);
		if (!rc)
			rc = job_db_shards_pair(db, v, err);
		if (!rc)
			rc = st_sql_commit(db->sql, err);
		else if (!sqlite3_get_autocommit(db->sql))
			st_sql_rollback(db->sql);
		if (rc != ST_EBUSY)
			break;
		usleep(20000);
	}
	return rc;
}

int job_db_open(const char *dir, struct job_db **out, struct st_msg *err)
{
	struct job_db *db = calloc(1, sizeof(*db));
	char path[4200];
	int rc, v = 0, shared;

	*out = NULL;
	if (!db)
		return st_fail(err, -ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/curator.db", dir);
	shared = st_sql_cluster_shared(dir); /* the cluster's mode: config.db's journal, or a network fs */
	/* 16 KiB pages: a scan queues a million rows in bulk (a quarter of the page writes of 4 KiB) */
	rc = st_sql_open(path, ST_SQL_CREATE | ST_SQL_BIGPAGE | (shared ? ST_SQL_SHARED : 0), &db->sql, err);
	if (rc) {
		free(db);
		return rc;
	}
	/*
	 * The curator's own bookkeeping need not survive a power cut to the last
	 * commit (WAL, synchronous=NORMAL: an application crash loses nothing):
	 * a task whose claim or result is lost runs again, and every task
	 * re-checks the version it was queued against. The storage databases
	 * stay synchronous=FULL. A rollback journal (shared storage) stays FULL:
	 * NORMAL there risks the file itself at a power cut, not just the last
	 * commit.
	 */
	sqlite3_busy_handler(db->sql, job_db_busy_nap, NULL);
	rc = shared ? 0 : st_sql_exec(db->sql, "PRAGMA synchronous=NORMAL;", err);
	if (!rc && job_db_batch_register(db) != SQLITE_OK)
		rc = st_sql_fail(db->sql, sqlite3_errcode(db->sql), "curator.db: the job_batch table", err);
	snprintf(db->dir, sizeof(db->dir), "%s", dir);
	db->shared = shared;
	if (!rc)
		rc = job_db_shards_attach(db, dir, shared, err);
	if (!rc)
		rc = int_query(db->sql, "PRAGMA user_version", NULL, NULL, &v, err);
	/*
	 * Several ranks may create the schema at once. Up to version 3 in
	 * curator.db, the shards' copy of its live tasks (their own files'
	 * transaction), then version 4 (job_db_int.h job_db_shards_prepare).
	 */
	for (int i = 0; !rc && v < 3; i++) {
		rc = upgrade(db, 3, err);
		if (rc != ST_EBUSY || i == 499)
			break;
		rc = 0;
		usleep(20000);
	}
	if (!rc)
		rc = shards_ready(db, v, err);
	for (int i = 0; !rc && v < SCHEMA_VERSION; i++) {
		rc = upgrade(db, SCHEMA_VERSION, err);
		if (rc != ST_EBUSY || i == 499)
			break;
		rc = 0;
		usleep(20000);
	}
	if (!rc)
		rc = job_db_shards_views(db, err);
	if (rc) {
		job_db_close(db);
		return rc;
	}
	*out = db;
	return 0;
}

void job_db_close(struct job_db *db)
{
	if (!db)
		return;
	sqlite3_close(db->sql);
	free(db->seen);
	free(db);
}

/* Step a prepared write once; SQLITE_DONE is success. */
static int step_write(struct job_db *db, sqlite3_stmt *st, const char *what, struct st_msg *err)
{
	int rc = 0;

	if (sqlite3_step(st) != SQLITE_DONE)
		rc = st_sql_fail(db->sql, sqlite3_errcode(db->sql), what, err);
	sqlite3_finalize(st);
	return rc;
}

/* --- scans ------------------------------------------------------------- */

int job_db_scan_begin(struct job_db *db, const char *kind, int dry_run, uint64_t s0, int ranks, int64_t *id,
		      struct st_msg *err)
{
	sqlite3_stmt *st;
	char owner[300], host[256] = "";
	int rc = st_sql_prepare(db->sql,
				"INSERT INTO scans(kind, dry_run, state, started, s0, ranks, owner, heartbeat)"
				" VALUES (?, ?, 'running', ?, ?, ?, ?, 1)",
				&st, err);

	if (rc)
		return rc;
	gethostname(host, sizeof(host) - 1);
	snprintf(owner, sizeof(owner), "%s:%d", host, (int)getpid());
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, dry_run);
	sqlite3_bind_double(st, 3, job_db_now());
	sqlite3_bind_int64(st, 4, (int64_t)s0);
	sqlite3_bind_int(st, 5, ranks);
	sqlite3_bind_text(st, 6, owner, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = st_sql_fail(db->sql, sqlite3_errcode(db->sql), "curator.db scans", err);
	else
		*id = sqlite3_last_insert_rowid(db->sql);
	sqlite3_finalize(st);
	return rc;
}

/* The row of a running scan changed by the last statement, else ST_ESTALE. */
static int still_running(struct job_db *db, int64_t id, struct st_msg *err)
{
	if (sqlite3_changes(db->sql) > 0)
		return 0;
	return st_fail(err, ST_ESTALE, "scan %lld: no longer running (declared dead: no heartbeat for the TTL)",
		       (long long)id);
}

int job_db_scan_end(struct job_db *db, int64_t id, int ok, const char *phases, const char *counters, const char *error,
		    struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql,
				"UPDATE scans SET state = ?, ended = ?, phases = json(?), counters = json(?), error = ?,"
				" heartbeat = heartbeat + 1 WHERE id = ? AND state = 'running'",
				&st, err);

	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, ok ? "done" : "failed", -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 2, job_db_now());
	sqlite3_bind_text(st, 3, phases ? phases : "[]", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, counters ? counters : "{}", -1, SQLITE_TRANSIENT);
	if (error)
		sqlite3_bind_text(st, 5, error, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 6, id);
	rc = step_write(db, st, "curator.db scans", err);
	return rc ? rc : still_running(db, id, err);
}

int job_db_scan_beat(struct job_db *db, int64_t scan, int64_t records, int64_t queued, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql,
				"UPDATE scans SET heartbeat = heartbeat + 1, records = records + ?, queued = queued + ?"
				" WHERE id = ? AND state = 'running'",
				&st, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, records);
	sqlite3_bind_int64(st, 2, queued);
	sqlite3_bind_int64(st, 3, scan);
	rc = step_write(db, st, "curator.db scans", err);
	return rc ? rc : still_running(db, scan, err);
}

int job_db_scan_phase(struct job_db *db, int64_t scan, const char *phase, int index, int count, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql,
				"UPDATE scans SET heartbeat = heartbeat + 1, phase = ?, phase_index = ?, phase_count = ?,"
				" phase_started = ?, records = 0 WHERE id = ? AND state = 'running'",
				&st, err);

	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, phase, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, index);
	sqlite3_bind_int(st, 3, count);
	sqlite3_bind_double(st, 4, job_db_now());
	sqlite3_bind_int64(st, 5, scan);
	rc = step_write(db, st, "curator.db scans", err);
	return rc ? rc : still_running(db, scan, err);
}

int job_db_scan_to_queue(struct job_db *db, int64_t scan, int64_t n, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql,
				"UPDATE scans SET heartbeat = heartbeat + 1, to_queue = to_queue + ?"
				" WHERE id = ? AND state = 'running'",
				&st, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, n);
	sqlite3_bind_int64(st, 2, scan);
	rc = step_write(db, st, "curator.db scans", err);
	return rc ? rc : still_running(db, scan, err);
}

double job_db_scan_ttl(void)
{
	const char *e = getenv("CURATOR_SCAN_TTL");
	int64_t secs;

	if (e && *e && !st_parse_duration(e, &secs) && secs > 0)
		return (double)secs;
	return JOB_DB_SCAN_TTL;
}

/* The entry for scan in db->seen, a new one (live = 0) when none; NULL on ENOMEM. */
static struct job_db_seen *seen_get(struct job_db *db, int64_t scan)
{
	for (int i = 0; i < db->nseen; i++)
		if (db->seen[i].scan == scan)
			return &db->seen[i];
	if (db->nseen == db->capseen) {
		int cap = db->capseen ? 2 * db->capseen : 8;
		struct job_db_seen *s = realloc(db->seen, (size_t)cap * sizeof(*s));
		if (!s)
			return NULL;
		db->seen = s;
		db->capseen = cap;
	}
	db->seen[db->nseen] = (struct job_db_seen){ .scan = scan, .beat = -1 };
	return &db->seen[db->nseen++];
}

/* Mark scan failed if its heartbeat is still `beat` (compare-and-set). *done: 1 if it was. */
static int declare_dead(struct job_db *db, int64_t scan, int64_t beat, double silent, int *done, struct st_msg *err)
{
	sqlite3_stmt *st;
	char why[200];
	int rc = st_sql_prepare(db->sql,
				"UPDATE scans SET state = 'failed', ended = ?, error = ? || coalesce(' (owner ' || owner || ')', '')"
				" WHERE id = ? AND state = 'running' AND heartbeat = ?",
				&st, err);

	*done = 0;
	if (rc)
		return rc;
	snprintf(why, sizeof(why), "scan: no heartbeat for %.0f s: its process is gone", silent);
	sqlite3_bind_double(st, 1, job_db_now());
	sqlite3_bind_text(st, 2, why, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, scan);
	sqlite3_bind_int64(st, 4, beat);
	rc = step_write(db, st, "curator.db scans", err);
	if (!rc)
		*done = sqlite3_changes(db->sql) > 0;
	return rc;
}

int job_db_scans_orphaned(struct job_db *db, int *failed, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql,
				"UPDATE scans SET state = 'failed', ended = ?1, error = 'scan: its process is gone (its lease'"
				" || ' expired and the scan lock was taken over)' || coalesce(' (owner ' || owner || ')', '')"
				" WHERE state = 'running'",
				&st, err);

	if (failed)
		*failed = 0;
	if (rc)
		return rc;
	sqlite3_bind_double(st, 1, job_db_now());
	rc = step_write(db, st, "curator.db scans", err);
	if (!rc && failed)
		*failed = sqlite3_changes(db->sql);
	return rc;
}

int job_db_scans_reap(struct job_db *db, double ttl, int *reaped, struct st_msg *err)
{
	sqlite3_stmt *st;
	double now = job_db_mono();
	int src, n = 0, rc = st_sql_prepare(db->sql, "SELECT id, heartbeat FROM scans WHERE state = 'running'", &st, err);

	if (reaped)
		*reaped = 0;
	if (rc)
		return rc;
	for (int i = 0; i < db->nseen; i++)
		db->seen[i].live = 0;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), beat = sqlite3_column_int64(st, 1);
		struct job_db_seen *s = seen_get(db, id);
		if (!s) {
			rc = st_fail(err, -ENOMEM, "out of memory");
			break;
		}
		s->live = 1;
		if (s->beat != beat) { /* new, or it moved: the clock starts again */
			s->beat = beat;
			s->since = now;
		}
	}
	if (!rc && src != SQLITE_DONE)
		rc = st_sql_fail(db->sql, src, "curator.db scans", err);
	sqlite3_finalize(st);
	for (int i = 0; !rc && i < db->nseen; i++) {
		struct job_db_seen *s = &db->seen[i];
		int done = 0;
		if (s->live && now - s->since >= ttl) {
			rc = declare_dead(db, s->scan, s->beat, now - s->since, &done, err);
			n += done;
			s->live = !done;
		}
	}
	for (int i = 0; i < db->nseen;) /* forget the scans that ended */
		if (!db->seen[i].live)
			db->seen[i] = db->seen[--db->nseen];
		else
			i++;
	if (reaped)
		*reaped = n;
	return rc;
}

int job_db_last_scan(struct job_db *db, const char *kind, int64_t *id, double *ended, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql,
				"SELECT id, ended FROM scans WHERE kind = ? AND state IN ('done', 'failed') AND dry_run = 0"
				" ORDER BY id DESC LIMIT 1",
				&st, err);

	*id = 0;
	*ended = 0;
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		*ended = sqlite3_column_double(st, 1);
	}
	sqlite3_finalize(st);
	return 0;
}

int job_db_scan_task_results(struct job_db *db, const char *json, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql,
				"UPDATE scans SET task_results = json(?) WHERE id = (SELECT max(id) FROM scans WHERE state = 'done')",
				&st, err);

	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
	return step_write(db, st, "curator.db scans", err);
}

/* --- findings and usage -------------------------------------------------- */

int job_db_findings_add(struct job_db *db, int64_t scan, const struct job_finding *f, int n, struct st_msg *err)
{
	sqlite3_stmt *ins = NULL;
	int rc;

	if (n == 0)
		return 0;
	rc = st_sql_begin(db->sql, err);
	if (!rc)
		rc = st_sql_prepare(db->sql, "INSERT INTO findings(scan, kind, egroup, extent, detail) VALUES (?, ?, ?, ?, ?)",
				    &ins, err);
	for (int i = 0; !rc && i < n; i++) {
		sqlite3_bind_int64(ins, 1, scan);
		sqlite3_bind_text(ins, 2, f[i].kind, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 3, (int64_t)f[i].egroup);
		if (f[i].extent)
			sqlite3_bind_text(ins, 4, f[i].extent, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(ins, 4);
		sqlite3_bind_text(ins, 5, f[i].detail ? f[i].detail : "", -1, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE)
			rc = st_sql_fail(db->sql, sqlite3_errcode(db->sql), "curator.db findings", err);
		sqlite3_reset(ins);
	}
	sqlite3_finalize(ins);
	if (rc) {
		st_sql_rollback(db->sql);
		return rc;
	}
	return st_sql_commit(db->sql, err);
}

int job_db_usage_add(struct job_db *db, int64_t scan, uint32_t disk, int tier, uint64_t bytes, uint64_t egroups,
		     struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql, "INSERT INTO usage(scan, disk, tier, bytes, egroups) VALUES (?, ?, ?, ?, ?)", &st, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, scan);
	sqlite3_bind_int64(st, 2, disk);
	sqlite3_bind_int(st, 3, tier);
	sqlite3_bind_int64(st, 4, (int64_t)bytes);
	sqlite3_bind_int64(st, 5, (int64_t)egroups);
	return step_write(db, st, "curator.db usage", err);
}

/* --- requests, events, the daemon row ------------------------------------ */

int job_db_request_add(struct job_db *db, const char *kind, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql, "INSERT INTO requests(kind, at) VALUES (?, ?)", &st, err);

	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 2, job_db_now());
	return step_write(db, st, "curator.db requests", err);
}

int job_db_request_take(struct job_db *db, char *kind, size_t len, struct st_msg *err)
{
	sqlite3_stmt *st;
	int64_t id = 0;
	int rc = st_sql_begin(db->sql, err);

	kind[0] = 0;
	if (rc)
		return rc;
	rc = st_sql_prepare(db->sql, "SELECT id, kind FROM requests WHERE taken IS NULL ORDER BY id LIMIT 1", &st, err);
	if (!rc && sqlite3_step(st) == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		snprintf(kind, len, "%s", (const char *)sqlite3_column_text(st, 1));
	}
	if (!rc)
		sqlite3_finalize(st);
	if (!rc && id) {
		char sql[128];
		snprintf(sql, sizeof(sql), "UPDATE requests SET taken = %f WHERE id = %lld", job_db_now(), (long long)id);
		rc = st_sql_exec(db->sql, sql, err);
	}
	if (rc) {
		st_sql_rollback(db->sql);
		return rc;
	}
	return st_sql_commit(db->sql, err);
}

int job_db_event_add(struct job_db *db, const char *kind, const char *detail, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql, "INSERT INTO events(at, kind, detail) VALUES (?, ?, ?)", &st, err);

	if (rc)
		return rc;
	sqlite3_bind_double(st, 1, job_db_now());
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, detail ? detail : "", -1, SQLITE_TRANSIENT);
	return step_write(db, st, "curator.db events", err);
}

int job_db_events_since(struct job_db *db, int64_t *after, int *n, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql, "SELECT count(*), max(id) FROM events WHERE id > ?", &st, err);

	*n = 0;
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, *after);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*n = sqlite3_column_int(st, 0);
		if (*n)
			*after = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return 0;
}

int job_db_events_split(struct job_db *db, int64_t *after, int *n_deleted, int *n_other, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql,
				"SELECT coalesce(sum(kind = 'vdisk_deleted'), 0), coalesce(sum(kind <> 'vdisk_deleted'), 0),"
				" max(id) FROM events WHERE id > ?",
				&st, err);

	*n_deleted = *n_other = 0;
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, *after);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*n_deleted = sqlite3_column_int(st, 0);
		*n_other = sqlite3_column_int(st, 1);
		if (*n_deleted + *n_other)
			*after = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return 0;
}

int job_db_events_each(struct job_db *db, int64_t after,
		       int (*cb)(void *arg, int64_t id, const char *kind, const char *detail), void *arg,
		       struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql, "SELECT id, kind, coalesce(detail, '') FROM events WHERE id > ? ORDER BY id",
				&st, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, after);
	while (!rc && sqlite3_step(st) == SQLITE_ROW)
		rc = cb(arg, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
			(const char *)sqlite3_column_text(st, 2));
	sqlite3_finalize(st);
	return rc;
}

int job_db_daemon_put(struct job_db *db, const struct job_daemon_state *s, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql,
				"INSERT OR REPLACE INTO daemon(id, pid, host, ranks, started, heartbeat, state, scan_id, phase,"
				" phase_index, phases, phase_started, next_full, next_partial)"
				" VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				&st, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, s->pid);
	sqlite3_bind_text(st, 2, s->host, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, s->ranks);
	sqlite3_bind_double(st, 4, s->started);
	sqlite3_bind_double(st, 5, s->heartbeat);
	sqlite3_bind_text(st, 6, s->state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, s->scan_id);
	sqlite3_bind_text(st, 8, s->phase, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 9, s->phase_index);
	sqlite3_bind_int(st, 10, s->phases);
	sqlite3_bind_double(st, 11, s->phase_started);
	sqlite3_bind_double(st, 12, s->next_full);
	sqlite3_bind_double(st, 13, s->next_partial);
	return step_write(db, st, "curator.db daemon", err);
}

static const char *text_or_empty(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s ? (const char *)s : "";
}

int job_db_daemon_get(struct job_db *db, struct job_daemon_state *s, int *found, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql,
				"SELECT pid, host, ranks, started, heartbeat, state, scan_id, phase, phase_index, phases,"
				" phase_started, next_full, next_partial FROM daemon WHERE id = 1",
				&st, err);

	*found = 0;
	if (rc)
		return rc;
	memset(s, 0, sizeof(*s));
	if (sqlite3_step(st) == SQLITE_ROW) {
		*found = 1;
		s->pid = sqlite3_column_int64(st, 0);
		snprintf(s->host, sizeof(s->host), "%s", text_or_empty(st, 1));
		s->ranks = sqlite3_column_int(st, 2);
		s->started = sqlite3_column_double(st, 3);
		s->heartbeat = sqlite3_column_double(st, 4);
		snprintf(s->state, sizeof(s->state), "%s", text_or_empty(st, 5));
		s->scan_id = sqlite3_column_int64(st, 6);
		snprintf(s->phase, sizeof(s->phase), "%s", text_or_empty(st, 7));
		s->phase_index = sqlite3_column_int(st, 8);
		s->phases = sqlite3_column_int(st, 9);
		s->phase_started = sqlite3_column_double(st, 10);
		s->next_full = sqlite3_column_double(st, 11);
		s->next_partial = sqlite3_column_double(st, 12);
	}
	sqlite3_finalize(st);
	return 0;
}
