/*
 * st_vdisk: the lifecycle of a vdisk: create, snapshot and clone, delete,
 * how much of it is mapped, and the per-vdisk write lock that the writer,
 * snapshots, clones and deletes take.
 *
 * DESIGN: a snapshot or clone is a write and goes bottom-up (DESIGN.md
 * §4). Under one operation (sequence number s, registered in flight, so no
 * scan's S0 is later than s) it first increments the recorded refcount of
 * every extent the source references and stamps last_ref_seq = s on each
 * egroup it touches (each row read and written by compare-and-set inside
 * its shard's IMMEDIATE transaction; an extent the curator moves meanwhile
 * is resolved again), then writes the new vdisk's block rows, then its
 * config row. A crash leaves at worst counts too high, which a full scan
 * repairs; never a reference without its count. Delete only marks the
 * vdisk deleted: the foreground never decrements a refcount, the curator
 * reclaims the space. In the st_store family this file calls st_topo.c
 * (IDs) only.
 */
#include "storage/st_store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include "storage/st_egroup.h"

int st_vdisk_create(struct st_store *st, const char *name, const char *container, uint64_t size,
		    uint32_t block_size, struct st_vdisk *out, struct st_msg *err)
{
	struct st_container c;
	struct st_vdisk v = { 0 }, tmp;
	int rc;

	if (!name[0] || strlen(name) >= sizeof(v.name))
		return st_fail(err, ST_EINVAL, "vdisk name: must be 1..%zu characters", sizeof(v.name) - 1);
	if (block_size == 0)
		block_size = ST_BLOCK_DEFAULT;
	if (block_size < ST_BLOCK_MIN || block_size > ST_BLOCK_MAX || (block_size & (block_size - 1)))
		return st_fail(err, ST_EINVAL, "--block-size %u: must be a power of two from 4K to 4M", block_size);
	if (size == 0 || size > (1ULL << 50))
		return st_fail(err, ST_EINVAL, "--size: must be between 1 byte and 1P");
	if ((size - 1) / block_size >= ST_VDISK_BLOCKS_MAX)
		return st_fail(err, ST_EINVAL, "--size: at most %llu blocks of %u bytes", ST_VDISK_BLOCKS_MAX, block_size);
	rc = st_config_container_get(st->cfg, container, &c, err);
	if (rc)
		return rc;
	if (st_config_vdisk_get(st->cfg, name, &tmp, NULL) == 0)
		return st_fail(err, ST_EEXIST, "vdisk '%s': already exists", name);
	rc = st_topo_new_id(st, &v.id, err);
	if (rc)
		return rc;
	snprintf(v.name, sizeof(v.name), "%s", name);
	v.container = c.id;
	v.size = size;
	v.block_size = block_size;
	v.created = st_now();
	rc = st_config_vdisk_insert(st->cfg, &v, err);
	if (!rc && out)
		*out = v;
	return rc;
}

/* The name of vdisk's write lock (st_store_lock). */
static void lock_name(uint64_t vdisk, char *buf, size_t len)
{
	snprintf(buf, len, "vdisk-%016llx", (unsigned long long)vdisk);
}

int st_vdisk_lock(struct st_store *st, uint64_t vdisk, int *held, struct st_msg *err)
{
	char name[64];
	int rc;

	lock_name(vdisk, name, sizeof(name));
	rc = st_store_lock(st, name, 30000, err);
	if (rc == ST_EBUSY)
		return st_fail(err, rc, "vdisk %llx: another writer holds it (%s)", (unsigned long long)vdisk,
			       err ? err->text : "");
	if (!rc)
		*held = 1;
	return rc;
}

void st_vdisk_unlock(struct st_store *st, uint64_t vdisk, int held)
{
	char name[64];

	if (held <= 0)
		return;
	lock_name(vdisk, name, sizeof(name));
	st_store_unlock(st, name);
}

struct ref_acc {
	struct st_block *rows;
	size_t n, cap;
	int corrupt;
};

static int collect_block(void *arg, int rc_row, const struct st_block *b)
{
	struct ref_acc *a = arg;

	if (rc_row) {
		a->corrupt = 1;
		return ST_ECORRUPT;
	}
	if (st_grow(&a->rows, &a->cap, a->n, sizeof(*a->rows)))
		return -ENOMEM;
	a->rows[a->n] = *b;
	a->rows[a->n].n = b->n;
	memcpy(a->rows[a->n].r, b->r, (size_t)b->n * sizeof(b->r[0]));
	a->n++;
	return 0;
}

struct inc {
	struct st_extent_id id;
	uint64_t egroup;
	int done;
};

static int inc_cmp(const void *a, const void *b)
{
	const struct inc *x = a, *y = b;
	if (x->done != y->done)
		return x->done - y->done;
	if (x->egroup != y->egroup)
		return x->egroup < y->egroup ? -1 : 1;
	return memcmp(x->id.b, y->id.b, ST_EXTENT_ID_LEN);
}

/*
 * +1 the recorded refcount of every extent in incs[0..n) (one per
 * referencing block row), stamping last_ref_seq = seq. Each egroup row is
 * read and written inside its shard's IMMEDIATE transaction, so nothing
 * interleaves; an extent the curator moved meanwhile is resolved again in
 * the next round (rows already incremented are not touched twice).
 */
static int increment_refs(struct st_store *st, struct inc *incs, size_t n, uint64_t seq, struct st_msg *err)
{
	struct st_meta *m = st->meta;
	struct st_egroup_rec g;
	int rc = 0;

	st_egroup_rec_init(&g);
	for (int round = 0; round < 250; round++) {
		size_t todo = 0;

		if (round)
			usleep(20000); /* a compaction is moving some of them: let it finish */

		for (size_t i = 0; i < n && !rc; i++) {
			if (incs[i].done)
				continue;
			todo++;
			rc = st_meta_extent_get(m, &incs[i].id, &incs[i].egroup, err);
			if (rc == ST_ENOTFOUND) {
				char b[80];
				rc = st_fail(err, ST_ECORRUPT, "extent %s: dangling reference in the source vdisk",
					     st_extent_id_fmt(&incs[i].id, b, sizeof(b)));
			}
		}
		if (rc || todo == 0)
			break;
		qsort(incs, n, sizeof(*incs), inc_cmp);
		for (size_t i = 0; i < todo && !rc;) {
			size_t j = i;
			int moved = 0, shard = st_meta_shard_egroup(m, incs[i].egroup);

			rc = st_meta_begin(m, shard, err);
			if (rc)
				break;
			rc = st_meta_egroup_get(m, incs[i].egroup, &g, err);
			if (rc == ST_ENOTFOUND) {
				rc = 0;
				moved = 1;
			}
			if (!rc && !moved && (g.flags & ST_EGROUP_MOVING))
				moved = 1;
			for (; j < todo && incs[j].egroup == incs[i].egroup; j++) {
				int idx = rc || moved ? -1 : st_egroup_rec_find(&g, &incs[j].id);
				if (idx < 0)
					moved = 1;
				else
					g.extents[idx].refcount++;
			}
			if (!rc && !moved) {
				g.last_ref_seq = g.last_ref_seq > seq ? g.last_ref_seq : seq;
				rc = st_meta_egroup_put(m, &g, g.version, err);
			}
			if (rc || moved) {
				st_meta_rollback(m, shard);
			} else {
				rc = st_meta_commit(m, shard, err);
				for (size_t k = i; !rc && k < j; k++)
					incs[k].done = 1;
			}
			i = j;
		}
		if (rc)
			break;
	}
	st_egroup_rec_release(&g);
	for (size_t i = 0; !rc && i < n; i++)
		if (!incs[i].done)
			rc = st_fail(err, ST_ESTALE, "snapshot: extents kept moving; try again");
	return rc;
}

/* Copy vdisk src's references into a new vdisk `name` (snapshot or clone). */
static int copy_vdisk(struct st_store *st, const char *src_name, const char *name, int readonly,
		      struct st_msg *err)
{
	struct st_meta *m = st->meta;
	struct st_vdisk src, nv, tmp;
	struct ref_acc acc = { 0 };
	struct inc *incs = NULL;
	size_t ninc = 0, capinc = 0;
	uint64_t seq = 0;
	int64_t op = 0;
	int lockfd = -1, began = 0;
	int rc = st_config_vdisk_get(st->cfg, src_name, &src, err);

	if (rc)
		return rc;
	if (!name[0] || strlen(name) >= sizeof(nv.name))
		return st_fail(err, ST_EINVAL, "vdisk name: must be 1..%zu characters", sizeof(nv.name) - 1);
	if (st_config_vdisk_get(st->cfg, name, &tmp, NULL) == 0)
		return st_fail(err, ST_EEXIST, "vdisk '%s': already exists", name);
	rc = st_vdisk_lock(st, src.id, &lockfd, err); /* a consistent point in time */
	if (!rc)
		rc = st_store_op_begin(st, readonly ? "vdisk snapshot" : "vdisk clone", &seq, &op, err);
	began = !rc;
	if (!rc)
		rc = st_meta_vdisk_blocks(m, src.id, collect_block, &acc, err);
	if (rc && acc.corrupt)
		st_fail(err, ST_ECORRUPT, "vdisk '%s': corrupt block map row", src_name);
	for (size_t i = 0; !rc && i < acc.n; i++) {
		struct st_block *b = &acc.rows[i];
		for (int r = 0; r < b->n; r++) {
			int dup = 0;
			for (int q = 0; q < r; q++)
				dup |= !memcmp(b->r[q].extent.b, b->r[r].extent.b, ST_EXTENT_ID_LEN);
			if (dup)
				continue; /* one reference per (row, extent) */
			if (st_grow(&incs, &capinc, ninc, sizeof(*incs))) {
				rc = st_fail(err, -ENOMEM, "out of memory");
				break;
			}
			incs[ninc].id = b->r[r].extent;
			incs[ninc].egroup = 0;
			incs[ninc++].done = 0;
		}
	}
	if (!rc)
		rc = increment_refs(st, incs, ninc, seq, err);
	memset(&nv, 0, sizeof(nv));
	if (!rc)
		rc = st_topo_new_id(st, &nv.id, err);
	for (int s = 0; !rc && s < st_meta_nshards(m); s++) {
		int any = 0;
		for (size_t i = 0; !rc && i < acc.n; i++) {
			if (st_meta_shard_block(m, nv.id, acc.rows[i].block) != s)
				continue;
			if (!any) {
				rc = st_meta_begin(m, s, err);
				any = 1;
			}
			acc.rows[i].vdisk = nv.id;
			if (!rc)
				rc = st_meta_block_put(m, &acc.rows[i], err);
		}
		if (any && rc)
			st_meta_rollback(m, s);
		else if (any)
			rc = st_meta_commit(m, s, err);
	}
	if (!rc) {
		snprintf(nv.name, sizeof(nv.name), "%s", name);
		nv.container = src.container;
		nv.size = src.size;
		nv.block_size = src.block_size;
		nv.readonly = readonly;
		nv.parent = src.id;
		nv.created = st_now();
		rc = st_config_vdisk_insert(st->cfg, &nv, err);
	}
	if (began)
		st_config_op_end(st->cfg, op, NULL);
	st_vdisk_unlock(st, src.id, lockfd);
	free(acc.rows);
	free(incs);
	return rc;
}

int st_vdisk_snapshot(struct st_store *st, const char *name, const char *snap, struct st_msg *err)
{
	return copy_vdisk(st, name, snap, 1, err);
}

int st_vdisk_clone(struct st_store *st, const char *snap, const char *name, struct st_msg *err)
{
	return copy_vdisk(st, snap, name, 0, err);
}

int st_vdisk_delete(struct st_store *st, const char *name, struct st_msg *err)
{
	struct st_vdisk v;
	int lockfd = -1;
	int rc = st_config_vdisk_get(st->cfg, name, &v, err);

	if (!rc)
		rc = st_vdisk_lock(st, v.id, &lockfd, err);
	if (!rc)
		rc = st_config_vdisk_delete(st->cfg, v.id, err);
	st_vdisk_unlock(st, v.id, lockfd);
	return rc;
}

struct mapped_acc {
	uint64_t bytes, blocks;
};

static int count_mapped(void *arg, int rc_row, const struct st_block *b)
{
	struct mapped_acc *a = arg;

	if (rc_row)
		return 0;
	a->blocks++;
	for (int i = 0; i < b->n; i++)
		a->bytes += b->r[i].len;
	return 0;
}

int st_vdisk_mapped(struct st_store *st, const struct st_vdisk *v, uint64_t *bytes, uint64_t *blocks,
		    struct st_msg *err)
{
	struct mapped_acc a = { 0, 0 };
	int rc = st_meta_vdisk_blocks(st->meta, v->id, count_mapped, &a, err);

	if (!rc) {
		*bytes = a.bytes;
		*blocks = a.blocks;
	}
	return rc;
}
