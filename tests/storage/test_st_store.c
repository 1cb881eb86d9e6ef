#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "storage/st_egroup.h"
#include "storage/st_fsck.h"
#include "storage/st_rewrite.h"
#include "storage/st_store.h"
#include "tests/helpers.h"

static struct st_store *cluster(const char **dir, int nodes, const char *disks)
{
	struct st_init_spec spec = { .nodes = nodes, .shards = 3 };
	struct st_store *st;
	struct st_msg err;

	*dir = th_tmpdir("store");
	cr_assert_eq(st_disk_spec_parse(disks, &spec, &err), 0, "%s", err.text);
	cr_assert_eq(st_store_init(*dir, &spec, &err), 0, "%s", err.text);
	cr_assert_eq(st_store_open(*dir, &st, &err), 0, "%s", err.text);
	return st;
}

static void container(struct st_store *st, const char *name, int rf)
{
	struct st_container c;
	struct st_msg err;

	st_container_defaults(&c);
	snprintf(c.name, sizeof(c.name), "%s", name);
	c.rf = rf;
	cr_assert_eq(st_config_container_create(st_store_config(st), &c, &err), 0, "%s", err.text);
}

static void expect_read(struct st_store *st, const char *name, const uint8_t *model, uint64_t size)
{
	struct st_vdisk v;
	struct st_msg err;
	uint8_t *buf = malloc(size);

	cr_assert_eq(st_config_vdisk_get(st_store_config(st), name, &v, &err), 0, "%s", err.text);
	cr_assert_eq(st_vdisk_pread(st, &v, 0, size, buf, &err), 0, "%s: %s", name, err.text);
	for (uint64_t i = 0; i < size; i++)
		if (buf[i] != model[i])
			cr_assert_fail("vdisk %s: byte %llu differs", name, (unsigned long long)i);
	free(buf);
}

static void fsck_clean(struct st_store *st)
{
	struct st_fsck_report r;
	struct st_msg err;

	cr_assert_eq(st_fsck_run(st, NULL, NULL, &r, &err), 0, "%s", err.text);
	cr_assert_eq(r.violations, 0, "fsck found %llu violations", (unsigned long long)r.violations);
}

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

static int egroup_cb(void *arg, int rc_row, uint64_t id, const struct st_egroup_rec *r)
{
	struct st_store *st = arg;
	uint32_t nodes[ST_REPLICAS_MAX];

	cr_assert_eq(rc_row, 0);
	for (int i = 0; i < r->nreplicas; i++) {
		struct st_disk d;
		cr_assert_eq(st_config_disk_get(st_store_config(st), r->replicas[i].disk, &d, NULL), 0);
		nodes[i] = d.node;
		for (int k = 0; k < i; k++)
			cr_assert_neq(nodes[k], nodes[i], "egroup %llx has two replicas on node %u", (unsigned long long)id,
				      d.node);
	}
	for (int i = 0; i < r->nextents; i++)
		cr_assert_geq(r->extents[i].refcount, 1);
	return 0;
}

Test(st_store, replicas_on_distinct_nodes_and_policy_errors)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 3, "ssd:2x64M");
	struct st_msg err;
	uint8_t *buf = malloc(8 << 20);

	container(st, "c3", 3);
	cr_assert_eq(st_vdisk_create(st, "v", "c3", 32 << 20, 0, NULL, &err), 0);
	th_fill(buf, 8 << 20, 5);
	cr_assert_eq(st_vdisk_pwrite(st, "v", 0, buf, 8 << 20, &err), 0, "%s", err.text);
	for (int s = 0; s < st_meta_nshards(st_store_meta(st)); s++)
		cr_assert_eq(st_meta_scan_egroups(st_store_meta(st), s, egroup_cb, st, &err), 0);
	/* a node down: RF 3 cannot be met on 2 nodes, and nothing is lost */
	cr_assert_eq(st_config_node_set(st_store_config(st), 2, 0, &err), 0);
	cr_assert_eq(st_vdisk_pwrite(st, "v", 16 << 20, buf, 4 << 20, &err), ST_EPOLICY);
	cr_assert(strstr(err.text, "RF 3"), "%s", err.text);
	cr_assert_eq(st_config_node_set(st_store_config(st), 2, 1, &err), 0);
	uint8_t *model = calloc(1, 32 << 20);
	memcpy(model, buf, 8 << 20);
	expect_read(st, "v", model, 32 << 20);
	free(model);
	free(buf);
	st_store_free(st);
	st_rm_rf(dir);
}

Test(st_store, full_tier_spills_down_then_errors_without_loss, .timeout = 60)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 2, "ssd:1x16M,hdd:1x24M");
	struct st_msg err;
	struct st_disk *d;
	int nd;
	uint64_t done = 0, hdd = 0;
	uint8_t *buf = malloc(4 << 20), *model = calloc(1, 64 << 20);
	int rc = 0;

	container(st, "c", 2);
	cr_assert_eq(st_vdisk_create(st, "v", "c", 64 << 20, 0, NULL, &err), 0);
	while (done < (64 << 20)) {
		th_fill(buf, 4 << 20, done);
		rc = st_vdisk_pwrite(st, "v", done, buf, 4 << 20, &err);
		if (rc)
			break;
		memcpy(model + done, buf, 4 << 20);
		done += 4 << 20;
	}
	cr_assert_eq(rc, ST_ENOSPACE, "rc %d: %s", rc, err.text);
	cr_assert(strstr(err.text, "no tier has room"), "%s", err.text);
	cr_assert_geq(done, 24 << 20, "the hdd tier was not used");
	cr_assert_eq(st_config_disks(st_store_config(st), &d, &nd, &err), 0);
	for (int i = 0; i < nd; i++) {
		cr_assert_leq(d[i].used, d[i].capacity);
		if (d[i].tier == ST_TIER_HDD)
			hdd += d[i].used;
	}
	cr_assert_gt(hdd, 0);
	free(d);
	expect_read(st, "v", model, 64 << 20);
	fsck_clean(st);
	free(buf);
	free(model);
	st_store_free(st);
	st_rm_rf(dir);
}

/* Corrupt or remove replica files; reads skip to a good copy and count. */
Test(st_store, bad_replica_is_skipped_and_counted)
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

Test(st_store, unwritten_reads_zero_and_ranges_checked)
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

/* Many small writes into one block: the region list stays bounded. */
Test(st_store, fragmented_block_is_rewritten, .timeout = 60)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 1, "hdd:1x256M");
	struct st_msg err;
	enum { BS = 65536 };
	uint8_t model[BS] = { 0 }, b[64];
	uint64_t seed = 9;

	container(st, "c", 1);
	cr_assert_eq(st_vdisk_create(st, "v", "c", BS, BS, NULL, &err), 0);
	for (int i = 0; i < 400; i++) {
		uint64_t off = (uint64_t)(i * 97 % (BS / 64)) * 64 + 3;
		th_fill(b, 50, seed++);
		cr_assert_eq(st_vdisk_pwrite(st, "v", off, b, 50, &err), 0, "write %d: %s", i, err.text);
		memcpy(model + off, b, 50);
	}
	expect_read(st, "v", model, BS);
	fsck_clean(st);
	st_store_free(st);
	st_rm_rf(dir);
}

/* The first len bytes of a file, read plainly (the oracle), malloc'd. */
static uint8_t *file_head(const char *path, size_t len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = malloc(len);

	cr_assert(f && b && fread(b, 1, len, f) == len, "%s", path);
	fclose(f);
	return b;
}

/* Every egroup's image through st_egroup_image_read, checked against the file's own bytes. */
struct img_ctx {
	struct st_store *st;
	int egroups, corrupt, unaligned;
};

static int img_cb(void *arg, int rc_row, uint64_t id, const struct st_egroup_rec *g)
{
	struct img_ctx *c = arg;
	char (*paths)[ST_EGROUP_PATH_MAX] = calloc(ST_REPLICAS_MAX, sizeof(*paths));
	size_t cap = ((size_t)g->used + 4095) & ~(size_t)4095;
	uint8_t *want = NULL, *got = aligned_alloc(4096, cap), *buffered = aligned_alloc(4096, cap);
	int n;

	(void)id;
	cr_assert_eq(rc_row, 0);
	n = st_store_egroup_paths(c->st, g, paths, ST_REPLICAS_MAX);
	cr_assert_eq(n, g->nreplicas);
	for (int k = 0; k < n; k++) {
		free(want);
		want = file_head(paths[k], g->used);
		cr_assert_eq(st_egroup_image_read(paths[k], g, got, 1), 0, "%s", paths[k]);
		cr_assert_eq(memcmp(got, want, g->used), 0);
		cr_assert_eq(st_egroup_image_read(paths[k], g, buffered, 0), 0, "%s", paths[k]);
		cr_assert_eq(memcmp(buffered, want, g->used), 0);
	}
	if (c->corrupt == 0) { /* a flipped bit in one copy, then that copy short: the other still reads */
		char cmd[1400];
		snprintf(cmd, sizeof(cmd), "printf '\\x55' | dd of=%s bs=1 seek=%u conv=notrunc status=none", paths[0],
			 g->used / 2);
		cr_assert_eq(system(cmd), 0);
		cr_assert_eq(st_egroup_image_read(paths[0], g, got, 1), ST_ECORRUPT);
		cr_assert_eq(st_egroup_image_read(paths[0], g, buffered, 0), ST_ECORRUPT);
		cr_assert_eq(truncate(paths[0], g->used - 1), 0);
		cr_assert_eq(st_egroup_image_read(paths[0], g, got, 1), ST_ECORRUPT);
		cr_assert_eq(st_egroup_image_read(paths[1], g, got, 1), 0);
		cr_assert_eq(memcmp(got, want, g->used), 0); /* (want: the last copy's bytes, paths[1]'s with RF2) */
		cr_assert_eq(unlink(paths[0]), 0);
		cr_assert_eq(st_egroup_image_read(paths[0], g, got, 1), -ENOENT);
		c->corrupt = 1;
	}
	c->egroups++;
	c->unaligned += (g->used & 4095) != 0;
	free(paths);
	free(want);
	free(got);
	free(buffered);
	return 0;
}

/*
 * Whole images read without the store (the cloud batch's reader threads):
 * direct and buffered reads of every copy give the store's own image,
 * sizes not a multiple of 4096 included; a bad, short or missing copy is
 * refused while the other still reads.
 */
Test(st_store, egroup_images_read_direct_and_buffered, .timeout = 60)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 2, "hdd:1x64M");
	struct img_ctx c = { .st = st };
	struct st_msg err;
	struct st_vdisk v;
	size_t len = (5 << 20) + 12345;
	uint8_t *buf = malloc(len);

	container(st, "c", 2);
	cr_assert_eq(st_vdisk_create(st, "v", "c", 6 << 20, 0, &v, &err), 0);
	th_fill(buf, len, 9);
	cr_assert_eq(st_vdisk_pwrite(st, "v", 0, buf, len, &err), 0, "%s", err.text);
	for (int s = 0; s < st_meta_nshards(st_store_meta(st)); s++)
		cr_assert_eq(st_meta_scan_egroups(st_store_meta(st), s, img_cb, &c, &err), 0, "%s", err.text);
	cr_assert_geq(c.egroups, 2);
	cr_assert_geq(c.unaligned, 1, "no egroup of an unaligned size: the direct read's short last block is untested");
	free(buf);
	st_store_free(st);
	st_rm_rf(dir);
}
