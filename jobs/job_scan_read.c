/*
 * job_scan_read: the scan's readers, one split at a time: a metadata
 * shard's block map, extent ID map, egroup map or fingerprint rows, one
 * disk's egroup files, or the cloud tier's object listing.
 *
 * DESIGN. The first stage of every job (job_scan_int.h has the pipeline).
 * Rows go to the map functions by reference, valid during the callback
 * only; files and cloud objects as file records (job_rec.h), their names
 * read back with st_egroup_name_parse (a name that is not an egroup's is
 * not ours and is skipped). A row that fails its checksum is counted and
 * reported, never acted on: the block reader drops it (MR1 then knows its
 * references are incomplete, see refs_incomplete), the egroup reader
 * passes on only that the row exists, so its files and extent-ID rows are
 * not taken for orphans. Readers only read: the scan is read-only until
 * its tasks run. Every row read goes through job_scan_poll first (the
 * scan's heartbeat and progress, and a stop within the phase).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jobs/job_scan_int.h"
#include "storage/st_cloud.h"
#include "storage/st_egroup.h"

struct rd {
	struct scan_ctx *c;
	mr_record_fn fn;
	void *fnarg;
};

static int rd_block(void *arg, int rc_row, const struct st_block *b)
{
	struct rd *r = arg;
	uint8_t key[JR_BLOCK_LEN];
	int rc = job_scan_poll(r->c, 1);

	if (rc)
		return rc;
	r->c->c[JC_BLOCK_ROWS]++;
	if (rc_row) {
		r->c->c[JC_CORRUPT_ROWS]++;
		job_scan_finding(r->c, "corrupt_block_row", 0, NULL,
				 "vdisk %" PRIx64 " block %" PRIu64 ": the row fails its checksum", b->vdisk, b->block);
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

int job_scan_read_blocks(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
{
	struct rd r = { arg, fn, fnarg };
	struct st_msg err = { "" };
	int rc = st_meta_scan_blocks(r.c->m, split, rd_block, &r, &err);

	return with_reason(rc, &err, why, whylen);
}

static int rd_extent(void *arg, int rc_row, const struct st_extent_id *id, uint64_t egroup)
{
	struct rd *r = arg;
	int rc = job_scan_poll(r->c, 1);

	if (rc)
		return rc;
	if (rc_row) { /* where that extent lives is unknown: nothing may be called dead (see job_mr1.c) */
		r->c->c[JC_CORRUPT_ROWS]++;
		return 0;
	}
	r->c->c[JC_EXTENT_IDS]++;
	return r->fn(r->fnarg, id->b, ST_EXTENT_ID_LEN, &egroup, sizeof(egroup));
}

int job_scan_read_extents(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
{
	struct rd r = { arg, fn, fnarg };
	struct st_msg err = { "" };
	int rc = st_meta_scan_extents(r.c->m, split, rd_extent, &r, &err);

	return with_reason(rc, &err, why, whylen);
}

static int rd_egroup(void *arg, int rc_row, uint64_t id, const struct st_egroup_rec *g)
{
	struct rd *r = arg;
	int rc = job_scan_poll(r->c, 1);

	if (rc)
		return rc;
	r->c->c[JC_EGROUPS]++;
	if (rc_row) {
		r->c->c[JC_CORRUPT_ROWS]++;
		job_scan_finding(r->c, "corrupt_egroup_row", id, NULL,
				 "egroup %" PRIx64 ": the row fails its checksum; left alone", id);
		/* tell the reduce the row exists: its files and extent-ID rows are not orphans */
		return r->fn(r->fnarg, &id, sizeof(id), NULL, 0);
	}
	return r->fn(r->fnarg, &id, sizeof(id), g, sizeof(*g));
}

struct rd_changed {
	struct rd r;
	struct st_hmap seen; /* egroup ids passed on */
};

static int rd_changed(void *arg, int rc_row, uint64_t id, const struct st_egroup_rec *g)
{
	struct rd_changed *x = arg;

	if (!st_hmap_put(&x->seen, &id, NULL))
		return -ENOMEM;
	return rd_egroup(&x->r, rc_row, id, g);
}

int job_scan_read_egroups_changed(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
{
	struct rd_changed x = { { arg, fn, fnarg }, { 0 } };
	struct scan_ctx *c = x.r.c;
	struct st_msg err = { "" };
	struct st_egroup_rec g;
	size_t pos = 0;
	const void *k;
	void *v;
	int rc;

	st_hmap_init(&x.seen, 8, 1);
	rc = st_meta_scan_egroups_changed(c->m, split, c->win, c->nwin, rd_changed, &x, &err);
	st_egroup_rec_init(&g);
	/* read lately: promotion looks at the reads, which are not in the egroup's row */
	while (!rc && st_hmap_next(&c->rd, &pos, &k, &v)) {
		uint64_t id;
		int grc;
		memcpy(&id, k, 8);
		if (st_meta_shard_egroup(c->m, id) != split || st_hmap_get(&x.seen, &id))
			continue;
		grc = st_meta_egroup_get(c->m, id, &g, NULL);
		if (grc == ST_ENOTFOUND)
			continue;
		if (grc && grc != ST_ECORRUPT) {
			rc = st_fail(&err, grc, "egroup %" PRIx64 ": cannot read it", id);
			break;
		}
		rc = rd_egroup(&x.r, grc, id, &g);
	}
	st_egroup_rec_release(&g);
	st_hmap_release(&x.seen);
	return with_reason(rc, &err, why, whylen);
}

int job_scan_read_egroups(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
{
	struct rd r = { arg, fn, fnarg };
	struct st_msg err = { "" };
	int rc = st_meta_scan_egroups(r.c->m, split, rd_egroup, &r, &err);

	return with_reason(rc, &err, why, whylen);
}

static int rd_fp(void *arg, int rc_row, uint64_t egroup, const uint8_t *blob, size_t len)
{
	struct rd *r = arg;
	uint8_t *v;
	int rc = job_scan_poll(r->c, 1);

	if (rc)
		return rc;
	v = malloc(JR_P_ROW + len);
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
int job_scan_read_fps(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
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
	int rc = job_scan_poll(r->c, 1);

	if (rc)
		return rc;
	if (strncmp(key, prefix, sizeof(prefix) - 1) || st_egroup_name_parse(key + sizeof(prefix) - 1, &id))
		return 0; /* not ours */
	r->c->c[JC_CLOUD_OBJECTS]++;
	jr_file_put(v, ST_CLOUD_DISK, mtime, size);
	return r->fn(r->fnarg, &id, sizeof(id), v, JR_FILE_LEN);
}

/* The cloud tier's objects, as files on pseudo disk ST_CLOUD_DISK (one split). */
int job_scan_read_cloud(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
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
int job_scan_read_files(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
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

		rc = job_scan_poll(c, 1);
		if (rc || st_egroup_name_parse(e->d_name, &id))
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
