/*
 * job_mr2: MR2, egroup reconciliation. Map the egroup map ('G', or 'C' for
 * a corrupt row), MR1's output ('X' refs, 'Y' rows), the egroup files and
 * cloud objects ('F') and the fingerprint rows ('P'). Reduce per egroup:
 * true vs recorded refcounts -> refcount fixes; dead extents ->
 * extent_delete, egroup_compact or egroup_delete; orphan extent-ID rows;
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

/* Grow-only scratch buffer `slot` of at least `bytes` (NULL: out of memory). */
static void *scratch(struct scan_ctx *c, int slot, size_t bytes)
{
	if (bytes > c->scr[slot].cap) {
		size_t cap = bytes < 4096 ? 4096 : bytes * 2;
		void *p = realloc(c->scr[slot].p, cap);
		if (!p)
			return NULL;
		c->scr[slot].p = p;
		c->scr[slot].cap = cap;
	}
	return c->scr[slot].p;
}

struct xref {
	struct st_extent_id id;
	uint32_t refs;
	int seen; /* matched an extent of the record */
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

/*
 * Dedup (MR2 side). For a live egroup of a dedup container: every live
 * chunk becomes an 'H' record keyed by its fingerprint for MR3, carrying
 * where it is and the block rows that reference its extent; a live dedup
 * extent is announced as the chunk's existing home. Extents without
 * fingerprints get a fingerprint job_scan_task (no manual step). Records: job_rec.h,
 * chunk ('H' key; 'S' and 'O' values).
 */
static int dedup_candidates(struct scan_ctx *c, const struct st_egroup_rec *g, const struct xref *xs, size_t nx,
			    const uint8_t **ys, size_t ny, const struct st_chunk_fp *fps, size_t nfps, int fp_ok,
			    struct mr_emitter *em)
{
	const struct st_container *ct = container_of(c, g->container);
	uint8_t k[JR_HKEY_LEN] = { JR_KEY_CHUNK }, *v = NULL;
	size_t vcap = 0;
	int need_fp = 0, rc = 0;

	if (!ct || ct->dedup == ST_MODE_OFF || (g->flags & (ST_EGROUP_PARITY | ST_EGROUP_MOVING)))
		return 0;
	memcpy(k + JR_HKEY_CONTAINER, &g->container, 4);
	for (int e = 0; e < g->nextents && !rc; e++) {
		const struct st_extent_rec *x = &g->extents[e];
		uint32_t truth = 0, nref = 0, have = 0;
		for (size_t i = 0; i < nx; i++)
			if (!memcmp(xs[i].id.b, x->id.b, ST_EXTENT_ID_LEN))
				truth = xs[i].refs;
		if (!truth)
			continue;
		if (st_extent_id_is_dedup(&x->id)) {
			uint8_t s[JR_S_LEN] = { JR_DEDUP_HOME };
			memcpy(k + JR_HKEY_SHA1, x->id.b, JR_SHA1_LEN); /* a dedup id starts with it */
			memcpy(k + JR_HKEY_BYTES, &x->raw_len, 4);
			memcpy(s + JR_S_CONTAINER, &g->container, 4);
			memcpy(s + JR_S_EGROUP, &g->id, 8);
			memcpy(s + JR_S_EXTENT, x->id.b, ST_EXTENT_ID_LEN);
			c->c[JC_DEDUP_EXTENTS]++;
			c->c[JC_DEDUP_SAVED_BYTES] += (int64_t)(truth - 1) * x->raw_len * g->nreplicas;
			rc = mr_emit(em, k, JR_HKEY_LEN, s, JR_S_LEN);
			continue;
		}
		for (size_t i = 0; i < ny; i++)
			nref += !memcmp(ys[i], x->id.b, ST_EXTENT_ID_LEN);
		if (st_reserve(&v, &vcap, JR_O_LEN(nref), 1)) {
			rc = -ENOMEM;
			break;
		}
		v[0] = JR_CHUNK_COPY;
		memcpy(v + JR_O_CONTAINER, &g->container, 4);
		memcpy(v + JR_O_EGROUP, &g->id, 8);
		memcpy(v + JR_O_EXTENT, x->id.b, ST_EXTENT_ID_LEN);
		memcpy(v + JR_O_NROWS, &nref, 4);
		nref = 0;
		for (size_t i = 0; i < ny; i++)
			if (!memcmp(ys[i], x->id.b, ST_EXTENT_ID_LEN)) {
				memcpy(v + JR_O_LEN(nref), ys[i] + JR_ROW_BLOCK, JR_BLOCK_LEN);
				nref++;
			}
		for (size_t i = 0; fp_ok && i < nfps && !rc; i++) { /* (a bad row: all of them again) */
			if (memcmp(fps[i].extent.b, x->id.b, ST_EXTENT_ID_LEN))
				continue;
			have = 1;
			memcpy(k + JR_HKEY_SHA1, fps[i].sha1, JR_SHA1_LEN);
			memcpy(k + JR_HKEY_BYTES, &fps[i].len, 4);
			memcpy(v + JR_O_OFF, &fps[i].off, 4);
			c->c[JC_CHUNKS]++;
			rc = mr_emit(em, k, JR_HKEY_LEN, v, JR_O_LEN(nref));
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

int job_mr2_reduce(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
			 struct mr_emitter *em)
{
	struct scan_ctx *c = arg;
	struct st_egroup_rec g;
	uint64_t id, version = 0, lrs = 0;
	struct xref *xs = scratch(c, SCR_XS, (n + 1) * sizeof(*xs));
	struct st_extent_id *ids = scratch(c, SCR_IDS, (n + 1) * sizeof(*ids));
	uint32_t *nums = scratch(c, SCR_NUMS, (n + 1) * sizeof(*nums));
	int have_g = 0, corrupt = 0, rc = 0;
	size_t nx = 0;
	uint32_t fdisk[ST_REPLICAS_MAX * 2];
	int64_t fmtime[ST_REPLICAS_MAX * 2];
	uint64_t fsize[ST_REPLICAS_MAX * 2];
	int nf = 0;
	const uint8_t **ys = scratch(c, SCR_YS, (n + 1) * sizeof(*ys)); /* 'Y' rows, from their extent id on */
	size_t ny = 0, nfps = 0;
	struct st_chunk_fp *fps = NULL;
	int have_fp = 0, fp_bad = 0;

	(void)klen;
	memcpy(&id, key, 8);
	st_egroup_rec_init(&g);
	g.extents = c->gext; /* reused: see out */
	g.cap = c->gext_cap;
	if (!xs || !ids || !nums || !ys) {
		rc = -ENOMEM;
		goto out;
	}
	memset(xs, 0, (n + 1) * sizeof(*xs));
	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = vals[i].p;
		/* (a 'G' too short for version and last_ref_seq is an unknown record) */
		if (v[0] == JR_EGROUP_ROW && vals[i].len > JR_G_CONTAINER) {
			if (decode_g(v, vals[i].len, &g) == 0) {
				have_g = 1;
				version = g.version;
				lrs = g.last_ref_seq;
			}
		} else if (v[0] == JR_CORRUPT_ROW) {
			corrupt = 1;
		} else if (v[0] == JR_EXTENT_REFS && vals[i].len == JR_X_LEN) {
			memcpy(xs[nx].id.b, v + JR_X_EXTENT, ST_EXTENT_ID_LEN);
			memcpy(&xs[nx].refs, v + JR_X_COUNT, 4);
			nx++;
		} else if (v[0] == JR_FILE && vals[i].len == JR_F_LEN) {
			if (nf == ST_REPLICAS_MAX * 2)
				continue;
			jr_file_get(v + JR_F_FILE, &fdisk[nf], &fmtime[nf], &fsize[nf]);
			nf++;
		} else if (v[0] == JR_EXTENT_ROW && vals[i].len == JR_Y_LEN) {
			ys[ny++] = v + JR_Y_EXTENT;
		} else if (v[0] == JR_FPS) {
			free(fps);
			fps = NULL;
			nfps = 0;
			if (vals[i].len == JR_P_BAD_LEN ||
			    st_meta_fp_decode(v + JR_P_ROW, vals[i].len - JR_P_ROW, &fps, &nfps))
				fp_bad = 1; /* rewritten by the fingerprint task */
			have_fp = 1;
		} else {
			/* a record this reduce does not know: never act on a partial picture */
			corrupt = 1;
			job_scan_finding(c, "internal_error", id, NULL, "egroup %" PRIx64 ": unknown MR2 record '%c' (%zu bytes); left alone",
				id, v[0], vals[i].len);
		}
	}
	g.id = id;
	g.version = version;
	g.last_ref_seq = lrs;

	if (corrupt) { /* leave everything of a corrupt egroup alone: report only */
		for (size_t i = 0; i < nx; i++)
			if (xs[i].refs)
				job_scan_finding(c, "unreadable_reference", id, &xs[i].id,
					"%u block row(s) reference it; its egroup row is corrupt", xs[i].refs);
		goto out;
	}
	if (!have_g) {
		size_t norph = 0;
		/* extent-ID rows pointing at an egroup that does not exist */
		for (size_t i = 0; i < nx; i++) {
			if (xs[i].refs) {
				c->c[JC_DANGLING]++;
				job_scan_finding(c, "dangling_reference", id, &xs[i].id,
					"%u block row(s) reference it; its extent-ID row names egroup %" PRIx64 ", which does not exist",
					xs[i].refs, id);
			} else {
				ids[norph++] = xs[i].id;
				c->c[JC_ORPHAN_EXTENT_IDS]++;
			}
		}
		if (norph) {
			size_t len;
			void *p = pack_pairs(ids, nums, norph, &len);
			if (!p) {
				rc = -ENOMEM;
				goto out;
			}
			job_scan_task(c, JT_EXTENT_ID_DELETE, id, 0, 0, p, len);
			free(p);
		}
		/* files of an egroup no row describes: orphans once past the grace period */
		{
			uint32_t sweep[ST_REPLICAS_MAX * 2];
			int ns = 0;
			int64_t bytes = 0;
			for (int i = 0; i < nf; i++) {
				c->c[JC_ORPHAN_FILES]++;
				c->c[JC_ORPHAN_FILE_BYTES] += (int64_t)fsize[i];
				if (c->now - fmtime[i] >= c->o->sweep_grace) {
					sweep[ns++] = fdisk[i];
					bytes += (int64_t)fsize[i];
				}
			}
			if (ns)
				job_scan_task(c, JT_FILE_SWEEP, id, 0, bytes, sweep, (size_t)ns * JR_SWEEP_DISK_LEN);
		}
		goto out;
	}

	if (g.flags & ST_EGROUP_PARITY) { /* a parity member: its space and its health */
		c->c[JC_STORED_BYTES] += g.used;
		c->c[JC_EC_SAVED_BYTES] -= g.used;
		if (!job_policy_half_made_strip(c, &g))
			job_policy_protection(c, &g, 1, fdisk, fsize, nf);
		for (int r = 0; r < g.nreplicas && !rc; r++)
			rc = emit_usage(em, g.replicas[r].disk, g.used);
		goto out;
	}
	if (g.flags & ST_EGROUP_EC) {
		c->c[JC_EC_EGROUPS]++;
		job_policy_strip_gc(c, &g);
		for (int i = 0; i < c->nconts; i++) /* the copies RF would have kept */
			if (c->conts[i].id == g.container)
				c->c[JC_EC_SAVED_BYTES] += (int64_t)g.used * (c->conts[i].rf - 1);
	}
	/* the record: true vs recorded refcounts, dead extents, garbage */
	{
		/* a corrupt block row hides references: then nothing is dead this scan */
		int safe = lrs < c->s0 && !c->refs_incomplete;
		size_t nup = 0, ndown = 0, ndead = 0, norph = 0;
		size_t ne = (size_t)g.nextents + 1;
		struct st_extent_id *up = scratch(c, SCR_UP, ne * sizeof(*up));
		struct st_extent_id *down = scratch(c, SCR_DOWN, ne * sizeof(*down));
		struct st_extent_id *dead = scratch(c, SCR_DEAD, ne * sizeof(*dead));
		uint32_t *upv = scratch(c, SCR_UPV, ne * 4), *downv = scratch(c, SCR_DOWNV, ne * 4);
		uint32_t *deadv = scratch(c, SCR_DEADV, ne * 4);
		uint64_t live = 0, dead_bytes = 0;

		if (!up || !down || !dead || !upv || !downv || !deadv) {
			rc = -ENOMEM;
			goto rec_out;
		}
		c->c[JC_EXTENTS] += g.nextents;
		c->c[JC_STORED_BYTES] += g.used;
		for (int k = 0; k < g.nextents; k++) {
			const struct st_extent_rec *e = &g.extents[k];
			uint32_t truth = 0;
			for (size_t i = 0; i < nx; i++)
				if (!memcmp(xs[i].id.b, e->id.b, ST_EXTENT_ID_LEN)) {
					truth = xs[i].refs;
					xs[i].seen = 1;
				}
			if (truth == 0) {
				if (!safe) {
					c->c[JC_PROTECTED]++;
					live += ST_EXTENT_HDR + e->stored_len;
					continue;
				}
				c->c[JC_DEAD_EXTENTS]++;
				c->c[JC_DEAD_BYTES] += ST_EXTENT_HDR + e->stored_len;
				dead_bytes += ST_EXTENT_HDR + e->stored_len;
				dead[ndead] = e->id;
				deadv[ndead++] = e->refcount;
				continue;
			}
			live += ST_EXTENT_HDR + e->stored_len;
			c->c[JC_LIVE_BYTES] += e->raw_len;
			if (e->flags & ST_EXTENT_COMPRESSED) {
				c->c[JC_COMPRESSED_EXTENTS]++;
				c->c[JC_COMPRESSION_SAVED_BYTES] += (int64_t)(e->raw_len - e->stored_len) * g.nreplicas;
			}
			if (e->refcount < truth) {
				c->c[JC_REFCOUNT_LOW]++;
				job_scan_finding(c, "refcount_low", id, &e->id, "recorded %u < %u references: raised", e->refcount, truth);
				up[nup] = e->id;
				upv[nup++] = truth;
			} else if (e->refcount > truth) {
				c->c[JC_REFCOUNT_HIGH]++;
				if (safe) {
					down[ndown] = e->id;
					downv[ndown++] = truth;
				} else {
					c->c[JC_PROTECTED]++;
				}
			}
		}
		/* extent-ID rows naming this egroup for extents it does not hold */
		for (size_t i = 0; i < nx; i++) {
			if (xs[i].seen)
				continue;
			if (xs[i].refs) {
				c->c[JC_DANGLING]++;
				job_scan_finding(c, "dangling_reference", id, &xs[i].id,
					"%u block row(s) reference it; egroup %" PRIx64 " does not hold it", xs[i].refs, id);
			} else {
				c->c[JC_ORPHAN_EXTENT_IDS]++;
				ids[norph] = xs[i].id;
				nums[norph++] = 0;
			}
		}
		if (norph) {
			size_t len;
			void *p = pack_pairs(ids, nums, norph, &len);
			if (p) {
				job_scan_task(c, JT_EXTENT_ID_DELETE, id, 0, 0, p, len);
				free(p);
			}
		}
		if (nup) {
			size_t len;
			void *p = pack_pairs(up, upv, nup, &len);
			if (p) {
				job_scan_task(c, JT_REFCOUNT_UP, id, version, 0, p, len);
				free(p);
			}
		}
		{
			uint64_t garbage = g.used > ST_EGROUP_HDR + live ? g.used - ST_EGROUP_HDR - live : 0;
			int moving = (g.flags & ST_EGROUP_MOVING) != 0;
			c->c[JC_GARBAGE_BYTES] += (int64_t)garbage;
			int ec = (g.flags & ST_EGROUP_EC) != 0;
			if (ec && ndead) {
				/* keep strips decodable: dead extents leave the metadata, bytes stay
				 * (NEEDSWORK: re-encode or shrink strips whose members are mostly dead) */
				size_t len;
				void *p = pack_pairs(dead, deadv, ndead, &len);
				if (p) {
					job_scan_task(c, JT_EXTENT_DELETE, id, version, 0, p, len);
					free(p);
				}
			} else if (safe && (ndead == (size_t)g.nextents)) {
				size_t len = 0;
				void *p = pack_pairs(dead, deadv, ndead, &len); /* for `curator explain` */
				c->c[JC_DEAD_EGROUPS]++;
				job_scan_task(c, JT_EGROUP_DELETE, id, version, (int64_t)g.used * g.nreplicas, p, p ? len : 0);
				free(p);
			} else if (safe && (moving || (garbage && garbage * 100 >= (uint64_t)c->o->compact_pct * g.used))) {
				size_t len;
				void *p = pack_pairs(dead, deadv, ndead, &len);
				if (p) {
					job_scan_task(c, JT_EGROUP_COMPACT, id, version, (int64_t)garbage * g.nreplicas, p, len);
					free(p);
				}
			} else if (ndead) {
				size_t len;
				void *p = pack_pairs(dead, deadv, ndead, &len);
				if (p) {
					job_scan_task(c, JT_EXTENT_DELETE, id, version, 0, p, len);
					free(p);
				}
			} else if (ndown) {
				size_t len;
				void *p = pack_pairs(down, downv, ndown, &len);
				if (p) {
					job_scan_task(c, JT_REFCOUNT_DOWN, id, version, 0, p, len);
					free(p);
				}
			}
		}
		/* replicas vs files on disk: missing, or shorter than the bytes in use */
		for (int r = 0; r < g.nreplicas; r++) {
			int found = 0, di = disk_index(c, g.replicas[r].disk);
			for (int i = 0; i < nf; i++) {
				if (fdisk[i] != g.replicas[r].disk)
					continue;
				found = 1;
				if (fsize[i] < g.used) {
					c->c[JC_SHORT_REPLICAS]++;
					job_scan_finding(c, "short_replica", id, NULL,
						"egroup %" PRIx64 ": the file on disk %u has %" PRIu64 " of %u bytes (truncated)", id,
						g.replicas[r].disk, fsize[i], g.used);
				}
			}
			if (!found && di >= 0 && c->disks[di].ok && !c->disks[di].removed) {
				c->c[JC_MISSING_REPLICAS]++;
				job_scan_finding(c, "missing_replica", id, NULL, "egroup %" PRIx64 ": no file on disk %u", id,
					g.replicas[r].disk);
			}
			if (!rc)
				rc = emit_usage(em, g.replicas[r].disk, g.used);
		}
		{
			uint32_t sweep[ST_REPLICAS_MAX * 2];
			int ns = 0;
			int64_t bytes = 0;
			for (int i = 0; i < nf; i++) {
				int ours = fdisk[i] == ST_CLOUD_DISK && (g.flags & ST_EGROUP_CLOUD);
				for (int r = 0; r < g.nreplicas; r++)
					ours |= g.replicas[r].disk == fdisk[i];
				if (ours)
					continue;
				c->c[JC_ORPHAN_FILES]++;
				c->c[JC_ORPHAN_FILE_BYTES] += (int64_t)fsize[i];
				if (c->now - fmtime[i] >= c->o->sweep_grace) {
					sweep[ns++] = fdisk[i];
					bytes += (int64_t)fsize[i];
				}
			}
			if (ns)
				job_scan_task(c, JT_FILE_SWEEP, id, version, bytes, sweep, (size_t)ns * JR_SWEEP_DISK_LEN);
		}
		if (!(safe && ndead == (size_t)g.nextents)) {
			job_policy_protection(c, &g, 1, fdisk, fsize, nf); /* dead egroups need no copies */
			if (!rc && !ndead && !(safe && job_policy_compress(c, &g)))
				rc = job_policy_ec(c, &g, em);
			if (!rc)
				rc = dedup_candidates(c, &g, xs, nx, ys, ny, fps, nfps, have_fp && !fp_bad, em);
			if (!rc && !ndead && safe)
				rc = job_policy_placement(c, &g, em);
		}
	rec_out:;
	}
out:
	if (!have_g && have_fp && !corrupt) /* fingerprints of an egroup that is gone */
		job_scan_task(c, JT_FINGERPRINT, id, 0, 0, NULL, 0);
	c->gext = g.extents; /* kept for the next egroup */
	c->gext_cap = g.cap;
	free(fps);
	return c->oom ? -ENOMEM : rc;
}
