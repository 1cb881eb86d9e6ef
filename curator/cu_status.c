/* cu_status: see cu_status.h. */
#include "curator/cu_status.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/job_db.h"

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

static int64_t one_int(sqlite3 *db, const char *sql, int64_t arg)
{
	sqlite3_stmt *q;
	int64_t v = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int64(q, 1, arg);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

static void last_scan(sqlite3 *db, const char *kind, FILE *out)
{
	sqlite3_stmt *q;
	char a[64], d[32];

	if (sqlite3_prepare_v2(db,
			       "SELECT id, started, ended, state, coalesce(error, '') FROM scans WHERE kind = ? AND dry_run = 0"
			       " AND state != 'running' ORDER BY id DESC LIMIT 1",
			       -1, &q, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(q, 1, kind, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		double st = sqlite3_column_double(q, 1), en = sqlite3_column_double(q, 2);
		fprintf(out, "last %-8s scan %" PRId64 ", %s, took %s, %s%s%s\n", kind, (int64_t)sqlite3_column_int64(q, 0),
			ago(en, a, sizeof(a)), st_fmt_duration((int64_t)(en - st), d, sizeof(d)), sqlite3_column_text(q, 3),
			*sqlite3_column_text(q, 4) ? ": " : "", sqlite3_column_text(q, 4));
	} else {
		fprintf(out, "last %-8s scan never\n", kind);
	}
	sqlite3_finalize(q);
}

int cu_status_write(struct st_store *st, FILE *out, int *warnings, struct st_msg *err)
{
	const char *dir = st_config_dir(st_store_config(st));
	struct job_daemon_state s;
	double now = (double)st_now();
	sqlite3 *db;
	char a[64], b[64];
	int found = 0, up, rc = job_db_open(dir, &db, err), nw = 0;
	int64_t last_full = 0;

	if (rc)
		return rc;
	job_db_daemon_get(db, &s, &found, NULL);
	up = found && strcmp(s.state, "stopped") && s.heartbeat > 0 && now - s.heartbeat < 15;
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
	if (up && s.scan_id) {
		/* ETA from the last finished scan of the same kind */
		double prev = (double)one_int(db,
					      "SELECT CAST(ended - started AS INTEGER) FROM scans WHERE state = 'done' AND kind ="
					      " (SELECT kind FROM scans WHERE id = ?1) AND id < ?1 ORDER BY id DESC LIMIT 1",
					      s.scan_id);
		double started = (double)one_int(db, "SELECT CAST(started AS INTEGER) FROM scans WHERE id = ?", s.scan_id);
		char e[32] = "unknown";
		if (prev > 0)
			st_fmt_duration((int64_t)(prev - (now - started) > 0 ? prev - (now - started) : 0), e, sizeof(e));
		fprintf(out, "running scan    %" PRId64 ": phase %d/%d %s, %s elapsed, ETA %s\n", s.scan_id, s.phase_index,
			s.phases, s.phase, st_fmt_duration((int64_t)(now - started), a, sizeof(a)), e);
	}
	{
		sqlite3_stmt *q;
		int any = 0;
		if (sqlite3_prepare_v2(db,
				       "SELECT kind, priority, count(*), sum(state = 1), sum(bytes) FROM tasks WHERE state IN (0, 1)"
				       " GROUP BY kind, priority ORDER BY priority DESC",
				       -1, &q, NULL) == SQLITE_OK) {
			while (sqlite3_step(q) == SQLITE_ROW) {
				char sz[32];
				if (!any)
					fprintf(out, "pending tasks   %-18s %4s %8s %8s %10s\n", "KIND", "PRIO", "PENDING", "RUNNING", "BYTES");
				any = 1;
				fprintf(out, "                %-18s %4d %8" PRId64 " %8" PRId64 " %10s\n",
					job_task_kind_name((enum job_task_kind)sqlite3_column_int(q, 0)), sqlite3_column_int(q, 1),
					(int64_t)sqlite3_column_int64(q, 2), (int64_t)sqlite3_column_int64(q, 3),
					st_fmt_size((uint64_t)sqlite3_column_int64(q, 4), sz, sizeof(sz)));
			}
			sqlite3_finalize(q);
		}
		if (!any)
			fprintf(out, "pending tasks   none\n");
	}
	/* health */
	fprintf(out, "health\n");
	last_full = one_int(db, "SELECT coalesce(max(id), 0) FROM scans WHERE kind = 'full' AND state = 'done' AND ?1 = ?1", 0);
	if (!last_full) {
		fprintf(out, "  WARNING no full scan has completed yet\n");
		nw++;
	} else if (up && now > s.next_full + 60) {
		fprintf(out, "  WARNING full scan overdue by %s\n", st_fmt_duration((int64_t)(now - s.next_full), a, sizeof(a)));
		nw++;
	}
	{
		struct st_disk *d;
		struct st_node *n;
		int nd, nn;
		if (!st_config_disks(st_store_config(st), &d, &nd, NULL)) {
			for (int i = 0; i < nd; i++)
				if (!d[i].ok && !d[i].removed) {
					fprintf(out, "  WARNING disk %u (node %u, %s) has failed: its replicas need re-replication\n",
						d[i].id, d[i].node, st_tier_name(d[i].tier));
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
	}
	if (last_full) {
		int64_t missing = one_int(db, "SELECT json_extract(counters, '$.missing_replicas') FROM scans WHERE id = ?", last_full);
		int64_t low = one_int(db, "SELECT json_extract(counters, '$.refcount_low') + json_extract(counters,"
					  " '$.dangling_references') FROM scans WHERE id = ?", last_full);
		if (missing) {
			fprintf(out, "  WARNING %" PRId64 " replicas missing at the last full scan\n", missing);
			nw++;
		}
		if (low) {
			fprintf(out, "  WARNING %" PRId64 " refcount errors or dangling references at the last full scan\n", low);
			nw++;
		}
	}
	{
		int64_t last = one_int(db, "SELECT coalesce(max(id), 0) FROM scans WHERE state = 'done' AND ?1 = ?1", 0);
		int64_t under = one_int(db, "SELECT json_extract(counters, '$.under_replicated') FROM scans WHERE id = ?", last);
		int64_t one = one_int(db, "SELECT json_extract(counters, '$.one_copy_left') FROM scans WHERE id = ?", last);
		int64_t lost = one_int(db, "SELECT json_extract(counters, '$.lost_egroups') FROM scans WHERE id = ?", last);
		int64_t scrub = one_int(db, "SELECT json_extract(counters, '$.scrub_due') FROM scans WHERE id = ?", last);
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
	}
	{
		int64_t failed = one_int(db, "SELECT count(*) FROM tasks WHERE state = 4 AND ?1 = ?1", 0);
		if (failed) {
			fprintf(out, "  WARNING %" PRId64 " tasks failed three times (curator tasks list --state failed)\n", failed);
			nw++;
		}
	}
	if (!nw)
		fprintf(out, "  ok\n");
	*warnings = nw;
	job_db_close(db);
	return 0;
}
