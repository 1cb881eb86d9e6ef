/*
 * job_db_int: the handle behind struct job_db (private to jobs/job_db.c
 * and jobs/job_db_report.c, the only files that run statements on
 * curator.db).
 */
#ifndef JOB_DB_INT_H
#define JOB_DB_INT_H

#include <sqlite3.h>

#include "jobs/job_db.h"

struct job_db {
	sqlite3 *sql; /* curator.db, WAL, synchronous=NORMAL (job_db_open) */
};

#endif
