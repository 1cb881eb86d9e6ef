/*
 * Scans and garbage collection against real processes: identical findings
 * on 1, 2 and 3 ranks; the GC scenario reclaims space down to live bytes x
 * RF and every live byte reads back; a partial scan deletes only egroups
 * whose recorded refcounts are all zero; a writer racing scans and tasks
 * never loses a byte it references; a task runner killed with SIGKILL at
 * random points loses and leaks nothing after two more scans; corrupt rows
 * are reported, never acted on, never a crash.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "storage/st_fsck.h"
#include "storage/st_store.h"
#include "tests/helpers.h"

#define RUN(dir, ...) th_run(dir, NULL, NULL, NULL, __VA_ARGS__, NULL)

/* Bytes of all egroup files of the cluster. */
static uint64_t egroup_bytes(const char *dir)
{
	char p[2048];
	uint64_t total = 0;
	DIR *d;
	struct dirent *e;

	snprintf(p, sizeof(p), "%s/disks", dir);
	d = opendir(p);
	while (d && (e = readdir(d))) {
		char q[2400];
		DIR *d2;
		struct dirent *f;
		if (e->d_name[0] == '.')
			continue;
		snprintf(q, sizeof(q), "%s/disks/%s/egroups", dir, e->d_name);
		d2 = opendir(q);
		while (d2 && (f = readdir(d2))) {
			char r[2800];
			struct stat sb;
			snprintf(r, sizeof(r), "%s/%s", q, f->d_name);
			if (f->d_name[0] != '.' && stat(r, &sb) == 0)
				total += (uint64_t)sb.st_size;
		}
		if (d2)
			closedir(d2);
	}
	if (d)
		closedir(d);
	return total;
}

/* A counter of the latest (or given) scan from curator.db. */
static int64_t counter(const char *dir, int64_t scan, const char *name)
{
	char p[2048], q[256];
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	snprintf(p, sizeof(p), "%s/curator.db", dir);
	db = th_curator_db(dir);
	snprintf(q, sizeof(q), "SELECT json_extract(counters, '$.%s') FROM scans WHERE id = %s", name,
		 scan ? "?" : "(SELECT max(id) FROM scans)");
	cr_assert_eq(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	if (scan)
		sqlite3_bind_int64(st, 1, scan);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static char *scan_counters(const char *dir, int64_t scan)
{
	char p[2048];
	sqlite3 *db;
	sqlite3_stmt *st;
	char *s = NULL;

	snprintf(p, sizeof(p), "%s/curator.db", dir);
	db = th_curator_db(dir);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT counters FROM scans WHERE id = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, scan);
	if (sqlite3_step(st) == SQLITE_ROW)
		s = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	cr_assert(s, "scan %lld has no counters", (long long)scan);
	return s;
}

static int64_t pending_tasks(const char *dir)
{
	char p[2048];
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t n = 0;

	snprintf(p, sizeof(p), "%s/curator.db", dir);
	db = th_curator_db(dir);
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM tasks WHERE state IN (0, 1)", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return n;
}

struct model {
	uint8_t *v;   /* the live vdisk */
	uint8_t *s;   /* its snapshot, while it exists */
	uint64_t size;
};

/* The GC scenario's cluster: write, overwrite, snapshot, delete. Returns live bytes. */
static const char *gc_cluster(struct model *m)
{
	const char *dir = th_tmpdir("gc");
	struct st_init_spec spec = { .nodes = 3, .shards = 3 };
	struct st_store *st;
	struct st_container c;
	struct st_msg err;
	uint64_t seed = 5;
	uint8_t *buf;

	m->size = 24 << 20;
	m->v = calloc(1, m->size);
	m->s = NULL;
	buf = malloc(m->size);
	cr_assert_eq(st_disk_spec_parse("ssd:1x256M,hdd:1x256M", &spec, &err), 0);
	cr_assert_eq(st_store_init(dir, &spec, &err), 0, "%s", err.text);
	cr_assert_eq(st_store_open(dir, &st, &err), 0);
	st_container_defaults(&c);
	strcpy(c.name, "c");
	c.rf = 2;
	cr_assert_eq(st_config_container_create(st_store_config(st), &c, &err), 0);
	cr_assert_eq(st_vdisk_create(st, "v", "c", m->size, 0, NULL, &err), 0);
	cr_assert_eq(st_vdisk_create(st, "gone", "c", 8 << 20, 0, NULL, &err), 0);
	th_fill(buf, m->size, 1);
	cr_assert_eq(st_vdisk_pwrite(st, "v", 0, buf, m->size, &err), 0);
	memcpy(m->v, buf, m->size);
	cr_assert_eq(st_vdisk_pwrite(st, "gone", 0, buf, 8 << 20, &err), 0);
	cr_assert_eq(st_vdisk_snapshot(st, "v", "snap", &err), 0, "%s", err.text);
	for (int i = 0; i < 30; i++) { /* overwrite about half, in pieces */
		uint64_t len = 1 + th_rand(&seed) % (1 << 20), off = th_rand(&seed) % (m->size - len);
		th_fill(buf, len, seed++);
		cr_assert_eq(st_vdisk_pwrite(st, "v", off, buf, len, &err), 0);
		memcpy(m->v + off, buf, len);
	}
	cr_assert_eq(st_vdisk_delete(st, "snap", &err), 0);
	cr_assert_eq(st_vdisk_delete(st, "gone", &err), 0);
	st_store_free(st);
	free(buf);
	return dir;
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

Test(job_scan, findings_identical_on_1_2_3_ranks, .timeout = 120)
{
	struct model m;
	const char *dir = gc_cluster(&m);
	const char *args[] = { "scan", "full", "--dry-run", NULL };
	char *c1, *c2, *c3;

	for (int r = 1; r <= 3; r++)
		cr_assert_eq(th_run_ranks(r, dir, args), 0, "scan on %d ranks failed", r);
	c1 = scan_counters(dir, 1);
	c2 = scan_counters(dir, 2);
	c3 = scan_counters(dir, 3);
	cr_assert_str_eq(c1, c2, "2 ranks differ:\n%s\n%s", c1, c2);
	cr_assert_str_eq(c1, c3, "3 ranks differ:\n%s\n%s", c1, c3);
	cr_assert_gt(counter(dir, 1, "dead_extents"), 0);
	cr_assert_eq(pending_tasks(dir), 0, "--dry-run must queue nothing");
	free(c1);
	free(c2);
	free(c3);
	free(m.v);
}

Test(job_scan, gc_reclaims_to_live_bytes_times_rf, .timeout = 180)
{
	struct model m;
	const char *dir = gc_cluster(&m);
	const char *scan[] = { "scan", "full", "--compact-pct", "1", NULL };
	const char *run[] = { "tasks", "run", NULL };
	uint64_t before = egroup_bytes(dir), after, live, egroups;

	for (int round = 0; round < 3; round++) {
		cr_assert_eq(th_run_ranks(round == 1 ? 2 : 1, dir, scan), 0);
		cr_assert_eq(th_run_ranks(round == 2 ? 3 : 1, dir, run), 0);
	}
	after = egroup_bytes(dir);
	/*
	 * Live bytes are the bytes of extents still referenced (an extent
	 * partly overwritten stays whole: GC works per extent). The slack is
	 * a 64-byte header per egroup and 48 bytes per extent.
	 */
	live = (uint64_t)counter(dir, 0, "live_bytes");
	egroups = (uint64_t)counter(dir, 0, "egroups");
	cr_assert_lt(after, before, "nothing reclaimed");
	cr_assert_geq(live, m.size);
	cr_assert_leq(after, 2 * (live + egroups * 64 + (uint64_t)counter(dir, 0, "extents") * 48),
		      "after GC %llu bytes on disk for %llu live bytes x RF2", (unsigned long long)after,
		      (unsigned long long)live);
	cr_assert_eq(counter(dir, 0, "garbage_bytes"), 0);
	cr_assert_eq(counter(dir, 0, "dead_extents"), 0, "dead extents left after three rounds");
	cr_assert_eq(counter(dir, 0, "deleted_vdisk_rows"), 0);
	expect_vdisk(dir, "v", m.v, m.size);
	expect_fsck_clean(dir);
	free(m.v);
}

Test(job_scan, partial_scan_deletes_only_all_zero_egroups, .timeout = 120)
{
	struct model m;
	const char *dir = gc_cluster(&m);
	struct st_store *st;
	struct st_msg err;
	struct st_vdisk gone;
	uint64_t zeroed = 0, gone_id;
	const char *partial[] = { "scan", "partial", NULL };
	const char *run[] = { "tasks", "run", NULL };

	/* zero the recorded refcounts of the deleted vdisk's egroups, as refcount fixes would */
	cr_assert_eq(st_store_open(dir, &st, &err), 0);
	{
		struct st_vdisk *all;
		int n;
		cr_assert_eq(st_config_vdisks(st_store_config(st), 1, &all, &n, &err), 0);
		gone_id = 0;
		for (int i = 0; i < n; i++)
			if (!strcmp(all[i].name, "gone"))
				gone_id = all[i].id;
		free(all);
		cr_assert_neq(gone_id, 0);
	}
	(void)gone;
	for (int s = 0; s < st_meta_nshards(st_store_meta(st)); s++) {
		char p[2048];
		sqlite3 *db;
		sqlite3_stmt *q;
		snprintf(p, sizeof(p), "%s/meta-%d.db", dir, s);
		cr_assert_eq(sqlite3_open(p, &db), SQLITE_OK);
		static uint64_t ids[65536];
		int nids = 0;
		/* the ids first, the statement done: in shared-fs mode (rollback journal) a reader blocks writers */
		cr_assert_eq(sqlite3_prepare_v2(db, "SELECT id FROM egroups", -1, &q, NULL), SQLITE_OK);
		while (sqlite3_step(q) == SQLITE_ROW && nids < 65536)
			ids[nids++] = (uint64_t)sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
		sqlite3_close(db);
		for (int i = 0; i < nids; i++) {
			struct st_egroup_rec g;
			st_egroup_rec_init(&g);
			cr_assert_eq(st_meta_egroup_get(st_store_meta(st), ids[i], &g, &err), 0);
			if (g.owner == gone_id) {
				for (int k = 0; k < g.nextents; k++)
					g.extents[k].refcount = 0;
				cr_assert_eq(st_meta_egroup_put(st_store_meta(st), &g, g.version, &err), 0);
				zeroed++;
			}
			st_egroup_rec_release(&g);
		}
	}
	st_store_free(st);
	cr_assert_gt(zeroed, 0);
	cr_assert_eq(th_run_ranks(2, dir, partial), 0);
	cr_assert_eq(counter(dir, 0, "tasks_egroup_delete"), (int64_t)zeroed, "exactly the all-zero egroups");
	for (int k = 0; k < 8; k++) {
		static const char *other[] = { "tasks_refcount_up", "tasks_refcount_down", "tasks_extent_delete",
					       "tasks_egroup_compact", "tasks_extent_id_delete", "tasks_blocks_delete",
					       "tasks_file_sweep", "refcount_low" };
		cr_assert_eq(counter(dir, 0, other[k]), 0, "%s", other[k]);
	}
	cr_assert_eq(th_run_ranks(1, dir, run), 0);
	expect_vdisk(dir, "v", m.v, m.size);
	free(m.v);
}

/*
 * The GC race: a writer process overwrites, snapshots and deletes while full
 * scans and GC tasks run round after round; it checks every vdisk it still
 * references against its model as it goes and at the end.
 */
static int writer_child(const char *dir, const char *stopfile)
{
	struct st_store *st;
	struct st_msg err;
	enum { SIZE = 4 << 20 };
	uint8_t *model = calloc(1, SIZE), *snap[3] = { 0 }, *buf = malloc(SIZE), *rd = malloc(SIZE);
	char names[3][16];
	int nsnap = 0, seq = 0;
	uint64_t seed = (uint64_t)getpid();
	struct stat sb;

	if (st_store_open(dir, &st, &err))
		return 10;
	while (stat(stopfile, &sb) < 0) {
		uint64_t r = th_rand(&seed) % 100;
		if (r < 60) {
			uint64_t len = 1 + th_rand(&seed) % 300000, off = th_rand(&seed) % (SIZE - len);
			th_fill(buf, len, seed++);
			if (st_vdisk_pwrite(st, "w", off, buf, len, &err))
				return 11;
			memcpy(model + off, buf, len);
		} else if (r < 75 && nsnap < 3) {
			snprintf(names[nsnap], sizeof(names[0]), "w@%d", seq++);
			if (st_vdisk_snapshot(st, "w", names[nsnap], &err)) {
				fprintf(stderr, "snapshot: %s\n", err.text);
				return 12;
			}
			snap[nsnap] = malloc(SIZE);
			memcpy(snap[nsnap++], model, SIZE);
		} else if (r < 90 && nsnap > 0) {
			if (st_vdisk_delete(st, names[0], &err))
				return 13;
			free(snap[0]);
			memmove(snap, snap + 1, sizeof(snap[0]) * 2);
			memmove(names, names + 1, sizeof(names[0]) * 2);
			nsnap--;
		} else {
			struct st_vdisk v;
			if (st_config_vdisk_get(st_store_config(st), "w", &v, &err) || st_vdisk_pread(st, &v, 0, SIZE, rd, &err)) {
				fprintf(stderr, "read: %s\n", err.text);
				return 14;
			}
			if (memcmp(rd, model, SIZE))
				return 15;
			for (int i = 0; i < nsnap; i++) {
				if (st_config_vdisk_get(st_store_config(st), names[i], &v, &err) ||
				    st_vdisk_pread(st, &v, 0, SIZE, rd, &err)) {
					fprintf(stderr, "read snapshot: %s\n", err.text);
					return 16;
				}
				if (memcmp(rd, snap[i], SIZE))
					return 17;
			}
		}
	}
	st_store_free(st);
	return 0;
}

Test(job_scan, gc_race_with_a_writer, .timeout = 600)
{
	const char *dir = th_tmpdir("race");
	const char *env = getenv("CURATOR_GC_RACE_ROUNDS");
	int rounds = env ? atoi(env) : 50;
	char stopfile[2048];
	const char *scan[] = { "scan", "full", "--compact-pct", "10", NULL };
	const char *run[] = { "tasks", "run", NULL };
	pid_t pid;
	int st;

	cr_assert_eq(RUN(dir, "init", "--nodes", "2", "--disks", "ssd:1x1G"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "w", "--container", "c", "--size", "4M", "--block-size", "64K"), 0);
	snprintf(stopfile, sizeof(stopfile), "%s/stop", dir);
	pid = fork();
	if (pid == 0)
		_exit(writer_child(dir, stopfile));
	for (int r = 0; r < rounds; r++) {
		cr_assert_eq(th_run_ranks(r % 3 == 2 ? 2 : 1, dir, scan), 0, "round %d: scan failed", r);
		cr_assert_eq(th_run_ranks(1, dir, run), 0, "round %d: tasks failed", r);
		if (waitpid(pid, &st, WNOHANG) == pid)
			cr_assert_fail("the writer stopped early (status %d) in round %d", WEXITSTATUS(st), r);
	}
	th_write_file(stopfile, "", 0);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the writer lost data or failed: status %d", WEXITSTATUS(st));
	cr_assert_eq(th_run_ranks(1, dir, scan), 0);
	cr_assert_eq(counter(dir, 0, "dangling_references"), 0);
	cr_assert_eq(counter(dir, 0, "refcount_low"), 0);
	expect_fsck_clean(dir);
}

Test(job_scan, killed_task_runner_loses_and_leaks_nothing, .timeout = 300)
{
	struct model m;
	const char *dir = gc_cluster(&m);
	const char *scan[] = { "scan", "full", "--sweep-grace", "0s", NULL };
	const char *run[] = { "tasks", "run", "--sweep-grace", "0s", NULL };
	const char *spawn_args[] = { "tasks", "run", "--sweep-grace", "0s", NULL };
	uint64_t seed = (uint64_t)time(NULL), before = egroup_bytes(dir), after;
	int kills = 0;

	for (int round = 0; round < 6; round++) {
		pid_t pid;
		int st;
		cr_assert_eq(th_run_ranks(1, dir, scan), 0);
		if (pending_tasks(dir) == 0)
			break;
		setenv("CURATOR_TASK_STEP_DELAY_US", "30000", 1);
		pid = th_spawn(dir, NULL, NULL, spawn_args);
		unsetenv("CURATOR_TASK_STEP_DELAY_US");
		usleep((useconds_t)(20000 + th_rand(&seed) % 250000));
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		kills += WIFSIGNALED(st);
		expect_vdisk(dir, "v", m.v, m.size); /* nothing lost, at every point */
	}
	cr_assert_gt(kills, 0, "the runner always finished before the kill");
	/*
	 * The killed runners' in-flight operations hold S0 until their leases
	 * are declared dead: a scan sees their last beats, the next one a TTL
	 * later reaps them (storage/st_lease.h).
	 */
	cr_assert_eq(th_run_ranks(1, dir, scan), 0);
	usleep(TH_LEASE_TTL_US + 300000);
	/* two more scans with their tasks collect whatever the kills left */
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(th_run_ranks(1, dir, scan), 0);
		cr_assert_eq(th_run_ranks(1, dir, run), 0);
	}
	cr_assert_eq(th_run_ranks(1, dir, scan), 0);
	after = egroup_bytes(dir);
	cr_assert_eq(counter(dir, 0, "dead_extents"), 0, "dead extents leaked");
	cr_assert_eq(counter(dir, 0, "orphan_files"), 0, "orphan files leaked");
	cr_assert_eq(counter(dir, 0, "orphan_extent_ids"), 0, "orphan extent-ID rows leaked");
	cr_assert_eq(counter(dir, 0, "dangling_references"), 0);
	cr_assert_lt(after, before);
	expect_vdisk(dir, "v", m.v, m.size);
	expect_fsck_clean(dir);
	free(m.v);
}

Test(job_scan, corrupt_rows_are_reported_not_acted_on, .timeout = 120)
{
	struct model m;
	const char *dir = gc_cluster(&m);
	const char *scan[] = { "scan", "full", "--sweep-grace", "0s", NULL };
	const char *run[] = { "tasks", "run", "--sweep-grace", "0s", NULL };
	uint64_t before;

	for (int s = 0; s < 3; s++) {
		char p[2048];
		sqlite3 *db;
		snprintf(p, sizeof(p), "%s/meta-%d.db", dir, s);
		cr_assert_eq(sqlite3_open(p, &db), SQLITE_OK);
		if (s == 0)
			sqlite3_exec(db, "UPDATE egroups SET rec = x'deadbeef' WHERE id = (SELECT min(id) FROM egroups)", 0, 0, 0);
		if (s == 1)
			sqlite3_exec(db, "UPDATE blocks SET regions = x'4252' WHERE rowid IN (SELECT rowid FROM blocks LIMIT 1)", 0,
				     0, 0);
		sqlite3_exec(db, "UPDATE blocks SET regions = x'4252' WHERE block = (SELECT min(block) FROM blocks)", 0, 0, 0);
		sqlite3_close(db);
	}
	/* and a bit flip in an egroup file, which the scan does not read */
	{
		char cmd[2400];
		snprintf(cmd, sizeof(cmd),
			 "f=$(ls %s/disks/*/egroups/*.eg | head -1); printf '\\x77' | dd of=$f bs=1 seek=5000 conv=notrunc status=none;"
			 " truncate -s 3000 $(ls %s/disks/*/egroups/*.eg | tail -1)",
			 dir, dir);
		cr_assert_eq(system(cmd), 0);
	}
	before = egroup_bytes(dir);
	cr_assert_eq(th_run_ranks(2, dir, scan), 0, "a corrupt row must not fail or crash the scan");
	cr_assert_geq(counter(dir, 0, "corrupt_rows"), 2);
	cr_assert_eq(counter(dir, 0, "short_replicas"), 1, "the truncated egroup file must be reported");
	cr_assert_eq(counter(dir, 0, "dead_extents"), 0, "with a block row unreadable, nothing may be called dead");
	cr_assert_eq(counter(dir, 0, "tasks_file_sweep"), 0, "a corrupt egroup's files are not orphans");
	cr_assert_eq(counter(dir, 0, "tasks_egroup_delete"), 0);
	cr_assert_eq(th_run_ranks(1, dir, run), 0);
	cr_assert_geq(egroup_bytes(dir), before - (8u << 20), "only the deleted vdisk's rows may go");
	free(m.v);
}

/* The partial scan meets a corrupt egroup row: reported, left alone, no crash (it read the missing record). */
Test(job_scan, partial_scan_leaves_a_corrupt_row_alone, .timeout = 120)
{
	struct model m;
	const char *dir = gc_cluster(&m);
	const char *scan[] = { "scan", "partial", NULL };
	char p[2048];
	sqlite3 *db;
	sqlite3_stmt *q;
	int64_t id = 0, tasks = -1;

	snprintf(p, sizeof(p), "%s/meta-0.db", dir);
	cr_assert_eq(sqlite3_open(p, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT min(id) FROM egroups", -1, &q, NULL), SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		id = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	cr_assert_neq(id, 0, "no egroup in shard 0");
	cr_assert_eq(sqlite3_exec(db, "UPDATE egroups SET rec = x'deadbeef' WHERE id = (SELECT min(id) FROM egroups)", 0, 0,
				  0),
		     SQLITE_OK);
	sqlite3_close(db);
	for (int r = 1; r <= 2; r++) {
		cr_assert_eq(th_run_ranks(r, dir, scan), 0, "a corrupt row must not fail or crash the partial scan (%d ranks)",
			     r);
		cr_assert_eq(counter(dir, 0, "corrupt_rows"), 1);
	}
	snprintf(p, sizeof(p), "%s/curator.db", dir);
	db = th_curator_db(dir);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM tasks WHERE target = ?1", -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_int64(q, 1, id);
	if (sqlite3_step(q) == SQLITE_ROW)
		tasks = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	cr_assert_eq(tasks, 0, "a task was queued for the corrupt egroup %llx", (unsigned long long)id);
	free(m.v);
}
