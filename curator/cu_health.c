/*
 * cu_health: see cu_health.h.
 *
 * DESIGN. Each check is a small function that looks at one source (the
 * topology, the daemon row, the last scan's counters and findings, the
 * queue) and adds at most one struct cu_health_check; the code table
 * below is the list of every code in a fixed order, so the metrics have a
 * stable set of series (0 when a check is fine). Nothing is inferred from
 * a figure that could not be read: the check is left out.
 */
#include "curator/cu_health.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/job_db_report.h"
#include "storage/st_lease.h"

/* clang-format off */
static const struct cu_health_code codes[] = {
	{ "DATA_UNREADABLE", CU_HEALTH_ERR, "egroups with no copy a read can use: their data is lost" },
	{ "METADATA_CORRUPT", CU_HEALTH_ERR, "metadata rows that fail their checksum or invariants (left alone)" },
	{ "REFCOUNT_LOW", CU_HEALTH_ERR, "refcounts below their references or dangling references" },
	{ "TIER_FULL", CU_HEALTH_ERR, "a tier is at or over its err fill threshold (default 95%; curator tier set): writes will fail" },
	{ "DATA_UNDER_REPLICATED", CU_HEALTH_WARN, "egroups with fewer healthy copies than their RF" },
	{ "EC_STRIPS_DEGRADED", CU_HEALTH_WARN, "erasure-coded strips with a member lost (reads decode it)" },
	{ "REPLICAS_MISSING", CU_HEALTH_WARN, "replica files missing or short at the last full scan" },
	{ "DISK_FAILED", CU_HEALTH_WARN, "disks marked failed: their replicas are copied elsewhere" },
	{ "NODE_DOWN", CU_HEALTH_WARN, "nodes marked down" },
	{ "TIER_NEARFULL", CU_HEALTH_WARN, "a tier is at or over its warn fill threshold (default 85%; curator tier set)" },
	{ "MASTER_DOWN", CU_HEALTH_WARN, "the curator daemon has stopped or is not heard from" },
	{ "SCAN_OVERDUE", CU_HEALTH_WARN, "no full scan yet, or the next one is late" },
	{ "SCAN_FAILED", CU_HEALTH_WARN, "the latest scan failed" },
	{ "SCRUB_OVERDUE", CU_HEALTH_WARN, "egroups overdue for scrubbing" },
	{ "TASKS_FAILED", CU_HEALTH_WARN, "tasks that failed three times" },
};
/* clang-format on */

#define NCODES ((int)(sizeof(codes) / sizeof(codes[0])))

const struct cu_health_code *cu_health_codes(int *n)
{
	*n = NCODES;
	return codes;
}

const char *cu_health_name(enum cu_health_level l)
{
	return l == CU_HEALTH_ERR ? "HEALTH_ERR" : l == CU_HEALTH_WARN ? "HEALTH_WARN" : "HEALTH_OK";
}

/* A new check of code (its severity from the table), with its summary; NULL when the table is full. */
static struct cu_health_check *add(struct cu_health *h, const char *code, int64_t count, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static struct cu_health_check *add(struct cu_health *h, const char *code, int64_t count, const char *fmt, ...)
{
	struct cu_health_check *c;
	va_list ap;

	if (h->n >= (int)(sizeof(h->checks) / sizeof(h->checks[0])))
		return NULL;
	c = &h->checks[h->n++];
	memset(c, 0, sizeof(*c));
	c->code = code;
	c->severity = CU_HEALTH_WARN;
	for (int i = 0; i < NCODES; i++)
		if (!strcmp(codes[i].code, code))
			c->severity = codes[i].severity;
	c->count = count;
	va_start(ap, fmt);
	vsnprintf(c->summary, sizeof(c->summary), fmt, ap);
	va_end(ap);
	if (c->severity > h->status)
		h->status = c->severity;
	return c;
}

static void item(struct cu_health_check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void item(struct cu_health_check *c, const char *fmt, ...)
{
	va_list ap;

	if (!c || c->nitems >= CU_HEALTH_ITEMS)
		return;
	va_start(ap, fmt);
	vsnprintf(c->items[c->nitems++], sizeof(c->items[0]), fmt, ap);
	va_end(ap);
}

static const char *plural(int64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* --- live: disks, nodes, tiers, the daemon ------------------------------ */

static void topology(struct st_config *cfg, struct cu_health *h)
{
	struct st_disk *d;
	struct st_node *nd;
	int n, nn;

	if (!st_config_disks(cfg, &d, &n, NULL)) {
		uint64_t cap[ST_NTIERS] = { 0 }, used[ST_NTIERS] = { 0 };
		int64_t failed = 0;
		struct cu_health_check *c = NULL;
		for (int i = 0; i < n; i++) {
			if (!d[i].ok && !d[i].removed)
				failed++;
			if (d[i].ok && !d[i].removed && d[i].tier < ST_NTIERS) {
				cap[d[i].tier] += d[i].capacity;
				used[d[i].tier] += d[i].used;
			}
		}
		if (failed)
			c = add(h, "DISK_FAILED", failed, "%" PRId64 " %s failed", failed, plural(failed, "disk has", "disks have"));
		for (int i = 0; c && i < n; i++)
			if (!d[i].ok && !d[i].removed)
				item(c, "disk %u (node %u, %s)", d[i].id, d[i].node, st_tier_name(d[i].tier));
		for (int t = 0; t < ST_NTIERS; t++) {
			double pct = cap[t] ? 100.0 * (double)used[t] / (double)cap[t] : 0;
			int warn, full;
			/* its thresholds in config.db (curator tier set); one that cannot be read: no verdict */
			if (!cap[t] || st_config_tier_fill(cfg, (enum st_tier)t, &warn, &full, NULL))
				continue;
			if (pct >= full || pct >= warn) {
				c = add(h, pct >= full ? "TIER_FULL" : "TIER_NEARFULL", 1, "tier %s is %.0f%% full",
					st_tier_name((enum st_tier)t), pct);
				item(c, "tier %s: %" PRIu64 " of %" PRIu64 " bytes used (warn at %d%%, err at %d%%)",
				     st_tier_name((enum st_tier)t), used[t], cap[t], warn, full);
			}
		}
		free(d);
	}
	if (!st_config_nodes(cfg, &nd, &nn, NULL)) {
		int64_t down = 0;
		struct cu_health_check *c = NULL;
		for (int i = 0; i < nn; i++)
			down += !nd[i].up;
		if (down)
			c = add(h, "NODE_DOWN", down, "%" PRId64 " %s down", down, plural(down, "node is", "nodes are"));
		for (int i = 0; c && i < nn; i++)
			if (!nd[i].up)
				item(c, "node %u", nd[i].id);
		free(nd);
	}
}

/*
 * Is a master up? A lease of kind master that is live and not silent for
 * its TTL as this host has seen it (st_lease.h): never the daemon row's
 * wall-clock heartbeat against this host's clock, nor its pid.
 */
int cu_master_up(struct st_config *cfg)
{
	struct st_lease_info *v = NULL;
	int n = 0, up = 0;

	if (st_lease_observe(cfg, &v, &n, NULL))
		return 0;
	for (int i = 0; i < n; i++)
		up |= v[i].kind == ST_LEASE_MASTER && v[i].state == ST_LEASE_LIVE && !v[i].expired;
	free(v);
	return up;
}

static void daemon_and_scans(struct st_config *cfg, struct job_db *db, struct cu_health *h)
{
	struct job_daemon_state s;
	struct job_scan_row row;
	double now = (double)st_now();
	int found = 0, up;
	int64_t last_full = 0, latest = 0;

	job_db_daemon_get(db, &s, &found, NULL);
	up = found && strcmp(s.state, "stopped") && cu_master_up(cfg);
	if (found && !up) {
		struct cu_health_check *c = add(h, "MASTER_DOWN", 1, "the curator daemon is %s",
						!strcmp(s.state, "stopped") ? "stopped" : "not heard from");
		item(c, "pid %" PRId64 " on %s, last heard from %.0f s ago", s.pid, s.host,
		     now - (s.heartbeat > 0 ? s.heartbeat : s.started));
	}
	job_db_scan_last_done(db, "full", &last_full, NULL);
	if (!last_full)
		add(h, "SCAN_OVERDUE", 1, "no full scan has completed yet");
	else if (up && now > s.next_full + 60)
		add(h, "SCAN_OVERDUE", 1, "the next full scan is %.0f s late", now - s.next_full);
	if (!job_db_scan_latest(db, &latest, NULL) && latest && !job_db_scan_get(db, latest, &row, NULL) &&
	    !strcmp(row.state, "failed")) {
		struct cu_health_check *c = add(h, "SCAN_FAILED", 1, "the latest scan (%" PRId64 ", %s) failed", row.id,
						row.kind);
		item(c, "scan %" PRId64 ": %s", row.id, row.error[0] ? row.error : "no reason recorded");
	}
}

/* --- what the last scans found ----------------------------------------- */

struct finding_items {
	struct cu_health_check *c;
	const char *kind, *kind2;
};

static int finding_item(void *arg, const struct job_finding *f)
{
	struct finding_items *fi = arg;

	if (!strcmp(f->kind, fi->kind) || (fi->kind2 && !strcmp(f->kind, fi->kind2)))
		item(fi->c, "%s", f->detail);
	return fi->c->nitems >= CU_HEALTH_ITEMS;
}

/* Counter name of scan, or -1 when it cannot be read. */
static int64_t counter(struct job_db *db, int64_t scan, const char *name)
{
	int64_t v = -1;

	if (!scan || job_db_scan_counter(db, scan, name, &v, NULL))
		return -1;
	return v;
}

/* A failed task as an item: "task 7 (rereplicate 1000000001002): why". */
static int failed_item(void *arg, const struct job_task *t, const char *error)
{
	struct cu_health_check *c = arg;

	item(c, "task %" PRId64 " (%s %" PRIx64 "): %s", t->id, job_task_kind_name(t->kind), t->target,
	     error && *error ? error : "no reason recorded");
	return c->nitems >= CU_HEALTH_ITEMS;
}

static void scan_findings(struct job_db *db, struct cu_health *h)
{
	int64_t last = 0, full = 0, v, one, lost, unreadable;
	struct cu_health_check *c;

	job_db_scan_last_done(db, NULL, &last, NULL);
	job_db_scan_last_done(db, "full", &full, NULL);
	unreadable = counter(db, last, "unreadable_egroups");
	if (unreadable > 0) {
		struct finding_items fi = { NULL, "unreadable", "missing_object" };
		char b[32];
		int64_t bytes = counter(db, last, "unreadable_bytes");
		fi.c = add(h, "DATA_UNREADABLE", unreadable, "%" PRId64 " %s no copy a read can use (%s lost) at scan %" PRId64,
			   unreadable, plural(unreadable, "egroup has", "egroups have"),
			   st_fmt_size(bytes > 0 ? (uint64_t)bytes : 0, b, sizeof(b)), last);
		if (fi.c)
			job_db_scan_findings(db, last, 1000, finding_item, &fi, NULL);
	}
	/* under-replicated but readable (older scans have no unreadable count: all of them) */
	if ((v = counter(db, last, "under_replicated") - (unreadable > 0 ? unreadable : 0)) > 0) {
		struct finding_items fi = { NULL, "no_healthy_replica", NULL };
		one = counter(db, last, "one_copy_left");
		lost = counter(db, last, "lost_egroups") - (unreadable > 0 ? unreadable : 0);
		fi.c = add(h, "DATA_UNDER_REPLICATED", v, "%" PRId64 " %s under-replicated at scan %" PRId64 " (%" PRId64 " with one copy left)",
			   v, plural(v, "egroup", "egroups"), last, one > 0 ? one : 0);
		if (lost > 0)
			item(fi.c, "%" PRId64 " with no healthy copy, still readable from down nodes or draining disks", lost);
		if (fi.c)
			job_db_scan_findings(db, last, 1000, finding_item, &fi, NULL);
	}
	if ((v = counter(db, last, "strips_degraded")) > 0) {
		struct finding_items fi = { NULL, "strip_member_lost", NULL };
		fi.c = add(h, "EC_STRIPS_DEGRADED", v, "%" PRId64 " strip %s lost at scan %" PRId64 ": rebuilds queued", v,
			   plural(v, "member", "members"), last);
		if (fi.c)
			job_db_scan_findings(db, last, 1000, finding_item, &fi, NULL);
	}
	if ((v = counter(db, last, "corrupt_rows")) > 0)
		add(h, "METADATA_CORRUPT", v, "%" PRId64 " corrupt metadata %s at scan %" PRId64 " (curator fsck)", v,
		    plural(v, "row", "rows"), last);
	if ((v = counter(db, full, "missing_replicas")) > 0)
		add(h, "REPLICAS_MISSING", v, "%" PRId64 " replica %s missing at full scan %" PRId64, v,
		    plural(v, "file", "files"), full);
	if ((v = counter(db, full, "refcount_low")) >= 0) {
		int64_t dangling = counter(db, full, "dangling_references");
		v += dangling > 0 ? dangling : 0;
		if (v > 0)
			add(h, "REFCOUNT_LOW", v, "%" PRId64 " refcount %s or dangling references at full scan %" PRId64, v,
			    plural(v, "error", "errors"), full);
	}
	if ((v = counter(db, last, "scrub_due")) > 0)
		add(h, "SCRUB_OVERDUE", v, "%" PRId64 " %s overdue for scrubbing", v, plural(v, "egroup", "egroups"));
	if (!job_db_tasks_count(db, JS_FAILED, &v, NULL) && v > 0) {
		c = add(h, "TASKS_FAILED", v, "%" PRId64 " %s failed three times (curator tasks list --state failed)", v,
			plural(v, "task", "tasks"));
		if (c)
			job_db_tasks_list(db, -1, JS_FAILED, failed_item, c, NULL);
	}
}

int cu_health_get(struct st_config *cfg, struct cu_health *h, struct st_msg *err)
{
	struct job_db *db;
	int rc = job_db_open(st_config_dir(cfg), &db, err);

	memset(h, 0, sizeof(*h));
	if (rc)
		return rc;
	scan_findings(db, h);
	topology(cfg, h);
	daemon_and_scans(cfg, db, h);
	job_db_close(db);
	/* errors first, then warnings, each in the table's order */
	for (int i = 0; i < h->n; i++)
		for (int j = i + 1; j < h->n; j++) {
			int pi = 0, pj = 0;
			for (int k = 0; k < NCODES; k++) {
				pi = strcmp(codes[k].code, h->checks[i].code) ? pi : k;
				pj = strcmp(codes[k].code, h->checks[j].code) ? pj : k;
			}
			if (pj < pi) {
				struct cu_health_check t = h->checks[i];
				h->checks[i] = h->checks[j];
				h->checks[j] = t;
			}
		}
	return 0;
}

/* --- output ------------------------------------------------------------- */

void cu_health_text(const struct cu_health *h, int detail, int indent, FILE *out)
{
	fputs(cu_health_name(h->status), out);
	for (int i = 0; i < h->n; i++)
		fprintf(out, "%s%s", i ? "; " : ": ", h->checks[i].summary);
	fputc('\n', out);
	if (detail)
		cu_health_detail(h, indent, out);
}

void cu_health_detail(const struct cu_health *h, int indent, FILE *out)
{
	for (int i = 0; i < h->n; i++) {
		const struct cu_health_check *c = &h->checks[i];
		fprintf(out, "%*s[%s] %s: %s\n", indent, "", c->severity == CU_HEALTH_ERR ? "ERR" : "WRN", c->code, c->summary);
		for (int k = 0; k < c->nitems; k++)
			fprintf(out, "%*s    %s\n", indent, "", c->items[k]);
		if (c->count > c->nitems && c->nitems)
			fprintf(out, "%*s    ... and %" PRId64 " more\n", indent, "", c->count - c->nitems);
	}
}

json_t *cu_health_json(const struct cu_health *h)
{
	json_t *checks = json_array();

	for (int i = 0; i < h->n; i++) {
		const struct cu_health_check *c = &h->checks[i];
		json_t *items = json_array();
		for (int k = 0; k < c->nitems; k++)
			json_array_append_new(items, json_string(c->items[k]));
		json_array_append_new(checks, json_pack("{s:s,s:s,s:s,s:I,s:o}", "code", c->code, "severity",
							c->severity == CU_HEALTH_ERR ? "ERR" : "WARN", "summary", c->summary,
							"count", (json_int_t)c->count, "items", items));
	}
	return json_pack("{s:s,s:o}", "status", cu_health_name(h->status), "checks", checks);
}

void cu_health_prom(const struct cu_health *h, FILE *out)
{
	fprintf(out, "# HELP curator_health_status The cluster's health: 0 HEALTH_OK, 1 HEALTH_WARN, 2 HEALTH_ERR.\n"
		     "# TYPE curator_health_status gauge\ncurator_health_status %d\n",
		(int)h->status);
	fprintf(out, "# HELP curator_health_check How many items each health check concerns (0: the check is fine).\n"
		     "# TYPE curator_health_check gauge\n");
	for (int i = 0; i < NCODES; i++) {
		int64_t v = 0;
		for (int k = 0; k < h->n; k++)
			if (!strcmp(h->checks[k].code, codes[i].code))
				v += h->checks[k].count;
		fprintf(out, "curator_health_check{code=\"%s\",severity=\"%s\"} %" PRId64 "\n", codes[i].code,
			codes[i].severity == CU_HEALTH_ERR ? "ERR" : "WARN", v);
	}
}
