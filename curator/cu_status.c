/* cu_status: see cu_status.h. */
#include "curator/cu_status.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "storage/st_lease.h"
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
		struct job_scan_progress p;
		struct job_scan_row row;
		int64_t prev = 0, prev_records = 0;
		double prev_secs = 0, after = 0, in_phase, eta = -1;
		char a[32], e[32] = "unknown", c1[32], c2[32];

		if (job_db_scan_get(db, ids[i], &row, NULL) || job_db_scan_progress(db, ids[i], &p, NULL))
			continue;
		in_phase = p.phase_started > 0 && now > p.phase_started ? now - p.phase_started : 0;
		st_fmt_duration((int64_t)(now - row.started), a, sizeof(a));
		if (p.to_queue > 0 || !strcmp(p.phase, "queueing tasks")) {
			if (p.queued > 0 && in_phase > 0)
				eta = (double)(p.to_queue - p.queued) * in_phase / (double)p.queued;
			if (eta >= 0)
				st_fmt_duration((int64_t)eta + 1, e, sizeof(e));
			fprintf(out, "running scan    %" PRId64 ": queueing tasks, %s of %s queued, %s elapsed, ETA %s\n", row.id,
				count(p.queued, c1, sizeof(c1)), count(p.to_queue, c2, sizeof(c2)), a, e);
			continue;
		}
		if (!p.phase[0]) {
			fprintf(out, "running scan    %" PRId64 ": starting, %s elapsed (%s)\n", row.id, a, p.owner);
			continue;
		}
		job_db_scan_prev_phase(db, row.id, p.phase, &prev, &prev_records, &prev_secs, &after, NULL);
		if (prev_records > 0 && p.records > 0 && in_phase > 0) /* this phase at its own pace, then the rest as last time */
			eta = (p.records < prev_records ? in_phase * (double)(prev_records - p.records) / (double)p.records : 0) +
			      after;
		else if (prev && prev_secs + after > in_phase)
			eta = prev_secs + after - in_phase;
		if (eta >= 0)
			st_fmt_duration((int64_t)eta + 1, e, sizeof(e));
		if (prev_records > 0)
			snprintf(c2, sizeof(c2), "%s", count(prev_records, c1, sizeof(c1)));
		fprintf(out, "running scan    %" PRId64 ": phase %d/%d %s, %s records read%s%s%s, %s elapsed, ETA %s\n", row.id,
			p.phase_index, p.phase_count, p.phase, count(p.records, c1, sizeof(c1)),
			prev_records > 0 ? " (" : "", prev_records > 0 ? c2 : "", prev_records > 0 ? " last time)" : "", a, e);
	}
}

/* Counter name of scan (0 when missing). */
static int64_t counter(struct job_db *db, int64_t scan, const char *name)
{
	int64_t v;

	job_db_scan_counter(db, scan, name, &v, NULL);
	return v;
}

struct queue_print {
	FILE *out;
	int any;
};

static int queue_row(void *arg, int kind, int priority, int64_t tasks, int64_t running, int64_t bytes)
{
	struct queue_print *p = arg;
	char sz[32];

	if (!p->any)
		fprintf(p->out, "pending tasks   %-18s %4s %8s %8s %10s\n", "KIND", "PRIO", "PENDING", "RUNNING", "BYTES");
	p->any = 1;
	fprintf(p->out, "                %-18s %4d %8" PRId64 " %8" PRId64 " %10s\n",
		job_task_kind_name((enum job_task_kind)kind), priority, tasks, running,
		st_fmt_size((uint64_t)bytes, sz, sizeof(sz)));
	return 0;
}

/* Failed disks and down nodes: one warning each. */
static int topology_warnings(struct st_store *st, FILE *out)
{
	struct st_disk *d;
	struct st_node *n;
	int nd, nn, nw = 0;
	char a[64];

	if (!st_config_disks(st_store_config(st), &d, &nd, NULL)) {
		for (int i = 0; i < nd; i++)
			if (!d[i].ok && !d[i].removed) {
				fprintf(out, "  WARNING disk %u (node %u, %s) has failed: its replicas need re-replication\n", d[i].id,
					d[i].node, st_tier_name(d[i].tier));
				nw++;
			}
		free(d);
	}
	if (!st_config_nodes(st_store_config(st), &n, &nn, NULL)) {
		for (int i = 0; i < nn; i++)
			if (!n[i].up) {
				fprintf(out, "  WARNING node %u is down since %s\n", n[i].id, ago((double)n[i].changed, a, sizeof(a)));
				nw++;
			}
		free(n);
	}
	return nw;
}

/* What the last full scan and the last scan found, and failed tasks: one warning each. */
static int scan_warnings(struct job_db *db, int64_t last_full, FILE *out)
{
	int64_t last, under, one, lost, scrub, failed;
	int nw = 0;

	if (last_full) {
		int64_t missing = counter(db, last_full, "missing_replicas"), low = 0, dangling = 0;
		if (!job_db_scan_counter(db, last_full, "refcount_low", &low, NULL) &&
		    !job_db_scan_counter(db, last_full, "dangling_references", &dangling, NULL))
			low += dangling;
		else
			low = 0; /* as SQL's NULL + x */
		if (missing) {
			fprintf(out, "  WARNING %" PRId64 " replicas missing at the last full scan\n", missing);
			nw++;
		}
		if (low) {
			fprintf(out, "  WARNING %" PRId64 " refcount errors or dangling references at the last full scan\n", low);
			nw++;
		}
	}
	job_db_scan_last_done(db, NULL, &last, NULL);
	under = counter(db, last, "under_replicated");
	one = counter(db, last, "one_copy_left");
	lost = counter(db, last, "lost_egroups");
	scrub = counter(db, last, "scrub_due");
	if (lost) {
		fprintf(out, "  WARNING %" PRId64 " egroups have no healthy replica left (data loss)\n", lost);
		nw++;
	}
	if (under) {
		fprintf(out, "  WARNING %" PRId64 " egroups under-replicated at the last scan (%" PRId64
			" with one copy left): re-replication queued\n", under, one);
		nw++;
	}
	if (scrub) {
		fprintf(out, "  WARNING %" PRId64 " egroups overdue for scrubbing\n", scrub);
		nw++;
	}
	job_db_tasks_count(db, JS_FAILED, &failed, NULL);
	if (failed) {
		fprintf(out, "  WARNING %" PRId64 " tasks failed three times (curator tasks list --state failed)\n", failed);
		nw++;
	}
	return nw;
}

/*
 * Is a master up? A lease of kind master that is live and not silent for
 * its TTL as this host has seen it (st_lease.h): never the daemon row's
 * wall-clock heartbeat against this host's clock, nor its pid.
 */
static int master_lease_live(struct st_store *st)
{
	struct st_lease_info *v = NULL;
	int n = 0, up = 0;

	if (st_lease_observe(st_store_config(st), &v, &n, NULL))
		return 0;
	for (int i = 0; i < n; i++)
		up |= v[i].kind == ST_LEASE_MASTER && v[i].state == ST_LEASE_LIVE && !v[i].expired;
	free(v);
	return up;
}

int cu_status_write(struct st_store *st, FILE *out, int *warnings, struct st_msg *err)
{
	const char *dir = st_config_dir(st_store_config(st));
	struct job_daemon_state s;
	double now = (double)st_now();
	struct job_db *db;
	char a[64], b[64];
	int found = 0, up, rc = job_db_open(dir, &db, err), nw = 0;
	int64_t last_full = 0;

	if (rc)
		return rc;
	job_db_daemon_get(db, &s, &found, NULL);
	up = found && strcmp(s.state, "stopped") && master_lease_live(st);
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
	if (up) {
		fprintf(out, "next full       %s\n", ago(s.next_full, a, sizeof(a)));
		fprintf(out, "next partial    %s\n", ago(s.next_partial, b, sizeof(b)));
	}
	running_scans(db, now, out);
	{
		struct queue_print p = { out, 0 };
		job_db_tasks_queue(db, queue_row, &p, NULL);
		if (!p.any)
			fprintf(out, "pending tasks   none\n");
	}
	/* health */
	fprintf(out, "health\n");
	job_db_scan_last_done(db, "full", &last_full, NULL);
	if (!last_full) {
		fprintf(out, "  WARNING no full scan has completed yet\n");
		nw++;
	} else if (up && now > s.next_full + 60) {
		fprintf(out, "  WARNING full scan overdue by %s\n", st_fmt_duration((int64_t)(now - s.next_full), a, sizeof(a)));
		nw++;
	}
	nw += topology_warnings(st, out);
	nw += scan_warnings(db, last_full, out);
	if (!nw)
		fprintf(out, "  ok\n");
	*warnings = nw;
	job_db_close(db);
	return 0;
}
