/*
 * st_mcache: a cache of metadata rows shared by the read handles of one
 * process (the storage controller's pool), so that a random 4 KiB read
 * resolves block -> extent -> egroup in memory instead of decoding a block
 * row, an extent-ID row and a whole egroup row (every extent of it) through
 * SQLite each time.
 *
 * What it holds, each as decoded (and so checked) by a read handle:
 *   - block rows: (vdisk, block) -> the row's regions, or "no row" (a hole);
 *   - extents: extent id -> its egroup and its record in that egroup;
 *   - egroups: egroup id -> the row without its extents (replicas, flags).
 *
 * Staleness: this process's own commits drop everything at once
 * (st_mcache_invalidate, called by the committer before it makes the
 * commit visible to its readers). Other processes' commits (another
 * controller, the curator) are found by st_mcache_begin, called at the
 * start of every read: at most every ST_MCACHE_CHECK_US it asks the
 * cache's own connection for PRAGMA data_version of every shard
 * (st_meta_data_version), and if any connection committed since the last
 * check, everything is dropped. Every drop moves the epoch on; a read fills
 * the cache tagged with the epoch it began at and a fill of an older epoch
 * is dropped, so a row read before a commit never enters the cache after
 * the drop that commit caused. So a read may use rows of another process's
 * state up to ST_MCACHE_CHECK_US (plus the check) old: the window every
 * read handle's own caches have between two reads, which the read path
 * closes the same way. Every byte is checked against the sums of the
 * extent it was read as (extents never change), and a lookup through a
 * moved or deleted row fails and the read is redone without any cache: the
 * curator moves data first, flips metadata, removes old copies last. A
 * vdisk's block rows are changed by its owner only, and a controller that
 * becomes a vdisk's owner invalidates first.
 *
 * Bound: about max_bytes of rows; a put that would pass it drops
 * everything first (a 64 MiB cache holds the maps of a few hundred GiB of
 * sequentially written vdisks, or of 2 GiB cut into 4 KiB pieces).
 *
 * Order of calls: st_mcache_new, then any number of calls from any thread
 * (one mutex inside; begin runs the probe's queries under it), then
 * st_mcache_free once no thread uses it. A store handle uses one when given
 * it (st_store_set_mcache); it does not own it.
 */
#ifndef ST_MCACHE_H
#define ST_MCACHE_H

#include <stdint.h>

#include "storage/st_meta.h"
#include "storage/st_store.h"

struct st_mcache;

#define ST_MCACHE_CHECK_US 1000 /* the longest between two checks for other processes' commits */

/*
 * A new empty cache bounded to about max_bytes (0: 64 MiB) whose checks
 * run on probe, a store handle of its own (owned from now on, also on
 * failure; used only for the checks). 0 or -ENOMEM.
 */
int st_mcache_new(struct st_store *probe, uint64_t max_bytes, struct st_mcache **out);
/* Free it and its probe (NULL: no-op). */
void st_mcache_free(struct st_mcache *m);

/*
 * The start of a read: drop everything if the metadata changed since the
 * last check. *epoch: what this read's fills are tagged with. 0, or the
 * probe's error (the caller reads without the cache; nothing was dropped
 * wrongly, the next begin checks again).
 */
int st_mcache_begin(struct st_mcache *m, uint64_t *epoch);

/* The longest between two checks (default ST_MCACHE_CHECK_US; 0: every begin checks). */
void st_mcache_set_check_us(struct st_mcache *m, int64_t us);

/* Drop everything now (this process committed, or took a vdisk over). Never fails. */
void st_mcache_invalidate(struct st_mcache *m);

/*
 * The regions of block row (vdisk, block) that overlap [from, to) of the
 * block, into out->r (out->vdisk, ->block, ->n set): 1 found (n may be 0:
 * a hole or nothing there), 0 not cached.
 */
int st_mcache_block(struct st_mcache *m, uint64_t vdisk, uint64_t block, uint32_t from, uint32_t to,
		    struct st_block *out);
/* Cache block row b (b->n 0: the vdisk has no row there, a hole). Best effort. */
void st_mcache_put_block(struct st_mcache *m, uint64_t epoch, const struct st_block *b);

/*
 * Extent id: its egroup's row without extents into *g (g->extents NULL,
 * g->nextents 0) and its record into *e. 1 found, 0 not cached.
 */
int st_mcache_extent(struct st_mcache *m, const struct st_extent_id *id, struct st_egroup_rec *g,
		     struct st_extent_rec *e);
/* Cache egroup row g and every extent in it. Best effort. */
void st_mcache_put_egroup(struct st_mcache *m, uint64_t epoch, const struct st_egroup_rec *g);

struct st_mcache_stats {
	uint64_t block_hits, block_misses, extent_hits, extent_misses;
	uint64_t drops;    /* checks that found a change and dropped everything */
	uint64_t overflows; /* puts that dropped everything for the bound */
	uint64_t bytes;
};
void st_mcache_stats(struct st_mcache *m, struct st_mcache_stats *out);

#endif
