/*
 * cu_html: the self-contained HTML report (inline SVG charts, no scripts,
 * no external assets) and the Prometheus text exposition of the scan
 * history in curator.db. Called by cu_report_write.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "curator/cu_report.h"
#include "jobs/job_db.h"
#include "storage/st_config.h"

#define MAXPTS 40

static void esc(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '&': fputs("&amp;", out); break;
		case '"': fputs("&quot;", out); break;
		default: fputc(*s, out);
		}
	}
}

static const char *colors[] = { "#3b6ea5", "#e07b39", "#5aa55a", "#b54a4a", "#8c6bb1", "#888888" };

/* Bars: n groups, each with ns stacked series. */
static void svg_bars(FILE *out, const char *title, const char *unit, int n, char labels[][48], int ns,
		     const char *const *series, double v[][4])
{
	double max = 0;
	int w = 640, h = 240, left = 70, bottom = 50, bw;

	for (int i = 0; i < n; i++) {
		double sum = 0;
		for (int k = 0; k < ns; k++)
			sum += v[i][k];
		max = sum > max ? sum : max;
	}
	if (max <= 0)
		max = 1;
	bw = n ? (w - left - 20) / n : 10;
	fprintf(out, "<figure><figcaption>");
	esc(out, title);
	fprintf(out, "</figcaption><svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' role='img'>\n", w, h + 30);
	fprintf(out, "<line x1='%d' y1='10' x2='%d' y2='%d' stroke='#444'/><line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#444'/>\n",
		left, left, h - bottom + 10, left, h - bottom + 10, w - 10, h - bottom + 10);
	for (int t = 0; t <= 4; t++) {
		double val = max * t / 4;
		int y = h - bottom + 10 - (int)((h - bottom) * t / 4);
		fprintf(out, "<text x='%d' y='%d' font-size='10' text-anchor='end'>%.3g %s</text>\n", left - 4, y + 3, val, unit);
	}
	for (int i = 0; i < n; i++) {
		double acc = 0;
		for (int k = 0; k < ns; k++) {
			int bh = (int)((h - bottom) * v[i][k] / max);
			int y = h - bottom + 10 - (int)((h - bottom) * (acc + v[i][k]) / max);
			fprintf(out, "<rect x='%d' y='%d' width='%d' height='%d' fill='%s'><title>", left + 4 + i * bw, y,
				bw > 8 ? bw - 6 : 2, bh > 0 ? bh : 0, colors[k % 6]);
			esc(out, labels[i]);
			fprintf(out, " %s: %.4g %s</title></rect>\n", series[k], v[i][k], unit);
			acc += v[i][k];
		}
		fprintf(out, "<text x='%d' y='%d' font-size='10' text-anchor='middle'>", left + 4 + i * bw + (bw - 6) / 2,
			h - bottom + 24);
		esc(out, labels[i]);
		fprintf(out, "</text>\n");
	}
	for (int k = 0; k < ns; k++)
		fprintf(out, "<rect x='%d' y='%d' width='10' height='10' fill='%s'/><text x='%d' y='%d' font-size='11'>%s</text>\n",
			left + k * 150, h + 12, colors[k % 6], left + 14 + k * 150, h + 21, series[k]);
	fprintf(out, "</svg></figure>\n");
}

/* Lines over scans: n points, ns series. */
static void svg_lines(FILE *out, const char *title, int n, char labels[][48], int ns, const char *const *series,
		      const char *const *units, double v[][4])
{
	int w = 640, h = 240, left = 70, bottom = 50;

	fprintf(out, "<figure><figcaption>");
	esc(out, title);
	fprintf(out, "</figcaption><svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' role='img'>\n", w, h + 30);
	fprintf(out, "<line x1='%d' y1='10' x2='%d' y2='%d' stroke='#444'/><line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#444'/>\n",
		left, left, h - bottom + 10, left, h - bottom + 10, w - 10, h - bottom + 10);
	for (int k = 0; k < ns; k++) {
		double max = 0;
		for (int i = 0; i < n; i++)
			max = v[i][k] > max ? v[i][k] : max;
		if (max <= 0)
			max = 1;
		fprintf(out, "<polyline fill='none' stroke='%s' stroke-width='2' points='", colors[k % 6]);
		for (int i = 0; i < n; i++) {
			int x = left + 10 + (n > 1 ? i * (w - left - 30) / (n - 1) : 0);
			int y = h - bottom + 10 - (int)((h - bottom) * v[i][k] / max);
			fprintf(out, "%d,%d ", x, y);
		}
		fprintf(out, "'/>\n");
		for (int i = 0; i < n; i++) {
			int x = left + 10 + (n > 1 ? i * (w - left - 30) / (n - 1) : 0);
			int y = h - bottom + 10 - (int)((h - bottom) * v[i][k] / max);
			fprintf(out, "<circle cx='%d' cy='%d' r='3' fill='%s'><title>scan %s: %.4g %s</title></circle>\n", x, y,
				colors[k % 6], labels[i], v[i][k], units[k]);
		}
		fprintf(out, "<text x='%d' y='%d' font-size='10' fill='%s'>max %.4g %s</text>\n", left + 4, 22 + 12 * k,
			colors[k % 6], max, units[k]);
	}
	for (int i = 0; i < n; i += n > 12 ? n / 12 + 1 : 1)
		fprintf(out, "<text x='%d' y='%d' font-size='10' text-anchor='middle'>%s</text>\n",
			left + 10 + (n > 1 ? i * (w - left - 30) / (n - 1) : 0), h - bottom + 24, labels[i]);
	for (int k = 0; k < ns; k++)
		fprintf(out, "<rect x='%d' y='%d' width='10' height='10' fill='%s'/><text x='%d' y='%d' font-size='11'>%s</text>\n",
			left + k * 220, h + 12, colors[k % 6], left + 14 + k * 220, h + 21, series[k]);
	fprintf(out, "</svg></figure>\n");
}

static double jnum(sqlite3 *db, int64_t scan, const char *path)
{
	sqlite3_stmt *q;
	double v = 0;

	if (sqlite3_prepare_v2(db, "SELECT json_extract(counters, ?) FROM scans WHERE id = ?", -1, &q, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(q, 1, path, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 2, scan);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_double(q, 0);
	sqlite3_finalize(q);
	return v;
}

/* Tier used vs capacity (from the scan's usage and config.db). */
static int tiers(sqlite3 *db, sqlite3 *cfg, int64_t scan, char labels[][48], double v[][4])
{
	int n = 0;

	for (int t = 0; t < ST_NTIERS; t++) {
		sqlite3_stmt *a, *b;
		double used = 0, cap = 0;
		if (sqlite3_prepare_v2(db, "SELECT coalesce(sum(bytes), 0) FROM usage WHERE scan = ? AND tier = ?", -1, &a, NULL) ==
		    SQLITE_OK) {
			sqlite3_bind_int64(a, 1, scan);
			sqlite3_bind_int(a, 2, t);
			if (sqlite3_step(a) == SQLITE_ROW)
				used = sqlite3_column_double(a, 0);
			sqlite3_finalize(a);
		}
		if (cfg && sqlite3_prepare_v2(cfg, "SELECT coalesce(sum(capacity), 0) FROM disks WHERE tier = ? AND removed = 0",
					      -1, &b, NULL) == SQLITE_OK) {
			sqlite3_bind_int(b, 1, t);
			if (sqlite3_step(b) == SQLITE_ROW)
				cap = sqlite3_column_double(b, 0);
			sqlite3_finalize(b);
		}
		if (cap <= 0 && used <= 0)
			continue;
		snprintf(labels[n], 48, "%s", st_tier_name((enum st_tier)t));
		v[n][0] = used / 1073741824.0;
		v[n][1] = (cap > used ? cap - used : 0) / 1073741824.0;
		n++;
	}
	return n;
}

static sqlite3 *open_cfg(sqlite3 *db)
{
	char p[4200];
	sqlite3 *cfg = NULL;
	const char *f = sqlite3_db_filename(db, "main");
	const char *slash = f ? strrchr(f, '/') : NULL;

	if (!slash)
		return NULL;
	snprintf(p, sizeof(p), "%.*s/config.db", (int)(slash - f), f);
	if (sqlite3_open_v2(p, &cfg, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(cfg);
		return NULL;
	}
	return cfg;
}

int cu_report_html(sqlite3 *db, int64_t scan, FILE *out)
{
	static char labels[MAXPTS][48];
	static double v[MAXPTS][4];
	sqlite3 *cfg = open_cfg(db);
	sqlite3_stmt *q;
	int64_t ids[MAXPTS];
	int n = 0;
	char b1[32];

	fputs("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>Curator report</title>\n"
	      "<style>body{font-family:sans-serif;margin:24px;color:#222;background:#fff}"
	      "h1{font-size:22px}h2{font-size:17px;margin-top:28px}figure{display:inline-block;margin:8px 16px 8px 0}"
	      "figcaption{font-weight:bold;margin-bottom:4px}table{border-collapse:collapse}"
	      "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}"
	      "th{background:#eef}td:first-child,th:first-child{text-align:left}.warn{color:#b00}</style></head><body>\n",
	      out);
	fprintf(out, "<h1>Curator report: scan %" PRId64 "</h1>\n", scan);
	if (sqlite3_prepare_v2(db, "SELECT kind, state, s0, ranks, ended - started, coalesce(error, '') FROM scans WHERE id = ?",
			       -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, scan);
		if (sqlite3_step(q) == SQLITE_ROW) {
			fprintf(out, "<p>%s scan, %s, S0 %" PRId64 ", %d rank(s), %.1f s. ", sqlite3_column_text(q, 0),
				sqlite3_column_text(q, 1), (int64_t)sqlite3_column_int64(q, 2), sqlite3_column_int(q, 3),
				sqlite3_column_double(q, 4));
			if (*sqlite3_column_text(q, 5)) {
				fputs("<span class='warn'>", out);
				esc(out, (const char *)sqlite3_column_text(q, 5));
				fputs("</span>", out);
			}
			fputs("</p>\n", out);
		}
		sqlite3_finalize(q);
	}
	/* summary table */
	{
		static const char *rows[][2] = { { "live_bytes", "live bytes" }, { "stored_bytes", "stored bytes per replica" },
						 { "dead_bytes", "reclaimable (dead extents)" }, { "garbage_bytes", "garbage in egroups" },
						 { "dead_extents", "dead extents" }, { "refcount_low", "refcounts below references" },
						 { "dangling_references", "dangling references" }, { "missing_replicas", "missing replicas" },
						 { "orphan_files", "unreferenced files" }, { "protected_by_safety_rule", "left for the next scan (safety rule)" },
						 { "under_replicated", "egroups under-replicated" }, { "one_copy_left", "egroups with one copy left" },
						 { "lost_egroups", "egroups with no healthy copy" }, { "at_risk_bytes", "bytes at risk" },
						 { "scrub_due", "egroups due for scrubbing" } };
		fputs("<h2>What the scan found</h2><table><tr><th>finding</th><th>value</th></tr>\n", out);
		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			char path[64];
			double val;
			snprintf(path, sizeof(path), "$.%s", rows[i][0]);
			val = jnum(db, scan, path);
			fprintf(out, "<tr><td>%s</td><td>", rows[i][1]);
			if (strstr(rows[i][0], "bytes"))
				fputs(st_fmt_size((uint64_t)val, b1, sizeof(b1)), out);
			else
				fprintf(out, "%.0f", val);
			fputs("</td></tr>\n", out);
		}
		fputs("</table>\n", out);
	}
	fputs("<h2>Charts</h2>\n", out);
	/* tier usage */
	{
		static const char *series[] = { "used", "free" };
		int nt = tiers(db, cfg, scan, labels, v);
		svg_bars(out, "Tier usage (GiB)", "GiB", nt, labels, 2, series, v);
	}
	/* history of full scans: reclaimable bytes and under-replicated egroups */
	n = 0;
	if (sqlite3_prepare_v2(db, "SELECT id FROM (SELECT id FROM scans WHERE state = 'done' AND kind = 'full' ORDER BY id DESC"
				   " LIMIT 40) ORDER BY id",
			       -1, &q, NULL) == SQLITE_OK) {
		while (sqlite3_step(q) == SQLITE_ROW && n < MAXPTS)
			ids[n++] = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
	for (int i = 0; i < n; i++) {
		snprintf(labels[i], 48, "%" PRId64, ids[i]);
		v[i][0] = (jnum(db, ids[i], "$.dead_bytes") + jnum(db, ids[i], "$.garbage_bytes")) / 1048576.0;
		v[i][1] = jnum(db, ids[i], "$.under_replicated");
	}
	{
		static const char *series[] = { "reclaimable MiB", "under-replicated egroups" };
		static const char *units[] = { "MiB", "egroups" };
		svg_lines(out, "Reclaimable bytes and under-replicated egroups over full scans", n, labels, 2, series, units, v);
	}
	/* scan durations by phase, last scans */
	n = 0;
	if (sqlite3_prepare_v2(db, "SELECT id FROM (SELECT id FROM scans WHERE state = 'done' ORDER BY id DESC LIMIT 20) ORDER BY id",
			       -1, &q, NULL) == SQLITE_OK) {
		while (sqlite3_step(q) == SQLITE_ROW && n < MAXPTS)
			ids[n++] = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
	for (int i = 0; i < n; i++) {
		sqlite3_stmt *p;
		snprintf(labels[i], 48, "%" PRId64, ids[i]);
		memset(v[i], 0, sizeof(v[i]));
		if (sqlite3_prepare_v2(db, "SELECT json_extract(value, '$.secs') FROM scans, json_each(scans.phases) WHERE scans.id = ?",
				       -1, &p, NULL) == SQLITE_OK) {
			int k = 0;
			sqlite3_bind_int64(p, 1, ids[i]);
			while (sqlite3_step(p) == SQLITE_ROW && k < 3)
				v[i][k++] = sqlite3_column_double(p, 0);
			sqlite3_finalize(p);
		}
	}
	{
		static const char *series[] = { "MR1 / partial", "MR2", "MR3" };
		svg_bars(out, "Scan durations by phase (s)", "s", n, labels, 3, series, v);
	}
	/* savings by kind: compression, dedup, EC */
	{
		static const char *series[] = { "bytes saved" };
		snprintf(labels[0], 48, "compression");
		snprintf(labels[1], 48, "dedup");
		snprintf(labels[2], 48, "erasure coding");
		v[0][0] = jnum(db, scan, "$.saved_compression") / 1048576.0;
		v[1][0] = jnum(db, scan, "$.saved_dedup") / 1048576.0;
		v[2][0] = jnum(db, scan, "$.saved_ec") / 1048576.0;
		svg_bars(out, "Savings by kind (MiB)", "MiB", 3, labels, 1, series, v);
	}
	/* protection: egroups by healthy copies left, from this scan */
	{
		static const char *series[] = { "egroups" };
		double under = jnum(db, scan, "$.under_replicated"), one = jnum(db, scan, "$.one_copy_left");
		double lost = jnum(db, scan, "$.lost_egroups"), all = jnum(db, scan, "$.egroups");
		snprintf(labels[0], 48, "fully protected");
		snprintf(labels[1], 48, "short, 2+ copies");
		snprintf(labels[2], 48, "one copy left");
		snprintf(labels[3], 48, "no healthy copy");
		v[0][0] = all - under > 0 ? all - under : 0;
		v[1][0] = under - one - lost > 0 ? under - one - lost : 0;
		v[2][0] = one;
		v[3][0] = lost;
		svg_bars(out, "Protection: egroups by healthy copies", "", 4, labels, 1, series, v);
	}
	/* tasks */
	fputs("<h2>Tasks</h2><table><tr><th>kind</th><th>pending</th><th>running</th><th>done</th><th>stale</th><th>failed</th>"
	      "<th>bytes reclaimed</th></tr>\n",
	      out);
	if (sqlite3_prepare_v2(db, "SELECT kind, sum(state = 0), sum(state = 1), sum(state = 2), sum(state = 3), sum(state = 4),"
				   " sum(CASE WHEN state = 2 THEN bytes ELSE 0 END) FROM tasks GROUP BY kind ORDER BY kind",
			       -1, &q, NULL) == SQLITE_OK) {
		while (sqlite3_step(q) == SQLITE_ROW)
			fprintf(out, "<tr><td>%s</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%s</td></tr>\n",
				job_task_kind_name((enum job_task_kind)sqlite3_column_int(q, 0)), sqlite3_column_int(q, 1),
				sqlite3_column_int(q, 2), sqlite3_column_int(q, 3), sqlite3_column_int(q, 4),
				sqlite3_column_int(q, 5), st_fmt_size((uint64_t)sqlite3_column_int64(q, 6), b1, sizeof(b1)));
		sqlite3_finalize(q);
	}
	fputs("</table>\n", out);
	/* findings */
	if (sqlite3_prepare_v2(db, "SELECT kind, printf('%x', egroup), coalesce(extent, ''), detail FROM findings WHERE scan = ?"
				   " ORDER BY kind LIMIT 50",
			       -1, &q, NULL) == SQLITE_OK) {
		int first = 1;
		sqlite3_bind_int64(q, 1, scan);
		while (sqlite3_step(q) == SQLITE_ROW) {
			if (first)
				fputs("<h2>Findings (first 50)</h2><table><tr><th>kind</th><th>egroup</th><th>extent</th><th>detail</th></tr>\n",
				      out);
			first = 0;
			fputs("<tr>", out);
			for (int c = 0; c < 4; c++) {
				fputs("<td>", out);
				esc(out, (const char *)sqlite3_column_text(q, c));
				fputs("</td>", out);
			}
			fputs("</tr>\n", out);
		}
		if (!first)
			fputs("</table>\n", out);
		sqlite3_finalize(q);
	}
	fputs("</body></html>\n", out);
	sqlite3_close(cfg);
	return 0;
}

/* Prometheus text exposition format 0.0.4. */
int cu_report_prom(sqlite3 *db, int64_t scan, FILE *out)
{
	sqlite3 *cfg = open_cfg(db);
	sqlite3_stmt *q;
	static const char *gauges[][2] = {
		{ "live_bytes", "Raw bytes of extents still referenced, at the last scan." },
		{ "stored_bytes", "Bytes of egroups per replica, at the last scan." },
		{ "dead_bytes", "Bytes of dead extents found by the last scan." },
		{ "garbage_bytes", "Garbage bytes inside egroups, at the last scan." },
		{ "dead_extents", "Dead extents found by the last scan." },
		{ "refcount_low", "Recorded refcounts below their references (errors), last scan." },
		{ "dangling_references", "Dangling references (errors), last scan." },
		{ "missing_replicas", "Replicas whose file is missing, last scan." },
		{ "orphan_files", "Egroup files no metadata references, last scan." },
		{ "protected_by_safety_rule", "Items the safety rule left for the next scan." },
		{ "corrupt_rows", "Metadata rows failing their checksum, last scan." },
		{ "under_replicated", "Egroups with fewer healthy copies than their RF, last scan." },
		{ "one_copy_left", "Egroups down to one healthy copy, last scan." },
		{ "lost_egroups", "Egroups with no healthy copy, last scan." },
		{ "at_risk_bytes", "Bytes of under-replicated egroups, last scan." },
		{ "scrub_due", "Egroups due for scrubbing, last scan." },
		{ "saved_compression", "Bytes on disk saved by compression (all copies), last scan." },
		{ "saved_dedup", "Bytes on disk saved by dedup (all copies), last scan." },
		{ "saved_ec", "Bytes on disk saved by erasure coding, last scan." },
		{ "cloud_bytes", "Bytes of egroups on the cloud tier, last scan." },
		{ "cloud_egroups", "Egroups on the cloud tier, last scan." },
	};

	for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++) {
		char path[64];
		snprintf(path, sizeof(path), "$.%s", gauges[i][0]);
		fprintf(out, "# HELP curator_scan_%s %s\n# TYPE curator_scan_%s gauge\ncurator_scan_%s %.0f\n", gauges[i][0],
			gauges[i][1], gauges[i][0], gauges[i][0], jnum(db, scan, path));
	}
	fputs("# HELP curator_last_scan_duration_seconds Duration of the last finished scan of each kind.\n"
	      "# TYPE curator_last_scan_duration_seconds gauge\n",
	      out);
	if (sqlite3_prepare_v2(db, "SELECT kind, ended - started FROM scans WHERE id IN (SELECT max(id) FROM scans WHERE state = 'done'"
				   " GROUP BY kind)",
			       -1, &q, NULL) == SQLITE_OK) {
		while (sqlite3_step(q) == SQLITE_ROW)
			fprintf(out, "curator_last_scan_duration_seconds{kind=\"%s\"} %.3f\n", sqlite3_column_text(q, 0),
				sqlite3_column_double(q, 1));
		sqlite3_finalize(q);
	}
	fputs("# HELP curator_last_scan_end_timestamp_seconds When the last scan of each kind ended.\n"
	      "# TYPE curator_last_scan_end_timestamp_seconds gauge\n",
	      out);
	if (sqlite3_prepare_v2(db, "SELECT kind, max(ended) FROM scans WHERE state = 'done' GROUP BY kind", -1, &q, NULL) == SQLITE_OK) {
		while (sqlite3_step(q) == SQLITE_ROW)
			fprintf(out, "curator_last_scan_end_timestamp_seconds{kind=\"%s\"} %.0f\n", sqlite3_column_text(q, 0),
				sqlite3_column_double(q, 1));
		sqlite3_finalize(q);
	}
	fputs("# HELP curator_scan_phase_duration_seconds Duration of each phase of the last scan.\n"
	      "# TYPE curator_scan_phase_duration_seconds gauge\n",
	      out);
	if (sqlite3_prepare_v2(db, "SELECT json_extract(value, '$.phase'), json_extract(value, '$.secs') FROM scans,"
				   " json_each(scans.phases) WHERE scans.id = ?",
			       -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, scan);
		while (sqlite3_step(q) == SQLITE_ROW)
			fprintf(out, "curator_scan_phase_duration_seconds{phase=\"%s\"} %.3f\n", sqlite3_column_text(q, 0),
				sqlite3_column_double(q, 1));
		sqlite3_finalize(q);
	}
	fputs("# HELP curator_tasks Tasks in the queue by kind and state.\n# TYPE curator_tasks gauge\n", out);
	if (sqlite3_prepare_v2(db, "SELECT kind, state, count(*) FROM tasks GROUP BY kind, state", -1, &q, NULL) == SQLITE_OK) {
		while (sqlite3_step(q) == SQLITE_ROW)
			fprintf(out, "curator_tasks{kind=\"%s\",state=\"%s\"} %d\n",
				job_task_kind_name((enum job_task_kind)sqlite3_column_int(q, 0)),
				job_task_state_name((enum job_task_state)sqlite3_column_int(q, 1)), sqlite3_column_int(q, 2));
		sqlite3_finalize(q);
	}
	fputs("# HELP curator_tasks_reclaimed_bytes Bytes freed by finished tasks, by kind.\n"
	      "# TYPE curator_tasks_reclaimed_bytes gauge\n",
	      out);
	if (sqlite3_prepare_v2(db, "SELECT kind, sum(bytes) FROM tasks WHERE state = 2 GROUP BY kind", -1, &q, NULL) == SQLITE_OK) {
		while (sqlite3_step(q) == SQLITE_ROW)
			fprintf(out, "curator_tasks_reclaimed_bytes{kind=\"%s\"} %" PRId64 "\n",
				job_task_kind_name((enum job_task_kind)sqlite3_column_int(q, 0)), (int64_t)sqlite3_column_int64(q, 1));
		sqlite3_finalize(q);
	}
	fputs("# HELP curator_disk_used_bytes Egroup bytes per disk at the last scan.\n# TYPE curator_disk_used_bytes gauge\n", out);
	if (sqlite3_prepare_v2(db, "SELECT disk, tier, bytes FROM usage WHERE scan = ? ORDER BY disk", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, scan);
		while (sqlite3_step(q) == SQLITE_ROW)
			fprintf(out, "curator_disk_used_bytes{disk=\"%d\",tier=\"%s\"} %" PRId64 "\n", sqlite3_column_int(q, 0),
				st_tier_name((enum st_tier)sqlite3_column_int(q, 1)), (int64_t)sqlite3_column_int64(q, 2));
		sqlite3_finalize(q);
	}
	if (cfg) {
		fputs("# HELP curator_disk_capacity_bytes Capacity of each disk.\n# TYPE curator_disk_capacity_bytes gauge\n", out);
		if (sqlite3_prepare_v2(cfg, "SELECT id, tier, capacity, ok FROM disks WHERE removed = 0 ORDER BY id", -1, &q, NULL) ==
		    SQLITE_OK) {
			while (sqlite3_step(q) == SQLITE_ROW)
				fprintf(out, "curator_disk_capacity_bytes{disk=\"%d\",tier=\"%s\"} %" PRId64 "\n", sqlite3_column_int(q, 0),
					st_tier_name((enum st_tier)sqlite3_column_int(q, 1)), (int64_t)sqlite3_column_int64(q, 2));
			sqlite3_finalize(q);
		}
		fputs("# HELP curator_disk_up Whether each disk is usable (1) or failed (0).\n# TYPE curator_disk_up gauge\n", out);
		if (sqlite3_prepare_v2(cfg, "SELECT id, ok FROM disks WHERE removed = 0 ORDER BY id", -1, &q, NULL) == SQLITE_OK) {
			while (sqlite3_step(q) == SQLITE_ROW)
				fprintf(out, "curator_disk_up{disk=\"%d\"} %d\n", sqlite3_column_int(q, 0), sqlite3_column_int(q, 1));
			sqlite3_finalize(q);
		}
		sqlite3_close(cfg);
	}
	{
		struct job_daemon_state s;
		int found = 0;
		job_db_daemon_get(db, &s, &found, NULL);
		fprintf(out, "# HELP curator_master_up Whether a curator master is running.\n# TYPE curator_master_up gauge\n"
			     "curator_master_up %d\n",
			found && strcmp(s.state, "stopped") && (double)st_now() - s.heartbeat < 15 ? 1 : 0);
	}
	return 0;
}
