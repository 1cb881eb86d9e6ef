/*
 * job_scan: the driver of full and partial scans. See job_scan.h for the
 * jobs and the safety rule, job_scan_int.h for the files of a scan.
 *
 * DESIGN. Rank 0 takes the scan lock and S0 and opens the scan record;
 * every rank learns both, then loads the same picture of the cluster from
 * config.db. Each phase is one MapReduce job (mr_job_run, collective),
 * announced to rank 0's observer and stoppable between phases. Findings,
 * tasks and usage are kept per rank and written to curator.db at the end
 * by each rank; counters and task counts are summed over ranks. Every
 * failure is agreed (mr_agree) so all ranks return the same code; nothing
 * is queued unless the whole scan succeeds on every rank.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "jobs/job_scan_int.h"
#include "storage/st_cloud.h"

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
};

const char *job_scan_counter_name(enum job_scan_counter c)
{
	return (unsigned)c < JC_NCOUNTERS ? counter_names[c] : "?";
}

static int dedup_container(const struct scan_ctx *c, uint32_t id)
{
	const struct st_container *ct = container_of(c, id);
	return ct && ct->dedup != ST_MODE_OFF;
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

/* Collective: tell rank 0's observer a phase starts; 1 if rank 0 asked to stop. */
static int phase(struct mr_ctx *mr, const struct job_scan_opts *o, int64_t scan, const char *name, int i, int n)
{
	int stop = 0;

	if (mr_rank(mr) == 0) {
		if (o->progress)
			o->progress(o->progress_arg, scan, name, i, n);
		stop = o->stop && *o->stop;
	}
	mr_bcast(mr, &stop, sizeof(stop), 0);
	return stop;
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

/* Write this rank's findings, tasks and usage to curator.db. */
static int flush_results(struct scan_ctx *c, struct job_db *db, struct st_msg *err)
{
	struct job_finding *jf = calloc(c->nf + 1, sizeof(*jf));
	int rc = 0;

	if (!jf)
		return st_fail(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < c->nf; i++) {
		jf[i].kind = c->f[i].kind;
		jf[i].egroup = c->f[i].egroup;
		jf[i].extent = c->f[i].extent[0] ? c->f[i].extent : NULL;
		jf[i].detail = c->f[i].detail;
	}
	rc = job_db_findings_add(db, c->scan_id, jf, (int)c->nf, err);
	free(jf);
	for (size_t i = 0; !rc && i < c->ntasks; i++)
		c->tasks[i].scan = c->scan_id;
	if (!rc && !c->o->dry_run)
		rc = job_db_tasks_add(db, c->tasks, (int)c->ntasks, err);
	for (int i = 0; !rc && i < c->ndisks; i++)
		if (c->uegroups[i])
			rc = job_db_usage_add(db, c->scan_id, c->disks[i].id, c->disks[i].tier, c->ubytes[i], c->uegroups[i],
					      err);
	return rc;
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

int job_scan_run(struct mr_ctx *mr, struct st_store *st, const struct job_scan_opts *o_in,
		 struct job_scan_result *res, struct st_msg *err)
{
	struct job_scan_opts o = *o_in;
	struct scan_ctx c = { .st = st, .m = st_store_meta(st), .o = &o, .rank = mr_rank(mr) };
	struct st_vdisk *vd = NULL;
	struct job_db *db = NULL;
	char out1[ST_PATH_MAX + 64], out2[ST_PATH_MAX + 64], out3[ST_PATH_MAX + 64];
	int nvd = 0, rc, nshards = st_meta_nshards(c.m);
	const char *dir = st_config_dir(st_store_config(st));
	struct mr_job j;
	struct mr_input refs_in;
	int have_refs_in = 0, lockfd = -1;

	if (o.sweep_grace < 0)
		o.sweep_grace = 3600;
	if (!o.compact_pct)
		o.compact_pct = 20;
	if (o.node_grace < 0)
		o.node_grace = 60;
	if (o.scrub_period < 0)
		o.scrub_period = 7 * 86400;
	memset(res, 0, sizeof(*res));
	c.now = st_now();
	st_hmap_init(&c.vd, 8, 1);

	/* rank 0 takes the scan lock and S0 and opens the scan record; everyone learns both */
	rc = job_db_open(dir, &db, err);
	if (!rc && c.rank == 0) {
		char lp[ST_PATH_MAX + 32];
		snprintf(lp, sizeof(lp), "%s/locks/scan.lock", dir);
		lockfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0)
			rc = st_fail(err, ST_EBUSY, "scan: another scan is running on this cluster");
	}
	if (!rc && c.rank == 0) {
		rc = st_config_scan_seq(st_store_config(st), &c.s0, err);
		if (!rc)
			rc = job_db_scan_begin(db, o.full ? "full" : "partial", o.dry_run, c.s0, mr_nranks(mr), &c.scan_id,
					       err);
	}
	rc = mr_agree(mr, rc);
	if (rc) {
		if (!err->text[0])
			st_fail(err, rc, "scan: %s", mr_ctx_errmsg(mr));
		goto done;
	}
	mr_bcast(mr, &c.s0, sizeof(c.s0), 0);
	mr_bcast(mr, &c.scan_id, sizeof(c.scan_id), 0);
	res->s0 = c.s0;
	res->scan_id = c.scan_id;

	rc = st_config_vdisks(st_store_config(st), 1, &vd, &nvd, err);
	if (!rc)
		rc = st_config_disks(st_store_config(st), &c.disks, &c.ndisks, err);
	if (!rc)
		rc = st_config_nodes(st_store_config(st), &c.nodes, &c.nnodes, err);
	if (!rc)
		rc = st_config_containers(st_store_config(st), &c.conts, &c.nconts, err);
	if (!rc) {
		char url[8];
		job_policy_init(&c);
		st_hmap_init(&c.rd, 8, 12);
		rc = st_config_reads(st_store_config(st), job_policy_load_read, &c.rd, err);
		c.cloud = st_config_setting_get(st_store_config(st), "cloud_url", url, sizeof(url), NULL) == 0;
	}
	for (int i = 0; !rc && i < nvd; i++) {
		uint8_t *s = st_hmap_put(&c.vd, &vd[i].id, NULL);
		if (!s)
			rc = -ENOMEM;
		else
			*s = (uint8_t)vd[i].state | (dedup_container(&c, vd[i].container) ? VD_DEDUP : 0);
		/* a deleted vdisk: its block rows (if any are left) and its config row go */
		if (o.full && c.rank == 0 && vd[i].state == ST_VDISK_DELETED)
			job_scan_task(&c, JT_BLOCKS_DELETE, vd[i].id, 0, 0, NULL, 0);
	}
	if (!rc) {
		c.ubytes = calloc((size_t)c.ndisks + 1, 8);
		c.uegroups = calloc((size_t)c.ndisks + 1, 8);
		if (!c.ubytes || !c.uegroups)
			rc = -ENOMEM;
	}
	rc = mr_agree(mr, rc);
	if (rc)
		goto fail;

	snprintf(out1, sizeof(out1), "%s/scratch/scan-%" PRId64 "-mr1", dir, c.scan_id);
	snprintf(out2, sizeof(out2), "%s/scratch/scan-%" PRId64 "-mr2", dir, c.scan_id);
	snprintf(out3, sizeof(out3), "%s/scratch/scan-%" PRId64 "-mr3", dir, c.scan_id);
	if (c.rank == 0) {
		char sd[ST_PATH_MAX + 16];
		snprintf(sd, sizeof(sd), "%s/scratch", dir);
		st_mkdir_p(sd);
	}
	mr_barrier(mr);

	if (o.full) {
		/* MR1 */
		if (phase(mr, &o, c.scan_id, "MR1 extent references", 1, 3))
			goto stopped;
		mr_job_init(&j);
		j.name = "MR1 extent references";
		j.ninputs = 2;
		input(&j.inputs[0], "vdisk block map", nshards, job_scan_read_blocks, &c, job_mr1_map_blocks);
		input(&j.inputs[1], "extent ID map", nshards, job_scan_read_extents, &c, job_mr1_map_extents);
		j.reduce = job_mr1_reduce;
		j.reduce_arg = &c;
		/* counts, the one 'E', and 'B's that MR2 sorts again: any order will do */
		j.values_unordered = 1;
		j.output_dir = out1;
		j.mem_budget = o.mem_budget ? o.mem_budget : mr_host_budget(mr);
		rc = mr_job_run(mr, &j);
		if (rc)
			goto mrfail;
		add_phase(res, "MR1 extent references", &j);
		c.refs_incomplete = mr_sum(mr, c.c[JC_CORRUPT_ROWS]) > 0;
		/* MR2 */
		if (phase(mr, &o, c.scan_id, "MR2 egroup reconciliation", 2, 3))
			goto stopped;
		if (c.cloud) { /* list the cloud tier only if it answers now (else no object is called missing) */
			int ok = 0;
			if (c.rank == 0) {
				struct st_cloud *cl;
				struct st_msg cerr = { "" };
				ok = st_store_cloud(st, &cl, &cerr) == 0 && st_cloud_check(cl, &cerr) == 0;
				if (!ok)
					job_scan_finding(&c, "cloud_unreachable", 0, NULL, "%s", cerr.text);
			}
			mr_bcast(mr, &ok, sizeof(ok), 0);
			c.cloud_ok = ok;
		}
		mr_job_init(&j);
		j.name = "MR2 egroup reconciliation";
		j.ninputs = 5;
		input(&j.inputs[0], "egroup map", nshards, job_scan_read_egroups, &c, job_mr2_map_egroups);
		rc = mr_output_input(out1, job_mr2_map_refs, &c, &refs_in);
		if (rc) {
			st_fail(err, rc, "scan: MR1 output missing");
			goto fail_agree;
		}
		have_refs_in = 1;
		j.inputs[1] = refs_in;
		input(&j.inputs[2], "egroup files", c.ndisks, job_scan_read_files, &c, job_mr2_map_files);
		input(&j.inputs[3], "chunk fingerprints", nshards, job_scan_read_fps, &c, job_mr2_map_fps);
		input(&j.inputs[4], "cloud objects", 1, job_scan_read_cloud, &c, job_mr2_map_files);
		j.reduce = job_mr2_reduce;
		j.reduce_arg = &c;
		j.output_dir = out2;
		j.mem_budget = o.mem_budget ? o.mem_budget : mr_host_budget(mr);
		rc = mr_job_run(mr, &j);
		if (rc)
			goto mrfail;
		add_phase(res, "MR2 egroup reconciliation", &j);
		/* MR3 */
		if (phase(mr, &o, c.scan_id, "MR3 placement", 3, 3))
			goto stopped;
		mr_output_input_release(&refs_in);
		have_refs_in = 0;
		mr_job_init(&j);
		j.name = "MR3 placement";
		j.ninputs = 1;
		rc = mr_output_input(out2, job_mr3_map, &c, &refs_in);
		if (rc) {
			st_fail(err, rc, "scan: MR2 output missing");
			goto fail_agree;
		}
		have_refs_in = 1;
		j.inputs[0] = refs_in;
		j.combine = job_mr3_combine;
		j.reduce = job_mr3_reduce;
		j.reduce_arg = &c;
		j.output_dir = NULL;
		j.nparts = 16;
		rc = mr_job_run(mr, &j);
		if (rc)
			goto mrfail;
		job_mr3_flush_dedup(&c);
		add_phase(res, "MR3 placement", &j);
	} else {
		if (phase(mr, &o, c.scan_id, "partial scan", 1, 1))
			goto stopped;
		mr_job_init(&j);
		j.name = "partial scan";
		j.ninputs = 1;
		input(&j.inputs[0], "egroup map", nshards, job_scan_read_egroups, &c, job_partial_map);
		j.combine = job_mr3_combine;
		j.reduce = job_mr3_reduce;
		j.reduce_arg = &c;
		j.nparts = 16;
		j.mem_budget = o.mem_budget ? o.mem_budget : mr_host_budget(mr);
		rc = mr_job_run(mr, &j);
		if (rc)
			goto mrfail;
		add_phase(res, "partial scan", &j);
	}
	/* a draining disk that no egroup uses any more can be marked removed */
	for (int i = 0; i < c.ndisks; i++) {
		int64_t eg = mr_sum(mr, (int64_t)c.uegroups[i]);
		if (c.rank == 0 && c.disks[i].draining && !c.disks[i].removed && eg == 0)
			job_scan_task(&c, JT_DISK_REMOVED, c.disks[i].id, 0, 0, NULL, 0);
	}
	/* results */
	rc = c.oom ? st_fail(err, -ENOMEM, "scan: out of memory") : flush_results(&c, db, err);
	rc = mr_agree(mr, rc);
	for (int i = 0; i < JC_NCOUNTERS; i++)
		res->counters[i] = mr_sum(mr, c.c[i]);
	{
		uint64_t local[JT_NKINDS] = { 0 };
		for (size_t i = 0; i < c.ntasks; i++)
			local[c.tasks[i].kind]++;
		for (int k = 0; k < JT_NKINDS; k++)
			res->tasks[k] = (uint64_t)mr_sum(mr, (int64_t)local[k]);
	}
	if (c.rank == 0) {
		char ph[2048], cn[4096];
		phases_json(res, ph, sizeof(ph));
		counters_json(res, cn, sizeof(cn));
		job_db_scan_end(db, c.scan_id, rc == 0, ph, cn, rc ? err->text : NULL, NULL);
	}
	goto done;

stopped:
	rc = st_fail(err, MR_EABORTED, "scan: stopped before its next phase (SIGTERM); nothing was queued");
	goto fail;
mrfail:
	st_fail(err, rc, "scan: %s", mr_ctx_errmsg(mr));
	goto fail;
fail_agree:
	rc = mr_agree(mr, rc);
fail:
	if (c.rank == 0 && c.scan_id)
		job_db_scan_end(db, c.scan_id, 0, NULL, NULL, err->text, NULL);
done:
	if (have_refs_in)
		mr_output_input_release(&refs_in);
	if (c.rank == 0) {
		char p[ST_PATH_MAX + 80];
		snprintf(p, sizeof(p), "%s/scratch/scan-%" PRId64 "-mr1", dir, c.scan_id);
		st_rm_rf(p);
		snprintf(p, sizeof(p), "%s/scratch/scan-%" PRId64 "-mr2", dir, c.scan_id);
		st_rm_rf(p);
	}
	for (size_t i = 0; i < c.ntasks; i++)
		job_task_release(&c.tasks[i]);
	free(c.tasks);
	for (int i = 0; i < c.ndd; i++) {
		free(c.dd[i].p);
		st_hmap_release(&c.dd[i].seen);
	}
	free(c.dd);
	free(c.f);
	free(c.disks);
	free(c.nodes);
	free(c.conts);
	free(c.ubytes);
	free(c.uegroups);
	mr_ctx_trim(mr); /* the engine's memory, kept between MR1..MR3 */
	for (int i = 0; i < SCR_N; i++)
		free(c.scr[i].p);
	free(c.gext);
	free(vd);
	st_hmap_release(&c.vd);
	st_hmap_release(&c.rd);
	free(c.disk_over);
	free(c.node_under);
	job_db_close(db);
	if (lockfd >= 0)
		close(lockfd);
	return rc;
}
