/*
 * st_fsck: check every invariant of the storage stack, read-only, and tell
 * violations apart from garbage.
 *
 * THE RULE. A violation is a state in which a read of a vdisk would fail
 * or return wrong bytes, now or once the curator has collected what it
 * believes unreferenced. Garbage is anything the curator is still to
 * collect, which no read reaches: a partial task run (tasks run --kind K,
 * --max N, a runner killed with -9) leaves garbage, never a violation.
 *
 * References are the block rows of live vdisks (snapshots and clones
 * included) and of vdisks config.db does not know (the curator counts
 * those as references too and never collects them blindly), resolved
 * through the extent ID map, one per row and extent. Block rows of deleted
 * vdisks are not references: blocks_delete removes them, and GC may
 * already have removed what they point to.
 *
 * Violations (exit 1 in `curator fsck`):
 *   - a corrupt block row of a live or unknown vdisk, a corrupt egroup
 *     row or a corrupt extent-ID row (the scan holds its deletions then);
 *   - a dangling reference: the extent ID map has no row for a referenced
 *     extent, or its egroup does not exist or does not hold it;
 *   - a region past the end of its extent;
 *   - a referenced extent with no copy that verifies (each replica is
 *     read, or the cloud object, or its EC strip decoded; a bad copy
 *     beside a good one is a warning);
 *   - a recorded refcount below the extent's references (the curator
 *     would collect it while referenced).
 *
 * Garbage (counted in the report, never a violation):
 *   - deleted_vdisk_rows: block rows of deleted vdisks, corrupt, dangling
 *     or not (blocks_delete);
 *   - unreferenced: extents no reference resolves to, including copies a
 *     compaction or dedup made that the extent ID map does not name
 *     (extent_delete, egroup_delete, egroup_compact);
 *   - refcount_high: recorded refcounts above the references
 *     (refcount_down);
 *   - orphan_extent_ids: extent-ID rows no reference uses whose egroup is
 *     gone or does not hold the extent (extent_id_delete);
 *   - orphan_files: egroup files on usable local disks that no egroup row
 *     names as a replica on that disk (file_sweep, after its grace
 *     period). Cloud objects are not listed: fsck does no network I/O
 *     beyond reading the cloud copies of referenced extents.
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
	uint64_t unknown_vdisk_rows; /* block rows of vdisks config.db does not know (references; a warning) */
	/* garbage, the curator's to collect (see THE RULE) */
	uint64_t refcount_high;      /* recorded > found (refcount_down) */
	uint64_t unreferenced;       /* extents with no references */
	uint64_t orphan_extent_ids;  /* extent ID rows nothing uses */
	uint64_t deleted_vdisk_rows; /* block rows of deleted vdisks */
	uint64_t orphan_files;       /* egroup files no row names on their disk */
	uint64_t garbage;            /* the sum of the five above */
};

/* Called once per finding with a one-line message (no trailing newline). */
typedef void (*st_fsck_cb)(void *arg, enum st_fsck_level level, const char *msg);

/*
 * Run all checks on st (read-only; a concurrent writer may show up as
 * garbage, never as a violation it did not cause).
 * [in] cb, arg: every violation and warning, and some information, as one
 * line (cb may be NULL); [out] rep: cleared, then the counts.
 * Returns 0 when the checks ran (look at rep->violations), or an error that
 * stopped them (err filled): -ENOMEM, or a metadata read error.
 * Not thread-safe on st (it reads through st's handles).
 */
int st_fsck_run(struct st_store *st, st_fsck_cb cb, void *arg, struct st_fsck_report *rep,
		struct st_msg *err);

#endif
