/*
 * sv_ctl: the controller's vdisks and their write-back logs (sv_ctl.h).
 *
 * DESIGN. Threads: nbdkit's workers, the commit thread and the lease
 * thread (sv_own.c). ctl->mu guards the vdisks and their logs and is held
 * only around memory work; I/O runs outside it (sv_ctl_int.h has the lock
 * order). A vdisk (struct sv_vd) is shared by every connection to it, so
 * a flush on any connection commits every connection's writes (NBD
 * multi-conn is safe to advertise).
 *
 * Commits are double-buffered: a commit freezes the active log and writes
 * go on into a fresh one while the frozen log is committed, with the
 * commit handle (ctl->st, under ctl->cmu) and mu dropped. A commit opens a
 * storage writer (it takes the vdisk's write lock), gives it the frozen
 * log's ranges in offset order (bytes as st_writer_pwrite, trims and
 * zeroes as st_writer_zero: holes punched in the block map, the old
 * extents garbage for the curator), closes it (one batch: the log is
 * bounded to one writer buffer) and only then drops the frozen log and
 * bumps the vdisk's generation. Holding the lock only while committing
 * lets snapshots and clones run between commits.
 *
 * Reads use a read handle from a pool (one per thread reading at a time:
 * a store handle is one thread's, st_store.h) without mu: they read the
 * committed bytes, then under mu lay the frozen log and the active log
 * over them, unless a commit ended meanwhile (the generation moved: the
 * committed bytes may hold writes no log holds any longer), when they read
 * again. A read therefore never misses an acknowledged write of this
 * controller. A pooled handle's cached metadata is dropped when any commit
 * of this controller ended since it last read; changes by other processes
 * are the read path's to notice (st_store.h).
 */
#include "serve/sv_ctl.h"

#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "serve/sv_ctl_int.h"
#include "storage/st_csum.h"
#include "storage/st_mcache.h"
#include "storage/st_store.h"

void sv_opts_default(struct sv_opts *o)
{
	o->node = 1;
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	o->log_max = SV_LOG_MAX_DEFAULT;
	o->log_mem = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz / 4 : (4ull << 30);
	o->log_ranges = 16384;
	o->commit_ms = SV_COMMIT_MS_DEFAULT;
	o->lease_ms = 5000;
}

int64_t sv_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sv_errno(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case ST_ENOSPACE:
		return ENOSPC;
	case ST_ERANGE:
		return ENOSPC; /* NBD: a write past the end */
	case ST_EREADONLY:
		return EROFS;
	case ST_EINVAL:
		return EINVAL;
	case ST_ENOTFOUND:
		return ENOENT;
	case -ENOMEM:
		return ENOMEM;
	case ST_EFENCED:
	case ST_EBUSY:
		return EIO;
	default:
		return rc < 0 && rc > -4096 ? -rc : EIO;
	}
}

int sv_ctl_new(const char *dir, const struct sv_opts *o, struct sv_ctl **out, struct st_msg *err)
{
	struct sv_ctl *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return st_fail(err, -ENOMEM, "out of memory");
	c->o = *o;
	if (c->o.log_max == 0 || c->o.log_max > SV_LOG_MAX_LIMIT)
		c->o.log_max = SV_LOG_MAX_DEFAULT;
	if (c->o.log_mem == 0)
		c->o.log_mem = 4ull << 30;
	if (c->o.log_ranges == 0)
		c->o.log_ranges = 16384;
	if (c->o.lease_ms < 300)
		c->o.lease_ms = 300;
	c->dir = strdup(dir);
	if (!c->dir || st_csum_new(0, &c->csum)) {
		free(c->dir);
		free(c);
		return st_fail(err, -ENOMEM, "out of memory");
	}
	rc = st_store_open(dir, &c->st, err);
	if (!rc) {
		struct st_store *probe;
		rc = st_store_open(dir, &probe, err);
		if (!rc && st_mcache_new(probe, 0, &c->mc))
			rc = st_fail(err, -ENOMEM, "out of memory");
		if (rc)
			st_store_free(c->st);
	}
	if (rc) {
		st_csum_free(c->csum);
		free(c->dir);
		free(c);
		return rc;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->cmu, NULL);
	pthread_mutex_init(&c->rmu, NULL);
	pthread_mutex_init(&c->lmu, NULL);
	pthread_cond_init(&c->cv, NULL);
	pthread_cond_init(&c->dcv, NULL);
	rc = sv_own_init(c, dir, err);
	if (rc) {
		st_store_free(c->st);
		st_mcache_free(c->mc);
		st_csum_free(c->csum);
		free(c->dir);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* --- read handles ------------------------------------------------------- */

/*
 * Replica files each read handle keeps open: random reads of a vdisk touch
 * hundreds of egroups, and 32 of them open and close a file for most
 * reads (a tenth of the controller's CPU). A 64th of RLIMIT_NOFILE each
 * (the plugin raises it to 65536: 1,024 per handle) for the first
 * SV_FD_HANDLES handles, 32 for any more: at most a quarter of the limit
 * plus 32 a handle, the rest left to commits (a 1 GiB log opens 256 x RF
 * files) and connections.
 */
#define SV_FD_HANDLES 16
static size_t fd_slots(size_t handles)
{
	struct rlimit rl;
	size_t n;

	if (handles >= SV_FD_HANDLES)
		return 32; /* past the first SV_FD_HANDLES, the default: the fds stay bounded */
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return 1024;
	n = (size_t)(rl.rlim_cur / 64);
	return n < 32 ? 32 : n > 1024 ? 1024 : n;
}

int sv_pool_get(struct sv_ctl *c, struct st_store **out, struct st_msg *err)
{
	struct st_store *st = NULL;
	uint64_t seen = 0, now;
	size_t handles;
	int rc;

	pthread_mutex_lock(&c->rmu);
	if (c->nrpool) {
		c->nrpool--;
		st = c->rpool[c->nrpool];
		seen = c->rgen[c->nrpool];
	}
	now = c->cgen;
	pthread_mutex_unlock(&c->rmu);
	if (!st) {
		rc = st_store_open(c->dir, &st, err);
		if (rc)
			return rc;
		st_store_set_csum(st, c->csum);
		st_store_set_mcache(st, c->mc);
		pthread_mutex_lock(&c->rmu);
		handles = c->nhandles++;
		pthread_mutex_unlock(&c->rmu);
		st_store_set_fd_slots(st, fd_slots(handles)); /* (on -ENOMEM the default 32 stay) */
		seen = now;
	}
	if (seen != now)
		st_store_forget(st); /* this controller committed since: cached block rows may be old */
	*out = st;
	return 0;
}

void sv_pool_put(struct sv_ctl *c, struct st_store *st)
{
	pthread_mutex_lock(&c->rmu);
	if (c->nrpool == c->caprpool) {
		size_t cap = c->caprpool ? 2 * c->caprpool : 16;
		struct st_store **p = realloc(c->rpool, cap * sizeof(*p));
		uint64_t *g = p ? realloc(c->rgen, cap * sizeof(*g)) : NULL;
		if (p)
			c->rpool = p;
		if (g) {
			c->rgen = g;
			c->caprpool = cap;
		}
	}
	if (c->nrpool < c->caprpool) {
		c->rpool[c->nrpool] = st;
		c->rgen[c->nrpool++] = c->cgen;
		st = NULL;
	}
	if (st)
		c->nhandles--;
	pthread_mutex_unlock(&c->rmu);
	st_store_free(st); /* no room to keep it (out of memory) */
}

/*
 * The commit thread, each tick: one idle read handle lets go of deleted
 * egroup files (round robin: a handle's sweep is up to 1,024 fstat's, and
 * readers wait for rmu meanwhile; 16 handles are all swept within a second).
 */
static void sweep_pool(struct sv_ctl *c, size_t *next)
{
	pthread_mutex_lock(&c->rmu);
	if (c->nrpool)
		st_store_sweep_fds(c->rpool[(*next)++ % c->nrpool]);
	pthread_mutex_unlock(&c->rmu);
}

/* --- commits ------------------------------------------------------------ */

/*
 * Commit log l of vd as one batch (cmu held, not mu) as its owner: the
 * lease is checked first and, for the window after, every shard's
 * block-row transaction checks the fences.
 */
static int commit_log(struct sv_vd *vd, const struct sv_log *l, int *fenced, struct st_msg *err)
{
	struct st_store *st = vd->ctl->st;
	struct st_writer *w;
	int rc;

	rc = sv_own_check(vd, fenced, err);
	if (rc)
		return rc;
	rc = st_writer_open(st, vd->v.name, 0, &w, err);
	if (rc)
		return rc;
	st_writer_set_fence(w, vd->ctl->holder);
	st_writer_borrow(w); /* the frozen log is the batch: one batch, no copy; nobody writes it meanwhile */
	for (size_t i = 0; i < l->n && !rc; i++) {
		const struct sv_log_ent *e = &l->e[i];
		if (e->kind == SV_LOG_DATA)
			rc = st_writer_pwrite(w, e->off, e->data, e->len, err);
		else
			rc = st_writer_zero(w, e->off, e->len, err);
	}
	if (rc) {
		st_writer_close(w, NULL);
		return rc;
	}
	return st_writer_close(w, err);
}

/* Freeze the active log (mu held, fstate 0): writes go on into a fresh one. */
static void freeze(struct sv_vd *vd)
{
	struct sv_log t = vd->frozen;

	vd->frozen = vd->log;
	vd->log = t; /* the empty frozen log's array, reused */
	vd->fstate = 1;
	vd->first_ms = 0;
	vd->retry_ms = 0;
}

/*
 * Commit the frozen log (mu held, fstate 1; mu dropped meanwhile). On
 * success the frozen log is dropped; on failure it stays frozen (bg_err),
 * unless the lease was lost: then both logs are dropped.
 */
static int run_frozen(struct sv_vd *vd, struct st_msg *err)
{
	struct sv_ctl *c = vd->ctl;
	int rc, fenced = 0;

	vd->fstate = 2;
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_lock(&c->cmu);
	rc = commit_log(vd, &vd->frozen, &fenced, err);
	st_mcache_invalidate(c->mc); /* before any reader can miss the log: the shared rows are old now */
	pthread_mutex_unlock(&c->cmu);
	pthread_mutex_lock(&c->rmu);
	c->cgen++; /* a failed batch may have committed some rows too */
	pthread_mutex_unlock(&c->rmu);
	pthread_mutex_lock(&c->mu);
	vd->gen++;
	if (!rc || fenced) {
		sv_log_clear(&vd->frozen);
		vd->fstate = 0;
		vd->bg_err = 0;
		if (fenced) { /* a fenced owner commits nothing */
			sv_log_clear(&vd->log);
			vd->first_ms = 0;
		}
	} else {
		vd->fstate = 1;
		vd->bg_err = rc;
		vd->retry_ms = sv_mono_ms() + c->o.commit_ms;
	}
	pthread_cond_broadcast(&c->dcv);
	return rc;
}

int sv_commit(struct sv_vd *vd, struct st_msg *err)
{
	struct sv_ctl *c = vd->ctl;
	int rc;

	for (;;) {
		while (vd->fstate == 2)
			pthread_cond_wait(&c->dcv, &c->mu);
		if (vd->fstate == 1) { /* older writes first */
			rc = run_frozen(vd, err);
			if (rc)
				return rc;
			continue;
		}
		if (sv_log_count(&vd->log) == 0)
			return 0;
		freeze(vd);
		return run_frozen(vd, err);
	}
}

/* What the commit thread has to do for vd now: 1 relinquish, 2 commit, 0 nothing. */
static int thread_work(struct sv_vd *vd, int64_t now)
{
	int asked;

	pthread_mutex_lock(&vd->ctl->lmu);
	asked = vd->owned && vd->asked;
	pthread_mutex_unlock(&vd->ctl->lmu);
	if (asked)
		return 1;
	if (vd->fstate == 1 && now >= vd->retry_ms)
		return 2;
	if (vd->fstate == 0 && vd->first_ms && now - vd->first_ms >= (int64_t)vd->ctl->o.commit_ms)
		return 2;
	return 0;
}

static void *commit_thread(void *arg)
{
	struct sv_ctl *c = arg;
	unsigned pass = 0;
	size_t sweep_next = 0;

	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		struct timespec ts;
		int64_t now = sv_mono_ms();
		struct sv_vd *vd;

		pass++;
		pthread_mutex_unlock(&c->mu); /* without mu: writers do not wait for the fstat's */
		sweep_pool(c, &sweep_next);
		pthread_mutex_lock(&c->mu);
		if (c->stop)
			break;
	again: /* every call below drops mu: the list may have changed, start over (each vdisk once a pass) */
		for (vd = c->vds; vd; vd = vd->next) {
			int what = vd->pass == pass ? 0 : thread_work(vd, now);
			vd->pass = pass;
			if (what == 1) {
				sv_own_relinquish(vd);
				goto again;
			}
			if (what == 2) {
				if (vd->fstate == 0)
					freeze(vd);
				run_frozen(vd, NULL); /* a failure stays in bg_err: the next write or flush reports it */
				goto again;
			}
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int sv_ctl_start(struct sv_ctl *c)
{
	int rc = pthread_create(&c->th, NULL, commit_thread, c);
	if (rc)
		return -rc;
	c->started = 1;
	return sv_own_start(c);
}

void sv_ctl_free(struct sv_ctl *c)
{
	if (!c)
		return;
	if (c->started) {
		pthread_mutex_lock(&c->mu);
		c->stop = 1;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->th, NULL);
	}
	sv_own_stop(c);
	pthread_mutex_lock(&c->mu);
	while (c->vds) {
		struct sv_vd *vd = c->vds;
		sv_commit(vd, NULL);
		c->vds = vd->next;
		sv_own_close(vd);
		sv_log_release(&vd->log);
		sv_log_release(&vd->frozen);
		free(vd);
	}
	pthread_mutex_unlock(&c->mu);
	sv_own_release(c);
	st_store_free(c->st);
	for (size_t i = 0; i < c->nrpool; i++)
		st_store_free(c->rpool[i]);
	free(c->rpool);
	free(c->rgen);
	st_mcache_free(c->mc);
	st_csum_free(c->csum);
	free(c->dir);
	pthread_mutex_destroy(&c->lmu);
	pthread_cond_destroy(&c->cv);
	pthread_cond_destroy(&c->dcv);
	pthread_mutex_destroy(&c->rmu);
	pthread_mutex_destroy(&c->cmu);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int sv_ctl_exports(struct sv_ctl *c, sv_export_cb cb, void *arg, struct st_msg *err)
{
	struct st_vdisk *v = NULL;
	struct st_store *st;
	int n = 0, rc = sv_pool_get(c, &st, err);

	if (rc)
		return rc;
	rc = st_config_vdisks(st_store_config(st), 0, &v, &n, err);
	sv_pool_put(c, st);
	for (int i = 0; i < n && !rc; i++)
		if (v[i].state == ST_VDISK_LIVE)
			rc = cb(arg, v[i].name, v[i].readonly);
	free(v);
	return rc;
}

int sv_vd_open(struct sv_ctl *c, const char *name, struct sv_vd **out, struct st_msg *err)
{
	struct sv_vd *vd;
	struct st_vdisk v;
	struct st_store *st;
	int rc = sv_pool_get(c, &st, err);

	if (rc)
		return rc;
	rc = st_config_vdisk_get(st_store_config(st), name, &v, err);
	sv_pool_put(c, st);
	if (!rc && v.state != ST_VDISK_LIVE)
		rc = st_fail(err, ST_ENOTFOUND, "vdisk '%s': was deleted", name);
	if (rc)
		return rc;
	pthread_mutex_lock(&c->mu);
	for (vd = c->vds; vd && vd->v.id != v.id; vd = vd->next)
		;
	if (!vd) {
		vd = calloc(1, sizeof(*vd));
		if (!vd) {
			rc = st_fail(err, -ENOMEM, "out of memory");
			goto out;
		}
		vd->ctl = c;
		vd->v = v;
		sv_log_init(&vd->log);
		sv_log_init(&vd->frozen);
		pthread_mutex_lock(&c->lmu);
		vd->next = c->vds;
		c->vds = vd;
		pthread_mutex_unlock(&c->lmu);
	}
	if (vd->refs == 0) /* a client again: it may ask for a vdisk that moved away, or whose lease was lost */
		vd->moved = vd->fenced = 0;
	vd->refs++;
	*out = vd;
out:
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int sv_vd_close(struct sv_vd *vd, struct st_msg *err)
{
	struct sv_ctl *c = vd->ctl;
	int rc = 0;

	pthread_mutex_lock(&c->mu);
	if (--vd->refs == 0) {
		rc = sv_commit(vd, err);
		/*
		 * Free it unless a connection came meanwhile (the commit drops
		 * mu), the log failed to commit (it stays for the next connection
		 * or the end) or this controller owns the vdisk: it keeps the
		 * lease (renewed, relinquished when asked) until it stops.
		 */
		if (vd->refs == 0 && vd->fstate == 0 && sv_log_count(&vd->log) == 0 && !sv_own_owned(vd)) {
			struct sv_vd **p = &c->vds;
			sv_own_close(vd);
			pthread_mutex_lock(&c->lmu);
			while (*p != vd)
				p = &(*p)->next;
			*p = vd->next;
			pthread_mutex_unlock(&c->lmu);
			sv_log_release(&vd->log);
			sv_log_release(&vd->frozen);
			free(vd);
		}
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

uint64_t sv_vd_size(const struct sv_vd *vd)
{
	return vd->v.size;
}

int sv_vd_readonly(const struct sv_vd *vd)
{
	return vd->v.readonly;
}

/* Whether [off, off+len) lies wholly in one DATA range of l: then copy it to buf. */
static int log_holds(const struct sv_log *l, uint64_t off, uint32_t len, void *buf)
{
	size_t i = sv_log_holding(l, off, len);

	if (i < l->n) {
		memcpy(buf, l->e[i].data + (off - l->e[i].off), len);
		return 1;
	}
	return 0;
}

/* Whether any range of l overlaps [off, off+len). */
static int log_touches(const struct sv_log *l, uint64_t off, uint64_t len)
{
	size_t i = sv_log_find(l, off);

	return i < l->n && l->e[i].off < off + len;
}

int sv_vd_pread(struct sv_vd *vd, uint64_t off, uint32_t len, void *buf, struct st_msg *err)
{
	struct sv_ctl *c = vd->ctl;
	struct st_store *st;
	int rc;

	pthread_mutex_lock(&c->mu);
	/* wholly inside one DATA range of a log: no need to read what it hides */
	if (log_holds(&vd->log, off, len, buf) ||
	    (vd->fstate && !log_touches(&vd->log, off, len) && log_holds(&vd->frozen, off, len, buf))) {
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	for (;;) {
		uint64_t gen = vd->gen;
		pthread_mutex_unlock(&c->mu);
		rc = sv_pool_get(c, &st, err);
		if (!rc) {
			rc = st_vdisk_pread(st, &vd->v, off, len, buf, err);
			sv_pool_put(c, st);
		}
		pthread_mutex_lock(&c->mu);
		if (vd->gen == gen)
			break;
		/* a commit ended meanwhile: what we read may lack writes that are in no log now */
	}
	if (!rc) {
		if (vd->fstate)
			sv_log_read(&vd->frozen, off, len, buf);
		sv_log_read(&vd->log, off, len, buf);
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* Bytes every vdisk's logs hold, their spare buffers too (mu held). */
static uint64_t logs_bytes(const struct sv_ctl *c)
{
	uint64_t n = 0;

	for (const struct sv_vd *v = c->vds; v; v = v->next)
		n += sv_log_bytes(&v->log) + (v->fstate ? sv_log_bytes(&v->frozen) : 0) + v->log.spare_bytes +
		     v->frozen.spare_bytes;
	return n;
}

/* Free every spare buffer (mu held): memory wanted for bytes. */
static void drop_spares(struct sv_ctl *c)
{
	for (struct sv_vd *v = c->vds; v; v = v->next) {
		sv_log_drop_spare(&v->log);
		sv_log_drop_spare(&v->frozen); /* (a commit reads the frozen ranges, never the spare) */
	}
}

/*
 * Whether vd's active log must be frozen before it takes [off, +len) (buf
 * NULL: a range of zeros): past the vdisk's bound in bytes or ranges, or
 * past the controller's bound on all logs together. An overwrite inside
 * one DATA range of the log takes no more room (sv_log_put copies it in
 * place), so a sequential pass over a range the log holds never commits
 * for size.
 */
static int log_full(struct sv_vd *vd, uint64_t off, const void *buf, uint32_t len)
{
	const struct sv_log *l = &vd->log;
	const struct sv_opts *o = &vd->ctl->o;
	uint64_t grow = buf ? len : 0;

	if (buf && sv_log_holding(l, off, len) < l->n)
		return 0;
	if (sv_log_bytes(l) + grow > o->log_max || sv_log_count(l) + 2 > o->log_ranges)
		return 1;
	if (logs_bytes(vd->ctl) + grow <= o->log_mem)
		return 0;
	drop_spares(vd->ctl);
	return sv_log_count(l) > 0 && logs_bytes(vd->ctl) + grow > o->log_mem;
}

int sv_vd_write(struct sv_vd *vd, uint64_t off, const void *buf, uint32_t len, int fua, struct st_msg *err)
{
	struct sv_ctl *c = vd->ctl;
	int rc = 0;

	if (vd->v.readonly)
		return st_fail(err, ST_EREADONLY, "vdisk '%s': is a snapshot (read-only)", vd->v.name);
	if (off > vd->v.size || len > vd->v.size - off)
		return st_fail(err, ST_ERANGE, "write of %u bytes at %llu: past the end of vdisk '%s' (%llu bytes)",
			       len, (unsigned long long)off, vd->v.name, (unsigned long long)vd->v.size);
	for (;;) { /* admission control: this controller owns the vdisk, still once the log is ours */
		int owned;
		rc = sv_own_admit(vd, err);
		if (rc)
			return rc;
		pthread_mutex_lock(&c->mu);
		pthread_mutex_lock(&c->lmu);
		owned = vd->owned;
		pthread_mutex_unlock(&c->lmu);
		if (owned)
			break;
		pthread_mutex_unlock(&c->mu);
	}
	/* a log that could not be committed is committed first: its error is this write's */
	if (vd->bg_err)
		rc = sv_commit(vd, err);
	/*
	 * A full log is frozen for the commit thread and this write goes into
	 * a fresh one; while the last frozen log is still being committed, the
	 * write waits for it (or commits it here when nobody is).
	 */
	while (!rc && log_full(vd, off, buf, len)) {
		if (vd->fstate == 0) {
			freeze(vd);
			pthread_cond_signal(&c->cv);
		} else if (vd->fstate == 2) {
			pthread_cond_wait(&c->dcv, &c->mu);
		} else {
			rc = run_frozen(vd, err);
		}
	}
	if (!rc)
		rc = sv_log_put(&vd->log, off, buf, len, buf ? SV_LOG_DATA : SV_LOG_ZERO);
	if (rc == -ENOMEM)
		st_fail(err, rc, "out of memory");
	if (!rc && !vd->first_ms)
		vd->first_ms = sv_mono_ms();
	if (!rc && fua)
		rc = sv_commit(vd, err);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int sv_vd_flush(struct sv_vd *vd, struct st_msg *err)
{
	int rc;

	pthread_mutex_lock(&vd->ctl->mu);
	rc = sv_commit(vd, err);
	pthread_mutex_unlock(&vd->ctl->mu);
	return rc;
}

/* --- block status ------------------------------------------------------- */

struct ext_sweep {
	struct sv_log marks;
	uint64_t off, end, bs;
	int rc;
};

static int mark_block(void *arg, int rc_row, const struct st_block *b)
{
	struct ext_sweep *x = arg;
	uint64_t base = b->block * x->bs;

	if (rc_row) /* a corrupt row: call the whole block stored (reads of it fail anyway) */
		return sv_log_put(&x->marks, base, NULL, x->bs, SV_LOG_MAPPED) ? -ENOMEM : 0;
	for (int i = 0; i < b->n; i++)
		if (sv_log_put(&x->marks, base + b->r[i].block_off, NULL, b->r[i].len, SV_LOG_MAPPED))
			return -ENOMEM;
	return 0;
}

int sv_vd_extents(struct sv_vd *vd, uint64_t off, uint64_t len, sv_extent_cb cb, void *arg, struct st_msg *err)
{
	struct sv_ctl *c = vd->ctl;
	struct ext_sweep x;
	uint64_t bs = vd->v.block_size, pos;
	int rc;

	if (len == 0)
		return 0;
	if (len > 4096 * bs) /* one sweep at most 4096 blocks: the client asks again */
		len = 4096 * bs;
	if (off + len > vd->v.size)
		len = vd->v.size - off;
	memset(&x, 0, sizeof(x));
	sv_log_init(&x.marks);
	x.off = off;
	x.end = off + len;
	x.bs = bs;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		uint64_t gen = vd->gen;
		struct st_store *st;
		pthread_mutex_unlock(&c->mu);
		sv_log_clear(&x.marks);
		rc = sv_pool_get(c, &st, err);
		if (!rc) {
			rc = st_meta_blocks_range(st_store_meta(st), vd->v.id, off / bs, (off + len - 1) / bs, mark_block,
						  &x, err);
			sv_pool_put(c, st);
		}
		pthread_mutex_lock(&c->mu);
		if (rc || vd->gen == gen)
			break; /* else a commit ended meanwhile: sweep again */
	}
	/* the logs over it, the frozen one first: written ranges are stored, trimmed and zeroed ones are holes */
	for (int k = vd->fstate ? 0 : 1; k < 2 && !rc; k++) {
		const struct sv_log *l = k == 0 ? &vd->frozen : &vd->log;
		for (size_t i = sv_log_find(l, off); !rc && i < l->n && l->e[i].off < x.end; i++) {
			const struct sv_log_ent *e = &l->e[i];
			rc = sv_log_put(&x.marks, e->off, NULL, e->len, e->kind == SV_LOG_ZERO ? SV_LOG_ZERO : SV_LOG_MAPPED);
		}
	}
	pthread_mutex_unlock(&c->mu);
	if (rc) {
		sv_log_release(&x.marks);
		return rc == -ENOMEM ? st_fail(err, rc, "out of memory") : rc;
	}
	pos = off;
	for (size_t i = sv_log_find(&x.marks, off); !rc && pos < x.end; i++) {
		const struct sv_log_ent *e = i < x.marks.n ? &x.marks.e[i] : NULL;
		uint64_t a = e && e->off < x.end ? (e->off > pos ? e->off : pos) : x.end;
		uint64_t b = e && e->off < x.end ? (e->off + e->len < x.end ? e->off + e->len : x.end) : x.end;

		if (a > pos)
			rc = cb(arg, pos, a - pos, 1);
		if (!rc && b > a)
			rc = cb(arg, a, b - a, e->kind == SV_LOG_ZERO);
		pos = b > a ? b : a;
	}
	sv_log_release(&x.marks);
	return rc;
}
