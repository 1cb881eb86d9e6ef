/*
 * Convergence (issue 17): the curator always finishes what it started and
 * always runs out of work.
 *
 *  - every_feature_reaches_a_fixed_point: a cluster with every feature on
 *    (RF2, Reed-Solomon, post-process compression and dedup, ILM by cold
 *    age to a cloud directory tier, a snapshot, an overwrite, a deleted
 *    vdisk, a failed disk) reaches, within CONVERGE_K full scan + tasks
 *    cycles, a state where a full scan (and a partial one) queues nothing;
 *    no task was refused by rule on the way; fsck is clean and every byte
 *    reads back.
 *  - each_kind_killed_at_each_step: the task runner stops itself at step N
 *    of one task of a kind (CURATOR_TASK_STEP_STOP, storage/st_util.h) and
 *    is killed there with SIGKILL, for N = 1, 2, ... until the task runs
 *    through; after each kill every byte reads back, one retry (`tasks run`,
 *    no scan) leaves no egroup frozen and a snapshot of every vdisk works at
 *    once, and scan + tasks cycles reach the fixed point with fsck clean.
 *    make test runs the kinds of the quick list; make soak
 *    (CURATOR_CONVERGE_ALL=1) every kind the states produce.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "storage/st_store.h"
#include "tests/helpers.h"

#define RUN(dir, ...) th_run(dir, NULL, NULL, NULL, __VA_ARGS__, NULL)

/* Full scan + tasks cycles within which the cluster must reach its fixed point (the bound we state). */
#define CONVERGE_K 5

#define MIB (1u << 20)

struct vmodel {
	const char *name;
	uint8_t *bytes;
	size_t len;
};

static struct vmodel models[4];
static int nmodels;
static char now_env[32];

/* The policy clock: three days after the writes (cold, past every delay). */
static void later(void)
{
	setenv("CURATOR_NOW", now_env, 1);
}

static void write_file_in(const char *dir, const char *name, const void *b, size_t len, char *path, size_t plen)
{
	snprintf(path, plen, "%s/%s", dir, name);
	cr_assert_eq(th_write_file(path, b, len), 0);
}

static void free_models(void)
{
	for (int i = 0; i < nmodels; i++)
		free(models[i].bytes);
	nmodels = 0;
}

static void model_add(const char *name, const uint8_t *b, size_t len)
{
	models[nmodels].name = name;
	models[nmodels].bytes = malloc(len);
	memcpy(models[nmodels].bytes, b, len);
	models[nmodels++].len = len;
}

/*
 * Every feature on: 4 nodes with an SSD and an HDD each, a cloud directory
 * tier; containers rf2 (compress post:1h, dedup post), ec (RS 2,1 after 1h)
 * and arch (hdd then cloud after 1 d); vdisk v (real data written twice:
 * duplicates), its snapshot v@1, 3 MiB overwritten at 1 MiB; vdisk gone
 * (deleted); vdisk e (ec), vdisk a (arch); then disk 3 fails.
 */
static const char *rich_state(const char *tag)
{
	const char *dir = th_tmpdir(tag);
	char p1[2048], p2[2048], po[2048], cloud[2100];
	size_t n1;
	uint8_t *real = th_real_data(6 * MIB, &n1), *two, *over = malloc(3 * MIB), *v;

	cr_assert(real && n1 >= 4 * MIB, "too little real data");
	unsetenv("CURATOR_NOW");
	snprintf(now_env, sizeof(now_env), "%lld", (long long)time(NULL) + 3 * 86400);
	two = malloc(2 * n1);
	memcpy(two, real, n1);
	memcpy(two + n1, real, n1);
	th_fill(over, 3 * MIB, 17);
	write_file_in(dir, "data1", real, n1, p1, sizeof(p1));
	write_file_in(dir, "data2", two, 2 * n1, p2, sizeof(p2));
	write_file_in(dir, "over", over, 3 * MIB, po, sizeof(po));
	snprintf(cloud, sizeof(cloud), "%s/objects", dir);
	cr_assert_eq(RUN(dir, "init", "--nodes", "4", "--disks", "ssd:1x256M,hdd:1x1G"), 0);
	cr_assert_eq(RUN(dir, "cloud", "set", cloud), 0);
	cr_assert_eq(RUN(dir, "container", "create", "rf2", "--rf", "2", "--compress", "post:1h", "--dedup", "post",
			 "--tiers", "ssd,hdd"),
		     0);
	cr_assert_eq(RUN(dir, "container", "create", "ec", "--rf", "2", "--rs", "2,1", "--ec-delay", "1h"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "arch", "--rf", "2", "--tiers", "hdd,cloud", "--cold-age", "1d"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "rf2", "--size", "32M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "v", p2), 0);
	cr_assert_eq(RUN(dir, "vdisk", "snapshot", "v", "v@1"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "v", "--offset", "1M", po), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "gone", "--container", "rf2", "--size", "8M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "gone", po), 0);
	cr_assert_eq(RUN(dir, "vdisk", "delete", "gone"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "e", "--container", "ec", "--size", "32M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "e", p1), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "a", "--container", "arch", "--size", "16M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "a", p1), 0);
	cr_assert_eq(RUN(dir, "disk", "fail", "3"), 0);
	free_models();
	v = malloc(2 * n1);
	memcpy(v, two, 2 * n1);
	memcpy(v + MIB, over, 3 * MIB);
	model_add("v", v, 2 * n1);
	model_add("v@1", two, 2 * n1);
	model_add("e", real, n1);
	model_add("a", real, n1);
	free(v);
	free(two);
	free(over);
	free(real);
	return dir;
}

/* A small RF2 cluster whose full scan queues an egroup_compact: 1 of 4 blocks of one egroup overwritten. */
static const char *compact_state(const char *tag)
{
	const char *dir = th_tmpdir(tag);
	char p[2048], po[2048];
	uint8_t *b = malloc(4 * MIB);

	unsetenv("CURATOR_NOW");
	snprintf(now_env, sizeof(now_env), "%lld", (long long)time(NULL) + 3 * 86400);
	th_fill(b, 4 * MIB, 5);
	write_file_in(dir, "data", b, 4 * MIB, p, sizeof(p));
	write_file_in(dir, "over", b + MIB, MIB, po, sizeof(po));
	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "hdd:1x1G"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "c", "--size", "8M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "v", p), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "v", "--offset", "0", po), 0); /* block 0 now holds block 1's bytes */
	memcpy(b, b + MIB, MIB);
	free_models();
	model_add("v", b, 4 * MIB);
	free(b);
	return dir;
}

static void reads_back(const char *dir, const char *when)
{
	char out[2048];

	snprintf(out, sizeof(out), "%s/readback", dir);
	for (int i = 0; i < nmodels; i++) {
		size_t n;
		uint8_t *got;
		char len[32];
		snprintf(len, sizeof(len), "%zu", models[i].len);
		cr_assert_eq(RUN(dir, "vdisk", "read", models[i].name, "--length", len, "--output", out), 0,
			     "%s: vdisk %s cannot be read", when, models[i].name);
		got = th_read_file(out, &n);
		cr_assert(got && n == models[i].len && !memcmp(got, models[i].bytes, n), "%s: vdisk %s: wrong bytes", when,
			  models[i].name);
		free(got);
	}
}

/* Lines of `tasks list` with these extra arguments (its header excluded). */
static int tasks(const char *dir, const char *a1, const char *a2, const char *a3, const char *a4)
{
	char *out = NULL;
	int n;

	cr_assert_eq(th_run(dir, NULL, &out, NULL, "tasks", "list", a1, a2, a3, a4, NULL), 0);
	n = th_lines(out) - 1;
	free(out);
	return n;
}

/* Tasks a scan queued: the pending ones. */
static int pending(const char *dir)
{
	return tasks(dir, "--state", "pending", NULL, NULL);
}

static int pending_kind(const char *dir, const char *kind)
{
	return tasks(dir, "--state", "pending", "--kind", kind);
}

/* No task ever refused by rule: stale with "strip member" or "frozen" (the scan knows the rules). */
static void none_refused_by_rule(const char *dir)
{
	char *out = NULL;

	cr_assert_eq(th_run(dir, NULL, &out, NULL, "tasks", "list", "--state", "stale", NULL), 0);
	cr_assert(!strstr(out, "strip member") && !strstr(out, "frozen") && !strstr(out, "not a plain"),
		  "a task the executor refuses by rule was queued:\n%s", out);
	free(out);
}

static int full_scan(const char *dir)
{
	later();
	return RUN(dir, "scan", "full", "--sweep-grace", "0s");
}

static int run_tasks(const char *dir)
{
	later();
	return RUN(dir, "tasks", "run", "--sweep-grace", "0s");
}

/* Cycles of full scan + tasks until a scan queues nothing; the cycles that had work (> max: fails). */
static int to_fixed_point(const char *dir, int max, int check_reads, const char *when)
{
	for (int k = 0; k <= max; k++) {
		cr_assert_eq(full_scan(dir), 0, "%s: scan %d failed", when, k + 1);
		if (pending(dir) == 0)
			return k;
		cr_assert_eq(run_tasks(dir), 0, "%s: tasks of cycle %d failed", when, k + 1);
		if (check_reads)
			reads_back(dir, when);
	}
	cr_assert_fail("%s: no fixed point within %d scan + tasks cycles (%d tasks pending)", when, max, pending(dir));
	return -1;
}

struct moving {
	int n;
};

static int moving_cb(void *arg, int rc_row, uint64_t id, const struct st_egroup_rec *g)
{
	struct moving *m = arg;

	(void)id;
	if (!rc_row && (g->flags & ST_EGROUP_MOVING))
		m->n++;
	return 0;
}

/* Egroups frozen (MOVING) right now. */
static int frozen_egroups(const char *dir)
{
	struct st_store *st;
	struct st_msg err;
	struct moving m = { 0 };

	cr_assert_eq(st_store_open(dir, &st, &err), 0, "%s", err.text);
	for (int i = 0; i < st_meta_nshards(st_store_meta(st)); i++)
		cr_assert_eq(st_meta_scan_egroups(st_store_meta(st), i, moving_cb, &m, &err), 0);
	st_store_free(st);
	return m.n;
}

Test(converge, every_feature_reaches_a_fixed_point, .timeout = 300)
{
	const char *dir = rich_state("fixed-point");
	int k;

	later();
	reads_back(dir, "before");
	k = to_fixed_point(dir, CONVERGE_K, 1, "fixed point");
	cr_log_info("fixed point after %d scan + tasks cycles (bound %d)", k, CONVERGE_K);
	cr_assert_gt(k, 1, "the state gave too little work to show anything");
	none_refused_by_rule(dir);
	cr_assert_eq(tasks(dir, "--state", "failed", NULL, NULL), 0, "tasks failed on the way");
	/* at the fixed point: a partial scan, and a full scan on 2 ranks, queue nothing either */
	cr_assert_eq(RUN(dir, "scan", "partial"), 0);
	cr_assert_eq(pending(dir), 0, "a partial scan at the fixed point queued work");
	{
		const char *scan[] = { "scan", "full", "--sweep-grace", "0s", NULL };
		cr_assert_eq(th_run_ranks(2, dir, scan), 0);
	}
	cr_assert_eq(pending(dir), 0, "a full scan on 2 ranks at the fixed point queued work");
	cr_assert_eq(frozen_egroups(dir), 0);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
	reads_back(dir, "at the fixed point");
	unsetenv("CURATOR_NOW");
	free_models();
}

/*
 * Issue 17 item 5: strip members whose garbage (the bytes of extents the
 * metadata dropped, kept for the strip) passes the compaction threshold
 * with no dead extent left. The
 * executor refuses egroup_compact on a strip member, so the scan must not
 * queue it (it did, every full scan, and the cluster never converged).
 */
Test(converge, strip_members_with_garbage_reach_a_fixed_point, .timeout = 300)
{
	const char *dir = th_tmpdir("strip-garbage");
	char p1[2048], ph[2048];
	uint8_t *b = malloc(8 * MIB), *half = malloc(MIB);

	unsetenv("CURATOR_NOW");
	snprintf(now_env, sizeof(now_env), "%lld", (long long)time(NULL) + 3 * 86400);
	th_fill(b, 8 * MIB, 11);
	th_fill(half, MIB, 12);
	write_file_in(dir, "data", b, 8 * MIB, p1, sizeof(p1));
	write_file_in(dir, "block", half, MIB, ph, sizeof(ph));
	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "hdd:1x1G"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "ec", "--rf", "2", "--rs", "2,1", "--ec-delay", "1h"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "e", "--container", "ec", "--size", "16M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "e", p1), 0);
	free_models();
	model_add("e", b, 8 * MIB);
	later();
	to_fixed_point(dir, CONVERGE_K, 1, "encoding");
	{
		char *out = NULL;
		th_run(dir, NULL, &out, NULL, "report", "--format", "json", NULL);
		cr_assert(out && !strstr(out, "\"ec_egroups\": 0") && !strstr(out, "\"ec_egroups\":0"), "no strip was made: %s",
			  out ? out : "");
		free(out);
	}
	/*
	 * block 0 overwritten: its extent in the first strip member dies; the
	 * scan drops it from the metadata (extent_delete) but its bytes stay to
	 * keep the strip decodable, so the member is left with a third of its
	 * bytes garbage and no dead extent
	 */
	unsetenv("CURATOR_NOW");
	cr_assert_eq(RUN(dir, "vdisk", "write", "e", "--offset", "0", ph), 0);
	memcpy(models[0].bytes, half, MIB);
	reads_back(dir, "after the overwrites");
	to_fixed_point(dir, CONVERGE_K, 1, "strip garbage");
	none_refused_by_rule(dir);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
	reads_back(dir, "at the fixed point");
	unsetenv("CURATOR_NOW");
	free(b);
	free(half);
	free_models();
}

struct kind_case {
	const char *kind;
	const char *(*build)(const char *tag);
	int quick; /* in make test; the others only in make soak */
};

static const struct kind_case kind_cases[] = {
	{ "egroup_compact", compact_state, 1 },
	{ "compress", rich_state, 1 },
	{ "egroup_delete", rich_state, 0 },
	{ "tier_down", rich_state, 0 },
	{ "rereplicate", rich_state, 0 },
	{ "ec_encode", rich_state, 0 },
	{ "dedup", rich_state, 0 },
	{ "fingerprint", rich_state, 0 },
	{ "blocks_delete", rich_state, 0 },
	{ "refcount_down", rich_state, 0 },
};

#define MAX_STEPS 16

/*
 * Kill one task of kind kc->kind at each of its steps in turn, each time on
 * a fresh copy of the state whose scan has just queued it. The steps it
 * has: *steps (the first N at which the runner did not stop).
 */
static void kill_each_step(const struct kind_case *kc)
{
	char tag[64], cmd[4500], snap[128];
	const char *tmpl;
	int step, found = 0;

	snprintf(tag, sizeof(tag), "kill-%s", kc->kind);
	tmpl = kc->build(tag);
	/* cycles until a scan queues the kind: the template is that state, tasks pending */
	for (int k = 0; k < CONVERGE_K && !found; k++) {
		cr_assert_eq(full_scan(tmpl), 0);
		found = pending_kind(tmpl, kc->kind) > 0;
		if (!found)
			cr_assert_eq(run_tasks(tmpl), 0);
	}
	cr_assert(found, "%s: no scan queued one", kc->kind);
	for (step = 1; step <= MAX_STEPS; step++) {
		const char *args[] = { "tasks", "run", "--kind", kc->kind, "--max", "1", "--sweep-grace", "0s", NULL };
		char when[96], sname[64];
		const char *dir;
		pid_t pid;
		int st;

		snprintf(tag, sizeof(tag), "kill-%s-%d", kc->kind, step);
		dir = th_tmpdir(tag);
		snprintf(cmd, sizeof(cmd), "cp -a '%s'/. '%s'/", tmpl, dir);
		cr_assert_eq(system(cmd), 0);
		snprintf(snap, sizeof(snap), "%d", step);
		later();
		setenv("CURATOR_TASK_STEP_STOP", snap, 1);
		pid = th_spawn(dir, NULL, NULL, args);
		unsetenv("CURATOR_TASK_STEP_STOP");
		cr_assert_eq(waitpid(pid, &st, WUNTRACED), pid);
		if (!WIFSTOPPED(st)) { /* it ran through: every step was killed once */
			cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: the runner failed (status %d)", kc->kind, st);
			break;
		}
		kill(pid, SIGKILL);
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		snprintf(when, sizeof(when), "%s killed at step %d", kc->kind, step);
		reads_back(dir, when);
		/*
		 * The retry alone (no scan) finishes or undoes it: nothing stays
		 * frozen, snapshots work at once. The killed runner's claim is its
		 * lease's until an observer saw that lease silent for its TTL: one
		 * look (`scan --dry-run` observes every lease), a TTL, then the retry.
		 */
		cr_assert_eq(RUN(dir, "scan", "full", "--dry-run"), 0);
		usleep(TH_LEASE_TTL_US + 300000);
		cr_assert_eq(run_tasks(dir), 0, "%s: the retry failed", when);
		cr_assert_eq(frozen_egroups(dir), 0, "%s: an egroup stays frozen after the retry", when);
		for (int i = 0; i < nmodels; i++) {
			if (strchr(models[i].name, '@'))
				continue;
			snprintf(sname, sizeof(sname), "%s@after", models[i].name);
			cr_assert_eq(RUN(dir, "vdisk", "snapshot", models[i].name, sname), 0,
				     "%s: vdisk %s cannot be snapshotted after the retry", when, models[i].name);
		}
		to_fixed_point(dir, CONVERGE_K, 0, when);
		cr_assert_eq(frozen_egroups(dir), 0, "%s", when);
		cr_assert_eq(tasks(dir, "--state", "failed", NULL, NULL), 0, "%s: tasks failed", when);
		none_refused_by_rule(dir);
		cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0, "%s: fsck", when);
		reads_back(dir, when);
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		system(cmd);
	}
	if (kc->quick) /* (the others may be one transaction: nothing to kill inside) */
		cr_assert_gt(step, 1, "%s: its task has no step to kill it at", kc->kind);
	cr_assert_leq(step, MAX_STEPS, "%s: more than %d steps", kc->kind, MAX_STEPS);
	cr_log_info("%s: killed at each of its %d step(s)", kc->kind, step - 1);
}

Test(converge, each_kind_killed_at_each_step, .timeout = 1800)
{
	const char *all = getenv("CURATOR_CONVERGE_ALL");

	for (size_t i = 0; i < sizeof(kind_cases) / sizeof(kind_cases[0]); i++)
		if (kind_cases[i].quick || (all && *all == '1'))
			kill_each_step(&kind_cases[i]);
	unsetenv("CURATOR_NOW");
	free_models();
}
