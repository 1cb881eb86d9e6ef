/*
 * cu_html: the self-contained HTML report (inline SVG charts, no scripts,
 * no external assets) and the Prometheus text exposition of the scan
 * history in curator.db. Called by cu_report_write.
 *
 * DESIGN. The rows come from job_db_report (curator.db) and st_config
 * (disk capacities); this file only draws them. Every string that comes
 * from the database goes through esc() in HTML; Prometheus labels are our
 * own names (kinds, states, tiers, phases).
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "curator/cu_health.h"
#include "curator/cu_report_int.h"

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

/* An axis tick for people: whole numbers once the axis passes 10, else two significant digits; k and M past 10^4. */
static void tick_label(double val, double max, char *buf, size_t len)
{
	if (max >= 1e7)
		snprintf(buf, len, "%.0fM", val / 1e6);
	else if (max >= 1e4)
		snprintf(buf, len, "%.0fk", val / 1e3);
	else if (max >= 10)
		snprintf(buf, len, "%.0f", val);
	else
		snprintf(buf, len, "%.2g", val);
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
		char tick[32];
		tick_label(val, max, tick, sizeof(tick));
		fprintf(out, "<text x='%d' y='%d' font-size='11' text-anchor='end'>%s %s</text>\n", left - 4, y + 3, tick, unit);
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

static double jnum(const struct cu_report *r, int64_t scan, const char *name)
{
	return (double)cu_report_counter(r, scan, name);
}

/* Tier used vs capacity (from the scan's usage and config.db). */
static int tiers(const struct cu_report *r, char labels[][48], double v[][4])
{
	int64_t cap[ST_NTIERS], now[ST_NTIERS];
	int n = 0;

	cu_report_tier_capacity(r->cfg, cap, now);
	for (int t = 0; t < ST_NTIERS; t++) {
		int64_t b = 0, eg;
		double used, c = (double)cap[t];
		job_db_scan_usage_sum(r->db, r->scan, t, &b, &eg, NULL);
		used = (double)b;
		if (c <= 0 && used <= 0)
			continue;
		snprintf(labels[n], 48, "%s", st_tier_name((enum st_tier)t));
		v[n][0] = used / 1073741824.0;
		v[n][1] = (c > used ? c - used : 0) / 1073741824.0;
		n++;
	}
	return n;
}

static void iso(double t, char *buf, size_t len)
{
	time_t s = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&s, &tm))
		snprintf(buf, len, "never");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* The health banner: HEALTH_OK in green, WARN in amber, ERR in red, with each check. */
static void html_health(const struct cu_report *r, FILE *out)
{
	static const char *cls[] = { "ok", "warnb", "errb" };
	struct cu_health *h = malloc(sizeof(*h));

	if (!h || cu_health_get(r->cfg, h, NULL)) {
		free(h);
		return;
	}
	fprintf(out, "<div class='banner %s' id='health'><b>%s</b>", cls[h->status], cu_health_name(h->status));
	if (h->n)
		fputs("<ul>", out);
	for (int i = 0; i < h->n; i++) {
		fprintf(out, "<li><b>%s</b> %s: ", h->checks[i].severity == CU_HEALTH_ERR ? "ERR" : "WARN", h->checks[i].code);
		esc(out, h->checks[i].summary);
		fputs("</li>", out);
	}
	fprintf(out, "%s</div>\n", h->n ? "</ul>" : " (now, curator health)");
	free(h);
}

static void html_head(const struct cu_report *r, FILE *out)
{
	struct job_scan_row s;
	char url[ST_PATH_MAX], t1[40], t2[40];

	fputs("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>Curator report</title>\n"
	      "<style>body{font-family:sans-serif;margin:24px;color:#222;background:#fff}"
	      "h1{font-size:22px}h2{font-size:17px;margin-top:28px}figure{display:inline-block;margin:8px 16px 8px 0}"
	      "figcaption{font-weight:bold;margin-bottom:4px}table{border-collapse:collapse}"
	      "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}"
	      "th{background:#eef}td:first-child,th:first-child{text-align:left}.warn{color:#b00}"
	      ".err{color:#b00;font-weight:bold}.banner{padding:8px 12px;border-radius:4px;margin:12px 0}"
	      ".banner ul{margin:4px 0 0 0}.ok{background:#dff0d8;color:#1d5d1d}.warnb{background:#fcf3cf;color:#7a5b00}"
	      ".errb{background:#f8d7da;color:#8a1c1c}</style></head><body>\n",
	      out);
	fprintf(out, "<h1>Curator report: scan %" PRId64 "</h1>\n", r->scan);
	if (!job_db_scan_get(r->db, r->scan, &s, NULL)) {
		iso(s.started, t1, sizeof(t1));
		iso(s.ended, t2, sizeof(t2));
		fprintf(out, "<p id='scan'>%s scan, %s, started <time>%s</time>, ended <time>%s</time> (%.1f s), S0 %" PRId64
			     ", %d rank(s). ",
			s.kind, s.state, t1, t2, s.ended ? s.ended - s.started : 0.0, s.s0, s.ranks);
		if (*s.error) {
			fputs("<span class='err'>", out);
			esc(out, s.error);
			fputs("</span>", out);
		}
		fputs("</p>\n", out);
	}
	html_health(r, out);
	fputs("<p id='cloud'>Cloud tier: ", out);
	if (st_config_setting_get(r->cfg, "cloud_url", url, sizeof(url), NULL))
		fputs("none configured", out);
	else
		esc(out, url);
	fprintf(out, " (%.0f egroups, ", jnum(r, r->scan, "cloud_egroups"));
	fputs(st_fmt_size((uint64_t)jnum(r, r->scan, "cloud_bytes"), url, sizeof(url)), out);
	fputs(" at this scan)</p>\n", out);
}

/* Every disk: node, tier, state, capacity and use now (config.db), bytes at this scan. */
struct disk_scan {
	uint32_t disk;
	int64_t bytes, egroups;
	int found;
};

static int disk_scan_row(void *arg, const struct job_usage *u)
{
	struct disk_scan *d = arg;

	if ((uint32_t)u->disk == d->disk) {
		d->bytes = u->bytes;
		d->egroups = u->egroups;
		d->found = 1;
	}
	return 0;
}

static void html_disks(const struct cu_report *r, FILE *out)
{
	struct st_disk *d;
	int n;
	char b1[32], b2[32], b3[32];

	if (st_config_disks(r->cfg, &d, &n, NULL))
		return;
	fputs("<h2>Disks</h2><table id='disks'><tr><th>disk</th><th>node</th><th>tier</th><th>state</th><th>capacity</th>"
	      "<th>used now</th><th>use</th><th>bytes at the scan</th><th>egroups at the scan</th></tr>\n",
	      out);
	for (int i = 0; i < n; i++) {
		struct disk_scan ds = { d[i].id, 0, 0, 0 };
		const char *state = d[i].removed ? "removed" : !d[i].ok ? "failed" : d[i].draining ? "draining" : "ok";
		double pct = d[i].capacity ? 100.0 * (double)d[i].used / (double)d[i].capacity : 0;
		int warn = ST_TIER_WARN_PCT, full;
		st_config_tier_fill(r->cfg, d[i].tier, &warn, &full, NULL); /* its tier's TIER_NEARFULL threshold */
		job_db_scan_usage(r->db, r->scan, disk_scan_row, &ds, NULL);
		fprintf(out, "<tr><td>%u</td><td>%u</td><td>%s</td><td%s>%s</td><td>%s</td><td>%s</td><td%s>%.1f%%</td>"
			     "<td>%s</td><td>%" PRId64 "</td></tr>\n",
			d[i].id, d[i].node, st_tier_name(d[i].tier), !d[i].ok && !d[i].removed ? " class='err'" : "", state,
			st_fmt_size(d[i].capacity, b1, sizeof(b1)), st_fmt_size(d[i].used, b2, sizeof(b2)),
			pct >= warn ? " class='err'" : "", pct, st_fmt_size((uint64_t)ds.bytes, b3, sizeof(b3)), ds.egroups);
	}
	fputs("</table>\n", out);
	free(d);
}

static void html_summary(const struct cu_report *r, FILE *out)
{
	static const char *rows[][2] = { { "live_bytes", "live bytes" }, { "stored_bytes", "stored bytes per replica" },
					 { "dead_bytes", "reclaimable (dead extents)" }, { "garbage_bytes", "garbage in egroups" },
					 { "dead_extents", "dead extents" }, { "refcount_low", "refcounts below references" },
					 { "dangling_references", "dangling references" }, { "missing_replicas", "missing replicas" },
					 { "orphan_files", "unreferenced files" }, { "protected_by_safety_rule", "left for the next scan (safety rule)" },
					 { "under_replicated", "egroups under-replicated" }, { "one_copy_left", "egroups with one copy left" },
					 { "lost_egroups", "egroups with no healthy copy" },
					 { "unreadable_egroups", "egroups no read can serve (lost)" },
					 { "unreadable_bytes", "bytes lost" }, { "at_risk_bytes", "bytes at risk" },
					 { "scrub_due", "egroups due for scrubbing" } };
	char b1[32];

	fputs("<h2>What the scan found</h2><table><tr><th>finding</th><th>value</th></tr>\n", out);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		double val = jnum(r, r->scan, rows[i][0]);
		int bad = val > 0 && (!strcmp(rows[i][0], "refcount_low") || !strcmp(rows[i][0], "dangling_references") ||
				      !strncmp(rows[i][0], "unreadable", 10) || !strcmp(rows[i][0], "missing_replicas"));
		fprintf(out, "<tr%s><td>%s</td><td>", bad ? " class='err'" : "", rows[i][1]);
		if (strstr(rows[i][0], "bytes"))
			fputs(st_fmt_size((uint64_t)val, b1, sizeof(b1)), out);
		else
			fprintf(out, "%.0f", val);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
}

struct phase_secs {
	double *v;
	int k;
};

static int phase_secs(void *arg, const struct job_scan_phase *p)
{
	struct phase_secs *ps = arg;

	if (!strcmp(p->phase, "queueing tasks")) { /* the last column, whatever the scan's jobs */
		ps->v[3] = p->secs;
		return 0;
	}
	if (ps->k >= 3)
		return 0;
	ps->v[ps->k++] = p->secs;
	return 0;
}

/* The charts: tier usage, history of full scans, scan durations, savings, protection. */
static void html_charts(const struct cu_report *r, FILE *out, char labels[][48], double v[][4])
{
	int64_t ids[MAXPTS];
	int n = 0;

	fputs("<h2>Charts</h2>\n", out);
	/* tier usage */
	{
		static const char *series[] = { "used", "free" };
		int nt = tiers(r, labels, v);
		svg_bars(out, "Tier usage (GiB)", "GiB", nt, labels, 2, series, v);
	}
	/* history of full scans: reclaimable bytes and under-replicated egroups */
	job_db_scans_recent(r->db, "full", MAXPTS, ids, &n, NULL);
	for (int i = 0; i < n; i++) {
		snprintf(labels[i], 48, "%" PRId64, ids[i]);
		v[i][0] = (jnum(r, ids[i], "dead_bytes") + jnum(r, ids[i], "garbage_bytes")) / 1048576.0;
		v[i][1] = jnum(r, ids[i], "under_replicated");
	}
	{
		static const char *series[] = { "reclaimable MiB", "under-replicated egroups" };
		static const char *units[] = { "MiB", "egroups" };
		svg_lines(out, "Reclaimable bytes and under-replicated egroups over full scans", n, labels, 2, series, units, v);
	}
	/* scan durations by phase, last scans */
	job_db_scans_recent(r->db, NULL, 20, ids, &n, NULL);
	for (int i = 0; i < n; i++) {
		struct phase_secs ps = { v[i], 0 };
		snprintf(labels[i], 48, "%" PRId64, ids[i]);
		memset(v[i], 0, sizeof(v[i]));
		job_db_scan_phases(r->db, ids[i], phase_secs, &ps, NULL);
	}
	{
		static const char *series[] = { "MR1 / partial", "MR2", "MR3", "queueing" };
		svg_bars(out, "Scan durations by phase (s)", "s", n, labels, 4, series, v);
	}
	/* savings by kind: compression, dedup, EC */
	{
		static const char *series[] = { "bytes saved" };
		snprintf(labels[0], 48, "compression");
		snprintf(labels[1], 48, "dedup");
		snprintf(labels[2], 48, "erasure coding");
		v[0][0] = jnum(r, r->scan, "saved_compression") / 1048576.0;
		v[1][0] = jnum(r, r->scan, "saved_dedup") / 1048576.0;
		v[2][0] = jnum(r, r->scan, "saved_ec") / 1048576.0;
		svg_bars(out, "Savings by kind (MiB)", "MiB", 3, labels, 1, series, v);
	}
	/* protection: egroups by healthy copies left, from this scan */
	{
		static const char *series[] = { "egroups" };
		double under = jnum(r, r->scan, "under_replicated"), one = jnum(r, r->scan, "one_copy_left");
		double lost = jnum(r, r->scan, "lost_egroups"), all = jnum(r, r->scan, "egroups");
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
}

static int html_task_row(void *arg, int kind, const int64_t n[JS_FAILED + 1], int64_t done_bytes)
{
	char b1[32];

	fprintf(arg, "<tr><td>%s</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%s</td></tr>\n",
		job_task_kind_name((enum job_task_kind)kind), (int)n[JS_PENDING], (int)n[JS_RUNNING], (int)n[JS_DONE],
		(int)n[JS_STALE], (int)n[JS_FAILED], st_fmt_size((uint64_t)done_bytes, b1, sizeof(b1)));
	return 0;
}

struct html_findings {
	FILE *out;
	int any;
};

static int html_finding(void *arg, const struct job_finding *f)
{
	struct html_findings *h = arg;
	char eg[24];
	const char *col[4] = { f->kind, eg, f->extent, f->detail };

	if (!h->any)
		fputs("<h2>Findings (first 50)</h2><table><tr><th>kind</th><th>egroup</th><th>extent</th><th>detail</th></tr>\n",
		      h->out);
	h->any = 1;
	snprintf(eg, sizeof(eg), "%" PRIx64, f->egroup);
	fputs(!strcmp(f->kind, "unreadable") || !strcmp(f->kind, "missing_object") || strstr(f->kind, "corrupt") ||
			      strstr(f->kind, "dangling") || strstr(f->kind, "refcount_low")
		      ? "<tr class='err'>"
		      : "<tr>",
	      h->out);
	for (int c = 0; c < 4; c++) {
		fputs("<td>", h->out);
		esc(h->out, col[c]);
		fputs("</td>", h->out);
	}
	fputs("</tr>\n", h->out);
	return 0;
}

int cu_report_html(const struct cu_report *r)
{
	static char labels[MAXPTS][48];
	static double v[MAXPTS][4];
	struct html_findings hf = { r->out, 0 };
	FILE *out = r->out;

	html_head(r, out);
	html_summary(r, out);
	html_disks(r, out);
	html_charts(r, out, labels, v);
	fputs("<h2>Tasks</h2><table><tr><th>kind</th><th>pending</th><th>running</th><th>done</th><th>stale</th><th>failed</th>"
	      "<th>bytes reclaimed</th></tr>\n",
	      out);
	job_db_tasks_by_kind(r->db, html_task_row, out, NULL);
	fputs("</table>\n", out);
	job_db_scan_findings(r->db, r->scan, 50, html_finding, &hf, NULL);
	if (hf.any)
		fputs("</table>\n", out);
	fputs("</body></html>\n", out);
	return 0;
}

/* --- Prometheus text exposition format 0.0.4 ----------------------------- */

static int prom_last_secs(void *arg, const char *kind, double secs)
{
	fprintf(arg, "curator_last_scan_duration_seconds{kind=\"%s\"} %.3f\n", kind, secs);
	return 0;
}

static int prom_last_end(void *arg, const char *kind, double ended)
{
	fprintf(arg, "curator_last_scan_end_timestamp_seconds{kind=\"%s\"} %.0f\n", kind, ended);
	return 0;
}

static int prom_phase(void *arg, const struct job_scan_phase *p)
{
	fprintf(arg, "curator_scan_phase_duration_seconds{phase=\"%s\"} %.3f\n", p->phase, p->secs);
	return 0;
}

static int prom_tasks(void *arg, int kind, const int64_t n[JS_FAILED + 1], int64_t done_bytes)
{
	(void)done_bytes;
	for (int s = JS_PENDING; s <= JS_FAILED; s++)
		if (n[s])
			fprintf(arg, "curator_tasks{kind=\"%s\",state=\"%s\"} %d\n", job_task_kind_name((enum job_task_kind)kind),
				job_task_state_name((enum job_task_state)s), (int)n[s]);
	return 0;
}

static int prom_reclaimed(void *arg, int kind, const int64_t n[JS_FAILED + 1], int64_t done_bytes)
{
	if (n[JS_DONE])
		fprintf(arg, "curator_tasks_reclaimed_bytes_total{kind=\"%s\"} %" PRId64 "\n",
			job_task_kind_name((enum job_task_kind)kind), done_bytes);
	return 0;
}

static int prom_disk(void *arg, const struct job_usage *u)
{
	fprintf(arg, "curator_disk_used_bytes{disk=\"%d\",tier=\"%s\"} %" PRId64 "\n", (int)u->disk,
		st_tier_name((enum st_tier)u->tier), u->bytes);
	return 0;
}

static void prom_disks(struct st_config *cfg, FILE *out)
{
	struct st_disk *d;
	int n;

	if (st_config_disks(cfg, &d, &n, NULL))
		return;
	fputs("# HELP curator_disk_capacity_bytes Capacity of each disk.\n# TYPE curator_disk_capacity_bytes gauge\n", out);
	for (int i = 0; i < n; i++)
		if (!d[i].removed)
			fprintf(out, "curator_disk_capacity_bytes{disk=\"%d\",tier=\"%s\"} %" PRId64 "\n", (int)d[i].id,
				st_tier_name(d[i].tier), (int64_t)d[i].capacity);
	fputs("# HELP curator_disk_up Whether each disk is usable (1) or failed (0).\n# TYPE curator_disk_up gauge\n", out);
	for (int i = 0; i < n; i++)
		if (!d[i].removed)
			fprintf(out, "curator_disk_up{disk=\"%d\"} %d\n", (int)d[i].id, d[i].ok);
	free(d);
}

int cu_report_prom(const struct cu_report *r)
{
	/* counter name, metric name (curator_scan_...), help */
	static const char *gauges[][3] = {
		{ "live_bytes", "live_bytes", "Raw bytes of extents still referenced, at the last scan." },
		{ "stored_bytes", "stored_bytes", "Bytes of egroups per replica, at the last scan." },
		{ "dead_bytes", "dead_bytes", "Bytes of dead extents found by the last scan." },
		{ "garbage_bytes", "garbage_bytes", "Garbage bytes inside egroups, at the last scan." },
		{ "dead_extents", "dead_extents", "Dead extents found by the last scan." },
		{ "refcount_low", "refcount_low", "Recorded refcounts below their references (errors), last scan." },
		{ "dangling_references", "dangling_references", "Dangling references (errors), last scan." },
		{ "missing_replicas", "missing_replicas", "Replicas whose file is missing, last scan." },
		{ "orphan_files", "orphan_files", "Egroup files no metadata references, last scan." },
		{ "protected_by_safety_rule", "protected_by_safety_rule", "Items the safety rule left for the next scan." },
		{ "corrupt_rows", "corrupt_rows", "Metadata rows failing their checksum, last scan." },
		{ "under_replicated", "under_replicated_egroups", "Egroups with fewer healthy copies than their RF, last scan." },
		{ "one_copy_left", "one_copy_left_egroups", "Egroups down to one healthy copy, last scan." },
		{ "lost_egroups", "no_healthy_copy_egroups", "Egroups with no healthy copy (maybe still readable), last scan." },
		{ "unreadable_egroups", "unreadable_egroups", "Egroups no read can serve (data lost), last scan." },
		{ "unreadable_bytes", "unreadable_bytes", "Bytes of the egroups no read can serve, last scan." },
		{ "at_risk_bytes", "at_risk_bytes", "Bytes of under-replicated egroups, last scan." },
		{ "scrub_due", "scrub_due_egroups", "Egroups due for scrubbing, last scan." },
		{ "saved_compression", "compression_saved_bytes", "Bytes on disk saved by compression (all copies), last scan." },
		{ "saved_dedup", "dedup_saved_bytes", "Bytes on disk saved by dedup (all copies), last scan." },
		{ "saved_ec", "ec_saved_bytes", "Bytes on disk saved by erasure coding, last scan." },
		{ "cloud_bytes", "cloud_bytes", "Bytes of egroups on the cloud tier, last scan." },
		{ "cloud_egroups", "cloud_egroups", "Egroups on the cloud tier, last scan." },
	};
	FILE *out = r->out;

	for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++)
		fprintf(out, "# HELP curator_scan_%s %s\n# TYPE curator_scan_%s gauge\ncurator_scan_%s %.0f\n", gauges[i][1],
			gauges[i][2], gauges[i][1], gauges[i][1], jnum(r, r->scan, gauges[i][0]));
	fputs("# HELP curator_last_scan_duration_seconds Duration of the last finished scan of each kind.\n"
	      "# TYPE curator_last_scan_duration_seconds gauge\n",
	      out);
	job_db_scans_last_secs(r->db, prom_last_secs, out, NULL);
	fputs("# HELP curator_last_scan_end_timestamp_seconds When the last scan of each kind ended.\n"
	      "# TYPE curator_last_scan_end_timestamp_seconds gauge\n",
	      out);
	job_db_scans_last_end(r->db, prom_last_end, out, NULL);
	fputs("# HELP curator_scan_phase_duration_seconds Duration of each phase of the last scan.\n"
	      "# TYPE curator_scan_phase_duration_seconds gauge\n",
	      out);
	job_db_scan_phases(r->db, r->scan, prom_phase, out, NULL);
	fputs("# HELP curator_tasks Tasks in the queue by kind and state.\n# TYPE curator_tasks gauge\n", out);
	job_db_tasks_by_kind(r->db, prom_tasks, out, NULL);
	fputs("# HELP curator_tasks_reclaimed_bytes_total Bytes freed by finished tasks, by kind.\n"
	      "# TYPE curator_tasks_reclaimed_bytes_total counter\n",
	      out);
	job_db_tasks_by_kind(r->db, prom_reclaimed, out, NULL);
	fputs("# HELP curator_disk_used_bytes Egroup bytes per disk at the last scan.\n# TYPE curator_disk_used_bytes gauge\n", out);
	job_db_scan_usage(r->db, r->scan, prom_disk, out, NULL);
	prom_disks(r->cfg, out);
	{
		/* judged as health and status judge it: by the master lease, never a wall-clock heartbeat */
		struct job_daemon_state s;
		int found = 0;
		job_db_daemon_get(r->db, &s, &found, NULL);
		fprintf(out, "# HELP curator_master_up Whether a curator master is running.\n# TYPE curator_master_up gauge\n"
			     "curator_master_up %d\n",
			found && strcmp(s.state, "stopped") && cu_master_up(r->cfg) ? 1 : 0);
	}
	{
		struct cu_health *h = malloc(sizeof(*h));
		if (h && !cu_health_get(r->cfg, h, NULL))
			cu_health_prom(h, out);
		free(h);
	}
	return 0;
}
