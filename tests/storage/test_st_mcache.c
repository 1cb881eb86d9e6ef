/*
 * st_mcache: the metadata rows shared by a controller's read handles.
 * Regions are found by binary search and cut to the range asked; a drop
 * (this process's invalidate, or another connection's commit seen by a
 * check) moves the epoch on and fills of the old epoch are refused; the
 * bound drops rather than grows. Reads through it stay right when another
 * handle moves every copy (the stale rows fail, the read is redone
 * without any cache) and see another handle's overwrite once a check ran.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "storage/st_mcache.h"
#include "storage/st_rewrite.h"
#include "tests/storage/st_store_th.h"

static struct st_mcache *mcache(const char *dir, uint64_t max)
{
	struct st_store *probe;
	struct st_mcache *m;
	struct st_msg err;

	cr_assert_eq(st_store_open(dir, &probe, &err), 0, "%s", err.text);
	cr_assert_eq(st_mcache_new(probe, max, &m), 0);
	return m;
}

Test(st_mcache, regions_epochs_and_the_bound)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 1, "ssd:1x64M");
	struct st_mcache *m = mcache(dir, 0);
	struct st_block *b = calloc(1, sizeof(*b)), *out = calloc(1, sizeof(*out));
	struct st_egroup_rec g, gh;
	struct st_extent_rec e[2], eo;
	struct st_mcache_stats s;
	struct st_vdisk v;
	struct st_msg err;
	uint64_t e1, e2;
	uint8_t data[4096];

	cr_assert_eq(st_mcache_begin(m, &e1), 0);
	b->vdisk = 7;
	b->block = 3;
	b->n = 5;
	for (int i = 0; i < 5; i++) {
		b->r[i].block_off = 100 * i;
		b->r[i].len = 50;
		b->r[i].extent.b[0] = (uint8_t)(i + 1);
	}
	st_mcache_put_block(m, e1, b);
	cr_assert_eq(st_mcache_block(m, 7, 3, 120, 310, out), 1);
	cr_assert_eq(out->n, 3, "[100,150) [200,250) [300,350) overlap [120, 310)");
	cr_assert_eq(out->r[0].block_off, 100);
	cr_assert_eq(out->r[2].block_off, 300);
	cr_assert_eq(out->vdisk, 7);
	cr_assert_eq(out->block, 3);
	cr_assert_eq(st_mcache_block(m, 7, 3, 0, 1, out), 1);
	cr_assert_eq(out->n, 1);
	cr_assert_eq(st_mcache_block(m, 7, 3, 450, 500, out), 1, "cached, nothing there");
	cr_assert_eq(out->n, 0);
	cr_assert_eq(st_mcache_block(m, 7, 4, 0, 4096, out), 0, "another block: not cached");

	/* a drop refuses the fills of reads that began before it */
	st_mcache_invalidate(m);
	cr_assert_eq(st_mcache_block(m, 7, 3, 0, 4096, out), 0);
	st_mcache_put_block(m, e1, b);
	cr_assert_eq(st_mcache_block(m, 7, 3, 0, 4096, out), 0, "a fill of the old epoch was taken");
	cr_assert_eq(st_mcache_begin(m, &e2), 0);
	cr_assert_neq(e1, e2);
	st_mcache_put_block(m, e2, b);
	cr_assert_eq(st_mcache_block(m, 7, 3, 0, 4096, out), 1);
	cr_assert_eq(out->n, 5);

	/* egroups: the row without its extents, each extent's record */
	st_egroup_rec_init(&g);
	g.id = 99;
	g.nreplicas = 1;
	g.replicas[0].disk = 1;
	memset(e, 0, sizeof(e));
	e[0].id.b[0] = 1;
	e[0].offset = 4096;
	e[1].id.b[0] = 2;
	e[1].offset = 8192;
	cr_assert_eq(st_egroup_rec_add(&g, &e[0]), 0);
	cr_assert_eq(st_egroup_rec_add(&g, &e[1]), 0);
	st_mcache_put_egroup(m, e2, &g);
	cr_assert_eq(st_mcache_extent(m, &e[1].id, &gh, &eo), 1);
	cr_assert_eq(gh.id, 99);
	cr_assert_eq(gh.nextents, 0);
	cr_assert_null(gh.extents);
	cr_assert_eq(gh.replicas[0].disk, 1);
	cr_assert_eq(eo.offset, 8192);
	eo.id.b[0] = 3;
	cr_assert_eq(st_mcache_extent(m, &eo.id, &gh, &eo), 0);
	st_egroup_rec_release(&g);

	/* another connection's commit: the next check drops everything */
	st_mcache_set_check_us(m, 0);
	container(st, "c", 1);
	cr_assert_eq(st_vdisk_create(st, "v", "c", 1 << 20, 0, &v, &err), 0, "%s", err.text);
	th_fill(data, sizeof(data), 3);
	cr_assert_eq(st_vdisk_pwrite(st, "v", 0, data, sizeof(data), &err), 0, "%s", err.text);
	cr_assert_eq(st_mcache_begin(m, &e1), 0);
	cr_assert_neq(e1, e2);
	cr_assert_eq(st_mcache_block(m, 7, 3, 0, 4096, out), 0, "rows from before the commit stayed");
	st_mcache_stats(m, &s);
	cr_assert_geq(s.drops, 2);
	st_mcache_free(m);

	/* the bound: a small cache drops what it had rather than grow */
	m = mcache(dir, 16 << 10);
	cr_assert_eq(st_mcache_begin(m, &e1), 0);
	for (int i = 0; i < 200; i++) {
		b->block = (uint64_t)i;
		st_mcache_put_block(m, e1, b);
	}
	st_mcache_stats(m, &s);
	cr_assert_gt(s.overflows, 0);
	cr_assert_leq(s.bytes, 16 << 10);
	cr_assert_eq(st_mcache_block(m, 7, 199, 0, 4096, out), 1, "the last is there");
	cr_assert_eq(st_mcache_block(m, 7, 0, 0, 4096, out), 0, "the first was dropped");
	st_mcache_free(m);
	free(b);
	free(out);
	st_store_free(st);
	st_rm_rf(dir);
}

/* Move every egroup of v's first 4 blocks to another node's disk, deleting the old copies (as a balance task). */
static void move_all(struct st_store *o, const struct st_vdisk *v)
{
	struct st_block *b = malloc(sizeof(*b));
	struct st_msg err;

	for (uint64_t blk = 0; blk < 4; blk++) {
		cr_assert_eq(st_meta_block_get(st_store_meta(o), v->id, blk, b, &err), 0, "%s", err.text);
		for (int i = 0; i < b->n; i++) {
			struct st_egroup_rec g;
			uint32_t to, from;
			uint64_t eg;
			int64_t bytes;
			cr_assert_eq(st_meta_extent_get(st_store_meta(o), &b->r[i].extent, &eg, &err), 0, "%s", err.text);
			st_egroup_rec_init(&g);
			cr_assert_eq(st_meta_egroup_get(st_store_meta(o), eg, &g, &err), 0, "%s", err.text);
			cr_assert_eq(g.nreplicas, 1);
			from = g.replicas[0].disk;
			if (from == 2) { /* moved already (several regions of one egroup) */
				st_egroup_rec_release(&g);
				continue;
			}
			cr_assert_eq(st_store_egroup_copy(o, &g, 1, &to, &err), 0, "%s", err.text);
			g.replicas[0].disk = to;
			cr_assert_eq(st_meta_egroup_put(st_store_meta(o), &g, g.version, &err), 0, "%s", err.text);
			st_store_replica_delete(o, g.id, from, g.used, &bytes);
			st_egroup_rec_release(&g);
		}
	}
	free(b);
}

Test(st_mcache, reads_stay_right_when_another_handle_moves_and_overwrites, .timeout = 60)
{
	const char *dir;
	struct st_store *o = cluster(&dir, 2, "ssd:1x64M"), *r, *r2;
	struct st_mcache *m;
	struct st_mcache_stats s0, s1;
	struct st_store_stats rs0, rs1;
	struct st_msg err;
	struct st_vdisk v;
	uint32_t sz = 4 << 20;
	uint8_t *a = malloc(sz), *b = malloc(sz), *out = malloc(sz);

	container(o, "c", 1);
	cr_assert_eq(st_vdisk_create(o, "v", "c", sz, 0, &v, &err), 0, "%s", err.text);
	th_fill(a, sz, 11);
	th_fill(b, sz, 12);
	cr_assert_eq(st_vdisk_pwrite(o, "v", 0, a, sz, &err), 0, "%s", err.text);
	cr_assert_eq(st_store_open(dir, &r, &err), 0, "%s", err.text);
	m = mcache(dir, 0);
	st_store_set_mcache(r, m);
	st_mcache_set_check_us(m, 3600ll * 1000000); /* no check: only the redo can save a read */
	cr_assert_eq(st_vdisk_pread(r, &v, 0, sz, out, &err), 0, "%s", err.text);
	cr_assert_eq(memcmp(out, a, sz), 0);
	st_mcache_stats(m, &s0);
	for (uint32_t off = 0; off < sz; off += 64 << 10) {
		cr_assert_eq(st_vdisk_pread(r, &v, off + 512, 4096, out, &err), 0, "%s", err.text);
		cr_assert_eq(memcmp(out, a + off + 512, 4096), 0, "at %u", off);
	}
	st_mcache_stats(m, &s1);
	cr_assert_gt(s1.block_hits, s0.block_hits);
	cr_assert_gt(s1.extent_hits, s0.extent_hits);

	/* the rows r holds now name copies that are gone */
	move_all(o, &v);
	cr_assert_eq(st_vdisk_pread(r, &v, 0, sz, out, &err), 0, "%s", err.text);
	cr_assert_eq(memcmp(out, a, sz), 0, "a read through moved rows returned wrong bytes");
	/* a handle with no file open yet (r still holds the old files open) */
	cr_assert_eq(st_store_open(dir, &r2, &err), 0, "%s", err.text);
	st_store_set_mcache(r2, m);
	st_store_stats(r2, &rs0);
	cr_assert_eq(st_vdisk_pread(r2, &v, 0, sz, out, &err), 0, "%s", err.text);
	cr_assert_eq(memcmp(out, a, sz), 0, "a read through moved rows returned wrong bytes");
	st_store_stats(r2, &rs1);
	cr_assert_gt(rs1.bad_replicas, rs0.bad_replicas, "the shared rows were not used after the move");
	st_store_free(r2);
	for (uint32_t off = 0; off < sz; off += 128 << 10) {
		cr_assert_eq(st_vdisk_pread(r, &v, off + 100, 4096, out, &err), 0, "%s", err.text);
		cr_assert_eq(memcmp(out, a + off + 100, 4096), 0, "at %u", off);
	}

	/* an overwrite by another connection: seen at the next check */
	cr_assert_eq(st_vdisk_pwrite(o, "v", 0, b, sz, &err), 0, "%s", err.text);
	st_mcache_set_check_us(m, 0);
	cr_assert_eq(st_vdisk_pread(r, &v, 4096, 8192, out, &err), 0, "%s", err.text);
	cr_assert_eq(memcmp(out, b + 4096, 8192), 0, "old bytes after a check");
	cr_assert_eq(st_vdisk_pread(r, &v, 0, sz, out, &err), 0, "%s", err.text);
	cr_assert_eq(memcmp(out, b, sz), 0);

	st_store_free(r);
	st_mcache_free(m);
	st_store_free(o);
	free(a);
	free(b);
	free(out);
	st_rm_rf(dir);
}
