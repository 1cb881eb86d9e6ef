/*
 * job_place: the placement task kinds (issue 7): ILM tier moves and disk
 * balancing.
 *
 * DESIGN: each moves data first, flips the egroup row by compare-and-set
 * on the scan's version second, and deletes the old copies last; a lost CAS
 * deletes the new copies instead and marks the task stale. So a repeat is
 * harmless (an egroup already on its destination has nothing to do) and a
 * crash leaves at worst extra copies or an orphan object, swept later.
 *
 * tier_down / tier_up (argument: destination tier u8, reason u8 'w'
 * watermark, 'c' cold age, 'h' hot): every replica is copied to RF disks of
 * distinct nodes on the destination tier and fdatasync'd; the row takes the
 * new replicas and tier; the old files go; the egroup's read count is reset.
 *
 * disk_balance (argument: source disk u32): the replica on that disk is
 * copied to the least-used disk of the same tier on a node holding no other
 * replica; the row swaps the one replica; the old file goes.
 *
 * Strip members, parity, moving and open (being appended) egroups are left
 * alone (stale): a move of an egroup a writer appends to loses the CAS.
 *
 * Moves to the cloud run in batches (the runner claims up to CLOUD_BATCH,
 * see cloud_batch below); a tier_down to the cloud run alone is a batch of
 * one.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "jobs/job_tasks_int.h"
#include "storage/st_cloud.h"

#define CLOUD_BATCH 128 /* moves to the cloud in a batch (images in memory: a few groups whatever n) */

/* g is on the cloud tier already (a move there has nothing to do). */
static int on_cloud(const struct st_egroup_rec *g)
{
	return g->tier == ST_TIER_CLOUD || (g->flags & ST_EGROUP_CLOUD);
}

/* The task's egroup at the scan's version, plain (not a strip member, not moving). */
static int load_movable(struct st_store *st, const struct job_task *t, struct st_egroup_rec *g, struct st_msg *err)
{
	int rc = job_task_load(st, t, g, err);

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

static int to_cloud_batch(struct st_store *st, const struct job_task *const *t, int n, int64_t *bytes, int *rcs,
			  struct st_msg *errs);

/* tier_down / tier_up: 0 done (*bytes: bytes copied), ST_ESTALE, or an error. */
static int apply_tier_move(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
			   int64_t *bytes, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec g;
	struct st_container c;
	uint32_t out[ST_REPLICAS_MAX], old[ST_REPLICAS_MAX];
	int nold, rc, from_cloud;
	enum st_tier dest;

	if (t->arglen < JOB_ARG_TIER || job_arg_tier(t) >= ST_NTIERS)
		return st_fail(err, ST_EINVAL, "task %" PRId64 ": bad tier argument", t->id);
	dest = (enum st_tier)job_arg_tier(t);
	if (dest == ST_TIER_CLOUD) { /* as a batch of one */
		struct st_msg e = { "" };
		to_cloud_batch(st, &t, 1, bytes, &rc, &e);
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
	if (t->kind == JT_TIER_UP)
		g.last_access = st_now(); /* it came up because it is read: not cold again before its cold age */
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

/* disk_balance: 0 done (*bytes: bytes copied), ST_ESTALE, or an error. */
static int apply_balance(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
			 int64_t *bytes, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec g;
	uint32_t from, to;
	int r = -1, rc;

	if (job_arg_disks(t) < 1)
		return st_fail(err, ST_EINVAL, "task %" PRId64 ": bad disk argument", t->id);
	from = job_arg_disk(t, 0);
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

/* st_cloud_put_many on helper threads (st_cloud_put_parallel() at once). */
#define PUT_GROUP 8 /* objects stored together while the next ones' images are read */
#define READ_AHEAD 6 /* images read ahead of the one being stored */
#define READERS 2    /* threads reading them */
#define FLIP_EVERY (2 * PUT_GROUP) /* objects stored before their rows flip (one transaction per shard) */
struct put_job {
	struct st_cloud *cl;
	int n;
	const char **keys;
	const void **bufs;
	size_t *lens;
	int *rcs;
	struct st_msg err;
	int rc;
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

/*
 * A cloud batch: READERS threads read its egroups' images in order, each
 * verified whole, straight from the disk, up to READ_AHEAD ahead of the
 * one the batch has reached; the batch stores them in groups of PUT_GROUP
 * objects on helper threads (each group's images go back to the pool once
 * it is stored, while the next group is stored and the one after it read:
 * images in memory, about three groups whatever the batch size); the rows
 * of stored objects flip every FLIP_EVERY objects, one transaction per
 * shard, and their local copies go.
 */
struct cloud_batch {
	struct st_store *st;
	struct st_cloud *cl;
	int n;
	struct st_egroup_rec *g, *old;
	uint8_t **img;
	const void **bufs;
	const char **keys;
	char (*kbuf)[64];
	size_t *lens;
	int *put, *idx;       /* per object (in put order): its store result, its item */
	uint8_t *in;          /* items stored, their rows to flip */
	uint8_t *drop;        /* objects whose rows did not flip: deleted at the end */
	int nin;
	uint32_t *disks;      /* usage to take off, one update at the end */
	int64_t *delta;
	uint64_t *moved;      /* read counts to clear, one update at the end */
	int nd, nmoved;
	int64_t *bytes;
	int *rcs;
	struct st_msg *errs;
	int rc;               /* a group's store failed as a whole: the batch stops */
	struct put_slot {     /* a group being stored (two at once for a directory) */
		struct put_job job;
		int from, to, running, threaded;
	} slot[2];
	int nslots, next;     /* slots in use; the next one to take (the oldest group's) */
	struct img_buf {      /* image buffers, reused: a fresh 4 MiB buffer is a thousand page faults */
		uint8_t *p;
		size_t cap;
		int busy;
	} pool[4 * PUT_GROUP];
	pthread_mutex_t mu;   /* the pool and the readers' state below */
	pthread_cond_t cv;
	/* readers: images read (O_DIRECT) and verified on READERS threads, in order, up to `limit` */
	char (*paths)[ST_REPLICAS_MAX][ST_EGROUP_PATH_MAX]; /* per item: its copies' files */
	uint8_t *npaths;
	uint8_t *ready;       /* per item: 0 not yet, 1 being read, 2 read (img[i] and rrc[i] set) */
	int *rrc;
	int rnext, limit, rstop;
	pthread_t rth[READERS];
	int nreaders;
};

/* len bytes, 4096-aligned (direct reads), whole huge pages when large (fewer page faults). */
static uint8_t *img_alloc(size_t len)
{
	void *p = NULL;
	size_t align = len >= (2u << 20) ? 2u << 20 : 4096;

	if (posix_memalign(&p, align, len))
		return NULL;
	if (align > 4096)
		madvise(p, len & ~(size_t)((2u << 20) - 1), MADV_HUGEPAGE);
	return p;
}

/* An image buffer of at least len bytes (from the pool when one is free), or NULL. Under b->mu. */
static uint8_t *img_get(struct cloud_batch *b, size_t len)
{
	struct img_buf *e = NULL;

	for (size_t k = 0; k < sizeof(b->pool) / sizeof(b->pool[0]); k++) {
		struct img_buf *x = &b->pool[k];
		if (x->busy)
			continue;
		if (x->p && x->cap >= len) {
			e = x;
			break;
		}
		if (!e || (!e->p && x->p))
			e = x; /* else: a free slot to grow or fill */
	}
	if (!e)
		return img_alloc(len); /* the pool is all in use */
	if (e->cap < len) {
		uint8_t *np = img_alloc(len);
		if (!np)
			return NULL;
		free(e->p);
		e->p = np;
		e->cap = len;
	}
	e->busy = 1;
	return e->p;
}

static void img_put(struct cloud_batch *b, uint8_t *p)
{
	pthread_mutex_lock(&b->mu);
	for (size_t k = 0; p && k < sizeof(b->pool) / sizeof(b->pool[0]); k++)
		if (b->pool[k].p == p) {
			b->pool[k].busy = 0;
			p = NULL;
		}
	pthread_mutex_unlock(&b->mu);
	free(p);
}

/*
 * Read item i's image: a copy of its egroup that verifies (its copies in
 * turn) into a pool buffer. Called under b->mu, which it drops meanwhile.
 * Images are read straight from the disk (O_DIRECT): the data is cold and
 * its copies are deleted once stored, so the page cache would only be
 * filled, copied out of and emptied again.
 */
static void read_item(struct cloud_batch *b, int i)
{
	uint8_t *img;
	int rc = ST_EIO;

	b->ready[i] = 1;
	img = img_get(b, ((size_t)b->g[i].used + 4095) & ~(size_t)4095);
	pthread_mutex_unlock(&b->mu);
	for (int k = 0; img && k < b->npaths[i] && rc; k++)
		rc = st_egroup_image_read(b->paths[i][k], &b->g[i], img, 1);
	pthread_mutex_lock(&b->mu);
	b->img[i] = img;
	b->rrc[i] = !img ? -ENOMEM : rc ? ST_EIO : 0;
	b->ready[i] = 2;
	pthread_cond_broadcast(&b->cv);
}

/* A reader thread: the next items in order, each once the window (limit) reaches it. */
static void *reader_main(void *arg)
{
	struct cloud_batch *b = arg;

	pthread_mutex_lock(&b->mu);
	for (;;) {
		while (!b->rstop && b->rnext < b->n && b->rnext >= b->limit)
			pthread_cond_wait(&b->cv, &b->mu);
		if (b->rstop || b->rnext >= b->n)
			break;
		int i = b->rnext++;
		if (!b->ready[i])
			read_item(b, i);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* Let the readers go up to item lim. */
static void readers_limit(struct cloud_batch *b, int lim)
{
	pthread_mutex_lock(&b->mu);
	if (lim > b->limit) {
		b->limit = lim;
		pthread_cond_broadcast(&b->cv);
	}
	pthread_mutex_unlock(&b->mu);
}

/* Wait until item i is read (read it here when no reader thread could be started). */
static void readers_wait(struct cloud_batch *b, int i)
{
	pthread_mutex_lock(&b->mu);
	if (!b->nreaders && !b->ready[i])
		read_item(b, i);
	while (b->ready[i] != 2)
		pthread_cond_wait(&b->cv, &b->mu);
	pthread_mutex_unlock(&b->mu);
}

static void readers_stop(struct cloud_batch *b)
{
	pthread_mutex_lock(&b->mu);
	b->rstop = 1;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	for (int k = 0; k < b->nreaders; k++)
		pthread_join(b->rth[k], NULL);
	b->nreaders = 0;
}

/* Objects [from, to) are stored (grc: the store call's own failure): their images go, their rows may flip. */
static void group_finish(struct cloud_batch *b, int from, int to, int grc, const struct st_msg *gerr)
{
	for (int j = from; j < to; j++) {
		int i = b->idx[j];
		img_put(b, b->img[i]);
		b->img[i] = NULL;
		if (grc) /* no object may be trusted: nothing flips, the local copies stay */
			b->rcs[i] = st_fail(&b->errs[i], grc, "%s", gerr->text[0] ? gerr->text : st_strerror(grc));
		else if (b->put[j]) /* server down or refused: retried later */
			b->rcs[i] = st_fail(&b->errs[i], b->put[j], "%s", gerr->text);
		else
			b->in[i] = 1, b->nin++;
	}
}

/*
 * The rows of the objects stored so far (in[i]), by CAS, one transaction
 * per shard; then their local copies (an object whose row did not flip is
 * deleted and goes again). Objects [0, nput) are the batch's so far.
 */
static void batch_flip(struct cloud_batch *b, int nput)
{
	struct flip fl = { st_store_meta(b->st), b->g, b->in };
	int any = 0;

	b->nin = 0;
	for (int i = 0; i < b->n; i++) {
		if (!b->in[i])
			continue;
		if (st_egroup_rec_copy(&b->old[i], &b->g[i])) {
			b->rcs[i] = st_fail(&b->errs[i], -ENOMEM, "out of memory");
			b->in[i] = 0;
			continue;
		}
		b->g[i].nreplicas = 0;
		b->g[i].tier = ST_TIER_CLOUD;
		b->g[i].flags |= ST_EGROUP_CLOUD;
		any = 1;
	}
	if (any)
		st_meta_per_shard(st_store_meta(b->st), b->n, b->rcs, b->errs, flip_shard, flip_put, NULL, &fl);
	st_fault_step();
	for (int j = 0; j < nput; j++) {
		int i = b->idx[j];
		if (b->put[j] || !b->in[i])
			continue;
		b->in[i] = 0;
		if (b->rcs[i]) {
			b->drop[j] = 1; /* deleted at the end (the handle may be storing meanwhile) */
			continue;
		}
		for (int r = 0; r < b->old[i].nreplicas; r++) {
			int64_t x;
			st_store_replica_delete(b->st, b->g[i].id, b->old[i].replicas[r].disk, 0, &x); /* usage: one update */
			b->disks[b->nd] = b->old[i].replicas[r].disk;
			b->delta[b->nd++] = -(int64_t)b->g[i].used;
		}
		b->bytes[i] = (int64_t)b->g[i].used * b->old[i].nreplicas;
		b->moved[b->nmoved++] = b->g[i].id;
	}
}

/* Wait for slot s's group, if any, and finish it. */
static void group_wait(struct cloud_batch *b, int s)
{
	struct put_slot *x = &b->slot[s];

	if (!x->running)
		return;
	if (x->threaded)
		pthread_join(x->job.th, NULL);
	x->running = 0;
	if (x->job.rc && !b->rc)
		b->rc = x->job.rc;
	group_finish(b, x->from, x->to, x->job.rc, &x->job.err);
}

/* Store objects [from, to) on a helper thread, once the oldest group in flight is stored. */
static void group_start(struct cloud_batch *b, int from, int to)
{
	struct put_slot *x = &b->slot[b->next];

	group_wait(b, b->next);
	if (b->rc) { /* not stored: the batch stopped */
		group_finish(b, from, to, b->rc, &x->job.err);
		return;
	}
	x->job = (struct put_job){ .cl = b->cl, .n = to - from, .keys = b->keys + from, .bufs = b->bufs + from,
				   .lens = b->lens + from, .rcs = b->put + from };
	x->from = from;
	x->to = to;
	x->running = 1;
	x->threaded = pthread_create(&x->job.th, NULL, put_worker, &x->job) == 0;
	if (!x->threaded)
		put_worker(&x->job);
	b->next = (b->next + 1) % b->nslots;
}

/*
 * tier_down to the cloud for n tasks at once, as a pipeline: each egroup's
 * verified image is read (by two reader threads, O_DIRECT: the cold data
 * does not pass through the page cache, which the copies' deletion would
 * only empty again) while the objects before it are stored in groups
 * (a directory: one filesystem sync a group, then each read back; two
 * groups at once), images are freed as their group is stored, the stored
 * ones' rows flip by CAS every few groups (one transaction per shard) and
 * their local copies go; one usage update at the end. Memory: a few
 * groups of images whatever n. Per task: rcs[i] (0, ST_ESTALE, an error
 * in errs[i]) and bytes[i]. Returns non-zero when nothing could run, or
 * the failure of a store call as a whole that stopped the batch (the
 * tasks not attempted say so).
 */
static int to_cloud_batch(struct st_store *st, const struct job_task *const *t, int n, int64_t *bytes, int *rcs,
			  struct st_msg *errs)
{
	struct cloud_batch b = { .st = st, .n = n, .bytes = bytes, .rcs = rcs, .errs = errs };
	int nput = 0, sent = 0, rc = 0, i;

	b.g = calloc((size_t)n + 1, sizeof(*b.g));
	b.old = calloc((size_t)n + 1, sizeof(*b.old));
	b.img = calloc((size_t)n + 1, sizeof(*b.img));
	b.bufs = calloc((size_t)n + 1, sizeof(*b.bufs));
	b.keys = calloc((size_t)n + 1, sizeof(*b.keys));
	b.kbuf = calloc((size_t)n + 1, sizeof(*b.kbuf));
	b.lens = calloc((size_t)n + 1, sizeof(*b.lens));
	b.put = calloc((size_t)n + 1, sizeof(*b.put));
	b.idx = calloc((size_t)n + 1, sizeof(*b.idx));
	b.in = calloc((size_t)n + 1, 1);
	b.drop = calloc((size_t)n + 1, 1);
	b.disks = calloc((size_t)n * ST_REPLICAS_MAX + 1, sizeof(*b.disks));
	b.delta = calloc((size_t)n * ST_REPLICAS_MAX + 1, sizeof(*b.delta));
	b.moved = calloc((size_t)n + 1, sizeof(*b.moved));
	b.paths = calloc((size_t)n + 1, sizeof(*b.paths));
	b.npaths = calloc((size_t)n + 1, 1);
	b.ready = calloc((size_t)n + 1, 1);
	b.rrc = calloc((size_t)n + 1, sizeof(*b.rrc));
	pthread_mutex_init(&b.mu, NULL);
	pthread_cond_init(&b.cv, NULL);
	if (!b.g || !b.old || !b.img || !b.bufs || !b.keys || !b.kbuf || !b.lens || !b.put || !b.idx || !b.in || !b.drop ||
	    !b.disks || !b.delta || !b.moved || !b.paths || !b.npaths || !b.ready || !b.rrc)
		rc = -ENOMEM;
	if (!rc)
		rc = st_store_cloud(st, &b.cl, &errs[0]);
	b.nslots = rc ? 1 : st_cloud_put_parallel(b.cl) > 1 ? 2 : 1;
	for (i = 0; i < n; i++) {
		bytes[i] = 0;
		rcs[i] = rc == -ENOMEM ? st_fail(&errs[i], rc, "out of memory") : rc ? st_fail(&errs[i], rc, "%s", errs[0].text) : 0;
	}
	if (!rc)
		st_store_refresh(st, NULL); /* the copies' disks as they are now (else as they were) */
	for (i = 0; i < n && !rc; i++) {
		st_egroup_rec_init(&b.g[i]);
		rcs[i] = load_movable(st, t[i], &b.g[i], &errs[i]);
		if (rcs[i] || on_cloud(&b.g[i]))
			b.ready[i] = 2; /* nothing to read (failed, or already there) */
		else
			b.npaths[i] = (uint8_t)st_store_egroup_paths(st, &b.g[i], b.paths[i], ST_REPLICAS_MAX);
	}
	b.limit = READ_AHEAD;
	for (int k = 0; k < READERS && !rc; k++)
		if (pthread_create(&b.rth[b.nreaders], NULL, reader_main, &b) == 0)
			b.nreaders++;
	for (i = 0; i < n && !rc && !b.rc; i++) {
		readers_limit(&b, i + 1 + READ_AHEAD);
		if (rcs[i] || on_cloud(&b.g[i]))
			continue; /* failed, or already there */
		readers_wait(&b, i);
		if (b.rrc[i]) {
			rcs[i] = b.rrc[i] == -ENOMEM ? st_fail(&errs[i], -ENOMEM, "out of memory")
						     : st_fail(&errs[i], ST_EIO, "egroup %llx: no copy verifies whole",
							       (unsigned long long)b.g[i].id);
			img_put(&b, b.img[i]);
			b.img[i] = NULL;
			continue;
		}
		st_cloud_egroup_key(b.g[i].id, b.kbuf[nput], sizeof(b.kbuf[nput]));
		b.keys[nput] = b.kbuf[nput];
		b.bufs[nput] = b.img[i];
		b.lens[nput] = b.g[i].used;
		b.idx[nput++] = i;
		if (nput - sent >= PUT_GROUP) { /* this group is stored while the next one is read */
			group_start(&b, sent, nput);
			sent = nput;
			if (b.nin >= FLIP_EVERY) /* the local copies go while the rest is stored */
				batch_flip(&b, sent);
		}
	}
	readers_stop(&b); /* (images read ahead of a stopped batch go below) */
	if (!rc) {
		int rest = i; /* a group's store failed as a whole: what was not read is not attempted */
		if (nput > sent)
			group_start(&b, sent, nput);
		for (int k = 0; k < b.nslots; k++) /* the oldest first */
			group_wait(&b, (b.next + k) % b.nslots);
		for (; b.rc && rest < n; rest++)
			if (!rcs[rest])
				rcs[rest] = st_fail(&errs[rest], b.rc, "not attempted: %s", st_strerror(b.rc));
		batch_flip(&b, nput);
		for (int j = 0; j < nput; j++)
			if (b.drop[j])
				st_cloud_delete(b.cl, b.keys[j], NULL);
		if (b.nmoved) /* their read counts belong to the tier they left */
			st_config_reads_clear(st_store_config(st), b.nmoved, b.moved, NULL);
		if (b.nd)
			st_config_disk_used_add(st_store_config(st), b.nd, b.disks, b.delta, NULL);
	}
	for (i = 0; i < n; i++) {
		if (b.g)
			st_egroup_rec_release(&b.g[i]);
		if (b.old)
			st_egroup_rec_release(&b.old[i]);
		if (b.img)
			img_put(&b, b.img[i]);
	}
	for (size_t k = 0; k < sizeof(b.pool) / sizeof(b.pool[0]); k++)
		free(b.pool[k].p);
	free(b.g);
	free(b.old);
	free(b.img);
	free(b.bufs);
	free(b.keys);
	free(b.kbuf);
	free(b.lens);
	free(b.put);
	free(b.idx);
	free(b.in);
	free(b.drop);
	free(b.disks);
	free(b.delta);
	free(b.moved);
	free(b.paths);
	free(b.npaths);
	free(b.ready);
	free(b.rrc);
	pthread_mutex_destroy(&b.mu);
	pthread_cond_destroy(&b.cv);
	return rc ? rc : b.rc;
}

/* A tier_down to the cloud: in a batch (a tier_down to a local tier runs alone). */
static int to_cloud(const struct job_task *t)
{
	return job_arg_tier(t) == ST_TIER_CLOUD;
}

static const struct job_task_batch cloud_batching = {
	.member = to_cloud,
	.max = CLOUD_BATCH,
	.min = 8,         /* at least a store group */
	.share = 1,       /* on several ranks, each takes its share of the pending moves */
	.ahead_after = 6, /* the next batch's first ones, while this one's outcomes are recorded */
	.apply = to_cloud_batch,
};

const struct job_task_ops job_kind_tier_down = {
	.name = "tier_down",
	.priority = 28,
	.apply = apply_tier_move,
	.batch = &cloud_batching,
	.reads_egroups = JOB_READS_EGROUP,
};
const struct job_task_ops job_kind_tier_up = {
	.name = "tier_up", .priority = 27, .apply = apply_tier_move, .reads_egroups = JOB_READS_EGROUP
};
const struct job_task_ops job_kind_disk_balance = {
	.name = "disk_balance", .priority = 14, .apply = apply_balance, .reads_egroups = JOB_READS_EGROUP
};
