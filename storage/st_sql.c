/* st_sql: the connection set-up, transactions and error mapping of every database; see st_sql.h. */
#include "storage/st_sql.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

int st_sql_fail(sqlite3 *db, int src, const char *what, struct st_msg *err)
{
	int rc;

	switch (src & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB: rc = ST_ECORRUPT; break;
	case SQLITE_FULL: rc = -ENOSPC; break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: rc = ST_EBUSY; break;
	case SQLITE_CANTOPEN: rc = -ENOENT; break;
	case SQLITE_READONLY: rc = -EROFS; break;
	default: rc = -EIO; break;
	}
	return st_fail(err, rc, "%s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
}

int st_sql_exec(sqlite3 *db, const char *sql, struct st_msg *err)
{
	int src = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (src != SQLITE_OK)
		return st_sql_fail(db, src, "sqlite", err);
	return 0;
}

/*
 * Once per process, before SQLite starts: no memory statistics. They are
 * kept under one process-wide mutex taken by every allocation, which made
 * two threads inserting into two files (the queue's shards, job_db_add.c)
 * wait on each other; nothing here reads them (sqlite3_memory_used).
 */
static void sql_init_once(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); /* SQLITE_MISUSE if SQLite was started already: keeps them */
}

int st_sql_open(const char *path, int oflags, sqlite3 **out, struct st_msg *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (oflags & ST_SQL_CREATE ? SQLITE_OPEN_CREATE : 0);
	int src = (pthread_once(&once, sql_init_once), sqlite3_open_v2(path, &db, flags, NULL));
	const char *pragmas = oflags & ST_SQL_SHARED ? "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL;"
						      "PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;"
						    : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
						      "PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;";
	int rc;

	if (src != SQLITE_OK) {
		rc = st_sql_fail(db, src, path, err);
		sqlite3_close(db);
		return rc;
	}
	sqlite3_busy_timeout(db, 60000);
	/* before the journal mode, which writes a new file's header (a no-op on a file with pages) */
	if ((oflags & ST_SQL_BIGPAGE) && (rc = st_sql_exec(db, "PRAGMA page_size=16384;", err))) {
		sqlite3_close(db);
		return st_fail(err, rc, "%s: %s", path, err ? err->text : "cannot open");
	}
	/* switching a new file to WAL can be refused while another process does the same */
	for (int i = 0; i < 500; i++) {
		rc = st_sql_exec(db, pragmas, err);
		if (rc != ST_EBUSY)
			break;
		usleep(20000);
	}
	if (rc) {
		sqlite3_close(db);
		return st_fail(err, rc, "%s: %s", path, err ? err->text : "cannot open");
	}
	*out = db;
	return 0;
}

int st_sql_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, struct st_msg *err)
{
	int src = sqlite3_prepare_v2(db, sql, -1, st, NULL);

	if (src != SQLITE_OK)
		return st_sql_fail(db, src, "prepare", err);
	return 0;
}

int st_sql_begin(sqlite3 *db, struct st_msg *err)
{
	return st_sql_exec(db, "BEGIN IMMEDIATE", err);
}

int st_sql_commit(sqlite3 *db, struct st_msg *err)
{
	int rc = st_sql_exec(db, "COMMIT", err);

	if (rc)
		st_sql_rollback(db);
	return rc;
}

void st_sql_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* File systems where SQLite's WAL (shared memory of one host) is unsafe. */
static const long netfs_magic[] = {
	0x6969,     /* NFS */
	0x517B,     /* SMB */
	0xFF534D42, /* CIFS */
	0xFE534D42, /* SMB2 */
	0x00C36400, /* Ceph */
	0x65735546, /* FUSE */
	0x01021997, /* 9p */
	0x5346414F, /* AFS */
	0x0BD00BD0, /* Lustre */
	0x01161970, /* GFS2 */
	0x7461636F, /* OCFS2 */
};

int st_sql_netfs(const char *dir)
{
	struct statfs sb;

	if (statfs(dir, &sb) < 0)
		return 0;
	for (size_t i = 0; i < sizeof(netfs_magic) / sizeof(netfs_magic[0]); i++)
		if ((unsigned long)sb.f_type == (unsigned long)netfs_magic[i])
			return 1;
	return 0;
}

int st_sql_cluster_shared(const char *dir)
{
	char path[4200];
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int shared = 0;

	if (st_sql_netfs(dir))
		return 1;
	/*
	 * Ask SQLite, on a connection of its own: never open() and close() the
	 * file ourselves, since closing any descriptor of a file drops every
	 * POSIX lock this process holds on it, those of its other connections
	 * included (SQLite's unix VFS keeps such descriptors open until the
	 * file's last connection closes). A WAL file says "wal".
	 */
	snprintf(path, sizeof(path), "%s/config.db", dir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 60000);
		if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL) == SQLITE_OK &&
		    sqlite3_step(q) == SQLITE_ROW) {
			const unsigned char *m = sqlite3_column_text(q, 0);
			shared = m && !strcmp((const char *)m, "delete");
		}
		sqlite3_finalize(q);
	}
	sqlite3_close(db);
	return shared;
}
