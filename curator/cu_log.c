/* cu_log: see cu_log.h. */
#include "curator/cu_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage/st_util.h"

static int threshold = CU_INFO;
static int quiet_rank;
static int bar_open;

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

/* The real clock, never the policy clock (CURATOR_NOW moves policies, not logs). */
static void stamp(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void cu_log(enum cu_level lvl, const char *fmt, ...)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	char ts[32];
	va_list ap;

	if ((int)lvl < threshold || (quiet_rank && lvl < CU_WARN))
		return;
	if (bar_open) {
		fputc('\n', stderr);
		bar_open = 0;
	}
	stamp(ts, sizeof(ts));
	fprintf(stderr, "%s %s: ", ts, names[lvl]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

void cu_progress(const char *what, int index, int total, double started, double eta, int done)
{
	char e[32] = "?";

	if (quiet_rank || threshold > CU_INFO)
		return;
	if (eta >= 0)
		st_fmt_duration((int64_t)eta, e, sizeof(e));
	if (isatty(2)) {
		int width = 30, fill = total > 0 ? width * (done ? total : index - 1) / total : 0;
		char bar[64];
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(width - fill));
		bar[width] = 0;
		fprintf(stderr, "\r[%s] %d/%d %-32s %5.0fs elapsed, ETA %s   ", bar, index, total, what,
			(double)st_now() - started, done ? "0s" : e);
		bar_open = !done;
		if (done)
			fputc('\n', stderr);
		fflush(stderr);
	} else {
		cu_log(CU_INFO, "%s: step %d/%d%s, %.0f s elapsed, ETA %s", what, index, total, done ? " done" : "",
		       (double)st_now() - started, done ? "0s" : e);
	}
}
