/*
 * cu_log: leveled log lines, and the progress of long work, on stderr.
 *
 * Levels: debug, info, warn, error; CURATOR_LOG=debug|info|warn|error sets
 * the threshold (default info). Lines are "2026-11-22T17:20:01Z info: ...",
 * stamped with the real clock (never CURATOR_NOW). Only the ranks that call
 * cu_log_init with quiet = 0 (rank 0) print below warn.
 *
 * Progress: cu_progress_begin, then cu_progress_set as often as wanted
 * (from any one thread at a time; the calls are serialised), then
 * cu_progress_end. Where it goes is decided at begin:
 *
 *   - stderr is a terminal: a bar redrawn in place (at most 10 times a
 *     second), cut to the terminal's width, with the fraction, the detail
 *     and the ETA; log lines clear it first and it is redrawn after;
 *   - under mpiexec (PMI in the environment) with stderr a pipe: the same
 *     bar, drawn on the controlling terminal, or (the ranks have none: the
 *     proxy starts its own session) on mpiexec's stderr when that is a
 *     terminal, reached through /proc; mpiexec forwards stderr through a
 *     pipe, but the person is at that terminal (CURATOR_NO_TTY=1: lines);
 *   - otherwise: a timestamped info line every CURATOR_PROGRESS_SECS seconds
 *     (default 10), the first after that long (short work prints nothing),
 *     one at each begin with announce, and the end's line if any was printed;
 *   - a quiet rank, or CURATOR_LOG above info: nothing.
 *
 * Not reentrant: one progress at a time per process.
 */
#ifndef CU_LOG_H
#define CU_LOG_H

enum cu_level { CU_DEBUG = 0, CU_INFO, CU_WARN, CU_ERROR };

void cu_log_init(int quiet);
void cu_log(enum cu_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Start (or go on with, under a new label) the progress of `what`
 * ("scan full: MR1 extent references"); with announce, log mode writes a
 * line at once. The elapsed time counts from the first begin after an end.
 */
void cu_progress_begin(const char *what, int announce);

/*
 * How far: frac in [0, 1] (< 0: unknown, no bar fill), eta in seconds (< 0:
 * unknown), detail a printf format for what is done ("1.2M of 2.0M records").
 */
void cu_progress_set(double frac, double eta, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* End it: the bar is completed with line (a printf format) and kept; log mode logs line if it logged before. */
void cu_progress_end(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The real clock in seconds (CLOCK_REALTIME), for rates and ETAs. */
double cu_clock(void);

#endif
