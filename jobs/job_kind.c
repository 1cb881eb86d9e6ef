/*
 * job_kind: the registry of task kinds and what every executor shares.
 *
 * DESIGN: one ops entry per kind (jobs/job_tasks_int.h), defined in the
 * file of its family, listed here by its number: the runner, the reports
 * and the CLI find a kind's name, priority, executor and batching only
 * through this table, so a new kind is one entry in its family's file and
 * one line here, and no switch on the kind exists anywhere else.
 *
 * It also holds job_task_load, the compare-and-set check every executor
 * starts with (the version the scan read must still be the row's), which
 * is what makes a task safe to apply late, twice, or after a crash.
 */
#include "jobs/job_kind.h"

#include <inttypes.h>
#include <string.h>

#include "jobs/job_tasks_int.h"

/* By kind number (the order of the README's list is by priority, not this). */
static const struct job_task_ops *const registry[JT_NKINDS] = {
	[JT_REFCOUNT_UP] = &job_kind_refcount_up,
	[JT_REFCOUNT_DOWN] = &job_kind_refcount_down,
	[JT_EXTENT_DELETE] = &job_kind_extent_delete,
	[JT_EGROUP_COMPACT] = &job_kind_egroup_compact,
	[JT_EGROUP_DELETE] = &job_kind_egroup_delete,
	[JT_EXTENT_ID_DELETE] = &job_kind_extent_id_delete,
	[JT_BLOCKS_DELETE] = &job_kind_blocks_delete,
	[JT_FILE_SWEEP] = &job_kind_file_sweep,
	[JT_REREPLICATE] = &job_kind_rereplicate,
	[JT_DROP_EXTRA] = &job_kind_drop_extra,
	[JT_SCRUB] = &job_kind_scrub,
	[JT_DISK_REMOVED] = &job_kind_disk_removed,
	[JT_EC_ENCODE] = &job_kind_ec_encode,
	[JT_EC_REBUILD] = &job_kind_ec_rebuild,
	[JT_STRIP_ROLLBACK] = &job_kind_strip_rollback,
	[JT_STRIP_DISSOLVE] = &job_kind_strip_dissolve,
	[JT_COMPRESS] = &job_kind_compress,
	[JT_FINGERPRINT] = &job_kind_fingerprint,
	[JT_DEDUP] = &job_kind_dedup,
	[JT_TIER_DOWN] = &job_kind_tier_down,
	[JT_TIER_UP] = &job_kind_tier_up,
	[JT_DISK_BALANCE] = &job_kind_disk_balance,
};

const struct job_task_ops *job_task_ops_get(int kind)
{
	return kind >= 0 && kind < JT_NKINDS ? registry[kind] : NULL;
}

const char *job_task_kind_name(enum job_task_kind k)
{
	const struct job_task_ops *o = job_task_ops_get((int)k);

	return o ? o->name : "?";
}

int job_task_kind_parse(const char *s)
{
	for (int i = 0; i < JT_NKINDS; i++)
		if (registry[i] && !strcmp(s, registry[i]->name))
			return i;
	return -1;
}

int job_task_priority(enum job_task_kind k)
{
	const struct job_task_ops *o = job_task_ops_get((int)k);

	return o ? o->priority : 0;
}

const char *job_task_refusal(enum job_task_kind k, uint32_t flags)
{
	const struct job_task_ops *o = job_task_ops_get((int)k);
	uint32_t hit = o ? o->refuses & flags : 0;

	if (hit & (ST_EGROUP_EC | ST_EGROUP_PARITY))
		return "is a strip member";
	if (hit & ST_EGROUP_MOVING)
		return "is frozen (MOVING) by a compaction";
	return hit ? "is in a state this kind does not act on" : NULL;
}

/* The row and its version check; frozen: the scan's version + 1 with MOVING passes (job_task_load_frozen). */
static int load(struct st_store *st, const struct job_task *t, struct st_egroup_rec *g, int frozen, struct st_msg *err)
{
	int rc = st_meta_egroup_get(st_store_meta(st), t->target, g, err);
	const char *why;

	if (!rc && t->version && g->version != t->version &&
	    !(frozen && (g->flags & ST_EGROUP_MOVING) && g->version == t->version + 1))
		rc = ST_ENOTFOUND;
	if (rc == ST_ENOTFOUND)
		return st_fail(err, ST_ESTALE, "egroup %" PRIx64 " changed since the scan", t->target);
	if (rc)
		return rc;
	why = job_task_refusal(t->kind, g->flags);
	if (why)
		return st_fail(err, ST_ESTALE, "egroup %" PRIx64 " %s now", g->id, why);
	return 0;
}

int job_task_load(struct st_store *st, const struct job_task *t, struct st_egroup_rec *g, struct st_msg *err)
{
	return load(st, t, g, 0, err);
}

int job_task_load_plain(struct st_store *st, const struct job_task *t, struct st_egroup_rec *g, struct st_msg *err)
{
	return load(st, t, g, 0, err);
}

int job_task_load_frozen(struct st_store *st, const struct job_task *t, struct st_egroup_rec *g, struct st_msg *err)
{
	return load(st, t, g, 1, err);
}
