/*
 * cu_report: text and JSON reports of scans, and the task list. The JSON
 * document is assembled by SQLite (json_object, json_group_array) from the
 * stored scan row, so nothing is escaped by hand.
 */
#include "curator/cu_report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/job_db.h"
#include "storage/st_config.h"
#include "storage/st_sql.h"

static int latest(sqlite3 *db, int64_t *scan)
{
	sqlite3_stmt *q;
	int rc = ST_ENOTFOUND;

	if (sqlite3_prepare_v2(db, "SELECT max(id) FROM scans", -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL) {
		*scan = (int64_t)sqlite3_column_int64(q, 0);
		rc = 0;
	}
	sqlite3_finalize(q);
	return rc;
}

static const char json_sql[] =
	"SELECT json_object("
	" 'scan', s.id, 'kind', s.kind, 'dry_run', json(CASE s.dry_run WHEN 1 THEN 'true' ELSE 'false' END),"
	" 'state', s.state, 'started', s.started, 'ended', s.ended, 'duration_secs', s.ended - s.started,"
	" 's0', s.s0, 'ranks', s.ranks, 'error', s.error,"
	" 'phases', json(coalesce(s.phases, '[]')), 'counters', json(coalesce(s.counters, '{}')),"
	" 'task_results', json(s.task_results),"
	" 'tasks', (SELECT json_group_object(k, n) FROM (SELECT kind AS k, count(*) AS n FROM tasks WHERE scan = s.id GROUP BY kind)),"
	" 'usage', (SELECT json_group_array(json_object('disk', disk, 'tier', tier, 'bytes', bytes, 'egroups', egroups))"
	"           FROM usage WHERE scan = s.id),"
	" 'findings', (SELECT json_group_array(json_object('kind', kind, 'egroup', printf('%x', egroup), 'extent', extent,"
	"           'detail', detail)) FROM (SELECT * FROM findings WHERE scan = s.id LIMIT 1000)))"
	" FROM scans s WHERE s.id = ?";

static int64_t counter(sqlite3 *db, int64_t scan, const char *name)
{
	sqlite3_stmt *q;
	int64_t v = 0;
	char path[96];

	snprintf(path, sizeof(path), "$.%s", name);
	if (sqlite3_prepare_v2(db, "SELECT json_extract(counters, ?) FROM scans WHERE id = ?", -1, &q, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(q, 1, path, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 2, scan);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = (int64_t)sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

static void text_report(sqlite3 *db, int64_t scan, FILE *out)
{
	sqlite3_stmt *q;
	char b1[32], b2[32], b3[32], b4[32];

	if (sqlite3_prepare_v2(db, "SELECT kind, dry_run, state, started, ended, s0, ranks, error FROM scans WHERE id = ?",
			       -1, &q, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(q, 1, scan);
	if (sqlite3_step(q) == SQLITE_ROW) {
		double st = sqlite3_column_double(q, 3), en = sqlite3_column_double(q, 4);
		fprintf(out, "scan %" PRId64 ": %s%s, %s, S0 %" PRId64 ", %d rank(s)\n", scan, sqlite3_column_text(q, 0),
			sqlite3_column_int(q, 1) ? " (dry run: nothing queued)" : "", sqlite3_column_text(q, 2),
			(int64_t)sqlite3_column_int64(q, 5), sqlite3_column_int(q, 6));
		fprintf(out, "  started %.0f, took %.0f s\n", st, en > st ? en - st : 0);
		if (sqlite3_column_type(q, 7) != SQLITE_NULL)
			fprintf(out, "  error: %s\n", sqlite3_column_text(q, 7));
	}
	sqlite3_finalize(q);
	fprintf(out, "\nphases\n  %-28s %10s %14s %14s\n", "PHASE", "SECONDS", "RECORDS IN", "RECORDS OUT");
	if (sqlite3_prepare_v2(db,
			       "SELECT json_extract(value, '$.phase'), json_extract(value, '$.secs'),"
			       " json_extract(value, '$.records_in'), json_extract(value, '$.records_out')"
			       " FROM scans, json_each(scans.phases) WHERE scans.id = ?",
			       -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, scan);
		while (sqlite3_step(q) == SQLITE_ROW)
			fprintf(out, "  %-28s %10.3f %14" PRId64 " %14" PRId64 "\n", sqlite3_column_text(q, 0),
				sqlite3_column_double(q, 1), (int64_t)sqlite3_column_int64(q, 2), (int64_t)sqlite3_column_int64(q, 3));
		sqlite3_finalize(q);
	}
	fprintf(out, "\nwhat it found\n");
	fprintf(out, "  metadata        %" PRId64 " block rows, %" PRId64 " extent-ID rows, %" PRId64 " egroups, %" PRId64
		" extents, %" PRId64 " files\n",
		counter(db, scan, "block_rows"), counter(db, scan, "extent_ids"), counter(db, scan, "egroups"),
		counter(db, scan, "extents"), counter(db, scan, "files"));
	fprintf(out, "  bytes           %s stored per replica, %s live\n",
		st_fmt_size((uint64_t)counter(db, scan, "stored_bytes"), b1, sizeof(b1)),
		st_fmt_size((uint64_t)counter(db, scan, "live_bytes"), b2, sizeof(b2)));
	fprintf(out, "  garbage         %" PRId64 " dead extents (%s), %" PRId64 " dead egroups, %s garbage in egroups\n",
		counter(db, scan, "dead_extents"), st_fmt_size((uint64_t)counter(db, scan, "dead_bytes"), b1, sizeof(b1)),
		counter(db, scan, "dead_egroups"),
		st_fmt_size((uint64_t)counter(db, scan, "garbage_bytes"), b3, sizeof(b3)));
	fprintf(out, "  refcounts       %" PRId64 " below their references (errors), %" PRId64 " above\n",
		counter(db, scan, "refcount_low"), counter(db, scan, "refcount_high"));
	fprintf(out, "  references      %" PRId64 " dangling (errors), %" PRId64 " orphan extent-ID rows\n",
		counter(db, scan, "dangling_references"), counter(db, scan, "orphan_extent_ids"));
	fprintf(out, "  vdisks          %" PRId64 " block rows of deleted vdisks, %" PRId64 " of unknown ones\n",
		counter(db, scan, "deleted_vdisk_rows"), counter(db, scan, "unknown_vdisk_rows"));
	fprintf(out, "  files           %" PRId64 " unreferenced (%s), %" PRId64 " replicas missing, %" PRId64
		" truncated\n",
		counter(db, scan, "orphan_files"),
		st_fmt_size((uint64_t)counter(db, scan, "orphan_file_bytes"), b1, sizeof(b1)),
		counter(db, scan, "missing_replicas"), counter(db, scan, "short_replicas"));
	fprintf(out, "  protection      %" PRId64 " egroups under-replicated (%" PRId64 " with one copy left, %" PRId64
		" with none), %s at risk, %" PRId64 " waiting for a node, %" PRId64 " with extra copies, %" PRId64
		" due for scrubbing\n",
		counter(db, scan, "under_replicated"), counter(db, scan, "one_copy_left"), counter(db, scan, "lost_egroups"),
		st_fmt_size((uint64_t)counter(db, scan, "at_risk_bytes"), b1, sizeof(b1)), counter(db, scan, "awaiting_node"),
		counter(db, scan, "extra_replicas"), counter(db, scan, "scrub_due"));
	{
		int64_t comp = counter(db, scan, "saved_compression"), dd = counter(db, scan, "saved_dedup");
		int64_t ec = counter(db, scan, "saved_ec"), phys = 0;
		sqlite3_stmt *u;
		if (sqlite3_prepare_v2(db, "SELECT sum(bytes) FROM usage WHERE scan = ?", -1, &u, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(u, 1, scan);
			if (sqlite3_step(u) == SQLITE_ROW)
				phys = (int64_t)sqlite3_column_int64(u, 0);
			sqlite3_finalize(u);
		}
		fprintf(out, "  data reduction  compression saves %s (%" PRId64 " extents), dedup %s (%" PRId64
			" dedup extents), erasure coding %s; %.2f:1 over %s on disk\n",
			st_fmt_size((uint64_t)(comp > 0 ? comp : 0), b1, sizeof(b1)), counter(db, scan, "compressed_extents"),
			st_fmt_size((uint64_t)(dd > 0 ? dd : 0), b2, sizeof(b2)), counter(db, scan, "dedup_extents"),
			st_fmt_size((uint64_t)(ec > 0 ? ec : 0), b3, sizeof(b3)),
			phys > 0 ? (double)(phys + (comp > 0 ? comp : 0) + (dd > 0 ? dd : 0) + (ec > 0 ? ec : 0)) / (double)phys : 1.0,
			st_fmt_size((uint64_t)phys, b4, sizeof(b4)));
	}
	fprintf(out, "  safety rule     %" PRId64 " items changed after S0 left for the next scan; %" PRId64
		" corrupt rows skipped\n",
		counter(db, scan, "protected_by_safety_rule"), counter(db, scan, "corrupt_rows"));
	fprintf(out, "\ntasks queued\n");
	for (int k = 0; k < JT_NKINDS; k++) {
		char name[64];
		snprintf(name, sizeof(name), "tasks_%s", job_task_kind_name(k));
		int64_t n = counter(db, scan, name);
		if (n)
			fprintf(out, "  %-18s %" PRId64 "\n", job_task_kind_name(k), n);
	}
	if (sqlite3_prepare_v2(db, "SELECT task_results FROM scans WHERE id = ? AND task_results IS NOT NULL", -1, &q,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, scan);
		if (sqlite3_step(q) == SQLITE_ROW) {
			sqlite3_stmt *k;
			fprintf(out, "\nwhat the tasks did\n");
			if (sqlite3_prepare_v2(db,
					       "SELECT key, json_extract(value, '$.done'), json_extract(value, '$.stale'),"
					       " json_extract(value, '$.failed') FROM scans, json_each(scans.task_results)"
					       " WHERE scans.id = ? AND key != 'bytes_reclaimed'",
					       -1, &k, NULL) == SQLITE_OK) {
				sqlite3_bind_int64(k, 1, scan);
				while (sqlite3_step(k) == SQLITE_ROW)
					if ((int64_t)sqlite3_column_int64(k, 1) + (int64_t)sqlite3_column_int64(k, 2) + (int64_t)sqlite3_column_int64(k, 3))
						fprintf(out, "  %-18s %" PRId64 " done, %" PRId64 " stale, %" PRId64 " failed\n",
							sqlite3_column_text(k, 0), (int64_t)sqlite3_column_int64(k, 1),
							(int64_t)sqlite3_column_int64(k, 2), (int64_t)sqlite3_column_int64(k, 3));
				sqlite3_finalize(k);
			}
			if (sqlite3_prepare_v2(db, "SELECT json_extract(task_results, '$.bytes_reclaimed') FROM scans WHERE id = ?",
					       -1, &k, NULL) == SQLITE_OK) {
				sqlite3_bind_int64(k, 1, scan);
				if (sqlite3_step(k) == SQLITE_ROW)
					fprintf(out, "  bytes reclaimed    %s\n",
						st_fmt_size((uint64_t)(int64_t)sqlite3_column_int64(k, 0), b1, sizeof(b1)));
				sqlite3_finalize(k);
			}
		}
		sqlite3_finalize(q);
	}
	fprintf(out, "\nusage by tier (USED at the scan; NOW after the tasks since)\n  %-6s %12s %12s %6s %10s %12s\n", "TIER",
		"USED", "CAPACITY", "USE%", "EGROUPS", "NOW");
	{
		/* capacity from config.db; usage from this scan */
		char cfgp[4200];
		sqlite3 *cfg;
		snprintf(cfgp, sizeof(cfgp), "%s", sqlite3_db_filename(db, "main"));
		char *slash = strrchr(cfgp, '/');
		if (slash)
			snprintf(slash, sizeof(cfgp) - (size_t)(slash - cfgp), "/config.db");
		if (sqlite3_open_v2(cfgp, &cfg, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
			for (int t = 0; t < ST_NTIERS; t++) {
				sqlite3_stmt *a, *b;
				int64_t used = 0, eg = 0, cap = 0, now = 0;
				if (sqlite3_prepare_v2(db, "SELECT sum(bytes), sum(egroups) FROM usage WHERE scan = ? AND tier = ?", -1,
						       &a, NULL) == SQLITE_OK) {
					sqlite3_bind_int64(a, 1, scan);
					sqlite3_bind_int(a, 2, t);
					if (sqlite3_step(a) == SQLITE_ROW) {
						used = (int64_t)sqlite3_column_int64(a, 0);
						eg = (int64_t)sqlite3_column_int64(a, 1);
					}
					sqlite3_finalize(a);
				}
				if (sqlite3_prepare_v2(cfg, "SELECT sum(capacity), sum(used) FROM disks WHERE tier = ? AND removed = 0",
						       -1, &b, NULL) == SQLITE_OK) {
					sqlite3_bind_int(b, 1, t);
					if (sqlite3_step(b) == SQLITE_ROW) {
						cap = (int64_t)sqlite3_column_int64(b, 0);
						now = (int64_t)sqlite3_column_int64(b, 1);
					}
					sqlite3_finalize(b);
				}
				if (t == ST_TIER_CLOUD) { /* no disks: the objects the scan counted */
					used = now = counter(db, scan, "cloud_bytes");
					eg = counter(db, scan, "cloud_egroups");
				}
				if (cap || used)
					fprintf(out, "  %-6s %12s %12s %5.1f%% %10" PRId64 " %12s\n", st_tier_name((enum st_tier)t),
						st_fmt_size((uint64_t)used, b1, sizeof(b1)), st_fmt_size((uint64_t)cap, b2, sizeof(b2)),
						cap ? 100.0 * (double)used / (double)cap : 0.0, eg,
						st_fmt_size((uint64_t)now, b3, sizeof(b3)));
			}
			sqlite3_close(cfg);
		}
	}
	fprintf(out, "\nusage by disk\n  %-6s %-6s %12s %10s\n", "DISK", "TIER", "BYTES", "EGROUPS");
	if (sqlite3_prepare_v2(db, "SELECT disk, tier, bytes, egroups FROM usage WHERE scan = ? ORDER BY disk", -1, &q,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, scan);
		while (sqlite3_step(q) == SQLITE_ROW)
			fprintf(out, "  %-6" PRId64 " %-6s %12s %10" PRId64 "\n", (int64_t)sqlite3_column_int64(q, 0),
				st_tier_name((enum st_tier)sqlite3_column_int(q, 1)),
				st_fmt_size((uint64_t)(int64_t)sqlite3_column_int64(q, 2), b1, sizeof(b1)), (int64_t)sqlite3_column_int64(q, 3));
		sqlite3_finalize(q);
	}
	if (sqlite3_prepare_v2(db, "SELECT kind, printf('%x', egroup), coalesce(extent, ''), detail FROM findings"
				   " WHERE scan = ? ORDER BY kind LIMIT 20",
			       -1, &q, NULL) == SQLITE_OK) {
		int first = 1;
		sqlite3_bind_int64(q, 1, scan);
		while (sqlite3_step(q) == SQLITE_ROW) {
			if (first)
				fprintf(out, "\nfindings (first 20)\n");
			first = 0;
			fprintf(out, "  %-20s egroup %-14s %s %s\n", sqlite3_column_text(q, 0), sqlite3_column_text(q, 1),
				sqlite3_column_text(q, 2), sqlite3_column_text(q, 3));
		}
		sqlite3_finalize(q);
	}
}

int cu_report_write(const char *dir, int64_t scan, enum cu_format fmt, FILE *out, struct st_msg *err)
{
	sqlite3 *db;
	int rc = job_db_open(dir, &db, err);

	if (rc)
		return rc;
	if (scan == 0 && latest(db, &scan)) {
		job_db_close(db);
		return st_fail(err, ST_ENOTFOUND, "no scan has run yet (curator scan full)");
	}
	if (fmt == CU_HTML) {
		rc = cu_report_html(db, scan, out);
	} else if (fmt == CU_PROM) {
		rc = cu_report_prom(db, scan, out);
	} else if (fmt == CU_JSON) {
		sqlite3_stmt *q;
		rc = st_sql_prepare(db, json_sql, &q, err);
		if (!rc) {
			sqlite3_bind_int64(q, 1, scan);
			if (sqlite3_step(q) == SQLITE_ROW)
				fprintf(out, "%s\n", sqlite3_column_text(q, 0));
			else
				rc = st_fail(err, ST_ENOTFOUND, "scan %" PRId64 ": not found", scan);
			sqlite3_finalize(q);
		}
	} else {
		sqlite3_stmt *q;
		if (sqlite3_prepare_v2(db, "SELECT 1 FROM scans WHERE id = ?", -1, &q, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(q, 1, scan);
			if (sqlite3_step(q) != SQLITE_ROW)
				rc = st_fail(err, ST_ENOTFOUND, "scan %" PRId64 ": not found", scan);
			sqlite3_finalize(q);
		}
		if (!rc)
			text_report(db, scan, out);
	}
	job_db_close(db);
	return rc;
}

int cu_tasks_list(const char *dir, int kind, const char *state, FILE *out, struct st_msg *err)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	int st_code = -1;
	int rc = job_db_open(dir, &db, err);

	if (rc)
		return rc;
	if (state) {
		for (int s = JS_PENDING; s <= JS_FAILED; s++)
			if (!strcmp(state, job_task_state_name((enum job_task_state)s)))
				st_code = s;
		if (st_code < 0) {
			job_db_close(db);
			return st_fail(err, ST_EINVAL, "--state '%s': pending, running, done, stale or failed", state);
		}
	}
	rc = st_sql_prepare(db,
			    "SELECT id, scan, kind, printf('%x', target), version, priority, state, attempts, bytes,"
			    " coalesce(error, '') FROM tasks WHERE (?1 < 0 OR kind = ?1)"
			    " AND (CASE WHEN ?2 < 0 THEN state IN (0, 1) ELSE state = ?2 END)"
			    " ORDER BY priority DESC, id",
			    &q, err);
	if (!rc) {
		sqlite3_bind_int(q, 1, kind);
		sqlite3_bind_int(q, 2, st_code);
		fprintf(out, "%-6s %-5s %-17s %-16s %-8s %-4s %-8s %-3s %-10s %s\n", "ID", "SCAN", "KIND", "TARGET", "VERSION",
			"PRIO", "STATE", "TRY", "BYTES", "ERROR");
		while (sqlite3_step(q) == SQLITE_ROW) {
			char b[32];
			fprintf(out, "%-6" PRId64 " %-5" PRId64 " %-17s %-16s %-8" PRId64 " %-4d %-8s %-3d %-10s %s\n",
				(int64_t)sqlite3_column_int64(q, 0), (int64_t)sqlite3_column_int64(q, 1),
				job_task_kind_name((enum job_task_kind)sqlite3_column_int(q, 2)), sqlite3_column_text(q, 3),
				(int64_t)sqlite3_column_int64(q, 4), sqlite3_column_int(q, 5),
				job_task_state_name((enum job_task_state)sqlite3_column_int(q, 6)), sqlite3_column_int(q, 7),
				st_fmt_size((uint64_t)(int64_t)sqlite3_column_int64(q, 8), b, sizeof(b)), sqlite3_column_text(q, 9));
		}
		sqlite3_finalize(q);
	}
	job_db_close(db);
	return rc;
}
