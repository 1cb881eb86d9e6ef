/*
 * Helpers shared by the tests of the st_store family (test_st_store.c,
 * test_st_place.c, test_st_read.c, test_st_write.c, test_st_replica.c):
 * a fresh cluster, a container, a vdisk read back against a model, a
 * clean fsck. Static inline: each test file uses some of them.
 */
#ifndef TESTS_STORAGE_ST_STORE_TH_H
#define TESTS_STORAGE_ST_STORE_TH_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "storage/st_fsck.h"
#include "storage/st_store.h"
#include "tests/helpers.h"

static inline struct st_store *cluster(const char **dir, int nodes, const char *disks)
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

static inline void container(struct st_store *st, const char *name, int rf)
{
	struct st_container c;
	struct st_msg err;

	st_container_defaults(&c);
	snprintf(c.name, sizeof(c.name), "%s", name);
	c.rf = rf;
	cr_assert_eq(st_config_container_create(st_store_config(st), &c, &err), 0, "%s", err.text);
}

static inline void expect_read(struct st_store *st, const char *name, const uint8_t *model, uint64_t size)
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

static inline void fsck_clean(struct st_store *st)
{
	struct st_fsck_report r;
	struct st_msg err;

	cr_assert_eq(st_fsck_run(st, NULL, NULL, &r, &err), 0, "%s", err.text);
	cr_assert_eq(r.violations, 0, "fsck found %llu violations", (unsigned long long)r.violations);
}

#endif
