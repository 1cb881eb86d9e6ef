/*
 * cu_report_int: what cu_report.c and cu_html.c share (private to the
 * report module). cu_report_write opens curator.db, resolves the scan and
 * hands the HTML and Prometheus formats to cu_html.c with this context.
 */
#ifndef CU_REPORT_INT_H
#define CU_REPORT_INT_H

#include "curator/cu_report.h"
#include "jobs/job_db_report.h"

struct cu_report {
	struct job_db *db;            /* curator.db, open */
	struct st_config *cfg;  /* disk capacities and states */
	int64_t scan;           /* an existing scan */
	FILE *out;
};

/* Counter name of the report's scan (or of scan), 0 when it is missing. */
int64_t cu_report_counter(const struct cu_report *r, int64_t scan, const char *name);

/*
 * Capacity and used bytes of the disks of each tier that are not removed
 * (config.db's accounting, which tasks keep current): cap[t], used[t].
 * 0, or an error from st_config_disks (both arrays zero).
 */
int cu_report_tier_capacity(struct st_config *cfg, int64_t cap[ST_NTIERS], int64_t used[ST_NTIERS]);

/* The HTML page and the Prometheus text of the report's scan (cu_html.c). 0. */
int cu_report_html(const struct cu_report *r);
int cu_report_prom(const struct cu_report *r);

#endif
