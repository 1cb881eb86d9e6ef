/*
 * job_dedup: the dedup task kinds (issue 7, DESIGN.md §3 and §6), of the
 * efficiency family (compression is in job_efficiency.c).
 *
 * DESIGN: fingerprint (target: an egroup of a dedup container): reads the
 * egroup's extents through verified replicas (inflating compressed ones),
 * cuts them into chunks by the container's chunking (st_chunk.h) and stores
 * the chunks' SHA-1s in the egroup's fingerprint row. An egroup that is
 * gone loses its row. Extents never change, so no compare-and-set is
 * needed.
 *
 * dedup (argument: the container and the groups MR3 formed, see
 * job_scan.c form_dedup): per group, one chunk stored more than once
 * becomes one refcounted dedup extent (id "sha1:<hex>:<len>") and every
 * block row that references a copy is repointed at it. Order (bottom-up,
 * DESIGN.md §4):
 *   1. one operation begins (sequence s, in flight);
 *   2. data: the chunks that have no dedup extent yet are read from their
 *      source, their SHA-1 checked against the fingerprint, and written
 *      into one new egroup (RF copies, fdatasync'd), whose row is inserted
 *      with each extent's recorded refcount = its number of target rows
 *      and last_ref_seq = s; then their extent-ID rows. Existing dedup
 *      extents get their recorded refcount raised by compare-and-set
 *      (last_ref_seq = s) instead;
 *   3. metadata flips: each target block row is changed in one shard
 *      transaction that re-reads it (so a concurrent write wins: regions
 *      no longer naming the old extent are left alone), after the old
 *      copy's bytes were read and compared byte for byte with the dedup
 *      extent's;
 *   4. the operation ends. The old extents lose references and are
 *      collected by the next scans (the safety rule applies as ever).
 * A crash leaves at worst refcounts above the truth (lowered by a later
 * scan) and an unreferenced dedup egroup (collected).
 *
 * Safe to repeat: a fingerprint row is rewritten whole. A dedup task run
 * again finds its dedup extents made and raises their recorded refcounts
 * once more, which only errs high (refcount_down lowers them after the
 * next scan); the rows it repointed no longer name the old extent and are
 * left alone; an extent-ID row another rank inserted first wins (ours is
 * never named and is collected).
 */
#include <errno.h>
#include <inttypes.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/job_tasks_int.h"
#include "storage/st_chunk.h"
#include "storage/st_hmap.h"

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

/*
 * Store egroup's fingerprint row in one transaction of its shard that
 * re-reads the egroup row: a row frozen by a rewrite (compress, compact:
 * MOVING) or gone is ST_ESTALE, so that a rewrite that copied the
 * fingerprints it found before it froze the row never loses ours to its
 * deletion of the old row (the successor keeps what was copied, or is
 * fingerprinted by a later scan).
 */
static int fp_store(struct st_meta *m, uint64_t egroup, const struct st_chunk_fp *v, size_t n, struct st_msg *err)
{
	int shard = st_meta_shard_egroup(m, egroup), rc = st_meta_begin(m, shard, err);
	struct st_egroup_rec g;

	if (rc)
		return rc;
	st_egroup_rec_init(&g);
	rc = st_meta_egroup_get(m, egroup, &g, err);
	if (rc == ST_ENOTFOUND || (!rc && (g.flags & ST_EGROUP_MOVING)))
		rc = st_fail(err, ST_ESTALE, "egroup %" PRIx64 " is being rewritten or gone", egroup);
	if (!rc)
		rc = st_meta_fp_put(m, egroup, v, n, err);
	if (!rc)
		rc = st_meta_commit(m, shard, err);
	else
		st_meta_rollback(m, shard);
	st_egroup_rec_release(&g);
	return rc;
}

/* fingerprint: 0 done (*bytes: bytes read), ST_ESTALE, or an error. */
static int apply_fingerprint(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
			     int64_t *bytes, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec g;
	struct st_container c;
	struct st_chunk_fp *old = NULL, *v = NULL;
	size_t nold = 0, n = 0, cap = 0, nsrc = 0, total = 0;
	struct st_chunk_src *src = NULL;
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
	src = calloc((size_t)g.nextents + 1, sizeof(*src));
	if (!src)
		rc = -ENOMEM;
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
		if (!kept && !rc) { /* to cut: its raw bytes, verified */
			src[nsrc].id = e->id;
			src[nsrc].len = e->raw_len;
			src[nsrc++].data = (const uint8_t *)(uintptr_t)total;
			total += e->raw_len;
		}
	}
	if (!rc && nsrc) {
		rc = st_reserve(&buf, &bcap, total + 1, 1);
		for (size_t i = 0; i < nsrc && !rc; i++) {
			size_t at = (size_t)(uintptr_t)src[i].data;
			int k = st_egroup_rec_find(&g, &src[i].id);
			src[i].data = buf + at;
			rc = st_store_read_extent(st, &g, &g.extents[k], buf + at, NULL, err);
		}
		if (!rc) /* every extent of the egroup at once, on every CPU */
			rc = st_chunk_fingerprint_many(c.chunking, src, nsrc, &v, &n, &cap);
	}
	if (rc == -ENOMEM)
		st_fail(err, rc, "out of memory");
	if (!rc)
		rc = fp_store(m, g.id, v, n, err);
out:
	st_egroup_rec_release(&g);
	free(old);
	free(v);
	free(buf);
	free(src);
	return rc;
}

/* One candidate extent of the task argument (job_scan.c form_dedup). */
struct cand {
	struct st_extent_id x;
	uint32_t nrows;
	const uint8_t *rows;     /* (vdisk u64, block u64) x nrows */
	struct st_chunk_fp *fp;  /* its chunks, checked against its bytes */
	size_t nfp;
	uint32_t *dix;           /* per chunk: index into the dedup extents */
	int ok;
};

/* A dedup extent this task points rows at. */
struct dext {
	struct st_extent_id id;
	uint32_t len, refs;
	uint8_t *data; /* its bytes (new: from the first copy; existing: read back) */
	int existing, ok;
};

static int parse(const struct job_task *t, uint32_t *container, struct cand **out, int *n)
{
	const uint8_t *p = t->arg + JOB_ARG_DEDUP_HEAD, *end = t->arg + t->arglen;
	struct cand *cs = NULL;
	size_t cap = 0, cnt = 0;

	if (job_arg_dedup_container(t, container))
		return -1;
	while (p < end) {
		struct cand *c;
		if (st_grow(&cs, &cap, cnt, sizeof(*cs))) {
			free(cs);
			return -1;
		}
		c = &cs[cnt];
		memset(c, 0, sizeof(*c));
		if (job_arg_dedup_group(&p, end, &c->x, &c->nrows, &c->rows)) {
			free(cs);
			return -1;
		}
		cnt++;
	}
	*out = cs;
	*n = (int)cnt;
	return 0;
}

/* Raise the recorded refcount of existing dedup extent d by d->refs (CAS, retried). */
static int raise_refcount(struct st_store *st, const struct dext *d, uint64_t seq, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec r;
	int rc = ST_ESTALE;

	st_egroup_rec_init(&r);
	for (int attempt = 0; attempt < 5 && rc == ST_ESTALE; attempt++) {
		uint64_t egroup;
		int k;
		rc = st_meta_extent_get(m, &d->id, &egroup, err);
		if (!rc)
			rc = st_meta_egroup_get(m, egroup, &r, err);
		if (rc)
			break;
		k = st_egroup_rec_find(&r, &d->id);
		if (k < 0 || (r.flags & ST_EGROUP_MOVING)) {
			rc = st_fail(err, ST_ESTALE, "dedup extent is moving");
			continue; /* a compaction: its extent-ID row is repointed shortly */
		}
		r.extents[k].refcount += d->refs;
		if (r.last_ref_seq < seq)
			r.last_ref_seq = seq;
		rc = st_meta_egroup_put(m, &r, r.version, err);
	}
	st_egroup_rec_release(&r);
	return rc;
}

/*
 * Point every region of block row (vdisk, block) that shows extent c->x at
 * the dedup extents of its chunks, in one shard transaction that re-reads
 * the row (a concurrent overwrite wins).
 */
static int repoint(struct st_store *st, uint64_t vdisk, uint64_t block, const struct cand *c, const struct dext *ds,
		   struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	int shard = st_meta_shard_block(m, vdisk, block), rc, changed = 0;
	struct st_block *b = malloc(sizeof(*b)), *orig = malloc(sizeof(*orig));

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
			if (memcmp(r->extent.b, c->x.b, ST_EXTENT_ID_LEN))
				continue;
			for (size_t k = 0; k < c->nfp && !rc; k++) {
				const struct st_chunk_fp *f = &c->fp[k];
				uint32_t a = r->extent_off > f->off ? r->extent_off : f->off;
				uint32_t e = r->extent_off + r->len < f->off + f->len ? r->extent_off + r->len : f->off + f->len;
				if (a >= e)
					continue;
				rc = st_block_overlay(b, r->block_off + (a - r->extent_off), e - a, &ds[c->dix[k]].id,
						      a - f->off);
				changed = 1;
			}
		}
		if (rc == ST_ERANGE) { /* too fragmented to split: leave this row as it is */
			rc = 0;
			changed = 0;
		}
	}
	if (!rc && changed)
		rc = st_meta_block_put(m, b, err);
	if (rc == ST_ENOTFOUND)
		rc = 0; /* the row went (vdisk deleted or rewritten) */
	if (!rc && changed)
		rc = st_meta_commit(m, shard, err);
	else
		st_meta_rollback(m, shard);
	free(b);
	free(orig);
	return rc;
}

/*
 * Candidate c's chunks, from its egroup's fingerprint row (or computed now),
 * each checked against its bytes; each chunk's dedup extent found or added
 * in ds/dm. 0, or -1 when c is to be left alone this time.
 */
static int plan(struct st_store *st, const struct st_container *ct, struct cand *c, struct xcache *xc,
		struct dext **ds, size_t *nds, size_t *capds, struct st_hmap *dm)
{
	struct st_meta *m = st_store_meta(st);
	uint64_t egroup;
	struct st_chunk_fp *all = NULL;
	size_t nall = 0, cap = 0;
	uint32_t next = 0;

	if (read_raw(st, xc, &c->x, NULL) || st_meta_extent_get(m, &c->x, &egroup, NULL))
		return -1; /* moved or gone since the scan */
	if (st_meta_fp_get(m, egroup, &all, &nall, NULL) == 0) {
		for (size_t i = 0; i < nall; i++)
			if (!memcmp(all[i].extent.b, c->x.b, ST_EXTENT_ID_LEN))
				all[c->nfp++] = all[i];
	}
	/* the chunks must tile the extent; else (or none recorded) cut them now */
	for (size_t i = 0; i < c->nfp; i++) {
		if (all[i].off != next)
			c->nfp = 0;
		else
			next += all[i].len;
	}
	if (!c->nfp || next != xc->len) {
		c->nfp = 0;
		if (st_chunk_fingerprint(ct->chunking, &c->x, xc->buf, xc->len, &all, &c->nfp, &cap)) {
			free(all);
			return -1;
		}
	}
	c->fp = all;
	c->dix = calloc(c->nfp + 1, sizeof(*c->dix));
	if (!c->dix)
		return -1;
	for (size_t k = 0; k < c->nfp; k++) {
		const struct st_chunk_fp *f = &c->fp[k];
		const uint8_t *bytes = xc->buf + f->off;
		struct st_extent_id did;
		uint8_t md[20];
		uint32_t *ix;
		int isnew;
		SHA1(bytes, f->len, md);
		if (memcmp(md, f->sha1, 20))
			return -1; /* not the recorded fingerprint: never share it */
		st_extent_id_dedup(&did, f->sha1, f->len);
		ix = st_hmap_put(dm, did.b, &isnew);
		if (!ix || (isnew && st_grow(ds, capds, *nds, sizeof(**ds))))
			return -1;
		if (isnew) {
			struct dext *d = &(*ds)[*nds];
			memset(d, 0, sizeof(*d));
			d->id = did;
			d->len = f->len;
			d->existing = st_meta_extent_get(m, &did, &egroup, NULL) == 0;
			d->ok = 1;
			if (!d->existing) { /* new: this copy's bytes become its content */
				d->data = malloc(f->len);
				if (!d->data)
					return -1;
				memcpy(d->data, bytes, f->len);
			}
			*ix = (uint32_t)(*nds)++;
		}
		c->dix[k] = *ix;
	}
	return 0;
}

/* dedup: 0 done (frees nothing itself: the old copies go with the next scans' GC), or an error. */
static int apply_dedup(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
		       int64_t *bytes, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_config *cfg = st_store_config(st);
	struct st_container ct;
	struct cand *cs = NULL;
	struct dext *ds = NULL;
	size_t nds = 0, capds = 0;
	struct st_hmap dm;
	struct st_extent_rec *exts = NULL;
	const uint8_t **raw = NULL;
	struct st_egroup_rec out;
	struct xcache xc = { 0 };
	int nc = 0, nnew = 0, rc, began = 0;
	uint32_t container = 0;
	uint64_t seq = 0;
	int64_t op = 0;

	(void)bytes; /* frees nothing itself: the old copies go with the next scans' GC */
	st_egroup_rec_init(&out);
	st_hmap_init(&dm, ST_EXTENT_ID_LEN, 4);
	if (parse(t, &container, &cs, &nc))
		return st_fail(err, ST_EINVAL, "dedup task %" PRId64 ": bad argument", t->id);
	rc = st_config_container_by_id(cfg, container, &ct, err);
	if (rc == ST_ENOTFOUND)
		rc = st_fail(err, ST_ESTALE, "container %" PRIu32 " is gone", container);
	if (!rc && ct.dedup == ST_MODE_OFF)
		rc = st_fail(err, ST_ESTALE, "container '%s' no longer dedups", ct.name);
	if (!rc)
		rc = st_store_op_begin(st, "dedup", &seq, &op, err);
	began = !rc;
	/* 2a. plan: each candidate's chunks and their dedup extents */
	for (int i = 0; i < nc && !rc; i++)
		cs[i].ok = plan(st, &ct, &cs[i], &xc, &ds, &nds, &capds, &dm) == 0;
	/* existing dedup extents: their bytes, to compare every copy with */
	for (size_t d = 0; d < nds && !rc; d++) {
		if (!ds[d].existing)
			continue;
		ds[d].ok = read_raw(st, &xc, &ds[d].id, NULL) == 0 && xc.len == ds[d].len &&
			   (ds[d].data = malloc(ds[d].len)) != NULL;
		if (ds[d].ok)
			memcpy(ds[d].data, xc.buf, ds[d].len);
	}
	/* every chunk of a candidate must equal its dedup extent byte for byte */
	for (int i = 0; i < nc && !rc; i++) {
		struct cand *c = &cs[i];
		if (!c->ok || read_raw(st, &xc, &c->x, NULL)) {
			c->ok = 0;
			continue;
		}
		for (size_t k = 0; k < c->nfp && c->ok; k++) {
			const struct dext *d = &ds[c->dix[k]];
			c->ok = d->ok && !memcmp(xc.buf + c->fp[k].off, d->data, d->len);
		}
		for (size_t k = 0; k < c->nfp && c->ok; k++)
			ds[c->dix[k]].refs += c->nrows;
	}
	/* 2b. data: the new dedup extents into one egroup, then their extent-ID rows */
	exts = calloc(nds + 1, sizeof(*exts));
	raw = calloc(nds + 1, sizeof(*raw));
	if (!rc && (!exts || !raw))
		rc = st_fail(err, -ENOMEM, "out of memory");
	for (size_t d = 0; d < nds && !rc; d++) {
		if (ds[d].existing || !ds[d].refs)
			continue;
		exts[nnew].id = ds[d].id;
		exts[nnew].raw_len = ds[d].len;
		exts[nnew].refcount = ds[d].refs;
		raw[nnew++] = ds[d].data;
	}
	if (!rc && nnew) {
		/* compressed now when the container compresses at all (post too): dedup data is
		 * written once and never again, and a compress of it would be one more cycle */
		rc = st_store_egroup_create(st, ct.id, 0, exts, raw, nnew, seq,
					    ct.compress != ST_MODE_OFF ? (int)ct.codec : -1, &out, err);
		for (int k = 0; k < out.nextents && !rc; k++) {
			uint64_t other;
			int r = st_meta_extent_insert(m, &out.extents[k].id, out.id, &other, NULL);
			if (r == ST_EEXIST) {
				/* another task (another rank) made it meanwhile: its copy is the one rows
				 * resolve to, so that one takes our references; ours is never named and goes */
				uint32_t *ix = st_hmap_get(&dm, out.extents[k].id.b);
				ds[*ix].existing = 1;
			} else if (r) {
				rc = st_fail(err, r, "dedup: extent-ID row: %s", st_strerror(r));
			}
		}
	}
	/* existing ones: recorded refcounts raised first (bottom-up) */
	for (size_t d = 0; d < nds && !rc; d++)
		if (ds[d].existing && ds[d].refs && raise_refcount(st, &ds[d], seq, NULL))
			ds[d].ok = 0;
	st_fault_step();
	/* 3. metadata flips: the rows of every candidate whose chunks all have a home */
	for (int i = 0; i < nc && !rc; i++) {
		struct cand *c = &cs[i];
		for (size_t k = 0; k < c->nfp && c->ok; k++)
			c->ok = ds[c->dix[k]].ok;
		for (uint32_t r = 0; r < c->nrows && c->ok && !rc; r++) {
			uint64_t vdisk, block;
			job_arg_dedup_row(c->rows, r, &vdisk, &block);
			rc = repoint(st, vdisk, block, c, ds, err);
		}
	}
	if (began)
		st_config_op_end(cfg, op, NULL);
	for (int i = 0; i < nc; i++) {
		free(cs[i].fp);
		free(cs[i].dix);
	}
	for (size_t d = 0; d < nds; d++)
		free(ds[d].data);
	free(cs);
	free(ds);
	free(exts);
	free(raw);
	free(xc.buf);
	st_hmap_release(&dm);
	st_egroup_rec_release(&out);
	return rc;
}

/*
 * Priorities: dedup, then fingerprint, before compress (11) and ec_encode
 * (12): the extents dedup repoints die before they are compressed, and an
 * egroup is fingerprinted before compress rewrites it (which carries the
 * fingerprints over), so that post-process reduction converges in two
 * scan + task cycles (issue 19).
 */
const struct job_task_ops job_kind_fingerprint = {
	.name = "fingerprint", .priority = 13, .apply = apply_fingerprint, .reads_egroups = JOB_READS_EGROUP
};
const struct job_task_ops job_kind_dedup = { .name = "dedup", .priority = 14, .apply = apply_dedup };
