/*
 * job_select: the selective scan, the daemon's answer to a `vdisk delete`
 * (of a vdisk, snapshot or clone) within a tick: one MapReduce job over
 * just the rows the deletion concerns, found by index, whose egroup_delete
 * tasks give the space back in seconds instead of at the next full scan;
 * and to a disk failing or a node going down: the egroups with a replica
 * on its disks, found by the shards' replica index (st_meta.h,
 * st_meta_egroups_on_disk), get their protection tasks (re-replication
 * by copies left, EC rebuilds) within a tick, without a scan of every row.
 *
 * DESIGN. Inputs, one split per shard each:
 *   the block rows of every deleted vdisk (primary key (vdisk, block)):
 *       for each non-dedup extent a row names, its extent-ID row (a point
 *       lookup) gives its egroup -> key egroup, 'b';
 *   the extent-ID rows of the extents a deleted vdisk owns (a non-dedup
 *       id starts with its owner, so they are one key range) -> key
 *       egroup, 'o'; and of a trimmed vdisk (job_scan_opts.trims: a
 *       controller punched blocks lo..hi of it), those of its own
 *       extents whose home block is in lo..hi (the extents the punched
 *       block rows named; its other extents, and those of its ancestors,
 *       are the full scan's) -> key egroup, 'o'.
 *   the replica index rows of the scan's failed disks (job_scan_opts.disks)
 *       -> key egroup, 'r'.
 * Reduce per egroup: the row re-read; one reached by 'r' gets
 * job_policy_protection (job_policy.c), as in the partial scan, decided
 * from the row's replicas and config.db, never from the index entry. One
 * reached by 'b' or 'o' (only those): an egroup whose every extent is
 * proven unreferenced (below) and whose last_ref_seq < S0 gets an
 * egroup_delete task (no argument; the executor witnesses each extent
 * again); one with an extent not proven dead (shared with a live snapshot
 * or clone, a dedup extent, a row that cannot be read) is left to the full
 * scan and counted (selective_kept). EC members and parity, and MOVING
 * egroups (a compaction owns them), are left alone. The driver adds a
 * blocks_delete per deleted vdisk, as the full scan does.
 *
 * The proof that an extent is unreferenced (job_scan.h has why it is
 * enough): a non-dedup extent with owner O and home block h can only be
 * named by block row (W, h) of O or of a vdisk W copied from O, directly
 * or through copies (snapshots and clones copy block rows at the same
 * index; st_meta.h: a row's non-dedup extents have its block as their
 * home, which the decoder checks). The set of such W is O's descendants
 * by the parent links of config.db, plus, because blocks_delete forgets
 * a deleted vdisk's row and so can cut a chain, every vdisk whose parent
 * is no longer in config.db and the descendants of those (their ancestry
 * is unknown: they are looked at for every extent). Each live W in the
 * set is looked up at h; the extent is dead only if every lookup answers
 * and none names it. Deleted vdisks' rows are garbage (blocks_delete)
 * and not references, as in the full scan.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/job_scan_int.h"

struct job_select {
	const struct st_vdisk *vds;
	int n;
	struct st_hmap ids;    /* vdisk id -> u32 index */
	struct st_hmap kids;   /* parent id -> u32 first child index + 1 */
	int *next;             /* per vdisk: the next child of the same parent, index + 1 (0 = none) */
	int *roots;            /* vdisks whose parent is not in config.db */
	int nroots;
	uint32_t *mark, gen;   /* per vdisk: visited in lookup round `gen` */
	int *queue;
	uint64_t *deleted;     /* ids of the deleted vdisks */
	int ndeleted;
	struct st_block *b;    /* scratch for the lookups */
};

static int index_of(const struct job_select *s, uint64_t id)
{
	const uint32_t *i = st_hmap_get(&s->ids, &id);

	return i ? (int)*i : -1;
}

int job_select_init(struct scan_ctx *c, const struct st_vdisk *vds, int n)
{
	struct job_select *s = calloc(1, sizeof(*s));
	int rc = 0;

	if (!s)
		return -ENOMEM;
	c->sel = s;
	s->vds = vds;
	s->n = n;
	st_hmap_init(&s->kids, 8, 4);
	st_hmap_init(&s->ids, 8, 4);
	s->next = calloc((size_t)n + 1, sizeof(*s->next));
	s->roots = calloc((size_t)n + 1, sizeof(*s->roots));
	s->mark = calloc((size_t)n + 1, sizeof(*s->mark));
	s->queue = calloc((size_t)n + 1, sizeof(*s->queue));
	s->deleted = calloc((size_t)n + 1, sizeof(*s->deleted));
	s->b = malloc(sizeof(*s->b));
	if (!s->next || !s->roots || !s->mark || !s->queue || !s->deleted || !s->b)
		rc = -ENOMEM;
	for (int i = 0; !rc && i < n; i++) {
		uint32_t *x = st_hmap_put(&s->ids, &vds[i].id, NULL);
		if (!x)
			rc = -ENOMEM;
		else
			*x = (uint32_t)i;
	}
	/* children lists, built backwards so each lists its children in table order */
	for (int i = n - 1; !rc && i >= 0; i--) {
		uint32_t *first;
		if (vds[i].state == ST_VDISK_DELETED)
			s->deleted[s->ndeleted++] = vds[i].id;
		if (!vds[i].parent)
			continue;
		if (!st_hmap_get(&s->ids, &vds[i].parent))
			s->roots[s->nroots++] = i;
		first = st_hmap_put(&s->kids, &vds[i].parent, NULL);
		if (!first) {
			rc = -ENOMEM;
			break;
		}
		s->next[i] = (int)*first;
		*first = (uint32_t)i + 1;
	}
	return rc;
}

void job_select_free(struct scan_ctx *c)
{
	struct job_select *s = c->sel;

	if (!s)
		return;
	st_hmap_release(&s->ids);
	st_hmap_release(&s->kids);
	free(s->next);
	free(s->roots);
	free(s->mark);
	free(s->queue);
	free(s->deleted);
	free(s->b);
	free(s);
	c->sel = NULL;
}

int job_select_ndeleted(const struct scan_ctx *c)
{
	return c->sel ? c->sel->ndeleted : 0;
}

/* Queue the children of vdisk id (not yet marked) behind *tail. */
static void push_kids(struct job_select *s, uint64_t id, int *tail)
{
	const uint32_t *first = st_hmap_get(&s->kids, &id);

	for (int i = first ? (int)*first : 0; i; i = s->next[i - 1]) {
		if (s->mark[i - 1] == s->gen)
			continue;
		s->mark[i - 1] = s->gen;
		s->queue[(*tail)++] = i - 1;
	}
}

/* Does live vdisk row (vdisk, block) name id? 1 yes or cannot tell, 0 no. */
static int named(struct scan_ctx *c, uint64_t vdisk, uint64_t block, const struct st_extent_id *id)
{
	struct st_block *b = c->sel->b;
	int rc = st_meta_block_get(c->m, vdisk, block, b, NULL);

	if (rc == ST_ENOTFOUND)
		return 0;
	if (rc)
		return 1; /* unreadable or corrupt: a maybe */
	for (int i = 0; i < b->n; i++)
		if (!memcmp(b->r[i].extent.b, id->b, ST_EXTENT_ID_LEN))
			return 1;
	return 0;
}

/* Is extent e proven unreferenced (file comment)? 1 yes, 0 no or not provable. */
static int proven_dead(struct scan_ctx *c, const struct st_extent_rec *e)
{
	struct job_select *s = c->sel;
	uint64_t owner = st_extent_id_vdisk(&e->id), home;
	int head = 0, tail = 0, o;

	if (st_extent_id_is_dedup(&e->id) || st_extent_id_home(&e->id, &home) || !owner)
		return 0;
	if (++s->gen == 0) { /* wrapped: start the marks again */
		memset(s->mark, 0, (size_t)s->n * sizeof(*s->mark));
		s->gen = 1;
	}
	o = index_of(s, owner);
	if (o >= 0) {
		s->mark[o] = s->gen;
		s->queue[tail++] = o;
	}
	push_kids(s, owner, &tail);
	for (int r = 0; r < s->nroots; r++)
		if (s->mark[s->roots[r]] != s->gen) {
			s->mark[s->roots[r]] = s->gen;
			s->queue[tail++] = s->roots[r];
		}
	while (head < tail) {
		const struct st_vdisk *v = &s->vds[s->queue[head++]];
		push_kids(s, v->id, &tail);
		if (v->state == ST_VDISK_DELETED)
			continue;
		if (named(c, v->id, home, &e->id))
			return 0;
	}
	return 1;
}

/* --- readers ------------------------------------------------------------ */

struct srd {
	struct scan_ctx *c;
	mr_record_fn fn;
	void *fnarg;
	const struct st_trim *trim; /* job_select_read_owned of a trimmed vdisk: its punched blocks */
};

static int rd_block(void *arg, int rc_row, const struct st_block *b)
{
	struct srd *r = arg;
	uint8_t key[JR_BLOCK_LEN];
	int rc = job_scan_poll(r->c, 1);

	if (rc)
		return rc;
	r->c->c[JC_BLOCK_ROWS]++;
	r->c->c[JC_DELETED_VDISK_ROWS]++;
	if (rc_row) /* only candidates are lost: its vdisk is deleted, its references are garbage */
		return 0;
	jr_block_put(key, b->vdisk, b->block);
	return r->fn(r->fnarg, key, JR_BLOCK_LEN, b, sizeof(*b));
}

int job_select_read_blocks(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
{
	struct srd r = { arg, fn, fnarg, NULL };
	struct job_select *s = r.c->sel;
	struct st_msg err = { "" };
	int rc = 0;

	for (int i = 0; !rc && i < s->ndeleted; i++)
		rc = st_meta_vdisk_blocks_shard(r.c->m, split, s->deleted[i], rd_block, &r, &err);
	if (rc && err.text[0])
		snprintf(why, whylen, "%s", err.text);
	return rc;
}

static int rd_extent(void *arg, int rc_row, const struct st_extent_id *id, uint64_t egroup)
{
	struct srd *r = arg;
	int rc = job_scan_poll(r->c, 1);

	if (rc)
		return rc;
	if (r->trim && !rc_row) { /* a trimmed vdisk's extent: only one homed in a punched block is a candidate */
		uint64_t home;
		if (st_extent_id_home(id, &home) || home < r->trim->lo || home > r->trim->hi)
			return 0;
		r->c->c[JC_SEL_TRIMMED]++;
	}
	if (rc_row) { /* as in the full scan: where that extent lives is unknown, nothing is collected */
		r->c->c[JC_CORRUPT_ROWS]++;
		job_scan_finding(r->c, "corrupt_extent_id_row", 0, NULL, "an extent-ID row fails its checksum");
		return 0;
	}
	r->c->c[JC_EXTENT_IDS]++;
	return r->fn(r->fnarg, id->b, ST_EXTENT_ID_LEN, &egroup, sizeof(egroup));
}

int job_select_read_owned(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
{
	struct srd r = { arg, fn, fnarg, NULL };
	struct job_select *s = r.c->sel;
	struct st_msg err = { "" };
	int rc = 0;

	for (int i = 0; !rc && i < s->ndeleted; i++) {
		struct st_extent_id lo, hi;
		for (int k = 0; k < 8; k++)
			lo.b[k] = hi.b[k] = (uint8_t)(s->deleted[i] >> (56 - 8 * k));
		memset(lo.b + 8, 0, ST_EXTENT_ID_LEN - 8);
		memset(hi.b + 8, 0xff, ST_EXTENT_ID_LEN - 8);
		rc = st_meta_extents_range_shard(r.c->m, split, &lo, &hi, rd_extent, &r, &err);
	}
	for (int i = 0; !rc && i < r.c->o->ntrims; i++) {
		const struct st_trim *t = &r.c->o->trims[i];
		struct st_extent_id lo, hi;
		int v = index_of(s, t->vdisk);
		if (v < 0 || s->vds[v].state == ST_VDISK_DELETED)
			continue; /* gone from config.db, or deleted: read above as a deleted vdisk's */
		for (int k = 0; k < 8; k++)
			lo.b[k] = hi.b[k] = (uint8_t)(t->vdisk >> (56 - 8 * k));
		memset(lo.b + 8, 0, ST_EXTENT_ID_LEN - 8);
		memset(hi.b + 8, 0xff, ST_EXTENT_ID_LEN - 8);
		r.trim = t;
		rc = st_meta_extents_range_shard(r.c->m, split, &lo, &hi, rd_extent, &r, &err);
		r.trim = NULL;
	}
	if (rc && err.text[0])
		snprintf(why, whylen, "%s", err.text);
	return rc;
}

static int rd_on_disk(void *arg, uint64_t egroup)
{
	struct srd *r = arg;
	uint8_t tag = JR_SEL_FROM_DISK;
	int rc = job_scan_poll(r->c, 1);

	if (rc)
		return rc;
	r->c->c[JC_SEL_ON_FAILED]++;
	return r->fn(r->fnarg, &egroup, JR_SEL_KEY_LEN, &tag, JR_SEL_LEN);
}

/* The egroups of shard `split` with a replica on one of the scan's failed disks, from the replica index. */
int job_select_read_disks(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
{
	struct srd r = { arg, fn, fnarg, NULL };
	struct st_msg err = { "" };
	int rc = 0;

	for (int i = 0; !rc && i < r.c->o->ndisks; i++)
		rc = st_meta_egroups_on_disk(r.c->m, split, r.c->o->disks[i], rd_on_disk, &r, &err);
	if (rc && err.text[0])
		snprintf(why, whylen, "%s", err.text);
	return rc;
}

/* --- map and reduce ----------------------------------------------------- */

int job_select_map_disks(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
			 struct mr_emitter *em)
{
	(void)arg;
	return mr_emit(em, key, klen, val, vlen);
}

static int emit_egroup(struct mr_emitter *em, uint64_t egroup, uint8_t tag)
{
	return mr_emit(em, &egroup, JR_SEL_KEY_LEN, &tag, JR_SEL_LEN);
}

int job_select_map_blocks(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
			  struct mr_emitter *em)
{
	struct scan_ctx *c = arg;
	const struct st_block *b = val;
	uint64_t last = 0;
	int rc = 0;

	(void)key;
	(void)klen;
	(void)vlen;
	for (int i = 0; i < b->n && !rc; i++) {
		uint64_t eg;
		if (st_extent_id_is_dedup(&b->r[i].extent))
			continue; /* a dedup extent's egroup is the full scan's (its references are anywhere) */
		if (st_meta_extent_get(c->m, &b->r[i].extent, &eg, NULL))
			continue; /* gone, or unreadable: nothing reached through it */
		if (eg != last)
			rc = emit_egroup(em, eg, JR_SEL_FROM_BLOCK);
		last = eg;
	}
	return rc;
}

int job_select_map_owned(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
			 struct mr_emitter *em)
{
	uint64_t eg;

	(void)arg;
	(void)key;
	(void)klen;
	if (vlen != sizeof(eg))
		return MR_EINPUT;
	memcpy(&eg, val, sizeof(eg));
	return emit_egroup(em, eg, JR_SEL_FROM_OWNER);
}

int job_select_reduce(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
		      struct mr_emitter *em)
{
	struct scan_ctx *c = arg;
	struct st_egroup_rec g;
	uint64_t id;
	int rc, dead = 1, from_gc = 0, from_disk = 0;

	(void)em;
	if (klen != JR_SEL_KEY_LEN)
		return MR_EINPUT;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = vals[i].p;
		if (vals[i].len != JR_SEL_LEN)
			return MR_EINPUT;
		from_disk |= v[0] == JR_SEL_FROM_DISK;
		from_gc |= v[0] != JR_SEL_FROM_DISK;
	}
	memcpy(&id, key, sizeof(id));
	rc = job_scan_poll(c, 1);
	if (rc)
		return rc;
	st_egroup_rec_init(&g);
	rc = st_meta_egroup_get(c->m, id, &g, NULL);
	if (rc == ST_ENOTFOUND) {
		st_egroup_rec_release(&g);
		return 0; /* already gone */
	}
	if (rc) {
		st_egroup_rec_release(&g);
		if (rc != ST_ECORRUPT)
			return rc;
		c->c[JC_CORRUPT_ROWS]++;
		job_scan_finding(c, "corrupt_egroup_row", id, NULL, "egroup %" PRIx64 ": the row fails its checksum; left alone",
				 id);
		return 0;
	}
	c->c[JC_EGROUPS]++;
	c->c[JC_EXTENTS] += g.nextents;
	c->c[JC_STORED_BYTES] += g.used;
	if (from_disk) { /* a copy on a failed disk: what a partial scan would queue for its protection */
		c->task_node = job_scan_egroup_node(c, &g);
		job_policy_protection(c, &g, 0, NULL, NULL, 0);
		c->task_node = 0;
	}
	if (!from_gc) { /* only an egroup reached from a deleted vdisk is looked at for collection */
		st_egroup_rec_release(&g);
		return c->oom ? -ENOMEM : 0;
	}
	if (g.flags & (ST_EGROUP_EC | ST_EGROUP_PARITY | ST_EGROUP_MOVING))
		dead = 0; /* strips stay decodable; a compaction owns a MOVING egroup */
	for (int k = 0; k < g.nextents && dead; k++)
		dead = proven_dead(c, &g.extents[k]);
	if (!dead) {
		c->c[JC_SEL_KEPT]++;
	} else if (g.last_ref_seq >= c->s0) {
		c->c[JC_PROTECTED]++;
	} else {
		c->c[JC_DEAD_EGROUPS]++;
		c->c[JC_DEAD_EXTENTS] += g.nextents;
		c->c[JC_DEAD_BYTES] += g.used;
		job_scan_task(c, JT_EGROUP_DELETE, g.id, g.version, (int64_t)g.used * g.nreplicas, NULL, 0);
	}
	st_egroup_rec_release(&g);
	return c->oom ? -ENOMEM : 0;
}
