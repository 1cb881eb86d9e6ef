/*
 * sv_ctl: the controller's vdisks and their write-back logs (sv_ctl.h).
 *
 * DESIGN. One store handle and one mutex per controller: nbdkit's worker
 * threads and the commit thread take the mutex around each request, so the
 * store is used by one thread at a time (st_store.h) and a read never sees
 * a log half committed. A vdisk (struct sv_vd) is shared by every
 * connection to it, so a flush on any connection commits every
 * connection's writes (NBD multi-conn is safe to advertise).
 *
 * A commit opens a storage writer (it takes the vdisk's write lock), gives
 * it the log's ranges in offset order (bytes as st_writer_pwrite, trims and
 * zeroes as st_writer_zero: holes punched in the block map, the old extents
 * garbage for the curator), closes it (one batch: the log is bounded to
 * one writer buffer) and only then clears the log. Holding the lock only
 * while committing lets snapshots and clones run between commits; a
 * snapshot sees whole batches.
 */
#include "serve/sv_ctl.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "serve/sv_ctl_int.h"
#include "storage/st_store.h"

void sv_opts_default(struct sv_opts *o)
{
	o->node = 1;
	o->log_max = 32u << 20;
	o->log_ranges = 16384;
	o->commit_ms = 1000;
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
	if (c->o.log_max == 0 || c->o.log_max > (32u << 20))
		c->o.log_max = 32u << 20;
	if (c->o.log_ranges == 0)
		c->o.log_ranges = 16384;
	if (c->o.lease_ms < 300)
		c->o.lease_ms = 300;
	rc = st_store_open(dir, &c->st, err);
	if (rc) {
		free(c);
		return rc;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->lmu, NULL);
	pthread_cond_init(&c->cv, NULL);
	rc = sv_own_init(c, dir, err);
	if (rc) {
		st_store_free(c->st);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

/*
 * Commit vd's log as one batch (mutex held), as its owner: the lease is
 * checked first and, for the window after, every shard's block-row
 * transaction checks the fences. The log is cleared only on success.
 */
int sv_commit(struct sv_vd *vd, struct st_msg *err)
{
	struct st_store *st = vd->ctl->st;
	struct st_writer *w;
	int rc;

	if (sv_log_count(&vd->log) == 0)
		return 0;
	rc = sv_own_check(vd, err);
	if (rc)
		return rc;
	rc = st_writer_open(st, vd->v.name, 0, &w, err);
	if (rc)
		return rc;
	st_writer_set_fence(w, vd->ctl->holder);
	for (size_t i = 0; i < vd->log.n && !rc; i++) {
		const struct sv_log_ent *e = &vd->log.e[i];
		if (e->kind == SV_LOG_DATA)
			rc = st_writer_pwrite(w, e->off, e->data, e->len, err);
		else
			rc = st_writer_zero(w, e->off, e->len, err);
	}
	if (rc) {
		st_writer_close(w, NULL);
		return rc;
	}
	rc = st_writer_close(w, err);
	if (rc)
		return rc;
	sv_log_clear(&vd->log);
	vd->first_ms = 0;
	vd->bg_err = 0;
	return 0;
}

static void *commit_thread(void *arg)
{
	struct sv_ctl *c = arg;

	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		struct timespec ts;
		int64_t now = sv_mono_ms();

		for (struct sv_vd *vd = c->vds; vd; vd = vd->next)
			sv_own_relinquish(vd);
		for (struct sv_vd *vd = c->vds; vd; vd = vd->next)
			if (vd->first_ms && now - vd->first_ms >= (int64_t)c->o.commit_ms) {
				int rc = sv_commit(vd, NULL);
				if (rc) {
					vd->bg_err = rc; /* the next write or flush retries and reports it */
					vd->first_ms = now;
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
	while (c->vds) {
		struct sv_vd *vd = c->vds;
		c->vds = vd->next;
		sv_commit(vd, NULL);
		sv_own_close(vd);
		sv_log_release(&vd->log);
		free(vd);
	}
	sv_own_release(c);
	st_store_free(c->st);
	pthread_mutex_destroy(&c->lmu);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int sv_ctl_exports(struct sv_ctl *c, sv_export_cb cb, void *arg, struct st_msg *err)
{
	struct st_vdisk *v = NULL;
	int n = 0, rc;

	pthread_mutex_lock(&c->mu);
	rc = st_config_vdisks(st_store_config(c->st), 0, &v, &n, err);
	pthread_mutex_unlock(&c->mu);
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
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = st_config_vdisk_get(st_store_config(c->st), name, &v, err);
	if (!rc && v.state != ST_VDISK_LIVE)
		rc = st_fail(err, ST_ENOTFOUND, "vdisk '%s': was deleted", name);
	if (rc)
		goto out;
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
		 * Free it unless the log failed to commit (it stays for the next
		 * connection or the end) or this controller owns the vdisk: it
		 * keeps the lease (renewed, relinquished when asked) until it stops.
		 */
		if ((!rc || vd->fenced) && !sv_own_owned(vd)) {
			struct sv_vd **p = &c->vds;
			sv_own_close(vd);
			pthread_mutex_lock(&c->lmu);
			while (*p != vd)
				p = &(*p)->next;
			*p = vd->next;
			pthread_mutex_unlock(&c->lmu);
			sv_log_release(&vd->log);
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

int sv_vd_pread(struct sv_vd *vd, uint64_t off, uint32_t len, void *buf, struct st_msg *err)
{
	struct sv_ctl *c = vd->ctl;
	int rc;

	pthread_mutex_lock(&c->mu);
	/* wholly inside one DATA range of the log: no need to read what it hides */
	size_t i = sv_log_find(&vd->log, off);
	if (i < vd->log.n && vd->log.e[i].kind == SV_LOG_DATA && vd->log.e[i].off <= off &&
	    vd->log.e[i].off + vd->log.e[i].len >= off + len) {
		memcpy(buf, vd->log.e[i].data + (off - vd->log.e[i].off), len);
		rc = 0;
	} else {
		rc = st_vdisk_pread(c->st, &vd->v, off, len, buf, err);
		if (!rc)
			sv_log_read(&vd->log, off, len, buf);
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
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
	/* a log the commit thread could not commit, or a full one, is committed first: its error is this write's */
	if (vd->bg_err || sv_log_bytes(&vd->log) + (buf ? len : 0) > c->o.log_max ||
	    sv_log_count(&vd->log) + 2 > c->o.log_ranges)
		rc = sv_commit(vd, err);
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
	rc = st_meta_blocks_range(st_store_meta(c->st), vd->v.id, off / bs, (off + len - 1) / bs, mark_block, &x, err);
	/* the log over it: written ranges are stored, trimmed and zeroed ones are holes */
	for (size_t i = sv_log_find(&vd->log, off); !rc && i < vd->log.n && vd->log.e[i].off < x.end; i++) {
		const struct sv_log_ent *e = &vd->log.e[i];
		rc = sv_log_put(&x.marks, e->off, NULL, e->len, e->kind == SV_LOG_ZERO ? SV_LOG_ZERO : SV_LOG_MAPPED);
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
