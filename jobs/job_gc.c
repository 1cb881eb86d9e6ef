/*
 * job_gc: the garbage-collection task kinds (DESIGN.md §4).
 *
 * DESIGN: what the full and partial scans find unreferenced or wrongly
 * counted, put right:
 *   refcount_up / refcount_down   an egroup's recorded refcounts set to the
 *                                 scan's truth (arg: pairs), in one shard
 *                                 transaction, by CAS on the version;
 *   extent_delete                 dead extents dropped from their egroup's
 *                                 row (CAS), then their extent-ID rows;
 *   egroup_delete                 every extent dead: the egroup retired;
 *   egroup_compact                (job_compact.c) the live extents, cut
 *                                 to the bytes block rows show, rewritten
 *                                 into a new egroup;
 *   extent_id_delete              orphan extent-ID rows, re-checked;
 *   blocks_delete                 the block rows of a deleted vdisk, then
 *                                 the vdisk itself;
 *   file_sweep                    egroup files (and cloud objects) no row
 *                                 names, older than the grace period and
 *                                 than every operation in flight.
 *
 * Order: data first, metadata flips second (compare-and-set on the version
 * the scan read, job_task_load), old copies last. Retiring an egroup
 * (job_gc_retire, shared with compression) drops the extent-ID rows that
 * still name it, then its row by CAS, then its files. Compaction first
 * marks the egroup MOVING by CAS, which stops appends and refcount
 * increments to it (snapshots wait and re-resolve); then it copies the live
 * extents into a new egroup (stamped with a fresh operation's sequence, as
 * the safety rule requires), repoints their extent-ID rows by CAS, deletes
 * the dead extents' extent-ID rows, deletes the old row by CAS and finally
 * its files.
 *
 * Idempotent: a task whose row changed since the scan is stale and does
 * nothing (the next scan recomputes it); deleting what is already gone is
 * not an error; a MOVING egroup found by a later scan is compacted again
 * (rolled forward); a crash leaves at worst unreachable bytes or orphan
 * files that a later scan collects.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs/job_tasks_int.h"
#include "storage/st_cloud.h"
#include "storage/st_egroup.h"

/* --- the executor's witness (job_tasks_int.h) -------------------------- */

int job_witness_open(struct st_store *st, struct job_witness *w, struct st_msg *err)
{
	int rc;

	memset(w, 0, sizeof(*w));
	rc = st_config_vdisks(st_store_config(st), 1, &w->vds, &w->n, err);
	if (rc)
		return rc;
	w->set = calloc((size_t)w->n + 1, sizeof(*w->set));
	if (!w->set) {
		free(w->vds);
		return st_fail(err, -ENOMEM, "out of memory");
	}
	return 0;
}

void job_witness_close(struct job_witness *w)
{
	free(w->vds);
	free(w->set);
	memset(w, 0, sizeof(*w));
}

/* Does block row (vdisk, block) name extent id? 1 yes, 0 no, < 0 cannot tell (err says why). */
static int block_names(struct st_store *st, uint64_t vdisk, uint64_t block, const struct st_extent_id *id,
		       struct st_msg *err)
{
	struct st_block *b = malloc(sizeof(*b));
	int rc, hit = 0;

	if (!b)
		return st_fail(err, -ENOMEM, "out of memory");
	rc = st_meta_block_get(st_store_meta(st), vdisk, block, b, err);
	if (rc == ST_ENOTFOUND)
		rc = 0;
	else if (!rc)
		for (int i = 0; i < b->n && !hit; i++)
			hit = !memcmp(b->r[i].extent.b, id->b, ST_EXTENT_ID_LEN);
	free(b);
	return rc ? rc : hit;
}

/* Does the extent-ID row of id name another egroup than `in`, one that holds id? 1 yes, 0 no (job_tasks_int.h). */
int job_gc_lives_elsewhere(struct st_store *st, const struct st_extent_id *id, uint64_t in)
{
	struct st_egroup_rec h;
	uint64_t eg;
	int yes = 0;

	if (st_meta_extent_get(st_store_meta(st), id, &eg, NULL) || eg == in)
		return 0;
	st_egroup_rec_init(&h);
	yes = st_meta_egroup_get(st_store_meta(st), eg, &h, NULL) == 0 && st_egroup_rec_find(&h, id) >= 0;
	st_egroup_rec_release(&h);
	return yes;
}

int job_witness_set(struct job_witness *w, uint64_t owner)
{
	int n = 0, grew = 1;

	/*
	 * the owner and, transitively, every vdisk whose parent is in the set;
	 * blocks_delete forgets a deleted vdisk's row, which can cut a chain,
	 * so a vdisk whose parent is gone (its ancestry unknown) is in every set
	 */
	w->set[n++] = owner;
	for (int i = 0; i < w->n; i++) {
		int known = 0;
		if (!w->vds[i].parent)
			continue;
		for (int k = 0; k < w->n && !known; k++)
			known = w->vds[k].id == w->vds[i].parent;
		if (!known && w->vds[i].id != owner && n < w->n + 1)
			w->set[n++] = w->vds[i].id;
	}
	while (grew) {
		grew = 0;
		for (int i = 0; i < w->n; i++) {
			int in = 0, parent_in = 0;
			for (int k = 0; k < n; k++) {
				in |= w->set[k] == w->vds[i].id;
				parent_in |= w->vds[i].parent && w->set[k] == w->vds[i].parent;
			}
			if (parent_in && !in && n < w->n + 1) {
				w->set[n++] = w->vds[i].id;
				grew = 1;
			}
		}
	}
	return n;
}

int job_witness_live(const struct job_witness *w, uint64_t vdisk)
{
	for (int i = 0; i < w->n; i++)
		if (w->vds[i].id == vdisk)
			return w->vds[i].state == ST_VDISK_LIVE;
	return 0;
}

int job_witness_check(struct st_store *st, struct job_witness *w, uint64_t egroup, const struct st_extent_rec *e,
		      struct st_msg *err)
{
	uint64_t owner = st_extent_id_vdisk(&e->id), home;
	char xb[80];
	int n;

	/* a copy left behind by a move (compaction, a crash): references resolve to the other one */
	if (egroup && job_gc_lives_elsewhere(st, &e->id, egroup))
		return 0;

	if (st_extent_id_is_dedup(&e->id)) {
		if (e->refcount)
			return st_fail(err, ST_ESTALE, "dedup extent %s: recorded refcount %u (lowered first)",
				       st_extent_id_fmt(&e->id, xb, sizeof(xb)), e->refcount);
		return 0;
	}
	if (st_extent_id_home(&e->id, &home) || !owner)
		return st_fail(err, ST_ESTALE, "extent %s: no home block to check", st_extent_id_fmt(&e->id, xb, sizeof(xb)));
	n = job_witness_set(w, owner);
	for (int k = 0; k < n; k++) {
		int hit;
		if (!job_witness_live(w, w->set[k])) /* deleted (its rows are garbage) or gone */
			continue;
		hit = block_names(st, w->set[k], home, &e->id, err);
		if (hit < 0)
			return st_fail(err, ST_ESTALE, "extent %s: cannot check vdisk %" PRIx64 " block %" PRIu64 " (%s)",
				       st_extent_id_fmt(&e->id, xb, sizeof(xb)), w->set[k], home, err ? err->text : "");
		if (hit)
			return st_fail(err, ST_ESTALE, "extent %s: still referenced by vdisk %" PRIx64 " block %" PRIu64,
				       st_extent_id_fmt(&e->id, xb, sizeof(xb)), w->set[k], home);
	}
	return 0;
}

/* Witness every extent of g that `dead` says is to go (dead == NULL: all of them): job_tasks_int.h. */
int job_gc_witness_all(struct st_store *st, const struct st_egroup_rec *g, const struct job_task *dead,
		       struct st_msg *err)
{
	struct job_witness w;
	int rc = job_witness_open(st, &w, err);

	for (int k = 0; !rc && k < g->nextents; k++)
		if (!dead || job_arg_pairs_hold(dead, &g->extents[k].id))
			rc = job_witness_check(st, &w, g->id, &g->extents[k], err);
	job_witness_close(&w);
	return rc;
}

/* refcount_up (up = 1) / refcount_down (up = 0): set recorded refcounts to the scan's truth. */
static int set_refcounts(struct st_store *st, const struct job_task *t, int up, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	int shard = st_meta_shard_egroup(m, t->target);
	struct st_egroup_rec g;
	int rc;

	st_egroup_rec_init(&g);
	rc = st_meta_begin(m, shard, err);
	if (rc)
		return rc;
	rc = job_task_load(st, t, &g, err);
	for (int i = 0; !rc && i < job_arg_pairs(t); i++) {
		struct st_extent_id id;
		uint32_t truth;
		int k;
		job_arg_pair(t, i, &id, &truth);
		k = st_egroup_rec_find(&g, &id);
		if (k < 0)
			continue;
		if (up ? g.extents[k].refcount < truth : g.extents[k].refcount > truth)
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

static int apply_refcount_up(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
			     int64_t *bytes, struct st_msg *err)
{
	return set_refcounts(st, t, 1, err);
}

static int apply_refcount_down(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
			       int64_t *bytes, struct st_msg *err)
{
	return set_refcounts(st, t, 0, err);
}

/* extent_delete: drop dead extents from the record, then their extent-ID rows. */
static int apply_extent_delete(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
			       int64_t *bytes, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec g;
	int rc, w = 0;

	st_egroup_rec_init(&g);
	rc = job_task_load(st, t, &g, err);
	if (!rc)
		rc = job_gc_witness_all(st, &g, t, err);
	if (!rc) {
		for (int k = 0; k < g.nextents; k++)
			if (!job_arg_pairs_hold(t, &g.extents[k].id))
				g.extents[w++] = g.extents[k];
		g.nextents = w;
		rc = st_meta_egroup_put(m, &g, g.version, err);
		st_fault_step();
	}
	for (int i = 0; !rc && i < job_arg_pairs(t); i++) {
		struct st_extent_id id;
		uint32_t v;
		job_arg_pair(t, i, &id, &v);
		rc = st_meta_extent_delete(m, &id, t->target, err);
	}
	st_egroup_rec_release(&g);
	return rc;
}

/* Retire egroup g: see job_tasks_int.h. */
int job_gc_retire(struct st_store *st, const struct st_egroup_rec *g, int64_t *bytes, struct st_msg *err)
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
static int apply_egroup_delete(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
			       int64_t *bytes, struct st_msg *err)
{
	struct st_egroup_rec g;
	int rc;

	st_egroup_rec_init(&g);
	rc = job_task_load_plain(st, t, &g, err);
	if (!rc)
		rc = job_gc_witness_all(st, &g, NULL, err);
	if (!rc)
		rc = job_gc_retire(st, &g, bytes, err);
	st_egroup_rec_release(&g);
	return rc;
}

/* The chunk fingerprints of the extents that moved from g to n go with them (best effort). */
void job_gc_copy_fingerprints(struct st_meta *m, const struct st_egroup_rec *g, const struct st_egroup_rec *n)
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

/* extent_id_delete: orphan rows, re-checked against their egroup. */
static int apply_extent_id_delete(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
				  int64_t *bytes, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec g;
	int rc = 0, have;

	struct job_witness w;

	st_egroup_rec_init(&g);
	rc = st_meta_egroup_get(m, t->target, &g, NULL);
	have = rc == 0;
	if (rc != ST_ENOTFOUND && rc) /* a corrupt or unreadable row: it may hold them */
		return st_fail(err, ST_ESTALE, "egroup %" PRIx64 ": cannot be read to confirm its orphans", t->target);
	rc = job_witness_open(st, &w, err);
	for (int i = 0; !rc && i < job_arg_pairs(t); i++) {
		struct st_extent_rec e = { 0 };
		uint32_t v;
		job_arg_pair(t, i, &e.id, &v);
		if (have && st_egroup_rec_find(&g, &e.id) >= 0)
			continue; /* no longer an orphan */
		/* a row whose extent blocks still name is where a dangling reference points: kept */
		if (!st_extent_id_is_dedup(&e.id) && job_witness_check(st, &w, 0, &e, NULL))
			continue;
		rc = st_meta_extent_delete(m, &e.id, t->target, err);
	}
	job_witness_close(&w);
	st_egroup_rec_release(&g);
	return rc;
}

/* blocks_delete: every block row of a deleted vdisk, then the vdisk itself. */
static int apply_blocks_delete(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
			       int64_t *bytes, struct st_msg *err)
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
	st_fault_step();
	if (!rc)
		rc = st_config_vdisk_purge(st_store_config(st), t->target, err);
	return rc;
}

/* file_sweep: unreferenced files older than the grace period and than any operation in flight. */
static int apply_sweep(struct st_store *st, const struct job_task *t, const struct job_task_env *env, int64_t *bytes,
		       struct st_msg *err)
{
	struct st_config *cfg = st_store_config(st);
	struct st_egroup_rec g;
	int64_t oldest, now = st_now(), grace = env->sweep_grace < 0 ? 3600 : env->sweep_grace;
	int rc = st_config_oldest_inflight(cfg, &oldest, err), have;

	if (rc)
		return rc;
	st_egroup_rec_init(&g);
	rc = st_meta_egroup_get(st_store_meta(st), t->target, &g, NULL);
	have = rc == 0;
	/*
	 * The witness (job_scan.h): the row is re-read here. No row: an orphan.
	 * A row that cannot be read may name these files: nothing goes. A row
	 * that does not name a file's disk: that file goes only if the row's
	 * own copies are all there, on disks the cluster has.
	 */
	if (rc && rc != ST_ENOTFOUND)
		return st_fail(err, ST_ESTALE, "egroup %" PRIx64 ": its row cannot be read; its files stay", t->target);
	for (int r = 0; have && r < g.nreplicas; r++) {
		struct st_disk d;
		char path[ST_PATH_MAX + 64];
		struct stat sb;
		if (st_config_disk_get(cfg, g.replicas[r].disk, &d, NULL) ||
		    st_egroup_path(d.path, g.id, path, sizeof(path)) || stat(path, &sb) || (uint64_t)sb.st_size < g.used) {
			st_egroup_rec_release(&g);
			return st_fail(err, ST_ESTALE, "egroup %" PRIx64 ": its copy on disk %u is not whole; no file is swept",
				       t->target, g.replicas[r].disk);
		}
	}
	for (int i = 0; i < job_arg_disks(t); i++) {
		uint32_t disk = job_arg_disk(t, i);
		struct st_disk d;
		char path[ST_PATH_MAX + 64];
		struct stat sb;
		int referenced = 0;

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

/* By kind number, as in job_kind.h; priorities: correctness before reclamation before cleanup. */
const struct job_task_ops job_kind_refcount_up = { .name = "refcount_up", .priority = 90, .apply = apply_refcount_up };
const struct job_task_ops job_kind_refcount_down = { .name = "refcount_down", .priority = 50, .apply = apply_refcount_down };
const struct job_task_ops job_kind_extent_delete = { .name = "extent_delete", .priority = 40, .apply = apply_extent_delete };
const struct job_task_ops job_kind_egroup_delete = { .name = "egroup_delete", .priority = 45, .apply = apply_egroup_delete,
						      .refuses = ST_EGROUP_EC | ST_EGROUP_PARITY };
const struct job_task_ops job_kind_extent_id_delete = { .name = "extent_id_delete", .priority = 30,
							 .apply = apply_extent_id_delete };
const struct job_task_ops job_kind_blocks_delete = { .name = "blocks_delete", .priority = 30, .apply = apply_blocks_delete };
const struct job_task_ops job_kind_file_sweep = { .name = "file_sweep", .priority = 10, .apply = apply_sweep };
