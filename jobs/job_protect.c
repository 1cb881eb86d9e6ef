/*
 * job_protect: the protection task kinds (DESIGN.md §4).
 *
 * DESIGN: every egroup keeps its container's RF healthy copies, verified:
 *   rereplicate   fewer healthy copies than RF (priority by copies left):
 *                 new copies on disks of other nodes, then the row;
 *   drop_extra    more healthy copies than RF (a node came back): the row
 *                 loses dead copies first, then extras, never below RF;
 *   scrub         every extent of every reachable copy read and verified; a
 *                 bad copy rewritten from a good one (a strip member: from
 *                 its strip); last_scrub recorded; a disk whose directory
 *                 vanished is marked failed;
 *   disk_removed  a drained disk no egroup uses any more is marked removed.
 *
 * Order: the new copies exist (fdatasync'd) before the row names them, the
 * row flips by compare-and-set on the version the scan read, and the files
 * of dropped copies go last; the row never loses a healthy copy, so no step
 * can leave fewer healthy copies than before. A lost CAS deletes the new
 * copies instead and the task is stale.
 *
 * Idempotent: each task recomputes what to do from the row and the disks as
 * they are now (job_protect_replica_state), so a repeat finds nothing left
 * to do; a crash leaves at worst extra files that file_sweep collects.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs/job_tasks_int.h"
#include "storage/st_egroup.h"

/* A replica's state now: see job_tasks_int.h. */
int job_protect_replica_state(struct st_store *st, const struct st_egroup_rec *g, int r)
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

/* The RF of g's container, or -1 when its row cannot be read (nothing is dropped then). */
static int container_rf(struct st_store *st, const struct st_egroup_rec *g)
{
	struct st_container c;
	return st_config_container_by_id(st_store_config(st), g->container, &c, NULL) ? -1 : c.rf;
}

/*
 * The witness of drop_extra (job_scan.h): a copy counts toward the RF that
 * stays only if its file is there now, whole (as large as the bytes in use).
 */
static int copy_present(struct st_store *st, const struct st_egroup_rec *g, int r)
{
	struct st_disk d;
	char path[ST_PATH_MAX + 64];
	struct stat sb;

	return st_config_disk_get(st_store_config(st), g->replicas[r].disk, &d, NULL) == 0 &&
	       st_egroup_path(d.path, g->id, path, sizeof(path)) == 0 && stat(path, &sb) == 0 &&
	       (uint64_t)sb.st_size >= g->used;
}

/*
 * rereplicate: copy the egroup onto new disks until it has RF healthy
 * copies (copies on down nodes stay in the row but do not count), add them to the row by
 * CAS together with dropping dead copies (failed disks, bad copies,
 * draining disks), then delete the dropped files that can be reached. The
 * new copies exist before the row names them, and the row never loses a
 * healthy copy, so no step can leave fewer healthy copies than before.
 */
static int apply_rereplicate(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
			     int64_t *bytes, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec g;
	struct st_replica keep[ST_REPLICAS_MAX], drop[ST_REPLICAS_MAX];
	uint32_t added[ST_REPLICAS_MAX];
	int nkeep = 0, ndrop = 0, healthy = 0, need, rf, rc;

	st_egroup_rec_init(&g);
	rc = job_task_load_plain(st, t, &g, err);
	if (rc)
		goto out;
	rf = container_rf(st, &g);
	if (rf < 1)
		rf = 3; /* its container unreadable: copying more is the safe side */
	for (int r = 0; r < g.nreplicas; r++) {
		int s = job_protect_replica_state(st, &g, r);
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
				if (job_protect_replica_state(st, &g, r) != 2)
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
static int apply_drop_extra(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
			    int64_t *bytes, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec g, n;
	struct st_replica drop[ST_REPLICAS_MAX];
	int ndrop = 0, healthy = 0, rf, rc;

	st_egroup_rec_init(&g);
	st_egroup_rec_init(&n);
	rc = job_task_load_plain(st, t, &g, err);
	if (rc)
		goto out;
	rf = container_rf(st, &g);
	if (rf < 1) {
		rc = st_fail(err, ST_ESTALE, "egroup %" PRIx64 ": its container cannot be read; no copy is dropped", g.id);
		goto out;
	}
	for (int r = 0; r < g.nreplicas; r++)
		healthy += job_protect_replica_state(st, &g, r) == 0 && copy_present(st, &g, r);
	if (healthy <= rf)
		goto out; /* never below full protection */
	rc = st_egroup_rec_copy(&n, &g);
	if (rc)
		goto out;
	n.nreplicas = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (int r = 0; r < g.nreplicas; r++) {
			int s = job_protect_replica_state(st, &g, r);
			int dead = s != 0 || !copy_present(st, &g, r);
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
static int apply_scrub(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
		       int64_t *bytes, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec g;
	uint8_t *buf = NULL;
	size_t cap = 0;
	int bad[ST_REPLICAS_MAX] = { 0 }, nbad = 0, ngood = 0, rc;

	st_egroup_rec_init(&g);
	rc = job_task_load(st, t, &g, err);
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
		if (job_protect_replica_state(st, &g, r) != 0)
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

/* disk_removed: a drained disk that no egroup uses any more. */
static int apply_disk_removed(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
			      int64_t *bytes, struct st_msg *err)
{
	struct st_disk d;
	int rc = st_config_disk_get(st_store_config(st), (uint32_t)t->target, &d, err);

	if (rc)
		return rc;
	if (!d.draining)
		return st_fail(err, ST_ESTALE, "disk %u is not draining", d.id);
	return st_config_disk_set(st_store_config(st), d.id, 0, 1, err);
}

const struct job_task_ops job_kind_rereplicate = {
	.name = "rereplicate", .priority = 80, .apply = apply_rereplicate, .reads_egroups = JOB_READS_EGROUP,
	.refuses = ST_EGROUP_EC | ST_EGROUP_PARITY
};
const struct job_task_ops job_kind_drop_extra = { .name = "drop_extra", .priority = 20, .apply = apply_drop_extra,
						   .refuses = ST_EGROUP_EC | ST_EGROUP_PARITY | ST_EGROUP_MOVING };
const struct job_task_ops job_kind_scrub = {
	.name = "scrub", .priority = 15, .apply = apply_scrub, .reads_egroups = JOB_READS_REPLICAS
};
const struct job_task_ops job_kind_disk_removed = { .name = "disk_removed", .priority = 25, .apply = apply_disk_removed };
