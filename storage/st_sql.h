/*
 * st_sql: how Curator opens and drives an SQLite database: one set of
 * connection settings, transactions and error mapping for every database
 * file of a cluster: config.db and the meta-<n>.db shards (storage/), and
 * curator.db (jobs/job_db*).
 *
 * Decision (issue 15): this is a public storage header, no longer "private
 * to st_config and st_meta". jobs/job_db needs exactly the same connection
 * set-up for curator.db (WAL, busy timeout, the retry while another process
 * switches a new file to WAL, IMMEDIATE transactions, SQLite codes mapped
 * to storage codes), and a second copy of it would drift. Its users are
 * storage/st_config*.c, storage/st_meta.c and jobs/job_db* (which owns
 * every statement on curator.db); nothing else should need it. It exposes
 * the sqlite3 types on purpose: it is the layer under code that writes SQL.
 *
 * Every database is opened in WAL mode with synchronous=FULL (a commit is
 * durable when it returns, so the bottom-up order of commits across shard
 * files survives power loss) and a busy timeout, so several processes can
 * share a cluster. A cluster on shared storage (`init --shared-fs`, or a
 * network file system detected by st_sql_netfs) runs every file in the
 * rollback journal (journal_mode=DELETE) with SQLite's POSIX advisory
 * locks instead: WAL needs memory shared between the processes of one
 * host, which hosts sharing an NFS, CIFS or Ceph mount do not have. The
 * choice is recorded in config.db itself (its header: a WAL file or not)
 * and every process that opens a file of the cluster applies it
 * (st_sql_cluster_shared). NEEDSWORK: in a rollback journal a reader's
 * open statement (a scan walking a shard) blocks that shard's writers up
 * to the busy timeout; scans on shared storage should read in key ranges,
 * each its own short read transaction. A caller may relax synchronous after st_sql_open for a
 * file whose loss only costs redone work (job_db does, for curator.db).
 *
 * Order of calls: st_sql_open(); then any of st_sql_exec() /
 * st_sql_prepare() (plus the sqlite3_* calls on the statement), grouped by
 * st_sql_begin() ... st_sql_commit() or st_sql_rollback(); then
 * sqlite3_finalize() every statement and sqlite3_close() the connection.
 *
 * Errors: every function that can fail returns 0 or a negative storage
 * code, mapped from the SQLite result code by st_sql_fail():
 *
 *   SQLITE_CORRUPT, SQLITE_NOTADB   ST_ECORRUPT
 *   SQLITE_FULL                     -ENOSPC
 *   SQLITE_BUSY, SQLITE_LOCKED      ST_EBUSY (after the busy timeout)
 *   SQLITE_CANTOPEN                 -ENOENT
 *   SQLITE_READONLY                 -EROFS
 *   anything else                   -EIO
 *
 * and fills the optional err with "<what>: <SQLite's message>" (never with
 * bound values). A constraint violation comes back as -EIO here: callers
 * that expect one (an insert of an existing key) test the SQLite code
 * themselves before calling st_sql_fail.
 *
 * Thread rules: connections are opened SQLITE_OPEN_NOMUTEX, so one
 * connection (and its statements) is used by one thread at a time; the
 * functions are thread-safe for distinct connections. Several processes may
 * open the same file at once (WAL, busy timeout of 60 s). No function here
 * is MPI-collective.
 */
#ifndef ST_SQL_H
#define ST_SQL_H

#include <sqlite3.h>
#include <stdint.h>

#include "storage/st_util.h"

/*
 * Open the database at path, creating the file when flags has
 * ST_SQL_CREATE, with the settings above: busy timeout 60 s;
 * journal_mode=WAL (DELETE with ST_SQL_SHARED),
 * synchronous=FULL, a 16 MiB page cache, temp_store=MEMORY, and with
 * ST_SQL_BIGPAGE page_size=16384 (only a file not yet written takes it:
 * an existing one keeps its page size) (the pragmas are
 * retried 500 times, 20 ms apart, while they fail with ST_EBUSY: another
 * process may be switching the same new file to WAL).
 * [in]  path, flags (enum st_sql_flags)
 * [out] out: the connection, the caller's to sqlite3_close(); untouched on
 *       failure.
 * Returns 0, or a code of the table above (-ENOENT: no such file and
 * create is 0; ST_ECORRUPT: not a database; ST_EBUSY: still locked after the
 * retries), err "<path>: ...".
 */
enum st_sql_flags {
	ST_SQL_CREATE = (1 << 0), /* create the file if missing */
	ST_SQL_SHARED = (1 << 1), /* rollback journal, for a cluster on shared storage */
	ST_SQL_BIGPAGE = (1 << 2), /* a new file gets 16 KiB pages (bulk-written: curator.db) */
};
int st_sql_open(const char *path, int flags, sqlite3 **out, struct st_msg *err);

/*
 * 1 if the file system holding dir is networked or user-space (NFS, CIFS /
 * SMB, Ceph, FUSE, 9p, AFS, Lustre, GFS2, OCFS2: statfs f_type), else 0
 * (also when statfs fails). Thread-safe.
 */
int st_sql_netfs(const char *dir);

/*
 * 1 if the cluster in dir runs its databases in shared-storage mode: its
 * config.db is a rollback-journal file (made by `init --shared-fs` or on a
 * network file system), or dir is on a network file system now; else 0.
 * Asks SQLite on a read-only connection of its own (PRAGMA journal_mode:
 * the file's header says WAL or not); never open()/close() on the file,
 * which would drop this process's POSIX locks on it.
 */
int st_sql_cluster_shared(const char *dir);

/*
 * Run sql (one or more statements separated by ';') and discard any rows.
 * For DDL, pragmas and statements without parameters; anything built from
 * data goes through st_sql_prepare and bound parameters.
 * Returns 0 or a code of the table above, err "sqlite: ...".
 */
int st_sql_exec(sqlite3 *db, const char *sql, struct st_msg *err);

/*
 * Compile one statement.
 * [out] st: the statement, the caller's to sqlite3_finalize() before the
 *       connection is closed (reusable through sqlite3_reset()); NULL on
 *       failure.
 * Returns 0 or a code of the table above, err "prepare: ..." (an SQL
 * syntax error or an unknown table is -EIO).
 */
int st_sql_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, struct st_msg *err);

/*
 * BEGIN IMMEDIATE: take the database's write lock now (waiting up to the
 * busy timeout) rather than at the first write, so two writers never
 * deadlock upgrading read locks. Transactions do not nest: a BEGIN inside
 * one fails (-EIO).
 * Returns 0, ST_EBUSY (another process held the lock for the whole
 * timeout), or another code of the table above.
 */
int st_sql_begin(sqlite3 *db, struct st_msg *err);

/*
 * COMMIT. With synchronous=FULL the transaction is durable when this
 * returns 0. On failure it rolls the transaction back, so either way no
 * transaction is open afterwards.
 * Returns 0 or a code of the table above.
 */
int st_sql_commit(sqlite3 *db, struct st_msg *err);

/*
 * ROLLBACK the open transaction, if any (a no-op outside one). Never fails
 * visibly: a rollback that cannot run leaves SQLite to roll back when the
 * connection closes or the next process opens the file.
 */
void st_sql_rollback(sqlite3 *db);

/*
 * Map the SQLite result code src (extended codes allowed) to a storage
 * code by the table above and fill err with "<what>: <message>", the
 * message being sqlite3_errmsg(db), or sqlite3_errstr(src) when db is
 * NULL. Returns the storage code, for `return st_sql_fail(...)`.
 */
int st_sql_fail(sqlite3 *db, int src, const char *what, struct st_msg *err);

#endif
