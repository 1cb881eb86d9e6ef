#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

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
