/*
 * cu_report: scan reports from curator.db, for people (text, HTML) and
 * programs (JSON built with SQLite's JSON functions, Prometheus text; the
 * formats are documented in the README), and the task list. The queries
 * are job_db_report's; this module only formats. Local, not MPI.
 */
#ifndef CU_REPORT_H
#define CU_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "storage/st_config.h"

enum cu_format { CU_TEXT = 0, CU_JSON = 1, CU_HTML = 2, CU_PROM = 3 };

/*
 * Write the report of scan `scan` (0: the latest) of the cluster whose
 * config is cfg (its directory holds curator.db; disk capacities come
 * from cfg) to out. 0, ST_ENOTFOUND (no such scan, or none yet), or an
 * error, with err filled.
 */
int cu_report_write(struct st_config *cfg, int64_t scan, enum cu_format fmt, FILE *out, struct st_msg *err);

/*
 * The task queue of the cluster in dir as a table (kind -1: all; state
 * NULL: pending and running, else a state name), as text or JSON (fmt
 * CU_TEXT or CU_JSON, docs/JSON.md). 0, ST_EINVAL (unknown
 * state), or an error, with err filled.
 */
int cu_tasks_list(const char *dir, int kind, const char *state, enum cu_format fmt, FILE *out, struct st_msg *err);

#endif
