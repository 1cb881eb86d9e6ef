/*
 * job_mr1: MR1, extent references. Map the vdisk block map (one 'R' per
 * extent a row references, or 'B' naming the row in dedup containers; rows
 * of deleted vdisks are counted, rank 0 queues their blocks_delete) and the
 * extent ID map ('E': the extent's egroup). Reduce per extent: the true
 * refcount and its egroup, output keyed by egroup for MR2 (refs, and a row
 * record per 'B'); an extent referenced but without an extent-ID row is a
 * dangling reference (reported, an error).
 *
 * DESIGN. The first job of a full scan; records in job_rec.h. The safety
 * rule starts here: every reference found is counted (a block row of a
 * vdisk config.db does not know counts too), so MR2 never calls a
 * referenced extent dead. The reduce's values may come in any order
 * (values_unordered): a count, one 'E' and the 'B's.
 */
#include <inttypes.h>
#include <string.h>

#include "jobs/job_scan_int.h"

int job_mr1_map_blocks(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em)
{
	struct scan_ctx *c = arg;
	const struct st_block *b = val;
	uint8_t *state = st_hmap_get(&c->vd, &b->vdisk);
	uint8_t r[JR_B_LEN] = { JR_REF };
	size_t rlen = JR_R_LEN;

	(void)key;
	(void)klen;
	(void)vlen;
	if (state && (*state & VD_DEDUP)) { /* dedup repoints block rows: name this one */
		r[0] = JR_REF_ROW;
		jr_block_put(r + JR_B_BLOCK, b->vdisk, b->block);
		rlen = JR_B_LEN;
	}
	if (state && (*state & ~VD_DEDUP) == ST_VDISK_DELETED) {
		c->c[JC_DELETED_VDISK_ROWS]++; /* rank 0 queues one blocks_delete per deleted vdisk */
		return 0;
	}
	if (!state)
		c->c[JC_UNKNOWN_VDISK_ROWS]++; /* counted as references: never collected blindly */
	for (int i = 0; i < b->n; i++) {
		int dup = 0;
		for (int q = 0; q < i; q++)
			dup |= !memcmp(b->r[q].extent.b, b->r[i].extent.b, ST_EXTENT_ID_LEN);
		if (dup)
			continue; /* a row references an extent once, however many regions */
		int rc = mr_emit(em, b->r[i].extent.b, ST_EXTENT_ID_LEN, r, rlen);
		if (rc)
			return rc;
	}
	return 0;
}

int job_mr1_map_extents(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em)
{
	uint8_t v[JR_E_LEN] = { JR_EGROUP_OF };

	(void)arg;
	memcpy(v + JR_E_EGROUP, val, vlen < JR_E_LEN - JR_E_EGROUP ? vlen : JR_E_LEN - JR_E_EGROUP);
	return mr_emit(em, key, klen, v, JR_E_LEN);
}

/* Per extent: count 'R's, find its egroup; output egroup -> extent, refs. */
int job_mr1_reduce(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
			 struct mr_emitter *em)
{
	struct scan_ctx *c = arg;
	uint32_t refs = 0;
	uint64_t egroup = 0;
	uint8_t out[JR_REFS_LEN];

	if (job_scan_poll(c, 0))
		return c->w.rc;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = vals[i].p;
		if (v[0] == JR_REF || v[0] == JR_REF_ROW)
			refs++;
		else if (v[0] == JR_EGROUP_OF && vals[i].len == JR_E_LEN)
			memcpy(&egroup, v + JR_E_EGROUP, 8);
	}
	if (egroup) { /* the block rows of dedup containers, for MR2's dedup candidates */
		uint8_t y[JR_ROW_LEN];
		memcpy(y + JR_ROW_EXTENT, key, ST_EXTENT_ID_LEN);
		for (size_t i = 0; i < n; i++) {
			int rc;
			if (((const uint8_t *)vals[i].p)[0] != JR_REF_ROW || vals[i].len != JR_B_LEN)
				continue;
			memcpy(y + JR_ROW_BLOCK, (const uint8_t *)vals[i].p + JR_B_BLOCK, JR_BLOCK_LEN);
			rc = mr_emit(em, &egroup, sizeof(egroup), y, sizeof(y));
			if (rc)
				return rc;
		}
	}
	if (!egroup) {
		struct st_extent_id x;
		memcpy(x.b, key, ST_EXTENT_ID_LEN);
		c->c[JC_DANGLING]++;
		job_scan_finding(c, "dangling_reference", 0, &x,
				 "%u block row(s) reference an extent with no extent-ID row", refs);
		return 0;
	}
	(void)klen;
	memcpy(out + JR_REFS_EXTENT, key, ST_EXTENT_ID_LEN);
	memcpy(out + JR_REFS_COUNT, &refs, 4);
	return mr_emit(em, &egroup, sizeof(egroup), out, sizeof(out));
}
