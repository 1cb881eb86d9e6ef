/*
 * job_db_shard: the task queue's shards (job_db_int.h): their files,
 * schema, the views that read them as one, and a writer's own handle on
 * one of them (job_db_add.c).
 *
 * DESIGN. Shard 0 is curator.db's own tasks and queue_sums, so a handle
 * with nothing queued in the other shards reads as it always did. The
 * other shards are files beside it, attached to every handle: one
 * statement can read them all, a transaction of the handle (BEGIN
 * IMMEDIATE) holds all their write locks, as it held curator.db's alone.
 * What the shards change is queueing in bulk: job_db_add.c opens one
 * handle per shard file and inserts each shard's tasks on a thread of its
 * own. A commit over several files is atomic in each file, not across them
 * (SQLite's WAL); nothing here needs more: a task and its sums are always
 * in one shard, and the statements that touch two files (a finished task's
 * freed bytes in curator.db) were already best-effort figures.
 *
 * The views: `tasks` and `queue_sums` in the TEMP schema, which SQLite
 * searches before main, so an unqualified read sees all the shards. They
 * are read-only (a write names the shard's schema), and an ORDER BY over
 * the tasks view sorts all the rows: the claims read each shard by its
 * index and merge (job_db_queue.c).
 */
#include "jobs/job_db_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/st_sql.h"

/* Every column of tasks, in the order of curator.db's table (node was added last, by version 3). */
#define TASK_COLUMNS                                                                                          \
	"id, scan, kind, target, version, priority, state, attempts, bytes, arg, error, runner, created, updated," \
	" node"

_Static_assert(JOB_DB_SHARDS >= 1 && JOB_DB_SHARDS <= 8, "shard schemas q1..q7 (SQLite attaches up to 10)");

const char *job_db_shard_schema(int s)
{
	static const char *const name[] = { "main", "q1", "q2", "q3", "q4", "q5", "q6", "q7" };
	return s >= 0 && s < JOB_DB_SHARDS ? name[s] : "main";
}

static void shard_path(const char *dir, int s, char *path, size_t len)
{
	if (s == 0)
		snprintf(path, len, "%s/curator.db", dir);
	else
		snprintf(path, len, "%s/curator-q%d.db", dir, s);
}

static void sql_shard(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	sqlite3_result_int(ctx, job_db_shard(sqlite3_value_int(argv[0]), (uint64_t)sqlite3_value_int64(argv[1])));
}

/* Run a statement that may be refused while another process switches the same new file (20 ms naps, 10 s). */
static int exec_retry(sqlite3 *sql, const char *q, struct st_msg *err)
{
	int rc = 0;

	for (int i = 0; i < 500; i++) {
		rc = st_sql_exec(sql, q, err);
		if (rc != ST_EBUSY)
			break;
		usleep(20000);
	}
	return rc;
}

/* Attach the shard files; set (a handle's) their page size, journal and sync. */
static int attach(struct job_db *db, const char *dir, int shared, int set, struct st_msg *err)
{
	int rc = sqlite3_create_function_v2(db->sql, "curator_shard", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
					    sql_shard, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return st_sql_fail(db->sql, rc, "curator.db: curator_shard()", err);
	for (int s = 1; s < JOB_DB_SHARDS; s++) {
		char path[4200], q[256];
		sqlite3_stmt *st;
		const char *n = job_db_shard_schema(s);
		int src;
		shard_path(dir, s, path, sizeof(path));
		snprintf(q, sizeof(q), "ATTACH DATABASE ?1 AS %s", n);
		if ((rc = st_sql_prepare(db->sql, q, &st, err)))
			return rc;
		sqlite3_bind_text(st, 1, path, -1, SQLITE_TRANSIENT);
		src = sqlite3_step(st);
		sqlite3_finalize(st);
		if (src != SQLITE_DONE)
			return st_sql_fail(db->sql, src, path, err);
		if (!set)
			continue;
		/* the page size before the journal mode, which writes a new file's header (a no-op on a file with pages) */
		snprintf(q, sizeof(q), "PRAGMA %s.page_size=16384", n);
		if ((rc = st_sql_exec(db->sql, q, err)))
			return rc;
		snprintf(q, sizeof(q), shared ? "PRAGMA %s.journal_mode=DELETE; PRAGMA %s.synchronous=FULL;"
					      : "PRAGMA %s.journal_mode=WAL; PRAGMA %s.synchronous=NORMAL;",
			 n, n);
		if ((rc = exec_retry(db->sql, q, err)))
			return st_fail(err, rc, "%s: %s", path, err->text);
	}
	return 0;
}

int job_db_shards_attach(struct job_db *db, const char *dir, int shared, struct st_msg *err)
{
	return attach(db, dir, shared, 1, err);
}

/*
 * A shard's tables and indexes, where missing (in the caller's
 * transaction). Its ids count up from its base: AUTOINCREMENT, its
 * sequence started there (SQLite's own ids, the largest plus one, are a
 * quarter cheaper to insert than ids the statement gives).
 */
static int shard_tables(struct job_db *db, int s, struct st_msg *err)
{
	const char *n = job_db_shard_schema(s);
	char q[1800];

	snprintf(q, sizeof(q),
		 "CREATE TABLE IF NOT EXISTS %s.tasks(id INTEGER PRIMARY KEY AUTOINCREMENT, scan INTEGER NOT NULL, kind INTEGER NOT NULL,"
		 "  target INTEGER NOT NULL, version INTEGER NOT NULL, priority INTEGER NOT NULL,"
		 "  state INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,"
		 "  arg BLOB, error TEXT, runner INTEGER, created REAL NOT NULL, updated REAL,"
		 "  node INTEGER NOT NULL DEFAULT 0);"
		 "CREATE INDEX IF NOT EXISTS %s.tasks_queue ON tasks(state, priority DESC, id);"
		 "CREATE UNIQUE INDEX IF NOT EXISTS %s.tasks_live ON tasks(kind, target) WHERE state IN (0, 1);"
		 "CREATE TABLE IF NOT EXISTS %s.queue_sums(kind INTEGER NOT NULL, priority INTEGER NOT NULL,"
		 "  pending INTEGER NOT NULL DEFAULT 0, running INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,"
		 "  PRIMARY KEY (kind, priority)) WITHOUT ROWID;"
		 "INSERT INTO %s.sqlite_sequence(name, seq) SELECT 'tasks', %lld"
		 " WHERE NOT EXISTS (SELECT 1 FROM %s.sqlite_sequence WHERE name = 'tasks');",
		 n, n, n, n, n, (long long)JOB_DB_SHARD_BASE(s), n);
	return st_sql_exec(db->sql, q, err);
}

int job_db_shards_prepare(struct job_db *db, int from_version, struct st_msg *err)
{
	int rc = 0;

	for (int s = 1; s < JOB_DB_SHARDS && !rc; s++) {
		const char *n = job_db_shard_schema(s);
		char q[1600];
		rc = shard_tables(db, s, err);
		if (rc || from_version >= 4)
			continue;
		/*
		 * Emptied first: a new curator.db owns nothing of a shard file left
		 * from an old one, and a move made again (its first try reached this
		 * file but not curator.db's) starts over from curator.db's rows.
		 */
		snprintf(q, sizeof(q), "DELETE FROM %s.tasks; DELETE FROM %s.queue_sums;", n, n);
		rc = st_sql_exec(db->sql, q, err);
		if (rc)
			continue;
		snprintf(q, sizeof(q),
			 "INSERT INTO %s.tasks(" TASK_COLUMNS ") SELECT id + %lld, scan, kind, target, version,"
			 " priority, state, attempts, bytes, arg, error, runner, created, updated, node FROM main.tasks"
			 " WHERE state IN (0, 1) AND curator_shard(kind, target) = %d ORDER BY id;"
			 "INSERT INTO %s.queue_sums SELECT kind, priority, sum(state = 0), sum(state = 1), sum(bytes)"
			 " FROM %s.tasks WHERE state IN (0, 1) GROUP BY kind, priority;",
			 n, (long long)JOB_DB_SHARD_BASE(s), s, n, n);
		rc = st_sql_exec(db->sql, q, err);
	}
	return rc;
}

int job_db_shards_schema(struct job_db *db, int from_version, struct st_msg *err)
{
	int rc = 0;

	if (from_version < 1 || from_version >= 4)
		return 0;
	for (int s = 1; s < JOB_DB_SHARDS && !rc; s++) { /* only the rows the shard holds a copy of */
		char q[600];
		snprintf(q, sizeof(q),
			 "DELETE FROM main.tasks WHERE state IN (0, 1) AND curator_shard(kind, target) = %d"
			 " AND id + %lld IN (SELECT id FROM %s.tasks)",
			 s, (long long)JOB_DB_SHARD_BASE(s), job_db_shard_schema(s));
		rc = st_sql_exec(db->sql, q, err);
	}
	if (!rc)
		rc = st_sql_exec(db->sql,
				 "DELETE FROM main.queue_sums;"
				 "INSERT INTO main.queue_sums SELECT kind, priority, sum(state = 0), sum(state = 1), sum(bytes)"
				 " FROM main.tasks WHERE state IN (0, 1) GROUP BY kind, priority;",
				 err);
	return rc;
}

/*
 * The pair id: one random number in a queue_pair table of curator.db and of
 * every shard file, set when they first meet. A shard file whose id is not
 * curator.db's belongs to another curator.db (a file restored from another
 * backup, or copied from another cluster): its tasks were queued against
 * another queue and are dropped (the next scan queues what is still to do).
 * *have 0: no table or no row; a failure reads as none.
 */
static void pair_read(sqlite3 *sql, int s, int *have, int64_t *id)
{
	sqlite3_stmt *st;
	char q[120];

	*have = 0;
	*id = 0;
	snprintf(q, sizeof(q), "SELECT id FROM %s.queue_pair ORDER BY rowid LIMIT 1", job_db_shard_schema(s));
	if (sqlite3_prepare_v2(sql, q, -1, &st, NULL) != SQLITE_OK)
		return;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
		*have = 1;
		*id = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
}

int job_db_shards_paired(sqlite3 *sql)
{
	int have0, have;
	int64_t id0, id;

	pair_read(sql, 0, &have0, &id0);
	for (int s = 1; s < JOB_DB_SHARDS && have0; s++) {
		pair_read(sql, s, &have, &id);
		if (!have || id != id0)
			return 0;
	}
	return have0;
}

int job_db_shards_pair(struct job_db *db, int from_version, struct st_msg *err)
{
	int have0, have, legacy, rc = 0;
	int64_t id0, id;
	char q[400];

	for (int s = 0; s < JOB_DB_SHARDS && !rc; s++) {
		snprintf(q, sizeof(q), "CREATE TABLE IF NOT EXISTS %s.queue_pair(id INTEGER NOT NULL)",
			 job_db_shard_schema(s));
		rc = st_sql_exec(db->sql, q, err);
	}
	if (rc)
		return rc;
	pair_read(db->sql, 0, &have0, &id0);
	/* curator.db without an id at version 4: a pair made before the ids, whose shards are its own */
	legacy = !have0 && from_version >= 4;
	if (!have0) {
		rc = st_sql_exec(db->sql, "DELETE FROM main.queue_pair; INSERT INTO main.queue_pair(id) VALUES (random())",
				 err);
		pair_read(db->sql, 0, &have0, &id0);
		if (!rc && !have0)
			rc = st_fail(err, ST_ECORRUPT, "curator.db: queue_pair: no id after setting it");
	}
	for (int s = 1; s < JOB_DB_SHARDS && !rc; s++) {
		const char *n = job_db_shard_schema(s);
		pair_read(db->sql, s, &have, &id);
		if (have && id == id0)
			continue;
		/*
		 * Below version 4 the shards were just filled from curator.db
		 * (job_db_shards_prepare); a legacy pair keeps its shards' tasks.
		 * Any other shard file is another curator.db's.
		 */
		if (from_version >= 4 && !(legacy && !have)) {
			snprintf(q, sizeof(q), "DELETE FROM %s.tasks; DELETE FROM %s.queue_sums;", n, n);
			rc = st_sql_exec(db->sql, q, err);
		}
		if (!rc) {
			snprintf(q, sizeof(q), "DELETE FROM %s.queue_pair; INSERT INTO %s.queue_pair(id) VALUES (%lld)", n,
				 n, (long long)id0);
			rc = st_sql_exec(db->sql, q, err);
		}
	}
	return rc;
}

int job_db_shard_present(sqlite3 *sql, int s)
{
	sqlite3_stmt *st;
	char q[160];
	int have = 0;

	snprintf(q, sizeof(q), "SELECT count(*) FROM %s.sqlite_schema WHERE name IN ('tasks', 'queue_sums')",
		 job_db_shard_schema(s));
	if (sqlite3_prepare_v2(sql, q, -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		have = sqlite3_column_int(st, 0) == 2;
	sqlite3_finalize(st);
	return have;
}

int job_db_shards_views(struct job_db *db, struct st_msg *err)
{
	char q[4096];
	size_t off;
	int have[JOB_DB_SHARDS];

	for (int s = 0; s < JOB_DB_SHARDS; s++)
		have[s] = job_db_shard_present(db->sql, s);
	if (!have[0])
		return 0; /* a reader's look at a curator.db not made yet: nothing to show */
	off = (size_t)snprintf(q, sizeof(q), "CREATE TEMP VIEW IF NOT EXISTS tasks AS ");
	for (int s = 0; s < JOB_DB_SHARDS; s++)
		if (have[s])
			off += (size_t)snprintf(q + off, sizeof(q) - off, "%sSELECT " TASK_COLUMNS " FROM %s.tasks",
						s ? " UNION ALL " : "", job_db_shard_schema(s));
	off += (size_t)snprintf(q + off, sizeof(q) - off,
				"; CREATE TEMP VIEW IF NOT EXISTS queue_sums AS SELECT kind, priority, sum(pending) AS pending,"
				" sum(running) AS running, sum(bytes) AS bytes FROM (");
	for (int s = 0; s < JOB_DB_SHARDS; s++)
		if (have[s])
			off += (size_t)snprintf(q + off, sizeof(q) - off,
						"%sSELECT kind, priority, pending, running, bytes FROM %s.queue_sums",
						s ? " UNION ALL " : "", job_db_shard_schema(s));
	snprintf(q + off, sizeof(q) - off, ") GROUP BY kind, priority;");
	return st_sql_exec(db->sql, q, err);
}

int job_db_shard_open(const struct job_db *db, int shard, struct job_db *out, struct st_msg *err)
{
	char path[4200];
	int rc;

	memset(out, 0, sizeof(*out));
	shard_path(db->dir, shard, path, sizeof(path));
	rc = st_sql_open(path, db->shared ? ST_SQL_SHARED : 0, &out->sql, err);
	if (rc)
		return rc;
	sqlite3_busy_handler(out->sql, job_db_busy_nap, NULL);
	out->shared = db->shared;
	rc = db->shared ? 0 : st_sql_exec(out->sql, "PRAGMA synchronous=NORMAL;", err);
	if (!rc && job_db_batch_register(out) != SQLITE_OK)
		rc = st_sql_fail(out->sql, sqlite3_errcode(out->sql), "curator.db: the job_batch table", err);
	if (rc) {
		sqlite3_close(out->sql);
		out->sql = NULL;
	}
	return rc;
}

void job_db_shard_close(struct job_db *w)
{
	sqlite3_close(w->sql);
	w->sql = NULL;
}

int job_db_sql_attach_queue(struct sqlite3 *sql, const char *dir, struct st_msg *err)
{
	struct job_db *db = calloc(1, sizeof(*db));
	int rc;

	if (!db)
		return st_fail(err, -ENOMEM, "out of memory");
	db->sql = sql;
	rc = attach(db, dir, 0, 0, err);
	if (!rc)
		rc = job_db_shards_views(db, err);
	free(db);
	return rc;
}
