/*
 * cu_cli_help: everything the command line says about itself, made from
 * the command table (cu_cmd_table): the usage text, `COMMAND --help`,
 * `FAMILY --help`, `help [COMMAND [SUB]]`, the man page curator(8)
 * (`--help-man`, roff) and the bash completion (`--help-completion`).
 *
 * DESIGN. Nothing here knows a command: a row's synopsis (usage), its
 * note, its help and more text, and its options (cu_optdef) are printed
 * in each form, so the man page, the completion and --help cannot drift
 * from what the parser accepts (the build makes the man page and the
 * completion by running the binary). Rows that share a name without a
 * subcommand ("scan" and "scan --request") are one command with several
 * synopses.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "curator/cu_cmd.h"

/* --- the usage text ----------------------------------------------------- */

#define NOTE_COLUMN 47

static const char usage_head[] =
	"usage: curator [-C DIR] COMMAND ...    DIR: the cluster directory ($CURATOR_DIR, else ./cluster)\n\n";
static const char usage_mpi[] =
	"\n"
	"scan, tasks run and daemon are MPI programs: one rank when started directly, N under mpiexec -n N.\n"
	"CURATOR_LOG=debug|info|warn|error sets the log level (logs and progress go to stderr).\n";
static const char usage_tail[] =
	"  --version | COMMAND --help\n"
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
static int usage_line(FILE *out, const struct cu_cmd *t, int n, int i)
{
	const struct cu_cmd *c = &t[i];
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
	for (i++; i < n && t[i].flags & CU_CMD_JOIN; i++) {
		const struct cu_cmd *j = &t[i];
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

void cu_help_usage(FILE *out)
{
	int n;
	const struct cu_cmd *t = cu_cmd_table(&n);

	fputs(usage_head, out);
	for (int i = 0; i < n;)
		i = t[i].flags & CU_CMD_META ? i + 1 : usage_line(out, t, n, i);
	fputs(usage_mpi, out);
	for (int i = 0; i < n;)
		i = t[i].flags & CU_CMD_META ? usage_line(out, t, n, i) : i + 1;
	fputs(usage_tail, out);
}

/* --- one command, one family -------------------------------------------- */

/* Print s with every line after the first indented by ind spaces (s's own indentation dropped). */
static void put_indented(FILE *out, const char *s, int ind)
{
	for (; *s; s++) {
		fputc(*s, out);
		if (*s == '\n') {
			while (s[1] == ' ')
				s++;
			fprintf(out, "%*s", ind, "");
		}
	}
}

static void put_synopsis(FILE *out, const char *prefix, const struct cu_cmd *c)
{
	int ind = (int)strlen(prefix) + (int)strlen(c->name) + 1 + (c->sub ? (int)strlen(c->sub) + 1 : 0);

	fprintf(out, "%s%s%s%s", prefix, c->name, c->sub ? " " : "", c->sub ? c->sub : "");
	if (*c->usage) {
		fputc(' ', out);
		put_indented(out, c->usage, ind);
	}
	fputc('\n', out);
}

void cu_help_command(FILE *out, const struct cu_cmd *c)
{
	int n, width = 12;
	const struct cu_cmd *t = cu_cmd_table(&n);

	for (int i = 0; i < n; i++)
		if (&t[i] == c || (!c->sub && !t[i].sub && !strcmp(t[i].name, c->name)))
			put_synopsis(out, &t[i] == c ? "usage: curator [-C DIR] " : "       curator [-C DIR] ", &t[i]);
	fputc('\n', out);
	for (int i = 0; i < n; i++) {
		if (&t[i] != c && (c->sub || t[i].sub || strcmp(t[i].name, c->name)))
			continue;
		if (&t[i] == c)
			fprintf(out, "%s.\n", t[i].help);
		else
			fprintf(out, "%s%s%s: %s.\n", t[i].name, *t[i].usage ? " " : "", t[i].usage, t[i].help);
		if (t[i].note) {
			fputs("  ", out);
			put_indented(out, t[i].note, 2);
			fputc('\n', out);
		}
	}
	if (c->more)
		fprintf(out, "\n%s\n", c->more);
	for (const struct cu_optdef *d = c->opts; d && d->name; d++) {
		int w = (int)strlen(d->name) + (d->arg ? 1 + (int)strlen(d->arg) : 0);
		if (w > width && w <= 30)
			width = w;
	}
	fputs("\noptions:\n", out);
	for (const struct cu_optdef *d = c->opts; d && d->name; d++) {
		char both[128];
		snprintf(both, sizeof(both), "%s%s%s", d->name, d->arg ? " " : "", d->arg ? d->arg : "");
		if ((int)strlen(both) > width)
			fprintf(out, "  %s\n  %*s  %s\n", both, width, "", d->help);
		else
			fprintf(out, "  %-*s  %s\n", width, both, d->help);
	}
	fprintf(out, "  %-*s  %s\n", width, "-h, --help", "print this help");
}

void cu_help_family(FILE *out, const char *name)
{
	int n;
	const struct cu_cmd *t = cu_cmd_table(&n);

	fprintf(out, "usage: curator [-C DIR] %s SUBCOMMAND ...\n\n", name);
	for (int i = 0; i < n; i++) {
		if (strcmp(t[i].name, name))
			continue;
		put_synopsis(out, "  curator ", &t[i]);
		fprintf(out, "      %s\n", t[i].help);
	}
	fprintf(out, "\ncurator %s SUBCOMMAND --help: its options.\n", name);
}

int cu_help_topic(struct cu_ctx *ctx, int argc, char **argv)
{
	int n;
	const struct cu_cmd *t = cu_cmd_table(&n), *c = NULL;

	if (argc == 0) {
		cu_help_usage(stdout);
		return CU_EXIT_OK;
	}
	for (int i = 0; i < n && !c; i++)
		if (!strcmp(t[i].name, argv[0]))
			c = &t[i];
	if (!c)
		return cu_error(ctx, "unknown command '%s' (see curator help)", argv[0]);
	if (!c->sub) {
		if (argc > 1)
			return cu_error(ctx, "%s has no subcommands", c->name);
		cu_help_command(stdout, c);
		return CU_EXIT_OK;
	}
	if (argc == 1) {
		cu_help_family(stdout, c->name);
		return CU_EXIT_OK;
	}
	if (argc > 2)
		return cu_error(ctx, "expected COMMAND [SUB]");
	for (; c < t + n; c++)
		if (c->sub && !strcmp(c->name, argv[0]) && !strcmp(c->sub, argv[1])) {
			cu_help_command(stdout, c);
			return CU_EXIT_OK;
		}
	return cu_error(ctx, "unknown subcommand '%s %s' (see curator help %s)", argv[0], argv[1], argv[0]);
}

/* --- the man page ------------------------------------------------------- */

/* s as roff text: backslashes and dashes escaped, a leading dot or quote guarded, lines joined. */
static void roff(FILE *out, const char *s)
{
	int bol = 1;

	for (; *s; s++) {
		if (*s == '\n') {
			fputc('\n', out);
			while (s[1] == ' ')
				s++;
			bol = 1;
			continue;
		}
		if (bol && (*s == '.' || *s == '\''))
			fputs("\\&", out);
		bol = 0;
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '-')
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

static const char man_head[] =
	".SH NAME\n"
	"curator \\- a storage maintenance engine: vdisks on replicated extent groups, scans, tasks, health\n"
	".SH SYNOPSIS\n"
	".B curator\n"
	"[\\fB\\-C\\fR \\fIDIR\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]\n"
	".br\n"
	".B curator\n"
	"\\fB\\-\\-version\\fR | \\fBhelp\\fR [\\fICOMMAND\\fR [\\fISUB\\fR]] | \\fICOMMAND\\fR \\fB\\-\\-help\\fR\n"
	".SH DESCRIPTION\n"
	"curator manages a cluster of virtual disks stored as extents in replicated or erasure-coded extent\n"
	"groups on SSD, HDD and cloud tiers, and keeps it healthy, compact and well placed: its scans find\n"
	"what to repair, reclaim, compress, deduplicate or move, and queue tasks that it then runs.\n"
	"Scans, task runs and the daemon are MPI programs: one rank when started directly, N ranks under\n"
	"\\fBmpiexec \\-n\\fR \\fIN\\fR. The other commands are plain processes.\n"
	".PP\n"
	"Sizes take K, M, G, T suffixes (powers of 1024); durations take s, m, h, d.\n"
	".SH GLOBAL OPTIONS\n"
	".TP\n"
	"\\fB\\-C\\fR \\fIDIR\\fR\n"
	"The cluster directory (default \\fB$CURATOR_DIR\\fR, else \\fI./cluster\\fR).\n"
	".TP\n"
	"\\fB\\-h\\fR, \\fB\\-\\-help\\fR\n"
	"Print the usage of every command.\n"
	".TP\n"
	"\\fB\\-V\\fR, \\fB\\-\\-version\\fR\n"
	"Print the version.\n"
	".SH COMMANDS\n";

static const char man_tail[] =
	".SH EXIT STATUS\n"
	".TP\n0\nSuccess.\n"
	".TP\n1\nThe command ran and found a problem (fsck violations, a failed scan, health not OK, data no replica\n"
	"can serve).\n"
	".TP\n2\nA usage or environment error. Errors are one line on stderr: \\fIcurator: what: why\\fR.\n"
	".SH ENVIRONMENT\n"
	".TP\n\\fBCURATOR_DIR\\fR\nThe cluster directory when \\fB\\-C\\fR is not given.\n"
	".TP\n\\fBCURATOR_LOG\\fR\ndebug, info, warn or error: the log level (logs and progress go to stderr).\n"
	".TP\n\\fBCURATOR_NOW\\fR\nUnix seconds: the clock of every policy (delays, cold age, schedules), for tests and demos.\n"
	".TP\n\\fBCURATOR_NODE\\fR\nThe node this process runs on (the high 16 bits of the IDs it allocates).\n"
	".TP\n\\fBCURATOR_S3_ACCESS_KEY\\fR, \\fBCURATOR_S3_SECRET_KEY\\fR\nThe cloud tier's credentials when no file is given.\n"
	".SH FILES\n"
	".TP\n\\fIDIR\\fR/config.db, \\fIDIR\\fR/meta\\-*.db, \\fIDIR\\fR/curator.db, \\fIDIR\\fR/curator\\-q1.db,"
	" \\fIDIR\\fR/disks/\n"
	"The cluster: its configuration, its metadata shards, the curator's scans and tasks (the task queue in two"
	" files, kept and removed together), its disks.\n"
	".TP\n\\fI/etc/default/curator\\fR\nThe settings of the systemd units (curator.service, curator\\-scan.timer).\n"
	".SH SEE ALSO\n"
	"\\fBmpiexec\\fR(1), \\fBsystemd.timer\\fR(5)\n";

static void man_command(FILE *out, const struct cu_cmd *t, int n, int i)
{
	const struct cu_cmd *c = &t[i];

	fputs(".SS \"", out);
	roff(out, c->name);
	if (c->sub) {
		fputc(' ', out);
		roff(out, c->sub);
	}
	fputs("\"\n", out);
	for (int k = i; k < n; k++) {
		if (k != i && (c->sub || t[k].sub || strcmp(t[k].name, c->name)))
			continue;
		fprintf(out, ".B curator %s%s%s\n", t[k].name, t[k].sub ? " " : "", t[k].sub ? t[k].sub : "");
		roff(out, t[k].usage);
		fputs("\n.br\n", out);
	}
	fputs(".PP\n", out);
	roff(out, c->help);
	fputs(".\n", out);
	if (c->note) {
		roff(out, c->note);
		fputc('\n', out);
	}
	if (c->more) {
		fputs(".PP\n", out);
		roff(out, c->more);
		fputc('\n', out);
	}
	for (const struct cu_optdef *d = c->opts; d && d->name; d++) {
		fputs(".TP\n\\fB", out);
		roff(out, d->name);
		fputs("\\fR", out);
		if (d->arg) {
			fputs(" \\fI", out);
			roff(out, d->arg);
			fputs("\\fR", out);
		}
		fputc('\n', out);
		roff(out, d->help);
		fputs(".\n", out);
	}
}

void cu_help_man(FILE *out)
{
	int n;
	const struct cu_cmd *t = cu_cmd_table(&n);

	fprintf(out, ".TH CURATOR 8 \"\" \"curator %s\" \"System Administration\"\n", cu_version());
	fputs(man_head, out);
	for (int i = 0; i < n; i++) {
		int dup = 0;
		for (int k = 0; k < i && !t[i].sub; k++)
			dup |= !t[k].sub && !strcmp(t[k].name, t[i].name);
		if (!dup)
			man_command(out, t, n, i);
	}
	fputs(man_tail, out);
}

/* --- bash completion ---------------------------------------------------- */

/* The words of a value name made of choices ("text|json|html"), or 0 when it is a placeholder ("FILE"). */
static int choices(const char *arg, char *buf, size_t cap)
{
	size_t l = 0;

	if (!strchr(arg, '|'))
		return 0;
	for (const char *p = arg; *p && l + 2 < cap; p++) {
		if (isupper((unsigned char)*p) || *p == '[')
			return 0;
		buf[l++] = *p == '|' ? ' ' : *p;
	}
	buf[l] = 0;
	return 1;
}

static void completion_opts(FILE *out, const struct cu_cmd *c)
{
	fprintf(out, "\t\"%s%s%s\") opts=\"", c->name, c->sub ? " " : "", c->sub ? c->sub : "");
	for (const struct cu_optdef *d = c->opts; d && d->name; d++)
		fprintf(out, "%s ", d->name);
	fputs("--help\" ;;\n", out);
}

void cu_help_completion(FILE *out)
{
	int n;
	const struct cu_cmd *t = cu_cmd_table(&n);
	char buf[256];

	fprintf(out, "# bash completion for curator %s (generated by curator --help-completion)\n", cu_version());
	fputs("_curator()\n{\n\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
	      "\tlocal i=1 cmd='' sub='' opts='' subs=''\n"
	      "\twhile [ $i -lt $COMP_CWORD ]; do\n"
	      "\t\tcase ${COMP_WORDS[i]} in\n"
	      "\t\t-C) i=$((i + 2)); continue ;;\n"
	      "\t\t-*) ;;\n"
	      "\t\t*) if [ -z \"$cmd\" ]; then cmd=${COMP_WORDS[i]}; elif [ -z \"$sub\" ]; then sub=${COMP_WORDS[i]}; fi ;;\n"
	      "\t\tesac\n\t\ti=$((i + 1))\n\tdone\n"
	      "\tif [ \"$prev\" = -C ]; then COMPREPLY=($(compgen -d -- \"$cur\")); return; fi\n",
	      out);
	fputs("\tcase \"$cmd $prev\" in\n", out);
	for (int i = 0; i < n; i++)
		for (const struct cu_optdef *d = t[i].opts; d && d->name; d++) {
			if (!d->arg)
				continue;
			if (choices(d->arg, buf, sizeof(buf)))
				fprintf(out, "\t\"%s %s\") COMPREPLY=($(compgen -W \"%s\" -- \"$cur\")); return ;;\n",
					t[i].name, d->name, buf);
			else if (!strcmp(d->arg, "FILE"))
				fprintf(out, "\t\"%s %s\") COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n",
					t[i].name, d->name);
		}
	fputs("\tesac\n", out);
	fputs("\tif [ -z \"$cmd\" ]; then\n\t\tCOMPREPLY=($(compgen -W \"-C --help --version", out);
	for (int i = 0; i < n; i++)
		if (i == 0 || strcmp(t[i].name, t[i - 1].name))
			fprintf(out, " %s", t[i].name);
	fputs("\" -- \"$cur\"))\n\t\treturn\n\tfi\n\tcase $cmd in\n", out);
	for (int i = 0; i < n; i++) {
		if (!t[i].sub || (i > 0 && !strcmp(t[i].name, t[i - 1].name)))
			continue;
		fprintf(out, "\t%s) subs=\"", t[i].name);
		for (int k = i; k < n && !strcmp(t[k].name, t[i].name); k++)
			fprintf(out, "%s%s", k > i ? " " : "", t[k].sub);
		fputs("\" ;;\n", out);
	}
	fputs("\tesac\n\tif [ -n \"$subs\" ] && [ -z \"$sub\" ]; then\n"
	      "\t\tCOMPREPLY=($(compgen -W \"$subs --help\" -- \"$cur\"))\n\t\treturn\n\tfi\n"
	      "\tcase \"$cmd${subs:+ $sub}\" in\n",
	      out);
	for (int i = 0; i < n; i++) {
		int dup = 0;
		for (int k = 0; k < i && !t[i].sub; k++)
			dup |= !t[k].sub && !strcmp(t[k].name, t[i].name);
		if (!dup)
			completion_opts(out, &t[i]);
	}
	fputs("\tesac\n\tif [[ $cur == -* ]]; then\n\t\tCOMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
	      "\telse\n\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n\tfi\n}\ncomplete -F _curator curator\n",
	      out);
}
