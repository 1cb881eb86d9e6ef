/*
 * st_owner: vdisk owner leases in config.db (acquire, backups, ask, renew,
 * release, takeover by compare-and-set) and the shard fences a fenced
 * writer's block rows meet (st_meta_fence, st_writer_set_fence).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "storage/st_owner.h"
#include "tests/storage/st_store_th.h"

Test(st_owner, acquire_ask_renew_release_takeover)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 2, "hdd:1x64M");
	struct st_config *a, *b;
	struct st_owner o, seen;
	struct st_msg err;
	int64_t ea = 0, eb = 0, ec = 0;
	int asked = -1;

	cr_assert_eq(st_config_open(dir, &a, &err), 0);
	cr_assert_eq(st_config_open(dir, &b, &err), 0);
	cr_assert_eq(st_owner_get(a, 7, &o, &err), ST_ENOTFOUND);
	cr_assert_eq(st_owner_acquire(a, 7, "A", 1, 2000, &ea, NULL, &err), 0, "%s", err.text);
	cr_assert_eq(ea, 1);
	cr_assert_eq(st_owner_acquire(a, 7, "A", 1, 2000, &ea, NULL, &err), 0, "the owner acquires again");
	cr_assert_eq(st_owner_acquire(b, 7, "B", 2, 2000, &eb, &o, &err), ST_EBUSY);
	cr_assert_str_eq(o.holder, "A");
	cr_assert_eq(st_owner_acquire(b, 7, "C", 2, 2000, &ec, NULL, &err), ST_EBUSY);
	/* B asks; A sees it at its renewal, releases; B acquires, epoch 2 */
	cr_assert_eq(st_owner_renew(a, 7, "A", ea, &asked, &err), 0);
	cr_assert_eq(asked, 0);
	cr_assert_eq(st_owner_ask(b, 7, "B", &err), 0);
	cr_assert_eq(st_owner_renew(a, 7, "A", ea, &asked, &err), 0);
	cr_assert_eq(asked, 1);
	cr_assert_eq(st_owner_release(a, 7, "A", ea, &err), 0);
	cr_assert_eq(st_owner_renew(a, 7, "A", ea, &asked, &err), ST_EFENCED, "a released lease does not renew");
	cr_assert_eq(st_owner_acquire(b, 7, "B", 2, 2000, &eb, NULL, &err), 0, "%s", err.text);
	cr_assert_eq(eb, 2);
	cr_assert_eq(st_owner_get(a, 7, &o, &err), 0);
	cr_assert_str_eq(o.holder, "B");
	cr_assert_str_eq(o.relinquish, "", "the request is cleared with the new owner");
	/* takeover by CAS on what was seen: a renewal in between makes it stale; of two volunteers one wins */
	cr_assert_eq(st_owner_get(a, 7, &seen, &err), 0);
	cr_assert_eq(st_owner_renew(b, 7, "B", eb, &asked, &err), 0);
	cr_assert_eq(st_owner_takeover(a, 7, "A", 1, 2000, &seen, &ea, &err), ST_ESTALE);
	cr_assert_eq(st_owner_get(a, 7, &seen, &err), 0);
	cr_assert_eq(st_owner_takeover(a, 7, "C", 1, 2000, &seen, &ec, &err), 0, "%s", err.text);
	cr_assert_eq(ec, 3);
	cr_assert_eq(st_owner_takeover(a, 7, "A", 1, 2000, &seen, &ea, &err), ST_ESTALE, "the second volunteer loses");
	cr_assert_eq(st_owner_renew(b, 7, "B", eb, &asked, &err), ST_EFENCED, "the old owner's renewal fails");
	cr_assert_eq(st_owner_release(b, 7, "B", eb, &err), 0);
	cr_assert_eq(st_owner_get(a, 7, &o, &err), 0);
	cr_assert_str_eq(o.holder, "C", "an old owner's release changes nothing");
	st_config_free(a);
	st_config_free(b);
	st_store_free(st);
	st_rm_rf(dir);
}

/* A writer whose holder is fenced commits no block row; others still do. */
Test(st_owner, fenced_writer_commits_nothing)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 1, "hdd:1x64M");
	uint8_t model[65536] = { 0 }, b[4096];
	struct st_writer *w;
	struct st_msg err;

	container(st, "c", 1);
	cr_assert_eq(st_vdisk_create(st, "v", "c", sizeof(model), 0, NULL, &err), 0);
	cr_assert_eq(st_meta_fence(st_store_meta(st), "old", &err), 0, "%s", err.text);
	cr_assert_eq(st_meta_fence(st_store_meta(st), "old", &err), 0, "fencing twice is fine");
	th_fill(b, sizeof(b), 3);
	cr_assert_eq(st_writer_open(st, "v", 0, &w, &err), 0);
	st_writer_set_fence(w, "old");
	cr_assert_eq(st_writer_pwrite(w, 0, b, sizeof(b), &err), 0);
	cr_assert_eq(st_writer_close(w, &err), ST_EFENCED);
	expect_read(st, "v", model, sizeof(model));
	cr_assert_eq(st_writer_open(st, "v", 0, &w, &err), 0);
	st_writer_set_fence(w, "new");
	cr_assert_eq(st_writer_pwrite(w, 0, b, sizeof(b), &err), 0);
	cr_assert_eq(st_writer_close(w, &err), 0, "%s", err.text);
	memcpy(model, b, sizeof(b));
	expect_read(st, "v", model, sizeof(model));
	fsck_clean(st);
	st_store_free(st);
	st_rm_rf(dir);
}
