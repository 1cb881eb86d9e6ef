/*
 * job_compact: egroup_compact, the compaction of an egroup whose garbage
 * (dead extents, and the bytes of live extents no block row shows: pieces
 * overwritten since, DESIGN.md §6 "Garbage inside extents") passed the
 * scan's threshold.
 *
 * DESIGN. Each extent of the egroup meets one fate:
 *   dead   named by the task (the scan found it unreferenced), witnessed
 *          again here by point lookups before anything moves: it goes;
 *   move   live and shown whole (or a dedup extent, which may be
 *          referenced from anywhere, or one whose rows cannot all be read,
 *          or cut into more than JR_RANGES_MAX pieces): copied as stored
 *          into the new egroup under its own id, its extent-ID row
 *          repointed there by compare-and-set;
 *   cut    live, but its block rows show only some of its bytes: the bytes
 *          they show (their ranges coalesced) become a NEW extent (same
 *          owner and home block, a fresh unique id) in the new egroup,
 *          with a recorded refcount of the rows that show it, and those
 *          rows are repointed at it one by one;
 *   stay   no block row shows it any more (the rows changed since the
 *          scan): left where it is for the next scan to judge.
 * New extents rather than a range map on the old ids: no format changes,
 * a read path that stays as it is, and every step a kind of change the
 * system already makes (a new extent, rows repointed like dedup's).
 *
 * Order (bottom-up, the MOVING protocol of job_gc.c): 1. freeze the row
 * (MOVING by CAS on the scan's version: no appends, no increments);
 * 2. data first: the moved and cut extents into one new egroup, stamped
 * with a fresh operation's sequence (the safety rule), durable; 3. the
 * extent-ID rows: moved ones repointed (CAS), cut ones inserted; 4. each
 * row that showed a cut extent, in a shard transaction that re-reads it:
 * every region naming the old extent must lie inside the copied ranges
 * (else the row changed meanwhile: it is left alone, and the old extent
 * with it) and is pointed at the new extent's bytes; 5. with nothing cut
 * or staying, the old egroup is retired as before (job_gc_retire); else
 * its row is rewritten by CAS on the frozen version to hold just the cut
 * and staying extents, no longer MOVING. THE OLD BYTES ARE NEVER DELETED
 * HERE: an extent that was cut leaves with the usual path (a later full
 * scan finds it unreferenced with last_ref_seq < S0, then egroup_delete's
 * or extent_delete's own witness), so a row this task missed (a snapshot
 * taken meanwhile, a vdisk config.db does not know) still reads its bytes.
 *
 * NEEDSWORK: so an egroup that was cut is on disk twice until the next full
 * scan (up to its period, 6 h by default): the old copy's space comes back
 * a cycle late. An event answered by a selective scan over the old
 * egroups (their extents' home blocks, as job_select.c proves deaths)
 * would bring it back within seconds.
 *
 * Idempotent, crash-safe: killed after 2 the new egroup is unreferenced
 * (collected); after 3 the new extents' refcounts are above their truth
 * (lowered, then collected); during 4 some rows show the new extent and
 * some the old, both whole; a frozen row found again is rolled forward by
 * the retry (job_task_load_frozen) or the next scan, which cuts what
 * rows still show of the old extents.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/job_tasks_int.h"

enum fate { F_DEAD = 1, F_MOVE, F_CUT, F_STAY, F_GONE /* lives in another egroup already (an earlier attempt) */ };

/* A cut extent: what of it the rows show, and the rows. */
struct cut {
	int k;                      /* index in the old row's extents */
	struct jr_range *rg;        /* the ranges shown, coalesced */
	uint32_t (*pr)[2];          /* the same as st_rewrite_part wants them */
	uint32_t *base;             /* per range: its offset in the new extent */
	size_t nrg;
	uint64_t (*rows)[2];        /* (vdisk, block) of each row that shows it */
	size_t nrows, caprows;
	struct st_extent_id nid;    /* the new extent */
};

static void cut_release(struct cut *ct)
{
	free(ct->rg);
	free(ct->pr);
	free(ct->base);
	free(ct->rows);
	memset(ct, 0, sizeof(*ct));
}

/*
 * The fate of live extent x (not dead, not moved yet): the rows of every
 * live vdisk that may reference it (job_witness_set), read at its home
 * block, give the ranges they show. F_CUT fills ct; F_MOVE, F_STAY, or
 * -ENOMEM. b is scratch.
 */
static int plan_extent(struct st_store *st, struct job_witness *w, const struct st_extent_rec *x, struct st_block *b,
		       struct cut *ct)
{
	struct st_meta *m = st_store_meta(st);
	uint64_t owner = st_extent_id_vdisk(&x->id), home, total;
	size_t nr = 0, cap = 0;
	int n, fate = F_CUT;

	if (st_extent_id_is_dedup(&x->id) || st_extent_id_home(&x->id, &home) || !owner)
		return F_MOVE;
	n = job_witness_set(w, owner);
	for (int s = 0; s < n && fate == F_CUT; s++) {
		int rc, named = 0;
		if (!job_witness_live(w, w->set[s]))
			continue; /* a deleted vdisk's rows are not references */
		rc = st_meta_block_get(m, w->set[s], home, b, NULL);
		if (rc == ST_ENOTFOUND)
			continue;
		if (rc) {
			fate = F_MOVE; /* cannot tell what it shows: whole */
			break;
		}
		for (int i = 0; i < b->n && fate == F_CUT; i++) {
			const struct st_region *r = &b->r[i];
			if (memcmp(r->extent.b, x->id.b, ST_EXTENT_ID_LEN))
				continue;
			if ((uint64_t)r->extent_off + r->len > x->raw_len) {
				fate = F_MOVE; /* a region past its extent: fsck's to report, never cut */
			} else if (st_grow(&ct->rg, &cap, nr, sizeof(*ct->rg))) {
				fate = -ENOMEM;
			} else {
				ct->rg[nr].off = r->extent_off;
				ct->rg[nr++].end = r->extent_off + r->len;
				named = 1;
			}
		}
		if (named && fate == F_CUT) {
			if (st_grow(&ct->rows, &ct->caprows, ct->nrows, sizeof(*ct->rows)))
				fate = -ENOMEM;
			else {
				ct->rows[ct->nrows][0] = w->set[s];
				ct->rows[ct->nrows++][1] = home;
			}
		}
	}
	if (fate != F_CUT)
		return fate;
	ct->nrg = jr_ranges_coalesce(ct->rg, nr, &total);
	if (!nr)
		return F_STAY;
	if (ct->nrg > JR_RANGES_MAX || total >= x->raw_len)
		return F_MOVE;
	ct->pr = calloc(ct->nrg, sizeof(*ct->pr));
	ct->base = calloc(ct->nrg, sizeof(*ct->base));
	if (!ct->pr || !ct->base)
		return -ENOMEM;
	for (size_t r = 0, at = 0; r < ct->nrg; r++) {
		ct->pr[r][0] = ct->rg[r].off;
		ct->pr[r][1] = ct->rg[r].end;
		ct->base[r] = (uint32_t)at;
		at += ct->rg[r].end - ct->rg[r].off;
	}
	return F_CUT;
}

/*
 * Point every region of row (vdisk, block) that shows old extent x at cut
 * ct's new extent, in one shard transaction that re-reads the row. A row
 * gone, or one with a region of x outside the copied ranges (it changed
 * since the plan), is left alone. 1 repointed, 0 left alone, or an error.
 */
static int repoint(struct st_store *st, const struct st_extent_id *x, const struct cut *ct, uint64_t vdisk,
		   uint64_t block, struct st_block *b, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	int shard = st_meta_shard_block(m, vdisk, block), rc, ok = 1, any = 0;
	struct st_msg e = { "" };

	rc = st_meta_begin(m, shard, err);
	if (rc)
		return rc;
	rc = st_meta_block_get(m, vdisk, block, b, &e);
	if (rc && rc != ST_ENOTFOUND)
		st_fail(err, rc, "%s", e.text);
	for (int i = 0; !rc && ok && i < b->n; i++) {
		struct st_region *r = &b->r[i];
		size_t k = 0;
		if (memcmp(r->extent.b, x->b, ST_EXTENT_ID_LEN))
			continue;
		while (k < ct->nrg && ct->rg[k].end <= r->extent_off)
			k++;
		ok = k < ct->nrg && ct->rg[k].off <= r->extent_off && (uint64_t)r->extent_off + r->len <= ct->rg[k].end;
		if (ok) {
			r->extent = ct->nid;
			r->extent_off = ct->base[k] + (r->extent_off - ct->rg[k].off);
			any = 1;
		}
	}
	if (rc == ST_ENOTFOUND)
		rc = 0, ok = 0;
	if (!rc && ok && any)
		rc = st_meta_block_put(m, b, err);
	if (!rc && ok && any) {
		rc = st_meta_commit(m, shard, err);
		return rc ? rc : 1;
	}
	st_meta_rollback(m, shard);
	return rc;
}

/*
 * The old row after a compaction that cut or left extents in it: the dead
 * extents' extent-ID rows go, then the row, by CAS on its frozen version,
 * keeps just the extents of fates F_CUT and F_STAY and is no longer
 * MOVING. Its bytes stay until a later scan finds them unreferenced.
 */
static int shrink_old(struct st_store *st, struct st_egroup_rec *g, const int *fate, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	int rc = 0, w = 0;

	for (int k = 0; !rc && k < g->nextents; k++)
		if (fate[k] == F_DEAD)
			rc = st_meta_extent_delete(m, &g->extents[k].id, g->id, err);
	st_fault_step();
	if (rc)
		return rc;
	for (int k = 0; k < g->nextents; k++)
		if (fate[k] == F_CUT || fate[k] == F_STAY)
			g->extents[w++] = g->extents[k];
	g->nextents = w;
	g->flags &= ~(uint32_t)ST_EGROUP_MOVING;
	return st_meta_egroup_put(m, g, g->version, err);
}

/* The fates of g's extents (fate[], cuts[] with their new ids). 0, -ENOMEM or an error. */
static int plan(struct st_store *st, const struct job_task *t, const struct st_egroup_rec *g, int *fate,
		struct cut *cuts, int *ncut, struct st_msg *err)
{
	struct job_witness w;
	struct st_block *b = malloc(sizeof(*b));
	int rc = b ? job_witness_open(st, &w, err) : st_fail(err, -ENOMEM, "out of memory");

	for (int k = 0; !rc && k < g->nextents; k++) {
		const struct st_extent_rec *x = &g->extents[k];
		if (job_arg_pairs_hold(t, &x->id))
			fate[k] = F_DEAD;
		else if (job_gc_lives_elsewhere(st, &x->id, g->id))
			fate[k] = F_GONE; /* an earlier attempt (killed after step 3) moved it */
		else
			fate[k] = plan_extent(st, &w, x, b, &cuts[*ncut]);
		if (fate[k] < 0) {
			rc = st_fail(err, -ENOMEM, "out of memory");
		} else if (fate[k] == F_CUT) {
			uint64_t unique, home;
			cuts[*ncut].k = k;
			st_extent_id_home(&x->id, &home);
			rc = st_store_new_id(st, &unique, err);
			st_extent_id_make(&cuts[*ncut].nid, st_extent_id_vdisk(&x->id), unique, home);
			(*ncut)++;
		} else {
			cut_release(&cuts[*ncut]);
		}
	}
	if (b)
		job_witness_close(&w);
	free(b);
	return rc;
}

/* egroup_compact: see DESIGN above. */
static int apply_compact(struct st_store *st, const struct job_task *t, const struct job_task_env *env,
			 int64_t *bytes, struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct st_config *cfg = st_store_config(st);
	struct st_egroup_rec g, n;
	struct st_rewrite_part *parts = NULL;
	struct cut *cuts = NULL;
	struct st_block *b = malloc(sizeof(*b));
	int *keep = NULL, *fate = NULL, nkeep = 0, ncut = 0, nstay = 0, rc, began = 0, codec = -1;
	uint64_t seq = 0, other;
	int64_t op = 0;
	size_t ncap = 0, nrows = 0, nleft = 0;

	st_egroup_rec_init(&g);
	st_egroup_rec_init(&n);
	rc = b ? job_task_load_frozen(st, t, &g, err) : st_fail(err, -ENOMEM, "out of memory");
	if (!rc) /* the extents it drops: witnessed before anything moves */
		rc = job_gc_witness_all(st, &g, t, err);
	if (rc)
		goto out;
	/* 1. freeze: no appends, no increments from here on */
	if (!(g.flags & ST_EGROUP_MOVING)) {
		g.flags |= ST_EGROUP_MOVING;
		rc = st_meta_egroup_put(m, &g, g.version, err);
		if (rc)
			goto out;
		st_fault_step();
	}
	ncap = (size_t)g.nextents + 1;
	keep = calloc((size_t)g.nextents + 1, sizeof(*keep));
	fate = calloc((size_t)g.nextents + 1, sizeof(*fate));
	cuts = calloc((size_t)g.nextents + 1, sizeof(*cuts));
	parts = calloc((size_t)g.nextents + 1, sizeof(*parts));
	if (!keep || !fate || !cuts || !parts) {
		rc = st_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = plan(st, t, &g, fate, cuts, &ncut, err);
	for (int k = 0; k < g.nextents; k++) {
		if (fate[k] == F_MOVE)
			keep[nkeep++] = k;
		nstay += fate[k] == F_STAY;
	}
	for (int c = 0; c < ncut; c++)
		parts[c] = (struct st_rewrite_part){ cuts[c].k, cuts[c].nid, (uint32_t)cuts[c].nrows, (int)cuts[c].nrg,
						     (const uint32_t(*)[2])cuts[c].pr };
	if (!rc && ncut && (g.flags & ST_EGROUP_COMPRESSED)) { /* the cut bytes compressed like the rest */
		struct st_container ct;
		rc = st_config_container_by_id(cfg, g.container, &ct, err);
		codec = rc ? -1 : (int)ct.codec;
	}
	if (rc)
		goto out;
	/* 2. data first: the live bytes into a new egroup, stamped by a new operation */
	if (nkeep || ncut) {
		rc = st_store_op_begin(st, "egroup compact", &seq, &op, err);
		if (rc)
			goto out;
		began = 1;
		rc = st_store_egroup_rewrite_parts(st, &g, keep, nkeep, parts, ncut, seq, codec, &n, err);
		if (rc)
			goto out;
		st_fault_step();
		/* 3. extent-ID rows: the moved ones to the new egroup (CAS), the cut ones new */
		for (int k = 0; k < nkeep && !rc; k++)
			rc = st_meta_extent_cas(m, &n.extents[k].id, g.id, n.id, NULL, err);
		for (int c = 0; c < ncut && !rc; c++)
			rc = st_meta_extent_insert(m, &cuts[c].nid, n.id, &other, err);
		if (rc)
			goto out;
		job_gc_copy_fingerprints(m, &g, &n);
		st_fault_step();
	}
	/* 4. the rows that show a cut extent, each at its new bytes */
	for (int c = 0; c < ncut && !rc; c++)
		for (size_t r = 0; r < cuts[c].nrows && !rc; r++) {
			rc = repoint(st, &g.extents[cuts[c].k].id, &cuts[c], cuts[c].rows[r][0], cuts[c].rows[r][1], b, err);
			nrows += rc == 1;
			nleft += rc == 0; /* (a row left alone keeps the old extent: fine) */
			rc = rc > 0 ? 0 : rc;
		}
	if (rc)
		goto out;
	st_fault_step();
	/* 5. the old row: retired when nothing is left in it, else just the cut and staying extents */
	if (ncut || nstay) {
		rc = shrink_old(st, &g, fate, err);
		if (!rc) /* nothing freed yet (the cut bytes go with a later scan): bytes moved */
			*bytes = -(int64_t)n.used * n.nreplicas;
		if (!rc && ncut)
			st_fail(err, 0, "cut %d extent(s) to the bytes rows show; %zu row(s) repointed, %zu left alone", ncut,
				nrows, nleft);
	} else {
		rc = job_gc_retire(st, &g, bytes, err);
		if (!rc)
			*bytes -= (int64_t)n.used * n.nreplicas;
	}
out:
	if (began)
		st_config_op_end(cfg, op, NULL);
	for (size_t c = 0; cuts && c < ncap; c++)
		cut_release(&cuts[c]);
	free(cuts);
	free(parts);
	free(keep);
	free(fate);
	free(b);
	st_egroup_rec_release(&g);
	st_egroup_rec_release(&n);
	return rc;
}

const struct job_task_ops job_kind_egroup_compact = { .name = "egroup_compact", .priority = 35, .apply = apply_compact,
						       .refuses = ST_EGROUP_EC | ST_EGROUP_PARITY };
