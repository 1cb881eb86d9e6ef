/*
 * job_db_batch: the caller's task array as a table, so that queueing a
 * batch of tasks is one INSERT ... SELECT (job_db_queue.c) instead of one
 * statement per task.
 *
 * An eponymous-only virtual table `job_batch(scan, kind, target, version,
 * priority, bytes, arg, node)` is registered on each curator.db connection
 * (job_db_batch_register). Its rows are db->batch: an array of struct
 * job_db_row that job_db_queue.c gathers from the caller's tasks in
 * queueing order (by kind and target, so the insert walks tasks_live in
 * order), read in sequence. The array and the arguments it points to are
 * the caller's and only read, during the statement that reads the table; a
 * blob argument is handed to SQLite as SQLITE_STATIC, valid for that long.
 *
 * Why: a prepared INSERT stepped once per task spends most of its time in
 * the statement's own machinery (bind, step, reset, the VDBE's start and
 * end), several times the cost of the three b-tree inserts of a row; one
 * statement over a virtual table runs the insert loop once (the
 * measurements are in docs/BENCHMARKS.md, tools/bench_queue.sh).
 *
 * Thread rules: those of the connection (one thread at a time per
 * job_db); db->batch is set by the caller right before it steps the
 * statement and cleared after.
 */
#include "jobs/job_db_int.h"

#include <stdlib.h>
#include <string.h>

enum { BC_SCAN, BC_KIND, BC_TARGET, BC_VERSION, BC_PRIORITY, BC_BYTES, BC_ARG, BC_NODE };

struct batch_vtab {
	sqlite3_vtab base;
	struct job_db_batch *b;
};

struct batch_cursor {
	sqlite3_vtab_cursor base;
	struct job_db_batch *b;
	int i; /* index into b->rows, up to b->n */
};

static int b_connect(sqlite3 *sql, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **errmsg)
{
	struct batch_vtab *v;
	int rc;

	(void)argc;
	(void)argv;
	(void)errmsg;
	rc = sqlite3_declare_vtab(sql, "CREATE TABLE x(scan, kind, target, version, priority, bytes, arg, node)");
	if (rc != SQLITE_OK)
		return rc;
	v = sqlite3_malloc(sizeof(*v));
	if (!v)
		return SQLITE_NOMEM;
	memset(v, 0, sizeof(*v));
	v->b = aux;
	*out = &v->base;
	return SQLITE_OK;
}

static int b_disconnect(sqlite3_vtab *v)
{
	sqlite3_free(v);
	return SQLITE_OK;
}

static int b_best_index(sqlite3_vtab *v, sqlite3_index_info *info)
{
	struct batch_vtab *bv = (struct batch_vtab *)v;
	int n = bv->b->n;

	info->estimatedCost = n > 0 ? (double)n : 1.0;
	info->estimatedRows = n > 0 ? n : 1;
	return SQLITE_OK;
}

static int b_open(sqlite3_vtab *v, sqlite3_vtab_cursor **out)
{
	struct batch_cursor *c = sqlite3_malloc(sizeof(*c));

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	c->b = ((struct batch_vtab *)v)->b;
	*out = &c->base;
	return SQLITE_OK;
}

static int b_close(sqlite3_vtab_cursor *c)
{
	sqlite3_free(c);
	return SQLITE_OK;
}

static int b_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc, sqlite3_value **argv)
{
	struct batch_cursor *c = (struct batch_cursor *)cur;

	(void)idx;
	(void)idxstr;
	(void)argc;
	(void)argv;
	c->i = 0;
	return SQLITE_OK;
}

static int b_next(sqlite3_vtab_cursor *cur)
{
	struct batch_cursor *c = (struct batch_cursor *)cur;

	c->i++;
	return SQLITE_OK;
}

static int b_eof(sqlite3_vtab_cursor *cur)
{
	struct batch_cursor *c = (struct batch_cursor *)cur;

	return !c->b->rows || c->i >= c->b->n;
}

static int b_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	struct batch_cursor *c = (struct batch_cursor *)cur;
	const struct job_db_row *x = &c->b->rows[c->i];

	switch (col) {
	case BC_SCAN: sqlite3_result_int64(ctx, x->scan); break;
	case BC_KIND: sqlite3_result_int(ctx, x->kind); break;
	case BC_TARGET: sqlite3_result_int64(ctx, (int64_t)x->target); break;
	case BC_VERSION: sqlite3_result_int64(ctx, (int64_t)x->version); break;
	case BC_PRIORITY: sqlite3_result_int(ctx, x->priority); break;
	case BC_BYTES: sqlite3_result_int64(ctx, x->bytes); break;
	case BC_ARG:
		if (x->arglen)
			sqlite3_result_blob(ctx, x->arg, (int)x->arglen, SQLITE_STATIC);
		else
			sqlite3_result_null(ctx);
		break;
	case BC_NODE: sqlite3_result_int64(ctx, x->node); break;
	default: sqlite3_result_null(ctx); break;
	}
	return SQLITE_OK;
}

static int b_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = ((struct batch_cursor *)cur)->i;
	return SQLITE_OK;
}

static const sqlite3_module batch_module = {
	.iVersion = 0,
	.xCreate = NULL, /* eponymous-only: `FROM job_batch` needs no CREATE VIRTUAL TABLE */
	.xConnect = b_connect,
	.xBestIndex = b_best_index,
	.xDisconnect = b_disconnect,
	.xDestroy = b_disconnect,
	.xOpen = b_open,
	.xClose = b_close,
	.xFilter = b_filter,
	.xNext = b_next,
	.xEof = b_eof,
	.xColumn = b_column,
	.xRowid = b_rowid,
};

int job_db_batch_register(struct job_db *db)
{
	return sqlite3_create_module_v2(db->sql, "job_batch", &batch_module, &db->batch, NULL);
}
