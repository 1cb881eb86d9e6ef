/* The st_store family end to end: writes, overwrites, snapshots, clones and reads in RF 1, 2 and 3. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/storage/st_store_th.h"

/*
 * The end-to-end scenario: random writes, overwrites, snapshots, clones in
 * containers of RF 1, 2 and 3; every byte of every vdisk checked against a
 * model after each step.
 */
Test(st_store, end_to_end_rf1_rf2_rf3, .timeout = 120)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 3, "ssd:1x256M,hdd:1x512M");
	struct st_msg err;
	enum { SIZE = 24 << 20 };
	uint64_t seed = 1234;

	for (int rf = 1; rf <= 3; rf++) {
		char cn[16], vn[16], sn[16], cl[16];
		uint8_t *model = calloc(1, SIZE), *snapm = malloc(SIZE), *clonem = malloc(SIZE);
		uint8_t *data = malloc(SIZE);

		snprintf(cn, sizeof(cn), "rf%d", rf);
		snprintf(vn, sizeof(vn), "v%d", rf);
		snprintf(sn, sizeof(sn), "v%d-snap", rf);
		snprintf(cl, sizeof(cl), "v%d-clone", rf);
		container(st, cn, rf);
		cr_assert_eq(st_vdisk_create(st, vn, cn, SIZE, rf == 2 ? 65536 : 0, NULL, &err), 0, "%s", err.text);
		/* a large sequential write, then scattered overwrites of every size */
		th_fill(data, SIZE, seed++);
		cr_assert_eq(st_vdisk_pwrite(st, vn, 0, data, SIZE - 12345, &err), 0, "%s", err.text);
		memcpy(model, data, SIZE - 12345);
		for (int i = 0; i < 40; i++) {
			uint64_t len = 1 + th_rand(&seed) % (i % 4 == 0 ? 3 << 20 : 9000);
			uint64_t off = th_rand(&seed) % (SIZE - len);
			th_fill(data, len, seed++);
			cr_assert_eq(st_vdisk_pwrite(st, vn, off, data, len, &err), 0, "%s", err.text);
			memcpy(model + off, data, len);
		}
		expect_read(st, vn, model, SIZE);
		cr_assert_eq(st_vdisk_snapshot(st, vn, sn, &err), 0, "%s", err.text);
		memcpy(snapm, model, SIZE);
		for (int i = 0; i < 10; i++) {
			uint64_t len = 1 + th_rand(&seed) % 200000, off = th_rand(&seed) % (SIZE - len);
			th_fill(data, len, seed++);
			cr_assert_eq(st_vdisk_pwrite(st, vn, off, data, len, &err), 0, "%s", err.text);
			memcpy(model + off, data, len);
		}
		cr_assert_eq(st_vdisk_pwrite(st, sn, 0, data, 10, &err), ST_EREADONLY);
		cr_assert_eq(st_vdisk_clone(st, sn, cl, &err), 0, "%s", err.text);
		memcpy(clonem, snapm, SIZE);
		for (int i = 0; i < 10; i++) {
			uint64_t len = 1 + th_rand(&seed) % 200000, off = th_rand(&seed) % (SIZE - len);
			th_fill(data, len, seed++);
			cr_assert_eq(st_vdisk_pwrite(st, cl, off, data, len, &err), 0, "%s", err.text);
			memcpy(clonem + off, data, len);
		}
		expect_read(st, vn, model, SIZE);
		expect_read(st, sn, snapm, SIZE);
		expect_read(st, cl, clonem, SIZE);
		cr_assert_eq(st_vdisk_delete(st, vn, &err), 0);
		expect_read(st, sn, snapm, SIZE);
		expect_read(st, cl, clonem, SIZE);
		free(model);
		free(snapm);
		free(clonem);
		free(data);
	}
	fsck_clean(st);
	/* reopen: everything is durable in the files */
	st_store_free(st);
	cr_assert_eq(st_store_open(dir, &st, &err), 0);
	fsck_clean(st);
	st_store_free(st);
	st_rm_rf(dir);
}

/* Run a shell command (printf-style); its exit status must be 0. */
static void sh(const char *fmt, const char *a, const char *b)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), fmt, a, b);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* Opening must fail with rc and a message holding `why`; then the shard is put back from keep. */
static void refused(const char *dir, const char *keep, int rc, const char *why)
{
	struct st_store *st = NULL;
	struct st_msg err = { "" };

	cr_assert_eq(st_store_open(dir, &st, &err), rc, "expected %d (%s), got: %s", rc, why, err.text);
	cr_assert(strstr(err.text, why), "'%s' does not say '%s'", err.text, why);
	sh("cp %s/meta-1.db %s/meta-1.db", keep, dir);
}

/*
 * A shard that is empty, truncated, another shard, another cluster's, or of
 * another format is refused, never re-created empty; a missing one too. The
 * cluster opens again once the shard is back, with every byte.
 */
Test(st_store, damaged_or_foreign_shards_are_refused_not_recreated, .timeout = 60)
{
	const char *dir, *other;
	struct st_store *st = cluster(&dir, 3, "ssd:1x256M"), *o;
	struct st_msg err;
	uint8_t *data = malloc(1 << 20), *back = malloc(1 << 20);
	const char *keep = th_tmpdir("keep");

	container(st, "c", 2);
	cr_assert_eq(st_vdisk_create(st, "v", "c", 4 << 20, 0, NULL, &err), 0, "%s", err.text);
	th_fill(data, sizeof(data), 7);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(st_vdisk_pwrite(st, "v", (uint64_t)i << 20, data, 1 << 20, &err), 0, "%s", err.text);
	st_store_free(st);
	sh("cp %s/meta-1.db %s/", dir, keep);
	sh(": > %s/meta-1.db%s", dir, "");
	refused(dir, keep, ST_ECORRUPT, "empty or truncated");
	sh("truncate -s 300 %s/meta-1.db%s", dir, "");
	refused(dir, keep, ST_ECORRUPT, "empty or truncated");
	sh("truncate -s 5000 %s/meta-1.db%s", dir, "");
	refused(dir, keep, ST_ECORRUPT, "not a metadata shard (sqlite: database disk image is malformed)");
	sh("cp %s/meta-0.db %s/meta-1.db", dir, dir);
	refused(dir, keep, ST_ECORRUPT, "holds shard 0 of 3, expected 1 of 3");
	sh("sqlite3 %s/meta-1.db 'UPDATE shard SET format = 1'%s", dir, "");
	refused(dir, keep, ST_ECORRUPT, "shard format 1");
	sh("sqlite3 %s/meta-1.db 'DROP TABLE shard'%s", dir, "");
	refused(dir, keep, ST_ECORRUPT, "no such table");
	sh("rm %s/meta-1.db%s", dir, "");
	refused(dir, keep, ST_ENOTCLUSTER, "missing metadata shard");
	o = cluster(&other, 3, "ssd:1x256M");
	st_store_free(o);
	sh("cp %s/meta-1.db %s/meta-1.db", other, dir);
	refused(dir, keep, ST_ECORRUPT, "belongs to another cluster");
	cr_assert_eq(st_store_open(dir, &st, &err), 0, "%s", err.text);
	{
		struct st_vdisk v;
		cr_assert_eq(st_config_vdisk_get(st_store_config(st), "v", &v, &err), 0, "%s", err.text);
		for (int i = 0; i < 4; i++) {
			cr_assert_eq(st_vdisk_pread(st, &v, (uint64_t)i << 20, 1 << 20, back, &err), 0, "%s", err.text);
			cr_assert_eq(memcmp(back, data, 1 << 20), 0);
		}
	}
	st_store_free(st);
	free(data);
	free(back);
}

/* A cluster of an older format is refused with a message that says so. */
Test(st_store, older_cluster_format_is_refused, .timeout = 30)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 1, "ssd:1x64M");
	struct st_msg err;

	st_store_free(st);
	sh("sqlite3 %s/config.db \"UPDATE cluster SET value = 1 WHERE key = 'format'\"%s", dir, "");
	cr_assert_eq(st_store_open(dir, &st, &err), ST_ECORRUPT);
	cr_assert(strstr(err.text, "cluster format 1, this curator reads format 2 only"), "%s", err.text);
}

/* 2 bytes at offset 18 of a SQLite file: 1,1 rollback journal; 2,2 WAL. */
static int sqlite_wal(const char *path)
{
	unsigned char h[20] = { 0 };
	FILE *f = fopen(path, "rb");

	cr_assert(f, "%s", path);
	cr_assert_eq(fread(h, 1, 20, f), 20);
	fclose(f);
	return h[18] == 2;
}

/*
 * Shared-storage mode (init --shared-fs, CURATOR_SHARED_FS=1 or a network
 * file system): every file of the cluster is a rollback-journal database,
 * recorded in config.db, and a process that opens and writes the cluster
 * keeps it so (no WAL file appears); a local cluster is WAL.
 */
Test(st_store, shared_fs_mode_is_recorded_and_applied, .timeout = 60)
{
	const char *env = getenv("CURATOR_SHARED_FS");
	int forced = env && !strcmp(env, "1");

	for (int shared = 0; shared <= 1; shared++) {
		struct st_init_spec spec = { .nodes = 2, .shards = 2, .shared_fs = shared };
		const char *dir = th_tmpdir(shared ? "shared" : "local");
		struct st_store *st;
		struct st_msg err;
		char p[4200], v[16];
		uint8_t buf[8192];
		int want = shared || forced;

		cr_assert_eq(st_disk_spec_parse("ssd:1x64M", &spec, &err), 0);
		cr_assert_eq(st_store_init(dir, &spec, &err), 0, "%s", err.text);
		cr_assert_eq(st_store_open(dir, &st, &err), 0, "%s", err.text);
		cr_assert_eq(st_config_shared(st_store_config(st)), want);
		cr_assert_eq(st_config_setting_get(st_store_config(st), "journal", v, sizeof(v), &err), 0);
		cr_assert_str_eq(v, want ? "delete" : "wal");
		container(st, "c", 1);
		cr_assert_eq(st_vdisk_create(st, "v", "c", 1 << 20, 4096, NULL, &err), 0, "%s", err.text);
		th_fill(buf, sizeof(buf), 3);
		cr_assert_eq(st_vdisk_pwrite(st, "v", 0, buf, sizeof(buf), &err), 0, "%s", err.text);
		snprintf(p, sizeof(p), "%s/config.db", dir);
		cr_assert_eq(sqlite_wal(p), !want, "config.db");
		for (int i = 0; i < 2; i++) {
			snprintf(p, sizeof(p), "%s/meta-%d.db", dir, i);
			cr_assert_eq(sqlite_wal(p), !want, "meta-%d.db", i);
			snprintf(p, sizeof(p), "%s/meta-%d.db-wal", dir, i);
			cr_assert_eq(access(p, F_OK) == 0, !want, "meta-%d.db-wal", i);
		}
		st_store_free(st);
		st_rm_rf(dir);
	}
}
