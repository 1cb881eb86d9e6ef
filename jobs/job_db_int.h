/*
 * job_db_int: the handle behind struct job_db (private to jobs/job_db.c,
 * jobs/job_db_queue.c and jobs/job_db_report.c, the only files that run
 * statements on curator.db).
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

struct job_db {
	sqlite3 *sql; /* curator.db, WAL, synchronous=NORMAL (job_db_open) */
	struct job_db_seen *seen;
	int nseen, capseen;
	int64_t runner; /* the lease claims are recorded under (job_db_set_runner); 0 none */
};

/* Monotonic seconds (the observer's own clock). */
double job_db_mono(void);

/* Now on the policy clock (st_now), as the REAL the rows store. */
double job_db_now(void);

#endif
