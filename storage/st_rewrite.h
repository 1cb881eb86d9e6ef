/*
 * st_rewrite: the curator's primitives on egroup copies, for the task
 * executors of jobs/ (compaction, compression, dedup, re-replication,
 * repair, tiering, balancing, garbage collection). They work on a handle
 * of st_store.h; the EC strip lifecycle is st_strip.h.
 *
 * Order of calls, the safety rule's (DESIGN.md §6), for every task:
 *   1. data first: write the new copies here (st_store_egroup_rewrite,
 *      _create, _copy, _copy_tier, st_store_replica_rewrite), read through
 *      verified copies and durable before these return (in batch mode:
 *      after st_store_batch_end);
 *   2. metadata: the caller flips the rows by compare-and-set on the
 *      version its task was computed from (st_meta.h); a lost CAS deletes
 *      the new copies again (st_store_replica_delete, _discard);
 *   3. old copies last: st_store_egroup_files_delete (or _unlink and
 *      st_store_account), st_store_replica_delete.
 * A crash between the steps leaves orphan files, which a later scan sweeps.
 * A new egroup's row carries last_ref_seq = max(its source's, the task's
 * sequence number), so a scan already running never finds it dead.
 *
 * Errors as in st_store.h. Thread rules: the handle's (one thread), except
 * st_egroup_image_read, which touches no handle; st_store_async_unlink
 * starts helper threads of the handle's own.
 */
#ifndef ST_REWRITE_H
#define ST_REWRITE_H

#include <stdint.h>

#include "storage/st_store.h"

/* --- new egroups -------------------------------------------------------- */

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
 * 0, ST_EIO (no copy of an extent verifies), ST_EPOLICY or ST_ENOSPACE
 * (placement), -errno, or a config or metadata error.
 */
int st_store_egroup_rewrite(struct st_store *st, const struct st_egroup_rec *src, const int *keep, int nkeep,
			    uint64_t seq, int codec, struct st_egroup_rec *out, struct st_msg *err);

/*
 * For a compaction that cuts the bytes no block row shows out of live
 * extents: st_store_egroup_rewrite, plus one new extent per part, made of
 * byte ranges of an extent of src. Part p's new extent, id parts[p].id
 * with recorded refcount parts[p].refcount, holds the raw bytes
 * [ranges[r][0], ranges[r][1]) of src->extents[parts[p].src] for r in
 * [0, nranges), concatenated in that order (the source read through a
 * verified replica and inflated if compressed; stored raw unless codec >=
 * 0). out's extents: the kept ones first (as in keep), then one per part
 * (as in parts). The caller adds the parts' extent-ID rows and repoints
 * the block rows at them (bottom-up); the source extents stay where they
 * are until nothing references them. Ranges must ascend, be disjoint, not
 * empty and lie inside the source's raw bytes (else ST_EINVAL, nothing
 * written); nranges >= 1. Other return codes as st_store_egroup_rewrite.
 */
struct st_rewrite_part {
	int src;                     /* index of the source extent in src->extents */
	struct st_extent_id id;      /* the new extent's id */
	uint32_t refcount;           /* its recorded refcount: the block rows to be repointed at it */
	int nranges;
	const uint32_t (*ranges)[2]; /* (start, end) in the source's raw bytes */
};

int st_store_egroup_rewrite_parts(struct st_store *st, const struct st_egroup_rec *src, const int *keep, int nkeep,
				  const struct st_rewrite_part *parts, int nparts, uint64_t seq, int codec,
				  struct st_egroup_rec *out, struct st_msg *err);

/*
 * A new egroup of container (owner vdisk, 0 for shared dedup data) holding
 * exts[0..n) (id, raw_len, refcount, fingerprint fields are taken; lengths,
 * crc and compression flags are set here) with raw bytes raw[i]: placed,
 * written and fdatasync'd like st_store_egroup_rewrite, compressed with
 * codec when >= 0, its row inserted with last_ref_seq = seq. The caller
 * then adds the extent-ID rows. *out and the return codes as for
 * st_store_egroup_rewrite.
 */
int st_store_egroup_create(struct st_store *st, uint32_t container, uint64_t owner, const struct st_extent_rec *exts,
			   const uint8_t *const *raw, int n, uint64_t seq, int codec, struct st_egroup_rec *out,
			   struct st_msg *err);

/*
 * Batch mode, for curator tasks that rewrite many egroups at once: between
 * st_store_batch_begin() and st_store_batch_end(), st_store_egroup_rewrite
 * and st_store_egroup_create write their files but neither sync them nor
 * insert the row nor account the usage. st_store_batch_end() makes every
 * file written meanwhile durable with one syncfs() per disk (0 or -errno);
 * only then may the caller insert the rows (st_meta_egroup_put, expect 0)
 * and account them (st_store_account), or drop what it will not insert
 * (st_store_egroup_discard: the files only, no usage).
 */
void st_store_batch_begin(struct st_store *st);
int st_store_batch_end(struct st_store *st, struct st_msg *err);

/* --- more copies of an egroup ------------------------------------------- */

/*
 * For re-replication: copy egroup g onto n new disks on nodes that hold none
 * of its replicas (not even down ones), on g's tier when it has room, else
 * the container's other tiers; every extent of the record is read through
 * verified replicas and written at its offset; the files are fdatasync'd.
 * out[0..n) receives the new disks, whose usage is accounted. The caller
 * adds them to the row by compare-and-set, and deletes them
 * (st_store_replica_delete) if that fails. 0, ST_EINVAL (n),
 * ST_EPOLICY when not enough nodes qualify, ST_ENOSPACE, ST_EIO when no
 * copy verifies, -errno.
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
 * ST_EPOLICY, ST_EIO, ST_EINVAL, -errno.
 */
int st_store_egroup_copy_tier(struct st_store *st, const struct st_egroup_rec *g, int n, enum st_tier tier,
			      uint32_t replace, uint32_t *out, struct st_msg *err);

/*
 * Repair replica r of g from the others: write a new file from verified
 * copies, fsync, rename it over the bad one. 0, ST_ENOTFOUND (r's disk),
 * ST_EIO when no other copy verifies, -errno.
 */
int st_store_replica_rewrite(struct st_store *st, const struct st_egroup_rec *g, int replica, struct st_msg *err);

/* --- reading whole copies ----------------------------------------------- */

/*
 * Reading images on other threads. st_store_egroup_paths() (not
 * thread-safe: it reads the store's disk table as last read, see
 * st_store_refresh) gives the files of g's copies that may be read, in
 * replica order: up to max paths, returns how many. st_egroup_image_read()
 * then reads one whole into buf (4096-aligned, room for g->used rounded up
 * to 4096) and verifies every extent, touching no store state
 * (thread-safe). direct: O_DIRECT, the page cache neither filled nor used
 * (falls back to a buffered read where the file system refuses it): for
 * cold data read once, whose copy is about to go. 0, ST_ECORRUPT (short,
 * or a checksum fails), -errno.
 */
#define ST_EGROUP_PATH_MAX (ST_PATH_MAX + 64)
int st_store_egroup_paths(struct st_store *st, const struct st_egroup_rec *g, char (*paths)[ST_EGROUP_PATH_MAX], int max);
int st_egroup_image_read(const char *path, const struct st_egroup_rec *g, uint8_t *buf, int direct);

/*
 * Read-ahead hint: ask the kernel to start reading egroup g's file on its
 * first usable replica (all of them with all = 1) in the background, so a
 * task about to copy or verify it finds it in the page cache. Rereads the
 * disk table first. Best effort.
 */
void st_store_prefetch(struct st_store *st, const struct st_egroup_rec *g, int all);

/* --- retiring copies (old copies last) ---------------------------------- */

/*
 * on = 1: from now on st_store_egroup_files_delete and
 * st_store_replica_delete queue the unlinks of retired files to two helper
 * threads (the curator's task runner: unlinking overlaps the next tasks'
 * work); on = 0 (and st_store_free) waits for the queue to drain and stops
 * them. A crash before an unlink leaves an unreferenced file, which a
 * later scan sweeps.
 */
void st_store_async_unlink(struct st_store *st, int on);

/*
 * Unlink every replica file of g (the last step of retiring an egroup), or
 * delete its cloud object, and take the bytes off its disks' usage; a
 * failed disk is not touched (its usage is still taken off). *bytes
 * receives the bytes freed. 0, or the error of the usage update or of the
 * cloud.
 */
int st_store_egroup_files_delete(struct st_store *st, const struct st_egroup_rec *g, int64_t *bytes,
				 struct st_msg *err);

/* st_store_egroup_files_delete without the usage update (the caller batches it with st_store_account). */
int st_store_egroup_files_unlink(struct st_store *st, const struct st_egroup_rec *g, int64_t *bytes, struct st_msg *err);

/*
 * Unlink one replica file (the last step of dropping a replica) and take
 * `used` bytes off its disk. An unreachable file is left for the sweep; a
 * failed disk is not touched at all (it may hang; its files go with it).
 * *bytes receives the bytes freed. Always 0.
 */
int st_store_replica_delete(struct st_store *st, uint64_t egroup, uint32_t disk, uint32_t used, int64_t *bytes);

/*
 * Add (sign +1) or take off (-1) each egroup's used bytes on its replicas'
 * disks, gs[0..n): one config transaction per 64 disks. Best effort: a
 * failed update is not reported.
 */
void st_store_account(struct st_store *st, const struct st_egroup_rec *gs, int n, int sign);

/* Unlink g's replica files, no usage change: for a batch-mode egroup whose row was never inserted. */
void st_store_egroup_discard(struct st_store *st, const struct st_egroup_rec *g);

#endif
