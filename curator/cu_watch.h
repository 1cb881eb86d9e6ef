/*
 * cu_watch: the live progress of the MPI commands (scan, tasks run), drawn
 * by rank 0 through cu_log's progress (a bar on the terminal, else
 * timestamped lines). The work itself is collective and busy, so a thread
 * of rank 0 reads what the ranks record in curator.db (a scan's beats: its
 * phase and the records read in it, every 2 s; the queue's sums) four
 * times a second and draws it, with an ETA that counts down between two
 * readings. The thread only reads curator.db through its own handle and
 * never calls MPI.
 *
 * Order: cu_watch_scan or cu_watch_tasks, then (scans) cu_watch_scan_phase
 * from the scan's progress callback, then cu_watch_end once. Rank 0 only.
 */
#ifndef CU_WATCH_H
#define CU_WATCH_H

#include <stdint.h>

struct cu_watch;

/* Watch the scan that is about to run on the cluster in dir; label "scan full". NULL when out of memory. */
struct cu_watch *cu_watch_scan(const char *dir, const char *label);

/* The scan's progress callback (job_scan_opts.progress, arg the watch): a new phase. */
void cu_watch_scan_phase(void *w, int64_t scan, const char *phase, int index, int total);

/* Watch a task run on the cluster in dir: tasks of kind (-1: any), at most max (0: no limit). */
struct cu_watch *cu_watch_tasks(const char *dir, int kind, int64_t max);

/* Stop the thread, end the progress with the line fmt, free w (NULL: nothing). */
void cu_watch_end(struct cu_watch *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
