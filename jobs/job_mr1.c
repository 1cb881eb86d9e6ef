/*
 * job_mr1: MR1, extent references. Map the vdisk block map (one 'R' per
 * extent a row references, or 'B' naming the row in dedup containers; rows
 * of deleted vdisks are counted, rank 0 queues their blocks_delete) and the
 * extent ID map ('E': the extent's egroup). Reduce per extent: the true
 * refcount and its egroup, output keyed by egroup for MR2 (refs, and a row
 * record per 'B'), with the bytes of it the rows show (their ranges
 * coalesced: what is not shown is shadowed garbage inside a live extent,
 * DESIGN.md §6); an extent referenced but without an extent-ID row is a
 * dangling reference (reported, an error).
 *
 * DESIGN. The first job of a full scan; records in job_rec.h. The safety
 * rule starts here: every reference found is counted (a block row of a
 * vdisk config.db does not know counts too), so MR2 never calls a
 * referenced extent dead. The reduce's values may come in any order
 * (values_unordered): a count, one 'E' and the 'B's. The ranges cost
 * nothing on the common path (a region over a whole block is a bare tag;
 * the reduce sorts only when some value carries ranges) and reuse c's
 * scratch: no allocation per row or extent.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "jobs/job_scan_int.h"

/* A dedup id (bytes 20..23 not zero, st_meta.h), inline: this runs per region of every row. */
static inline int is_dedup(const struct st_extent_id *x)
{
	return (x->b[20] | x->b[21] | x->b[22] | x->b[23]) != 0;
}

int job_mr1_map_blocks(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em)
{
	struct scan_ctx *c = arg;
	const struct st_block *b = val;
	const uint8_t *state = st_hmap_get(&c->vd, &b->vdisk);
	uint8_t r[JR_B_RANGES + JR_RANGE_SIZE * ST_REGIONS_MAX] = { JR_REF };
	size_t hdr = JR_R_RANGES;
	uint32_t bs = state ? 1u << state[VD_SHIFT] : 0; /* unknown vdisk: ranges always */

	(void)key;
	(void)klen;
	(void)vlen;
	if (state && (state[VD_STATE] & VD_DEDUP)) { /* dedup repoints block rows: name this one */
		r[0] = JR_REF_ROW;
		jr_block_put(r + JR_B_BLOCK, b->vdisk, b->block);
		hdr = JR_B_RANGES;
	}
	if (state && (state[VD_STATE] & ~VD_DEDUP) == ST_VDISK_DELETED) {
		c->c[JC_DELETED_VDISK_ROWS]++; /* rank 0 queues one blocks_delete per deleted vdisk */
		return 0;
	}
	if (!state)
		c->c[JC_UNKNOWN_VDISK_ROWS]++; /* counted as references: never collected blindly */
	for (int i = 0; i < b->n; i++) {
		const struct st_region *ri = &b->r[i];
		size_t len = hdr;
		int dup = 0, whole = is_dedup(&ri->extent);
		for (int q = 0; q < i && !dup; q++)
			dup = !memcmp(b->r[q].extent.b, ri->extent.b, ST_EXTENT_ID_LEN);
		if (dup)
			continue; /* a row references an extent once, however many regions */
		/* the ranges of every region of this row naming the extent (one, mostly) */
		for (int q = i; q < b->n && !whole; q++) {
			const struct st_region *rq = &b->r[q];
			if (q > i && memcmp(rq->extent.b, ri->extent.b, ST_EXTENT_ID_LEN))
				continue;
			whole = rq->extent_off == 0 && rq->len == bs;
			if (!whole)
				jr_range_put(r + len, rq->extent_off, rq->len);
			len += JR_RANGE_SIZE;
		}
		int rc = mr_emit(em, ri->extent.b, ST_EXTENT_ID_LEN, r, whole ? hdr : len);
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

/*
 * The bytes of the extent the block rows show: the ranges of its 'R' and
 * 'B' values coalesced (c's scratch), or JR_REFS_WHOLE when a value says
 * whole, or they fall into more than JR_RANGES_MAX pieces.
 */
static uint32_t referenced_bytes(struct scan_ctx *c, const struct mr_value *vals, size_t n, size_t nranges)
{
	struct jr_range *rg = job_scan_scratch(c, SCR_RANGES, (nranges + 1) * sizeof(*rg));
	size_t k = 0;
	uint64_t total;

	if (!rg) {
		c->oom = 1;
		return JR_REFS_WHOLE;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = vals[i].p;
		size_t h = v[0] == JR_REF ? JR_R_RANGES : JR_B_RANGES;
		if ((v[0] != JR_REF && v[0] != JR_REF_ROW) || vals[i].len < h)
			continue;
		for (const uint8_t *p = v + h; p + JR_RANGE_SIZE <= v + vals[i].len; p += JR_RANGE_SIZE) {
			uint32_t off, len;
			jr_range_get(p, &off, &len);
			rg[k].off = off;
			rg[k++].end = off + len < off ? UINT32_MAX : off + len;
		}
	}
	if (jr_ranges_coalesce(rg, k, &total) > JR_RANGES_MAX || total >= JR_REFS_WHOLE)
		return JR_REFS_WHOLE;
	return (uint32_t)total;
}

/* Per extent: count 'R's, find its egroup; output egroup -> extent, refs. */
int job_mr1_reduce(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
			 struct mr_emitter *em)
{
	struct scan_ctx *c = arg;
	uint32_t refs = 0, bytes = 0;
	uint64_t egroup = 0;
	size_t nranges = 0;
	int whole = 0;
	uint8_t out[JR_REFS_LEN];

	if (job_scan_poll(c, 0))
		return c->w.rc;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = vals[i].p;
		if (v[0] == JR_REF || v[0] == JR_REF_ROW) {
			size_t h = v[0] == JR_REF ? JR_R_RANGES : JR_B_RANGES;
			refs++;
			whole |= vals[i].len <= h;
			nranges += vals[i].len > h ? (vals[i].len - h) / JR_RANGE_SIZE : 0;
		} else if (v[0] == JR_EGROUP_OF && vals[i].len == JR_E_LEN)
			memcpy(&egroup, v + JR_E_EGROUP, 8);
	}
	if (egroup) { /* the block rows of dedup containers, for MR2's dedup candidates */
		uint8_t y[JR_ROW_LEN];
		memcpy(y + JR_ROW_EXTENT, key, ST_EXTENT_ID_LEN);
		for (size_t i = 0; i < n; i++) {
			int rc;
			if (((const uint8_t *)vals[i].p)[0] != JR_REF_ROW || vals[i].len < JR_B_LEN)
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
	if (refs)
		bytes = whole ? JR_REFS_WHOLE : referenced_bytes(c, vals, n, nranges);
	memcpy(out + JR_REFS_EXTENT, key, ST_EXTENT_ID_LEN);
	memcpy(out + JR_REFS_COUNT, &refs, 4);
	memcpy(out + JR_REFS_BYTES, &bytes, 4);
	if (c->oom)
		return -ENOMEM;
	return mr_emit(em, &egroup, sizeof(egroup), out, sizeof(out));
}
