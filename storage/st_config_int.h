/*
 * st_config_int: what the files of config.db's module share (st_config.c:
 * the handle, the schema, settings; st_config_tables.c: nodes, disks,
 * containers, vdisks; st_config_seq.c: IDs, the write sequence, in-flight
 * operations, the read path's records). Not part of the storage API.
 *
 * Thread rules: those of st_config.h (one thread per handle).
 */
#ifndef ST_CONFIG_INT_H
#define ST_CONFIG_INT_H

#include <sqlite3.h>
#include <stdint.h>

#include "storage/st_config.h"
#include "storage/st_util.h"

struct st_config {
	sqlite3 *db;
	char dir[ST_PATH_MAX];
	int shards;
	int shared; /* shared-storage mode: rollback journal, not WAL (st_sql.h) */
};

/*
 * Run one statement with integer/text parameters given as a format: 'i'
 * int64_t, 't' const char * (copied), one variadic argument per letter.
 * [out] changes (may be NULL): the rows the statement changed.
 * Returns 0, ST_EEXIST for a constraint violation (err "already exists",
 * for the caller to say what exists), or the SQLite error as st_sql_fail
 * maps it. Joins the caller's transaction if one is open.
 */
int st_config_run(struct st_config *cfg, const char *sql, const char *fmt, int *changes, struct st_msg *err, ...);

/*
 * Step sql once per row i < n, each bound by bind(q, i, arg), all in one
 * IMMEDIATE transaction: every row or none. 0 or the SQLite error.
 */
int st_config_rows_tx(struct st_config *cfg, const char *sql, int n, void (*bind)(sqlite3_stmt *, int, const void *),
		      const void *arg, struct st_msg *err);

#endif
