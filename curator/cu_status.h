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

/* A running scan's progress and estimate (status, and the scan's own bar). */
struct cu_scan_est {
	int64_t id;
	char kind[16], phase[64], owner[160];
	int index, count;           /* the phase, 1-based, of how many (0, 0 before the first) */
	int queueing;               /* queueing its tasks: queued of to_queue */
	int64_t records, prev_records; /* read in the phase so far; the last done scan's (0: unknown) */
	int64_t queued, to_queue;
	double started, elapsed;    /* policy clock */
	double eta;                 /* seconds, < 0 unknown */
};

/*
 * The progress of scan id as its ranks last beat it into curator.db, with
 * an ETA where one can be estimated (this phase at its own pace, then the
 * rest as the last scan of its kind took; or the queueing rate), at now
 * (policy clock). 0 or ST_ENOTFOUND.
 */
struct job_db;
int cu_scan_estimate(struct job_db *db, int64_t id, double now, struct cu_scan_est *e);

#endif
