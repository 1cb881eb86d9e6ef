/* st_read: bad and missing replicas skipped and counted, unwritten ranges, range and name checks. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <unistd.h>

#include "storage/st_egroup.h"
#include "storage/st_store_int.h"
#include "tests/storage/st_store_th.h"

/*
 * A 2-node RF2 cluster holding vdisk v (*v) of 2 MiB filled with th_fill
 * seed `seed` (its bytes in buf), reopened so nothing is cached; the
 * store, its directory in *dir.
 */
static struct st_store *two_copies(const char **dir, struct st_vdisk *v, uint8_t *buf, int seed)
{
	struct st_store *st = cluster(dir, 2, "ssd:1x64M");
	struct st_msg err;

	container(st, "c", 2);
	cr_assert_eq(st_vdisk_create(st, "v", "c", 2 << 20, 0, v, &err), 0);
	th_fill(buf, 2 << 20, seed);
	cr_assert_eq(st_vdisk_pwrite(st, "v", 0, buf, 2 << 20, &err), 0);
	st_store_free(st);
	cr_assert_eq(st_store_open(*dir, &st, &err), 0);
	return st;
}

/* Corrupt or remove replica files; reads skip to a good copy and count. */
Test(st_read, bad_replica_is_skipped_and_counted)
{
	const char *dir;
	struct st_msg err;
	struct st_store_stats s;
	struct st_vdisk v;
	struct st_disk d1, d2;
	char path[1200], cmd[1400];
	uint8_t *buf = malloc(2 << 20), *out = malloc(2 << 20);
	struct st_store *st = two_copies(&dir, &v, buf, 3);

	cr_assert_eq(st_config_disk_get(st_store_config(st), 1, &d1, &err), 0);
	cr_assert_eq(st_config_disk_get(st_store_config(st), 2, &d2, &err), 0);
	/* flip a byte in the middle of every replica file on disk 1 */
	snprintf(cmd, sizeof(cmd),
		 "for f in %s/egroups/*.eg; do printf '\\x55' | dd of=$f bs=1 seek=100000 conv=notrunc status=none; done",
		 d1.path);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(st_vdisk_pread(st, &v, 0, 2 << 20, out, &err), 0, "%s", err.text);
	cr_assert_eq(memcmp(buf, out, 2 << 20), 0);
	st_store_stats(st, &s);
	cr_assert_geq(s.bad_replicas, 1);
	/* and now the other copy is gone too: a clear error, not bad data */
	snprintf(cmd, sizeof(cmd), "rm -f %s/egroups/*.eg", d2.path);
	cr_assert_eq(system(cmd), 0);
	st_store_free(st);
	cr_assert_eq(st_store_open(dir, &st, &err), 0);
	int rc = st_vdisk_pread(st, &v, 0, 2 << 20, out, &err);
	cr_assert_eq(rc, ST_EIO, "rc %d", rc);
	cr_assert(strstr(err.text, "no replica"), "%s", err.text);
	(void)path;
	free(buf);
	free(out);
	st_store_free(st);
	st_rm_rf(dir);
}

/*
 * A replica file replaced under a cached fd (a repaired copy renamed over
 * it) while the old file went bad: a whole-extent read (its CRC checked
 * afterwards) reads the old bytes through the cached fd, fails, and is read
 * again through a fresh open: right bytes, and no bad replica counted
 * against the good copies now on disk.
 */
Test(st_read, a_replaced_replica_file_is_read_afresh_not_counted_bad)
{
	const char *dir;
	struct st_msg err;
	struct st_store_stats s;
	struct st_vdisk v;
	struct st_disk d1, d2;
	char cmd[2800];
	uint8_t *buf = malloc(2 << 20), *out = malloc(2 << 20);
	struct st_store *st = two_copies(&dir, &v, buf, 5);

	cr_assert_eq(st_vdisk_pread(st, &v, 0, 2 << 20, out, &err), 0, "%s", err.text); /* the fds cached */
	cr_assert_eq(st_config_disk_get(st_store_config(st), 1, &d1, &err), 0);
	cr_assert_eq(st_config_disk_get(st_store_config(st), 2, &d2, &err), 0);
	/* every replica: a good copy aside, the file itself (the cached fds' inode) flipped, the copy renamed over it */
	snprintf(cmd, sizeof(cmd),
		 "for f in %s/egroups/*.eg %s/egroups/*.eg; do cp $f $f.new && "
		 "printf '\\x55' | dd of=$f bs=1 seek=100000 conv=notrunc status=none && mv $f.new $f || exit 1; done",
		 d1.path, d2.path);
	cr_assert_eq(system(cmd), 0);
	st_store_stats(st, &s);
	uint64_t bad = s.bad_replicas;
	memset(out, 0, 2 << 20);
	cr_assert_eq(st_vdisk_pread(st, &v, 0, 2 << 20, out, &err), 0, "%s", err.text);
	cr_assert_eq(memcmp(buf, out, 2 << 20), 0);
	st_store_stats(st, &s);
	cr_assert_eq(s.bad_replicas, bad, "%llu bad replicas counted against good copies",
		     (unsigned long long)(s.bad_replicas - bad));
	free(buf);
	free(out);
	st_store_free(st);
	st_rm_rf(dir);
}

Test(st_read, unwritten_reads_zero_and_ranges_checked)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 1, "hdd:1x64M");
	struct st_msg err;
	struct st_vdisk v;
	uint8_t buf[10000], z[10000] = { 0 };

	container(st, "c", 1);
	cr_assert_eq(st_vdisk_create(st, "v", "c", 1000000, 4096, &v, &err), 0);
	memset(buf, 0xaa, sizeof(buf));
	cr_assert_eq(st_vdisk_pread(st, &v, 5000, sizeof(buf), buf, &err), 0);
	cr_assert_eq(memcmp(buf, z, sizeof(buf)), 0);
	cr_assert_eq(st_vdisk_pread(st, &v, 999999, 2, buf, &err), ST_ERANGE);
	cr_assert_eq(st_vdisk_pwrite(st, "v", 999999, buf, 2, &err), ST_ERANGE);
	cr_assert_eq(st_vdisk_pwrite(st, "nope", 0, buf, 2, &err), ST_ENOTFOUND);
	cr_assert_eq(st_vdisk_create(st, "v", "c", 10, 0, NULL, &err), ST_EEXIST);
	cr_assert_eq(st_vdisk_create(st, "w", "nope", 10, 0, NULL, &err), ST_ENOTFOUND);
	cr_assert_eq(st_vdisk_create(st, "w", "c", 10, 3000, NULL, &err), ST_EINVAL);
	cr_assert_eq(st_vdisk_delete(st, "v", &err), 0);
	cr_assert_eq(st_vdisk_pwrite(st, "v", 0, buf, 2, &err), ST_ENOTFOUND);
	st_store_free(st);
	st_rm_rf(dir);
}

/*
 * A handle that read a vdisk keeps its metadata read-ahead; another handle
 * (another controller, a CLI write) then writes the vdisk: the first one's
 * next read returns the new bytes, never the old ones its window named.
 */
Test(st_read, read_ahead_sees_other_handles_commits)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 1, "ssd:1x64M"), *other;
	struct st_msg err;
	struct st_vdisk v;
	uint8_t *a = malloc(4 << 20), *b = malloc(4 << 20), *out = malloc(4 << 20);

	container(st, "c", 1);
	cr_assert_eq(st_vdisk_create(st, "v", "c", 4 << 20, 0, &v, &err), 0);
	th_fill(a, 4 << 20, 5);
	th_fill(b, 4 << 20, 6);
	cr_assert_eq(st_vdisk_pwrite(st, "v", 0, a, 4 << 20, &err), 0, "%s", err.text);
	st_store_free(st);
	cr_assert_eq(st_store_open(dir, &st, &err), 0, "%s", err.text);
	cr_assert_eq(st_store_open(dir, &other, &err), 0, "%s", err.text);
	cr_assert_eq(st_vdisk_pread(st, &v, 0, 4096, out, &err), 0, "%s", err.text); /* fills the window */
	cr_assert_eq(memcmp(out, a, 4096), 0);
	cr_assert_eq(st_vdisk_pwrite(other, "v", 0, b, 4 << 20, &err), 0, "%s", err.text);
	cr_assert_eq(st_vdisk_pread(st, &v, 1 << 20, 4096, out, &err), 0, "%s", err.text);
	cr_assert_eq(memcmp(out, b + (1 << 20), 4096), 0, "a read through the old read-ahead returned old bytes");
	cr_assert_eq(st_vdisk_pread(st, &v, 0, 4 << 20, out, &err), 0, "%s", err.text);
	cr_assert_eq(memcmp(out, b, 4 << 20), 0);
	st_store_free(other);
	st_store_free(st);
	free(a);
	free(b);
	free(out);
	st_rm_rf(dir);
}

/* Open fds of this process (entries of /proc/self/fd but the one reading it). */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

/* 200 egroup files, 0x1000.., under disk path p. */
static void make_files(const char *p)
{
	for (int i = 0; i < 200; i++) {
		char path[ST_PATH_MAX + 64], sub[ST_PATH_MAX + 80];
		cr_assert_eq(st_egroup_path(p, 0x1000 + (uint64_t)i, path, sizeof(path)), 0);
		snprintf(sub, sizeof(sub), "mkdir -p $(dirname %s)", path);
		if (i == 0)
			cr_assert_eq(system(sub), 0);
		cr_assert_eq(th_write_file(path, "x", 1), 0, "%s", path);
	}
}

/*
 * The replica fd cache: resized for a controller it keeps hundreds of
 * files open (a second pass opens none, each egroup's fd stays the same),
 * forgets one file on request, closes the fds of deleted files when swept,
 * and at the default size holds at most 32.
 */
Test(st_read, fd_cache_holds_what_it_is_sized_for)
{
	const char *dir = th_tmpdir("fdcache");
	struct st_disk d = { .id = 3 };
	struct st_fdcache c;
	char cmd[ST_PATH_MAX + 64];
	int fds[200], base;

	snprintf(d.path, sizeof(d.path), "%s", dir);
	make_files(d.path);
	base = open_fds();
	st_fdcache_init(&c);
	cr_assert_eq(st_fdcache_resize(&c, 300), 0);
	cr_assert_geq((size_t)c.nsets * ST_FD_WAYS, 300);
	for (int i = 0; i < 200; i++) {
		fds[i] = st_fdcache_get(&c, 0x1000 + (uint64_t)i, &d);
		cr_assert_geq(fds[i], 0, "egroup %d: %s", i, strerror(-fds[i]));
	}
	cr_assert_leq(open_fds() - base, 200);
	cr_assert_geq(open_fds() - base, 150, "a cache of %u slots kept only %d of 200 files", c.nsets * ST_FD_WAYS,
		      open_fds() - base);
	/* the files deleted: a second pass reads through the cached fds alone, nothing reopened */
	snprintf(cmd, sizeof(cmd), "rm -rf %s/egroups", dir);
	cr_assert_eq(system(cmd), 0);
	int hits = 0, hit = -1;
	for (int i = 0; i < 200; i++)
		if (st_fdcache_get(&c, 0x1000 + (uint64_t)i, &d) == fds[i]) {
			hits++;
			hit = hit < 0 ? i : hit;
		}
	cr_assert_geq(hits, 150, "the second pass found only %d of 200 files cached", hits);
	int before = open_fds();
	st_fdcache_forget(&c, 0x1000 + (uint64_t)hit, d.id);
	cr_assert_eq(open_fds(), before - 1, "forget did not close the file's fd");
	/* deleted files are let go of by the sweep, their space given back */
	st_fdcache_sweep(&c);
	cr_assert_eq(open_fds(), base, "the sweep left fds of deleted files open");
	st_fdcache_release(&c);
	cr_assert_eq(st_fdcache_resize(&c, 0), 0); /* back to the default: the inline slots */
	cr_assert_eq(c.slots, c.inl);
	cr_assert_eq(open_fds(), base, "release left files open: %d, not %d", open_fds(), base);
	make_files(d.path);
	for (int i = 0; i < 200; i++)
		cr_assert_geq(st_fdcache_get(&c, 0x1000 + (uint64_t)i, &d), 0);
	cr_assert_leq(open_fds() - base, ST_FD_SLOTS);
	st_fdcache_release(&c);
	cr_assert_eq(open_fds(), base);
}
