/*
 * st_fsck: see st_fsck.h. Four passes: load the extent ID map and the
 * egroup map into hash tables, walk the block map resolving every region
 * of live (and unknown) vdisks top-down, compare recorded refcounts with
 * what was found, then look for egroup files no row names.
 *
 * DESIGN. fsck counts references exactly as the full scan does (block rows
 * of deleted vdisks are not references, rows of unknown vdisks are), so
 * whatever state the scan's tasks leave, in any order and interrupted
 * anywhere, is garbage here and never a violation; a violation is only
 * what would make a read fail or return wrong bytes (st_fsck.h, THE RULE).
 */
#include "storage/st_fsck.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "storage/st_codec.h"
#include "storage/st_egroup.h"
#include "storage/st_hmap.h"

struct xval { /* per extent id */
	uint64_t egroup;  /* from the extent ID map, 0 = absent */
	uint32_t refs;    /* block rows referencing it */
	uint8_t in_map;
	uint8_t checked;  /* data verified (1 ok, 2 no good replica) */
};

struct ctx {
	struct st_store *st;
	st_fsck_cb cb;
	void *arg;
	struct st_fsck_report *rep;
	struct st_hmap x;   /* extent id -> xval */
	struct st_hmap eg;  /* egroup id -> index into recs */
	struct st_hmap bad; /* ids of corrupt egroup rows (their files are not orphans) */
	struct st_egroup_rec *recs;
	size_t nrecs, caprecs;
	struct st_hmap vd;  /* vdisk id -> VD_LIVE or VD_DELETED */
	uint8_t *buf;
	size_t bufcap;
	int oom;
};

enum { VD_LIVE = 1, VD_DELETED = 2 };

static void say(struct ctx *c, enum st_fsck_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct ctx *c, enum st_fsck_level lvl, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (lvl == ST_FSCK_VIOLATION)
		c->rep->violations++;
	else if (lvl == ST_FSCK_WARNING)
		c->rep->warnings++;
	if (c->cb)
		c->cb(c->arg, lvl, msg);
}

static int load_extent(void *arg, int rc_row, const struct st_extent_id *id, uint64_t egroup)
{
	struct ctx *c = arg;
	struct xval *v;
	char b[80];

	if (rc_row) {
		say(c, ST_FSCK_VIOLATION, "extent %s: corrupt extent ID row (names egroup %llx)",
		    st_extent_id_fmt(id, b, sizeof(b)), (unsigned long long)egroup);
		return 0;
	}
	v = st_hmap_put(&c->x, id->b, NULL);
	if (!v)
		return -ENOMEM;
	v->egroup = egroup;
	v->in_map = 1;
	c->rep->extent_ids++;
	return 0;
}

static int load_egroup(void *arg, int rc_row, uint64_t id, const struct st_egroup_rec *r)
{
	struct ctx *c = arg;
	uint32_t *idx;

	if (rc_row) {
		say(c, ST_FSCK_VIOLATION, "egroup %llx: corrupt metadata row (%s)", (unsigned long long)id,
		    st_strerror(rc_row));
		return st_hmap_put(&c->bad, &id, NULL) ? 0 : -ENOMEM;
	}
	if (st_grow(&c->recs, &c->caprecs, c->nrecs, sizeof(*c->recs)))
		return -ENOMEM;
	st_egroup_rec_init(&c->recs[c->nrecs]);
	if (st_egroup_rec_copy(&c->recs[c->nrecs], r))
		return -ENOMEM;
	idx = st_hmap_put(&c->eg, &id, NULL);
	if (!idx)
		return -ENOMEM;
	*idx = (uint32_t)c->nrecs++;
	c->rep->egroups++;
	return 0;
}

/* Verify every replica of extent e; return 1 if one is good. */
static int verify_data(struct ctx *c, const struct st_egroup_rec *g, const struct st_extent_rec *e)
{
	int good = 0;

	if (2 * (size_t)e->raw_len > c->bufcap) { /* stored bytes, then room to inflate them */
		uint8_t *n = realloc(c->buf, 2 * (size_t)e->raw_len);
		if (!n) {
			c->oom = 1;
			return 0;
		}
		c->buf = n;
		c->bufcap = 2 * (size_t)e->raw_len;
	}
	for (int i = 0; i < g->nreplicas; i++) {
		char b[80];
		struct st_disk d;
		int rc;

		if (st_config_disk_get(st_store_config(c->st), g->replicas[i].disk, &d, NULL) || !d.ok)
			continue; /* replicas on failed disks are the curator's to replace */
		rc = st_store_read_replica(c->st, g, i, e, c->buf);
		if (!rc && (e->flags & ST_EXTENT_COMPRESSED) &&
		    st_codec_inflate(c->buf, e->stored_len, c->buf + e->raw_len, e->raw_len))
			rc = ST_ECORRUPT;
		if (rc) {
			c->rep->bad_replicas++;
			say(c, ST_FSCK_WARNING, "egroup %llx replica on disk %u: extent %s: %s",
			    (unsigned long long)g->id, g->replicas[i].disk, st_extent_id_fmt(&e->id, b, sizeof(b)),
			    rc == -ENOENT ? "file missing" : st_strerror(rc));
			continue;
		}
		good = 1;
		c->rep->bytes_verified += e->raw_len;
	}
	return good;
}

static const struct st_egroup_rec *egroup_of(struct ctx *c, uint64_t id)
{
	uint32_t *idx = st_hmap_get(&c->eg, &id);
	return idx ? &c->recs[*idx] : NULL;
}

/* One block row: a deleted vdisk's is garbage; a live or unknown one's regions resolve top-down. */
static int check_block(void *arg, int rc_row, const struct st_block *b)
{
	struct ctx *c = arg;
	const uint8_t *state = st_hmap_get(&c->vd, &b->vdisk);

	c->rep->block_rows++;
	if (state && *state == VD_DELETED) { /* blocks_delete's, whatever it points to */
		c->rep->deleted_vdisk_rows++;
		return 0;
	}
	if (!state)
		c->rep->unknown_vdisk_rows++;
	if (rc_row) {
		say(c, ST_FSCK_VIOLATION, "vdisk %llx block %llu: corrupt block map row", (unsigned long long)b->vdisk,
		    (unsigned long long)b->block);
		return 0;
	}
	for (int i = 0; i < b->n; i++) {
		const struct st_region *r = &b->r[i];
		const struct st_egroup_rec *g;
		struct xval *v;
		char idb[80];
		int dup = 0, k;

		c->rep->regions++;
		for (int q = 0; q < i; q++)
			dup |= !memcmp(b->r[q].extent.b, r->extent.b, ST_EXTENT_ID_LEN);
		v = st_hmap_put(&c->x, r->extent.b, NULL);
		if (!v)
			return -ENOMEM;
		if (!dup)
			v->refs++;
		st_extent_id_fmt(&r->extent, idb, sizeof(idb));
		if (!v->in_map) {
			if (!dup)
				say(c, ST_FSCK_VIOLATION, "vdisk %llx block %llu: dangling reference to extent %s (no extent ID row)",
				    (unsigned long long)b->vdisk, (unsigned long long)b->block, idb);
			continue;
		}
		g = egroup_of(c, v->egroup);
		k = g ? st_egroup_rec_find(g, &r->extent) : -1;
		if (k < 0) {
			if (!dup)
				say(c, ST_FSCK_VIOLATION,
				    "vdisk %llx block %llu: dangling reference: extent %s -> egroup %llx %s",
				    (unsigned long long)b->vdisk, (unsigned long long)b->block, idb,
				    (unsigned long long)v->egroup, g ? "does not hold it" : "does not exist");
			continue;
		}
		if ((uint64_t)r->extent_off + r->len > g->extents[k].raw_len)
			say(c, ST_FSCK_VIOLATION, "vdisk %llx block %llu: region past the end of extent %s",
			    (unsigned long long)b->vdisk, (unsigned long long)b->block, idb);
		if (!v->checked) {
			if (g->flags & ST_EGROUP_CLOUD) { /* its one copy is the cloud object */
				if (g->extents[k].raw_len > c->bufcap) {
					uint8_t *nb = realloc(c->buf, g->extents[k].raw_len);
					if (!nb)
						return -ENOMEM;
					c->buf = nb;
					c->bufcap = g->extents[k].raw_len;
				}
				v->checked = st_store_read_extent(c->st, g, &g->extents[k], c->buf, NULL, NULL) == 0 ? 1 : 2;
				if (v->checked == 1)
					c->rep->bytes_verified += g->extents[k].raw_len;
			} else
				v->checked = verify_data(c, g, &g->extents[k]) ? 1 : 2;
			if (v->checked == 2 && (g->flags & ST_EGROUP_EC)) {
				/* no copy verifies: its strip may still decode it */
				if (g->extents[k].raw_len <= c->bufcap &&
				    st_store_read_extent(c->st, g, &g->extents[k], c->buf, NULL, NULL) == 0) {
					v->checked = 1;
					say(c, ST_FSCK_WARNING, "extent %s in egroup %llx: read by decoding its strip", idb,
					    (unsigned long long)g->id);
				}
			}
			if (c->oom)
				return -ENOMEM;
			if (v->checked == 2)
				say(c, ST_FSCK_VIOLATION, "extent %s in egroup %llx: no replica passes its checksum", idb,
				    (unsigned long long)g->id);
		}
	}
	return 0;
}

static void check_refcounts(struct ctx *c)
{
	for (size_t i = 0; i < c->nrecs; i++) {
		const struct st_egroup_rec *g = &c->recs[i];
		for (int k = 0; k < g->nextents; k++) {
			const struct st_extent_rec *e = &g->extents[k];
			struct xval *v = st_hmap_get(&c->x, e->id.b);
			/* references resolve through the extent ID map: a copy in another egroup
			 * (a dedup extent two tasks both made) is unreferenced garbage */
			uint32_t found = v && (!v->in_map || v->egroup == g->id) ? v->refs : 0;
			char idb[80];

			c->rep->extents++;
			st_extent_id_fmt(&e->id, idb, sizeof(idb));
			if (e->refcount < found)
				say(c, ST_FSCK_VIOLATION, "extent %s in egroup %llx: recorded refcount %u < %u references",
				    idb, (unsigned long long)g->id, e->refcount, found);
			else if (e->refcount > found)
				c->rep->refcount_high++;
			if (found == 0)
				c->rep->unreferenced++;
		}
	}
	{
		size_t pos = 0;
		const void *key;
		void *val;
		while (st_hmap_next(&c->x, &pos, &key, &val)) {
			struct xval *v = val;
			const struct st_egroup_rec *g;
			struct st_extent_id id;

			if (!v->in_map || v->refs)
				continue;
			memcpy(id.b, key, ST_EXTENT_ID_LEN);
			g = egroup_of(c, v->egroup);
			if (!g || st_egroup_rec_find(g, &id) < 0)
				c->rep->orphan_extent_ids++;
		}
	}
}

/* Egroup files on usable disks that no row names as a replica there (as the scan's file_sweep sees them). */
static int check_files(struct ctx *c, struct st_msg *err)
{
	struct st_disk *d = NULL;
	int n = 0, rc = st_config_disks(st_store_config(c->st), &d, &n, err);

	for (int i = 0; !rc && i < n; i++) {
		char dir[ST_PATH_MAX + 16];
		struct dirent *e;
		DIR *dh;

		if (!d[i].ok || d[i].removed)
			continue; /* a failed disk's files are the curator's to replace, not to sweep */
		snprintf(dir, sizeof(dir), "%s/egroups", d[i].path);
		dh = opendir(dir);
		if (!dh)
			continue;
		while ((e = readdir(dh))) {
			char *end;
			uint64_t id = strtoull(e->d_name, &end, 16);
			const struct st_egroup_rec *g;
			int named = 0;

			if (strcmp(end, ".eg") || end - e->d_name != 16)
				continue;
			g = egroup_of(c, id);
			for (int r = 0; g && r < g->nreplicas; r++)
				named |= g->replicas[r].disk == d[i].id;
			if (!named && !st_hmap_get(&c->bad, &id))
				c->rep->orphan_files++;
		}
		closedir(dh);
	}
	free(d);
	return rc;
}

int st_fsck_run(struct st_store *st, st_fsck_cb cb, void *arg, struct st_fsck_report *rep,
		struct st_msg *err)
{
	struct st_meta *m = st_store_meta(st);
	struct ctx c = { .st = st, .cb = cb, .arg = arg, .rep = rep };
	struct st_vdisk *vd = NULL;
	int nvd = 0, rc;

	memset(rep, 0, sizeof(*rep));
	st_hmap_init(&c.x, ST_EXTENT_ID_LEN, sizeof(struct xval));
	st_hmap_init(&c.eg, 8, 4);
	st_hmap_init(&c.bad, 8, 1);
	st_hmap_init(&c.vd, 8, 1);
	rc = st_config_vdisks(st_store_config(st), 1, &vd, &nvd, err);
	for (int i = 0; !rc && i < nvd; i++) {
		uint8_t *state = st_hmap_put(&c.vd, &vd[i].id, NULL);
		if (!state)
			rc = -ENOMEM;
		else
			*state = vd[i].state == ST_VDISK_DELETED ? VD_DELETED : VD_LIVE;
	}
	for (int s = 0; !rc && s < st_meta_nshards(m); s++)
		rc = st_meta_scan_extents(m, s, load_extent, &c, err);
	for (int s = 0; !rc && s < st_meta_nshards(m); s++)
		rc = st_meta_scan_egroups(m, s, load_egroup, &c, err);
	for (int s = 0; !rc && s < st_meta_nshards(m); s++)
		rc = st_meta_scan_blocks(m, s, check_block, &c, err);
	if (!rc)
		check_refcounts(&c);
	if (!rc)
		rc = check_files(&c, err);
	if (!rc && rep->unknown_vdisk_rows)
		say(&c, ST_FSCK_WARNING,
		    "%llu block rows of vdisks config.db does not know: counted as references, never collected",
		    (unsigned long long)rep->unknown_vdisk_rows);
	rep->garbage = rep->refcount_high + rep->unreferenced + rep->orphan_extent_ids + rep->deleted_vdisk_rows +
		       rep->orphan_files;
	if (rc == -ENOMEM)
		st_fail(err, rc, "fsck: out of memory");
	free(vd);
	for (size_t i = 0; i < c.nrecs; i++)
		st_egroup_rec_release(&c.recs[i]);
	free(c.recs);
	free(c.buf);
	st_hmap_release(&c.x);
	st_hmap_release(&c.eg);
	st_hmap_release(&c.bad);
	st_hmap_release(&c.vd);
	return rc;
}
