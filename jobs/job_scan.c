/*
 * job_scan: full and partial scans. See job_scan.h for the jobs and the
 * safety rule.
 *
 * DESIGN. Readers walk one metadata shard (or one disk's egroup files) per
 * split and hand rows to the map functions by reference (records are valid
 * during the callback only). Findings, tasks and usage are kept per rank
 * and written to curator.db at the end by each rank; counters are summed
 * over ranks. Tasks carry what their executor needs: the egroup version
 * the scan read, and the extents concerned with their true refcounts.
 */
#include "jobs/job_scan.h"
#include "jobs/job_rec.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "storage/st_chunk.h"
#include "storage/st_cloud.h"
#include "storage/st_ec.h"
#include "storage/st_egroup.h"
#include "storage/st_hmap.h"

static const char *counter_names[JC_NCOUNTERS] = {
	"block_rows", "extent_ids", "egroups", "extents", "files",
	"live_bytes", "stored_bytes",
	"dead_extents", "dead_bytes", "garbage_bytes",
	"refcount_low", "refcount_high", "dangling_references", "orphan_extent_ids",
	"deleted_vdisk_rows", "unknown_vdisk_rows", "orphan_files", "orphan_file_bytes",
	"corrupt_rows", "protected_by_safety_rule", "missing_replicas", "dead_egroups", "short_replicas",
	"under_replicated", "one_copy_left", "lost_egroups", "extra_replicas", "at_risk_bytes", "scrub_due",
	"awaiting_node", "ec_egroups", "ec_candidates", "saved_ec", "strips_degraded",
	"compress_candidates", "saved_compression", "compressed_extents",
	"dedup_extents", "saved_dedup", "chunks", "fingerprint_needed", "dedup_groups", "dedup_bytes",
	"tier_up", "tier_down_cold", "tier_down_watermark", "disk_balance", "cloud_egroups", "cloud_objects", "cloud_bytes",
};

const char *job_scan_counter_name(enum job_scan_counter c)
{
	return (unsigned)c < JC_NCOUNTERS ? counter_names[c] : "?";
}

#define MAX_FINDINGS_PER_RANK 2000

struct finding {
	char kind[32];
	uint64_t egroup;
	char extent[80];
	char detail[240];
};

enum { SCR_XS, SCR_IDS, SCR_NUMS, SCR_YS, SCR_UP, SCR_DOWN, SCR_DEAD, SCR_UPV, SCR_DOWNV, SCR_DEADV, SCR_N };

struct scan_ctx {
	struct st_store *st;
	struct st_meta *m;
	const struct job_scan_opts *o;
	uint64_t s0;
	int64_t now;
	int64_t scan_id;
	int rank;
	struct st_hmap vd;       /* vdisk id -> state byte | VD_DEDUP */
	struct st_disk *disks;
	int ndisks;
	struct st_node *nodes;
	int nnodes;
	struct st_container *conts;
	int nconts;
	int64_t c[JC_NCOUNTERS];
	struct job_task *tasks;
	size_t ntasks, captasks;
	struct finding *f;
	size_t nf, capf;
	uint64_t *ubytes, *uegroups; /* per disk index, from the usage reduce */
	int oom;
	int refs_incomplete; /* a block row was unreadable: no extent may be called dead */
	struct dd_buf *dd;   /* dedup groups waiting to become tasks, per container */
	int ndd;
	/* placement, from config.db at the start: per tier and per disk */
	uint64_t tier_cap[ST_NTIERS], tier_used[ST_NTIERS];
	int tier_high[ST_NTIERS], tier_low[ST_NTIERS];
	int tier_over[ST_NTIERS]; /* above its high watermark */
	uint64_t tier_promoted[ST_NTIERS]; /* bytes this rank is moving up into the tier */
	uint8_t *disk_over;       /* per disk index: more than BALANCE_POINTS above its tier's mean */
	uint8_t *node_under;      /* per node index, bit per tier: it has a disk below the tier's mean */
	struct st_hmap rd;        /* egroup -> reads u32, last read i64 (promotion) */
	int cloud;                /* a cloud tier is configured */
	int cloud_ok;             /* ... and answered at the start of this scan: its objects are listed */
	/* reduce_egroup's working memory, reused from one egroup to the next */
	struct { void *p; size_t cap; } scr[SCR_N];
	struct st_extent_rec *gext;
	int gext_cap;
};

/* Grow-only scratch buffer `slot` of at least `bytes` (NULL: out of memory). */
static void *scratch(struct scan_ctx *c, int slot, size_t bytes)
{
	if (bytes > c->scr[slot].cap) {
		size_t cap = bytes < 4096 ? 4096 : bytes * 2;
		void *p = realloc(c->scr[slot].p, cap);
		if (!p)
			return NULL;
		c->scr[slot].p = p;
		c->scr[slot].cap = cap;
	}
	return c->scr[slot].p;
}

#define BALANCE_POINTS 15
#define PROMOTE_READS 3
#define PROMOTE_WINDOW 86400

struct dd_buf {
	uint32_t container;
	uint8_t *p;          /* the task argument being built */
	size_t len, cap;
	int groups;          /* extents in it */
	int64_t bytes;
	struct st_hmap seen; /* extents already made candidates on this rank */
};

#define VD_DEDUP 0x80 /* in the vdisk state map: the vdisk's container dedups */

static const struct st_container *container_of(const struct scan_ctx *c, uint32_t id)
{
	for (int i = 0; i < c->nconts; i++)
		if (c->conts[i].id == id)
			return &c->conts[i];
	return NULL;
}

static int dedup_container(const struct scan_ctx *c, uint32_t id)
{
	const struct st_container *ct = container_of(c, id);
	return ct && ct->dedup != ST_MODE_OFF;
}

static void finding(struct scan_ctx *c, const char *kind, uint64_t egroup, const struct st_extent_id *x,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void finding(struct scan_ctx *c, const char *kind, uint64_t egroup, const struct st_extent_id *x,
		    const char *fmt, ...)
{
	struct finding *f;
	va_list ap;

	if (c->nf >= MAX_FINDINGS_PER_RANK)
		return;
	if (st_grow(&c->f, &c->capf, c->nf, sizeof(*c->f))) {
		c->oom = 1;
		return;
	}
	f = &c->f[c->nf++];
	snprintf(f->kind, sizeof(f->kind), "%s", kind);
	f->egroup = egroup;
	f->extent[0] = 0;
	if (x)
		st_extent_id_fmt(x, f->extent, sizeof(f->extent));
	va_start(ap, fmt);
	vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
	va_end(ap);
}

static void task(struct scan_ctx *c, enum job_task_kind kind, uint64_t target, uint64_t version, int64_t bytes,
		 const void *arg, size_t arglen)
{
	struct job_task *t;

	if (st_grow(&c->tasks, &c->captasks, c->ntasks, sizeof(*c->tasks))) {
		c->oom = 1;
		return;
	}
	t = &c->tasks[c->ntasks];
	memset(t, 0, sizeof(*t));
	t->scan = c->scan_id;
	t->kind = kind;
	t->target = target;
	t->version = version;
	t->bytes = bytes;
	if (arglen) {
		t->arg = malloc(arglen);
		if (!t->arg) {
			c->oom = 1;
			return;
		}
		memcpy(t->arg, arg, arglen);
		t->arglen = arglen;
	}
	c->ntasks++;
}

static void task_prio(struct scan_ctx *c, enum job_task_kind kind, uint64_t target, uint64_t version, int64_t bytes,
		      int priority)
{
	task(c, kind, target, version, bytes, NULL, 0);
	if (!c->oom)
		c->tasks[c->ntasks - 1].priority = priority;
}

static int disk_index(const struct scan_ctx *c, uint32_t disk)
{
	for (int i = 0; i < c->ndisks; i++)
		if (c->disks[i].id == disk)
			return i;
	return -1;
}

/* --- readers ------------------------------------------------------------ */

struct rd {
	struct scan_ctx *c;
	mr_record_fn fn;
	void *fnarg;
};

static int rd_block(void *arg, int rc_row, const struct st_block *b)
{
	struct rd *r = arg;
	uint8_t key[JR_BLOCK_LEN];

	r->c->c[JC_BLOCK_ROWS]++;
	if (rc_row) {
		r->c->c[JC_CORRUPT_ROWS]++;
		finding(r->c, "corrupt_block_row", 0, NULL, "vdisk %" PRIx64 " block %" PRIu64 ": the row fails its checksum",
			b->vdisk, b->block);
		return 0;
	}
	jr_block_put(key, b->vdisk, b->block);
	return r->fn(r->fnarg, key, JR_BLOCK_LEN, b, sizeof(*b));
}

/* A reader's rc, its message copied to the engine's `why` when it failed. */
static int with_reason(int rc, const struct st_msg *err, char *why, size_t whylen)
{
	if (rc && err->text[0])
		snprintf(why, whylen, "%s", err->text);
	return rc;
}

static int read_blocks(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
{
	struct rd r = { arg, fn, fnarg };
	struct st_msg err = { "" };
	int rc = st_meta_scan_blocks(r.c->m, split, rd_block, &r, &err);

	return with_reason(rc, &err, why, whylen);
}

static int rd_extent(void *arg, const struct st_extent_id *id, uint64_t egroup)
{
	struct rd *r = arg;

	r->c->c[JC_EXTENT_IDS]++;
	return r->fn(r->fnarg, id->b, ST_EXTENT_ID_LEN, &egroup, sizeof(egroup));
}

static int read_extents(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
{
	struct rd r = { arg, fn, fnarg };
	struct st_msg err = { "" };
	int rc = st_meta_scan_extents(r.c->m, split, rd_extent, &r, &err);

	return with_reason(rc, &err, why, whylen);
}

static int rd_egroup(void *arg, int rc_row, uint64_t id, const struct st_egroup_rec *g)
{
	struct rd *r = arg;

	r->c->c[JC_EGROUPS]++;
	if (rc_row) {
		r->c->c[JC_CORRUPT_ROWS]++;
		finding(r->c, "corrupt_egroup_row", id, NULL, "egroup %" PRIx64 ": the row fails its checksum; left alone", id);
		/* tell the reduce the row exists: its files and extent-ID rows are not orphans */
		return r->fn(r->fnarg, &id, sizeof(id), NULL, 0);
	}
	return r->fn(r->fnarg, &id, sizeof(id), g, sizeof(*g));
}

static int read_egroups(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
{
	struct rd r = { arg, fn, fnarg };
	struct st_msg err = { "" };
	int rc = st_meta_scan_egroups(r.c->m, split, rd_egroup, &r, &err);

	return with_reason(rc, &err, why, whylen);
}

static int rd_fp(void *arg, int rc_row, uint64_t egroup, const uint8_t *blob, size_t len)
{
	struct rd *r = arg;
	uint8_t *v = malloc(JR_P_ROW + len);
	int rc;

	if (!v)
		return -ENOMEM;
	v[0] = JR_FPS;
	if (!rc_row)
		memcpy(v + JR_P_ROW, blob, len);
	rc = r->fn(r->fnarg, &egroup, sizeof(egroup), v, rc_row ? JR_P_BAD_LEN : JR_P_ROW + len);
	free(v);
	return rc;
}

/* Chunk fingerprint rows: key egroup id, value 'P' + the row (just 'P' when it fails its checksum). */
static int read_fps(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
{
	struct rd r = { arg, fn, fnarg };
	struct st_msg err = { "" };
	int rc = st_meta_scan_fps(r.c->m, split, rd_fp, &r, &err);

	return with_reason(rc, &err, why, whylen);
}

static int rd_object(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	static const char prefix[] = ST_EGROUP_DIR "/";
	struct rd *r = arg;
	uint64_t id;
	uint8_t v[JR_FILE_LEN];

	if (strncmp(key, prefix, sizeof(prefix) - 1) || st_egroup_name_parse(key + sizeof(prefix) - 1, &id))
		return 0; /* not ours */
	r->c->c[JC_CLOUD_OBJECTS]++;
	jr_file_put(v, ST_CLOUD_DISK, mtime, size);
	return r->fn(r->fnarg, &id, sizeof(id), v, JR_FILE_LEN);
}

/* The cloud tier's objects, as files on pseudo disk ST_CLOUD_DISK (one split). */
static int read_cloud(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
{
	struct rd r = { arg, fn, fnarg };
	struct st_msg err = { "" };
	struct st_cloud *cl;
	int rc;

	(void)split;
	if (!r.c->cloud_ok)
		return 0;
	rc = st_store_cloud(r.c->st, &cl, &err);
	if (!rc)
		rc = st_cloud_list(cl, ST_EGROUP_DIR "/", rd_object, &r, &err);
	return with_reason(rc, &err, why, whylen);
}

/* One disk's egroup files: key egroup id, value disk u32, mtime i64, size u64. */
static int read_files(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
{
	struct scan_ctx *c = arg;
	const struct st_disk *d = &c->disks[split];
	char dir[ST_PATH_MAX + 16];
	struct dirent *e;
	DIR *dh;
	int rc = 0;

	if (!d->ok || d->removed)
		return 0;
	snprintf(dir, sizeof(dir), "%s/" ST_EGROUP_DIR, d->path);
	dh = opendir(dir);
	if (!dh)
		return 0; /* a vanished disk is the failure detector's business */
	while (!rc && (e = readdir(dh))) {
		char path[ST_PATH_MAX + 300];
		uint64_t id;
		uint8_t v[JR_FILE_LEN];
		struct stat sb;

		if (st_egroup_name_parse(e->d_name, &id))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &sb) < 0)
			continue;
		c->c[JC_FILES]++;
		jr_file_put(v, d->id, (int64_t)sb.st_mtime, (uint64_t)sb.st_size);
		rc = fn(fnarg, &id, sizeof(id), v, JR_FILE_LEN);
	}
	closedir(dh);
	(void)why;
	(void)whylen;
	return rc;
}

static int shard_owner_any(void *arg, int split, int nranks)
{
	(void)arg;
	(void)split;
	(void)nranks;
	return -1;
}

/* --- MR1: extent references --------------------------------------------- */

static int map_block(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em)
{
	struct scan_ctx *c = arg;
	const struct st_block *b = val;
	uint8_t *state = st_hmap_get(&c->vd, &b->vdisk);
	uint8_t r[JR_B_LEN] = { JR_REF };
	size_t rlen = JR_R_LEN;

	(void)key;
	(void)klen;
	(void)vlen;
	if (state && (*state & VD_DEDUP)) { /* dedup repoints block rows: name this one */
		r[0] = JR_REF_ROW;
		jr_block_put(r + JR_B_BLOCK, b->vdisk, b->block);
		rlen = JR_B_LEN;
	}
	if (state && (*state & ~VD_DEDUP) == ST_VDISK_DELETED) {
		c->c[JC_DELETED_VDISK_ROWS]++; /* rank 0 queues one blocks_delete per deleted vdisk */
		return 0;
	}
	if (!state)
		c->c[JC_UNKNOWN_VDISK_ROWS]++; /* counted as references: never collected blindly */
	for (int i = 0; i < b->n; i++) {
		int dup = 0;
		for (int q = 0; q < i; q++)
			dup |= !memcmp(b->r[q].extent.b, b->r[i].extent.b, ST_EXTENT_ID_LEN);
		if (dup)
			continue; /* a row references an extent once, however many regions */
		int rc = mr_emit(em, b->r[i].extent.b, ST_EXTENT_ID_LEN, r, rlen);
		if (rc)
			return rc;
	}
	return 0;
}

static int map_extent(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em)
{
	uint8_t v[JR_E_LEN] = { JR_EGROUP_OF };

	(void)arg;
	memcpy(v + JR_E_EGROUP, val, vlen < JR_E_LEN - JR_E_EGROUP ? vlen : JR_E_LEN - JR_E_EGROUP);
	return mr_emit(em, key, klen, v, JR_E_LEN);
}

/* Per extent: count 'R's, find its egroup; output egroup -> extent, refs. */
static int reduce_extent(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
			 struct mr_emitter *em)
{
	struct scan_ctx *c = arg;
	uint32_t refs = 0;
	uint64_t egroup = 0;
	uint8_t out[JR_REFS_LEN];

	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = vals[i].p;
		if (v[0] == JR_REF || v[0] == JR_REF_ROW)
			refs++;
		else if (v[0] == JR_EGROUP_OF && vals[i].len == JR_E_LEN)
			memcpy(&egroup, v + JR_E_EGROUP, 8);
	}
	if (egroup) { /* the block rows of dedup containers, for MR2's dedup candidates */
		uint8_t y[JR_ROW_LEN];
		memcpy(y + JR_ROW_EXTENT, key, ST_EXTENT_ID_LEN);
		for (size_t i = 0; i < n; i++) {
			int rc;
			if (((const uint8_t *)vals[i].p)[0] != JR_REF_ROW || vals[i].len != JR_B_LEN)
				continue;
			memcpy(y + JR_ROW_BLOCK, (const uint8_t *)vals[i].p + JR_B_BLOCK, JR_BLOCK_LEN);
			rc = mr_emit(em, &egroup, sizeof(egroup), y, sizeof(y));
			if (rc)
				return rc;
		}
	}
	if (!egroup) {
		struct st_extent_id x;
		memcpy(x.b, key, ST_EXTENT_ID_LEN);
		c->c[JC_DANGLING]++;
		finding(c, "dangling_reference", 0, &x, "%u block row(s) reference an extent with no extent-ID row", refs);
		return 0;
	}
	(void)klen;
	memcpy(out + JR_REFS_EXTENT, key, ST_EXTENT_ID_LEN);
	memcpy(out + JR_REFS_COUNT, &refs, 4);
	return mr_emit(em, &egroup, sizeof(egroup), out, sizeof(out));
}

/* --- MR2: egroup reconciliation ----------------------------------------- */

/* MR2's 'G' record (job_rec.h): the egroup row, less what the reduce does not need. */
static int map_egroup_rec(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
			  struct mr_emitter *em)
{
	const struct st_egroup_rec *g = val;
	size_t len;
	uint8_t *v, *p;
	int rc;

	(void)arg;
	if (vlen == 0) { /* a corrupt row: only its existence is known */
		uint8_t cm = JR_CORRUPT_ROW;
		return mr_emit(em, key, klen, &cm, JR_C_LEN);
	}
	len = jr_g_len(g->nreplicas, g->nextents);
	v = malloc(len);
	if (!v)
		return -ENOMEM;
	v[0] = JR_EGROUP_ROW;
	memcpy(v + JR_G_VERSION, &g->version, 8);
	memcpy(v + JR_G_LAST_REF_SEQ, &g->last_ref_seq, 8);
	memcpy(v + JR_G_CONTAINER, &g->container, 4);
	memcpy(v + JR_G_FLAGS, &g->flags, 4);
	memcpy(v + JR_G_USED, &g->used, 4);
	v[JR_G_TIER] = (uint8_t)g->tier;
	memcpy(v + JR_G_LAST_SCRUB, &g->last_scrub, 8);
	memcpy(v + JR_G_CREATED, &g->created, 8);
	memcpy(v + JR_G_LAST_WRITE, &g->last_write, 8);
	memcpy(v + JR_G_LAST_ACCESS, &g->last_access, 8);
	memcpy(v + JR_G_STRIP, &g->strip, 8);
	memcpy(v + JR_G_STRIP_POS, &g->strip_pos, 4);
	v[JR_G_NREPLICAS] = (uint8_t)g->nreplicas;
	p = v + JR_G_HDR;
	for (int r = 0; r < g->nreplicas; r++) {
		memcpy(p + JR_G_REP_DISK, &g->replicas[r].disk, 4);
		p[JR_G_REP_STATE] = g->replicas[r].state;
		p += JR_G_REP_LEN;
	}
	memcpy(p, &g->nextents, JR_G_NEXTENTS_LEN), p += JR_G_NEXTENTS_LEN;
	for (int k = 0; k < g->nextents; k++) {
		memcpy(p + JR_G_EXT_ID, g->extents[k].id.b, ST_EXTENT_ID_LEN);
		memcpy(p + JR_G_EXT_REFCOUNT, &g->extents[k].refcount, 4);
		memcpy(p + JR_G_EXT_STORED_LEN, &g->extents[k].stored_len, 4);
		memcpy(p + JR_G_EXT_RAW_LEN, &g->extents[k].raw_len, 4);
		memcpy(p + JR_G_EXT_FLAGS, &g->extents[k].flags, 4);
		p += JR_G_EXT_LEN;
	}
	rc = mr_emit(em, key, klen, v, len);
	free(v);
	return rc;
}

/* Decode a 'G' record into g (fields not carried are zero). 0 or -1. */
static int decode_g(const uint8_t *v, size_t len, struct st_egroup_rec *g)
{
	const uint8_t *p, *end = v + len;
	int32_t nex;

	if (len < JR_G_MIN_LEN)
		return -1;
	memcpy(&g->version, v + JR_G_VERSION, 8);
	memcpy(&g->last_ref_seq, v + JR_G_LAST_REF_SEQ, 8);
	memcpy(&g->container, v + JR_G_CONTAINER, 4);
	memcpy(&g->flags, v + JR_G_FLAGS, 4);
	memcpy(&g->used, v + JR_G_USED, 4);
	g->tier = (enum st_tier)v[JR_G_TIER];
	memcpy(&g->last_scrub, v + JR_G_LAST_SCRUB, 8);
	memcpy(&g->created, v + JR_G_CREATED, 8);
	memcpy(&g->last_write, v + JR_G_LAST_WRITE, 8);
	memcpy(&g->last_access, v + JR_G_LAST_ACCESS, 8);
	memcpy(&g->strip, v + JR_G_STRIP, 8);
	memcpy(&g->strip_pos, v + JR_G_STRIP_POS, 4);
	g->nreplicas = v[JR_G_NREPLICAS];
	p = v + JR_G_HDR;
	if (g->nreplicas > ST_REPLICAS_MAX || p + (size_t)g->nreplicas * JR_G_REP_LEN + JR_G_NEXTENTS_LEN > end)
		return -1;
	for (int r = 0; r < g->nreplicas; r++, p += JR_G_REP_LEN) {
		memcpy(&g->replicas[r].disk, p + JR_G_REP_DISK, 4);
		g->replicas[r].state = p[JR_G_REP_STATE];
	}
	memcpy(&nex, p, JR_G_NEXTENTS_LEN), p += JR_G_NEXTENTS_LEN;
	if (nex < 0 || p + (size_t)nex * JR_G_EXT_LEN != end)
		return -1;
	for (int k = 0; k < nex; k++, p += JR_G_EXT_LEN) {
		struct st_extent_rec e = { 0 };
		memcpy(e.id.b, p + JR_G_EXT_ID, ST_EXTENT_ID_LEN);
		memcpy(&e.refcount, p + JR_G_EXT_REFCOUNT, 4);
		memcpy(&e.stored_len, p + JR_G_EXT_STORED_LEN, 4);
		memcpy(&e.raw_len, p + JR_G_EXT_RAW_LEN, 4);
		memcpy(&e.flags, p + JR_G_EXT_FLAGS, 4);
		if (st_egroup_rec_add(g, &e))
			return -1;
	}
	return 0;
}

static int map_refs(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em)
{
	uint8_t v[JR_Y_LEN] = { JR_EXTENT_REFS };

	(void)arg;
	if (vlen == JR_ROW_LEN) { /* 'Y': extent, vdisk, block of a referencing row */
		v[0] = JR_EXTENT_ROW;
		memcpy(v + 1, val, JR_ROW_LEN);
		return mr_emit(em, key, klen, v, JR_Y_LEN);
	}
	if (vlen != JR_REFS_LEN)
		return MR_EINPUT;
	memcpy(v + 1, val, JR_REFS_LEN);
	return mr_emit(em, key, klen, v, JR_X_LEN);
}

static int map_file(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em)
{
	uint8_t v[JR_F_LEN] = { JR_FILE };

	(void)arg;
	memcpy(v + JR_F_FILE, val, vlen < JR_FILE_LEN ? vlen : JR_FILE_LEN);
	return mr_emit(em, key, klen, v, JR_F_LEN);
}

/* Usage record for MR3 / the partial reduce: 'D' disk -> bytes, 1 egroup. */
static int emit_usage(struct mr_emitter *em, uint32_t disk, uint64_t bytes)
{
	uint8_t k[JR_UKEY_LEN] = { JR_KEY_USAGE };
	uint64_t v[2] = { bytes, 1 };

	memcpy(k + JR_UKEY_DISK, &disk, 4);
	return mr_emit(em, k, JR_UKEY_LEN, v, JR_USAGE_LEN);
}

/*
 * Replica health: 0 healthy; 1 unavailable for now (its node is down for
 * less than the grace period: counted as a copy, not a source); 2 unhealthy
 * (failed or removed disk, draining disk, node down past the grace period,
 * a copy marked bad, or -- full scans -- its file missing or short).
 */
static int replica_health(const struct scan_ctx *c, const struct st_egroup_rec *g, int r, int have_files,
			  const uint32_t *fdisk, const uint64_t *fsize, int nf)
{
	int di = disk_index(c, g->replicas[r].disk);
	const struct st_disk *d = di >= 0 ? &c->disks[di] : NULL;

	if (!d || !d->ok || d->removed || d->draining || g->replicas[r].state != ST_REPLICA_OK)
		return 2;
	for (int n = 0; n < c->nnodes; n++) {
		if (c->nodes[n].id != d->node || c->nodes[n].up)
			continue;
		return c->now - c->nodes[n].changed < c->o->node_grace ? 1 : 2;
	}
	if (have_files) {
		int ok = 0;
		for (int i = 0; i < nf; i++)
			ok |= fdisk[i] == d->id && fsize[i] >= g->used;
		if (!ok)
			return 2;
	}
	return 0;
}

/* Replicas vs the container's RF; scrubbing due. Queues protection tasks. */
static void protection(struct scan_ctx *c, const struct st_egroup_rec *g, int have_files, const uint32_t *fdisk,
		       const uint64_t *fsize, int nf)
{
	int rf = 2, healthy = 0, waiting = 0;

	if (g->flags & ST_EGROUP_CLOUD) { /* its object is its protection: present, or lost */
		int found = !c->cloud_ok;
		for (int i = 0; have_files && i < nf; i++)
			found |= fdisk[i] == ST_CLOUD_DISK && fsize[i] >= g->used;
		c->c[JC_CLOUD_EGROUPS]++;
		c->c[JC_CLOUD_BYTES] += g->used;
		if (!found) {
			c->c[JC_LOST]++;
			finding(c, "missing_object", g->id, NULL, "egroup %" PRIx64 ": its cloud object is missing or short",
				g->id);
		}
		return;
	}
	for (int i = 0; i < c->nconts; i++)
		if (c->conts[i].id == g->container)
			rf = c->conts[i].rf;
	if (g->flags & ST_EGROUP_EC)
		rf = 1; /* a strip member: its strip is the redundancy */
	for (int r = 0; r < g->nreplicas; r++) {
		int h = replica_health(c, g, r, have_files, fdisk, fsize, nf);
		healthy += h == 0;
		waiting += h == 1;
	}
	if (waiting)
		c->c[JC_AWAITING_NODE]++;
	if (healthy + waiting < rf) {
		int left = healthy + waiting;
		c->c[JC_UNDER_REPLICATED]++;
		c->c[JC_AT_RISK_BYTES] += g->used;
		if (left == 1)
			c->c[JC_ONE_COPY_LEFT]++;
		if (g->flags & ST_EGROUP_EC) {
			c->c[JC_STRIPS_DEGRADED]++;
			finding(c, "strip_member_lost", g->id, NULL,
				"egroup %" PRIx64 ": member %u of strip %" PRIx64 " lost its copy; reads decode it, a rebuild is queued",
				g->id, g->strip_pos, g->strip);
			task_prio(c, JT_EC_REBUILD, g->id, g->version, (int64_t)g->used, 85);
			return;
		}
		if (healthy == 0) {
			c->c[JC_LOST]++;
			finding(c, "no_healthy_replica", g->id, NULL,
				"egroup %" PRIx64 ": no healthy replica left of %d (RF %d)", g->id, g->nreplicas, rf);
			return; /* nothing to copy from */
		}
		task_prio(c, JT_REREPLICATE, g->id, g->version, (int64_t)g->used * (rf - left), 100 - 10 * left);
	} else if (healthy > rf) {
		c->c[JC_EXTRA_REPLICAS]++;
		task(c, JT_DROP_EXTRA, g->id, g->version, 0, NULL, 0);
	}
	if (c->now - g->last_scrub >= c->o->scrub_period) {
		c->c[JC_SCRUB_DUE]++;
		task(c, JT_SCRUB, g->id, g->version, (int64_t)g->used * g->nreplicas, NULL, 0);
	}
}

/*
 * A cold, fully replicated egroup of a container with --rs becomes an EC
 * candidate for MR3: key 'E' container, value egroup id, version, node
 * count, the nodes of its healthy copies.
 */
static int ec_candidate(struct scan_ctx *c, const struct st_egroup_rec *g, struct mr_emitter *em)
{
	const struct st_container *ct = NULL;
	uint8_t k[JR_ECKEY_LEN] = { JR_KEY_EC }, v[JR_EC_MAX_LEN];
	int n = 0;

	ct = container_of(c, g->container);
	if (!ct || !ct->rs_k || (g->flags & ~(uint32_t)ST_EGROUP_COMPRESSED) || !g->nextents ||
	    c->now - g->last_write < ct->ec_delay)
		return 0;
	{ /* garbage is compacted away first, not frozen into a strip */
		uint64_t live = ST_EGROUP_HDR;
		for (int i = 0; i < g->nextents; i++)
			live += g->extents[i].stored_len;
		if (g->used > live && (g->used - live) * 100 >= (uint64_t)c->o->compact_pct * g->used)
			return 0;
	}
	for (int r = 0; r < g->nreplicas; r++) {
		int di = disk_index(c, g->replicas[r].disk);
		if (replica_health(c, g, r, 0, NULL, NULL, 0) == 0 && di >= 0) {
			memcpy(v + JR_EC_LEN(n), &c->disks[di].node, JR_EC_NODE_LEN);
			n++;
		}
	}
	if (n < ct->rf)
		return 0; /* protect it first */
	c->c[JC_EC_CANDIDATES]++;
	memcpy(k + JR_ECKEY_CONTAINER, &g->container, 4);
	memcpy(v + JR_EC_EGROUP, &g->id, 8);
	memcpy(v + JR_EC_VERSION, &g->version, 8);
	v[JR_EC_NNODES] = (uint8_t)n;
	return mr_emit(em, k, JR_ECKEY_LEN, v, JR_EC_LEN(n));
}

/*
 * A plain egroup of a container with compression on, not yet through the
 * compressor and unwritten for the container's compression delay, gets a
 * compress task. Returns 1 when one was queued.
 */
static int compress_candidate(struct scan_ctx *c, const struct st_egroup_rec *g)
{
	const struct st_container *ct = NULL;
	uint64_t raw = 0;

	ct = container_of(c, g->container);
	if (!ct || ct->compress == ST_MODE_OFF || g->flags || !g->nextents || c->now - g->last_write < ct->compress_delay)
		return 0;
	for (int i = 0; i < g->nextents; i++)
		raw += g->extents[i].stored_len;
	c->c[JC_COMPRESS_CANDIDATES]++;
	task(c, JT_COMPRESS, g->id, g->version, (int64_t)raw * g->nreplicas, NULL, 0);
	return 1;
}

/*
 * A parity egroup whose strip is missing or whose data members do not all
 * name the strip, older than the sweep grace period (a conversion still
 * running is younger), is the leftover of a crashed conversion: roll the
 * strip back. Returns 1 if a roll-back was queued.
 */
static int half_made_strip(struct scan_ctx *c, const struct st_egroup_rec *p)
{
	struct st_strip sp;
	int complete = 0;

	if (c->now - p->created < c->o->sweep_grace)
		return 0;
	if (st_meta_strip_get(c->m, p->strip, &sp, NULL) == 0) {
		complete = 1;
		for (int i = 0; i < sp.k && complete; i++) {
			struct st_egroup_rec g;
			st_egroup_rec_init(&g);
			complete = st_meta_strip_member(c->m, &sp, i, &g);
			st_egroup_rec_release(&g);
		}
		if (complete)
			return 0;
	}
	finding(c, "half_made_strip", p->id, NULL, "parity egroup %" PRIx64 ": strip %" PRIx64 " was never completed; rolled back",
		p->id, p->strip);
	task(c, JT_STRIP_ROLLBACK, p->strip, 0, p->used, &p->id, JR_ROLLBACK_EGROUP_LEN);
	return 1;
}

/*
 * GC of strips: once less than half of a complete strip's data bytes are
 * live extents (dead ones leave the records as extent_delete runs), the
 * strip is dissolved: its live members go back to plain egroups at RF, which
 * compaction then shrinks, and its dead members and parity go. Looked at
 * once per strip, from member 0.
 */
static void strip_gc(struct scan_ctx *c, const struct st_egroup_rec *g0)
{
	struct st_strip sp;
	uint64_t live = 0, total = 0, freed = 0;

	if (g0->strip_pos != 0 || st_meta_strip_get(c->m, g0->strip, &sp, NULL))
		return;
	for (int i = 0; i < sp.k; i++) {
		struct st_egroup_rec g;
		int ok;
		st_egroup_rec_init(&g);
		ok = st_meta_strip_member(c->m, &sp, i, &g);
		if (ok) {
			uint64_t l = 0;
			for (int e = 0; e < g.nextents; e++)
				l += g.extents[e].stored_len;
			live += l;
			total += g.used > ST_EGROUP_HDR ? g.used - ST_EGROUP_HDR : 0;
			if (!g.nextents)
				freed += g.used;
		}
		st_egroup_rec_release(&g);
		if (!ok)
			return; /* incomplete: a conversion or a dissolve in flight, or half_made_strip's */
	}
	if (!total || live * 2 >= total)
		return;
	freed += (uint64_t)sp.m * (sp.len + ST_PARITY_HDR);
	finding(c, "strip_mostly_dead", sp.id, NULL,
		"strip %" PRIx64 ": %" PRIu64 " of %" PRIu64 " data bytes live; dissolved into plain egroups for compaction",
		sp.id, live, total);
	task(c, JT_STRIP_DISSOLVE, sp.id, 0, (int64_t)freed, NULL, 0);
}

struct xref {
	struct st_extent_id id;
	uint32_t refs;
	int seen; /* matched an extent of the record */
};

/* Pack (extent id, u32) pairs into a task argument. */
static void *pack_pairs(const struct st_extent_id *ids, const uint32_t *vals, size_t n, size_t *len)
{
	uint8_t *p = malloc(n * JR_PAIR_LEN + 1);
	if (!p)
		return NULL;
	for (size_t i = 0; i < n; i++)
		jr_pair_put(p, i, &ids[i], vals[i]);
	*len = n * JR_PAIR_LEN;
	return p;
}

static double disk_pct(const struct st_disk *d)
{
	return d->capacity ? 100.0 * (double)d->used / (double)d->capacity : 0.0;
}

/* Tier usage, watermarks and overfull disks from config.db (every rank, the same). */
static void placement_init(struct scan_ctx *c)
{
	double mean[ST_NTIERS] = { 0 };
	uint64_t dcap[ST_NTIERS] = { 0 }, dused[ST_NTIERS] = { 0 };

	for (int t = 0; t < ST_NTIERS; t++) {
		c->tier_high[t] = 100;
		c->tier_low[t] = 100;
	}
	for (int i = 0; i < c->nconts; i++)
		for (int k = 0; k < c->conts[i].ntiers; k++) {
			enum st_tier t = c->conts[i].tiers[k];
			if (c->conts[i].ilm_high < c->tier_high[t])
				c->tier_high[t] = c->conts[i].ilm_high;
			if (c->conts[i].ilm_low < c->tier_low[t])
				c->tier_low[t] = c->conts[i].ilm_low;
		}
	for (int i = 0; i < c->ndisks; i++) {
		const struct st_disk *d = &c->disks[i];
		if (!d->ok || d->removed)
			continue;
		c->tier_cap[d->tier] += d->capacity;
		c->tier_used[d->tier] += d->used;
		if (!d->draining) {
			dcap[d->tier] += d->capacity;
			dused[d->tier] += d->used;
		}
	}
	for (int t = 0; t < ST_NTIERS; t++) {
		c->tier_over[t] = c->tier_cap[t] && c->tier_used[t] * 100 > (uint64_t)c->tier_high[t] * c->tier_cap[t];
		mean[t] = dcap[t] ? 100.0 * (double)dused[t] / (double)dcap[t] : 0.0;
	}
	c->disk_over = calloc((size_t)c->ndisks + 1, 1);
	c->node_under = calloc((size_t)c->nnodes + 1, 1);
	for (int i = 0; c->disk_over && c->node_under && i < c->ndisks; i++) {
		const struct st_disk *d = &c->disks[i];
		int usable = d->ok && !d->removed && !d->draining;
		c->disk_over[i] = usable && disk_pct(d) > mean[d->tier] + BALANCE_POINTS;
		for (int n = 0; usable && disk_pct(d) < mean[d->tier] && n < c->nnodes; n++)
			if (c->nodes[n].id == d->node && c->nodes[n].up)
				c->node_under[n] |= (uint8_t)(1u << d->tier);
	}
}

/* Could replica r of g move to a disk below its tier's mean, on a node holding none of g's other replicas? */
static int balance_target(const struct scan_ctx *c, const struct st_egroup_rec *g, int r)
{
	for (int n = 0; n < c->nnodes; n++) {
		int other = 0;
		if (!(c->node_under[n] & (1u << g->tier)))
			continue;
		for (int q = 0; q < g->nreplicas; q++) {
			int di = disk_index(c, g->replicas[q].disk);
			other |= q != r && di >= 0 && c->disks[di].node == c->nodes[n].id;
		}
		if (!other)
			return 1;
	}
	return 0;
}

static int load_read(void *arg, uint64_t egroup, uint32_t reads, int64_t last)
{
	uint8_t *v = st_hmap_put(arg, &egroup, NULL);

	if (!v)
		return -ENOMEM;
	memcpy(v, &reads, 4);
	memcpy(v + 4, &last, 8);
	return 0;
}

/* The tier below / above g's in its container's order, or -1. */
static int tier_step(const struct st_container *ct, enum st_tier t, int down)
{
	for (int k = 0; k < ct->ntiers; k++)
		if (ct->tiers[k] == t) {
			int j = down ? k + 1 : k - 1;
			return j >= 0 && j < ct->ntiers ? (int)ct->tiers[j] : -1;
		}
	return -1;
}

/*
 * ILM and balancing (MR2 side) for a live plain egroup. Coldness is the
 * latest of its write, its recorded access and its last foreground read.
 *  - read PROMOTE_READS times within PROMOTE_WINDOW on a lower tier, the
 *    tier above below its high watermark: tier_up;
 *  - older than its container's cold age: tier_down whatever the usage;
 *  - on a tier above its high watermark: a 'T' move record (job_rec.h) so
 *    MR3 moves the coldest down until the low watermark;
 *  - a replica on a disk more than BALANCE_POINTS above its tier's mean:
 *    a 'W' move record.
 */
static int placement(struct scan_ctx *c, const struct st_egroup_rec *g, struct mr_emitter *em)
{
	const struct st_container *ct = container_of(c, g->container);
	const uint8_t *rv = st_hmap_get(&c->rd, &g->id);
	uint32_t reads = 0;
	int64_t last_read = 0, cold = g->last_write > g->last_access ? g->last_write : g->last_access;
	int down, up, rc = 0;

	if (!ct || (g->flags & ~(uint32_t)(ST_EGROUP_COMPRESSED | ST_EGROUP_CLOUD)) || !g->nextents)
		return 0;
	if (rv) {
		memcpy(&reads, rv, 4);
		memcpy(&last_read, rv + 4, 8);
		if (last_read > cold)
			cold = last_read;
	}
	down = tier_step(ct, g->tier, 1);
	up = tier_step(ct, g->tier, 0);
	if (down == ST_TIER_CLOUD && !c->cloud)
		down = -1; /* no cloud configured */
	if (up >= 0 && reads >= PROMOTE_READS && c->now - last_read <= PROMOTE_WINDOW &&
	    (c->tier_used[up] + c->tier_promoted[up] + (uint64_t)g->used * g->nreplicas) * 100 <=
		    (uint64_t)c->tier_high[up] * c->tier_cap[up]) {
		uint8_t a[JR_TIER_LEN] = { [JR_TIER_DEST] = (uint8_t)up, [JR_TIER_WHY] = JR_WHY_HOT };
		c->tier_promoted[up] += (uint64_t)g->used * g->nreplicas; /* never past the watermark: no ping-pong */
		c->c[JC_TIER_UP]++;
		task(c, JT_TIER_UP, g->id, g->version, (int64_t)g->used * g->nreplicas, a, JR_TIER_LEN);
		return 0;
	}
	if (down >= 0 && ct->cold_age > 0 && c->now - cold >= ct->cold_age) {
		uint8_t a[JR_TIER_LEN] = { [JR_TIER_DEST] = (uint8_t)down, [JR_TIER_WHY] = JR_WHY_COLD };
		c->c[JC_TIER_DOWN_COLD]++;
		task(c, JT_TIER_DOWN, g->id, g->version, (int64_t)g->used * g->nreplicas, a, JR_TIER_LEN);
		return 0;
	}
	if (down >= 0 && c->tier_over[g->tier]) {
		uint8_t k[JR_TKEY_LEN] = { JR_KEY_TIER, [JR_TKEY_TIER] = (uint8_t)g->tier }, v[JR_MOVE_DEST_LEN];
		jr_move_put(v, cold, g->id, g->version, (uint64_t)g->used * g->nreplicas);
		v[JR_MOVE_DEST] = (uint8_t)down;
		rc = mr_emit(em, k, JR_TKEY_LEN, v, JR_MOVE_DEST_LEN);
	}
	for (int r = 0; r < g->nreplicas && !rc && c->disk_over; r++) {
		int di = disk_index(c, g->replicas[r].disk);
		uint8_t k[JR_WKEY_LEN] = { JR_KEY_DISK }, v[JR_MOVE_LEN];
		if (di < 0 || !c->disk_over[di] || !c->node_under || !balance_target(c, g, r))
			continue;
		memcpy(k + JR_WKEY_DISK, &g->replicas[r].disk, 4);
		jr_move_put(v, cold, g->id, g->version, g->used);
		rc = mr_emit(em, k, JR_WKEY_LEN, v, JR_MOVE_LEN);
	}
	return rc;
}

struct mv {
	int64_t cold;
	uint64_t egroup, version, bytes;
	uint8_t dest;
};

static int mv_cmp(const void *a, const void *b)
{
	const struct mv *x = a, *y = b;
	if (x->cold != y->cold)
		return x->cold < y->cold ? -1 : 1;
	return x->egroup < y->egroup ? -1 : x->egroup > y->egroup;
}

/* MR3: the coldest first, until the tier (or disk) is down to its target. */
static int form_moves(struct scan_ctx *c, const uint8_t *key, size_t klen, const struct mr_value *vals, size_t n)
{
	struct mv *m = calloc(n + 1, sizeof(*m));
	size_t nm = 0;
	uint64_t need = 0, got = 0;
	uint32_t disk = 0;

	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = vals[i].p;
		if (vals[i].len < JR_MOVE_LEN)
			continue;
		jr_move_get(v, &m[nm].cold, &m[nm].egroup, &m[nm].version, &m[nm].bytes);
		m[nm].dest = vals[i].len > JR_MOVE_DEST ? v[JR_MOVE_DEST] : 0;
		nm++;
	}
	qsort(m, nm, sizeof(*m), mv_cmp);
	if (key[0] == JR_KEY_TIER) {
		enum st_tier t = (enum st_tier)key[JR_TKEY_TIER];
		uint64_t low = (uint64_t)c->tier_low[t] * c->tier_cap[t] / 100;
		need = c->tier_used[t] > low ? c->tier_used[t] - low : 0;
	} else if (klen == JR_WKEY_LEN) {
		int di;
		double mean;
		uint64_t cap = 0, used = 0;
		memcpy(&disk, key + JR_WKEY_DISK, 4);
		di = disk_index(c, disk);
		if (di < 0) {
			free(m);
			return 0;
		}
		for (int i = 0; i < c->ndisks; i++) {
			const struct st_disk *d = &c->disks[i];
			if (d->tier == c->disks[di].tier && d->ok && !d->removed && !d->draining) {
				cap += d->capacity;
				used += d->used;
			}
		}
		mean = cap ? (double)used / (double)cap : 0.0;
		need = (uint64_t)((double)c->disks[di].used - mean * (double)c->disks[di].capacity);
	}
	for (size_t i = 0; i < nm && got < need; i++) {
		if (key[0] == JR_KEY_TIER) {
			uint8_t a[JR_TIER_LEN] = { [JR_TIER_DEST] = m[i].dest, [JR_TIER_WHY] = JR_WHY_WATERMARK };
			c->c[JC_TIER_DOWN_WATERMARK]++;
			task(c, JT_TIER_DOWN, m[i].egroup, m[i].version, (int64_t)m[i].bytes, a, JR_TIER_LEN);
		} else {
			c->c[JC_DISK_BALANCE]++;
			task(c, JT_DISK_BALANCE, m[i].egroup, m[i].version, (int64_t)m[i].bytes, &disk, JR_BALANCE_LEN);
		}
		got += m[i].bytes;
	}
	free(m);
	return c->oom ? -ENOMEM : 0;
}

/*
 * Dedup (MR2 side). For a live egroup of a dedup container: every live
 * chunk becomes an 'H' record keyed by its fingerprint for MR3, carrying
 * where it is and the block rows that reference its extent; a live dedup
 * extent is announced as the chunk's existing home. Extents without
 * fingerprints get a fingerprint task (no manual step). Records: job_rec.h,
 * chunk ('H' key; 'S' and 'O' values).
 */
static int dedup_candidates(struct scan_ctx *c, const struct st_egroup_rec *g, const struct xref *xs, size_t nx,
			    const uint8_t **ys, size_t ny, const struct st_chunk_fp *fps, size_t nfps, int fp_ok,
			    struct mr_emitter *em)
{
	const struct st_container *ct = container_of(c, g->container);
	uint8_t k[JR_HKEY_LEN] = { JR_KEY_CHUNK }, *v = NULL;
	size_t vcap = 0;
	int need_fp = 0, rc = 0;

	if (!ct || ct->dedup == ST_MODE_OFF || (g->flags & (ST_EGROUP_PARITY | ST_EGROUP_MOVING)))
		return 0;
	memcpy(k + JR_HKEY_CONTAINER, &g->container, 4);
	for (int e = 0; e < g->nextents && !rc; e++) {
		const struct st_extent_rec *x = &g->extents[e];
		uint32_t truth = 0, nref = 0, have = 0;
		for (size_t i = 0; i < nx; i++)
			if (!memcmp(xs[i].id.b, x->id.b, ST_EXTENT_ID_LEN))
				truth = xs[i].refs;
		if (!truth)
			continue;
		if (st_extent_id_is_dedup(&x->id)) {
			uint8_t s[JR_S_LEN] = { JR_DEDUP_HOME };
			memcpy(k + JR_HKEY_SHA1, x->id.b, JR_SHA1_LEN); /* a dedup id starts with it */
			memcpy(k + JR_HKEY_BYTES, &x->raw_len, 4);
			memcpy(s + JR_S_CONTAINER, &g->container, 4);
			memcpy(s + JR_S_EGROUP, &g->id, 8);
			memcpy(s + JR_S_EXTENT, x->id.b, ST_EXTENT_ID_LEN);
			c->c[JC_DEDUP_EXTENTS]++;
			c->c[JC_DEDUP_SAVED_BYTES] += (int64_t)(truth - 1) * x->raw_len * g->nreplicas;
			rc = mr_emit(em, k, JR_HKEY_LEN, s, JR_S_LEN);
			continue;
		}
		for (size_t i = 0; i < ny; i++)
			nref += !memcmp(ys[i], x->id.b, ST_EXTENT_ID_LEN);
		if (st_reserve(&v, &vcap, JR_O_LEN(nref), 1)) {
			rc = -ENOMEM;
			break;
		}
		v[0] = JR_CHUNK_COPY;
		memcpy(v + JR_O_CONTAINER, &g->container, 4);
		memcpy(v + JR_O_EGROUP, &g->id, 8);
		memcpy(v + JR_O_EXTENT, x->id.b, ST_EXTENT_ID_LEN);
		memcpy(v + JR_O_NROWS, &nref, 4);
		nref = 0;
		for (size_t i = 0; i < ny; i++)
			if (!memcmp(ys[i], x->id.b, ST_EXTENT_ID_LEN)) {
				memcpy(v + JR_O_LEN(nref), ys[i] + JR_ROW_BLOCK, JR_BLOCK_LEN);
				nref++;
			}
		for (size_t i = 0; fp_ok && i < nfps && !rc; i++) { /* (a bad row: all of them again) */
			if (memcmp(fps[i].extent.b, x->id.b, ST_EXTENT_ID_LEN))
				continue;
			have = 1;
			memcpy(k + JR_HKEY_SHA1, fps[i].sha1, JR_SHA1_LEN);
			memcpy(k + JR_HKEY_BYTES, &fps[i].len, 4);
			memcpy(v + JR_O_OFF, &fps[i].off, 4);
			c->c[JC_CHUNKS]++;
			rc = mr_emit(em, k, JR_HKEY_LEN, v, JR_O_LEN(nref));
		}
		need_fp |= !have;
	}
	free(v);
	if (!rc && need_fp) {
		c->c[JC_FINGERPRINT_NEEDED]++;
		task(c, JT_FINGERPRINT, g->id, g->version, (int64_t)g->used, NULL, 0);
	}
	return rc;
}

static int reduce_egroup(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
			 struct mr_emitter *em)
{
	struct scan_ctx *c = arg;
	struct st_egroup_rec g;
	uint64_t id, version = 0, lrs = 0;
	struct xref *xs = scratch(c, SCR_XS, (n + 1) * sizeof(*xs));
	struct st_extent_id *ids = scratch(c, SCR_IDS, (n + 1) * sizeof(*ids));
	uint32_t *nums = scratch(c, SCR_NUMS, (n + 1) * sizeof(*nums));
	int have_g = 0, corrupt = 0, rc = 0;
	size_t nx = 0;
	uint32_t fdisk[ST_REPLICAS_MAX * 2];
	int64_t fmtime[ST_REPLICAS_MAX * 2];
	uint64_t fsize[ST_REPLICAS_MAX * 2];
	int nf = 0;
	const uint8_t **ys = scratch(c, SCR_YS, (n + 1) * sizeof(*ys)); /* 'Y' rows, from their extent id on */
	size_t ny = 0, nfps = 0;
	struct st_chunk_fp *fps = NULL;
	int have_fp = 0, fp_bad = 0;

	(void)klen;
	memcpy(&id, key, 8);
	st_egroup_rec_init(&g);
	g.extents = c->gext; /* reused: see out */
	g.cap = c->gext_cap;
	if (!xs || !ids || !nums || !ys) {
		rc = -ENOMEM;
		goto out;
	}
	memset(xs, 0, (n + 1) * sizeof(*xs));
	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = vals[i].p;
		/* (a 'G' too short for version and last_ref_seq is an unknown record) */
		if (v[0] == JR_EGROUP_ROW && vals[i].len > JR_G_CONTAINER) {
			if (decode_g(v, vals[i].len, &g) == 0) {
				have_g = 1;
				version = g.version;
				lrs = g.last_ref_seq;
			}
		} else if (v[0] == JR_CORRUPT_ROW) {
			corrupt = 1;
		} else if (v[0] == JR_EXTENT_REFS && vals[i].len == JR_X_LEN) {
			memcpy(xs[nx].id.b, v + JR_X_EXTENT, ST_EXTENT_ID_LEN);
			memcpy(&xs[nx].refs, v + JR_X_COUNT, 4);
			nx++;
		} else if (v[0] == JR_FILE && vals[i].len == JR_F_LEN) {
			if (nf == ST_REPLICAS_MAX * 2)
				continue;
			jr_file_get(v + JR_F_FILE, &fdisk[nf], &fmtime[nf], &fsize[nf]);
			nf++;
		} else if (v[0] == JR_EXTENT_ROW && vals[i].len == JR_Y_LEN) {
			ys[ny++] = v + JR_Y_EXTENT;
		} else if (v[0] == JR_FPS) {
			free(fps);
			fps = NULL;
			nfps = 0;
			if (vals[i].len == JR_P_BAD_LEN ||
			    st_meta_fp_decode(v + JR_P_ROW, vals[i].len - JR_P_ROW, &fps, &nfps))
				fp_bad = 1; /* rewritten by the fingerprint task */
			have_fp = 1;
		} else {
			/* a record this reduce does not know: never act on a partial picture */
			corrupt = 1;
			finding(c, "internal_error", id, NULL, "egroup %" PRIx64 ": unknown MR2 record '%c' (%zu bytes); left alone",
				id, v[0], vals[i].len);
		}
	}
	g.id = id;
	g.version = version;
	g.last_ref_seq = lrs;

	if (corrupt) { /* leave everything of a corrupt egroup alone: report only */
		for (size_t i = 0; i < nx; i++)
			if (xs[i].refs)
				finding(c, "unreadable_reference", id, &xs[i].id,
					"%u block row(s) reference it; its egroup row is corrupt", xs[i].refs);
		goto out;
	}
	if (!have_g) {
		size_t norph = 0;
		/* extent-ID rows pointing at an egroup that does not exist */
		for (size_t i = 0; i < nx; i++) {
			if (xs[i].refs) {
				c->c[JC_DANGLING]++;
				finding(c, "dangling_reference", id, &xs[i].id,
					"%u block row(s) reference it; its extent-ID row names egroup %" PRIx64 ", which does not exist",
					xs[i].refs, id);
			} else {
				ids[norph++] = xs[i].id;
				c->c[JC_ORPHAN_EXTENT_IDS]++;
			}
		}
		if (norph) {
			size_t len;
			void *p = pack_pairs(ids, nums, norph, &len);
			if (!p) {
				rc = -ENOMEM;
				goto out;
			}
			task(c, JT_EXTENT_ID_DELETE, id, 0, 0, p, len);
			free(p);
		}
		/* files of an egroup no row describes: orphans once past the grace period */
		{
			uint32_t sweep[ST_REPLICAS_MAX * 2];
			int ns = 0;
			int64_t bytes = 0;
			for (int i = 0; i < nf; i++) {
				c->c[JC_ORPHAN_FILES]++;
				c->c[JC_ORPHAN_FILE_BYTES] += (int64_t)fsize[i];
				if (c->now - fmtime[i] >= c->o->sweep_grace) {
					sweep[ns++] = fdisk[i];
					bytes += (int64_t)fsize[i];
				}
			}
			if (ns)
				task(c, JT_FILE_SWEEP, id, 0, bytes, sweep, (size_t)ns * JR_SWEEP_DISK_LEN);
		}
		goto out;
	}

	if (g.flags & ST_EGROUP_PARITY) { /* a parity member: its space and its health */
		c->c[JC_STORED_BYTES] += g.used;
		c->c[JC_EC_SAVED_BYTES] -= g.used;
		if (!half_made_strip(c, &g))
			protection(c, &g, 1, fdisk, fsize, nf);
		for (int r = 0; r < g.nreplicas && !rc; r++)
			rc = emit_usage(em, g.replicas[r].disk, g.used);
		goto out;
	}
	if (g.flags & ST_EGROUP_EC) {
		c->c[JC_EC_EGROUPS]++;
		strip_gc(c, &g);
		for (int i = 0; i < c->nconts; i++) /* the copies RF would have kept */
			if (c->conts[i].id == g.container)
				c->c[JC_EC_SAVED_BYTES] += (int64_t)g.used * (c->conts[i].rf - 1);
	}
	/* the record: true vs recorded refcounts, dead extents, garbage */
	{
		/* a corrupt block row hides references: then nothing is dead this scan */
		int safe = lrs < c->s0 && !c->refs_incomplete;
		size_t nup = 0, ndown = 0, ndead = 0, norph = 0;
		size_t ne = (size_t)g.nextents + 1;
		struct st_extent_id *up = scratch(c, SCR_UP, ne * sizeof(*up));
		struct st_extent_id *down = scratch(c, SCR_DOWN, ne * sizeof(*down));
		struct st_extent_id *dead = scratch(c, SCR_DEAD, ne * sizeof(*dead));
		uint32_t *upv = scratch(c, SCR_UPV, ne * 4), *downv = scratch(c, SCR_DOWNV, ne * 4);
		uint32_t *deadv = scratch(c, SCR_DEADV, ne * 4);
		uint64_t live = 0, dead_bytes = 0;

		if (!up || !down || !dead || !upv || !downv || !deadv) {
			rc = -ENOMEM;
			goto rec_out;
		}
		c->c[JC_EXTENTS] += g.nextents;
		c->c[JC_STORED_BYTES] += g.used;
		for (int k = 0; k < g.nextents; k++) {
			const struct st_extent_rec *e = &g.extents[k];
			uint32_t truth = 0;
			for (size_t i = 0; i < nx; i++)
				if (!memcmp(xs[i].id.b, e->id.b, ST_EXTENT_ID_LEN)) {
					truth = xs[i].refs;
					xs[i].seen = 1;
				}
			if (truth == 0) {
				if (!safe) {
					c->c[JC_PROTECTED]++;
					live += ST_EXTENT_HDR + e->stored_len;
					continue;
				}
				c->c[JC_DEAD_EXTENTS]++;
				c->c[JC_DEAD_BYTES] += ST_EXTENT_HDR + e->stored_len;
				dead_bytes += ST_EXTENT_HDR + e->stored_len;
				dead[ndead] = e->id;
				deadv[ndead++] = e->refcount;
				continue;
			}
			live += ST_EXTENT_HDR + e->stored_len;
			c->c[JC_LIVE_BYTES] += e->raw_len;
			if (e->flags & ST_EXTENT_COMPRESSED) {
				c->c[JC_COMPRESSED_EXTENTS]++;
				c->c[JC_COMPRESSION_SAVED_BYTES] += (int64_t)(e->raw_len - e->stored_len) * g.nreplicas;
			}
			if (e->refcount < truth) {
				c->c[JC_REFCOUNT_LOW]++;
				finding(c, "refcount_low", id, &e->id, "recorded %u < %u references: raised", e->refcount, truth);
				up[nup] = e->id;
				upv[nup++] = truth;
			} else if (e->refcount > truth) {
				c->c[JC_REFCOUNT_HIGH]++;
				if (safe) {
					down[ndown] = e->id;
					downv[ndown++] = truth;
				} else {
					c->c[JC_PROTECTED]++;
				}
			}
		}
		/* extent-ID rows naming this egroup for extents it does not hold */
		for (size_t i = 0; i < nx; i++) {
			if (xs[i].seen)
				continue;
			if (xs[i].refs) {
				c->c[JC_DANGLING]++;
				finding(c, "dangling_reference", id, &xs[i].id,
					"%u block row(s) reference it; egroup %" PRIx64 " does not hold it", xs[i].refs, id);
			} else {
				c->c[JC_ORPHAN_EXTENT_IDS]++;
				ids[norph] = xs[i].id;
				nums[norph++] = 0;
			}
		}
		if (norph) {
			size_t len;
			void *p = pack_pairs(ids, nums, norph, &len);
			if (p) {
				task(c, JT_EXTENT_ID_DELETE, id, 0, 0, p, len);
				free(p);
			}
		}
		if (nup) {
			size_t len;
			void *p = pack_pairs(up, upv, nup, &len);
			if (p) {
				task(c, JT_REFCOUNT_UP, id, version, 0, p, len);
				free(p);
			}
		}
		{
			uint64_t garbage = g.used > ST_EGROUP_HDR + live ? g.used - ST_EGROUP_HDR - live : 0;
			int moving = (g.flags & ST_EGROUP_MOVING) != 0;
			c->c[JC_GARBAGE_BYTES] += (int64_t)garbage;
			int ec = (g.flags & ST_EGROUP_EC) != 0;
			if (ec && ndead) {
				/* keep strips decodable: dead extents leave the metadata, bytes stay
				 * (NEEDSWORK: re-encode or shrink strips whose members are mostly dead) */
				size_t len;
				void *p = pack_pairs(dead, deadv, ndead, &len);
				if (p) {
					task(c, JT_EXTENT_DELETE, id, version, 0, p, len);
					free(p);
				}
			} else if (safe && (ndead == (size_t)g.nextents)) {
				size_t len = 0;
				void *p = pack_pairs(dead, deadv, ndead, &len); /* for `curator explain` */
				c->c[JC_DEAD_EGROUPS]++;
				task(c, JT_EGROUP_DELETE, id, version, (int64_t)g.used * g.nreplicas, p, p ? len : 0);
				free(p);
			} else if (safe && (moving || (garbage && garbage * 100 >= (uint64_t)c->o->compact_pct * g.used))) {
				size_t len;
				void *p = pack_pairs(dead, deadv, ndead, &len);
				if (p) {
					task(c, JT_EGROUP_COMPACT, id, version, (int64_t)garbage * g.nreplicas, p, len);
					free(p);
				}
			} else if (ndead) {
				size_t len;
				void *p = pack_pairs(dead, deadv, ndead, &len);
				if (p) {
					task(c, JT_EXTENT_DELETE, id, version, 0, p, len);
					free(p);
				}
			} else if (ndown) {
				size_t len;
				void *p = pack_pairs(down, downv, ndown, &len);
				if (p) {
					task(c, JT_REFCOUNT_DOWN, id, version, 0, p, len);
					free(p);
				}
			}
		}
		/* replicas vs files on disk: missing, or shorter than the bytes in use */
		for (int r = 0; r < g.nreplicas; r++) {
			int found = 0, di = disk_index(c, g.replicas[r].disk);
			for (int i = 0; i < nf; i++) {
				if (fdisk[i] != g.replicas[r].disk)
					continue;
				found = 1;
				if (fsize[i] < g.used) {
					c->c[JC_SHORT_REPLICAS]++;
					finding(c, "short_replica", id, NULL,
						"egroup %" PRIx64 ": the file on disk %u has %" PRIu64 " of %u bytes (truncated)", id,
						g.replicas[r].disk, fsize[i], g.used);
				}
			}
			if (!found && di >= 0 && c->disks[di].ok && !c->disks[di].removed) {
				c->c[JC_MISSING_REPLICAS]++;
				finding(c, "missing_replica", id, NULL, "egroup %" PRIx64 ": no file on disk %u", id,
					g.replicas[r].disk);
			}
			if (!rc)
				rc = emit_usage(em, g.replicas[r].disk, g.used);
		}
		{
			uint32_t sweep[ST_REPLICAS_MAX * 2];
			int ns = 0;
			int64_t bytes = 0;
			for (int i = 0; i < nf; i++) {
				int ours = fdisk[i] == ST_CLOUD_DISK && (g.flags & ST_EGROUP_CLOUD);
				for (int r = 0; r < g.nreplicas; r++)
					ours |= g.replicas[r].disk == fdisk[i];
				if (ours)
					continue;
				c->c[JC_ORPHAN_FILES]++;
				c->c[JC_ORPHAN_FILE_BYTES] += (int64_t)fsize[i];
				if (c->now - fmtime[i] >= c->o->sweep_grace) {
					sweep[ns++] = fdisk[i];
					bytes += (int64_t)fsize[i];
				}
			}
			if (ns)
				task(c, JT_FILE_SWEEP, id, version, bytes, sweep, (size_t)ns * JR_SWEEP_DISK_LEN);
		}
		if (!(safe && ndead == (size_t)g.nextents)) {
			protection(c, &g, 1, fdisk, fsize, nf); /* dead egroups need no copies */
			if (!rc && !ndead && !(safe && compress_candidate(c, &g)))
				rc = ec_candidate(c, &g, em);
			if (!rc)
				rc = dedup_candidates(c, &g, xs, nx, ys, ny, fps, nfps, have_fp && !fp_bad, em);
			if (!rc && !ndead && safe)
				rc = placement(c, &g, em);
		}
	rec_out:;
	}
out:
	if (!have_g && have_fp && !corrupt) /* fingerprints of an egroup that is gone */
		task(c, JT_FINGERPRINT, id, 0, 0, NULL, 0);
	c->gext = g.extents; /* kept for the next egroup */
	c->gext_cap = g.cap;
	free(fps);
	return c->oom ? -ENOMEM : rc;
}

/* --- MR3 / partial reduce: usage per disk -------------------------------- */

/*
 * Per container: group EC candidates into strips of k egroups that can keep
 * one copy each on k distinct nodes (greedy, in the shuffle's order, which
 * is the same whatever the rank count). One ec_encode task per strip.
 */
static int form_strips(struct scan_ctx *c, const uint8_t *key, const struct mr_value *vals, size_t n)
{
	const struct st_container *ct = NULL;
	uint32_t container, used_nodes[ST_EC_MAX];
	uint8_t arg[JR_ENCODE_MEMBER_LEN * ST_EC_MAX];
	int in = 0;

	memcpy(&container, key + JR_ECKEY_CONTAINER, 4);
	ct = container_of(c, container);
	if (!ct || ct->rs_k < 2 || ct->rs_k + ct->rs_m > ST_EC_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = vals[i].p;
		int nn = v[JR_EC_NNODES], pick = -1;
		for (int j = 0; j < nn && pick < 0; j++) {
			uint32_t node;
			int clash = 0;
			memcpy(&node, v + JR_EC_LEN(j), JR_EC_NODE_LEN);
			for (int q = 0; q < in; q++)
				clash |= used_nodes[q] == node;
			if (!clash)
				pick = (int)node;
		}
		if (pick < 0)
			continue;
		used_nodes[in] = (uint32_t)pick;
		/* the candidate's egroup and version are the member's, in the same layout */
		memcpy(arg + JR_ENCODE_MEMBER_LEN * in + JR_ENCODE_EGROUP, v + JR_EC_EGROUP, 8);
		memcpy(arg + JR_ENCODE_MEMBER_LEN * in + JR_ENCODE_VERSION, v + JR_EC_VERSION, 8);
		if (++in == ct->rs_k) {
			uint64_t first;
			memcpy(&first, arg + JR_ENCODE_EGROUP, 8);
			task(c, JT_EC_ENCODE, first, 0, 0, arg, (size_t)JR_ENCODE_MEMBER_LEN * in);
			in = 0;
		}
	}
	return c->oom ? -ENOMEM : 0;
}

/* Queue a container's gathered dedup extents as one task. */
static void dedup_flush(struct scan_ctx *c, struct dd_buf *b)
{
	uint64_t target = 1469598103934665603ULL; /* FNV-1a of the extent ids: unique among pending tasks */

	if (!b->groups)
		return;
	for (size_t i = JR_DEDUP_HDR; i < b->len; i++)
		target = (target ^ b->p[i]) * 1099511628211ULL;
	task(c, JT_DEDUP, target, 0, b->bytes, b->p, b->len);
	b->len = JR_DEDUP_HDR;
	b->groups = 0;
	b->bytes = 0;
}

#define DD_TASK_EXTENTS 64

/*
 * MR3, per (container, chunk fingerprint): when the chunk is stored more
 * than once, or a dedup extent already holds it, every extent holding a
 * copy is to be turned into dedup extents, all of its chunks (a chunk of it
 * that is unique becomes a dedup extent with one reference, so the whole
 * extent can go: garbage is collected per extent). Candidates are gathered
 * per container, each extent once per rank, DD_TASK_EXTENTS to a task
 * (job_rec.h, dedup).
 */
/* The number of block rows an 'O' record names, or -1 when it is not a well-formed 'O' record. */
static int64_t occ_refs(const struct mr_value *v)
{
	const uint8_t *p = v->p;
	uint32_t nref;

	if (p[0] != JR_CHUNK_COPY || v->len < JR_O_ROWS)
		return -1;
	memcpy(&nref, p + JR_O_NROWS, 4);
	return v->len == JR_O_LEN(nref) ? (int64_t)nref : -1;
}

static int form_dedup(struct scan_ctx *c, const uint8_t *key, const struct mr_value *vals, size_t n)
{
	struct dd_buf *b = NULL;
	uint32_t container, len;
	size_t nocc = 0;
	int home = 0;

	memcpy(&container, key + JR_HKEY_CONTAINER, 4);
	memcpy(&len, key + JR_HKEY_BYTES, 4);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = vals[i].p;
		if (v[0] == JR_DEDUP_HOME && vals[i].len == JR_S_LEN)
			home = 1;
		else if (occ_refs(&vals[i]) >= 0)
			nocc++;
	}
	if (!nocc || (!home && nocc < 2))
		return 0; /* a unique chunk: nothing to share */
	c->c[JC_DEDUP_GROUPS]++;
	c->c[JC_DEDUP_BYTES] += (int64_t)len * (int64_t)(home ? nocc : nocc - 1);
	for (int i = 0; i < c->ndd; i++)
		if (c->dd[i].container == container)
			b = &c->dd[i];
	if (!b) {
		struct dd_buf *nb = realloc(c->dd, (size_t)(c->ndd + 1) * sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		c->dd = nb;
		b = &c->dd[c->ndd++];
		memset(b, 0, sizeof(*b));
		b->container = container;
		st_hmap_init(&b->seen, ST_EXTENT_ID_LEN, 1);
		if (st_reserve(&b->p, &b->cap, JR_DEDUP_HDR, 1))
			return -ENOMEM;
		memcpy(b->p + JR_DEDUP_CONTAINER, &container, 4); /* the argument starts with the container */
		b->len = JR_DEDUP_HDR;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = vals[i].p;
		int64_t refs = occ_refs(&vals[i]);
		uint32_t nref = (uint32_t)refs;
		int isnew;
		if (refs <= 0)
			continue;
		if (!st_hmap_put(&b->seen, v + JR_O_EXTENT, &isnew))
			return -ENOMEM;
		if (!isnew)
			continue; /* already a candidate here */
		if (st_reserve(&b->p, &b->cap, b->len + JR_DEDUP_LEN(nref), 1))
			return -ENOMEM;
		memcpy(b->p + b->len + JR_DEDUP_EXTENT, v + JR_O_EXTENT, ST_EXTENT_ID_LEN);
		memcpy(b->p + b->len + JR_DEDUP_EGROUP, v + JR_O_EGROUP, 8);
		memcpy(b->p + b->len + JR_DEDUP_NROWS, &nref, 4);
		memcpy(b->p + b->len + JR_DEDUP_ROWS, v + JR_O_ROWS, JR_BLOCK_LEN * (size_t)nref);
		b->len += JR_DEDUP_LEN(nref);
		b->bytes += len;
		if (++b->groups >= DD_TASK_EXTENTS)
			dedup_flush(c, b);
	}
	return c->oom ? -ENOMEM : 0;
}

static int map_usage(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em)
{
	(void)arg;
	return mr_emit(em, key, klen, val, vlen);
}

static int reduce_usage(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
			struct mr_emitter *em)
{
	struct scan_ctx *c = arg;
	const uint8_t *k = key;
	uint32_t disk;
	uint64_t bytes = 0, egroups = 0;
	int di;

	(void)em;
	if (klen == JR_ECKEY_LEN && k[0] == JR_KEY_EC)
		return form_strips(c, k, vals, n);
	if (klen == JR_HKEY_LEN && k[0] == JR_KEY_CHUNK)
		return form_dedup(c, k, vals, n);
	if ((klen == JR_TKEY_LEN && k[0] == JR_KEY_TIER) || (klen == JR_WKEY_LEN && k[0] == JR_KEY_DISK))
		return form_moves(c, k, klen, vals, n);
	if (klen != JR_UKEY_LEN || k[0] != JR_KEY_USAGE)
		return 0;
	memcpy(&disk, k + JR_UKEY_DISK, 4);
	for (size_t i = 0; i < n; i++) {
		uint64_t b, e;
		if (vals[i].len != JR_USAGE_LEN)
			continue;
		memcpy(&b, (const uint8_t *)vals[i].p + JR_USAGE_BYTES, 8);
		memcpy(&e, (const uint8_t *)vals[i].p + JR_USAGE_EGROUPS, 8);
		bytes += b;
		egroups += e;
	}
	di = disk_index(c, disk);
	if (di >= 0) {
		c->ubytes[di] += bytes;
		c->uegroups[di] += egroups;
	}
	return 0;
}

/*
 * MR3 (and partial scan) combine: a disk's usage records ('D', two per
 * egroup) are summed on the map side, so the reduce of each disk gets a
 * few values instead of one per replica; every other record passes
 * through as it is.
 */
static int combine_usage(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
			 struct mr_emitter *em)
{
	const uint8_t *k = key;
	uint64_t sum[2] = { 0, 0 };
	size_t other = 0;
	int rc = 0;

	(void)arg;
	for (size_t i = 0; i < n && !rc; i++) {
		if (klen == JR_UKEY_LEN && k[0] == JR_KEY_USAGE && vals[i].len == JR_USAGE_LEN) {
			uint64_t b, e;
			memcpy(&b, (const uint8_t *)vals[i].p + JR_USAGE_BYTES, 8);
			memcpy(&e, (const uint8_t *)vals[i].p + JR_USAGE_EGROUPS, 8);
			sum[0] += b;
			sum[1] += e;
		} else {
			rc = mr_emit(em, key, klen, vals[i].p, vals[i].len);
			other++;
		}
	}
	if (!rc && other < n)
		rc = mr_emit(em, key, klen, sum, JR_USAGE_LEN); /* bytes, egroups */
	return rc;
}

/* Partial scan map: recorded refcounts only. */
static int map_partial(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em)
{
	struct scan_ctx *c = arg;
	const struct st_egroup_rec *g = val;
	int all_zero = 1, rc = 0;

	(void)key;
	(void)klen;
	(void)vlen;
	c->c[JC_EXTENTS] += g->nextents;
	c->c[JC_STORED_BYTES] += g->used;
	if (vlen == 0)
		return 0; /* a corrupt row: reported by the reader, left alone */
	if (g->flags & ST_EGROUP_PARITY) {
		protection(c, g, 0, NULL, NULL, 0);
		for (int r = 0; r < g->nreplicas && !rc; r++)
			rc = emit_usage(em, g->replicas[r].disk, g->used);
		return rc;
	}
	for (int k = 0; k < g->nextents; k++)
		all_zero &= g->extents[k].refcount == 0;
	if (g->flags & ST_EGROUP_EC)
		all_zero = 0; /* strip members stay (keeping their strip decodable) */
	if (all_zero) {
		if (g->last_ref_seq < c->s0) {
			c->c[JC_DEAD_EGROUPS]++;
			c->c[JC_DEAD_EXTENTS] += g->nextents;
			c->c[JC_DEAD_BYTES] += g->used;
			{
				uint8_t *p = malloc((size_t)g->nextents * JR_PAIR_LEN + 1);
				for (int k = 0; p && k < g->nextents; k++)
					jr_pair_put(p, (size_t)k, &g->extents[k].id, 0);
				task(c, JT_EGROUP_DELETE, g->id, g->version, (int64_t)g->used * g->nreplicas, p,
				     p ? (size_t)g->nextents * JR_PAIR_LEN : 0);
				free(p);
			}
		} else {
			c->c[JC_PROTECTED]++;
		}
	}
	if (!(all_zero && g->last_ref_seq < c->s0)) {
		protection(c, g, 0, NULL, NULL, 0);
		/* policy by age and place needs no references: compression, ILM, balancing */
		if (!all_zero && !(g->last_ref_seq < c->s0 && compress_candidate(c, g)))
			rc = placement(c, g, em);
	}
	for (int r = 0; r < g->nreplicas && !rc; r++)
		rc = emit_usage(em, g->replicas[r].disk, g->used);
	return c->oom ? -ENOMEM : rc;
}

/* --- driver ------------------------------------------------------------- */

static void add_phase(struct job_scan_result *res, const char *name, const struct mr_job *j)
{
	struct job_phase *p = &res->phases[res->nphases++];
	p->name = name;
	p->secs = j->map_secs + j->reduce_secs;
	p->in = j->records_in;
	p->out = j->records_out;
}

/* Collective: tell rank 0's observer a phase starts; 1 if rank 0 asked to stop. */
static int phase(struct mr_ctx *mr, const struct job_scan_opts *o, int64_t scan, const char *name, int i, int n)
{
	int stop = 0;

	if (mr_rank(mr) == 0) {
		if (o->progress)
			o->progress(o->progress_arg, scan, name, i, n);
		stop = o->stop && *o->stop;
	}
	mr_bcast(mr, &stop, sizeof(stop), 0);
	return stop;
}

static void input(struct mr_input *in, const char *name, int nsplits, mr_read_fn read, void *arg, mr_map_fn map)
{
	memset(in, 0, sizeof(*in));
	in->name = name;
	in->nsplits = nsplits;
	in->read = read;
	in->read_arg = arg;
	in->owner = shard_owner_any;
	in->map = map;
	in->map_arg = arg;
}

/* Write this rank's findings, tasks and usage to curator.db. */
static int flush_results(struct scan_ctx *c, struct job_db *db, struct st_msg *err)
{
	struct job_finding *jf = calloc(c->nf + 1, sizeof(*jf));
	int rc = 0;

	if (!jf)
		return st_fail(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < c->nf; i++) {
		jf[i].kind = c->f[i].kind;
		jf[i].egroup = c->f[i].egroup;
		jf[i].extent = c->f[i].extent[0] ? c->f[i].extent : NULL;
		jf[i].detail = c->f[i].detail;
	}
	rc = job_db_findings_add(db, c->scan_id, jf, (int)c->nf, err);
	free(jf);
	for (size_t i = 0; !rc && i < c->ntasks; i++)
		c->tasks[i].scan = c->scan_id;
	if (!rc && !c->o->dry_run)
		rc = job_db_tasks_add(db, c->tasks, (int)c->ntasks, err);
	for (int i = 0; !rc && i < c->ndisks; i++)
		if (c->uegroups[i])
			rc = job_db_usage_add(db, c->scan_id, c->disks[i].id, c->disks[i].tier, c->ubytes[i], c->uegroups[i],
					      err);
	return rc;
}

static void phases_json(const struct job_scan_result *res, char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "[");
	for (int i = 0; i < res->nphases && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off,
					"%s{\"phase\":\"%s\",\"secs\":%.3f,\"records_in\":%" PRIu64 ",\"records_out\":%" PRIu64 "}",
					i ? "," : "", res->phases[i].name, res->phases[i].secs, res->phases[i].in,
					res->phases[i].out);
	if (off < len)
		snprintf(buf + off, len - off, "]");
}

static void counters_json(const struct job_scan_result *res, char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "{");
	for (int i = 0; i < JC_NCOUNTERS && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s\"%s\":%" PRId64, i ? "," : "", counter_names[i],
					res->counters[i]);
	for (int k = 0; k < JT_NKINDS && off < len; k++)
		off += (size_t)snprintf(buf + off, len - off, ",\"tasks_%s\":%" PRIu64, job_task_kind_name(k), res->tasks[k]);
	if (off < len)
		snprintf(buf + off, len - off, "}");
}

int job_scan_run(struct mr_ctx *mr, struct st_store *st, const struct job_scan_opts *o_in,
		 struct job_scan_result *res, struct st_msg *err)
{
	struct job_scan_opts o = *o_in;
	struct scan_ctx c = { .st = st, .m = st_store_meta(st), .o = &o, .rank = mr_rank(mr) };
	struct st_vdisk *vd = NULL;
	struct job_db *db = NULL;
	char out1[ST_PATH_MAX + 64], out2[ST_PATH_MAX + 64], out3[ST_PATH_MAX + 64];
	int nvd = 0, rc, nshards = st_meta_nshards(c.m);
	const char *dir = st_config_dir(st_store_config(st));
	struct mr_job j;
	struct mr_input refs_in;
	int have_refs_in = 0, lockfd = -1;

	if (o.sweep_grace < 0)
		o.sweep_grace = 3600;
	if (!o.compact_pct)
		o.compact_pct = 20;
	if (o.node_grace < 0)
		o.node_grace = 60;
	if (o.scrub_period < 0)
		o.scrub_period = 7 * 86400;
	memset(res, 0, sizeof(*res));
	c.now = st_now();
	st_hmap_init(&c.vd, 8, 1);

	/* rank 0 takes the scan lock and S0 and opens the scan record; everyone learns both */
	rc = job_db_open(dir, &db, err);
	if (!rc && c.rank == 0) {
		char lp[ST_PATH_MAX + 32];
		snprintf(lp, sizeof(lp), "%s/locks/scan.lock", dir);
		lockfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0)
			rc = st_fail(err, ST_EBUSY, "scan: another scan is running on this cluster");
	}
	if (!rc && c.rank == 0) {
		rc = st_config_scan_seq(st_store_config(st), &c.s0, err);
		if (!rc)
			rc = job_db_scan_begin(db, o.full ? "full" : "partial", o.dry_run, c.s0, mr_nranks(mr), &c.scan_id,
					       err);
	}
	rc = mr_agree(mr, rc);
	if (rc) {
		if (!err->text[0])
			st_fail(err, rc, "scan: %s", mr_ctx_errmsg(mr));
		goto done;
	}
	mr_bcast(mr, &c.s0, sizeof(c.s0), 0);
	mr_bcast(mr, &c.scan_id, sizeof(c.scan_id), 0);
	res->s0 = c.s0;
	res->scan_id = c.scan_id;

	rc = st_config_vdisks(st_store_config(st), 1, &vd, &nvd, err);
	if (!rc)
		rc = st_config_disks(st_store_config(st), &c.disks, &c.ndisks, err);
	if (!rc)
		rc = st_config_nodes(st_store_config(st), &c.nodes, &c.nnodes, err);
	if (!rc)
		rc = st_config_containers(st_store_config(st), &c.conts, &c.nconts, err);
	if (!rc) {
		char url[8];
		placement_init(&c);
		st_hmap_init(&c.rd, 8, 12);
		rc = st_config_reads(st_store_config(st), load_read, &c.rd, err);
		c.cloud = st_config_setting_get(st_store_config(st), "cloud_url", url, sizeof(url), NULL) == 0;
	}
	for (int i = 0; !rc && i < nvd; i++) {
		uint8_t *s = st_hmap_put(&c.vd, &vd[i].id, NULL);
		if (!s)
			rc = -ENOMEM;
		else
			*s = (uint8_t)vd[i].state | (dedup_container(&c, vd[i].container) ? VD_DEDUP : 0);
		/* a deleted vdisk: its block rows (if any are left) and its config row go */
		if (o.full && c.rank == 0 && vd[i].state == ST_VDISK_DELETED)
			task(&c, JT_BLOCKS_DELETE, vd[i].id, 0, 0, NULL, 0);
	}
	if (!rc) {
		c.ubytes = calloc((size_t)c.ndisks + 1, 8);
		c.uegroups = calloc((size_t)c.ndisks + 1, 8);
		if (!c.ubytes || !c.uegroups)
			rc = -ENOMEM;
	}
	rc = mr_agree(mr, rc);
	if (rc)
		goto fail;

	snprintf(out1, sizeof(out1), "%s/scratch/scan-%" PRId64 "-mr1", dir, c.scan_id);
	snprintf(out2, sizeof(out2), "%s/scratch/scan-%" PRId64 "-mr2", dir, c.scan_id);
	snprintf(out3, sizeof(out3), "%s/scratch/scan-%" PRId64 "-mr3", dir, c.scan_id);
	if (c.rank == 0) {
		char sd[ST_PATH_MAX + 16];
		snprintf(sd, sizeof(sd), "%s/scratch", dir);
		st_mkdir_p(sd);
	}
	mr_barrier(mr);

	if (o.full) {
		/* MR1 */
		if (phase(mr, &o, c.scan_id, "MR1 extent references", 1, 3))
			goto stopped;
		mr_job_init(&j);
		j.name = "MR1 extent references";
		j.ninputs = 2;
		input(&j.inputs[0], "vdisk block map", nshards, read_blocks, &c, map_block);
		input(&j.inputs[1], "extent ID map", nshards, read_extents, &c, map_extent);
		j.reduce = reduce_extent;
		j.reduce_arg = &c;
		/* counts, the one 'E', and 'B's that MR2 sorts again: any order will do */
		j.values_unordered = 1;
		j.output_dir = out1;
		j.mem_budget = o.mem_budget ? o.mem_budget : mr_host_budget(mr);
		rc = mr_job_run(mr, &j);
		if (rc)
			goto mrfail;
		add_phase(res, "MR1 extent references", &j);
		c.refs_incomplete = mr_sum(mr, c.c[JC_CORRUPT_ROWS]) > 0;
		/* MR2 */
		if (phase(mr, &o, c.scan_id, "MR2 egroup reconciliation", 2, 3))
			goto stopped;
		if (c.cloud) { /* list the cloud tier only if it answers now (else no object is called missing) */
			int ok = 0;
			if (c.rank == 0) {
				struct st_cloud *cl;
				struct st_msg cerr = { "" };
				ok = st_store_cloud(st, &cl, &cerr) == 0 && st_cloud_check(cl, &cerr) == 0;
				if (!ok)
					finding(&c, "cloud_unreachable", 0, NULL, "%s", cerr.text);
			}
			mr_bcast(mr, &ok, sizeof(ok), 0);
			c.cloud_ok = ok;
		}
		mr_job_init(&j);
		j.name = "MR2 egroup reconciliation";
		j.ninputs = 5;
		input(&j.inputs[0], "egroup map", nshards, read_egroups, &c, map_egroup_rec);
		rc = mr_output_input(out1, map_refs, &c, &refs_in);
		if (rc) {
			st_fail(err, rc, "scan: MR1 output missing");
			goto fail_agree;
		}
		have_refs_in = 1;
		j.inputs[1] = refs_in;
		input(&j.inputs[2], "egroup files", c.ndisks, read_files, &c, map_file);
		input(&j.inputs[3], "chunk fingerprints", nshards, read_fps, &c, map_usage);
		input(&j.inputs[4], "cloud objects", 1, read_cloud, &c, map_file);
		j.reduce = reduce_egroup;
		j.reduce_arg = &c;
		j.output_dir = out2;
		j.mem_budget = o.mem_budget ? o.mem_budget : mr_host_budget(mr);
		rc = mr_job_run(mr, &j);
		if (rc)
			goto mrfail;
		add_phase(res, "MR2 egroup reconciliation", &j);
		/* MR3 */
		if (phase(mr, &o, c.scan_id, "MR3 placement", 3, 3))
			goto stopped;
		mr_output_input_release(&refs_in);
		have_refs_in = 0;
		mr_job_init(&j);
		j.name = "MR3 placement";
		j.ninputs = 1;
		rc = mr_output_input(out2, map_usage, &c, &refs_in);
		if (rc) {
			st_fail(err, rc, "scan: MR2 output missing");
			goto fail_agree;
		}
		have_refs_in = 1;
		j.inputs[0] = refs_in;
		j.combine = combine_usage;
		j.reduce = reduce_usage;
		j.reduce_arg = &c;
		j.output_dir = NULL;
		j.nparts = 16;
		rc = mr_job_run(mr, &j);
		if (rc)
			goto mrfail;
		for (int i = 0; i < c.ndd; i++)
			dedup_flush(&c, &c.dd[i]);
		add_phase(res, "MR3 placement", &j);
	} else {
		if (phase(mr, &o, c.scan_id, "partial scan", 1, 1))
			goto stopped;
		mr_job_init(&j);
		j.name = "partial scan";
		j.ninputs = 1;
		input(&j.inputs[0], "egroup map", nshards, read_egroups, &c, map_partial);
		j.combine = combine_usage;
		j.reduce = reduce_usage;
		j.reduce_arg = &c;
		j.nparts = 16;
		j.mem_budget = o.mem_budget ? o.mem_budget : mr_host_budget(mr);
		rc = mr_job_run(mr, &j);
		if (rc)
			goto mrfail;
		add_phase(res, "partial scan", &j);
	}
	/* a draining disk that no egroup uses any more can be marked removed */
	for (int i = 0; i < c.ndisks; i++) {
		int64_t eg = mr_sum(mr, (int64_t)c.uegroups[i]);
		if (c.rank == 0 && c.disks[i].draining && !c.disks[i].removed && eg == 0)
			task(&c, JT_DISK_REMOVED, c.disks[i].id, 0, 0, NULL, 0);
	}
	/* results */
	rc = c.oom ? st_fail(err, -ENOMEM, "scan: out of memory") : flush_results(&c, db, err);
	rc = mr_agree(mr, rc);
	for (int i = 0; i < JC_NCOUNTERS; i++)
		res->counters[i] = mr_sum(mr, c.c[i]);
	{
		uint64_t local[JT_NKINDS] = { 0 };
		for (size_t i = 0; i < c.ntasks; i++)
			local[c.tasks[i].kind]++;
		for (int k = 0; k < JT_NKINDS; k++)
			res->tasks[k] = (uint64_t)mr_sum(mr, (int64_t)local[k]);
	}
	if (c.rank == 0) {
		char ph[2048], cn[4096];
		phases_json(res, ph, sizeof(ph));
		counters_json(res, cn, sizeof(cn));
		job_db_scan_end(db, c.scan_id, rc == 0, ph, cn, rc ? err->text : NULL, NULL);
	}
	goto done;

stopped:
	rc = st_fail(err, MR_EABORTED, "scan: stopped before its next phase (SIGTERM); nothing was queued");
	goto fail;
mrfail:
	st_fail(err, rc, "scan: %s", mr_ctx_errmsg(mr));
	goto fail;
fail_agree:
	rc = mr_agree(mr, rc);
fail:
	if (c.rank == 0 && c.scan_id)
		job_db_scan_end(db, c.scan_id, 0, NULL, NULL, err->text, NULL);
done:
	if (have_refs_in)
		mr_output_input_release(&refs_in);
	if (c.rank == 0) {
		char p[ST_PATH_MAX + 80];
		snprintf(p, sizeof(p), "%s/scratch/scan-%" PRId64 "-mr1", dir, c.scan_id);
		st_rm_rf(p);
		snprintf(p, sizeof(p), "%s/scratch/scan-%" PRId64 "-mr2", dir, c.scan_id);
		st_rm_rf(p);
	}
	for (size_t i = 0; i < c.ntasks; i++)
		job_task_release(&c.tasks[i]);
	free(c.tasks);
	for (int i = 0; i < c.ndd; i++) {
		free(c.dd[i].p);
		st_hmap_release(&c.dd[i].seen);
	}
	free(c.dd);
	free(c.f);
	free(c.disks);
	free(c.nodes);
	free(c.conts);
	free(c.ubytes);
	free(c.uegroups);
	mr_ctx_trim(mr); /* the engine's memory, kept between MR1..MR3 */
	for (int i = 0; i < SCR_N; i++)
		free(c.scr[i].p);
	free(c.gext);
	free(vd);
	st_hmap_release(&c.vd);
	st_hmap_release(&c.rd);
	free(c.disk_over);
	free(c.node_under);
	job_db_close(db);
	if (lockfd >= 0)
		close(lockfd);
	return rc;
}
