/* The st_store family end to end: writes, overwrites, snapshots, clones and reads in RF 1, 2 and 3. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

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
