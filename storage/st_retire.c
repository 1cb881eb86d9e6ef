/*
 * st_retire: the last step of retiring copies. Unlink an egroup's replica
 * files or its cloud object (st_store_egroup_files_delete, _unlink), one
 * replica (st_store_replica_delete), or files whose row was never inserted
 * (st_store_egroup_discard); the helper threads that take unlinks off the
 * caller's path (struct st_unlinker); the disks' usage accounting
 * (st_store_account).
 *
 * DESIGN: the safety rule's "old copies last" (DESIGN.md §6): these are
 * called only for copies the metadata no longer names (the compare-and-set
 * that dropped the replica or the row is committed) or never named (a row
 * never inserted, a copy whose CAS was lost). An unlink that never happens (a crash, an
 * unreachable file, a queued unlink when the process dies) leaves an
 * orphan file, which a later scan sweeps: so a file that cannot be removed
 * is not an error, and a failed disk is not touched at all (it may hang).
 * Nothing here changes a row of the metadata maps. In the st_store family
 * this file calls st_topo.c (tables, the cloud) and st_replica.c (to drop
 * cached fds). Thread rules: the helpers touch only the unlinker's queue,
 * under its mutex; everything else runs on the handle's thread.
 */
#include "storage/st_store_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/st_cloud.h"
#include "storage/st_egroup.h"

static void *async_worker(void *arg)
{
	struct st_store *st = arg;
	char path[ST_PATH_MAX + 64];

	pthread_mutex_lock(&st->unlinker.mu);
	for (;;) {
		while (!st->unlinker.n && !st->unlinker.stop)
			pthread_cond_wait(&st->unlinker.cv, &st->unlinker.mu);
		if (!st->unlinker.n)
			break;
		memcpy(path, st->unlinker.q[--st->unlinker.n], sizeof(path));
		pthread_mutex_unlock(&st->unlinker.mu);
		unlink(path);
		pthread_mutex_lock(&st->unlinker.mu);
		pthread_cond_broadcast(&st->unlinker.cv);
	}
	pthread_mutex_unlock(&st->unlinker.mu);
	return NULL;
}

static int async_unlink_queue(struct st_store *st, const char *path)
{
	int rc = 0;

	pthread_mutex_lock(&st->unlinker.mu);
	if (st_grow(&st->unlinker.q, &st->unlinker.cap, st->unlinker.n, sizeof(*st->unlinker.q)))
		rc = -ENOMEM;
	else
		snprintf(st->unlinker.q[st->unlinker.n++], sizeof(st->unlinker.q[0]), "%s", path);
	pthread_cond_broadcast(&st->unlinker.cv);
	pthread_mutex_unlock(&st->unlinker.mu);
	return rc;
}

void st_store_async_unlink(struct st_store *st, int on)
{
	if (on && !st->unlinker.started) {
		pthread_mutex_init(&st->unlinker.mu, NULL);
		pthread_cond_init(&st->unlinker.cv, NULL);
		st->unlinker.stop = 0;
		st->unlinker.started = 0;
		for (int k = 0; k < 2; k++)
			if (pthread_create(&st->unlinker.th[st->unlinker.started], NULL, async_worker, st) == 0)
				st->unlinker.started++;
		st->unlinker.on = st->unlinker.started > 0;
	} else if (!on && st->unlinker.started) { /* drain the queue, then stop the helper */
		pthread_mutex_lock(&st->unlinker.mu);
		st->unlinker.stop = 1;
		pthread_cond_broadcast(&st->unlinker.cv);
		pthread_mutex_unlock(&st->unlinker.mu);
		for (int k = 0; k < st->unlinker.started; k++)
			pthread_join(st->unlinker.th[k], NULL);
		pthread_mutex_destroy(&st->unlinker.mu);
		pthread_cond_destroy(&st->unlinker.cv);
		free(st->unlinker.q);
		st->unlinker.q = NULL;
		st->unlinker.n = st->unlinker.cap = 0;
		st->unlinker.started = st->unlinker.on = 0;
	}
}

static int files_delete(struct st_store *st, const struct st_egroup_rec *g, int64_t *bytes, int account,
			struct st_msg *err)
{
	uint32_t disks[ST_REPLICAS_MAX];
	int64_t delta[ST_REPLICAS_MAX];
	int n = 0;

	*bytes = 0;
	st_topo_refresh(st, NULL);
	if (g->flags & ST_EGROUP_CLOUD) {
		struct st_cloud *c;
		char key[64];
		int rc = st_store_cloud(st, &c, err);
		st_cloud_egroup_key(g->id, key, sizeof(key));
		if (!rc)
			rc = st_cloud_delete(c, key, err);
		if (!rc)
			*bytes = g->used;
		return rc;
	}
	for (int i = 0; i < g->nreplicas; i++) {
		const struct st_disk *d = st_topo_disk(&st->topo, g->replicas[i].disk);
		char path[ST_PATH_MAX + 64];
		struct stat sb;

		if (!d || st_egroup_path(d->path, g->id, path, sizeof(path)))
			continue;
		st_fdcache_forget(&st->fdc, g->id, d->id);
		if (!d->ok) { /* a failed disk is not touched, as in st_store_replica_delete */
			disks[n] = d->id;
			delta[n++] = -(int64_t)g->used;
		} else if (st->unlinker.on && async_unlink_queue(st, path) == 0) {
			*bytes += g->used; /* (the file's size: a later scan sweeps it if the unlink never happens) */
			disks[n] = d->id;
			delta[n++] = -(int64_t)g->used;
		} else if (stat(path, &sb) == 0 && unlink(path) == 0) {
			*bytes += sb.st_size;
			disks[n] = d->id;
			delta[n++] = -(int64_t)g->used;
		}
	}
	return account ? st_config_disk_used_add(st->cfg, n, disks, delta, err) : 0;
}

int st_store_egroup_files_delete(struct st_store *st, const struct st_egroup_rec *g, int64_t *bytes,
				 struct st_msg *err)
{
	return files_delete(st, g, bytes, 1, err);
}

int st_store_egroup_files_unlink(struct st_store *st, const struct st_egroup_rec *g, int64_t *bytes, struct st_msg *err)
{
	return files_delete(st, g, bytes, 0, err);
}

int st_store_replica_delete(struct st_store *st, uint64_t egroup, uint32_t disk, uint32_t used, int64_t *bytes)
{
	const struct st_disk *d;
	char path[ST_PATH_MAX + 64];
	struct stat sb;

	*bytes = 0;
	st_topo_refresh(st, NULL);
	d = st_topo_disk(&st->topo, disk);
	if (!d || st_egroup_path(d->path, egroup, path, sizeof(path)))
		return 0;
	st_fdcache_forget(&st->fdc, egroup, disk);
	if (!d->ok) { /* a failed disk is not touched (it may hang); its files go with it */
		if (used) {
			int64_t delta = -(int64_t)used;
			st_config_disk_used_add(st->cfg, 1, &disk, &delta, NULL);
		}
		return 0;
	}
	if (st->unlinker.on && async_unlink_queue(st, path) == 0) {
		*bytes = used; /* unlinked by the helper (st_store_async_unlink) */
	} else {
		if (stat(path, &sb) < 0 || unlink(path) < 0)
			return 0; /* an unreachable copy becomes an orphan for the sweep */
		*bytes = sb.st_size;
	}
	if (used) {
		int64_t delta = -(int64_t)used;
		st_config_disk_used_add(st->cfg, 1, &disk, &delta, NULL);
	}
	return 0;
}

void st_store_account(struct st_store *st, const struct st_egroup_rec *gs, int n, int sign)
{
	uint32_t disk[64];
	int64_t delta[64];
	int nd = 0;

	for (int i = 0; i < n; i++)
		for (int r = 0; r < gs[i].nreplicas; r++) {
			int k;
			for (k = 0; k < nd && disk[k] != gs[i].replicas[r].disk; k++)
				;
			if (k == nd) {
				if (nd == 64) {
					st_config_disk_used_add(st->cfg, nd, disk, delta, NULL);
					nd = k = 0;
				}
				disk[nd] = gs[i].replicas[r].disk;
				delta[nd++] = 0;
			}
			delta[k] += sign * (int64_t)gs[i].used;
		}
	if (nd)
		st_config_disk_used_add(st->cfg, nd, disk, delta, NULL);
}

void st_store_egroup_discard(struct st_store *st, const struct st_egroup_rec *g)
{
	for (int r = 0; r < g->nreplicas; r++) {
		const struct st_disk *d = st_topo_disk(&st->topo, g->replicas[r].disk);
		char path[ST_PATH_MAX + 64];
		if (d && !st_egroup_path(d->path, g->id, path, sizeof(path)))
			unlink(path);
	}
}
