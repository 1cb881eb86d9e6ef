/*
 * st_write: the writer. A writer (struct st_writer) holds its vdisk's
 * write lock, buffers up to a batch (32 MiB) of the stream and commits
 * each batch as one foreground operation; st_vdisk_pwrite is a writer for
 * one call.
 *
 * DESIGN: writes go bottom-up (DESIGN.md §4). A batch
 *   1. begins an operation (sequence number s, registered in flight, so no
 *      scan's S0 is later than s);
 *   2. cuts the buffer at block boundaries into new extents (copy-on-write:
 *      an overwrite is a new extent, never an update in place) and appends
 *      them to the vdisk's open egroup or to new ones placed by st_place.c,
 *      compressing them first when the container says inline;
 *   3. fdatasyncs the replica files (and the directories of new ones);
 *   4. commits the egroup rows (refcount 1 per new extent, last_ref_seq =
 *      s; the resumed open egroup by compare-and-set on its version, so if
 *      the curator changed it meanwhile the batch is redone into fresh
 *      egroups), then the extent-ID rows, then the block rows, each a
 *      durable transaction before the next;
 *   5. ends the operation.
 * Data first, metadata after: a crash leaves at worst unreachable extents
 * and orphan files, never a reference to missing data. The foreground never
 * decrements a refcount (an overwritten extent's count is the curator's to
 * fix). The vdisk's last egroup stays open for appends across batches and
 * processes (config.db vdisks.open_egroup). In the st_store family this
 * file calls st_topo.c, st_place.c, st_read.c (read-modify-write of a
 * fragmented block) and st_vdisk.c (the lock); the curator's rewrites
 * above it share st_write_compress.
 */
#include "storage/st_store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "storage/st_chunk.h"
#include "storage/st_codec.h"
#include "storage/st_egroup.h"

#define WRITE_BATCH (32u << 20) /* bytes a writer buffers before it commits a batch */

/* Compress the extents of a batch on every CPU, into one buffer (st_store_int.h). */
int st_write_compress(int codec, struct st_codec_job *jobs, int n, uint8_t **zbuf, size_t *zcap)
{
	size_t need = 0, off = 0;

	for (int i = 0; i < n; i++)
		need += st_codec_bound(jobs[i].len);
	if (need > *zcap) {
		uint8_t *z = realloc(*zbuf, need);
		if (!z)
			return -ENOMEM;
		*zbuf = z;
		*zcap = need;
	}
	for (int i = 0; i < n; i++) {
		jobs[i].out = *zbuf + off;
		jobs[i].cap = st_codec_bound(jobs[i].len);
		off += jobs[i].cap;
	}
	return st_codec_compress_jobs((enum st_codec)codec, jobs, n, 0);
}

/* An egroup this writer appends to within a batch. */
struct wr_egroup {
	struct st_egroup_rec rec;
	uint64_t base_version; /* committed version; 0 = no row yet */
	int uncommitted;       /* files created by this batch, no row yet */
	uint32_t start_used;   /* rec.used when the batch began */
	int fds[ST_REPLICAS_MAX];
};

struct piece {
	uint64_t block;
	uint32_t block_off, len;
	const uint8_t *data;
	struct st_extent_id id;
	uint64_t egroup;
};

/*
 * A range of the batch: bytes at data (in the writer's buffer, or the
 * caller's in borrow mode), or (zero) a range to punch
 * out of the block map (trim, write zeroes: it reads as zeros after). The
 * segments of a batch are at increasing, disjoint offsets.
 */
struct seg {
	uint64_t off, len;
	const uint8_t *data;
	int zero;
};

struct st_writer {
	struct st_store *st;
	struct st_vdisk v;
	struct st_container c;
	int lockfd;
	int failed;
	int paused;         /* the test hook fired (pause_at) */
	uint64_t pos;       /* vdisk offset of the next byte st_writer_write buffers */
	uint8_t *buf;       /* the batch's bytes (WRITE_BATCH, allocated on first use) */
	size_t blen;        /* data bytes in the batch (in buf unless borrow) */
	int borrow;         /* st_writer_borrow: segments point at the caller's bytes */
	struct seg *segs;
	size_t nsegs, capsegs;
	uint64_t seg_bytes; /* bytes the batch's segments cover (data and zeros) */
	uint64_t committed;

	struct wr_egroup *eg; /* egroups touched by the current batch; eg[0..] */
	int neg, capeg;
	struct wr_egroup open; /* carried across batches when has_open */
	int has_open;
	struct piece *pieces;
	size_t npieces, cappieces;
	uint8_t **rmw;      /* whole blocks of this batch, read-modify-written */
	size_t nrmw, caprmw;
	char fence[128];    /* lease holder checked against the shards' fences; "" none */
};

static void wr_egroup_close(struct wr_egroup *g)
{
	for (int i = 0; i < g->rec.nreplicas; i++) {
		if (g->fds[i] >= 0)
			close(g->fds[i]);
		g->fds[i] = -1;
	}
	st_egroup_rec_release(&g->rec);
}

/*
 * Abandon an egroup: unlink its replica files only if this batch created
 * them and no row ever referenced them; a committed egroup is never touched.
 */
static void wr_egroup_discard(struct st_writer *w, struct wr_egroup *g)
{
	char path[ST_PATH_MAX + 64];

	if (g->uncommitted && g->base_version == 0) {
		for (int i = 0; i < g->rec.nreplicas; i++) {
			const struct st_disk *d = st_topo_disk(&w->st->topo, g->rec.replicas[i].disk);
			if (d && !st_egroup_path(d->path, g->rec.id, path, sizeof(path)))
				unlink(path);
		}
	}
	wr_egroup_close(g);
}

/* Resume the vdisk's open egroup if it can still take appends. */
static void resume_open(struct st_writer *w)
{
	struct st_store *st = w->st;
	struct wr_egroup *g = &w->open;
	int ok = 1;

	if (!w->v.open_egroup)
		return;
	st_egroup_rec_init(&g->rec);
	if (st_meta_egroup_get(st->meta, w->v.open_egroup, &g->rec, NULL) || g->rec.owner != w->v.id ||
	    (g->rec.flags & ~(uint32_t)ST_EGROUP_COMPRESSED) || g->rec.used + ST_EXTENT_HDR + 4096 > ST_EGROUP_TARGET ||
	    g->rec.nreplicas != w->c.rf) {
		st_egroup_rec_release(&g->rec);
		return;
	}
	for (int i = 0; i < ST_REPLICAS_MAX; i++)
		g->fds[i] = -1;
	for (int i = 0; i < g->rec.nreplicas && ok; i++) {
		const struct st_disk *d = st_topo_disk(&st->topo, g->rec.replicas[i].disk);
		char path[ST_PATH_MAX + 64];
		struct st_egroup_hdr h;

		ok = st_topo_usable(&st->topo, d) && g->rec.replicas[i].state == ST_REPLICA_OK &&
		     !st_egroup_path(d->path, g->rec.id, path, sizeof(path));
		if (ok)
			g->fds[i] = open(path, O_RDWR | O_CLOEXEC);
		ok = ok && g->fds[i] >= 0 && st_egroup_read_hdr(g->fds[i], &h) == 0 && h.egroup == g->rec.id;
	}
	if (!ok) {
		wr_egroup_close(g);
		return;
	}
	g->base_version = g->rec.version;
	w->has_open = 1;
}

int st_writer_open(struct st_store *st, const char *name, uint64_t off, struct st_writer **out,
		   struct st_msg *err)
{
	struct st_writer *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return st_fail(err, -ENOMEM, "out of memory");
	w->st = st;
	w->lockfd = -1;
	rc = st_config_vdisk_get(st->cfg, name, &w->v, err);
	if (!rc && w->v.readonly)
		rc = st_fail(err, ST_EREADONLY, "vdisk '%s': is a snapshot (read-only); clone it to write", name);
	if (!rc && off > w->v.size)
		rc = st_fail(err, ST_ERANGE, "--offset %llu: past the size of vdisk '%s' (%llu bytes)",
			     (unsigned long long)off, name, (unsigned long long)w->v.size);
	if (!rc)
		rc = st_config_container_by_id(st->cfg, w->v.container, &w->c, err);
	if (!rc)
		rc = st_vdisk_lock(st, w->v.id, &w->lockfd, err);
	if (!rc) /* re-read under the lock: a delete or another writer may have run */
		rc = st_config_vdisk_by_id(st->cfg, w->v.id, &w->v, err);
	if (!rc && w->v.state != ST_VDISK_LIVE)
		rc = st_fail(err, ST_EREADONLY, "vdisk '%s': was deleted", name);
	if (rc) {
		st_vdisk_unlock(w->st, w->v.id, w->lockfd);
		free(w->buf);
		free(w);
		return rc;
	}
	w->pos = off;
	resume_open(w);
	*out = w;
	return 0;
}

uint64_t st_writer_committed(const struct st_writer *w)
{
	return w->committed;
}

static int add_piece(struct st_writer *w, const struct piece *p)
{
	if (st_grow(&w->pieces, &w->cappieces, w->npieces, sizeof(*w->pieces)))
		return -ENOMEM;
	w->pieces[w->npieces++] = *p;
	return 0;
}

static void rmw_release(struct st_writer *w)
{
	for (size_t i = 0; i < w->nrmw; i++)
		free(w->rmw[i]);
	w->nrmw = 0;
}

/*
 * Pieces [i, j) all lie in one block. When its row would pass
 * ST_REGIONS_MAX regions with them, read the block as committed, lay the
 * pieces on it (zeros for zero pieces) and make them one piece of the whole
 * block (read-modify-write), so block rows stay bounded. *out: pieces left.
 */
static int widen_block(struct st_writer *w, size_t i, size_t j, size_t *out, struct st_msg *err)
{
	uint32_t bs = w->v.block_size;
	uint64_t block = w->pieces[i].block;
	uint64_t start = block * bs;
	uint32_t blen = (uint32_t)(w->v.size - start < bs ? w->v.size - start : bs);
	struct st_block *b;
	uint8_t *data;
	int rc;

	if (j - i == 1 && w->pieces[i].len == blen)
		return *out = 1, 0;
	b = malloc(sizeof(*b));
	if (!b)
		return st_fail(err, -ENOMEM, "out of memory");
	rc = st_meta_block_get(w->st->meta, w->v.id, block, b, err);
	if (rc == ST_ENOTFOUND)
		rc = 0;
	if (rc || b->n + 2 * (int)(j - i) <= ST_REGIONS_MAX - 6) {
		free(b);
		return rc ? rc : (*out = j - i, 0);
	}
	free(b);
	data = malloc(bs);
	if (!data || st_grow(&w->rmw, &w->caprmw, w->nrmw, sizeof(*w->rmw))) {
		free(data);
		return st_fail(err, -ENOMEM, "out of memory");
	}
	w->rmw[w->nrmw++] = data;
	rc = st_vdisk_pread(w->st, &w->v, start, blen, data, err);
	if (rc)
		return rc;
	for (size_t k = i; k < j; k++) {
		const struct piece *p = &w->pieces[k];
		if (p->data)
			memcpy(data + p->block_off, p->data, p->len);
		else
			memset(data + p->block_off, 0, p->len);
	}
	w->pieces[i] = (struct piece){ block, 0, blen, data, { { 0 } }, 0 };
	*out = 1;
	return 0;
}

/* Cut the batch's segments at block boundaries, then widen the blocks too fragmented to overlay. */
static int cut_pieces(struct st_writer *w, struct st_msg *err)
{
	uint32_t bs = w->v.block_size;
	size_t i, k = 0;

	w->npieces = 0;
	rmw_release(w);
	for (size_t s = 0; s < w->nsegs; s++) {
		const struct seg *g = &w->segs[s];
		uint64_t off = g->off, end = g->off + g->len;

		while (off < end) {
			uint64_t block = off / bs;
			uint32_t boff = (uint32_t)(off - block * bs);
			uint32_t len = (uint32_t)((end - off) < (uint64_t)(bs - boff) ? end - off : bs - boff);
			struct piece p = { block, boff, len, g->zero ? NULL : g->data + (off - g->off),
					   { { 0 } }, 0 };

			if (add_piece(w, &p))
				return st_fail(err, -ENOMEM, "out of memory");
			off += len;
		}
	}
	/* pieces of one block are adjacent (segments ascend): each group may become one piece */
	for (i = 0; i < w->npieces;) {
		size_t j = i + 1, n = 0;
		int rc;

		while (j < w->npieces && w->pieces[j].block == w->pieces[i].block)
			j++;
		rc = widen_block(w, i, j, &n, err);
		if (rc)
			return rc;
		memmove(&w->pieces[k], &w->pieces[i], n * sizeof(w->pieces[0]));
		k += n;
		i = j;
	}
	w->npieces = k;
	return 0;
}

static struct wr_egroup *new_batch_egroup(struct st_writer *w)
{
	if (w->neg == w->capeg) {
		int cap = w->capeg ? w->capeg * 2 : 16;
		struct wr_egroup *n = realloc(w->eg, (size_t)cap * sizeof(*n));
		if (!n)
			return NULL;
		w->eg = n;
		w->capeg = cap;
	}
	memset(&w->eg[w->neg], 0, sizeof(w->eg[0]));
	for (int i = 0; i < ST_REPLICAS_MAX; i++)
		w->eg[w->neg].fds[i] = -1;
	return &w->eg[w->neg++];
}

/* Create a new egroup with its replica files. */
static int open_new_egroup(struct st_writer *w, int64_t *pending, struct wr_egroup **out, struct st_msg *err)
{
	struct st_store *st = w->st;
	uint32_t disks[ST_REPLICAS_MAX];
	enum st_tier tier = ST_TIER_SSD;
	struct wr_egroup *g;
	uint64_t id;
	int64_t now = st_now();
	int rc = st_topo_new_id(st, &id, err);

	if (rc)
		return rc;
	rc = st_place_new(st, &w->c, id, pending, disks, &tier, err);
	if (rc)
		return rc;
	g = new_batch_egroup(w);
	if (!g)
		return st_fail(err, -ENOMEM, "out of memory");
	st_egroup_rec_init(&g->rec);
	g->rec.id = id;
	g->rec.container = w->c.id;
	g->rec.owner = w->v.id;
	g->rec.tier = tier;
	g->rec.created = g->rec.last_write = g->rec.last_access = now;
	g->rec.last_scrub = now;
	g->rec.used = ST_EGROUP_HDR;
	if (w->c.compress == ST_MODE_INLINE)
		g->rec.flags |= ST_EGROUP_COMPRESSED; /* its extents went through the compressor */
	g->start_used = 0;
	g->uncommitted = 1;
	g->rec.nreplicas = w->c.rf;
	for (int i = 0; i < w->c.rf; i++) {
		const struct st_disk *d = st_topo_disk(&st->topo, disks[i]);
		struct st_egroup_hdr h = { id, w->c.id, w->v.id, now };
		char path[ST_PATH_MAX + 64];

		g->rec.replicas[i].disk = disks[i];
		g->rec.replicas[i].state = ST_REPLICA_OK;
		rc = st_egroup_path(d->path, id, path, sizeof(path));
		if (!rc)
			rc = st_egroup_create(path, &h, &g->fds[i]);
		if (rc)
			return st_fail(err, rc, "disk %u: %s: %s", d->id, path, st_strerror(rc));
		pending[d - st->topo.disks] += ST_EGROUP_HDR;
	}
	st->stats.egroups_created++;
	*out = g;
	return 0;
}

/* Sync every replica file of the batch (and directories of new files). */
static int sync_batch(struct st_writer *w, struct st_msg *err)
{
	uint32_t synced_dirs[64];
	int nsd = 0;

	for (int e = 0; e < w->neg; e++) {
		struct wr_egroup *g = &w->eg[e];
		for (int i = 0; i < g->rec.nreplicas; i++) {
			const struct st_disk *d = st_topo_disk(&w->st->topo, g->rec.replicas[i].disk);
			int seen = 0;
			if (fdatasync(g->fds[i]) < 0)
				return st_fail(err, -errno, "disk %u: fdatasync: %s", d->id, strerror(errno));
			if (!g->uncommitted)
				continue;
			for (int k = 0; k < nsd; k++)
				seen |= synced_dirs[k] == d->id;
			if (!seen && nsd < 64) {
				char dir[ST_PATH_MAX + 16];
				snprintf(dir, sizeof(dir), "%s/egroups", d->path);
				synced_dirs[nsd++] = d->id;
				if (st_fsync_dir(dir) < 0)
					return st_fail(err, -EIO, "%s: fsync failed", dir);
			}
		}
	}
	return 0;
}

/* Commit egroup rows; the resumed one (base_version) first, by CAS. */
static int commit_egroups(struct st_writer *w, uint64_t seq, struct st_msg *err)
{
	struct st_meta *m = w->st->meta;
	int rc = 0;

	for (int e = 0; e < w->neg; e++) {
		struct wr_egroup *g = &w->eg[e];
		if (g->uncommitted)
			continue;
		g->rec.last_ref_seq = g->rec.last_ref_seq > seq ? g->rec.last_ref_seq : seq;
		rc = st_meta_egroup_put(m, &g->rec, g->base_version, err);
		if (rc)
			return rc;
		g->base_version = g->rec.version;
	}
	for (int s = 0; s < st_meta_nshards(m) && !rc; s++) {
		int any = 0;
		for (int e = 0; e < w->neg && !rc; e++) {
			struct wr_egroup *g = &w->eg[e];
			if (!g->uncommitted || st_meta_shard_egroup(m, g->rec.id) != s)
				continue;
			if (!any) {
				rc = st_meta_begin(m, s, err);
				any = 1;
			}
			g->rec.last_ref_seq = seq;
			if (!rc)
				rc = st_meta_egroup_put(m, &g->rec, 0, err);
		}
		if (any && rc) {
			st_meta_rollback(m, s);
		} else if (any) {
			rc = st_meta_commit(m, s, err);
			for (int e = 0; !rc && e < w->neg; e++) {
				struct wr_egroup *g = &w->eg[e];
				if (g->uncommitted && st_meta_shard_egroup(m, g->rec.id) == s) {
					g->uncommitted = 0;
					g->base_version = g->rec.version;
				}
			}
		}
	}
	return rc;
}

static int commit_extents(struct st_writer *w, struct st_msg *err)
{
	struct st_meta *m = w->st->meta;
	int rc = 0;

	for (int s = 0; s < st_meta_nshards(m) && !rc; s++) {
		int any = 0;
		for (size_t i = 0; i < w->npieces && !rc; i++) {
			struct piece *p = &w->pieces[i];
			if (!p->data || st_meta_shard_extent(m, &p->id) != s)
				continue;
			if (!any) {
				rc = st_meta_begin(m, s, err);
				any = 1;
			}
			if (!rc)
				rc = st_meta_extent_put(m, &p->id, p->egroup, err);
		}
		if (any && rc)
			st_meta_rollback(m, s);
		else if (any)
			rc = st_meta_commit(m, s, err);
	}
	return rc;
}

static int commit_blocks(struct st_writer *w, struct st_msg *err)
{
	struct st_meta *m = w->st->meta;
	struct st_block *b = malloc(sizeof(*b));
	int rc = 0;

	if (!b)
		return st_fail(err, -ENOMEM, "out of memory");
	for (int s = 0; s < st_meta_nshards(m) && !rc; s++) {
		int any = 0;
		for (size_t i = 0; i < w->npieces && !rc; i++) {
			struct piece *p = &w->pieces[i];
			if (st_meta_shard_block(m, w->v.id, p->block) != s)
				continue;
			if (!any) {
				rc = st_store_lease_check(w->st, err); /* the clock, before each shard's commit */
				if (rc)
					break;
				rc = st_meta_begin(m, s, err);
				any = 1;
				if (!rc && w->fence[0]) /* inside the transaction that makes the rows visible */
					rc = st_meta_fenced(m, s, w->fence, err);
			}
			if (rc)
				break;
			rc = st_meta_block_get(m, w->v.id, p->block, b, err);
			if (rc == ST_ENOTFOUND && !p->data) {
				rc = 0;
				continue; /* a hole already */
			}
			if (rc == ST_ENOTFOUND)
				rc = 0;
			if (!rc && p->data)
				rc = st_block_overlay(b, p->block_off, p->len, &p->id, 0);
			else if (!rc)
				rc = st_block_punch(b, p->block_off, p->len);
			if (rc == ST_ERANGE)
				st_fail(err, rc, "vdisk '%s' block %llu: too fragmented", w->v.name,
					(unsigned long long)p->block);
			if (!rc && b->n == 0)
				rc = st_meta_block_delete(m, w->v.id, p->block, err);
			else if (!rc)
				rc = st_meta_block_put(m, b, err);
		}
		if (any && rc)
			st_meta_rollback(m, s);
		else if (any)
			rc = st_meta_commit(m, s, err);
	}
	free(b);
	return rc;
}

/* Account the bytes appended per disk in config.db. */
static int account_usage(struct st_writer *w, struct st_msg *err)
{
	uint32_t disk[64];
	int64_t delta[64];
	int n = 0;

	for (int e = 0; e < w->neg; e++) {
		struct wr_egroup *g = &w->eg[e];
		for (int i = 0; i < g->rec.nreplicas; i++) {
			int k;
			for (k = 0; k < n && disk[k] != g->rec.replicas[i].disk; k++)
				;
			if (k == n) {
				if (n == 64)
					continue;
				disk[n] = g->rec.replicas[i].disk;
				delta[n++] = 0;
			}
			delta[k] += (int64_t)g->rec.used - (int64_t)g->start_used;
		}
	}
	return st_config_disk_used_add(w->st->cfg, n, disk, delta, err);
}

/*
 * Inline dedup: record the chunk fingerprints of the batch's new extents
 * in their egroups' fingerprint rows (after the egroup rows are committed),
 * so post-process dedup finds them without reading the data back. Best
 * effort: an egroup whose row could not be written is fingerprinted by a
 * later scan's task.
 */
static void fingerprint_batch(struct st_writer *w)
{
	struct st_meta *m = w->st->meta;

	for (int e = 0; e < w->neg; e++) {
		const struct wr_egroup *g = &w->eg[e];
		struct st_chunk_fp *v = NULL;
		size_t n = 0, cap = 0;
		int rc = 0;

		if (!g->uncommitted && g->start_used > ST_EGROUP_HDR &&
		    st_meta_fp_get(m, g->rec.id, &v, &n, NULL) == 0)
			cap = n; /* a resumed egroup: keep what it had */
		struct st_chunk_src *src = calloc(w->npieces + 1, sizeof(*src));
		size_t nsrc = 0;

		rc = src ? 0 : -ENOMEM;
		for (size_t i = 0; i < w->npieces && !rc; i++) {
			const struct piece *p = &w->pieces[i];
			if (p->data && p->egroup == g->rec.id)
				src[nsrc++] = (struct st_chunk_src){ p->id, p->data, p->len };
		}
		if (!rc)
			rc = st_chunk_fingerprint_many(w->c.chunking, src, nsrc, &v, &n, &cap);
		if (!rc)
			st_meta_fp_put(m, g->rec.id, v, n, NULL);
		free(src);
		free(v);
	}
}

/* Write the pieces' data into egroups (open one, then new ones). */
static int write_pieces(struct st_writer *w, struct st_msg *err)
{
	struct st_store *st = w->st;
	int64_t *pending = calloc((size_t)st->topo.ndisks + 1, sizeof(int64_t));
	struct wr_egroup *cur = NULL;
	struct st_codec_job *jobs = NULL;
	int rc = 0;

	if (!pending)
		return st_fail(err, -ENOMEM, "out of memory");
	if (w->c.compress == ST_MODE_INLINE && w->npieces) { /* the whole batch at once, on every CPU */
		size_t nj = 0;
		jobs = calloc(w->npieces, sizeof(*jobs));
		for (size_t i = 0; jobs && i < w->npieces; i++) {
			if (!w->pieces[i].data)
				continue; /* zero pieces (holes) have no extent */
			jobs[nj].in = w->pieces[i].data;
			jobs[nj++].len = w->pieces[i].len;
		}
		if (!jobs || (nj && st_write_compress((int)w->c.codec, jobs, (int)nj, &st->cbuf, &st->ccap))) {
			free(pending);
			free(jobs);
			return st_fail(err, -ENOMEM, "out of memory");
		}
	}
	if (w->has_open) { /* the open egroup becomes eg[0] of this batch */
		struct wr_egroup *g = new_batch_egroup(w);
		if (!g) {
			free(pending);
			return st_fail(err, -ENOMEM, "out of memory");
		}
		*g = w->open;
		g->start_used = g->rec.used;
		w->has_open = 0;
		cur = g;
	}
	for (size_t i = 0, nj = 0; i < w->npieces && !rc; i++) {
		struct piece *p = &w->pieces[i];
		struct st_extent_rec e = { 0 };
		const uint8_t *stored;
		uint32_t need;
		uint64_t unique;

		if (!p->data)
			continue;
		rc = st_topo_new_id(st, &unique, err);
		if (rc)
			break;
		st_extent_id_make(&p->id, w->v.id, unique, p->block);
		st_write_stored_form((int)w->c.codec, jobs ? &jobs[nj++] : NULL, p->data, p->len, &e, &stored);
		need = ST_EXTENT_HDR + e.stored_len;
		if (!cur || (cur->rec.nextents && cur->rec.used + need > ST_EGROUP_TARGET)) {
			rc = open_new_egroup(w, pending, &cur, err);
			if (rc)
				break;
		}
		e.id = p->id;
		e.offset = cur->rec.used;
		e.refcount = 1;
		for (int r = 0; r < cur->rec.nreplicas && !rc; r++) {
			rc = st_egroup_write_extent(cur->fds[r], cur->rec.used, &e, stored);
			if (rc) {
				st_fail(err, rc, "disk %u: egroup %llx: %s", cur->rec.replicas[r].disk,
					(unsigned long long)cur->rec.id, st_strerror(rc));
				break;
			}
			pending[st_topo_disk(&st->topo, cur->rec.replicas[r].disk) - st->topo.disks] += need;
		}
		if (rc)
			break;
		rc = st_egroup_rec_add(&cur->rec, &e);
		if (rc) {
			st_fail(err, rc, "out of memory");
			break;
		}
		cur->rec.used += need;
		cur->rec.last_write = st_now();
		p->egroup = cur->rec.id;
		st->stats.extents_written++;
	}
	free(pending);
	free(jobs);
	return rc;
}

/*
 * Test hook: CURATOR_WRITE_PAUSE_AT=STEP stops the process (SIGSTOP, for
 * the test to SIGCONT) when a batch reaches STEP; STEP:SECS sleeps SECS
 * seconds instead (the lease keeps renewing). CURATOR_WRITE_PAUSE_FILE, if
 * set, is created first, so the test knows the writer got there. Steps:
 * before_egroup_rows (data written and synced), before_block_rows (egroup
 * and extent-ID rows committed). Each pauses the first batch only.
 */
static void pause_at(struct st_writer *w, const char *step)
{
	const char *at = getenv("CURATOR_WRITE_PAUSE_AT"), *file = getenv("CURATOR_WRITE_PAUSE_FILE");
	size_t n = strlen(step);

	if (!at || strncmp(at, step, n) || (at[n] && at[n] != ':') || w->paused)
		return;
	w->paused = 1;
	if (file && *file) {
		FILE *f = fopen(file, "w");
		if (f) {
			fprintf(f, "%d\n", (int)getpid());
			fclose(f);
		}
	}
	if (at[n] == ':')
		sleep((unsigned)atoi(at + n + 1));
	else
		raise(SIGSTOP);
}

static void batch_release(struct st_writer *w, int discard)
{
	for (int e = 0; e < w->neg; e++) {
		if (discard)
			wr_egroup_discard(w, &w->eg[e]);
		else
			wr_egroup_close(&w->eg[e]);
	}
	w->neg = 0;
}

/*
 * The committed batch trimmed or zeroed blocks: note the range (config.db
 * vdisk_trims) for the daemon, whose selective scan gives their old
 * extents' space back within a tick. Best effort: the batch is committed
 * already, and a note not made leaves the garbage to the full scan.
 */
static void note_punched(struct st_writer *w)
{
	uint64_t lo = UINT64_MAX, hi = 0, bs = w->v.block_size ? w->v.block_size : 1;

	for (size_t i = 0; i < w->nsegs; i++) {
		if (!w->segs[i].zero || !w->segs[i].len)
			continue;
		if (w->segs[i].off / bs < lo)
			lo = w->segs[i].off / bs;
		if ((w->segs[i].off + w->segs[i].len - 1) / bs > hi)
			hi = (w->segs[i].off + w->segs[i].len - 1) / bs;
	}
	if (lo != UINT64_MAX)
		(void)st_config_trim_note(w->st->cfg, w->v.id, lo, hi, (int64_t)time(NULL), NULL);
}

static int flush(struct st_writer *w, struct st_msg *err)
{
	struct st_store *st = w->st;
	uint64_t seq, new_open = 0;
	int64_t op;
	int rc, tries = 0;

	if (w->nsegs == 0)
		return 0;
	rc = st_topo_refresh(st, err);
	if (rc)
		return rc;
	rc = st_store_op_begin(st, "vdisk write", &seq, &op, err);
	if (rc)
		return rc;
again:
	rc = cut_pieces(w, err);
	if (!rc)
		rc = write_pieces(w, err);
	if (!rc)
		rc = sync_batch(w, err);
	if (!rc) {
		pause_at(w, "before_egroup_rows");
		/* every commit step checks the lease first; the shards check its fence */
		rc = st_store_lease_check(st, err);
	}
	if (!rc) {
		rc = commit_egroups(w, seq, err);
		if (rc == ST_ESTALE && tries++ < 3) {
			/* the curator changed the open egroup: redo into fresh ones */
			batch_release(w, 1);
			goto again;
		}
	}
	if (rc) {
		batch_release(w, 1);
		goto out;
	}
	if (w->c.dedup == ST_MODE_INLINE)
		fingerprint_batch(w);
	rc = st_store_lease_check(st, err);
	if (!rc)
		rc = commit_extents(w, err);
	if (!rc) {
		pause_at(w, "before_block_rows");
		rc = st_store_lease_check(st, err);
	}
	if (!rc)
		rc = commit_blocks(w, err);
	if (!rc)
		rc = account_usage(w, err);
	if (rc) { /* egroup rows are committed: leave the files, the curator collects */
		batch_release(w, 0);
		goto out;
	}
	/* keep the last egroup open for the next batch if it has room */
	if (w->neg) {
		struct wr_egroup *last = &w->eg[w->neg - 1];
		if (last->rec.used + ST_EXTENT_HDR + 4096 <= ST_EGROUP_TARGET) {
			w->open = *last;
			w->has_open = 1;
			new_open = last->rec.id;
			w->neg--;
		}
	}
	batch_release(w, 0);
	if (new_open != w->v.open_egroup) {
		rc = st_config_vdisk_set_open(st->cfg, w->v.id, new_open, err);
		if (!rc)
			w->v.open_egroup = new_open;
	}
	st->rcache.bc_valid = 0; /* this handle's metadata read-ahead is stale now */
	note_punched(w);
	st->stats.bytes_written += w->blen;
	st->stats.batches++;
	w->committed += w->seg_bytes;
	w->blen = 0;
	w->nsegs = 0;
	w->seg_bytes = 0;
	rmw_release(w);
out:
	if (rc)
		w->failed = rc;
	{
		int erc = st_config_op_end(st->cfg, op, rc ? NULL : err);
		if (!rc)
			rc = erc;
	}
	return rc;
}

/*
 * Buffer [off, off+len) of the batch: bytes from buf, or zeros to punch
 * (buf NULL). A range below the end of the batch's last segment commits the
 * batch first (segments ascend); a full buffer commits it too.
 */
static int put_range(struct st_writer *w, uint64_t off, const uint8_t *buf, uint64_t len, struct st_msg *err)
{
	if (w->failed)
		return st_fail(err, w->failed, "vdisk '%s': writer failed earlier", w->v.name);
	if (off > w->v.size || len > w->v.size - off)
		return st_fail(err, ST_ERANGE, "write of %llu bytes at offset %llu: past the size of vdisk '%s' (%llu bytes)",
			       (unsigned long long)len, (unsigned long long)off, w->v.name,
			       (unsigned long long)w->v.size);
	if (w->nsegs && off < w->segs[w->nsegs - 1].off + w->segs[w->nsegs - 1].len) {
		int rc = flush(w, err);
		if (rc)
			return rc;
	}
	if (buf && !w->borrow && !w->buf) { /* the batch buffer, on the first bytes to copy */
		w->buf = malloc(WRITE_BATCH);
		if (!w->buf)
			return st_fail(err, -ENOMEM, "out of memory");
	}
	while (len > 0) {
		struct seg *last = w->nsegs ? &w->segs[w->nsegs - 1] : NULL;
		uint64_t n = buf && !w->borrow ? WRITE_BATCH - w->blen : len;
		const uint8_t *at = !buf ? NULL : w->borrow ? buf : w->buf + w->blen;
		int rc;

		if (n > len)
			n = len;
		if (n == 0) {
			rc = flush(w, err);
			if (rc)
				return rc;
			continue;
		}
		if (last && last->off + last->len == off && last->zero == !buf &&
		    (!buf || last->data + last->len == at)) {
			last->len += n;
		} else {
			if (st_grow(&w->segs, &w->capsegs, w->nsegs, sizeof(*w->segs)))
				return st_fail(err, -ENOMEM, "out of memory");
			w->segs[w->nsegs++] = (struct seg){ off, n, at, !buf };
		}
		if (buf) {
			if (!w->borrow)
				memcpy(w->buf + w->blen, buf, n);
			w->blen += n;
			buf += n;
		}
		w->seg_bytes += n;
		off += n;
		len -= n;
		if (!w->borrow && w->blen == WRITE_BATCH) {
			rc = flush(w, err);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int st_writer_write(struct st_writer *w, const void *buf, size_t len, struct st_msg *err)
{
	int rc;

	if (w->pos + len < w->pos)
		return st_fail(err, ST_ERANGE, "write of %zu bytes: past the size of vdisk '%s'", len, w->v.name);
	rc = put_range(w, w->pos, buf, len, err);
	if (!rc)
		w->pos += len;
	return rc;
}

int st_writer_pwrite(struct st_writer *w, uint64_t off, const void *buf, size_t len, struct st_msg *err)
{
	return put_range(w, off, buf, len, err);
}

int st_writer_zero(struct st_writer *w, uint64_t off, uint64_t len, struct st_msg *err)
{
	return put_range(w, off, NULL, len, err);
}

void st_writer_borrow(struct st_writer *w)
{
	w->borrow = 1;
}

void st_writer_set_fence(struct st_writer *w, const char *holder)
{
	snprintf(w->fence, sizeof(w->fence), "%s", holder ? holder : "");
}

int st_writer_flush(struct st_writer *w, struct st_msg *err)
{
	if (w->failed)
		return st_fail(err, w->failed, "vdisk '%s': writer failed earlier", w->v.name);
	return flush(w, err);
}

int st_writer_close(struct st_writer *w, struct st_msg *err)
{
	int rc;

	if (!w)
		return 0;
	rc = w->failed ? w->failed : flush(w, err);
	if (w->has_open)
		wr_egroup_close(&w->open);
	batch_release(w, 0);
	st_vdisk_unlock(w->st, w->v.id, w->lockfd);
	free(w->eg);
	free(w->pieces);
	free(w->segs);
	free(w->buf);
	rmw_release(w);
	free(w->rmw);
	free(w);
	return rc;
}

int st_vdisk_pwrite(struct st_store *st, const char *name, uint64_t off, const void *buf, size_t len,
		    struct st_msg *err)
{
	struct st_writer *w;
	int rc = st_writer_open(st, name, off, &w, err);

	if (rc)
		return rc;
	rc = st_writer_write(w, buf, len, err);
	if (rc) {
		w->failed = w->failed ? w->failed : rc;
		st_writer_close(w, NULL);
		return rc;
	}
	return st_writer_close(w, err);
}
