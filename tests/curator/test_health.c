/*
 * curator/cu_health.c against real faults: each check raised by the thing
 * it names, never by a hand-edited figure, and seen the three ways an
 * admin sees it: `health detail` (text), `health --format json` and the
 * Prometheus gauge of `report --format prom` (promtool-clean).
 *
 *  - MASTER_DOWN: a daemon (mpiexec -n 2) killed with SIGKILL is called
 *    down only once its master lease stood still for the lease TTL as this
 *    host observed it; a restarted daemon clears it; a stopped one is
 *    "stopped".
 *  - SCAN_FAILED: a full scan on 2 ranks over a shard whose b-tree page is
 *    overwritten fails for real (exit 1); the bytes put back, the next scan
 *    clears it.
 *  - TASKS_FAILED: a rereplicate task whose only source replica cannot be
 *    read (a directory where its file was) fails three times; the check
 *    names the task and why.
 *  - tier thresholds (`curator tier set`): stored in config.db, used by
 *    TIER_NEARFULL / TIER_FULL, shown by `tier list`.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/helpers.h"

#define RUN(dir, ...) th_run(dir, NULL, NULL, NULL, __VA_ARGS__, NULL)
#define TTL_S 3.0 /* CURATOR_LEASE_TTL of the daemons of the MASTER_DOWN test */

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A 3-node cluster (one ssd each), container c of RF 2, vdisk v of 2 MB in one egroup. */
static const char *cluster(void)
{
	const char *dir = th_tmpdir("health");

	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "ssd:1x64M"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2"), 0);
	cr_assert_eq(th_vdisk_pattern(dir, "c", "v", 2000000, 17), 0);
	return dir;
}

/* The count of check `code` in `health --format json` (0 when it is not raised). */
static long long check_count(const char *dir, const char *code)
{
	char filter[256], buf[64];

	snprintf(filter, sizeof(filter), "[.health.checks[] | select(.code == \"%s\") | .count] | add // 0", code);
	return atoll(th_jq_get(dir, "health --format json", filter, buf, sizeof(buf)));
}

/* `health --format json` holds filter (else a failed test showing the document). */
static void expect_health(const char *dir, const char *filter)
{
	char *out = NULL;

	if (!th_jq(dir, "health --format json", filter))
		return;
	th_run(dir, NULL, &out, NULL, "health", "--format", "json", NULL);
	cr_assert_fail("health --format json fails %s: %s", filter, out);
}

/* report --format prom is promtool-clean and has the gauge of code at value v (and the extra line, when non-NULL). */
static void expect_gauge(const char *dir, const char *code, long long v, const char *extra)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd),
		 "'%s' -C '%s' report --format prom > '%s/prom' && promtool check metrics < '%s/prom' && "
		 "grep -qx 'curator_health_check{code=\"%s\",severity=\"WARN\"} %lld' '%s/prom'",
		 th_curator(), dir, dir, dir, code, v, dir);
	if (extra)
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " && grep -qx '%s' '%s/prom'", extra, dir);
	cr_assert_eq(system(cmd), 0, "the metrics: %s", cmd);
}

/* `health detail`: exit 1, and its text holds needle (and needle2 when non-NULL). */
static void expect_detail(const char *dir, const char *needle, const char *needle2)
{
	char *out = NULL;

	cr_assert_eq(th_run(dir, NULL, &out, NULL, "health", "detail", NULL), 1, "%s", out);
	cr_assert(!strncmp(out, "HEALTH_WARN: ", 13) || !strncmp(out, "HEALTH_ERR: ", 12), "%s", out);
	cr_assert(strstr(out, needle), "want '%s' in: %s", needle, out);
	cr_assert(!needle2 || strstr(out, needle2), "want '%s' in: %s", needle2, out);
	free(out);
}

/* --- MASTER_DOWN ---------------------------------------------------------- */

static pid_t daemon_pid;

static void daemon_reap(void)
{
	if (daemon_pid > 0) {
		kill(-daemon_pid, SIGKILL);
		waitpid(daemon_pid, NULL, 0);
		daemon_pid = 0;
	}
}

static pid_t start_daemon(const char *dir)
{
	char logf[2048];
	pid_t pid;

	snprintf(logf, sizeof(logf), "%s/daemon.log", dir);
	pid = fork();
	if (pid == 0) {
		int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		setpgid(0, 0);
		execlp(getenv("MPIEXEC") ? getenv("MPIEXEC") : "mpiexec.mpich", "mpiexec", "-n", "2", th_curator(), "-C", dir,
		       "daemon", "--full-every", "1h", "--partial-every", "1h", "--tick", "0.2", (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	daemon_pid = pid;
	return pid;
}

/* Poll until `status --format json` says the master is `state` (then 1), at most secs. */
static int wait_master(const char *dir, const char *state, double secs)
{
	char filter[128];
	double t0 = mono();

	snprintf(filter, sizeof(filter), ".master.state == \"%s\"", state);
	while (mono() - t0 < secs) {
		if (!th_jq(dir, "status --format json", filter))
			return 1;
		usleep(100000);
	}
	return 0;
}

Test(health, master_down_after_kill9_past_the_lease_ttl, .timeout = 120, .fini = daemon_reap)
{
	const char *dir;
	double t_up, t_kill, waited;
	pid_t pid;
	int st;

	setenv("CURATOR_LEASE_TTL", "3000ms", 1);
	dir = cluster();
	pid = start_daemon(dir);
	cr_assert(wait_master(dir, "up", 60), "the daemon never came up");
	cr_assert_eq(check_count(dir, "MASTER_DOWN"), 0);
	expect_gauge(dir, "MASTER_DOWN", 0, "curator_master_up 1");
	t_up = mono();

	cr_assert_eq(kill(-pid, SIGKILL), 0);
	waitpid(pid, &st, 0);
	daemon_pid = 0;
	t_kill = mono();
	/* its lease has not yet stood still for the TTL as this host saw it: not down yet */
	if (mono() - t_up < TTL_S / 2) {
		long long n = check_count(dir, "MASTER_DOWN");
		if (mono() - t_up < TTL_S / 2)
			cr_assert_eq(n, 0, "MASTER_DOWN within %.2f s of the last sign of life (TTL %.1f s)", mono() - t_up, TTL_S);
	}
	while (check_count(dir, "MASTER_DOWN") == 0 && mono() - t_kill < 30)
		usleep(100000);
	waited = mono() - t_kill;
	cr_assert_lt(waited, 30, "MASTER_DOWN not raised 30 s after kill -9 (TTL %.1f s)", TTL_S);
	cr_log_info("MASTER_DOWN %.2f s after kill -9 (lease TTL %.1f s)", waited, TTL_S);
	expect_health(dir, "(.health.checks[] | select(.code == \"MASTER_DOWN\") | .severity == \"WARN\" and .count == 1 and "
			   ".summary == \"the curator daemon is not heard from\" and (.items[0] | test(\"^pid [0-9]+ on \")))");
	cr_assert_eq(th_jq(dir, "status --format json", ".master.state == \"down\""), 0);
	expect_detail(dir, "[WRN] MASTER_DOWN: the curator daemon is not heard from", "    pid ");
	expect_gauge(dir, "MASTER_DOWN", 1, "curator_master_up 0");

	/* a new daemon takes over: cleared; stopped cleanly: "stopped" */
	pid = start_daemon(dir);
	cr_assert(wait_master(dir, "up", 60), "the restarted daemon never came up");
	cr_assert_eq(check_count(dir, "MASTER_DOWN"), 0);
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	daemon_pid = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "daemon exit status %d", st);
	cr_assert_eq(check_count(dir, "MASTER_DOWN"), 1);
	expect_detail(dir, "[WRN] MASTER_DOWN: the curator daemon is stopped", NULL);
}

/* --- SCAN_FAILED ---------------------------------------------------------- */

/* The shard holding v's block rows, checkpointed: its path, and the offset of the blocks table's root page. */
static long blocks_page(const char *dir, char *path, size_t len)
{
	for (int s = 0; s < 4; s++) {
		sqlite3 *db;
		sqlite3_stmt *q;
		long off = -1;
		snprintf(path, len, "%s/meta-%d.db", dir, s);
		cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
		sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
		cr_assert_eq(sqlite3_prepare_v2(db,
						"SELECT (SELECT count(*) FROM blocks), (SELECT rootpage FROM sqlite_master WHERE name = 'blocks'),"
						" (SELECT page_size FROM pragma_page_size)",
						-1, &q, NULL),
			     SQLITE_OK);
		cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
		if (sqlite3_column_int(q, 0) > 0)
			off = (long)(sqlite3_column_int(q, 1) - 1) * sqlite3_column_int(q, 2);
		sqlite3_finalize(q);
		sqlite3_close(db);
		if (off >= 0)
			return off;
	}
	cr_assert_fail("no shard holds block rows");
	return -1;
}

static void pwrite_file(const char *path, long off, const void *buf, size_t n)
{
	int fd = open(path, O_RDWR);

	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, buf, n, off), (ssize_t)n);
	cr_assert_eq(fsync(fd), 0);
	close(fd);
}

Test(health, scan_failed_on_a_corrupt_shard, .timeout = 120)
{
	const char *dir = cluster();
	char path[1100], saved[16], junk[16];
	long off;
	int fd;

	cr_assert_eq(th_run_ranks(2, dir, (const char *[]){ "scan", "full", NULL }), 0);
	cr_assert_eq(check_count(dir, "SCAN_FAILED"), 0);
	expect_gauge(dir, "SCAN_FAILED", 0, NULL);
	/* the b-tree page header of the blocks table overwritten: SQLite calls the file malformed */
	off = blocks_page(dir, path, sizeof(path));
	fd = open(path, O_RDONLY);
	cr_assert_eq(pread(fd, saved, sizeof(saved), off), (ssize_t)sizeof(saved));
	close(fd);
	memset(junk, 0xff, sizeof(junk));
	pwrite_file(path, off, junk, sizeof(junk));
	cr_assert_eq(th_run_ranks(2, dir, (const char *[]){ "scan", "full", NULL }), 1, "a scan over a corrupt shard did not fail");
	cr_assert_eq(check_count(dir, "SCAN_FAILED"), 1);
	expect_health(dir, "(.health.checks[] | select(.code == \"SCAN_FAILED\") | .severity == \"WARN\" and "
			   "(.summary | test(\"^the latest scan \\\\([0-9]+, full\\\\) failed$\")) and (.items[0] | test(\"malformed\")))");
	expect_detail(dir, "[WRN] SCAN_FAILED: the latest scan (", "malformed");
	expect_gauge(dir, "SCAN_FAILED", 1, NULL);
	/* put back: the next scan succeeds and clears it */
	pwrite_file(path, off, saved, sizeof(saved));
	cr_assert_eq(th_run_ranks(2, dir, (const char *[]){ "scan", "full", NULL }), 0);
	cr_assert_eq(check_count(dir, "SCAN_FAILED"), 0);
	expect_gauge(dir, "SCAN_FAILED", 0, NULL);
}

/* --- TASKS_FAILED --------------------------------------------------------- */

Test(health, tasks_failed_on_an_unreadable_replica, .timeout = 120)
{
	const char *dir = cluster();
	char ext[128], eg[64], args[512], d1[16], d2[16], dpath[1100], file[1200], moved[1300];

	cr_assert_eq(th_run_ranks(1, dir, (const char *[]){ "scan", "full", NULL }), 0);
	th_jq_get(dir, "explain vdisk v --format json", ".explain.vdisk.first_blocks[0].extent", ext, sizeof(ext));
	snprintf(args, sizeof(args), "explain extent %s --format json", ext);
	th_jq_get(dir, args, ".explain.egroup", eg, sizeof(eg));
	snprintf(args, sizeof(args), "explain egroup %s --format json", eg);
	th_jq_get(dir, args, ".explain.protection.replicas[0].disk", d1, sizeof(d1));
	th_jq_get(dir, args, ".explain.protection.replicas[1].disk", d2, sizeof(d2));
	cr_assert(*d1 && *d2, "egroup %s: two replicas wanted", eg);
	snprintf(args, sizeof(args), ".disks[] | select(.id == %s) | .path", d2);
	th_jq_get(dir, "disk list --format json", args, dpath, sizeof(dpath));
	snprintf(file, sizeof(file), "%s/egroups/%016llx.eg", dpath, strtoull(eg, NULL, 16));
	cr_assert_eq(access(file, R_OK), 0, "no replica file %s", file);

	/* one copy's disk fails; the other copy's file cannot be read (a directory in its place) */
	cr_assert_eq(RUN(dir, "disk", "fail", d1), 0);
	cr_assert_eq(th_run_ranks(1, dir, (const char *[]){ "scan", "partial", NULL }), 0);
	snprintf(args, sizeof(args), "(.tasks | map(select(.kind == \"rereplicate\" and .target == \"%s\")) | length) == 1", eg);
	cr_assert_eq(th_jq(dir, "tasks list --format json", args), 0, "no rereplicate task for %s", eg);
	cr_assert_eq(check_count(dir, "TASKS_FAILED"), 0);
	snprintf(moved, sizeof(moved), "%s.saved", file);
	cr_assert_eq(rename(file, moved), 0);
	cr_assert_eq(mkdir(file, 0755), 0);
	RUN(dir, "tasks", "run"); /* its three attempts */
	cr_assert_eq(th_jq(dir, "tasks list --state failed --format json",
			   "(.tasks | length) == 1 and .tasks[0].kind == \"rereplicate\" and .tasks[0].attempts == 3"),
		     0);
	cr_assert_eq(check_count(dir, "TASKS_FAILED"), 1);
	snprintf(args, sizeof(args),
		 "(.health.checks[] | select(.code == \"TASKS_FAILED\") | .severity == \"WARN\" and "
		 "(.items[0] | startswith(\"task \") and contains(\"(rereplicate %s): \") and contains(\"checksum\")))",
		 eg);
	expect_health(dir, args);
	expect_detail(dir, "[WRN] TASKS_FAILED: 1 task failed three times", "(rereplicate ");
	expect_gauge(dir, "TASKS_FAILED", 1, NULL);
	/* the copy readable again: a new scan queues a new task, which succeeds; the failed one stays on record */
	cr_assert_eq(rmdir(file), 0);
	cr_assert_eq(rename(moved, file), 0);
	cr_assert_eq(th_run_ranks(1, dir, (const char *[]){ "scan", "partial", NULL }), 0);
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	snprintf(args, sizeof(args), "explain egroup %s --format json", eg);
	cr_assert_eq(th_jq(dir, args, ".explain.protection.healthy_copies == 2"), 0);
}

/* --- tier fill thresholds ------------------------------------------------- */

/* `curator ARGS...` fails with exit 2 and one stderr line holding needle. */
static void expect_usage(const char *dir, const char *needle, const char *a1, const char *a2, const char *a3, const char *a4,
			 const char *a5, const char *a6)
{
	char *out = NULL, *err = NULL;
	int rc = th_run(dir, NULL, &out, &err, a1, a2, a3, a4, a5, a6, NULL);

	cr_assert_eq(rc, 2, "%s %s %s: exit %d, stderr %s", a1, a2, a3 ? a3 : "", rc, err);
	cr_assert_eq(th_lines(err), 1, "%s", err);
	cr_assert(strstr(err, needle), "want '%s' in: %s", needle, err);
	cr_assert(!*out, "%s", out);
	free(out);
	free(err);
}

/* The value of setting key in config.db ("" when unset) into buf. */
static char *setting(const char *dir, const char *key, char *buf, size_t len)
{
	char p[1100];
	sqlite3 *db;
	sqlite3_stmt *q;

	snprintf(p, sizeof(p), "%s/config.db", dir);
	cr_assert_eq(sqlite3_open(p, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT value FROM cluster WHERE key = ?", -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	buf[0] = 0;
	if (sqlite3_step(q) == SQLITE_ROW)
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(db);
	return buf;
}

/*
 * A tier filled by real writes (6 MiB at RF 2 on 3 x 16 MiB of ssd: about
 * 25 %): fine at the defaults; TIER_NEARFULL, then TIER_FULL, once `tier
 * set` lowers its thresholds under that; the thresholds are in config.db
 * and shown by `tier list`; bad values are usage errors that change
 * nothing.
 */
Test(health, tier_thresholds_set_stored_and_used, .timeout = 60)
{
	const char *dir = th_tmpdir("tiers");
	char v[64], cmd[2048];

	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "ssd:1x16M,hdd:1x64M"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2"), 0);
	cr_assert_eq(th_vdisk_pattern(dir, "c", "v", 6 << 20, 23), 0);
	cr_assert_eq(th_run_ranks(1, dir, (const char *[]){ "scan", "full", NULL }), 0);
	cr_assert_eq(th_jq(dir, "tier list --format json",
			   ".schema_version == 1 and (.tiers | map(.tier)) == [\"ssd\",\"hdd\"] and "
			   "(.tiers[0] | .disks == 3 and .capacity_bytes == 50331648 and .used_bytes > 12582912 and "
			   ".fill_pct > 24 and .fill_pct < 30 and .warn_pct == 85 and .err_pct == 95) and "
			   "(.tiers[1] | .used_bytes == 0 and .warn_pct == 85 and .err_pct == 95)"),
		     0);
	cr_assert_eq(RUN(dir, "health"), 0, "a 25%% full tier at the default thresholds");
	cr_assert_str_eq(setting(dir, "tier_fill.ssd", v, sizeof(v)), "");

	cr_assert_eq(RUN(dir, "tier", "set", "ssd", "--warn", "20%"), 0);
	cr_assert_str_eq(setting(dir, "tier_fill.ssd", v, sizeof(v)), "20,95");
	expect_health(dir, ".health.status == \"HEALTH_WARN\" and (.health.checks | map(.code)) == [\"TIER_NEARFULL\"] and "
			   "(.health.checks[0].items[0] | endswith(\"(warn at 20%, err at 95%)\"))");
	expect_detail(dir, "[WRN] TIER_NEARFULL: tier ssd is 2", "(warn at 20%, err at 95%)");
	cr_assert_eq(RUN(dir, "tier", "set", "ssd", "--warn", "10", "--err", "20"), 0);
	cr_assert_str_eq(setting(dir, "tier_fill.ssd", v, sizeof(v)), "10,20");
	expect_health(dir, ".health.status == \"HEALTH_ERR\" and (.health.checks | map(.code)) == [\"TIER_FULL\"] and "
			   ".health.checks[0].severity == \"ERR\"");
	snprintf(cmd, sizeof(cmd),
		 "'%s' -C '%s' report --format prom > '%s/prom' && promtool check metrics < '%s/prom' && "
		 "grep -qx 'curator_health_check{code=\"TIER_FULL\",severity=\"ERR\"} 1' '%s/prom'",
		 th_curator(), dir, dir, dir, dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	cr_assert_eq(th_jq(dir, "tier list --format json", "(.tiers[0] | .warn_pct == 10 and .err_pct == 20) and "
			   "(.tiers[1] | .warn_pct == 85 and .err_pct == 95)"), 0);

	/* refused, nothing changed */
	expect_usage(dir, "must be below err", "tier", "set", "ssd", "--warn", "30", NULL);
	expect_usage(dir, "expected ssd or hdd", "tier", "set", "cloud", "--warn", "30", NULL);
	expect_usage(dir, "a percent, 1..100", "tier", "set", "hdd", "--err", "101", NULL);
	expect_usage(dir, "a percent, 1..100", "tier", "set", "hdd", "--warn", "0", NULL);
	expect_usage(dir, "at least one", "tier", "set", "hdd", NULL, NULL, NULL);
	expect_usage(dir, "unknown option", "tier", "set", "hdd", "--full", "3", NULL);
	cr_assert_str_eq(setting(dir, "tier_fill.ssd", v, sizeof(v)), "10,20");
	cr_assert_str_eq(setting(dir, "tier_fill.hdd", v, sizeof(v)), "");

	/* back to where the tier is fine: the check goes */
	cr_assert_eq(RUN(dir, "tier", "set", "ssd", "--warn", "85", "--err", "95"), 0);
	cr_assert_eq(RUN(dir, "health"), 0);
}

/* --- status and health --format json: every documented field ------------- */

#define ISO "test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$\")"
#define NUM(k) "(" k " | type) == \"number\""

/* `status --format json` holds filter (else a failed test showing the document). */
static void expect_status(const char *dir, const char *filter)
{
	char *out = NULL;

	if (!th_jq(dir, "status --format json", filter))
		return;
	th_run(dir, NULL, &out, NULL, "status", "--format", "json", NULL);
	cr_assert_fail("status --format json fails %s: %s", filter, out);
}

/* 1 once curator.db has a scan row in state 'running' (polled every ms, at most secs). */
static int wait_running_scan(const char *dir, double secs)
{
	char p[1100];
	double t0 = mono();
	int found = 0;

	snprintf(p, sizeof(p), "file:%s/curator.db?mode=ro", dir);
	while (!found && mono() - t0 < secs) {
		sqlite3 *db;
		sqlite3_stmt *q;
		if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) == SQLITE_OK &&
		    sqlite3_prepare_v2(db, "SELECT 1 FROM scans WHERE state = 'running'", -1, &q, NULL) == SQLITE_OK) {
			found = sqlite3_step(q) == SQLITE_ROW;
			sqlite3_finalize(q);
		}
		sqlite3_close(db);
		if (!found)
			usleep(1000);
	}
	return found;
}

/*
 * Every field docs/JSON.md names for `status` and `health`, in the states
 * that fill it: no scan yet and no daemon; a full scan stopped (SIGSTOP)
 * while it runs; finished scans, their tasks and the space they free; a
 * daemon up, then stopped.
 */
Test(health, status_and_health_json_every_field, .timeout = 120, .fini = daemon_reap)
{
	const char *dir = cluster();
	const char *scan[] = { "scan", "full", NULL };
	char outf[1100];
	pid_t pid;
	int st, caught = 0;

	cr_assert_eq(th_vdisk_pattern(dir, "c", "gone", 3 << 20, 29), 0);
	cr_assert_eq(RUN(dir, "vdisk", "delete", "gone"), 0);
	/* nothing has run */
	expect_status(dir, ".schema_version == 1 and .master == {\"state\":\"never_started\"} and "
			   ".last_scans == {\"full\":null,\"partial\":null} and .running_scans == [] and "
			   "(.pending_tasks == []) and (.freeing | type) == \"object\"");
	expect_health(dir, ".schema_version == 1 and .health.status == \"HEALTH_WARN\" and "
			   "(.health.checks | length) >= 1 and all(.health.checks[]; (keys_unsorted == [\"code\",\"severity\",\"summary\",\"count\",\"items\"]) and "
			   "(.code | test(\"^[A-Z_]+$\")) and (.severity | IN(\"WARN\",\"ERR\")) and (.summary | type) == \"string\" and "
			   NUM(".count") " and (.items | type) == \"array\" and (.items | length) <= 10 and (.count >= (.items | length))) and "
			   "(.health.checks[] | select(.code == \"SCAN_OVERDUE\") | .summary == \"no full scan has completed yet\")");
	expect_status(dir, ".health.status == \"HEALTH_WARN\" and (.health.checks | map(.code) | index(\"SCAN_OVERDUE\")) != null");

	/* a full scan caught running: stopped while status looks */
	snprintf(outf, sizeof(outf), "%s/scan.out", dir);
	for (int i = 0; i < 5 && !caught; i++) {
		pid = th_spawn(dir, NULL, outf, scan);
		if (wait_running_scan(dir, 20)) {
			kill(pid, SIGSTOP);
			caught = !th_jq(dir, "status --format json", "(.running_scans | length) == 1");
			if (caught)
				expect_status(dir, "(.running_scans[0] | keys_unsorted) == [\"id\",\"kind\",\"started\",\"phase\",\"phase_index\","
						   "\"phase_count\",\"records\",\"records_last_time\",\"tasks_to_queue\",\"tasks_queued\",\"eta_seconds\"] and "
						   "(.running_scans[0] | " NUM(".id") " and .kind == \"full\" and (.started | " ISO ") and "
						   "((.phase == null and .phase_index == 0 and .phase_count == 0) or "
						   "((.phase | type) == \"string\" and .phase_index >= 1 and .phase_index <= .phase_count and .phase_count == 3)) and "
						   ".records >= 0 and .records_last_time == null and "
						   NUM(".tasks_to_queue") " and " NUM(".tasks_queued") " and "
						   "(.eta_seconds == null or (.eta_seconds | type) == \"number\"))");
			kill(pid, SIGCONT);
		}
		waitpid(pid, &st, 0);
	}
	cr_assert(caught, "no full scan caught running in 5 tries");
	if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) /* (stopped past its lease's TTL/2 on a loaded host: it fails, safely) */
		cr_assert_eq(th_run_ranks(1, dir, scan), 0);

	/* done: the last scans, the queue and what it frees */
	expect_status(dir, "(.last_scans.full | keys_unsorted) == [\"id\",\"kind\",\"started\",\"ended\",\"duration_seconds\",\"state\",\"error\"] and "
			   "(.last_scans.full | " NUM(".id") " and .kind == \"full\" and (.started | " ISO ") and (.ended | " ISO ") and "
			   NUM(".duration_seconds") " and .state == \"done\" and .error == null) and .last_scans.partial == null and "
			   ".running_scans == [] and (.pending_tasks | length) >= 1 and "
			   "all(.pending_tasks[]; keys_unsorted == [\"kind\",\"priority\",\"pending\",\"running\",\"bytes\"] and "
			   "(.kind | test(\"^[a-z_]+$\")) and " NUM(".priority") " and .pending >= 1 and .running == 0 and " NUM(".bytes") ") and "
			   "(.pending_tasks | map(.kind) | index(\"blocks_delete\")) != null and "
			   "(.freeing | keys_unsorted == [\"pending_bytes\",\"pending_tasks\",\"freed_bytes\",\"freed_tasks\",\"since\"] and "
			   ".pending_tasks >= 1 and .pending_bytes > 0 and .freed_bytes == 0 and .freed_tasks == 0)");
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	expect_status(dir, ".freeing.pending_tasks == 0 and .freeing.freed_bytes > 0 and .freeing.freed_tasks >= 1 and "
			   "(.freeing.since == null or (.freeing.since | " ISO "))");
	cr_assert_eq(th_run_ranks(1, dir, (const char *[]){ "scan", "partial", NULL }), 0);
	expect_status(dir, ".last_scans.partial.kind == \"partial\" and .last_scans.partial.state == \"done\"");

	/* a daemon up, then stopped */
	setenv("CURATOR_LEASE_TTL", "3000ms", 1);
	pid = start_daemon(dir);
	cr_assert(wait_master(dir, "up", 60), "the daemon never came up");
	expect_status(dir, "(.master | keys_unsorted) == [\"state\",\"activity\",\"pid\",\"host\",\"ranks\",\"started\",\"heartbeat\","
			   "\"next_full\",\"next_partial\"] and (.master | .state == \"up\" and (.activity | IN(\"idle\",\"scanning\",\"tasks\",\"stopping\")) and "
			   ".pid > 0 and (.host | length) > 0 and .ranks == 2 and (.started | " ISO ") and (.heartbeat | " ISO ") and "
			   "(.next_full | " ISO ") and (.next_partial | " ISO "))");
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	daemon_pid = 0;
	expect_status(dir, ".master.state == \"stopped\" and .master.next_full == null and .master.next_partial == null and "
			   "(.master.heartbeat | " ISO ")");
}
