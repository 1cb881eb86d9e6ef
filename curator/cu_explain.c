/* cu_explain: see cu_explain.h. */
#include "curator/cu_explain.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/job_db_report.h"
#include "storage/st_egroup.h"

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

/* Counts tasks (p->out unused). */
static int count_task(void *arg, const struct job_task *t, const char *error)
{
	struct task_print *p = arg;

	(void)t;
	(void)error;
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
	rc = st_meta_extent_get(st_store_meta(st), &a.id, &egroup, NULL);
	if (rc == ST_ENOTFOUND) {
		/* collected: its history is the tasks that named it; no trace at all: an unknown extent */
		struct task_print p = { NULL, 0, -1 };
		job_db_tasks_about(db, 0, a.id.b, ST_EXTENT_ID_LEN, count_task, &p, NULL);
		if (!p.n)
			return st_fail(err, ST_ENOTFOUND, "extent %s: no such extent (not in the extent ID map, named by no task)",
				       ids);
		fprintf(out, "extent %s\n  not in the extent ID map: the curator collected it\n", ids);
		tasks_about(db, 0, a.id.b, out);
		return 0;
	}
	if (rc)
		return st_fail(err, rc, "extent %s: its extent-ID row cannot be read", ids);
	fprintf(out, "extent %s\n", ids);
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

/* The findings of the last scan about one egroup, and whether one says it has no copy to repair from. */
struct egroup_findings {
	FILE *out;
	int n, lost;
};

static int print_finding(void *arg, const struct job_finding *f)
{
	struct egroup_findings *p = arg;

	fprintf(p->out, "  finding %s: %s\n", f->kind, f->detail);
	p->n++;
	p->lost |= !strcmp(f->kind, "no_healthy_replica");
	return 0;
}

/* Replicas, healthy copies against the container's RF (or the strip it belongs to). Returns the healthy copies. */
static int protection(struct st_store *st, const struct st_egroup_rec *g, const struct st_container *ct, FILE *out)
{
	struct st_config *cfg = st_store_config(st);
	int healthy = 0;

	fprintf(out, "  replicas:");
	for (int r = 0; r < g->nreplicas; r++) {
		struct st_disk d;
		struct st_node *nodes = NULL;
		int nn = 0, up = 0, known = st_config_disk_get(cfg, g->replicas[r].disk, &d, NULL) == 0;
		if (known && st_config_nodes(cfg, &nodes, &nn, NULL) == 0)
			for (int i = 0; i < nn; i++)
				up |= nodes[i].id == d.node && nodes[i].up;
		free(nodes);
		fprintf(out, " disk %u%s", g->replicas[r].disk,
			!known ? " (unknown)" : !d.ok ? " (failed)" : !up ? " (node down)" : d.draining ? " (draining)" : "");
		healthy += known && d.ok && up;
	}
	if (g->flags & ST_EGROUP_CLOUD)
		fprintf(out, " the cloud tier");
	fprintf(out, "\n");
	if (g->flags & (ST_EGROUP_EC | ST_EGROUP_PARITY))
		fprintf(out, "  protection: %s %u of strip %" PRIx64 " (RS %d,%d), %d healthy cop%s\n",
			g->flags & ST_EGROUP_PARITY ? "parity member" : "data member", g->strip_pos, g->strip,
			ct ? ct->rs_k : 0, ct ? ct->rs_m : 0, healthy, healthy == 1 ? "y" : "ies");
	else if (ct)
		fprintf(out, "  protection: %d healthy cop%s of RF %d%s\n", healthy, healthy == 1 ? "y" : "ies", ct->rf,
			(g->flags & ST_EGROUP_CLOUD) ? " (on the cloud tier)"
			: healthy == 0 ? ": NO HEALTHY COPY (its data cannot be read or repaired from a replica)"
			: healthy < ct->rf ? ": under-replicated" : healthy > ct->rf ? ": extra copies" : ": as the policy asks");
	return healthy;
}

static int explain_egroup(struct st_store *st, struct job_db *db, const char *ids, FILE *out, struct st_msg *err)
{
	struct st_egroup_rec g;
	struct st_container ct;
	struct last_scan l;
	struct egroup_findings fp = { out, 0, 0 };
	int64_t last_any = 0;
	char *end;
	uint64_t id = strtoull(ids, &end, 16), live = 0, garbage;
	uint32_t zero = 0;
	int rc, have_ct, healthy, ntasks;

	if (*end || !*ids)
		return st_fail(err, ST_EINVAL, "egroup '%s': not an egroup id (hex)", ids);
	st_egroup_rec_init(&g);
	rc = st_meta_egroup_get(st_store_meta(st), id, &g, NULL);
	if (rc == ST_ENOTFOUND) {
		struct task_print p = { NULL, 0, -1 };
		job_db_tasks_about(db, id, NULL, 0, count_task, &p, NULL);
		if (!p.n)
			return st_fail(err, ST_ENOTFOUND, "egroup %" PRIx64 ": no such egroup (not in the egroup map, named by no task)",
				       id);
		fprintf(out, "egroup %" PRIx64 "\n  not in the egroup map: the curator deleted it\n", id);
		tasks_about(db, id, NULL, out);
		return 0;
	}
	if (rc == ST_ECORRUPT) {
		fprintf(out, "egroup %" PRIx64 "\n  its metadata row is corrupt: scans report it and leave it (and its files) alone\n", id);
		tasks_about(db, id, NULL, out);
		return 0;
	}
	if (rc)
		return st_fail(err, rc, "egroup %" PRIx64 ": its row cannot be read", id);
	last_full(db, &l);
	job_db_scan_last_done(db, NULL, &last_any, NULL);
	have_ct = st_config_container_by_id(st_store_config(st), g.container, &ct, NULL) == 0;
	for (int k = 0; k < g.nextents; k++) {
		if (g.extents[k].refcount)
			live += g.extents[k].stored_len;
		else
			zero++;
	}
	garbage = g.used > ST_EGROUP_HDR + live ? g.used - ST_EGROUP_HDR - live : 0;
	fprintf(out, "egroup %" PRIx64 "\n", id);
	fprintf(out, "  version %" PRIu64 ", %d extent(s) (%u with recorded refcount 0), %u bytes used, tier %s%s%s\n", g.version,
		g.nextents, zero, g.used, st_tier_name(g.tier), g.flags & ST_EGROUP_COMPRESSED ? ", compressed" : "",
		g.flags & ST_EGROUP_MOVING ? ", MOVING (a compaction is under way or will be rolled forward)" : "");
	fprintf(out, "  garbage: %" PRIu64 " of %u bytes (%.1f%%) by recorded refcounts (the full scan also counts shadowed ranges)\n",
		garbage, g.used, g.used ? 100.0 * (double)garbage / g.used : 0.0);
	healthy = protection(st, &g, have_ct ? &ct : NULL, out);
	safety(&g, &l, out);
	if (last_any)
		job_db_egroup_findings(db, last_any, id, print_finding, &fp, NULL);
	ntasks = tasks_about(db, id, NULL, out);
	if (ntasks) {
		/* the tasks say why */
	} else if (fp.lost || (healthy == 0 && !(g.flags & (ST_EGROUP_CLOUD | ST_EGROUP_EC | ST_EGROUP_PARITY))))
		fprintf(out, "  no task: no healthy copy to repair from; bring its disk or node back (data unreadable until then)\n");
	else if (fp.n)
		fprintf(out, "  no task: see the findings above\n");
	else if (!last_any)
		fprintf(out, "  no task: no scan has run yet\n");
	else if (have_ct && !(g.flags & (ST_EGROUP_CLOUD | ST_EGROUP_EC | ST_EGROUP_PARITY)) && healthy != ct.rf)
		fprintf(out, "  no task yet: its copies changed since scan %" PRId64 "; the next scan queues the repair\n", last_any);
	else
		fprintf(out, "  no task: scan %" PRId64 " found nothing to do for it\n", last_any);
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
		struct task_print p = { NULL, 0, -1 };
		if (!*ids || *end)
			return st_fail(err, ST_ENOTFOUND, "vdisk '%s': no such vdisk", ids);
		if (st_config_vdisk_by_id(st_store_config(st), id, &v, NULL)) {
			job_db_tasks_about(db, id, NULL, 0, count_task, &p, NULL);
			if (!p.n)
				return st_fail(err, ST_ENOTFOUND, "vdisk '%s': no such vdisk (not in config.db, named by no task)", ids);
			fprintf(out, "vdisk %s\n  not in config.db: it was deleted and its metadata removed\n", ids);
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
