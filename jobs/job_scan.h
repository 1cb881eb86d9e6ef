/*
 * job_scan: the curator's scans (DESIGN.md §6) as MapReduce jobs over the
 * metadata shards, and the safety rule that keeps live data from ever
 * being collected.
 *
 * Full scan = three jobs:
 *   MR1 extent references: map the vdisk block map (extent -> 'R' per row
 *       referencing it, with the byte ranges it shows; rows of deleted
 *       vdisks become a blocks_delete task) and the extent ID map (extent
 *       -> 'E' egroup); reduce per extent: the true refcount, the bytes
 *       the rows show (ranges coalesced) and its egroup (dangling
 *       references are errors), output keyed by egroup.
 *   MR2 egroup reconciliation: map the egroup map ('G' record), MR1's
 *       output ('X' extent, refs), the egroup files on every disk and the
 *       cloud objects ('F') and the chunk fingerprints ('P'); reduce per
 *       egroup: true vs recorded refcounts -> refcount fixes; dead extents
 *       and shadowed bytes (of live extents, shown by no row) ->
 *       extent_delete / egroup_compact / egroup_delete; orphan extent-ID
 *       rows; files no metadata references -> file_sweep; replicas vs RF,
 *       scrubbing, strips, compression; per-disk usage, EC, move and dedup
 *       candidates for MR3.
 *   MR3 placement: reduce per disk, tier, container and chunk fingerprint
 *       -> usage per disk and tier, ILM moves and disk balancing, EC
 *       strips, dedup tasks.
 * Selective scan = one job over the rows a `vdisk delete` concerns (the
 * deleted vdisks' block rows and the extent-ID rows of the extents they
 * own, by primary key); reduce per egroup: egroup_delete where every
 * extent is proven unreferenced (below), plus blocks_delete per deleted
 * vdisk. The daemon runs one within a tick of a vdisk_deleted event.
 * Given failed disks (job_scan_opts.disks: a disk_failed or node_down
 * event), it also reads the shards' replica index (st_meta.h,
 * st_meta_egroups_on_disk) for the egroups with a copy there, re-reads
 * each row and queues its protection tasks as a partial scan would
 * (job_policy_protection): copies only, never a deletion, so no safety
 * argument beyond the tasks' compare-and-set on the version is needed,
 * and an index entry that is stale or missing costs at worst a task
 * found stale or a copy left to the next partial or full scan.
 * Partial scan = one job over the egroup map: egroups whose recorded
 * refcounts are all zero -> egroup_delete; replicas, compression, ILM and
 * balancing; per-disk usage.
 *
 * THE SAFETY RULE. A scan first takes S0 = st_config_scan_seq(): no later
 * than the begin sequence of any operation still in flight. Every operation
 * that adds a reference stamps its begin sequence as last_ref_seq on the
 * egroups it touches. An extent may be treated as dead, and a recorded
 * refcount lowered, only if its egroup's last_ref_seq < S0: a reference the
 * scan could have missed was added by an operation that began at or after
 * S0 (or was in flight at S0, and S0 is no later than its begin), and that
 * operation stamped its egroup with a sequence >= S0. Egroups failing the
 * test are counted as protected and left alone until the next scan. Every
 * task carries the egroup version the scan read; executors apply it only if
 * the row still has that version (compare-and-set), else mark it stale.
 *
 * NO SINGLE WITNESS DELETES DATA (DESIGN.md §6). The scan is one witness;
 * every deletion needs a second, independent one, checked by its executor
 * at the moment it deletes (jobs/job_tasks_int.h job_witness_*):
 *   extent_delete, egroup_delete, egroup_compact (the dead extents it drops;
 *       the shadowed bytes it cuts are not dropped, see below),
 *       partial-scan egroup_delete: point lookups of the block rows that
 *       could reference each extent - a non-dedup id carries its home block,
 *       the only block of its owner, and of the vdisks copied from it, that
 *       may name it; a dedup extent needs its recorded refcount at 0, set by
 *       an earlier full scan's refcount_down (so the partial scan never
 *       deletes an egroup holding one); a copy whose extent-ID row names
 *       another egroup that holds it is a leftover of a move.
 *   extent_id_delete: the egroup re-read (an unreadable one holds its
 *       rows) and the home-block lookups (a row blocks still reach stays).
 *   blocks_delete: the vdisk row re-read, whose deletion is two fields
 *       (state and time, st_config_tables.c), each checked when read.
 *   drop_extra: the container re-read (an unreadable one drops nothing) and
 *       every copy that is to stay found on disk, whole, right now.
 *   file_sweep: the egroup row re-read (unreadable: nothing swept; present:
 *       only files on disks it does not name, and only if each copy it does
 *       name is there, whole), the file's age and the oldest operation in
 *       flight.
 *   strip_dissolve / strip_rollback: the storage layer re-reads every member
 *       and the strip row (checksummed) and gives members their RF copies
 *       back before any parity goes (st_strip.h).
 * WHY CUTTING SHADOWED BYTES NEVER LOSES A REFERENCED BYTE (job_compact.c).
 * The ranges MR1 finds only decide whether an egroup is worth compacting;
 * nothing is deleted on their word. The executor reads the rows that may
 * show each live extent (the home-block set above) itself, copies the
 * bytes they show into a new extent (verified source, durable, its
 * refcount = those rows, before any row names it: bottom-up), and
 * repoints a row only inside a transaction that re-reads it and finds
 * every region of the old extent inside the copied bytes. The old extent
 * is not deleted by the compaction: it stays in the old egroup (shrunk,
 * unfrozen) with its extent-ID row, so any row the executor did not
 * repoint - changed meanwhile, of a snapshot taken meanwhile, of a vdisk
 * config.db does not know - still reads it; it goes only when a later
 * full scan finds it unreferenced under the safety rule and its deletion
 * task's own point lookups agree (two witnesses, as ever).
 * WHY A SELECTIVE SCAN NEVER COLLECTS LIVE DATA (job_select.c). It answers
 * a `vdisk delete` by reading only the deleted vdisks' rows, so it cannot
 * count references the way MR1 does; it proves, per extent, that there
 * are none, and is held to the same rules as the full scan:
 *   1. Where a reference can be. A non-dedup extent id carries its owner O
 *      and home block h, and a block row's non-dedup extents all have the
 *      row's block as their home (st_meta.h, checked by the decoder, so
 *      a readable row never breaks it). Writes create extents owned by the
 *      written vdisk at the written block; snapshots and clones copy rows
 *      at the same block index. So every block row that may name the
 *      extent is (W, h) for W = O or a vdisk copied from O, directly or
 *      through copies. The scan takes that set from config.db's parent
 *      links, read after S0; because blocks_delete forgets a deleted
 *      vdisk's row (a chain can be cut), every vdisk whose parent is no
 *      longer there, and its descendants, is added to every set.
 *   2. The proof. Each live W of the set is looked up at h (a point
 *      read): the extent is dead only if every lookup answers and none
 *      names it. A row that cannot be read or fails its checksum is a
 *      "maybe" and keeps the extent. A deleted vdisk's rows are garbage,
 *      not references, as in MR1. A dedup extent (referenced from
 *      anywhere) is never proven dead here: its egroup is the full scan's.
 *   3. The safety rule, unchanged: only an egroup with last_ref_seq < S0
 *      is deleted, so a reference added by an operation in flight at S0 or
 *      begun after it (a snapshot of a live W, a clone) protects it; EC
 *      members, parity and MOVING egroups are left alone; a dangling
 *      reference or corrupt row the scan met holds all its deletions.
 *   4. Whole egroups only: egroup_delete when every extent is proven dead;
 *      an egroup with any extent still named, or not provable, is left to
 *      the full scan (counter selective_kept) - data shared with live
 *      snapshots, clones or dedup extents goes only there.
 *   5. The second witness: the executor of egroup_delete re-reads the row
 *      by version (CAS) and makes its own home-block lookups in the live
 *      vdisks copied from each extent's owner (job_witness_check) at the
 *      moment it deletes; a selective scan is one witness, never both.
 *   6. Trims. A controller's batch that punched blocks lo..hi of a live
 *      vdisk V notes them (config.db vdisk_trims); the daemon's selective
 *      scan then takes as candidates only the extents V owns whose home
 *      block is in lo..hi, and proves each as in 2: V itself is live and
 *      in the set, so its current row at h (after the punch) is looked up
 *      with its copies'. A write that names such an extent again cannot
 *      exist (only copies name old extents, and a copy is in the set or
 *      began after S0, rule 3). The note only chooses where to look: a
 *      wrong or hostile note makes the scan look at more or fewer
 *      extents, never prove a named one dead.
 *
 * And on the scan's side: a refcount found below its references holds every
 * deletion in its egroup until raised; a dangling reference or a corrupt
 * row anywhere (a reference the scan could not resolve may point anywhere)
 * holds every deletion of the scan (counter gc_held_tasks); a row naming a
 * disk the cluster does not have is corrupt (its files and extents stay).
 *
 * Where it lives (each file's top comment says more):
 *
 *   job_scan.h       this interface: options, counters, job_scan_run
 *   job_scan_int.h   private to the scan files: struct scan_ctx, the helpers
 *                    they share (job_scan_finding, job_scan_task, ...) and
 *                    every stage's entry points
 *   job_rec.h        every record between the stages and every task argument
 *                    the scan packs for the executors, as offset tables
 *   job_scan.c       the driver: S0 and the scan record, the context from
 *                    config.db, one MapReduce job per phase, results
 *   job_scan_read.c  the readers: shards, egroup files, the cloud listing
 *   job_mr1.c        MR1 extent references and the ranges rows show
 *   job_mr2.c        MR2 egroup reconciliation (the safety rule), dedup chunks
 *   job_policy.c     per-egroup policy of MR2 and the partial scan:
 *                    protection, strips, compression/EC, placement
 *   job_mr3.c        MR3 placement, and the partial scan's reduce
 *   job_partial.c    the partial scan's map
 *   job_select.c     the selective scan: readers, map and reduce
 *
 * Collective: job_scan_run is called on every rank (or one rank without
 * mpiexec) and returns the same code everywhere.
 */
#ifndef JOB_SCAN_H
#define JOB_SCAN_H

#include <stdint.h>

#include "jobs/job_db.h"
#include "mapreduce/mr.h"
#include "storage/st_store.h"

enum job_scan_counter {
	JC_BLOCK_ROWS, JC_EXTENT_IDS, JC_EGROUPS, JC_EXTENTS, JC_FILES,
	JC_LIVE_BYTES, JC_STORED_BYTES,
	JC_DEAD_EXTENTS, JC_DEAD_BYTES, JC_GARBAGE_BYTES,
	JC_REFCOUNT_LOW, JC_REFCOUNT_HIGH, JC_DANGLING, JC_ORPHAN_EXTENT_IDS,
	JC_DELETED_VDISK_ROWS, JC_UNKNOWN_VDISK_ROWS, JC_ORPHAN_FILES, JC_ORPHAN_FILE_BYTES,
	JC_CORRUPT_ROWS, JC_PROTECTED, JC_MISSING_REPLICAS, JC_DEAD_EGROUPS, JC_SHORT_REPLICAS,
	JC_UNDER_REPLICATED, JC_ONE_COPY_LEFT, JC_LOST, JC_EXTRA_REPLICAS, JC_AT_RISK_BYTES, JC_SCRUB_DUE,
	JC_AWAITING_NODE, JC_EC_EGROUPS, JC_EC_CANDIDATES, JC_EC_SAVED_BYTES, JC_STRIPS_DEGRADED,
	JC_COMPRESS_CANDIDATES, JC_COMPRESSION_SAVED_BYTES, JC_COMPRESSED_EXTENTS,
	JC_DEDUP_EXTENTS, JC_DEDUP_SAVED_BYTES, JC_CHUNKS, JC_FINGERPRINT_NEEDED, JC_DEDUP_GROUPS, JC_DEDUP_BYTES,
	JC_TIER_UP, JC_TIER_DOWN_COLD, JC_TIER_DOWN_WATERMARK, JC_DISK_BALANCE, JC_CLOUD_EGROUPS, JC_CLOUD_OBJECTS,
	JC_CLOUD_BYTES,
	JC_GC_HELD, /* deletions held back: a dangling reference or a corrupt row could point into them */
	JC_UNREADABLE,       /* egroups no read can serve: no copy on a disk that is there and not failed */
	JC_UNREADABLE_BYTES, /* their bytes */
	JC_SEL_KEPT, /* selective scan: egroups reached but not proven dead (shared, dedup, EC): the full scan's */
	JC_DELETED_VDISKS, /* selective scan: deleted vdisks whose rows it read */
	JC_FREEING_BYTES, /* bytes the queued space-freeing tasks are to give back (all replicas) */
	JC_INCREMENTAL,   /* 1: a partial scan that read only the change log and the time windows */
	JC_SEL_ON_FAILED, /* selective scan: replica index entries of the failed disks it was given */
	JC_SHADOWED_BYTES, /* raw bytes of live extents no block row shows (overwritten pieces; in garbage_bytes) */
	JC_SEL_TRIMMED,   /* selective scan: extents of trimmed vdisks homed in their punched blocks (candidates) */
	JC_NCOUNTERS
};

const char *job_scan_counter_name(enum job_scan_counter c);

struct job_scan_opts {
	int full;               /* 1 full scan, 0 partial (or selective) */
	int selective;          /* with full = 0: the selective scan of deleted vdisks (job_select.c) */
	/*
	 * selective: also the egroups with a replica on these disks (a disk
	 * failed, a node went down), found by the replica index and given
	 * their protection tasks (re-replication, EC rebuild) as a partial
	 * scan would; the same list on every rank. May be NULL (ndisks 0).
	 */
	const uint32_t *disks;
	int ndisks;
	/*
	 * selective: also the extents these live vdisks own whose home block
	 * is in lo..hi (blocks a controller trimmed or zeroed: config.db
	 * vdisk_trims), each collected only when proven unreferenced as a
	 * deleted vdisk's are; the same list on every rank. May be NULL.
	 */
	const struct st_trim *trims;
	int ntrims;
	int all;                /* partial: read every egroup row, not only the changed ones (the old path) */
	int dry_run;            /* compute and report; queue nothing */
	uint64_t mem_budget;    /* per rank, 0 = mr_host_budget() */
	int64_t sweep_grace;    /* seconds an unreferenced file must age (< 0: 3600) */
	int compact_pct;        /* garbage % of an egroup that triggers compaction (20) */
	int64_t node_grace;     /* seconds a node may be down before re-replication (< 0: 60) */
	int64_t scrub_period;   /* every egroup is scrubbed this often (< 0: 7 d) */
	/*
	 * A file for the tasks the scan found (queued or, with dry_run, not), or
	 * NULL: rank 0 truncates it at the start, every rank appends its tasks
	 * at the end, a line each, "KIND TARGET VERSION PRIORITY BYTES" (target
	 * in hex, the rest decimal; the priority the queue gives it), in no
	 * particular order: sorted, the lines are the same on any rank count.
	 */
	const char *tasks_out;
	/* rank 0: called as each phase (MapReduce job) starts; may be NULL */
	void (*progress)(void *arg, int64_t scan_id, const char *phase, int index, int total);
	void *progress_arg;
	/*
	 * Non-zero when the scan should stop (may be NULL): read on rank 0
	 * between phases and on every rank within a phase (every few thousand
	 * rows read or keys reduced) and between queueing batches; the scan
	 * then fails with MR_EABORTED or -ECANCELED, recorded as failed (the
	 * batches queued before a stop stay queued).
	 */
	volatile int *stop;
};

#define JOB_SCAN_MAXPHASES 5

struct job_phase {
	const char *name;
	double secs;
	uint64_t in, out;
};

struct job_scan_result {
	int64_t scan_id;
	uint64_t s0;
	int64_t counters[JC_NCOUNTERS];
	uint64_t tasks[JT_NKINDS];
	int nphases;
	struct job_phase phases[JOB_SCAN_MAXPHASES]; /* the MapReduce jobs, then "queue tasks" (unless a dry run) */
};

/*
 * Collective. Run a scan, record it in curator.db (scans, findings, usage)
 * and queue its tasks unless dry_run. While it runs, every rank beats the
 * scan row every few seconds (job_db_scan_beat: its heartbeat, the phase
 * and records read so far, the tasks queued so far), and rank 0 declares
 * scans of dead processes failed (job_db_scans_reap, CURATOR_SCAN_TTL). A
 * scan declared dead itself (its beats stopped for the TTL) stops with
 * ST_ESTALE and queues nothing more. 0, or an error with err filled
 * (the same on every rank).
 */
int job_scan_run(struct mr_ctx *mr, struct st_store *st, const struct job_scan_opts *o,
		 struct job_scan_result *res, struct st_msg *err);

#endif
