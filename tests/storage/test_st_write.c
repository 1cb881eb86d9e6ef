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
