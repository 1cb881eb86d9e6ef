/*
 * cu_cli: the `curator` command line: the command table, the usage text
 * generated from it, dispatch, and what every handler shares (the context,
 * opening the store and MPI, option parsing, turning an error into one
 * line).
 *
 * DESIGN. One table (cu_cmds) lists every command in the order of the
 * usage text; a row names its handler (cu_cmd_cluster.c, cu_cmd_vdisk.c,
 * cu_cmd_scan.c) and what it needs. A handler checks its arguments first
 * and only then opens what its row needs (cu_open: the store, or MPI and
 * the store on every rank), so a usage error is reported the same with or
 * without a cluster; the runner alone frees what was opened and prints a
 * library error, so no handler repeats the open / call / free / print
 * pattern. The library never prints: every error becomes
 * "curator: <what>: <why>" here.
 */
#include "curator/cu_cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curator/cu_cmd.h"

/* --- the options of each command ---------------------------------------- */

/* clang-format off */
static const struct cu_optdef o_init[] = {
	{ "--nodes", "N", "how many nodes (1..1000)" },
	{ "--disks", "SPEC", "the disks of each node: TIER:COUNTxSIZE,... (tiers ssd, hdd)" },
	{ "--shards", "S", "how many metadata shards (default 4)" },
	{ "--shared-fs", NULL, "the directory is shared by several hosts: rollback journal and POSIX locks instead of WAL (chosen anyway on NFS, CIFS, Ceph or FUSE)" },
	{ NULL, NULL, NULL },
};
static const struct cu_optdef o_container_create[] = {
	{ "--rf", "R", "replication factor, 1..3 and at most the nodes (required)" },
	{ "--rs", "K,M", "erasure-code cold egroups as Reed-Solomon K data + M parity (2<=K<=16, 1<=M<=4)" },
	{ "--ec-delay", "DUR", "how long an egroup stays cold before it is erasure-coded" },
	{ "--compress", "off|inline|post[:DELAY]", "compression: none, while writing, or by the curator after DELAY" },
	{ "--codec", "igzip|zlib", "the compression codec (default igzip)" },
	{ "--dedup", "off|inline|post", "deduplication: none, while writing, or by the curator" },
	{ "--chunking", "fixed|cdc", "dedup chunks: fixed 16K or content-defined" },
	{ "--ilm", "HIGH%,LOW%", "tier watermarks: move data down above HIGH% until LOW%" },
	{ "--cold-age", "DUR", "data untouched this long is cold (moves down a tier)" },
	{ "--tiers", "ssd,hdd,cloud", "the tiers the container uses, fastest first" },
	{ NULL, NULL, NULL },
};
static const struct cu_optdef o_vdisk_create[] = {
	{ "--container", "C", "the container it lives in (required)" },
	{ "--size", "SIZE", "its size (required)" },
	{ "--block-size", "SIZE", "a power of two, 4K..4M (default 1M)" },
	{ NULL, NULL, NULL },
};
static const struct cu_optdef o_vdisk_write[] = {
	{ "--offset", "OFF", "where in the vdisk the data starts (default 0)" },
	{ "--progress", NULL, "print \"committed BYTES\" on stdout after each durable 32 MiB batch (for scripts)" },
	{ NULL, NULL, NULL },
};
static const struct cu_optdef o_vdisk_read[] = {
	{ "--offset", "OFF", "where to start reading (default 0)" },
	{ "--length", "LEN", "how much to read (default: to the end)" },
	{ "--output", "FILE", "where to write it (default stdout; - is stdout)" },
	{ NULL, NULL, NULL },
};
static const struct cu_optdef o_disk_add[] = {
	{ "--node", "N", "the node the disk is on (required)" },
	{ "--tier", "ssd|hdd", "its tier (required)" },
	{ "--size", "SIZE", "its capacity (required)" },
	{ NULL, NULL, NULL },
};
static const struct cu_optdef o_cloud_set[] = {
	{ "--credentials", "FILE", "a file of mode 0600 with access_key = and secret_key = lines" },
	{ NULL, NULL, NULL },
};
static const struct cu_optdef o_format[] = {
	{ "--format", "text|json", "text for people, or JSON (docs/JSON.md)" },
	{ NULL, NULL, NULL },
};
static const struct cu_optdef o_tier_set[] = {
	{ "--warn", "P", "health warns (TIER_NEARFULL) when the tier is P% full or more (default 85)" },
	{ "--err", "P", "health errs (TIER_FULL) when the tier is P% full or more (default 95)" },
	{ NULL, NULL, NULL },
};
static const struct cu_optdef o_fsck[] = {
	{ "--quiet", NULL, "print violations only" },
	{ "--format", "text|json", "text for people, or JSON (docs/JSON.md)" },
	{ NULL, NULL, NULL },
};
static const struct cu_optdef o_scan[] = {
	{ "--dry-run", NULL, "find and report, queue no task" },
	{ "--mem-budget", "SIZE", "memory per rank (default a quarter of the host's, shared by its ranks)" },
	{ "--sweep-grace", "DUR", "how old an orphan file must be to be swept (default 1h)" },
	{ "--compact-pct", "P", "compact egroups with at least P% dead bytes (default 20)" },
	{ "--node-grace", "DUR", "how long a node may be down before its replicas are copied (default 60s)" },
	{ "--scrub-period", "DUR", "how often every replica is read and verified (default 7d)" },
	{ "--request", NULL, "do not scan: ask the running daemon for the scan" },
	{ "--tasks-out", "FILE", "write the tasks found to FILE, a line each (also with --dry-run)" },
	{ "--all", NULL, "partial: read every egroup, not only those changed or crossing a threshold" },
	{ NULL, NULL, NULL },
};
static const struct cu_optdef o_tasks_list[] = {
	{ "--kind", "K", "only tasks of this kind (e.g. rereplicate, egroup_delete)" },
	{ "--state", "S", "only tasks in this state: pending, running, done, failed, stale" },
	{ "--format", "text|json", "text for people, or JSON (docs/JSON.md)" },
	{ NULL, NULL, NULL },
};
static const struct cu_optdef o_tasks_run[] = {
	{ "--kind", "K", "only tasks of this kind" },
	{ "--max", "N", "stop after N tasks" },
	{ "--rate", "MBPS", "limit the bytes moved to MBPS MB/s (all the ranks together)" },
	{ "--throttle", "KIND=MBPS[:RANKS]", "limit one task kind (and the ranks running it); may repeat" },
	{ "--sweep-grace", "DUR", "how old an orphan file must be to be swept (default 1h)" },
	{ NULL, NULL, NULL },
};
static const struct cu_optdef o_report[] = {
	{ "--scan", "ID", "the report of scan ID" },
	{ "--last", NULL, "the report of the latest scan (the default)" },
	{ "--format", "text|json|html|prom", "text for people, JSON, a self-contained HTML page, Prometheus metrics" },
	{ "--output", "FILE", "write it to FILE instead of stdout" },
	{ NULL, NULL, NULL },
};
static const struct cu_optdef o_serve[] = {
	{ "--node", "N", "the node this controller serves as (required)" },
	{ "--socket", "PATH", "the Unix socket to listen on (default DIR/serve-N.sock)" },
	{ "--listen", "ADDR:PORT", "listen on TCP instead" },
	{ "--foreground", NULL, "stay in the foreground (else nbdkit forks and writes DIR/serve-N.pid)" },
	{ "--log-max", "SIZE", "bytes a vdisk's write-back log holds before it commits (default 1G, at most 4G)" },
	{ "--log-mem", "SIZE", "bytes all vdisks' write-back logs hold together (default: a quarter of memory)" },
	{ "--commit-ms", "MS", "commit a log this long after its oldest write (default 5000)" },
	{ "--lease-ms", "MS", "the TTL of this controller's owner leases (default 5000)" },
	{ NULL, NULL, NULL },
};
static const struct cu_optdef o_daemon[] = {
	{ "--full-every", "DUR", "the delay between full scans (default 6h)" },
	{ "--partial-every", "DUR", "the delay between partial scans (default 1h)" },
	{ "--mem-budget", "SIZE", "memory per rank for the scans" },
	{ "--rate", "MBPS", "limit the tasks' bytes moved to MBPS MB/s" },
	{ "--throttle", "KIND=MBPS[:RANKS]", "limit one task kind (and the ranks running it); may repeat" },
	{ "--tick", "SECS", "how often the master looks for work (0 < SECS <= 60)" },
	{ "--node-grace", "DUR", "how long a node may be down before its replicas are copied (default 60s)" },
	{ NULL, NULL, NULL },
};
/* clang-format on */

/* --- the command table -------------------------------------------------- */

/* clang-format off */
static const struct cu_cmd cu_cmds[] = {
	{ "init", NULL, "--nodes N --disks SPEC [--shards S] [--shared-fs]", "SPEC per node, e.g. \"ssd:1x8G,hdd:2x64G\"",
	  "create a cluster: N nodes with the disks of SPEC each, and its metadata shards", NULL, cu_cmd_init, 0, o_init },
	{ "container", "create", "NAME --rf R [--rs K,M] [--ec-delay DUR]\n"
	  "          [--compress off|inline|post[:DELAY]] [--codec igzip|zlib] [--dedup off|inline|post]\n"
	  "          [--chunking fixed|cdc] [--ilm HIGH%,LOW%] [--cold-age DUR] [--tiers ssd,hdd,cloud]", NULL,
	  "create a container: replication, erasure coding, compression, dedup, tiers", NULL,
	  cu_cmd_container_create, CU_CMD_STORE, o_container_create },
	{ "container", "list", "[--format json]", NULL, "list the containers and their policies", NULL, cu_cmd_container_list,
	  CU_CMD_STORE, o_format },
	{ "container", "info", "NAME", NULL, "show a container's policies", NULL, cu_cmd_container_info,
	  CU_CMD_STORE | CU_CMD_JOIN, o_format },
	{ "vdisk", "create", "NAME --container C --size SIZE [--block-size SIZE]", NULL,
	  "create a virtual disk in a container", NULL, cu_cmd_vdisk_create, CU_CMD_STORE, o_vdisk_create },
	{ "vdisk", "write", "NAME [--offset OFF] [--progress] [FILE|-]",
	  "--progress: print \"committed BYTES\" per durable batch",
	  "write a file or stdin into a vdisk", NULL, cu_cmd_vdisk_write, CU_CMD_STORE | CU_CMD_OPEN_FIRST, o_vdisk_write },
	{ "vdisk", "read", "NAME [--offset OFF] [--length LEN] [--output FILE]", "(stdout by default)",
	  "read a vdisk into a file or stdout", NULL, cu_cmd_vdisk_read, CU_CMD_STORE | CU_CMD_OPEN_FIRST, o_vdisk_read },
	{ "vdisk", "snapshot", "NAME SNAP", NULL, "take a read-only snapshot of a vdisk", NULL, cu_cmd_vdisk_snapshot,
	  CU_CMD_STORE | CU_CMD_OPEN_FIRST, NULL },
	{ "vdisk", "clone", "SNAP NEW", NULL, "make a writable vdisk from a snapshot", NULL, cu_cmd_vdisk_clone,
	  CU_CMD_STORE | CU_CMD_OPEN_FIRST | CU_CMD_JOIN, NULL },
	{ "vdisk", "delete", "NAME", NULL, "delete a vdisk (the scans reclaim its space)", NULL, cu_cmd_vdisk_delete,
	  CU_CMD_STORE | CU_CMD_OPEN_FIRST | CU_CMD_JOIN, NULL },
	{ "vdisk", "list", "[--format json]", NULL, "list the vdisks, snapshots and clones", NULL, cu_cmd_vdisk_list,
	  CU_CMD_STORE | CU_CMD_OPEN_FIRST | CU_CMD_JOIN, o_format },
	{ "vdisk", "info", "NAME", NULL, "show a vdisk: container, kind, size, bytes written", NULL, cu_cmd_vdisk_info,
	  CU_CMD_STORE | CU_CMD_OPEN_FIRST | CU_CMD_JOIN, o_format },
	{ "vdisk", "owner", "NAME [--format text|json]", NULL, "show the controller that owns a vdisk, its lease, the backups",
	  NULL, cu_cmd_vdisk_owner, CU_CMD_STORE, o_format },
	{ "disk", "add", "--node N --tier T --size SIZE", NULL, "add a disk to a node", NULL, cu_cmd_disk_add,
	  CU_CMD_STORE, o_disk_add },
	{ "disk", "fail", "ID", NULL, "mark a disk failed (its replicas are re-replicated)", NULL, cu_cmd_disk_fail,
	  CU_CMD_STORE | CU_CMD_JOIN, NULL },
	{ "disk", "remove", "ID", "drain, then remove", "drain a disk, then mark it removed", NULL, cu_cmd_disk_remove,
	  CU_CMD_STORE | CU_CMD_JOIN, NULL },
	{ "disk", "list", "[--format json]", NULL, "list the disks: tier, capacity, use, state", NULL, cu_cmd_disk_list,
	  CU_CMD_STORE | CU_CMD_JOIN, o_format },
	{ "node", "down", "ID", NULL, "mark a node down", NULL, cu_cmd_node_down, CU_CMD_STORE, NULL },
	{ "node", "up", "ID", NULL, "mark a node up again", NULL, cu_cmd_node_up, CU_CMD_STORE | CU_CMD_JOIN, NULL },
	{ "node", "list", "[--format json]", NULL, "list the nodes and their state", NULL, cu_cmd_node_list,
	  CU_CMD_STORE | CU_CMD_JOIN, o_format },
	{ "cloud", "set", "URL [--credentials FILE]", "s3://BUCKET@HOST:PORT or a local directory;\n"
	  "                                   credentials: a 0600 file (access_key = / secret_key =) or\n"
	  "                                   CURATOR_S3_ACCESS_KEY / CURATOR_S3_SECRET_KEY",
	  "set the cloud tier, once it answers", NULL, cu_cmd_cloud_set, CU_CMD_STORE, o_cloud_set },
	{ "cloud", "show", "", NULL, "show the cloud tier's URL", NULL, cu_cmd_cloud_show, CU_CMD_STORE | CU_CMD_JOIN, o_format },
	{ "tier", "set", "TIER [--warn P] [--err P]", "ssd or hdd; percents of its disks' capacity",
	  "set a tier's fill thresholds: TIER_NEARFULL at --warn, TIER_FULL at --err", NULL, cu_cmd_tier_set,
	  CU_CMD_STORE, o_tier_set },
	{ "tier", "list", "[--format json]", NULL, "list the tiers: disks, capacity, use, fill thresholds", NULL,
	  cu_cmd_tier_list, CU_CMD_STORE | CU_CMD_JOIN, o_format },
	{ "fsck", NULL, "[--quiet] [--format json]", "exit 0 clean, 1 violations found, 2 error",
	  "check every invariant of the metadata and the egroups", NULL, cu_cmd_fsck, CU_CMD_STORE, o_fsck },
	{ "scan", NULL, "full|partial|selective [--dry-run] [--mem-budget SIZE] [--sweep-grace DUR] [--compact-pct P]\n"
	  "        [--node-grace DUR] [--scrub-period DUR] [--tasks-out FILE] [--all]",
	  "(defaults 1h, 20, 60s, 7d); --tasks-out: the tasks found, a line each\n"
	  "                                   (KIND TARGET VERSION PRIORITY BYTES), also with --dry-run;\n"
	  "                                   partial reads the egroups changed since the last scan and those\n"
	  "                                   crossing a time threshold (--all: every egroup); selective reads\n"
	  "                                   the rows of deleted vdisks (what the daemon runs on vdisk delete)",
	  "run a full, partial or selective scan, queue its tasks and print its report", NULL, cu_cmd_scan, CU_CMD_MPI,
	  o_scan },
	{ "tasks", "list", "[--kind K] [--state S] [--format json]", NULL, "list the task queue", NULL, cu_cmd_tasks_list,
	  CU_CMD_STORE, o_tasks_list },
	{ "tasks", "run", "[--kind K] [--max N] [--rate MBPS] [--throttle KIND=MBPS[:RANKS]]... [--sweep-grace DUR]",
	  "--rate and --throttle: MB/s for all the ranks together",
	  "run the queued tasks, highest priority first", NULL, cu_cmd_tasks_run, CU_CMD_MPI | CU_CMD_JOIN, o_tasks_run },
	{ "scan", NULL, "full|partial|selective --request", "queue a scan for the running daemon",
	  "ask the running daemon for a scan", NULL, cu_cmd_scan, CU_CMD_STORE, o_scan },
	{ "report", NULL, "[--scan ID | --last] [--format text|json|html|prom] [--output FILE]", NULL,
	  "print the report of a scan (the latest by default)", NULL, cu_cmd_report, CU_CMD_STORE, o_report },
	{ "status", NULL, "[--format json]", "exit 1 unless HEALTH_OK",
	  "show the health, the master, the last and next scans, running scans and pending tasks", NULL, cu_cmd_status,
	  CU_CMD_STORE, o_format },
	{ "health", NULL, "[detail] [--format json]", "HEALTH_OK | HEALTH_WARN | HEALTH_ERR; exit 1 unless OK",
	  "show the cluster's health and its coded checks (with detail: the items of each)",
	  "Checks (ERR): DATA_UNREADABLE, METADATA_CORRUPT, REFCOUNT_LOW, TIER_FULL; (WARN): DATA_UNDER_REPLICATED,\n"
	  "EC_STRIPS_DEGRADED, REPLICAS_MISSING, DISK_FAILED, NODE_DOWN, TIER_NEARFULL, MASTER_DOWN, SCAN_OVERDUE,\n"
	  "SCAN_FAILED, SCRUB_OVERDUE, TASKS_FAILED. Data is called lost only where no copy a read can use is left.",
	  cu_cmd_health, CU_CMD_STORE, o_format },
	{ "explain", NULL, "vdisk|egroup|extent ID [--format json]", "what the scans found about it, and why",
	  "explain what the scans found about one item and why", NULL, cu_cmd_explain, CU_CMD_STORE, o_format },
	{ "daemon", NULL, "[--full-every DUR] [--partial-every DUR] [--mem-budget SIZE] [--rate MBPS]\n"
	  "         [--throttle KIND=MBPS[:RANKS]]... [--tick SECS] [--node-grace DUR]",
	  "under mpiexec: rank 0 master, others slaves",
	  "run the curator service: scheduled, requested and triggered scans, then tasks", NULL, cu_cmd_daemon,
	  CU_CMD_MPI, o_daemon },
	{ "serve", NULL, "--node N [--socket PATH | --listen ADDR:PORT] [--foreground]\n"
	  "         [--log-max SIZE] [--log-mem SIZE] [--commit-ms MS] [--lease-ms MS]", "vdisks over NBD (export = vdisk name)",
	  "run the node's storage controller: nbdkit with the curator plugin", NULL, cu_cmd_serve, CU_CMD_STORE,
	  o_serve },
	{ "help", NULL, "[COMMAND [SUB]]", NULL, "print this usage, or a command's help", NULL, cu_help_topic, CU_CMD_META,
	  NULL },
};
/* clang-format on */

#define NCMDS ((int)(sizeof(cu_cmds) / sizeof(cu_cmds[0])))

/* Families whose words for a missing or unknown subcommand are not the generated ones. */
static const struct family_words {
	const char *name, *expected, *unknown;
} family_words[] = {
	{ "cloud", "set URL [--credentials FILE] or show", " (expected set or show)" },
};

const struct cu_cmd *cu_cmd_table(int *n)
{
	*n = NCMDS;
	return cu_cmds;
}

/* --- errors, the store, MPI ------------------------------------------- */

int cu_error(struct cu_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (ctx->quiet)
		return CU_EXIT_USAGE;
	fputs("curator: ", stderr);
	if (ctx->cmd)
		fprintf(stderr, "%s: ", ctx->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CU_EXIT_USAGE;
}

int cu_fail(struct cu_ctx *ctx, int rc)
{
	const char *why = ctx->err.text[0] ? ctx->err.text : ctx->mr ? mr_ctx_errmsg(ctx->mr) : st_strerror(rc);
	int status = ctx->fail_status ? ctx->fail_status
		     : rc == ST_ECORRUPT || rc == ST_EIO ? CU_EXIT_PROBLEM
							  : CU_EXIT_USAGE;

	if (!ctx->quiet)
		fprintf(stderr, "curator: %s: %s\n", ctx->cmd, why);
	return status;
}

int cu_store(struct cu_ctx *ctx)
{
	int rc = st_store_open(ctx->dir, &ctx->st, &ctx->err);

	if (rc) {
		int saved = ctx->fail_status;
		ctx->st = NULL;
		/* a cluster that cannot be opened (missing, corrupt, unreadable) is an environment error: 2 (CLI.md) */
		ctx->fail_status = CU_EXIT_USAGE;
		rc = cu_fail(ctx, rc);
		ctx->fail_status = saved;
		return rc;
	}
	return 0;
}

/* Collective: MPI, then the store on every rank, agreed. */
static int open_mpi(struct cu_ctx *ctx)
{
	int rc = mr_ctx_new(NULL, NULL, NULL, &ctx->mr);

	if (rc) {
		ctx->mr = NULL;
		return cu_error(ctx, "cannot start MPI: %s", mr_strerror(rc));
	}
	ctx->quiet = mr_rank(ctx->mr) != 0;
	rc = cu_store(ctx);
	return mr_agree(ctx->mr, rc ? -1 : 0) ? CU_EXIT_USAGE : 0;
}

int cu_open(struct cu_ctx *ctx)
{
	if (ctx->row->flags & CU_CMD_MPI)
		return open_mpi(ctx);
	if (ctx->row->flags & CU_CMD_STORE)
		return ctx->st ? 0 : cu_store(ctx);
	return 0;
}

struct st_config *cu_config(struct cu_ctx *ctx)
{
	return st_store_config(ctx->st);
}

/* --- option parsing ----------------------------------------------------- */

/*
 * Parse the command's arguments (argv[0] is its last command word) with
 * getopt_long against row c's options: the options into ctx->seen, the
 * positionals moved to the front of argv + 1 (in order; all after "--"
 * too), their count into *npos. 0, or CU_EXIT_USAGE after one line.
 */
static int parse_args(struct cu_ctx *ctx, const struct cu_cmd *c, int argc, char **argv, int *npos)
{
	struct option lo[CU_MAX_SEEN + 1];
	int n = 0, ch;

	for (const struct cu_optdef *d = c->opts; d && d->name && n < CU_MAX_SEEN; d++, n++)
		lo[n] = (struct option){ d->name + 2, d->arg ? required_argument : no_argument, NULL, 256 + n };
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
	*npos = 0;
	ctx->nseen = 0;
	optind = 0; /* glibc: start afresh (the global options were parsed in "+" mode) */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "-:", lo, NULL)) != -1) {
		const char *bad = argv[optind - 1];
		if (ch == 1) {
			argv[1 + (*npos)++] = optarg;
		} else if (ch >= 256) {
			if (ctx->nseen >= CU_MAX_SEEN)
				return cu_error(ctx, "too many options");
			ctx->seen[ctx->nseen].opt = &c->opts[ch - 256];
			ctx->seen[ctx->nseen++].val = optarg;
		} else if (ch == ':') {
			const struct cu_optdef *d = &c->opts[optopt - 256];
			return cu_error(ctx, "%s needs a value (%s)", d->name, d->arg);
		} else if (optopt >= 256) {
			return cu_error(ctx, "%s takes no value", c->opts[optopt - 256].name);
		} else if (optopt == 'C') {
			return cu_error(ctx, "-C is a global option: give it before the command (curator -C DIR %s ...)",
					ctx->name);
		} else {
			char name[64];
			if (optopt)
				snprintf(name, sizeof(name), "-%c", optopt);
			else
				snprintf(name, sizeof(name), "%.*s", (int)strcspn(bad, "="), bad);
			return cu_error(ctx, "unknown option %s (see curator %s --help)", name, ctx->name);
		}
	}
	for (; optind < argc; optind++)
		argv[1 + (*npos)++] = argv[optind];
	return 0;
}

int cu_opts_parse(struct cu_ctx *ctx, int argc, char **argv, struct cu_opt *opts, int nopts, char **pos, int *npos,
		  int maxpos)
{
	for (int k = 0; k < nopts; k++) {
		int known = 0;
		for (const struct cu_optdef *d = ctx->row->opts; d && d->name; d++)
			known |= !strcmp(d->name, opts[k].name);
		if (!known)
			return cu_error(ctx, "internal error: option %s is not in the command table", opts[k].name);
		opts[k].set = 0;
		opts[k].val = NULL;
		for (int i = 0; i < ctx->nseen; i++) {
			if (strcmp(ctx->seen[i].opt->name, opts[k].name))
				continue;
			opts[k].set = 1;
			opts[k].val = ctx->seen[i].val;
		}
	}
	if (argc > maxpos)
		return cu_error(ctx, "unexpected argument '%s' (see curator %s%s%s --help)", argv[maxpos], ctx->row->name,
				ctx->row->sub ? " " : "", ctx->row->sub ? ctx->row->sub : "");
	*npos = argc;
	for (int i = 0; i < argc; i++)
		pos[i] = argv[i];
	return 0;
}

const char *cu_opt_nth(const struct cu_ctx *ctx, const char *name, int i)
{
	for (int k = 0; k < ctx->nseen; k++)
		if (!strcmp(ctx->seen[k].opt->name, name) && i-- == 0)
			return ctx->seen[k].val;
	return NULL;
}

struct cu_opt *cu_opt_get(struct cu_opt *opts, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(opts[i].name, name))
			return &opts[i];
	return NULL;
}

int cu_opt_size(struct cu_ctx *ctx, const struct cu_opt *o, uint64_t *out)
{
	if (!o->set)
		return 0;
	if (st_parse_size(o->val, out))
		return cu_error(ctx, "%s '%s': not a size (e.g. 4096, 64K, 10G)", o->name, o->val);
	return 0;
}

int cu_arg_u32(struct cu_ctx *ctx, const char *what, const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || !*s || v == 0 || v > 0xffffffffUL || s[0] == '-')
		return cu_error(ctx, "%s '%s': not a positive integer", what, s);
	*out = (uint32_t)v;
	return 0;
}

/* --- dispatch ----------------------------------------------------------- */

/* "expected a, b or c": the subcommands of family name, in table order. */
static int no_subcommand(struct cu_ctx *ctx, const char *name)
{
	char list[256] = "";
	int n = 0, last = -1;

	for (size_t f = 0; f < sizeof(family_words) / sizeof(family_words[0]); f++)
		if (!strcmp(family_words[f].name, name))
			return cu_error(ctx, "expected %s", family_words[f].expected);
	for (int i = 0; i < NCMDS; i++)
		if (!strcmp(cu_cmds[i].name, name))
			last = i;
	for (int i = 0; i <= last; i++) {
		size_t l = strlen(list);
		if (strcmp(cu_cmds[i].name, name))
			continue;
		snprintf(list + l, sizeof(list) - l, "%s%s", n ? i == last ? " or " : ", " : "", cu_cmds[i].sub);
		n++;
	}
	return cu_error(ctx, "expected %s", list);
}

static int unknown_subcommand(struct cu_ctx *ctx, const char *name, const char *sub)
{
	for (size_t f = 0; f < sizeof(family_words) / sizeof(family_words[0]); f++)
		if (!strcmp(family_words[f].name, name))
			return cu_error(ctx, "unknown subcommand '%s'%s", sub, family_words[f].unknown);
	return cu_error(ctx, "unknown subcommand '%s'", sub);
}

/*
 * The row for argv (the command words), with *used set to how many words
 * named it; NULL with *status set after printing why there is none.
 */
static const struct cu_cmd *find(struct cu_ctx *ctx, int argc, char **argv, int *used, int *status)
{
	const struct cu_cmd *c = NULL;

	for (int i = 0; i < NCMDS && !c; i++)
		if (!strcmp(cu_cmds[i].name, argv[0]))
			c = &cu_cmds[i];
	if (!c) {
		*status = cu_error(ctx, "unknown command '%s' (see curator help)", argv[0]);
		return NULL;
	}
	*used = 1;
	if (!c->sub)
		return c;
	ctx->cmd = c->name;
	if (argc < 2) {
		*status = no_subcommand(ctx, c->name);
		return NULL;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		cu_help_family(stdout, c->name);
		*status = CU_EXIT_OK;
		return NULL;
	}
	for (; c < cu_cmds + NCMDS; c++)
		if (c->sub && !strcmp(c->name, argv[0]) && !strcmp(c->sub, argv[1])) {
			*used = 2;
			return c;
		}
	*status = unknown_subcommand(ctx, argv[0], argv[1]);
	return NULL;
}

/* Is there a -h or --help among argv[1..argc) before "--"? */
static int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	return 0;
}

/* Run row c on its arguments (argv[0] its last command word); free what it opened; its exit status. */
static int run(struct cu_ctx *ctx, const struct cu_cmd *c, int argc, char **argv)
{
	int rc, npos;

	ctx->row = c;
	if (c->sub)
		snprintf(ctx->name, sizeof(ctx->name), "%s %s", c->name, c->sub);
	else
		snprintf(ctx->name, sizeof(ctx->name), "%s", c->name);
	ctx->cmd = ctx->name;
	if (!(c->flags & CU_CMD_META) && wants_help(argc, argv)) {
		cu_help_command(stdout, c);
		return CU_EXIT_OK;
	}
	rc = parse_args(ctx, c, argc, argv, &npos);
	if (rc)
		return rc;
	if (c->flags & CU_CMD_OPEN_FIRST) {
		ctx->cmd = c->name; /* a missing cluster is "vdisk: ...", as the family opened it */
		rc = cu_open(ctx);
		ctx->cmd = ctx->name;
	}
	if (!rc) {
		rc = c->run(ctx, npos, argv + 1);
		if (rc < 0)
			rc = cu_fail(ctx, rc);
	}
	st_store_free(ctx->st);
	mr_ctx_free(ctx->mr);
	ctx->st = NULL;
	ctx->mr = NULL;
	return rc;
}

static const struct option global_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "help-man", no_argument, NULL, 'M' },
	{ "help-completion", no_argument, NULL, 'B' },
	{ NULL, 0, NULL, 0 },
};

/* The global options: -C DIR, -h, -V. 0 with *next the command's index, or an exit status (> 0, or -1 for 0). */
static int parse_global(struct cu_ctx *ctx, int argc, char **argv, int *next)
{
	int ch;

	opterr = 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "+:C:hV", global_opts, NULL)) != -1) {
		switch (ch) {
		case 'C':
			ctx->dir = optarg;
			break;
		case 'h':
			cu_help_usage(stdout);
			return -1;
		case 'V':
			printf("curator %s\n", cu_version());
			return -1;
		case 'M':
			cu_help_man(stdout);
			return -1;
		case 'B':
			cu_help_completion(stdout);
			return -1;
		case ':':
			return cu_error(ctx, "-C needs a value (the cluster directory)");
		default:
			if (optopt)
				return cu_error(ctx, "unknown option -%c (see curator help)", optopt);
			return cu_error(ctx, "unknown option %.*s (see curator help)", (int)strcspn(argv[optind - 1], "="),
					argv[optind - 1]);
		}
	}
	*next = optind;
	return 0;
}

int cu_cli_main(int argc, char **argv)
{
	struct cu_ctx ctx = { 0 };
	const struct cu_cmd *c;
	int i = 1, used = 0, status = 0;

	ctx.dir = getenv("CURATOR_DIR");
	if (!ctx.dir || !*ctx.dir)
		ctx.dir = "./cluster";
	status = parse_global(&ctx, argc, argv, &i);
	if (status)
		return status < 0 ? CU_EXIT_OK : status;
	if (i >= argc) {
		cu_help_usage(stderr);
		return CU_EXIT_USAGE;
	}
	c = find(&ctx, argc - i, argv + i, &used, &status);
	if (!c)
		return status;
	return run(&ctx, c, argc - i - used + 1, argv + i + used - 1);
}
