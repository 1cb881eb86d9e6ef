/*
 * job_kind: the kinds of task a scan queues and `tasks run` executes.
 *
 * A kind is a number stored in curator.db (tasks.kind, and the scans'
 * `tasks` reports by kind number), so the values below never change and a
 * new kind takes the next number before JT_NKINDS. Its name (reports, the
 * JSON task results, `--kind`) and its default priority come from its ops
 * entry (jobs/job_tasks_int.h), one per kind, in the file of its family:
 *
 *   GC          jobs/job_gc.c        refcount_up .. file_sweep
 *   protection  jobs/job_protect.c   rereplicate, drop_extra, scrub, disk_removed
 *   EC          jobs/job_ec.c        ec_encode, ec_rebuild, strip_rollback, strip_dissolve
 *   efficiency  jobs/job_efficiency.c compress; jobs/job_dedup.c fingerprint, dedup
 *   placement   jobs/job_place.c     tier_down, tier_up, disk_balance
 *
 * The functions below read the registry of those entries (jobs/job_kind.c):
 * constant tables, so they are thread-safe and local (no MPI).
 */
#ifndef JOB_KIND_H
#define JOB_KIND_H

#include <stdint.h>

enum job_task_kind {
	JT_REFCOUNT_UP = 0,    /* recorded < true: raise (always safe) */
	JT_REFCOUNT_DOWN,      /* recorded > true: lower (safety rule) */
	JT_EXTENT_DELETE,      /* drop dead extents from a record (metadata) */
	JT_EGROUP_COMPACT,     /* rewrite live extents, cut to the bytes rows show, into a new egroup */
	JT_EGROUP_DELETE,      /* every extent dead: delete all replicas */
	JT_EXTENT_ID_DELETE,   /* orphan extent-ID rows */
	JT_BLOCKS_DELETE,      /* block rows of a deleted vdisk */
	JT_FILE_SWEEP,         /* egroup files no metadata references */
	JT_REREPLICATE,        /* fewer healthy replicas than RF (priority by copies left) */
	JT_DROP_EXTRA,         /* more replicas than RF (a node came back) */
	JT_SCRUB,              /* read and verify every replica, repair bad copies */
	JT_DISK_REMOVED,       /* a drained disk holds nothing: mark it removed */
	JT_EC_ENCODE,          /* k cold egroups -> a Reed-Solomon strip */
	JT_EC_REBUILD,         /* a strip member lost its copy: decode and rewrite it */
	JT_STRIP_ROLLBACK,     /* a strip a crashed conversion left half made */
	JT_STRIP_DISSOLVE,     /* a strip whose members are mostly dead: back to plain egroups */
	JT_COMPRESS,           /* post-process compression: rewrite an egroup's extents compressed */
	JT_FINGERPRINT,        /* record the chunk fingerprints of an egroup (dedup containers) */
	JT_DEDUP,              /* duplicate chunks -> one refcounted dedup extent, block rows repointed */
	JT_TIER_DOWN,          /* ILM: every replica to the next tier down (watermark or cold age) */
	JT_TIER_UP,            /* ILM: a hot egroup back up a tier (promotion) */
	JT_DISK_BALANCE,       /* one replica off a disk far above its tier's mean usage */
	JT_NKINDS
};

/*
 * The name of kind k ("refcount_up", ...), a static string; "?" when k is
 * not a kind.
 */
const char *job_task_kind_name(enum job_task_kind k);

/* The kind named s (as job_task_kind_name spells it), or -1 if none is. */
int job_task_kind_parse(const char *s);

/*
 * The default queue priority of kind k (higher runs first: correctness
 * before reclamation before cleanup); a scan may queue a task with its own
 * (rereplicate: by copies left). 0 when k is not a kind.
 */
int job_task_priority(enum job_task_kind k);

/*
 * The rule by which the executor of kind k refuses an egroup whatever its
 * version: NULL when an egroup whose flags (st_egroup_rec.flags) are
 * `flags` is acceptable, else why not ("is a strip member", "is frozen
 * (MOVING) by a compaction"), a static string. One table (the kind's ops
 * entry, field refuses) answers both sides: the scan asks before it queues,
 * so it never queues a task the executor refuses every time (which would
 * keep the cluster from converging), and the executor asks on the row it
 * re-reads (job_task_load). Thread-safe, local.
 */
const char *job_task_refusal(enum job_task_kind k, uint32_t flags);

#endif
