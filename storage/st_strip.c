/*
 * st_strip: the EC strip lifecycle (st_ec.h holds the code and the parity
 * format): turn k egroups into a strip with m parity members, scrub a
 * member, rebuild a member that lost its copy, dissolve a mostly dead
 * strip, and roll back one that a crash left half made.
 *
 * DESIGN: a multi-egroup change in the order of the safety rule
 * (DESIGN.md §6): data first, metadata flip, old copies last. Convert
 * writes the parity files, fdatasyncs and reads them back before any row;
 * then the parity rows, the strip row, and each data egroup by
 * compare-and-set on the version the scan saw (EC flag, strip, one
 * replica); only then are the other copies deleted. A lost CAS rolls the
 * strip back; a crash in between leaves an incomplete strip, which the
 * next scan rolls back. Dissolve and rollback first give the members
 * their RF copies back, then turn them plain by CAS, and drop the parity
 * and the strip row last, so no member is left with fewer copies than its
 * RF while the parity that protects it goes. No refcount changes here.
 * The highest file of the st_store family but the handle: it calls
 * st_topo.c, st_replica.c (member images, the decode), st_place.c,
 * st_retire.c and st_rewrite.c (st_store_egroup_copy).
 */
#include "storage/st_store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "storage/st_ec.h"
#include "storage/st_egroup.h"

int st_store_ec_verify(struct st_store *st, const struct st_egroup_rec *g, int64_t *bytes, struct st_msg *err)
{
	struct st_strip sp;
	uint8_t *buf;
	int rc = st_meta_strip_get(st->meta, g->strip, &sp, err);

	*bytes = 0;
	if (rc)
		return rc;
	buf = malloc(sp.len);
	if (!buf)
		return st_fail(err, -ENOMEM, "out of memory");
	st_topo_refresh(st, NULL);
	rc = ST_EIO;
	if (g->flags & ST_EGROUP_PARITY) {
		rc = st_image_load_parity(st, g, buf, sp.len);
		*bytes = (int64_t)sp.len;
	} else {
		for (int r = 0; r < g->nreplicas && rc; r++)
			rc = st_image_load(st, g, r, buf, sp.len);
		*bytes = g->used;
	}
	free(buf);
	if (rc)
		st_fail(err, rc < 0 ? ST_EIO : rc, "egroup %llx: member %u of strip %llx does not verify",
			(unsigned long long)g->id, g->strip_pos, (unsigned long long)g->strip);
	return rc < 0 ? ST_EIO : rc;
}

/*
 * Data first, for parity member pos of strip `strip`: a new id into p, its
 * file on disk (the parity header, then payload's len bytes) written,
 * fdatasync'd and read back; p filled in as its row will be. *made counts
 * the files created (a failure after the create leaves one to remove).
 */
static int write_parity(struct st_store *st, uint64_t strip, int pos, const uint8_t *payload, uint64_t len,
			uint32_t disk, enum st_tier tier, uint32_t container, struct st_egroup_rec *p, int *made,
			struct st_msg *err)
{
	const struct st_disk *d = st_topo_disk(&st->topo, disk);
	uint8_t hdr[ST_PARITY_HDR], *check = malloc(len);
	char path[ST_PATH_MAX + 64], dir[ST_PATH_MAX + 16];
	uint32_t crc = st_crc32c(payload, len);
	int fd = -1;
	int rc = st_topo_new_id(st, &p->id, err);

	if (!rc && !check)
		rc = st_fail(err, -ENOMEM, "out of memory");
	if (!rc)
		rc = st_egroup_path(d->path, p->id, path, sizeof(path));
	if (!rc) {
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			rc = st_fail(err, -errno, "%s: %s", path, strerror(errno));
	}
	if (!rc) {
		(*made)++;
		st_ec_parity_hdr(hdr, pos, strip, len, crc);
		rc = st_pwrite_full(fd, hdr, ST_PARITY_HDR, 0);
		if (!rc)
			rc = st_pwrite_full(fd, payload, len, ST_PARITY_HDR);
		if (!rc && fdatasync(fd) < 0)
			rc = -errno;
		if (!rc && (st_pread_full(fd, check, len, ST_PARITY_HDR) != (long long)len || st_crc32c(check, len) != crc))
			rc = ST_EIO;
		if (rc)
			st_fail(err, rc, "disk %u: parity: %s", disk, st_strerror(rc));
	}
	if (fd >= 0)
		close(fd);
	snprintf(dir, sizeof(dir), "%s/egroups", d->path);
	st_fsync_dir(dir);
	free(check);
	p->container = container;
	p->tier = tier;
	p->flags = ST_EGROUP_EC | ST_EGROUP_PARITY;
	p->created = p->last_write = p->last_access = p->last_scrub = st_now();
	p->used = (uint32_t)(ST_PARITY_HDR + len);
	p->nreplicas = 1;
	p->replicas[0] = (struct st_replica){ disk, ST_REPLICA_OK };
	p->strip = strip;
	p->strip_pos = (uint32_t)pos;
	return rc;
}

/*
 * Roll back a conversion that failed part way, newest first: the data
 * egroups g[0..converted) plain again by CAS (at the versions their
 * conversion gave them), the strip row, then the parity rows and files
 * par[0..made) on pdisk[]. Best effort: what is left, the scans roll back.
 */
static void convert_undo(struct st_store *st, const struct st_egroup_rec *g, int converted, uint64_t strip,
			 const struct st_egroup_rec *par, const uint32_t *pdisk, int made)
{
	for (int i = converted - 1; i >= 0; i--) {
		struct st_egroup_rec o;
		st_egroup_rec_init(&o);
		if (st_egroup_rec_copy(&o, &g[i]) == 0) {
			o.flags &= ~(uint32_t)ST_EGROUP_EC;
			o.strip = 0;
			o.strip_pos = 0;
			st_meta_egroup_put(st->meta, &o, g[i].version, NULL);
		}
		st_egroup_rec_release(&o);
	}
	st_meta_strip_delete(st->meta, strip, NULL);
	for (int j = 0; j < made; j++) {
		int64_t b;
		st_meta_egroup_delete(st->meta, par[j].id, 1, NULL);
		st_store_replica_delete(st, par[j].id, pdisk[j], 0, &b);
	}
}

int st_store_ec_convert(struct st_store *st, int k, int m, const uint64_t *ids, const uint64_t *versions,
			struct st_msg *err)
{
	struct st_egroup_rec g[ST_EC_MAX], par[ST_EC_MAX];
	uint8_t *data[ST_EC_MAX] = { 0 }, *parity[ST_EC_MAX] = { 0 };
	uint32_t kept_node[ST_EC_MAX], pdisk[ST_EC_MAX];
	int kept[ST_EC_MAX], made = 0, converted = 0, rc = 0;
	struct st_container c;
	struct st_strip sp = { 0 };
	uint64_t len = 0;
	enum st_tier tier = ST_TIER_SSD;

	if (k < 2 || m < 1 || k + m > ST_EC_MAX)
		return st_fail(err, ST_EINVAL, "RS(%d,%d): unsupported", k, m);
	for (int i = 0; i < k + m; i++) {
		st_egroup_rec_init(&g[i]);
		st_egroup_rec_init(&par[i]);
	}
	rc = st_topo_refresh(st, err);
	for (int i = 0; !rc && i < k; i++) {
		rc = st_meta_egroup_get(st->meta, ids[i], &g[i], err);
		if (rc == ST_ENOTFOUND || (!rc && (g[i].version != versions[i] || g[i].flags)))
			rc = st_fail(err, ST_ESTALE, "egroup %llx changed since the scan", (unsigned long long)ids[i]);
		if (!rc && g[i].container != g[0].container)
			rc = st_fail(err, ST_EINVAL, "a strip's egroups must share a container");
		if (!rc && g[i].used > len)
			len = g[i].used;
	}
	if (!rc)
		rc = st_config_container_by_id(st->cfg, g[0].container, &c, err);
	len = (len + 63) & ~63ULL;
	/* one verified copy of each, on distinct nodes */
	for (int i = 0; !rc && i < k; i++) {
		data[i] = malloc(len);
		kept[i] = -1;
		if (!data[i]) {
			rc = st_fail(err, -ENOMEM, "out of memory");
			break;
		}
		for (int r = 0; r < g[i].nreplicas && kept[i] < 0; r++) {
			const struct st_disk *d = st_topo_disk(&st->topo, g[i].replicas[r].disk);
			int clash = 0;
			for (int j = 0; d && j < i; j++)
				clash |= kept_node[j] == d->node;
			if (d && !clash && st_image_load(st, &g[i], r, data[i], len) == 0) {
				kept[i] = r;
				kept_node[i] = d->node;
			}
		}
		if (kept[i] < 0)
			rc = st_fail(err, ST_EPOLICY, "egroup %llx: no verified copy on a node the strip does not use yet",
				     (unsigned long long)g[i].id);
	}
	for (int j = 0; !rc && j < m; j++) {
		parity[j] = malloc(len);
		if (!parity[j])
			rc = st_fail(err, -ENOMEM, "out of memory");
	}
	if (!rc)
		rc = st_ec_encode(k, m, len, data, parity);
	if (!rc)
		rc = st_topo_new_id(st, &sp.id, err);
	if (!rc) {
		int64_t *pending = calloc((size_t)st->topo.ndisks + 1, sizeof(int64_t));
		rc = pending ? st_place(st, &c, sp.id, pending, m, kept_node, k, (int)g[0].tier, pdisk, &tier, err)
			     : st_fail(err, -ENOMEM, "out of memory");
		free(pending);
	}
	/* 1. data first: parity files, durable and read back */
	for (int j = 0; !rc && j < m; j++)
		rc = write_parity(st, sp.id, k + j, parity[j], len, pdisk[j], tier, g[0].container, &par[j], &made, err);
	st_fault_step();
	/* 2. metadata: parity rows, the strip, then each data egroup by CAS */
	sp.k = k;
	sp.m = m;
	sp.len = len;
	for (int i = 0; i < k; i++)
		sp.members[i] = g[i].id;
	for (int j = 0; j < m; j++)
		sp.members[k + j] = par[j].id;
	for (int j = 0; !rc && j < m; j++)
		rc = st_meta_egroup_put(st->meta, &par[j], 0, err);
	if (!rc)
		rc = st_meta_strip_put(st->meta, &sp, err);
	for (int i = 0; !rc && i < k; i++) {
		struct st_egroup_rec n;
		st_egroup_rec_init(&n);
		rc = st_egroup_rec_copy(&n, &g[i]);
		if (!rc) {
			n.flags |= ST_EGROUP_EC;
			n.strip = sp.id;
			n.strip_pos = (uint32_t)i;
			n.replicas[0] = g[i].replicas[kept[i]];
			n.nreplicas = 1;
			rc = st_meta_egroup_put(st->meta, &n, g[i].version, err);
		}
		if (!rc) {
			converted++;
			g[i].version = n.version; /* for a roll-back */
		}
		st_egroup_rec_release(&n);
		st_fault_step();
	}
	if (rc) {
		convert_undo(st, g, converted, sp.id, par, pdisk, made);
	} else {
		int64_t delta[ST_EC_MAX];
		/* 3. old copies last */
		for (int i = 0; i < k; i++)
			for (int r = 0; r < g[i].nreplicas; r++) {
				int64_t b;
				if (r != kept[i])
					st_store_replica_delete(st, g[i].id, g[i].replicas[r].disk, g[i].used, &b);
			}
		for (int j = 0; j < m; j++)
			delta[j] = par[j].used;
		st_config_disk_used_add(st->cfg, m, pdisk, delta, NULL);
	}
	for (int i = 0; i < k + m; i++) {
		free(data[i]);
		free(parity[i]);
		st_egroup_rec_release(&g[i]);
		st_egroup_rec_release(&par[i]);
	}
	return rc;
}

int st_store_ec_rebuild(struct st_store *st, const struct st_egroup_rec *g, struct st_msg *err)
{
	struct st_strip sp;
	struct st_container c;
	struct st_egroup_rec n;
	uint32_t excl[ST_EC_MAX], disk;
	uint8_t *img = NULL;
	uint64_t len = 0;
	int nexcl = 0, rc, fd = -1;
	enum st_tier tier;
	char path[ST_PATH_MAX + 64], dir[ST_PATH_MAX + 16];
	int64_t *pending = NULL;
	const struct st_disk *d;

	st_egroup_rec_init(&n);
	rc = st_meta_strip_get(st->meta, g->strip, &sp, err);
	if (!rc)
		rc = st_config_container_by_id(st->cfg, g->container, &c, err);
	if (!rc)
		rc = st_topo_refresh(st, err);
	if (rc)
		return rc;
	img = malloc(sp.len);
	if (!img)
		return st_fail(err, -ENOMEM, "out of memory");
	rc = st_store_ec_rebuild_image(st, g, img, &len, err);
	/* the new copy goes to a node none of the other members uses */
	for (int i = 0; !rc && i < sp.k + sp.m; i++) {
		struct st_egroup_rec mg;
		st_egroup_rec_init(&mg);
		if (i != (int)g->strip_pos && st_meta_egroup_get(st->meta, sp.members[i], &mg, NULL) == 0)
			for (int r = 0; r < mg.nreplicas; r++) {
				const struct st_disk *md = st_topo_disk(&st->topo, mg.replicas[r].disk);
				if (md && nexcl < ST_EC_MAX)
					excl[nexcl++] = md->node;
			}
		st_egroup_rec_release(&mg);
	}
	if (!rc) {
		pending = calloc((size_t)st->topo.ndisks + 1, sizeof(int64_t));
		rc = pending ? st_place(st, &c, g->id, pending, 1, excl, nexcl, (int)g->tier, &disk, &tier, err)
			     : st_fail(err, -ENOMEM, "out of memory");
	}
	if (!rc) {
		d = st_topo_disk(&st->topo, disk);
		rc = st_egroup_path(d->path, g->id, path, sizeof(path));
		if (!rc) {
			fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (fd < 0)
				rc = st_fail(err, -errno, "%s: %s", path, strerror(errno));
		}
		if (!rc && (g->flags & ST_EGROUP_PARITY)) {
			uint8_t hdr[ST_PARITY_HDR];
			st_ec_parity_hdr(hdr, (int)g->strip_pos, sp.id, len, st_crc32c(img, len));
			rc = st_pwrite_full(fd, hdr, ST_PARITY_HDR, 0);
			if (!rc)
				rc = st_pwrite_full(fd, img, len, ST_PARITY_HDR);
		} else if (!rc) {
			rc = st_image_verify(g, img) ? ST_EIO : st_pwrite_full(fd, img, g->used, 0);
		}
		if (!rc && fdatasync(fd) < 0)
			rc = -errno;
		if (fd >= 0)
			close(fd);
		snprintf(dir, sizeof(dir), "%s/egroups", d->path);
		st_fsync_dir(dir);
		if (rc) {
			unlink(path);
			st_fail(err, rc, "rebuilding egroup %llx on disk %u: %s", (unsigned long long)g->id, disk, st_strerror(rc));
		}
	}
	if (!rc)
		rc = st_egroup_rec_copy(&n, g);
	if (!rc) {
		n.nreplicas = 1;
		n.replicas[0] = (struct st_replica){ disk, ST_REPLICA_OK };
		rc = st_meta_egroup_put(st->meta, &n, g->version, err);
		if (rc) {
			int64_t b;
			st_store_replica_delete(st, g->id, disk, 0, &b);
		}
	}
	if (!rc) {
		int64_t delta = g->used;
		st_config_disk_used_add(st->cfg, 1, &disk, &delta, NULL);
		for (int r = 0; r < g->nreplicas; r++) { /* the lost copy, if its disk still answers */
			int64_t b;
			if (g->replicas[r].disk != disk)
				st_store_replica_delete(st, g->id, g->replicas[r].disk, g->used, &b);
		}
	}
	free(pending);
	free(img);
	st_egroup_rec_release(&n);
	return rc;
}

/* Delete g's row (by CAS), then its files; *bytes grows by the bytes freed. */
static int drop_egroup(struct st_store *st, const struct st_egroup_rec *g, int64_t *bytes, struct st_msg *err)
{
	int64_t b = 0;
	int rc = st_meta_egroup_delete(st->meta, g->id, g->version, err);

	if (!rc)
		rc = st_store_egroup_files_delete(st, g, &b, err);
	*bytes += b;
	return rc;
}

/*
 * Undo strip `strip`: members in it that hold extents get their RF copies
 * back (verified reads, fdatasync'd) and then turn plain by CAS; members in
 * it without extents go; the parity (by the strip row, else parity_ids) and
 * the strip row go last. Dissolving (rollback 0) wants every data member in
 * the strip; rolling back (1) skips members that never joined it and
 * refuses a strip that is complete. Copies a lost CAS left behind are
 * deleted on the way out.
 */
static int unmake_strip(struct st_store *st, uint64_t strip, int rollback, const uint64_t *parity_ids, int nparity,
			int64_t *bytes, struct st_msg *err)
{
	struct st_strip sp;
	struct st_egroup_rec g[ST_EC_MAX];
	uint32_t added[ST_EC_MAX][ST_REPLICAS_MAX];
	uint64_t pids[ST_EC_MAX];
	int nadded[ST_EC_MAX] = { 0 }, in[ST_EC_MAX] = { 0 }, loaded = 0, nin = 0, npar = 0, rf = 2, rc;
	int have = (rc = st_meta_strip_get(st->meta, strip, &sp, err)) == 0;

	*bytes = 0;
	/* only a row that is not there is absent: a corrupt or unreadable one holds the strip */
	if (rc && rc != ST_ENOTFOUND)
		return rc;
	if (!have && !rollback)
		return st_fail(err, ST_ESTALE, "strip %llx: not found", (unsigned long long)strip);
	if (!have) {
		sp.k = 0;
		sp.m = nparity < ST_EC_MAX ? nparity : ST_EC_MAX;
		memcpy(pids, parity_ids, (size_t)sp.m * 8);
	} else {
		memcpy(pids, sp.members + sp.k, (size_t)sp.m * 8);
	}
	rc = 0;
	for (; loaded < sp.k && !rc; loaded++) {
		st_egroup_rec_init(&g[loaded]);
		if (st_meta_strip_member(st->meta, &sp, loaded, &g[loaded]))
			in[loaded] = 1;
		else if (!rollback)
			rc = st_fail(err, ST_ESTALE, "egroup %llx left strip %llx", (unsigned long long)sp.members[loaded],
				     (unsigned long long)strip);
		nin += in[loaded];
	}
	for (int j = 0; !rc && j < sp.m; j++) {
		struct st_egroup_rec p;
		st_egroup_rec_init(&p);
		npar += st_meta_egroup_get(st->meta, pids[j], &p, NULL) == 0 && (p.flags & ST_EGROUP_PARITY);
		st_egroup_rec_release(&p);
	}
	if (!rc && rollback && have && nin == sp.k && npar == sp.m)
		rc = st_fail(err, ST_ESTALE, "strip %llx is complete: nothing to roll back", (unsigned long long)strip);
	for (int i = 0; !rc && i < sp.k; i++) {
		if (in[i]) {
			struct st_container c;
			rc = st_config_container_by_id(st->cfg, g[i].container, &c, err);
			rf = c.rf;
			break;
		}
	}
	/* 1. data first: the live members get their RF copies back */
	for (int i = 0; !rc && i < sp.k; i++) {
		if (!in[i] || g[i].nextents == 0 || rf <= g[i].nreplicas)
			continue;
		rc = st_store_egroup_copy(st, &g[i], rf - g[i].nreplicas, added[i], err);
		if (!rc)
			nadded[i] = rf - g[i].nreplicas;
	}
	st_fault_step();
	/* 2. metadata: each live member becomes plain, by CAS */
	for (int i = 0; !rc && i < sp.k; i++) {
		struct st_egroup_rec n;
		if (!in[i] || g[i].nextents == 0)
			continue;
		st_egroup_rec_init(&n);
		rc = st_egroup_rec_copy(&n, &g[i]);
		if (!rc) {
			n.flags &= ~(uint32_t)ST_EGROUP_EC;
			n.strip = 0;
			n.strip_pos = 0;
			for (int a = 0; a < nadded[i]; a++)
				n.replicas[n.nreplicas++] = (struct st_replica){ added[i][a], ST_REPLICA_OK };
			rc = st_meta_egroup_put(st->meta, &n, g[i].version, err);
			if (!rc)
				nadded[i] = 0; /* the row owns them now */
		}
		st_egroup_rec_release(&n);
		st_fault_step();
	}
	/* 3. the empty members, the parity, the strip */
	for (int i = 0; !rc && i < sp.k; i++) {
		if (!in[i] || g[i].nextents)
			continue;
		rc = drop_egroup(st, &g[i], bytes, err);
	}
	for (int j = 0; !rc && j < sp.m; j++) {
		struct st_egroup_rec p;
		st_egroup_rec_init(&p);
		if (st_meta_egroup_get(st->meta, pids[j], &p, NULL) == 0 && (p.flags & ST_EGROUP_PARITY) && p.strip == strip)
			rc = drop_egroup(st, &p, bytes, err);
		st_egroup_rec_release(&p);
	}
	if (!rc && have)
		rc = st_meta_strip_delete(st->meta, strip, err);
	for (int i = 0; i < loaded; i++) {
		for (int a = 0; a < nadded[i]; a++) {
			int64_t b;
			st_store_replica_delete(st, g[i].id, added[i][a], g[i].used, &b);
		}
		st_egroup_rec_release(&g[i]);
	}
	return rc;
}

int st_store_ec_rollback(struct st_store *st, uint64_t strip, const uint64_t *parity_ids, int nparity,
			 int64_t *bytes, struct st_msg *err)
{
	return unmake_strip(st, strip, 1, parity_ids, nparity, bytes, err);
}

int st_store_ec_dissolve(struct st_store *st, uint64_t strip, int64_t *bytes, struct st_msg *err)
{
	return unmake_strip(st, strip, 0, NULL, 0, bytes, err);
}
