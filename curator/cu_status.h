/*
 * cu_status: `curator status`, what a storage admin checks first: is a
 * master up, the last full and partial scans, the next ones, the running
 * scan's phase and ETA, pending tasks by kind and priority, opened with
 * the health line and closed with its detail (cu_health.h). Local, not MPI.
 */
#ifndef CU_STATUS_H
#define CU_STATUS_H

#include <stdio.h>

#include "curator/cu_report.h"
#include "storage/st_store.h"

/*
 * Print the status, as text (its first line the health summary of
 * cu_health.h, its last lines the health detail) or as JSON (fmt CU_JSON,
 * docs/JSON.md). *problem receives 1 when the health is not HEALTH_OK.
 * 0, or an error opening curator.db or writing out (err filled).
 */
int cu_status_write(struct st_store *st, enum cu_format fmt, FILE *out, int *problem, struct st_msg *err);

#endif
