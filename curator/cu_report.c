/*
 * cu_report: the text and JSON reports of a scan, and the task list.
 *
 * DESIGN. Everything a report shows was recorded in curator.db by the scan
 * (its row, counters, phases, usage, findings) and by `tasks run` (task
 * results); the queries are job_db_report's and this file only lays the
 * rows out. The JSON document is assembled by SQLite (json_object,
 * json_group_array) from the stored rows and given its schema version,
 * ISO times and names with jansson (cu_json.h), so nothing is escaped by
 * hand.
 * Disk capacities are config.db's, read through st_config. HTML and
 * Prometheus output are in cu_html.c.
 */
#include "curator/cu_json.h"
#include "curator/cu_report_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t cu_report_counter(const struct cu_report *r, int64_t scan, const char *name)
{
	int64_t v;

	job_db_scan_counter(r->db, scan, name, &v, NULL);
	return v;
}

int cu_report_tier_capacity(struct st_config *cfg, int64_t cap[ST_NTIERS], int64_t used[ST_NTIERS])
{
	struct st_disk *d;
	int n, rc = st_config_disks(cfg, &d, &n, NULL);

	memset(cap, 0, ST_NTIERS * sizeof(*cap));
	memset(used, 0, ST_NTIERS * sizeof(*used));
	if (rc)
		return rc;
	for (int i = 0; i < n; i++) {
		if (d[i].removed || (unsigned)d[i].tier >= ST_NTIERS)
			continue;
		cap[d[i].tier] += (int64_t)d[i].capacity;
		used[d[i].tier] += (int64_t)d[i].used;
	}
	free(d);
	return 0;
}

static int print_phase(void *arg, const struct job_scan_phase *p)
{
	fprintf(arg, "  %-28s %10.3f %14" PRId64 " %14" PRId64 "\n", p->phase, p->secs, p->records_in, p->records_out);
	return 0;
}

static void text_header(const struct cu_report *r, FILE *out)
{
	struct job_scan_row s;

	if (!job_db_scan_get(r->db, r->scan, &s, NULL)) {
		fprintf(out, "scan %" PRId64 ": %s%s, %s, S0 %" PRId64 ", %d rank(s)\n", r->scan, s.kind,
			s.dry_run ? " (dry run: nothing queued)" : "", s.state, s.s0, s.ranks);
		char when[32] = "never";
		time_t t = (time_t)s.started;
		struct tm tm;
		if (s.started > 0 && gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		fprintf(out, "  started %s, took %.0f s\n", when, s.ended > s.started ? s.ended - s.started : 0);
		if (s.has_error)
			fprintf(out, "  error: %s\n", s.error);
	}
	fprintf(out, "\nphases\n  %-28s %10s %14s %14s\n", "PHASE", "SECONDS", "RECORDS IN", "RECORDS OUT");
	job_db_scan_phases(r->db, r->scan, print_phase, out, NULL);
}

/* "what it found": the scan's counters, a line per concern. */
static void text_found(const struct cu_report *r, FILE *out)
{
#define C(name) cu_report_counter(r, r->scan, name)
	char b1[32], b2[32], b3[32], b4[32];
	int64_t comp = C("saved_compression"), dd = C("saved_dedup"), ec = C("saved_ec"), phys = 0, eg;

	fprintf(out, "\nwhat it found\n");
	fprintf(out, "  metadata        %" PRId64 " block rows, %" PRId64 " extent-ID rows, %" PRId64 " egroups, %" PRId64
		" extents, %" PRId64 " files\n",
		C("block_rows"), C("extent_ids"), C("egroups"), C("extents"), C("files"));
	fprintf(out, "  bytes           %s stored per replica, %s live\n",
		st_fmt_size((uint64_t)C("stored_bytes"), b1, sizeof(b1)), st_fmt_size((uint64_t)C("live_bytes"), b2, sizeof(b2)));
	fprintf(out, "  garbage         %" PRId64 " dead extents (%s), %" PRId64 " dead egroups, %s garbage in egroups\n",
		C("dead_extents"), st_fmt_size((uint64_t)C("dead_bytes"), b1, sizeof(b1)), C("dead_egroups"),
		st_fmt_size((uint64_t)C("garbage_bytes"), b3, sizeof(b3)));
	fprintf(out, "  refcounts       %" PRId64 " below their references (errors), %" PRId64 " above\n", C("refcount_low"),
		C("refcount_high"));
	fprintf(out, "  references      %" PRId64 " dangling (errors), %" PRId64 " orphan extent-ID rows\n",
		C("dangling_references"), C("orphan_extent_ids"));
	fprintf(out, "  vdisks          %" PRId64 " block rows of deleted vdisks, %" PRId64 " of unknown ones\n",
		C("deleted_vdisk_rows"), C("unknown_vdisk_rows"));
	fprintf(out, "  files           %" PRId64 " unreferenced (%s), %" PRId64 " replicas missing, %" PRId64
		" truncated\n",
		C("orphan_files"), st_fmt_size((uint64_t)C("orphan_file_bytes"), b1, sizeof(b1)), C("missing_replicas"),
		C("short_replicas"));
	fprintf(out, "  protection      %" PRId64 " egroups under-replicated (%" PRId64 " with one copy left, %" PRId64
		" with none), %s at risk, %" PRId64 " waiting for a node, %" PRId64 " with extra copies, %" PRId64
		" due for scrubbing\n",
		C("under_replicated"), C("one_copy_left"), C("lost_egroups"),
		st_fmt_size((uint64_t)C("at_risk_bytes"), b1, sizeof(b1)), C("awaiting_node"), C("extra_replicas"),
		C("scrub_due"));
	job_db_scan_usage_sum(r->db, r->scan, -1, &phys, &eg, NULL);
	fprintf(out, "  data reduction  compression saves %s (%" PRId64 " extents), dedup %s (%" PRId64
		" dedup extents), erasure coding %s; %.2f:1 over %s on disk\n",
		st_fmt_size((uint64_t)(comp > 0 ? comp : 0), b1, sizeof(b1)), C("compressed_extents"),
		st_fmt_size((uint64_t)(dd > 0 ? dd : 0), b2, sizeof(b2)), C("dedup_extents"),
		st_fmt_size((uint64_t)(ec > 0 ? ec : 0), b3, sizeof(b3)),
		phys > 0 ? (double)(phys + (comp > 0 ? comp : 0) + (dd > 0 ? dd : 0) + (ec > 0 ? ec : 0)) / (double)phys : 1.0,
		st_fmt_size((uint64_t)phys, b4, sizeof(b4)));
	fprintf(out, "  safety rule     %" PRId64 " items changed after S0 left for the next scan; %" PRId64
		" corrupt rows skipped\n",
		C("protected_by_safety_rule"), C("corrupt_rows"));
	if (C("deleted_vdisks") || C("selective_kept"))
		fprintf(out, "  selective       %" PRId64 " deleted vdisk(s) read; %" PRId64
			" egroups shared with live data or not provably dead left for the full scan\n",
			C("deleted_vdisks"), C("selective_kept"));
#undef C
}

static int print_result(void *arg, const char *kind, int64_t done, int64_t stale, int64_t failed)
{
	if (done + stale + failed)
		fprintf(arg, "  %-18s %" PRId64 " done, %" PRId64 " stale, %" PRId64 " failed\n", kind, done, stale, failed);
	return 0;
}

/* The tasks the scan queued, and what `tasks run` did with them. */
static void text_tasks(const struct cu_report *r, FILE *out)
{
	int64_t reclaimed = 0, local = 0, remote = 0, anywhere = 0;
	char b1[32];

	fprintf(out, "\ntasks queued\n");
	for (int k = 0; k < JT_NKINDS; k++) {
		char name[64];
		int64_t n;
		snprintf(name, sizeof(name), "tasks_%s", job_task_kind_name(k));
		n = cu_report_counter(r, r->scan, name);
		if (n)
			fprintf(out, "  %-18s %" PRId64 "\n", job_task_kind_name(k), n);
	}
	if (cu_report_counter(r, r->scan, "freeing_bytes"))
		fprintf(out, "  space to free      %s (all copies; what is given back: below, and curator status)\n",
			st_fmt_size((uint64_t)cu_report_counter(r, r->scan, "freeing_bytes"), b1, sizeof(b1)));
	if (job_db_scan_reclaimed(r->db, r->scan, &reclaimed, NULL))
		return;
	fprintf(out, "\nwhat the tasks did\n");
	job_db_scan_kind_results(r->db, r->scan, print_result, out, NULL);
	fprintf(out, "  bytes reclaimed    %s\n", st_fmt_size((uint64_t)reclaimed, b1, sizeof(b1)));
	if (!job_db_scan_locality(r->db, r->scan, &local, &remote, &anywhere, NULL)) {
		char b2[32], b3[32];
		fprintf(out, "  locality           %s on their node's ranks, %s remote, %s of no node\n",
			st_fmt_size((uint64_t)local, b1, sizeof(b1)), st_fmt_size((uint64_t)remote, b2, sizeof(b2)),
			st_fmt_size((uint64_t)anywhere, b3, sizeof(b3)));
	}
}

static int print_disk_usage(void *arg, const struct job_usage *u)
{
	char b1[32];

	fprintf(arg, "  %-6" PRId64 " %-6s %12s %10" PRId64 "\n", u->disk, st_tier_name((enum st_tier)u->tier),
		st_fmt_size((uint64_t)u->bytes, b1, sizeof(b1)), u->egroups);
	return 0;
}

struct finding_list {
	FILE *out;
	int any;
};

static int print_finding(void *arg, const struct job_finding *f)
{
	struct finding_list *l = arg;
	char eg[24];

	if (!l->any)
		fprintf(l->out, "\nfindings (first 20)\n");
	l->any = 1;
	snprintf(eg, sizeof(eg), "%" PRIx64, f->egroup);
	fprintf(l->out, "  %-20s egroup %-14s %s %s\n", f->kind, eg, f->extent, f->detail);
	return 0;
}

/* Usage by tier (the scan's, and config.db's now) and by disk, then the first findings. */
static void text_usage(const struct cu_report *r, FILE *out)
{
	int64_t cap[ST_NTIERS], now[ST_NTIERS];
	struct finding_list fl = { out, 0 };
	char b1[32], b2[32], b3[32];

	struct job_scan_row s;

	if ((!job_db_scan_get(r->db, r->scan, &s, NULL) && !strcmp(s.kind, "selective")) ||
	    cu_report_counter(r, r->scan, "incremental")) {
		fprintf(out, "\nusage: not measured (this scan read only the rows that changed or crossed a threshold;"
			" the last full scan or partial --all has it)\n");
		job_db_scan_findings(r->db, r->scan, 20, print_finding, &fl, NULL);
		return;
	}
	fprintf(out, "\nusage by tier (USED at the scan; NOW after the tasks since)\n  %-6s %12s %12s %6s %10s %12s\n", "TIER",
		"USED", "CAPACITY", "USE%", "EGROUPS", "NOW");
	if (!cu_report_tier_capacity(r->cfg, cap, now)) {
		for (int t = 0; t < ST_NTIERS; t++) {
			int64_t used = 0, eg = 0;
			job_db_scan_usage_sum(r->db, r->scan, t, &used, &eg, NULL);
			if (t == ST_TIER_CLOUD) { /* no disks: the objects the scan counted */
				used = now[t] = cu_report_counter(r, r->scan, "cloud_bytes");
				eg = cu_report_counter(r, r->scan, "cloud_egroups");
			}
			if (cap[t] || used)
				fprintf(out, "  %-6s %12s %12s %5.1f%% %10" PRId64 " %12s\n", st_tier_name((enum st_tier)t),
					st_fmt_size((uint64_t)used, b1, sizeof(b1)), st_fmt_size((uint64_t)cap[t], b2, sizeof(b2)),
					cap[t] ? 100.0 * (double)used / (double)cap[t] : 0.0, eg,
					st_fmt_size((uint64_t)now[t], b3, sizeof(b3)));
		}
	}
	fprintf(out, "\nusage by disk\n  %-6s %-6s %12s %10s\n", "DISK", "TIER", "BYTES", "EGROUPS");
	job_db_scan_usage(r->db, r->scan, print_disk_usage, out, NULL);
	job_db_scan_findings(r->db, r->scan, 20, print_finding, &fl, NULL);
}

static void text_report(const struct cu_report *r)
{
	text_header(r, r->out);
	text_found(r, r->out);
	text_tasks(r, r->out);
	text_usage(r, r->out);
}

/*
 * The JSON report: curator.db's document (SQLite's json_object over the
 * stored rows) with the schema version first, times in ISO 8601, task
 * kinds and tiers by name (docs/JSON.md).
 */
static int json_report(const char *sqljson, FILE *out, struct st_msg *err)
{
	json_error_t jerr;
	json_t *doc = cu_json_doc(), *j = json_loads(sqljson, 0, &jerr), *tasks, *named = json_object(), *usage, *v;
	const char *key;
	size_t i;

	if (!doc || !j || !named || !json_is_object(j)) {
		json_decref(doc);
		json_decref(j);
		json_decref(named);
		return st_fail(err, ST_ECORRUPT, "the scan's report in curator.db is not JSON: %s", j ? "not an object" : jerr.text);
	}
	json_object_update(doc, j);
	json_object_set_new(doc, "started", cu_json_time(json_number_value(json_object_get(j, "started"))));
	json_object_set_new(doc, "ended", cu_json_time(json_number_value(json_object_get(j, "ended"))));
	json_object_set(doc, "duration_seconds", json_object_get(j, "duration_secs"));
	json_object_del(doc, "duration_secs");
	tasks = json_object_get(j, "tasks");
	json_object_foreach(tasks, key, v) json_object_set(named, job_task_kind_name((enum job_task_kind)atoi(key)), v);
	json_object_set_new(doc, "tasks", named);
	usage = json_object_get(doc, "usage");
	json_array_foreach(usage, i, v) json_object_set_new(
		v, "tier", json_string(st_tier_name((enum st_tier)json_integer_value(json_object_get(v, "tier")))));
	json_decref(j);
	return cu_json_print(doc, out) ? st_fail(err, -EIO, "cannot write the JSON report") : 0;
}

int cu_report_write(struct st_config *cfg, int64_t scan, enum cu_format fmt, FILE *out, struct st_msg *err)
{
	struct cu_report r = { NULL, cfg, scan, out };
	struct job_scan_row s;
	int rc = job_db_open(st_config_dir(cfg), &r.db, err);

	if (rc)
		return rc;
	if (r.scan == 0 && job_db_scan_latest(r.db, &r.scan, NULL)) {
		job_db_close(r.db);
		return st_fail(err, ST_ENOTFOUND, "no scan has run yet (curator scan full)");
	}
	if (fmt == CU_HTML) {
		rc = cu_report_html(&r);
	} else if (fmt == CU_PROM) {
		rc = cu_report_prom(&r);
	} else if (fmt == CU_JSON) {
		char *json = NULL;
		rc = job_db_scan_json(r.db, r.scan, &json, err);
		if (!rc)
			rc = json_report(json, out, err);
		free(json);
	} else {
		rc = job_db_scan_get(r.db, r.scan, &s, NULL);
		if (rc == ST_ENOTFOUND)
			rc = st_fail(err, ST_ENOTFOUND, "scan %" PRId64 ": not found", r.scan);
		else
			rc = 0; /* as before: only a missing scan stops the text report */
		if (!rc)
			text_report(&r);
	}
	job_db_close(r.db);
	return rc;
}

struct task_table {
	FILE *out;
	json_t *tasks; /* JSON: the array, else NULL */
};

static int print_task(void *arg, const struct job_task *t, const char *error)
{
	struct task_table *tt = arg;
	char b[32], target[24];

	if (tt->tasks)
		return json_array_append_new(
			       tt->tasks,
			       json_pack("{s:I,s:I,s:s,s:o,s:I,s:i,s:s,s:i,s:I,s:o}", "id", (json_int_t)t->id, "scan",
					 (json_int_t)t->scan, "kind", job_task_kind_name(t->kind), "target",
					 cu_json_hex(t->target), "version", (json_int_t)t->version, "priority", t->priority,
					 "state", job_task_state_name(t->state), "attempts", t->attempts, "bytes",
					 (json_int_t)t->bytes, "error", cu_json_str(error)))
			       ? -ENOMEM
			       : 0;
	snprintf(target, sizeof(target), "%" PRIx64, t->target);
	b[0] = '-'; /* bytes moved or read, not freed (job_tasks_int.h) */
	st_fmt_size(t->bytes < 0 ? (uint64_t)-t->bytes : (uint64_t)t->bytes, b + 1, sizeof(b) - 1);
	fprintf(tt->out, "%-6" PRId64 " %-5" PRId64 " %-17s %-16s %-8" PRId64 " %-4d %-8s %-3d %-10s %s\n", t->id, t->scan,
		job_task_kind_name(t->kind), target, (int64_t)t->version, t->priority, job_task_state_name(t->state),
		t->attempts, t->bytes < 0 ? b : b + 1, error);
	return 0;
}

int cu_tasks_list(const char *dir, int kind, const char *state, enum cu_format fmt, FILE *out, struct st_msg *err)
{
	struct task_table tt = { out, NULL };
	struct job_db *db;
	int st_code = -1;
	int rc;

	if (state) {
		for (int s = JS_PENDING; s <= JS_FAILED; s++)
			if (!strcmp(state, job_task_state_name((enum job_task_state)s)))
				st_code = s;
	}
	rc = job_db_open(dir, &db, err);
	if (rc)
		return rc;
	if (state && st_code < 0) {
		job_db_close(db);
		return st_fail(err, ST_EINVAL, "--state '%s': pending, running, done, stale or failed", state);
	}
	if (fmt == CU_JSON)
		tt.tasks = json_array();
	else
		fprintf(out, "%-6s %-5s %-17s %-16s %-8s %-4s %-8s %-3s %-10s %s\n", "ID", "SCAN", "KIND", "TARGET",
			"VERSION", "PRIO", "STATE", "TRY", "BYTES", "ERROR");
	rc = job_db_tasks_list(db, kind, st_code, print_task, &tt, err);
	job_db_close(db);
	if (fmt == CU_JSON) {
		json_t *doc = cu_json_doc();
		if (rc) {
			json_decref(tt.tasks);
			json_decref(doc);
			return rc;
		}
		json_object_set_new(doc, "tasks", tt.tasks);
		rc = cu_json_print(doc, out);
		if (rc)
			return st_fail(err, rc, "cannot write the JSON document");
	}
	return rc;
}
