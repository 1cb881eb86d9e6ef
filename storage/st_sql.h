/*
 * st_sql: private SQLite helpers shared by st_config and st_meta (not part
 * of the storage API). Every database is opened in WAL mode with
 * synchronous=FULL (a commit is durable when it returns, so the bottom-up
 * order of commits across shard files survives power loss) and a busy
 * timeout, so several processes can share a cluster.
 */
#ifndef ST_SQL_H
#define ST_SQL_H

#include <sqlite3.h>
#include <stdint.h>

#include "storage/st_util.h"

/* Open (create when `create`) path; apply pragmas. 0, -errno or ST_* with err. */
int st_sql_open(const char *path, int create, sqlite3 **out, struct st_msg *err);

/* Run SQL without results. 0 or ST_EIO-like code with err filled. */
int st_sql_exec(sqlite3 *db, const char *sql, struct st_msg *err);

/* Prepare or fail with err. */
int st_sql_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, struct st_msg *err);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK (rollback never fails visibly). */
int st_sql_begin(sqlite3 *db, struct st_msg *err);
int st_sql_commit(sqlite3 *db, struct st_msg *err);
void st_sql_rollback(sqlite3 *db);

/* Map an SQLite result code to a storage rc, filling err with what+message. */
int st_sql_fail(sqlite3 *db, int src, const char *what, struct st_msg *err);

#endif
