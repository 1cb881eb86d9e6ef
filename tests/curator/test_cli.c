/*
 * The command line against real processes: bad input gives one line and a
 * non-zero exit without losing data; a writer killed with SIGKILL loses
 * nothing it acknowledged; concurrent writers and a reader all succeed.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "curator/cu_cmd.h"
#include "curator/cu_health.h"
#include "tests/helpers.h"

#define RUN(dir, ...) th_run(dir, NULL, NULL, NULL, __VA_ARGS__, NULL)

static const char *demo(int rf, const char *disks)
{
	const char *dir = th_tmpdir("cli");
	char rfs[8];

	snprintf(rfs, sizeof(rfs), "%d", rf);
	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", disks), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", rfs), 0);
	return dir;
}

static char *tmpfile_with(const char *dir, const char *name, size_t len, uint64_t seed)
{
	static char path[64][1024];
	static int n;
	char *p = path[n++ % 64];
	void *buf = malloc(len);

	snprintf(p, 1024, "%s/%s", dir, name);
	th_fill(buf, len, seed);
	cr_assert_eq(th_write_file(p, buf, len), 0);
	free(buf);
	return p;
}

/* Expect a failure: exit code `code`, exactly one stderr line with `needle`. */
static void expect_error(const char *dir, int code, const char *needle, const char *in, ...)
{
	const char *args[32];
	va_list ap;
	int n = 0;
	char *out, *err;
	int rc;

	va_start(ap, in);
	while (n < 31 && (args[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	args[n] = NULL;
	rc = th_run(dir, in, &out, &err, args[0], n > 1 ? args[1] : NULL, n > 2 ? args[2] : NULL,
		    n > 3 ? args[3] : NULL, n > 4 ? args[4] : NULL, n > 5 ? args[5] : NULL, n > 6 ? args[6] : NULL,
		    n > 7 ? args[7] : NULL, n > 8 ? args[8] : NULL, NULL);
	cr_assert_eq(rc, code, "%s %s %s %s: exit %d, want %d; stderr: %s", args[0], n > 1 ? args[1] : "", n > 2 ? args[2] : "", n > 3 ? args[3] : "", rc, code, err);
	cr_assert_eq(th_lines(err), 1, "want one stderr line, got: %s", err);
	cr_assert(!strncmp(err, "curator: ", 9), "%s", err);
	cr_assert(strstr(err, needle), "want '%s' in: %s", needle, err);
	free(out);
	free(err);
}

static void expect_file_eq(const char *dir, const char *vdisk, const char *file, size_t len)
{
	char lenbuf[32], outp[1100];
	size_t n1, n2;
	char *a, *b;

	snprintf(lenbuf, sizeof(lenbuf), "%zu", len);
	snprintf(outp, sizeof(outp), "%s/readback-%s", dir, vdisk);
	cr_assert_eq(RUN(dir, "vdisk", "read", vdisk, "--length", lenbuf, "--output", outp), 0);
	a = th_read_file(file, &n1);
	b = th_read_file(outp, &n2);
	cr_assert_geq(n1, len);
	cr_assert_eq(n2, len);
	cr_assert_eq(memcmp(a, b, len), 0, "vdisk %s differs from %s", vdisk, file);
	free(a);
	free(b);
	unlink(outp);
}

Test(cli, bad_input_is_one_line_and_nonzero, .timeout = 60)
{
	const char *dir = demo(2, "ssd:1x16M,hdd:1x24M");
	char *small = tmpfile_with(dir, "small", 5000, 1);
	char *big = tmpfile_with(dir, "big", 80 << 20, 2);

	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "c", "--size", "1M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "v", small), 0);

	expect_error(dir, 2, "unknown command", NULL, "frobnicate", NULL);
	expect_error(dir, 2, "unknown option --bogus", NULL, "vdisk", "read", "v", "--bogus", NULL);
	expect_error(dir, 2, "vdisk 'nope': not found", NULL, "vdisk", "read", "nope", NULL);
	expect_error(dir, 2, "vdisk 'nope': not found", small, "vdisk", "write", "nope", NULL);
	expect_error(dir, 2, "container 'nope': not found", NULL, "vdisk", "create", "w", "--container", "nope",
		     "--size", "1M", NULL);
	expect_error(dir, 2, "not a size", NULL, "vdisk", "create", "w", "--container", "c", "--size", "12Q", NULL);
	expect_error(dir, 2, "not a size", NULL, "vdisk", "read", "v", "--offset", "abc", NULL);
	expect_error(dir, 2, "past the size", NULL, "vdisk", "read", "v", "--offset", "2M", NULL);
	expect_error(dir, 2, "past the size", NULL, "vdisk", "read", "v", "--offset", "1000000", "--length", "100000",
		     NULL);
	expect_error(dir, 2, "past the size", NULL, "vdisk", "write", "v", "--offset", "1045000", small, NULL);
	expect_error(dir, 2, "past the size", small, "vdisk", "write", "v", "--offset", "1045000", "-", NULL);
	expect_error(dir, 2, "--rf 4", NULL, "container", "create", "d", "--rf", "4", NULL);
	expect_error(dir, 2, "--ilm", NULL, "container", "create", "d", "--rf", "1", "--ilm", "50%,60%", NULL);
	expect_error(dir, 2, "--rs 4,2", NULL, "container", "create", "d", "--rf", "1", "--rs", "4,2", NULL);
	expect_error(dir, 2, "already exists", NULL, "container", "create", "c", "--rf", "1", NULL);
	expect_error(dir, 2, "not a cluster directory", NULL, "-C", "/nonexistent", "vdisk", "list", NULL);
	expect_error(dir, 2, "already holds a cluster", NULL, "init", "--nodes", "1", "--disks", "ssd:1x1G", NULL);
	expect_error(dir, 2, "unknown disk tier", NULL, "-C", "/tmp/x-never", "init", "--nodes", "1", "--disks",
		     "tape:1x1G", NULL);

	/* snapshots are read-only; deleted vdisks are gone */
	cr_assert_eq(RUN(dir, "vdisk", "snapshot", "v", "s"), 0);
	expect_error(dir, 2, "read-only", small, "vdisk", "write", "s", "-", NULL);
	cr_assert_eq(RUN(dir, "vdisk", "clone", "s", "k"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "delete", "k"), 0);
	expect_error(dir, 2, "vdisk 'k': not found", small, "vdisk", "write", "k", "-", NULL);

	/* a full tier (ssd 16M + hdd 24M per node, RF2): clear error, old data intact */
	cr_assert_eq(RUN(dir, "vdisk", "create", "huge", "--container", "c", "--size", "100M"), 0);
	expect_error(dir, 2, "no tier has room", big, "vdisk", "write", "huge", "-", NULL);
	expect_file_eq(dir, "v", small, 5000);
	expect_file_eq(dir, "s", small, 5000);

	/* a directory that is not a cluster */
	const char *empty = th_tmpdir("empty");
	expect_error(empty, 2, "not a cluster directory", NULL, "vdisk", "list", NULL);
	cr_assert_eq(RUN(dir, "fsck"), 0);
}

static void sql_all_shards(const char *dir, const char *q)
{
	for (int i = 0; i < 4; i++) {
		char p[1024];
		sqlite3 *db;
		snprintf(p, sizeof(p), "%s/meta-%d.db", dir, i);
		cr_assert_eq(sqlite3_open(p, &db), SQLITE_OK);
		cr_assert_eq(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
}

Test(cli, corrupt_egroup_and_metadata_are_reported, .timeout = 60)
{
	const char *dir = demo(2, "ssd:1x64M");
	char *f = tmpfile_with(dir, "f", 3 << 20, 3);
	char cmd[2048];

	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "c", "--size", "4M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "v", f), 0);
	/* one replica bit-flipped: still reads, fsck warns but passes */
	snprintf(cmd, sizeof(cmd),
		 "f=$(ls %s/disks/node1-*/egroups/*.eg %s/disks/node2-*/egroups/*.eg 2>/dev/null | head -1); "
		 "printf '\\x01' | dd of=$f bs=1 seek=70000 conv=notrunc status=none", dir, dir);
	cr_assert_eq(system(cmd), 0);
	expect_file_eq(dir, "v", f, 3 << 20);
	cr_assert_eq(RUN(dir, "fsck"), 0);
	/* every replica truncated: exit 1, one line, nothing printed as data */
	snprintf(cmd, sizeof(cmd), "for f in %s/disks/*/egroups/*.eg; do truncate -s 1000 $f; done", dir);
	cr_assert_eq(system(cmd), 0);
	expect_error(dir, 1, "no replica passes its checksum", NULL, "vdisk", "read", "v", "--output", "/dev/null",
		     NULL);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 1);

	/* a corrupt block map row */
	const char *dir2 = demo(1, "ssd:1x64M");
	cr_assert_eq(RUN(dir2, "vdisk", "create", "v", "--container", "c", "--size", "4M"), 0);
	cr_assert_eq(RUN(dir2, "vdisk", "write", "v", f), 0);
	sql_all_shards(dir2, "UPDATE blocks SET regions = x'00'");
	expect_error(dir2, 1, "corrupt block map row", NULL, "vdisk", "read", "v", "--output", "/dev/null", NULL);
	cr_assert_eq(RUN(dir2, "fsck", "--quiet"), 1);
}

/* Read the last "committed N" line of a --progress output file. */
static uint64_t last_committed(const char *path)
{
	size_t n;
	char *s = th_read_file(path, &n), *p, *last = NULL;
	uint64_t v = 0;

	if (!s)
		return 0;
	for (p = strstr(s, "committed "); p; p = strstr(p + 1, "committed "))
		last = p;
	if (last)
		v = strtoull(last + 10, NULL, 10);
	free(s);
	return v;
}

/*
 * kill -9 a writer mid-stream, several times over the same vdisk: every
 * acknowledged byte reads back, each block of the unacknowledged rest is
 * wholly old or wholly new, and fsck finds nothing dangling.
 */
Test(cli, writer_killed_loses_no_acknowledged_write, .timeout = 180)
{
	const char *dir = demo(2, "ssd:1x512M");
	enum { SIZE = 96 << 20, BS = 1 << 20 };
	uint8_t *model = calloc(1, SIZE);
	uint64_t seed = (uint64_t)time(NULL);
	char outp[1024], readp[1024];

	snprintf(outp, sizeof(outp), "%s/progress", dir);
	snprintf(readp, sizeof(readp), "%s/readback", dir);
	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "c", "--size", "96M"), 0);
	int interrupted = 0;
	for (int round = 0; round < 8 && interrupted < 3; round++) {
		char name[32];
		snprintf(name, sizeof(name), "data%d", round);
		char *file = tmpfile_with(dir, name, SIZE, seed + (uint64_t)round);
		const char *args[] = { "vdisk", "write", "v", "--progress", file, NULL };
		size_t n;
		pid_t pid;

		unlink(outp); /* never read the previous round's progress */
		pid = th_spawn(dir, NULL, outp, args);
		uint64_t acked;
		int st;

		/* wait for the first acknowledged batch, then a random moment more */
		for (int i = 0; i < 3000 && last_committed(outp) == 0; i++)
			usleep(2000);
		usleep((useconds_t)(th_rand(&seed) % 250000));
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		acked = last_committed(outp);
		cr_assert_gt(acked, 0, "round %d: nothing was acknowledged", round);
		interrupted += acked < SIZE;

		uint8_t *fresh = th_read_file(file, &n);
		cr_assert_eq(RUN(dir, "vdisk", "read", "v", "--output", readp), 0, "round %d: read failed", round);
		uint8_t *got = th_read_file(readp, &n);
		cr_assert_eq(n, SIZE);
		cr_assert_eq(memcmp(got, fresh, acked), 0, "round %d: an acknowledged byte was lost", round);
		for (uint64_t b = acked; b < SIZE; b += BS) {
			int is_new = !memcmp(got + b, fresh + b, BS), is_old = !memcmp(got + b, model + b, BS);
			cr_assert(is_new || is_old, "round %d: block at %llu is torn", round, (unsigned long long)b);
		}
		memcpy(model, got, SIZE);
		free(fresh);
		free(got);
		unlink(file);
		char *out = NULL;
		int frc = th_run(dir, NULL, &out, NULL, "fsck", "--quiet", NULL);
		cr_assert_eq(frc, 0, "round %d: fsck: %s", round, out);
		free(out);
	}
	cr_assert_geq(interrupted, 1, "no writer was killed mid-stream");
	free(model);
}

Test(cli, two_writers_and_a_reader_at_once, .timeout = 120)
{
	const char *dir = demo(2, "ssd:1x512M");
	enum { SIZE = 40 << 20 };
	char *fa = tmpfile_with(dir, "a", SIZE, 11), *fb = tmpfile_with(dir, "b", SIZE, 12);
	char *fr = tmpfile_with(dir, "r", SIZE, 13);
	pid_t pids[3];
	int st;

	cr_assert_eq(RUN(dir, "vdisk", "create", "a", "--container", "c", "--size", "40M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "b", "--container", "c", "--size", "40M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "r", "--container", "c", "--size", "40M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "r", fr), 0);
	{
		const char *wa[] = { "vdisk", "write", "a", fa, NULL };
		const char *wb[] = { "vdisk", "write", "b", fb, NULL };
		pids[0] = th_spawn(dir, NULL, NULL, wa);
		pids[1] = th_spawn(dir, NULL, NULL, wb);
	}
	pids[2] = fork();
	if (pids[2] == 0) { /* the reader: read and compare r five times */
		for (int i = 0; i < 5; i++) {
			char outp[1100];
			size_t n1, n2;
			snprintf(outp, sizeof(outp), "%s/r-out", dir);
			if (th_run(dir, NULL, NULL, NULL, "vdisk", "read", "r", "--output", outp, NULL))
				_exit(1);
			char *a = th_read_file(outp, &n1), *b = th_read_file(fr, &n2);
			if (n1 != n2 || memcmp(a, b, n1))
				_exit(2);
			free(a);
			free(b);
		}
		_exit(0);
	}
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "process %d failed (%d)", i, st);
	}
	expect_file_eq(dir, "a", fa, SIZE);
	expect_file_eq(dir, "b", fb, SIZE);
	expect_file_eq(dir, "r", fr, SIZE);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
}

/* --- the command line itself: help, options, version (issue 20) --------- */

/*
 * Run curator -C dir args... (args NULL-terminated) in the working directory
 * cwd (NULL: this one); stdout and stderr into malloc'd strings; the exit status.
 */
static int run_cwd(const char *cwd, const char *dir, const char *const *args, char **out, char **err)
{
	static const char *tmp;
	const char *argv[64];
	char po[1100], pe[1100];
	int n = 0, st;
	size_t len;
	pid_t pid;

	argv[n++] = th_curator();
	argv[n++] = "-C";
	argv[n++] = dir;
	for (int i = 0; args[i] && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (!tmp)
		tmp = th_tmpdir("runv");
	snprintf(po, sizeof(po), "%s/out", tmp);
	snprintf(pe, sizeof(pe), "%s/err", tmp);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if ((cwd && chdir(cwd)) || !freopen(po, "w", stdout) || !freopen(pe, "w", stderr) ||
		    !freopen("/dev/null", "r", stdin))
			_exit(127);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	*out = th_read_file(po, &len);
	*err = th_read_file(pe, &len);
	unlink(po);
	unlink(pe);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run_v(const char *dir, const char *const *args, char **out, char **err)
{
	return run_cwd(NULL, dir, args, out, err);
}

/* The command words of row c into w (2 words, the second NULL when it has no subcommand). */
static void row_words(const struct cu_cmd *c, const char *w[3])
{
	w[0] = c->name;
	w[1] = c->sub;
	w[2] = NULL;
}

/*
 * Every row of the command table answers --help and `help COMMAND [SUB]`
 * the same, without a cluster, naming each of its options; every family
 * answers FAMILY --help.
 */
Test(cli, help_on_every_command_without_a_cluster, .timeout = 60)
{
	int n;
	const struct cu_cmd *t = cu_cmd_table(&n);
	const char *dir = "/nonexistent-cluster";

	cr_assert_gt(n, 20);
	for (int i = 0; i < n; i++) {
		const char *w[3], *a1[5], *a2[5];
		char *o1, *e1, *o2, *e2;
		int k = 0;

		row_words(&t[i], w);
		a1[k++] = w[0];
		if (w[1])
			a1[k++] = w[1];
		a1[k++] = "--help";
		a1[k] = NULL;
		a2[0] = "help";
		a2[1] = w[0];
		a2[2] = w[1];
		a2[3] = NULL;
		if (t[i].flags & CU_CMD_META) /* help --help is the usage */
			continue;
		cr_assert_eq(run_v(dir, a1, &o1, &e1), 0, "%s %s --help: %s", w[0], w[1] ? w[1] : "", e1);
		cr_assert_eq(run_v(dir, a2, &o2, &e2), 0, "help %s %s: %s", w[0], w[1] ? w[1] : "", e2);
		cr_assert(!strncmp(o1, "usage: curator [-C DIR] ", 24), "%s", o1);
		cr_assert(strstr(o1, t[i].help), "%s --help lacks its help line: %s", w[0], o1);
		cr_assert_str_eq(o1, o2, "--help and help differ for %s %s", w[0], w[1] ? w[1] : "");
		cr_assert_str_empty(e1);
		for (const struct cu_optdef *d = t[i].opts; d && d->name; d++)
			cr_assert(strstr(o1, d->name), "%s %s --help does not name %s", w[0], w[1] ? w[1] : "", d->name);
		free(o1);
		free(e1);
		free(o2);
		free(e2);
		if (w[1] && (i == 0 || strcmp(t[i - 1].name, w[0]))) { /* the family, once */
			const char *fam[] = { w[0], "--help", NULL }, *hf[] = { "help", w[0], NULL };
			cr_assert_eq(run_v(dir, fam, &o1, &e1), 0, "%s --help: %s", w[0], e1);
			cr_assert_eq(run_v(dir, hf, &o2, &e2), 0);
			cr_assert_str_eq(o1, o2);
			for (int j = i; j < n && !strcmp(t[j].name, w[0]); j++)
				cr_assert(strstr(o1, t[j].help), "%s --help lacks %s", w[0], t[j].sub);
			free(o1);
			free(e1);
			free(o2);
			free(e2);
		}
	}
	expect_error(dir, 2, "unknown command 'nope'", NULL, "help", "nope", NULL);
	expect_error(dir, 2, "unknown subcommand 'vdisk nope'", NULL, "help", "vdisk", "nope", NULL);
}

/*
 * Options are checked the same way by every command, before any cluster is
 * opened or MPI started: an unknown option, a missing value, a value given
 * to a flag, a global option after the command: one line, exit 2.
 */
Test(cli, options_are_checked_the_same_everywhere, .timeout = 120)
{
	int n;
	const struct cu_cmd *t = cu_cmd_table(&n);
	const char *dir = "/nonexistent-cluster";

	for (int i = 0; i < n; i++) {
		const char *w[3], *a[8];
		char *o, *e;
		int k = 0, rc;

		row_words(&t[i], w);
		if (t[i].flags & CU_CMD_META)
			continue;
		a[k++] = w[0];
		if (w[1])
			a[k++] = w[1];
		a[k] = "--bogus";
		a[k + 1] = NULL;
		rc = run_v(dir, a, &o, &e);
		cr_assert_eq(rc, 2, "%s %s --bogus: exit %d", w[0], w[1] ? w[1] : "", rc);
		cr_assert_eq(th_lines(e), 1, "%s", e);
		cr_assert(strstr(e, "unknown option --bogus"), "%s", e);
		free(o);
		free(e);
		a[k] = "-C";
		rc = run_v(dir, a, &o, &e);
		cr_assert_eq(rc, 2);
		cr_assert(strstr(e, "-C is a global option"), "%s", e);
		cr_assert_eq(th_lines(e), 1, "%s", e);
		free(o);
		free(e);
		for (const struct cu_optdef *d = t[i].opts; d && d->name; d++) {
			char flag[64];
			a[k] = d->name;
			if (!d->arg) {
				snprintf(flag, sizeof(flag), "%s=1", d->name);
				a[k] = flag;
			}
			rc = run_v(dir, a, &o, &e);
			cr_assert_eq(rc, 2, "%s %s %s: exit %d", w[0], w[1] ? w[1] : "", a[k], rc);
			cr_assert_eq(th_lines(e), 1, "%s", e);
			cr_assert(strstr(e, d->arg ? "needs a value" : "takes no value"), "%s: %s", a[k], e);
			free(o);
			free(e);
		}
	}
	expect_error(dir, 2, "-C needs a value", NULL, "-C", NULL);
	expect_error(dir, 2, "unknown option -Z", NULL, "-Z", "status", NULL);
	expect_error(dir, 2, "unknown option --nope", NULL, "--nope", "status", NULL);
	expect_error(dir, 2, "expected create, write", NULL, "vdisk", NULL);
}

/* --version, and "--" ending the options: a file whose name starts with a dash is written. */
Test(cli, version_and_double_dash, .timeout = 60)
{
	const char *dir = demo(1, "ssd:1x64M");
	const char *ver[] = { "--version", NULL };
	char *o, *e, path[1100];

	const char *v2[] = { "-V", NULL };
	char *o2, *e2;
	cr_assert_eq(run_v(dir, ver, &o, &e), 0);
	cr_assert(!strncmp(o, "curator ", 8) && o[8] >= '0' && o[8] <= '9' && o[strlen(o) - 1] == '\n', "%s", o);
	cr_assert_eq(th_lines(o), 1, "%s", o);
	cr_assert_eq(run_v(dir, v2, &o2, &e2), 0);
	cr_assert_str_eq(o, o2);
	free(o);
	free(e);
	free(o2);
	free(e2);
	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "c", "--size", "1M"), 0);
	snprintf(path, sizeof(path), "%s/-dash", dir);
	cr_assert_eq(th_write_file(path, "hello", 5), 0);
	const char *dd[] = { "vdisk", "write", "v", "--", "-dash", NULL }, *nodd[] = { "vdisk", "write", "v", "-dash", NULL };
	cr_assert_eq(run_cwd(dir, dir, dd, &o, &e), 0, "%s", e);
	free(o);
	free(e);
	cr_assert_eq(run_cwd(dir, dir, nodd, &o, &e), 2);
	cr_assert(strstr(e, "unknown option -d") && th_lines(e) == 1, "%s", e);
	free(o);
	free(e);
	expect_error(dir, 2, "unexpected argument '--offset'", NULL, "vdisk", "write", "v", "--", "-dash", "--offset", NULL);
	expect_file_eq(dir, "v", path, 5);
}

/* The man page and the completion are made from the table: every command is in both; bash parses the script. */
Test(cli, man_page_and_completion_cover_every_command, .timeout = 60)
{
	int n;
	const struct cu_cmd *t = cu_cmd_table(&n);
	const char *man[] = { "--help-man", NULL }, *comp[] = { "--help-completion", NULL };
	char *m, *c, *e, sect[128], path[1100], cmd[1200];
	const char *tmp = th_tmpdir("comp");

	cr_assert_eq(run_v("/nonexistent", man, &m, &e), 0);
	free(e);
	cr_assert_eq(run_v("/nonexistent", comp, &c, &e), 0);
	free(e);
	cr_assert(!strncmp(m, ".TH CURATOR 8", 13));
	for (int i = 0; i < n; i++) {
		snprintf(sect, sizeof(sect), ".SS \"%s%s%s\"\n", t[i].name, t[i].sub ? " " : "", t[i].sub ? t[i].sub : "");
		cr_assert(strstr(m, sect), "the man page lacks %s", sect);
		snprintf(sect, sizeof(sect), "\"%s%s%s\") opts=", t[i].name, t[i].sub ? " " : "", t[i].sub ? t[i].sub : "");
		cr_assert(strstr(c, sect), "the completion lacks %s", sect);
	}
	snprintf(path, sizeof(path), "%s/curator.bash", tmp);
	cr_assert_eq(th_write_file(path, c, strlen(c)), 0);
	snprintf(cmd, sizeof(cmd),
		 "bash -c 'source %s && COMP_WORDS=(curator vdisk wr) COMP_CWORD=2 && _curator && "
		 "[ \"${COMPREPLY[*]}\" = write ] && COMP_WORDS=(curator report --format j) COMP_CWORD=3 && _curator && "
		 "[ \"${COMPREPLY[*]}\" = json ] && COMP_WORDS=(curator -C /tmp vdisk read v --out) COMP_CWORD=6 && _curator "
		 "&& [ \"${COMPREPLY[*]}\" = --output ]'",
		 path);
	cr_assert_eq(system(cmd), 0, "the completion does not complete");
	free(m);
	free(c);
}

/* --- JSON, health (issue 20) --------------------------------------------- */


#define ISO "test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$\")"

/* Every listing and state command's JSON, checked with jq: schema_version, names, bytes, ISO times. */
Test(cli, json_on_every_listing_and_state_command, .timeout = 120)
{
	const char *dir = demo(2, "ssd:1x64M,hdd:1x64M");
	char *f = tmpfile_with(dir, "data", 5 << 20, 7), args[1200];

	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "c", "--size", "8M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "v", f), 0);
	cr_assert_eq(RUN(dir, "vdisk", "snapshot", "v", "s"), 0);
	cr_assert_eq(th_run_ranks(1, dir, (const char *[]){ "scan", "full", NULL }), 0);

	cr_assert_eq(th_jq(dir, "container list --format json", ".schema_version == 1 and .containers[0].name == \"c\" and "
		     ".containers[0].rf == 2 and .containers[0].tiers == [\"ssd\",\"hdd\",\"cloud\"] and .containers[0].erasure_coding == null"), 0);
	cr_assert_eq(th_jq(dir, "container info c --format json", ".schema_version == 1 and .container.compress == \"off\""), 0);
	cr_assert_eq(th_jq(dir, "vdisk list --format json", ".schema_version == 1 and (.vdisks | map(.name) | sort) == [\"s\",\"v\"] and "
		     "(.vdisks[] | select(.name == \"s\") | .kind == \"snapshot\" and .parent == \"v\") and "
		     "(.vdisks[0].size_bytes == 8388608) and (.vdisks[0].id | test(\"^[0-9a-f]+$\")) and (.vdisks[0].created | " ISO ")"), 0);
	cr_assert_eq(th_jq(dir, "vdisk info v --format json", ".vdisk.name == \"v\" and .vdisk.written_bytes >= 5242880 and "
		     ".vdisk.container == \"c\" and .vdisk.block_size_bytes == 1048576"), 0);
	cr_assert_eq(th_jq(dir, "disk list --format json", ".schema_version == 1 and (.disks | length) == 6 and "
		     "all(.disks[]; .state == \"ok\" and (.capacity_bytes == 67108864) and (.tier | IN(\"ssd\",\"hdd\")))"), 0);
	cr_assert_eq(th_jq(dir, "node list --format json", "(.nodes | length) == 3 and all(.nodes[]; .state == \"up\")"), 0);
	cr_assert_eq(th_jq(dir, "cloud show --format json", ".schema_version == 1 and .cloud == null"), 0);
	cr_assert_eq(th_jq(dir, "fsck --format json", ".fsck.clean == true and .fsck.violations == 0 and .fsck.extents > 0 and "
		     ".fsck.verified_bytes > 0 and (.fsck.garbage.total | type) == \"number\""), 0);
	cr_assert_eq(th_jq(dir, "report --format json", ".schema_version == 1 and .kind == \"full\" and (.started | " ISO ") and "
		     "(.ended | " ISO ") and all(.usage[]; .tier | IN(\"ssd\",\"hdd\",\"cloud\")) and "
		     "all(.tasks | keys[]; test(\"^[a-z_]+$\")) and .counters.live_bytes == 5242880"), 0);
	cr_assert_eq(th_jq(dir, "explain vdisk v --format json", ".explain.what == \"vdisk\" and (.explain.lines | length) > 1"), 0);

	cr_assert_eq(RUN(dir, "disk", "fail", "1"), 0);
	cr_assert_eq(RUN(dir, "node", "down", "3"), 0);
	cr_assert_eq(th_run_ranks(1, dir, (const char *[]){ "scan", "partial", NULL }), 0);
	cr_assert_eq(th_jq(dir, "disk list --format json", "(.disks[] | select(.id == 1) | .state) == \"failed\""), 0);
	cr_assert_eq(th_jq(dir, "node list --format json", "(.nodes[] | select(.id == 3) | .state == \"down\" and (.changed | " ISO "))"), 0);
	cr_assert_eq(th_jq(dir, "tasks list --format json", ".schema_version == 1 and (.tasks | map(.kind) | index(\"rereplicate\")) != null and "
		     "all(.tasks[]; .state == \"pending\" and (.target | test(\"^[0-9a-f]+$\")) and (.bytes | type) == \"number\")"), 0);
	cr_assert_eq(th_jq(dir, "status --format json", ".schema_version == 1 and .health.status == \"HEALTH_WARN\" and "
		     ".master.state == \"never_started\" and (.last_scans.full.started | " ISO ") and .last_scans.partial.kind == \"partial\" and "
		     "(.pending_tasks | map(.kind) | index(\"rereplicate\")) != null"), 0);
	cr_assert_eq(th_jq(dir, "health --format json", ".schema_version == 1 and (.health.checks | map(.code) | "
		     "index(\"DISK_FAILED\") != null and index(\"NODE_DOWN\") != null and index(\"DATA_UNREADABLE\") == null) and "
		     "(.health.checks[] | select(.code == \"DISK_FAILED\") | .severity == \"WARN\" and .items == [\"disk 1 (node 1, ssd)\"])"), 0);
	snprintf(args, sizeof(args), "vdisk list --format xml 2>/dev/null; [ $? = 2 ] && echo '{}'");
	cr_assert_eq(th_jq(dir, args, ". == {}"), 0, "--format xml was not refused with exit 2");
}

/* Read the whole vdisk v: 0 when every byte of the file came back. */
static int reads_whole(const char *dir, const char *file, size_t len)
{
	char out[1100], lenb[32];
	size_t n1, n2;
	char *a, *b;
	int rc, same;

	snprintf(out, sizeof(out), "%s/whole", dir);
	snprintf(lenb, sizeof(lenb), "%zu", len);
	rc = RUN(dir, "vdisk", "read", "v", "--length", lenb, "--output", out);
	if (rc)
		return rc;
	a = th_read_file(file, &n1);
	b = th_read_file(out, &n2);
	same = n2 == len && !memcmp(a, b, len);
	free(a);
	free(b);
	return same ? 0 : -1;
}

static int64_t check_count(const char *dir, const char *code)
{
	char cmd[2048], buf[64] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s' -C '%s' health --format json | jq '[.health.checks[] | select(.code == \"%s\") | .count] | add // 0'",
		 th_curator(), dir, code);
	p = popen(cmd, "r");
	cr_assert(p);
	cr_assert(fgets(buf, sizeof(buf), p));
	pclose(p);
	return atoll(buf);
}

/*
 * Data loss is reported only where a read would fail: a failed disk and a
 * down node that still leave a copy are warnings and every byte reads
 * back; copies left only on a down node still read (under-replicated, not
 * lost); DATA_UNREADABLE exactly when the read fails; all disks failed is
 * HEALTH_ERR. Prometheus carries it, promtool-clean.
 */
Test(cli, health_reports_loss_only_where_a_read_fails, .timeout = 120)
{
	const char *dir = demo(2, "ssd:1x128M");
	size_t len = 40 << 20;
	char *f = tmpfile_with(dir, "data", len, 11), *out, *err;
	int64_t u, egroups;

	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "c", "--size", "40M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "v", f), 0);
	cr_assert_eq(th_run_ranks(1, dir, (const char *[]){ "scan", "full", NULL }), 0);
	cr_assert_eq(th_run(dir, NULL, &out, NULL, "health", NULL), 0, "a fresh cluster after a scan: %s", out);
	cr_assert_str_eq(out, "HEALTH_OK\n");
	free(out);

	/* one disk failed, one node down: a copy of everything is left */
	cr_assert_eq(RUN(dir, "disk", "fail", "1"), 0);
	cr_assert_eq(RUN(dir, "node", "down", "3"), 0);
	cr_assert_eq(th_run_ranks(1, dir, (const char *[]){ "scan", "partial", NULL }), 0);
	cr_assert_eq(th_run(dir, NULL, &out, &err, "health", "detail", NULL), 1);
	cr_assert(!strncmp(out, "HEALTH_WARN: ", 13), "%s", out);
	cr_assert(strstr(out, "[WRN] DISK_FAILED") && strstr(out, "[WRN] NODE_DOWN") && strstr(out, "disk 1 (node 1, ssd)"), "%s", out);
	cr_assert(!strstr(out, "DATA_UNREADABLE") && !strstr(out, "lost"), "loss claimed while a copy is left: %s", out);
	free(out);
	free(err);
	cr_assert_eq(th_run(dir, NULL, &out, NULL, "status", NULL), 1);
	cr_assert(!strncmp(out, "health          HEALTH_WARN: ", 29), "status does not open with the health: %s", out);
	free(out);
	cr_assert_eq(reads_whole(dir, f, len), 0, "a read failed while health said no data was lost");

	/* a second disk failed: the egroups of disks 1 and 2 are gone, the rest only on the down node */
	cr_assert_eq(RUN(dir, "disk", "fail", "2"), 0);
	cr_assert_eq(th_run_ranks(1, dir, (const char *[]){ "scan", "partial", NULL }), 0);
	u = check_count(dir, "DATA_UNREADABLE");
	if (u)
		cr_assert_neq(reads_whole(dir, f, len), 0, "%lld egroups called unreadable, yet the read succeeded", (long long)u);
	else
		cr_assert_eq(reads_whole(dir, f, len), 0, "no loss reported, yet the read failed");

	/* every disk failed: everything is lost, and said so */
	cr_assert_eq(RUN(dir, "disk", "fail", "3"), 0);
	cr_assert_eq(th_run_ranks(1, dir, (const char *[]){ "scan", "partial", NULL }), 0);
	egroups = check_count(dir, "DATA_UNREADABLE");
	cr_assert_geq(egroups, 10, "40 MiB in 4 MiB egroups: %lld unreadable", (long long)egroups);
	cr_assert_eq(th_jq(dir, "health --format json", ".health.status == \"HEALTH_ERR\" and .health.checks[0].code == \"DATA_UNREADABLE\" "
		     "and .health.checks[0].severity == \"ERR\""), 0);
	cr_assert_neq(reads_whole(dir, f, len), 0);
	{
		char cmd[2048];
		snprintf(cmd, sizeof(cmd), "'%s' -C '%s' report --format prom > '%s/prom' && promtool check metrics < '%s/prom' && "
			 "grep -qx 'curator_health_status 2' '%s/prom' && "
			 "grep -qx 'curator_health_check{code=\"DATA_UNREADABLE\",severity=\"ERR\"} %lld' '%s/prom' && "
			 "grep -qx 'curator_health_check{code=\"SCAN_FAILED\",severity=\"WARN\"} 0' '%s/prom'",
			 th_curator(), dir, dir, dir, dir, (long long)egroups, dir, dir);
		cr_assert_eq(system(cmd), 0, "the metrics: %s", cmd);
	}
}

/* health --help names every check code there is (the help cannot drift from the table). */
Test(cli, health_help_names_every_code)
{
	const char *a[] = { "health", "--help", NULL };
	char *o, *e;
	int n;
	const struct cu_health_code *c = cu_health_codes(&n);

	cr_assert_eq(run_v("/nonexistent", a, &o, &e), 0);
	for (int i = 0; i < n; i++)
		cr_assert(strstr(o, c[i].code), "health --help lacks %s", c[i].code);
	free(o);
	free(e);
}

/* A tier's use, as config.db accounts it: 85 % is TIER_NEARFULL (WARN), 95 % TIER_FULL (ERR); failed disks do not count. */
Test(cli, health_tier_nearfull_and_full, .timeout = 60)
{
	const char *dir = demo(1, "ssd:1x100M,hdd:1x1G");
	char p[1100];
	sqlite3 *db;

	cr_assert_eq(th_run_ranks(1, dir, (const char *[]){ "scan", "full", NULL }), 0);
	snprintf(p, sizeof(p), "%s/config.db", dir);
	cr_assert_eq(sqlite3_open(p, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "UPDATE disks SET used = capacity * 90 / 100 WHERE tier = 0", NULL, NULL, NULL), SQLITE_OK);
	cr_assert_eq(th_jq(dir, "health --format json", ".health.status == \"HEALTH_WARN\" and (.health.checks | map(.code)) == [\"TIER_NEARFULL\"] "
		     "and .health.checks[0].summary == \"tier ssd is 90% full\""), 0);
	cr_assert_eq(sqlite3_exec(db, "UPDATE disks SET used = capacity * 97 / 100 WHERE tier = 0", NULL, NULL, NULL), SQLITE_OK);
	cr_assert_eq(th_jq(dir, "health --format json", ".health.status == \"HEALTH_ERR\" and (.health.checks | map(.code)) == [\"TIER_FULL\"]"), 0);
	/* the ssd of node 1 failed: the tier's use is that of the disks left */
	cr_assert_eq(sqlite3_exec(db, "UPDATE disks SET used = 0 WHERE tier = 0 AND node <> 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	cr_assert_eq(RUN(dir, "disk", "fail", "1"), 0);
	cr_assert_eq(th_jq(dir, "health --format json", "(.health.checks | map(.code)) == [\"DISK_FAILED\"]"), 0);
}

/* explain ITEM --format json: each fact a field (docs/JSON.md), over a live, a garbage, a strip-member and a collected item. */
Test(cli, explain_json_fields, .timeout = 120)
{
	const char *dir = demo(2, "ssd:1x64M,hdd:1x64M");
	char *f = tmpfile_with(dir, "data", 3 << 20, 5), *g = tmpfile_with(dir, "data2", 4 << 20, 6);
	char ext[128], eg[64], old[64], strip[64], args[1024], now[32];

	cr_assert_eq(RUN(dir, "container", "create", "ec", "--rf", "2", "--rs", "2,1", "--ec-delay", "1h"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "c", "--size", "8M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "v", f), 0);
	th_jq_get(dir, "explain vdisk v --format json", ".explain.vdisk.first_blocks[0].extent", ext, sizeof(ext));
	snprintf(args, sizeof(args), "explain extent %s --format json", ext);
	th_jq_get(dir, args, ".explain.egroup", old, sizeof(old));
	cr_assert(*old, "explain extent names no egroup");
	cr_assert_eq(RUN(dir, "vdisk", "write", "v", f), 0); /* the first egroup is garbage now */
	cr_assert_eq(RUN(dir, "vdisk", "create", "e", "--container", "ec", "--size", "8M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "e", g), 0);
	snprintf(args, sizeof(args), "explain egroup %s --format json", old);
	cr_assert_eq(th_jq(dir, args, ".schema_version == 1 and .explain.what == \"egroup\" and .explain.state == \"present\" and "
		     ".explain.no_task.code == \"no_scan_yet\" and .explain.safety.state == \"no_full_scan\" and .explain.tasks == []"), 0);

	snprintf(now, sizeof(now), "%lld", (long long)time(NULL) + 7200); /* past the ec delay */
	setenv("CURATOR_NOW", now, 1);
	cr_assert_eq(th_run_ranks(1, dir, (const char *[]){ "scan", "full", NULL }), 0);
	/* the garbage egroup (its share by recorded refcounts, which its tasks lower): its copies, and the task the scan queued */
	cr_assert_eq(th_jq(dir, args, "(.explain.garbage_bytes | type) == \"number\" and (.explain.garbage_pct | type) == \"number\" and "
		     ".explain.egroup.used_bytes > 3000000 and .explain.egroup.extents == 3 and "
		     ".explain.egroup.tier == \"ssd\" and .explain.protection.scheme == \"replicas\" and .explain.protection.rf == 2 and "
		     ".explain.protection.healthy_copies == 2 and .explain.protection.state == \"as_policy\" and "
		     "(.explain.protection.replicas | length) == 2 and all(.explain.protection.replicas[]; .state == \"ok\") and "
		     ".explain.safety.state == \"unchanged\" and (.explain.safety.scan | type) == \"number\" and .explain.refusals == [] and "
		     "(.explain.tasks[0].kind | IN(\"egroup_delete\",\"egroup_compact\")) and .explain.tasks[0].state == \"pending\" and "
		     ".explain.no_task == null and (.explain.lines | length) > 3"), 0);
	/* the live extent: referenced by v, left alone */
	th_jq_get(dir, "explain vdisk v --format json", ".explain.vdisk.first_blocks[0].extent", ext, sizeof(ext));
	snprintf(args, sizeof(args), "explain extent %s --format json", ext);
	cr_assert_eq(th_jq(dir, args, ".explain.what == \"extent\" and .explain.state == \"live\" and .explain.in_egroup == true and "
		     ".explain.refcount == 1 and .explain.stored_bytes > 0 and .explain.references.block_rows == 1 and "
		     ".explain.references.vdisks == [{\"id\":\"1000000000001\",\"name\":\"v\",\"deleted\":false}] and "
		     ".explain.no_task.code == \"live\""), 0);
	th_jq_get(dir, args, ".explain.egroup", eg, sizeof(eg));
	cr_assert_eq(th_jq(dir, "explain vdisk v --format json", ".explain.state == \"live\" and .explain.vdisk.name == \"v\" and "
		     ".explain.vdisk.mapped_bytes == 3145728 and .explain.vdisk.block_rows == 3 and .explain.no_task.code == \"live\""), 0);

	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	/* collected: explained by its done task */
	snprintf(args, sizeof(args), "explain egroup %s --format json", old);
	cr_assert_eq(th_jq(dir, args, ".explain.state == \"deleted\" and .explain.tasks[0].state == \"done\" and "
		     ".explain.tasks[0].error == null and .explain.no_task == null"), 0);
	/* a strip member: the kinds that refuse it by rule, and its strip */
	th_jq_get(dir, "explain vdisk e --format json", ".explain.vdisk.first_blocks[0].extent", ext, sizeof(ext));
	snprintf(args, sizeof(args), "explain extent %s --format json", ext);
	th_jq_get(dir, args, ".explain.egroup", strip, sizeof(strip));
	snprintf(args, sizeof(args), "explain egroup %s --format json", strip);
	cr_assert_eq(th_jq(dir, args, ".explain.protection.scheme == \"strip\" and .explain.protection.strip.k == 2 and "
		     ".explain.protection.strip.m == 1 and (.explain.protection.strip.role | IN(\"data\",\"parity\")) and "
		     "(.explain.refusals[] | select(.kind == \"egroup_delete\") | .reason) == \"is a strip member\""), 0);

	/* a disk of the live egroup fails: under-replicated, the next scan repairs, then the task is there */
	snprintf(args, sizeof(args), "explain egroup %s --format json", eg);
	th_jq_get(dir, args, ".explain.protection.replicas[0].disk", now, sizeof(now));
	cr_assert_eq(RUN(dir, "disk", "fail", now), 0);
	cr_assert_eq(th_jq(dir, args, ".explain.protection.state == \"under_replicated\" and .explain.protection.healthy_copies == 1 and "
		     ".explain.protection.replicas[0].state == \"failed\" and .explain.no_task.code == \"next_scan_repairs\""), 0);
	cr_assert_eq(th_run_ranks(1, dir, (const char *[]){ "scan", "partial", NULL }), 0);
	cr_assert_eq(th_jq(dir, args, "(.explain.tasks | map(.kind) | index(\"rereplicate\")) != null and .explain.no_task == null"), 0);
	/* an unknown item: exit 2, nothing on stdout */
	snprintf(args, sizeof(args), "explain egroup 123456789 --format json 2>/dev/null; [ $? = 2 ] && echo '{}'");
	cr_assert_eq(th_jq(dir, args, ". == {}"), 0);
}
