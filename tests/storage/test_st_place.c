/* st_place: replicas on distinct nodes, the RF policy, a full tier spilling to the next (through the writer). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tests/storage/st_store_th.h"

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

Test(st_place, replicas_on_distinct_nodes_and_policy_errors)
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

Test(st_place, full_tier_spills_down_then_errors_without_loss, .timeout = 60)
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
