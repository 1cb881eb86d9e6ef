/*
 * cu_cmd: the command table of the `curator` command line and what its
 * handlers share (private to curator/cu_cli.c and curator/cu_cmd_*.c).
 *
 * A command is one row of cu_cmds[] (cu_cli.c): its name and subcommand
 * ("vdisk" "write"), its usage and help, its handler and flags. The table
 * is the one place that knows the commands: cu_cli_main dispatches
 * through it, the usage text (`curator help`) is generated from it, and
 * `COMMAND --help`, `help COMMAND`, completion and the man page are meant
 * to be generated from it too.
 *
 * How a command runs (cu_cli_main):
 *
 *   1. the global options (-C DIR, -h/--help, -V/--version) are parsed
 *      with getopt_long, a struct cu_ctx set up;
 *   2. the row is found from argv (a family such as "vdisk" answers a
 *      missing or unknown subcommand, and --help, itself);
 *   3. the command's arguments are parsed with getopt_long against the
 *      row's options (cu_optdef): --help anywhere before "--" prints the
 *      row's help; an unknown option, a missing value, a value given to
 *      a flag is one line and exit 2; "--" ends the options; what is left
 *      are the positionals, handed to the handler as its argc/argv, and
 *      the options are kept in the context (cu_opts_parse, cu_opt_nth);
 *   4. with CU_CMD_OPEN_FIRST the store is opened before the handler;
 *   5. the handler checks its arguments, then opens what its row asks
 *      for with cu_open() (so a usage error wins over a missing cluster),
 *      calls the library and prints its results;
 *   6. the runner turns a negative return into the one line
 *      "curator: <ctx->cmd>: <why>" and its exit status, then frees the
 *      store and the MPI context (in that order).
 *
 * Handlers return an exit status (>= 0: CU_EXIT_OK, CU_EXIT_PROBLEM when
 * the command found a problem, CU_EXIT_USAGE after printing a usage
 * error with cu_error()), or a negative library code (ST_*, -errno) with
 * ctx->err filled when they have the reason: the runner prints it.
 *
 * Not thread-safe (one command per process). On MPI commands only rank 0
 * prints errors.
 */
#ifndef CU_CMD_H
#define CU_CMD_H

#include <stdint.h>
#include <stdio.h>

#include "mapreduce/mr.h"
#include "storage/st_store.h"

/* Exit statuses (cu_cli.h). */
#define CU_EXIT_OK 0
#define CU_EXIT_PROBLEM 1 /* the command ran and found a problem */
#define CU_EXIT_USAGE 2   /* usage or environment error */

/* The most options one command line may give (repeats included). */
#define CU_MAX_SEEN 64

/*
 * One option of a command, in its row's NULL-terminated opts array: the
 * parser, `COMMAND --help`, the man page and the completion read it.
 */
struct cu_optdef {
	const char *name; /* "--offset" */
	const char *arg;  /* its value's name, "OFF"; NULL for a flag */
	const char *help; /* one line: what it does */
};

/* What a running command has: filled by the runner and cu_open. */
struct cu_ctx {
	const struct cu_cmd *row; /* the command running */
	const char *dir;          /* the cluster directory: -C, $CURATOR_DIR, ./cluster */
	const char *cmd;          /* names the command in errors: "vdisk write" */
	struct st_store *st;      /* after cu_open; freed by the runner */
	struct mr_ctx *mr;        /* after cu_open (CU_CMD_MPI); freed by the runner */
	int quiet;                /* an MPI rank other than 0: print no errors */
	int fail_status;          /* exit status of a negative return (0: by its code) */
	struct st_msg err;        /* why the failing call failed */
	char name[64];            /* storage for cmd */
	int nseen;                /* the options given, in order (the runner's parse) */
	struct {
		const struct cu_optdef *opt;
		const char *val;  /* NULL for a flag */
	} seen[CU_MAX_SEEN];
};

enum cu_cmd_flags {
	CU_CMD_STORE = (1 << 0),      /* works on a cluster: cu_open opens the store */
	CU_CMD_MPI = (1 << 1),        /* an MPI program: cu_open starts MPI, the store on every rank */
	CU_CMD_OPEN_FIRST = (1 << 2), /* the runner opens the store before the handler */
	CU_CMD_JOIN = (1 << 3),       /* usage text: on the line of the row before, after " | " */
	CU_CMD_META = (1 << 4),       /* about the command line itself (help): listed last */
};

/*
 * One command. argv of run holds the arguments after the command words
 * (after "vdisk write", after "fsck"). The usage text is, per row (or per
 * line of rows joined with CU_CMD_JOIN):
 *
 *   "  " name [" " sub] [" " usage] [" | " sub [" " usage] [" (" note ")"]]...
 *
 * and the note of the first row of the line after its last line: at
 * column 47, at least five spaces after the synopsis, or three spaces
 * after a synopsis that reaches column 47. usage and note may hold more
 * lines ("\n" then the line, indented as it is to be printed).
 */
struct cu_cmd {
	const char *name;  /* "vdisk" */
	const char *sub;   /* "write", NULL for a command without subcommands */
	const char *usage; /* the arguments: "NAME [--offset OFF] [--progress] [FILE|-]" */
	const char *note;  /* remark shown beside the usage, or NULL */
	const char *help;  /* one line: what it does */
	const char *more;  /* longer help for `COMMAND --help` and the man page, or NULL */
	int (*run)(struct cu_ctx *ctx, int argc, char **argv);
	unsigned flags;    /* enum cu_cmd_flags */
	const struct cu_optdef *opts; /* its options, ending with { NULL }; NULL for none */
};

/* --- the table and the help made from it (cu_cli.c, cu_cli_help.c) ------- */

/* The command table (static, in usage order); *n receives its length. */
const struct cu_cmd *cu_cmd_table(int *n);

/* The version string ("0.1.0 (git f4bac34)"), fixed at build time (cu_version.c). */
const char *cu_version(void);

/* The global usage text: every command's synopsis, then the notes. */
void cu_help_usage(FILE *out);

/* `COMMAND --help`: row c's synopsis, what it does, its options. */
void cu_help_command(FILE *out, const struct cu_cmd *c);

/* `FAMILY --help`: every row called name, with what each does. */
void cu_help_family(FILE *out, const char *name);

/* `curator --help-man`: the man page curator(8) in roff, from the table (make builds it with this). */
void cu_help_man(FILE *out);

/* `curator --help-completion`: a bash completion script, from the table. */
void cu_help_completion(FILE *out);

/*
 * `curator help [COMMAND [SUB]]`: the usage, a family's or a command's
 * help on stdout. 0, or CU_EXIT_USAGE after printing that there is no
 * such command.
 */
int cu_help_topic(struct cu_ctx *ctx, int argc, char **argv);

/* --- shared by the handlers (cu_cli.c) ------------------------------------ */

/* Print "curator: <ctx->cmd>: <why>" on stderr (unless ctx->quiet); CU_EXIT_USAGE. */
int cu_error(struct cu_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Print the one line for library error rc (ctx->err's text, else the MPI
 * context's message on MPI commands, else st_strerror) and return its exit
 * status: ctx->fail_status if set, else CU_EXIT_PROBLEM for ST_ECORRUPT and
 * ST_EIO (bad data), CU_EXIT_USAGE for the rest.
 */
int cu_fail(struct cu_ctx *ctx, int rc);

/*
 * Open what the command's row asks for: with CU_CMD_STORE the cluster at
 * ctx->dir into ctx->st; with CU_CMD_MPI (collective) MPI into ctx->mr
 * (one rank without mpiexec), ranks other than 0 made quiet, and the
 * store on every rank. 0, or an exit status after printing the error
 * (with MPI: CU_EXIT_USAGE on every rank, rank 0's error printed).
 */
int cu_open(struct cu_ctx *ctx);

/* Open the store alone, for a form of an MPI command that is not one (scan --request). As cu_open. */
int cu_store(struct cu_ctx *ctx);

/* The config of the open store. */
struct st_config *cu_config(struct cu_ctx *ctx);

/* An option of a command, e.g. { "--rf", 1 }; parsing fills val and set. */
struct cu_opt {
	const char *name;
	int has_arg;
	const char *val;
	int set;
};

#define CU_NOPTS(o) ((int)(sizeof(o) / sizeof((o)[0])))
#define CU_OPT(o, name) cu_opt_get((o), CU_NOPTS(o), (name))

/*
 * Fill opts (each must be one of the row's cu_optdef: the runner already
 * parsed the command line against them; the last value given wins) and
 * take the handler's argv[0..argc) (the positionals) as at most maxpos
 * positionals (pos[0..*npos)). 0, or CU_EXIT_USAGE after printing what is
 * wrong (one too many arguments; an option not in the row, a bug).
 */
int cu_opts_parse(struct cu_ctx *ctx, int argc, char **argv, struct cu_opt *opts, int nopts, char **pos, int *npos,
		  int maxpos);

/* The i-th value given to option name (a repeatable one, e.g. --throttle), or NULL past the last. */
const char *cu_opt_nth(const struct cu_ctx *ctx, const char *name, int i);

/* The option called name (which must be in opts). */
struct cu_opt *cu_opt_get(struct cu_opt *opts, int n, const char *name);

/* A size option ("64K", "10G") into *out if set. 0 or CU_EXIT_USAGE (printed). */
int cu_opt_size(struct cu_ctx *ctx, const struct cu_opt *o, uint64_t *out);

/* A positive 32-bit integer argument; what names it in the error. 0 or CU_EXIT_USAGE (printed). */
int cu_arg_u32(struct cu_ctx *ctx, const char *what, const char *s, uint32_t *out);

/* --- the handlers ------------------------------------------------------- */

/* cu_cmd_cluster.c: the cluster, its containers, disks, nodes, cloud tier and tiers' fill thresholds */
int cu_cmd_init(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_container_create(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_container_list(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_container_info(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_disk_add(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_disk_fail(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_disk_remove(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_disk_list(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_node_down(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_node_up(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_node_list(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_cloud_set(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_cloud_show(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_tier_set(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_tier_list(struct cu_ctx *ctx, int argc, char **argv);

/* cu_cmd_vdisk.c: vdisks (all but create find the store open: CU_CMD_OPEN_FIRST) */
int cu_cmd_vdisk_create(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_vdisk_write(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_vdisk_read(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_vdisk_snapshot(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_vdisk_clone(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_vdisk_delete(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_vdisk_list(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_vdisk_info(struct cu_ctx *ctx, int argc, char **argv);

/* cu_cmd_scan.c: the curator: checks, scans, tasks, reports, the daemon */
int cu_cmd_fsck(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_scan(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_tasks_list(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_tasks_run(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_report(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_status(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_health(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_explain(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_daemon(struct cu_ctx *ctx, int argc, char **argv);

/* cu_cmd_serve.c: the storage controller (execs nbdkit with the plugin) */
int cu_cmd_serve(struct cu_ctx *ctx, int argc, char **argv);
int cu_cmd_vdisk_owner(struct cu_ctx *ctx, int argc, char **argv);

#endif
