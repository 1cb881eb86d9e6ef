/*
 * job_place: tier moves and disk balancing. See job_place.h.
 */
#include "jobs/job_place.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "storage/st_cloud.h"

/* The task's egroup at the scan's version, plain (not a strip member, not moving). */
static int load_movable(struct st_store *st, const struct job_task *t, struct st_egroup_rec *g, struct st_msg *err)
{
	int rc = st_meta_egroup_get(st_store_meta(st), t->target, g, err);

	if (rc == ST_ENOTFOUND || (!rc && t->version && g->version != t->version))
		return st_fail(err, ST_ESTALE, "egroup %" PRIx64 " changed since the scan", t->target);
	if (!rc && (g->flags & ~(uint32_t)(ST_EGROUP_COMPRESSED | ST_EGROUP_CLOUD)))
		return st_fail(err, ST_ESTALE, "egroup %" PRIx64 " is not a plain egroup now", t->target);
	return rc;
}

/* Undo new copies (used bytes each, accounted on their disks) that did not make it into the row. */
static void drop_new(struct st_store *st, uint64_t egroup, uint32_t used, const uint32_t *disks, int n)
{
	for (int i = 0; i < n; i++) {
		int64_t b;
		st_store_replica_delete(st, egroup, disks[i], used, &b);
	}
}

int job_apply_tier_move(struct st_store *st, const struct job_task *t, int64_t *bytes, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec g;
	struct st_container c;
	uint32_t out[ST_REPLICAS_MAX], old[ST_REPLICAS_MAX];
	int nold, rc, from_cloud;
	enum st_tier dest;

	if (t->arglen < 2 || t->arg[0] >= ST_NTIERS)
		return st_fail(err, ST_EINVAL, "task %" PRId64 ": bad tier argument", t->id);
	dest = (enum st_tier)t->arg[0];
	if (dest == ST_TIER_CLOUD) { /* as a batch of one */
		struct st_msg e = { "" };
		job_apply_to_cloud_batch(st, &t, 1, bytes, &rc, &e);
		if (rc)
			st_fail(err, rc, "%s", e.text);
		return rc;
	}
	st_egroup_rec_init(&g);
	rc = load_movable(st, t, &g, err);
	if (!rc)
		rc = st_config_container_by_id(st_store_config(st), g.container, &c, err);
	if (!rc && g.tier == dest)
		goto out; /* already there */
	/* 1. data: RF copies on the destination tier (from the cloud object, if there) */
	if (!rc)
		rc = st_store_egroup_copy_tier(st, &g, c.rf, dest, 0, out, err);
	if (rc)
		goto out;
	st_fault_step();
	/* 2. the row: new replicas, new tier (CAS) */
	nold = g.nreplicas;
	for (int r = 0; r < nold; r++)
		old[r] = g.replicas[r].disk;
	g.nreplicas = c.rf;
	for (int r = 0; r < c.rf; r++) {
		g.replicas[r].disk = out[r];
		g.replicas[r].state = ST_REPLICA_OK;
	}
	g.tier = dest;
	from_cloud = (g.flags & ST_EGROUP_CLOUD) != 0;
	g.flags &= ~(uint32_t)ST_EGROUP_CLOUD;
	rc = st_meta_egroup_put(m, &g, g.version, err);
	if (rc) {
		drop_new(st, g.id, g.used, out, c.rf);
		goto out;
	}
	st_fault_step();
	/* 3. the old copies last */
	if (from_cloud) {
		struct st_cloud *cl;
		char key[64];
		st_cloud_egroup_key(g.id, key, sizeof(key));
		if (st_store_cloud(st, &cl, NULL) == 0)
			st_cloud_delete(cl, key, NULL); /* (else a later scan sweeps the orphan object) */
	}
	for (int r = 0; r < nold; r++) {
		int64_t b;
		st_store_replica_delete(st, g.id, old[r], g.used, &b);
	}
	st_config_reads_clear(st_store_config(st), 1, &g.id, NULL);
	*bytes = (int64_t)g.used * c.rf;
out:
	st_egroup_rec_release(&g);
	return rc;
}

/* Is disk (its usage before the copy) below its tier's mean usage? */
static int below_mean(struct st_store *st, uint32_t disk, enum st_tier tier)
{
	struct st_disk *ds;
	uint64_t cap = 0, used = 0;
	double pct = 1.0;
	int n;

	if (st_config_disks(st_store_config(st), &ds, &n, NULL))
		return 0;
	for (int i = 0; i < n; i++) {
		if (ds[i].tier != tier || !ds[i].ok || ds[i].removed || ds[i].draining)
			continue;
		cap += ds[i].capacity;
		used += ds[i].used;
		if (ds[i].id == disk)
			pct = ds[i].capacity ? (double)ds[i].used / (double)ds[i].capacity : 1.0;
	}
	free(ds);
	return cap && pct < (double)used / (double)cap;
}

int job_apply_balance(struct st_store *st, const struct job_task *t, int64_t *bytes, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec g;
	uint32_t from, to;
	int r = -1, rc;

	if (t->arglen < 4)
		return st_fail(err, ST_EINVAL, "task %" PRId64 ": bad disk argument", t->id);
	memcpy(&from, t->arg, 4);
	st_egroup_rec_init(&g);
	rc = load_movable(st, t, &g, err);
	for (int i = 0; !rc && i < g.nreplicas; i++)
		if (g.replicas[i].disk == from)
			r = i;
	if (!rc && r < 0)
		rc = st_fail(err, ST_ESTALE, "egroup %" PRIx64 " has no replica on disk %u now", g.id, from);
	if (!rc)
		rc = st_store_egroup_copy_tier(st, &g, 1, g.tier, from, &to, err);
	if (rc)
		goto out;
	if (!below_mean(st, to, g.tier)) { /* the least-used disk it may go to is no better off */
		drop_new(st, g.id, g.used, &to, 1);
		rc = st_fail(err, ST_ESTALE, "egroup %" PRIx64 ": no disk below the %s mean may take it", g.id,
			     st_tier_name(g.tier));
		goto out;
	}
	st_fault_step();
	g.replicas[r].disk = to;
	g.replicas[r].state = ST_REPLICA_OK;
	rc = st_meta_egroup_put(m, &g, g.version, err);
	if (rc) {
		drop_new(st, g.id, g.used, &to, 1);
		goto out;
	}
	st_fault_step();
	{
		int64_t b;
		st_store_replica_delete(st, g.id, from, g.used, &b);
	}
	*bytes = g.used;
out:
	st_egroup_rec_release(&g);
	return rc;
}

/* st_cloud_put_many on a helper thread (the handle is not used by the caller meanwhile). */
#define PUT_GROUP 8 /* objects stored together while the next ones' images are read */
#define READ_AHEAD 6 /* egroups the kernel reads ahead of the one being copied */
struct put_job {
	struct st_cloud *cl;
	int n;
	const char **keys;
	const void **bufs;
	size_t *lens;
	int *rcs;
	struct st_msg err;
	int rc, started;
	pthread_t th;
};

static void *put_worker(void *arg)
{
	struct put_job *j = arg;

	j->rc = st_cloud_put_many(j->cl, j->n, j->keys, j->bufs, j->lens, j->rcs, &j->err);
	return NULL;
}

/* The rows of a cloud batch that flip (in[i]), written per shard by st_meta_per_shard. */
struct flip {
	struct st_meta *m;
	struct st_egroup_rec *g;
	uint8_t *in;
};

static int flip_shard(void *arg, int i)
{
	struct flip *f = arg;
	return f->in[i] ? st_meta_shard_egroup(f->m, f->g[i].id) : -1;
}

static int flip_put(void *arg, int i, struct st_msg *err)
{
	struct flip *f = arg;
	return st_meta_egroup_put(f->m, &f->g[i], f->g[i].version, err);
}

int job_apply_to_cloud_batch(struct st_store *st, const struct job_task *const *t, int n, int64_t *bytes, int *rcs,
			     struct st_msg *errs)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec *g = calloc((size_t)n + 1, sizeof(*g));
	uint8_t **img = calloc((size_t)n + 1, sizeof(*img));
	const void **bufs = calloc((size_t)n + 1, sizeof(*bufs));
	const char **keys = calloc((size_t)n + 1, sizeof(*keys));
	char (*kbuf)[64] = calloc((size_t)n + 1, sizeof(*kbuf));
	size_t *lens = calloc((size_t)n + 1, sizeof(*lens));
	int *put = calloc((size_t)n + 1, sizeof(*put)), *idx = calloc((size_t)n + 1, sizeof(*idx));
	uint32_t *disks = calloc((size_t)n * ST_REPLICAS_MAX + 1, sizeof(*disks));
	int64_t *delta = calloc((size_t)n * ST_REPLICAS_MAX + 1, sizeof(*delta));
	uint64_t *moved = calloc((size_t)n + 1, sizeof(*moved));
	struct st_cloud *cl = NULL;
	struct put_job job = { 0 };
	int nput = 0, nd = 0, nmoved = 0, rc = 0, sent = 0;

	if (!g || !img || !bufs || !keys || !kbuf || !lens || !put || !idx || !disks || !delta || !moved)
		rc = -ENOMEM;
	if (!rc)
		rc = st_store_cloud(st, &cl, &errs[0]);
	for (int i = 0; i < n; i++) {
		bytes[i] = 0;
		rcs[i] = rc == -ENOMEM ? st_fail(&errs[i], rc, "out of memory") : rc ? st_fail(&errs[i], rc, "%s", errs[0].text) : 0;
	}
	/*
	 * 1. data: one verified image of each, then all objects at once (one
	 * sync, each read back). The kernel reads a few egroups ahead of the
	 * one being copied, not the whole batch: asked for all at once, it
	 * finished the first egroup only about when it finished the last, and
	 * the uploads could not start until then.
	 */
	for (int i = 0; i < n && !rc; i++) {
		st_egroup_rec_init(&g[i]);
		rcs[i] = load_movable(st, t[i], &g[i], &errs[i]);
		if (!rcs[i] && i < READ_AHEAD)
			st_store_prefetch(st, &g[i], 0);
	}
	for (int i = 0; i < n && !rc; i++) {
		if (i + READ_AHEAD < n && !rcs[i + READ_AHEAD])
			st_store_prefetch(st, &g[i + READ_AHEAD], 0);
		if (rcs[i])
			continue;
		if (g[i].tier == ST_TIER_CLOUD || (g[i].flags & ST_EGROUP_CLOUD)) {
			rcs[i] = 0; /* already there */
			continue;
		}
		img[i] = malloc(g[i].used + 1);
		rcs[i] = img[i] ? st_store_egroup_image(st, &g[i], img[i], &errs[i]) : st_fail(&errs[i], -ENOMEM, "out of memory");
		if (rcs[i])
			continue;
		st_cloud_egroup_key(g[i].id, kbuf[nput], sizeof(kbuf[nput]));
		keys[nput] = kbuf[nput];
		bufs[nput] = img[i];
		lens[nput] = g[i].used;
		idx[nput++] = i;
		if (nput - sent >= PUT_GROUP) { /* this group goes up while the next one is read */
			if (job.started) {
				pthread_join(job.th, NULL);
				job.started = 0;
				if (job.rc && !rc)
					rc = job.rc;
			}
			job = (struct put_job){ .cl = cl, .n = nput - sent, .keys = keys + sent, .bufs = bufs + sent,
						.lens = lens + sent, .rcs = put + sent };
			job.started = pthread_create(&job.th, NULL, put_worker, &job) == 0;
			if (job.started)
				sent = nput;
		}
	}
	if (job.started) {
		pthread_join(job.th, NULL);
		if (job.rc && !rc)
			rc = job.rc;
	}
	if (!rc && nput > sent)
		rc = st_cloud_put_many(cl, nput - sent, keys + sent, bufs + sent, lens + sent, put + sent, &errs[0]);
	if (job.err.text[0] && !errs[0].text[0])
		errs[0] = job.err;
	st_fault_step();
	/* 2. the rows (CAS), one transaction per shard */
	{
		struct st_egroup_rec *old = calloc((size_t)n + 1, sizeof(*old));
		struct flip fl = { m, g, calloc((size_t)n + 1, 1) };
		for (int j = 0; j < nput && fl.in; j++) {
			int i = idx[j];
			if (rc) { /* no object may be trusted: nothing flips, the local copies stay */
				rcs[i] = st_fail(&errs[i], rc, "%s", errs[0].text[0] ? errs[0].text : st_strerror(rc));
				continue;
			}
			if (put[j]) {
				rcs[i] = st_fail(&errs[i], put[j], "%s", errs[0].text); /* server down or refused: retried later */
				continue;
			}
			if (!old || st_egroup_rec_copy(&old[i], &g[i])) {
				rcs[i] = st_fail(&errs[i], -ENOMEM, "out of memory");
				continue;
			}
			g[i].nreplicas = 0;
			g[i].tier = ST_TIER_CLOUD;
			g[i].flags |= ST_EGROUP_CLOUD;
			fl.in[i] = 1;
		}
		if (!fl.in)
			for (int j = 0; j < nput; j++)
				rcs[idx[j]] = st_fail(&errs[idx[j]], -ENOMEM, "out of memory");
		else if (old)
			st_meta_per_shard(m, n, rcs, errs, flip_shard, flip_put, NULL, &fl);
		free(fl.in);
		st_fault_step();
		/* 3. the local copies last (an object whose row did not flip goes again) */
		for (int j = 0; j < nput && old; j++) {
			int i = idx[j];
			if (put[j])
				continue;
			if (rcs[i]) {
				st_cloud_delete(cl, keys[j], NULL);
				continue;
			}
			for (int r = 0; r < old[i].nreplicas; r++) {
				int64_t b;
				st_store_replica_delete(st, g[i].id, old[i].replicas[r].disk, 0, &b); /* usage: one update below */
				disks[nd] = old[i].replicas[r].disk;
				delta[nd++] = -(int64_t)g[i].used;
			}
			bytes[i] = (int64_t)g[i].used * old[i].nreplicas;
			moved[nmoved++] = g[i].id;
		}
		if (nmoved) /* their read counts belong to the tier they left */
			st_config_reads_clear(st_store_config(st), nmoved, moved, NULL);
		for (int i = 0; old && i < n; i++)
			st_egroup_rec_release(&old[i]);
		free(old);
	}
	if (nd)
		st_config_disk_used_add(st_store_config(st), nd, disks, delta, NULL);
	for (int i = 0; i < n; i++) {
		if (g)
			st_egroup_rec_release(&g[i]);
		if (img)
			free(img[i]);
	}
	free(g);
	free(img);
	free(bufs);
	free(keys);
	free(kbuf);
	free(lens);
	free(put);
	free(idx);
	free(disks);
	free(delta);
	free(moved);
	return rc;
}
