/*
 * job_scan_int: what the files of a scan share, private to them (the table
 * of files is in job_scan.h): the scan's context, the helpers every stage
 * uses to report and queue, and each stage's entry points, in pipeline
 * order. The records between the stages are declared in job_rec.h.
 *
 * Order of calls (job_scan.c): fill a scan_ctx from config.db
 * (job_policy_init among it), then per phase an mr_job whose inputs are
 * the readers with their map functions and whose reduce is the stage's;
 * after MR3, job_mr3_flush_dedup (collective); then the driver writes c's findings,
 * tasks and usage.
 *
 * Threads and ranks. A scan_ctx belongs to one rank and is used by one
 * thread: the engine calls readers, maps, combines and reduces of a rank
 * one at a time. Nothing here is collective (the driver's phases are).
 * Findings, tasks and usage accumulate per rank and are written by each
 * rank at the end; counters are summed over ranks. Map and reduce
 * functions return 0, a storage error, -ENOMEM or the engine's error
 * (mr_emit); a non-zero return fails the job on every rank.
 */
#ifndef JOB_SCAN_INT_H
#define JOB_SCAN_INT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/job_rec.h"
#include "jobs/job_scan.h"
#include "storage/st_hmap.h"

#define MAX_FINDINGS_PER_RANK 2000
#define BALANCE_POINTS 15     /* a disk this many points above its tier's mean sheds replicas */
#define PROMOTE_READS 3       /* reads within PROMOTE_WINDOW that bring an egroup up a tier */
#define PROMOTE_WINDOW 86400
#define VD_DEDUP 0x80         /* in the vdisk state map: the vdisk's container dedups */
#define VD_STATE 0            /* the vdisk state map's value: state byte | VD_DEDUP at 0, */
#define VD_SHIFT 1            /* log2 of its block size at 1 */
#define VD_LEN 2

struct finding {
	char kind[32];
	uint64_t egroup;
	char extent[80];
	char detail[240];
};

/*
 * Dedup candidates of this rank (MR3): job_rec.h 'dedup candidate'
 * records, each extent once per rank; job_mr3_flush_dedup gathers them
 * on rank 0, which makes the tasks.
 */
struct dd_cands {
	uint8_t *p;
	size_t len, cap;
	struct st_hmap seen; /* (container, extent id) already a candidate on this rank */
	int ready;           /* seen is initialised */
};

/* MR2 reduce's grow-only working arrays (job_mr2.c), by use. */
enum { SCR_XS, SCR_IDS, SCR_NUMS, SCR_YS, SCR_UP, SCR_DOWN, SCR_DEAD, SCR_UPV, SCR_DOWNV, SCR_DEADV,
       SCR_RANGES /* MR1 reduce's ranges */, SCR_N };

struct scan_ctx {
	struct st_store *st;
	struct st_meta *m;
	const struct job_scan_opts *o;
	uint64_t s0;
	int64_t now;
	int64_t scan_id;
	int rank;
	struct st_hmap vd;       /* vdisk id -> VD_LEN bytes: state byte | VD_DEDUP, log2 block size */
	struct st_disk *disks;
	int ndisks;
	struct st_node *nodes;
	int nnodes;
	struct st_container *conts;
	int nconts;
	int64_t c[JC_NCOUNTERS];
	struct job_task *tasks;
	size_t ntasks, captasks;
	int64_t queued; /* tasks this rank's queueing added (duplicates of queued ones left out) */
	uint32_t task_node;      /* stamped on each task queued (job_scan_task): the node it reads or writes, 0 any */
	struct finding *f;
	size_t nf, capf;
	uint64_t *ubytes, *uegroups; /* per disk index, from the usage reduce */
	int oom;
	int refs_incomplete; /* a block row was unreadable: no extent may be called dead */
	struct dd_cands dd;  /* dedup candidates waiting to become tasks */
	struct job_select *sel; /* the selective scan's vdisk tree (job_select.c), or NULL */
	/* an incremental partial scan (job_scan.c): the change log and these time windows only */
	int incremental;
	struct st_time_window win[16];
	int nwin;
	/* placement, from config.db at the start: per tier and per disk */
	uint64_t tier_cap[ST_NTIERS], tier_used[ST_NTIERS];
	int tier_high[ST_NTIERS], tier_low[ST_NTIERS];
	int tier_over[ST_NTIERS]; /* above its high watermark */
	uint8_t *disk_over;       /* per disk index: more than BALANCE_POINTS above its tier's mean */
	uint8_t *node_under;      /* per node index, bit per tier: it has a disk below the tier's mean */
	struct st_hmap rd;        /* egroup -> reads u32, last read i64 (promotion) */
	int cloud;                /* a cloud tier is configured */
	int cloud_ok;             /* ... and answered at the start of this scan: its objects are listed */
	/* the reduces' working memory (job_scan_scratch), reused from one key to the next */
	struct { void *p; size_t cap; } scr[SCR_N];
	struct st_extent_rec *gext;
	int gext_cap;
	/* liveness (job_scan_poll): this rank's beats of the scan row, and whether it must stop */
	struct job_db *db;        /* the driver's curator.db handle */
	struct {
		uint64_t calls;       /* job_scan_poll calls: the clock is read every POLL_EVERY */
		int64_t records;      /* records this rank read in the current phase */
		int64_t beaten;       /* ... of which the scan row already counts */
		double beat_at;       /* monotonic time of the last beat */
		int rc;               /* -ECANCELED (stop asked) or ST_ESTALE (declared dead): sticky */
		unsigned delay_us;    /* CURATOR_SCAN_POLL_DELAY_US: each look sleeps this long (tests) */
	} w;
};

#define POLL_EVERY 1024 /* job_scan_poll calls between looks at the clock and the stop flag */

/* Grow-only scratch buffer `slot` of c, at least `bytes` long (NULL: out of memory). Valid until the next call. */
static inline void *job_scan_scratch(struct scan_ctx *c, int slot, size_t bytes)
{
	if (bytes > c->scr[slot].cap) {
		size_t cap = bytes < 4096 ? 4096 : bytes * 2;
		void *p = realloc(c->scr[slot].p, cap);
		if (!p)
			return NULL;
		c->scr[slot].p = p;
		c->scr[slot].cap = cap;
	}
	return c->scr[slot].p;
}

/* The index of disk id in c->disks, or -1. */
static inline int disk_index(const struct scan_ctx *c, uint32_t disk)
{
	for (int i = 0; i < c->ndisks; i++)
		if (c->disks[i].id == disk)
			return i;
	return -1;
}

/*
 * The node a task on egroup g reads or writes first (locality, DESIGN.md
 * §10): that of its first replica on a disk that is ok, on a node that is
 * up; 0 (any rank) when it has none (a lost egroup, the cloud tier).
 */
static inline uint32_t job_scan_egroup_node(const struct scan_ctx *c, const struct st_egroup_rec *g)
{
	for (int r = 0; r < g->nreplicas; r++) {
		int di = g->replicas[r].state == ST_REPLICA_OK ? disk_index(c, g->replicas[r].disk) : -1;
		if (di < 0 || !c->disks[di].ok || c->disks[di].removed)
			continue;
		for (int n = 0; n < c->nnodes; n++)
			if (c->nodes[n].id == c->disks[di].node && c->nodes[n].up)
				return c->disks[di].node;
	}
	return 0;
}

/* Container id from config.db, or NULL. Valid for the scan. */
static inline const struct st_container *container_of(const struct scan_ctx *c, uint32_t id)
{
	for (int i = 0; i < c->nconts; i++)
		if (c->conts[i].id == id)
			return &c->conts[i];
	return NULL;
}

/*
 * Emit a usage record (job_rec.h 'D'): one egroup of `bytes` on disk.
 * 0 or the engine's error.
 */
static inline int emit_usage(struct mr_emitter *em, uint32_t disk, uint64_t bytes)
{
	uint8_t k[JR_UKEY_LEN] = { JR_KEY_USAGE };
	uint64_t v[2] = { bytes, 1 };

	memcpy(k + JR_UKEY_DISK, &disk, 4);
	return mr_emit(em, k, JR_UKEY_LEN, v, JR_USAGE_LEN);
}

/* --- job_scan.c: reporting and queueing ---------------------------------- */

/*
 * Record a finding of this rank (kind, the egroup or 0, the extent or
 * NULL, a printf detail). Past MAX_FINDINGS_PER_RANK findings are dropped
 * (the counters still count); out of memory sets c->oom.
 */
void job_scan_finding(struct scan_ctx *c, const char *kind, uint64_t egroup, const struct st_extent_id *x,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * Collective (job_scan_out.c). Write the scan's results to curator.db:
 * each rank's findings, then the tasks of every rank, which rank 0 queues
 * in one run (gathered; in turns if they cannot be); unless rc (an error
 * already on this rank: it writes and sends nothing; on rank 0, no rank's
 * tasks are queued). Only rank 0's o->stop stops gathered queueing.
 * c->queued: the tasks this rank added. 0 or this rank's error (err filled).
 */
int job_scan_flush(struct scan_ctx *c, struct mr_ctx *mr, struct job_db *db, int rc, struct st_msg *err);

/*
 * Queue a task of this rank at the kind's default priority. arg (arglen
 * bytes, job_rec.h) is copied. Out of memory sets c->oom (checked by the
 * caller's reduce, which then fails the job).
 */
void job_scan_task(struct scan_ctx *c, enum job_task_kind kind, uint64_t target, uint64_t version, int64_t bytes,
		   const void *arg, size_t arglen);

/* The same without an argument and with the given priority. */
void job_scan_task_prio(struct scan_ctx *c, enum job_task_kind kind, uint64_t target, uint64_t version,
			int64_t bytes, int priority);

/*
 * Liveness, from the loops of every stage (readers per row, reduces per
 * key) on every rank: every POLL_EVERY calls, job_scan_poll_now looks at
 * the stop flag (c->o->stop) and, every JOB_DB_BEAT_SECS, beats the scan
 * row (its heartbeat, and the records this rank read since the last beat;
 * rank 0 also declares silent scans dead: job_db_scans_reap). Returns 0,
 * -ECANCELED when the scan was asked to stop, or ST_ESTALE when an
 * observer declared this scan dead (it must commit nothing more); both
 * stay set, and the caller returns them, which fails the job on every
 * rank. records: how many input records the caller just handled.
 * CURATOR_SCAN_POLL_DELAY_US=N makes every look sleep N us (tests: a slow
 * scan on a small cluster).
 */
int job_scan_poll_now(struct scan_ctx *c);

static inline int job_scan_poll(struct scan_ctx *c, int records)
{
	c->w.records += records;
	if (++c->w.calls % POLL_EVERY && !c->w.rc)
		return 0;
	return job_scan_poll_now(c);
}

/* --- job_scan_read.c: the readers (mr_read_fn; arg is the scan_ctx) ------
 *
 * Each reads one split and hands each row to fn by reference (valid during
 * the call only). 0, fn's non-zero return, or a storage error with its
 * message in why.
 */

/* Block map of shard `split`: key block row reference, value struct st_block. */
int job_scan_read_blocks(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen);
/* Extent ID map of shard `split`: key extent id, value egroup id u64. */
int job_scan_read_extents(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen);
/* Egroup map of shard `split`: key egroup id, value struct st_egroup_rec (none: a corrupt row). */
int job_scan_read_egroups(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen);
/*
 * The same for an incremental partial scan: the egroups of shard `split`
 * in its change log or in one of c->win's time windows, and those of
 * c->rd (foreground reads: promotion) in that shard, each once.
 */
int job_scan_read_egroups_changed(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen);
/* Fingerprint rows of shard `split`: key egroup id, value a 'P' record. */
int job_scan_read_fps(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen);
/* Egroup files of disk index `split`: key egroup id, value a file record. */
int job_scan_read_files(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen);
/* The cloud objects (one split; nothing unless c->cloud_ok): as files on ST_CLOUD_DISK. */
int job_scan_read_cloud(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen);

/* --- job_mr1.c: MR1 extent references (mr_map_fn / mr_reduce_fn) --------
 *
 * map_blocks: a block row -> 'R' (or 'B') per extent it references, with
 * the byte ranges it shows, keyed by extent id; rows of deleted vdisks
 * only counted. map_extents: an
 * extent-ID row -> 'E'. reduce (per extent): refs (with the referenced
 * bytes, the ranges coalesced) and row records keyed by egroup, or a
 * dangling_reference finding. arg is the scan_ctx.
 */
int job_mr1_map_blocks(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em);
int job_mr1_map_extents(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em);
int job_mr1_reduce(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
		   struct mr_emitter *em);

/* --- job_mr2.c: MR2 egroup reconciliation --------------------------------
 *
 * The maps tag each input's values for the reduce (keyed by egroup id):
 * map_egroups 'G' or 'C', map_refs 'X' or 'Y' (MR_EINPUT for a record of
 * another length), map_files 'F', map_fps 'P' (as read). reduce (per
 * egroup): tasks, findings, counters, and 'D', 'E', 'T', 'W', 'H' records
 * for MR3. arg is the scan_ctx.
 */
int job_mr2_map_egroups(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em);
int job_mr2_map_refs(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em);
int job_mr2_map_files(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em);
int job_mr2_map_fps(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em);
int job_mr2_reduce(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
		   struct mr_emitter *em);

/* --- job_policy.c: per-egroup policy (MR2 reduce, partial map) ----------- */

/* Tier usage, watermarks and over/under-full disks from c's config (every rank the same). */
void job_policy_init(struct scan_ctx *c);
/* st_config_reads callback: record one egroup's foreground reads in the map arg. 0 or -ENOMEM. */
int job_policy_load_read(void *arg, uint64_t egroup, uint32_t reads, int64_t last);

/*
 * Replicas against the container's RF, scrubbing due: queues protection
 * tasks and findings. have_files: fdisk/fsize (nf entries) list the files
 * and cloud objects found (full scans); 0: files are not known (partial).
 */
void job_policy_protection(struct scan_ctx *c, const struct st_egroup_rec *g, int have_files, const uint32_t *fdisk,
			   const uint64_t *fsize, int nf);
/* An EC candidate record for MR3 when g qualifies. 0 or the engine's error. */
int job_policy_ec(struct scan_ctx *c, const struct st_egroup_rec *g, struct mr_emitter *em);
/* A compress task when g qualifies. 1 when one was queued, else 0. */
int job_policy_compress(struct scan_ctx *c, const struct st_egroup_rec *g);
/* Parity egroup p of a strip a crashed conversion left half made: a roll-back. 1 if queued. */
int job_policy_half_made_strip(struct scan_ctx *c, const struct st_egroup_rec *p);
/* Member 0 of a mostly dead strip: a dissolve task. */
void job_policy_strip_gc(struct scan_ctx *c, const struct st_egroup_rec *g0);
/* ILM and balancing of a live plain egroup: tasks, or 'T'/'W' records for MR3. 0 or the engine's error. */
int job_policy_placement(struct scan_ctx *c, const struct st_egroup_rec *g, struct mr_emitter *em);

/* --- job_mr3.c: MR3 placement (and the partial scan's reduce) ------------
 *
 * map: MR2's output as it is. combine: sums a disk's 'D' records, passes
 * the rest. reduce (per key): usage into c->ubytes/uegroups, ec_encode,
 * tier_down and disk_balance tasks, dedup candidates. arg is the scan_ctx.
 */
int job_mr3_map(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em);
int job_mr3_combine(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
		    struct mr_emitter *em);
int job_mr3_reduce(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
		   struct mr_emitter *em);
/*
 * Collective, after MR3: every rank's dedup candidates gathered on rank
 * 0, which sorts them by (container, extent id), drops repeats and queues
 * them DD_TASK_EXTENTS extents to a dedup task: the same tasks whatever
 * the rank count. 0 or the agreed error (-ENOMEM, -E2BIG).
 */
int job_mr3_flush_dedup(struct scan_ctx *c, struct mr_ctx *mr);

/* --- job_partial.c: the partial scan -------------------------------------
 *
 * map (per egroup row): egroup_delete of all-zero egroups, the policy,
 * 'D' (and 'T', 'W') records for job_mr3_reduce. arg is the scan_ctx.
 */
int job_partial_map(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em);

/* --- job_select.c: the selective scan ------------------------------------
 *
 * init: the vdisk tree of config.db (vds, n entries: the driver's, which
 * must outlive the scan) and the deleted vdisks, into c->sel; 0 or
 * -ENOMEM (free releases what was made). Readers, one split per shard:
 * read_blocks the block rows of the deleted vdisks, read_owned the
 * extent-ID rows of the extents they own. map_blocks / map_owned emit the
 * egroups reached (job_rec.h 'b', 'o'); reduce (per egroup) queues
 * egroup_delete where every extent is proven dead. arg is the scan_ctx.
 */
struct job_select;
int job_select_init(struct scan_ctx *c, const struct st_vdisk *vds, int n);
void job_select_free(struct scan_ctx *c);
int job_select_ndeleted(const struct scan_ctx *c);
int job_select_read_blocks(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen);
int job_select_read_owned(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen);
int job_select_read_disks(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen);
int job_select_map_disks(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
			 struct mr_emitter *em);
int job_select_map_blocks(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
			  struct mr_emitter *em);
int job_select_map_owned(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
			 struct mr_emitter *em);
int job_select_reduce(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
		      struct mr_emitter *em);

#endif
