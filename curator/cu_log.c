/*
 * cu_log: see cu_log.h.
 *
 * DESIGN. One progress at a time per process, so its state is this file's
 * (like the threshold): where it draws (fd, or -1 for log lines), when it
 * began and last drew, its label. A mutex serialises the callers (a scan's
 * watcher thread draws while the main thread logs). On a terminal a log
 * line first clears the bar's line ("\r\033[K") and the next set redraws it.
 */
#include "curator/cu_log.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/st_util.h"

static int threshold = CU_INFO;
static int quiet_rank;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int active;       /* between begin and end */
	int fd;           /* the terminal drawn on, or -1: log lines */
	int own_fd;       /* fd is /dev/tty, opened here */
	int drawn;        /* a bar is on the terminal's last line */
	int logged;       /* log mode wrote a line */
	double started, last, every;
	char what[160], line[512];
} pg = { .fd = -1 };

void cu_log_init(int quiet)
{
	const char *e = getenv("CURATOR_LOG");

	quiet_rank = quiet;
	if (!e)
		return;
	if (!strcmp(e, "debug"))
		threshold = CU_DEBUG;
	else if (!strcmp(e, "warn"))
		threshold = CU_WARN;
	else if (!strcmp(e, "error"))
		threshold = CU_ERROR;
}

double cu_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The real clock, never the policy clock (CURATOR_NOW moves policies, not logs). */
static void stamp(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void clear_bar(void)
{
	if (pg.drawn && pg.fd >= 0) {
		if (write(pg.fd, "\r\033[K", 4) < 0) {
			/* nothing to do about a terminal that went away */
		}
		pg.drawn = 0;
	}
}

static void vlog(enum cu_level lvl, const char *fmt, va_list ap)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	char ts[32];

	stamp(ts, sizeof(ts));
	fprintf(stderr, "%s %s: ", ts, names[lvl]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	fflush(stderr);
}

void cu_log(enum cu_level lvl, const char *fmt, ...)
{
	va_list ap;

	if ((int)lvl < threshold || (quiet_rank && lvl < CU_WARN))
		return;
	pthread_mutex_lock(&lock);
	clear_bar();
	va_start(ap, fmt);
	vlog(lvl, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&lock);
}

static void info_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void info_line(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(CU_INFO, fmt, ap);
	va_end(ap);
}

/* The parent of process pid (/proc/PID/stat), or 0. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	long pp = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL; /* the name may hold spaces and parentheses */
	if (p && sscanf(p + 1, " %*c %ld", &pp) != 1)
		pp = 0;
	fclose(f);
	return (pid_t)pp;
}

/*
 * Under mpiexec the ranks have no controlling terminal (the proxy starts
 * a session of its own) and stderr is a pipe to mpiexec: the terminal is
 * mpiexec's stderr. Open it through /proc from the nearest ancestor (up to
 * four up: proxy, mpiexec) whose stderr is a terminal; -1 when none (a
 * rank on another host, or mpiexec's stderr is not a terminal).
 */
static int ancestor_terminal(void)
{
	pid_t pid = getppid();

	for (int up = 0; up < 4 && pid > 1; up++, pid = parent_of(pid)) {
		char path[64];
		int fd;
		snprintf(path, sizeof(path), "/proc/%d/fd/2", (int)pid);
		fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
		if (fd >= 0 && isatty(fd))
			return fd;
		if (fd >= 0)
			close(fd);
	}
	return -1;
}

/* Where a bar can be drawn: stderr if a terminal, mpiexec's terminal under mpiexec with stderr a pipe, else -1. */
static int pick_terminal(int *own)
{
	struct stat sb;
	int fd;

	*own = 0;
	if (isatty(2))
		return 2;
	if (!(getenv("PMI_RANK") || getenv("PMI_FD") || getenv("PMIX_RANK")) || fstat(2, &sb) || !S_ISFIFO(sb.st_mode) ||
	    getenv("CURATOR_NO_TTY"))
		return -1;
	fd = open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		fd = ancestor_terminal();
	if (fd < 0)
		return -1;
	*own = 1;
	return fd;
}

void cu_progress_begin(const char *what, int announce)
{
	const char *every = getenv("CURATOR_PROGRESS_SECS");

	if (quiet_rank || threshold > CU_INFO)
		return;
	pthread_mutex_lock(&lock);
	if (!pg.active) {
		pg.fd = pick_terminal(&pg.own_fd);
		pg.started = cu_clock();
		pg.last = pg.fd >= 0 ? 0 : pg.started;
		pg.every = every && atof(every) > 0 ? atof(every) : 10;
		pg.logged = 0;
		pg.line[0] = 0;
		pg.active = 1;
	}
	snprintf(pg.what, sizeof(pg.what), "%s", what);
	if (announce && pg.fd < 0) {
		info_line("%s", what);
		pg.logged = 1;
	}
	pthread_mutex_unlock(&lock);
}

static void fmt_secs(double s, char *buf, size_t len)
{
	long v = (long)(s + 0.5);

	if (v >= 3600)
		snprintf(buf, len, "%ldh%02ldm", v / 3600, v / 60 % 60);
	else
		snprintf(buf, len, "%ld:%02ld", v / 60, v % 60);
}

/* Draw the bar: "[#####.....]  42% what  detail  0:13 elapsed, ETA 0:20", cut to the terminal. */
static void draw(double frac, double eta, const char *detail, double now)
{
	struct winsize ws;
	int cols = 80, width = 24, fill;
	char bar[64], el[32], et[32] = "?", out[sizeof(pg.line) + 64];

	if (ioctl(pg.fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		cols = ws.ws_col;
	fill = frac >= 0 ? (int)(width * (frac > 1 ? 1 : frac)) : 0;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, frac >= 0 ? '.' : '?', (size_t)(width - fill));
	bar[width] = 0;
	fmt_secs(now - pg.started, el, sizeof(el));
	if (eta >= 0)
		fmt_secs(eta, et, sizeof(et));
	if (frac >= 0)
		snprintf(pg.line, sizeof(pg.line), "[%s] %3.0f%% %s  %s  %s elapsed, ETA %s", bar, 100 * (frac > 1 ? 1 : frac),
			 pg.what, detail, el, et);
	else
		snprintf(pg.line, sizeof(pg.line), "[%s] %s  %s  %s elapsed, ETA %s", bar, pg.what, detail, el, et);
	snprintf(out, sizeof(out), "\r\033[K%.*s", cols - 1, pg.line);
	if (write(pg.fd, out, strlen(out)) > 0)
		pg.drawn = 1;
}

void cu_progress_set(double frac, double eta, const char *fmt, ...)
{
	char detail[256];
	double now = cu_clock();
	va_list ap;

	if (quiet_rank || threshold > CU_INFO)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&lock);
	if (pg.active && pg.fd >= 0 && now - pg.last >= 0.1) {
		draw(frac, eta, detail, now);
		pg.last = now;
	} else if (pg.active && pg.fd < 0 && now - pg.last >= pg.every) {
		char e[32] = "?";
		if (eta >= 0)
			fmt_secs(eta, e, sizeof(e));
		if (frac >= 0)
			info_line("%s: %.0f%%, %s, %.0f s elapsed, ETA %s", pg.what, 100 * frac, detail, now - pg.started, e);
		else
			info_line("%s: %s, %.0f s elapsed, ETA %s", pg.what, detail, now - pg.started, e);
		pg.logged = 1;
		pg.last = now;
	}
	pthread_mutex_unlock(&lock);
}

void cu_progress_end(const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (quiet_rank || threshold > CU_INFO)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&lock);
	if (pg.active && pg.fd >= 0) {
		char out[400];
		snprintf(out, sizeof(out), "\r\033[K%s (%.0f s)\n", line, cu_clock() - pg.started);
		if (write(pg.fd, out, strlen(out)) < 0) {
			/* the terminal went away */
		}
		pg.drawn = 0;
		if (pg.own_fd)
			close(pg.fd);
	} else if (pg.active && pg.logged) {
		info_line("%s (%.0f s)", line, cu_clock() - pg.started);
	}
	pg.active = 0;
	pg.fd = -1;
	pg.own_fd = 0;
	pthread_mutex_unlock(&lock);
}
