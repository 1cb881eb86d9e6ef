/*
 * job_db_report: the queries behind reports, status, explain and the task
 * list (see job_db_report.h).
 *
 * DESIGN. Each function runs one statement (two where it says so) and
 * hands back values or rows; nothing here formats for a person, and no
 * caller outside jobs/job_db*.c prepares a statement on curator.db. The
 * JSON report is built by SQLite (json_object, json_group_array) from the
 * stored rows, so no string is ever escaped by hand. Everything is read
 * only: a report never takes a write lock, so it can run while a scan or
 * the daemon writes (WAL readers see the last commit).
 */
#include "jobs/job_db_report.h"

#include "jobs/job_db_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/st_sql.h"

static const char *text_or(sqlite3_stmt *q, int col, const char *dflt)
{
	const unsigned char *s = sqlite3_column_text(q, col);

	return s ? (const char *)s : dflt;
}

/* Step q to its end (or until fn stops it): SQLITE_DONE is success. */
static int finish(struct job_db *db, sqlite3_stmt *q, int src, int rc, struct st_msg *err)
{
	if (!rc && src != SQLITE_DONE && src != SQLITE_ROW)
		rc = st_sql_fail(db->sql, src, "curator.db", err);
	sqlite3_finalize(q);
	return rc;
}

/* One int64 from a statement with one bound int64 (or none): *v, 0 if no row or NULL. */
static int one_int64(struct job_db *db, const char *sql, int64_t arg, int64_t *v, int *found, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src, rc = st_sql_prepare(db->sql, sql, &q, err);

	*v = 0;
	if (found)
		*found = 0;
	if (rc)
		return rc;
	if (sqlite3_bind_parameter_count(q) > 0)
		sqlite3_bind_int64(q, 1, arg);
	src = sqlite3_step(q);
	if (src == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL) {
		*v = sqlite3_column_int64(q, 0);
		if (found)
			*found = 1;
	}
	return finish(db, q, src, 0, err);
}

/* --- scans ------------------------------------------------------------- */

int job_db_scan_latest(struct job_db *db, int64_t *id, struct st_msg *err)
{
	int64_t v;
	int found, rc = one_int64(db, "SELECT max(id) FROM scans", 0, &v, &found, err);

	if (rc)
		return rc;
	if (!found)
		return ST_ENOTFOUND;
	*id = v;
	return 0;
}

int job_db_scan_last_done(struct job_db *db, const char *kind, int64_t *id, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src, rc = st_sql_prepare(db->sql, "SELECT coalesce(max(id), 0) FROM scans WHERE state = 'done'"
				     " AND (?1 IS NULL AND kind IN ('full', 'partial') OR kind = ?1)",
				     &q, err);

	*id = 0;
	if (rc)
		return rc;
	if (kind)
		sqlite3_bind_text(q, 1, kind, -1, SQLITE_STATIC);
	src = sqlite3_step(q);
	if (src == SQLITE_ROW)
		*id = sqlite3_column_int64(q, 0);
	return finish(db, q, src, 0, err);
}

int job_db_scan_get(struct job_db *db, int64_t id, struct job_scan_row *s, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src, rc = st_sql_prepare(db->sql,
				     "SELECT id, kind, dry_run, state, started, ended, s0, ranks, error FROM scans WHERE id = ?",
				     &q, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, id);
	src = sqlite3_step(q);
	if (src == SQLITE_ROW) {
		memset(s, 0, sizeof(*s));
		s->id = sqlite3_column_int64(q, 0);
		snprintf(s->kind, sizeof(s->kind), "%s", text_or(q, 1, ""));
		s->dry_run = sqlite3_column_int(q, 2);
		snprintf(s->state, sizeof(s->state), "%s", text_or(q, 3, ""));
		s->started = sqlite3_column_double(q, 4);
		s->ended = sqlite3_column_double(q, 5);
		s->s0 = sqlite3_column_int64(q, 6);
		s->ranks = sqlite3_column_int(q, 7);
		s->has_error = sqlite3_column_type(q, 8) != SQLITE_NULL;
		snprintf(s->error, sizeof(s->error), "%s", text_or(q, 8, ""));
	} else if (src == SQLITE_DONE) {
		rc = ST_ENOTFOUND;
	}
	return finish(db, q, src, rc, err);
}

int job_db_scan_prev_secs(struct job_db *db, int64_t id, int64_t *secs, struct st_msg *err)
{
	return one_int64(db,
			 "SELECT CAST(ended - started AS INTEGER) FROM scans WHERE state = 'done' AND kind ="
			 " (SELECT kind FROM scans WHERE id = ?1) AND id < ?1 ORDER BY id DESC LIMIT 1",
			 id, secs, NULL, err);
}

int job_db_scan_progress(struct job_db *db, int64_t id, struct job_scan_progress *p, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src, rc = st_sql_prepare(db->sql,
				     "SELECT coalesce(owner, ''), heartbeat, coalesce(phase, ''), phase_index, phase_count,"
				     " coalesce(phase_started, 0), records, to_queue, queued FROM scans WHERE id = ?",
				     &q, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, id);
	src = sqlite3_step(q);
	if (src == SQLITE_ROW) {
		memset(p, 0, sizeof(*p));
		snprintf(p->owner, sizeof(p->owner), "%s", text_or(q, 0, ""));
		p->heartbeat = sqlite3_column_int64(q, 1);
		snprintf(p->phase, sizeof(p->phase), "%s", text_or(q, 2, ""));
		p->phase_index = sqlite3_column_int(q, 3);
		p->phase_count = sqlite3_column_int(q, 4);
		p->phase_started = sqlite3_column_double(q, 5);
		p->records = sqlite3_column_int64(q, 6);
		p->to_queue = sqlite3_column_int64(q, 7);
		p->queued = sqlite3_column_int64(q, 8);
	} else if (src == SQLITE_DONE) {
		rc = ST_ENOTFOUND;
	}
	return finish(db, q, src, rc, err);
}

int job_db_scans_running(struct job_db *db, int max, int64_t *ids, int *n, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src = SQLITE_DONE,
	    rc = st_sql_prepare(db->sql, "SELECT id FROM scans WHERE state = 'running' ORDER BY id LIMIT ?", &q, err);

	*n = 0;
	if (rc)
		return rc;
	sqlite3_bind_int(q, 1, max);
	while (*n < max && (src = sqlite3_step(q)) == SQLITE_ROW)
		ids[(*n)++] = sqlite3_column_int64(q, 0);
	return finish(db, q, src, 0, err);
}

int job_db_scan_prev_phase(struct job_db *db, int64_t id, const char *phase, int64_t *prev, int64_t *records,
			   double *secs, double *after, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src = SQLITE_DONE, seen = 0, rc;

	*prev = *records = 0;
	*secs = *after = 0;
	rc = one_int64(db,
		       "SELECT id FROM scans WHERE state = 'done' AND kind = (SELECT kind FROM scans WHERE id = ?1)"
		       " AND id < ?1 ORDER BY id DESC LIMIT 1",
		       id, prev, NULL, err);
	if (rc || !*prev)
		return rc;
	rc = st_sql_prepare(db->sql,
			    "SELECT json_extract(value, '$.phase'), json_extract(value, '$.secs'),"
			    " json_extract(value, '$.records_in') FROM scans, json_each(scans.phases) WHERE scans.id = ?",
			    &q, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, *prev);
	while ((src = sqlite3_step(q)) == SQLITE_ROW) {
		const char *name = text_or(q, 0, "");
		if (seen) {
			*after += sqlite3_column_double(q, 1);
		} else if (!strcmp(name, phase)) {
			seen = 1;
			*secs = sqlite3_column_double(q, 1);
			*records = sqlite3_column_int64(q, 2);
		}
	}
	return finish(db, q, src, 0, err);
}

int job_db_scans_recent(struct job_db *db, const char *kind, int max, int64_t *ids, int *n, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src = SQLITE_DONE, rc = st_sql_prepare(db->sql,
						   "SELECT id FROM (SELECT id FROM scans WHERE state = 'done'"
						   " AND (?1 IS NULL OR kind = ?1) ORDER BY id DESC LIMIT ?2) ORDER BY id",
						   &q, err);

	*n = 0;
	if (rc)
		return rc;
	if (kind)
		sqlite3_bind_text(q, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 2, max);
	while (*n < max && (src = sqlite3_step(q)) == SQLITE_ROW)
		ids[(*n)++] = sqlite3_column_int64(q, 0);
	return finish(db, q, src, 0, err);
}

static int kind_values(struct job_db *db, const char *sql, job_kind_value_fn fn, void *arg, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src = SQLITE_DONE, rc = st_sql_prepare(db->sql, sql, &q, err);

	if (rc)
		return rc;
	while (!rc && (src = sqlite3_step(q)) == SQLITE_ROW)
		rc = fn(arg, (const char *)sqlite3_column_text(q, 0), sqlite3_column_double(q, 1));
	return finish(db, q, src, rc, err);
}

int job_db_scans_last_secs(struct job_db *db, job_kind_value_fn fn, void *arg, struct st_msg *err)
{
	return kind_values(db,
			   "SELECT kind, ended - started FROM scans WHERE id IN (SELECT max(id) FROM scans WHERE state = 'done'"
			   " GROUP BY kind)",
			   fn, arg, err);
}

int job_db_scans_last_end(struct job_db *db, job_kind_value_fn fn, void *arg, struct st_msg *err)
{
	return kind_values(db, "SELECT kind, max(ended) FROM scans WHERE state = 'done' GROUP BY kind", fn, arg, err);
}

static const char json_sql[] =
	"SELECT json_object("
	" 'scan', s.id, 'kind', s.kind, 'dry_run', json(CASE s.dry_run WHEN 1 THEN 'true' ELSE 'false' END),"
	" 'state', s.state, 'started', s.started, 'ended', s.ended, 'duration_secs', s.ended - s.started,"
	" 's0', s.s0, 'ranks', s.ranks, 'error', s.error,"
	" 'phases', json(coalesce(s.phases, '[]')), 'counters', json(coalesce(s.counters, '{}')),"
	" 'task_results', json(s.task_results),"
	" 'tasks', (SELECT json_group_object(k, n) FROM (SELECT kind AS k, count(*) AS n FROM tasks WHERE scan = s.id GROUP BY kind)),"
	" 'usage', (SELECT json_group_array(json_object('disk', disk, 'tier', tier, 'bytes', bytes, 'egroups', egroups))"
	"           FROM usage WHERE scan = s.id),"
	" 'findings', (SELECT json_group_array(json_object('kind', kind, 'egroup', printf('%x', egroup), 'extent', extent,"
	"           'detail', detail)) FROM (SELECT * FROM findings WHERE scan = s.id LIMIT 1000)))"
	" FROM scans s WHERE s.id = ?";

int job_db_scan_json(struct job_db *db, int64_t id, char **json, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src, rc = st_sql_prepare(db->sql, json_sql, &q, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, id);
	src = sqlite3_step(q);
	if (src == SQLITE_ROW) {
		*json = strdup(text_or(q, 0, ""));
		if (!*json)
			rc = st_fail(err, -ENOMEM, "out of memory");
	} else if (src == SQLITE_DONE) {
		rc = st_fail(err, ST_ENOTFOUND, "scan %" PRId64 ": not found", id);
	}
	return finish(db, q, src, rc, err);
}

int job_db_scan_counter(struct job_db *db, int64_t scan, const char *name, int64_t *v, struct st_msg *err)
{
	sqlite3_stmt *q;
	char path[96];
	int src, rc = st_sql_prepare(db->sql, "SELECT json_extract(counters, ?) FROM scans WHERE id = ?", &q, err);

	*v = 0;
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "$.%s", name);
	sqlite3_bind_text(q, 1, path, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 2, scan);
	src = sqlite3_step(q);
	if (src == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
		*v = sqlite3_column_int64(q, 0);
	else if (src == SQLITE_ROW || src == SQLITE_DONE)
		rc = ST_ENOTFOUND;
	return finish(db, q, src, rc, err);
}

int job_db_scan_phases(struct job_db *db, int64_t scan, job_phase_fn fn, void *arg, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src = SQLITE_DONE, rc = st_sql_prepare(db->sql,
						   "SELECT json_extract(value, '$.phase'), json_extract(value, '$.secs'),"
						   " json_extract(value, '$.records_in'), json_extract(value, '$.records_out')"
						   " FROM scans, json_each(scans.phases) WHERE scans.id = ?",
						   &q, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, scan);
	while (!rc && (src = sqlite3_step(q)) == SQLITE_ROW) {
		struct job_scan_phase p = { (const char *)sqlite3_column_text(q, 0), sqlite3_column_double(q, 1),
					    sqlite3_column_int64(q, 2), sqlite3_column_int64(q, 3) };
		rc = fn(arg, &p);
	}
	return finish(db, q, src, rc, err);
}

int job_db_scan_reclaimed(struct job_db *db, int64_t scan, int64_t *bytes, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src, rc = st_sql_prepare(db->sql,
				     "SELECT json_extract(task_results, '$.bytes_reclaimed') FROM scans"
				     " WHERE id = ? AND task_results IS NOT NULL",
				     &q, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, scan);
	src = sqlite3_step(q);
	if (src == SQLITE_ROW)
		*bytes = sqlite3_column_int64(q, 0);
	else if (src == SQLITE_DONE)
		rc = ST_ENOTFOUND;
	return finish(db, q, src, rc, err);
}

int job_db_scan_locality(struct job_db *db, int64_t scan, int64_t *local, int64_t *remote, int64_t *anywhere,
			 struct st_msg *err)
{
	sqlite3_stmt *q;
	int src, rc = st_sql_prepare(db->sql,
				     "SELECT json_extract(task_results, '$.locality.bytes_local'),"
				     " json_extract(task_results, '$.locality.bytes_remote'),"
				     " json_extract(task_results, '$.locality.bytes_anywhere') FROM scans"
				     " WHERE id = ? AND json_extract(task_results, '$.locality') IS NOT NULL",
				     &q, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, scan);
	src = sqlite3_step(q);
	if (src == SQLITE_ROW) {
		*local = sqlite3_column_int64(q, 0);
		*remote = sqlite3_column_int64(q, 1);
		*anywhere = sqlite3_column_int64(q, 2);
	} else if (src == SQLITE_DONE) {
		rc = ST_ENOTFOUND;
	}
	return finish(db, q, src, rc, err);
}

int job_db_scan_kind_results(struct job_db *db, int64_t scan, job_result_fn fn, void *arg, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src = SQLITE_DONE, rc = st_sql_prepare(db->sql,
						   "SELECT key, json_extract(value, '$.done'), json_extract(value, '$.stale'),"
						   " json_extract(value, '$.failed') FROM scans, json_each(scans.task_results)"
						   " WHERE scans.id = ? AND key NOT IN ('bytes_reclaimed', 'locality')",
						   &q, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, scan);
	while (!rc && (src = sqlite3_step(q)) == SQLITE_ROW)
		rc = fn(arg, (const char *)sqlite3_column_text(q, 0), sqlite3_column_int64(q, 1), sqlite3_column_int64(q, 2),
			sqlite3_column_int64(q, 3));
	return finish(db, q, src, rc, err);
}

int job_db_scan_usage(struct job_db *db, int64_t scan, job_usage_fn fn, void *arg, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src = SQLITE_DONE,
	    rc = st_sql_prepare(db->sql, "SELECT disk, tier, bytes, egroups FROM usage WHERE scan = ? ORDER BY disk", &q, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, scan);
	while (!rc && (src = sqlite3_step(q)) == SQLITE_ROW) {
		struct job_usage u = { sqlite3_column_int64(q, 0), sqlite3_column_int(q, 1), sqlite3_column_int64(q, 2),
				       sqlite3_column_int64(q, 3) };
		rc = fn(arg, &u);
	}
	return finish(db, q, src, rc, err);
}

int job_db_scan_usage_sum(struct job_db *db, int64_t scan, int tier, int64_t *bytes, int64_t *egroups, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src, rc = st_sql_prepare(db->sql,
				     "SELECT sum(bytes), sum(egroups) FROM usage WHERE scan = ?1 AND (?2 < 0 OR tier = ?2)", &q,
				     err);

	*bytes = *egroups = 0;
	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, scan);
	sqlite3_bind_int(q, 2, tier);
	src = sqlite3_step(q);
	if (src == SQLITE_ROW) {
		*bytes = sqlite3_column_int64(q, 0);
		*egroups = sqlite3_column_int64(q, 1);
	}
	return finish(db, q, src, 0, err);
}

int job_db_scan_findings(struct job_db *db, int64_t scan, int max, job_finding_fn fn, void *arg, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src = SQLITE_DONE, rc = st_sql_prepare(db->sql,
						   "SELECT kind, egroup, coalesce(extent, ''), detail FROM findings"
						   " WHERE scan = ? ORDER BY kind LIMIT ?",
						   &q, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, scan);
	sqlite3_bind_int(q, 2, max);
	while (!rc && (src = sqlite3_step(q)) == SQLITE_ROW) {
		struct job_finding f = { text_or(q, 0, ""), (uint64_t)sqlite3_column_int64(q, 1), text_or(q, 2, ""),
					 text_or(q, 3, "") };
		rc = fn(arg, &f);
	}
	return finish(db, q, src, rc, err);
}

int job_db_egroup_findings(struct job_db *db, int64_t scan, uint64_t egroup, job_finding_fn fn, void *arg,
			   struct st_msg *err)
{
	sqlite3_stmt *q;
	int src = SQLITE_DONE, rc = st_sql_prepare(db->sql,
						   "SELECT kind, egroup, coalesce(extent, ''), detail FROM findings"
						   " WHERE scan = ? AND egroup = ? ORDER BY rowid",
						   &q, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, scan);
	sqlite3_bind_int64(q, 2, (int64_t)egroup);
	while (!rc && (src = sqlite3_step(q)) == SQLITE_ROW) {
		struct job_finding f = { text_or(q, 0, ""), (uint64_t)sqlite3_column_int64(q, 1), text_or(q, 2, ""),
					 text_or(q, 3, "") };
		rc = fn(arg, &f);
	}
	return finish(db, q, src, rc, err);
}

/* --- tasks ------------------------------------------------------------- */

/* A task row from columns id, scan, kind, target, version, priority, state, attempts, bytes, error. */
static int task_rows(struct job_db *db, sqlite3_stmt *q, job_task_fn fn, void *arg, struct st_msg *err)
{
	int src = SQLITE_DONE, rc = 0;

	while (!rc && (src = sqlite3_step(q)) == SQLITE_ROW) {
		struct job_task t = { 0 };
		t.id = sqlite3_column_int64(q, 0);
		t.scan = sqlite3_column_int64(q, 1);
		t.kind = (enum job_task_kind)sqlite3_column_int(q, 2);
		t.target = (uint64_t)sqlite3_column_int64(q, 3);
		t.version = (uint64_t)sqlite3_column_int64(q, 4);
		t.priority = sqlite3_column_int(q, 5);
		t.state = (enum job_task_state)sqlite3_column_int(q, 6);
		t.attempts = sqlite3_column_int(q, 7);
		t.bytes = sqlite3_column_int64(q, 8);
		rc = fn(arg, &t, text_or(q, 9, ""));
	}
	return finish(db, q, src, rc, err);
}

#define TASK_COLS "id, scan, kind, target, version, priority, state, attempts, bytes, coalesce(error, '')"

int job_db_tasks_list(struct job_db *db, int kind, int state, job_task_fn fn, void *arg, struct st_msg *err)
{
	sqlite3_stmt *q;
	int rc = st_sql_prepare(db->sql,
				"SELECT " TASK_COLS " FROM tasks WHERE (?1 < 0 OR kind = ?1)"
				" AND (CASE WHEN ?2 < 0 THEN state IN (0, 1) ELSE state = ?2 END)"
				" ORDER BY priority DESC, id",
				&q, err);

	if (rc)
		return rc;
	sqlite3_bind_int(q, 1, kind);
	sqlite3_bind_int(q, 2, state);
	return task_rows(db, q, fn, arg, err);
}

int job_db_tasks_about(struct job_db *db, uint64_t target, const void *bytes, size_t len, job_task_fn fn, void *arg,
		       struct st_msg *err)
{
	sqlite3_stmt *q;
	int rc = st_sql_prepare(db->sql,
				bytes ? "SELECT " TASK_COLS " FROM tasks WHERE instr(arg, ?1) > 0 ORDER BY id"
				      : "SELECT " TASK_COLS " FROM tasks WHERE target = ?1 ORDER BY id",
				&q, err);

	if (rc)
		return rc;
	if (bytes)
		sqlite3_bind_blob(q, 1, bytes, (int)len, SQLITE_STATIC);
	else
		sqlite3_bind_int64(q, 1, (int64_t)target);
	return task_rows(db, q, fn, arg, err);
}

int job_db_tasks_count(struct job_db *db, enum job_task_state s, int64_t *n, struct st_msg *err)
{
	return one_int64(db, "SELECT count(*) FROM tasks WHERE state = ?", s, n, NULL, err);
}

int job_db_tasks_queue(struct job_db *db, job_queue_fn fn, void *arg, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src = SQLITE_DONE, rc = st_sql_prepare(db->sql,
						   "SELECT kind, priority, pending + running, running, bytes FROM queue_sums"
						   " WHERE pending + running > 0 ORDER BY priority DESC, kind",
						   &q, err);

	if (rc)
		return rc;
	while (!rc && (src = sqlite3_step(q)) == SQLITE_ROW)
		rc = fn(arg, sqlite3_column_int(q, 0), sqlite3_column_int(q, 1), sqlite3_column_int64(q, 2),
			sqlite3_column_int64(q, 3), sqlite3_column_int64(q, 4));
	return finish(db, q, src, rc, err);
}

int job_db_freeing(struct job_db *db, struct job_freeing *f, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src, rc = st_sql_prepare(db->sql,
				     "SELECT (SELECT coalesce(sum(bytes), 0) FROM queue_sums WHERE kind IN " JOB_DB_FREEING "),"
				     " (SELECT coalesce(sum(pending + running), 0) FROM queue_sums WHERE kind IN " JOB_DB_FREEING
				     "), freed, tasks, coalesce(since, 0) FROM freeing WHERE id = 1",
				     &q, err);

	memset(f, 0, sizeof(*f));
	if (rc)
		return rc;
	src = sqlite3_step(q);
	if (src == SQLITE_ROW) {
		f->pending_bytes = sqlite3_column_int64(q, 0);
		f->pending_tasks = sqlite3_column_int64(q, 1);
		f->freed_bytes = sqlite3_column_int64(q, 2);
		f->freed_tasks = sqlite3_column_int64(q, 3);
		f->since = sqlite3_column_double(q, 4);
	}
	return finish(db, q, src, 0, err);
}

int job_db_tasks_by_kind(struct job_db *db, job_kind_fn fn, void *arg, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src = SQLITE_DONE, rc = st_sql_prepare(db->sql,
						   "SELECT kind, sum(state = 0), sum(state = 1), sum(state = 2), sum(state = 3),"
						   " sum(state = 4), sum(CASE WHEN state = 2 THEN bytes ELSE 0 END) FROM tasks"
						   " GROUP BY kind ORDER BY kind",
						   &q, err);

	if (rc)
		return rc;
	while (!rc && (src = sqlite3_step(q)) == SQLITE_ROW) {
		int64_t n[JS_FAILED + 1];
		for (int s = 0; s <= JS_FAILED; s++)
			n[s] = sqlite3_column_int64(q, 1 + s);
		rc = fn(arg, sqlite3_column_int(q, 0), n, sqlite3_column_int64(q, 6));
	}
	return finish(db, q, src, rc, err);
}
