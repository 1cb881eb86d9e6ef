/*
 * job_ec: the erasure-coding task kinds (DESIGN.md §4, storage/st_ec.h).
 *
 * DESIGN: cold egroups of a container with Reed-Solomon k+m become strips,
 * and strips are kept whole:
 *   ec_encode       k cold egroups (arg: their ids and versions) become a
 *                   strip with m parity members, one copy of each data
 *                   member left, on k + m distinct nodes;
 *   ec_rebuild      a strip member (data or parity) that lost its copy, or
 *                   whose copy does not verify, is decoded from the rest of
 *                   its strip and written on a node no other member uses;
 *   strip_rollback  a strip a crashed conversion (or dissolve) left half
 *                   made is undone (arg: its parity egroups when the strip
 *                   row is gone);
 *   strip_dissolve  a strip whose members are mostly dead goes back to
 *                   plain egroups (RF copies each), for GC to compact.
 *
 * Order: the storage layer's strip lifecycle (storage/st_strip.h) does each
 * in the write order: data first (parity or new copies written,
 * fdatasync'd, read back), metadata second (parity rows, strip row, each
 * member by compare-and-set on its version), old copies and parity last;
 * no member ever has fewer copies than its RF before its parity goes.
 * These executors check that the task still applies (the versions, the
 * container's k and m) and call it.
 *
 * Idempotent: a member that changed since the scan makes the task stale (a
 * lost CAS during ec_encode rolls the strip back); ec_rebuild leaves a data
 * member whose one copy verifies alone; strip_rollback refuses a complete
 * strip (stale); a crash part way through a dissolve leaves an incomplete
 * strip, which the next scan rolls back.
 */
#include <stdlib.h>
#include <string.h>

#include "jobs/job_tasks_int.h"

/* ec_encode: k cold egroups become a strip (st_store_ec_convert does it all, in order). */
static int apply_ec_encode(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
			   int64_t *bytes, struct st_msg *err)
{
	uint64_t ids[ST_REPLICAS_MAX * 3], versions[ST_REPLICAS_MAX * 3];
	struct st_egroup_rec g;
	struct st_container c;
	int k = job_arg_ec_members(t), rc;

	if (k < 2 || k > 16)
		return st_fail(err, ST_EINVAL, "ec_encode: bad argument");
	for (int i = 0; i < k; i++)
		job_arg_ec_member(t, i, &ids[i], &versions[i]);
	st_egroup_rec_init(&g);
	rc = st_meta_egroup_get(st_store_meta(st), ids[0], &g, err);
	if (rc == ST_ENOTFOUND)
		rc = st_fail(err, ST_ESTALE, "egroup %llx is gone", (unsigned long long)ids[0]);
	if (!rc)
		rc = st_config_container_by_id(st_store_config(st), g.container, &c, err);
	if (!rc && (c.rs_k != k || c.rs_m < 1))
		rc = st_fail(err, ST_ESTALE, "container '%s' changed its erasure coding", c.name);
	if (!rc)
		rc = st_store_ec_convert(st, k, c.rs_m, ids, versions, err);
	if (!rc)
		*bytes = (int64_t)g.used * (c.rf - 1) * k / k; /* roughly: the copies dropped */
	st_egroup_rec_release(&g);
	return rc;
}

/* ec_rebuild: a strip member decoded from its strip and written back. */
static int apply_ec_rebuild(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
			    int64_t *bytes, struct st_msg *err)
{
	struct st_egroup_rec g;
	int rc;

	st_egroup_rec_init(&g);
	rc = job_task_load(st, t, &g, err);
	if (!rc && !(g.flags & ST_EGROUP_EC))
		rc = st_fail(err, ST_ESTALE, "egroup %llx is not a strip member", (unsigned long long)g.id);
	if (!rc && job_protect_replica_state(st, &g, 0) == 0 && g.nreplicas == 1) {
		/* its copy may be fine after all: only rebuild what does not verify */
		uint8_t *buf = NULL;
		int ok = 1;
		for (int k = 0; ok && k < g.nextents; k++) {
			uint8_t *nb = realloc(buf, g.extents[k].raw_len + 1);
			if (!nb)
				break;
			buf = nb;
			ok = st_store_read_replica(st, &g, 0, &g.extents[k], buf) == 0;
		}
		free(buf);
		if (ok && !(g.flags & ST_EGROUP_PARITY))
			goto out;
	}
	if (!rc)
		rc = st_store_ec_rebuild(st, &g, err);
out:
	st_egroup_rec_release(&g);
	return rc;
}

/* strip_rollback: target strip id; arg: parity egroup ids (u64) when the strip row is gone. */
static int apply_strip_rollback(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
				int64_t *bytes, struct st_msg *err)
{
	uint64_t pids[16];
	int n = job_arg_parities(t, pids, 16);

	return st_store_ec_rollback(st, t->target, pids, n, bytes, err);
}

/* strip_dissolve: target strip id (st_store_ec_dissolve does it all, in order). */
static int apply_strip_dissolve(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
				int64_t *bytes, struct st_msg *err)
{
	return st_store_ec_dissolve(st, t->target, bytes, err);
}

const struct job_task_ops job_kind_ec_encode = {
	.name = "ec_encode", .priority = 12, .apply = apply_ec_encode, .reads_egroups = JOB_READS_EGROUP
};
const struct job_task_ops job_kind_ec_rebuild = { .name = "ec_rebuild", .priority = 85, .apply = apply_ec_rebuild };
const struct job_task_ops job_kind_strip_rollback = { .name = "strip_rollback", .priority = 60,
						       .apply = apply_strip_rollback };
const struct job_task_ops job_kind_strip_dissolve = { .name = "strip_dissolve", .priority = 13,
						       .apply = apply_strip_dissolve };
