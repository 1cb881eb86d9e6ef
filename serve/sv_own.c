/*
 * sv_own: a controller's vdisk ownership (sv_ctl.h, st_owner.h).
 *
 * DESIGN. The lease thread has a config.db handle of its own and takes only
 * ctl->lmu, so a commit (ctl->cmu) never delays a renewal. Every
 * lease_ms/6 it renews each vdisk this controller owns; a renewal that
 * finds the row taken, or a lease whose last good renewal is lease_ms/2 old
 * on this host's monotonic clock (this process was paused: SIGSTOP, a
 * stalled disk), fences the vdisk here: its log is dropped and every write
 * and commit refused. A renewal that finds a relinquish request marks it;
 * the commit thread then commits the log and releases (the migration).
 *
 * A write to a vdisk this controller does not own (sv_own_admit) acquires
 * it when free; else it lists us as a backup, asks the owner to relinquish,
 * and polls (50 ms, without ctl->mu): the owner's release lets the acquire
 * through; an owner row whose beat stands still for the owner's TTL on our
 * clock is declared dead: the holder is fenced in every metadata shard
 * first (its in-flight commit fails in its own transaction), then the row
 * is taken by compare-and-set on what we saw (the first volunteer wins;
 * one that loses sees the new owner and goes on waiting as a backup).
 */
#include "serve/sv_ctl_int.h"
#include "storage/st_mcache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int sv_own_init(struct sv_ctl *c, const char *dir, struct st_msg *err)
{
	struct timespec ts;
	uint64_t r;

	clock_gettime(CLOCK_REALTIME, &ts);
	r = (uint64_t)ts.tv_nsec * 2654435761u ^ (uint64_t)ts.tv_sec << 20 ^ (uint64_t)getpid();
	snprintf(c->holder, sizeof(c->holder), "n%u-%d-%08llx", c->o.node, (int)getpid(),
		 (unsigned long long)(r & 0xffffffffu));
	return st_config_open(dir, &c->lcfg, err);
}

/* Fence vd here (lmu held): it commits nothing more. */
static void fence_here(struct sv_vd *vd)
{
	vd->fenced = 1;
	vd->owned = 0;
}

static void renew_all(struct sv_ctl *c)
{
	int64_t now = sv_mono_ms();

	pthread_mutex_lock(&c->lmu);
	for (struct sv_vd *vd = c->vds; vd; vd = vd->next) {
		int asked = 0, rc;
		if (!vd->owned)
			continue;
		if (now - vd->last_ok_ms > (int64_t)c->o.lease_ms / 2) {
			fence_here(vd); /* we were not renewing in time: somebody may have declared us dead */
			continue;
		}
		rc = st_owner_renew(c->lcfg, vd->v.id, c->holder, vd->epoch, &asked, NULL);
		if (rc == ST_EFENCED)
			fence_here(vd);
		else if (rc == 0) {
			vd->last_ok_ms = now;
			vd->asked = asked;
		}
	}
	pthread_mutex_unlock(&c->lmu);
}

static void *lease_thread(void *arg)
{
	struct sv_ctl *c = arg;
	uint32_t period = c->o.lease_ms / 6;

	for (;;) {
		pthread_mutex_lock(&c->lmu);
		int stop = c->stop;
		pthread_mutex_unlock(&c->lmu);
		if (stop)
			break;
		renew_all(c);
		usleep(period * 1000);
	}
	return NULL;
}

int sv_own_start(struct sv_ctl *c)
{
	int rc = pthread_create(&c->lth, NULL, lease_thread, c);
	if (rc)
		return -rc;
	c->lstarted = 1;
	return 0;
}

void sv_own_stop(struct sv_ctl *c)
{
	if (!c->lstarted)
		return;
	pthread_mutex_lock(&c->lmu);
	c->stop = 1;
	pthread_mutex_unlock(&c->lmu);
	pthread_join(c->lth, NULL);
	c->lstarted = 0;
}

void sv_own_release(struct sv_ctl *c)
{
	st_config_free(c->lcfg);
	c->lcfg = NULL;
}

/* One attempt (lmu held): 0 owned, ST_EBUSY keep waiting, or an error. */
static int try_own(struct sv_vd *vd, struct st_msg *err)
{
	struct sv_ctl *c = vd->ctl;
	struct st_owner cur;
	int64_t now = sv_mono_ms(), epoch = 0;
	int rc = st_owner_acquire(c->lcfg, vd->v.id, c->holder, c->o.node, c->o.lease_ms, &epoch, &cur, err);

	if (rc == 0)
		goto owned;
	if (rc != ST_EBUSY)
		return rc;
	vd->listed = 1;
	if (strcmp(cur.holder, vd->seen.holder) || cur.epoch != vd->seen.epoch || cur.beat != vd->seen.beat) {
		vd->seen = cur; /* it moved: alive, or a new owner; ask it (again) */
		vd->seen_ms = now;
		if (strcmp(cur.relinquish, c->holder))
			st_owner_ask(c->lcfg, vd->v.id, c->holder, NULL);
		return st_fail(err, ST_EBUSY, "vdisk '%s': owned by %s (asked to relinquish)", vd->v.name, cur.holder);
	}
	if (now - vd->seen_ms < (cur.ttl_ms > 0 ? cur.ttl_ms : (int64_t)c->o.lease_ms))
		return st_fail(err, ST_EBUSY, "vdisk '%s': owned by %s (asked to relinquish)", vd->v.name, cur.holder);
	/* its beat stood still for its TTL on our clock: fence it everywhere, then take the row by CAS */
	rc = st_meta_fence(st_store_meta(c->st), cur.holder, err);
	if (rc)
		return rc;
	rc = st_owner_takeover(c->lcfg, vd->v.id, c->holder, c->o.node, c->o.lease_ms, &cur, &epoch, err);
	if (rc == ST_ESTALE) {
		vd->seen_ms = now; /* another volunteer won, or it came back: look again */
		return st_fail(err, ST_EBUSY, "vdisk '%s': taken over by another controller", vd->v.name);
	}
	if (rc)
		return rc;
owned:
	st_mcache_invalidate(c->mc); /* rows read before we owned it may predate the last owner's commits */
	vd->owned = 1;
	vd->epoch = epoch;
	vd->last_ok_ms = now;
	vd->asked = 0;
	vd->listed = 0;
	memset(&vd->seen, 0, sizeof(vd->seen));
	return 0;
}

int sv_own_admit(struct sv_vd *vd, struct st_msg *err)
{
	struct sv_ctl *c = vd->ctl;
	int64_t deadline = sv_mono_ms() + c->o.lease_ms + 2000;
	int rc;

	for (;;) {
		pthread_mutex_lock(&c->lmu);
		rc = vd->fenced ? ST_EFENCED : vd->moved ? ST_EREADONLY : vd->owned ? 0 : ST_EBUSY;
		pthread_mutex_unlock(&c->lmu);
		if (rc == ST_EBUSY) {
			/* cmu too: try_own fences through the commit handle's metadata */
			pthread_mutex_lock(&c->cmu);
			pthread_mutex_lock(&c->lmu);
			rc = vd->fenced ? ST_EFENCED : vd->moved ? ST_EREADONLY : vd->owned ? 0 : try_own(vd, err);
			pthread_mutex_unlock(&c->lmu);
			pthread_mutex_unlock(&c->cmu);
		}
		if (rc == ST_EFENCED)
			return st_fail(err, rc, "vdisk '%s': this controller lost its lease (fenced)", vd->v.name);
		if (rc == ST_EREADONLY)
			return st_fail(err, rc, "vdisk '%s': moved to another controller", vd->v.name);
		if (rc != ST_EBUSY)
			return rc;
		if (sv_mono_ms() > deadline)
			return rc;
		usleep(50000);
	}
}

int sv_own_check(struct sv_vd *vd, int *fenced, struct st_msg *err)
{
	struct sv_ctl *c = vd->ctl;
	int rc = 0;

	pthread_mutex_lock(&c->lmu);
	if (vd->owned && sv_mono_ms() - vd->last_ok_ms > (int64_t)c->o.lease_ms / 2)
		fence_here(vd);
	*fenced = vd->fenced;
	if (vd->fenced || !vd->owned)
		rc = st_fail(err, ST_EFENCED, "vdisk '%s': %s", vd->v.name,
			     vd->fenced ? "this controller lost its lease (fenced): nothing committed"
					: "not owned by this controller");
	pthread_mutex_unlock(&c->lmu);
	return rc;
}

void sv_own_relinquish(struct sv_vd *vd)
{
	struct sv_ctl *c = vd->ctl;
	int asked;

	pthread_mutex_lock(&c->lmu);
	asked = vd->owned && vd->asked;
	pthread_mutex_unlock(&c->lmu);
	if (!asked || sv_commit(vd, NULL))
		return; /* a log that cannot be committed keeps the vdisk here */
	pthread_mutex_lock(&c->lmu);
	if (vd->owned && st_owner_release(c->lcfg, vd->v.id, c->holder, vd->epoch, NULL) == 0) {
		vd->owned = 0;
		vd->moved = 1;
	}
	pthread_mutex_unlock(&c->lmu);
}

void sv_own_close(struct sv_vd *vd)
{
	struct sv_ctl *c = vd->ctl;

	pthread_mutex_lock(&c->lmu);
	if (vd->owned)
		st_owner_release(c->lcfg, vd->v.id, c->holder, vd->epoch, NULL);
	vd->owned = 0;
	if (vd->listed)
		st_owner_unlist(c->lcfg, vd->v.id, c->holder, NULL);
	vd->listed = 0;
	pthread_mutex_unlock(&c->lmu);
}

int sv_own_owned(struct sv_vd *vd)
{
	int owned;

	pthread_mutex_lock(&vd->ctl->lmu);
	owned = vd->owned;
	pthread_mutex_unlock(&vd->ctl->lmu);
	return owned;
}
