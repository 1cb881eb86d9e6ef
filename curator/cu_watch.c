/*
 * cu_watch: see cu_watch.h.
 *
 * DESIGN. One thread per watch, sleeping 250 ms between readings; the
 * fields the main thread sets (the scan id, the phase) are under the
 * watch's mutex. The ETA shown is the last estimate minus the time since
 * it was made, so it counts down between the ranks' beats instead of
 * standing still or jumping back.
 */
#include "curator/cu_watch.h"

#include <pthread.h>
#include <time.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "curator/cu_log.h"
#include "curator/cu_status.h"
#include "jobs/job_db_report.h"

struct cu_watch {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* signalled at stop: the end does not wait out a tick */
	int started, stop;
	char dir[ST_PATH_MAX], label[64];
	/* scans */
	int64_t scan;
	int index, total;
	/* tasks */
	int kind;
	int64_t max, tasks0, bytes0;
	/* the ETA: the last estimate, when it was made, and what it was made from */
	double eta, eta_at;
	int64_t eta_from;
};

static const char *count(int64_t n, char *buf, size_t len)
{
	if (n >= 1000000)
		snprintf(buf, len, "%.2fM", (double)n / 1e6);
	else if (n >= 10000)
		snprintf(buf, len, "%.1fk", (double)n / 1e3);
	else
		snprintf(buf, len, "%lld", (long long)n);
	return buf;
}

/* The ETA to show: a new estimate when what it is made from moved, else the last one counted down. */
static double countdown(struct cu_watch *w, int64_t from, double eta, double now)
{
	if (from != w->eta_from || w->eta < 0) {
		w->eta = eta;
		w->eta_at = now;
		w->eta_from = from;
	}
	return w->eta < 0 ? -1 : w->eta - (now - w->eta_at) > 0 ? w->eta - (now - w->eta_at) : 0;
}

static void scan_tick(struct cu_watch *w, struct job_db *db)
{
	struct cu_scan_est e;
	double now = cu_clock(), frac = -1, in_phase = 0;
	char c1[32], c2[32];
	int64_t scan;

	pthread_mutex_lock(&w->mu);
	scan = w->scan;
	pthread_mutex_unlock(&w->mu);
	if (!scan || cu_scan_estimate(db, scan, (double)st_now(), &e))
		return;
	if (e.queueing) {
		frac = e.to_queue > 0 ? (double)e.queued / (double)e.to_queue : -1;
		cu_progress_set(frac, countdown(w, e.queued, e.eta, now), "%s of %s tasks queued",
				count(e.queued, c1, sizeof(c1)), count(e.to_queue, c2, sizeof(c2)));
		return;
	}
	if (e.count > 0) {
		if (e.prev_records > 0)
			in_phase = e.records >= e.prev_records ? 1 : (double)e.records / (double)e.prev_records;
		frac = ((double)(e.index - 1) + in_phase) / (double)e.count;
	}
	if (e.prev_records > 0)
		cu_progress_set(frac, countdown(w, e.records * 16 + e.index, e.eta, now), "%s of ~%s records",
				count(e.records, c1, sizeof(c1)), count(e.prev_records, c2, sizeof(c2)));
	else
		cu_progress_set(frac, countdown(w, e.records * 16 + e.index, e.eta, now), "%s records read",
				count(e.records, c1, sizeof(c1)));
}

struct queue_sum {
	int kind;
	int64_t tasks, bytes;
};

static int queue_add(void *arg, int kind, int priority, int64_t tasks, int64_t running, int64_t bytes)
{
	struct queue_sum *q = arg;

	(void)priority;
	if (q->kind < 0 || q->kind == kind) {
		q->tasks += tasks + running;
		q->bytes += bytes;
	}
	return 0;
}

static int queue_now(struct job_db *db, int kind, int64_t *tasks, int64_t *bytes)
{
	struct queue_sum q = { kind, 0, 0 };
	int rc = job_db_tasks_queue(db, queue_add, &q, NULL);

	*tasks = q.tasks;
	*bytes = q.bytes;
	return rc;
}

static void tasks_tick(struct cu_watch *w, struct job_db *db)
{
	int64_t tasks, bytes, total = w->max > 0 && w->max < w->tasks0 ? w->max : w->tasks0, done;
	double now = cu_clock(), eta = -1;
	char b1[32], b2[32];

	if (queue_now(db, w->kind, &tasks, &bytes))
		return;
	done = w->tasks0 - tasks > 0 ? w->tasks0 - tasks : 0;
	if (done > total)
		done = total;
	if (w->bytes0 > 0 && w->bytes0 > bytes && w->eta_at > 0 && (w->max <= 0 || w->max >= w->tasks0))
		eta = (now - w->eta_at) * (double)bytes / (double)(w->bytes0 - bytes); /* the bytes set the pace */
	else if (done > 0 && w->eta_at > 0)
		eta = (now - w->eta_at) * (double)(total - done) / (double)done;
	if (w->eta_at == 0)
		w->eta_at = now;
	cu_progress_set(total > 0 ? (double)done / (double)total : -1, eta, "%lld of %lld tasks, %s of %s", (long long)done,
			(long long)total, st_fmt_size((uint64_t)(w->bytes0 - bytes > 0 ? w->bytes0 - bytes : 0), b1, sizeof(b1)),
			st_fmt_size((uint64_t)(w->bytes0 > 0 ? w->bytes0 : 0), b2, sizeof(b2)));
}

static void *watch_main(void *arg)
{
	struct cu_watch *w = arg;
	struct job_db *db;
	int stop = 0;

	if (job_db_open(w->dir, &db, NULL))
		return NULL;
	while (!stop) {
		if (w->kind == -2)
			scan_tick(w, db);
		else
			tasks_tick(w, db);
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += 250 * 1000000L; /* a tick: 4 redraws a second */
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&w->mu);
		while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mu, &until) == 0)
			;
		stop = w->stop;
		pthread_mutex_unlock(&w->mu);
	}
	job_db_close(db);
	return NULL;
}

static struct cu_watch *watch_new(const char *dir, const char *label, int kind)
{
	struct cu_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	pthread_mutex_init(&w->mu, NULL);
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&w->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	snprintf(w->dir, sizeof(w->dir), "%s", dir);
	snprintf(w->label, sizeof(w->label), "%s", label);
	w->kind = kind;
	w->eta = -1;
	return w;
}

static void watch_start(struct cu_watch *w)
{
	w->started = pthread_create(&w->th, NULL, watch_main, w) == 0;
}

struct cu_watch *cu_watch_scan(const char *dir, const char *label)
{
	struct cu_watch *w = watch_new(dir, label, -2);

	if (!w)
		return NULL;
	cu_progress_begin(label, 0);
	watch_start(w);
	return w;
}

void cu_watch_scan_phase(void *arg, int64_t scan, const char *phase, int index, int total)
{
	struct cu_watch *w = arg;
	char what[160];

	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->scan = scan;
	w->index = index;
	w->total = total;
	pthread_mutex_unlock(&w->mu);
	snprintf(what, sizeof(what), "%s %d/%d %s", w->label, index, total, phase);
	cu_progress_begin(what, 1);
	cu_progress_set(total > 0 ? (double)(index - 1) / total : -1, -1, "starting the phase");
}

struct cu_watch *cu_watch_tasks(const char *dir, int kind, int64_t max)
{
	struct cu_watch *w = watch_new(dir, "tasks run", kind);
	struct job_db *db;

	if (!w)
		return NULL;
	w->max = max;
	if (!job_db_open(dir, &db, NULL)) {
		queue_now(db, kind, &w->tasks0, &w->bytes0);
		job_db_close(db);
	}
	cu_progress_begin("tasks run", 0);
	watch_start(w);
	return w;
}

void cu_watch_end(struct cu_watch *w, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (w->started)
		pthread_join(w->th, NULL);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	cu_progress_end("%s", line);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
