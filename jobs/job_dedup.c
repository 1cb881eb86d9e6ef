/*
 * job_dedup: fingerprint and dedup task executors. See job_dedup.h.
 */
#include "jobs/job_dedup.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "storage/st_chunk.h"

/* The raw bytes of the last extent read, resolved top-down. */
struct xcache {
	struct st_extent_id id;
	uint8_t *buf;
	size_t cap;
	uint32_t len;
	int valid;
};

static int read_raw(struct st_store *st, struct xcache *xc, const struct st_extent_id *id, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec g;
	uint64_t egroup;
	int rc, k;

	if (xc->valid && !memcmp(xc->id.b, id->b, ST_EXTENT_ID_LEN))
		return 0;
	xc->valid = 0;
	st_egroup_rec_init(&g);
	rc = st_meta_extent_get(m, id, &egroup, err);
	if (!rc)
		rc = st_meta_egroup_get(m, egroup, &g, err);
	if (!rc && (k = st_egroup_rec_find(&g, id)) >= 0) {
		const struct st_extent_rec *e = &g.extents[k];
		rc = st_reserve(&xc->buf, &xc->cap, e->raw_len + 1, 1);
		if (!rc)
			rc = st_store_read_extent(st, &g, e, xc->buf, NULL, err);
		if (!rc) {
			xc->id = *id;
			xc->len = e->raw_len;
			xc->valid = 1;
		}
	} else if (!rc) {
		rc = st_fail(err, ST_ESTALE, "egroup %" PRIx64 " no longer holds the extent", egroup);
	}
	st_egroup_rec_release(&g);
	return rc;
}

int job_apply_fingerprint(struct st_store *st, const struct job_task *t, int64_t *bytes, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec g;
	struct st_container c;
	struct st_chunk_fp *old = NULL, *v = NULL;
	size_t nold = 0, n = 0, cap = 0;
	uint8_t *buf = NULL;
	size_t bcap = 0;
	int rc;

	st_egroup_rec_init(&g);
	rc = st_meta_egroup_get(m, t->target, &g, err);
	if (rc == ST_ENOTFOUND) { /* the egroup went: so do its fingerprints */
		rc = st_meta_fp_delete(m, t->target, err);
		goto out;
	}
	if (!rc)
		rc = st_config_container_by_id(st_store_config(st), g.container, &c, err);
	if (rc)
		goto out;
	if (st_meta_fp_get(m, g.id, &old, &nold, NULL))
		nold = 0; /* none yet, or a corrupt row: recompute */
	for (int k = 0; k < g.nextents && !rc; k++) {
		const struct st_extent_rec *e = &g.extents[k];
		int kept = 0;
		if (st_extent_id_is_dedup(&e->id))
			continue; /* named by its fingerprint already */
		for (size_t i = 0; i < nold && !rc; i++) {
			if (memcmp(old[i].extent.b, e->id.b, ST_EXTENT_ID_LEN))
				continue;
			rc = st_grow(&v, &cap, n, sizeof(*v));
			if (!rc)
				v[n++] = old[i];
			kept = 1;
		}
		if (kept || rc)
			continue;
		rc = st_reserve(&buf, &bcap, e->raw_len + 1, 1);
		if (!rc)
			rc = st_store_read_extent(st, &g, e, buf, NULL, err);
		if (!rc)
			rc = st_chunk_fingerprint(c.chunking, &e->id, buf, e->raw_len, &v, &n, &cap);
	}
	if (rc == -ENOMEM)
		st_fail(err, rc, "out of memory");
	if (!rc)
		rc = st_meta_fp_put(m, g.id, v, n, err);
out:
	st_egroup_rec_release(&g);
	free(old);
	free(v);
	free(buf);
	return rc;
}

/* One group of the task argument (job_scan.c form_dedup). */
struct group {
	const uint8_t *sha1;
	uint32_t len;
	int existing;
	struct st_extent_id src;
	uint32_t src_off;
	uint32_t ntargets;
	const uint8_t *targets;
	struct st_extent_id did;
	uint8_t *data; /* the chunk's bytes, once read and checked */
};

#define TARGET 44

static int parse(const struct job_task *t, uint32_t *container, struct group **out, int *n)
{
	const uint8_t *p = t->arg + 4, *end = t->arg + t->arglen;
	struct group *gs = NULL;
	size_t cap = 0, cnt = 0;

	if (t->arglen < 4)
		return -1;
	memcpy(container, t->arg, 4);
	while (p < end) {
		struct group *g;
		if (end - p < 57 || st_grow(&gs, &cap, cnt, sizeof(*gs))) {
			free(gs);
			return -1;
		}
		g = &gs[cnt];
		memset(g, 0, sizeof(*g));
		g->sha1 = p;
		memcpy(&g->len, p + 20, 4);
		g->existing = p[24];
		memcpy(g->src.b, p + 25, 24);
		memcpy(&g->src_off, p + 49, 4);
		memcpy(&g->ntargets, p + 53, 4);
		g->targets = p + 57;
		p += 57;
		if ((size_t)(end - p) < (size_t)g->ntargets * TARGET || g->len == 0) {
			free(gs);
			return -1;
		}
		p += (size_t)g->ntargets * TARGET;
		st_extent_id_dedup(&g->did, g->sha1, g->len);
		cnt++;
	}
	*out = gs;
	*n = (int)cnt;
	return 0;
}

/* Raise the recorded refcount of existing dedup extent g->did by g->ntargets (CAS, retried). */
static int raise_refcount(struct st_store *st, struct group *g, uint64_t seq, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec r;
	int rc = ST_ESTALE;

	st_egroup_rec_init(&r);
	for (int attempt = 0; attempt < 5 && rc == ST_ESTALE; attempt++) {
		uint64_t egroup;
		int k;
		rc = st_meta_extent_get(m, &g->did, &egroup, err);
		if (!rc)
			rc = st_meta_egroup_get(m, egroup, &r, err);
		if (rc)
			break;
		k = st_egroup_rec_find(&r, &g->did);
		if (k < 0 || (r.flags & ST_EGROUP_MOVING)) {
			rc = st_fail(err, ST_ESTALE, "dedup extent is moving");
			continue; /* a compaction: its extent-ID row is repointed shortly */
		}
		r.extents[k].refcount += g->ntargets;
		if (r.last_ref_seq < seq)
			r.last_ref_seq = seq;
		rc = st_meta_egroup_put(m, &r, r.version, err);
	}
	st_egroup_rec_release(&r);
	return rc;
}

/* Point the part of block row (vdisk, block) that shows chunk [off, off+len) of x at dedup extent did. */
static int repoint(struct st_store *st, uint64_t vdisk, uint64_t block, const struct st_extent_id *x, uint32_t off,
		   uint32_t len, const struct st_extent_id *did, int *changed, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	int shard = st_meta_shard_block(m, vdisk, block), rc;
	struct st_block *b = malloc(sizeof(*b)), *orig = malloc(sizeof(*orig));

	*changed = 0;
	if (!b || !orig) {
		free(b);
		free(orig);
		return st_fail(err, -ENOMEM, "out of memory");
	}
	rc = st_meta_begin(m, shard, err);
	if (!rc)
		rc = st_meta_block_get(m, vdisk, block, b, err);
	if (!rc) {
		*orig = *b;
		for (int i = 0; i < orig->n && !rc; i++) {
			const struct st_region *r = &orig->r[i];
			uint32_t a, e;
			if (memcmp(r->extent.b, x->b, ST_EXTENT_ID_LEN))
				continue;
			a = r->extent_off > off ? r->extent_off : off;
			e = r->extent_off + r->len < off + len ? r->extent_off + r->len : off + len;
			if (a >= e)
				continue;
			rc = st_block_overlay(b, r->block_off + (a - r->extent_off), e - a, did, a - off);
			*changed = 1;
		}
		if (rc == ST_ERANGE) { /* too fragmented to split further: leave this row as it is */
			rc = 0;
			*changed = 0;
		}
	}
	if (!rc && *changed)
		rc = st_meta_block_put(m, b, err);
	if (rc == ST_ENOTFOUND)
		rc = 0; /* the row went (vdisk deleted or rewritten) */
	if (!rc && *changed)
		rc = st_meta_commit(m, shard, err);
	else
		st_meta_rollback(m, shard);
	free(b);
	free(orig);
	return rc;
}

int job_apply_dedup(struct st_store *st, const struct job_task *t, int64_t *bytes, struct st_msg *err)
{
	/* frees nothing itself (*bytes stays 0): the old copies go with the next scans' GC */
	struct st_meta *m = st_store_meta(st);
	struct st_config *cfg = st_store_config(st);
	struct st_container c;
	struct group *gs = NULL;
	struct st_extent_rec *exts = NULL;
	const uint8_t **raw = NULL;
	struct st_egroup_rec out;
	struct xcache xc = { 0 };
	int ng = 0, nnew = 0, rc, began = 0;
	uint32_t container = 0;
	uint64_t seq = 0;
	int64_t op = 0;

	st_egroup_rec_init(&out);
	if (parse(t, &container, &gs, &ng))
		return st_fail(err, ST_EINVAL, "dedup task %" PRId64 ": bad argument", t->id);
	rc = st_config_container_by_id(cfg, container, &c, err);
	if (rc == ST_ENOTFOUND)
		rc = st_fail(err, ST_ESTALE, "container %" PRIu32 " is gone", container);
	if (!rc && c.dedup == ST_MODE_OFF)
		rc = st_fail(err, ST_ESTALE, "container '%s' no longer dedups", c.name);
	exts = calloc((size_t)ng + 1, sizeof(*exts));
	raw = calloc((size_t)ng + 1, sizeof(*raw));
	if (!rc && (!exts || !raw))
		rc = st_fail(err, -ENOMEM, "out of memory");
	if (!rc)
		rc = st_config_op_begin(cfg, "dedup", &seq, &op, err);
	began = !rc;
	/* 2. data: each chunk read once from its source (or its dedup extent) and checked */
	for (int i = 0; i < ng && !rc; i++) {
		struct group *g = &gs[i];
		uint64_t egroup;
		uint8_t md[20];
		const uint8_t *p;
		if (!g->existing && st_meta_extent_get(m, &g->did, &egroup, NULL) == 0)
			g->existing = 1; /* made by an earlier task */
		if (read_raw(st, &xc, g->existing ? &g->did : &g->src, NULL))
			continue; /* moved or gone since the scan: the next scan sees it again */
		if ((uint64_t)(g->existing ? 0 : g->src_off) + g->len > xc.len)
			continue;
		p = xc.buf + (g->existing ? 0 : g->src_off);
		SHA1(p, g->len, md);
		if (memcmp(md, g->sha1, 20))
			continue; /* not the recorded fingerprint: never share it */
		g->data = malloc(g->len);
		if (!g->data) {
			rc = st_fail(err, -ENOMEM, "out of memory");
			break;
		}
		memcpy(g->data, p, g->len);
		if (g->existing) {
			if (raise_refcount(st, g, seq, NULL)) {
				free(g->data);
				g->data = NULL;
			}
			continue;
		}
		exts[nnew].id = g->did;
		exts[nnew].raw_len = g->len;
		exts[nnew].refcount = g->ntargets;
		raw[nnew++] = g->data;
	}
	if (!rc && nnew) {
		rc = st_store_egroup_create(st, c.id, 0, exts, raw, nnew, seq,
					    c.compress == ST_MODE_INLINE ? (int)c.codec : -1, &out, err);
		for (int k = 0; k < out.nextents && !rc; k++)
			rc = st_meta_extent_put(m, &out.extents[k].id, out.id, err);
	}
	st_fault_step();
	/* 3. metadata flips: every target row whose copy matches byte for byte */
	for (int i = 0; i < ng && !rc; i++) {
		struct group *g = &gs[i];
		if (!g->data)
			continue;
		for (uint32_t k = 0; k < g->ntargets && !rc; k++) {
			const uint8_t *tp = g->targets + (size_t)k * TARGET;
			uint64_t vdisk, block;
			struct st_extent_id x;
			uint32_t off;
			int changed;
			memcpy(&vdisk, tp, 8);
			memcpy(&block, tp + 8, 8);
			memcpy(x.b, tp + 16, 24);
			memcpy(&off, tp + 40, 4);
			if (read_raw(st, &xc, &x, NULL) || (uint64_t)off + g->len > xc.len ||
			    memcmp(xc.buf + off, g->data, g->len))
				continue;
			rc = repoint(st, vdisk, block, &x, off, g->len, &g->did, &changed, err);
		}
	}
	if (began)
		st_config_op_end(cfg, op, NULL);
	for (int i = 0; i < ng; i++)
		free(gs[i].data);
	free(gs);
	free(exts);
	free(raw);
	free(xc.buf);
	st_egroup_rec_release(&out);
	return rc;
}
