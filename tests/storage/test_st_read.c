/* st_read: bad and missing replicas skipped and counted, unwritten ranges, range and name checks. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/storage/st_store_th.h"

/* Corrupt or remove replica files; reads skip to a good copy and count. */
Test(st_read, bad_replica_is_skipped_and_counted)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 2, "ssd:1x64M");
	struct st_msg err;
	struct st_store_stats s;
	struct st_vdisk v;
	struct st_disk d1, d2;
	char path[1200], cmd[1400];
	uint8_t *buf = malloc(2 << 20), *out = malloc(2 << 20);

	container(st, "c", 2);
	cr_assert_eq(st_vdisk_create(st, "v", "c", 2 << 20, 0, &v, &err), 0);
	th_fill(buf, 2 << 20, 3);
	cr_assert_eq(st_vdisk_pwrite(st, "v", 0, buf, 2 << 20, &err), 0);
	st_store_free(st);
	cr_assert_eq(st_store_open(dir, &st, &err), 0);
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
