/*
 * job_tasks_int: what the task executors share (private to jobs/).
 *
 * Every kind of task (jobs/job_kind.h) is one `struct job_task_ops` entry,
 * defined in the file of its family and listed in the registry
 * (jobs/job_kind.c, in enum order). The runner (jobs/job_tasks.c) claims
 * tasks and applies them through these entries only: what a kind does, how
 * it batches and whether it is worth reading ahead are fields here, never a
 * test of the kind in the runner.
 *
 * Adding a kind: a value at the end of enum job_task_kind (the number is
 * stored), its entry (name, priority, apply, ...) in its family's file, its
 * line in the registry, and what the scan queues.
 *
 * Every executor keeps the same rules (DESIGN.md §4): it re-reads the row
 * its task names and applies the task only if the version the scan read
 * still matches (job_task_load: compare-and-set, else ST_ESTALE and the
 * next scan recomputes it); data moves first, metadata flips second (CAS),
 * old copies go last, so a crash anywhere leaves at worst unreachable bytes
 * or orphan files that a later scan collects; and running a task twice
 * does no harm (idempotent).
 *
 * Thread rules: the ops entries are constant; an executor runs on the
 * calling thread (the cloud batch starts helper threads of its own and
 * joins them before it returns) with the caller's st_store. All local.
 */
#ifndef JOB_TASKS_INT_H
#define JOB_TASKS_INT_H

#include <stdint.h>
#include <string.h>

#include "jobs/job_db.h"
#include "jobs/job_rec.h"
#include "storage/st_rewrite.h"
#include "storage/st_strip.h"

/* --- the ops table ----------------------------------------------------- */

/* What an executor may need beyond its task: the runner's options. */
struct job_task_env {
	int64_t sweep_grace; /* file_sweep: seconds a file must be old (< 0: 3600) */
};

/* How much of its egroup a kind's task reads: worth reading ahead of it. */
enum job_task_reads {
	JOB_READS_NONE = 0, /* metadata only (or reads nothing it could say in advance) */
	JOB_READS_EGROUP,   /* the egroup's bytes, from one replica */
	JOB_READS_REPLICAS, /* every replica of it (scrub) */
};

/* Most tasks in one batch (the runner's arrays). */
#define JOB_BATCH_MAX 128

/*
 * How a kind runs several tasks as one batch (one sync for many egroups, one
 * transaction per shard and step): the runner claims the first task, then
 * up to size - 1 more of its kind, hands the members to apply and records
 * every outcome in one curator.db transaction.
 */
struct job_task_batch {
	/* t runs in a batch (claimed tasks that do not go back to the queue); NULL: every task of the kind */
	int (*member)(const struct job_task *t);
	int max;          /* tasks in a batch (<= JOB_BATCH_MAX) */
	int min;          /* with share: at least this many */
	int share;        /* on several ranks, the pending tasks of the kind shared out (one rank must not take them all) */
	int ahead_before; /* before apply: read ahead of this many next tasks of the kind (0: none) */
	int ahead_after;  /* after apply, while the outcomes are recorded (0: none) */
	/*
	 * Apply t[0..n): per task rcs[i] (0 done, ST_ESTALE, an error in errs[i])
	 * and bytes[i] (as apply's *bytes). Returns non-zero when the batch as a
	 * whole failed (the tasks say so too; the runner goes by rcs[]).
	 */
	int (*apply)(struct st_store *st, const struct job_task *const *t, int n, int64_t *bytes, int *rcs,
		     struct st_msg *errs);
};

struct job_task_ops {
	const char *name;  /* as stored in reports and taken by --kind: never renamed */
	int priority;      /* default queue priority, higher first */
	/*
	 * Apply task t (of this kind). *bytes is 0 on entry: bytes freed (> 0),
	 * or moved or read (< 0, reported as negative reclaim). Returns 0 done
	 * (err may carry a note, e.g. "repaired 1 bad replica(s)"), ST_ESTALE
	 * (the row changed since the scan: nothing applied), or an error (err
	 * filled; the runner retries it until its third attempt).
	 */
	int (*apply)(struct st_store *st, const struct job_task *t, const struct job_task_env *env, int64_t *bytes,
		     struct st_msg *err);
	const struct job_task_batch *batch; /* NULL: one task at a time */
	/*
	 * Egroup flags (ST_EGROUP_*) with which the executor refuses the
	 * egroup by rule, whatever the version (job_task_refusal): the scan
	 * never queues such a task.
	 */
	uint32_t refuses;
	enum job_task_reads reads_egroups;  /* read ahead of the next such tasks while one runs */
};

/* The ops of kind k, or NULL when k is not a kind (a row from a newer curator). */
const struct job_task_ops *job_task_ops_get(int kind);

/* The entries, one per kind, by family. */
extern const struct job_task_ops job_kind_refcount_up, job_kind_refcount_down, job_kind_extent_delete,
	job_kind_egroup_compact, job_kind_egroup_delete, job_kind_extent_id_delete, job_kind_blocks_delete,
	job_kind_file_sweep;                                                              /* job_gc.c */
/* job_kind_egroup_compact: job_compact.c */
extern const struct job_task_ops job_kind_rereplicate, job_kind_drop_extra, job_kind_scrub,
	job_kind_disk_removed;                                                            /* job_protect.c */
extern const struct job_task_ops job_kind_ec_encode, job_kind_ec_rebuild, job_kind_strip_rollback,
	job_kind_strip_dissolve;                                                          /* job_ec.c */
extern const struct job_task_ops job_kind_compress;                                       /* job_efficiency.c */
extern const struct job_task_ops job_kind_fingerprint, job_kind_dedup;                    /* job_dedup.c */
extern const struct job_task_ops job_kind_tier_down, job_kind_tier_up, job_kind_disk_balance; /* job_place.c */

/* --- shared by the executors ------------------------------------------- */

/*
 * The compare-and-set check every executor starts with: read the task's
 * egroup (t->target) into g (initialised by the caller, released by it
 * whatever the result) and check it still has the version the scan read
 * (t->version; 0: any). 0, ST_ESTALE (gone or changed; err says so), or
 * the meta store's error.
 */
int job_task_load(struct st_store *st, const struct job_task *t, struct st_egroup_rec *g, struct st_msg *err);

/*
 * job_task_load also applies the kind's rule (job_task_refusal on the row
 * it read): an egroup the kind refuses is ST_ESTALE, err saying why.
 * job_task_load_plain is the same call, kept for the executors that act on
 * plain egroups only (their kinds refuse strip members).
 */
int job_task_load_plain(struct st_store *st, const struct job_task *t, struct st_egroup_rec *g, struct st_msg *err);

/*
 * job_task_load for the kinds that freeze their egroup first (the MOVING
 * protocol: egroup_compact, compress): a row at exactly the scan's version
 * + 1 and MOVING is accepted too. Only the freeze (a CAS on the scan's
 * version) makes it, and once frozen nothing else changes the row, so it is
 * the scan's row, frozen by an earlier attempt killed or failed after step
 * 1: the retry rolls it forward instead of going stale (which left the
 * egroup frozen, and snapshots of its vdisk refused, until a full scan).
 */
int job_task_load_frozen(struct st_store *st, const struct job_task *t, struct st_egroup_rec *g, struct st_msg *err);

/*
 * (job_gc.c) Retire egroup g as read at g->version: the extent-ID rows that
 * still name it (a compaction has already repointed its live ones), then
 * its row by compare-and-set, its fingerprint row (best effort), then every
 * replica file, last. *bytes += the bytes freed. 0, ST_ESTALE (the row
 * changed), or an error.
 */
int job_gc_retire(struct st_store *st, const struct st_egroup_rec *g, int64_t *bytes, struct st_msg *err);

/*
 * (job_gc.c) The executor's own witness that extents are unreferenced
 * (DESIGN.md §6 "No single witness deletes data"; the scan is the other),
 * found by point lookups the scan did not make:
 *   a non-dedup extent is referenced only from its home block (carried in
 *   its id) of its owner vdisk and of the vdisks copied from it
 *   (snapshots, clones, and theirs; and every vdisk whose parent's row is
 *   gone, and theirs, since a purged row cuts its chain): none of those
 *   live vdisks' block rows at that block may name it;
 *   a dedup extent can be referenced from anywhere: its recorded refcount
 *   must be 0 (lowered by an earlier scan's refcount_down), so it takes
 *   one scan cycle more to go.
 * A copy of an extent in `egroup` whose extent-ID row names another egroup
 * that holds it (left behind by a move) is unreferenced as it is: every
 * reference resolves to the other copy. (egroup 0: no such shortcut.)
 * A block row that cannot be read, or is corrupt, is a "maybe": refused.
 * Concurrent new references are not this check's concern: they change the
 * egroup's version (snapshots and clones stamp it), and every deletion
 * ends with a compare-and-set on the version the scan read.
 *
 * job_witness_open loads the vdisk table (the caller then calls
 * job_witness_check per extent and job_witness_close). check: 0 = nobody
 * references e, ST_ESTALE with err naming the referencing vdisk and
 * block (or why it could not tell), or an error.
 */
struct job_witness {
	struct st_vdisk *vds;
	int n;
	uint64_t *set; /* scratch: the owner and its copies */
};
int job_witness_open(struct st_store *st, struct job_witness *w, struct st_msg *err);
/*
 * The vdisks whose block rows may reference a non-dedup extent of `owner`
 * (the set above): into w->set, returns how many (>= 1, owner first).
 * job_witness_live: is vdisk in w's table and live (its rows count)? 1/0.
 * Both read only w (no I/O).
 */
int job_witness_set(struct job_witness *w, uint64_t owner);
int job_witness_live(const struct job_witness *w, uint64_t vdisk);
int job_witness_check(struct st_store *st, struct job_witness *w, uint64_t egroup, const struct st_extent_rec *e,
		      struct st_msg *err);
void job_witness_close(struct job_witness *w);

/*
 * (job_gc.c) job_gc_witness_all: job_witness_check for every extent of g
 * that task `dead` names in its pairs (dead NULL: every extent); 0 or the
 * first refusal. job_gc_lives_elsewhere: does the extent-ID row of id
 * name an egroup other than `in` that holds id (a copy a move left
 * behind)? 1 or 0 (0 also when it cannot tell).
 */
int job_gc_witness_all(struct st_store *st, const struct st_egroup_rec *g, const struct job_task *dead,
		       struct st_msg *err);
int job_gc_lives_elsewhere(struct st_store *st, const struct st_extent_id *id, uint64_t in);

/* (job_gc.c) The chunk fingerprints of the extents that moved from g to n go with them (best effort). */
void job_gc_copy_fingerprints(struct st_meta *m, const struct st_egroup_rec *g, const struct st_egroup_rec *n);

/*
 * (job_protect.c) Replica r of g now: 0 healthy (a good source and a copy
 * that counts), 1 unavailable (its node is down: keep it in the row, it
 * may come back), 2 to drop (failed or removed disk, marked bad), 3
 * draining (a source, but it must move).
 */
int job_protect_replica_state(struct st_store *st, const struct st_egroup_rec *g, int r);

/* --- task arguments, as job_scan packs them ------------------------------
 *
 * Each layout is declared once, in jobs/job_rec.h (the scan packs them with
 * its constants), and decoded here and nowhere else. All little-endian host
 * order, unaligned (memcpy).
 *
 * pairs: refcount_up/down, extent_delete, egroup_compact, extent_id_delete
 * (egroup_delete has none), n times:
 *   offset size
 *        0   24  extent id
 *       24    4  u32: the true refcount (refcount_up/down; else unused)
 */
#define JOB_ARG_PAIR JR_PAIR_LEN

static inline int job_arg_pairs(const struct job_task *t)
{
	return (int)(t->arglen / JOB_ARG_PAIR);
}

static inline void job_arg_pair(const struct job_task *t, int i, struct st_extent_id *id, uint32_t *v)
{
	memcpy(id->b, t->arg + (size_t)i * JOB_ARG_PAIR + JR_PAIR_EXTENT, ST_EXTENT_ID_LEN);
	memcpy(v, t->arg + (size_t)i * JOB_ARG_PAIR + JR_PAIR_VALUE, 4);
}

/* Is extent id one of the task's pairs? */
static inline int job_arg_pairs_hold(const struct job_task *t, const struct st_extent_id *id)
{
	for (int i = 0; i < job_arg_pairs(t); i++)
		if (!memcmp(t->arg + (size_t)i * JOB_ARG_PAIR + JR_PAIR_EXTENT, id->b, ST_EXTENT_ID_LEN))
			return 1;
	return 0;
}

/* file_sweep: the disks holding the orphan files, n times u32 (ST_CLOUD_DISK: the cloud object). */
#define JOB_ARG_DISK JR_SWEEP_DISK_LEN

static inline int job_arg_disks(const struct job_task *t)
{
	return (int)(t->arglen / JOB_ARG_DISK);
}

static inline uint32_t job_arg_disk(const struct job_task *t, int i)
{
	uint32_t d;
	memcpy(&d, t->arg + (size_t)i * JOB_ARG_DISK, 4);
	return d;
}

/*
 * ec_encode: the k egroups of the strip, k times:
 *   offset size
 *        0    8  u64 egroup id
 *        8    8  u64 its version, as the scan read it
 */
#define JOB_ARG_EC_MEMBER JR_ENCODE_MEMBER_LEN

static inline int job_arg_ec_members(const struct job_task *t)
{
	return (int)(t->arglen / JOB_ARG_EC_MEMBER);
}

static inline void job_arg_ec_member(const struct job_task *t, int i, uint64_t *id, uint64_t *version)
{
	memcpy(id, t->arg + (size_t)JOB_ARG_EC_MEMBER * i + JR_ENCODE_EGROUP, 8);
	memcpy(version, t->arg + (size_t)JOB_ARG_EC_MEMBER * i + JR_ENCODE_VERSION, 8);
}

/* strip_rollback: the strip's parity egroup ids, n times u64 (when the strip row is gone). */
#define JOB_ARG_PARITY JR_ROLLBACK_EGROUP_LEN

/* Up to max of them into ids; returns how many. */
static inline int job_arg_parities(const struct job_task *t, uint64_t *ids, int max)
{
	int n = (int)(t->arglen / JOB_ARG_PARITY);

	if (n > max)
		n = max;
	if (n)
		memcpy(ids, t->arg, (size_t)n * JOB_ARG_PARITY);
	return n;
}

/*
 * tier_down / tier_up:
 *   offset size
 *        0    1  u8 destination tier (enum st_tier)
 *        1    1  u8 reason: 'w' watermark, 'c' cold age, 'h' hot
 */
#define JOB_ARG_TIER JR_TIER_LEN

/* The destination tier, or -1 when the argument has none. */
static inline int job_arg_tier(const struct job_task *t)
{
	return t->arglen >= JR_TIER_DEST + 1 ? t->arg[JR_TIER_DEST] : -1;
}

/* disk_balance: u32 the source disk (JOB_ARG_DISK bytes). */

/*
 * dedup: u32 container (JOB_ARG_DEDUP_HEAD), then per group of copies of
 * one extent's chunks:
 *   offset size
 *        0   24  extent id
 *       24    8  u64 its egroup (unused by the executor)
 *       32    4  u32 nrows
 *       36  16 x nrows: block rows that show it (u64 vdisk, u64 block)
 */
#define JOB_ARG_DEDUP_HEAD JR_DEDUP_HDR
#define JOB_ARG_DEDUP_GROUP JR_DEDUP_ROWS
#define JOB_ARG_DEDUP_ROW JR_BLOCK_LEN

static inline int job_arg_dedup_container(const struct job_task *t, uint32_t *container)
{
	if (t->arglen < JOB_ARG_DEDUP_HEAD)
		return -1;
	memcpy(container, t->arg, 4);
	return 0;
}

/*
 * The group at *p (< end): its extent id, row count and rows; *p moves past
 * it. 0, or -1 when the argument is cut short.
 */
static inline int job_arg_dedup_group(const uint8_t **p, const uint8_t *end, struct st_extent_id *x, uint32_t *nrows,
				      const uint8_t **rows)
{
	if (end - *p < JOB_ARG_DEDUP_GROUP)
		return -1;
	memcpy(x->b, *p + JR_DEDUP_EXTENT, ST_EXTENT_ID_LEN);
	memcpy(nrows, *p + JR_DEDUP_NROWS, 4);
	*rows = *p + JOB_ARG_DEDUP_GROUP;
	*p += JOB_ARG_DEDUP_GROUP;
	if ((size_t)(end - *p) < (size_t)*nrows * JOB_ARG_DEDUP_ROW)
		return -1;
	*p += (size_t)*nrows * JOB_ARG_DEDUP_ROW;
	return 0;
}

static inline void job_arg_dedup_row(const uint8_t *rows, uint32_t r, uint64_t *vdisk, uint64_t *block)
{
	memcpy(vdisk, rows + (size_t)JOB_ARG_DEDUP_ROW * r, 8);
	memcpy(block, rows + (size_t)JOB_ARG_DEDUP_ROW * r + 8, 8);
}

#endif
