/*
 * cu_cmd_scan: the curator's commands: fsck, scan, tasks list/run, report,
 * status, explain, daemon (rows of cu_cmds in cu_cli.c; see cu_cmd.h).
 *
 * DESIGN. scan, tasks run and daemon are MPI programs: cu_mpi starts MPI
 * and opens the store on every rank once the arguments are checked, every
 * rank runs the job (collective), and rank 0 alone prints results and
 * errors (the others are quiet). A scan prints its progress on stderr,
 * with an ETA from the phases of the last scan of its kind, and its report
 * when it is done. The other commands are local and only read: fsck the
 * store, report, status and explain curator.db through cu_report,
 * cu_status and cu_explain; `scan --request` only queues a request for the
 * daemon.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curator/cu_cmd.h"
#include "curator/cu_daemon.h"
#include "curator/cu_explain.h"
#include "curator/cu_health.h"
#include "curator/cu_json.h"
#include "curator/cu_log.h"
#include "curator/cu_report.h"
#include "curator/cu_status.h"
#include "curator/cu_watch.h"
#include "jobs/job_db_report.h"
#include "jobs/job_scan.h"
#include "jobs/job_tasks.h"
#include "storage/st_fsck.h"

/* --- fsck --------------------------------------------------------------- */

struct fsck_out {
	int quiet;
	json_t *findings; /* --format json: the messages, else NULL */
};

static void fsck_say(void *arg, enum st_fsck_level lvl, const char *msg)
{
	struct fsck_out *o = arg;
	const char *level = lvl == ST_FSCK_VIOLATION ? "violation" : lvl == ST_FSCK_WARNING ? "warning" : "info";

	if (lvl != ST_FSCK_VIOLATION && o->quiet)
		return;
	if (o->findings)
		json_array_append_new(o->findings, json_pack("{s:s,s:s}", "level", level, "message", msg));
	else
		printf("%s %s\n", lvl == ST_FSCK_VIOLATION ? "VIOLATION" : lvl == ST_FSCK_WARNING ? "WARNING" : "INFO", msg);
}

static json_t *fsck_json(const struct st_fsck_report *r, json_t *findings)
{
	json_t *doc = cu_json_doc();

	json_object_set_new(doc, "fsck",
			    json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I},s:o}",
				      "clean", !r->violations, "violations", (json_int_t)r->violations, "warnings",
				      (json_int_t)r->warnings, "bad_replicas", (json_int_t)r->bad_replicas, "block_rows",
				      (json_int_t)r->block_rows, "regions", (json_int_t)r->regions, "extents",
				      (json_int_t)r->extents, "egroups", (json_int_t)r->egroups, "extent_ids",
				      (json_int_t)r->extent_ids, "verified_bytes", (json_int_t)r->bytes_verified, "garbage",
				      "total", (json_int_t)r->garbage, "unreferenced_extents", (json_int_t)r->unreferenced,
				      "refcounts_above_references", (json_int_t)r->refcount_high, "orphan_extent_id_rows",
				      (json_int_t)r->orphan_extent_ids, "deleted_vdisk_block_rows",
				      (json_int_t)r->deleted_vdisk_rows, "orphan_files", (json_int_t)r->orphan_files,
				      "unknown_vdisk_block_rows", (json_int_t)r->unknown_vdisk_rows, "findings", findings));
	return doc;
}

int cu_cmd_fsck(struct cu_ctx *ctx, int argc, char **argv)
{
	struct cu_opt o[] = { { "--quiet", 0, 0, 0 } };
	struct fsck_out fo = { 0, NULL };
	struct st_fsck_report r;
	char *pos[1];
	char b[32];
	int npos, json, rc = cu_opts_parse(ctx, argc, argv, o, CU_NOPTS(o), pos, &npos, 0);

	if (rc)
		return rc;
	if (cu_json_wanted(ctx, &json))
		return CU_EXIT_USAGE;
	fo.quiet = CU_OPT(o, "--quiet")->set;
	rc = cu_open(ctx);
	if (rc)
		return rc;
	if (json)
		fo.findings = json_array();
	rc = st_fsck_run(ctx->st, fsck_say, &fo, &r, &ctx->err);
	if (rc) {
		json_decref(fo.findings);
		ctx->fail_status = CU_EXIT_USAGE; /* 1 means violations found */
		return rc;
	}
	if (json) {
		rc = cu_json_print(fsck_json(&r, fo.findings), stdout);
		if (rc)
			return st_fail(&ctx->err, rc, "cannot write the JSON document");
		return r.violations ? CU_EXIT_PROBLEM : 0;
	}
	printf("fsck: %llu block rows, %llu regions, %llu extents in %llu egroups, %s verified\n",
	       (unsigned long long)r.block_rows, (unsigned long long)r.regions, (unsigned long long)r.extents,
	       (unsigned long long)r.egroups, st_fmt_size(r.bytes_verified, b, sizeof(b)));
	printf("fsck: %llu violations, %llu warnings (%llu bad replicas); garbage for the curator: %llu "
	       "unreferenced extents, %llu refcounts above references, %llu orphan extent-ID rows, %llu block rows "
	       "of deleted vdisks, %llu orphan files\n",
	       (unsigned long long)r.violations, (unsigned long long)r.warnings, (unsigned long long)r.bad_replicas,
	       (unsigned long long)r.unreferenced, (unsigned long long)r.refcount_high,
	       (unsigned long long)r.orphan_extent_ids, (unsigned long long)r.deleted_vdisk_rows,
	       (unsigned long long)r.orphan_files);
	return r.violations ? CU_EXIT_PROBLEM : 0;
}

/* --- scans -------------------------------------------------------------- */

/* scan full|partial --request: queue it for the daemon. */
static int scan_request(struct cu_ctx *ctx, const char *kind)
{
	struct job_db *db = NULL;
	int rc;

	ctx->cmd = "scan --request";
	rc = cu_store(ctx); /* no MPI for a request */
	if (rc)
		return rc;
	rc = job_db_open(st_config_dir(cu_config(ctx)), &db, &ctx->err);
	if (!rc) {
		rc = job_db_request_add(db, kind, &ctx->err);
		job_db_close(db);
	}
	if (rc)
		return rc;
	printf("requested a %s scan; the running daemon picks it up within seconds (curator status)\n", kind);
	return 0;
}

/* The scan options after full|partial into so. 0 or CU_EXIT_USAGE (printed). */
static int scan_opts(struct cu_ctx *ctx, struct cu_opt *o, int n, struct job_scan_opts *so)
{
	struct cu_opt *x;

	so->dry_run = cu_opt_get(o, n, "--dry-run")->set;
	if ((x = cu_opt_get(o, n, "--tasks-out"))->set)
		so->tasks_out = x->val;
	x = cu_opt_get(o, n, "--mem-budget");
	if (cu_opt_size(ctx, x, &so->mem_budget))
		return CU_EXIT_USAGE;
	if (x->set && so->mem_budget < (16u << 20))
		return cu_error(ctx, "--mem-budget must be at least 16M");
	if ((x = cu_opt_get(o, n, "--sweep-grace"))->set && st_parse_duration(x->val, &so->sweep_grace))
		return cu_error(ctx, "--sweep-grace '%s': not a duration", x->val);
	if ((x = cu_opt_get(o, n, "--node-grace"))->set && st_parse_duration(x->val, &so->node_grace))
		return cu_error(ctx, "--node-grace '%s': not a duration", x->val);
	if ((x = cu_opt_get(o, n, "--scrub-period"))->set && st_parse_duration(x->val, &so->scrub_period))
		return cu_error(ctx, "--scrub-period '%s': not a duration", x->val);
	if ((x = cu_opt_get(o, n, "--compact-pct"))->set) {
		uint32_t v;
		/* NEEDSWORK: 0 or a word prints two lines (not a positive integer, then 1..100) */
		if (cu_arg_u32(ctx, "--compact-pct", x->val, &v) || v > 100)
			return cu_error(ctx, "--compact-pct: 1..100");
		so->compact_pct = (int)v;
	}
	return 0;
}

int cu_cmd_scan(struct cu_ctx *ctx, int argc, char **argv)
{
	struct cu_opt o[] = { { "--dry-run", 0, 0, 0 },     { "--mem-budget", 1, 0, 0 }, { "--sweep-grace", 1, 0, 0 },
			      { "--compact-pct", 1, 0, 0 }, { "--request", 0, 0, 0 },     { "--node-grace", 1, 0, 0 },
			      { "--scrub-period", 1, 0, 0 }, { "--tasks-out", 1, 0, 0 }, { "--all", 0, 0, 0 } };
	struct job_scan_opts so = { .sweep_grace = -1, .node_grace = -1, .scrub_period = -1 };
	struct cu_watch *w = NULL;
	struct job_scan_result res;
	char *pos[1];
	int npos, rc = cu_opts_parse(ctx, argc, argv, o, CU_NOPTS(o), pos, &npos, 1);

	if (rc)
		return rc;
	if (npos != 1 || (strcmp(pos[0], "full") && strcmp(pos[0], "partial") && strcmp(pos[0], "selective")))
		return cu_error(ctx, "expected full, partial or selective");
	if (CU_OPT(o, "--request")->set)
		return scan_request(ctx, pos[0]);
	so.full = !strcmp(pos[0], "full");
	so.selective = !strcmp(pos[0], "selective");
	so.all = CU_OPT(o, "--all")->set;
	if (so.all && strcmp(pos[0], "partial"))
		return cu_error(ctx, "--all: only for scan partial (it reads every egroup instead of what changed)");
	rc = scan_opts(ctx, o, CU_NOPTS(o), &so);
	if (!rc)
		rc = cu_open(ctx);
	if (rc)
		return rc;
	cu_log_init(mr_rank(ctx->mr) != 0);
	if (mr_rank(ctx->mr) == 0) /* rank 0 draws the scan's progress from its beats */
		w = cu_watch_scan(st_config_dir(cu_config(ctx)), so.full ? "scan full" : "scan partial");
	so.progress = cu_watch_scan_phase;
	so.progress_arg = w;
	rc = job_scan_run(ctx->mr, ctx->st, &so, &res, &ctx->err);
	if (rc) {
		cu_watch_end(w, "%s: failed", so.full ? "scan full" : so.selective ? "scan selective" : "scan partial");
		ctx->cmd = so.full ? "scan full" : so.selective ? "scan selective" : "scan partial";
		ctx->fail_status = CU_EXIT_PROBLEM;
		return cu_fail(ctx, rc);
	}
	if (mr_rank(ctx->mr) == 0) {
		struct st_msg e2 = { "" };
		cu_watch_end(w, "%s: scan %lld done", so.full ? "scan full" : so.selective ? "scan selective" : "scan partial", (long long)res.scan_id);
		cu_report_write(cu_config(ctx), res.scan_id, CU_TEXT, stdout, &e2);
	}
	return 0;
}

/* --- tasks -------------------------------------------------------------- */

int cu_cmd_tasks_list(struct cu_ctx *ctx, int argc, char **argv)
{
	struct cu_opt o[] = { { "--kind", 1, 0, 0 }, { "--state", 1, 0, 0 } };
	struct cu_opt *kind = CU_OPT(o, "--kind"), *state = CU_OPT(o, "--state");
	char *pos[1];
	int npos, json, k = -1, rc = cu_opts_parse(ctx, argc, argv, o, CU_NOPTS(o), pos, &npos, 0);

	if (rc)
		return rc;
	if (cu_json_wanted(ctx, &json))
		return CU_EXIT_USAGE;
	if (kind->set && (k = job_task_kind_parse(kind->val)) < 0)
		return cu_error(ctx, "--kind '%s': unknown task kind", kind->val);
	rc = cu_open(ctx);
	if (rc)
		return rc;
	return cu_tasks_list(st_config_dir(cu_config(ctx)), k, state->set ? state->val : NULL, json ? CU_JSON : CU_TEXT,
			     stdout, &ctx->err);
}

/* --throttle KIND=MBPS[:RANKS] into ro. 0 or -1. */
static int parse_throttle(const char *v, struct job_run_opts *ro)
{
	char kind[64];
	double mbps = 0;
	int ranks = 0, k;
	const char *eq = strchr(v, '=');

	if (!eq || (size_t)(eq - v) >= sizeof(kind))
		return -1;
	memcpy(kind, v, (size_t)(eq - v));
	kind[eq - v] = 0;
	k = job_task_kind_parse(kind);
	if (k < 0 || sscanf(eq + 1, "%lf:%d", &mbps, &ranks) < 1 || mbps < 0 || ranks < 0)
		return -1;
	ro->kind_mbps[k] = mbps;
	ro->kind_ranks[k] = ranks;
	return 0;
}

/* Every --throttle KIND=MBPS[:RANKS] given (it may repeat) into ro. 0 or CU_EXIT_USAGE (printed). */
static int throttles(struct cu_ctx *ctx, struct job_run_opts *ro)
{
	for (int i = 0; cu_opt_nth(ctx, "--throttle", i); i++)
		if (parse_throttle(cu_opt_nth(ctx, "--throttle", i), ro))
			return cu_error(ctx, "--throttle '%s': KIND=MBPS[:RANKS], e.g. egroup_compact=50:1",
					cu_opt_nth(ctx, "--throttle", i));
	return 0;
}

/* The options of tasks run into ro. 0 or CU_EXIT_USAGE (printed). */
static int run_opts(struct cu_ctx *ctx, struct cu_opt *o, int n, struct job_run_opts *ro)
{
	struct cu_opt *x;

	if ((x = cu_opt_get(o, n, "--kind"))->set && (ro->kind = job_task_kind_parse(x->val)) < 0)
		return cu_error(ctx, "--kind '%s': unknown task kind", x->val);
	if ((x = cu_opt_get(o, n, "--max"))->set) {
		uint32_t v;
		if (cu_arg_u32(ctx, "--max", x->val, &v))
			return CU_EXIT_USAGE;
		ro->max = v;
	}
	if ((x = cu_opt_get(o, n, "--rate"))->set) {
		char *end;
		ro->rate_mbps = strtod(x->val, &end);
		if (*end || ro->rate_mbps <= 0)
			return cu_error(ctx, "--rate '%s': MB/s, a positive number", x->val);
	}
	if ((x = cu_opt_get(o, n, "--sweep-grace"))->set && st_parse_duration(x->val, &ro->sweep_grace))
		return cu_error(ctx, "--sweep-grace: not a duration");
	return 0;
}

static void print_run(const struct job_run_result *res)
{
	uint64_t d = 0, s = 0, f = 0;
	char b[32];

	for (int k = 0; k < JT_NKINDS; k++) {
		if (res->done[k] + res->stale[k] + res->failed[k])
			printf("%-18s %llu done, %llu stale, %llu failed\n", job_task_kind_name(k),
			       (unsigned long long)res->done[k], (unsigned long long)res->stale[k],
			       (unsigned long long)res->failed[k]);
		d += res->done[k];
		s += res->stale[k];
		f += res->failed[k];
	}
	printf("tasks: %llu done, %llu stale, %llu failed; %s reclaimed\n", (unsigned long long)d, (unsigned long long)s,
	       (unsigned long long)f,
	       st_fmt_size(res->bytes_reclaimed > 0 ? (uint64_t)res->bytes_reclaimed : 0, b, sizeof(b)));
	if (res->nodes_with_ranks > 1 || res->bytes_remote) {
		char b2[32], b3[32];
		printf("locality: %s on their node's ranks, %s remote, %s of no node; tasks by node:",
		       st_fmt_size((uint64_t)res->bytes_local, b, sizeof(b)), st_fmt_size((uint64_t)res->bytes_remote, b2, sizeof(b2)),
		       st_fmt_size((uint64_t)res->bytes_anywhere, b3, sizeof(b3)));
		for (int k = 1; k <= JOB_RUN_NODES_MAX; k++)
			if (res->node_tasks[k])
				printf(" %d:%llu", k, (unsigned long long)res->node_tasks[k]);
		printf("\n");
	}
}

int cu_cmd_tasks_run(struct cu_ctx *ctx, int argc, char **argv)
{
	struct cu_opt o[] = { { "--kind", 1, 0, 0 }, { "--max", 1, 0, 0 }, { "--rate", 1, 0, 0 },
			      { "--sweep-grace", 1, 0, 0 }, { "--throttle", 1, 0, 0 } };
	struct job_run_opts ro = { .kind = -1, .sweep_grace = -1 };
	struct cu_watch *w = NULL;
	struct job_run_result res;
	char *pos[1];
	int npos, rc = throttles(ctx, &ro);

	if (!rc)
		rc = cu_opts_parse(ctx, argc, argv, o, CU_NOPTS(o), pos, &npos, 0);
	if (!rc)
		rc = run_opts(ctx, o, CU_NOPTS(o), &ro);
	if (!rc)
		rc = cu_open(ctx);
	if (rc)
		return rc;
	cu_log_init(mr_rank(ctx->mr) != 0);
	if (mr_rank(ctx->mr) == 0)
		w = cu_watch_tasks(st_config_dir(cu_config(ctx)), ro.kind, ro.max);
	rc = job_tasks_run(ctx->mr, ctx->st, &ro, &res, &ctx->err);
	cu_watch_end(w, "tasks run: %s", rc ? "failed" : "done");
	if (rc) {
		ctx->fail_status = CU_EXIT_PROBLEM;
		return cu_fail(ctx, rc);
	}
	if (mr_rank(ctx->mr) == 0)
		print_run(&res);
	return 0;
}

/* --- reports ------------------------------------------------------------ */

int cu_cmd_report(struct cu_ctx *ctx, int argc, char **argv)
{
	struct cu_opt o[] = { { "--scan", 1, 0, 0 }, { "--last", 0, 0, 0 }, { "--format", 1, 0, 0 }, { "--output", 1, 0, 0 } };
	struct cu_opt *output = CU_OPT(o, "--output");
	enum cu_format fmt = CU_TEXT;
	int64_t scan = 0;
	FILE *out = stdout;
	char *pos[1];
	int npos, rc = cu_opts_parse(ctx, argc, argv, o, CU_NOPTS(o), pos, &npos, 0);

	if (rc)
		return rc;
	if (CU_OPT(o, "--scan")->set) {
		uint32_t v;
		if (cu_arg_u32(ctx, "--scan", CU_OPT(o, "--scan")->val, &v))
			return CU_EXIT_USAGE;
		scan = v;
	}
	if (CU_OPT(o, "--format")->set) {
		const char *f = CU_OPT(o, "--format")->val;
		if (!strcmp(f, "json"))
			fmt = CU_JSON;
		else if (!strcmp(f, "html"))
			fmt = CU_HTML;
		else if (!strcmp(f, "prom"))
			fmt = CU_PROM;
		else if (strcmp(f, "text"))
			return cu_error(ctx, "--format '%s': text, json, html or prom", f);
	}
	rc = cu_open(ctx);
	if (rc)
		return rc;
	if (output->set) {
		out = fopen(output->val, "w");
		if (!out)
			return cu_error(ctx, "%s: %s", output->val, strerror(errno));
	}
	rc = cu_report_write(cu_config(ctx), scan, fmt, out, &ctx->err);
	if (out != stdout)
		fclose(out);
	return rc;
}

int cu_cmd_status(struct cu_ctx *ctx, int argc, char **argv)
{
	int rc, json, problem = 0;

	(void)argv;
	if (argc)
		return cu_error(ctx, "takes no arguments");
	if (cu_json_wanted(ctx, &json))
		return CU_EXIT_USAGE;
	rc = cu_open(ctx);
	if (rc)
		return rc;
	rc = cu_status_write(ctx->st, json ? CU_JSON : CU_TEXT, stdout, &problem, &ctx->err);
	if (rc)
		return rc;
	return problem ? CU_EXIT_PROBLEM : 0;
}

/* health [detail]: the summary line, or every check and its items; exit 1 unless HEALTH_OK. */
int cu_cmd_health(struct cu_ctx *ctx, int argc, char **argv)
{
	struct cu_health *h;
	int rc, json;

	if (argc > 1 || (argc == 1 && strcmp(argv[0], "detail")))
		return cu_error(ctx, "expected nothing or detail");
	if (cu_json_wanted(ctx, &json))
		return CU_EXIT_USAGE;
	rc = cu_open(ctx);
	if (rc)
		return rc;
	h = malloc(sizeof(*h));
	if (!h)
		return st_fail(&ctx->err, -ENOMEM, "out of memory");
	rc = cu_health_get(cu_config(ctx), h, &ctx->err);
	if (!rc && json) {
		json_t *doc = cu_json_doc();
		json_object_set_new(doc, "health", cu_health_json(h));
		if (cu_json_print(doc, stdout))
			rc = st_fail(&ctx->err, -EIO, "cannot write the JSON document");
	} else if (!rc) {
		cu_health_text(h, argc == 1, 0, stdout);
	}
	if (!rc)
		rc = h->status == CU_HEALTH_OK ? 0 : CU_EXIT_PROBLEM;
	free(h);
	return rc;
}

/*
 * explain --format json: the facts cu_explain gathers as fields, and the
 * text's lines (for people) under "lines".
 */
static int explain_json(struct cu_ctx *ctx, const char *what, const char *id)
{
	char *text = NULL, *save = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	json_t *doc, *lines, *x = NULL;
	int rc;

	if (!mem)
		return st_fail(&ctx->err, -errno, "out of memory");
	rc = cu_explain(ctx->st, what, id, mem, &x, &ctx->err);
	fclose(mem);
	if (rc) {
		free(text);
		return rc;
	}
	doc = cu_json_doc();
	lines = json_array();
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		json_array_append_new(lines, json_string(l + strspn(l, " ")));
	free(text);
	json_object_set_new(x, "lines", lines);
	json_object_set_new(doc, "explain", x);
	return cu_json_print(doc, stdout) ? st_fail(&ctx->err, -EIO, "cannot write the JSON document") : 0;
}

int cu_cmd_explain(struct cu_ctx *ctx, int argc, char **argv)
{
	int rc, json;

	if (argc != 2)
		return cu_error(ctx, "expected vdisk|egroup|extent ID");
	if (cu_json_wanted(ctx, &json))
		return CU_EXIT_USAGE;
	rc = cu_open(ctx);
	if (rc)
		return rc;
	if (json)
		return explain_json(ctx, argv[0], argv[1]);
	return cu_explain(ctx->st, argv[0], argv[1], stdout, NULL, &ctx->err);
}

/* --- the daemon --------------------------------------------------------- */

/* The daemon's options into d (--throttle already taken out). 0 or CU_EXIT_USAGE (printed). */
static int daemon_opts(struct cu_ctx *ctx, struct cu_opt *o, int n, struct cu_daemon_opts *d)
{
	struct cu_opt *x;
	char *end;

	if ((x = cu_opt_get(o, n, "--full-every"))->set && (st_parse_duration(x->val, &d->full_every) || !d->full_every))
		return cu_error(ctx, "--full-every '%s': a positive duration", x->val);
	if ((x = cu_opt_get(o, n, "--partial-every"))->set &&
	    (st_parse_duration(x->val, &d->partial_every) || !d->partial_every))
		return cu_error(ctx, "--partial-every '%s': a positive duration", x->val);
	if (cu_opt_size(ctx, cu_opt_get(o, n, "--mem-budget"), &d->mem_budget))
		return CU_EXIT_USAGE;
	if ((x = cu_opt_get(o, n, "--rate"))->set) {
		d->tasks.rate_mbps = strtod(x->val, &end);
		if (*end || d->tasks.rate_mbps <= 0)
			return cu_error(ctx, "--rate: MB/s, a positive number");
	}
	if ((x = cu_opt_get(o, n, "--node-grace"))->set &&
	    (st_parse_duration(x->val, &d->node_grace) || !d->node_grace))
		return cu_error(ctx, "--node-grace '%s': a positive duration", x->val);
	if ((x = cu_opt_get(o, n, "--tick"))->set) {
		d->tick = strtod(x->val, &end);
		if (*end || d->tick <= 0 || d->tick > 60)
			return cu_error(ctx, "--tick: seconds, 0 < T <= 60");
	}
	return 0;
}

int cu_cmd_daemon(struct cu_ctx *ctx, int argc, char **argv)
{
	struct cu_opt o[] = { { "--full-every", 1, 0, 0 }, { "--partial-every", 1, 0, 0 }, { "--mem-budget", 1, 0, 0 },
			      { "--rate", 1, 0, 0 },       { "--throttle", 1, 0, 0 },      { "--tick", 1, 0, 0 },
			      { "--node-grace", 1, 0, 0 } };
	struct cu_daemon_opts d = { .tasks = { .kind = -1, .sweep_grace = -1 } };
	char *pos[1];
	int npos, rc;

	rc = throttles(ctx, &d.tasks);
	if (!rc)
		rc = cu_opts_parse(ctx, argc, argv, o, CU_NOPTS(o), pos, &npos, 0);
	if (!rc)
		rc = daemon_opts(ctx, o, CU_NOPTS(o), &d);
	if (!rc)
		rc = cu_open(ctx);
	if (rc)
		return rc;
	cu_log_init(mr_rank(ctx->mr) != 0);
	rc = cu_daemon_run(ctx->mr, ctx->st, &d, &ctx->err);
	if (rc) {
		ctx->fail_status = CU_EXIT_USAGE;
		return cu_fail(ctx, rc);
	}
	return 0;
}
