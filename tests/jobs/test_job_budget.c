/*
 * Budgets that hold for the whole cluster, through the real binary on 2
 * MPI ranks: `tasks run --rate R` and `--throttle KIND=R` move at most R
 * MiB/s with both ranks working (one counter in curator.db, not one per
 * rank); promotions into a tier are decided once for the tier, never push
 * it past its high watermark, and the next scan moves none of them back
 * down; a sequential pass over a vdisk counts one read per egroup, so it
 * never promotes anything by itself.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/job_kind.h"
#include "storage/st_store.h"
#include "tests/helpers.h"

#define RUN(dir, ...) th_run(dir, NULL, NULL, NULL, __VA_ARGS__, NULL)

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One number from curator.db (sql yields one integer), or -1. */
static long long db_number(const char *dir, const char *sql)
{
	char p[2048];
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;

	snprintf(p, sizeof(p), "%s/curator.db", dir);
	db = th_curator_db(dir);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Write len bytes of seed's pattern into a new vdisk of container c. */
static void vdisk(const char *dir, const char *name, size_t len, uint64_t seed)
{
	cr_assert_eq(th_vdisk_pattern(dir, "c", name, len, seed), 0, "vdisk %s", name);
}

/*
 * A cluster whose full scan queues about 24 MiB of rereplicate tasks (a
 * failed disk), to run throttled on 2 ranks with the extra run arguments;
 * the bytes moved over the run's wall time must stay within rate + 10 %,
 * and both ranks must have run tasks (else the bound says nothing).
 */
static void throttled_run(const char *tag, const char *a1, const char *a2, double rate)
{
	const char *dir = th_tmpdir(tag);
	const char *args[] = { "tasks", "run", a1, a2, NULL };
	long long moved, runners;
	double t0, secs, mbps;

	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "ssd:1x1G"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2"), 0);
	vdisk(dir, "v", 36 << 20, 7);
	cr_assert_eq(RUN(dir, "disk", "fail", "1"), 0);
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	cr_assert_gt(db_number(dir, "SELECT count(*) FROM tasks WHERE kind = 8 AND state = 0"), 4);
	t0 = mono();
	cr_assert_eq(th_run_ranks(2, dir, args), 0);
	secs = mono() - t0;
	moved = -db_number(dir, "SELECT coalesce(sum(bytes), 0) FROM tasks WHERE state = 2");
	runners = db_number(dir, "SELECT count(DISTINCT runner) FROM tasks WHERE state = 2");
	mbps = (double)moved / 1048576.0 / secs;
	cr_log_info("%s %s on 2 ranks: %.1f MiB in %.2f s = %.2f MiB/s (rate %.1f, %lld runners)", a1, a2,
		    (double)moved / 1048576.0, secs, mbps, rate, runners);
	cr_assert_gt(moved, 16 << 20, "too little was moved to measure anything");
	cr_assert_eq(runners, 2, "both ranks must run tasks");
	cr_assert_leq(mbps, rate * 1.10, "2 ranks moved %.2f MiB/s at a budget of %.1f", mbps, rate);
	cr_assert_eq(db_number(dir, "SELECT count(*) FROM tasks WHERE state IN (0, 1)"), 0);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
}

Test(budget, rate_is_shared_by_the_ranks, .timeout = 180)
{
	throttled_run("rate", "--rate", "6", 6.0);
}

Test(budget, throttle_of_a_kind_is_shared_by_the_ranks, .timeout = 180)
{
	throttled_run("throttle", "--throttle", "rereplicate=6", 6.0);
}

/* Used / capacity of a tier's disks in percent, from config.db. */
static double tier_pct(const char *dir, enum st_tier t)
{
	struct st_config *cfg;
	struct st_disk *d;
	struct st_msg err;
	uint64_t used = 0, cap = 0;
	int n;

	cr_assert_eq(st_config_open(dir, &cfg, &err), 0);
	cr_assert_eq(st_config_disks(cfg, &d, &n, &err), 0);
	for (int i = 0; i < n; i++)
		if (d[i].tier == t && d[i].ok) {
			used += d[i].used;
			cap += d[i].capacity;
		}
	free(d);
	st_config_free(cfg);
	return cap ? 100.0 * (double)used / (double)cap : 0;
}

static void at(long long offset)
{
	char now[32];
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL) + offset);
	setenv("CURATOR_NOW", now, 1);
}

static void read_all(const char *dir, const char *name)
{
	char out[2048];
	snprintf(out, sizeof(out), "%s/readback", dir);
	cr_assert_eq(RUN(dir, "vdisk", "read", name, "--output", out), 0);
}

static long long pending(const char *dir, int kind)
{
	char q[128];
	snprintf(q, sizeof(q), "SELECT count(*) FROM tasks WHERE kind = %d AND state IN (0, 1)", kind);
	return db_number(dir, q);
}

/*
 * SSD at 40 % high / 20 % low, holding old data that ILM moves down to
 * HDD. One sequential pass over it promotes nothing. Then it is read three
 * times (three passes): a hot set about twice what SSD has room for under
 * its high watermark. On 2 ranks the promotions fill SSD to at most 40 %
 * (a budget per rank would let each rank fill the room), and the next
 * full and partial scans on 2 ranks queue no tier_down.
 */
Test(budget, promotions_keep_the_tier_under_its_high_watermark_on_2_ranks, .timeout = 300)
{
	const char *dir = th_tmpdir("promote");
	const char *scan[] = { "scan", "full", NULL }, *partial[] = { "scan", "partial", NULL };
	const char *run[] = { "tasks", "run", NULL };
	double pct;

	unsetenv("CURATOR_NOW");
	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "ssd:1x64M,hdd:1x512M"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2", "--ilm", "40%,20%"), 0);
	at(-10 * 86400);
	vdisk(dir, "old", 36 << 20, 3);
	unsetenv("CURATOR_NOW");
	vdisk(dir, "new", 8 << 20, 4);
	pct = tier_pct(dir, ST_TIER_SSD);
	cr_log_info("ssd %.1f %% before", pct);
	cr_assert_gt(pct, 40.0);
	/*
	 * tier_down first: one that meets a scrub of the same egroup goes stale, and
	 * once SSD is under its high watermark nothing moves it on to the low one
	 */
	{
		const char *down[] = { "tasks", "run", "--kind", "tier_down", NULL };
		cr_assert_eq(th_run_ranks(2, dir, scan), 0);
		cr_assert_eq(th_run_ranks(2, dir, down), 0);
		cr_assert_eq(th_run_ranks(2, dir, run), 0);
	}
	pct = tier_pct(dir, ST_TIER_SSD);
	cr_log_info("ssd %.1f %% after ILM", pct);
	cr_assert_leq(pct, 20.0);
	/* one sequential pass: one read per egroup, nothing promoted */
	read_all(dir, "old");
	cr_assert_eq(th_run_ranks(2, dir, scan), 0);
	cr_assert_eq(pending(dir, JT_TIER_UP), 0, "one sequential pass promoted egroups");
	/* three passes: hot */
	read_all(dir, "old");
	read_all(dir, "old");
	cr_assert_eq(th_run_ranks(2, dir, scan), 0);
	cr_assert_gt(pending(dir, JT_TIER_UP), 1, "nothing promoted");
	cr_assert_eq(th_run_ranks(2, dir, run), 0);
	pct = tier_pct(dir, ST_TIER_SSD);
	cr_log_info("ssd %.1f %% after promotion on 2 ranks", pct);
	cr_assert_gt(pct, 25.0, "the room under the watermark was not used");
	cr_assert_leq(pct, 40.0, "promotions pushed SSD past its high watermark");
	cr_assert_eq(th_run_ranks(2, dir, scan), 0);
	cr_assert_eq(pending(dir, JT_TIER_DOWN), 0, "the next full scan moves promoted data back down");
	cr_assert_eq(th_run_ranks(2, dir, partial), 0);
	cr_assert_eq(pending(dir, JT_TIER_DOWN), 0, "the next partial scan moves promoted data back down");
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
}
