/*
 * cu_daemon: master/slave loop. See cu_daemon.h for the decisions.
 *
 * DESIGN. The master's main thread decides, scans and runs tasks; a
 * second thread on rank 0 (it never calls MPI) keeps the daemon row's
 * heartbeat fresh every second whatever the main thread is doing, and is
 * the observer that declares scans of dead processes failed
 * (job_db_scans_reap), each with its own curator.db handle. The two share
 * the daemon row's state under a mutex, and every write of the row is made
 * under it, so a write never goes back in time.
 */
#include "curator/cu_daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "curator/cu_log.h"
#include "storage/st_lease.h"
#include "jobs/job_db.h"
#include "jobs/job_scan.h"

volatile int cu_daemon_stop;

enum { OP_IDLE = 0, OP_STOP, OP_SCAN_FULL, OP_SCAN_PARTIAL, OP_SCAN_SELECTIVE, OP_TASKS };

enum { CMD_DISKS = 64 }; /* failed disks one selective scan takes; more: a partial scan */
enum { CMD_TRIMS = 32 }; /* trimmed vdisks one selective scan takes; more: the next one */

struct cmd {
	int op;
	char why[120];
	int ndisks;                /* OP_SCAN_SELECTIVE: the failed disks (a disk failed, a node went down) */
	uint32_t disks[CMD_DISKS];
	int ntrims;                /* OP_SCAN_SELECTIVE: punched blocks of live vdisks (config.db vdisk_trims) */
	struct st_trim trims[CMD_TRIMS];
};

static void on_signal(int sig)
{
	(void)sig;
	cu_daemon_stop = 1;
}

struct master {
	struct st_store *st;
	int64_t topo_sig; /* failed/draining disks and down nodes, to notice changes */
	struct job_db *db;
	struct job_daemon_state s; /* under mu once the beat thread runs */
	int64_t last_event;
	int want_partial, want_selective; /* events seen, their scan not run yet */
	uint32_t fdisks[CMD_DISKS];       /* disks of failure events not answered yet */
	int nfdisks, foverflow;
	uint32_t gdisks[CMD_DISKS];       /* disks of down nodes, to look at again when their grace ends */
	int ngdisks;
	struct st_trim trims[CMD_TRIMS];  /* trim notes taken from config.db, not answered yet */
	int ntrims;
	double grace_at;                  /* then (0: nothing waits) */
	double node_grace;
	double full_every, partial_every;
	/* the beat thread */
	pthread_t beat;
	pthread_mutex_t mu;
	volatile int beat_stop;
	int beating;
	const char *dir;
};

static double now_d(void)
{
	return (double)st_now();
}

static void heartbeat(struct master *m, const char *state)
{
	pthread_mutex_lock(&m->mu);
	m->s.heartbeat = now_d();
	if (state)
		snprintf(m->s.state, sizeof(m->s.state), "%s", state);
	job_db_daemon_put(m->db, &m->s, NULL);
	pthread_mutex_unlock(&m->mu);
}

/*
 * The beat thread (rank 0): every second, the daemon row's heartbeat, and
 * scans whose heartbeat has not moved for the TTL are declared failed.
 * Signals stay with the main thread.
 */
static void *beat_main(void *arg)
{
	struct master *m = arg;
	struct job_db *db = NULL;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (job_db_open(m->dir, &db, NULL))
		return NULL;
	while (!m->beat_stop) {
		int reaped = 0;
		pthread_mutex_lock(&m->mu);
		m->s.heartbeat = now_d();
		job_db_daemon_put(db, &m->s, NULL);
		pthread_mutex_unlock(&m->mu);
		if (!job_db_scans_reap(db, job_db_scan_ttl(), &reaped, NULL) && reaped)
			cu_log(CU_WARN, "%d scan(s) without a heartbeat for %.0f s marked failed (their processes are gone)",
			       reaped, job_db_scan_ttl());
		for (int i = 0; i < 10 && !m->beat_stop; i++)
			usleep(100000);
	}
	job_db_close(db);
	return NULL;
}

static int64_t topology_signature(struct st_store *st)
{
	struct st_disk *d;
	struct st_node *n;
	int nd, nn;
	int64_t sig = 0;

	if (!st_config_disks(st_store_config(st), &d, &nd, NULL)) {
		for (int i = 0; i < nd; i++)
			sig = sig * 31 + (d[i].ok ? 1 : 2) + (d[i].draining ? 4 : 0) + (d[i].removed ? 8 : 0);
		free(d);
	}
	if (!st_config_nodes(st_store_config(st), &n, &nn, NULL)) {
		for (int i = 0; i < nn; i++)
			sig = sig * 31 + (n[i].up ? 1 : 2);
		free(n);
	}
	return sig;
}

/* How many vdisks are deleted but not yet purged (their rows may hold space). */
static int deleted_vdisks(struct st_store *st)
{
	struct st_vdisk *v;
	int n, k = 0;

	if (st_config_vdisks(st_store_config(st), 1, &v, &n, NULL))
		return 0;
	for (int i = 0; i < n; i++)
		k += v[i].state == ST_VDISK_DELETED;
	free(v);
	return k;
}

static void add_disk(uint32_t *set, int *n, int *overflow, uint32_t disk)
{
	for (int i = 0; i < *n; i++)
		if (set[i] == disk)
			return;
	if (*n < CMD_DISKS)
		set[(*n)++] = disk;
	else if (overflow)
		*overflow = 1;
}

/*
 * One event (job_db_events_each): a deletion wants a selective scan; a
 * disk failure the selective scan of its replicas; a node down that of
 * its disks' replicas, now (copies to take elsewhere at once, such as
 * EC members) and again when its grace period is over (the copies that
 * waited for it); anything else (a node up, a drain) a partial scan.
 */
static int on_event(void *arg, int64_t id, const char *kind, const char *detail)
{
	struct master *m = arg;
	unsigned long what = strtoul(detail, NULL, 10);

	m->last_event = id;
	if (!strcmp(kind, "vdisk_deleted")) {
		m->want_selective++;
	} else if (!strcmp(kind, "disk_failed") && what) {
		add_disk(m->fdisks, &m->nfdisks, &m->foverflow, (uint32_t)what);
	} else if (!strcmp(kind, "node_down") && what) {
		struct st_disk *d;
		int nd;
		if (st_config_disks(st_store_config(m->st), &d, &nd, NULL)) {
			m->want_partial++;
			return 0;
		}
		for (int i = 0; i < nd; i++)
			if (d[i].node == (uint32_t)what && !d[i].removed) {
				add_disk(m->fdisks, &m->nfdisks, &m->foverflow, d[i].id);
				add_disk(m->gdisks, &m->ngdisks, &m->foverflow, d[i].id);
			}
		free(d);
		m->grace_at = now_d() + m->node_grace + 1;
	} else {
		m->want_partial++;
	}
	return 0;
}

/* A selective scan of the failed disks in set[0..n) (and of the deleted vdisks). */
static void selective_of(struct master *m, struct cmd *c, const uint32_t *set, int n, const char *what)
{
	int off;

	c->op = OP_SCAN_SELECTIVE;
	c->ndisks = n;
	memcpy(c->disks, set, (size_t)n * sizeof(*set));
	off = snprintf(c->why, sizeof(c->why), "%s:", what);
	for (int i = 0; i < n && off < (int)sizeof(c->why) - 12; i++)
		off += snprintf(c->why + off, sizeof(c->why) - (size_t)off, " %u", set[i]);
	if (m->want_selective)
		snprintf(c->why + off, sizeof(c->why) - (size_t)off, "; %d vdisk(s) deleted", m->want_selective);
	m->want_selective = 0;
	m->topo_sig = topology_signature(m->st);
}

/* Rank 0: what next? (decide() below adds the trims) */
static void decide_op(struct master *m, struct cmd *c)
{
	int64_t id;
	double ended;
	char kind[16];

	memset(c, 0, sizeof(*c));
	if (cu_daemon_stop) {
		c->op = OP_STOP;
		return;
	}
	/* schedules, from the end of the last scan of each kind */
	job_db_last_scan(m->db, "full", &id, &ended, NULL);
	pthread_mutex_lock(&m->mu);
	m->s.next_full = id ? ended + m->full_every : m->s.started;
	pthread_mutex_unlock(&m->mu);
	job_db_last_scan(m->db, "partial", &id, &ended, NULL);
	pthread_mutex_lock(&m->mu);
	m->s.next_partial = id ? ended + m->partial_every : m->s.started;
	pthread_mutex_unlock(&m->mu);
	if (!job_db_request_take(m->db, kind, sizeof(kind), NULL) && kind[0]) {
		c->op = !strcmp(kind, "full") ? OP_SCAN_FULL : !strcmp(kind, "selective") ? OP_SCAN_SELECTIVE
											  : OP_SCAN_PARTIAL;
		snprintf(c->why, sizeof(c->why), "requested by hand");
		return;
	}
	job_db_events_each(m->db, m->last_event, on_event, m, NULL);
	/* failures first (copies at risk): the replicas on the failed disks, by the replica index */
	if (m->foverflow) { /* too many disks for one selective scan: a partial scan reads everything */
		m->want_partial++;
		m->foverflow = 0;
		m->nfdisks = 0;
	}
	if (m->nfdisks && !m->want_partial) {
		selective_of(m, c, m->fdisks, m->nfdisks, "failed disk(s)");
		m->nfdisks = 0;
		return;
	}
	if (m->ngdisks && now_d() >= m->grace_at) {
		selective_of(m, c, m->gdisks, m->ngdisks, "down nodes' disk(s), grace over");
		m->ngdisks = 0;
		return;
	}
	if (m->want_partial) {
		m->nfdisks = 0; /* a partial scan with a disk failed reads every row: those too */
		c->op = OP_SCAN_PARTIAL;
		snprintf(c->why, sizeof(c->why), "%d failure event(s)", m->want_partial);
		m->want_partial = 0;
		m->topo_sig = topology_signature(m->st);
		return;
	}
	if (m->want_selective && now_d() >= m->s.next_full)
		m->want_selective = 0; /* a full scan is due: it frees the deleted vdisks too */
	if (m->want_selective) {
		c->op = OP_SCAN_SELECTIVE;
		snprintf(c->why, sizeof(c->why), "%d vdisk(s) deleted", m->want_selective);
		m->want_selective = 0;
		return;
	}
	if (m->ntrims && now_d() < m->s.next_full) {
		c->op = OP_SCAN_SELECTIVE;
		snprintf(c->why, sizeof(c->why), "%d vdisk(s) trimmed", m->ntrims);
		return;
	}
	{
		/* failures noticed by reads or the scrubber change config.db, not events */
		int64_t sig = topology_signature(m->st);
		if (sig != m->topo_sig) {
			m->topo_sig = sig;
			c->op = OP_SCAN_PARTIAL;
			snprintf(c->why, sizeof(c->why), "a disk or node changed state");
			return;
		}
	}
	if (now_d() >= m->s.next_full) {
		c->op = OP_SCAN_FULL;
		snprintf(c->why, sizeof(c->why), "scheduled");
		return;
	}
	if (now_d() >= m->s.next_partial) {
		c->op = OP_SCAN_PARTIAL;
		snprintf(c->why, sizeof(c->why), "scheduled");
		return;
	}
	{
		int pending = 0;
		if (!job_db_tasks_waiting(m->db, &pending, NULL) && pending)
			c->op = OP_TASKS;
	}
}

/*
 * Rank 0: what next? Trim notes are taken from config.db (deleted there as
 * taken) while none wait; a selective scan, whatever asked for it, answers
 * the ones waiting; a full scan finds their garbage too.
 */
static void decide(struct master *m, struct cmd *c)
{
	if (!cu_daemon_stop && m->ntrims == 0) {
		struct st_msg err = { "" };
		if (st_config_trims_take(st_store_config(m->st), m->trims, CMD_TRIMS, &m->ntrims, &err))
			cu_log(CU_WARN, "trim notes: %s (their garbage waits for the full scan)", err.text);
	}
	decide_op(m, c);
	if (c->op == OP_SCAN_SELECTIVE && m->ntrims) {
		c->ntrims = m->ntrims;
		memcpy(c->trims, m->trims, (size_t)m->ntrims * sizeof(*m->trims));
		if (!strstr(c->why, "trimmed")) {
			size_t l = strlen(c->why);
			snprintf(c->why + l, sizeof(c->why) - l, "; %d vdisk(s) trimmed", m->ntrims);
		}
		m->ntrims = 0;
	} else if (c->op == OP_SCAN_FULL) {
		m->ntrims = 0;
	}
}

static void on_phase(void *arg, int64_t scan, const char *phase, int index, int total)
{
	struct master *m = arg;

	pthread_mutex_lock(&m->mu);
	m->s.scan_id = scan;
	snprintf(m->s.phase, sizeof(m->s.phase), "%s", phase);
	m->s.phase_index = index;
	m->s.phases = total;
	m->s.phase_started = now_d();
	pthread_mutex_unlock(&m->mu);
	heartbeat(m, "scanning");
	cu_log(CU_INFO, "scan %" PRId64 ": phase %d/%d %s", scan, index, total, phase);
}

int cu_daemon_run(struct mr_ctx *mr, struct st_store *st, const struct cu_daemon_opts *o, struct st_msg *err)
{
	const char *dir = st_config_dir(st_store_config(st));
	struct master m = { 0 };
	struct sigaction sa;
	int rank = mr_rank(mr), rc = 0;

	pthread_mutex_init(&m.mu, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	m.full_every = (double)(o->full_every ? o->full_every : 6 * 3600);
	m.partial_every = (double)(o->partial_every ? o->partial_every : 3600);
	m.node_grace = (double)(o->node_grace > 0 ? o->node_grace : 60); /* the scans' default */
	if (rank == 0) {
		/* the master's liveness is its lease (kind master), never its pid or host (display only) */
		st_store_set_holder(st, ST_LEASE_MASTER, "daemon master");
		rc = st_store_lease(st, NULL, err);
		if (!rc)
			rc = job_db_open(dir, &m.db, err);
		if (!rc) {
			int n;
			m.s.pid = getpid();
			gethostname(m.s.host, sizeof(m.s.host));
			m.s.ranks = mr_nranks(mr);
			m.s.started = now_d();
			m.st = st;
			m.topo_sig = topology_signature(st);
			job_db_events_since(m.db, &m.last_event, &n, NULL); /* only new events trigger ... */
			m.want_selective = deleted_vdisks(st); /* ... but deletions not yet collected are answered now */
			heartbeat(&m, "idle");
			m.dir = dir;
			m.beating = pthread_create(&m.beat, NULL, beat_main, &m) == 0;
			cu_log(CU_INFO, "curator daemon: master on %s, %d rank(s), full scans every %.0f s, partial every %.0f s",
			       m.s.host, m.s.ranks, m.full_every, m.partial_every);
		}
	}
	rc = mr_agree(mr, rc);
	while (!rc) {
		struct cmd c;
		if (rank == 0)
			decide(&m, &c);
		/* slaves wait for the decision without spinning: 10 ms polls */
		rc = mr_bcast_poll(mr, &c, sizeof(c), 0, 10000);
		if (rc)
			break;
		if (c.op == OP_STOP)
			break;
		if (c.op == OP_SCAN_FULL || c.op == OP_SCAN_PARTIAL || c.op == OP_SCAN_SELECTIVE) {
			struct job_scan_opts so = { .full = c.op == OP_SCAN_FULL, .selective = c.op == OP_SCAN_SELECTIVE,
						    .disks = c.disks, .ndisks = c.op == OP_SCAN_SELECTIVE ? c.ndisks : 0,
						    .trims = c.trims, .ntrims = c.op == OP_SCAN_SELECTIVE ? c.ntrims : 0,
						    .mem_budget = o->mem_budget,
						    .sweep_grace = -1, .node_grace = o->node_grace ? o->node_grace : -1,
						    .scrub_period = o->scrub_period ? o->scrub_period : -1,
						    .progress = on_phase, .progress_arg = &m,
						    .stop = &cu_daemon_stop };
			struct job_scan_result res;
			struct st_msg serr = { "" };
			int src;
			if (rank == 0)
				cu_log(CU_INFO, "%s scan (%s)", so.full ? "full" : so.selective ? "selective" : "partial",
				       c.why);
			src = job_scan_run(mr, st, &so, &res, &serr);
			if (rank == 0) {
				if (src)
					cu_log(CU_WARN, "scan failed: %s", serr.text);
				else
					cu_log(CU_INFO, "scan %" PRId64 " done: %" PRId64 " dead extents, %" PRId64
					       " refcount errors, tasks queued", res.scan_id, res.counters[JC_DEAD_EXTENTS],
					       res.counters[JC_REFCOUNT_LOW] + res.counters[JC_DANGLING]);
				pthread_mutex_lock(&m.mu);
				m.s.scan_id = 0;
				m.s.phase[0] = 0;
				pthread_mutex_unlock(&m.mu);
				heartbeat(&m, "idle");
			}
			c.op = OP_TASKS; /* tasks after every scan (a stopping rank claims none) */
		}
		if (c.op == OP_TASKS) {
			struct job_run_opts ro = o->tasks;
			struct job_run_result rr;
			struct st_msg terr = { "" };
			ro.stop = &cu_daemon_stop;
			if (rank == 0)
				heartbeat(&m, "tasks");
			if (job_tasks_run(mr, st, &ro, &rr, &terr) && rank == 0)
				cu_log(CU_WARN, "tasks: %s", terr.text);
			else if (rank == 0 && rr.bytes_reclaimed)
				cu_log(CU_INFO, "tasks reclaimed %" PRId64 " bytes", rr.bytes_reclaimed);
			if (rank == 0)
				heartbeat(&m, "idle");
		}
		if (c.op == OP_IDLE && rank == 0) {
			heartbeat(&m, NULL);
			usleep((useconds_t)((o->tick > 0 ? o->tick : 1.0) * 1e6));
		}
	}
	if (rank == 0) {
		cu_log(CU_INFO, "curator daemon: stopping");
		if (m.beating) {
			m.beat_stop = 1;
			pthread_join(m.beat, NULL);
		}
		m.s.heartbeat = now_d();
		snprintf(m.s.state, sizeof(m.s.state), "stopped");
		job_db_daemon_put(m.db, &m.s, NULL);
		job_db_close(m.db);
	}
	pthread_mutex_destroy(&m.mu);
	return rc;
}
