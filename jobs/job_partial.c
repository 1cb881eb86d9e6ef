/*
 * job_partial: the partial scan's map, over the egroup map alone
 * (recorded refcounts): egroups whose recorded refcounts are all zero ->
 * egroup_delete; the policy of job_policy.c (protection, compression, ILM,
 * balancing); per-disk usage for the reduce (job_mr3.c).
 *
 * DESIGN. One job, cheaper than a full scan and run more often. THE
 * SAFETY RULE: an all-zero egroup is deleted only if its last_ref_seq < S0
 * (else it is counted as protected); EC strip members always stay (their
 * strip must stay decodable); a corrupt row is left alone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/job_scan_int.h"

static int partial_map(struct scan_ctx *c, const struct st_egroup_rec *g, struct mr_emitter *em);

/* Partial scan map: recorded refcounts only; the egroup's tasks are stamped with its node. */
int job_partial_map(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em)
{
	struct scan_ctx *c = arg;
	int rc;

	(void)key;
	(void)klen;
	if (vlen == 0)
		return 0; /* a corrupt row (no record): reported by the reader, left alone */
	c->task_node = job_scan_egroup_node(c, val);
	rc = partial_map(c, val, em);
	c->task_node = 0;
	return rc;
}

static int partial_map(struct scan_ctx *c, const struct st_egroup_rec *g, struct mr_emitter *em)
{
	int all_zero = 1, rc = 0;

	c->c[JC_EXTENTS] += g->nextents;
	c->c[JC_STORED_BYTES] += g->used;
	if (g->flags & ST_EGROUP_PARITY) {
		job_policy_protection(c, g, 0, NULL, NULL, 0);
		for (int r = 0; r < g->nreplicas && !rc; r++)
			rc = emit_usage(em, g->replicas[r].disk, g->used);
		return rc;
	}
	/*
	 * Recorded refcounts are one witness; the executor's home-block lookups
	 * are the second (job_witness_check). A dedup extent has no home block,
	 * so an egroup holding one is left to the full scan's true refcounts.
	 */
	for (int k = 0; k < g->nextents; k++)
		all_zero &= g->extents[k].refcount == 0 && !st_extent_id_is_dedup(&g->extents[k].id);
	if (job_task_refusal(JT_EGROUP_DELETE, g->flags))
		all_zero = 0; /* strip members stay (keeping their strip decodable) */
	if (all_zero) {
		if (g->last_ref_seq < c->s0) {
			c->c[JC_DEAD_EGROUPS]++;
			c->c[JC_DEAD_EXTENTS] += g->nextents;
			c->c[JC_DEAD_BYTES] += g->used;
			/* no argument, as in MR2: the executor re-reads every extent */
			job_scan_task(c, JT_EGROUP_DELETE, g->id, g->version, (int64_t)g->used * g->nreplicas, NULL, 0);
		} else {
			c->c[JC_PROTECTED]++;
		}
	}
	if ((g->flags & ST_EGROUP_MOVING) && !all_zero && !job_task_refusal(JT_EGROUP_COMPACT, g->flags)) {
		/*
		 * Frozen by a compaction or compression that died and ran out of
		 * attempts: rolled forward now, not at the next full scan (which
		 * may be hours away; snapshots of its vdisk wait on it). No
		 * argument: nothing is dropped, every extent moves.
		 */
		job_scan_task(c, JT_EGROUP_COMPACT, g->id, g->version, 0, NULL, 0);
	}
	if (!(all_zero && g->last_ref_seq < c->s0)) {
		job_policy_protection(c, g, 0, NULL, NULL, 0);
		/* policy by age and place needs no references: compression, ILM, balancing */
		if (!all_zero && !(g->last_ref_seq < c->s0 && job_policy_compress(c, g)))
			rc = job_policy_placement(c, g, em);
	}
	for (int r = 0; r < g->nreplicas && !rc; r++)
		rc = emit_usage(em, g->replicas[r].disk, g->used);
	return c->oom ? -ENOMEM : rc;
}
