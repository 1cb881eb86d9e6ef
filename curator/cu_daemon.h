/*
 * cu_daemon: the curator as a periodic cluster job (DESIGN.md §7).
 *
 *   mpiexec -n N curator daemon [--full-every 6h] [--partial-every 1h] ...
 *
 * Rank 0 is the master, the other ranks slaves. Every tick (1 s) the
 * master decides what the cluster does next and broadcasts it; slaves wait
 * for the decision with a non-blocking broadcast polled every 10 ms (they
 * do not spin). In order of precedence:
 *
 *   1. stop          SIGTERM or SIGINT reached the master;
 *   2. a requested   scan (`curator scan full|partial --request`);
 *   3. a triggered   scan: a disk failed or a node went down since the
 *                    last look (events in curator.db): a selective scan of
 *                    the egroups with a copy on its disks, found by the
 *                    shards' replica index, whose rereplicate tasks run
 *                    right after it; for a node, again once its grace
 *                    (--node-grace, 60 s) is over (copies on a node down
 *                    for less are waited for). More than 64 disks at once,
 *                    or another kind of change (a node up, a drain): a
 *                    partial scan. Then a vdisk deleted: a selective scan;
 *   4. a scheduled   scan: full every --full-every, partial every
 *                    --partial-every, on a fixed delay from the end of the
 *                    last scan of that kind (an overdue scan runs once,
 *                    never back to back); the full scan wins a tie;
 *   5. tasks         when any are pending (throttled per kind);
 *   6. idle.
 *
 * Scans run one at a time (a lock in job_scan also keeps a hand-started
 * scan from overlapping). Tasks run after every scan and between scans,
 * highest priority first. SIGTERM (mpiexec passes it to every rank) stops
 * the daemon within seconds whatever it does: a scan stops at its next
 * poll (within a phase, or between queueing batches) and is recorded as
 * failed, "stopped" (nothing half-applied: tasks are compare-and-set, the
 * batches queued before the stop stay, and the next scan redoes the rest);
 * a task run stops between tasks; then every rank exits.
 *
 * Liveness. A thread of the master (no MPI) writes the daemon row's
 * heartbeat every second whatever the main thread does, so `curator
 * status` never sees a busy master as down, and watches the scans: one
 * whose heartbeat (bumped by its ranks every few seconds) has not moved
 * for CURATOR_SCAN_TTL (default 30 s) on the master's own clock, e.g. of a
 * process killed with -9, is marked failed; the next scan runs as
 * scheduled (the scan lock of a dead process is free). NEEDSWORK: leases
 * in config.db replace this (issue 21, DESIGN.md §4a).
 *
 * Collective: cu_daemon_run is called on every rank.
 */
#ifndef CU_DAEMON_H
#define CU_DAEMON_H

#include "jobs/job_tasks.h"
#include "mapreduce/mr.h"
#include "storage/st_store.h"

struct cu_daemon_opts {
	int64_t full_every;     /* seconds (default 6 h) */
	int64_t partial_every;  /* seconds (default 1 h) */
	uint64_t mem_budget;    /* per rank for scans (0: default) */
	double tick;            /* seconds between decisions (default 1) */
	int64_t node_grace;     /* a node down this long is re-replicated (0: 60 s) */
	int64_t scrub_period;   /* (0: 7 d) */
	struct job_run_opts tasks; /* throttles */
};

int cu_daemon_run(struct mr_ctx *mr, struct st_store *st, const struct cu_daemon_opts *o, struct st_msg *err);

/* Set by the SIGTERM/SIGINT handler that cu_daemon_run installs. */
extern volatile int cu_daemon_stop;

#endif
