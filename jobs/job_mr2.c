/*
 * job_mr2: MR2, egroup reconciliation. Map the egroup map ('G', or 'C' for
 * a corrupt row), MR1's output ('X' refs, 'Y' rows), the egroup files and
 * cloud objects ('F') and the fingerprint rows ('P'). Reduce per egroup:
 * true vs recorded refcounts -> refcount fixes; dead extents and the
 * shadowed bytes of live ones (what no block row shows, from MR1's
 * ranges) -> extent_delete, egroup_compact or egroup_delete; orphan extent-ID rows;
 * files no metadata references -> file_sweep; replicas missing or short;
 * per-disk usage, EC and move candidates and dedup chunks for MR3; and the
 * per-egroup policy of job_policy.c.
 *
 * DESIGN. The second job of a full scan; records in job_rec.h. THE SAFETY
 * RULE is applied here (job_scan.h): an extent is dead, or a recorded
 * refcount lowered, only when the egroup's last_ref_seq < S0 and no block
 * row was unreadable; otherwise it is counted as protected. A corrupt
 * egroup row, or any record the reduce does not know, leaves the whole
 * egroup alone (reported only): never act on a partial picture. Every task
 * carries the version the scan read (compare-and-set in the executor).
 * The reduce reuses its working arrays from one egroup to the next
 * (c->scr, c->gext): no allocation per egroup on the common path.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/job_scan_int.h"
#include "storage/st_chunk.h"
#include "storage/st_cloud.h"
#include "storage/st_egroup.h"

/* MR2's 'G' record (job_rec.h): the egroup row, less what the reduce does not need. */
int job_mr2_map_egroups(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
			  struct mr_emitter *em)
{
	const struct st_egroup_rec *g = val;
	size_t len;
	uint8_t *v, *p;
	int rc;

	(void)arg;
	if (vlen == 0) { /* a corrupt row: only its existence is known */
		uint8_t cm = JR_CORRUPT_ROW;
		return mr_emit(em, key, klen, &cm, JR_C_LEN);
	}
	len = jr_g_len(g->nreplicas, g->nextents);
	v = malloc(len);
	if (!v)
		return -ENOMEM;
	v[0] = JR_EGROUP_ROW;
	memcpy(v + JR_G_VERSION, &g->version, 8);
	memcpy(v + JR_G_LAST_REF_SEQ, &g->last_ref_seq, 8);
	memcpy(v + JR_G_CONTAINER, &g->container, 4);
	memcpy(v + JR_G_FLAGS, &g->flags, 4);
	memcpy(v + JR_G_USED, &g->used, 4);
	v[JR_G_TIER] = (uint8_t)g->tier;
	memcpy(v + JR_G_LAST_SCRUB, &g->last_scrub, 8);
	memcpy(v + JR_G_CREATED, &g->created, 8);
	memcpy(v + JR_G_LAST_WRITE, &g->last_write, 8);
	memcpy(v + JR_G_LAST_ACCESS, &g->last_access, 8);
	memcpy(v + JR_G_STRIP, &g->strip, 8);
	memcpy(v + JR_G_STRIP_POS, &g->strip_pos, 4);
	v[JR_G_NREPLICAS] = (uint8_t)g->nreplicas;
	p = v + JR_G_HDR;
	for (int r = 0; r < g->nreplicas; r++) {
		memcpy(p + JR_G_REP_DISK, &g->replicas[r].disk, 4);
		p[JR_G_REP_STATE] = g->replicas[r].state;
		p += JR_G_REP_LEN;
	}
	memcpy(p, &g->nextents, JR_G_NEXTENTS_LEN), p += JR_G_NEXTENTS_LEN;
	for (int k = 0; k < g->nextents; k++) {
		memcpy(p + JR_G_EXT_ID, g->extents[k].id.b, ST_EXTENT_ID_LEN);
		memcpy(p + JR_G_EXT_REFCOUNT, &g->extents[k].refcount, 4);
		memcpy(p + JR_G_EXT_STORED_LEN, &g->extents[k].stored_len, 4);
		memcpy(p + JR_G_EXT_RAW_LEN, &g->extents[k].raw_len, 4);
		memcpy(p + JR_G_EXT_FLAGS, &g->extents[k].flags, 4);
		p += JR_G_EXT_LEN;
	}
	rc = mr_emit(em, key, klen, v, len);
	free(v);
	return rc;
}

/* Decode a 'G' record into g (fields not carried are zero). 0 or -1. */
static int decode_g(const uint8_t *v, size_t len, struct st_egroup_rec *g)
{
	const uint8_t *p, *end = v + len;
	int32_t nex;

	if (len < JR_G_MIN_LEN)
		return -1;
	memcpy(&g->version, v + JR_G_VERSION, 8);
	memcpy(&g->last_ref_seq, v + JR_G_LAST_REF_SEQ, 8);
	memcpy(&g->container, v + JR_G_CONTAINER, 4);
	memcpy(&g->flags, v + JR_G_FLAGS, 4);
	memcpy(&g->used, v + JR_G_USED, 4);
	g->tier = (enum st_tier)v[JR_G_TIER];
	memcpy(&g->last_scrub, v + JR_G_LAST_SCRUB, 8);
	memcpy(&g->created, v + JR_G_CREATED, 8);
	memcpy(&g->last_write, v + JR_G_LAST_WRITE, 8);
	memcpy(&g->last_access, v + JR_G_LAST_ACCESS, 8);
	memcpy(&g->strip, v + JR_G_STRIP, 8);
	memcpy(&g->strip_pos, v + JR_G_STRIP_POS, 4);
	g->nreplicas = v[JR_G_NREPLICAS];
	p = v + JR_G_HDR;
	if (g->nreplicas > ST_REPLICAS_MAX || p + (size_t)g->nreplicas * JR_G_REP_LEN + JR_G_NEXTENTS_LEN > end)
		return -1;
	for (int r = 0; r < g->nreplicas; r++, p += JR_G_REP_LEN) {
		memcpy(&g->replicas[r].disk, p + JR_G_REP_DISK, 4);
		g->replicas[r].state = p[JR_G_REP_STATE];
	}
	memcpy(&nex, p, JR_G_NEXTENTS_LEN), p += JR_G_NEXTENTS_LEN;
	if (nex < 0 || p + (size_t)nex * JR_G_EXT_LEN != end)
		return -1;
	for (int k = 0; k < nex; k++, p += JR_G_EXT_LEN) {
		struct st_extent_rec e = { 0 };
		memcpy(e.id.b, p + JR_G_EXT_ID, ST_EXTENT_ID_LEN);
		memcpy(&e.refcount, p + JR_G_EXT_REFCOUNT, 4);
		memcpy(&e.stored_len, p + JR_G_EXT_STORED_LEN, 4);
		memcpy(&e.raw_len, p + JR_G_EXT_RAW_LEN, 4);
		memcpy(&e.flags, p + JR_G_EXT_FLAGS, 4);
		if (st_egroup_rec_add(g, &e))
			return -1;
	}
	return 0;
}

int job_mr2_map_refs(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em)
{
	uint8_t v[JR_Y_LEN] = { JR_EXTENT_REFS };

	(void)arg;
	if (vlen == JR_ROW_LEN) { /* 'Y': extent, vdisk, block of a referencing row */
		v[0] = JR_EXTENT_ROW;
		memcpy(v + 1, val, JR_ROW_LEN);
		return mr_emit(em, key, klen, v, JR_Y_LEN);
	}
	if (vlen != JR_REFS_LEN)
		return MR_EINPUT;
	memcpy(v + 1, val, JR_REFS_LEN);
	return mr_emit(em, key, klen, v, JR_X_LEN);
}

/* The fingerprint reader's values are 'P' records already. */
int job_mr2_map_fps(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em)
{
	(void)arg;
	return mr_emit(em, key, klen, val, vlen);
}

int job_mr2_map_files(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em)
{
	uint8_t v[JR_F_LEN] = { JR_FILE };

	(void)arg;
	memcpy(v + JR_F_FILE, val, vlen < JR_FILE_LEN ? vlen : JR_FILE_LEN);
	return mr_emit(em, key, klen, v, JR_F_LEN);
}

#define scratch job_scan_scratch

struct xref {
	struct st_extent_id id;
	uint32_t refs;
	uint32_t bytes; /* of it the block rows show, or JR_REFS_WHOLE */
	int seen; /* matched an extent of the record */
};

#define MAX_FILES (ST_REPLICAS_MAX * 2) /* files of one egroup looked at; more are ignored */

/*
 * One egroup as MR2's reduce sees it: what its values said. The arrays are
 * c's scratch (valid until the next egroup); fps is owned (freed by
 * job_mr2_reduce).
 */
struct eg {
	uint64_t id;
	struct st_egroup_rec g; /* the 'G' record when have_g; g.extents is c->gext */
	int have_g, corrupt;
	struct xref *xs;        /* 'X': its extents according to MR1 */
	size_t nx;
	const uint8_t **ys;     /* 'Y': row records (job_rec.h), one per row of a dedup container */
	size_t ny;
	struct st_extent_id *ids; /* working space for orphan extent-ID rows */
	uint32_t *nums;
	uint32_t fdisk[MAX_FILES]; /* 'F': its files and cloud object */
	int64_t fmtime[MAX_FILES];
	uint64_t fsize[MAX_FILES];
	int nf;
	struct st_chunk_fp *fps; /* 'P', decoded */
	size_t nfps;
	int have_fp, fp_bad;
};

/* The verdict on each extent of a live egroup (reconcile). */
struct verdict {
	int safe;                /* THE SAFETY RULE allows calling extents dead, lowering refcounts */
	struct st_extent_id *up, *down, *dead;
	uint32_t *upv, *downv, *deadv; /* true refcounts (up, down), recorded ones (dead) */
	size_t nup, ndown, ndead;
	uint64_t live;           /* bytes of the extents that stay, record headers included */
	int compacting;          /* an egroup_compact was queued (refcount_and_gc) */
};

/* Pack (extent id, u32) pairs into a task argument. */
static void *pack_pairs(const struct st_extent_id *ids, const uint32_t *vals, size_t n, size_t *len)
{
	uint8_t *p = malloc(n * JR_PAIR_LEN + 1);
	if (!p)
		return NULL;
	for (size_t i = 0; i < n; i++)
		jr_pair_put(p, i, &ids[i], vals[i]);
	*len = n * JR_PAIR_LEN;
	return p;
}

/* Queue a task whose argument is n extent pairs. -ENOMEM (nothing queued) if it cannot be built. */
static int pairs_task(struct scan_ctx *c, enum job_task_kind kind, uint64_t id, uint64_t version, int64_t bytes,
		      const struct st_extent_id *ids, const uint32_t *vals, size_t n)
{
	size_t len;
	void *p = pack_pairs(ids, vals, n, &len);

	if (!p)
		return -ENOMEM;
	job_scan_task(c, kind, id, version, bytes, p, len);
	free(p);
	return 0;
}

/*
 * Dedup (MR2 side). For a live egroup of a dedup container: every live
 * chunk becomes an 'H' record keyed by its fingerprint for MR3, carrying
 * where it is and the block rows that reference its extent; a live dedup
 * extent is announced as the chunk's existing home. Extents without
 * fingerprints get a fingerprint task (no manual step); those stored as
 * written are also announced by their checksum ('K'), so that copies of
 * whole extents are deduplicated in the cycle that first sees them.
 * Records: job_rec.h, chunk ('H' key; 'S' and 'O' values) and whole
 * extent ('K' key).
 */
static int dedup_candidates(struct scan_ctx *c, const struct eg *e, struct mr_emitter *em)
{
	const struct st_egroup_rec *g = &e->g;
	const struct st_container *ct = container_of(c, g->container);
	const struct st_chunk_fp *fps = e->fps;
	int fp_ok = e->have_fp && !e->fp_bad; /* (a bad row: all of them again) */
	uint8_t k[JR_HKEY_LEN] = { JR_KEY_CHUNK }, *v = NULL;
	size_t vcap = 0;
	int need_fp = 0, rc = 0;

	if (!ct || ct->dedup == ST_MODE_OFF || (g->flags & (ST_EGROUP_PARITY | ST_EGROUP_MOVING)))
		return 0;
	memcpy(k + JR_HKEY_CONTAINER, &g->container, 4);
	for (int x = 0; x < g->nextents && !rc; x++) {
		const struct st_extent_rec *ex = &g->extents[x];
		uint32_t truth = 0, nref = 0, have = 0;
		for (size_t i = 0; i < e->nx; i++)
			if (!memcmp(e->xs[i].id.b, ex->id.b, ST_EXTENT_ID_LEN))
				truth = e->xs[i].refs;
		if (!truth)
			continue;
		if (st_extent_id_is_dedup(&ex->id)) {
			uint8_t s[JR_S_LEN] = { JR_DEDUP_HOME };
			memcpy(k + JR_HKEY_SHA1, ex->id.b, JR_SHA1_LEN); /* a dedup id starts with it */
			memcpy(k + JR_HKEY_BYTES, &ex->raw_len, 4);
			memcpy(s + JR_S_CONTAINER, &g->container, 4);
			memcpy(s + JR_S_EGROUP, &g->id, 8);
			memcpy(s + JR_S_EXTENT, ex->id.b, ST_EXTENT_ID_LEN);
			c->c[JC_DEDUP_EXTENTS]++;
			c->c[JC_DEDUP_SAVED_BYTES] += (int64_t)(truth - 1) * ex->raw_len * g->nreplicas;
			rc = mr_emit(em, k, JR_HKEY_LEN, s, JR_S_LEN);
			continue;
		}
		for (size_t i = 0; i < e->ny; i++)
			nref += !memcmp(e->ys[i] + JR_ROW_EXTENT, ex->id.b, ST_EXTENT_ID_LEN);
		if (st_reserve(&v, &vcap, JR_O_LEN(nref), 1)) {
			rc = -ENOMEM;
			break;
		}
		v[0] = JR_CHUNK_COPY;
		memcpy(v + JR_O_CONTAINER, &g->container, 4);
		memcpy(v + JR_O_EGROUP, &g->id, 8);
		memcpy(v + JR_O_EXTENT, ex->id.b, ST_EXTENT_ID_LEN);
		memcpy(v + JR_O_NROWS, &nref, 4);
		nref = 0;
		for (size_t i = 0; i < e->ny; i++)
			if (!memcmp(e->ys[i] + JR_ROW_EXTENT, ex->id.b, ST_EXTENT_ID_LEN)) {
				memcpy(v + JR_O_LEN(nref), e->ys[i] + JR_ROW_BLOCK, JR_BLOCK_LEN);
				nref++;
			}
		for (size_t i = 0; fp_ok && i < e->nfps && !rc; i++) {
			if (memcmp(fps[i].extent.b, ex->id.b, ST_EXTENT_ID_LEN))
				continue;
			have = 1;
			memcpy(k + JR_HKEY_SHA1, fps[i].sha1, JR_SHA1_LEN);
			memcpy(k + JR_HKEY_BYTES, &fps[i].len, 4);
			memcpy(v + JR_O_OFF, &fps[i].off, 4);
			c->c[JC_CHUNKS]++;
			rc = mr_emit(em, k, JR_HKEY_LEN, v, JR_O_LEN(nref));
		}
		if (!have && !rc && !(ex->flags & ST_EXTENT_COMPRESSED)) {
			/* no fingerprints yet: identical whole extents are found by their checksum now */
			uint8_t wk[JR_KKEY_LEN] = { JR_KEY_WHOLE };
			uint32_t zero = 0;
			memcpy(wk + JR_KKEY_CONTAINER, &g->container, 4);
			memcpy(wk + JR_KKEY_CRC, &ex->crc, 4);
			memcpy(wk + JR_KKEY_BYTES, &ex->raw_len, 4);
			memcpy(v + JR_O_OFF, &zero, 4);
			rc = mr_emit(em, wk, JR_KKEY_LEN, v, JR_O_LEN(nref));
		}
		need_fp |= !have;
	}
	free(v);
	if (!rc && need_fp) {
		c->c[JC_FINGERPRINT_NEEDED]++;
		job_scan_task(c, JT_FINGERPRINT, g->id, g->version, (int64_t)g->used, NULL, 0);
	}
	return rc;
}

/*
 * Sort an egroup's values into e (the per-record loop). A record this
 * reduce does not know, or 'C', marks the egroup corrupt.
 */
static void gather(struct scan_ctx *c, struct eg *e, const struct mr_value *vals, size_t n)
{
	uint64_t version = 0, lrs = 0;

	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = vals[i].p;
		/* (a 'G' too short for version and last_ref_seq is an unknown record) */
		if (v[0] == JR_EGROUP_ROW && vals[i].len > JR_G_CONTAINER) {
			if (decode_g(v, vals[i].len, &e->g) == 0) {
				e->have_g = 1;
				version = e->g.version;
				lrs = e->g.last_ref_seq;
			}
		} else if (v[0] == JR_CORRUPT_ROW) {
			e->corrupt = 1;
		} else if (v[0] == JR_EXTENT_REFS && vals[i].len == JR_X_LEN) {
			memcpy(e->xs[e->nx].id.b, v + JR_X_EXTENT, ST_EXTENT_ID_LEN);
			memcpy(&e->xs[e->nx].refs, v + JR_X_COUNT, 4);
			memcpy(&e->xs[e->nx].bytes, v + JR_X_BYTES, 4);
			e->nx++;
		} else if (v[0] == JR_FILE && vals[i].len == JR_F_LEN) {
			if (e->nf == MAX_FILES)
				continue;
			jr_file_get(v + JR_F_FILE, &e->fdisk[e->nf], &e->fmtime[e->nf], &e->fsize[e->nf]);
			e->nf++;
		} else if (v[0] == JR_EXTENT_ROW && vals[i].len == JR_Y_LEN) {
			e->ys[e->ny++] = v + JR_Y_EXTENT;
		} else if (v[0] == JR_FPS) {
			free(e->fps);
			e->fps = NULL;
			e->nfps = 0;
			if (vals[i].len == JR_P_BAD_LEN ||
			    st_meta_fp_decode(e->id, v + JR_P_ROW, vals[i].len - JR_P_ROW, &e->fps, &e->nfps))
				e->fp_bad = 1; /* rewritten by the fingerprint task */
			e->have_fp = 1;
		} else {
			/* a record this reduce does not know: never act on a partial picture */
			e->corrupt = 1;
			job_scan_finding(c, "internal_error", e->id, NULL,
					 "egroup %" PRIx64 ": unknown MR2 record '%c' (%zu bytes); left alone", e->id, v[0],
					 vals[i].len);
		}
	}
	e->g.id = e->id;
	e->g.version = version;
	e->g.last_ref_seq = lrs;
}

/* A corrupt egroup row: everything of the egroup is left alone, its references reported. */
static void report_corrupt(struct scan_ctx *c, const struct eg *e)
{
	for (size_t i = 0; i < e->nx; i++)
		if (e->xs[i].refs)
			job_scan_finding(c, "unreadable_reference", e->id, &e->xs[i].id,
					 "%u block row(s) reference it; its egroup row is corrupt", e->xs[i].refs);
}

/*
 * Files of the egroup on disks that hold no replica of it (g NULL: no row
 * describes the egroup, every file): orphans, swept once past the grace
 * period.
 */
static void sweep_files(struct scan_ctx *c, const struct eg *e, const struct st_egroup_rec *g, uint64_t version)
{
	uint32_t sweep[MAX_FILES];
	int ns = 0;
	int64_t bytes = 0;

	for (int i = 0; i < e->nf; i++) {
		int ours = g && e->fdisk[i] == ST_CLOUD_DISK && (g->flags & ST_EGROUP_CLOUD);
		for (int r = 0; g && r < g->nreplicas; r++)
			ours |= g->replicas[r].disk == e->fdisk[i];
		if (ours)
			continue;
		c->c[JC_ORPHAN_FILES]++;
		c->c[JC_ORPHAN_FILE_BYTES] += (int64_t)e->fsize[i];
		if (c->now - e->fmtime[i] >= c->o->sweep_grace) {
			sweep[ns++] = e->fdisk[i];
			bytes += (int64_t)e->fsize[i];
		}
	}
	if (ns)
		job_scan_task(c, JT_FILE_SWEEP, e->id, version, bytes, sweep, (size_t)ns * JR_SWEEP_DISK_LEN);
}

/*
 * No row describes the egroup: its extent-ID rows are dangling (referenced:
 * an error) or orphans (deleted), its files orphans. 0 or -ENOMEM.
 */
static int no_row(struct scan_ctx *c, struct eg *e)
{
	size_t norph = 0;

	for (size_t i = 0; i < e->nx; i++) {
		if (e->xs[i].refs) {
			c->c[JC_DANGLING]++;
			job_scan_finding(c, "dangling_reference", e->id, &e->xs[i].id,
					 "%u block row(s) reference it; its extent-ID row names egroup %" PRIx64
					 ", which does not exist",
					 e->xs[i].refs, e->id);
		} else {
			e->ids[norph] = e->xs[i].id;
			e->nums[norph++] = 0;
			c->c[JC_ORPHAN_EXTENT_IDS]++;
		}
	}
	if (norph && pairs_task(c, JT_EXTENT_ID_DELETE, e->id, 0, 0, e->ids, e->nums, norph))
		return -ENOMEM;
	sweep_files(c, e, NULL, 0);
	return 0;
}

/* A parity member of a strip: its space, a half-made strip's roll-back, or its health. */
static int parity_member(struct scan_ctx *c, const struct eg *e, struct mr_emitter *em)
{
	const struct st_egroup_rec *g = &e->g;
	int rc = 0;

	c->c[JC_STORED_BYTES] += g->used;
	c->c[JC_EC_SAVED_BYTES] -= g->used;
	if (!job_policy_half_made_strip(c, g))
		job_policy_protection(c, g, 1, e->fdisk, e->fsize, e->nf);
	for (int r = 0; r < g->nreplicas && !rc; r++)
		rc = emit_usage(em, g->replicas[r].disk, g->used);
	return rc;
}

/*
 * The stored bytes of live extent x that no block row shows (its raw
 * bytes less the `shown` ones, in proportion when compressed): garbage
 * inside a live extent, which a compaction leaves behind (job_compact.c).
 * 0 for a dedup extent or one shown whole (or too fragmented to say).
 */
static uint32_t shadowed(struct scan_ctx *c, const struct st_extent_rec *x, uint32_t shown)
{
	uint64_t raw;

	if (shown == JR_REFS_WHOLE || shown >= x->raw_len || st_extent_id_is_dedup(&x->id))
		return 0;
	raw = x->raw_len - shown;
	c->c[JC_SHADOWED_BYTES] += (int64_t)raw;
	if (x->flags & ST_EXTENT_COMPRESSED)
		return (uint32_t)(raw * x->stored_len / x->raw_len);
	return (uint32_t)(raw < x->stored_len ? raw : x->stored_len);
}

/*
 * True vs recorded refcounts (the per-extent loop): each extent of the
 * record is live, dead (no reference, and the safety rule allows it) or
 * protected; live ones with a recorded refcount off go to up or down.
 * 0 or -ENOMEM (v's arrays).
 */
static int reconcile(struct scan_ctx *c, const struct eg *e, struct verdict *v)
{
	const struct st_egroup_rec *g = &e->g;
	size_t ne = (size_t)g->nextents + 1;

	/* a corrupt block row hides references: then nothing is dead this scan */
	v->safe = g->last_ref_seq < c->s0 && !c->refs_incomplete;
	v->up = scratch(c, SCR_UP, ne * sizeof(*v->up));
	v->down = scratch(c, SCR_DOWN, ne * sizeof(*v->down));
	v->dead = scratch(c, SCR_DEAD, ne * sizeof(*v->dead));
	v->upv = scratch(c, SCR_UPV, ne * sizeof(*v->upv));
	v->downv = scratch(c, SCR_DOWNV, ne * sizeof(*v->downv));
	v->deadv = scratch(c, SCR_DEADV, ne * sizeof(*v->deadv));
	if (!v->up || !v->down || !v->dead || !v->upv || !v->downv || !v->deadv)
		return -ENOMEM;
	c->c[JC_EXTENTS] += g->nextents;
	c->c[JC_STORED_BYTES] += g->used;
	for (int k = 0; k < g->nextents; k++) {
		const struct st_extent_rec *x = &g->extents[k];
		uint32_t truth = 0, shown = JR_REFS_WHOLE;
		for (size_t i = 0; i < e->nx; i++)
			if (!memcmp(e->xs[i].id.b, x->id.b, ST_EXTENT_ID_LEN)) {
				truth = e->xs[i].refs;
				shown = e->xs[i].bytes;
				e->xs[i].seen = 1;
			}
		if (truth == 0) {
			if (!v->safe) {
				c->c[JC_PROTECTED]++;
				v->live += ST_EXTENT_HDR + x->stored_len;
				continue;
			}
			if (st_extent_id_is_dedup(&x->id) && x->refcount) {
				/*
				 * A dedup extent can be referenced from anywhere: its second
				 * witness is its recorded refcount, lowered to 0 first; the
				 * next scan that finds it dead again collects it.
				 */
				c->c[JC_REFCOUNT_HIGH]++;
				v->live += ST_EXTENT_HDR + x->stored_len;
				v->down[v->ndown] = x->id;
				v->downv[v->ndown++] = 0;
				continue;
			}
			c->c[JC_DEAD_EXTENTS]++;
			c->c[JC_DEAD_BYTES] += ST_EXTENT_HDR + x->stored_len;
			v->dead[v->ndead] = x->id;
			v->deadv[v->ndead++] = x->refcount;
			continue;
		}
		v->live += ST_EXTENT_HDR + x->stored_len - shadowed(c, x, shown);
		c->c[JC_LIVE_BYTES] += x->raw_len;
		if (x->flags & ST_EXTENT_COMPRESSED) {
			c->c[JC_COMPRESSED_EXTENTS]++;
			c->c[JC_COMPRESSION_SAVED_BYTES] += (int64_t)(x->raw_len - x->stored_len) * g->nreplicas;
		}
		if (x->refcount < truth) {
			c->c[JC_REFCOUNT_LOW]++;
			job_scan_finding(c, "refcount_low", e->id, &x->id, "recorded %u < %u references: raised", x->refcount,
					 truth);
			v->up[v->nup] = x->id;
			v->upv[v->nup++] = truth;
		} else if (x->refcount > truth) {
			c->c[JC_REFCOUNT_HIGH]++;
			if (v->safe) {
				v->down[v->ndown] = x->id;
				v->downv[v->ndown++] = truth;
			} else {
				c->c[JC_PROTECTED]++;
			}
		}
	}
	return 0;
}

/* Extent-ID rows naming this egroup for extents it does not hold: dangling, or orphans to delete. */
static void stray_extent_ids(struct scan_ctx *c, struct eg *e)
{
	size_t norph = 0;

	for (size_t i = 0; i < e->nx; i++) {
		if (e->xs[i].seen)
			continue;
		if (e->xs[i].refs) {
			c->c[JC_DANGLING]++;
			job_scan_finding(c, "dangling_reference", e->id, &e->xs[i].id,
					 "%u block row(s) reference it; egroup %" PRIx64 " does not hold it", e->xs[i].refs,
					 e->id);
		} else {
			c->c[JC_ORPHAN_EXTENT_IDS]++;
			e->ids[norph] = e->xs[i].id;
			e->nums[norph++] = 0;
		}
	}
	if (norph)
		pairs_task(c, JT_EXTENT_ID_DELETE, e->id, 0, 0, e->ids, e->nums, norph);
}

/*
 * Refcounts and garbage: raise low refcounts; then at most one of: dead
 * extents of a strip member leave the metadata (its bytes keep the strip
 * decodable), a wholly dead egroup goes, one with enough garbage (or being
 * moved out) is compacted, dead extents leave the record, high refcounts
 * are lowered. (A task whose argument cannot be built is not queued: the
 * next scan finds the same.)
 */
static void refcount_and_gc(struct scan_ctx *c, const struct eg *e, struct verdict *v)
{
	const struct st_egroup_rec *g = &e->g;
	uint64_t garbage = g->used > ST_EGROUP_HDR + v->live ? g->used - ST_EGROUP_HDR - v->live : 0;
	int moving = (g->flags & ST_EGROUP_MOVING) != 0, ec = (g->flags & ST_EGROUP_EC) != 0;

	c->c[JC_GARBAGE_BYTES] += (int64_t)garbage;
	if (v->nup) {
		/* a refcount below its references: nothing in this egroup is deleted until it is repaired */
		pairs_task(c, JT_REFCOUNT_UP, e->id, g->version, 0, v->up, v->upv, v->nup);
		if (v->ndead)
			c->c[JC_GC_HELD]++;
		return;
	}
	if (ec && v->ndead) {
		/* NEEDSWORK: re-encode or shrink strips whose members are mostly dead */
		pairs_task(c, JT_EXTENT_DELETE, e->id, g->version, 0, v->dead, v->deadv, v->ndead);
	} else if (v->safe && v->ndead == (size_t)g->nextents && !job_task_refusal(JT_EGROUP_DELETE, g->flags)) {
		c->c[JC_DEAD_EGROUPS]++;
		/*
		 * No argument: every extent of the egroup is dead, the executor
		 * witnesses each from the row it re-reads, and `curator explain
		 * extent` finds the task by its egroup (a million dead egroups
		 * would otherwise write ~280 MB of extent lists into curator.db).
		 */
		job_scan_task(c, JT_EGROUP_DELETE, e->id, g->version, (int64_t)g->used * g->nreplicas, NULL, 0);
	} else if (v->safe && !job_task_refusal(JT_EGROUP_COMPACT, g->flags) &&
		   (moving || (garbage && garbage * 100 >= (uint64_t)c->o->compact_pct * g->used))) {
		/* (a strip member's garbage: its strip is dissolved when mostly dead, job_policy_strip_gc) */
		v->compacting = 1;
		pairs_task(c, JT_EGROUP_COMPACT, e->id, g->version, (int64_t)garbage * g->nreplicas, v->dead, v->deadv,
			   v->ndead);
	} else if (v->ndead) {
		pairs_task(c, JT_EXTENT_DELETE, e->id, g->version, 0, v->dead, v->deadv, v->ndead);
	} else if (v->ndown) {
		pairs_task(c, JT_REFCOUNT_DOWN, e->id, g->version, 0, v->down, v->downv, v->ndown);
	}
}

/* Replicas vs files on disk (missing, or shorter than the bytes in use); usage per replica. */
static int check_replicas(struct scan_ctx *c, const struct eg *e, struct mr_emitter *em)
{
	const struct st_egroup_rec *g = &e->g;
	int rc = 0;

	for (int r = 0; r < g->nreplicas; r++) {
		int found = 0, di = disk_index(c, g->replicas[r].disk);
		for (int i = 0; i < e->nf; i++) {
			if (e->fdisk[i] != g->replicas[r].disk)
				continue;
			found = 1;
			if (e->fsize[i] < g->used) {
				c->c[JC_SHORT_REPLICAS]++;
				job_scan_finding(c, "short_replica", e->id, NULL,
						 "egroup %" PRIx64 ": the file on disk %u has %" PRIu64 " of %u bytes (truncated)",
						 e->id, g->replicas[r].disk, e->fsize[i], g->used);
			}
		}
		if (!found && di >= 0 && c->disks[di].ok && !c->disks[di].removed) {
			c->c[JC_MISSING_REPLICAS]++;
			job_scan_finding(c, "missing_replica", e->id, NULL, "egroup %" PRIx64 ": no file on disk %u", e->id,
					 g->replicas[r].disk);
		}
		if (!rc)
			rc = emit_usage(em, g->replicas[r].disk, g->used);
	}
	return rc;
}

/*
 * The policy of an egroup that stays (job_policy.c): protection; unless
 * extents just died or it is being compacted, compression or else EC;
 * dedup candidates; and, when neither and the safety rule holds, placement. Called with the rc so
 * far: protection runs whatever it is, the rest only on 0.
 */
static int policy(struct scan_ctx *c, const struct eg *e, const struct verdict *v, int rc, struct mr_emitter *em)
{
	const struct st_egroup_rec *g = &e->g;
	int busy = v->ndead || v->compacting; /* (compaction first: no whole-egroup rewrite of its garbage) */

	job_policy_protection(c, g, 1, e->fdisk, e->fsize, e->nf); /* dead egroups need no copies */
	if (!rc && !busy && !(v->safe && job_policy_compress(c, g)))
		rc = job_policy_ec(c, g, em);
	if (!rc)
		rc = dedup_candidates(c, e, em);
	if (!rc && !busy && v->safe)
		rc = job_policy_placement(c, g, em);
	return rc;
}

/* A live egroup (a row, not a parity member): the steps above, in order. 0, -ENOMEM or the engine's error. */
static int live_egroup(struct scan_ctx *c, struct eg *e, struct mr_emitter *em)
{
	const struct st_egroup_rec *g = &e->g;
	struct verdict v = { 0 };
	int rc;

	if (g->flags & ST_EGROUP_EC) {
		c->c[JC_EC_EGROUPS]++;
		job_policy_strip_gc(c, g);
		for (int i = 0; i < c->nconts; i++) /* the copies RF would have kept */
			if (c->conts[i].id == g->container)
				c->c[JC_EC_SAVED_BYTES] += (int64_t)g->used * (c->conts[i].rf - 1);
	}
	rc = reconcile(c, e, &v);
	if (rc)
		return rc;
	stray_extent_ids(c, e);
	refcount_and_gc(c, e, &v);
	rc = check_replicas(c, e, em);
	sweep_files(c, e, g, g->version);
	if (!(v.safe && v.ndead == (size_t)g->nextents))
		rc = policy(c, e, &v, rc, em);
	return rc;
}

int job_mr2_reduce(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
		   struct mr_emitter *em)
{
	struct scan_ctx *c = arg;
	struct eg e = { .nx = 0 };
	int rc = 0;

	if (job_scan_poll(c, 0))
		return c->w.rc;
	(void)klen;
	memcpy(&e.id, key, 8);
	st_egroup_rec_init(&e.g);
	e.g.extents = c->gext; /* reused: see out */
	e.g.cap = c->gext_cap;
	e.xs = scratch(c, SCR_XS, (n + 1) * sizeof(*e.xs));
	e.ids = scratch(c, SCR_IDS, (n + 1) * sizeof(*e.ids));
	e.nums = scratch(c, SCR_NUMS, (n + 1) * sizeof(*e.nums));
	e.ys = scratch(c, SCR_YS, (n + 1) * sizeof(*e.ys));
	if (!e.xs || !e.ids || !e.nums || !e.ys) {
		rc = -ENOMEM;
		goto out;
	}
	memset(e.xs, 0, (n + 1) * sizeof(*e.xs));
	gather(c, &e, vals, n);
	for (int r = 0; e.have_g && !e.corrupt && r < e.g.nreplicas; r++)
		if (disk_index(c, e.g.replicas[r].disk) < 0) {
			/* a row naming a disk the cluster never had cannot be right: its files and extents stay */
			e.corrupt = 1;
			c->c[JC_CORRUPT_ROWS]++;
			job_scan_finding(c, "corrupt_row", e.id, NULL,
					 "egroup %" PRIx64 ": its row names disk %u, which does not exist; left alone", e.id,
					 e.g.replicas[r].disk);
		}
	c->task_node = e.have_g && !e.corrupt ? job_scan_egroup_node(c, &e.g) : 0; /* its tasks' node */
	if (e.corrupt)
		report_corrupt(c, &e);
	else if (!e.have_g)
		rc = no_row(c, &e);
	else if (e.g.flags & ST_EGROUP_PARITY)
		rc = parity_member(c, &e, em);
	else
		rc = live_egroup(c, &e, em);
out:
	if (!e.have_g && e.have_fp && !e.corrupt) /* fingerprints of an egroup that is gone */
		job_scan_task(c, JT_FINGERPRINT, e.id, 0, 0, NULL, 0);
	c->task_node = 0;
	c->gext = e.g.extents; /* kept for the next egroup */
	c->gext_cap = e.g.cap;
	free(e.fps);
	return c->oom ? -ENOMEM : rc;
}
