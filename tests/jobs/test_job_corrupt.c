/*
 * Corrupt metadata never becomes deleted data or wrong bytes (issue 16).
 * Each test damages what one decision trusts - with a valid checksum where
 * a crafted row is the threat, with a broken one where a flipped bit is -
 * then runs full and partial scans with every task on the real binary,
 * puts the damaged row back, and reads every byte of the vdisk again.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/st_store.h"
#include "tests/helpers.h"

#define SIZE (8u << 20)

struct fix {
	const char *dir;
	uint8_t *model;
	struct st_extent_id x; /* the extent of block 0 of v */
	uint64_t g;            /* its egroup */
	uint64_t other;        /* another egroup of the cluster */
};

static int other_cb(void *arg, int rc_row, uint64_t id, const struct st_egroup_rec *r)
{
	struct fix *f = arg;
	(void)r;
	if (!rc_row && id != f->g && !f->other)
		f->other = id;
	return 0;
}

/* v (8 MiB, RF 2) with a snapshot, 2 MiB overwritten, and a deleted vdisk: GC has work. */
static void setup(struct fix *f)
{
	struct st_init_spec spec = { .nodes = 3, .shards = 2 };
	struct st_store *st;
	struct st_container c;
	struct st_msg err;
	struct st_block b;
	uint8_t *buf = malloc(SIZE);

	memset(f, 0, sizeof(*f));
	f->dir = th_tmpdir("corrupt");
	f->model = malloc(SIZE);
	cr_assert_eq(st_disk_spec_parse("ssd:1x256M", &spec, &err), 0);
	cr_assert_eq(st_store_init(f->dir, &spec, &err), 0, "%s", err.text);
	cr_assert_eq(st_store_open(f->dir, &st, &err), 0, "%s", err.text);
	st_container_defaults(&c);
	strcpy(c.name, "c");
	c.rf = 2;
	cr_assert_eq(st_config_container_create(st_store_config(st), &c, &err), 0, "%s", err.text);
	cr_assert_eq(st_vdisk_create(st, "v", "c", SIZE, 0, NULL, &err), 0, "%s", err.text);
	cr_assert_eq(st_vdisk_create(st, "gone", "c", SIZE, 0, NULL, &err), 0, "%s", err.text);
	th_fill(buf, SIZE, 11);
	cr_assert_eq(st_vdisk_pwrite(st, "v", 0, buf, SIZE, &err), 0, "%s", err.text);
	cr_assert_eq(st_vdisk_pwrite(st, "gone", 0, buf, SIZE, &err), 0, "%s", err.text);
	cr_assert_eq(st_vdisk_snapshot(st, "v", "snap", &err), 0, "%s", err.text);
	memcpy(f->model, buf, SIZE);
	th_fill(buf, 2u << 20, 12);
	cr_assert_eq(st_vdisk_pwrite(st, "v", 3u << 20, buf, 2u << 20, &err), 0, "%s", err.text);
	memcpy(f->model + (3u << 20), buf, 2u << 20);
	cr_assert_eq(st_vdisk_delete(st, "snap", &err), 0, "%s", err.text);
	cr_assert_eq(st_vdisk_delete(st, "gone", &err), 0, "%s", err.text);
	{
		struct st_vdisk v;
		cr_assert_eq(st_config_vdisk_get(st_store_config(st), "v", &v, &err), 0);
		cr_assert_eq(st_meta_block_get(st_store_meta(st), v.id, 0, &b, &err), 0, "%s", err.text);
	}
	f->x = b.r[0].extent;
	cr_assert_eq(st_meta_extent_get(st_store_meta(st), &f->x, &f->g, &err), 0, "%s", err.text);
	for (int s = 0; s < st_meta_nshards(st_store_meta(st)); s++)
		st_meta_scan_egroups(st_store_meta(st), s, other_cb, f, &err);
	cr_assert_neq(f->other, 0);
	st_store_free(st);
	free(buf);
}

/* Full and partial scans with all their tasks, twice. */
static void cycles(const char *dir)
{
	for (int i = 0; i < 2; i++) {
		th_run(dir, NULL, NULL, NULL, "scan", "full", "--sweep-grace", "0s", NULL);
		th_run(dir, NULL, NULL, NULL, "tasks", "run", "--sweep-grace", "0s", NULL);
		th_run(dir, NULL, NULL, NULL, "scan", "partial", NULL);
		th_run(dir, NULL, NULL, NULL, "tasks", "run", "--sweep-grace", "0s", NULL);
	}
}

/* Every byte of v is the model's. */
static void expect_v(const struct fix *f)
{
	struct st_store *st;
	struct st_vdisk v;
	struct st_msg err;
	uint8_t *buf = malloc(SIZE);

	cr_assert_eq(st_store_open(f->dir, &st, &err), 0, "%s", err.text);
	cr_assert_eq(st_config_vdisk_get(st_store_config(st), "v", &v, &err), 0, "%s", err.text);
	cr_assert_eq(st_vdisk_pread(st, &v, 0, SIZE, buf, &err), 0, "data lost: %s", err.text);
	cr_assert_eq(memcmp(buf, f->model, SIZE), 0, "wrong bytes");
	st_store_free(st);
	free(buf);
}

/* `vdisk read v` fails with one clear line, or gives the right bytes. */
static void read_is_right_or_refused(const struct fix *f)
{
	char *out = NULL, *errs = NULL, path[2048];
	size_t len = 0;
	uint8_t *got;
	int rc;

	snprintf(path, sizeof(path), "%s/out.bin", f->dir);
	rc = th_run(f->dir, NULL, &out, &errs, "vdisk", "read", "v", "--output", path, NULL);
	if (rc) {
		cr_assert(rc == 1 || rc == 2, "exit %d: %s", rc, errs);
		cr_assert(errs && !strncmp(errs, "curator: ", 9) && strchr(errs, '\n') == errs + strlen(errs) - 1,
			  "not one clear line: %s", errs);
	} else {
		got = th_read_file(path, &len);
		cr_assert_eq(len, SIZE);
		cr_assert_eq(memcmp(got, f->model, SIZE), 0, "wrong bytes with exit 0");
		free(got);
	}
	free(out);
	free(errs);
}

static int64_t counter(const char *dir, const char *name)
{
	return th_sh_number("sqlite3 %s/curator.db \"SELECT json_extract(counters, '$.%s') FROM scans"
			    " WHERE id = (SELECT max(id) FROM scans WHERE kind = 'full')\"", dir, name);
}

/* Run SQL on the shard holding egroup g's rows (egroups, strips, fingerprints). */
static void shard_sql(const struct fix *f, int shard, const char *sql)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "sqlite3 %s/meta-%d.db \"%s\"", f->dir, shard, sql);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static int eg_shard(const struct fix *f, uint64_t id)
{
	struct st_store *st;
	struct st_msg err;
	int s;

	cr_assert_eq(st_store_open(f->dir, &st, &err), 0, "%s", err.text);
	s = st_meta_shard_egroup(st_store_meta(st), id);
	st_store_free(st);
	return s;
}

/* An extent-ID row pointed at another egroup, with a valid checksum: the real egroup stays. */
Test(corrupt, extent_id_row_pointed_at_another_egroup, .timeout = 240)
{
	struct fix f;
	struct st_store *st;
	struct st_msg err;

	setup(&f);
	cr_assert_eq(st_store_open(f.dir, &st, &err), 0);
	cr_assert_eq(st_meta_extent_put(st_store_meta(st), &f.x, f.other, &err), 0);
	st_store_free(st);
	read_is_right_or_refused(&f);
	cycles(f.dir);
	cr_assert_gt(counter(f.dir, "dangling_references"), 0);
	cr_assert_eq(st_store_open(f.dir, &st, &err), 0);
	cr_assert_eq(st_meta_extent_put(st_store_meta(st), &f.x, f.g, &err), 0);
	st_store_free(st);
	expect_v(&f);
	free(f.model);
}

/* An extent-ID row whose id is 3 bytes: a corrupt row, nothing it could point to is collected. */
Test(corrupt, extent_id_row_of_three_bytes, .timeout = 240)
{
	struct fix f;
	struct st_store *st;
	struct st_msg err;
	char sql[512], hex[64];
	int s;

	setup(&f);
	cr_assert_eq(st_store_open(f.dir, &st, &err), 0);
	s = st_meta_shard_extent(st_store_meta(st), &f.x);
	st_store_free(st);
	for (int i = 0; i < ST_EXTENT_ID_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", f.x.b[i]);
	snprintf(sql, sizeof(sql), "UPDATE extents SET id = x'010203' WHERE id = x'%s'", hex);
	shard_sql(&f, s, sql);
	read_is_right_or_refused(&f);
	cycles(f.dir);
	cr_assert_gt(counter(f.dir, "corrupt_rows"), 0);
	snprintf(sql, sizeof(sql), "UPDATE extents SET id = x'%s' WHERE id = x'010203'", hex);
	shard_sql(&f, s, sql);
	expect_v(&f);
	free(f.model);
}

/* Replace egroup g's row by r (valid checksum, written through the library's own CAS). */
static void put_row(const struct fix *f, struct st_egroup_rec *r)
{
	struct st_store *st;
	struct st_msg err;

	cr_assert_eq(st_store_open(f->dir, &st, &err), 0);
	cr_assert_eq(st_meta_egroup_put(st_store_meta(st), r, r->version, &err), 0, "%s", err.text);
	st_store_free(st);
}

static void get_row(const struct fix *f, uint64_t id, struct st_egroup_rec *r)
{
	struct st_store *st;
	struct st_msg err;

	st_egroup_rec_init(r);
	cr_assert_eq(st_store_open(f->dir, &st, &err), 0);
	cr_assert_eq(st_meta_egroup_get(st_store_meta(st), id, r, &err), 0, "%s", err.text);
	st_store_free(st);
}

/*
 * A row naming disk 9999 (valid checksum): the full scan calls it corrupt
 * and sweeps none of its files; the copy on the real disk is not lost
 * (the partial scan's protection may re-replicate from it, which mends the row).
 */
Test(corrupt, replica_on_a_disk_that_does_not_exist, .timeout = 240)
{
	struct fix f;
	struct st_egroup_rec r;

	setup(&f);
	get_row(&f, f.g, &r);
	r.replicas[0].disk = 9999;
	put_row(&f, &r);
	st_egroup_rec_release(&r);
	th_run(f.dir, NULL, NULL, NULL, "scan", "full", "--sweep-grace", "0s", NULL);
	cr_assert_gt(counter(f.dir, "corrupt_rows"), 0);
	cr_assert_gt(counter(f.dir, "gc_held_tasks"), 0, "nothing is collected while a row cannot be right");
	th_run(f.dir, NULL, NULL, NULL, "tasks", "run", "--sweep-grace", "0s", NULL);
	expect_v(&f);
	cycles(f.dir);
	expect_v(&f);
	cr_assert_eq(th_run(f.dir, NULL, NULL, NULL, "fsck", "--quiet", NULL), 0);
	free(f.model);
}

/*
 * Every recorded refcount of a live egroup set to 0 (valid checksum): the
 * partial scan's delete is refused by the executor's own lookups, the full
 * scan raises them again.
 */
Test(corrupt, all_refcounts_zero_in_a_live_egroup, .timeout = 240)
{
	struct fix f;
	struct st_egroup_rec r;

	setup(&f);
	get_row(&f, f.g, &r);
	for (int k = 0; k < r.nextents; k++)
		r.extents[k].refcount = 0;
	put_row(&f, &r);
	st_egroup_rec_release(&r);
	th_run(f.dir, NULL, NULL, NULL, "scan", "partial", NULL);
	th_run(f.dir, NULL, NULL, NULL, "tasks", "run", NULL);
	get_row(&f, f.g, &r); /* still there */
	st_egroup_rec_release(&r);
	expect_v(&f);
	cycles(f.dir);
	get_row(&f, f.g, &r);
	for (int k = 0; k < r.nextents; k++)
		if (!memcmp(r.extents[k].id.b, f.x.b, ST_EXTENT_ID_LEN))
			cr_assert_geq(r.extents[k].refcount, 1, "the full scan raises the refcount again");
	st_egroup_rec_release(&r);
	expect_v(&f);
	free(f.model);
}

/*
 * Patch bytes of egroup g's record blob and give it a valid checksum again
 * (crafted): off, the bytes, their count. The old blob goes to *old (hex).
 */
static void craft_egroup(const struct fix *f, size_t off, const void *bytes, size_t n, char **old)
{
	char cmd[4096], *hex;
	size_t len;
	uint8_t *blob, *raw;
	int s = eg_shard(f, f->g);
	long long lrs = th_sh_number("sqlite3 %s/meta-%d.db 'SELECT last_ref_seq FROM egroups WHERE id = %lld'", f->dir, s,
				     (long long)f->g);
	uint8_t key[16];
	uint32_t crc;

	snprintf(cmd, sizeof(cmd), "sqlite3 %s/meta-%d.db \"SELECT writefile('%s/blob', rec) FROM egroups WHERE id = %lld\"",
		 f->dir, s, f->dir, (long long)f->g);
	cr_assert_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/blob", f->dir);
	blob = th_read_file(cmd, &len);
	cr_assert_not_null(blob);
	raw = malloc(len);
	memcpy(raw, blob, len);
	hex = malloc(2 * len + 1);
	for (size_t i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	*old = hex;
	memcpy(blob + off, bytes, n);
	st_put64(key, f->g);
	st_put64(key + 8, (uint64_t)lrs);
	crc = st_crc32c_update(st_crc32c(key, 16), blob, len - 4);
	st_put32(blob + len - 4, crc);
	cr_assert_eq(th_write_file(cmd, blob, len), 0);
	snprintf(cmd, sizeof(cmd), "sqlite3 %s/meta-%d.db \"UPDATE egroups SET rec = readfile('%s/blob') WHERE id = %lld\"",
		 f->dir, s, f->dir, (long long)f->g);
	cr_assert_eq(system(cmd), 0);
	free(blob);
	free(raw);
}

static void restore_egroup(const struct fix *f, const char *hex)
{
	char *sql = malloc(strlen(hex) + 256);

	sprintf(sql, "UPDATE egroups SET rec = x'%s' WHERE id = %llu", hex, (unsigned long long)f->g);
	shard_sql(f, eg_shard(f, f->g), sql);
	free(sql);
}

/* Flags 0xFFFFFFFF and a stored length past every buffer, with valid checksums: refused, never acted on. */
Test(corrupt, crafted_egroup_rows_with_valid_checksums, .timeout = 300)
{
	static const struct {
		size_t off;
		uint32_t v;
	} cases[] = {
		{ 8, 0xffffffffu },           /* flags */
		{ 80 + 8 * 2 + 28, 0xfffffff0u }, /* the first extent's stored length (RF 2: two replicas) */
	};
	struct fix f;

	setup(&f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *old;
		uint8_t b[4];
		st_put32(b, cases[i].v);
		craft_egroup(&f, cases[i].off, b, 4, &old);
		read_is_right_or_refused(&f);
		cr_assert_neq(th_run(f.dir, NULL, NULL, NULL, "fsck", "--quiet", NULL), 0, "fsck must report case %zu", i);
		cycles(f.dir);
		cr_assert_gt(counter(f.dir, "corrupt_rows"), 0);
		restore_egroup(&f, old);
		free(old);
		expect_v(&f);
	}
	free(f.model);
}

/* A block row moved to block -5, and a crafted region outside its block: refused reads, not zeros. */
Test(corrupt, block_rows_moved_or_crafted, .timeout = 300)
{
	struct fix f;
	struct st_store *st;
	struct st_vdisk v;
	struct st_msg err;
	char sql[512];
	int s;

	setup(&f);
	cr_assert_eq(st_store_open(f.dir, &st, &err), 0);
	cr_assert_eq(st_config_vdisk_get(st_store_config(st), "v", &v, &err), 0);
	s = st_meta_shard_block(st_store_meta(st), v.id, 0);
	st_store_free(st);
	snprintf(sql, sizeof(sql), "UPDATE blocks SET block = -5 WHERE vdisk = %llu AND block = 0",
		 (unsigned long long)v.id);
	shard_sql(&f, s, sql);
	read_is_right_or_refused(&f);
	cr_assert_neq(th_run(f.dir, NULL, NULL, NULL, "vdisk", "read", "v", "--length", "1M", "--output", "/dev/null", NULL),
		      0, "a moved row must not read as zeros");
	cycles(f.dir);
	snprintf(sql, sizeof(sql), "UPDATE blocks SET block = 0 WHERE vdisk = %llu AND block = -5",
		 (unsigned long long)v.id);
	shard_sql(&f, s, sql);
	expect_v(&f);
	{ /* block 1's first region moved to 0xFFFFFF00, its checksum made valid */
		char cmd[4096], path[2048], *hex;
		size_t len;
		uint8_t *blob, key[16];
		snprintf(path, sizeof(path), "%s/blk", f.dir);
		cr_assert_eq(st_store_open(f.dir, &st, &err), 0);
		s = st_meta_shard_block(st_store_meta(st), v.id, 1);
		st_store_free(st);
		snprintf(cmd, sizeof(cmd),
			 "sqlite3 %s/meta-%d.db \"SELECT writefile('%s', regions) FROM blocks WHERE vdisk = %llu AND block = 1\"",
			 f.dir, s, path, (unsigned long long)v.id);
		cr_assert_eq(system(cmd), 0);
		blob = th_read_file(path, &len);
		cr_assert(blob && len >= 48);
		hex = malloc(2 * len + 1);
		for (size_t i = 0; i < len; i++)
			snprintf(hex + 2 * i, 3, "%02x", blob[i]);
		st_put32(blob + 4, 0xffffff00u);
		st_put64(key, v.id);
		st_put64(key + 8, 1);
		st_put32(blob + len - 4, st_crc32c_update(st_crc32c(key, 16), blob, len - 4));
		cr_assert_eq(th_write_file(path, blob, len), 0);
		snprintf(cmd, sizeof(cmd),
			 "sqlite3 %s/meta-%d.db \"UPDATE blocks SET regions = readfile('%s') WHERE vdisk = %llu AND block = 1\"",
			 f.dir, s, path, (unsigned long long)v.id);
		cr_assert_eq(system(cmd), 0);
		read_is_right_or_refused(&f);
		cr_assert_neq(th_run(f.dir, NULL, NULL, NULL, "vdisk", "read", "v", "--output", "/dev/null", NULL), 0);
		cr_assert_neq(th_run(f.dir, NULL, NULL, NULL, "fsck", "--quiet", NULL), 0);
		cycles(f.dir);
		snprintf(cmd, sizeof(cmd), "sqlite3 %s/meta-%d.db \"UPDATE blocks SET regions = x'%s' WHERE vdisk = %llu AND block = 1\"",
			 f.dir, s, hex, (unsigned long long)v.id);
		cr_assert_eq(system(cmd), 0);
		free(hex);
		free(blob);
		expect_v(&f);
	}
	free(f.model);
}

/* 40 random bytes flipped in a shard: reads give the right bytes or a clear error, and fsck says so. */
Test(corrupt, random_bytes_flipped_in_a_shard, .timeout = 300)
{
	struct fix f;
	char cmd[4096];
	uint64_t seed = 77;
	long long size, lo[64], hi[64];
	int nr = 0;

	setup(&f);
	snprintf(cmd, sizeof(cmd), "cp %s/meta-0.db %s/meta-0.keep && rm -f %s/meta-0.db-wal %s/meta-0.db-shm", f.dir, f.dir,
		 f.dir, f.dir);
	cr_assert_eq(system(cmd), 0);
	size = th_sh_number("stat -c %%s %s/meta-0.db", f.dir);
	cr_assert_gt(size, 8192);
	/*
	 * Into the rows: the cell content of the leaf pages of the three maps
	 * (SQLite's dbstat: a page's cells fill its end, after its unused
	 * space). Bytes flipped in pages no row lives in (free space, the
	 * replica index, the change log) damage nothing a decision trusts,
	 * and then the scans rightly collect the garbage: restoring the old
	 * shard after that would undo their repointing, not test them.
	 */
	{
		FILE *p;
		snprintf(cmd, sizeof(cmd), "sqlite3 %s/meta-0.db \"SELECT pgoffset + 8 + 2 * ncell + unused, pgoffset + pgsize"
			 " FROM dbstat WHERE name IN ('egroups', 'blocks', 'extents') AND pagetype = 'leaf' AND ncell > 0\"",
			 f.dir);
		p = popen(cmd, "r");
		cr_assert(p);
		while (nr < 64 && fscanf(p, "%lld|%lld", &lo[nr], &hi[nr]) == 2)
			nr += hi[nr] > lo[nr];
		pclose(p);
		cr_assert_gt(nr, 0, "no row pages in meta-0.db");
	}
	for (int i = 0; i < 40; i++) {
		int k = (int)(th_rand(&seed) % (uint64_t)nr);
		long long at = lo[k] + (long long)(th_rand(&seed) % (uint64_t)(hi[k] - lo[k]));
		snprintf(cmd, sizeof(cmd), "printf '\\x%02x' | dd of=%s/meta-0.db bs=1 seek=%lld conv=notrunc status=none",
			 (unsigned)(th_rand(&seed) & 0xff), f.dir, at);
		cr_assert_eq(system(cmd), 0);
	}
	read_is_right_or_refused(&f);
	cycles(f.dir);
	snprintf(cmd, sizeof(cmd), "cp %s/meta-0.keep %s/meta-0.db && rm -f %s/meta-0.db-wal %s/meta-0.db-shm", f.dir, f.dir,
		 f.dir, f.dir);
	cr_assert_eq(system(cmd), 0);
	expect_v(&f);
	free(f.model);
}

/* rf = 0 in the container row: the scan fails with the reason and queues nothing. */
Test(corrupt, container_rf_zero, .timeout = 120)
{
	struct fix f;
	char cmd[2048], *errs = NULL;

	setup(&f);
	snprintf(cmd, sizeof(cmd), "sqlite3 %s/config.db 'UPDATE containers SET rf = 0'", f.dir);
	cr_assert_eq(system(cmd), 0);
	cr_assert_neq(th_run(f.dir, NULL, NULL, &errs, "scan", "full", NULL), 0);
	cr_assert(errs && strstr(errs, "--rf 0"), "%s", errs);
	free(errs);
	cr_assert_eq(th_sh_number("sqlite3 %s %s/curator.db 'SELECT count(*) FROM tasks WHERE state = 0' 2>/dev/null"
				  " || echo 0",
				  th_queue_cmds(f.dir), f.dir),
		     0);
	snprintf(cmd, sizeof(cmd), "sqlite3 %s/config.db 'UPDATE containers SET rf = 2'", f.dir);
	cr_assert_eq(system(cmd), 0);
	expect_v(&f);
	free(f.model);
}

/* A vdisk's deletion is two fields: its state flipped alone makes its row corrupt, and nothing of it goes. */
Test(corrupt, vdisk_state_flipped_alone, .timeout = 120)
{
	struct fix f;
	char cmd[2048], *errs = NULL;

	setup(&f);
	snprintf(cmd, sizeof(cmd), "sqlite3 %s/config.db \"UPDATE vdisks SET state = 1 WHERE name = 'v'\"", f.dir);
	cr_assert_eq(system(cmd), 0);
	cr_assert_neq(th_run(f.dir, NULL, NULL, &errs, "scan", "full", "--sweep-grace", "0s", NULL), 0);
	cr_assert(errs && strstr(errs, "corrupt vdisk row"), "%s", errs);
	free(errs);
	th_run(f.dir, NULL, NULL, NULL, "tasks", "run", "--sweep-grace", "0s", NULL);
	snprintf(cmd, sizeof(cmd), "sqlite3 %s/config.db \"UPDATE vdisks SET state = 0 WHERE name = 'v'\"", f.dir);
	cr_assert_eq(system(cmd), 0);
	expect_v(&f);
	free(f.model);
}

/*
 * A recorded refcount below its references holds every deletion in its
 * egroup: the egroup's dead extents stay until the refcount is raised, and
 * go in a later cycle.
 */
Test(corrupt, refcount_below_references_holds_its_egroup, .timeout = 240)
{
	struct fix f;
	struct st_egroup_rec r;
	int k0 = -1, n0;

	setup(&f);
	{ /* block 1 overwritten: its old extent, beside block 0's in egroup g, is dead */
		struct st_store *st;
		struct st_msg err;
		uint8_t *buf = malloc(1u << 20);
		th_fill(buf, 1u << 20, 13);
		cr_assert_eq(st_store_open(f.dir, &st, &err), 0);
		cr_assert_eq(st_vdisk_pwrite(st, "v", 1u << 20, buf, 1u << 20, &err), 0, "%s", err.text);
		st_store_free(st);
		memcpy(f.model + (1u << 20), buf, 1u << 20);
		free(buf);
	}
	get_row(&f, f.g, &r);
	n0 = r.nextents;
	for (int k = 0; k < r.nextents; k++)
		if (!memcmp(r.extents[k].id.b, f.x.b, ST_EXTENT_ID_LEN))
			k0 = k;
	cr_assert_geq(k0, 0);
	r.extents[k0].refcount = 0; /* v references it: below its references */
	put_row(&f, &r);
	st_egroup_rec_release(&r);
	th_run(f.dir, NULL, NULL, NULL, "scan", "full", "--sweep-grace", "0s", NULL);
	cr_assert_gt(counter(f.dir, "refcount_low"), 0);
	cr_assert_gt(counter(f.dir, "gc_held_tasks"), 0, "egroup g also holds block 1's overwritten extent");
	th_run(f.dir, NULL, NULL, NULL, "tasks", "run", "--sweep-grace", "0s", NULL);
	get_row(&f, f.g, &r);
	cr_assert_eq(r.nextents, n0, "nothing left the egroup while its refcount was low");
	for (int k = 0; k < r.nextents; k++)
		if (!memcmp(r.extents[k].id.b, f.x.b, ST_EXTENT_ID_LEN))
			cr_assert_geq(r.extents[k].refcount, 1, "raised");
	st_egroup_rec_release(&r);
	cycles(f.dir);
	expect_v(&f);
	cr_assert_eq(th_run(f.dir, NULL, NULL, NULL, "fsck", "--quiet", NULL), 0);
	free(f.model);
}
