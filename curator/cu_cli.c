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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curator/cu_cmd.h"

static int cmd_help(struct cu_ctx *ctx, int argc, char **argv);

/* clang-format off */
static const struct cu_cmd cu_cmds[] = {
	{ "init", NULL, "--nodes N --disks SPEC [--shards S] [--shared-fs]",
	  "SPEC per node, e.g. \"ssd:1x8G,hdd:2x64G\"; --shared-fs: the directory is shared by several hosts (rollback "
	  "journal instead of WAL; also chosen when it is on NFS, CIFS, Ceph or FUSE)",
	  "create a cluster: N nodes with the disks of SPEC each, and its metadata shards", NULL, cu_cmd_init, 0 },
	{ "container", "create", "NAME --rf R [--rs K,M] [--ec-delay DUR]\n"
	  "          [--compress off|inline|post[:DELAY]] [--codec igzip|zlib] [--dedup off|inline|post]\n"
	  "          [--chunking fixed|cdc] [--ilm HIGH%,LOW%] [--cold-age DUR] [--tiers ssd,hdd,cloud]", NULL,
	  "create a container: replication, erasure coding, compression, dedup, tiers", NULL,
	  cu_cmd_container_create, CU_CMD_STORE },
	{ "container", "list", "", NULL, "list the containers and their policies", NULL, cu_cmd_container_list,
	  CU_CMD_STORE },
	{ "container", "info", "NAME", NULL, "show a container's policies", NULL, cu_cmd_container_info,
	  CU_CMD_STORE | CU_CMD_JOIN },
	{ "vdisk", "create", "NAME --container C --size SIZE [--block-size SIZE]", NULL,
	  "create a virtual disk in a container", NULL, cu_cmd_vdisk_create, CU_CMD_STORE },
	{ "vdisk", "write", "NAME [--offset OFF] [--progress] [FILE|-]",
	  "--progress: print \"committed BYTES\" per durable batch",
	  "write a file or stdin into a vdisk", NULL, cu_cmd_vdisk_write, CU_CMD_STORE | CU_CMD_OPEN_FIRST },
	{ "vdisk", "read", "NAME [--offset OFF] [--length LEN] [--output FILE]", "(stdout by default)",
	  "read a vdisk into a file or stdout", NULL, cu_cmd_vdisk_read, CU_CMD_STORE | CU_CMD_OPEN_FIRST },
	{ "vdisk", "snapshot", "NAME SNAP", NULL, "take a read-only snapshot of a vdisk", NULL, cu_cmd_vdisk_snapshot,
	  CU_CMD_STORE | CU_CMD_OPEN_FIRST },
	{ "vdisk", "clone", "SNAP NEW", NULL, "make a writable vdisk from a snapshot", NULL, cu_cmd_vdisk_clone,
	  CU_CMD_STORE | CU_CMD_OPEN_FIRST | CU_CMD_JOIN },
	{ "vdisk", "delete", "NAME", NULL, "delete a vdisk (the scans reclaim its space)", NULL, cu_cmd_vdisk_delete,
	  CU_CMD_STORE | CU_CMD_OPEN_FIRST | CU_CMD_JOIN },
	{ "vdisk", "list", "", NULL, "list the vdisks, snapshots and clones", NULL, cu_cmd_vdisk_list,
	  CU_CMD_STORE | CU_CMD_OPEN_FIRST | CU_CMD_JOIN },
	{ "vdisk", "info", "NAME", NULL, "show a vdisk: container, kind, size, bytes written", NULL, cu_cmd_vdisk_info,
	  CU_CMD_STORE | CU_CMD_OPEN_FIRST | CU_CMD_JOIN },
	{ "disk", "add", "--node N --tier T --size SIZE", NULL, "add a disk to a node", NULL, cu_cmd_disk_add,
	  CU_CMD_STORE },
	{ "disk", "fail", "ID", NULL, "mark a disk failed (its replicas are re-replicated)", NULL, cu_cmd_disk_fail,
	  CU_CMD_STORE | CU_CMD_JOIN },
	{ "disk", "remove", "ID", "drain, then remove", "drain a disk, then mark it removed", NULL, cu_cmd_disk_remove,
	  CU_CMD_STORE | CU_CMD_JOIN },
	{ "disk", "list", "", NULL, "list the disks: tier, capacity, use, state", NULL, cu_cmd_disk_list,
	  CU_CMD_STORE | CU_CMD_JOIN },
	{ "node", "down", "ID", NULL, "mark a node down", NULL, cu_cmd_node_down, CU_CMD_STORE },
	{ "node", "up", "ID", NULL, "mark a node up again", NULL, cu_cmd_node_up, CU_CMD_STORE | CU_CMD_JOIN },
	{ "node", "list", "", NULL, "list the nodes and their state", NULL, cu_cmd_node_list,
	  CU_CMD_STORE | CU_CMD_JOIN },
	{ "cloud", "set", "URL [--credentials FILE]", "s3://BUCKET@HOST:PORT or a local directory;\n"
	  "                                   credentials: a 0600 file (access_key = / secret_key =) or\n"
	  "                                   CURATOR_S3_ACCESS_KEY / CURATOR_S3_SECRET_KEY",
	  "set the cloud tier, once it answers", NULL, cu_cmd_cloud_set, CU_CMD_STORE },
	{ "cloud", "show", "", NULL, "show the cloud tier's URL", NULL, cu_cmd_cloud_show, CU_CMD_STORE | CU_CMD_JOIN },
	{ "fsck", NULL, "[--quiet]", "exit 0 clean, 1 violations found, 2 error",
	  "check every invariant of the metadata and the egroups", NULL, cu_cmd_fsck, CU_CMD_STORE },
	{ "scan", NULL, "full|partial [--dry-run] [--mem-budget SIZE] [--sweep-grace DUR] [--compact-pct P]\n"
	  "        [--node-grace DUR] [--scrub-period DUR]", "(defaults 1h, 20, 60s, 7d)",
	  "run a full or partial scan, queue its tasks and print its report", NULL, cu_cmd_scan, CU_CMD_MPI },
	{ "tasks", "list", "[--kind K] [--state S]", NULL, "list the task queue", NULL, cu_cmd_tasks_list,
	  CU_CMD_STORE },
	{ "tasks", "run", "[--kind K] [--max N] [--rate MBPS] [--sweep-grace DUR]", NULL,
	  "run the queued tasks, highest priority first", NULL, cu_cmd_tasks_run, CU_CMD_MPI | CU_CMD_JOIN },
	{ "scan", NULL, "full|partial --request", "queue a scan for the running daemon",
	  "ask the running daemon for a scan", NULL, cu_cmd_scan, CU_CMD_STORE },
	{ "report", NULL, "[--scan ID | --last] [--format text|json|html|prom] [--output FILE]", NULL,
	  "print the report of a scan (the latest by default)", NULL, cu_cmd_report, CU_CMD_STORE },
	{ "status", NULL, "", "exit 1 when there are health warnings",
	  "show the master, the last and next scans, pending tasks and health warnings", NULL, cu_cmd_status,
	  CU_CMD_STORE },
	{ "explain", NULL, "vdisk|egroup|extent ID", "what the scans found about it, and why",
	  "explain what the scans found about one item and why", NULL, cu_cmd_explain, CU_CMD_STORE },
	{ "daemon", NULL, "[--full-every DUR] [--partial-every DUR] [--mem-budget SIZE] [--rate MBPS]\n"
	  "         [--throttle KIND=MBPS[:RANKS]]... [--tick SECS]", "under mpiexec: rank 0 master, others slaves",
	  "run the curator service: scheduled, requested and triggered scans, then tasks", NULL, cu_cmd_daemon,
	  CU_CMD_MPI },
	{ "help", NULL, "", NULL, "print this usage", NULL, cmd_help, CU_CMD_META },
};
/* clang-format on */

#define NCMDS ((int)(sizeof(cu_cmds) / sizeof(cu_cmds[0])))

/* Families whose words for a missing or unknown subcommand are not the generated ones. */
static const struct family_words {
	const char *name, *expected, *unknown;
} family_words[] = {
	{ "cloud", "set URL [--credentials FILE] or show", " (expected set or show)" },
};

/* --- the usage text ----------------------------------------------------- */

#define NOTE_COLUMN 47

static const char usage_head[] =
	"usage: curator [-C DIR] COMMAND ...    DIR: the cluster directory ($CURATOR_DIR, else ./cluster)\n\n";
static const char usage_mpi[] =
	"\n"
	"scan, tasks run and daemon are MPI programs: one rank when started directly, N under mpiexec -n N.\n"
	"CURATOR_LOG=debug|info|warn|error sets the log level (logs and progress go to stderr).\n";
static const char usage_tail[] =
	"\n"
	"Sizes take K, M, G, T (powers of 1024); durations s, m, h, d.\n"
	"CURATOR_NOW=<unix seconds> sets the policy clock; CURATOR_NODE=<id> the node this process runs on.\n";

/* Print s, counting the columns of its last line into *col. */
static void put_col(FILE *out, const char *s, int *col)
{
	const char *nl = strrchr(s, '\n');

	fputs(s, out);
	*col = nl ? (int)strlen(nl + 1) : *col + (int)strlen(s);
}

/* The line of row i and of the rows joined to it; returns the next row. */
static int usage_line(FILE *out, int i)
{
	const struct cu_cmd *c = &cu_cmds[i];
	int col = 0;

	put_col(out, "  ", &col);
	put_col(out, c->name, &col);
	if (c->sub) {
		put_col(out, " ", &col);
		put_col(out, c->sub, &col);
	}
	if (*c->usage) {
		put_col(out, " ", &col);
		put_col(out, c->usage, &col);
	}
	for (i++; i < NCMDS && cu_cmds[i].flags & CU_CMD_JOIN; i++) {
		const struct cu_cmd *j = &cu_cmds[i];
		put_col(out, " | ", &col);
		put_col(out, j->sub, &col);
		if (*j->usage) {
			put_col(out, " ", &col);
			put_col(out, j->usage, &col);
		}
		if (j->note) {
			put_col(out, " (", &col);
			put_col(out, j->note, &col);
			put_col(out, ")", &col);
		}
	}
	if (c->note) {
		int pad = col >= NOTE_COLUMN ? 3 : NOTE_COLUMN - col < 5 ? 5 : NOTE_COLUMN - col;
		fprintf(out, "%*s%s", pad, "", c->note);
	}
	fputc('\n', out);
	return i;
}

/* The usage text, from the table: the commands, the notes, help, the units. */
static void usage(FILE *out)
{
	fputs(usage_head, out);
	for (int i = 0; i < NCMDS;)
		i = cu_cmds[i].flags & CU_CMD_META ? i + 1 : usage_line(out, i);
	fputs(usage_mpi, out);
	for (int i = 0; i < NCMDS;)
		i = cu_cmds[i].flags & CU_CMD_META ? usage_line(out, i) : i + 1;
	fputs(usage_tail, out);
}

static int cmd_help(struct cu_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	usage(stdout);
	return CU_EXIT_OK;
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
		ctx->st = NULL;
		return cu_fail(ctx, rc);
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

int cu_opts_parse(struct cu_ctx *ctx, int argc, char **argv, struct cu_opt *opts, int nopts, char **pos, int *npos,
		  int maxpos)
{
	*npos = 0;
	for (int i = 0; i < argc; i++) {
		char *a = argv[i];
		int found = 0;

		if (a[0] == '-' && a[1] == '-' && a[2]) {
			char *eq = strchr(a, '=');
			size_t nl = eq ? (size_t)(eq - a) : strlen(a);
			for (int k = 0; k < nopts; k++) {
				if (strlen(opts[k].name) != nl || strncmp(opts[k].name, a, nl))
					continue;
				found = 1;
				if (opts[k].has_arg) {
					if (eq)
						opts[k].val = eq + 1;
					else if (i + 1 < argc)
						opts[k].val = argv[++i];
					else
						return cu_error(ctx, "%s needs a value", opts[k].name);
				} else if (eq) {
					return cu_error(ctx, "%s takes no value", opts[k].name);
				}
				opts[k].set = 1;
				break;
			}
			if (!found)
				return cu_error(ctx, "unknown option %s (see curator help)", a);
			continue;
		}
		if (*npos >= maxpos)
			return cu_error(ctx, "unexpected argument '%s' (see curator help)", a);
		pos[(*npos)++] = a;
	}
	return 0;
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
	for (; c < cu_cmds + NCMDS; c++)
		if (c->sub && !strcmp(c->name, argv[0]) && !strcmp(c->sub, argv[1])) {
			*used = 2;
			return c;
		}
	*status = unknown_subcommand(ctx, argv[0], argv[1]);
	return NULL;
}

/* Run row c on its arguments; free what it opened; its exit status. */
static int run(struct cu_ctx *ctx, const struct cu_cmd *c, int argc, char **argv)
{
	int rc = 0;

	ctx->row = c;
	if (c->flags & CU_CMD_OPEN_FIRST) {
		ctx->cmd = c->name; /* a missing cluster is "vdisk: ...", as the family opened it */
		rc = cu_open(ctx);
	}
	if (!rc) {
		if (c->sub)
			snprintf(ctx->name, sizeof(ctx->name), "%s %s", c->name, c->sub);
		else
			snprintf(ctx->name, sizeof(ctx->name), "%s", c->name);
		ctx->cmd = ctx->name;
		rc = c->run(ctx, argc, argv);
		if (rc < 0)
			rc = cu_fail(ctx, rc);
	}
	st_store_free(ctx->st);
	mr_ctx_free(ctx->mr);
	ctx->st = NULL;
	ctx->mr = NULL;
	return rc;
}

int cu_cli_main(int argc, char **argv)
{
	struct cu_ctx ctx = { 0 };
	const struct cu_cmd *c;
	int i = 1, used = 0, status = 0;

	ctx.dir = getenv("CURATOR_DIR");
	if (!ctx.dir || !*ctx.dir)
		ctx.dir = "./cluster";
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "-C") && i + 1 < argc) {
			ctx.dir = argv[i + 1];
			i += 2;
		} else if (!strncmp(argv[i], "-C", 2) && argv[i][2]) {
			ctx.dir = argv[i] + 2;
			i++;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return CU_EXIT_OK;
		} else {
			return cu_error(&ctx, "unknown option %s (see curator help)", argv[i]);
		}
	}
	if (i >= argc) {
		usage(stderr);
		return CU_EXIT_USAGE;
	}
	c = find(&ctx, argc - i, argv + i, &used, &status);
	if (!c)
		return status;
	return run(&ctx, c, argc - i - used, argv + i + used);
}
