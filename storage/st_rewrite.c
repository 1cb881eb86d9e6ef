/*
 * st_rewrite: the curator's primitives that write new copies of data that
 * exists: a new egroup from the kept extents of another (compaction,
 * post-process compression) and from the live byte ranges of others (a
 * compaction that cuts shadowed bytes out) or from given bytes (dedup), more copies of
 * an egroup (re-replication, tiering, balancing), a repaired replica, and
 * batch mode (struct st_batchmode: one syncfs per disk for a whole batch
 * of rewrites instead of an fdatasync per file).
 *
 * DESIGN: data first (DESIGN.md §6). Every byte copied is read through a
 * verified copy (st_read.c, st_replica.c), written to files placed like a
 * foreground write (st_place.c) and made durable (fdatasync, or the
 * batch's syncfs) before any row names it. A new egroup is inserted as a
 * new row stamped last_ref_seq = max(its source's, seq), seq being the
 * task's operation, so a scan that began before it never finds its
 * extents dead; new copies of an egroup are files only, which the caller
 * adds to the row by compare-and-set. The caller then flips the metadata
 * (CAS on the versions its task was computed from) and retires the old
 * copies last (st_retire.c). On error nothing is inserted and the new
 * files are removed; a crash leaves orphan files for the sweep. In the
 * st_store family this file calls st_topo.c, st_replica.c, st_place.c,
 * st_read.c, st_write.c (st_write_compress) and st_retire.c.
 */
#include "storage/st_store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "storage/st_codec.h"
#include "storage/st_egroup.h"

/*
 * Write a new egroup like tmpl (container, owner, times, flags) holding
 * exts[0..n) whose stored bytes are data[i] (codec >= 0: the raw ones are
 * compressed first, all at once), RF replicas placed like a foreground
 * write, fdatasync'd, then its row inserted (last_ref_seq = max(tmpl's,
 * seq)) and the disks' usage accounted. On error nothing is inserted and
 * the new files are gone.
 */
static int egroup_write(struct st_store *st, const struct st_egroup_rec *tmpl, const struct st_extent_rec *exts,
			const uint8_t *const *data, int n, uint64_t seq, int codec, struct st_egroup_rec *out,
			struct st_msg *err)
{
	struct st_container c;
	uint32_t disks[ST_REPLICAS_MAX];
	int fds[ST_REPLICAS_MAX];
	char paths[ST_REPLICAS_MAX][ST_PATH_MAX + 64];
	enum st_tier tier = ST_TIER_SSD;
	int64_t *pending = NULL;
	uint64_t id;
	int64_t now = st_now();
	struct st_codec_job *jobs = NULL;
	int rc, nrep = 0, njobs = 0;

	rc = st_topo_refresh(st, err);
	if (!rc)
		rc = st_config_container_by_id(st->cfg, tmpl->container, &c, err);
	if (!rc)
		rc = st_topo_new_id(st, &id, err);
	if (rc)
		return rc;
	pending = calloc((size_t)st->topo.ndisks + 1, sizeof(int64_t));
	jobs = calloc((size_t)n + 1, sizeof(*jobs));
	if (!pending || !jobs) {
		rc = st_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = st_place_new(st, &c, id, pending, disks, &tier, err);
	if (rc)
		goto out;
	st_egroup_rec_release(out);
	out->id = id;
	out->container = tmpl->container;
	out->owner = tmpl->owner;
	out->tier = tier;
	out->created = tmpl->created;
	out->last_write = tmpl->last_write;
	out->last_access = tmpl->last_access;
	out->last_scrub = now;
	out->used = ST_EGROUP_HDR;
	out->flags = (tmpl->flags & ST_EGROUP_COMPRESSED) | (codec >= 0 ? ST_EGROUP_COMPRESSED : 0);
	out->last_ref_seq = tmpl->last_ref_seq > seq ? tmpl->last_ref_seq : seq;
	out->nreplicas = c.rf;
	for (int i = 0; i < c.rf && !rc; i++) {
		const struct st_disk *d = st_topo_disk(&st->topo, disks[i]);
		struct st_egroup_hdr h = { id, tmpl->container, tmpl->owner, now };
		out->replicas[i].disk = disks[i];
		out->replicas[i].state = ST_REPLICA_OK;
		rc = st_egroup_path(d->path, id, paths[i], sizeof(paths[i]));
		if (!rc)
			rc = st_egroup_create(paths[i], &h, &fds[i]);
		if (rc)
			st_fail(err, rc, "disk %u: %s: %s", d->id, paths[i], st_strerror(rc));
		else
			nrep++;
	}
	if (!rc && codec >= 0) { /* every raw extent at once, on every CPU */
		for (int k = 0; k < n; k++) {
			if (exts[k].flags & ST_EXTENT_COMPRESSED)
				continue;
			jobs[njobs].in = data[k];
			jobs[njobs++].len = exts[k].raw_len;
		}
		if (st_write_compress(codec, jobs, njobs, &st->cbuf, &st->ccap))
			rc = st_fail(err, -ENOMEM, "out of memory");
	}
	for (int k = 0, job = 0; k < n && !rc; k++) {
		struct st_extent_rec e = exts[k];
		const uint8_t *stored = data[k];
		if (codec >= 0 && !(e.flags & ST_EXTENT_COMPRESSED))
			st_write_stored_form(codec, &jobs[job++], stored, e.raw_len, &e, &stored);
		e.offset = out->used;
		for (int i = 0; i < nrep && !rc; i++) {
			rc = st_egroup_write_extent(fds[i], out->used, &e, stored);
			if (rc)
				st_fail(err, rc, "disk %u: %s", disks[i], st_strerror(rc));
			else /* start the writeback now: the fdatasync below then waits for less */
				sync_file_range(fds[i], out->used, ST_EXTENT_HDR + e.stored_len, SYNC_FILE_RANGE_WRITE);
		}
		if (!rc)
			rc = st_egroup_rec_add(out, &e);
		out->used += ST_EXTENT_HDR + e.stored_len;
	}
	if (st->batch.on) { /* batch mode: durability, the row and the usage are the caller's, later */
		for (int i = 0; i < nrep && !rc; i++) {
			int seen = 0;
			for (int k = 0; k < st->batch.ndisks; k++)
				seen |= st->batch.disks[k] == disks[i];
			if (!seen && st->batch.ndisks < ST_BATCH_DISKS)
				st->batch.disks[st->batch.ndisks++] = disks[i];
			else if (!seen)
				st->batch.overflow = 1;
		}
	}
	for (int i = 0; i < nrep && !rc && !st->batch.on; i++) {
		char dir[ST_PATH_MAX + 16];
		const struct st_disk *d = st_topo_disk(&st->topo, disks[i]);
		if (fdatasync(fds[i]) < 0)
			rc = st_fail(err, -errno, "disk %u: fdatasync: %s", disks[i], strerror(errno));
		snprintf(dir, sizeof(dir), "%s/egroups", d->path);
		st_fsync_dir(dir);
	}
	if (!rc && !st->batch.on)
		rc = st_meta_egroup_put(st->meta, out, 0, err);
	if (!rc && !st->batch.on)
		st_store_account(st, out, 1, +1);
	for (int i = 0; i < nrep; i++) {
		close(fds[i]);
		if (rc)
			unlink(paths[i]);
	}
out:
	free(pending);
	free(jobs);
	return rc;
}

int st_store_egroup_rewrite_parts(struct st_store *st, const struct st_egroup_rec *src, const int *keep, int nkeep,
				  const struct st_rewrite_part *parts, int nparts, uint64_t seq, int codec,
				  struct st_egroup_rec *out, struct st_msg *err)
{
	size_t total = 0, off = 0, rawmax = 0;
	int n = nkeep + nparts, rc = 0;
	uint8_t *hold = NULL, *raw = NULL;
	const uint8_t **data = calloc((size_t)n + 1, sizeof(*data));
	struct st_extent_rec *exts = calloc((size_t)n + 1, sizeof(*exts));

	for (int k = 0; k < nkeep; k++)
		total += src->extents[keep[k]].stored_len;
	for (int p = 0; p < nparts && !rc; p++) {
		const struct st_rewrite_part *pt = &parts[p];
		uint32_t raw_len, prev = 0;
		if (pt->src < 0 || pt->src >= src->nextents || pt->nranges < 1) {
			rc = st_fail(err, ST_EINVAL, "egroup %llx: bad part %d", (unsigned long long)src->id, p);
			break;
		}
		raw_len = src->extents[pt->src].raw_len;
		rawmax = raw_len > rawmax ? raw_len : rawmax;
		for (int r = 0; r < pt->nranges && !rc; r++) {
			if (pt->ranges[r][0] < prev || pt->ranges[r][1] <= pt->ranges[r][0] || pt->ranges[r][1] > raw_len)
				rc = st_fail(err, ST_EINVAL, "egroup %llx: part %d: bad range", (unsigned long long)src->id, p);
			prev = pt->ranges[r][1];
			total += pt->ranges[r][1] - pt->ranges[r][0];
		}
	}
	if (!rc) {
		hold = malloc(total + 1);
		raw = malloc(rawmax + 1);
	}
	if (!rc && (!hold || !raw || !data || !exts))
		rc = st_fail(err, -ENOMEM, "out of memory");
	for (int k = 0; k < nkeep && !rc; k++) { /* the kept extents as stored, verified */
		int bad;
		exts[k] = src->extents[keep[k]];
		data[k] = hold + off;
		rc = st_read_extent_any(st, src, &exts[k], hold + off, &bad, err);
		off += exts[k].stored_len;
	}
	for (int p = 0; p < nparts && !rc; p++) { /* the parts: raw bytes (inflated, verified), cut */
		const struct st_rewrite_part *pt = &parts[p];
		struct st_extent_rec *e = &exts[nkeep + p];
		rc = st_store_read_extent(st, src, &src->extents[pt->src], raw, NULL, err);
		data[nkeep + p] = hold + off;
		memset(e, 0, sizeof(*e));
		e->id = pt->id;
		e->refcount = pt->refcount;
		for (int r = 0; r < pt->nranges && !rc; r++) {
			uint32_t len = pt->ranges[r][1] - pt->ranges[r][0];
			memcpy(hold + off, raw + pt->ranges[r][0], len);
			off += len;
			e->raw_len += len;
		}
		e->stored_len = e->raw_len;
		e->crc = st_crc32c(data[nkeep + p], e->raw_len);
	}
	if (!rc)
		rc = egroup_write(st, src, exts, data, n, seq, codec, out, err);
	free(hold);
	free(raw);
	free(data);
	free(exts);
	return rc;
}

int st_store_egroup_rewrite(struct st_store *st, const struct st_egroup_rec *src, const int *keep, int nkeep,
			    uint64_t seq, int codec, struct st_egroup_rec *out, struct st_msg *err)
{
	return st_store_egroup_rewrite_parts(st, src, keep, nkeep, NULL, 0, seq, codec, out, err);
}

int st_store_egroup_create(struct st_store *st, uint32_t container, uint64_t owner, const struct st_extent_rec *exts,
			   const uint8_t *const *raw, int n, uint64_t seq, int codec, struct st_egroup_rec *out,
			   struct st_msg *err)
{
	struct st_egroup_rec tmpl;
	struct st_extent_rec *e = calloc((size_t)n + 1, sizeof(*e));
	int64_t now = st_now();
	int rc;

	if (!e)
		return st_fail(err, -ENOMEM, "out of memory");
	st_egroup_rec_init(&tmpl);
	tmpl.container = container;
	tmpl.owner = owner;
	tmpl.created = tmpl.last_write = tmpl.last_access = now;
	for (int k = 0; k < n; k++) {
		e[k] = exts[k];
		e[k].flags &= ~(uint32_t)(ST_EXTENT_COMPRESSED | ST_EXTENT_ZLIB);
		e[k].stored_len = e[k].raw_len;
		e[k].crc = st_crc32c(raw[k], e[k].raw_len);
	}
	rc = egroup_write(st, &tmpl, e, raw, n, seq, codec, out, err);
	free(e);
	return rc;
}

static int fill_replica(struct st_store *st, const struct st_egroup_rec *g, int fd, struct st_msg *err)
{
	uint8_t *img = g->used > ST_EGROUP_HDR ? malloc(g->used) : NULL;

	/* a copy whose every extent verifies goes over whole, in one write (dead bytes too, as cp would) */
	for (int r = (g->flags & ST_EGROUP_CLOUD) ? -1 : 0; img && r < g->nreplicas; r++) {
		if ((r < 0 ? st_image_cloud(st, g, img, NULL) : st_image_load(st, g, r, img, g->used)) == 0) {
			int rc = st_pwrite_full(fd, img + ST_EGROUP_HDR, g->used - ST_EGROUP_HDR, ST_EGROUP_HDR);
			free(img);
			if (rc)
				return st_fail(err, rc, "writing a replica: %s", st_strerror(rc));
			if (fdatasync(fd) < 0)
				return st_fail(err, -errno, "fdatasync: %s", strerror(errno));
			return 0;
		}
	}
	free(img);
	/* else extent by extent, each from whichever copy verifies (or its strip) */
	for (int k = 0; k < g->nextents; k++) {
		const struct st_extent_rec *e = &g->extents[k];
		int bad, rc = st_read_extent_any(st, g, e, NULL, &bad, err);
		if (rc)
			return rc;
		st->rcache.x_valid = 0;
		rc = st_egroup_write_extent(fd, e->offset, e, st->rcache.xbuf + ST_EXTENT_HDR);
		if (rc)
			return st_fail(err, rc, "writing a replica: %s", st_strerror(rc));
	}
	if (fdatasync(fd) < 0)
		return st_fail(err, -errno, "fdatasync: %s", strerror(errno));
	return 0;
}

/*
 * Copy g onto n new disks: tier < 0 on g's tier when it has room, else the
 * container's others; tier >= 0 on that tier only. excl_nodes: only on
 * nodes that hold none of g's replicas (re-replication, balancing); else
 * anywhere but g's own disks (a move to another tier).
 */
static int copy_to(struct st_store *st, const struct st_egroup_rec *g, int n, int tier_only, int excl_nodes,
		   uint32_t replace, uint32_t *out, struct st_msg *err)
{
	int hidden = -1;
	struct st_container c;
	uint32_t excl[ST_REPLICAS_MAX];
	int64_t *pending;
	enum st_tier tier;
	int nexcl = 0, rc, made = 0;

	if (n < 1 || (excl_nodes && g->nreplicas + n > ST_REPLICAS_MAX) || n > ST_REPLICAS_MAX)
		return st_fail(err, ST_EINVAL, "egroup %llx: cannot add %d replicas", (unsigned long long)g->id, n);
	rc = st_topo_refresh(st, err);
	if (!rc)
		rc = st_config_container_by_id(st->cfg, g->container, &c, err);
	if (rc)
		return rc;
	if (tier_only >= 0) {
		c.ntiers = 1;
		c.tiers[0] = (enum st_tier)tier_only;
		if (!excl_nodes && tier_only == (int)g->tier)
			return st_fail(err, ST_EINVAL, "egroup %llx: already on %s", (unsigned long long)g->id,
				       st_tier_name(g->tier));
	}
	for (int r = 0; excl_nodes && r < g->nreplicas; r++) {
		const struct st_disk *d = st_topo_disk(&st->topo, g->replicas[r].disk);
		if (d && d->id != replace)
			excl[nexcl++] = d->node; /* even a down node's copy may come back */
	}
	pending = calloc((size_t)st->topo.ndisks + 1, sizeof(int64_t));
	if (!pending)
		return st_fail(err, -ENOMEM, "out of memory");
	for (int i = 0; replace && i < st->topo.ndisks; i++)
		if (st->topo.disks[i].id == replace && !st->topo.disks[i].draining) {
			st->topo.disks[i].draining = 1; /* never onto the replaced copy's own disk (same file name) */
			hidden = i;
		}
	rc = st_place(st, &c, g->id, pending, n, excl, nexcl, tier_only >= 0 ? tier_only : (int)g->tier, out, &tier, err);
	if (hidden >= 0)
		st->topo.disks[hidden].draining = 0;
	free(pending);
	for (int i = 0; !rc && i < n; i++) {
		const struct st_disk *d = st_topo_disk(&st->topo, out[i]);
		struct st_egroup_hdr h = { g->id, g->container, g->owner, g->created };
		char path[ST_PATH_MAX + 64], dir[ST_PATH_MAX + 16];
		int fd;
		rc = st_egroup_path(d->path, g->id, path, sizeof(path));
		if (!rc)
			rc = st_egroup_create(path, &h, &fd);
		if (rc) {
			st_fail(err, rc, "disk %u: %s", d->id, st_strerror(rc));
			break;
		}
		made++;
		/* before the fill: a decode refreshes the topology, which moves *d */
		snprintf(dir, sizeof(dir), "%s/egroups", d->path);
		rc = fill_replica(st, g, fd, err);
		close(fd);
		st_fsync_dir(dir);
	}
	if (rc) {
		for (int i = 0; i < made; i++) {
			int64_t b;
			st_store_replica_delete(st, g->id, out[i], 0, &b);
		}
		return rc;
	}
	{
		int64_t delta[ST_REPLICAS_MAX];
		for (int i = 0; i < n; i++)
			delta[i] = g->used;
		st_config_disk_used_add(st->cfg, n, out, delta, NULL);
	}
	return 0;
}

int st_store_egroup_copy(struct st_store *st, const struct st_egroup_rec *g, int n, uint32_t *out, struct st_msg *err)
{
	return copy_to(st, g, n, -1, 1, 0, out, err);
}

int st_store_egroup_copy_tier(struct st_store *st, const struct st_egroup_rec *g, int n, enum st_tier tier,
			      uint32_t replace, uint32_t *out, struct st_msg *err)
{
	if (replace && n != 1)
		return st_fail(err, ST_EINVAL, "egroup %llx: one replica replaces one", (unsigned long long)g->id);
	return copy_to(st, g, n, (int)tier, replace != 0, replace, out, err);
}

int st_store_replica_rewrite(struct st_store *st, const struct st_egroup_rec *g, int replica, struct st_msg *err)
{
	const struct st_disk *d;
	struct st_egroup_hdr h = { g->id, g->container, g->owner, g->created };
	char path[ST_PATH_MAX + 64], tmp[ST_PATH_MAX + 80], dir[ST_PATH_MAX + 16];
	struct st_egroup_rec others;
	int fd, rc;

	st_topo_refresh(st, NULL);
	d = st_topo_disk(&st->topo, g->replicas[replica].disk);
	if (!d)
		return st_fail(err, ST_ENOTFOUND, "disk %u: not found", g->replicas[replica].disk);
	rc = st_egroup_path(d->path, g->id, path, sizeof(path));
	if (rc)
		return rc;
	snprintf(dir, sizeof(dir), "%s/egroups", d->path);
	snprintf(tmp, sizeof(tmp), "%s.repair", path);
	/* read from every replica but the one being replaced */
	st_egroup_rec_init(&others);
	rc = st_egroup_rec_copy(&others, g);
	if (rc)
		return st_fail(err, rc, "out of memory");
	others.nreplicas = 0;
	for (int r = 0; r < g->nreplicas; r++)
		if (r != replica)
			others.replicas[others.nreplicas++] = g->replicas[r];
	rc = st_egroup_create(tmp, &h, &fd);
	if (!rc) {
		rc = fill_replica(st, &others, fd, err);
		close(fd);
	} else {
		st_fail(err, rc, "%s: %s", tmp, st_strerror(rc));
	}
	if (!rc && rename(tmp, path) < 0)
		rc = st_fail(err, -errno, "%s: %s", path, strerror(errno));
	if (rc) {
		unlink(tmp);
	} else { /* d may have moved (a decode refreshes the topology): dir and id were kept */
		st_fsync_dir(dir);
		st_fdcache_forget(&st->fdc, g->id, g->replicas[replica].disk);
	}
	st_egroup_rec_release(&others);
	return rc;
}

void st_store_batch_begin(struct st_store *st)
{
	st->batch.on = 1;
	st->batch.ndisks = 0;
	st->batch.overflow = 0;
}

int st_store_batch_end(struct st_store *st, struct st_msg *err)
{
	int rc = 0;

	st->batch.on = 0;
	if (st->batch.overflow) { /* too many disks to track: sync them all */
		st->batch.ndisks = 0;
		for (int i = 0; i < st->topo.ndisks && st->batch.ndisks < ST_BATCH_DISKS; i++)
			if (st->topo.disks[i].ok)
				st->batch.disks[st->batch.ndisks++] = st->topo.disks[i].id;
	}
	for (int k = 0; k < st->batch.ndisks && !rc; k++) {
		const struct st_disk *d = st_topo_disk(&st->topo, st->batch.disks[k]);
		char dir[ST_PATH_MAX + 16];
		int fd;
		if (!d)
			continue;
		/* one sync of the disk's filesystem: every file (and name) written to it */
		snprintf(dir, sizeof(dir), "%s/egroups", d->path);
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || syncfs(fd) < 0)
			rc = st_fail(err, -errno, "disk %u: sync: %s", d->id, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	st->batch.ndisks = 0;
	return rc;
}
