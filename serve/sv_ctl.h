/*
 * sv_ctl: a storage controller (DESIGN.md §9), the part of `curator serve`
 * that knows nothing of NBD: the cluster's vdisks opened by name, reads
 * through a write-back log (sv_log.h), writes, trims and zeroes buffered in
 * it and committed as storage write batches (st_store.h: bottom-up, a
 * sequence number, an in-flight row; all of a batch's block rows under the
 * vdisk's write lock) at a flush, a FUA write, when the log holds
 * opts.log_max bytes or opts.log_ranges ranges, and opts.commit_ms after
 * its oldest write (a helper thread). sv_plugin.c puts nbdkit in front.
 *
 * Order of calls: sv_ctl_new (opens the cluster), sv_ctl_start (the commit
 * thread; after any fork), sv_vd_open per client connection, then
 * sv_vd_pread / _write / _zero / _flush / _extents, sv_vd_close (the last
 * close of a vdisk commits its log), sv_ctl_free (commits what is left).
 *
 * Durability: a write is durable once a later sv_vd_flush (or the write
 * itself with fua) returned 0; a kill before then may lose it. A commit that
 * fails keeps the log as it was (reads still see the writes) and returns
 * the error; the next flush retries. A log that cannot be committed and is
 * full refuses writes with the commit's error, and so does every write after
 * the commit thread failed, until a commit succeeds (a full disk reaches
 * the client, not only the log).
 *
 * Errors: 0, or the storage codes of st_util.h, or -errno; err (may be
 * NULL) says why. sv_errno maps a code to the errno an NBD client gets.
 *
 * Ownership (DESIGN.md §9, st_owner.h): a vdisk is written through one
 * controller at a time. The first write a controller admits makes it the
 * owner (a lease renewed every lease_ms/6 by a thread of its own); a write
 * to a vdisk another controller owns asks that owner to relinquish and
 * waits: the owner commits its log and releases within a renewal period,
 * and its own later writes fail (ST_EREADONLY: the vdisk moved; a client
 * that reconnects asks for it back). An owner whose heartbeat stands still
 * for its TTL is fenced in every shard and replaced by compare-and-set.
 * An owner that lost its lease (ST_EFENCED: paused past the TTL) drops its
 * log and refuses every write; its commits fail inside the shard
 * transactions. Every write is admitted against ownership first.
 *
 * Commits are double-buffered: a commit freezes the log and writes go on
 * into a fresh one while it commits (a full log waits only for the
 * previous commit). Reads go through a pool of store handles (one per
 * thread reading at a time), not the commit's, and lay the frozen and the
 * active log over what they read; a read that overlapped the end of a
 * commit reads again, so a read never misses a write this controller
 * acknowledged. Partial reads of large extents check only the 4 KiB
 * chunks they read against chunk sums recorded when the extent was first
 * verified whole (st_csum.h, shared by the read handles).
 *
 * Visibility of a batch (NEEDSWORK): a commit's block rows go in one
 * transaction per metadata shard, all under the vdisk's write lock, so a
 * snapshot or clone (which takes that lock) sees all of a batch or none
 * of it. A reader without the lock (another controller's or `vdisk read`)
 * may see the shards of a batch being committed one by one, and a commit
 * killed between two shards' transactions leaves part of a batch that was
 * never acknowledged visible (the writes of an unflushed batch, some
 * blocks new and some old; never wrong bytes, never a dangling
 * reference). NBD allows it: unflushed writes may or may not be there
 * after a crash, block by block. Making it all or nothing needs the block
 * rows of a batch to become visible in one step (e.g. a batch row the
 * readers check), not done.
 *
 * Thread rules: every sv_vd_* and sv_ctl_exports may be called from any
 * thread. The controller's mutex guards the logs and is held only around
 * memory work; the commit handle has a mutex of its own, and each read
 * borrows a pooled handle for itself (st_store.h: one thread per handle).
 */
#ifndef SV_CTL_H
#define SV_CTL_H

#include <stdint.h>

#include "storage/st_util.h"

struct sv_opts {
	uint32_t node;       /* this controller's node (high bits of the IDs it allocates) */
	uint64_t log_max;    /* bytes a vdisk's log holds before it commits (<= SV_LOG_MAX_LIMIT) */
	uint64_t log_mem;    /* bytes all vdisks' logs (active and being committed) hold together */
	uint32_t log_ranges; /* ranges a log holds before it commits */
	uint32_t commit_ms;  /* a log's oldest write is committed after this long */
	uint32_t lease_ms;   /* the TTL of this controller's owner leases */
};

#define SV_LOG_MAX_DEFAULT (1ull << 30)
/*
 * 5 s, ext4's default commit interval: the writes a crash may lose when
 * the client never flushes. At 1 s, a stream overwriting a 1 GiB vdisk
 * wrote (and synced) the whole range out every second, three times what
 * the disk takes: 740-1,210 MiB/s of 1 MiB writes against 1,660-2,115 at 5 s.
 */
#define SV_COMMIT_MS_DEFAULT 5000
#define SV_LOG_MAX_LIMIT (4ull << 30)

/*
 * Defaults: log_max 1 GiB, log_mem a quarter of the machine's memory,
 * 16384 ranges, commit_ms SV_COMMIT_MS_DEFAULT, lease 5000 ms, node 1. A log is committed as one
 * batch however large (all of it or none becomes visible), so a vdisk
 * written faster than its disks take it keeps its hot range in memory, as
 * a page cache would, and is made durable at every flush and within about
 * commit_ms + the time to write the log out otherwise.
 */
void sv_opts_default(struct sv_opts *o);

struct sv_ctl;
struct sv_vd;

/* Open the cluster in dir for a controller (*out; free with sv_ctl_free). */
int sv_ctl_new(const char *dir, const struct sv_opts *o, struct sv_ctl **out, struct st_msg *err);

/* Start the commit thread. 0 or -errno. */
int sv_ctl_start(struct sv_ctl *c);

/* Stop the thread, commit every log (errors dropped), close. NULL: no-op. */
void sv_ctl_free(struct sv_ctl *c);

/* Call cb for every live vdisk: its name and whether it is read-only (a snapshot). */
typedef int (*sv_export_cb)(void *arg, const char *name, int readonly);
int sv_ctl_exports(struct sv_ctl *c, sv_export_cb cb, void *arg, struct st_msg *err);

/*
 * Open vdisk `name` (shared by every connection to it in this controller).
 * ST_ENOTFOUND (no such live vdisk), or a config error.
 */
int sv_vd_open(struct sv_ctl *c, const char *name, struct sv_vd **out, struct st_msg *err);
/*
 * Drop a connection's reference; the last one commits the log (its error
 * returned). A vdisk this controller owns stays owned (its lease renewed)
 * until sv_ctl_free or a relinquish request.
 */
int sv_vd_close(struct sv_vd *vd, struct st_msg *err);

uint64_t sv_vd_size(const struct sv_vd *vd);
int sv_vd_readonly(const struct sv_vd *vd);

/* Read [off, off+len): committed bytes with the log laid over. Errors of st_vdisk_pread. */
int sv_vd_pread(struct sv_vd *vd, uint64_t off, uint32_t len, void *buf, struct st_msg *err);

/*
 * Buffer a write (buf) or a zero/trim (buf NULL) of [off, off+len) in the
 * log; fua: commit before returning. ST_EREADONLY (a snapshot), ST_ERANGE
 * (past the size), -ENOMEM, or a commit's error.
 */
int sv_vd_write(struct sv_vd *vd, uint64_t off, const void *buf, uint32_t len, int fua, struct st_msg *err);

/* Commit the log. 0 or the commit's error (the log is kept). */
int sv_vd_flush(struct sv_vd *vd, struct st_msg *err);

/*
 * Block status of [off, off+len) (it may stop early, at least one call
 * when len > 0): cb gets consecutive ranges from off, hole = 1 for what
 * reads as zeros without being stored (never written, trimmed, zeroed).
 */
typedef int (*sv_extent_cb)(void *arg, uint64_t off, uint64_t len, int hole);
int sv_vd_extents(struct sv_vd *vd, uint64_t off, uint64_t len, sv_extent_cb cb, void *arg, struct st_msg *err);

/* The errno for an NBD client: ENOSPC, EROFS, EINVAL, ENOMEM, EIO... */
int sv_errno(int rc);

#endif
