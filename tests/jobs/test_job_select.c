/*
 * The selective scan (jobs/job_select.c) against real processes: deleting
 * vdisks at the ends and in the middle of snapshot and clone chains frees
 * exactly the egroups nobody live references (each also dead to the full
 * scan), keeps every byte the live vdisks read, gives the same tasks on 1
 * and 2 ranks and leaves fsck clean; a writer that writes, snapshots,
 * clones and deletes along chains while selective scans and their tasks
 * run round after round never loses a byte it references.
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
#define MB (1u << 20)

/* Bytes of every egroup file of the cluster. */
static long long egroup_bytes(const char *dir)
{
	return th_sh_number("find %s/disks -path '*/egroups/*' -type f -printf '%%s\\n' | awk '{s+=$1} END {print s+0}'",
			    dir);
}

/* A counter of the latest scan. */
static long long counter(const char *dir, const char *name)
{
	return th_sh_number("sqlite3 %s/curator.db \"SELECT json_extract(counters, '$.%s') FROM scans WHERE id ="
			    " (SELECT max(id) FROM scans)\"",
			    dir, name);
}

static void expect_vdisk(struct st_store *st, const char *name, const uint8_t *model, uint64_t size)
{
	struct st_vdisk v;
	struct st_msg err;
	uint8_t *buf = malloc(size);

	cr_assert_eq(st_config_vdisk_get(st_store_config(st), name, &v, &err), 0, "%s", err.text);
	cr_assert_eq(st_vdisk_pread(st, &v, 0, size, buf, &err), 0, "%s: %s", name, err.text);
	cr_assert_eq(memcmp(buf, model, size), 0, "vdisk %s lost bytes", name);
	free(buf);
}

static void expect_fsck_clean(const char *dir)
{
	char *out = NULL;
	int rc = th_run(dir, NULL, &out, NULL, "fsck", "--quiet", NULL);
	cr_assert_eq(rc, 0, "fsck: %s", out);
	free(out);
}

/* Write len bytes of seed at off into vdisk name and its model. */
static void put(struct st_store *st, const char *name, uint8_t *model, uint64_t off, size_t len, uint64_t seed)
{
	struct st_msg err;
	uint8_t *buf = malloc(len);

	th_fill(buf, len, seed);
	cr_assert_eq(st_vdisk_pwrite(st, name, off, buf, len, &err), 0, "%s", err.text);
	memcpy(model + off, buf, len);
	free(buf);
}

/* The sorted egroup_delete targets of a --dry-run scan of kind on `ranks` ranks, one per line (malloc'd). */
static char *deletes_of(const char *dir, const char *kind, int ranks)
{
	char out[2048], cmd[4400];
	const char *args[] = { "scan", kind, "--dry-run", "--tasks-out", out, NULL };
	size_t n;
	char *s;

	snprintf(out, sizeof(out), "%s/tasks-%s-%d", dir, kind, ranks);
	cr_assert_eq(th_run_ranks(ranks, dir, args), 0, "scan %s on %d ranks", kind, ranks);
	snprintf(cmd, sizeof(cmd), "grep '^egroup_delete ' %s | cut -d' ' -f2 | sort > %s.sorted", out, out);
	cr_assert_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s.sorted", out);
	s = th_read_file(cmd, &n);
	cr_assert(s);
	return s;
}

/* Is every line of a also a line of b? */
static int lines_within(const char *a, const char *b)
{
	const char *p = a;

	while (*p) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		const char *q = b;
		int found = 0;
		while (*q && !found) {
			const char *f = strchr(q, '\n');
			size_t l2 = f ? (size_t)(f - q) : strlen(q);
			found = l2 == len && !memcmp(p, q, len);
			q = f ? f + 1 : q + l2;
		}
		if (!found)
			return 0;
		p = e ? e + 1 : p + len;
	}
	return 1;
}

Test(job_select, frees_deleted_vdisks_keeps_shared_data_and_agrees_with_full, .timeout = 300)
{
	const char *dir = th_tmpdir("sel");
	const char *sel[] = { "scan", "selective", NULL }, *run[] = { "tasks", "run", NULL };
	enum { SZ = 16 << 20 };
	uint8_t *a = calloc(1, 32 << 20), *b = calloc(1, SZ), *b1 = malloc(SZ), *c = malloc(SZ), *c1 = malloc(SZ);
	struct st_store *st;
	struct st_msg err;
	long long before, after;
	char *s1, *s2, *full;

	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "ssd:1x1G", "--shards", "3"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2"), 0);
	cr_assert_eq(st_store_open(dir, &st, &err), 0);
	cr_assert_eq(st_vdisk_create(st, "a", "c", 32 << 20, 0, NULL, &err), 0);
	cr_assert_eq(st_vdisk_create(st, "b", "c", SZ, 0, NULL, &err), 0);
	put(st, "a", a, 0, 32 << 20, 1);
	/* b -> b@1 (snapshot) -> c (clone) -> c@1 (snapshot); b and c overwrite parts after each copy */
	put(st, "b", b, 0, SZ, 2);
	cr_assert_eq(st_vdisk_snapshot(st, "b", "b@1", &err), 0, "%s", err.text);
	memcpy(b1, b, SZ);
	put(st, "b", b, 4 * MB, 8 * MB, 3);
	cr_assert_eq(st_vdisk_clone(st, "b@1", "c", &err), 0, "%s", err.text);
	memcpy(c, b1, SZ);
	put(st, "c", c, 10 * MB, 3 * MB, 4);
	cr_assert_eq(st_vdisk_snapshot(st, "c", "c@1", &err), 0, "%s", err.text);
	memcpy(c1, c, SZ);
	put(st, "c", c, 0, 2 * MB, 5);
	st_store_free(st);
	cr_assert_eq(RUN(dir, "scan", "full"), 0); /* the safety rule: what was written is older than S0 from now on */
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);

	/* a (no copies) and b (its snapshot and the clone of that stay) go; b@1 goes too, in the middle of the chain */
	cr_assert_eq(RUN(dir, "vdisk", "delete", "a"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "delete", "b"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "delete", "b@1"), 0);
	s1 = deletes_of(dir, "selective", 1);
	s2 = deletes_of(dir, "selective", 2);
	full = deletes_of(dir, "full", 1);
	cr_assert_str_eq(s1, s2, "the selective scan's tasks depend on the rank count");
	cr_assert(strlen(s1) > 0, "the selective scan found nothing to free");
	cr_assert(lines_within(s1, full), "the selective scan deletes an egroup the full scan keeps:\n%s\nfull:\n%s", s1,
		  full);
	before = egroup_bytes(dir);
	cr_assert_eq(th_run_ranks(2, dir, sel), 0);
	cr_assert_eq(counter(dir, "deleted_vdisks"), 3);
	cr_assert_gt(counter(dir, "selective_kept"), 0, "b's first write is shared with c and c@1: kept");
	cr_assert_eq(th_run_ranks(1, dir, run), 0);
	after = egroup_bytes(dir);
	/* a alone is 32 MiB x RF 2 */
	cr_assert_geq(before - after, 64ll << 20, "freed %lld of %lld bytes", before - after, before);
	cr_assert_eq(st_store_open(dir, &st, &err), 0);
	expect_vdisk(st, "c", c, SZ);
	expect_vdisk(st, "c@1", c1, SZ);
	st_store_free(st);
	expect_fsck_clean(dir);
	/* the rest is the full scan's; after it, the live bytes are all that is left */
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	expect_fsck_clean(dir);
	/* now c@1 and c go: nothing live is left of b's chain, and the selective scan frees it all */
	cr_assert_eq(RUN(dir, "vdisk", "delete", "c@1"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "delete", "c"), 0);
	cr_assert_eq(th_run_ranks(1, dir, sel), 0);
	cr_assert_eq(counter(dir, "selective_kept"), 0);
	cr_assert_eq(th_run_ranks(1, dir, run), 0);
	cr_assert_eq(egroup_bytes(dir), 0, "%lld bytes left after every vdisk was deleted", egroup_bytes(dir));
	expect_fsck_clean(dir);
	free(s1);
	free(s2);
	free(full);
	free(a);
	free(b);
	free(b1);
	free(c);
	free(c1);
}

/*
 * The GC race with chains: a writer writes w, snapshots it, clones the
 * snapshots, writes the clones, and deletes snapshots and clones (the
 * middle of a chain too) while selective scans and their tasks run round
 * after round on 1 and 2 ranks; it checks every vdisk it still holds
 * against its model as it goes and at the end.
 */
enum { W_SIZE = 2 << 20, W_MAX = 6 };

struct wv {
	char name[24];
	uint8_t *model;
	int writable;
};

static int writer_child(const char *dir, const char *stopfile)
{
	struct st_store *st;
	struct st_msg err;
	struct wv v[W_MAX + 1];
	uint8_t *buf = malloc(W_SIZE), *rd = malloc(W_SIZE);
	int n = 1, seq = 0;
	uint64_t seed = (uint64_t)getpid();
	struct stat sb;

	if (st_store_open(dir, &st, &err))
		return 10;
	snprintf(v[0].name, sizeof(v[0].name), "w");
	v[0].model = calloc(1, W_SIZE);
	v[0].writable = 1;
	while (stat(stopfile, &sb) < 0) {
		uint64_t r = th_rand(&seed) % 100;
		int i = (int)(th_rand(&seed) % (uint64_t)n);
		if (r < 50 && v[i].writable) {
			uint64_t len = 1 + th_rand(&seed) % 200000, off = th_rand(&seed) % (W_SIZE - len);
			th_fill(buf, len, seed++);
			if (st_vdisk_pwrite(st, v[i].name, off, buf, len, &err))
				return 11;
			memcpy(v[i].model + off, buf, len);
		} else if (r < 70 && n < W_MAX) { /* a snapshot of a writable one, a clone of a snapshot */
			struct wv *nv = &v[n];
			snprintf(nv->name, sizeof(nv->name), "%s%d", v[i].writable ? "s" : "k", seq++);
			if (v[i].writable ? st_vdisk_snapshot(st, v[i].name, nv->name, &err)
					  : st_vdisk_clone(st, v[i].name, nv->name, &err)) {
				fprintf(stderr, "copy: %s\n", err.text);
				return 12;
			}
			nv->model = malloc(W_SIZE);
			memcpy(nv->model, v[i].model, W_SIZE);
			nv->writable = !v[i].writable;
			n++;
		} else if (r < 85 && i > 0) { /* anything but w, chains' middles included */
			if (st_vdisk_delete(st, v[i].name, &err))
				return 13;
			free(v[i].model);
			v[i] = v[--n];
		} else {
			for (int k = 0; k < n; k++) {
				struct st_vdisk x;
				if (st_config_vdisk_get(st_store_config(st), v[k].name, &x, &err) ||
				    st_vdisk_pread(st, &x, 0, W_SIZE, rd, &err)) {
					fprintf(stderr, "read %s: %s\n", v[k].name, err.text);
					return 14;
				}
				if (memcmp(rd, v[k].model, W_SIZE)) {
					fprintf(stderr, "vdisk %s lost bytes\n", v[k].name);
					return 15;
				}
			}
		}
	}
	for (int k = 0; k < n; k++) {
		struct st_vdisk x;
		if (st_config_vdisk_get(st_store_config(st), v[k].name, &x, &err) ||
		    st_vdisk_pread(st, &x, 0, W_SIZE, rd, &err) || memcmp(rd, v[k].model, W_SIZE)) {
			fprintf(stderr, "at the end, vdisk %s: %s\n", v[k].name, err.text);
			return 16;
		}
	}
	st_store_free(st);
	return 0;
}

Test(job_select, gc_race_with_snapshot_and_clone_chains, .timeout = 600)
{
	const char *dir = th_tmpdir("selrace");
	const char *env = getenv("CURATOR_GC_RACE_ROUNDS");
	int rounds = env ? atoi(env) : 30;
	char stopfile[2048];
	const char *sel[] = { "scan", "selective", NULL }, *full[] = { "scan", "full", NULL };
	const char *run[] = { "tasks", "run", NULL };
	pid_t pid;
	int st;

	cr_assert_eq(RUN(dir, "init", "--nodes", "2", "--disks", "ssd:1x1G"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "w", "--container", "c", "--size", "2M", "--block-size", "64K"), 0);
	snprintf(stopfile, sizeof(stopfile), "%s/stop", dir);
	pid = fork();
	if (pid == 0)
		_exit(writer_child(dir, stopfile));
	for (int r = 0; r < rounds; r++) {
		cr_assert_eq(th_run_ranks(r % 2 ? 2 : 1, dir, r % 10 == 9 ? full : sel), 0, "round %d: scan failed", r);
		cr_assert_eq(th_run_ranks(1, dir, run), 0, "round %d: tasks failed", r);
		if (waitpid(pid, &st, WNOHANG) == pid)
			cr_assert_fail("the writer stopped early (status %d) in round %d", WEXITSTATUS(st), r);
	}
	th_write_file(stopfile, "", 0);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the writer lost data or failed: status %d", WEXITSTATUS(st));
	cr_assert_eq(th_run_ranks(1, dir, sel), 0);
	cr_assert_eq(th_run_ranks(1, dir, run), 0);
	expect_fsck_clean(dir);
	cr_assert_eq(th_run_ranks(1, dir, full), 0);
	cr_assert_eq(counter(dir, "dangling_references"), 0);
	cr_assert_eq(counter(dir, "refcount_low"), 0);
	expect_fsck_clean(dir);
}
