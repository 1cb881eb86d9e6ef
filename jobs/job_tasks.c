/*
 * job_tasks: task executors. See job_tasks.h for the ordering rules.
 */
#include "jobs/job_tasks.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jobs/job_dedup.h"
#include "jobs/job_place.h"
#include "storage/st_cloud.h"
#include "storage/st_egroup.h"

#define PAIR 28 /* extent id + u32, as packed by job_scan */

static int pairs(const struct job_task *t)
{
	return (int)(t->arglen / PAIR);
}

static void pair_at(const struct job_task *t, int i, struct st_extent_id *id, uint32_t *v)
{
	memcpy(id->b, t->arg + (size_t)i * PAIR, ST_EXTENT_ID_LEN);
	memcpy(v, t->arg + (size_t)i * PAIR + 24, 4);
}

static int in_list(const struct job_task *t, const struct st_extent_id *id)
{
	for (int i = 0; i < pairs(t); i++)
		if (!memcmp(t->arg + (size_t)i * PAIR, id->b, ST_EXTENT_ID_LEN))
			return 1;
	return 0;
}

/* Read the task's egroup and check its version. */
static int load(struct st_store *st, const struct job_task *t, struct st_egroup_rec *g, struct st_msg *err)
{
	int rc = st_meta_egroup_get(st_store_meta(st), t->target, g, err);

	if (rc == ST_ENOTFOUND || (!rc && t->version && g->version != t->version))
		return st_fail(err, ST_ESTALE, "egroup %" PRIx64 " changed since the scan", t->target);
	return rc;
}

/* load, for the tasks that act on plain egroups only: a strip member is stale for them. */
static int load_plain(struct st_store *st, const struct job_task *t, struct st_egroup_rec *g, struct st_msg *err)
{
	int rc = load(st, t, g, err);

	if (!rc && (g->flags & (ST_EGROUP_EC | ST_EGROUP_PARITY)))
		rc = st_fail(err, ST_ESTALE, "egroup %" PRIx64 " is a strip member now", g->id);
	return rc;
}

/* refcount_up / refcount_down: set recorded refcounts to the scan's truth. */
static int apply_refcount(struct st_store *st, const struct job_task *t, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	int shard = st_meta_shard_egroup(m, t->target);
	struct st_egroup_rec g;
	int rc;

	st_egroup_rec_init(&g);
	rc = st_meta_begin(m, shard, err);
	if (rc)
		return rc;
	rc = load(st, t, &g, err);
	for (int i = 0; !rc && i < pairs(t); i++) {
		struct st_extent_id id;
		uint32_t truth;
		int k;
		pair_at(t, i, &id, &truth);
		k = st_egroup_rec_find(&g, &id);
		if (k < 0)
			continue;
		if (t->kind == JT_REFCOUNT_UP ? g.extents[k].refcount < truth : g.extents[k].refcount > truth)
			g.extents[k].refcount = truth;
	}
	if (!rc)
		rc = st_meta_egroup_put(m, &g, g.version, err);
	if (rc)
		st_meta_rollback(m, shard);
	else
		rc = st_meta_commit(m, shard, err);
	st_egroup_rec_release(&g);
	return rc;
}

/* extent_delete: drop dead extents from the record, then their extent-ID rows. */
static int apply_extent_delete(struct st_store *st, const struct job_task *t, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec g;
	int rc, w = 0;

	st_egroup_rec_init(&g);
	rc = load(st, t, &g, err);
	if (!rc) {
		for (int k = 0; k < g.nextents; k++)
			if (!in_list(t, &g.extents[k].id))
				g.extents[w++] = g.extents[k];
		g.nextents = w;
		rc = st_meta_egroup_put(m, &g, g.version, err);
	}
	for (int i = 0; !rc && i < pairs(t); i++) {
		struct st_extent_id id;
		uint32_t v;
		pair_at(t, i, &id, &v);
		rc = st_meta_extent_delete(m, &id, t->target, err);
	}
	st_egroup_rec_release(&g);
	return rc;
}

/*
 * Retire egroup g (as read at g->version): the extent-ID rows that still
 * name it (a compaction has already repointed its live ones), then the row
 * by compare-and-set, then every replica file, last.
 */
static int retire(struct st_store *st, const struct st_egroup_rec *g, int64_t *bytes, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	int rc = 0;

	for (int k = 0; !rc && k < g->nextents; k++)
		rc = st_meta_extent_delete(m, &g->extents[k].id, g->id, err);
	st_fault_step();
	if (!rc)
		rc = st_meta_egroup_delete(m, g->id, g->version, err);
	st_fault_step();
	if (!rc)
		st_meta_fp_delete(m, g->id, NULL); /* a leftover row is dropped by a later scan */
	if (!rc)
		rc = st_store_egroup_files_delete(st, g, bytes, err);
	return rc;
}

/* egroup_delete: every extent is dead. */
static int apply_egroup_delete(struct st_store *st, const struct job_task *t, int64_t *bytes, struct st_msg *err)
{
	struct st_egroup_rec g;
	int rc;

	st_egroup_rec_init(&g);
	rc = load_plain(st, t, &g, err);
	if (!rc)
		rc = retire(st, &g, bytes, err);
	st_egroup_rec_release(&g);
	return rc;
}

/* The chunk fingerprints of the extents that moved from g to n go with them (best effort). */
static void copy_fingerprints(struct st_meta *m, const struct st_egroup_rec *g, const struct st_egroup_rec *n)
{
	struct st_chunk_fp *v = NULL;
	size_t nv = 0, w = 0;

	if (st_meta_fp_get(m, g->id, &v, &nv, NULL))
		return;
	for (size_t i = 0; i < nv; i++)
		if (st_egroup_rec_find(n, &v[i].extent) >= 0)
			v[w++] = v[i];
	if (w)
		st_meta_fp_put(m, n->id, v, w, NULL);
	free(v);
}

/* egroup_compact: the MOVING protocol of job_tasks.h (compress_batch is the same, in batches). */
static int apply_compact(struct st_store *st, const struct job_task *t, int64_t *bytes, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_config *cfg = st_store_config(st);
	struct st_egroup_rec g, n;
	int *keep = NULL, nkeep = 0, rc, began = 0;
	uint64_t seq = 0;
	int64_t op = 0;

	st_egroup_rec_init(&g);
	st_egroup_rec_init(&n);
	rc = load_plain(st, t, &g, err);
	if (rc)
		goto out;
	/* 1. freeze: no appends, no increments from here on */
	if (!(g.flags & ST_EGROUP_MOVING)) {
		g.flags |= ST_EGROUP_MOVING;
		rc = st_meta_egroup_put(m, &g, g.version, err);
		if (rc)
			goto out;
		st_fault_step();
	}
	keep = calloc((size_t)g.nextents + 1, sizeof(int));
	if (!keep) {
		rc = st_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (int k = 0; k < g.nextents; k++)
		if (!in_list(t, &g.extents[k].id))
			keep[nkeep++] = k;
	/* 2. data first: the live extents into a new egroup, stamped by a new operation */
	if (nkeep) {
		rc = st_config_op_begin(cfg, "egroup compact", &seq, &op, err);
		if (rc)
			goto out;
		began = 1;
		rc = st_store_egroup_rewrite(st, &g, keep, nkeep, seq, -1, &n, err);
		if (rc)
			goto out;
		st_fault_step();
		/* 3. metadata flips: extent-ID rows to the new egroup */
		for (int k = 0; k < n.nextents && !rc; k++)
			rc = st_meta_extent_cas(m, &n.extents[k].id, g.id, n.id, NULL, err);
		if (rc)
			goto out;
		copy_fingerprints(m, &g, &n);
	}
	/* 4. the dead extents' rows and the old row (CAS on the frozen version), 5. old copies last */
	rc = retire(st, &g, bytes, err);
	if (!rc)
		*bytes -= (int64_t)n.used * n.nreplicas;
out:
	if (began)
		st_config_op_end(cfg, op, NULL);
	free(keep);
	st_egroup_rec_release(&g);
	st_egroup_rec_release(&n);
	return rc;
}


/* compress_batch's rows, written per shard by st_meta_per_shard */
struct cb_rows {
	struct st_store *st;
	struct st_egroup_rec *g, *nw; /* the old egroups, their compressed copies */
};

static int cb_old_shard(void *arg, int i)
{
	struct cb_rows *b = arg;
	return st_meta_shard_egroup(st_store_meta(b->st), b->g[i].id);
}

static int cb_new_shard(void *arg, int i)
{
	struct cb_rows *b = arg;
	return st_meta_shard_egroup(st_store_meta(b->st), b->nw[i].id);
}

static int cb_freeze(void *arg, int i, struct st_msg *err)
{
	struct cb_rows *b = arg;
	if (b->g[i].flags & ST_EGROUP_MOVING)
		return 0; /* frozen by an earlier attempt */
	b->g[i].flags |= ST_EGROUP_MOVING;
	return st_meta_egroup_put(st_store_meta(b->st), &b->g[i], b->g[i].version, err);
}

static void cb_discard_new(void *arg, int i)
{
	struct cb_rows *b = arg;
	st_store_egroup_discard(b->st, &b->nw[i]);
}

static int cb_put_new(void *arg, int i, struct st_msg *err)
{
	struct cb_rows *b = arg;
	int rc = st_meta_egroup_put(st_store_meta(b->st), &b->nw[i], 0, err);
	if (rc)
		cb_discard_new(arg, i);
	return rc;
}

static int cb_delete_old(void *arg, int i, struct st_msg *err)
{
	struct cb_rows *b = arg;
	int rc = st_meta_egroup_delete(st_store_meta(b->st), b->g[i].id, b->g[i].version, err);
	if (!rc)
		st_meta_fp_delete(st_store_meta(b->st), b->g[i].id, NULL);
	return rc;
}

/*
 * compress for n tasks at once: the MOVING protocol of rewrite_moving, each
 * step for all of them together so that the files are made durable with
 * one sync per disk and the metadata with one transaction per shard and
 * step. Per task: rcs[i] and bytes[i].
 */
static void compress_batch(struct st_store *st, const struct job_task *const *t, int n, int64_t *bytes, int *rcs,
			   struct st_msg *errs)
{
	struct st_meta *m = st_store_meta(st);
	struct st_config *cfg = st_store_config(st);
	struct st_egroup_rec *g = calloc((size_t)n + 1, sizeof(*g)), *nw = calloc((size_t)n + 1, sizeof(*nw));
	int *codec = calloc((size_t)n + 1, sizeof(*codec)), *keep = NULL, nshards = st_meta_nshards(m), brc;
	uint64_t seq = 0;
	int64_t op = 0;
	struct cb_rows rows = { st, g, nw };

	for (int i = 0; i < n; i++) {
		bytes[i] = 0;
		rcs[i] = (!g || !nw || !codec) ? st_fail(&errs[i], -ENOMEM, "out of memory") : 0;
	}
	if (!g || !nw || !codec)
		goto out;
	for (int i = 0; i < n; i++) {
		struct st_container c;
		st_egroup_rec_init(&g[i]);
		st_egroup_rec_init(&nw[i]);
		rcs[i] = load_plain(st, t[i], &g[i], &errs[i]);
		if (!rcs[i])
			rcs[i] = st_config_container_by_id(cfg, g[i].container, &c, &errs[i]);
		if (!rcs[i] && (c.compress == ST_MODE_OFF || (g[i].flags & ST_EGROUP_COMPRESSED)))
			rcs[i] = st_fail(&errs[i], ST_ESTALE, "egroup %" PRIx64 ": compression no longer wanted", g[i].id);
		if (!rcs[i])
			codec[i] = (int)c.codec;
	}
	/* 1. freeze them all: one transaction per shard */
	st_meta_per_shard(m, n, rcs, errs, cb_old_shard, cb_freeze, NULL, &rows);
	st_fault_step();
	/* 2. data first, stamped by one operation: every new egroup's files, then one sync per disk */
	if (st_config_op_begin(cfg, "compress", &seq, &op, &errs[0])) {
		for (int i = 0; i < n; i++)
			if (!rcs[i])
				rcs[i] = st_fail(&errs[i], -EIO, "%s", errs[0].text);
		goto out;
	}
	st_store_batch_begin(st);
	for (int i = 0; i < n; i++) {
		if (rcs[i])
			continue;
		free(keep);
		keep = calloc((size_t)g[i].nextents + 1, sizeof(int));
		for (int k = 0; keep && k < g[i].nextents; k++)
			keep[k] = k;
		rcs[i] = keep ? st_store_egroup_rewrite(st, &g[i], keep, g[i].nextents, seq, codec[i], &nw[i], &errs[i])
			      : st_fail(&errs[i], -ENOMEM, "out of memory");
	}
	brc = st_store_batch_end(st, &errs[0]);
	for (int i = 0; i < n; i++)
		if (!rcs[i] && brc) {
			st_store_egroup_discard(st, &nw[i]);
			rcs[i] = st_fail(&errs[i], brc, "%s", errs[0].text);
		}
	st_fault_step();
	/* 3. the new rows, then the extent-ID rows to them: one transaction per shard each */
	st_meta_per_shard(m, n, rcs, errs, cb_new_shard, cb_put_new, cb_discard_new, &rows);
	for (int i = 0; i < n; i++)
		if (!rcs[i])
			st_store_account(st, &nw[i], 1, +1);
	for (int sh = 0; sh < nshards; sh++) {
		int any = 0;
		for (int i = 0; i < n; i++)
			for (int k = 0; !rcs[i] && k < nw[i].nextents; k++) {
				if (st_meta_shard_extent(m, &nw[i].extents[k].id) != sh)
					continue;
				if (!any && st_meta_begin(m, sh, &errs[i]))
					goto cas_done;
				any = 1;
				rcs[i] = st_meta_extent_cas(m, &nw[i].extents[k].id, g[i].id, nw[i].id, NULL, &errs[i]);
			}
	cas_done:
		if (any && st_meta_commit(m, sh, &errs[0]))
			for (int i = 0; i < n; i++)
				if (!rcs[i])
					rcs[i] = st_fail(&errs[i], -EIO, "%s", errs[0].text); /* rolled forward by a later scan */
	}
	for (int i = 0; i < n; i++)
		if (!rcs[i])
			copy_fingerprints(m, &g[i], &nw[i]);
	st_fault_step();
	/* 4. the old rows (CAS on the frozen version) with their fingerprints, one transaction per shard */
	for (int i = 0; i < n; i++)
		for (int k = 0; !rcs[i] && k < g[i].nextents; k++) /* (no-ops after the flip, as in retire) */
			rcs[i] = st_meta_extent_delete(m, &g[i].extents[k].id, g[i].id, &errs[i]);
	st_meta_per_shard(m, n, rcs, errs, cb_old_shard, cb_delete_old, NULL, &rows); /* failed: rolled forward later */
	st_fault_step();
	/* 5. the old copies last, their usage in one update */
	{
		int nold = 0;
		for (int i = 0; i < n; i++) {
			if (rcs[i])
				continue;
			st_store_egroup_files_unlink(st, &g[i], &bytes[i], NULL);
			bytes[i] -= (int64_t)nw[i].used * nw[i].nreplicas;
			if (nold != i)
				st_egroup_rec_copy(&g[nold], &g[i]);
			nold++;
		}
		st_store_account(st, g, nold, -1);
	}
	st_config_op_end(cfg, op, NULL);
out:
	for (int i = 0; g && nw && i < n; i++) {
		st_egroup_rec_release(&g[i]);
		st_egroup_rec_release(&nw[i]);
	}
	free(keep);
	free(g);
	free(nw);
	free(codec);
}

/* compress on its own: a batch of one. */
static int apply_compress(struct st_store *st, const struct job_task *t, int64_t *bytes, struct st_msg *err)
{
	struct st_msg e = { "" };
	int rc;

	compress_batch(st, &t, 1, bytes, &rc, &e);
	if (rc)
		st_fail(err, rc, "%s", e.text);
	return rc;
}

/* extent_id_delete: orphan rows, re-checked against their egroup. */
static int apply_extent_id_delete(struct st_store *st, const struct job_task *t, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec g;
	int rc = 0, have;

	st_egroup_rec_init(&g);
	have = st_meta_egroup_get(m, t->target, &g, NULL) == 0;
	for (int i = 0; !rc && i < pairs(t); i++) {
		struct st_extent_id id;
		uint32_t v;
		pair_at(t, i, &id, &v);
		if (have && st_egroup_rec_find(&g, &id) >= 0)
			continue; /* no longer an orphan */
		rc = st_meta_extent_delete(m, &id, t->target, err);
	}
	st_egroup_rec_release(&g);
	return rc;
}

/* blocks_delete: every block row of a deleted vdisk, then the vdisk itself. */
static int apply_blocks_delete(struct st_store *st, const struct job_task *t, struct st_msg *err)
{
	struct st_vdisk v;
	uint64_t rows;
	int rc = st_config_vdisk_by_id(st_store_config(st), t->target, &v, err);

	if (rc == ST_ENOTFOUND)
		return 0; /* already purged */
	if (rc)
		return rc;
	if (v.state != ST_VDISK_DELETED)
		return st_fail(err, ST_ESTALE, "vdisk %" PRIx64 " is not deleted", t->target);
	rc = st_meta_vdisk_blocks_delete(st_store_meta(st), t->target, &rows, err);
	if (!rc)
		rc = st_config_vdisk_purge(st_store_config(st), t->target, err);
	return rc;
}

/* file_sweep: unreferenced files older than the grace period and than any operation in flight. */
static int apply_sweep(struct st_store *st, const struct job_task *t, int64_t grace, int64_t *bytes,
		       struct st_msg *err)
{
	struct st_config *cfg = st_store_config(st);
	struct st_egroup_rec g;
	int64_t oldest, now = st_now();
	int rc = st_config_oldest_inflight(cfg, &oldest, err), have;

	if (rc)
		return rc;
	st_egroup_rec_init(&g);
	have = st_meta_egroup_get(st_store_meta(st), t->target, &g, NULL) == 0;
	for (size_t i = 0; i + 4 <= t->arglen; i += 4) {
		uint32_t disk;
		struct st_disk d;
		char path[ST_PATH_MAX + 64];
		struct stat sb;
		int referenced = 0;

		memcpy(&disk, t->arg + i, 4);
		if (disk == ST_CLOUD_DISK) { /* an object no cloud egroup row names: the scan checked its age */
			struct st_cloud *cl;
			char key[64];
			if ((have && (g.flags & ST_EGROUP_CLOUD)) || st_store_cloud(st, &cl, NULL))
				continue;
			st_cloud_egroup_key(t->target, key, sizeof(key));
			st_cloud_delete(cl, key, NULL);
			continue;
		}
		for (int r = 0; have && r < g.nreplicas; r++)
			referenced |= g.replicas[r].disk == disk;
		if (referenced || st_config_disk_get(cfg, disk, &d, NULL))
			continue;
		if (st_egroup_path(d.path, t->target, path, sizeof(path)) || stat(path, &sb) < 0)
			continue;
		if (now - (int64_t)sb.st_mtime < grace || (int64_t)sb.st_mtime >= oldest)
			continue; /* too young, or perhaps an in-flight writer's */
		if (unlink(path) == 0)
			*bytes += sb.st_size;
	}
	st_egroup_rec_release(&g);
	return 0;
}

/* --- protection --------------------------------------------------------- */

/*
 * A replica's state now: 0 healthy (a good source and a copy that counts),
 * 1 unavailable (its node is down: keep it in the row, it may come back),
 * 2 to drop (failed or removed disk, marked bad), 3 draining (a source, but
 * it must move).
 */
static int replica_now(struct st_store *st, const struct st_egroup_rec *g, int r)
{
	struct st_disk d;
	struct st_node *nodes;
	int nn, state = 0;

	if (st_config_disk_get(st_store_config(st), g->replicas[r].disk, &d, NULL) || !d.ok || d.removed ||
	    g->replicas[r].state != ST_REPLICA_OK)
		return 2;
	if (d.draining)
		state = 3;
	if (!st_config_nodes(st_store_config(st), &nodes, &nn, NULL)) {
		for (int i = 0; i < nn; i++)
			if (nodes[i].id == d.node && !nodes[i].up)
				state = 1;
		free(nodes);
	}
	return state;
}

static int container_rf(struct st_store *st, const struct st_egroup_rec *g)
{
	struct st_container c;
	return st_config_container_by_id(st_store_config(st), g->container, &c, NULL) ? 2 : c.rf;
}

/*
 * rereplicate: copy the egroup onto new disks until it has RF healthy
 * copies (copies on down nodes stay in the row but do not count), add them to the row by
 * CAS together with dropping dead copies (failed disks, bad copies,
 * draining disks), then delete the dropped files that can be reached. The
 * new copies exist before the row names them, and the row never loses a
 * healthy copy, so no step can leave fewer healthy copies than before.
 */
static int apply_rereplicate(struct st_store *st, const struct job_task *t, int64_t *bytes, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec g;
	struct st_replica keep[ST_REPLICAS_MAX], drop[ST_REPLICAS_MAX];
	uint32_t added[ST_REPLICAS_MAX];
	int nkeep = 0, ndrop = 0, healthy = 0, need, rf, rc;

	st_egroup_rec_init(&g);
	rc = load_plain(st, t, &g, err);
	if (rc)
		goto out;
	rf = container_rf(st, &g);
	for (int r = 0; r < g.nreplicas; r++) {
		int s = replica_now(st, &g, r);
		if (s == 0 || s == 1)
			keep[nkeep++] = g.replicas[r];
		else
			drop[ndrop++] = g.replicas[r];
		healthy += s == 0;
	}
	/*
	 * The scan queued this task because copies on down nodes are past their
	 * grace period: only healthy copies count now. Copies on down nodes stay
	 * in the row (the node may come back; drop_extra trims them then).
	 */
	need = rf - healthy;
	if (healthy == 0) {
		rc = st_fail(err, ST_EIO, "egroup %llx: no healthy replica to copy from", (unsigned long long)g.id);
		goto out;
	}
	if (need > 0) {
		/* new copies avoid the nodes of the copies that stay; dropped ones may share a node */
		struct st_egroup_rec src;
		st_egroup_rec_init(&src);
		rc = st_egroup_rec_copy(&src, &g);
		if (!rc) {
			int w = 0;
			for (int r = 0; r < g.nreplicas; r++)
				if (replica_now(st, &g, r) != 2)
					src.replicas[w++] = g.replicas[r];
			src.nreplicas = w;
			rc = st_store_egroup_copy(st, &src, need, added, err);
		}
		st_egroup_rec_release(&src);
		if (rc)
			goto out;
		st_fault_step();
		for (int i = 0; i < need; i++)
			keep[nkeep++] = (struct st_replica){ added[i], ST_REPLICA_OK };
		*bytes -= (int64_t)g.used * need; /* bytes moved, not freed */
	} else if (ndrop == 0) {
		goto out; /* nothing to do: already protected */
	}
	{
		struct st_egroup_rec n;
		st_egroup_rec_init(&n);
		rc = st_egroup_rec_copy(&n, &g);
		if (!rc) {
			n.nreplicas = nkeep;
			memcpy(n.replicas, keep, sizeof(keep[0]) * (size_t)nkeep);
			rc = st_meta_egroup_put(m, &n, g.version, err);
		}
		st_egroup_rec_release(&n);
	}
	if (rc) {
		for (int i = 0; need > 0 && i < need; i++) {
			int64_t b;
			st_store_replica_delete(st, g.id, added[i], g.used, &b);
		}
		goto out;
	}
	st_fault_step();
	for (int i = 0; i < ndrop; i++) { /* old copies last */
		int64_t b;
		st_store_replica_delete(st, g.id, drop[i].disk, g.used, &b);
		*bytes += b;
	}
out:
	st_egroup_rec_release(&g);
	return rc;
}

/* drop_extra: more copies than RF: drop dead ones first, then extras, keeping RF healthy. */
static int apply_drop_extra(struct st_store *st, const struct job_task *t, int64_t *bytes, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec g, n;
	struct st_replica drop[ST_REPLICAS_MAX];
	int ndrop = 0, healthy = 0, rf, rc;

	st_egroup_rec_init(&g);
	st_egroup_rec_init(&n);
	rc = load_plain(st, t, &g, err);
	if (rc)
		goto out;
	rf = container_rf(st, &g);
	for (int r = 0; r < g.nreplicas; r++)
		healthy += replica_now(st, &g, r) == 0;
	if (healthy <= rf)
		goto out; /* never below full protection */
	rc = st_egroup_rec_copy(&n, &g);
	if (rc)
		goto out;
	n.nreplicas = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (int r = 0; r < g.nreplicas; r++) {
			int s = replica_now(st, &g, r);
			int dead = s != 0;
			if (pass == 0) {
				if (!dead)
					continue;
				drop[ndrop++] = g.replicas[r]; /* dead copies go first */
			} else {
				if (dead)
					continue;
				if (healthy > rf) {
					drop[ndrop++] = g.replicas[r];
					healthy--;
				} else {
					n.replicas[n.nreplicas++] = g.replicas[r];
				}
			}
		}
	}
	rc = st_meta_egroup_put(m, &n, g.version, err);
	st_fault_step();
	for (int i = 0; !rc && i < ndrop; i++) {
		int64_t b;
		st_store_replica_delete(st, g.id, drop[i].disk, g.used, &b);
		*bytes += b;
	}
out:
	st_egroup_rec_release(&g);
	st_egroup_rec_release(&n);
	return rc;
}

/*
 * scrub: read every extent of every reachable replica and verify it; a bad
 * copy is rewritten from good ones; last_scrub is recorded by CAS. A disk
 * whose directory has vanished is marked failed.
 */
static int apply_scrub(struct st_store *st, const struct job_task *t, int64_t *bytes, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec g;
	uint8_t *buf = NULL;
	size_t cap = 0;
	int bad[ST_REPLICAS_MAX] = { 0 }, nbad = 0, ngood = 0, rc;

	st_egroup_rec_init(&g);
	rc = load(st, t, &g, err);
	if (rc)
		goto out;
	if (g.flags & (ST_EGROUP_EC | ST_EGROUP_PARITY)) { /* one copy: its strip repairs it */
		struct st_msg why;
		int64_t read = 0;
		if (st_store_ec_verify(st, &g, &read, &why) == 0) {
			*bytes = -read;
			st_fault_step();
			g.last_scrub = st_now();
			rc = st_meta_egroup_put(m, &g, g.version, err);
			goto out;
		}
		*bytes = -read;
		rc = st_store_ec_rebuild(st, &g, err);
		st_fault_step();
		if (!rc && st_meta_egroup_get(m, g.id, &g, err) == 0) {
			g.last_scrub = st_now();
			rc = st_meta_egroup_put(m, &g, g.version, err);
		}
		if (!rc)
			st_fail(err, 0, "%s; rebuilt from its strip", why.text);
		goto out;
	}
	for (int r = 0; r < g.nreplicas; r++) {
		struct st_disk d;
		char dir[ST_PATH_MAX + 16];
		if (replica_now(st, &g, r) != 0)
			continue;
		if (st_config_disk_get(st_store_config(st), g.replicas[r].disk, &d, NULL))
			continue;
		snprintf(dir, sizeof(dir), "%s/egroups", d.path);
		if (access(dir, R_OK | X_OK) < 0) { /* the disk vanished or became unreadable */
			st_config_disk_set(st_store_config(st), d.id, 0, 0, NULL);
			continue;
		}
		for (int k = 0; k < g.nextents; k++) {
			const struct st_extent_rec *e = &g.extents[k];
			if (e->raw_len > cap) {
				uint8_t *nb = realloc(buf, e->raw_len);
				if (!nb) {
					rc = st_fail(err, -ENOMEM, "out of memory");
					goto out;
				}
				buf = nb;
				cap = e->raw_len;
			}
			*bytes += e->stored_len;
			if (st_store_read_replica(st, &g, r, e, buf)) {
				bad[r] = 1;
				break;
			}
		}
		nbad += bad[r];
		ngood += !bad[r];
	}
	*bytes = -*bytes; /* read, not freed: reported as negative reclaim */
	for (int r = 0; r < g.nreplicas && !rc; r++) {
		if (!bad[r])
			continue;
		if (!ngood) {
			rc = st_fail(err, ST_EIO, "egroup %llx: every reachable copy is bad", (unsigned long long)g.id);
			break;
		}
		rc = st_store_replica_rewrite(st, &g, r, err);
	}
	st_fault_step();
	if (!rc) {
		g.last_scrub = st_now();
		rc = st_meta_egroup_put(m, &g, g.version, err);
	}
	if (!rc && nbad)
		st_fail(err, 0, "repaired %d bad replica(s)", nbad);
out:
	free(buf);
	st_egroup_rec_release(&g);
	return rc;
}

/* ec_encode: k cold egroups become a strip (st_store_ec_convert does it all, in order). */
static int apply_ec_encode(struct st_store *st, const struct job_task *t, int64_t *bytes, struct st_msg *err)
{
	uint64_t ids[ST_REPLICAS_MAX * 3], versions[ST_REPLICAS_MAX * 3];
	struct st_egroup_rec g;
	struct st_container c;
	int k = (int)(t->arglen / 16), rc;

	if (k < 2 || k > 16)
		return st_fail(err, ST_EINVAL, "ec_encode: bad argument");
	for (int i = 0; i < k; i++) {
		memcpy(&ids[i], t->arg + 16 * i, 8);
		memcpy(&versions[i], t->arg + 16 * i + 8, 8);
	}
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
static int apply_ec_rebuild(struct st_store *st, const struct job_task *t, struct st_msg *err)
{
	struct st_egroup_rec g;
	int rc;

	st_egroup_rec_init(&g);
	rc = load(st, t, &g, err);
	if (!rc && !(g.flags & ST_EGROUP_EC))
		rc = st_fail(err, ST_ESTALE, "egroup %llx is not a strip member", (unsigned long long)g.id);
	if (!rc && replica_now(st, &g, 0) == 0 && g.nreplicas == 1) {
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
static int apply_strip_rollback(struct st_store *st, const struct job_task *t, int64_t *bytes, struct st_msg *err)
{
	uint64_t pids[16];
	int n = (int)(t->arglen / 8);

	if (n > 16)
		n = 16;
	if (n)
		memcpy(pids, t->arg, (size_t)n * 8);
	return st_store_ec_rollback(st, t->target, pids, n, bytes, err);
}

/* strip_dissolve: target strip id (st_store_ec_dissolve does it all, in order). */
static int apply_strip_dissolve(struct st_store *st, const struct job_task *t, int64_t *bytes, struct st_msg *err)
{
	return st_store_ec_dissolve(st, t->target, bytes, err);
}

/* disk_removed: a drained disk that no egroup uses any more. */
static int apply_disk_removed(struct st_store *st, const struct job_task *t, struct st_msg *err)
{
	struct st_disk d;
	int rc = st_config_disk_get(st_store_config(st), (uint32_t)t->target, &d, err);

	if (rc)
		return rc;
	if (!d.draining)
		return st_fail(err, ST_ESTALE, "disk %u is not draining", d.id);
	return st_config_disk_set(st_store_config(st), d.id, 0, 1, err);
}

int job_task_apply(struct st_store *st, const struct job_task *t, int64_t sweep_grace, int64_t *bytes,
		   struct st_msg *err)
{
	*bytes = 0;
	switch (t->kind) {
	case JT_REFCOUNT_UP:
	case JT_REFCOUNT_DOWN: return apply_refcount(st, t, err);
	case JT_EXTENT_DELETE: return apply_extent_delete(st, t, err);
	case JT_EGROUP_COMPACT: return apply_compact(st, t, bytes, err);
	case JT_EGROUP_DELETE: return apply_egroup_delete(st, t, bytes, err);
	case JT_EXTENT_ID_DELETE: return apply_extent_id_delete(st, t, err);
	case JT_BLOCKS_DELETE: return apply_blocks_delete(st, t, err);
	case JT_FILE_SWEEP: return apply_sweep(st, t, sweep_grace < 0 ? 3600 : sweep_grace, bytes, err);
	case JT_REREPLICATE: return apply_rereplicate(st, t, bytes, err);
	case JT_DROP_EXTRA: return apply_drop_extra(st, t, bytes, err);
	case JT_SCRUB: return apply_scrub(st, t, bytes, err);
	case JT_DISK_REMOVED: return apply_disk_removed(st, t, err);
	case JT_EC_ENCODE: return apply_ec_encode(st, t, bytes, err);
	case JT_EC_REBUILD: return apply_ec_rebuild(st, t, err);
	case JT_STRIP_ROLLBACK: return apply_strip_rollback(st, t, bytes, err);
	case JT_STRIP_DISSOLVE: return apply_strip_dissolve(st, t, bytes, err);
	case JT_COMPRESS: return apply_compress(st, t, bytes, err);
	case JT_FINGERPRINT: return job_apply_fingerprint(st, t, bytes, err);
	case JT_DEDUP: return job_apply_dedup(st, t, bytes, err);
	case JT_TIER_DOWN:
	case JT_TIER_UP: return job_apply_tier_move(st, t, bytes, err);
	case JT_DISK_BALANCE: return job_apply_balance(st, t, bytes, err);
	case JT_NKINDS: break;
	}
	return st_fail(err, ST_EINVAL, "task %" PRId64 ": unknown kind %d", t->id, t->kind);
}

static void throttle(double rate_mbps, int64_t bytes, struct timespec *t0, int64_t *total)
{
	struct timespec now;
	double elapsed, want;

	if (rate_mbps <= 0)
		return;
	*total += bytes > 0 ? bytes : 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	elapsed = (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
	want = (double)*total / (rate_mbps * 1048576.0);
	if (want > elapsed)
		usleep((useconds_t)((want - elapsed) * 1e6));
}

/*
 * While this task runs, let the kernel read the egroups the next ones (one
 * per rank: any rank may claim them) will read: copying and verifying then
 * overlap with this task's fdatasync instead of waiting after it.
 */
/* Kinds whose tasks read whole egroups: worth reading ahead. */
static int reads_egroups(int kind)
{
	return kind == JT_REREPLICATE || kind == JT_SCRUB || kind == JT_EC_ENCODE || kind == JT_COMPRESS ||
	       kind == JT_TIER_DOWN || kind == JT_TIER_UP || kind == JT_DISK_BALANCE || kind == JT_FINGERPRINT;
}

#define READ_AHEAD_NEXT 6
static void prefetch_next(struct st_store *st, sqlite3 *db, int kind, int nranks)
{
	int kinds[64], got = 0;
	uint64_t targets[64];

	if (nranks > 64)
		nranks = 64;
	if (job_db_task_peek(db, kind, nranks, kinds, targets, &got, NULL))
		return;
	for (int i = 0; i < got; i++) {
		struct st_egroup_rec g;
		if (!reads_egroups(kinds[i]))
			continue;
		st_egroup_rec_init(&g);
		if (st_meta_egroup_get(st_store_meta(st), targets[i], &g, NULL) == 0)
			st_store_prefetch(st, &g, kinds[i] == JT_SCRUB);
		st_egroup_rec_release(&g);
	}
}

/* Record one task's outcome (done, stale, or failed: retried until its third attempt). */
static int finish_one(sqlite3 *db, const struct job_task *t, int trc, int64_t bytes, const struct st_msg *terr,
		      struct job_run_result *res, struct st_msg *err)
{
	if (trc == 0) {
		res->done[t->kind]++;
		if (bytes > 0)
			res->bytes_reclaimed += bytes;
		return job_db_task_finish(db, t->id, JS_DONE, bytes, terr->text[0] ? terr->text : NULL, err);
	}
	if (trc == ST_ESTALE) {
		res->stale[t->kind]++;
		return job_db_task_finish(db, t->id, JS_STALE, 0, terr->text, err);
	}
	res->failed[t->kind]++;
	return job_db_task_finish(db, t->id, t->attempts >= 3 ? JS_FAILED : JS_PENDING, 0, terr->text, err);
}

#define COMPRESS_BATCH 32 /* compression: at most 128 MiB of images */
#define CLOUD_BATCH 128   /* moves to the cloud (images in memory: a few groups, see job_place.c) */
#define BATCH_MAX 128

static int to_cloud(const struct job_task *t)
{
	return t->kind == JT_TIER_DOWN && t->arglen >= 1 && t->arg[0] == ST_TIER_CLOUD;
}

static int batched(const struct job_task *t)
{
	return to_cloud(t) || t->kind == JT_COMPRESS;
}

/*
 * Tasks in a batch of this kind: for moves to the cloud on several ranks,
 * the pending ones shared between the ranks (one rank must not take them
 * all), at least a store group.
 */
static int batch_size(sqlite3 *db, int kind, int nranks)
{
	int64_t pending, size = CLOUD_BATCH;

	if (kind == JT_COMPRESS)
		return COMPRESS_BATCH;
	if (nranks > 1 && job_db_tasks_pending(db, kind, &pending, NULL) == 0)
		size = (pending + nranks) / nranks; /* the claimed one and its share */
	return size < 8 ? 8 : size > CLOUD_BATCH ? CLOUD_BATCH : (int)size;
}

/*
 * Run claimed task *first and up to batch_size() - 1 more of its sort (at
 * most limit in all) as one batch; record every outcome in one curator.db
 * transaction. Returns the tasks run, or -1 (*rc set) when nothing could.
 */
static int run_batch(struct st_store *st, sqlite3 *db, const struct job_run_opts *o, struct job_task *first,
		     int64_t limit, int nranks, struct job_run_result *res, struct timespec *t0, int64_t *moved,
		     int *rc, struct st_msg *err)
{
	struct job_task tasks[BATCH_MAX], more[BATCH_MAX];
	const struct job_task *ptr[BATCH_MAX];
	int size = batch_size(db, first->kind, nranks);
	int64_t bb[BATCH_MAX], want = limit - 1 < size - 1 ? limit - 1 : size - 1;
	int rcs[BATCH_MAX], nb = 1, got = 0, kind = first->kind, intx;
	struct st_msg *errs = calloc(BATCH_MAX, sizeof(*errs));

	if (!errs) {
		*rc = st_fail(err, -ENOMEM, "out of memory");
		job_task_release(first);
		return -1;
	}
	tasks[0] = *first;
	if (want > 0)
		*rc = job_db_task_claim_many(db, kind, o->kind_ranks, (int)want, more, &got, err);
	for (int i = 0; i < got; i++) {
		if (to_cloud(&more[i]) != to_cloud(first)) { /* another kind of move: back to the queue */
			job_db_task_finish(db, more[i].id, JS_PENDING, 0, NULL, NULL);
			job_task_release(&more[i]);
			continue;
		}
		tasks[nb++] = more[i];
	}
	for (int i = 0; i < nb; i++)
		ptr[i] = &tasks[i];
	if (kind == JT_COMPRESS) {
		prefetch_next(st, db, kind, COMPRESS_BATCH); /* the next batch is read while this one works */
		compress_batch(st, ptr, nb, bb, rcs, errs);
	} else {
		job_apply_to_cloud_batch(st, ptr, nb, bb, rcs, errs); /* reads its own egroups ahead, in order */
		prefetch_next(st, db, kind, READ_AHEAD_NEXT); /* the next batch's first ones, while this one is recorded */
	}
	intx = job_db_tasks_finish_begin(db, NULL) == 0;
	for (int i = 0; i < nb; i++) {
		int prc = finish_one(db, &tasks[i], rcs[i], bb[i], &errs[i], res, err);
		if (!*rc)
			*rc = prc;
		throttle(o->kind_mbps[kind] > 0 ? o->kind_mbps[kind] : o->rate_mbps, bb[i] < 0 ? -bb[i] : bb[i], t0, moved);
		job_task_release(&tasks[i]);
	}
	if (intx && job_db_tasks_finish_commit(db, *rc ? NULL : err) && !*rc)
		*rc = -EIO;
	free(errs);
	return nb;
}

int job_tasks_run(struct mr_ctx *mr, struct st_store *st, const struct job_run_opts *o, struct job_run_result *res,
		  struct st_msg *err)
{
	sqlite3 *db = NULL;
	int64_t limit = o->max > 0 ? (o->max + mr_nranks(mr) - 1) / mr_nranks(mr) : INT64_MAX, ran = 0, moved = 0;
	struct timespec t0;
	int rc = job_db_open(st_config_dir(st_store_config(st)), &db, err);

	memset(res, 0, sizeof(*res));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	st_store_async_unlink(st, 1);
	if (!rc && mr_rank(mr) == 0)
		rc = job_db_tasks_requeue_running(db, err);
	rc = mr_agree(mr, rc);
	while (!rc && ran < limit && !(o->stop && *o->stop)) {
		struct job_task t;
		struct st_msg terr = { "" };
		int64_t bytes = 0;
		int got = 0, trc;

		rc = job_db_task_claim(db, o->kind, o->kind_ranks, &t, &got, err);
		if (rc || !got)
			break;
		if (reads_egroups(t.kind) && !batched(&t)) /* (batches read ahead themselves) */
			prefetch_next(st, db, o->kind, 2 * mr_nranks(mr));
		if (batched(&t)) { /* in batches: one sync for many egroups */
			int nb = run_batch(st, db, o, &t, limit - ran, mr_nranks(mr), res, &t0, &moved, &rc, err);
			if (nb < 0)
				break;
			ran += nb;
			continue;
		}
		trc = job_task_apply(st, &t, o->sweep_grace, &bytes, &terr);
		rc = finish_one(db, &t, trc, bytes, &terr, res, err);
		{
			int k = t.kind;
			job_task_release(&t);
			throttle(o->kind_mbps[k] > 0 ? o->kind_mbps[k] : o->rate_mbps, bytes < 0 ? -bytes : bytes, &t0, &moved);
		}
		ran++;
	}
	st_store_async_unlink(st, 0); /* every retired file gone before the results count it */
	rc = mr_agree(mr, rc);
	for (int k = 0; k < JT_NKINDS; k++) {
		res->done[k] = (uint64_t)mr_sum(mr, (int64_t)res->done[k]);
		res->stale[k] = (uint64_t)mr_sum(mr, (int64_t)res->stale[k]);
		res->failed[k] = (uint64_t)mr_sum(mr, (int64_t)res->failed[k]);
	}
	res->bytes_reclaimed = mr_sum(mr, res->bytes_reclaimed);
	if (!rc && mr_rank(mr) == 0) {
		/* attach the results to the latest scan's report */
		char json[2048];
		size_t off = (size_t)snprintf(json, sizeof(json), "{\"bytes_reclaimed\":%" PRId64, res->bytes_reclaimed);
		for (int k = 0; k < JT_NKINDS; k++)
			off += (size_t)snprintf(json + off, sizeof(json) - off,
						",\"%s\":{\"done\":%" PRIu64 ",\"stale\":%" PRIu64 ",\"failed\":%" PRIu64 "}",
						job_task_kind_name(k), res->done[k], res->stale[k], res->failed[k]);
		snprintf(json + off, sizeof(json) - off, "}");
		job_db_scan_task_results(db, json, NULL); /* best effort */
	}
	job_db_close(db);
	return rc;
}
