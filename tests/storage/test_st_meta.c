#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "storage/st_meta.h"
#include "tests/helpers.h"

static void sample(struct st_egroup_rec *r, int nex)
{
	st_egroup_rec_init(r);
	r->id = 0x1000000000042ULL;
	r->container = 3;
	r->owner = 0x1000000000007ULL;
	r->tier = ST_TIER_HDD;
	r->flags = ST_EGROUP_COMPRESSED;
	r->created = 100;
	r->last_write = 200;
	r->last_access = 300;
	r->last_scrub = 400;
	r->used = 12345;
	r->strip = 9;
	r->strip_pos = 2;
	r->nreplicas = 3;
	for (int i = 0; i < 3; i++)
		r->replicas[i] = (struct st_replica){ (uint32_t)(i + 1), (uint8_t)(i == 2) };
	for (int i = 0; i < nex; i++) {
		struct st_extent_rec e = { 0 };
		st_extent_id_make(&e.id, r->owner, (uint64_t)i + 77, (uint64_t)i);
		e.offset = 64 + (uint32_t)i * 100;
		e.stored_len = 50;
		e.raw_len = 52;
		e.refcount = (uint32_t)i;
		e.crc = 0xdeadbeef ^ (uint32_t)i;
		e.flags = ST_EXTENT_COMPRESSED | ST_EXTENT_FP;
		memset(e.fp, i, 20);
		cr_assert_eq(st_egroup_rec_add(r, &e), 0);
	}
}

Test(st_meta, egroup_record_round_trips)
{
	struct st_egroup_rec r, d;
	uint8_t *blob;
	size_t len;

	sample(&r, 17);
	st_egroup_rec_init(&d);
	cr_assert_eq(st_egroup_rec_encode(&r, &blob, &len), 0);
	cr_assert_eq(st_egroup_rec_decode(r.id, r.last_ref_seq, blob, len, &d), 0);
	cr_assert_eq(d.nextents, 17);
	cr_assert_eq(d.nreplicas, 3);
	cr_assert_eq(d.replicas[2].state, 1);
	cr_assert_eq(d.used, 12345);
	cr_assert_eq(d.strip_pos, 2);
	cr_assert_eq(d.tier, ST_TIER_HDD);
	cr_assert_eq(memcmp(d.extents, r.extents, 17 * sizeof(r.extents[0])), 0);
	/* every single bit flip is caught */
	for (size_t i = 0; i < len * 8; i += 7) {
		blob[i / 8] ^= (uint8_t)(1 << (i % 8));
		cr_assert_eq(st_egroup_rec_decode(r.id, r.last_ref_seq, blob, len, &d), ST_ECORRUPT, "flip %zu", i);
		blob[i / 8] ^= (uint8_t)(1 << (i % 8));
	}
	cr_assert_eq(st_egroup_rec_decode(r.id, r.last_ref_seq, blob, len - 1, &d), ST_ECORRUPT);
	/* the checksum covers the key and last_ref_seq: the same blob under another row is corrupt */
	cr_assert_eq(st_egroup_rec_decode(r.id + 1, r.last_ref_seq, blob, len, &d), ST_ECORRUPT);
	cr_assert_eq(st_egroup_rec_decode(r.id, r.last_ref_seq - 1, blob, len, &d), ST_ECORRUPT);
	free(blob);
	st_egroup_rec_release(&r);
	st_egroup_rec_release(&d);
}

Test(st_meta, extent_ids_format_and_parse)
{
	struct st_extent_id a, b;
	uint8_t sha[20];
	char buf[80];

	st_extent_id_make(&a, 0x1000000000001ULL, 0x2000000000abcULL, 12345);
	cr_assert(!st_extent_id_is_dedup(&a));
	cr_assert_eq(st_extent_id_vdisk(&a), 0x1000000000001ULL);
	cr_assert_eq(st_extent_id_parse(st_extent_id_fmt(&a, buf, sizeof(buf)), &b), 0);
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
	for (int i = 0; i < 20; i++)
		sha[i] = (uint8_t)(i * 13);
	st_extent_id_dedup(&a, sha, 16384);
	cr_assert(st_extent_id_is_dedup(&a));
	cr_assert_eq(st_extent_id_parse(st_extent_id_fmt(&a, buf, sizeof(buf)), &b), 0);
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
	{
		uint64_t home;
		st_extent_id_make(&a, 0x1000000000001ULL, 0x2000000000abcULL, 12345);
		cr_assert_eq(st_extent_id_home(&a, &home), 0);
		cr_assert_eq(home, 12345);
		cr_assert_eq(strcmp(st_extent_id_fmt(&a, buf, sizeof(buf)), "1000000000001-2000000000abc/12345"), 0, "%s", buf);
	}
	cr_assert_eq(st_extent_id_parse("zz", &b), ST_EINVAL);
	cr_assert_eq(st_extent_id_parse("1-2", &b), ST_EINVAL, "an id without its home block");
	cr_assert_eq(st_extent_id_parse("1-2/3x", &b), ST_EINVAL);
	cr_assert_eq(st_extent_id_parse("0-2/3", &b), ST_EINVAL);
	cr_assert_eq(st_extent_id_parse("sha1:", &b), ST_EINVAL);
	cr_assert_eq(st_extent_id_parse("sha1:0123456789012345678901234567890", &b), ST_EINVAL);
}

/* Overlay against a byte-per-position model of which extent holds what. */
Test(st_meta, block_overlay_matches_model)
{
	enum { BS = 4096 };
	static uint16_t model[BS], modeloff[BS];
	struct st_block *b = calloc(1, sizeof(*b));
	uint64_t s = 42;

	for (int it = 1; it < 3000; it++) {
		uint32_t off = (uint32_t)(th_rand(&s) % BS);
		uint32_t len = 1 + (uint32_t)(th_rand(&s) % (BS - off));
		struct st_extent_id id;
		int rc;

		if (th_rand(&s) % 8 == 0) { /* sometimes a full-block write */
			off = 0;
			len = BS;
		}
		st_extent_id_make(&id, 1, (uint64_t)it, 0);
		rc = st_block_overlay(b, off, len, &id, 7);
		if (rc == ST_ERANGE) { /* too fragmented: the writer rewrites the block */
			b->n = 0;
			rc = st_block_overlay(b, 0, BS, &id, 7);
			off = 0;
			len = BS;
		}
		cr_assert_eq(rc, 0);
		for (uint32_t i = off; i < off + len; i++) {
			model[i] = (uint16_t)it;
			modeloff[i] = (uint16_t)(7 + i - off);
		}
		/* regions sorted, disjoint, and agree with the model */
		static uint16_t got[BS], gotoff[BS];
		memset(got, 0, sizeof(got));
		for (int k = 0; k < b->n; k++) {
			const struct st_region *r = &b->r[k];
			if (k)
				cr_assert_geq(r->block_off, b->r[k - 1].block_off + b->r[k - 1].len);
			for (uint32_t i = 0; i < r->len; i++) {
				got[r->block_off + i] = (uint16_t)(r->extent.b[15] | r->extent.b[14] << 8);
				gotoff[r->block_off + i] = (uint16_t)(r->extent_off + i);
			}
		}
		cr_assert_eq(memcmp(got, model, sizeof(model)), 0, "iteration %d", it);
		for (int i = 0; i < BS; i++)
			if (model[i])
				cr_assert_eq(gotoff[i], modeloff[i]);
		uint8_t enc[8 + ST_REGIONS_MAX * 40];
		size_t len2;
		struct st_block *d = calloc(1, sizeof(*d));
		cr_assert_eq(st_block_encode(b, enc, sizeof(enc), &len2), 0);
		cr_assert_eq(st_block_decode(b->vdisk, b->block, enc, len2, d), 0);
		cr_assert_eq(d->n, b->n);
		cr_assert_eq(st_block_decode(b->vdisk, b->block + 1, enc, len2, d), ST_ECORRUPT, "another key");
		cr_assert_eq(st_block_decode(b->vdisk + 1, b->block, enc, len2, d), ST_ECORRUPT, "another key");
		enc[len2 / 2] ^= 1;
		cr_assert_eq(st_block_decode(b->vdisk, b->block, enc, len2, d), ST_ECORRUPT);
		free(d);
	}
	free(b);
}

Test(st_meta, maps_store_and_compare_and_set)
{
	const char *dir = th_tmpdir("meta");
	struct st_meta *m;
	struct st_egroup_rec r, g;
	struct st_msg err;
	struct st_extent_id x;
	uint64_t eg;
	struct st_block *b = calloc(1, sizeof(*b));

	cr_assert_eq(st_meta_open(dir, 3, 1, "test", &m, &err), 0);
	sample(&r, 4);
	st_egroup_rec_init(&g);
	cr_assert_eq(st_meta_egroup_get(m, r.id, &g, &err), ST_ENOTFOUND);
	cr_assert_eq(st_meta_egroup_put(m, &r, 0, &err), 0);
	cr_assert_eq(r.version, 1);
	cr_assert_eq(st_meta_egroup_put(m, &r, 0, &err), ST_ESTALE, "insert twice");
	r.last_ref_seq = 55;
	cr_assert_eq(st_meta_egroup_put(m, &r, 1, &err), 0);
	cr_assert_eq(r.version, 2);
	cr_assert_eq(st_meta_egroup_put(m, &r, 1, &err), ST_ESTALE, "stale version applied");
	cr_assert_eq(st_meta_egroup_get(m, r.id, &g, &err), 0);
	cr_assert_eq(g.version, 2);
	cr_assert_eq(g.last_ref_seq, 55);
	cr_assert_eq(g.nextents, 4);
	cr_assert_eq(st_meta_egroup_delete(m, r.id, 1, &err), ST_ESTALE);
	cr_assert_eq(st_meta_egroup_delete(m, r.id, 2, &err), 0);

	st_extent_id_make(&x, 5, 6, 3);
	cr_assert_eq(st_meta_extent_get(m, &x, &eg, &err), ST_ENOTFOUND);
	cr_assert_eq(st_meta_extent_put(m, &x, 99, &err), 0);
	cr_assert_eq(st_meta_extent_get(m, &x, &eg, &err), 0);
	cr_assert_eq(eg, 99);
	cr_assert_eq(st_meta_extent_delete(m, &x, 98, &err), 0);
	cr_assert_eq(st_meta_extent_get(m, &x, &eg, &err), 0, "CAS delete removed a remapped entry");
	cr_assert_eq(st_meta_extent_delete(m, &x, 99, &err), 0);
	cr_assert_eq(st_meta_extent_get(m, &x, &eg, &err), ST_ENOTFOUND);

	b->vdisk = 7;
	b->block = 3;
	cr_assert_eq(st_block_overlay(b, 10, 20, &x, 0), 0);
	cr_assert_eq(st_meta_block_put(m, b, &err), 0);
	memset(b, 0, sizeof(*b));
	cr_assert_eq(st_meta_block_get(m, 7, 3, b, &err), 0);
	cr_assert_eq(b->n, 1);
	cr_assert_eq(b->r[0].len, 20);
	cr_assert_eq(st_meta_block_get(m, 7, 4, b, &err), ST_ENOTFOUND);
	st_meta_free(m);
	st_egroup_rec_release(&r);
	st_egroup_rec_release(&g);
	free(b);
	st_rm_rf(dir);
}

static int count_cb(void *arg, int rc_row, uint64_t id, const struct st_egroup_rec *r)
{
	int *c = arg;
	(void)id;
	(void)r;
	c[rc_row ? 1 : 0]++;
	return 0;
}

Test(st_meta, corrupt_row_is_reported_not_fatal)
{
	const char *dir = th_tmpdir("meta");
	struct st_meta *m;
	struct st_egroup_rec r, g;
	struct st_msg err;
	char path[512];
	sqlite3 *db;
	int counts[2] = { 0, 0 };

	cr_assert_eq(st_meta_open(dir, 1, 1, "test", &m, &err), 0);
	sample(&r, 2);
	cr_assert_eq(st_meta_egroup_put(m, &r, 0, &err), 0);
	r.id++;
	cr_assert_eq(st_meta_egroup_put(m, &r, 0, &err), 0);
	snprintf(path, sizeof(path), "%s/meta-0.db", dir);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "UPDATE egroups SET rec = x'00112233' WHERE id = (SELECT min(id) FROM egroups)",
				  NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	st_egroup_rec_init(&g);
	cr_assert_eq(st_meta_egroup_get(m, r.id - 1, &g, &err), ST_ECORRUPT);
	cr_assert(strstr(err.text, "corrupt"));
	cr_assert_eq(st_meta_egroup_get(m, r.id, &g, &err), 0);
	cr_assert_eq(st_meta_scan_egroups(m, 0, count_cb, counts, &err), 0);
	cr_assert_eq(counts[0], 1);
	cr_assert_eq(counts[1], 1);
	st_meta_free(m);
	st_egroup_rec_release(&r);
	st_egroup_rec_release(&g);
	st_rm_rf(dir);
}

/* st_meta_per_shard: one transaction per shard; a shard that cannot begin fails (and undoes) its items only. */
struct ps {
	struct st_meta *m;
	struct st_egroup_rec r[12];
	int order[12], norder, undone[12];
};

static int ps_shard(void *arg, int i)
{
	struct ps *p = arg;
	return i == 11 ? -1 : st_meta_shard_egroup(p->m, p->r[i].id); /* item 11 is left out */
}

static int ps_put(void *arg, int i, struct st_msg *err)
{
	struct ps *p = arg;
	p->order[p->norder++] = i;
	return i == 5 ? st_fail(err, ST_EINVAL, "item 5 refused") : st_meta_egroup_put(p->m, &p->r[i], 0, err);
}

static void ps_undo(void *arg, int i)
{
	struct ps *p = arg;
	p->undone[i]++;
}

Test(st_meta, per_shard_batches_fail_by_shard)
{
	const char *dir = th_tmpdir("meta");
	struct ps p = { 0 };
	struct st_msg errs[12] = { 0 }, err;
	struct st_egroup_rec g;
	int rcs[12] = { 0 }, bad;

	cr_assert_eq(st_meta_open(dir, 3, 1, "test", &p.m, &err), 0);
	for (int i = 0; i < 12; i++) {
		sample(&p.r[i], 1);
		p.r[i].id += (uint64_t)i;
	}
	rcs[7] = ST_ESTALE; /* already failed: not touched */
	bad = st_meta_shard_egroup(p.m, p.r[0].id);
	cr_assert_eq(st_meta_begin(p.m, bad, &err), 0); /* its own transaction: a second cannot begin */
	st_meta_per_shard(p.m, 12, rcs, errs, ps_shard, ps_put, ps_undo, &p);
	st_meta_rollback(p.m, bad);
	for (int k = 1; k < p.norder; k++) /* shard by shard, in index order within each */
		cr_assert(ps_shard(&p, p.order[k - 1]) < ps_shard(&p, p.order[k]) ||
				  (ps_shard(&p, p.order[k - 1]) == ps_shard(&p, p.order[k]) && p.order[k - 1] < p.order[k]));
	st_egroup_rec_init(&g);
	for (int i = 0; i < 12; i++) {
		int on_bad = i != 11 && ps_shard(&p, i) == bad;
		if (i == 7) {
			cr_assert_eq(rcs[i], ST_ESTALE);
		} else if (i == 11) {
			cr_assert_eq(rcs[i], 0, "left out");
		} else if (on_bad) {
			cr_assert_neq(rcs[i], 0, "item %d on the shard that could not begin", i);
			cr_assert(errs[i].text[0]);
			cr_assert_eq(p.undone[i], 1);
		} else if (i == 5) {
			cr_assert_eq(rcs[i], ST_EINVAL);
			cr_assert_eq(p.undone[i], 0, "put failures are the caller's to undo");
		} else {
			cr_assert_eq(rcs[i], 0, "item %d", i);
		}
		cr_assert_eq(st_meta_egroup_get(p.m, p.r[i].id, &g, &err) == 0, !rcs[i] && i != 11 ? 1 : 0,
			     "item %d: row present iff it succeeded", i);
	}
	st_egroup_rec_release(&g);
	for (int i = 0; i < 12; i++)
		st_egroup_rec_release(&p.r[i]);
	st_meta_free(p.m);
	st_rm_rf(dir);
}

/*
 * Golden rows of metadata format 2 (tests/data/egroup-rec-v2.bin, block-v2.bin): this code must
 * still read them, field for field. CURATOR_GOLDEN_WRITE=1 writes them anew
 * (only when the format version changes).
 */
static void golden(const char *name, uint8_t **blob, size_t *len, const uint8_t *fresh, size_t freshlen)
{
	const char *src = getenv("CURATOR_SRC");
	char path[2048];

	snprintf(path, sizeof(path), "%s/tests/data/%s", src ? src : ".", name);
	if (getenv("CURATOR_GOLDEN_WRITE"))
		cr_assert_eq(th_write_file(path, fresh, freshlen), 0);
	*blob = th_read_file(path, len);
	cr_assert_not_null(*blob, "missing %s", path);
}

Test(st_meta, reads_golden_format_2)
{
	struct st_egroup_rec r, d;
	struct st_block *b = calloc(1, sizeof(*b)), *db = calloc(1, sizeof(*db));
	uint8_t *fresh, *blob, enc[8 + ST_REGIONS_MAX * 40];
	size_t len, flen;

	/* an egroup record */
	sample(&r, 3);
	cr_assert_eq(st_egroup_rec_encode(&r, &fresh, &flen), 0);
	golden("egroup-rec-v2.bin", &blob, &len, fresh, flen);
	st_egroup_rec_init(&d);
	cr_assert_eq(st_egroup_rec_decode(r.id, r.last_ref_seq, blob, len, &d), 0);
	cr_assert_eq(d.nextents, 3);
	cr_assert_eq(d.used, 12345);
	cr_assert_eq(d.owner, r.owner);
	cr_assert_eq(memcmp(d.extents, r.extents, 3 * sizeof(r.extents[0])), 0);
	free(fresh);
	free(blob);
	/* a block row */
	b->vdisk = 0x1000000000007ULL;
	b->block = 42;
	cr_assert_eq(st_block_overlay(b, 0, 4096, &r.extents[0].id, 0), 0);
	st_extent_id_make(&b->r[0].extent, 0x1000000000007ULL, 99, 42);
	cr_assert_eq(st_block_overlay(b, 8192, 100, &b->r[0].extent, 8192), 0);
	cr_assert_eq(st_block_encode(b, enc, sizeof(enc), &flen), 0);
	golden("block-v2.bin", &blob, &len, enc, flen);
	cr_assert_eq(st_block_decode(b->vdisk, b->block, blob, len, db), 0);
	cr_assert_eq(db->n, 2);
	cr_assert_eq(db->r[1].block_off, 8192);
	cr_assert_eq(db->r[1].len, 100);
	free(blob);
	/* the extent id's text form */
	{
		char buf[80];
		uint64_t home;
		cr_assert_eq(st_extent_id_home(&db->r[0].extent, &home), 0);
		cr_assert_eq(home, 42);
		cr_assert_str_eq(st_extent_id_fmt(&db->r[0].extent, buf, sizeof(buf)), "1000000000007-63/42");
	}
	free(b);
	free(db);
	st_egroup_rec_release(&r);
	st_egroup_rec_release(&d);
}
