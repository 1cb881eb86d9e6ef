/* st_write: the writer keeps a block's region list bounded (read-modify-write of a fragmented block). */
#include <criterion/criterion.h>
#include <string.h>

#include "tests/storage/st_store_th.h"

/* Many small writes into one block: the region list stays bounded. */
Test(st_write, fragmented_block_is_rewritten, .timeout = 60)
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

/*
 * Random access (st_writer_pwrite, st_writer_zero, st_writer_flush): batches of
 * ascending ranges, data and holes, many ranges per block (some blocks widened
 * by read-modify-write), against a model; holes become block rows removed.
 */
Test(st_write, pwrite_and_zero_batches, .timeout = 120)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 2, "hdd:1x256M");
	struct st_msg err;
	enum { BS = 16384, SIZE = 64 * BS };
	uint8_t *model = calloc(1, SIZE), *b = malloc(BS);
	uint64_t seed = 21, blocks = 0, mapped = 0, want = 0;
	struct st_writer *w;
	struct st_vdisk v;

	container(st, "c", 2);
	cr_assert_eq(st_vdisk_create(st, "v", "c", SIZE, BS, NULL, &err), 0);
	for (int round = 0; round < 30; round++) {
		uint64_t off = th_rand(&seed) % 512;
		cr_assert_eq(st_writer_open(st, "v", 0, &w, &err), 0, "%s", err.text);
		while (off < SIZE) {
			uint64_t len = 1 + th_rand(&seed) % (round % 3 == 0 ? 3000 : 200);
			if (off + len > SIZE)
				len = SIZE - off;
			if (th_rand(&seed) % 4 == 0) {
				cr_assert_eq(st_writer_zero(w, off, len, &err), 0, "%s", err.text);
				memset(model + off, 0, len);
			} else {
				th_fill(b, len, seed++);
				cr_assert_eq(st_writer_pwrite(w, off, b, len, &err), 0, "%s", err.text);
				memcpy(model + off, b, len);
			}
			off += len + th_rand(&seed) % (round % 2 ? 40 : 6000);
		}
		if (round % 2)
			cr_assert_eq(st_writer_flush(w, &err), 0, "%s", err.text);
		cr_assert_eq(st_writer_close(w, &err), 0, "%s", err.text);
		expect_read(st, "v", model, SIZE);
	}
	/* a range below the last one buffered commits the batch first */
	cr_assert_eq(st_writer_open(st, "v", 0, &w, &err), 0, "%s", err.text);
	th_fill(b, 100, 7);
	cr_assert_eq(st_writer_pwrite(w, 5000, b, 100, &err), 0, "%s", err.text);
	cr_assert_eq(st_writer_pwrite(w, 5050, b, 100, &err), 0, "%s", err.text);
	memcpy(model + 5000, b, 100);
	memcpy(model + 5050, b, 100);
	cr_assert_eq(st_writer_pwrite(w, SIZE - 10, b, 11, &err), ST_ERANGE);
	cr_assert_eq(st_writer_close(w, &err), 0, "%s", err.text);
	expect_read(st, "v", model, SIZE);
	/* zero the whole vdisk: every block row goes, nothing reads but zeros */
	cr_assert_eq(st_writer_open(st, "v", 0, &w, &err), 0, "%s", err.text);
	cr_assert_eq(st_writer_zero(w, 0, SIZE, &err), 0, "%s", err.text);
	cr_assert_eq(st_writer_close(w, &err), 0, "%s", err.text);
	memset(model, 0, SIZE);
	expect_read(st, "v", model, SIZE);
	cr_assert_eq(st_config_vdisk_get(st_store_config(st), "v", &v, &err), 0);
	cr_assert_eq(st_vdisk_mapped(st, &v, &mapped, &blocks, &err), 0);
	cr_assert_eq(mapped, want);
	cr_assert_eq(blocks, 0);
	fsck_clean(st);
	free(model);
	free(b);
	st_store_free(st);
	st_rm_rf(dir);
}
