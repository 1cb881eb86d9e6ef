/*
 * st_read: the read path. One extent's bytes from its copies (a replica
 * file, the cloud object, or decoded from its EC strip when no copy
 * verifies), and st_vdisk_pread over the block map with the read cache
 * (struct st_readcache): the last egroup row, the last extent's bytes,
 * the read-ahead of metadata, whole extents read straight into the
 * caller's buffer with their CRC32C checked afterwards on two threads, and
 * the per-egroup read counts that steer promotion.
 *
 * DESIGN: reads go top-down (DESIGN.md §4): block map -> extent ID map ->
 * egroup map -> a copy, which is verified before a byte of it is returned
 * (a file is never trusted without its checksums). A bad or missing copy
 * is skipped for the next, counted, and recorded in config.db io_errors
 * for the curator to repair; a lookup that fails because the curator moved
 * an extent meanwhile (data first, metadata flip, old copies last) is
 * resolved again from the top, and a read through stale read-ahead is
 * redone without it. The read-ahead window is dropped as soon as any other
 * connection committed to a shard (st_meta_data_version): a long-lived
 * handle (a controller's pooled reader) never reads old block rows. The foreground never changes a refcount: nothing
 * here writes a row. In the st_store family this file calls st_topo.c and
 * st_replica.c below it (the EC decode of an extent's egroup is
 * st_store_ec_rebuild_image there), never the strip lifecycle above.
 * Everything per block and per extent lives in this file or is static
 * inline in st_store_int.h.
 */
#include "storage/st_store_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "storage/st_cloud.h"
#include "storage/st_csum.h"
#include "storage/st_egroup.h"
#include "storage/st_mcache.h"

/* Room for need bytes in the read cache's record buffer. 0 or -ENOMEM. */
static int xbuf_reserve(struct st_store *st, size_t need)
{
	if (need > st->rcache.xcap) {
		uint8_t *n = realloc(st->rcache.xbuf, need);
		if (!n)
			return -ENOMEM;
		st->rcache.xbuf = n;
		st->rcache.xcap = need;
	}
	return 0;
}

int st_store_read_replica(struct st_store *st, const struct st_egroup_rec *g, int replica,
			  const struct st_extent_rec *e, void *buf)
{
	const struct st_disk *d = st_topo_disk(&st->topo, g->replicas[replica].disk);
	int fd, rc;

	if (!d)
		return -ENOENT;
	/* twice: a cached fd may be of a file since replaced (a repaired replica renamed over it) */
	for (int attempt = 0; attempt < 2; attempt++) {
		fd = st_fdcache_get(&st->fdc, g->id, d);
		if (fd < 0)
			return fd;
		if (buf) {
			rc = st_egroup_read_extent_into(fd, e, buf);
		} else {
			rc = xbuf_reserve(st, ST_EXTENT_HDR + (size_t)e->stored_len);
			if (!rc)
				rc = st_egroup_read_extent(fd, e, st->rcache.xbuf);
		}
		if (!rc || rc == -ENOMEM)
			return rc;
		st_fdcache_forget(&st->fdc, g->id, d->id);
	}
	return rc;
}

/* Extent e of cloud egroup g as stored, by a range GET of its record, verified. */
static int cloud_read_extent(struct st_store *st, const struct st_egroup_rec *g, const struct st_extent_rec *e,
			     void *dst, struct st_msg *err)
{
	struct st_cloud *c;
	char key[64], b[80];
	int rc = st_store_cloud(st, &c, err);

	if (!rc)
		rc = xbuf_reserve(st, ST_EXTENT_HDR + (size_t)e->stored_len);
	if (rc)
		return rc;
	st->rcache.x_valid = 0;
	st_cloud_egroup_key(g->id, key, sizeof(key));
	rc = st_cloud_get(c, key, e->offset, ST_EXTENT_HDR + (size_t)e->stored_len, st->rcache.xbuf, err);
	if (!rc && st_egroup_check_record(st->rcache.xbuf, e))
		rc = st_fail(err, ST_ECORRUPT, "extent %s in cloud egroup %llx: fails its checksum",
			     st_extent_id_fmt(&e->id, b, sizeof(b)), (unsigned long long)g->id);
	if (!rc && dst)
		memcpy(dst, st->rcache.xbuf + ST_EXTENT_HDR, e->stored_len);
	return rc;
}

/*
 * Extent e of EC member g from its image decoded from the rest of the
 * strip (st_replica.c), the last image kept in the read cache; verified
 * like a copy. dst as for st_read_extent_any. 0, ST_EIO, -ENOMEM.
 *
 * NEEDSWORK: it copies e->raw_len bytes of the stored record, which is
 * more than the stored_len the callers reserve when e is compressed.
 */
static int ec_read_extent(struct st_store *st, const struct st_egroup_rec *g, const struct st_extent_rec *e, void *dst)
{
	if (!st->rcache.ec_img_valid || st->rcache.ec_img_id != g->id) {
		struct st_strip sp;
		uint64_t len;
		if (st_meta_strip_get(st->meta, g->strip, &sp, NULL))
			return ST_EIO;
		free(st->rcache.ec_img);
		st->rcache.ec_img = malloc(sp.len);
		st->rcache.ec_img_valid = 0;
		if (!st->rcache.ec_img || st_store_ec_rebuild_image(st, g, st->rcache.ec_img, &len, NULL))
			return ST_EIO;
		st->rcache.ec_img_id = g->id;
		st->rcache.ec_img_len = len;
		st->rcache.ec_img_valid = 1;
	}
	if ((uint64_t)e->offset + ST_EXTENT_HDR + e->stored_len > st->rcache.ec_img_len ||
	    st_egroup_check_record(st->rcache.ec_img + e->offset, e))
		return ST_EIO;
	if (!dst) {
		if (xbuf_reserve(st, ST_EXTENT_HDR + (size_t)e->stored_len))
			return -ENOMEM;
		dst = st->rcache.xbuf + ST_EXTENT_HDR;
	}
	memcpy(dst, st->rcache.ec_img + e->offset + ST_EXTENT_HDR, e->raw_len);
	return 0;
}

/* One extent as stored from whichever copy verifies (st_store_int.h). */
int st_read_extent_any(struct st_store *st, const struct st_egroup_rec *g, const struct st_extent_rec *e, void *dst,
		       int *bad, struct st_msg *err)
{
	int rc = ST_EIO;

	*bad = 0;
	if (g->flags & ST_EGROUP_CLOUD)
		return cloud_read_extent(st, g, e, dst, err);
	for (int pass = 0; pass < 2 && rc; pass++) {
		for (int i = 0; i < g->nreplicas; i++) {
			const struct st_disk *d = st_topo_disk(&st->topo, g->replicas[i].disk);
			int usable = st_topo_usable(&st->topo, d) && g->replicas[i].state == ST_REPLICA_OK;
			if (usable != (pass == 0))
				continue;
			if (pass == 1 && (!d || !d->ok))
				continue; /* never read a failed disk */
			rc = st_store_read_replica(st, g, i, e, dst);
			if (!rc)
				break;
			(*bad)++;
			st->stats.bad_replicas++;
			st_config_io_error(st->cfg, g->id, g->replicas[i].disk,
					   rc == -ENOENT ? "missing" : rc == ST_ECORRUPT ? "checksum" : "io", NULL);
		}
	}
	if (rc && (g->flags & ST_EGROUP_EC))
		rc = ec_read_extent(st, g, e, dst); /* decode it from the rest of its strip */
	if (rc) {
		char b[80];
		return st_fail(err, ST_EIO, "extent %s in egroup %llx: no replica passes its checksum (%d tried)",
			       st_extent_id_fmt(&e->id, b, sizeof(b)), (unsigned long long)g->id, g->nreplicas);
	}
	return 0;
}

/*
 * Extent e's raw bytes into dst (e->raw_len bytes): read and verified as
 * stored, then inflated when compressed. The checksum covers the stored
 * bytes, so an inflate failure is a damaged stream that every replica
 * shares (they are byte-identical): ST_ECORRUPT, no retry.
 */
static int read_extent_raw(struct st_store *st, const struct st_egroup_rec *g, const struct st_extent_rec *e,
			   void *dst, int *bad, struct st_msg *err)
{
	char b[80];
	int rc;

	if (!(e->flags & ST_EXTENT_COMPRESSED))
		return st_read_extent_any(st, g, e, dst, bad, err);
	st->rcache.x_valid = 0; /* xbuf is about to change */
	rc = st_read_extent_any(st, g, e, NULL, bad, err);
	if (!rc && st_codec_inflate(st->rcache.xbuf + ST_EXTENT_HDR, e->stored_len, dst, e->raw_len))
		rc = st_fail(err, ST_ECORRUPT, "extent %s in egroup %llx: compressed bytes do not inflate to %u bytes",
			     st_extent_id_fmt(&e->id, b, sizeof(b)), (unsigned long long)g->id, e->raw_len);
	return rc;
}

int st_store_read_extent(struct st_store *st, const struct st_egroup_rec *g, const struct st_extent_rec *e,
			 void *buf, int *bad, struct st_msg *err)
{
	int nbad;
	int rc = read_extent_raw(st, g, e, buf, &nbad, err);

	if (bad)
		*bad = nbad;
	return rc;
}

/* The read-ahead: block rows of the window, and the range of extent ids they name. */
struct bc_fill {
	struct st_store *st;
	struct st_extent_id lo, hi;
	int any;
};

static int bc_row(void *arg, int rc_row, const struct st_block *b)
{
	struct bc_fill *f = arg;
	struct st_store *st = f->st;
	struct st_block *dst;

	if (rc_row || b->block < st->rcache.bc_first || b->block >= st->rcache.bc_first + ST_BC_BLOCKS)
		return 0; /* corrupt rows are read (and reported) by the point query */
	dst = &st->rcache.bc_rows[b->block - st->rcache.bc_first];
	dst->vdisk = b->vdisk;
	dst->block = b->block;
	dst->n = b->n;
	memcpy(dst->r, b->r, (size_t)b->n * sizeof(b->r[0]));
	st->rcache.bc_have[b->block - st->rcache.bc_first] = 1;
	if (st->mc_on)
		st_mcache_put_block(st->mc, st->mc_epoch, b);
	for (int i = 0; i < b->n; i++) {
		const struct st_extent_id *x = &b->r[i].extent;
		if (!f->any || memcmp(x->b, f->lo.b, ST_EXTENT_ID_LEN) < 0)
			f->lo = *x;
		if (!f->any || memcmp(x->b, f->hi.b, ST_EXTENT_ID_LEN) > 0)
			f->hi = *x;
		f->any = 1;
	}
	return 0;
}

static int xc_row(void *arg, int rc_row, const struct st_extent_id *id, uint64_t egroup)
{
	struct st_store *st = arg;
	uint64_t *v;

	if (rc_row)
		return 0; /* left out: the point query of that extent reports it */
	if (st->rcache.xc.n >= 4 * ST_BC_BLOCKS)
		return 1; /* a wide id range: the rest go through point queries */
	v = st_hmap_put(&st->rcache.xc, id->b, NULL);
	if (v)
		*v = egroup;
	return 0;
}

/* Block row `block` of vdisk, through the read-ahead. Same results as st_meta_block_get. */
static int block_get(struct st_store *st, uint64_t vdisk, uint64_t block, struct st_block *out, struct st_msg *err)
{
	struct bc_fill f = { .st = st };
	uint64_t version;

	if (st->rcache.bc_bypass)
		return st_meta_block_get(st->meta, vdisk, block, out, err);
	if (!st->rcache.bc_rows) {
		st->rcache.bc_rows = malloc(ST_BC_BLOCKS * sizeof(*st->rcache.bc_rows));
		if (!st->rcache.bc_rows)
			return st_meta_block_get(st->meta, vdisk, block, out, err);
	}
	/* a window read before another connection's commit (a controller's pooled handle, a long read) is stale */
	if (st->rcache.bc_valid && (st_meta_data_version(st->meta, &version, NULL) || version != st->rcache.bc_version))
		st->rcache.bc_valid = 0;
	if (!st->rcache.bc_valid || st->rcache.bc_vdisk != vdisk || block < st->rcache.bc_first ||
	    block >= st->rcache.bc_first + ST_BC_BLOCKS) {
		if (st_meta_data_version(st->meta, &st->rcache.bc_version, NULL))
			return st_meta_block_get(st->meta, vdisk, block, out, err);
		st->rcache.bc_valid = 0;
		st->rcache.bc_vdisk = vdisk;
		st->rcache.bc_first = block;
		memset(st->rcache.bc_have, 0, sizeof(st->rcache.bc_have));
		st_hmap_release(&st->rcache.xc);
		st_hmap_init(&st->rcache.xc, ST_EXTENT_ID_LEN, 8);
		if (st_meta_blocks_range(st->meta, vdisk, block, block + ST_BC_BLOCKS - 1, bc_row, &f, NULL) ||
		    (f.any && st_meta_extents_range(st->meta, &f.lo, &f.hi, xc_row, st, NULL) < 0))
			return st_meta_block_get(st->meta, vdisk, block, out, err);
		st->rcache.bc_valid = 1;
	}
	if (!st->rcache.bc_have[block - st->rcache.bc_first]) {
		/* absent from the range: unwritten, or a corrupt row the point query reports */
		return st_meta_block_get(st->meta, vdisk, block, out, err);
	}
	{
		const struct st_block *b = &st->rcache.bc_rows[block - st->rcache.bc_first];
		out->vdisk = b->vdisk;
		out->block = b->block;
		out->n = b->n;
		memcpy(out->r, b->r, (size_t)b->n * sizeof(b->r[0]));
	}
	return 0;
}

struct st_deferred {
	uint8_t *dst;
	uint32_t len, crc, offset; /* offset: of the extent's record in the replica file */
	struct st_extent_id id;
	uint64_t egroup;
	uint32_t disk;
	int ok;
};

/*
 * A whole extent straight into dst from the first usable replica, its CRC
 * deferred (checked by verify_deferred, on two threads). 0 if queued, else
 * the caller reads it the verified way.
 */
static int read_deferred(struct st_store *st, const struct st_egroup_rec *g, const struct st_extent_rec *e, uint8_t *dst)
{
	if (e->stored_len != e->raw_len) /* dst holds raw_len bytes: only a plain extent reads straight into it */
		return -1;
	for (int i = 0; i < g->nreplicas; i++) {
		const struct st_disk *d = st_topo_disk(&st->topo, g->replicas[i].disk);
		struct st_deferred *q;
		int fd;
		if (!st_topo_usable(&st->topo, d) || g->replicas[i].state != ST_REPLICA_OK)
			continue;
		fd = st_fdcache_get(&st->fdc, g->id, d);
		if (fd < 0 || st_egroup_read_extent_unverified(fd, e, dst))
			return -1;
		if (st_grow(&st->rcache.def, &st->rcache.capdef, st->rcache.ndef, sizeof(*st->rcache.def)))
			return -1;
		q = &st->rcache.def[st->rcache.ndef++];
		*q = (struct st_deferred){ dst, e->stored_len, e->crc, e->offset, e->id, g->id, d->id, 0 };
		return 0;
	}
	return -1;
}

static void verify_range(struct st_deferred *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i].ok = st_crc32c(d[i].dst, d[i].len) == d[i].crc;
}

static void *verify_worker(void *arg)
{
	struct st_deferred **r = arg;
	verify_range(r[0], (size_t)(r[1] - r[0]));
	return NULL;
}

static int read_region(struct st_store *st, const struct st_extent_id *id, uint32_t ext_off, uint32_t len,
		       uint8_t *dst, int defer, struct st_msg *err);

/*
 * [ext_off, ext_off + len) of plain extent e of g through the chunk sums
 * (st_csum.h): only the chunks it touches are read, from the first usable
 * copy (straight into dst when they are exactly the region), each checked
 * against its recorded sum. 0 done; 1 not this way (no sums, no usable
 * copy, a short read or a mismatch): the caller reads the whole extent the
 * verified way, which finds and reports a bad copy.
 */
static int read_chunks(struct st_store *st, const struct st_egroup_rec *g, const struct st_extent_rec *e,
		       uint32_t ext_off, uint32_t len, uint8_t *dst)
{
	uint32_t first = ext_off / ST_CSUM_CHUNK, last = (ext_off + len - 1) / ST_CSUM_CHUNK, n = last - first + 1;
	uint32_t from = first * ST_CSUM_CHUNK;
	uint32_t to = (uint64_t)(last + 1) * ST_CSUM_CHUNK < e->raw_len ? (last + 1) * ST_CSUM_CHUNK : e->raw_len;
	uint32_t sums_s[64], *sums = n <= 64 ? sums_s : malloc((size_t)n * sizeof(*sums));
	uint8_t *buf = dst;
	int rc = 1;

	if (!sums)
		return 1;
	if (!st_csum_get(st->csum, &e->id, e->raw_len, first, n, sums))
		goto out;
	if (from != ext_off || to != ext_off + len) {
		if (to - from > st->rcache.chcap) {
			uint8_t *nb = realloc(st->rcache.chbuf, to - from);
			if (!nb)
				goto out;
			st->rcache.chbuf = nb;
			st->rcache.chcap = to - from;
		}
		buf = st->rcache.chbuf;
	}
	for (int i = 0; i < g->nreplicas; i++) {
		const struct st_disk *d = st_topo_disk(&st->topo, g->replicas[i].disk);
		int fd;
		if (!st_topo_usable(&st->topo, d) || g->replicas[i].state != ST_REPLICA_OK)
			continue;
		fd = st_fdcache_get(&st->fdc, g->id, d);
		if (fd < 0 || pread(fd, buf, to - from, (off_t)e->offset + ST_EXTENT_HDR + from) != (ssize_t)(to - from))
			break;
		for (uint32_t k = 0; k < n; k++) {
			uint32_t a = k * ST_CSUM_CHUNK, l = to - from - a < ST_CSUM_CHUNK ? to - from - a : ST_CSUM_CHUNK;
			if (st_crc32c(buf + a, l) != sums[k])
				goto out;
		}
		if (buf != dst)
			memcpy(dst, buf + (ext_off - from), len);
		rc = 0;
		break;
	}
out:
	if (sums != sums_s)
		free(sums);
	return rc;
}

/*
 * 1 if deferred extent d reads right from its replica through a fresh
 * open: the cached fd it was read through may be of a file since replaced
 * (a repaired replica renamed over it), whose old bytes are no fault of
 * the replica now there.
 */
static int reread_fresh(struct st_store *st, struct st_deferred *d)
{
	const struct st_disk *disk = st_topo_disk(&st->topo, d->disk);
	struct st_extent_rec e = { .id = d->id, .offset = d->offset, .stored_len = d->len, .raw_len = d->len,
				   .crc = d->crc };
	int fd;

	st_fdcache_forget(&st->fdc, d->egroup, d->disk);
	if (!disk || (fd = st_fdcache_get(&st->fdc, d->egroup, disk)) < 0)
		return 0;
	return !st_egroup_read_extent_unverified(fd, &e, d->dst) && st_crc32c(d->dst, d->len) == d->crc;
}

/*
 * Check the CRC32C of every deferred extent, half on a helper thread; an
 * extent that fails is read once more from its replica through a fresh
 * open (reread_fresh), and if it fails again it is counted against its
 * replica and read again the verified way (from the other replicas).
 */
static int verify_deferred(struct st_store *st, struct st_msg *err)
{
	size_t n = st->rcache.ndef, half = n / 2;
	pthread_t th;
	struct st_deferred *range[2] = { st->rcache.def + half, st->rcache.def + n };
	int threaded = 0, rc = 0;

	if (n >= 2 && (size_t)n * st->rcache.def[0].len >= (2u << 20))
		threaded = pthread_create(&th, NULL, verify_worker, range) == 0;
	verify_range(st->rcache.def, threaded ? half : n);
	if (threaded)
		pthread_join(th, NULL);
	for (size_t i = 0; i < n && !rc; i++) {
		struct st_deferred *d = &st->rcache.def[i];
		if (d->ok || reread_fresh(st, d))
			continue;
		st->stats.bad_replicas++;
		st_config_io_error(st->cfg, d->egroup, d->disk, "checksum", NULL);
		st_fdcache_forget(&st->fdc, d->egroup, d->disk);
		rc = read_region(st, &d->id, 0, d->len, d->dst, 0, err);
	}
	st->rcache.ndef = 0;
	return rc;
}

/*
 * Copy [ext_off, ext_off + len) of extent id into dst, resolving top-down.
 * A region that is the whole extent is read straight into dst (with
 * defer, its CRC checked later by verify_deferred); a part of one goes
 * through the one-extent cache (extent bytes never change, so the cache is
 * always valid).
 */
static int read_region(struct st_store *st, const struct st_extent_id *id, uint32_t ext_off, uint32_t len,
		       uint8_t *dst, int defer, struct st_msg *err)
{
	char b[80];
	int rc = 0;

	if (st->rcache.x_valid && !memcmp(st->rcache.x_id.b, id->b, ST_EXTENT_ID_LEN)) {
		if ((uint64_t)ext_off + len > st->rcache.x_len)
			return st_fail(err, ST_ECORRUPT, "extent %s: region past its end", st_extent_id_fmt(id, b, sizeof(b)));
		memcpy(dst, (st->rcache.x_inz ? st->rcache.zbuf : st->rcache.xbuf + ST_EXTENT_HDR) + ext_off, len);
		return 0;
	}
	for (int attempt = 0; attempt < 3; attempt++) {
		const struct st_extent_rec *e;
		const struct st_egroup_rec *g;
		struct st_egroup_rec ghdr;
		struct st_extent_rec erec;
		uint64_t egroup, *cached;
		int idx, bad, whole;

		if (attempt == 0 && st->mc_on && st_mcache_extent(st->mc, id, &ghdr, &erec)) {
			g = &ghdr; /* its row without extents: the copies, the flags */
			e = &erec;
			goto resolved;
		}
		cached = attempt == 0 && !st->rcache.bc_bypass ? st_hmap_get(&st->rcache.xc, id->b) : NULL;
		if (cached) {
			egroup = *cached;
			rc = 0;
		} else {
			rc = st_meta_extent_get(st->meta, id, &egroup, err);
		}
		if (rc)
			return st_fail(err, rc == ST_ENOTFOUND ? ST_ECORRUPT : rc,
				       "extent %s: dangling reference (not in the extent ID map)",
				       st_extent_id_fmt(id, b, sizeof(b)));
		if (!st->rcache.eg_valid || st->rcache.eg.id != egroup || attempt > 0) {
			st->rcache.eg_valid = 0;
			rc = st_meta_egroup_get(st->meta, egroup, &st->rcache.eg, err);
			if (rc == ST_ENOTFOUND)
				continue; /* moved by the curator meanwhile: resolve again */
			if (rc)
				return rc;
			st->rcache.eg_valid = 1;
		}
		idx = st_egroup_rec_find(&st->rcache.eg, id);
		if (idx < 0)
			continue;
		g = &st->rcache.eg;
		e = &g->extents[idx];
		if (st->mc_on && !(g->flags & ST_EGROUP_EC)) /* an EC member's decode needs its extents: not cached */
			st_mcache_put_egroup(st->mc, st->mc_epoch, g);
	resolved:
		if (attempt == 0 && g->id != st->rcache.reads_last) { /* one read of an egroup per operation */
			int isnew = 0;
			if (st->rcache.seq_seen.n >= 4096) { /* a long stream: forget what it counted long ago */
				st_hmap_release(&st->rcache.seq_seen);
				st_hmap_init(&st->rcache.seq_seen, 8, 1);
			}
			if (st_hmap_put(&st->rcache.seq_seen, &g->id, &isnew) && isnew) {
				uint32_t *cnt = st_hmap_put(&st->rcache.reads, &g->id, NULL);
				if (cnt)
					(*cnt)++;
			}
			st->rcache.reads_last = g->id;
		}
		if ((uint64_t)ext_off + len > e->raw_len)
			return st_fail(err, ST_ECORRUPT, "extent %s: region past its end", st_extent_id_fmt(id, b, sizeof(b)));
		whole = ext_off == 0 && len == e->raw_len;
		if (!whole && st->csum && !(e->flags & ST_EXTENT_COMPRESSED) && !(g->flags & ST_EGROUP_CLOUD) &&
		    read_chunks(st, g, e, ext_off, len, dst) == 0)
			return 0;
		if (!whole)
			st->rcache.x_valid = 0;
		if (whole && defer && !(e->flags & ST_EXTENT_COMPRESSED) && read_deferred(st, g, e, dst) == 0)
			return 0;
		if (whole) {
			rc = read_extent_raw(st, g, e, dst, &bad, err);
		} else if (e->flags & ST_EXTENT_COMPRESSED) {
			rc = -ENOMEM;
			if (e->raw_len > st->rcache.zcap) {
				uint8_t *n = realloc(st->rcache.zbuf, e->raw_len);
				if (n) {
					st->rcache.zbuf = n;
					st->rcache.zcap = e->raw_len;
				}
			}
			if (e->raw_len <= st->rcache.zcap)
				rc = read_extent_raw(st, g, e, st->rcache.zbuf, &bad, err);
			else
				st_fail(err, rc, "out of memory");
			st->rcache.x_inz = 1;
		} else {
			rc = st_read_extent_any(st, g, e, NULL, &bad, err);
			st->rcache.x_inz = 0;
			if (!rc && st->csum) /* verified whole: its chunk sums serve the next partial reads */
				st_csum_put(st->csum, id, st->rcache.xbuf + ST_EXTENT_HDR, e->raw_len);
		}
		if (rc == ST_EIO && attempt == 0) {
			st->rcache.eg_valid = 0; /* perhaps a stale cached row */
			continue;
		}
		if (rc)
			return rc;
		if (!whole) {
			st->rcache.x_id = *id;
			st->rcache.x_len = e->raw_len;
			st->rcache.x_valid = 1;
			memcpy(dst, (st->rcache.x_inz ? st->rcache.zbuf : st->rcache.xbuf + ST_EXTENT_HDR) + ext_off, len);
		}
		return 0;
	}
	if (!rc)
		rc = st_fail(err, ST_ECORRUPT, "extent %s: dangling reference (egroup does not hold it)",
			     st_extent_id_fmt(id, b, sizeof(b)));
	return rc;
}

/* Add the read counts gathered so far to config.db (best effort: counts only steer promotion). */
static void reads_flush(struct st_store *st)
{
	uint64_t eg[256];
	uint32_t cnt[256];
	size_t pos = 0;
	const void *k;
	void *v;
	int n = 0;

	while (st_hmap_next(&st->rcache.reads, &pos, &k, &v)) {
		memcpy(&eg[n], k, 8);
		memcpy(&cnt[n], v, 4);
		if (++n == 256) {
			st_config_reads_add(st->cfg, n, eg, cnt, st_now(), NULL);
			n = 0;
		}
	}
	if (n)
		st_config_reads_add(st->cfg, n, eg, cnt, st_now(), NULL);
	st_hmap_release(&st->rcache.reads);
	st_hmap_init(&st->rcache.reads, 8, 4);
	st->rcache.reads_flushed = st_now();
}

void st_store_set_csum(struct st_store *st, struct st_csum *c)
{
	st->csum = c;
}

int st_store_set_fd_slots(struct st_store *st, size_t n)
{
	return st_fdcache_resize(&st->fdc, n);
}

void st_store_sweep_fds(struct st_store *st)
{
	st_fdcache_sweep(&st->fdc);
}

void st_store_set_mcache(struct st_store *st, struct st_mcache *m)
{
	st->mc = m;
}

void st_store_forget(struct st_store *st)
{
	st->rcache.bc_valid = 0;
	st->rcache.eg_valid = 0;
	st_hmap_release(&st->rcache.xc);
	st_hmap_init(&st->rcache.xc, ST_EXTENT_ID_LEN, 8);
}

void st_readcache_init(struct st_readcache *rc)
{
	st_hmap_init(&rc->xc, ST_EXTENT_ID_LEN, 8);
	st_hmap_init(&rc->reads, 8, 4);
	st_hmap_init(&rc->seq_seen, 8, 1);
	rc->reads_flushed = st_now();
}

void st_readcache_release(struct st_store *st)
{
	struct st_readcache *rc = &st->rcache;

	if (rc->reads.n)
		reads_flush(st);
	st_hmap_release(&rc->reads);
	st_hmap_release(&rc->seq_seen);
	st_egroup_rec_release(&rc->eg);
	free(rc->xbuf);
	free(rc->chbuf);
	free(rc->zbuf);
	free(rc->def);
	free(rc->bc_rows);
	free(rc->ec_img);
	st_hmap_release(&rc->xc);
}

struct map_check {
	uint64_t blocks, bad_block;
	int bad_rc, bad;
};

static int map_row(void *arg, int rc_row, const struct st_block *b)
{
	struct map_check *c = arg;

	if (!c->bad && (rc_row || b->block >= c->blocks)) {
		c->bad = 1;
		c->bad_rc = rc_row;
		c->bad_block = b->block;
	}
	return 0;
}

/*
 * Check v's whole block map once per handle before reading it: a corrupt
 * row, or a row whose key lies outside the vdisk (a moved row), makes
 * every read of v fail with ST_ECORRUPT instead of reading a hole.
 */
static int map_check(struct st_store *st, const struct st_vdisk *v, struct st_msg *err)
{
	struct map_check c = { .blocks = (v->size + v->block_size - 1) / v->block_size };
	int rc;

	if (st->rcache.map_checked == v->id)
		return 0;
	rc = st_meta_vdisk_blocks(st->meta, v->id, map_row, &c, err);
	if (rc)
		return rc;
	if (c.bad)
		return st_fail(err, ST_ECORRUPT, "vdisk '%s': %s block map row at block %lld (run fsck; the vdisk is not read)",
			       v->name, c.bad_rc ? "corrupt" : "misplaced", (long long)c.bad_block);
	st->rcache.map_checked = v->id;
	return 0;
}

int st_vdisk_pread(struct st_store *st, const struct st_vdisk *v, uint64_t off, size_t len, void *buf,
		   struct st_msg *err)
{
	uint8_t *out = buf;
	struct st_block *b;
	uint32_t bs = v->block_size;
	int rc = 0;

	if (bs < ST_BLOCK_MIN || bs > ST_BLOCK_MAX || (bs & (bs - 1)))
		return st_fail(err, ST_ECORRUPT, "vdisk '%s': block size %u", v->name, bs);
	if (off > v->size || len > v->size - off)
		return st_fail(err, ST_ERANGE, "read of %zu bytes at offset %llu: past the size of vdisk '%s' (%llu bytes)",
			       len, (unsigned long long)off, v->name, (unsigned long long)v->size);
	if (len == 0)
		return 0;
	rc = map_check(st, v, err);
	if (rc)
		return rc;
	/* the shared rows, unless this is the read again without any cache (bc_bypass) */
	st->mc_on = st->mc && !st->rcache.bc_bypass && st_mcache_begin(st->mc, &st->mc_epoch) == 0;
	st->rcache.reads_last = 0;
	if (!st->rcache.bc_bypass && (st->rcache.seq_vdisk != v->id || st->rcache.seq_end != off)) {
		st_hmap_release(&st->rcache.seq_seen); /* a new operation: its egroups count again */
		st_hmap_init(&st->rcache.seq_seen, 8, 1);
	}
	st->rcache.seq_vdisk = v->id;
	st->rcache.seq_end = off + len;
	b = malloc(sizeof(*b));
	if (!b)
		return st_fail(err, -ENOMEM, "out of memory");
	for (uint64_t blk = off / bs; blk <= (off + len - 1) / bs && !rc; blk++) {
		uint64_t bstart = blk * bs, zfrom = bstart > off ? bstart : off;
		uint64_t bend = bstart + bs < off + len ? bstart + bs : off + len;

		if (st->mc_on && st_mcache_block(st->mc, v->id, blk, (uint32_t)(zfrom - bstart), (uint32_t)(bend - bstart), b)) {
			rc = 0;
		} else {
			rc = block_get(st, v->id, blk, b, err);
			if (rc == ST_ENOTFOUND) {
				rc = 0;
				b->vdisk = v->id;
				b->block = blk;
				b->n = 0;
			}
			if (!rc && st->mc_on)
				st_mcache_put_block(st->mc, st->mc_epoch, b);
		}
		/* regions are sorted and disjoint: zero only the gaps between them */
		for (int i = 0; i < b->n && !rc; i++) {
			const struct st_region *r = &b->r[i];
			uint64_t rs = bstart + r->block_off, re = rs + r->len;

			if ((uint64_t)r->block_off + r->len > bs || r->len == 0) {
				rc = st_fail(err, ST_ECORRUPT, "vdisk '%s' block %llu: a region [%u, +%u) outside the %u-byte block",
					     v->name, (unsigned long long)blk, r->block_off, r->len, bs);
				break;
			}
			uint64_t s = rs > off ? rs : off, e = re < off + len ? re : off + len;

			if (s >= e)
				continue;
			if (s > zfrom)
				memset(out + (zfrom - off), 0, s - zfrom);
			zfrom = e;
			rc = read_region(st, &r->extent, r->extent_off + (uint32_t)(s - rs), (uint32_t)(e - s),
					 out + (s - off), 1, err);
		}
		if (!rc && bend > zfrom)
			memset(out + (zfrom - off), 0, bend - zfrom);
	}
	free(b);
	if (!rc)
		rc = verify_deferred(st, err);
	else
		st->rcache.ndef = 0;
	if (rc && rc != ST_ERANGE && (st->rcache.bc_valid || st->mc_on) && !st->rcache.bc_bypass) {
		/* perhaps stale read-ahead or shared rows (the curator moved something): once more without them */
		st->rcache.bc_valid = 0;
		st->rcache.bc_bypass = 1;
		rc = st_vdisk_pread(st, v, off, len, buf, err);
		st->rcache.bc_bypass = 0;
	}
	if (!rc)
		st->stats.bytes_read += len;
	if (st->rcache.reads.n >= 1024 || (st->rcache.reads.n && st_now() - st->rcache.reads_flushed >= 5))
		reads_flush(st);
	return rc;
}
