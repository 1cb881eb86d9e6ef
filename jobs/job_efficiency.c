/*
 * job_efficiency: post-process compression (DESIGN.md §6); the dedup kinds
 * of the same family, fingerprint and dedup, are in job_dedup.c.
 *
 * DESIGN: compress rewrites an egroup of a container that compresses after
 * the fact into a new egroup with every extent compressed by the
 * container's codec, and retires the old one. The runner hands it tasks in
 * batches of up to COMPRESS_BATCH (one sync per disk for all their files,
 * one metadata transaction per shard and step); a task run alone is a batch
 * of one.
 *
 * Order: the MOVING protocol of egroup_compact (job_gc.c), each step for
 * the whole batch: 1. freeze the old rows (MOVING, by compare-and-set on
 * the scan's version: no appends or increments from then on); 2. data
 * first: the new egroups' files, stamped with one fresh operation's
 * sequence (the safety rule), synced; 3. the new rows, then the extent-ID
 * rows repointed to them by CAS (their fingerprints follow); 4. the old
 * extent-ID rows and the old rows (CAS on the frozen version); 5. the old
 * copies last, their usage in one update.
 *
 * Idempotent: an egroup already compressed, or whose container no longer
 * wants compression, is stale; a frozen (MOVING) egroup found again is
 * rolled forward by the next attempt or scan; a crash leaves at worst an
 * unreferenced new egroup or orphan files, collected by a later scan.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "jobs/job_tasks_int.h"

#define COMPRESS_BATCH 32 /* tasks in a batch: at most 128 MiB of images */

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
 * compress for n tasks at once (the batch apply of job_task_batch): the
 * MOVING protocol above, each step for all of them together so that the
 * files are made durable with one sync per disk and the metadata with one
 * transaction per shard and step. Per task: rcs[i] and bytes[i]. Always 0
 * (every outcome is in rcs[]).
 */
static int compress_batch(struct st_store *st, const struct job_task *const *t, int n, int64_t *bytes, int *rcs,
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
		rcs[i] = job_task_load_frozen(st, t[i], &g[i], &errs[i]);
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
	if (st_store_op_begin(st, "compress", &seq, &op, &errs[0])) {
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
			job_gc_copy_fingerprints(m, &g[i], &nw[i]);
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
	return 0;
}

/* compress on its own: a batch of one. */
static int apply_compress(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
			  int64_t *bytes, struct st_msg *err)
{
	struct st_msg e = { "" };
	int rc;

	compress_batch(st, &t, 1, bytes, &rc, &e);
	if (rc)
		st_fail(err, rc, "%s", e.text);
	return rc;
}

static const struct job_task_batch compress_batching = {
	.max = COMPRESS_BATCH,
	.ahead_before = COMPRESS_BATCH, /* the next batch is read while this one works */
	.apply = compress_batch,
};

const struct job_task_ops job_kind_compress = {
	.name = "compress",
	.priority = 11,
	.refuses = ST_EGROUP_EC | ST_EGROUP_PARITY,
	.apply = apply_compress,
	.batch = &compress_batching,
	.reads_egroups = JOB_READS_EGROUP,
};
