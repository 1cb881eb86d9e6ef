/*
 * cu_log: leveled log lines and progress for long runs, on stderr.
 *
 * Levels: debug, info, warn, error; CURATOR_LOG=debug|info|warn|error sets
 * the threshold (default info). Lines are "2026-11-22T17:20:01Z info: ...".
 * Progress (cu_progress) draws a bar with ETA when stderr is a terminal and
 * writes a plain timestamped line otherwise. Only the ranks that call
 * cu_log_init with quiet = 0 (rank 0) print below warn.
 */
#ifndef CU_LOG_H
#define CU_LOG_H

enum cu_level { CU_DEBUG = 0, CU_INFO, CU_WARN, CU_ERROR };

void cu_log_init(int quiet);
void cu_log(enum cu_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Progress of `what`: step index of total (1-based), started at `started`
 * (st_now seconds); eta_secs < 0 when unknown. done = 1 ends the bar.
 */
void cu_progress(const char *what, int index, int total, double started, double eta_secs, int done);

#endif
