/*
 * Garbage inside extents (jobs/job_compact.c, MR1's ranges): random 4 KiB
 * overwrites into a sequentially written vdisk leave shadowed pieces inside
 * its 1 MiB extents; scans count them and compactions cut them out, so the
 * cluster ends near live x RF with every byte as written and fsck clean;
 * and overwrites, snapshots and snapshot deletes racing with the cutting
 * compactions (rows changing between the plan and the repoint) lose no
 * byte and leave nothing dangling.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/st_store.h"
#include "tests/helpers.h"

#define RUN(dir, ...) th_run(dir, NULL, NULL, NULL, __VA_ARGS__, NULL)

/* Bytes of all egroup files of the cluster. */
static uint64_t egroup_bytes(const char *dir)
{
	return (uint64_t)th_sh_number("find %s/disks -name '*.eg' -printf '%%s\\n' | awk '{s += $1} END {print s + 0}'",
				      dir);
}

/* One value of SQL on curator.db (-1 when none). */
static int64_t db_number(const char *dir, const char *sql)
{
	char p[2048];
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	snprintf(p, sizeof(p), "%s/curator.db", dir);
	db = th_curator_db(dir);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* A counter of the latest scan. */
static int64_t counter(const char *dir, const char *name)
{
	char q[256];

	snprintf(q, sizeof(q), "SELECT json_extract(counters, '$.%s') FROM scans WHERE id = (SELECT max(id) FROM scans)",
		 name);
	return db_number(dir, q);
}

static void expect_vdisk(const char *dir, const char *name, const uint8_t *model, uint64_t size)
{
	struct st_store *st;
	struct st_vdisk v;
	struct st_msg err;
	uint8_t *buf = malloc(size);

	cr_assert_eq(st_store_open(dir, &st, &err), 0);
	cr_assert_eq(st_config_vdisk_get(st_store_config(st), name, &v, &err), 0, "%s", err.text);
	cr_assert_eq(st_vdisk_pread(st, &v, 0, size, buf, &err), 0, "%s", err.text);
	cr_assert_eq(memcmp(buf, model, size), 0, "vdisk %s lost bytes", name);
	st_store_free(st);
	free(buf);
}

static void expect_fsck_clean(const char *dir)
{
	char *out = NULL;
	int rc = th_run(dir, NULL, &out, NULL, "fsck", "--quiet", NULL);
	cr_assert_eq(rc, 0, "fsck: %s", out);
	free(out);
}

/*
 * 64 MiB written in one go (1 MiB blocks and extents, RF2), then 2,000
 * random 4 KiB overwrites, each its own write: ~12% of every old extent is
 * shadowed. Cycle 1 (scan + tasks) compacts: the shown bytes become new
 * extents, the rows are repointed, the old extents stay; cycle 2's scan
 * finds the old ones unreferenced and deletes them. Two cycles end at
 * <= 1.1 x live x RF (the 4 KiB extents overwritten twice stay as garbage
 * below the threshold). --compact-pct 10: with the default 20 no egroup of
 * this case qualifies (each holds ~12% shadowed bytes).
 */
Test(job_compact, random_4k_overwrites_end_near_live_x_rf, .timeout = 900)
{
	const char *dir = th_tmpdir("cut");
	enum { SIZE = 64 << 20, PIECE = 4096, OVERWRITES = 2000 };
	const char *scan[] = { "scan", "full", "--compact-pct", "10", "--sweep-grace", "0s", NULL };
	const char *run[] = { "tasks", "run", "--sweep-grace", "0s", NULL };
	uint8_t *model = malloc(SIZE), piece[PIECE];
	uint64_t seed = 19, live = (uint64_t)SIZE * 2, before, after;
	struct st_store *st;
	struct st_msg err;

	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "ssd:1x2G"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "c", "--size", "64M"), 0);
	th_fill(model, SIZE, 7);
	cr_assert_eq(st_store_open(dir, &st, &err), 0, "%s", err.text);
	cr_assert_eq(st_vdisk_pwrite(st, "v", 0, model, SIZE, &err), 0, "%s", err.text);
	for (int i = 0; i < OVERWRITES; i++) {
		uint64_t off = th_rand(&seed) % (SIZE / PIECE) * PIECE;
		th_fill(piece, PIECE, seed++);
		cr_assert_eq(st_vdisk_pwrite(st, "v", off, piece, PIECE, &err), 0, "%s", err.text);
		memcpy(model + off, piece, PIECE);
	}
	st_store_free(st);
	before = egroup_bytes(dir);
	cr_assert_gt(before, live * 11 / 10, "the case must start above the goal (%llu)", (unsigned long long)before);

	for (int cycle = 0; cycle < 2; cycle++) {
		cr_assert_eq(th_run_ranks(2, dir, scan), 0, "cycle %d: scan", cycle);
		if (cycle == 0) {
			cr_assert_gt(counter(dir, "shadowed_bytes"), (int64_t)OVERWRITES * PIECE / 2,
				     "MR1's ranges must show the shadowed pieces");
			cr_assert_gt(counter(dir, "tasks_egroup_compact"), 0);
		}
		cr_assert_eq(th_run_ranks(1, dir, run), 0, "cycle %d: tasks", cycle);
	}
	after = egroup_bytes(dir);
	cr_log_info("stored %llu -> %llu bytes; live x RF %llu: %.3f after 2 cycles", (unsigned long long)before,
		    (unsigned long long)after, (unsigned long long)live, (double)after / (double)live);
	cr_assert_leq(after, live * 11 / 10, "%.3f x live x RF after 2 cycles", (double)after / (double)live);
	cr_assert_gt(db_number(dir, "SELECT count(*) FROM tasks WHERE error LIKE 'cut %'"), 0, "no compaction cut an extent");
	expect_vdisk(dir, "v", model, SIZE);
	expect_fsck_clean(dir);
	cr_assert_eq(th_run_ranks(1, dir, scan), 0);
	cr_assert_eq(counter(dir, "dangling_references"), 0);
	cr_assert_eq(counter(dir, "refcount_low"), 0);
	cr_assert_lt(counter(dir, "shadowed_bytes"), (int64_t)OVERWRITES * PIECE / 4, "the shadowed bytes went");
	free(model);
}

/*
 * The writer of the race: small overwrites (mostly 4 KiB aligned, some
 * unaligned and longer), snapshots and their deletes, every vdisk it still
 * references read back against its model as it goes. Exit 0, or a code
 * saying what went wrong.
 */
static int race_writer(const char *dir, const char *ready, const char *stopfile)
{
	enum { SIZE = 16 << 20 };
	struct st_store *st;
	struct st_msg err;
	uint8_t *model = malloc(SIZE), *snap[2] = { 0 }, *buf = malloc(SIZE), *rd = malloc(SIZE);
	char names[2][16];
	int nsnap = 0, seq = 0;
	uint64_t seed = (uint64_t)getpid();
	struct stat sb;

	if (st_store_open(dir, &st, &err))
		return 10;
	th_fill(model, SIZE, 3);
	if (st_vdisk_pwrite(st, "w", 0, model, SIZE, &err))
		return 11;
	th_write_file(ready, "", 0);
	while (stat(stopfile, &sb) < 0) {
		uint64_t r = th_rand(&seed) % 100;
		if (r < 80) {
			uint64_t len = r < 70 ? 4096 : 1 + th_rand(&seed) % 70000;
			uint64_t off = r < 70 ? th_rand(&seed) % (SIZE / 4096) * 4096 : th_rand(&seed) % (SIZE - len);
			th_fill(buf, len, seed++);
			if (st_vdisk_pwrite(st, "w", off, buf, len, &err)) {
				fprintf(stderr, "write: %s\n", err.text);
				return 12;
			}
			memcpy(model + off, buf, len);
		} else if (r < 85 && nsnap < 2) {
			snprintf(names[nsnap], sizeof(names[0]), "w@%d", seq++);
			if (st_vdisk_snapshot(st, "w", names[nsnap], &err)) {
				fprintf(stderr, "snapshot: %s\n", err.text);
				return 13;
			}
			snap[nsnap] = malloc(SIZE);
			memcpy(snap[nsnap++], model, SIZE);
		} else if (r < 89 && nsnap > 0) {
			if (st_vdisk_delete(st, names[0], &err))
				return 14;
			free(snap[0]);
			snap[0] = snap[1];
			memcpy(names[0], names[1], sizeof(names[0]));
			nsnap--;
		} else {
			struct st_vdisk v;
			for (int i = -1; i < nsnap; i++) {
				if (st_config_vdisk_get(st_store_config(st), i < 0 ? "w" : names[i], &v, &err) ||
				    st_vdisk_pread(st, &v, 0, SIZE, rd, &err)) {
					fprintf(stderr, "read: %s\n", err.text);
					return 15;
				}
				if (memcmp(rd, i < 0 ? model : snap[i], SIZE))
					return 16;
			}
		}
	}
	st_store_free(st);
	return 0;
}

/*
 * Overwrites race with range compaction: the writer above against rounds
 * of full scans (1 and 2 ranks, a low threshold so that most egroups are
 * cut) and task runs whose steps are slowed down, so rows change between
 * a compaction's plan and its repoint, and snapshots meet frozen egroups.
 */
Test(job_compact, overwrites_race_with_range_compaction, .timeout = 900)
{
	const char *dir = th_tmpdir("cutrace");
	const char *env = getenv("CURATOR_COMPACT_RACE_ROUNDS");
	int rounds = env ? atoi(env) : 16;
	const char *scan[] = { "scan", "full", "--compact-pct", "3", NULL };
	const char *run[] = { "tasks", "run", NULL };
	char ready[2048], stopfile[2048];
	struct stat sb;
	pid_t pid;
	int st;

	cr_assert_eq(RUN(dir, "init", "--nodes", "2", "--disks", "ssd:1x2G"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "w", "--container", "c", "--size", "16M", "--block-size", "256K"), 0);
	snprintf(ready, sizeof(ready), "%s/ready", dir);
	snprintf(stopfile, sizeof(stopfile), "%s/stop", dir);
	pid = fork();
	if (pid == 0)
		_exit(race_writer(dir, ready, stopfile));
	for (int i = 0; i < 600 && stat(ready, &sb) < 0; i++)
		usleep(50000);
	cr_assert_eq(stat(ready, &sb), 0, "the writer never wrote its vdisk");
	for (int r = 0; r < rounds; r++) {
		cr_assert_eq(th_run_ranks(r % 2 ? 2 : 1, dir, scan), 0, "round %d: scan failed", r);
		setenv("CURATOR_TASK_STEP_DELAY_US", "20000", 1);
		cr_assert_eq(th_run_ranks(1, dir, run), 0, "round %d: tasks failed", r);
		unsetenv("CURATOR_TASK_STEP_DELAY_US");
		if (waitpid(pid, &st, WNOHANG) == pid)
			cr_assert_fail("the writer stopped early (status %d) in round %d", WEXITSTATUS(st), r);
	}
	th_write_file(stopfile, "", 0);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the writer lost data or failed: status %d", WEXITSTATUS(st));
	cr_log_info("%lld compaction(s) cut extents",
		    (long long)db_number(dir, "SELECT count(*) FROM tasks WHERE error LIKE 'cut %'"));
	cr_assert_gt(db_number(dir, "SELECT count(*) FROM tasks WHERE error LIKE 'cut %'"), 0,
		     "no compaction cut an extent: the race did not happen");
	cr_assert_eq(th_run_ranks(1, dir, scan), 0);
	cr_assert_eq(counter(dir, "dangling_references"), 0);
	cr_assert_eq(counter(dir, "refcount_low"), 0);
	expect_fsck_clean(dir);
}

/* Overwrite `n` random pieces of 1..len bytes of vdisk name (and its model) with pieces of real data. */
static void overwrite(struct st_store *st, const char *name, uint8_t *model, uint64_t size, const uint8_t *real,
		      size_t nreal, int n, uint32_t len, uint64_t *seed)
{
	struct st_msg err;

	for (int i = 0; i < n; i++) {
		uint64_t l = 1 + th_rand(seed) % len, off = th_rand(seed) % (size - l), from = th_rand(seed) % (nreal - l);
		cr_assert_eq(st_vdisk_pwrite(st, name, off, real + from, l, &err), 0, "%s", err.text);
		memcpy(model + off, real + from, l);
	}
}

/*
 * Cutting compressed extents shared with a snapshot: a container that
 * compresses inline (the cut bytes are inflated, cut, and compressed
 * again), a snapshot taken between two rounds of unaligned overwrites (so
 * two rows show one extent, with different ranges: the cut keeps their
 * union and repoints both). Every byte of both vdisks reads back, fsck is
 * clean, and the stored bytes go down.
 */
Test(job_compact, cuts_compressed_extents_shared_with_a_snapshot, .timeout = 600)
{
	const char *dir = th_tmpdir("cutz");
	enum { SIZE = 8 << 20 };
	const char *scan[] = { "scan", "full", "--compact-pct", "3", "--sweep-grace", "0s", NULL };
	const char *run[] = { "tasks", "run", "--sweep-grace", "0s", NULL };
	size_t nreal = 0;
	uint8_t *real = th_real_data(SIZE, &nreal), *model = malloc(SIZE), *snap = malloc(SIZE);
	uint64_t seed = 5, before, after;
	struct st_store *st;
	struct st_msg err;

	cr_assert(real && nreal >= SIZE, "no real data to compress");
	cr_assert_eq(RUN(dir, "init", "--nodes", "2", "--disks", "ssd:1x1G"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2", "--compress", "inline"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "c", "--size", "8M", "--block-size", "256K"), 0);
	memcpy(model, real, SIZE);
	cr_assert_eq(st_store_open(dir, &st, &err), 0, "%s", err.text);
	cr_assert_eq(st_vdisk_pwrite(st, "v", 0, model, SIZE, &err), 0, "%s", err.text);
	overwrite(st, "v", model, SIZE, real, nreal, 150, 9000, &seed);
	cr_assert_eq(st_vdisk_snapshot(st, "v", "v@1", &err), 0, "%s", err.text);
	memcpy(snap, model, SIZE);
	overwrite(st, "v", model, SIZE, real, nreal, 150, 9000, &seed);
	st_store_free(st);
	before = egroup_bytes(dir);
	for (int cycle = 0; cycle < 3; cycle++) {
		cr_assert_eq(th_run_ranks(cycle == 1 ? 2 : 1, dir, scan), 0);
		if (cycle == 0)
			cr_assert_gt(counter(dir, "shadowed_bytes"), 0);
		cr_assert_eq(th_run_ranks(1, dir, run), 0);
		expect_vdisk(dir, "v", model, SIZE);
		expect_vdisk(dir, "v@1", snap, SIZE);
	}
	after = egroup_bytes(dir);
	cr_log_info("compressed: stored %llu -> %llu bytes", (unsigned long long)before, (unsigned long long)after);
	cr_assert_gt(db_number(dir, "SELECT count(*) FROM tasks WHERE error LIKE 'cut %'"), 0, "no compaction cut an extent");
	cr_assert_lt(after, before);
	expect_fsck_clean(dir);
	cr_assert_eq(th_run_ranks(1, dir, scan), 0);
	cr_assert_eq(counter(dir, "dangling_references"), 0);
	cr_assert_eq(counter(dir, "refcount_low"), 0);
	free(real);
	free(model);
	free(snap);
}

/*
 * The bound on ranges (JR_RANGES_MAX): extent X shown by two rows (v and
 * its snapshot s) in 200 one-byte pieces each, all disjoint: 400 pieces,
 * more than the bound, so X counts as wholly live (nothing shadowed) and
 * is moved whole; extent Y shown in 10 one-byte pieces: all but 10 bytes
 * shadowed, and cut. The rows are laid by hand (real rows: v and s read
 * what they show, the rest as zeros), then a scan and the tasks; both
 * vdisks read the same bytes before and after, fsck is clean.
 */
Test(job_compact, an_extent_in_too_many_pieces_counts_whole, .timeout = 300)
{
	const char *dir = th_tmpdir("cutmax");
	enum { BS = 1 << 20 };
	const char *scan[] = { "scan", "full", "--sweep-grace", "0s", NULL };
	const char *run[] = { "tasks", "run", "--sweep-grace", "0s", NULL };
	uint8_t *data = malloc(2 * BS), *bv = malloc(2 * BS), *bs = malloc(2 * BS);
	struct st_block *b = malloc(sizeof(*b));
	struct st_extent_id x, y;
	struct st_vdisk v, s;
	struct st_store *st;
	struct st_msg err;

	cr_assert_eq(RUN(dir, "init", "--nodes", "2", "--disks", "ssd:1x1G"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "c", "--size", "2M"), 0);
	th_fill(data, 2 * BS, 11);
	cr_assert_eq(st_store_open(dir, &st, &err), 0, "%s", err.text);
	cr_assert_eq(st_vdisk_pwrite(st, "v", 0, data, 2 * BS, &err), 0, "%s", err.text);
	cr_assert_eq(st_vdisk_snapshot(st, "v", "s", &err), 0, "%s", err.text);
	cr_assert_eq(st_config_vdisk_get(st_store_config(st), "v", &v, &err), 0);
	cr_assert_eq(st_config_vdisk_get(st_store_config(st), "s", &s, &err), 0);
	cr_assert_eq(st_meta_block_get(st_store_meta(st), v.id, 0, b, &err), 0);
	x = b->r[0].extent;
	cr_assert_eq(st_meta_block_get(st_store_meta(st), v.id, 1, b, &err), 0);
	y = b->r[0].extent;
	for (int w = 0; w < 2; w++) { /* block 0 of v and of s: X in 200 pieces each, interleaved */
		b->vdisk = w ? s.id : v.id;
		b->block = 0;
		b->n = 200;
		for (int i = 0; i < 200; i++)
			b->r[i] = (struct st_region){ (uint32_t)i * 4096, 1, x, (uint32_t)i * 4096 + (uint32_t)w * 2048 };
		cr_assert_eq(st_meta_block_put(st_store_meta(st), b, &err), 0, "%s", err.text);
	}
	b->vdisk = v.id; /* block 1 of v: Y in 10 pieces (s still shows all of Y) */
	b->block = 1;
	b->n = 10;
	for (int i = 0; i < 10; i++)
		b->r[i] = (struct st_region){ (uint32_t)i * 8192, 1, y, (uint32_t)i * 8192 };
	cr_assert_eq(st_meta_block_put(st_store_meta(st), b, &err), 0, "%s", err.text);
	cr_assert_eq(st_vdisk_pread(st, &v, 0, 2 * BS, bv, &err), 0, "%s", err.text);
	cr_assert_eq(st_vdisk_pread(st, &s, 0, 2 * BS, bs, &err), 0, "%s", err.text);
	/* s's block 1 still shows Y whole: cut nothing there either; drop it so Y is v's alone */
	cr_assert_eq(st_meta_block_delete(st_store_meta(st), s.id, 1, &err), 0, "%s", err.text);
	memset(bs + BS, 0, BS);
	st_store_free(st);

	cr_assert_eq(th_run_ranks(1, dir, scan), 0);
	cr_assert_eq(counter(dir, "shadowed_bytes"), BS - 10, "X (400 pieces) must count whole, Y all but 10 bytes");
	cr_assert_eq(counter(dir, "refcount_high"), 1, "Y's recorded refcount counts the row of s that went");
	for (int cycle = 0; cycle < 3; cycle++) {
		cr_assert_eq(th_run_ranks(1, dir, run), 0);
		expect_vdisk(dir, "v", bv, 2 * BS);
		expect_vdisk(dir, "s", bs, 2 * BS);
		cr_assert_eq(th_run_ranks(1, dir, scan), 0);
	}
	cr_assert_eq(counter(dir, "shadowed_bytes"), 0, "Y was cut");
	cr_assert_eq(counter(dir, "dangling_references"), 0);
	expect_fsck_clean(dir);
	free(data);
	free(bv);
	free(bs);
	free(b);
}
