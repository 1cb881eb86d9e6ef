/*
 * The curator service against real processes: a daemon under mpiexec -n 2
 * with intervals of seconds runs its scheduled scans, picks up a requested
 * scan and a failure-triggered one, and exits on SIGTERM within seconds;
 * on a generated cluster (tools/gen_cluster) `status` answers within 1 s
 * and shows the queueing's progress while the daemon queues its tasks,
 * SIGTERM stops it within 5 s mid-queueing and mid-phase, and a scan
 * killed with -9 is marked failed once its heartbeat has stood still for
 * the TTL, after which the next scan runs; the report formats pass jq,
 * promtool and a headless Chromium screenshot; explain tells a collected
 * extent, a protected one and one the safety rule skipped; with the daemon
 * on its defaults a deleted 128 MiB vdisk is reclaimed within 60 s (a
 * selective scan, no full one), its neighbours in snapshot and clone
 * chains intact; freeing shows in status, vdisk list and the report.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <libgen.h>
#include <unistd.h>

#include "storage/st_config.h"
#include "storage/st_lease.h"
#include "storage/st_store.h"
#include "tests/helpers.h"

#define RUN(dir, ...) th_run(dir, NULL, NULL, NULL, __VA_ARGS__, NULL)

static const char *cluster(void)
{
	const char *dir = th_tmpdir("svc");
	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "ssd:1x256M"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "c", "--size", "8M"), 0);
	return dir;
}

static void write_random(const char *dir, const char *vdisk, const char *off, size_t len, uint64_t seed)
{
	char path[2048];
	void *buf = malloc(len);
	snprintf(path, sizeof(path), "%s/data-%llu", dir, (unsigned long long)seed);
	th_fill(buf, len, seed);
	cr_assert_eq(th_write_file(path, buf, len), 0);
	free(buf);
	cr_assert_eq(RUN(dir, "vdisk", "write", vdisk, "--offset", off, path), 0);
}

static int64_t scans_where(const char *dir, const char *where)
{
	char p[2048], q[512];
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t n = 0;

	snprintf(p, sizeof(p), "%s/curator.db", dir);
	if (sqlite3_open(p, &db) != SQLITE_OK)
		return 0;
	snprintf(q, sizeof(q), "SELECT count(*) FROM scans WHERE %s", where);
	if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return n;
}

static int wait_for(const char *dir, const char *where, int64_t want, int secs)
{
	for (int i = 0; i < secs * 20; i++) {
		if (scans_where(dir, where) >= want)
			return 1;
		usleep(50000);
	}
	return 0;
}

/* The daemon under test (its process group): killed if the test fails before stopping it. */
static pid_t daemon_pid;

static void daemon_reap(void)
{
	if (daemon_pid > 0) {
		kill(-daemon_pid, SIGKILL);
		waitpid(daemon_pid, NULL, 0);
		daemon_pid = 0;
	}
}

Test(service, daemon_schedules_requests_triggers_and_stops, .timeout = 120, .fini = daemon_reap)
{
	const char *dir = cluster();
	char logf[2048];
	pid_t pid;
	int st;
	time_t t0;

	write_random(dir, "v", "0", 4 << 20, 1);
	snprintf(logf, sizeof(logf), "%s/daemon.log", dir);
	pid = fork();
	if (pid == 0) {
		int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		setpgid(0, 0);
		execlp(getenv("MPIEXEC") ? getenv("MPIEXEC") : "mpiexec.mpich", "mpiexec", "-n", "2", th_curator(), "-C", dir,
		       "daemon", "--full-every", "60s", "--partial-every", "2s", "--tick", "0.2", (char *)NULL);
		_exit(127);
	}
	daemon_pid = pid;
	/*
	 * scheduled: a full scan at start, then partial ones every 2 s (the
	 * next full one is a minute away: only a request runs one sooner)
	 */
	cr_assert(wait_for(dir, "kind = 'full' AND state = 'done'", 1, 20), "no scheduled full scan");
	cr_assert(wait_for(dir, "kind = 'partial' AND state = 'done'", 2, 20), "no scheduled partial scans");
	{
		char *out = NULL;
		th_run(dir, NULL, &out, NULL, "status", NULL);
		cr_assert(strstr(out, "master          up"), "status: %s", out);
		cr_assert(strstr(out, "next partial"), "status: %s", out);
		free(out);
	}
	/* requested by hand: an extra full scan, long before the schedule */
	{
		int64_t before = scans_where(dir, "kind = 'full'");
		char *out = NULL;
		cr_assert_eq(th_run(dir, NULL, &out, NULL, "scan", "full", "--request", NULL), 0);
		free(out);
		cr_assert(wait_for(dir, "kind = 'full' AND state = 'done'", before + 1, 20), "the requested scan did not run");
	}
	/* a failed disk triggers a scan within seconds (a selective one of its replicas) */
	{
		int64_t before = scans_where(dir, "kind = 'selective'");
		cr_assert_eq(RUN(dir, "disk", "fail", "3"), 0);
		/*
		 * The daemon may see the disk's new state before its event (a
		 * scan "a disk or node changed state"), and a scheduled partial
		 * scan may end first: wait for the log to name the failure.
		 */
		char *log = NULL;
		size_t n;
		for (int i = 0; i < 150; i++) {
			free(log);
			log = th_read_file(logf, &n);
			if (log && strstr(log, "failed disk(s): 3"))
				break;
			usleep(100000);
		}
		cr_assert(log && strstr(log, "failed disk(s): 3"), "the daemon log does not say why: %s", log ? log : "");
		cr_assert(strstr(log, "requested by hand"), "%s", log);
		free(log);
		cr_assert(wait_for(dir, "kind = 'selective' AND state = 'done'", before + 1, 10), "no failure-triggered scan");
	}
	/* SIGTERM to mpiexec: every rank exits within seconds */
	kill(pid, SIGTERM);
	t0 = time(NULL);
	for (;;) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		if (time(NULL) - t0 > 10) {
			kill(-pid, SIGKILL);
			waitpid(pid, &st, 0);
			cr_assert_fail("the daemon did not exit within 10 s of SIGTERM");
		}
		usleep(50000);
	}
	daemon_pid = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "daemon exit status %d", st);
	cr_assert_eq(scans_where(dir, "state = 'running'"), 0, "a scan was left running");
	{
		char *out = NULL;
		int rc = th_run(dir, NULL, &out, NULL, "status", NULL);
		cr_assert_eq(rc, 1, "a failed disk is a health warning");
		cr_assert(strstr(out, "master          stopped"), "%s", out);
		cr_assert(strstr(out, "disk 3"), "%s", out);
		free(out);
	}
}

/* --- a daemon on a generated cluster ------------------------------------ */

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One number from curator.db (-1 when there is no row). */
static int64_t db_int(const char *dir, const char *sql)
{
	char p[2048];
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t n = -1;

	snprintf(p, sizeof(p), "%s/curator.db", dir);
	if (access(p, F_OK))
		return -1;
	db = th_curator_db(dir);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
			n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return n;
}

/* A cluster from tools/gen_cluster (next to the curator binary's build) of `extents`, P % of its vdisks deleted. */
static const char *gen_cluster(const char *tag, int extents, int deleted)
{
	const char *dir = th_tmpdir(tag);
	char bin[2048], cmd[8192];

	snprintf(bin, sizeof(bin), "%s", th_curator());
	snprintf(cmd, sizeof(cmd), "rmdir %s && %s/../tools/gen_cluster %s --extents %d --deleted %d >/dev/null", dir,
		 dirname(bin), dir, extents, deleted);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	return dir;
}

/* The daemon under mpiexec -n 2 (its own process group), with env "NAME=VALUE" entries (NULL-terminated). */
static pid_t start_daemon(const char *dir, const char *const *env)
{
	char logf[2048];
	pid_t pid;

	snprintf(logf, sizeof(logf), "%s/daemon.log", dir);
	pid = fork();
	if (pid == 0) {
		int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		setpgid(0, 0);
		for (int i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execlp(getenv("MPIEXEC") ? getenv("MPIEXEC") : "mpiexec.mpich", "mpiexec", "-n", "2", th_curator(), "-C", dir,
		       "daemon", "--full-every", "1h", "--partial-every", "1h", "--tick", "0.2", (char *)NULL);
		_exit(127);
	}
	daemon_pid = pid;
	return pid;
}

/* SIGTERM to mpiexec: the seconds until every rank exited (status 0), at most `limit` (else a failed test). */
static double stop_daemon(pid_t pid, double limit)
{
	double t0 = mono();
	int st;

	kill(pid, SIGTERM);
	for (;;) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		if (mono() - t0 > limit) {
			kill(-pid, SIGKILL);
			waitpid(pid, &st, 0);
			daemon_pid = 0;
			cr_assert_fail("the daemon did not exit within %.0f s of SIGTERM", limit);
		}
		usleep(20000);
	}
	daemon_pid = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "daemon exit status %d", st);
	return mono() - t0;
}

/* `curator status`: its output (malloc'd) and how long it took, which must be under a second. */
static char *status_within_1s(const char *dir)
{
	char *out = NULL;
	double t0 = mono(), secs;

	th_run(dir, NULL, &out, NULL, "status", NULL);
	secs = mono() - t0;
	cr_assert_lt(secs, 1.0, "status took %.2f s: %s", secs, out);
	return out;
}

Test(service, status_answers_while_queueing_and_sigterm_stops_it, .timeout = 180, .fini = daemon_reap)
{
	/* every vdisk deleted: the first full scan queues an egroup_delete per egroup (20 k), slowed to ~10 s */
	const char *dir = gen_cluster("svc-queue", 200000, 100);
	const char *env[] = { "CURATOR_QUEUE_BATCH=100", "CURATOR_QUEUE_DELAY_US=100000", NULL };
	pid_t pid = start_daemon(dir, env);
	int64_t seen = 0, last = -1, total;
	double t0 = mono();
	char *out;

	while (seen < 3 && mono() - t0 < 90) {
		char *q;
		out = status_within_1s(dir);
		q = strstr(out, "queueing tasks, ");
		if (q) {
			cr_assert(strstr(out, "master          up"), "a busy master must not look down: %s", out);
			long long n = atoll(q + strlen("queueing tasks, "));
			cr_assert(strstr(q, " of ") && strstr(q, "queued"), "%s", out);
			if (n > last) { /* progress, not a frozen ETA */
				seen++;
				last = n;
			}
		}
		free(out);
		usleep(300000);
	}
	cr_assert_geq(seen, 3, "status never showed the queueing move");
	cr_assert_lt(stop_daemon(pid, 5), 5.0);
	total = db_int(dir, "SELECT count(*) FROM tasks");
	cr_assert_eq(db_int(dir, "SELECT count(*) FROM scans WHERE state = 'running'"), 0, "a scan was left running");
	cr_assert_eq(db_int(dir, "SELECT count(*) FROM scans WHERE kind = 'full' AND state = 'failed'"
				 " AND error LIKE '%stopped while queueing%'"), 1);
	cr_assert(total > 0 && total < 20000, "%lld tasks queued: the stop was not between batches", (long long)total);
}

Test(service, sigterm_stops_a_scan_within_its_phase, .timeout = 180, .fini = daemon_reap)
{
	const char *dir = gen_cluster("svc-phase", 200000, 0);
	const char *env[] = { "CURATOR_SCAN_POLL_DELAY_US=30000", NULL }; /* a phase takes many seconds */
	pid_t pid = start_daemon(dir, env);
	double t0 = mono();
	char *out = NULL;

	while (mono() - t0 < 60 && db_int(dir, "SELECT max(records) FROM scans WHERE state = 'running'") <= 0)
		usleep(100000);
	out = status_within_1s(dir);
	cr_assert(strstr(out, "running scan    1: phase 1/3 MR1 extent references, "), "%s", out);
	cr_assert(strstr(out, "records read"), "%s", out);
	free(out);
	cr_assert_lt(stop_daemon(pid, 5), 5.0);
	cr_assert_eq(db_int(dir, "SELECT count(*) FROM scans WHERE state = 'running'"), 0);
	cr_assert_eq(db_int(dir, "SELECT count(*) FROM scans WHERE state = 'failed' AND error LIKE '%stopped during MR1%'"),
		     1);
	cr_assert_eq(db_int(dir, "SELECT count(*) FROM tasks"), 0, "a stopped scan queued tasks");
}

Test(service, a_scan_killed_with_sigkill_is_failed_after_the_ttl, .timeout = 240, .fini = daemon_reap)
{
	const char *dir = gen_cluster("svc-kill", 100000, 0);
	const char *env[] = { "CURATOR_SCAN_TTL=5s", NULL };
	const char *scan[] = { "scan", "full", NULL };
	char where[128];
	pid_t hand, pid;
	int64_t id;
	double t0 = mono(), started;
	int st;

	/* a scan by hand, slowed, killed with -9 once it beats */
	setenv("CURATOR_SCAN_POLL_DELAY_US", "30000", 1);
	hand = th_spawn(dir, NULL, NULL, scan);
	unsetenv("CURATOR_SCAN_POLL_DELAY_US");
	while (mono() - t0 < 90 && db_int(dir, "SELECT max(heartbeat) FROM scans WHERE state = 'running'") < 3)
		usleep(50000);
	id = db_int(dir, "SELECT max(id) FROM scans WHERE state = 'running'");
	cr_assert_gt(id, 0, "the scan by hand never beat");
	kill(hand, SIGKILL);
	waitpid(hand, &st, 0);
	cr_assert(WIFSIGNALED(st), "the scan by hand ended before the kill");
	cr_assert_eq(scans_where(dir, "state = 'running'"), 1, "the killed scan's row is left running");
	/* a daemon: its first full scan runs (the lock of the dead one is free), and it declares the dead one failed */
	started = mono();
	pid = start_daemon(dir, env);
	snprintf(where, sizeof(where), "id = %lld AND state = 'failed' AND error LIKE '%%process is gone%%'", (long long)id);
	cr_assert(wait_for(dir, where, 1, 40), "the killed scan was not marked failed");
	cr_assert_geq(mono() - started, 4.0, "marked failed before its heartbeat stood still for the TTL");
	cr_assert(wait_for(dir, "kind = 'full' AND state = 'done'", 1, 60), "the next scan did not run");
	cr_assert_eq(scans_where(dir, "error LIKE '%process is gone%'"), 1, "a live scan was declared dead");
	stop_daemon(pid, 10);
	cr_assert_eq(scans_where(dir, "state = 'running'"), 0);
}

static const char *gc_cluster_with_history(void)
{
	const char *dir = cluster();
	write_random(dir, "v", "0", 6 << 20, 2);
	cr_assert_eq(RUN(dir, "vdisk", "snapshot", "v", "s"), 0);
	for (int i = 0; i < 3; i++) {
		char off[16];
		snprintf(off, sizeof(off), "%dM", i * 2);
		write_random(dir, "v", off, 1 << 20, 10 + (uint64_t)i);
		cr_assert_eq(RUN(dir, "scan", "full"), 0);
		cr_assert_eq(RUN(dir, "tasks", "run"), 0);
		cr_assert_eq(RUN(dir, "scan", "partial"), 0);
	}
	cr_assert_eq(RUN(dir, "vdisk", "delete", "s"), 0);
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	return dir;
}

static int sh(const char *fmt, const char *a, const char *b)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), fmt, a, b);
	return system(cmd);
}

Test(service, report_formats_check_out, .timeout = 180)
{
	const char *dir = gc_cluster_with_history();
	char json[2048], prom[2048], html[2048], png[2048], blank[2048], blankpng[2048], prof[2048];
	struct stat a, b;

	snprintf(json, sizeof(json), "%s/report.json", dir);
	snprintf(prom, sizeof(prom), "%s/report.prom", dir);
	snprintf(html, sizeof(html), "%s/report.html", dir);
	snprintf(png, sizeof(png), "%s/report.png", dir);
	snprintf(blank, sizeof(blank), "%s/blank.html", dir);
	snprintf(blankpng, sizeof(blankpng), "%s/blank.png", dir);
	snprintf(prof, sizeof(prof), "%s/chromium-profile", dir);
	cr_assert_eq(RUN(dir, "report", "--format", "json", "--output", json), 0);
	cr_assert_eq(RUN(dir, "report", "--format", "prom", "--output", prom), 0);
	cr_assert_eq(RUN(dir, "report", "--format", "html", "--output", html), 0);
	cr_assert_eq(RUN(dir, "report", "--last", "--format", "text", "--output", "/dev/null"), 0);
	/* JSON: valid for jq, with the documented fields */
	cr_assert_eq(sh("jq -e '.scan > 0 and .kind == \"full\" and (.phases | length) == 4 and .phases[3].phase == \"queueing tasks\" and .counters.dead_extents >= 0"
			" and (.usage | length) > 0' %s >/dev/null%s",
			json, ""),
		     0, "jq rejected the JSON report");
	/* Prometheus text: promtool's linter */
	cr_assert_eq(sh("promtool check metrics < %s%s", prom, ""), 0, "promtool rejected the metrics");
	cr_assert_eq(sh("grep -q '^curator_scan_dead_extents ' %s%s", prom, ""), 0);
	/* HTML: a real browser renders it, and it is not blank */
	th_write_file(blank, "<!DOCTYPE html><html><body></body></html>", 41);
	for (int k = 0; k < 2; k++) {
		char cmd[8192];
		snprintf(cmd, sizeof(cmd),
			 "timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
			 " --disable-background-networking --disable-component-update --disable-sync --user-data-dir=%s-%d"
			 " --window-size=1000,1400 --screenshot=%s file://%s >/dev/null 2>&1",
			 prof, k, k ? png : blankpng, k ? html : blank);
		cr_assert_eq(system(cmd), 0, "chromium failed");
	}
	cr_assert_eq(stat(png, &a), 0, "no screenshot");
	cr_assert_eq(stat(blankpng, &b), 0);
	cr_assert_gt(a.st_size, 4 * b.st_size, "the report renders blank (%lld vs %lld bytes)", (long long)a.st_size,
		     (long long)b.st_size);
	cr_assert_eq(sh("grep -q '<svg' %s%s", html, ""), 0, "no inline SVG charts");
	cr_assert_neq(sh("grep -qE '(src|href)=.http' %s%s", html, ""), 0, "the page must be self-contained");
}

/* The first extent listed for block `blk` by `explain vdisk`. */
static char *extent_of_block(const char *dir, const char *vdisk, int blk)
{
	char *out = NULL, want[32], *p, *id = calloc(1, 96);
	th_run(dir, NULL, &out, NULL, "explain", "vdisk", vdisk, NULL);
	snprintf(want, sizeof(want), "block %d +", blk);
	p = strstr(out, want);
	cr_assert(p, "block %d not listed: %s", blk, out);
	p = strstr(p, "extent ");
	cr_assert(p);
	sscanf(p + 7, "%95s", id);
	free(out);
	return id;
}

Test(service, explain_collected_protected_and_skipped, .timeout = 120)
{
	const char *dir = cluster();
	char *collected, *shared, *skipped, *out = NULL;
	struct st_config *cfg;
	struct st_msg err;
	struct st_lease *lease;
	uint64_t seq;
	int64_t op;

	write_random(dir, "v", "0", 4 << 20, 3);
	cr_assert_eq(RUN(dir, "vdisk", "create", "w", "--container", "c", "--size", "4M"), 0);
	write_random(dir, "w", "0", 1 << 20, 6);
	collected = extent_of_block(dir, "w", 0);
	shared = extent_of_block(dir, "v", 2);
	skipped = extent_of_block(dir, "v", 1);
	cr_assert_eq(RUN(dir, "vdisk", "snapshot", "v", "keep"), 0);
	write_random(dir, "w", "0", 1 << 20, 4); /* w's old block 0 is garbage */
	/* an operation in flight holds S0 back; a snapshot taken after it stamps its egroups */
	cr_assert_eq(st_config_open(dir, &cfg, &err), 0);
	cr_assert_eq(st_lease_acquire(cfg, ST_LEASE_WRITER, "test", &lease, &err), 0, "%s", err.text);
	cr_assert_eq(st_config_op_begin(cfg, st_lease_id(lease), "test", &seq, &op, &err), 0);
	cr_assert_eq(RUN(dir, "vdisk", "snapshot", "v", "late"), 0);
	write_random(dir, "v", "1M", 1 << 20, 5); /* block 1's old extent: referenced only by 'late' and 'keep' */
	cr_assert_eq(RUN(dir, "vdisk", "delete", "late"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "delete", "keep"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "snapshot", "v", "keep2"), 0);
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);

	th_run(dir, NULL, &out, NULL, "explain", "extent", collected, NULL);
	cr_assert(strstr(out, "collected") && strstr(out, "done"), "collected extent: %s", out);
	free(out);
	th_run(dir, NULL, &out, NULL, "explain", "extent", shared, NULL);
	cr_assert(strstr(out, "referenced by 2 block row(s) in 2 vdisk(s)") && strstr(out, "live"), "protected extent: %s", out);
	free(out);
	th_run(dir, NULL, &out, NULL, "explain", "extent", skipped, NULL);
	cr_assert(strstr(out, "changed after scan") && strstr(out, "next scan"), "safety-rule extent: %s", out);
	free(out);
	/* once the operation ends, the next scan collects it */
	cr_assert_eq(st_config_op_end(cfg, op, &err), 0);
	st_lease_release(lease);
	st_config_free(cfg);
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	th_run(dir, NULL, &out, NULL, "explain", "extent", skipped, NULL);
	cr_assert(strstr(out, "collected"), "after the operation ended: %s", out);
	free(out);
	cr_assert_eq(th_run(dir, NULL, &out, NULL, "explain", "extent", "nonsense", NULL), 2);
	free(out);
	free(collected);
	free(shared);
	free(skipped);
}

/* --- space back in seconds ---------------------------------------------- */

static long long egroup_bytes(const char *dir)
{
	return th_sh_number("find %s/disks -path '*/egroups/*' -type f -printf '%%s\\n' | awk '{s+=$1} END {print s+0}'",
			    dir);
}

/* A cluster with vdisk "gone" (size_mb of random bytes), "keep" with a snapshot and a clone of it. */
static const char *reclaim_cluster(int size_mb)
{
	const char *dir = th_tmpdir("reclaim");
	char sz[16];

	snprintf(sz, sizeof(sz), "%dM", size_mb);
	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "ssd:1x1G"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "gone", "--container", "c", "--size", sz), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "keep", "--container", "c", "--size", "8M"), 0);
	write_random(dir, "gone", "0", (size_t)size_mb << 20, 7);
	write_random(dir, "keep", "0", 8 << 20, 8);
	cr_assert_eq(RUN(dir, "vdisk", "snapshot", "keep", "keep@1"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "clone", "keep@1", "kc"), 0);
	write_random(dir, "keep", "1M", 2 << 20, 9);
	write_random(dir, "kc", "3M", 2 << 20, 10);
	return dir;
}

/* vdisk `name` reads back as data-<seed> files written over zeros at the offsets given (MiB), in order. */
static void expect_reads(const char *dir, const char *name, int n, const int *off_mb, const uint64_t *seeds)
{
	char out[2048], src[2048], cmd[8192];

	snprintf(out, sizeof(out), "%s/read-%s", dir, name);
	cr_assert_eq(RUN(dir, "vdisk", "read", name, "--output", out), 0);
	snprintf(cmd, sizeof(cmd), "head -c 8M /dev/zero > %s/model-%s", dir, name);
	cr_assert_eq(system(cmd), 0);
	for (int i = 0; i < n; i++) {
		snprintf(src, sizeof(src), "%s/data-%llu", dir, (unsigned long long)seeds[i]);
		snprintf(cmd, sizeof(cmd), "dd if=%s of=%s/model-%s bs=1M seek=%d conv=notrunc status=none", src, dir, name,
			 off_mb[i]);
		cr_assert_eq(system(cmd), 0);
	}
	snprintf(cmd, sizeof(cmd), "cmp -s %s %s/model-%s", out, dir, name);
	cr_assert_eq(system(cmd), 0, "vdisk %s does not read back", name);
}

static void expect_others_intact(const char *dir)
{
	static const int keep_off[] = { 0, 1 }, snap_off[] = { 0 }, kc_off[] = { 0, 3 };
	static const uint64_t keep_seed[] = { 8, 9 }, snap_seed[] = { 8 }, kc_seed[] = { 8, 10 };
	char *out = NULL;

	expect_reads(dir, "keep", 2, keep_off, keep_seed);
	expect_reads(dir, "keep@1", 1, snap_off, snap_seed);
	expect_reads(dir, "kc", 2, kc_off, kc_seed);
	cr_assert_eq(th_run(dir, NULL, &out, NULL, "fsck", "--quiet", NULL), 0, "fsck: %s", out);
	free(out);
}

Test(service, a_deleted_vdisk_is_reclaimed_within_60s_by_the_daemon_on_defaults, .timeout = 240, .fini = daemon_reap)
{
	const char *dir = reclaim_cluster(128);
	char logf[2048];
	long long before, now = 0;
	double t0, secs = -1;
	pid_t pid;

	snprintf(logf, sizeof(logf), "%s/daemon.log", dir);
	pid = fork();
	if (pid == 0) {
		int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		setpgid(0, 0);
		execlp(getenv("MPIEXEC") ? getenv("MPIEXEC") : "mpiexec.mpich", "mpiexec", "-n", "2", th_curator(), "-C", dir,
		       "daemon", (char *)NULL);
		_exit(127);
	}
	daemon_pid = pid;
	/* its first scans (a full one at start) come and go; the next full one is 6 h away */
	cr_assert(wait_for(dir, "kind = 'partial' AND state = 'done'", 1, 60), "the daemon did not start");
	before = egroup_bytes(dir);
	t0 = mono();
	cr_assert_eq(RUN(dir, "vdisk", "delete", "gone"), 0);
	while (mono() - t0 < 60) {
		now = egroup_bytes(dir);
		if (before - now >= (128ll << 20) * 2) { /* 128 MiB x RF 2 */
			secs = mono() - t0;
			break;
		}
		usleep(100000);
	}
	cr_assert_geq(secs, 0, "after 60 s, %lld of %lld bytes freed", before - now, (128ll << 20) * 2);
	cr_log_info("128 MiB vdisk reclaimed %.2f s after vdisk delete", secs);
	{
		char *out = NULL;
		th_run(dir, NULL, &out, NULL, "status", NULL);
		cr_assert(strstr(out, "last selective scan"), "%s", out);
		cr_assert(strstr(out, "gave back"), "status does not say what was freed: %s", out);
		free(out);
	}
	cr_assert_lt(stop_daemon(pid, 10), 10.0);
	expect_others_intact(dir);
	cr_assert_eq(scans_where(dir, "kind = 'full'"), 1, "a full scan ran: the space came back through it");
}

/* Punch [off, off+len) of vdisk name as a controller's trim does (st_writer_zero, one committed batch). */
static void trim(const char *dir, const char *name, uint64_t off, uint64_t len)
{
	struct st_store *st;
	struct st_writer *w;
	struct st_msg err = { "" };

	cr_assert_eq(st_store_open(dir, &st, &err), 0, "%s", err.text);
	cr_assert_eq(st_writer_open(st, name, 0, &w, &err), 0, "%s", err.text);
	cr_assert_eq(st_writer_zero(w, off, len, &err), 0, "%s", err.text);
	cr_assert_eq(st_writer_close(w, &err), 0, "%s", err.text);
	st_store_free(st);
}

/*
 * A trim raises its event (config.db vdisk_trims); the daemon on defaults
 * answers within a tick with a selective scan of the trimmed vdisk's own
 * extents homed in the punched blocks: the space of 24 of gone's 32 MiB
 * comes back, no full scan runs; keep's punched blocks are shared with
 * keep@1 and its clone: nothing of them goes, and every vdisk reads back.
 */
Test(service, a_trimmed_range_is_reclaimed_within_a_tick_by_the_daemon, .timeout = 240, .fini = daemon_reap)
{
	const char *dir = reclaim_cluster(32);
	static const int snap_off[] = { 0 }, kc_off[] = { 0, 3 }, gone_off[] = { 24 };
	static const uint64_t snap_seed[] = { 8 }, kc_seed[] = { 8, 10 };
	char logf[2048], cmd[8192], *out = NULL;
	long long before, now = 0, want = (16ll << 20) * 2; /* whole egroups of the 24 MiB, x RF 2 */
	double t0, secs = -1;
	pid_t pid;

	snprintf(logf, sizeof(logf), "%s/daemon.log", dir);
	pid = fork();
	if (pid == 0) {
		int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		setpgid(0, 0);
		execlp(getenv("MPIEXEC") ? getenv("MPIEXEC") : "mpiexec.mpich", "mpiexec", "-n", "2", th_curator(), "-C", dir,
		       "daemon", (char *)NULL);
		_exit(127);
	}
	daemon_pid = pid;
	cr_assert(wait_for(dir, "kind = 'partial' AND state = 'done'", 1, 60), "the daemon did not start");
	trim(dir, "keep", 0, 8 << 20); /* all shared with keep@1 (and kc): nothing may go */
	before = egroup_bytes(dir);
	t0 = mono();
	trim(dir, "gone", 0, 24 << 20);
	while (mono() - t0 < 60) {
		now = egroup_bytes(dir);
		if (before - now >= want) {
			secs = mono() - t0;
			break;
		}
		usleep(100000);
	}
	cr_assert_geq(secs, 0, "after 60 s, %lld of %lld bytes freed", before - now, want);
	cr_log_info("24 MiB trimmed: %lld bytes freed %.2f s after the trim", before - now, secs);
	cr_assert(wait_for(dir, "kind = 'selective' AND state = 'done' AND json_extract(counters, '$.selective_trimmed') > 0",
			   1, 10), "no selective scan of the trimmed extents");
	cr_assert_lt(stop_daemon(pid, 10), 10.0);
	cr_assert_eq(scans_where(dir, "kind = 'full'"), 1, "a full scan ran: the space came back through it");
	/* gone: zeros, then its last 8 MiB as written; keep: zeros, then its 2 MiB at 1 MiB were punched too */
	snprintf(cmd, sizeof(cmd), "head -c 24M /dev/zero > %s/data-z; tail -c 8M %s/data-7 > %s/data-77", dir, dir, dir);
	cr_assert_eq(system(cmd), 0);
	{
		static const uint64_t gone_seed[] = { 77 };
		static const int gone_sz = 32;
		char o[2048], m[2048];
		snprintf(o, sizeof(o), "%s/read-gone", dir);
		cr_assert_eq(RUN(dir, "vdisk", "read", "gone", "--output", o), 0);
		snprintf(m, sizeof(m), "%s/model-gone", dir);
		snprintf(cmd, sizeof(cmd), "head -c %dM /dev/zero > %s && dd if=%s/data-%llu of=%s bs=1M seek=%d conv=notrunc status=none"
			 " && cmp -s %s %s", gone_sz, m, dir, (unsigned long long)gone_seed[0], m, gone_off[0], o, m);
		cr_assert_eq(system(cmd), 0, "gone does not read back");
		snprintf(o, sizeof(o), "%s/read-keep", dir);
		cr_assert_eq(RUN(dir, "vdisk", "read", "keep", "--output", o), 0);
		snprintf(cmd, sizeof(cmd), "cmp -s -n 8388608 %s /dev/zero", o);
		cr_assert_eq(system(cmd), 0, "keep's punched 8 MiB do not read as zeros");
	}
	expect_reads(dir, "keep@1", 1, snap_off, snap_seed);
	expect_reads(dir, "kc", 2, kc_off, kc_seed);
	cr_assert_eq(th_run(dir, NULL, &out, NULL, "fsck", "--quiet", NULL), 0, "fsck: %s", out);
	free(out);
}

/* freeing is visible: status, vdisk list and the report show bytes to free and progress, task by task */
Test(service, freeing_shows_in_status_vdisk_list_and_the_report, .timeout = 180)
{
	const char *dir = reclaim_cluster(32);
	char *out = NULL;

	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "delete", "gone"), 0);
	th_run(dir, NULL, &out, NULL, "vdisk", "list", NULL);
	cr_assert(strstr(out, "gone") && strstr(out, "deleted: freeing"), "%s", out);
	cr_assert(strstr(out, "yet to scan"), "%s", out);
	free(out);
	cr_assert_eq(RUN(dir, "scan", "selective"), 0);
	th_run(dir, NULL, &out, NULL, "status", NULL);
	cr_assert(strstr(out, "freeing         64.0 MiB in "), "status: %s", out); /* 32 MiB x RF 2 */
	cr_assert(strstr(out, "0 B freed (0%)"), "status: %s", out);
	free(out);
	th_run(dir, NULL, &out, NULL, "report", "--last", NULL);
	cr_assert(strstr(out, "space to free      64.0 MiB"), "report: %s", out);
	cr_assert(strstr(out, "usage: not measured"), "report: %s", out);
	free(out);
	/* a few tasks: part of it freed, and said so */
	cr_assert_eq(RUN(dir, "tasks", "run", "--kind", "egroup_delete", "--max", "3"), 0);
	th_run(dir, NULL, &out, NULL, "status", NULL);
	{
		const char *f = strstr(out, "freeing         ");
		double pct = -1;
		cr_assert(f, "%s", out);
		f = strstr(f, "freed (");
		cr_assert(f && sscanf(f, "freed (%lf%%)", &pct) == 1, "%s", out);
		cr_assert(pct > 0 && pct < 100, "freeing at %.0f%% after 3 tasks: %s", pct, out);
	}
	free(out);
	th_run(dir, NULL, &out, NULL, "vdisk", "list", NULL);
	cr_assert(strstr(out, "deleted: freeing") && strstr(out, "freeing: "), "%s", out);
	free(out);
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	th_run(dir, NULL, &out, NULL, "status", NULL);
	cr_assert(strstr(out, "freeing         none (the last "), "status: %s", out);
	cr_assert(strstr(out, "gave back 64.0 MiB"), "status: %s", out);
	free(out);
	th_run(dir, NULL, &out, NULL, "vdisk", "list", NULL);
	cr_assert(!strstr(out, "gone"), "%s", out);
	free(out);
	expect_others_intact(dir);
}

/*
 * explain egroup of an egroup with no healthy copy (both disks of its RF2
 * copies failed): it names the lost protection and the finding, and never
 * says "nothing to do"; its garbage share is there. Unknown items exit 2
 * with one line on stderr.
 */
Test(service, explain_egroup_without_a_healthy_copy, .timeout = 120)
{
	const char *dir = cluster();
	char *ext, *out = NULL, *errout = NULL, eg[40] = "", *p;

	write_random(dir, "v", "0", 2 << 20, 9);
	ext = extent_of_block(dir, "v", 0);
	th_run(dir, NULL, &out, NULL, "explain", "extent", ext, NULL);
	p = strstr(out, "in egroup ");
	cr_assert(p, "explain extent names no egroup: %s", out);
	sscanf(p + 10, "%39[0-9a-f]", eg);
	free(out);
	th_run(dir, NULL, &out, NULL, "explain", "egroup", eg, NULL);
	cr_assert(strstr(out, "garbage: ") && strstr(out, "2 healthy copies of RF 2: as the policy asks"), "%s", out);
	free(out);
	/* every disk that holds a copy fails: no copy to repair from */
	for (int d = 1; d <= 3; d++) {
		char ds[8];
		snprintf(ds, sizeof(ds), "%d", d);
		cr_assert_eq(RUN(dir, "disk", "fail", ds), 0);
	}
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	th_run(dir, NULL, &out, NULL, "explain", "egroup", eg, NULL);
	/* (the finding is "unreadable" when no copy is left that a read can use, as here) */
	cr_assert(strstr(out, "NO HEALTHY COPY") && (strstr(out, "no_healthy_replica") || strstr(out, "unreadable")) &&
		  strstr(out, "no healthy copy to repair from") && !strstr(out, "nothing to do"),
		  "an egroup with no healthy copy: %s", out);
	free(out);
	cr_assert_eq(th_run(dir, NULL, &out, &errout, "explain", "vdisk", "nope", NULL), 2);
	cr_assert_eq(th_lines(errout), 1, "%s", errout);
	cr_assert(!*out);
	free(out);
	free(errout);
	cr_assert_eq(th_run(dir, NULL, &out, &errout, "explain", "egroup", "123456789", NULL), 2);
	cr_assert_eq(th_lines(errout), 1, "%s", errout);
	free(out);
	free(errout);
	cr_assert_eq(th_run(dir, NULL, &out, &errout, "explain", "extent", "1000000000001-ffffff", NULL), 2);
	cr_assert_eq(th_lines(errout), 1, "%s", errout);
	free(out);
	free(errout);
	free(ext);
}

/* --- failure events: a selective scan by the replica index -------------- */

struct at_risk {
	uint32_t disk;
	int failed;
	int on_disk, short_of_rf;
};

static int risk_cb(void *arg, int rc_row, uint64_t id, const struct st_egroup_rec *g)
{
	struct at_risk *r = arg;
	int elsewhere = 0, on = 0;

	(void)id;
	cr_assert_eq(rc_row, 0);
	for (int i = 0; i < g->nreplicas; i++) {
		on |= g->replicas[i].disk == r->disk;
		elsewhere += (!r->failed || g->replicas[i].disk != r->disk) && g->replicas[i].state == ST_REPLICA_OK;
	}
	r->on_disk += on;
	r->short_of_rf += elsewhere < 2;
	return 0;
}

/* Egroup rows naming `disk`, and those with fewer than 2 (RF) good copies (not on it if failed), from every row. */
static struct at_risk at_risk(const char *dir, uint32_t disk, int failed)
{
	struct at_risk r = { .disk = disk, .failed = failed };
	struct st_store *st;
	struct st_msg err;

	cr_assert_eq(st_store_open(dir, &st, &err), 0, "%s", err.text);
	for (int i = 0; i < st_meta_nshards(st_store_meta(st)); i++)
		cr_assert_eq(st_meta_scan_egroups(st_store_meta(st), i, risk_cb, &r, &err), 0, "%s", err.text);
	st_store_free(st);
	return r;
}

/*
 * Issue 19: `disk fail` (or `node down`) raises an event; the daemon
 * (ticks of 0.2 s, full and partial scans an hour away, --node-grace 2s)
 * answers with a selective scan of the egroups with a replica on that disk
 * (node), found by the shards' replica index, and its rereplicate tasks put
 * every one of them back at RF within seconds (a node: once its grace is
 * over), without a full or partial scan; every byte reads back.
 */
static void failure_repaired(const char *tag, const char *what, const char *why)
{
	const char *dir = th_tmpdir(tag);
	struct at_risk r;
	double t0, secs = -1;
	int64_t scans_before;
	int affected;
	char logf[2048];
	pid_t pid;

	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "ssd:1x512M"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "c", "--size", "32M"), 0);
	write_random(dir, "v", "0", 24 << 20, 21);
	/* the scans a new daemon would start with, done now: its next ones are an hour away */
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	cr_assert_eq(RUN(dir, "scan", "partial"), 0);
	r = at_risk(dir, 1, 0); /* node 1's only disk is disk 1 */
	cr_assert_gt(r.on_disk, 0, "disk 1 holds no replica");
	cr_assert_eq(r.short_of_rf, 0);
	affected = r.on_disk;
	scans_before = scans_where(dir, "1");
	snprintf(logf, sizeof(logf), "%s/daemon.log", dir);
	pid = fork();
	if (pid == 0) {
		int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		setpgid(0, 0);
		execlp(getenv("MPIEXEC") ? getenv("MPIEXEC") : "mpiexec.mpich", "mpiexec", "-n", "2", th_curator(), "-C", dir,
		       "daemon", "--full-every", "1h", "--partial-every", "1h", "--tick", "0.2", "--node-grace", "2s",
		       (char *)NULL);
		_exit(127);
	}
	daemon_pid = pid;
	for (int i = 0; i < 200 && db_int(dir, "SELECT count(*) FROM daemon WHERE state = 'idle'") < 1; i++)
		usleep(50000);
	cr_assert_eq(RUN(dir, what, !strcmp(what, "disk") ? "fail" : "down", "1"), 0);
	t0 = mono();
	while (mono() - t0 < 30) {
		if (at_risk(dir, 1, 1).short_of_rf == 0) {
			secs = mono() - t0;
			break;
		}
		usleep(100000);
	}
	r = at_risk(dir, 1, 1);
	cr_assert_geq(secs, 0, "after 30 s, %d of %d egroups with a copy on %s 1 are still short of RF", r.short_of_rf,
		      affected, what);
	cr_log_info("%s 1 failed: %d egroup(s) back at RF 2 %.2f s later", what, affected, secs);
	cr_assert_lt(stop_daemon(pid, 10), 10.0);
	{
		char *log;
		size_t n;
		log = th_read_file(logf, &n);
		cr_assert(log && strstr(log, why), "%s", log ? log : "");
		free(log);
	}
	cr_assert_eq(scans_where(dir, "kind IN ('full', 'partial')"), 2, "a full or partial scan ran");
	cr_assert_geq(scans_where(dir, "kind = 'selective' AND state = 'done'"), 1, "no selective scan");
	cr_assert_eq(scans_where(dir, "1"), scans_before + scans_where(dir, "kind = 'selective'"));
	{
		char *out = NULL;
		th_run(dir, NULL, &out, NULL, "tasks", "list", "--kind", "rereplicate", "--state", "done", NULL);
		cr_assert_gt(th_lines(out), 1, "no rereplicate task ran: %s", out);
		free(out);
	}
	{
		char out[2048], cmd[4200];
		snprintf(out, sizeof(out), "%s/read-v", dir);
		cr_assert_eq(RUN(dir, "vdisk", "read", "v", "--length", "24M", "--output", out), 0);
		snprintf(cmd, sizeof(cmd), "cmp -s %s %s/data-21", out, dir);
		cr_assert_eq(system(cmd), 0, "vdisk v does not read back");
	}
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
}

Test(service, a_failed_disk_is_rereplicated_by_a_selective_scan_within_seconds, .timeout = 180,
     .fini = daemon_reap)
{
	failure_repaired("diskfail", "disk", "selective scan (failed disk(s): 1)");
}

Test(service, a_down_node_is_rereplicated_by_a_selective_scan_after_its_grace, .timeout = 180, .fini = daemon_reap)
{
	failure_repaired("nodedown", "node", "selective scan (down nodes' disk(s), grace over: 1)");
}
