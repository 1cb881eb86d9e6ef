/*
 * job_db_int: the handle behind struct job_db (private to jobs/job_db.c,
 * jobs/job_db_queue.c, jobs/job_db_batch.c and jobs/job_db_report.c, the
 * only files that run statements on curator.db).
 */
#ifndef JOB_DB_INT_H
#define JOB_DB_INT_H

#include <sqlite3.h>

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

struct job_db {
	sqlite3 *sql; /* curator.db, WAL, synchronous=NORMAL (job_db_open) */
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
