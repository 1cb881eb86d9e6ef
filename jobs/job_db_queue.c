/*
 * job_db_queue: the task queue (see job_db.h): claiming, outcomes, the
 * sums, and the runner's transactions.
 *
 * DESIGN. A task is a row of `tasks` in its shard's file (job_db_int.h);
 * queueing is jobs/job_db_add.c. Claims take the next pending tasks of
 * each shard by its tasks_queue index (state, priority DESC, id), merged by
 * priority (heads_*), and mark them running with the claiming rank's lease
 * (runner, see job_db_set_runner; never a pid); outcomes find a task's
 * shard from its id. A claim or peek of one kind walks that index too,
 * past the pending tasks of other kinds ranked ahead of it (NEEDSWORK: an
 * index on (kind, state, priority, id) would make it a seek, at a fourth
 * b-tree insert per queued task).
 *
 * queue_sums holds, per (kind, priority), the pending and running tasks
 * and their bytes: every statement here that adds a task to the queue,
 * moves it between pending and running or takes it out moves the sums in
 * the same transaction, so the size of the queue is never counted row by
 * row (`curator status` with a million tasks waiting, the daemon's and the
 * runner's "anything pending?").
 */
#include "jobs/job_db_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/st_lease.h"
#include "storage/st_sql.h"

/* --- the sums ------------------------------------------------------------ */

int job_db_sums_move(sqlite3 *sql, const char *schema, int kind, int priority, int64_t pending, int64_t running,
		     int64_t bytes, struct st_msg *err)
{
	sqlite3_stmt *st;
	char q[400];
	int src, rc;

	snprintf(q, sizeof(q),
		 "INSERT INTO %s.queue_sums(kind, priority, pending, running, bytes) VALUES (?1, ?2, ?3, ?4, ?5)"
		 " ON CONFLICT (kind, priority) DO UPDATE SET pending = pending + excluded.pending,"
		 " running = running + excluded.running, bytes = bytes + excluded.bytes",
		 schema);
	rc = st_sql_prepare(sql, q, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int(st, 1, kind);
	sqlite3_bind_int(st, 2, priority);
	sqlite3_bind_int64(st, 3, pending);
	sqlite3_bind_int64(st, 4, running);
	sqlite3_bind_int64(st, 5, bytes);
	src = sqlite3_step(st);
	sqlite3_finalize(st);
	return src == SQLITE_DONE ? 0 : st_sql_fail(sql, src, "curator.db queue_sums", err);
}

/* The sums of the shard a task id names (in the caller's transaction on db's handle). */
static int sums_move(struct job_db *db, int64_t id, int kind, int priority, int64_t pending, int64_t running,
		     int64_t bytes, struct st_msg *err)
{
	return job_db_sums_move(db->sql, job_db_shard_schema(job_db_id_shard(id)), kind, priority, pending, running,
				bytes, err);
}

/*
 * Space-freeing tasks join a queue that held none: a new freeing episode,
 * its figures start at 0 (on its own, or in the caller's transaction).
 */
int job_db_freeing_start(struct job_db *db, struct st_msg *err)
{
	char sql[400];

	snprintf(sql, sizeof(sql),
		 "UPDATE freeing SET freed = 0, tasks = 0, since = %f WHERE NOT EXISTS (SELECT 1 FROM queue_sums"
		 " WHERE kind IN " JOB_DB_FREEING " AND pending + running > 0)",
		 job_db_now());
	return st_sql_exec(db->sql, sql, err);
}

/* A space-freeing task is done: its bytes were given back (in the caller's transaction). */
static int freeing_done(struct job_db *db, int64_t bytes, struct st_msg *err)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "UPDATE freeing SET freed = freed + %lld, tasks = tasks + 1", (long long)bytes);
	return st_sql_exec(db->sql, sql, err);
}

/* --- looking and claiming ------------------------------------------------ */

int job_db_set_locality(struct job_db *db, const uint32_t *elsewhere, int n)
{
	size_t off = 0;

	db->elsewhere[0] = 0;
	for (int i = 0; i < n; i++) {
		int w = snprintf(db->elsewhere + off, sizeof(db->elsewhere) - off, "%s%u", off ? "," : "", elsewhere[i]);
		if (w < 0 || (size_t)w >= sizeof(db->elsewhere) - off) {
			db->elsewhere[0] = 0;
			return ST_EINVAL;
		}
		off += (size_t)w;
	}
	return 0;
}

/*
 * The pending tasks of every shard in claim order, merged: each shard's
 * rows by its own tasks_queue index (priority DESC, id), taken by priority,
 * then the oldest (created), then the lowest shard and id. cols are read by
 * the caller from the statement heads_next returns, up to the next call.
 */
struct heads {
	sqlite3_stmt *st[JOB_DB_SHARDS];
	int live[JOB_DB_SHARDS];
	int last, ncols;
};

static int heads_open(struct job_db *db, struct heads *h, const char *cols, const char *where, int kind, int limit,
		      struct st_msg *err)
{
	int rc = 0;

	memset(h, 0, sizeof(*h));
	h->last = -1;
	for (int s = 0; s < JOB_DB_SHARDS && !rc; s++) {
		char q[1024];
		snprintf(q, sizeof(q),
			 "SELECT %s, priority, created, id FROM %s.tasks WHERE %s ORDER BY priority DESC, id LIMIT %d",
			 cols, job_db_shard_schema(s), where, limit < 1 ? 1 : limit);
		rc = st_sql_prepare(db->sql, q, &h->st[s], err);
		if (rc)
			break;
		sqlite3_bind_int(h->st[s], 1, kind);
		h->live[s] = sqlite3_step(h->st[s]) == SQLITE_ROW;
		h->ncols = sqlite3_column_count(h->st[s]);
	}
	return rc;
}

/*
 * The next row, NULL at the end or (*rc set, err filled) on a row whose id
 * names another shard than the file it is in: a damaged or forged queue
 * file, whose claims would mark another task running. Nothing is handed
 * out from such a queue.
 */
static sqlite3_stmt *heads_next(struct heads *h, int *rc, struct st_msg *err)
{
	int best = -1, p = h->ncols - 3;

	if (h->last >= 0)
		h->live[h->last] = sqlite3_step(h->st[h->last]) == SQLITE_ROW;
	for (int s = 0; s < JOB_DB_SHARDS; s++) {
		sqlite3_stmt *a = h->st[s], *b = best >= 0 ? h->st[best] : NULL;
		if (!h->live[s])
			continue;
		if (!b || sqlite3_column_int(a, p) > sqlite3_column_int(b, p) ||
		    (sqlite3_column_int(a, p) == sqlite3_column_int(b, p) &&
		     sqlite3_column_double(a, p + 1) < sqlite3_column_double(b, p + 1)))
			best = s;
	}
	h->last = best;
	if (best >= 0 && job_db_id_shard(sqlite3_column_int64(h->st[best], p + 2)) != best) {
		*rc = st_fail(err, ST_ECORRUPT, "%s.tasks: task %lld has an id of another queue file: the queue is damaged;"
			      " nothing claimed", job_db_shard_schema(best), (long long)sqlite3_column_int64(h->st[best], p + 2));
		return NULL;
	}
	return best >= 0 ? h->st[best] : NULL;
}

static void heads_close(struct heads *h)
{
	for (int s = 0; s < JOB_DB_SHARDS; s++)
		sqlite3_finalize(h->st[s]);
}

int job_db_task_peek(struct job_db *db, int kind, int n, int *kinds, uint64_t *targets, int *got, struct st_msg *err)
{
	struct heads h;
	sqlite3_stmt *st;
	char where[400];
	int rc;

	snprintf(where, sizeof(where), "state = 0 AND (?1 < 0 OR kind = ?1)%s%s%s",
		 db->elsewhere[0] ? " AND node NOT IN (" : "", db->elsewhere, db->elsewhere[0] ? ")" : "");
	*got = 0;
	rc = heads_open(db, &h, "kind, target", where, kind, n, err);
	while (!rc && *got < n && (st = heads_next(&h, &rc, err))) {
		kinds[*got] = sqlite3_column_int(st, 0);
		targets[*got] = (uint64_t)sqlite3_column_int64(st, 1);
		(*got)++;
	}
	heads_close(&h);
	return rc;
}

int job_db_tasks_pending(struct job_db *db, int kind, int64_t *n, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql, "SELECT coalesce(sum(pending), 0) FROM queue_sums WHERE ?1 < 0 OR kind = ?1", &st,
				err);

	*n = 0;
	if (rc)
		return rc;
	sqlite3_bind_int(st, 1, kind);
	if (sqlite3_step(st) == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

int job_db_tasks_waiting(struct job_db *db, int *yes, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql, "SELECT EXISTS (SELECT 1 FROM queue_sums WHERE pending > 0)", &st, err);

	*yes = 0;
	if (rc)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW)
		*yes = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

int job_db_task_claim(struct job_db *db, int kind, const int *kind_ranks, struct job_task *t, int *got,
		      struct st_msg *err)
{
	return job_db_task_claim_many(db, kind, kind_ranks, 1, t, got, err);
}

/* The kinds at their concurrency limit, as a list for NOT IN (always starts "-1"). */
static void kinds_at_limit(struct job_db *db, const int *kind_ranks, char *skip, size_t len)
{
	snprintf(skip, len, "-1");
	for (int k = 0; kind_ranks && k < JT_NKINDS; k++) {
		sqlite3_stmt *c;
		if (kind_ranks[k] <= 0 ||
		    sqlite3_prepare_v2(db->sql, "SELECT count(*) FROM tasks WHERE state = 1 AND kind = ?", -1, &c, NULL) != SQLITE_OK)
			continue;
		sqlite3_bind_int(c, 1, k);
		if (sqlite3_step(c) == SQLITE_ROW && sqlite3_column_int(c, 0) >= kind_ranks[k]) {
			size_t l = strlen(skip);
			snprintf(skip + l, len - l, ",%d", k);
		}
		sqlite3_finalize(c);
	}
}

/* Fill t from a claim row (columns id, scan, kind, target, version, priority, attempts, bytes, arg, node). */
static int claim_row(sqlite3_stmt *st, struct job_task *t, struct st_msg *err)
{
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
		if (!t->arg)
			return st_fail(err, -ENOMEM, "out of memory");
		memcpy(t->arg, sqlite3_column_blob(st, 8), t->arglen);
	}
	t->node = (uint32_t)sqlite3_column_int64(st, 9);
	return 0;
}

int job_db_task_claim_many(struct job_db *db, int kind, const int *kind_ranks, int max, struct job_task *t0, int *got,
			   struct st_msg *err)
{
	struct heads h;
	sqlite3_stmt *st;
	char skip[128], where[600];
	int rc = st_sql_begin(db->sql, err);

	*got = 0;
	if (rc)
		return rc;
	kinds_at_limit(db, kind_ranks, skip, sizeof(skip));
	snprintf(where, sizeof(where), "state = 0 AND (?1 < 0 OR kind = ?1) AND kind NOT IN (%s)%s%s%s", skip,
		 db->elsewhere[0] ? " AND node NOT IN (" : "", db->elsewhere, db->elsewhere[0] ? ")" : "");
	rc = heads_open(db, &h, "id, scan, kind, target, version, priority, attempts, bytes, arg, node", where, kind,
			max < 1 ? 1 : max, err);
	while (!rc && *got < max && (st = heads_next(&h, &rc, err))) {
		rc = claim_row(st, &t0[*got], err);
		(*got)++;
	}
	heads_close(&h);
	if (rc)
		goto fail;
	for (int i = 0; i < *got && !rc; i++) {
		char q[240];
		snprintf(q, sizeof(q),
			 "UPDATE %s.tasks SET state = 1, attempts = attempts + 1, runner = %lld, updated = %f WHERE id = %lld",
			 job_db_shard_schema(job_db_id_shard(t0[i].id)), (long long)db->runner, job_db_now(),
			 (long long)t0[i].id);
		rc = st_sql_exec(db->sql, q, err);
		if (!rc)
			rc = sums_move(db, t0[i].id, t0[i].kind, t0[i].priority, -1, 1, 0, err);
	}
	if (!rc)
		rc = st_sql_commit(db->sql, err);
	if (!rc)
		return 0;
fail: /* nothing claimed: the caller has nothing to release */
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

/* --- outcomes ------------------------------------------------------------ */

/* A task's kind, priority, state and bytes: 0, or ST_ENOTFOUND. */
static int task_get(struct job_db *db, int64_t id, int *kind, int *priority, int *state, int64_t *bytes,
		    struct st_msg *err)
{
	sqlite3_stmt *st;
	char q[160];
	int src, rc;

	snprintf(q, sizeof(q), "SELECT kind, priority, state, bytes FROM %s.tasks WHERE id = ?",
		 job_db_shard_schema(job_db_id_shard(id)));
	rc = st_sql_prepare(db->sql, q, &st, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		*kind = sqlite3_column_int(st, 0);
		*priority = sqlite3_column_int(st, 1);
		*state = sqlite3_column_int(st, 2);
		*bytes = sqlite3_column_int64(st, 3);
	} else {
		rc = src == SQLITE_DONE ? ST_ENOTFOUND : st_sql_fail(db->sql, src, "curator.db tasks", err);
	}
	sqlite3_finalize(st);
	return rc;
}

static int live(int state)
{
	return state == JS_PENDING || state == JS_RUNNING;
}

/* The row's new state and bytes, and the sums (in the open transaction). */
static int finish_in_tx(struct job_db *db, int64_t id, enum job_task_state state, int64_t bytes, const char *error,
			struct st_msg *err)
{
	sqlite3_stmt *st;
	int kind, prio, old, rc = 0;
	int64_t old_bytes;
	int found = task_get(db, id, &kind, &prio, &old, &old_bytes, err);

	if (found && found != ST_ENOTFOUND)
		return found;
	char q[160];

	snprintf(q, sizeof(q), "UPDATE %s.tasks SET state = ?, bytes = ?, error = ?, updated = ? WHERE id = ?",
		 job_db_shard_schema(job_db_id_shard(id)));
	rc = st_sql_prepare(db->sql, q, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int(st, 1, state);
	sqlite3_bind_int64(st, 2, bytes);
	if (error)
		sqlite3_bind_text(st, 3, error, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(st, 4, job_db_now());
	sqlite3_bind_int64(st, 5, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = st_sql_fail(db->sql, sqlite3_errcode(db->sql), "curator.db tasks", err);
	sqlite3_finalize(st);
	if (!rc && !found && live(old))
		rc = sums_move(db, id, kind, prio, -(old == JS_PENDING), -(old == JS_RUNNING), -old_bytes, err);
	if (!rc && !found && live((int)state))
		rc = sums_move(db, id, kind, prio, state == JS_PENDING, state == JS_RUNNING, bytes, err);
	if (!rc && !found && state == JS_DONE && live(old) && job_db_frees(kind))
		rc = freeing_done(db, bytes, err);
	return rc;
}

int job_db_task_finish(struct job_db *db, int64_t id, enum job_task_state state, int64_t bytes, const char *error,
		       struct st_msg *err)
{
	int own = sqlite3_get_autocommit(db->sql), rc = 0; /* not inside job_db_tasks_finish_begin: a transaction of its own */

	if (own)
		rc = st_sql_begin(db->sql, err);
	if (!rc)
		rc = finish_in_tx(db, id, state, bytes, error, err);
	if (!own)
		return rc;
	if (rc) {
		st_sql_rollback(db->sql);
		return rc;
	}
	return st_sql_commit(db->sql, err);
}

void job_db_set_runner(struct job_db *db, int64_t lease)
{
	db->runner = lease;
}

int job_db_tasks_requeue_running(struct job_db *db, struct st_config *cfg, struct st_msg *err)
{
	sqlite3_stmt *st;
	int64_t ids[256];
	int n = 0, rc = st_sql_prepare(db->sql, "SELECT id, runner FROM tasks WHERE state = 1", &st, err);

	if (rc)
		return rc;
	while (!rc && sqlite3_step(st) == SQLITE_ROW && n < 256) {
		int64_t lease = sqlite3_column_int64(st, 1);
		int live = 0;
		/* its runner's lease: live or being fenced keeps it; dead or gone frees it (never by pid) */
		rc = lease > 0 ? st_lease_is_held(cfg, lease, &live, err) : 0;
		if (!rc && !live)
			ids[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (rc)
		return rc;
	if (!n)
		return 0;
	rc = st_sql_begin(db->sql, err);
	for (int i = 0; i < n && !rc; i++) {
		int kind, prio, state;
		int64_t bytes;
		char sql[128];
		rc = task_get(db, ids[i], &kind, &prio, &state, &bytes, err);
		if (rc == ST_ENOTFOUND || (!rc && state != JS_RUNNING)) {
			rc = 0; /* finished in the meantime */
			continue;
		}
		snprintf(sql, sizeof(sql), "UPDATE %s.tasks SET state = 0 WHERE id = %lld AND state = 1",
			 job_db_shard_schema(job_db_id_shard(ids[i])), (long long)ids[i]);
		if (!rc)
			rc = st_sql_exec(db->sql, sql, err);
		if (!rc)
			rc = sums_move(db, ids[i], kind, prio, 1, -1, 0, err);
	}
	if (rc) {
		st_sql_rollback(db->sql);
		return rc;
	}
	return st_sql_commit(db->sql, err);
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

/* --- budgets of a task run ----------------------------------------------- */

#define BUDGET_TABLE                                                                                       \
	"CREATE TABLE IF NOT EXISTS budgets(run INTEGER NOT NULL, name TEXT NOT NULL, bytes INTEGER NOT NULL," \
	"  PRIMARY KEY (run, name)) WITHOUT ROWID"

int job_db_budget_start(struct job_db *db, int64_t *run, struct st_msg *err)
{
	sqlite3_stmt *st;
	int src, rc = st_sql_begin(db->sql, err);

	*run = 0;
	if (!rc)
		rc = st_sql_exec(db->sql, BUDGET_TABLE, err);
	if (!rc)
		rc = st_sql_prepare(db->sql, "SELECT coalesce(max(run), 0) + 1 FROM budgets", &st, err);
	if (!rc) {
		src = sqlite3_step(st);
		if (src == SQLITE_ROW)
			*run = sqlite3_column_int64(st, 0);
		else
			rc = st_sql_fail(db->sql, src, "curator.db budgets", err);
		sqlite3_finalize(st);
	}
	if (!rc)
		rc = st_sql_prepare(db->sql, "INSERT INTO budgets(run, name, bytes) VALUES (?1, '', 0)", &st, err);
	if (!rc) { /* the run's marker: the next run's number is above it */
		sqlite3_bind_int64(st, 1, *run);
		src = sqlite3_step(st);
		if (src != SQLITE_DONE)
			rc = st_sql_fail(db->sql, src, "curator.db budgets", err);
		sqlite3_finalize(st);
	}
	if (!rc)
		rc = st_sql_prepare(db->sql, "DELETE FROM budgets WHERE run <= ?1 - 16", &st, err);
	if (!rc) {
		sqlite3_bind_int64(st, 1, *run);
		src = sqlite3_step(st);
		if (src != SQLITE_DONE)
			rc = st_sql_fail(db->sql, src, "curator.db budgets", err);
		sqlite3_finalize(st);
	}
	if (rc) {
		st_sql_rollback(db->sql);
		return rc;
	}
	return st_sql_commit(db->sql, err);
}

int job_db_budget_take(struct job_db *db, int64_t run, const char *name, int64_t bytes, int64_t *total,
		       struct st_msg *err)
{
	sqlite3_stmt *st;
	int src, rc = st_sql_prepare(db->sql,
				     "INSERT INTO budgets(run, name, bytes) VALUES (?1, ?2, ?3) ON CONFLICT (run, name)"
				     " DO UPDATE SET bytes = bytes + excluded.bytes RETURNING bytes",
				     &st, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, bytes);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		*total = sqlite3_column_int64(st, 0);
	else
		rc = st_sql_fail(db->sql, src, "curator.db budgets", err);
	sqlite3_finalize(st);
	return rc;
}
