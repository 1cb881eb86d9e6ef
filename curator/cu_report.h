/*
 * cu_report: scan reports from curator.db, for people (text) and programs
 * (JSON built with SQLite's JSON functions; the format is documented in
 * the README). Local, not MPI.
 */
#ifndef CU_REPORT_H
#define CU_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "storage/st_util.h"

enum cu_format { CU_TEXT = 0, CU_JSON = 1, CU_HTML = 2, CU_PROM = 3 };

/*
 * Write the report of scan `scan` (0: the latest) of the cluster in dir to
 * out. 0, ST_ENOTFOUND (no such scan), or an error.
 */
int cu_report_write(const char *dir, int64_t scan, enum cu_format fmt, FILE *out, struct st_msg *err);

/* The HTML page and the Prometheus text of scan `scan` (cu_html.c). */
#include <sqlite3.h>
int cu_report_html(sqlite3 *db, int64_t scan, FILE *out);
int cu_report_prom(sqlite3 *db, int64_t scan, FILE *out);

/* The task queue as a table (kind -1: all; state NULL: pending and running). */
int cu_tasks_list(const char *dir, int kind, const char *state, FILE *out, struct st_msg *err);

#endif
