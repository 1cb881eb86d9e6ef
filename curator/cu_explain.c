/*
 * cu_explain: see cu_explain.h.
 *
 * DESIGN. Each explain_* function reads the item once and, for every fact,
 * prints its sentence and sets its field in the explain object (e->x), so
 * that the text and --format json cannot say different things. The object
 * is opened with every common key (state, findings, safety, refusals,
 * tasks, no_task) so that its key order is fixed whatever the item; a key
 * set later replaces the placeholder in place.
 */
#include "curator/cu_explain.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "curator/cu_json.h"
#include "jobs/job_db_report.h"
#include "jobs/job_kind.h"
#include "storage/st_egroup.h"

struct last_scan {
	int64_t id;
	uint64_t s0;
	double ended;
};

/* One explanation under way. */
struct ex {
	struct st_store *st;
	struct job_db *db;
	FILE *out;
	json_t *x; /* the explain object */
	struct last_scan l;
	int ntasks;
};

static void set(struct ex *e, const char *key, json_t *v)
{
	json_object_set_new(e->x, key, v);
}

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

/* Why the item has no task: the sentence (printed, indented) and its code. */
static void no_task(struct ex *e, const char *code, const char *sentence)
{
	fprintf(e->out, "  %s\n", sentence);
	set(e, "no_task", json_pack("{s:s,s:s}", "code", code, "reason", sentence));
}

struct task_print {
	struct ex *e;
	int kind; /* only tasks of this kind (-1: all) */
	int n;
};

static int print_task(void *arg, const struct job_task *t, const char *error)
{
	struct task_print *p = arg;
	json_t *tasks;

	if (p->kind >= 0 && (int)t->kind != p->kind)
		return 0;
	p->n++;
	if (!p->e)
		return 0;
	fprintf(p->e->out, "  task %" PRId64 " of scan %" PRId64 ": %s, %s%s%s\n", t->id, t->scan, job_task_kind_name(t->kind),
		job_task_state_name(t->state), *error ? ": " : "", error);
	tasks = json_object_get(p->e->x, "tasks");
	json_array_append_new(tasks, json_pack("{s:I,s:I,s:s,s:s,s:I,s:o}", "id", (json_int_t)t->id, "scan", (json_int_t)t->scan,
					       "kind", job_task_kind_name(t->kind), "state", job_task_state_name(t->state),
					       "bytes", (json_int_t)t->bytes, "error", cu_json_str(error)));
	p->e->ntasks++;
	return 0;
}

/* How many tasks are about target (or name the extent blob); nothing printed. */
static int count_tasks(struct job_db *db, uint64_t target, const void *blob)
{
	struct task_print p = { NULL, -1, 0 };

	job_db_tasks_about(db, target, blob, blob ? ST_EXTENT_ID_LEN : 0, print_task, &p, NULL);
	return p.n;
}

/* Tasks about a target, or (blob non-NULL) whose argument names an extent, of kind (-1: any). */
static int tasks_about(struct ex *e, uint64_t target, const void *blob, int kind)
{
	struct task_print p = { e, kind, 0 };

	job_db_tasks_about(e->db, target, blob, blob ? ST_EXTENT_ID_LEN : 0, print_task, &p, NULL);
	return p.n;
}

/* The object every explanation opens with: what, id, then the common keys as placeholders. */
static json_t *open_object(const char *what, const char *id)
{
	return json_pack("{s:s,s:s,s:n,s:[],s:n,s:[],s:[],s:n}", "what", what, "id", id, "state", "findings", "safety",
			 "refusals", "tasks", "no_task");
}

/* The task kinds whose executor refuses an egroup of these flags by rule, whatever its version. */
static void refusals(struct ex *e, uint32_t flags)
{
	json_t *a = json_object_get(e->x, "refusals");

	for (int k = 0; k < JT_NKINDS; k++) {
		const char *why = job_task_refusal((enum job_task_kind)k, flags);
		if (why)
			json_array_append_new(a, json_pack("{s:s,s:s}", "kind", job_task_kind_name((enum job_task_kind)k),
							   "reason", why));
	}
}

/* The safety rule: may the last full scan's verdict on this egroup stand? 1 when it left it for the next scan. */
static int safety(struct ex *e, const struct st_egroup_rec *g)
{
	const struct last_scan *l = &e->l;
	const char *state;

	if (!l->id) {
		fprintf(e->out, "  no full scan has run yet\n");
		state = "no_full_scan";
	} else if (g->last_ref_seq >= l->s0) {
		fprintf(e->out, "  changed after scan %" PRId64 " started (last_ref_seq %" PRIu64 " >= S0 %" PRIu64
			"): the safety rule left it for the next scan\n",
			l->id, g->last_ref_seq, l->s0);
		state = "changed_after_scan";
	} else {
		fprintf(e->out, "  unchanged since before scan %" PRId64 " started (last_ref_seq %" PRIu64 " < S0 %" PRIu64 ")\n",
			l->id, g->last_ref_seq, l->s0);
		state = "unchanged";
	}
	set(e, "safety", json_pack("{s:s,s:o,s:I,s:o}", "state", state, "scan", l->id ? json_integer(l->id) : json_null(),
				   "last_ref_seq", (json_int_t)g->last_ref_seq,
				   "s0", l->id ? json_integer((json_int_t)l->s0) : json_null()));
	return l->id && g->last_ref_seq >= l->s0;
}

/* The findings of the last scan about one egroup (those about extent ext alone, when non-NULL). */
struct egroup_findings {
	struct ex *e;
	const char *ext;
	int n, lost;
};

static int print_finding(void *arg, const struct job_finding *f)
{
	struct egroup_findings *p = arg;

	if (p->ext && f->extent && strcmp(f->extent, p->ext))
		return 0;
	fprintf(p->e->out, "  finding %s: %s\n", f->kind, f->detail);
	json_array_append_new(json_object_get(p->e->x, "findings"),
			      json_pack("{s:s,s:o,s:s}", "kind", f->kind, "extent", cu_json_str(f->extent), "detail", f->detail));
	p->n++;
	p->lost |= !strcmp(f->kind, "no_healthy_replica") || !strcmp(f->kind, "unreadable");
	return 0;
}

/* The last scan's findings about egroup id (and extent ext when non-NULL); *lost: one says no copy is left. */
static int findings(struct ex *e, uint64_t id, const char *ext, int *lost)
{
	struct egroup_findings fp = { e, ext, 0, 0 };
	int64_t last = 0;

	job_db_scan_last_done(e->db, NULL, &last, NULL);
	if (last)
		job_db_egroup_findings(e->db, last, id, print_finding, &fp, NULL);
	if (lost)
		*lost = fp.lost;
	return fp.n;
}

/* --- extents ------------------------------------------------------------ */

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

/* The vdisks referencing the extent (names, "(deleted)"), printed and as references; 1 when one of them lives. */
static int references(struct ex *e, const struct refcount_acc *a)
{
	json_t *vds = json_array();
	int live = 0;

	if (a->rows)
		fprintf(e->out, "  referenced by %" PRIu64 " block row(s) in %d vdisk(s): ", a->rows, a->nv);
	for (int k = 0; k < a->nv; k++) {
		struct st_vdisk v;
		int known = st_config_vdisk_by_id(st_store_config(e->st), a->vdisks[k], &v, NULL) == 0;
		int deleted = known && v.state == ST_VDISK_DELETED;
		if (known)
			fprintf(e->out, "%s%s%s", k ? ", " : "", v.name, deleted ? " (deleted)" : "");
		else
			fprintf(e->out, "%s%" PRIx64 " (unknown)", k ? ", " : "", a->vdisks[k]);
		live |= !deleted;
		json_array_append_new(vds, json_pack("{s:o,s:o,s:b}", "id", cu_json_hex(a->vdisks[k]), "name",
						     known ? json_string(v.name) : json_null(), "deleted", deleted));
	}
	set(e, "references", json_pack("{s:I,s:o}", "block_rows", (json_int_t)a->rows, "vdisks", vds));
	return live;
}

/* An extent not in the extent ID map: collected (its tasks tell), or no such extent. */
static int extent_gone(struct ex *e, const char *ids, const struct st_extent_id *id, struct st_msg *err)
{
	if (!count_tasks(e->db, 0, id->b))
		return st_fail(err, ST_ENOTFOUND, "extent %s: no such extent (not in the extent ID map, named by no task)", ids);
	fprintf(e->out, "extent %s\n  not in the extent ID map: the curator collected it\n", ids);
	set(e, "state", json_string("collected"));
	set(e, "egroup", json_null());
	tasks_about(e, 0, id->b, -1);
	return 0;
}

static int explain_extent(struct ex *e, const char *ids, struct st_msg *err)
{
	struct refcount_acc a = { 0 };
	struct st_egroup_rec g;
	uint64_t egroup;
	int rc, k = -1, live = 0, held = 0, ntasks;

	if (st_extent_id_parse(ids, &a.id))
		return st_fail(err, ST_EINVAL, "extent '%s': not an extent id (VDISK-UNIQUE in hex, or sha1:HEX:LEN)", ids);
	rc = st_meta_extent_get(st_store_meta(e->st), &a.id, &egroup, NULL);
	if (rc == ST_ENOTFOUND)
		return extent_gone(e, ids, &a.id, err);
	if (rc)
		return st_fail(err, rc, "extent %s: its extent-ID row cannot be read", ids);
	st_egroup_rec_init(&g);
	fprintf(e->out, "extent %s\n", ids);
	if (st_meta_egroup_get(st_store_meta(e->st), egroup, &g, NULL) == 0)
		k = st_egroup_rec_find(&g, &a.id);
	fprintf(e->out, "  in egroup %" PRIx64 "%s\n", egroup, k < 0 ? " (which does not hold it: an orphan extent-ID row)" : "");
	set(e, "egroup", cu_json_hex(egroup));
	set(e, "in_egroup", json_boolean(k >= 0));
	for (int s = 0; s < st_meta_nshards(st_store_meta(e->st)); s++)
		st_meta_scan_blocks(st_store_meta(e->st), s, count_refs, &a, NULL);
	if (k >= 0)
		fprintf(e->out, "  recorded refcount %u, %u bytes stored\n", g.extents[k].refcount, g.extents[k].stored_len);
	set(e, "refcount", k >= 0 ? json_integer(g.extents[k].refcount) : json_null());
	set(e, "stored_bytes", k >= 0 ? json_integer(g.extents[k].stored_len) : json_null());
	live = references(e, &a);
	if (a.rows && live) {
		fprintf(e->out, "\n  live: the curator leaves it alone\n");
	} else {
		if (a.rows)
			fprintf(e->out, "\n  only deleted vdisks reference it: garbage once their rows go (blocks_delete)\n");
		else
			fprintf(e->out, "  referenced by no block row: garbage\n");
		if (k >= 0)
			held = safety(e, &g);
	}
	set(e, "state", json_string(a.rows && live ? "live" : "garbage"));
	if (k >= 0) {
		findings(e, egroup, ids, NULL);
		refusals(e, g.flags);
	}
	/* tasks naming it in their argument, and the egroup_delete of its egroup (which names none) */
	ntasks = tasks_about(e, 0, a.id.b, -1);
	if (k >= 0)
		ntasks += tasks_about(e, egroup, NULL, JT_EGROUP_DELETE);
	if (!ntasks) {
		if (a.rows && live)
			set(e, "no_task", json_pack("{s:s,s:s}", "code", "live", "reason", "live: the curator leaves it alone"));
		else
			no_task(e, held ? "safety_rule" : "next_scan_queues", "no task yet: the next full scan queues its collection");
	}
	st_egroup_rec_release(&g);
	return 0;
}

/* --- egroups ------------------------------------------------------------ */

static const char *copy_state(int healthy, int rf, uint32_t flags)
{
	if (flags & ST_EGROUP_CLOUD)
		return "cloud";
	return healthy == 0 ? "no_healthy_copy" : healthy < rf ? "under_replicated" : healthy > rf ? "extra_copies" : "as_policy";
}

/* One replica's disk: ok, failed, node_down, draining or unknown; 1 when its copy is healthy. */
static int replica_state(struct st_config *cfg, uint32_t disk, const char **state)
{
	struct st_disk d;
	struct st_node *nodes = NULL;
	int nn = 0, up = 0, known = st_config_disk_get(cfg, disk, &d, NULL) == 0;

	if (known && st_config_nodes(cfg, &nodes, &nn, NULL) == 0)
		for (int i = 0; i < nn; i++)
			up |= nodes[i].id == d.node && nodes[i].up;
	free(nodes);
	*state = !known ? "unknown" : !d.ok ? "failed" : !up ? "node_down" : d.draining ? "draining" : "ok";
	return known && d.ok && up;
}

/* Replicas, healthy copies against the container's RF (or the strip it belongs to). Returns the healthy copies. */
static int protection(struct ex *e, const struct st_egroup_rec *g, const struct st_container *ct)
{
	int healthy = 0, member = (g->flags & (ST_EGROUP_EC | ST_EGROUP_PARITY)) != 0;
	json_t *reps = json_array(), *p, *strip = json_null();

	fprintf(e->out, "  replicas:");
	for (int r = 0; r < g->nreplicas; r++) {
		const char *st;
		healthy += replica_state(st_store_config(e->st), g->replicas[r].disk, &st);
		fprintf(e->out, " disk %u%s", g->replicas[r].disk, !strcmp(st, "ok") ? "" : !strcmp(st, "node_down") ? " (node down)"
			: !strcmp(st, "failed") ? " (failed)" : !strcmp(st, "draining") ? " (draining)" : " (unknown)");
		json_array_append_new(reps, json_pack("{s:i,s:s}", "disk", (int)g->replicas[r].disk, "state", st));
	}
	if (g->flags & ST_EGROUP_CLOUD)
		fprintf(e->out, " the cloud tier");
	fprintf(e->out, "\n");
	if (member) {
		fprintf(e->out, "  protection: %s %u of strip %" PRIx64 " (RS %d,%d), %d healthy cop%s\n",
			g->flags & ST_EGROUP_PARITY ? "parity member" : "data member", g->strip_pos, g->strip,
			ct ? ct->rs_k : 0, ct ? ct->rs_m : 0, healthy, healthy == 1 ? "y" : "ies");
		strip = json_pack("{s:o,s:i,s:s,s:o,s:o}", "id", cu_json_hex(g->strip), "position", (int)g->strip_pos, "role",
				  g->flags & ST_EGROUP_PARITY ? "parity" : "data", "k", ct ? json_integer(ct->rs_k) : json_null(),
				  "m", ct ? json_integer(ct->rs_m) : json_null());
	} else if (ct) {
		fprintf(e->out, "  protection: %d healthy cop%s of RF %d%s\n", healthy, healthy == 1 ? "y" : "ies", ct->rf,
			(g->flags & ST_EGROUP_CLOUD) ? " (on the cloud tier)"
			: healthy == 0 ? ": NO HEALTHY COPY (its data cannot be read or repaired from a replica)"
			: healthy < ct->rf ? ": under-replicated" : healthy > ct->rf ? ": extra copies" : ": as the policy asks");
	}
	p = json_pack("{s:s,s:o,s:i,s:o,s:o,s:b,s:o}", "scheme", member ? "strip" : "replicas", "state",
		      member ? json_string("strip_member") : ct ? json_string(copy_state(healthy, ct->rf, g->flags)) : json_null(),
		      "healthy_copies", healthy, "rf", ct && !member ? json_integer(ct->rf) : json_null(), "replicas", reps, "cloud",
		      (g->flags & ST_EGROUP_CLOUD) != 0, "strip", strip);
	set(e, "protection", p);
	return healthy;
}

/* An egroup whose row is not there (the curator deleted it: its tasks tell) or is corrupt. */
static int egroup_gone(struct ex *e, uint64_t id, int rc, struct st_msg *err)
{
	if (rc == ST_ENOTFOUND && !count_tasks(e->db, id, NULL))
		return st_fail(err, ST_ENOTFOUND, "egroup %" PRIx64 ": no such egroup (not in the egroup map, named by no task)", id);
	if (rc == ST_ENOTFOUND) {
		fprintf(e->out, "egroup %" PRIx64 "\n  not in the egroup map: the curator deleted it\n", id);
		set(e, "state", json_string("deleted"));
	} else {
		fprintf(e->out, "egroup %" PRIx64 "\n  its metadata row is corrupt: scans report it and leave it (and its files) alone\n",
			id);
		set(e, "state", json_string("corrupt"));
	}
	if (!tasks_about(e, id, NULL, -1))
		set(e, "no_task", json_pack("{s:s,s:s}", "code", "corrupt_row", "reason",
					    "its metadata row is corrupt: scans report it and leave it alone"));
	return 0;
}

/* The egroup itself and its garbage share (by recorded refcounts). */
static void egroup_facts(struct ex *e, const struct st_egroup_rec *g)
{
	uint64_t live = 0, garbage;
	uint32_t zero = 0;
	double pct;

	for (int k = 0; k < g->nextents; k++) {
		if (g->extents[k].refcount)
			live += g->extents[k].stored_len;
		else
			zero++;
	}
	garbage = g->used > ST_EGROUP_HDR + live ? g->used - ST_EGROUP_HDR - live : 0;
	pct = g->used ? 100.0 * (double)garbage / g->used : 0.0;
	fprintf(e->out, "egroup %" PRIx64 "\n", g->id);
	fprintf(e->out, "  version %" PRIu64 ", %d extent(s) (%u with recorded refcount 0), %u bytes used, tier %s%s%s\n", g->version,
		g->nextents, zero, g->used, st_tier_name(g->tier), g->flags & ST_EGROUP_COMPRESSED ? ", compressed" : "",
		g->flags & ST_EGROUP_MOVING ? ", MOVING (a compaction is under way or will be rolled forward)" : "");
	fprintf(e->out, "  garbage: %" PRIu64 " of %u bytes (%.1f%%) by recorded refcounts (the full scan also counts shadowed ranges)\n",
		garbage, g->used, pct);
	set(e, "state", json_string("present"));
	set(e, "egroup", json_pack("{s:I,s:i,s:i,s:I,s:s,s:b,s:b}", "version", (json_int_t)g->version, "extents", g->nextents,
				   "zero_refcount_extents", (int)zero, "used_bytes", (json_int_t)g->used, "tier",
				   st_tier_name(g->tier), "compressed", (g->flags & ST_EGROUP_COMPRESSED) != 0, "moving",
				   (g->flags & ST_EGROUP_MOVING) != 0));
	set(e, "garbage_bytes", json_integer((json_int_t)garbage));
	set(e, "garbage_pct", json_real((double)(int64_t)(pct * 10 + 0.5) / 10));
}

static int explain_egroup(struct ex *e, const char *ids, struct st_msg *err)
{
	struct st_egroup_rec g;
	struct st_container ct;
	int64_t last_any = 0;
	char *end, why[160];
	uint64_t id = strtoull(ids, &end, 16);
	int rc, have_ct, healthy, nf, lost = 0, plain;

	if (*end || !*ids)
		return st_fail(err, ST_EINVAL, "egroup '%s': not an egroup id (hex)", ids);
	st_egroup_rec_init(&g);
	rc = st_meta_egroup_get(st_store_meta(e->st), id, &g, NULL);
	if (rc == ST_ENOTFOUND || rc == ST_ECORRUPT)
		return egroup_gone(e, id, rc, err);
	if (rc)
		return st_fail(err, rc, "egroup %" PRIx64 ": its row cannot be read", id);
	job_db_scan_last_done(e->db, NULL, &last_any, NULL);
	have_ct = st_config_container_by_id(st_store_config(e->st), g.container, &ct, NULL) == 0;
	plain = !(g.flags & (ST_EGROUP_CLOUD | ST_EGROUP_EC | ST_EGROUP_PARITY));
	egroup_facts(e, &g);
	healthy = protection(e, &g, have_ct ? &ct : NULL);
	safety(e, &g);
	nf = findings(e, id, NULL, &lost);
	refusals(e, g.flags);
	if (tasks_about(e, id, NULL, -1)) {
		/* the tasks say why */
	} else if (lost || (healthy == 0 && plain)) {
		no_task(e, "no_healthy_copy",
			"no task: no healthy copy to repair from; bring its disk or node back (data unreadable until then)");
	} else if (nf) {
		no_task(e, "see_findings", "no task: see the findings above");
	} else if (!last_any) {
		no_task(e, "no_scan_yet", "no task: no scan has run yet");
	} else if (have_ct && plain && healthy != ct.rf) {
		snprintf(why, sizeof(why), "no task yet: its copies changed since scan %" PRId64 "; the next scan queues the repair",
			 last_any);
		no_task(e, "next_scan_repairs", why);
	} else {
		snprintf(why, sizeof(why), "no task: scan %" PRId64 " found nothing to do for it", last_any);
		no_task(e, "nothing_to_do", why);
	}
	st_egroup_rec_release(&g);
	return 0;
}

/* --- vdisks ------------------------------------------------------------- */

struct first_blocks {
	struct ex *e;
	json_t *a;
	int shown;
};

static int show_block(void *arg, int rc_row, const struct st_block *b)
{
	struct first_blocks *f = arg;
	char x[80];

	if (rc_row || f->shown >= 8)
		return 0;
	for (int i = 0; i < b->n && f->shown < 8; i++, f->shown++) {
		st_extent_id_fmt(&b->r[i].extent, x, sizeof(x));
		fprintf(f->e->out, "  block %" PRIu64 " +%u..%u: extent %s\n", b->block, b->r[i].block_off,
			b->r[i].block_off + b->r[i].len, x);
		json_array_append_new(f->a, json_pack("{s:I,s:i,s:i,s:s}", "block", (json_int_t)b->block, "offset",
						      (int)b->r[i].block_off, "end", (int)(b->r[i].block_off + b->r[i].len),
						      "extent", x));
	}
	return 0;
}

static int explain_vdisk(struct ex *e, const char *ids, struct st_msg *err)
{
	struct st_vdisk v;
	uint64_t bytes = 0, blocks = 0;
	struct first_blocks f = { e, NULL, 0 };
	const char *state;
	int rc = st_config_vdisk_get(st_store_config(e->st), ids, &v, NULL);

	if (rc) {
		char *end;
		uint64_t id = strtoull(ids, &end, 16);
		if (!*ids || *end)
			return st_fail(err, ST_ENOTFOUND, "vdisk '%s': no such vdisk", ids);
		if (st_config_vdisk_by_id(st_store_config(e->st), id, &v, NULL)) {
			if (!count_tasks(e->db, id, NULL))
				return st_fail(err, ST_ENOTFOUND, "vdisk '%s': no such vdisk (not in config.db, named by no task)", ids);
			fprintf(e->out, "vdisk %s\n  not in config.db: it was deleted and its metadata removed\n", ids);
			set(e, "state", json_string("purged"));
			set(e, "vdisk", json_pack("{s:o,s:n}", "id", cu_json_hex(id), "name"));
			tasks_about(e, id, NULL, -1);
			return 0;
		}
	}
	f.a = json_array();
	st_vdisk_mapped(e->st, &v, &bytes, &blocks, NULL);
	state = v.state == ST_VDISK_DELETED ? "deleted" : v.readonly ? "snapshot" : "live";
	fprintf(e->out, "vdisk %s (id %" PRIx64 ")\n  %s, %" PRIu64 " block rows mapping %" PRIu64 " bytes\n", v.name, v.id,
		v.state == ST_VDISK_DELETED ? "deleted" : v.readonly ? "snapshot (read-only)" : "live", blocks, bytes);
	set(e, "state", json_string(state));
	st_meta_vdisk_blocks(st_store_meta(e->st), v.id, show_block, &f, NULL);
	set(e, "vdisk", json_pack("{s:o,s:s,s:I,s:I,s:o}", "id", cu_json_hex(v.id), "name", v.name, "block_rows",
				  (json_int_t)blocks, "mapped_bytes", (json_int_t)bytes, "first_blocks", f.a));
	if (v.state == ST_VDISK_DELETED)
		fprintf(e->out, "  deleted: its block rows go with a blocks_delete task, then the extents only it referenced become garbage\n");
	else
		fprintf(e->out, "  its extents are referenced: no task removes them while it lives\n");
	if (!tasks_about(e, v.id, NULL, -1)) {
		if (v.state == ST_VDISK_DELETED)
			no_task(e, "next_scan_queues", "no task yet: the next full scan queues one");
		else
			set(e, "no_task", json_pack("{s:s,s:s}", "code", "live", "reason",
						    "its extents are referenced: no task removes them while it lives"));
	}
	return 0;
}

int cu_explain(struct st_store *st, const char *what, const char *id, FILE *out, json_t **obj, struct st_msg *err)
{
	struct ex e = { st, NULL, out, open_object(what, id), { 0 }, 0 };
	int rc;

	if (!e.x)
		return st_fail(err, -ENOMEM, "out of memory");
	rc = job_db_open(st_config_dir(st_store_config(st)), &e.db, err);
	if (rc) {
		json_decref(e.x);
		return rc;
	}
	last_full(e.db, &e.l);
	if (!strcmp(what, "extent"))
		rc = explain_extent(&e, id, err);
	else if (!strcmp(what, "egroup"))
		rc = explain_egroup(&e, id, err);
	else if (!strcmp(what, "vdisk"))
		rc = explain_vdisk(&e, id, err);
	else
		rc = st_fail(err, ST_EINVAL, "explain: expected vdisk, egroup or extent, not '%s'", what);
	job_db_close(e.db);
	if (!rc && obj)
		*obj = e.x;
	else
		json_decref(e.x);
	return rc;
}
