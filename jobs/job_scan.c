/*
 * job_scan: the driver of full and partial scans. See job_scan.h for the
 * jobs and the safety rule, job_scan_int.h for the files of a scan.
 *
 * DESIGN. Rank 0 takes the scan lock and S0 and opens the scan record;
 * every rank learns both, then loads the same picture of the cluster from
 * config.db. Each phase is one MapReduce job (mr_job_run, collective),
 * announced to rank 0's observer and recorded in the scan row. Findings,
 * tasks and usage are kept per rank and written to curator.db at the end
 * by each rank; counters and task counts are summed over ranks. Every
 * failure is agreed (mr_agree) so all ranks return the same code; nothing
 * is queued unless every phase succeeded on every rank.
 *
 * Liveness (DESIGN.md §4a, before leases): while the scan runs, every rank
 * beats the scan row every JOB_DB_BEAT_SECS from the stages' loops
 * (job_scan_poll) and from each queueing batch, so an observer that sees
 * the heartbeat stand still for the TTL may declare the scan dead; a scan
 * that finds itself declared dead stops and queues nothing more. A stop
 * request (SIGTERM in the daemon) is honoured between phases, within a
 * phase at the next poll (the engine has no stop flag of its own: the
 * reader or reduce fails the job with -ECANCELED on every rank), and
 * between queueing batches (the batches before stay queued: each task
 * stands alone, carrying the version it was computed from, and the next
 * scan queues the rest).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobs/job_scan_int.h"
#include "storage/st_cloud.h"
#include "storage/st_lease.h"

static const char *counter_names[JC_NCOUNTERS] = {
	"block_rows", "extent_ids", "egroups", "extents", "files",
	"live_bytes", "stored_bytes",
	"dead_extents", "dead_bytes", "garbage_bytes",
	"refcount_low", "refcount_high", "dangling_references", "orphan_extent_ids",
	"deleted_vdisk_rows", "unknown_vdisk_rows", "orphan_files", "orphan_file_bytes",
	"corrupt_rows", "protected_by_safety_rule", "missing_replicas", "dead_egroups", "short_replicas",
	"under_replicated", "one_copy_left", "lost_egroups", "extra_replicas", "at_risk_bytes", "scrub_due",
	"awaiting_node", "ec_egroups", "ec_candidates", "saved_ec", "strips_degraded",
	"compress_candidates", "saved_compression", "compressed_extents",
	"dedup_extents", "saved_dedup", "chunks", "fingerprint_needed", "dedup_groups", "dedup_bytes",
	"tier_up", "tier_down_cold", "tier_down_watermark", "disk_balance", "cloud_egroups", "cloud_objects", "cloud_bytes",
	"gc_held_tasks", "unreadable_egroups", "unreadable_bytes", "selective_kept", "deleted_vdisks", "freeing_bytes",
	"incremental", "selective_on_failed", "shadowed_bytes", "selective_trimmed",
};

const char *job_scan_counter_name(enum job_scan_counter c)
{
	return (unsigned)c < JC_NCOUNTERS ? counter_names[c] : "?";
}

void job_scan_finding(struct scan_ctx *c, const char *kind, uint64_t egroup, const struct st_extent_id *x,
		      const char *fmt, ...)
{
	struct finding *f;
	va_list ap;

	if (c->nf >= MAX_FINDINGS_PER_RANK)
		return;
	if (st_grow(&c->f, &c->capf, c->nf, sizeof(*c->f))) {
		c->oom = 1;
		return;
	}
	f = &c->f[c->nf++];
	snprintf(f->kind, sizeof(f->kind), "%s", kind);
	f->egroup = egroup;
	f->extent[0] = 0;
	if (x)
		st_extent_id_fmt(x, f->extent, sizeof(f->extent));
	va_start(ap, fmt);
	vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
	va_end(ap);
}

void job_scan_task(struct scan_ctx *c, enum job_task_kind kind, uint64_t target, uint64_t version, int64_t bytes,
		   const void *arg, size_t arglen)
{
	struct job_task *t;

	if (st_grow(&c->tasks, &c->captasks, c->ntasks, sizeof(*c->tasks))) {
		c->oom = 1;
		return;
	}
	t = &c->tasks[c->ntasks];
	memset(t, 0, sizeof(*t));
	t->scan = c->scan_id;
	t->kind = kind;
	t->target = target;
	t->version = version;
	t->bytes = bytes;
	t->node = c->task_node;
	if (arglen) {
		t->arg = malloc(arglen);
		if (!t->arg) {
			c->oom = 1;
			return;
		}
		memcpy(t->arg, arg, arglen);
		t->arglen = arglen;
	}
	c->ntasks++;
}

void job_scan_task_prio(struct scan_ctx *c, enum job_task_kind kind, uint64_t target, uint64_t version,
			int64_t bytes, int priority)
{
	job_scan_task(c, kind, target, version, bytes, NULL, 0);
	if (!c->oom)
		c->tasks[c->ntasks - 1].priority = priority;
}

/* Monotonic seconds: beats are paced on this rank's own clock. */
static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int job_scan_poll_now(struct scan_ctx *c)
{
	double now;
	int rc;

	if (c->w.rc)
		return c->w.rc;
	if (c->w.delay_us)
		usleep(c->w.delay_us);
	if (c->o->stop && *c->o->stop)
		return c->w.rc = -ECANCELED;
	now = mono();
	if (now - c->w.beat_at < JOB_DB_BEAT_SECS || !c->scan_id)
		return 0;
	c->w.beat_at = now;
	rc = job_db_scan_beat(c->db, c->scan_id, c->w.records - c->w.beaten, 0, NULL);
	if (rc == ST_ESTALE)
		return c->w.rc = ST_ESTALE;
	if (!rc)
		c->w.beaten = c->w.records;
	if (c->rank == 0) /* silent scans of dead processes end as failed while this one runs */
		job_db_scans_reap(c->db, job_db_scan_ttl(), NULL, NULL);
	return 0; /* a beat that could not be written (busy) is tried again at the next one */
}

static int shard_owner_any(void *arg, int split, int nranks)
{
	(void)arg;
	(void)split;
	(void)nranks;
	return -1;
}

static void add_phase(struct job_scan_result *res, const char *name, const struct mr_job *j)
{
	struct job_phase *p = &res->phases[res->nphases++];
	p->name = name;
	p->secs = j->map_secs + j->reduce_secs;
	p->in = j->records_in;
	p->out = j->records_out;
}

/*
 * Collective: tell rank 0's observer phase i of n starts, and record it in
 * the scan row (its records count from 0 again on every rank).
 * MR_EABORTED (err filled) when rank 0 was asked to stop, ST_ESTALE when
 * the scan was declared dead, else 0.
 */
static int phase(struct mr_ctx *mr, struct scan_ctx *c, const char *name, int i, int n, struct st_msg *err)
{
	const struct job_scan_opts *o = c->o;
	int stop = 0;

	if (mr_rank(mr) == 0) {
		if (o->progress)
			o->progress(o->progress_arg, c->scan_id, name, i, n);
		stop = o->stop && *o->stop;
		if (!stop && job_db_scan_phase(c->db, c->scan_id, name, i, n, NULL) == ST_ESTALE)
			stop = 2;
	}
	mr_bcast(mr, &stop, sizeof(stop), 0);
	c->w.records = c->w.beaten = 0;
	c->w.beat_at = mono();
	if (stop == 2)
		return st_fail(err, ST_ESTALE, "scan: declared dead by an observer (no heartbeat for the TTL); stopped");
	if (stop)
		return st_fail(err, MR_EABORTED, "scan: stopped before its next phase (SIGTERM); nothing was queued");
	return 0;
}

/*
 * Collective, after job j failed on every rank with rc: if a rank stopped
 * on request or was declared dead, say so (err) instead of the engine's
 * message. Returns the code to agree on.
 */
static int job_failed(struct mr_ctx *mr, struct scan_ctx *c, const struct mr_job *j, int rc, struct st_msg *err)
{
	int64_t stopped = mr_sum(mr, c->w.rc == -ECANCELED), dead = mr_sum(mr, c->w.rc == ST_ESTALE);

	if (dead)
		return st_fail(err, ST_ESTALE, "scan: declared dead by an observer during %s (no heartbeat for the TTL);"
			       " stopped, nothing was queued", j->name);
	if (stopped)
		return st_fail(err, -ECANCELED, "scan: stopped during %s (SIGTERM); nothing was queued", j->name);
	return st_fail(err, rc, "scan: %s", mr_ctx_errmsg(mr));
}

static void input(struct mr_input *in, const char *name, int nsplits, mr_read_fn read, void *arg, mr_map_fn map)
{
	memset(in, 0, sizeof(*in));
	in->name = name;
	in->nsplits = nsplits;
	in->read = read;
	in->read_arg = arg;
	in->owner = shard_owner_any;
	in->map = map;
	in->map_arg = arg;
}

static void phases_json(const struct job_scan_result *res, char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "[");
	for (int i = 0; i < res->nphases && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off,
					"%s{\"phase\":\"%s\",\"secs\":%.3f,\"records_in\":%" PRIu64 ",\"records_out\":%" PRIu64 "}",
					i ? "," : "", res->phases[i].name, res->phases[i].secs, res->phases[i].in,
					res->phases[i].out);
	if (off < len)
		snprintf(buf + off, len - off, "]");
}

static void counters_json(const struct job_scan_result *res, char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "{");
	for (int i = 0; i < JC_NCOUNTERS && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s\"%s\":%" PRId64, i ? "," : "", counter_names[i],
					res->counters[i]);
	for (int k = 0; k < JT_NKINDS && off < len; k++)
		off += (size_t)snprintf(buf + off, len - off, ",\"tasks_%s\":%" PRIu64, job_task_kind_name(k), res->tasks[k]);
	if (off < len)
		snprintf(buf + off, len - off, "}");
}

/* One scan, as the driver's steps share it (every rank). */
struct scan_run {
	struct mr_ctx *mr;
	struct st_store *st;
	struct job_scan_opts o; /* the caller's, defaults filled in */
	struct scan_ctx c;
	struct job_scan_result *res;
	struct job_db *db;
	int locked;             /* rank 0: holds the scan lock (st_store_lock "scan") */
	const char *dir;        /* the cluster directory */
	int nshards;
	struct st_vdisk *vd;
	int nvd;
	char out1[ST_PATH_MAX + 64], out2[ST_PATH_MAX + 64]; /* MR1's and MR2's output */
	/* rank 0: the change log of each shard at the start (job_scan.c "changes") */
	int64_t *upto;
	int marked;             /* every shard's log was taken in by a scan before */
	int64_t mark_at;        /* ... the earliest policy time one of them did */
};

/*
 * Rank 0, after S0: where each shard's change log stands (st_meta.h), so
 * that a scan that succeeds drops only what it read (changes_mark), and
 * whether every shard's log was taken in before, and when.
 */
static int changes_state(struct scan_run *r, struct st_msg *err)
{
	int rc = 0;

	r->upto = calloc((size_t)r->nshards, sizeof(*r->upto));
	if (!r->upto)
		return st_fail(err, -ENOMEM, "out of memory");
	r->marked = 1;
	r->mark_at = INT64_MAX;
	for (int i = 0; i < r->nshards && !rc; i++) {
		int64_t at;
		int marked;
		rc = st_meta_changes_state(r->c.m, i, &r->upto[i], &at, &marked, err);
		r->marked &= marked;
		if (marked && at < r->mark_at)
			r->mark_at = at;
	}
	return rc;
}

/*
 * Rank 0, after a scan that succeeded, queued its tasks and held no
 * deletion: every shard's log is taken in up to where it stood at the
 * start (the entries the safety rule kept from this scan's decisions stay
 * for the next one). A full scan's decisions cover a partial one's. A log
 * that cannot be marked is left as it is (the next scan reads more).
 */
static void changes_mark(struct scan_run *r)
{
	const struct job_scan_result *res = r->res;

	if (r->c.rank != 0 || !r->upto || r->o.dry_run || r->o.selective || res->counters[JC_GC_HELD] ||
	    res->counters[JC_DANGLING] || res->counters[JC_CORRUPT_ROWS])
		return;
	for (int i = 0; i < r->nshards; i++)
		st_meta_changes_mark(r->c.m, i, r->upto[i], r->c.s0, r->c.now, NULL);
}

/*
 * Collective, after load: may this partial scan read only what changed?
 * Only if every shard's log was taken in by an earlier scan, the policy
 * clock did not go back, no disk is failed or draining and no node is down
 * (their replicas are in rows that did not change: NEEDSWORK an index of
 * replicas by disk), no tier is above its high watermark and no disk far
 * above its tier's mean (ILM and balancing pick among every egroup), and
 * the time windows fit. Then c->win holds, per time-based decision, the
 * window of times that crossed its threshold since the log was last taken
 * in: (T - delay, now - delay].
 */
static void decide_incremental(struct scan_run *r)
{
	struct scan_ctx *c = &r->c;
	int64_t t[2] = { r->marked ? r->mark_at : -1, 0 };
	int ok;

	mr_bcast(r->mr, t, sizeof(t), 0);
	ok = !r->o.full && !r->o.selective && !r->o.all && t[0] >= 0 && t[0] <= c->now;
	for (int i = 0; ok && i < c->ndisks; i++)
		ok = !(c->disks[i].draining || (!c->disks[i].ok && !c->disks[i].removed)) && !(c->disk_over && c->disk_over[i]);
	for (int i = 0; ok && i < c->nnodes; i++)
		ok = c->nodes[i].up;
	for (int k = 0; ok && k < ST_NTIERS; k++)
		ok = !c->tier_over[k];
	c->nwin = 0;
	for (int i = 0; ok && i <= c->nconts; i++) {
		/* per container: compression delay, cold age; once: scrub period, sweep grace (half-made strips) */
		struct st_time_window w[2];
		int nw = 0;
		if (i == c->nconts) {
			w[nw++] = (struct st_time_window){ ST_TIME_SCRUB, t[0] - c->o->scrub_period, c->now - c->o->scrub_period };
			w[nw++] = (struct st_time_window){ ST_TIME_CREATED, t[0] - c->o->sweep_grace, c->now - c->o->sweep_grace };
		} else {
			if (c->conts[i].compress != ST_MODE_OFF)
				w[nw++] = (struct st_time_window){ ST_TIME_WRITE, t[0] - c->conts[i].compress_delay,
								   c->now - c->conts[i].compress_delay };
			if (c->conts[i].cold_age > 0)
				w[nw++] = (struct st_time_window){ ST_TIME_COLD, t[0] - c->conts[i].cold_age,
								   c->now - c->conts[i].cold_age };
		}
		for (int k = 0; ok && k < nw; k++) {
			int dup = 0;
			for (int j = 0; j < c->nwin && !dup; j++)
				dup = !memcmp(&c->win[j], &w[k], sizeof(w[k]));
			if (dup)
				continue;
			if (c->nwin == (int)(sizeof(c->win) / sizeof(c->win[0])))
				ok = 0;
			else
				c->win[c->nwin++] = w[k];
		}
	}
	c->incremental = ok;
	if (ok && c->rank == 0)
		c->c[JC_INCREMENTAL] = 1;
}

/*
 * Collective. Rank 0 takes the scan lock and S0 and opens the scan
 * record; every rank learns both. 0, or the agreed error with err filled.
 */
static int begin(struct scan_run *r, struct st_msg *err)
{
	struct scan_ctx *c = &r->c;
	int rc = job_db_open(r->dir, &r->db, err);

	if (!rc) {
		char what[64];
		snprintf(what, sizeof(what), "scan %s rank %d", r->o.full ? "full" : "partial", c->rank);
		st_store_set_holder(r->st, ST_LEASE_RANK, what);
	}
	if (!rc && c->rank == 0 && r->o.tasks_out) {
		int fd = open(r->o.tasks_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			rc = st_fail(err, -errno, "scan: --tasks-out %s: %s", r->o.tasks_out, strerror(errno));
		else
			close(fd);
	}
	if (!rc && c->rank == 0) {
		/* the scan lock: held by rank 0's lease; a dead scan's is taken once its lease is reaped */
		rc = st_store_lock(r->st, "scan", -1, err);
		if (rc == ST_EBUSY)
			rc = st_fail(err, ST_EBUSY, "scan: another scan is running on this cluster (%s)", err->text);
		r->locked = !rc;
		if (!rc) /* under the lock no other scan runs: a row still running is a dead scan's */
			rc = job_db_scans_orphaned(r->db, NULL, err);
	}
	if (!rc && c->rank == 0) {
		rc = st_store_scan_seq(r->st, &c->s0, err);
		/* tasks claimed by runners whose leases are dead (reaped just now) go back to the queue */
		if (!rc && !r->o.dry_run)
			rc = job_db_tasks_requeue_running(r->db, st_store_config(r->st), err);
		if (!rc && !r->o.selective)
			rc = changes_state(r, err);
		if (!rc)
			rc = job_db_scan_begin(r->db, r->o.full ? "full" : r->o.selective ? "selective" : "partial", r->o.dry_run, c->s0, mr_nranks(r->mr),
					       &c->scan_id, err);
	}
	rc = mr_agree(r->mr, rc);
	if (rc) {
		if (!err->text[0])
			st_fail(err, rc, "scan: %s", mr_ctx_errmsg(r->mr));
		return rc;
	}
	mr_bcast(r->mr, &c->s0, sizeof(c->s0), 0);
	mr_bcast(r->mr, &c->scan_id, sizeof(c->scan_id), 0);
	c->db = r->db;
	c->w.beat_at = mono();
	r->res->s0 = c->s0;
	r->res->scan_id = c->scan_id;
	return 0;
}

/*
 * Collective. The cluster as config.db describes it, the same on every
 * rank: vdisks (and the blocks_delete of deleted ones, rank 0), disks,
 * nodes, containers, placement, foreground reads; the scratch
 * directories. 0 or the agreed error.
 */
static int load(struct scan_run *r, struct st_msg *err)
{
	struct scan_ctx *c = &r->c;
	struct st_config *cfg = st_store_config(r->st);
	int rc = st_config_vdisks(cfg, 1, &r->vd, &r->nvd, err);

	if (!rc)
		rc = st_config_disks(cfg, &c->disks, &c->ndisks, err);
	if (!rc)
		rc = st_config_nodes(cfg, &c->nodes, &c->nnodes, err);
	if (!rc)
		rc = st_config_containers(cfg, &c->conts, &c->nconts, err);
	if (!rc) {
		char url[8];
		job_policy_init(c);
		st_hmap_init(&c->rd, 8, 12);
		rc = st_config_reads(cfg, job_policy_load_read, &c->rd, err);
		c->cloud = st_config_setting_get(cfg, "cloud_url", url, sizeof(url), NULL) == 0;
	}
	for (int i = 0; !rc && i < r->nvd; i++) {
		const struct st_container *ct = container_of(c, r->vd[i].container);
		uint8_t *s = st_hmap_put(&c->vd, &r->vd[i].id, NULL);
		if (!s) {
			rc = -ENOMEM;
		} else {
			s[VD_STATE] = (uint8_t)r->vd[i].state | (ct && ct->dedup != ST_MODE_OFF ? VD_DEDUP : 0);
			s[VD_SHIFT] = 0;
			while (s[VD_SHIFT] < 31 && (1u << s[VD_SHIFT]) < r->vd[i].block_size)
				s[VD_SHIFT]++;
		}
		/* a deleted vdisk: its block rows (if any are left) and its config row go */
		if ((r->o.full || r->o.selective) && c->rank == 0 && r->vd[i].state == ST_VDISK_DELETED)
			job_scan_task(c, JT_BLOCKS_DELETE, r->vd[i].id, 0, 0, NULL, 0);
	}
	if (!rc && r->o.selective)
		rc = job_select_init(c, r->vd, r->nvd);
	if (!rc) {
		c->ubytes = calloc((size_t)c->ndisks + 1, 8);
		c->uegroups = calloc((size_t)c->ndisks + 1, 8);
		if (!c->ubytes || !c->uegroups)
			rc = -ENOMEM;
	}
	rc = mr_agree(r->mr, rc);
	if (rc)
		return rc;
	snprintf(r->out1, sizeof(r->out1), "%s/scratch/scan-%" PRId64 "-mr1", r->dir, c->scan_id);
	snprintf(r->out2, sizeof(r->out2), "%s/scratch/scan-%" PRId64 "-mr2", r->dir, c->scan_id);
	if (c->rank == 0) {
		char sd[ST_PATH_MAX + 16];
		snprintf(sd, sizeof(sd), "%s/scratch", r->dir);
		st_mkdir_p(sd);
	}
	mr_barrier(r->mr);
	return 0;
}

/* Collective: run j; on success its figures become the next phase of the result. */
static int run_job(struct scan_run *r, struct mr_job *j, struct st_msg *err)
{
	int rc = mr_job_run(r->mr, j);

	if (rc)
		return job_failed(r->mr, &r->c, j, rc, err);
	add_phase(r->res, j->name, j);
	return 0;
}

/* Collective on failure: `in` reads the output of the job before (dir). 0 or the agreed error. */
static int output_input(struct scan_run *r, const char *dir, mr_map_fn map, const char *what, struct mr_input *in,
			struct st_msg *err)
{
	int rc = mr_output_input(dir, map, &r->c, in);

	if (rc) { /* the other ranks meet this agreement in mr_job_run's first one */
		st_fail(err, rc, "scan: %s output missing", what);
		rc = mr_agree(r->mr, rc);
	}
	return rc;
}

static uint64_t budget(const struct scan_run *r)
{
	return r->o.mem_budget ? r->o.mem_budget : mr_host_budget(r->mr);
}

/* Collective. MR1 (job_mr1.c): the block map and the extent ID map -> refs per egroup. */
static int run_mr1(struct scan_run *r, struct st_msg *err)
{
	struct scan_ctx *c = &r->c;
	struct mr_job j;
	int rc = phase(r->mr, c, "MR1 extent references", 1, 3, err);

	if (rc)
		return rc;
	mr_job_init(&j);
	j.name = "MR1 extent references";
	j.ninputs = 2;
	input(&j.inputs[0], "vdisk block map", r->nshards, job_scan_read_blocks, c, job_mr1_map_blocks);
	input(&j.inputs[1], "extent ID map", r->nshards, job_scan_read_extents, c, job_mr1_map_extents);
	j.reduce = job_mr1_reduce;
	j.reduce_arg = c;
	/* counts, the one 'E', and 'B's that MR2 sorts again: any order will do */
	j.values_unordered = 1;
	j.output_dir = r->out1;
	j.mem_budget = budget(r);
	rc = run_job(r, &j, err);
	if (!rc)
		c->refs_incomplete = mr_sum(r->mr, c->c[JC_CORRUPT_ROWS]) > 0;
	return rc;
}

/* Collective: list the cloud tier only if it answers now (else no object is called missing). */
static void check_cloud(struct scan_run *r)
{
	struct scan_ctx *c = &r->c;
	int ok = 0;

	if (!c->cloud)
		return;
	if (c->rank == 0) {
		struct st_cloud *cl;
		struct st_msg cerr = { "" };
		ok = st_store_cloud(r->st, &cl, &cerr) == 0 && st_cloud_check(cl, &cerr) == 0;
		if (!ok)
			job_scan_finding(c, "cloud_unreachable", 0, NULL, "%s", cerr.text);
	}
	mr_bcast(r->mr, &ok, sizeof(ok), 0);
	c->cloud_ok = ok;
}

/* Collective. MR2 (job_mr2.c): egroups, MR1's output, files, fingerprints, cloud objects. */
static int run_mr2(struct scan_run *r, struct st_msg *err)
{
	struct scan_ctx *c = &r->c;
	struct mr_job j;
	int rc = phase(r->mr, c, "MR2 egroup reconciliation", 2, 3, err);

	if (rc)
		return rc;
	check_cloud(r);
	mr_job_init(&j);
	j.name = "MR2 egroup reconciliation";
	j.ninputs = 5;
	input(&j.inputs[0], "egroup map", r->nshards, job_scan_read_egroups, c, job_mr2_map_egroups);
	rc = output_input(r, r->out1, job_mr2_map_refs, "MR1", &j.inputs[1], err);
	if (rc)
		return rc;
	input(&j.inputs[2], "egroup files", c->ndisks, job_scan_read_files, c, job_mr2_map_files);
	input(&j.inputs[3], "chunk fingerprints", r->nshards, job_scan_read_fps, c, job_mr2_map_fps);
	input(&j.inputs[4], "cloud objects", 1, job_scan_read_cloud, c, job_mr2_map_files);
	j.reduce = job_mr2_reduce;
	j.reduce_arg = c;
	j.output_dir = r->out2;
	j.mem_budget = budget(r);
	rc = run_job(r, &j, err);
	mr_output_input_release(&j.inputs[1]);
	return rc;
}

/* Collective. MR3 (job_mr3.c): MR2's output -> usage, strips, moves, dedup tasks. */
static int run_mr3(struct scan_run *r, struct st_msg *err)
{
	struct scan_ctx *c = &r->c;
	struct mr_job j;
	int rc = phase(r->mr, c, "MR3 placement", 3, 3, err);

	if (rc)
		return rc;
	mr_job_init(&j);
	j.name = "MR3 placement";
	j.ninputs = 1;
	rc = output_input(r, r->out2, job_mr3_map, "MR2", &j.inputs[0], err);
	if (rc)
		return rc;
	j.combine = job_mr3_combine;
	j.reduce = job_mr3_reduce;
	j.reduce_arg = c;
	j.output_dir = NULL;
	j.nparts = 16;
	rc = mr_job_run(r->mr, &j);
	if (rc) {
		rc = job_failed(r->mr, c, &j, rc, err);
	} else {
		rc = job_mr3_flush_dedup(c, r->mr);
		if (rc)
			st_fail(err, rc, "scan: gathering the dedup candidates: %s", strerror(-rc));
		else
			add_phase(r->res, j.name, &j);
	}
	mr_output_input_release(&j.inputs[0]);
	return rc;
}

/* Collective. The partial scan (job_partial.c): the egroup map -> usage, deletes, policy. */
static int run_partial(struct scan_run *r, struct st_msg *err)
{
	struct scan_ctx *c = &r->c;
	struct mr_job j;
	int rc = phase(r->mr, c, "partial scan", 1, 1, err);

	if (rc)
		return rc;
	mr_job_init(&j);
	j.name = "partial scan";
	j.ninputs = 1;
	decide_incremental(r);
	if (c->incremental)
		input(&j.inputs[0], "egroup map (changed)", r->nshards, job_scan_read_egroups_changed, c, job_partial_map);
	else
		input(&j.inputs[0], "egroup map", r->nshards, job_scan_read_egroups, c, job_partial_map);
	j.combine = job_mr3_combine;
	j.reduce = job_mr3_reduce;
	j.reduce_arg = c;
	j.nparts = 16;
	j.mem_budget = budget(r);
	return run_job(r, &j, err);
}

/*
 * Collective. The selective scan (job_select.c): the deleted vdisks' rows
 * -> egroup_delete; the egroups with a replica on the failed disks given
 * -> their protection tasks.
 */
static int run_selective(struct scan_run *r, struct st_msg *err)
{
	struct scan_ctx *c = &r->c;
	struct mr_job j;
	int rc = phase(r->mr, c, "selective scan", 1, 1, err);

	if (rc)
		return rc;
	if (c->rank == 0)
		c->c[JC_DELETED_VDISKS] = job_select_ndeleted(c);
	mr_job_init(&j);
	j.name = "selective scan";
	j.ninputs = 3;
	input(&j.inputs[0], "deleted vdisks' block rows", r->nshards, job_select_read_blocks, c, job_select_map_blocks);
	input(&j.inputs[1], "deleted vdisks' extent-ID rows", r->nshards, job_select_read_owned, c,
	      job_select_map_owned);
	input(&j.inputs[2], "replicas on failed disks", r->nshards, job_select_read_disks, c, job_select_map_disks);
	j.reduce = job_select_reduce;
	j.reduce_arg = c;
	j.values_unordered = 1;
	j.nparts = 16;
	j.mem_budget = budget(r);
	return run_job(r, &j, err);
}

/* Does a task of this kind delete data or metadata that a reference could resolve to? */
static int deletes(enum job_task_kind k)
{
	return k == JT_EXTENT_DELETE || k == JT_EGROUP_DELETE || k == JT_EGROUP_COMPACT || k == JT_EXTENT_ID_DELETE ||
	       k == JT_FILE_SWEEP;
}

/*
 * Collective. A dangling reference (found in MR1 or MR2, on any rank) or a
 * corrupt map row means some reference resolves to a place the scan could
 * not see: the data it needs may be in any egroup, file or extent-ID row
 * the scan would collect. Then nothing is collected this scan (the tasks
 * are dropped and counted as gc_held_tasks); the finding says why.
 */
static void hold_deletions(struct scan_run *r)
{
	struct scan_ctx *c = &r->c;
	int64_t doubt = mr_sum(r->mr, c->c[JC_DANGLING]) + mr_sum(r->mr, c->c[JC_CORRUPT_ROWS]);
	size_t w = 0;

	if (!doubt)
		return;
	for (size_t i = 0; i < c->ntasks; i++) {
		if (deletes(c->tasks[i].kind)) {
			c->c[JC_GC_HELD]++;
			job_task_release(&c->tasks[i]);
			continue;
		}
		c->tasks[w++] = c->tasks[i];
	}
	c->ntasks = w;
	if (c->rank == 0)
		job_scan_finding(c, "gc_held", 0, NULL,
				 "%lld dangling reference(s) or corrupt row(s): nothing is collected until they are repaired",
				 (long long)doubt);
}

/*
 * Collective. After the last phase: drained disks, this rank's results to
 * curator.db, counters and task counts summed, the scan record closed.
 * 0 or the agreed error.
 */
static int finish(struct scan_run *r, struct st_msg *err)
{
	struct scan_ctx *c = &r->c;
	struct job_scan_result *res = r->res;
	uint64_t local[JT_NKINDS] = { 0 };
	double t0;
	int rc;

	/* a draining disk that no egroup uses any more can be marked removed */
	for (int i = 0; i < c->ndisks; i++) {
		int64_t eg = mr_sum(r->mr, (int64_t)c->uegroups[i]);
		if (c->rank == 0 && c->disks[i].draining && !c->disks[i].removed && eg == 0)
			job_scan_task(c, JT_DISK_REMOVED, c->disks[i].id, 0, 0, NULL, 0);
	}
	hold_deletions(r);
	if (c->rank == 0 && !r->o.dry_run)
		job_db_scan_phase(r->db, c->scan_id, "queueing tasks", 0, 0, NULL); /* (a fence shows in the batches) */
	t0 = mono();
	rc = job_scan_flush(c, r->mr, r->db, c->oom ? st_fail(err, -ENOMEM, "scan: out of memory") : 0, err);
	rc = mr_agree(r->mr, rc);
	{ /* the results written and the tasks queued, as one more phase of the report (secs: rank 0's wall clock) */
		double secs = mono() - t0;
		uint64_t found = (uint64_t)mr_sum(r->mr, (int64_t)c->ntasks), added = (uint64_t)mr_sum(r->mr, c->queued);
		if (!r->o.dry_run && res->nphases < JOB_SCAN_MAXPHASES)
			res->phases[res->nphases++] = (struct job_phase){ "queueing tasks", secs, found, added };
	}
	if (rc && !err->text[0])
		st_fail(err, rc, "scan: another rank failed or stopped while writing its results; what was queued stays");
	for (size_t i = 0; i < c->ntasks; i++) {
		enum job_task_kind k = c->tasks[i].kind;
		local[k]++;
		if (k == JT_EXTENT_DELETE || k == JT_EGROUP_COMPACT || k == JT_EGROUP_DELETE || k == JT_FILE_SWEEP)
			c->c[JC_FREEING_BYTES] += c->tasks[i].bytes;
	}
	for (int i = 0; i < JC_NCOUNTERS; i++)
		res->counters[i] = mr_sum(r->mr, c->c[i]);
	for (int k = 0; k < JT_NKINDS; k++)
		res->tasks[k] = (uint64_t)mr_sum(r->mr, (int64_t)local[k]);
	if (c->rank == 0) {
		char ph[2048], cn[4096];
		phases_json(res, ph, sizeof(ph));
		counters_json(res, cn, sizeof(cn));
		job_db_scan_end(r->db, c->scan_id, rc == 0, ph, cn, rc ? err->text : NULL, NULL);
	}
	return rc;
}

/* Everything a scan holds, on every rank (its scratch directories on rank 0). */
static void release(struct scan_run *r)
{
	struct scan_ctx *c = &r->c;

	if (c->rank == 0) {
		char p[ST_PATH_MAX + 80];
		snprintf(p, sizeof(p), "%s/scratch/scan-%" PRId64 "-mr1", r->dir, c->scan_id);
		st_rm_rf(p);
		snprintf(p, sizeof(p), "%s/scratch/scan-%" PRId64 "-mr2", r->dir, c->scan_id);
		st_rm_rf(p);
	}
	for (size_t i = 0; i < c->ntasks; i++)
		job_task_release(&c->tasks[i]);
	free(c->tasks);
	free(c->dd.p);
	if (c->dd.ready)
		st_hmap_release(&c->dd.seen);
	free(c->f);
	free(c->disks);
	free(c->nodes);
	free(c->conts);
	free(c->ubytes);
	free(c->uegroups);
	mr_ctx_trim(r->mr); /* the engine's memory, kept between MR1..MR3 */
	for (int i = 0; i < SCR_N; i++)
		free(c->scr[i].p);
	free(c->gext);
	free(r->upto);
	job_select_free(c);
	free(r->vd);
	st_hmap_release(&c->vd);
	st_hmap_release(&c->rd);
	free(c->disk_over);
	free(c->node_under);
	job_db_close(r->db);
	if (r->locked)
		st_store_unlock(r->st, "scan");
}

int job_scan_run(struct mr_ctx *mr, struct st_store *st, const struct job_scan_opts *o_in,
		 struct job_scan_result *res, struct st_msg *err)
{
	struct scan_run r = { .mr = mr, .st = st, .o = *o_in, .res = res };
	struct scan_ctx *c = &r.c;
	int rc;

	r.dir = st_config_dir(st_store_config(st));
	r.nshards = st_meta_nshards(st_store_meta(st));
	if (r.o.sweep_grace < 0)
		r.o.sweep_grace = 3600;
	if (!r.o.compact_pct)
		r.o.compact_pct = 20;
	if (r.o.node_grace < 0)
		r.o.node_grace = 60;
	if (r.o.scrub_period < 0)
		r.o.scrub_period = 7 * 86400;
	c->st = st;
	c->m = st_store_meta(st);
	c->o = &r.o;
	c->rank = mr_rank(mr);
	memset(res, 0, sizeof(*res));
	c->now = st_now();
	st_hmap_init(&c->vd, 8, VD_LEN);
	if (getenv("CURATOR_SCAN_POLL_DELAY_US"))
		c->w.delay_us = (unsigned)strtoul(getenv("CURATOR_SCAN_POLL_DELAY_US"), NULL, 10);

	rc = begin(&r, err);
	if (rc)
		goto done;
	rc = load(&r, err);
	if (!rc && r.o.full) {
		rc = run_mr1(&r, err);
		if (!rc)
			rc = run_mr2(&r, err);
		if (!rc)
			rc = run_mr3(&r, err);
	} else if (!rc && r.o.selective) {
		rc = run_selective(&r, err);
	} else if (!rc) {
		rc = run_partial(&r, err);
	}
	if (!rc) {
		rc = finish(&r, err);
		if (!rc)
			changes_mark(&r);
	} else if (c->rank == 0 && c->scan_id) {
		job_db_scan_end(r.db, c->scan_id, 0, NULL, NULL, err->text, NULL);
	}
done:
	release(&r);
	return rc;
}
