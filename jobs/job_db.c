/*
 * job_db: curator.db. See job_db.h. Uses the storage layer's SQLite
 * helpers (WAL, busy timeout; synchronous=NORMAL: see job_db_open).
 */
#include "jobs/job_db_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/st_sql.h"

const char *job_task_state_name(enum job_task_state s)
{
	static const char *n[] = { "pending", "running", "done", "stale", "failed" };
	return (unsigned)s <= JS_FAILED ? n[s] : "?";
}

static const char schema[] =
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

int job_db_open(const char *dir, struct job_db **out, struct st_msg *err)
{
	struct job_db *db = calloc(1, sizeof(*db));
	char path[4200];
	int rc;

	*out = NULL;
	if (!db)
		return st_fail(err, -ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/curator.db", dir);
	rc = st_sql_open(path, 1, &db->sql, err);
	if (rc) {
		free(db);
		return rc;
	}
	/*
	 * The curator's own bookkeeping need not survive a power cut to the last
	 * commit (WAL, synchronous=NORMAL: an application crash loses nothing):
	 * a task whose claim or result is lost runs again, and every task
	 * re-checks the version it was queued against. The storage databases
	 * stay synchronous=FULL.
	 */
	rc = st_sql_exec(db->sql, "PRAGMA synchronous=NORMAL;", err);
	for (int i = 0; !rc && i < 500; i++) { /* several ranks may create the schema at once */
		rc = st_sql_exec(db->sql, schema, err);
		if (rc != ST_EBUSY)
			break;
		usleep(20000);
	}
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
	free(db);
}

static double now_real(void)
{
	return (double)st_now();
}

int job_db_scan_begin(struct job_db *db, const char *kind, int dry_run, uint64_t s0, int ranks, int64_t *id,
		      struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql,
				"INSERT INTO scans(kind, dry_run, state, started, s0, ranks) VALUES (?, ?, 'running', ?, ?, ?)",
				&st, err);

	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, dry_run);
	sqlite3_bind_double(st, 3, now_real());
	sqlite3_bind_int64(st, 4, (int64_t)s0);
	sqlite3_bind_int(st, 5, ranks);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = st_sql_fail(db->sql, sqlite3_errcode(db->sql), "curator.db scans", err);
	else
		*id = sqlite3_last_insert_rowid(db->sql);
	sqlite3_finalize(st);
	return rc;
}

int job_db_scan_end(struct job_db *db, int64_t id, int ok, const char *phases, const char *counters, const char *error,
		    struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql,
				"UPDATE scans SET state = ?, ended = ?, phases = json(?), counters = json(?), error = ? "
				"WHERE id = ?",
				&st, err);

	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, ok ? "done" : "failed", -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 2, now_real());
	sqlite3_bind_text(st, 3, phases ? phases : "[]", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, counters ? counters : "{}", -1, SQLITE_TRANSIENT);
	if (error)
		sqlite3_bind_text(st, 5, error, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 6, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = st_sql_fail(db->sql, sqlite3_errcode(db->sql), "curator.db scans", err);
	sqlite3_finalize(st);
	return rc;
}

int job_db_tasks_add(struct job_db *db, const struct job_task *t, int n, struct st_msg *err)
{
	sqlite3_stmt *dup = NULL, *ins = NULL;
	int rc;

	if (n == 0)
		return 0;
	rc = st_sql_begin(db->sql, err);
	if (!rc)
		rc = st_sql_prepare(db->sql, "SELECT 1 FROM tasks WHERE state IN (0, 1) AND kind = ? AND target = ?", &dup, err);
	if (!rc)
		rc = st_sql_prepare(db->sql,
				    "INSERT INTO tasks(scan, kind, target, version, priority, bytes, arg, created)"
				    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
				    &ins, err);
	for (int i = 0; !rc && i < n; i++) {
		int exists;
		sqlite3_bind_int(dup, 1, t[i].kind);
		sqlite3_bind_int64(dup, 2, (int64_t)t[i].target);
		exists = sqlite3_step(dup) == SQLITE_ROW;
		sqlite3_reset(dup);
		if (exists)
			continue; /* already queued by an earlier scan */
		sqlite3_bind_int64(ins, 1, t[i].scan);
		sqlite3_bind_int(ins, 2, t[i].kind);
		sqlite3_bind_int64(ins, 3, (int64_t)t[i].target);
		sqlite3_bind_int64(ins, 4, (int64_t)t[i].version);
		sqlite3_bind_int(ins, 5, t[i].priority ? t[i].priority : job_task_priority(t[i].kind));
		sqlite3_bind_int64(ins, 6, t[i].bytes);
		if (t[i].arglen)
			sqlite3_bind_blob(ins, 7, t[i].arg, (int)t[i].arglen, SQLITE_STATIC);
		else
			sqlite3_bind_null(ins, 7);
		sqlite3_bind_double(ins, 8, now_real());
		if (sqlite3_step(ins) != SQLITE_DONE)
			rc = st_sql_fail(db->sql, sqlite3_errcode(db->sql), "curator.db tasks", err);
		sqlite3_reset(ins);
	}
	sqlite3_finalize(dup);
	sqlite3_finalize(ins);
	if (rc) {
		st_sql_rollback(db->sql);
		return rc;
	}
	return st_sql_commit(db->sql, err);
}

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
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = st_sql_fail(db->sql, sqlite3_errcode(db->sql), "curator.db usage", err);
	sqlite3_finalize(st);
	return rc;
}

int job_db_task_peek(struct job_db *db, int kind, int n, int *kinds, uint64_t *targets, int *got, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql,
				"SELECT kind, target FROM tasks WHERE state = 0 AND (?1 < 0 OR kind = ?1)"
				" ORDER BY priority DESC, id LIMIT ?2",
				&st, err);

	*got = 0;
	if (rc)
		return rc;
	sqlite3_bind_int(st, 1, kind);
	sqlite3_bind_int(st, 2, n);
	while (*got < n && sqlite3_step(st) == SQLITE_ROW) {
		kinds[*got] = sqlite3_column_int(st, 0);
		targets[*got] = (uint64_t)sqlite3_column_int64(st, 1);
		(*got)++;
	}
	sqlite3_finalize(st);
	return 0;
}

int job_db_tasks_pending(struct job_db *db, int kind, int64_t *n, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql, "SELECT count(*) FROM tasks WHERE state = 0 AND (?1 < 0 OR kind = ?1)", &st, err);

	*n = 0;
	if (rc)
		return rc;
	sqlite3_bind_int(st, 1, kind);
	if (sqlite3_step(st) == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

int job_db_task_claim(struct job_db *db, int kind, const int *kind_ranks, struct job_task *t, int *got,
		      struct st_msg *err)
{
	return job_db_task_claim_many(db, kind, kind_ranks, 1, t, got, err);
}

int job_db_task_claim_many(struct job_db *db, int kind, const int *kind_ranks, int max, struct job_task *t0, int *got,
			   struct st_msg *err)
{
	struct job_task *t;
	sqlite3_stmt *st;
	char skip[128] = "-1";
	int rc = st_sql_begin(db->sql, err);

	*got = 0;
	if (rc)
		return rc;
	/* kinds at their concurrency limit are passed over */
	for (int k = 0; kind_ranks && k < JT_NKINDS; k++) {
		sqlite3_stmt *c;
		if (kind_ranks[k] <= 0 ||
		    sqlite3_prepare_v2(db->sql, "SELECT count(*) FROM tasks WHERE state = 1 AND kind = ?", -1, &c, NULL) != SQLITE_OK)
			continue;
		sqlite3_bind_int(c, 1, k);
		if (sqlite3_step(c) == SQLITE_ROW && sqlite3_column_int(c, 0) >= kind_ranks[k]) {
			size_t l = strlen(skip);
			snprintf(skip + l, sizeof(skip) - l, ",%d", k);
		}
		sqlite3_finalize(c);
	}
	{
		char sql[400];
		snprintf(sql, sizeof(sql),
			 "SELECT id, scan, kind, target, version, priority, attempts, bytes, arg FROM tasks"
			 " WHERE state = 0 AND (?1 < 0 OR kind = ?1) AND kind NOT IN (%s)"
			 " ORDER BY priority DESC, id LIMIT %d",
			 skip, max < 1 ? 1 : max);
		rc = st_sql_prepare(db->sql, sql, &st, err);
	}
	if (rc)
		goto fail;
	sqlite3_bind_int(st, 1, kind);
	while (*got < max && sqlite3_step(st) == SQLITE_ROW) {
		t = &t0[*got];
		memset(t, 0, sizeof(*t));
		t->id = sqlite3_column_int64(st, 0);
		t->scan = sqlite3_column_int64(st, 1);
		t->kind = (enum job_task_kind)sqlite3_column_int(st, 2);
		t->target = (uint64_t)sqlite3_column_int64(st, 3);
		t->version = (uint64_t)sqlite3_column_int64(st, 4);
		t->priority = sqlite3_column_int(st, 5);
		t->attempts = sqlite3_column_int(st, 6) + 1;
		t->bytes = sqlite3_column_int64(st, 7);
		t->arglen = (size_t)sqlite3_column_bytes(st, 8);
		if (t->arglen) {
			t->arg = malloc(t->arglen);
			if (!t->arg) {
				sqlite3_finalize(st);
				rc = st_fail(err, -ENOMEM, "out of memory");
				goto fail;
			}
			memcpy(t->arg, sqlite3_column_blob(st, 8), t->arglen);
		}
		(*got)++;
	}
	sqlite3_finalize(st);
	for (int i = 0; i < *got && !rc; i++) {
		char sql[200];
		snprintf(sql, sizeof(sql),
			 "UPDATE tasks SET state = 1, attempts = attempts + 1, runner = %d, updated = %f WHERE id = %lld",
			 (int)getpid(), now_real(), (long long)t0[i].id);
		rc = st_sql_exec(db->sql, sql, err);
	}
	if (rc)
		goto fail;
	return st_sql_commit(db->sql, err);
fail:
	for (int i = 0; i < *got; i++)
		job_task_release(&t0[i]);
	*got = 0;
	st_sql_rollback(db->sql);
	return rc;
}

void job_task_release(struct job_task *t)
{
	free(t->arg);
	t->arg = NULL;
	t->arglen = 0;
}

int job_db_task_finish(struct job_db *db, int64_t id, enum job_task_state state, int64_t bytes, const char *error,
		       struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql, "UPDATE tasks SET state = ?, bytes = ?, error = ?, updated = ? WHERE id = ?", &st, err);

	if (rc)
		return rc;
	sqlite3_bind_int(st, 1, state);
	sqlite3_bind_int64(st, 2, bytes);
	if (error)
		sqlite3_bind_text(st, 3, error, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(st, 4, now_real());
	sqlite3_bind_int64(st, 5, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = st_sql_fail(db->sql, sqlite3_errcode(db->sql), "curator.db tasks", err);
	sqlite3_finalize(st);
	return rc;
}

int job_db_tasks_requeue_running(struct job_db *db, struct st_msg *err)
{
	sqlite3_stmt *st;
	int64_t ids[256];
	int n = 0, rc = st_sql_prepare(db->sql, "SELECT id, runner FROM tasks WHERE state = 1", &st, err);

	if (rc)
		return rc;
	while (sqlite3_step(st) == SQLITE_ROW && n < 256) {
		pid_t pid = (pid_t)sqlite3_column_int(st, 1);
		if (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM))
			continue; /* its runner is alive */
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	for (int i = 0; i < n && !rc; i++) {
		char sql[128];
		snprintf(sql, sizeof(sql), "UPDATE tasks SET state = 0 WHERE id = %lld AND state = 1", (long long)ids[i]);
		rc = st_sql_exec(db->sql, sql, err);
	}
	return rc;
}

int job_db_request_add(struct job_db *db, const char *kind, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql, "INSERT INTO requests(kind, at) VALUES (?, ?)", &st, err);

	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 2, now_real());
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = st_sql_fail(db->sql, sqlite3_errcode(db->sql), "curator.db requests", err);
	sqlite3_finalize(st);
	return rc;
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
		snprintf(sql, sizeof(sql), "UPDATE requests SET taken = %f WHERE id = %lld", now_real(), (long long)id);
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
	sqlite3_bind_double(st, 1, now_real());
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, detail ? detail : "", -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = st_sql_fail(db->sql, sqlite3_errcode(db->sql), "curator.db events", err);
	sqlite3_finalize(st);
	return rc;
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
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = st_sql_fail(db->sql, sqlite3_errcode(db->sql), "curator.db daemon", err);
	sqlite3_finalize(st);
	return rc;
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
		snprintf(s->host, sizeof(s->host), "%s", sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "");
		s->ranks = sqlite3_column_int(st, 2);
		s->started = sqlite3_column_double(st, 3);
		s->heartbeat = sqlite3_column_double(st, 4);
		snprintf(s->state, sizeof(s->state), "%s", sqlite3_column_text(st, 5) ? (const char *)sqlite3_column_text(st, 5) : "");
		s->scan_id = sqlite3_column_int64(st, 6);
		snprintf(s->phase, sizeof(s->phase), "%s", sqlite3_column_text(st, 7) ? (const char *)sqlite3_column_text(st, 7) : "");
		s->phase_index = sqlite3_column_int(st, 8);
		s->phases = sqlite3_column_int(st, 9);
		s->phase_started = sqlite3_column_double(st, 10);
		s->next_full = sqlite3_column_double(st, 11);
		s->next_partial = sqlite3_column_double(st, 12);
	}
	sqlite3_finalize(st);
	return 0;
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

/* --- the task runner's statements (jobs/job_tasks.c) ---------------------- */

int job_db_tasks_finish_begin(struct job_db *db, struct st_msg *err)
{
	return st_sql_begin(db->sql, err);
}

int job_db_tasks_finish_commit(struct job_db *db, struct st_msg *err)
{
	return st_sql_commit(db->sql, err);
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
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = st_sql_fail(db->sql, sqlite3_errcode(db->sql), "curator.db scans", err);
	sqlite3_finalize(st);
	return rc;
}
