/*
 * job_scan_out: a scan's results to curator.db (job_scan_flush,
 * job_scan_int.h): findings, the tasks file of --tasks-out, and the tasks.
 *
 * DESIGN. Each file of the queue has one writer at a time (SQLite), and
 * the queue is split over JOB_DB_SHARDS files by a hash of (kind, target)
 * (jobs/job_db_int.h), written at once by one thread per file in
 * job_db_tasks_add_batched. Each file's tasks sorted by (kind, target) are
 * appended to its indexes, but a second rank's sorted run lands between
 * the first one's keys (targets are spread over the ranks by hash), which
 * on a million tasks made the second rank's half a third slower than the
 * first. So the ranks send their tasks to rank 0 (JR_QT records, one
 * gather) and rank 0 queues them all in one sorted run per file (the
 * others wait asleep, leaving their cores to its writer threads). If the
 * tasks cannot be gathered (more than 2 GiB of them, or no memory for the
 * copy, or rank 0 none to lay them out), the ranks queue their own in
 * turns, rank 0 first, as before.
 * Either way job_db_tasks_add_batched beats the scan row in every batch
 * (the fence) and honours a stop between batches.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/job_scan_int.h"

/*
 * Queue t[0..n) in batches (job_db_tasks_add_batched), counted in the scan
 * row; a stop request or the scan being declared dead ends it between
 * batches (err says how far it got). *added: the tasks it added.
 */
static int queue_tasks(struct scan_ctx *c, struct job_db *db, const struct job_task *t, size_t n, int64_t *added,
		       struct st_msg *err)
{
	struct job_db_add_opts ao = { .stop = c->o->stop, .scan = c->scan_id };
	int rc;

	*added = 0;
	if (n > INT32_MAX)
		return st_fail(err, -E2BIG, "scan: %zu tasks on rank %d: more than one queueing call takes", n, c->rank);
	rc = job_db_scan_to_queue(db, c->scan_id, (int64_t)n, err);
	if (!rc)
		rc = job_db_tasks_add_batched(db, t, (int)n, &ao, added, err);
	if (rc == -ECANCELED)
		return st_fail(err, rc, "scan: stopped while queueing its tasks (SIGTERM) on rank %d: %s; the next scan"
			       " queues the rest", c->rank, err->text);
	return rc;
}

/*
 * Append this rank's tasks to o->tasks_out (job_scan_opts), whole lines,
 * a buffer at a time with O_APPEND (the ranks' lines never interleave
 * within a line). 0 or -errno with err filled.
 */
static int write_tasks_out(struct scan_ctx *c, struct st_msg *err)
{
	char buf[16384];
	size_t off = 0;
	int fd, rc = 0;

	if (!c->o->tasks_out)
		return 0;
	fd = open(c->o->tasks_out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return st_fail(err, -errno, "%s: %s", c->o->tasks_out, strerror(errno));
	for (size_t i = 0; i <= c->ntasks && !rc; i++) {
		if (i == c->ntasks || off > sizeof(buf) - 128) {
			if (off && write(fd, buf, off) != (ssize_t)off)
				rc = st_fail(err, -EIO, "%s: %s", c->o->tasks_out, strerror(errno));
			off = 0;
		}
		if (i < c->ntasks) {
			const struct job_task *t = &c->tasks[i];
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s %" PRIx64 " %" PRIu64 " %d %" PRId64 "\n",
						job_task_kind_name(t->kind), t->target, t->version,
						t->priority ? t->priority : job_task_priority(t->kind), t->bytes);
		}
	}
	close(fd);
	return rc;
}

/* This rank's tasks as JR_QT records in one malloc'd buffer (*len bytes; NULL and 0 when none). 0 or -ENOMEM / -E2BIG. */
static int pack_tasks(const struct scan_ctx *c, uint8_t **out, size_t *len)
{
	size_t total = 0, off = 0;
	uint8_t *p;

	*out = NULL;
	*len = 0;
	for (size_t i = 0; i < c->ntasks; i++)
		total += JR_QT_LEN + c->tasks[i].arglen;
	if (total > INT32_MAX)
		return -E2BIG;
	if (!total)
		return 0;
	if (!(p = malloc(total)))
		return -ENOMEM;
	for (size_t i = 0; i < c->ntasks; i++) {
		const struct job_task *t = &c->tasks[i];
		uint32_t kind = (uint32_t)t->kind, arglen = (uint32_t)t->arglen;
		int32_t prio = t->priority;
		memcpy(p + off + JR_QT_KIND, &kind, 4);
		memcpy(p + off + JR_QT_PRIORITY, &prio, 4);
		memcpy(p + off + JR_QT_TARGET, &t->target, 8);
		memcpy(p + off + JR_QT_VERSION, &t->version, 8);
		memcpy(p + off + JR_QT_BYTES, &t->bytes, 8);
		memcpy(p + off + JR_QT_NODE, &t->node, 4);
		memcpy(p + off + JR_QT_ARGLEN, &arglen, 4);
		if (arglen)
			memcpy(p + off + JR_QT_LEN, t->arg, arglen);
		off += JR_QT_LEN + arglen;
	}
	*out = p;
	*len = total;
	return 0;
}

/*
 * Rank 0: its own tasks, then those of the records in buf[0..len), as one
 * array for job_db_tasks_add_batched (*out, *n; the arguments of the
 * others point into buf, which must outlive the array). 0, -ENOMEM, or
 * -EBADMSG for a record cut short (err filled).
 */
static int unpack_tasks(const struct scan_ctx *c, const uint8_t *buf, size_t len, struct job_task **out, size_t *n,
			struct st_msg *err)
{
	size_t count = 0, k = c->ntasks;
	struct job_task *t;

	for (size_t off = 0; off < len; count++) {
		uint32_t arglen;
		if (len - off < JR_QT_LEN)
			return st_fail(err, -EBADMSG, "scan: a gathered task record cut short at byte %zu of %zu", off, len);
		memcpy(&arglen, buf + off + JR_QT_ARGLEN, 4);
		if (len - off - JR_QT_LEN < arglen)
			return st_fail(err, -EBADMSG, "scan: a gathered task argument cut short at byte %zu of %zu", off, len);
		off += JR_QT_LEN + arglen;
	}
	t = malloc((c->ntasks + count + 1) * sizeof(*t));
	if (!t)
		return st_fail(err, -ENOMEM, "out of memory");
	if (c->ntasks)
		memcpy(t, c->tasks, c->ntasks * sizeof(*t)); /* shallow: the arguments stay c's */
	for (size_t off = 0; off < len; k++) {
		struct job_task *x = &t[k];
		uint32_t kind, arglen;
		int32_t prio;
		memset(x, 0, sizeof(*x));
		memcpy(&kind, buf + off + JR_QT_KIND, 4);
		memcpy(&prio, buf + off + JR_QT_PRIORITY, 4);
		memcpy(&x->target, buf + off + JR_QT_TARGET, 8);
		memcpy(&x->version, buf + off + JR_QT_VERSION, 8);
		memcpy(&x->bytes, buf + off + JR_QT_BYTES, 8);
		memcpy(&x->node, buf + off + JR_QT_NODE, 4);
		memcpy(&arglen, buf + off + JR_QT_ARGLEN, 4);
		if (kind >= JT_NKINDS) {
			free(t);
			return st_fail(err, -EBADMSG, "scan: a gathered task of unknown kind %u", kind);
		}
		x->kind = (enum job_task_kind)kind;
		x->priority = prio;
		x->scan = c->scan_id;
		x->arg = arglen ? (uint8_t *)(buf + off + JR_QT_LEN) : NULL;
		x->arglen = arglen;
		off += JR_QT_LEN + arglen;
	}
	*out = t;
	*n = k;
	return 0;
}

/*
 * Collective: every rank's tasks queued by rank 0 in one run; *gathered = 0
 * when they could not be gathered, or rank 0 found no memory to lay them
 * out (nothing queued either way: the caller queues in turns). Returns rc,
 * or rank 0's queueing error. CURATOR_QUEUE_NOMEM_TEST=1 makes rank 0's
 * layout fail as if out of memory (the tests of that way round).
 */
static int queue_gathered(struct scan_ctx *c, struct mr_ctx *mr, struct job_db *db, int rc, int *gathered,
			  struct st_msg *err)
{
	uint8_t *mine = NULL, *all = NULL;
	size_t len = 0, alllen = 0, n = 0;
	struct job_task *t = NULL;
	int g = 0;
	char done = 1; /* rank 0 to the others: 1 queued (or failed), 2 not laid out: queue in turns */

	if (c->rank != 0 && !rc)
		g = pack_tasks(c, &mine, &len);
	*gathered = !mr_agree(mr, g) && !mr_gather(mr, mine, len, 0, (void **)&all, &alllen);
	free(mine);
	if (!*gathered)
		return rc;
	if (c->rank == 0 && !rc) {
		const char *e = getenv("CURATOR_QUEUE_NOMEM_TEST");
		int urc = e && !strcmp(e, "1") ? -ENOMEM : unpack_tasks(c, all, alllen, &t, &n, err);
		if (urc == -ENOMEM) {
			done = 2;
			err->text[0] = 0;
		} else if (urc) {
			rc = urc;
		} else {
			rc = queue_tasks(c, db, t, n, &c->queued, err);
		}
		free(t);
	}
	free(all);
	mr_bcast_poll(mr, &done, 1, 0, 1000); /* the others wait asleep, not in MPI's progress loop */
	if (done == 2)
		*gathered = 0;
	return rc;
}

int job_scan_flush(struct scan_ctx *c, struct mr_ctx *mr, struct job_db *db, int rc, struct st_msg *err)
{
	struct job_finding *jf = rc ? NULL : calloc(c->nf + 1, sizeof(*jf));
	int gathered = 0;

	c->queued = 0;
	if (!rc && !jf)
		rc = st_fail(err, -ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < c->nf; i++) {
		jf[i].kind = c->f[i].kind;
		jf[i].egroup = c->f[i].egroup;
		jf[i].extent = c->f[i].extent[0] ? c->f[i].extent : NULL;
		jf[i].detail = c->f[i].detail;
	}
	if (!rc)
		rc = job_db_findings_add(db, c->scan_id, jf, (int)c->nf, err);
	free(jf);
	for (size_t i = 0; !rc && i < c->ntasks; i++)
		c->tasks[i].scan = c->scan_id;
	if (!rc)
		rc = write_tasks_out(c, err);
	if (!c->o->dry_run && mr_nranks(mr) > 1)
		rc = queue_gathered(c, mr, db, rc, &gathered, err);
	for (int turn = 0; turn < mr_nranks(mr) && !c->o->dry_run && !gathered; turn++) {
		char done = 1;
		if (turn == c->rank && !rc)
			rc = queue_tasks(c, db, c->tasks, c->ntasks, &c->queued, err);
		mr_bcast_poll(mr, &done, 1, turn, 1000);
	}
	for (int i = 0; !rc && !c->incremental && i < c->ndisks; i++) /* (an incremental scan saw a few egroups) */
		if (c->uegroups[i])
			rc = job_db_usage_add(db, c->scan_id, c->disks[i].id, c->disks[i].tier, c->ubytes[i], c->uegroups[i],
					      err);
	return rc;
}
