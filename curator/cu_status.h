/*
 * cu_status: `curator status`, what a storage admin checks first: is a
 * master up, the last full and partial scans, the next ones, the running
 * scan's phase and ETA, pending tasks by kind and priority, and health
 * warnings (scan overdue, data under-replicated, a disk or node failed,
 * refcount errors, failed tasks). Local, not MPI.
 */
#ifndef CU_STATUS_H
#define CU_STATUS_H

#include <stdio.h>

#include "storage/st_store.h"

/* Print the status; *warnings receives the number of health warnings. */
int cu_status_write(struct st_store *st, FILE *out, int *warnings, struct st_msg *err);

#endif
