/* st_replica: whole egroup images read without the store, direct and buffered. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/st_rewrite.h"
#include "tests/storage/st_store_th.h"

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
Test(st_replica, egroup_images_read_direct_and_buffered, .timeout = 60)
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
