/* cu_status: see cu_status.h. */
#include "curator/cu_status.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "curator/cu_health.h"
#include "curator/cu_json.h"
#include "jobs/job_db_report.h"

static const char *ago(double t, char *buf, size_t len)
{
	char d[32];
	double now = (double)st_now();

	if (t <= 0)
		snprintf(buf, len, "never");
	else if (t > now)
		snprintf(buf, len, "in %s", st_fmt_duration((int64_t)(t - now), d, sizeof(d)));
	else
		snprintf(buf, len, "%s ago", st_fmt_duration((int64_t)(now - t), d, sizeof(d)));
	return buf;
}

static void last_scan(struct job_db *db, const char *kind, FILE *out)
{
	struct job_scan_row s;
	int64_t id;
	double ended;
	char a[64], d[32];

	if (job_db_last_scan(db, kind, &id, &ended, NULL) || !id || job_db_scan_get(db, id, &s, NULL)) {
		fprintf(out, "last %-8s scan never\n", kind);
		return;
	}
	fprintf(out, "last %-8s scan %" PRId64 ", %s, took %s, %s%s%s\n", kind, s.id, ago(s.ended, a, sizeof(a)),
		st_fmt_duration((int64_t)(s.ended - s.started), d, sizeof(d)), s.state, *s.error ? ": " : "", s.error);
}

/* A count for people: 1234567 -> "1.23M". */
static const char *count(int64_t n, char *buf, size_t len)
{
	if (n >= 10000000)
		snprintf(buf, len, "%.1fM", (double)n / 1e6);
	else if (n >= 1000000)
		snprintf(buf, len, "%.2fM", (double)n / 1e6);
	else if (n >= 10000)
		snprintf(buf, len, "%.0fk", (double)n / 1e3);
	else
		snprintf(buf, len, "%" PRId64, n);
	return buf;
}

int cu_scan_estimate(struct job_db *db, int64_t id, double now, struct cu_scan_est *e)
{
	struct job_scan_progress p;
	struct job_scan_row row;
	int64_t prev = 0;
	double prev_secs = 0, after = 0, in_phase;
	int rc = job_db_scan_get(db, id, &row, NULL);

	memset(e, 0, sizeof(*e));
	e->eta = -1;
	if (!rc)
		rc = job_db_scan_progress(db, id, &p, NULL);
	if (rc)
		return rc;
	e->id = row.id;
	snprintf(e->kind, sizeof(e->kind), "%s", row.kind);
	snprintf(e->phase, sizeof(e->phase), "%s", p.phase);
	snprintf(e->owner, sizeof(e->owner), "%s", p.owner);
	e->index = p.phase_index;
	e->count = p.phase_count;
	e->records = p.records;
	e->queued = p.queued;
	e->to_queue = p.to_queue;
	e->started = row.started;
	e->elapsed = now > row.started ? now - row.started : 0;
	in_phase = p.phase_started > 0 && now > p.phase_started ? now - p.phase_started : 0;
	if (p.to_queue > 0 || !strcmp(p.phase, "queueing tasks")) {
		e->queueing = 1;
		if (p.queued > 0 && in_phase > 0)
			e->eta = (double)(p.to_queue - p.queued) * in_phase / (double)p.queued;
		return 0;
	}
	if (!p.phase[0])
		return 0;
	job_db_scan_prev_phase(db, row.id, p.phase, &prev, &e->prev_records, &prev_secs, &after, NULL);
	if (e->prev_records > 0 && p.records > 0 && in_phase > 0) /* this phase at its own pace, then the rest as last time */
		e->eta = (p.records < e->prev_records ? in_phase * (double)(e->prev_records - p.records) / (double)p.records
						      : 0) +
			 after;
	else if (prev && prev_secs + after > in_phase)
		e->eta = prev_secs + after - in_phase;
	return 0;
}

/*
 * One line per running scan, from what its ranks last wrote into its row:
 * the phase and the records read in it (against the last done scan of the
 * kind), or the tasks queued so far; an ETA only where one can be
 * estimated (a rate, or the previous scan's figures), else "unknown".
 */
static void running_scans(struct job_db *db, double now, FILE *out)
{
	int64_t ids[4];
	int n = 0;

	job_db_scans_running(db, 4, ids, &n, NULL);
	for (int i = 0; i < n; i++) {
		struct cu_scan_est e;
		char a[32], t[32] = "unknown", c1[32], c2[32];

		if (cu_scan_estimate(db, ids[i], now, &e))
			continue;
		st_fmt_duration((int64_t)e.elapsed, a, sizeof(a));
		if (e.eta >= 0)
			st_fmt_duration((int64_t)e.eta + 1, t, sizeof(t));
		if (e.queueing) {
			fprintf(out, "running scan    %" PRId64 ": queueing tasks, %s of %s queued, %s elapsed, ETA %s\n", e.id,
				count(e.queued, c1, sizeof(c1)), count(e.to_queue, c2, sizeof(c2)), a, t);
			continue;
		}
		if (!e.phase[0]) {
			fprintf(out, "running scan    %" PRId64 ": starting, %s elapsed (%s)\n", e.id, a, e.owner);
			continue;
		}
		if (e.prev_records > 0)
			snprintf(c2, sizeof(c2), "%s", count(e.prev_records, c1, sizeof(c1)));
		fprintf(out, "running scan    %" PRId64 ": phase %d/%d %s, %s records read%s%s%s, %s elapsed, ETA %s\n", e.id,
			e.index, e.count, e.phase, count(e.records, c1, sizeof(c1)), e.prev_records > 0 ? " (" : "",
			e.prev_records > 0 ? c2 : "", e.prev_records > 0 ? " last time)" : "", a, t);
	}
}

struct queue_print {
	FILE *out;
	int any;
	json_t *rows; /* JSON: the array, else NULL */
};

static int queue_row(void *arg, int kind, int priority, int64_t tasks, int64_t running, int64_t bytes)
{
	struct queue_print *p = arg;
	char sz[32];

	if (p->rows)
		return json_array_append_new(p->rows, json_pack("{s:s,s:i,s:I,s:I,s:I}", "kind",
							       job_task_kind_name((enum job_task_kind)kind), "priority",
							       priority, "pending", (json_int_t)tasks, "running",
							       (json_int_t)running, "bytes", (json_int_t)bytes))
			       ? -1
			       : 0;
	if (!p->any)
		fprintf(p->out, "pending tasks   %-18s %4s %8s %8s %10s\n", "KIND", "PRIO", "PENDING", "RUNNING", "BYTES");
	p->any = 1;
	fprintf(p->out, "                %-18s %4d %8" PRId64 " %8" PRId64 " %10s\n",
		job_task_kind_name((enum job_task_kind)kind), priority, tasks, running,
		st_fmt_size((uint64_t)bytes, sz, sizeof(sz)));
	return 0;
}

/*
 * Space being freed, as ZFS shows `freeing`: what the queued space-freeing
 * tasks are still to give back, what they gave back since the queue last
 * held none, and the share done.
 */
static void freeing_line(struct job_db *db, FILE *out)
{
	struct job_freeing f;
	char a[32], b[32], c[64];

	if (job_db_freeing(db, &f, NULL))
		return;
	st_fmt_size((uint64_t)f.freed_bytes, b, sizeof(b));
	if (!f.pending_tasks) {
		if (f.freed_tasks)
			fprintf(out, "freeing         none (the last %" PRId64 " freeing task(s) gave back %s)\n", f.freed_tasks, b);
		else
			fprintf(out, "freeing         none\n");
		return;
	}
	st_fmt_size((uint64_t)f.pending_bytes, a, sizeof(a));
	fprintf(out, "freeing         %s in %" PRId64 " task(s), %s freed (%.0f%%) since %s\n", a, f.pending_tasks, b,
		f.freed_bytes + f.pending_bytes > 0 ? 100.0 * (double)f.freed_bytes / (double)(f.freed_bytes + f.pending_bytes)
						    : 0.0,
		f.since > 0 ? ago(f.since, c, sizeof(c)) : "the upgrade");
}


/* The last finished scan of kind as JSON, or null. */
static json_t *scan_json(struct job_db *db, const char *kind)
{
	struct job_scan_row s;
	int64_t id;
	double ended;

	if (job_db_last_scan(db, kind, &id, &ended, NULL) || !id || job_db_scan_get(db, id, &s, NULL))
		return json_null();
	return json_pack("{s:I,s:s,s:o,s:o,s:I,s:s,s:o}", "id", (json_int_t)s.id, "kind", s.kind, "started",
			 cu_json_time(s.started), "ended", cu_json_time(s.ended), "duration_seconds",
			 (json_int_t)(s.ended - s.started), "state", s.state, "error", cu_json_str(s.error));
}

static json_t *running_json(struct job_db *db)
{
	json_t *a = json_array();
	int64_t ids[4];
	int n = 0;

	job_db_scans_running(db, 4, ids, &n, NULL);
	for (int i = 0; i < n; i++) {
		struct cu_scan_est e;
		if (cu_scan_estimate(db, ids[i], (double)st_now(), &e))
			continue;
		json_array_append_new(a, json_pack("{s:I,s:s,s:o,s:o,s:i,s:i,s:I,s:o,s:I,s:I,s:o}", "id", (json_int_t)e.id,
						   "kind", e.kind, "started", cu_json_time(e.started), "phase",
						   cu_json_str(e.phase), "phase_index", e.index, "phase_count", e.count,
						   "records", (json_int_t)e.records, "records_last_time",
						   e.prev_records > 0 ? json_integer((json_int_t)e.prev_records) : json_null(),
						   "tasks_to_queue", (json_int_t)e.to_queue, "tasks_queued", (json_int_t)e.queued,
						   "eta_seconds", e.eta >= 0 ? json_integer((json_int_t)e.eta + 1) : json_null()));
	}
	return a;
}

static json_t *master_json(const struct job_daemon_state *s, int found, int up)
{
	if (!found)
		return json_pack("{s:s}", "state", "never_started");
	return json_pack("{s:s,s:s,s:I,s:s,s:i,s:o,s:o,s:o,s:o}", "state", up ? "up" : !strcmp(s->state, "stopped") ? "stopped" : "down",
			 "activity", s->state, "pid", (json_int_t)s->pid, "host", s->host, "ranks", s->ranks, "started",
			 cu_json_time(s->started), "heartbeat", cu_json_time(s->heartbeat), "next_full",
			 up ? cu_json_time(s->next_full) : json_null(), "next_partial",
			 up ? cu_json_time(s->next_partial) : json_null());
}

/* What the space-freeing tasks still have to give back and gave back (the text's freeing line), or null. */
static json_t *freeing_json(struct job_db *db)
{
	struct job_freeing f;

	if (job_db_freeing(db, &f, NULL))
		return json_null();
	return json_pack("{s:I,s:I,s:I,s:I,s:o}", "pending_bytes", (json_int_t)f.pending_bytes, "pending_tasks",
			 (json_int_t)f.pending_tasks, "freed_bytes", (json_int_t)f.freed_bytes, "freed_tasks",
			 (json_int_t)f.freed_tasks, "since", cu_json_time(f.since));
}

static int status_json(struct job_db *db, const struct cu_health *h, const struct job_daemon_state *s, int found,
		       int up, FILE *out)
{
	json_t *doc = cu_json_doc(), *last = json_object(), *queue = json_array();
	struct queue_print p = { out, 0, queue };

	json_object_set_new(doc, "health", cu_health_json(h));
	json_object_set_new(doc, "master", master_json(s, found, up));
	json_object_set_new(last, "full", scan_json(db, "full"));
	json_object_set_new(last, "partial", scan_json(db, "partial"));
	json_object_set_new(doc, "last_scans", last);
	json_object_set_new(doc, "running_scans", running_json(db));
	json_object_set_new(doc, "freeing", freeing_json(db));
	job_db_tasks_queue(db, queue_row, &p, NULL);
	json_object_set_new(doc, "pending_tasks", queue);
	return cu_json_print(doc, out);
}

int cu_status_write(struct st_store *st, enum cu_format fmt, FILE *out, int *problem, struct st_msg *err)
{
	const char *dir = st_config_dir(st_store_config(st));
	struct job_daemon_state s;
	struct cu_health h;
	double now = (double)st_now();
	struct job_db *db;
	char a[64], b[64];
	int found = 0, up, rc = cu_health_get(st_store_config(st), &h, err);

	if (!rc)
		rc = job_db_open(dir, &db, err);
	if (rc)
		return rc;
	*problem = h.status != CU_HEALTH_OK;
	job_db_daemon_get(db, &s, &found, NULL);
	up = found && strcmp(s.state, "stopped") && cu_master_up(st_store_config(st));
	if (fmt == CU_JSON) {
		rc = status_json(db, &h, &s, found, up, out);
		job_db_close(db);
		return rc ? st_fail(err, rc, "cannot write the JSON document") : 0;
	}
	fputs("health          ", out);
	cu_health_text(&h, 0, 0, out);
	if (found && !strcmp(s.state, "stopped"))
		fprintf(out, "master          stopped %s (was pid %" PRId64 " on %s)\n", ago(s.heartbeat, a, sizeof(a)), s.pid,
			s.host);
	else if (up)
		fprintf(out, "master          up: pid %" PRId64 " on %s, %d rank(s), since %s, %s\n", s.pid, s.host, s.ranks,
			ago(s.started, a, sizeof(a)), s.state);
	else if (found)
		fprintf(out, "master          down (last heard from %s)\n", ago(s.heartbeat > 0 ? s.heartbeat : s.started, a, sizeof(a)));
	else
		fprintf(out, "master          never started (mpiexec -n N curator daemon)\n");
	last_scan(db, "full", out);
	last_scan(db, "partial", out);
	last_scan(db, "selective", out);
	if (up) {
		fprintf(out, "next full       %s\n", ago(s.next_full, a, sizeof(a)));
		fprintf(out, "next partial    %s\n", ago(s.next_partial, b, sizeof(b)));
	}
	running_scans(db, now, out);
	freeing_line(db, out);
	{
		struct queue_print p = { out, 0, NULL };
		job_db_tasks_queue(db, queue_row, &p, NULL);
		if (!p.any)
			fprintf(out, "pending tasks   none\n");
	}
	if (h.n) {
		fprintf(out, "health detail\n");
		cu_health_detail(&h, 2, out);
	}
	job_db_close(db);
	return 0;
}
