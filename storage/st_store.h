/*
 * st_store: the storage stack as one handle: a cluster directory with its
 * config.db, metadata shards and disk directories, and the foreground
 * operations on vdisks: create, snapshot, clone, delete, write, read.
 * Users: the CLI, the controllers, fsck, the tools; the curator opens its
 * handle here too, and finds its own primitives in st_rewrite.h (egroup
 * rewrites, copies, retiring copies) and st_strip.h (EC strips).
 *
 * Order of calls: st_store_init() once for a new cluster; st_store_open();
 * vdisk operations (st_vdisk_*, a writer: st_writer_open, _write, _close);
 * st_store_free().
 *
 * Write path (bottom-up, DESIGN.md §4). A writer buffers up to a batch
 * (32 MiB) of the stream, then:
 *   1. begins an operation (global sequence number s, registered in flight);
 *   2. cuts the batch at block boundaries into new extents and appends them
 *      to the vdisk's open egroup or to new egroups, RF replicas each on
 *      disks of distinct nodes, on the container's highest tier with room;
 *   3. fdatasyncs the replica files (and their directory when new);
 *   4. commits the egroup rows (refcount 1 per new extent, last_ref_seq = s;
 *      the resumed open egroup by compare-and-set on its version), then the
 *      extent-ID rows, then the block rows (copy-on-write overlay), each a
 *      durable transaction before the next;
 *   5. ends the operation.
 * A write is acknowledged (st_writer_write/close return 0 for it) only after
 * step 4. A crash leaves at worst unreachable extents and orphan files.
 * One writer per vdisk at a time (a lock held by the writer's lease,
 * st_store_lock "vdisk-<id>").
 *
 * Leases (st_lease.h, DESIGN.md §4a). A handle that commits holds a lease
 * in config.db, taken on first need (st_store_lease): every in-flight
 * operation is registered under it, every metadata commit of the handle
 * checks its fence (st_meta_set_holder), and a writer checks it before
 * each commit step: once lost (not renewed for TTL/2 of this process's
 * clock, or fenced by an observer) the writer fails with ST_ELEASE, "lease
 * lost", and commits nothing more. The observer's side is
 * st_store_leases_reap: scans call it (through st_store_scan_seq) before
 * they take S0.
 *
 * Read path (top-down): block map -> extent ID map -> egroup map -> a
 * replica file, whose record and CRC32C are verified; a bad or missing
 * replica is skipped for the next, counted in st_store_stats and recorded
 * in config.db io_errors. Unwritten ranges read as zeros.
 *
 * Snapshots and clones copy the block rows of the source after
 * incrementing, bottom-up, the recorded refcount of every extent they
 * reference. The foreground never decrements a refcount.
 *
 * Errors: 0 on success; the storage codes of st_util.h (named per
 * function) or -errno; err, when not NULL, says why.
 *
 * Thread rules: one thread per handle (a handle and everything it hands
 * out, writers included, are used by one thread at a time), except
 * st_egroup_image_read (st_rewrite.h), which touches no handle. Any number
 * of processes may open a cluster at once. Nothing here is MPI-aware.
 */
#ifndef ST_STORE_H
#define ST_STORE_H

#include <stdint.h>

#include "storage/st_config.h"
#include "storage/st_meta.h"
#include "storage/st_util.h"

#define ST_EGROUP_TARGET (4u << 20)  /* egroups close at 4 MiB */
#define ST_BLOCK_DEFAULT (1u << 20)
/* ST_BLOCK_MIN, ST_BLOCK_MAX, ST_VDISK_BLOCKS_MAX: st_config.h (a vdisk row is checked against them) */

/* --- the cluster and the handle ----------------------------------------- */

/* What `curator init` builds. */
struct st_init_spec {
	int nodes;
	int shards;
	int ndisks; /* per node */
	int shared_fs; /* `init --shared-fs`: rollback journal, not WAL (st_sql.h) */
	struct {
		enum st_tier tier;
		uint64_t size;
	} disks[32];
};

/*
 * Parse a per-node disk spec, "ssd:1x8G,hdd:2x64G" (1..16 disks of at
 * least 16M per entry, at most 32 in all), into spec->disks and
 * spec->ndisks. 0, or ST_EINVAL with err naming the bad part.
 */
int st_disk_spec_parse(const char *s, struct st_init_spec *spec, struct st_msg *err);

/*
 * Create a cluster in dir (created if missing; must hold no cluster):
 * config.db with spec's nodes (ids 1..nodes) and disks, the locks
 * directory and the metadata shards. 0, ST_EINVAL (1..64 nodes, at least
 * one disk each, 1..1024 shards), ST_EEXIST (a cluster is there), -errno.
 */
int st_store_init(const char *dir, const struct st_init_spec *spec, struct st_msg *err);

struct st_store;

/*
 * Open the cluster in dir into *out (free with st_store_free). This
 * process's node, the high bits of every ID it hands out, is
 * $CURATOR_NODE, else 1. 0, ST_ENOTCLUSTER when dir holds none, -ENOMEM,
 * or the error of opening config.db or a shard.
 */
int st_store_open(const char *dir, struct st_store **out, struct st_msg *err);

/*
 * Close the handle: the foreground read counts gathered are added to
 * config.db (they steer promotion), queued unlinks are waited for
 * (st_store_async_unlink), everything is freed. NULL is a no-op.
 */
void st_store_free(struct st_store *st);

/* The parts, for the curator and tools; owned by the store, valid until st_store_free. */
struct st_config *st_store_config(struct st_store *st);
struct st_meta *st_store_meta(struct st_store *st);

/* The node this process runs on ($CURATOR_NODE at open, else 1). */
uint32_t st_store_node(const struct st_store *st);

/* --- leases (st_lease.h) ------------------------------------------------- */

struct st_lease;

/*
 * What this handle's lease will say it is (kind and what, copied): call
 * before the first st_store_lease (a curator rank says ST_LEASE_RANK). The
 * default is ST_LEASE_WRITER, "vdisk writer". No effect once the lease is
 * taken.
 */
void st_store_set_holder(struct st_store *st, int kind, const char *what);

/*
 * The handle's lease, taken now if it has none (its renewal thread runs
 * until st_store_free), and made the fence every metadata commit of the
 * handle checks. [out] out (may be NULL): owned by the store. 0, or the
 * error of st_lease_acquire; ST_ELEASE once it was lost (a lost lease is
 * never replaced: the handle is fenced for good).
 */
int st_store_lease(struct st_store *st, struct st_lease **out, struct st_msg *err);

/* 0 while the handle's lease is held (or it has none yet), else ST_ELEASE. */
int st_store_lease_check(struct st_store *st, struct st_msg *err);

/*
 * st_config_op_begin under the handle's lease (taken if needed, checked
 * first). 0, ST_ELEASE, or the config error.
 */
int st_store_op_begin(struct st_store *st, const char *what, uint64_t *seq, int64_t *op, struct st_msg *err);

/*
 * The observer (st_lease.h): observe every lease; for each one expired
 * (silent for its TTL on this host's clock) or left fencing by an observer
 * that died, fence it in config.db (compare-and-set on the beat seen), in
 * every shard, then mark it dead. [out] reaped (may be NULL): how many
 * became dead. 0 or an error (a lease half fenced is finished next time).
 */
int st_store_leases_reap(struct st_store *st, int *reaped, struct st_msg *err);

/*
 * A lock held by the handle's lease (st_lease_lock): "scan", "vdisk-<id>".
 * While another lease holds it, observe and reap (st_store_leases_reap)
 * every 100 ms: a dead holder's lock is taken once its lease is declared
 * dead (its TTL of silence on this host's clock, then its fences). With
 * wait_ms < 0 a holder seen beating is alive and the call fails at once;
 * otherwise it waits up to wait_ms (and at least 1.5 TTL of the holder,
 * so a dead one can be reaped). Already held by this handle: ST_EBUSY.
 * 0, ST_EBUSY (err names the holder: kind, what, host, pid), ST_ELEASE,
 * or an SQLite error. st_store_unlock releases (a no-op if not held).
 */
int st_store_lock(struct st_store *st, const char *name, int wait_ms, struct st_msg *err);
void st_store_unlock(struct st_store *st, const char *name);

/* S0 for a scan: st_store_leases_reap, then st_config_scan_seq. */
int st_store_scan_seq(struct st_store *st, uint64_t *s0, struct st_msg *err);

/*
 * A fresh cluster-unique 64-bit ID into *id (this process's node in the
 * high bits), from a batch reserved in config.db. 0 or the config error
 * of reserving the next batch.
 */
int st_store_new_id(struct st_store *st, uint64_t *id, struct st_msg *err);

/* Counters since open. */
struct st_store_stats {
	uint64_t bytes_written, bytes_read;
	uint64_t extents_written, egroups_created;
	uint64_t bad_replicas;   /* replicas skipped on read (bad or missing) */
	uint64_t batches;
};
void st_store_stats(const struct st_store *st, struct st_store_stats *out);

/*
 * Reread the disk and node tables from config.db (disks failed, removed or
 * added by other processes). Writes, copies and strip changes do it
 * themselves; reads use the tables as last read. 0 or the config error.
 */
int st_store_refresh(struct st_store *st, struct st_msg *err);

/*
 * The cloud tier (st_cloud.h), opened on first use from the cluster's
 * settings (cloud_url, cloud_credentials) with its objects under
 * "clusters/<uuid>/"; owned by the store, valid until st_store_free. An
 * egroup on it has tier ST_TIER_CLOUD, flag ST_EGROUP_CLOUD and no
 * replicas: its one copy is the object "egroups/<id>.eg", read by range
 * GETs and verified like a file. 0, ST_ENOTFOUND when none is configured,
 * or the error of opening it.
 */
struct st_cloud;
int st_store_cloud(struct st_store *st, struct st_cloud **out, struct st_msg *err);

/* --- vdisks ------------------------------------------------------------- */

/*
 * Create vdisk `name` (shorter than struct st_vdisk's name field) of
 * `size` bytes (at most 1P) in container. block_size 0 = 1 MiB; it must be a power of two
 * in [4 KiB, 4 MiB]. *out (may be NULL) receives its row. 0, ST_EINVAL,
 * ST_ENOTFOUND (container), ST_EEXIST, or a config error.
 */
int st_vdisk_create(struct st_store *st, const char *name, const char *container, uint64_t size,
		    uint32_t block_size, struct st_vdisk *out, struct st_msg *err);

/*
 * Snapshot `name` as read-only `snap`; clone `snap` (or any vdisk) as
 * writable `name`. The source's write lock is held meanwhile (a consistent
 * point in time; ST_EBUSY after 30 s). 0, ST_ENOTFOUND (the source),
 * ST_EINVAL (the new name), ST_EEXIST, ST_EBUSY, ST_ECORRUPT (a corrupt
 * block row or a dangling reference in the source), ST_ESTALE (its
 * extents kept moving under the curator: try again), or a metadata error.
 */
int st_vdisk_snapshot(struct st_store *st, const char *name, const char *snap, struct st_msg *err);
int st_vdisk_clone(struct st_store *st, const char *snap, const char *name, struct st_msg *err);

/*
 * Mark vdisk `name` deleted, under its write lock; the curator reclaims
 * its space. 0, ST_ENOTFOUND, ST_EBUSY, or a config error.
 */
int st_vdisk_delete(struct st_store *st, const char *name, struct st_msg *err);

/*
 * Bytes of the vdisk that have been written (sum of mapped regions) into
 * *bytes, block rows into *blocks; corrupt rows are not counted. 0 or a
 * metadata error (outputs untouched).
 */
int st_vdisk_mapped(struct st_store *st, const struct st_vdisk *v, uint64_t *bytes, uint64_t *blocks,
		    struct st_msg *err);

/* --- the writer --------------------------------------------------------- */

struct st_writer;

/*
 * Open a writer on live, writable vdisk `name` at byte offset off into
 * *out (release with st_writer_close). Takes the vdisk's write lock
 * (ST_EBUSY after waiting 30 s) and resumes its open egroup when it can
 * still take appends. 0, ST_ENOTFOUND, ST_EREADONLY (a snapshot, or
 * deleted), ST_ERANGE (off past the size), ST_EBUSY, -ENOMEM.
 */
int st_writer_open(struct st_store *st, const char *name, uint64_t off, struct st_writer **out,
		   struct st_msg *err);

/*
 * Append len bytes to the stream. Full batches are committed before this
 * returns. ST_ERANGE when the stream would pass the vdisk size (nothing of
 * this call is written). A commit fails with ST_EPOLICY or ST_ENOSPACE
 * (placement), ST_ESTALE (the open egroup kept changing), -errno (the
 * files) or a metadata error; after an error the writer stays failed and
 * returns it again.
 */
int st_writer_write(struct st_writer *w, const void *buf, size_t len, struct st_msg *err);

/*
 * Commit what is buffered, release the lock, free (NULL: a no-op, 0).
 * Returns the first error of the writer's life, or that of the last
 * commit.
 */
int st_writer_close(struct st_writer *w, struct st_msg *err);

/*
 * Random access (the controllers' write-back logs): buffer len bytes of buf
 * at vdisk offset off (pwrite), or punch [off, off+len) out of the block
 * map (zero: trim and write zeroes; it reads as zeros, the extents that
 * were there become garbage for the curator, no data is written). One batch
 * holds ranges at increasing, disjoint offsets: a range that starts below
 * the end of the last one buffered commits the batch first, as a full
 * buffer (32 MiB of data) does. Bytes are committed, bottom-up as above, by
 * st_writer_flush or st_writer_close, and a batch's block rows all under
 * the vdisk's write lock (a snapshot sees all of a batch or none of it).
 * Errors as st_writer_write (ST_ERANGE: past the size, nothing buffered).
 * st_writer_write's stream position is not moved by these.
 */
int st_writer_pwrite(struct st_writer *w, uint64_t off, const void *buf, size_t len, struct st_msg *err);
int st_writer_zero(struct st_writer *w, uint64_t off, uint64_t len, struct st_msg *err);

/*
 * Commit this writer's block rows only while lease holder `holder` is not
 * fenced (st_meta_fence): each shard's block-row transaction checks it;
 * a fenced batch fails with ST_EFENCED (its extents become garbage). NULL
 * or "": no check (the CLI's writers).
 */
void st_writer_set_fence(struct st_writer *w, const char *holder);

/*
 * Borrow mode, for a caller that holds the whole batch in memory (a
 * controller's frozen log): from now on st_writer_pwrite keeps pointers to
 * the caller's bytes instead of copying them, and the batch is committed
 * only by st_writer_flush or st_writer_close, however large it grows (it is
 * one batch: all of it or none of it becomes visible). The caller keeps
 * the bytes unchanged until that call returns.
 */
void st_writer_borrow(struct st_writer *w);

/*
 * Commit what is buffered now, as one batch (0 when nothing is). 0 or the
 * commit's error; the writer stays failed after one.
 */
int st_writer_flush(struct st_writer *w, struct st_msg *err);

/* Bytes acknowledged (committed) so far. */
uint64_t st_writer_committed(const struct st_writer *w);

/* Write buf at off in one call (open, write, close): their return codes. */
int st_vdisk_pwrite(struct st_store *st, const char *name, uint64_t off, const void *buf, size_t len,
		    struct st_msg *err);

/* --- reads -------------------------------------------------------------- */

/*
 * Drop the read path's cached metadata (the read-ahead of block and
 * extent-ID rows, the last egroup row): call when another handle of this
 * process may have committed since this one last read (a controller's
 * read handles after its commit handle's batches). Extent bytes and chunk
 * checksums stay (an extent never changes). Never fails.
 */
void st_store_forget(struct st_store *st);

/*
 * Read partial extents through chunk-checksum cache c (st_csum.h), shared
 * by any number of handles, not owned; it must outlive the handle's use
 * of it. NULL: none (the default): a partial read of an extent reads and
 * checks all of it.
 */
struct st_csum;
void st_store_set_csum(struct st_store *st, struct st_csum *c);
/*
 * Resolve reads through m (st_mcache.h: block, extent and egroup rows shared
 * by the handles of one process; not owned, NULL: none).
 */
struct st_mcache;
void st_store_set_mcache(struct st_store *st, struct st_mcache *m);
/*
 * Keep about n replica files open for reads (default 32; at least that,
 * rounded up to sets of 8; each an fd of this process, so the caller sees
 * to RLIMIT_NOFILE): a storage controller's random reads over hundreds of
 * egroups otherwise open and close a file per read. The fds already open
 * are closed. 0 or -ENOMEM (the cache unchanged).
 */
int st_store_set_fd_slots(struct st_store *st, size_t n);
/*
 * Close the cached replica fds whose files were deleted, so that their
 * space goes back to the disk: a long-lived handle's holder calls it now
 * and then (an fstat per cached fd; a controller sweeps its idle read
 * handles, one each commit-thread tick).
 */
void st_store_sweep_fds(struct st_store *st);

/*
 * Read [off, off+len) of vdisk v into buf. 0, ST_ERANGE past the size,
 * ST_EIO when no replica of an extent verifies, ST_ECORRUPT for broken
 * metadata (a dangling reference, a region past its extent), -ENOMEM, or a
 * metadata error.
 */
int st_vdisk_pread(struct st_store *st, const struct st_vdisk *v, uint64_t off, size_t len, void *buf,
		   struct st_msg *err);

/*
 * Read one extent's raw bytes through its egroup (for fsck and the
 * curator): buf must hold e->raw_len. Tries replicas in order (a cloud
 * egroup by a range GET; an EC member decoded from its strip when no copy
 * verifies); *bad (may be NULL) receives how many were skipped; a
 * compressed extent is inflated. 0, ST_EIO, ST_ECORRUPT (its verified
 * stream does not inflate), -errno, or the cloud's error.
 */
int st_store_read_extent(struct st_store *st, const struct st_egroup_rec *g, const struct st_extent_rec *e,
			 void *buf, int *bad, struct st_msg *err);

/*
 * Read a single replica's copy of an extent as stored (compressed or not;
 * buf holds e->stored_len) and verify its checksum: 0, ST_ECORRUPT,
 * -ENOENT (no such disk or file), -errno.
 */
int st_store_read_replica(struct st_store *st, const struct st_egroup_rec *g, int replica,
			  const struct st_extent_rec *e, void *buf);

#endif
