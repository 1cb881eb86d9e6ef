/*
 * job_db_int: the handle behind struct job_db (private to jobs/job_db.c,
 * jobs/job_db_queue.c, jobs/job_db_batch.c and jobs/job_db_report.c, the
 * only files that run statements on curator.db).
 */
#ifndef JOB_DB_INT_H
#define JOB_DB_INT_H

#include <sqlite3.h>
#include <stdint.h>

#include "jobs/job_db.h"

/* A running scan as this handle last saw it (job_db_scans_reap). */
struct job_db_seen {
	int64_t scan;
	int64_t beat;   /* the heartbeat value seen */
	double since;   /* when it was first seen with that value (monotonic seconds) */
	int live;       /* still running at the last look */
};

/* A task of a caller's array in queueing order (job_db_queue.c sorts them). */
struct job_db_add_key {
	uint64_t target;
	uint32_t kind;
	uint32_t at; /* its index in the caller's array: keeps the sort stable */
};

/* One task as the virtual table job_batch shows it: the caller's task gathered in queueing order. */
struct job_db_row {
	int64_t scan;
	uint64_t target;
	uint64_t version;
	int64_t bytes;
	const uint8_t *arg; /* the caller's; NULL none */
	uint32_t arglen;
	int32_t kind;
	int32_t priority;   /* resolved: never 0 */
	uint32_t node;
};

/* The rows the virtual table job_batch shows (job_db_batch.c): rows[0..n); NULL: none. */
struct job_db_batch {
	const struct job_db_row *rows;
	int n;
};

/*
 * Register the eponymous virtual table job_batch on db->sql, showing
 * db->batch (job_db_batch.c). An SQLite result code.
 */
int job_db_batch_register(struct job_db *db);

/*
 * The queue's shards (job_db_shard.c). The tasks and their sums are split
 * over JOB_DB_SHARDS files by a fixed hash of (kind, target), so that the
 * tasks of one scan are inserted by one writer per file at the same time
 * (SQLite has one writer per file: a million tasks into one file took as
 * long as a fifth of the scan). Shard 0 is curator.db's own tasks and
 * queue_sums (schema "main"); shard s > 0 is curator-q<s>.db, attached to
 * every handle as schema "q<s>". A duplicate is always in its own shard
 * (the hash is fixed), so tasks_live stays the whole duplicate rule. Shard
 * s's ids are above JOB_DB_SHARD_BASE(s): an id names its shard. On each
 * handle, TEMP views `tasks` and `queue_sums` show all shards as one (the
 * reads); the statements that write name the shard's schema.
 */
#define JOB_DB_SHARDS 2
#define JOB_DB_SHARD_BASE(s) ((int64_t)(s) << 40)

/* The shard of a task: a fixed mix of (kind, target), also the SQL function curator_shard(kind, target). */
static inline int job_db_shard(int kind, uint64_t target)
{
	uint64_t x = target ^ ((uint64_t)(uint32_t)kind << 48);
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return (int)((x ^ (x >> 31)) % JOB_DB_SHARDS);
}

/* The shard an id names (0 for ids below the first base, as every id before shards). */
static inline int job_db_id_shard(int64_t id)
{
	int64_t s = id >> 40;
	return s > 0 && s < JOB_DB_SHARDS ? (int)s : 0;
}

/* The schema name of shard s on a handle: "main", "q1", ... (static storage). */
const char *job_db_shard_schema(int s);

/*
 * Attach the shards to db->sql (curator-q<s>.db in dir, created when
 * missing, 16 KiB pages, WAL or the shared file system's journal as
 * curator.db), register curator_shard(). Outside any transaction. 0 or
 * -errno / ST_E* with err filled.
 */
int job_db_shards_attach(struct job_db *db, const char *dir, int shared, struct st_msg *err);

/*
 * A commit over several files in WAL mode is atomic in each file only, so
 * a file that had one shard (from_version 3: job_db_open brings curator.db
 * to version 3 first) moves its live tasks in
 * two transactions, each writing one file: job_db_shards_prepare (its own
 * transaction, before curator.db's upgrade) makes the shards' tables where
 * missing, empties them (from_version < 4: a new curator.db owns nothing
 * of an old shard file) and copies the live tasks of each shard there;
 * job_db_shards_schema (in curator.db's upgrade transaction) deletes from
 * curator.db the rows a shard holds a copy of and rebuilds its sums. A
 * crash between the two leaves curator.db at its old version with every
 * task: the next open starts over.
 */
int job_db_shards_prepare(struct job_db *db, int from_version, struct st_msg *err);
int job_db_shards_schema(struct job_db *db, int from_version, struct st_msg *err);

/*
 * The pair id (job_db_shard.c): curator.db and its shard files carry one
 * random id in a table queue_pair, so that a shard file from another
 * curator.db (restored from another backup) is known as such.
 * job_db_shards_paired: 1 if every shard carries curator.db's id (a read;
 * 0 where any is missing). job_db_shards_pair, in the caller's
 * transaction after job_db_shards_prepare: gives curator.db an id where it
 * has none, and every shard file whose id differs is emptied (its tasks and
 * sums: they belong to another queue) and given curator.db's, except a
 * shard just filled from curator.db (from_version < 4) or one of a pair
 * made before the ids (version 4, neither file with an id): those keep
 * their tasks. 0 or an SQLite failure (err filled).
 */
int job_db_shards_paired(sqlite3 *sql);
int job_db_shards_pair(struct job_db *db, int from_version, struct st_msg *err);

/* 1 if shard s has its tables on this connection (a reader's may predate the shard's file); a read. */
int job_db_shard_present(sqlite3 *sql, int s);

/* The TEMP views tasks and queue_sums over all shards (after the schema). */
int job_db_shards_views(struct job_db *db, struct st_msg *err);

/*
 * A second handle on one shard's file for a writer thread (job_db_add.c):
 * out->sql opened alone (schema "main" is the shard), busy naps, job_batch
 * registered. 0 or an error; job_db_shard_close after.
 */
int job_db_shard_open(const struct job_db *db, int shard, struct job_db *out, struct st_msg *err);
void job_db_shard_close(struct job_db *w);

/* Move the sums of (kind, priority) in schema's queue_sums by the deltas, in the caller's transaction (job_db_queue.c). */
int job_db_sums_move(sqlite3 *sql, const char *schema, int kind, int priority, int64_t pending, int64_t running,
		     int64_t bytes, struct st_msg *err);

/* A new freeing episode if the queue holds no space-freeing task (job_db_queue.c; on its own or in a transaction). */
int job_db_freeing_start(struct job_db *db, struct st_msg *err);

/* job_db.c's busy handler: 1 ms naps for up to a minute. */
int job_db_busy_nap(void *arg, int n);

struct job_db {
	sqlite3 *sql; /* curator.db, WAL, synchronous=NORMAL (job_db_open), the shards attached */
	char dir[4096]; /* the cluster directory (the shards' files) */
	int shared;     /* journal_mode=DELETE (a shared file system), else WAL */
	struct job_db_seen *seen;
	int nseen, capseen;
	/* job_db_set_locality: the nodes whose tasks this handle leaves to other ranks, "3,7" ("" none) */
	char elsewhere[256];
	int64_t runner; /* the lease claims are recorded under (job_db_set_runner); 0 none */
	struct job_db_batch batch; /* what job_batch shows, set around one statement (job_db_queue.c) */
};

/*
 * The task kinds that free space (their done bytes are bytes given back):
 * extent_delete, egroup_compact, egroup_delete, file_sweep; as an SQL list
 * of their numbers, and as a test.
 */
#define JOB_DB_FREEING "(2, 3, 4, 7)"
_Static_assert(JT_EXTENT_DELETE == 2 && JT_EGROUP_COMPACT == 3 && JT_EGROUP_DELETE == 4 && JT_FILE_SWEEP == 7,
	       "JOB_DB_FREEING names these kinds");
static inline int job_db_frees(int kind)
{
	return kind == JT_EXTENT_DELETE || kind == JT_EGROUP_COMPACT || kind == JT_EGROUP_DELETE || kind == JT_FILE_SWEEP;
}

/* Monotonic seconds (the observer's own clock). */
double job_db_mono(void);

/* Now on the policy clock (st_now), as the REAL the rows store. */
double job_db_now(void);

#endif
