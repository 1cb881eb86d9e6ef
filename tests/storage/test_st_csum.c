/*
 * st_csum: partial reads of large extents through the chunk-sum cache
 * return the right bytes, hit the cache after the first whole-extent
 * verification, and a damaged chunk in the copy read first is caught:
 * the read falls back to the verified whole-extent path, which skips and
 * counts the bad copy and returns the good one's bytes.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/st_csum.h"
#include "storage/st_egroup.h"
#include "tests/storage/st_store_th.h"

Test(st_csum, sums_of_chunks_and_their_bounds)
{
	struct st_csum *c;
	struct st_extent_id id = { { 1, 2, 3 } };
	uint8_t data[10000];
	uint32_t s[3];
	uint64_t h, m, p;

	th_fill(data, sizeof(data), 9);
	cr_assert_eq(st_csum_new(0, &c), 0);
	cr_assert_eq(st_csum_get(c, &id, sizeof(data), 0, 1, s), 0, "nothing recorded yet");
	st_csum_put(c, &id, data, sizeof(data));
	cr_assert_eq(st_csum_get(c, &id, sizeof(data), 0, 3, s), 1);
	cr_assert_eq(s[0], st_crc32c(data, 4096));
	cr_assert_eq(s[1], st_crc32c(data + 4096, 4096));
	cr_assert_eq(s[2], st_crc32c(data + 8192, sizeof(data) - 8192), "the last chunk is short");
	cr_assert_eq(st_csum_get(c, &id, sizeof(data), 1, 3, s), 0, "past the last chunk");
	cr_assert_eq(st_csum_get(c, &id, 4096, 0, 1, s), 0, "another length: not this extent");
	st_csum_stats(c, &h, &m, &p);
	cr_assert_eq(h, 1);
	cr_assert_eq(m, 3);
	cr_assert_eq(p, 1);
	st_csum_free(c);
	/* the bound: a tiny cache drops what it had rather than grow */
	cr_assert_eq(st_csum_new(200, &c), 0);
	for (int i = 0; i < 50; i++) {
		id.b[5] = (uint8_t)i;
		st_csum_put(c, &id, data, sizeof(data));
	}
	id.b[5] = 0;
	cr_assert_eq(st_csum_get(c, &id, sizeof(data), 0, 1, s), 0, "the first was dropped");
	id.b[5] = 49;
	cr_assert_eq(st_csum_get(c, &id, sizeof(data), 0, 1, s), 1, "the last is there");
	st_csum_free(c);
}

/* The file and offset of extent-relative byte `at` of block 0's first extent, in the copy read first. */
static void first_copy(struct st_store *st, const struct st_vdisk *v, uint32_t at, char *path, size_t plen, off_t *off)
{
	struct st_block *b = malloc(sizeof(*b));
	struct st_egroup_rec g;
	struct st_disk d;
	struct st_msg err;
	uint64_t eg;
	int idx;

	cr_assert_eq(st_meta_block_get(st_store_meta(st), v->id, 0, b, &err), 0, "%s", err.text);
	cr_assert_eq(st_meta_extent_get(st_store_meta(st), &b->r[0].extent, &eg, &err), 0, "%s", err.text);
	st_egroup_rec_init(&g);
	cr_assert_eq(st_meta_egroup_get(st_store_meta(st), eg, &g, &err), 0, "%s", err.text);
	idx = st_egroup_rec_find(&g, &b->r[0].extent);
	cr_assert_geq(idx, 0);
	cr_assert_eq(st_config_disk_get(st_store_config(st), g.replicas[0].disk, &d, &err), 0, "%s", err.text);
	cr_assert_eq(st_egroup_path(d.path, eg, path, plen), 0);
	*off = (off_t)g.extents[idx].offset + ST_EXTENT_HDR + b->r[0].extent_off + at;
	st_egroup_rec_release(&g);
	free(b);
}

Test(st_csum, partial_reads_check_their_chunks)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 2, "ssd:1x64M"), *rd;
	enum { SIZE = 2 << 20 };
	uint8_t *buf = malloc(SIZE), got[8192];
	struct st_store_stats s;
	struct st_msg err;
	struct st_vdisk v;
	struct st_csum *c;
	uint64_t h, m, p;
	char path[1200];
	off_t off;
	int fd;

	container(st, "c", 2);
	cr_assert_eq(st_vdisk_create(st, "v", "c", SIZE, 0, &v, &err), 0);
	th_fill(buf, SIZE, 5);
	cr_assert_eq(st_vdisk_pwrite(st, "v", 0, buf, SIZE, &err), 0, "%s", err.text);
	cr_assert_eq(st_csum_new(0, &c), 0);
	cr_assert_eq(st_store_open(dir, &rd, &err), 0);
	st_store_set_csum(rd, c);
	/* the first partial read verifies the whole extent and records its sums; then only chunks */
	for (int i = 0; i < 40; i++) {
		/* the two extents in turn: the one-extent cache of the read path does not serve them */
		uint64_t at = (uint64_t)(i % 2) * (SIZE / 2) + (uint64_t)(i * 7919) % (SIZE / 2 - sizeof(got));
		uint32_t len = 1 + (uint32_t)(i * 131) % sizeof(got);
		cr_assert_eq(st_vdisk_pread(rd, &v, at, len, got, &err), 0, "%s", err.text);
		cr_assert_eq(memcmp(got, buf + at, len), 0, "read %d at %llu", i, (unsigned long long)at);
	}
	st_csum_stats(c, &h, &m, &p);
	cr_assert_geq(h, 15, "hits %llu misses %llu", (unsigned long long)h, (unsigned long long)m);
	cr_assert_leq(p, 4, "each extent verified whole once or so");
	/* damage chunk 3 of block 0's extent in the copy read first: caught, the good copy serves */
	first_copy(rd, &v, 3 * 4096 + 100, path, sizeof(path), &off);
	fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_eq(pwrite(fd, "\x5a\xa5", 2, off), 2);
	close(fd);
	cr_assert_eq(st_vdisk_pread(rd, &v, SIZE / 2 + 4096, 100, got, &err), 0, "%s", err.text); /* the other extent last */
	cr_assert_eq(st_vdisk_pread(rd, &v, 3 * 4096, 4096, got, &err), 0, "%s", err.text);
	cr_assert_eq(memcmp(got, buf + 3 * 4096, 4096), 0, "the damaged chunk's bytes were returned");
	st_store_stats(rd, &s);
	cr_assert_geq(s.bad_replicas, 1, "the bad copy was counted");
	st_store_free(rd);
	st_csum_free(c);
	free(buf);
	st_store_free(st);
	st_rm_rf(dir);
}
