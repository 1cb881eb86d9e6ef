/* cu_explain: see cu_explain.h. */
#include "curator/cu_explain.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/job_db_report.h"

struct last_scan {
	int64_t id;
	uint64_t s0;
	double ended;
};

static void last_full(struct job_db *db, struct last_scan *l)
{
	struct job_scan_row s;

	memset(l, 0, sizeof(*l));
	if (job_db_scan_last_done(db, "full", &l->id, NULL) || !l->id || job_db_scan_get(db, l->id, &s, NULL)) {
		l->id = 0;
		return;
	}
	l->s0 = (uint64_t)s.s0;
	l->ended = s.ended;
}

struct task_print {
	FILE *out;
	int n;
	int kind; /* only tasks of this kind (-1: all) */
};

static int print_task(void *arg, const struct job_task *t, const char *error)
{
	struct task_print *p = arg;

	if (p->kind >= 0 && (int)t->kind != p->kind)
		return 0;
	fprintf(p->out, "  task %" PRId64 " of scan %" PRId64 ": %s, %s%s%s\n", t->id, t->scan, job_task_kind_name(t->kind),
		job_task_state_name(t->state), *error ? ": " : "", error);
	p->n++;
	return 0;
}

/* Tasks about a target, or (blob non-NULL) whose argument names an extent. */
static int tasks_about(struct job_db *db, uint64_t target, const void *blob, FILE *out)
{
	struct task_print p = { out, 0, -1 };

	job_db_tasks_about(db, target, blob, ST_EXTENT_ID_LEN, print_task, &p, NULL);
	return p.n;
}

/* Tasks naming extent id (in their argument), and the egroup_delete of its egroup (which names none). */
static int tasks_about_extent(struct job_db *db, const uint8_t *id, uint64_t egroup, FILE *out)
{
	struct task_print p = { out, 0, JT_EGROUP_DELETE };
	int n = tasks_about(db, 0, id, out);

	if (egroup)
		job_db_tasks_about(db, egroup, NULL, 0, print_task, &p, NULL);
	return n + p.n;
}

struct refcount_acc {
	struct st_extent_id id;
	uint64_t rows;
	uint64_t vdisks[8];
	int nv;
};

static int count_refs(void *arg, int rc_row, const struct st_block *b)
{
	struct refcount_acc *a = arg;

	if (rc_row)
		return 0;
	for (int i = 0; i < b->n; i++) {
		if (memcmp(b->r[i].extent.b, a->id.b, ST_EXTENT_ID_LEN))
			continue;
		a->rows++;
		int seen = 0;
		for (int k = 0; k < a->nv; k++)
			seen |= a->vdisks[k] == b->vdisk;
		if (!seen && a->nv < 8)
			a->vdisks[a->nv++] = b->vdisk;
		break;
	}
	return 0;
}

static void vdisk_names(struct st_store *st, const struct refcount_acc *a, FILE *out)
{
	for (int k = 0; k < a->nv; k++) {
		struct st_vdisk v;
		if (st_config_vdisk_by_id(st_store_config(st), a->vdisks[k], &v, NULL) == 0)
			fprintf(out, "%s%s%s", k ? ", " : "", v.name, v.state == ST_VDISK_DELETED ? " (deleted)" : "");
		else
			fprintf(out, "%s%" PRIx64 " (unknown)", k ? ", " : "", a->vdisks[k]);
	}
}

static void safety(const struct st_egroup_rec *g, const struct last_scan *l, FILE *out)
{
	if (!l->id)
		fprintf(out, "  no full scan has run yet\n");
	else if (g->last_ref_seq >= l->s0)
		fprintf(out, "  changed after scan %" PRId64 " started (last_ref_seq %" PRIu64 " >= S0 %" PRIu64
			"): the safety rule left it for the next scan\n",
			l->id, g->last_ref_seq, l->s0);
	else
		fprintf(out, "  unchanged since before scan %" PRId64 " started (last_ref_seq %" PRIu64 " < S0 %" PRIu64 ")\n", l->id,
			g->last_ref_seq, l->s0);
}

static int explain_extent(struct st_store *st, struct job_db *db, const char *ids, FILE *out, struct st_msg *err)
{
	struct refcount_acc a = { 0 };
	struct st_egroup_rec g;
	struct last_scan l;
	uint64_t egroup;
	int rc, k = -1;

	if (st_extent_id_parse(ids, &a.id))
		return st_fail(err, ST_EINVAL, "extent '%s': not an extent id (VDISK-UNIQUE in hex, or sha1:HEX:LEN)", ids);
	last_full(db, &l);
	st_egroup_rec_init(&g);
	fprintf(out, "extent %s\n", ids);
	rc = st_meta_extent_get(st_store_meta(st), &a.id, &egroup, NULL);
	if (rc == ST_ENOTFOUND) {
		fprintf(out, "  not in the extent ID map: it does not exist, or the curator collected it\n");
		if (!tasks_about(db, 0, a.id.b, out))
			fprintf(out, "  no task ever named it\n");
		return 0;
	}
	if (st_meta_egroup_get(st_store_meta(st), egroup, &g, NULL) == 0)
		k = st_egroup_rec_find(&g, &a.id);
	fprintf(out, "  in egroup %" PRIx64 "%s\n", egroup, k < 0 ? " (which does not hold it: an orphan extent-ID row)" : "");
	for (int s = 0; s < st_meta_nshards(st_store_meta(st)); s++)
		st_meta_scan_blocks(st_store_meta(st), s, count_refs, &a, NULL);
	if (k >= 0)
		fprintf(out, "  recorded refcount %u, %u bytes stored\n", g.extents[k].refcount, g.extents[k].stored_len);
	int live_refs = 0;
	for (int v = 0; v < a.nv; v++) {
		struct st_vdisk vd;
		if (st_config_vdisk_by_id(st_store_config(st), a.vdisks[v], &vd, NULL) || vd.state != ST_VDISK_DELETED)
			live_refs = 1;
	}
	if (a.rows) {
		fprintf(out, "  referenced by %" PRIu64 " block row(s) in %d vdisk(s): ", a.rows, a.nv);
		vdisk_names(st, &a, out);
		if (live_refs) {
			fprintf(out, "\n  live: the curator leaves it alone\n");
		} else {
			fprintf(out, "\n  only deleted vdisks reference it: garbage once their rows go (blocks_delete)\n");
			if (k >= 0)
				safety(&g, &l, out);
		}
	} else {
		fprintf(out, "  referenced by no block row: garbage\n");
		if (k >= 0)
			safety(&g, &l, out);
	}
	if (!tasks_about_extent(db, a.id.b, k >= 0 ? egroup : 0, out) && !live_refs)
		fprintf(out, "  no task yet: the next full scan queues its collection\n");
	st_egroup_rec_release(&g);
	return 0;
}

static int explain_egroup(struct st_store *st, struct job_db *db, const char *ids, FILE *out, struct st_msg *err)
{
	struct st_egroup_rec g;
	struct last_scan l;
	char *end;
	uint64_t id = strtoull(ids, &end, 16);
	int rc;

	if (*end || !*ids)
		return st_fail(err, ST_EINVAL, "egroup '%s': not an egroup id (hex)", ids);
	last_full(db, &l);
	st_egroup_rec_init(&g);
	fprintf(out, "egroup %" PRIx64 "\n", id);
	rc = st_meta_egroup_get(st_store_meta(st), id, &g, NULL);
	if (rc == ST_ENOTFOUND) {
		fprintf(out, "  not in the egroup map: it does not exist, or the curator deleted it\n");
		tasks_about(db, id, NULL, out);
		return 0;
	}
	if (rc == ST_ECORRUPT) {
		fprintf(out, "  its metadata row is corrupt: scans report it and leave it (and its files) alone\n");
		return 0;
	}
	{
		uint32_t live = 0, zero = 0;
		for (int k = 0; k < g.nextents; k++)
			*(g.extents[k].refcount ? &live : &zero) += 1;
		fprintf(out, "  version %" PRIu64 ", %d extent(s) (%u with recorded refcount 0), %u bytes used, tier %s%s\n", g.version,
			g.nextents, zero, g.used, st_tier_name(g.tier),
			g.flags & ST_EGROUP_MOVING ? ", MOVING (a compaction is under way or will be rolled forward)" : "");
		fprintf(out, "  replicas:");
		for (int r = 0; r < g.nreplicas; r++) {
			struct st_disk d;
			int ok = st_config_disk_get(st_store_config(st), g.replicas[r].disk, &d, NULL) == 0 && d.ok;
			fprintf(out, " disk %u%s", g.replicas[r].disk, ok ? "" : " (failed)");
		}
		fprintf(out, "\n");
	}
	safety(&g, &l, out);
	if (!tasks_about(db, id, NULL, out))
		fprintf(out, "  no task: the last scan found nothing to do for it\n");
	st_egroup_rec_release(&g);
	return 0;
}

struct first_blocks {
	FILE *out;
	int shown;
};

static int show_block(void *arg, int rc_row, const struct st_block *b)
{
	struct first_blocks *f = arg;
	char x[80];

	if (rc_row || f->shown >= 8)
		return 0;
	for (int i = 0; i < b->n && f->shown < 8; i++, f->shown++)
		fprintf(f->out, "  block %" PRIu64 " +%u..%u: extent %s\n", b->block, b->r[i].block_off,
			b->r[i].block_off + b->r[i].len, st_extent_id_fmt(&b->r[i].extent, x, sizeof(x)));
	return 0;
}

static int explain_vdisk(struct st_store *st, struct job_db *db, const char *ids, FILE *out, struct st_msg *err)
{
	struct st_vdisk v;
	uint64_t bytes = 0, blocks = 0;
	int rc = st_config_vdisk_get(st_store_config(st), ids, &v, NULL);

	if (rc) {
		char *end;
		uint64_t id = strtoull(ids, &end, 16);
		if (*end || st_config_vdisk_by_id(st_store_config(st), id, &v, NULL)) {
			fprintf(out, "vdisk %s\n  not in config.db: it never existed, or it was deleted and its metadata removed\n", ids);
			if (!*end)
				tasks_about(db, id, NULL, out);
			return 0;
		}
	}
	st_vdisk_mapped(st, &v, &bytes, &blocks, NULL);
	fprintf(out, "vdisk %s (id %" PRIx64 ")\n  %s, %" PRIu64 " block rows mapping %" PRIu64 " bytes\n", v.name, v.id,
		v.state == ST_VDISK_DELETED ? "deleted" : v.readonly ? "snapshot (read-only)" : "live", blocks, bytes);
	{
		struct first_blocks f = { out, 0 };
		st_meta_vdisk_blocks(st_store_meta(st), v.id, show_block, &f, NULL);
	}
	if (v.state == ST_VDISK_DELETED)
		fprintf(out, "  deleted: its block rows go with a blocks_delete task, then the extents only it referenced become garbage\n");
	else
		fprintf(out, "  its extents are referenced: no task removes them while it lives\n");
	if (!tasks_about(db, v.id, NULL, out) && v.state == ST_VDISK_DELETED)
		fprintf(out, "  no task yet: the next full scan queues one\n");
	(void)err;
	return 0;
}

int cu_explain(struct st_store *st, const char *what, const char *id, FILE *out, struct st_msg *err)
{
	struct job_db *db;
	int rc = job_db_open(st_config_dir(st_store_config(st)), &db, err);

	if (rc)
		return rc;
	if (!strcmp(what, "extent"))
		rc = explain_extent(st, db, id, out, err);
	else if (!strcmp(what, "egroup"))
		rc = explain_egroup(st, db, id, out, err);
	else if (!strcmp(what, "vdisk"))
		rc = explain_vdisk(st, db, id, out, err);
	else
		rc = st_fail(err, ST_EINVAL, "explain: expected vdisk, egroup or extent, not '%s'", what);
	job_db_close(db);
	return rc;
}
