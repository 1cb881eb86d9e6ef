/*
 * st_store_int: private to the st_store family of files. Everything here
 * may change without notice; nothing outside storage/st_*.c of this family
 * includes it.
 *
 * The family, lowest first. A file calls only the files listed before it
 * (the lower layers) and the static inline helpers below, never one listed
 * after it; each file's top comment says what it calls and its part in the
 * write/read ordering and the safety rule (DESIGN.md §4, §6).
 *
 *   file            part it owns          what it holds
 *   st_topo.c       struct st_topology    disk and node tables, IDs, the cloud tier
 *   st_replica.c    struct st_fdcache     cached replica fds; whole images of an
 *                                         egroup (data, parity, cloud) read and
 *                                         verified; an EC member's image decoded
 *                                         from its strip; image paths, prefetch
 *   st_place.c      -                     where the replicas of a new egroup go
 *   st_read.c       struct st_readcache   the read path: one extent from its copies
 *                                         (replica, cloud, EC strip), read-ahead of
 *                                         metadata, deferred CRCs, st_vdisk_pread
 *   st_vdisk.c      -                     vdisk create/delete/mapped, snapshot and
 *                                         clone (refcount increments), write locks
 *   st_write.c      -                     the writer (struct st_writer, the batches)
 *   st_retire.c     struct st_unlinker    the last step of retiring copies: unlinks
 *                                         (async helper threads), usage accounting
 *   st_rewrite.c    struct st_batchmode   curator primitives that write new copies:
 *                                         egroup rewrite/create/copy, replica rewrite
 *   st_strip.c      -                     the EC strip lifecycle
 *   st_store.c      (struct st_store)     cluster creation, open and free: builds and
 *                                         tears down every part (so it sits on top)
 *
 * Public headers by user: st_store.h (the handle, vdisks, the writer,
 * reads: CLI, controllers, fsck), st_rewrite.h (curator primitives:
 * jobs/), st_strip.h (the EC strip lifecycle: jobs/).
 *
 * Thread rules: one thread per handle, as st_store.h says. The family
 * starts two kinds of helper threads: st_read.c's CRC helper (joined
 * before st_vdisk_pread returns) and st_retire.c's unlink helpers (they
 * touch only the unlinker's queue, under its mutex); st_codec's
 * compressors (st_write_compress) touch only the buffers they are given.
 *
 * Hot paths: st_vdisk_pread and the writer run per block and per extent.
 * What they call per extent lives in their own file or here as static
 * inline (disk lookups, the fd cache hit, the ID batch, the stored form of
 * an extent), so splitting the family adds no call on those paths.
 */
#ifndef ST_STORE_INT_H
#define ST_STORE_INT_H

#include <pthread.h>
#include <stdint.h>

#include "storage/st_codec.h"
#include "storage/st_config.h"
#include "storage/st_hmap.h"
#include "storage/st_meta.h"
#include "storage/st_rewrite.h" /* the family implements all three public headers */
#include "storage/st_store.h"
#include "storage/st_strip.h"
#include "storage/st_util.h"

#define ST_ID_BATCH 4096    /* IDs reserved in config.db at a time */
#define ST_FD_SLOTS 32      /* replica fds kept open, by default (st_store_set_fd_slots) */
#define ST_FD_WAYS 8        /* ... in sets of this many, least recently used evicted */
#define ST_BC_BLOCKS 64     /* blocks of metadata read ahead */
#define ST_BATCH_DISKS 64   /* disks batch mode tracks before it syncs them all */

/* --- the parts of the handle -------------------------------------------- */

/*
 * Where the copies live: the disk and node tables as last read from
 * config.db (st_topo_refresh), this process's node (high bits of every ID
 * it hands out) and its reserved ID batch, and the cloud tier.
 */
struct st_topology {
	struct st_disk *disks;
	int ndisks;
	struct st_node *nodes;
	int nnodes;
	uint32_t node;
	uint64_t id_next, id_end;
	struct st_cloud *cloud; /* opened on first use from the cluster settings */
};

/*
 * Replica files kept open for reads: nsets sets of ST_FD_WAYS slots, a
 * file's set chosen by hashing (egroup, disk), the least recently used
 * slot of its set evicted. slots is inl (ST_FD_SLOTS) unless
 * st_store_set_fd_slots made it larger (a storage controller reading a
 * vdisk at random over hundreds of egroups).
 */
struct st_fd_slot {
	uint64_t egroup;
	uint32_t disk;
	int fd;
	uint64_t tick;
};

struct st_fdcache {
	struct st_fd_slot *slots;
	uint32_t nsets; /* a power of 2 */
	uint64_t tick;
	struct st_fd_slot inl[ST_FD_SLOTS];
};

struct st_deferred; /* st_read.c: a whole extent read, its CRC still to check */

/*
 * The read path's state (st_read.c owns it; st_write.c drops the
 * read-ahead when it commits, st_rewrite.c borrows xbuf).
 */
struct st_readcache {
	/* the last egroup row and the last extent's bytes */
	struct st_egroup_rec eg;
	int eg_valid;
	struct st_extent_id x_id;
	uint32_t x_len;
	int x_valid;
	uint8_t *xbuf; /* record header + stored bytes */
	size_t xcap;
	uint8_t *zbuf; /* the cached extent inflated, when it is compressed */
	size_t zcap;
	int x_inz;     /* the cached extent's raw bytes are in zbuf, not xbuf + ST_EXTENT_HDR */

	/* chunks of an extent read through the chunk sums (st_csum.h) */
	uint8_t *chbuf;
	size_t chcap;

	/* whole extents read straight into the caller's buffer, CRC still to check */
	struct st_deferred *def;
	size_t ndef, capdef;

	/*
	 * Read-ahead of metadata: the block rows of the next ST_BC_BLOCKS
	 * blocks of one vdisk and the extent-ID rows they name, fetched with
	 * one range query per shard instead of a point query per block and per
	 * extent. Dropped when this handle writes, and bypassed when a lookup
	 * through it fails (the curator may have moved something since).
	 */
	uint64_t bc_vdisk, bc_first;
	int bc_valid;
	uint64_t bc_version; /* st_meta_data_version when the window was read: another value, it is stale */
	struct st_block *bc_rows;
	uint8_t bc_have[ST_BC_BLOCKS];
	int bc_bypass;     /* set while re-reading without the read-ahead */
	struct st_hmap xc; /* extent id -> egroup */

	/* the last image decoded from an EC strip */
	uint8_t *ec_img;
	uint64_t ec_img_id, ec_img_len;
	int ec_img_valid;

	/*
	 * The vdisk whose whole block map this handle has checked (every row's
	 * checksum with its key, every key inside the vdisk) before its first
	 * read: a row moved to another key, or damaged, would otherwise read
	 * as a hole of zeros. 0: none yet.
	 */
	uint64_t map_checked;

	/*
	 * Foreground reads per egroup not yet added to config.db (promotion).
	 * A read operation counts once per egroup it touches, and reads that
	 * go on where the last one of the same vdisk ended (a sequential
	 * stream, however it is cut into calls: `vdisk read` asks 1 MiB at a
	 * time) are one operation: seq_seen holds the egroups it already
	 * counted, so a sequential pass counts each egroup once.
	 */
	struct st_hmap reads;
	int64_t reads_flushed;
	uint64_t reads_last; /* the egroup last counted in this vdisk read */
	uint64_t seq_vdisk, seq_end; /* where the last read ended (seq_vdisk 0: none) */
	struct st_hmap seq_seen;     /* egroups counted in the current stream */
};

/* st_store_async_unlink: retired files unlinked by helper threads. */
struct st_unlinker {
	int on;
	pthread_t th[2]; /* two: unlinking a file frees its blocks and cached pages, ~0.3 ms each */
	int started;     /* helpers running */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char (*q)[ST_PATH_MAX + 64];
	size_t n, cap;
	int stop;
};

/* Batch mode (st_store_batch_begin): disks written to, to sync at the end. */
struct st_batchmode {
	int on;
	uint32_t disks[ST_BATCH_DISKS];
	int ndisks, overflow;
};

struct st_store {
	struct st_config *cfg;
	struct st_meta *meta;
	struct st_store_stats stats;
	struct st_topology topo;
	struct st_fdcache fdc;
	struct st_readcache rcache;
	uint8_t *cbuf; /* compressor output, shared by the writer and the rewrites */
	size_t ccap;
	struct st_unlinker unlinker;
	struct st_batchmode batch;
	struct st_csum *csum;    /* chunk sums of verified extents (st_store_set_csum; not owned), or NULL */
	struct st_mcache *mc;    /* metadata rows shared with other handles (st_store_set_mcache; not owned), or NULL */
	uint64_t mc_epoch;       /* the epoch this read began at (st_mcache_begin) */
	int mc_on;               /* this read goes through mc */
	struct st_lease *lease;  /* taken on first need (st_store_lease) */
	int lease_kind;          /* enum st_lease_kind */
	char lease_what[128];
};

/* --- st_topo.c: disks, nodes, IDs, the cloud tier ----------------------- */

/* Reread the disk and node tables from config.db. 0 or the config error. */
int st_topo_refresh(struct st_store *st, struct st_msg *err);

/* Reserve the next ST_ID_BATCH IDs of this node in config.db. */
int st_topo_ids_reserve(struct st_store *st, struct st_msg *err);

void st_topo_release(struct st_topology *t);

/* Disk `id` in the table as last read, or NULL. */
static inline const struct st_disk *st_topo_disk(const struct st_topology *t, uint32_t id)
{
	for (int i = 0; i < t->ndisks; i++)
		if (t->disks[i].id == id)
			return &t->disks[i];
	return NULL;
}

static inline int st_topo_node_up(const struct st_topology *t, uint32_t id)
{
	for (int i = 0; i < t->nnodes; i++)
		if (t->nodes[i].id == id)
			return t->nodes[i].up;
	return 0;
}

/* A usable replica location: the disk is ok, not removed, its node up. */
static inline int st_topo_usable(const struct st_topology *t, const struct st_disk *d)
{
	return d && d->ok && !d->removed && st_topo_node_up(t, d->node);
}

/* st_store_new_id without the call (the writer takes one per extent). */
static inline int st_topo_new_id(struct st_store *st, uint64_t *id, struct st_msg *err)
{
	if (st->topo.id_next == st->topo.id_end) {
		int rc = st_topo_ids_reserve(st, err);
		if (rc)
			return rc;
	}
	*id = st->topo.id_next++;
	return 0;
}

/* --- st_replica.c: the fd cache, whole images --------------------------- */

void st_fdcache_init(struct st_fdcache *c);
/* Close every cached fd. */
void st_fdcache_release(struct st_fdcache *c);
/* Open the file of egroup on disk d into slot victim (closing what it held): the fd or -errno. */
int st_fdcache_open(struct st_fdcache *c, struct st_fd_slot *victim, uint64_t egroup, const struct st_disk *d);
/* Close and drop the cached fd of egroup on disk, if any (the file changed or went). */
void st_fdcache_forget(struct st_fdcache *c, uint64_t egroup, uint32_t disk);

/* Make c hold about n fds (at least ST_FD_SLOTS, whatever n; rounded up to sets), closing those it held. 0 or -ENOMEM (c unchanged). */
int st_fdcache_resize(struct st_fdcache *c, size_t n);
/* st_fdcache_release, and the slots freed when they are not the inline ones (the handle goes). */
void st_fdcache_free(struct st_fdcache *c);
/*
 * Close the cached fds whose files were deleted (fstat: no link left): a
 * retired or compacted egroup's space is given back only when the last fd
 * goes. Not on the read path (an fstat per slot): the holder of long-lived
 * handles calls st_store_sweep_fds now and then (a controller, on its idle
 * read handles).
 */
void st_fdcache_sweep(struct st_fdcache *c);

/* The first slot of the set of (egroup, disk). */
static inline struct st_fd_slot *st_fdcache_set(struct st_fdcache *c, uint64_t egroup, uint32_t disk)
{
	uint64_t h = (egroup ^ ((uint64_t)disk << 40)) * 0x9e3779b97f4a7c15ull;

	return &c->slots[((size_t)(h >> 32) & (c->nsets - 1)) * ST_FD_WAYS];
}

/* A read-only fd of egroup's file on disk d, cached (owned by the cache): the fd or -errno. */
static inline int st_fdcache_get(struct st_fdcache *c, uint64_t egroup, const struct st_disk *d)
{
	struct st_fd_slot *set = st_fdcache_set(c, egroup, d->id), *victim = set;

	c->tick++;
	for (int i = 0; i < ST_FD_WAYS; i++) {
		struct st_fd_slot *s = &set[i];
		if (s->fd >= 0 && s->egroup == egroup && s->disk == d->id) {
			s->tick = c->tick;
			return s->fd;
		}
		if (victim->fd >= 0 && (s->fd < 0 || s->tick < victim->tick)) /* an empty slot first, else the oldest */
			victim = s;
	}
	return st_fdcache_open(c, victim, egroup, d);
}

/* Check every extent of g inside its image buf ([0, used) of the file): 0 or ST_ECORRUPT. */
int st_image_verify(const struct st_egroup_rec *g, const uint8_t *buf);

/*
 * The verified image of data egroup g from replica r into buf (len >=
 * g->used; zero padded past used, as EC fragments are). 0, ST_EIO (the
 * copy is not usable), ST_ECORRUPT, -errno.
 */
int st_image_load(struct st_store *st, const struct st_egroup_rec *g, int r, uint8_t *buf, uint64_t len);

/* The verified payload of parity egroup p into buf (len bytes, the strip length). 0, ST_EIO, ST_ECORRUPT, -errno. */
int st_image_load_parity(struct st_store *st, const struct st_egroup_rec *p, uint8_t *buf, uint64_t len);

/* The whole object of cloud egroup g (g->used bytes) into buf, every extent verified. */
int st_image_cloud(struct st_store *st, const struct st_egroup_rec *g, uint8_t *buf, struct st_msg *err);

/* --- st_place.c --------------------------------------------------------- */

/*
 * Choose `want` disks on distinct nodes for egroup (ids into out[], the
 * tier into *tier_out): on tier `prefer` first when >= 0, then c's tiers in
 * order; never on nodes excl[0..nexcl). pending[i] is bytes the caller
 * already put on st->topo.disks[i] but not yet accounted. ST_EPOLICY (too
 * few nodes), ST_ENOSPACE (no tier has room).
 */
int st_place(struct st_store *st, const struct st_container *c, uint64_t egroup, const int64_t *pending, int want,
	     const uint32_t *excl, int nexcl, int prefer, uint32_t *out, enum st_tier *tier_out, struct st_msg *err);

/* The RF replicas of a new egroup of container c. */
static inline int st_place_new(struct st_store *st, const struct st_container *c, uint64_t egroup,
			       const int64_t *pending, uint32_t *out, enum st_tier *tier_out, struct st_msg *err)
{
	return st_place(st, c, egroup, pending, c->rf, NULL, 0, -1, out, tier_out, err);
}

/* --- st_read.c ---------------------------------------------------------- */

void st_readcache_init(struct st_readcache *rc);
/* Add the read counts gathered to config.db and free the caches. */
void st_readcache_release(struct st_store *st);

/*
 * Read and verify extent e of g as stored (its copies on usable disks
 * first, then the others on disks that are not failed; a cloud egroup by a
 * range GET; an EC member decoded from its strip when no copy verifies)
 * into dst, or (dst NULL) into st->rcache.xbuf, where the bytes then start
 * at xbuf + ST_EXTENT_HDR. *bad: copies skipped; bad or missing copies are
 * counted and recorded in config.db io_errors. 0, ST_EIO, ST_ECORRUPT.
 */
int st_read_extent_any(struct st_store *st, const struct st_egroup_rec *g, const struct st_extent_rec *e, void *dst,
		       int *bad, struct st_msg *err);

/* --- st_vdisk.c --------------------------------------------------------- */

/*
 * Take vdisk's write lock (st_store_lock "vdisk-<id>", held by the store's
 * lease), waiting up to 30 s for a live holder, longer for a dead one to be
 * reaped: *held = 1. 0, ST_EBUSY, ST_ELEASE, or an SQLite error.
 * st_vdisk_unlock releases it when held > 0.
 */
int st_vdisk_lock(struct st_store *st, uint64_t vdisk, int *held, struct st_msg *err);
void st_vdisk_unlock(struct st_store *st, uint64_t vdisk, int held);

/* --- st_write.c --------------------------------------------------------- */

/*
 * Compress n extents in parallel (st_codec_compress_jobs on every CPU):
 * jobs[i].in/len are set by the caller; outputs go to one buffer that
 * *zbuf owns (grown as needed, *zcap). 0 or -ENOMEM.
 */
int st_write_compress(int codec, struct st_codec_job *jobs, int n, uint8_t **zbuf, size_t *zcap);

/*
 * Fill e's stored form from its compression job j (NULL: raw): the
 * compressed bytes when they were worth keeping, else the raw ones. Sets
 * e->stored_len, e->crc (of the stored bytes) and the compression flags;
 * *stored points at the bytes to write.
 */
static inline void st_write_stored_form(int codec, const struct st_codec_job *j, const uint8_t *raw, uint32_t len,
					struct st_extent_rec *e, const uint8_t **stored)
{
	e->flags &= ~(uint32_t)(ST_EXTENT_COMPRESSED | ST_EXTENT_ZLIB);
	e->raw_len = len;
	if (j && j->rc == 0) {
		e->flags |= ST_EXTENT_COMPRESSED | (codec == ST_CODEC_ZLIB ? ST_EXTENT_ZLIB : 0);
		e->stored_len = (uint32_t)j->outlen;
		*stored = j->out;
	} else {
		e->stored_len = len;
		*stored = raw;
	}
	e->crc = st_crc32c(*stored, e->stored_len);
}

/*
 * st_retire.c, st_rewrite.c, st_strip.c and st_store.c share nothing
 * beyond the public headers (st_rewrite.h, st_strip.h, st_store.h).
 */

#endif
