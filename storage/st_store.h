/*
 * st_store: the storage stack as one handle: a cluster directory with its
 * config.db, metadata shards and disk directories, and the foreground
 * operations on vdisks.
 *
 * Order of calls: st_store_init() once for a new cluster; st_store_open();
 * vdisk operations; st_store_free().
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
 * One writer per vdisk at a time (an flock on locks/vdisk-<id>.lock).
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
 * Thread rules: one thread per handle. Any number of processes may open a
 * cluster at once.
 */
#ifndef ST_STORE_H
#define ST_STORE_H

#include <stdint.h>

#include "storage/st_config.h"
#include "storage/st_meta.h"
#include "storage/st_util.h"

#define ST_EGROUP_TARGET (4u << 20)  /* egroups close at 4 MiB */
#define ST_BLOCK_DEFAULT (1u << 20)
#define ST_BLOCK_MIN 4096u
#define ST_BLOCK_MAX (4u << 20)

/* What `curator init` builds. */
struct st_init_spec {
	int nodes;
	int shards;
	int ndisks; /* per node */
	struct {
		enum st_tier tier;
		uint64_t size;
	} disks[32];
};

/*
 * Parse a per-node disk spec, "ssd:1x8G,hdd:2x64G", into spec->disks.
 * 0 or ST_EINVAL with err naming the bad part.
 */
int st_disk_spec_parse(const char *s, struct st_init_spec *spec, struct st_msg *err);

/* Create a cluster in dir (created if missing; must hold no cluster). */
int st_store_init(const char *dir, const struct st_init_spec *spec, struct st_msg *err);

struct st_store;

/* Open the cluster in dir. ST_ENOTCLUSTER when it is not one. */
int st_store_open(const char *dir, struct st_store **out, struct st_msg *err);
void st_store_free(struct st_store *st);

/* The parts, for the curator and tools; owned by the store. */
struct st_config *st_store_config(struct st_store *st);
struct st_meta *st_store_meta(struct st_store *st);

/*
 * A fresh cluster-unique 64-bit ID (this process's node in the high bits),
 * from a batch reserved in config.db. The node is $CURATOR_NODE, else 1.
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

/* --- vdisks ------------------------------------------------------------- */

/*
 * Create a vdisk. block_size 0 = 1 MiB; it must be a power of two in
 * [4 KiB, 4 MiB]. ST_ENOTFOUND (container), ST_EEXIST, ST_EINVAL.
 */
int st_vdisk_create(struct st_store *st, const char *name, const char *container, uint64_t size,
		    uint32_t block_size, struct st_vdisk *out, struct st_msg *err);

/* Snapshot `name` as read-only `snap`; clone `snap` as writable `name`. */
int st_vdisk_snapshot(struct st_store *st, const char *name, const char *snap, struct st_msg *err);
int st_vdisk_clone(struct st_store *st, const char *snap, const char *name, struct st_msg *err);

/* Mark deleted; the curator reclaims its space. ST_ENOTFOUND. */
int st_vdisk_delete(struct st_store *st, const char *name, struct st_msg *err);

/* Bytes of the vdisk that have been written (sum of mapped regions). */
int st_vdisk_mapped(struct st_store *st, const struct st_vdisk *v, uint64_t *bytes, uint64_t *blocks,
		    struct st_msg *err);

struct st_writer;

/*
 * Open a writer on live, writable vdisk `name` at byte offset off. Takes the
 * vdisk's write lock (ST_EBUSY after waiting 30 s). ST_ENOTFOUND,
 * ST_EREADONLY (a snapshot), ST_ERANGE (off past the size).
 */
int st_writer_open(struct st_store *st, const char *name, uint64_t off, struct st_writer **out,
		   struct st_msg *err);

/*
 * Append len bytes to the stream. Full batches are committed before this
 * returns. ST_ERANGE when the stream would pass the vdisk size (nothing of
 * this call is written). After an error the writer stays failed.
 */
int st_writer_write(struct st_writer *w, const void *buf, size_t len, struct st_msg *err);

/* Commit what is buffered, release the lock, free. Returns the first error. */
int st_writer_close(struct st_writer *w, struct st_msg *err);

/* Bytes acknowledged (committed) so far. */
uint64_t st_writer_committed(const struct st_writer *w);

/* Write buf at off in one call (open, write, close). */
int st_vdisk_pwrite(struct st_store *st, const char *name, uint64_t off, const void *buf, size_t len,
		    struct st_msg *err);

/*
 * Read [off, off+len) of vdisk v into buf. ST_ERANGE past the size, ST_EIO
 * when no replica of an extent verifies, ST_ECORRUPT for broken metadata.
 */
int st_vdisk_pread(struct st_store *st, const struct st_vdisk *v, uint64_t off, size_t len, void *buf,
		   struct st_msg *err);

/*
 * Read one extent's raw bytes through its egroup (for fsck and the
 * curator): buf must hold e->raw_len. Tries replicas in order; *bad (may be
 * NULL) receives how many were skipped; a compressed extent is inflated
 * (ST_ECORRUPT when its verified stream does not inflate). 0, ST_EIO, -errno.
 */
int st_store_read_extent(struct st_store *st, const struct st_egroup_rec *g, const struct st_extent_rec *e,
			 void *buf, int *bad, struct st_msg *err);

/*
 * For the curator's compaction: write extents src->extents[keep[0..nkeep)]
 * into a new egroup (same container and owner, placed like a foreground
 * write, RF replicas), fdatasync, and insert its row with the recorded
 * refcounts copied and last_ref_seq = max(src's, seq). The bytes are read
 * through verified replicas. *out receives the new record (initialised by
 * the caller; release it). The caller then repoints the extent-ID rows and
 * retires src. On error nothing is inserted and the new files are gone.
 * codec >= 0 (an enum st_codec) also compresses the raw extents that shrink
 * enough (post-process compression) and flags the new egroup
 * ST_EGROUP_COMPRESSED; codec < 0 copies the stored bytes as they are.
 */
int st_store_egroup_rewrite(struct st_store *st, const struct st_egroup_rec *src, const int *keep, int nkeep,
			    uint64_t seq, int codec, struct st_egroup_rec *out, struct st_msg *err);

/*
 * A new egroup of container (owner vdisk, 0 for shared dedup data) holding
 * exts[0..n) (id, raw_len, refcount, fingerprint fields are taken; lengths,
 * crc and compression flags are set here) with raw bytes raw[i]: placed,
 * written and fdatasync'd like st_store_egroup_rewrite, compressed with
 * codec when >= 0, its row inserted with last_ref_seq = seq. The caller
 * then adds the extent-ID rows. *out as for st_store_egroup_rewrite.
 */
int st_store_egroup_create(struct st_store *st, uint32_t container, uint64_t owner, const struct st_extent_rec *exts,
			   const uint8_t *const *raw, int n, uint64_t seq, int codec, struct st_egroup_rec *out,
			   struct st_msg *err);

/*
 * Batch mode, for curator tasks that rewrite many egroups at once: between
 * st_store_batch_begin() and st_store_batch_end(), st_store_egroup_rewrite
 * and st_store_egroup_create write their files but neither sync them nor
 * insert the row nor account the usage. st_store_batch_end() makes every
 * file written meanwhile durable with one syncfs() per disk; only then may
 * the caller insert the rows (st_meta_egroup_put, expect 0) and account
 * them (st_store_account), or drop what it will not insert
 * (st_store_egroup_discard: the files only, no usage).
 */
void st_store_batch_begin(struct st_store *st);
int st_store_batch_end(struct st_store *st, struct st_msg *err);
/* Add (sign +1) or take off (-1) each egroup's used bytes on its replicas' disks: one config transaction. */
void st_store_account(struct st_store *st, const struct st_egroup_rec *gs, int n, int sign);
void st_store_egroup_discard(struct st_store *st, const struct st_egroup_rec *g);

/*
 * on = 1: from now on st_store_egroup_files_delete queues the unlinks of
 * retired files to a helper thread (the curator's task runner: unlinking
 * overlaps the next tasks' work); on = 0 (and st_store_free) waits for the
 * queue to drain and stops the helper. A crash before an unlink leaves an
 * unreferenced file, which a later scan sweeps.
 */
void st_store_async_unlink(struct st_store *st, int on);

/*
 * Unlink every replica file of g (the last step of retiring an egroup) and
 * take the bytes off its disks' usage; a failed disk is not touched (its
 * usage is still taken off). *bytes receives the bytes freed.
 */
int st_store_egroup_files_delete(struct st_store *st, const struct st_egroup_rec *g, int64_t *bytes,
				 struct st_msg *err);

/* st_store_egroup_files_delete without the usage update (the caller batches it with st_store_account). */
int st_store_egroup_files_unlink(struct st_store *st, const struct st_egroup_rec *g, int64_t *bytes, struct st_msg *err);

/*
 * For re-replication: copy egroup g onto n new disks on nodes that hold none
 * of its replicas (not even down ones), on g's tier when it has room, else
 * the container's other tiers; every extent of the record is read through
 * verified replicas and written at its offset; the files are fdatasync'd.
 * out[0..n) receives the new disks. The caller adds them to the row by
 * compare-and-set, and deletes them (st_store_replica_delete) if that fails.
 * ST_EPOLICY when not enough nodes qualify, ST_EIO when no copy verifies.
 */
int st_store_egroup_copy(struct st_store *st, const struct st_egroup_rec *g, int n, uint32_t *out, struct st_msg *err);

/*
 * For tiering and balancing: as st_store_egroup_copy, but on `tier` only.
 * replace = a disk holding one of g's replicas: one copy (n = 1) to take
 * its place, on a node holding none of g's other replicas and never on that
 * disk itself (balancing); replace = 0: n copies on any nodes, distinct
 * among themselves (moving every replica to another tier; ST_EINVAL for g's
 * own tier). The caller swaps the replicas in the row by compare-and-set,
 * then deletes the old ones. ST_ENOSPACE when the tier has no room,
 * ST_EPOLICY, ST_EIO.
 */
int st_store_egroup_copy_tier(struct st_store *st, const struct st_egroup_rec *g, int n, enum st_tier tier,
			      uint32_t replace, uint32_t *out, struct st_msg *err);

/*
 * Unlink one replica file (the last step of dropping a replica) and take
 * `used` bytes off its disk. An unreachable file is left for the sweep; a
 * failed disk is not touched at all (it may hang; its files go with it).
 * *bytes receives the bytes freed. Always 0.
 */
int st_store_replica_delete(struct st_store *st, uint64_t egroup, uint32_t disk, uint32_t used, int64_t *bytes);

/*
 * Repair replica r of g from the others: write a new file from verified
 * copies, fsync, rename it over the bad one. 0 or an error (ST_EIO when no
 * other copy verifies).
 */
int st_store_replica_rewrite(struct st_store *st, const struct st_egroup_rec *g, int replica, struct st_msg *err);

/*
 * Erasure coding (st_ec.h): turn the k egroups ids[] (at versions[]) into a
 * strip with m parity members. One verified copy of each data egroup stays,
 * on k distinct nodes; the parity goes to m further nodes. Data first: the
 * parity files are written, fdatasync'd and read back; then the metadata
 * (parity rows, the strip row, each data egroup by CAS: EC flag, strip,
 * one replica); the other copies are deleted last. A lost CAS rolls the
 * strip back. 0, ST_ESTALE, ST_EPOLICY (not enough distinct nodes), ST_EIO.
 */
int st_store_ec_convert(struct st_store *st, int k, int m, const uint64_t *ids, const uint64_t *versions,
			struct st_msg *err);

/*
 * Rebuild the image of EC member g (data or parity) from the rest of its
 * strip into buf (strip length bytes). 0, ST_EIO (too few members left).
 */
int st_store_ec_rebuild_image(struct st_store *st, const struct st_egroup_rec *g, uint8_t *buf, uint64_t *len,
			      struct st_msg *err);

/*
 * Rebuild strip member g (data or parity) that lost its copy: decode it
 * from the rest of the strip, write it on a node no other member uses,
 * fdatasync, then repoint its row by CAS (expected version g->version); the
 * old copy is deleted last if reachable. 0, ST_ESTALE, ST_EIO, ST_EPOLICY.
 */
int st_store_ec_rebuild(struct st_store *st, const struct st_egroup_rec *g, struct st_msg *err);

/*
 * Scrub strip member g (data or parity): read its one copy and verify it
 * (every extent's checksum, or the parity header and CRC). 0 when it
 * verifies, ST_ECORRUPT or ST_EIO when not, ST_ENOTFOUND when its strip is.
 * *bytes gets the bytes read. The caller repairs with st_store_ec_rebuild.
 */
int st_store_ec_verify(struct st_store *st, const struct st_egroup_rec *g, int64_t *bytes, struct st_msg *err);

/*
 * Dissolve a strip whose members are mostly dead (GC): every data member
 * that still holds extents first gets RF-1 more copies (verified reads,
 * fdatasync'd, on nodes it does not use), then becomes a plain egroup by
 * CAS; members without extents go; the parity rows and files and the strip
 * row go last. Normal GC then compacts the survivors. A crash part way
 * leaves an incomplete strip, which the scans roll back. *bytes: bytes
 * freed. 0, ST_ESTALE (a member changed), ST_EPOLICY, ST_EIO.
 */
int st_store_ec_dissolve(struct st_store *st, uint64_t strip, int64_t *bytes, struct st_msg *err);

/*
 * Undo a strip a crashed conversion (or dissolve) left half made: as
 * st_store_ec_dissolve, but members that never joined the strip stay as
 * they are, parity_ids[0..nparity) name the parity when the strip row is
 * gone, and a complete strip is refused (ST_ESTALE). No member is left with
 * fewer copies than its RF before the parity goes. *bytes: bytes freed.
 */
int st_store_ec_rollback(struct st_store *st, uint64_t strip, const uint64_t *parity_ids, int nparity,
			 int64_t *bytes, struct st_msg *err);

/*
 * The cloud tier (st_cloud.h), opened on first use from the cluster's
 * settings (cloud_url, cloud_credentials); owned by the store. An egroup
 * on it has tier ST_TIER_CLOUD, flag ST_EGROUP_CLOUD and no replicas: its
 * one copy is the object "egroups/<id>.eg", read by range GETs and
 * verified like a file. ST_ENOTFOUND when none is configured.
 */
struct st_cloud;
int st_store_cloud(struct st_store *st, struct st_cloud **out, struct st_msg *err);

/*
 * Reading images on other threads. st_store_egroup_paths() (not
 * thread-safe: it reads the store's disk table as last read, see
 * st_store_refresh) gives the files of g's copies that may be read, in
 * replica order: up to max paths, returns how many. st_egroup_image_read() then reads one whole into buf (4096-aligned,
 * room for g->used rounded up to 4096) and verifies every extent, touching
 * no store state (thread-safe). direct: O_DIRECT, the page cache neither
 * filled nor used (falls back to a buffered read where the file system
 * refuses it): for cold data read once, whose copy is about to go. 0,
 * ST_ECORRUPT (short, or a checksum fails), -errno.
 */
#define ST_EGROUP_PATH_MAX (ST_PATH_MAX + 64)
/* Reread the disk and node tables from config.db (disks failed, removed or added by other processes). */
int st_store_refresh(struct st_store *st, struct st_msg *err);
int st_store_egroup_paths(struct st_store *st, const struct st_egroup_rec *g, char (*paths)[ST_EGROUP_PATH_MAX], int max);
int st_egroup_image_read(const char *path, const struct st_egroup_rec *g, uint8_t *buf, int direct);

/*
 * Read-ahead hint: ask the kernel to start reading egroup g's file on its
 * first usable replica (all of them with all = 1) in the background, so a
 * task about to copy or verify it finds it in the page cache. Best effort.
 */
void st_store_prefetch(struct st_store *st, const struct st_egroup_rec *g, int all);

/*
 * Read a single replica's copy of an extent as stored (compressed or not;
 * buf holds e->stored_len) and verify its checksum: 0, ST_ECORRUPT, -ENOENT.
 */
int st_store_read_replica(struct st_store *st, const struct st_egroup_rec *g, int replica,
			  const struct st_extent_rec *e, void *buf);

#endif
