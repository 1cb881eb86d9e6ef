/*
 * st_fsck: check every invariant of the storage stack, read-only.
 *
 *   - every region of every block row resolves top-down: the extent ID map
 *     has the extent, its egroup row exists, decodes and lists it, the region
 *     lies inside the extent, and at least one replica's record and CRC32C
 *     verify (each replica is read; bad ones are warnings);
 *   - every extent's recorded refcount >= the block rows referencing it
 *     (live, snapshot and deleted vdisks alike: the foreground never
 *     decrements, the curator does);
 *   - no dangling reference anywhere; every metadata row decodes.
 *
 * Garbage (recorded > found, unreferenced extents, orphan extent-ID rows,
 * block rows of deleted vdisks) is reported as information: it is the
 * curator's to collect, not a violation.
 *
 * Not MPI; reads all metadata into memory (hash tables keyed by extent id).
 */
#ifndef ST_FSCK_H
#define ST_FSCK_H

#include <stdint.h>

#include "storage/st_store.h"

enum st_fsck_level { ST_FSCK_VIOLATION = 0, ST_FSCK_WARNING = 1, ST_FSCK_INFO = 2 };

struct st_fsck_report {
	uint64_t block_rows, regions, extents, egroups, extent_ids;
	uint64_t bytes_verified;
	uint64_t violations, warnings;
	uint64_t bad_replicas;
	uint64_t refcount_high;      /* recorded > found (curator fixes) */
	uint64_t unreferenced;       /* extents with no references (garbage) */
	uint64_t orphan_extent_ids;  /* extent ID rows nothing uses */
	uint64_t deleted_vdisk_rows; /* block rows of deleted or unknown vdisks */
};

/* Called once per finding with a one-line message (no trailing newline). */
typedef void (*st_fsck_cb)(void *arg, enum st_fsck_level level, const char *msg);

/*
 * Run all checks. Returns 0 when the checks ran (look at rep->violations),
 * or an error that stopped them (err filled).
 */
int st_fsck_run(struct st_store *st, st_fsck_cb cb, void *arg, struct st_fsck_report *rep,
		struct st_msg *err);

#endif
