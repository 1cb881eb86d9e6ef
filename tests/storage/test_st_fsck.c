#include <criterion/criterion.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/st_fsck.h"
#include "tests/helpers.h"

struct found {
	int violations;
	char last[512];
};

static void cb(void *arg, enum st_fsck_level lvl, const char *msg)
{
	struct found *f = arg;
	if (lvl == ST_FSCK_VIOLATION) {
		f->violations++;
		snprintf(f->last, sizeof(f->last), "%s", msg);
	}
}

static const char *setup(void)
{
	const char *dir = th_tmpdir("fsck");
	struct st_init_spec spec = { .nodes = 2, .shards = 1 };
	struct st_store *st;
	struct st_container c;
	struct st_msg err;
	uint8_t *buf = malloc(3 << 20);

	cr_assert_eq(st_disk_spec_parse("ssd:1x64M", &spec, &err), 0);
	cr_assert_eq(st_store_init(dir, &spec, &err), 0);
	cr_assert_eq(st_store_open(dir, &st, &err), 0);
	st_container_defaults(&c);
	strcpy(c.name, "c");
	cr_assert_eq(st_config_container_create(st_store_config(st), &c, &err), 0);
	cr_assert_eq(st_vdisk_create(st, "v", "c", 3 << 20, 0, NULL, &err), 0);
	th_fill(buf, 3 << 20, 1);
	cr_assert_eq(st_vdisk_pwrite(st, "v", 0, buf, 3 << 20, &err), 0);
	cr_assert_eq(st_vdisk_snapshot(st, "v", "s", &err), 0);
	st_store_free(st);
	free(buf);
	return dir;
}

static struct found run_fsck(const char *dir, struct st_fsck_report *r)
{
	struct st_store *st;
	struct st_msg err;
	struct found f = { 0, "" };

	cr_assert_eq(st_store_open(dir, &st, &err), 0);
	cr_assert_eq(st_fsck_run(st, cb, &f, r, &err), 0, "%s", err.text);
	st_store_free(st);
	return f;
}

static void sql(const char *dir, const char *q)
{
	char p[512];
	sqlite3 *db;
	snprintf(p, sizeof(p), "%s/meta-0.db", dir);
	cr_assert_eq(sqlite3_open(p, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
}

Test(st_fsck, clean_cluster)
{
	struct st_fsck_report r;
	const char *dir = setup();
	struct found f = run_fsck(dir, &r);
	cr_assert_eq(f.violations, 0, "%s", f.last);
	cr_assert_eq(r.block_rows, 6);
	cr_assert_eq(r.extents, 3);
	cr_assert_eq(r.bytes_verified, 2 * (3 << 20), "both replicas verified");
	st_rm_rf(dir);
}

Test(st_fsck, dangling_extent_reference)
{
	struct st_fsck_report r;
	const char *dir = setup();
	sql(dir, "DELETE FROM extents WHERE id = (SELECT min(id) FROM extents)");
	struct found f = run_fsck(dir, &r);
	cr_assert_geq(f.violations, 1);
	cr_assert(strstr(f.last, "dangling"), "%s", f.last);
	st_rm_rf(dir);
}

Test(st_fsck, refcount_below_references)
{
	struct st_fsck_report r;
	const char *dir = setup();
	struct st_store *st;
	struct st_egroup_rec g;
	struct st_msg err;
	uint64_t id = 0;
	char p[512];
	sqlite3 *db;
	sqlite3_stmt *q;

	snprintf(p, sizeof(p), "%s/meta-0.db", dir);
	sqlite3_open(p, &db);
	sqlite3_prepare_v2(db, "SELECT min(id) FROM egroups", -1, &q, NULL);
	sqlite3_step(q);
	id = (uint64_t)sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	cr_assert_eq(st_store_open(dir, &st, &err), 0);
	st_egroup_rec_init(&g);
	cr_assert_eq(st_meta_egroup_get(st_store_meta(st), id, &g, &err), 0);
	g.extents[0].refcount = 1; /* the vdisk and its snapshot reference it */
	cr_assert_eq(st_meta_egroup_put(st_store_meta(st), &g, g.version, &err), 0);
	st_egroup_rec_release(&g);
	st_store_free(st);
	struct found f = run_fsck(dir, &r);
	cr_assert_eq(f.violations, 1);
	cr_assert(strstr(f.last, "recorded refcount 1 < 2"), "%s", f.last);
	st_rm_rf(dir);
}

Test(st_fsck, corrupt_rows_and_lost_data)
{
	struct st_fsck_report r;
	const char *dir = setup();
	char cmd[1024];
	sql(dir, "UPDATE blocks SET regions = x'4252ffff' WHERE block = 1 AND vdisk = (SELECT min(vdisk) FROM blocks)");
	snprintf(cmd, sizeof(cmd), "rm -f %s/disks/*/egroups/*.eg", dir);
	cr_assert_eq(system(cmd), 0);
	struct found f = run_fsck(dir, &r);
	cr_assert_geq(f.violations, 3, "corrupt row + extents without a good replica");
	cr_assert_gt(r.warnings, 0);
	st_rm_rf(dir);
}

/* --- partial task runs leave garbage, never violations (issue 17) -------- */

#define RUN(dir, ...) th_run(dir, NULL, NULL, NULL, __VA_ARGS__, NULL)
#define MIB (1 << 20)

/* What the live vdisks hold: a (overwritten at 1 MiB), bs and its clone bc (b as first written). */
struct partial_model {
	uint8_t a[8 * MIB], b[8 * MIB];
};

/* Write len bytes of seed at off into vdisk name (through a file). */
static void vwrite(const char *dir, const char *name, size_t off, uint8_t *model, size_t len, uint64_t seed)
{
	char path[2048], offs[32];

	th_fill(model + off, len, seed);
	snprintf(path, sizeof(path), "%s/in-%s", dir, name);
	cr_assert_eq(th_write_file(path, model + off, len), 0);
	snprintf(offs, sizeof(offs), "%zu", off);
	cr_assert_eq(RUN(dir, "vdisk", "write", name, "--offset", offs, path), 0);
}

static void vexpect(const char *dir, const char *name, const uint8_t *want, size_t len)
{
	char path[2048];
	size_t got = 0;
	uint8_t *b;

	snprintf(path, sizeof(path), "%s/out-%s", dir, name);
	cr_assert_eq(RUN(dir, "vdisk", "read", name, "--output", path), 0);
	b = th_read_file(path, &got);
	cr_assert(b && got == len && !memcmp(b, want, len), "vdisk %s lost bytes", name);
	free(b);
}

/*
 * Deleted vdisks (one with a snapshot whose clone lives on), overwrites
 * and snapshots; a full scan; 2 nodes' disks so RF2 has files to sweep.
 */
static const char *partial_cluster(struct partial_model *m)
{
	const char *dir = th_tmpdir("fsck-partial");
	static uint8_t d[8 * MIB], b2[8 * MIB]; /* (d: deleted; b2: b's overwritten bytes, b deleted) */

	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "ssd:1x256M"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "a", "--container", "c", "--size", "8M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "b", "--container", "c", "--size", "8M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "d", "--container", "c", "--size", "8M"), 0);
	vwrite(dir, "a", 0, m->a, sizeof(m->a), 1);
	vwrite(dir, "b", 0, m->b, sizeof(m->b), 2);
	vwrite(dir, "d", 0, d, sizeof(d), 3);
	memcpy(b2, m->b, sizeof(b2));
	vwrite(dir, "a", 1 * MIB, m->a, 2 * MIB, 4); /* an overwrite: dead extents */
	cr_assert_eq(RUN(dir, "vdisk", "snapshot", "a", "as"), 0);
	vwrite(dir, "a", 5 * MIB, m->a, 1 * MIB, 5);
	cr_assert_eq(RUN(dir, "vdisk", "snapshot", "b", "bs"), 0);
	vwrite(dir, "b", 2 * MIB, b2, 3 * MIB, 6);
	cr_assert_eq(RUN(dir, "vdisk", "clone", "bs", "bc"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "delete", "d"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "delete", "b"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "delete", "as"), 0);
	return dir;
}

/* fsck, by the library and by the CLI: no violation (exit 0); the garbage count. */
static uint64_t expect_garbage_only(const char *dir, const char *when)
{
	struct st_fsck_report r;
	struct found f = run_fsck(dir, &r);
	char *out = NULL;
	int rc = th_run(dir, NULL, &out, NULL, "fsck", "--quiet", NULL);

	cr_log_info("%s: garbage %llu (%llu unreferenced, %llu refcounts high, %llu orphan extent-ID rows, %llu rows of "
		    "deleted vdisks, %llu orphan files)",
		    when, (unsigned long long)r.garbage, (unsigned long long)r.unreferenced,
		    (unsigned long long)r.refcount_high, (unsigned long long)r.orphan_extent_ids,
		    (unsigned long long)r.deleted_vdisk_rows, (unsigned long long)r.orphan_files);
	cr_assert_eq(f.violations, 0, "%s: %s", when, f.last);
	cr_assert_eq(rc, 0, "%s: fsck exit %d: %s", when, rc, out);
	cr_assert(strstr(out, "0 violations"), "%s", out);
	cr_assert_eq(r.garbage, r.unreferenced + r.refcount_high + r.orphan_extent_ids + r.deleted_vdisk_rows +
					r.orphan_files);
	free(out);
	return r.garbage;
}

/* tasks run with a step delay, killed -9 after us microseconds; 1 if it was killed (not finished). */
static int killed_runner(const char *dir, useconds_t us)
{
	const char *args[] = { "tasks", "run", "--sweep-grace", "0s", NULL };
	pid_t pid;
	int st;

	setenv("CURATOR_TASK_STEP_DELAY_US", "30000", 1);
	pid = th_spawn(dir, NULL, NULL, args);
	unsetenv("CURATOR_TASK_STEP_DELAY_US");
	usleep(us);
	kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	/*
	 * Its in-flight operations stay in S0 until its lease is declared dead:
	 * a scan sees its last beat now, the next one, a TTL later, reaps it.
	 */
	cr_assert_eq(RUN(dir, "scan", "partial", "--dry-run"), 0);
	usleep(TH_LEASE_TTL_US + 300000);
	return WIFSIGNALED(st);
}

/* The remaining tasks, then scans and their tasks until nothing is left: garbage 0, nothing lost. */
static void converge(const char *dir, const struct partial_model *m)
{
	uint64_t garbage = 1;
	int cycles = 0;

	cr_assert_eq(RUN(dir, "tasks", "run", "--sweep-grace", "0s"), 0);
	expect_garbage_only(dir, "all the tasks");
	while (garbage && cycles++ < 3) {
		cr_assert_eq(RUN(dir, "scan", "full", "--sweep-grace", "0s"), 0);
		cr_assert_eq(RUN(dir, "tasks", "run", "--sweep-grace", "0s"), 0);
		garbage = expect_garbage_only(dir, "scan + tasks");
	}
	cr_assert_eq(garbage, 0, "garbage left after %d scan + task cycles", cycles);
	vexpect(dir, "a", m->a, sizeof(m->a));
	vexpect(dir, "bc", m->b, sizeof(m->b));
	vexpect(dir, "bs", m->b, sizeof(m->b));
}

/*
 * fsck counted the block rows of deleted vdisks as references, so any
 * partial task run failed it with false violations (refcounts below
 * references after refcount_down, dangling references after
 * egroup_delete). Two orders over the same state: --max 1, --kind
 * blocks_delete, a runner killed -9 in the middle; and --max 1, --kind
 * egroup_delete, then killed runners while the deleted vdisks' rows are
 * still there. fsck exits 0 at every step with the garbage counted, and
 * the rest of the tasks (and at most 3 scan + task cycles) bring the
 * garbage to 0 with every live byte intact.
 */
Test(st_fsck, partial_task_runs_leave_garbage_not_violations, .timeout = 300)
{
	static struct partial_model m;
	const char *dir = partial_cluster(&m), *dir2 = th_tmpdir("fsck-partial-2");
	char cmd[4200];
	uint64_t seed = 17;
	int kills = 0;

	expect_garbage_only(dir, "before any scan");
	cr_assert_eq(RUN(dir, "scan", "full", "--sweep-grace", "0s"), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s && cp -a %s %s", dir2, dir, dir2);
	cr_assert_eq(system(cmd), 0);

	/* order 1 */
	cr_assert_gt(expect_garbage_only(dir, "after the scan"), 0);
	cr_assert_eq(RUN(dir, "tasks", "run", "--max", "1"), 0);
	cr_assert_gt(expect_garbage_only(dir, "tasks run --max 1"), 0);
	cr_assert_eq(RUN(dir, "tasks", "run", "--kind", "blocks_delete"), 0);
	cr_assert_gt(expect_garbage_only(dir, "tasks run --kind blocks_delete"), 0);
	kills += killed_runner(dir, 500000);
	expect_garbage_only(dir, "a runner killed -9");
	converge(dir, &m);

	/* order 2: GC runs while the deleted vdisks' rows still point at what it removes */
	cr_assert_eq(RUN(dir2, "tasks", "run", "--max", "1"), 0);
	expect_garbage_only(dir2, "tasks run --max 1");
	cr_assert_eq(RUN(dir2, "tasks", "run", "--kind", "egroup_delete"), 0);
	{
		struct st_fsck_report r;
		run_fsck(dir2, &r);
		cr_assert_gt(r.deleted_vdisk_rows, 0, "the deleted vdisks' rows must still be there");
	}
	expect_garbage_only(dir2, "tasks run --kind egroup_delete");
	{ /* kill later each time (the runner starts in a few hundred ms) until one finishes */
		uint64_t before = expect_garbage_only(dir2, "before the kills"), after;
		int moved = 0, finished = 0;
		for (int i = 0; i < 12 && !finished; i++) {
			int k = killed_runner(dir2, (useconds_t)(200000 + 150000 * i + th_rand(&seed) % 50000));
			kills += k;
			finished = !k;
			after = expect_garbage_only(dir2, k ? "a runner killed -9" : "a runner that finished");
			moved += k && after != before;
			before = after;
		}
		cr_assert_gt(moved, 0, "no kill landed in the middle of the tasks");
	}
	converge(dir2, &m);
}
