/*
 * Data protection against real files and processes: a failed disk, a node
 * down past its grace period and two failed disks under RF 3 are healed by
 * a scan and its tasks; a node coming back leaves extra copies that are
 * dropped without going below RF; bit flips are found and repaired by the
 * scrubber; a drained disk is emptied and removed; and no task that drops
 * a replica ever drops the last healthy copy.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jobs/job_tasks.h"
#include "storage/st_store.h"
#include "tests/helpers.h"

#define RUN(dir, ...) th_run(dir, NULL, NULL, NULL, __VA_ARGS__, NULL)

static uint64_t du_bytes(const char *dir)
{
	long long b = th_sh_number("du -sb %s/disks | cut -f1", dir);

	cr_assert_geq(b, 0);
	return (uint64_t)b;
}

struct prot {
	int egroups, protected_, min_healthy;
};

struct pctx {
	struct st_store *st;
	int rf;
	struct prot p;
	uint8_t *buf;
};

/* Healthy copies: on an ok disk of an up node, every extent verifies. */
static int healthy_copies(struct st_store *st, const struct st_egroup_rec *g, uint8_t *buf)
{
	struct st_node *nodes;
	int nn, h = 0;
	uint32_t seen_nodes[ST_REPLICAS_MAX];
	int ns = 0;

	cr_assert_eq(st_config_nodes(st_store_config(st), &nodes, &nn, NULL), 0);
	for (int r = 0; r < g->nreplicas; r++) {
		struct st_disk d;
		int up = 0, ok = 1, dup = 0;
		if (st_config_disk_get(st_store_config(st), g->replicas[r].disk, &d, NULL) || !d.ok || d.removed)
			continue;
		for (int i = 0; i < nn; i++)
			up |= nodes[i].id == d.node && nodes[i].up;
		for (int k = 0; ok && up && k < g->nextents; k++)
			ok = st_store_read_replica(st, g, r, &g->extents[k], buf) == 0;
		for (int k = 0; k < ns; k++)
			dup |= seen_nodes[k] == d.node;
		if (up && ok && !dup) {
			seen_nodes[ns++] = d.node;
			h++;
		}
	}
	free(nodes);
	return h;
}

static int eg_cb(void *arg, int rc_row, uint64_t id, const struct st_egroup_rec *g)
{
	struct pctx *c = arg;
	int h;

	(void)id;
	cr_assert_eq(rc_row, 0);
	h = healthy_copies(c->st, g, c->buf);
	c->p.egroups++;
	c->p.protected_ += h >= c->rf;
	if (h < c->p.min_healthy)
		c->p.min_healthy = h;
	return 0;
}

static struct prot protection(const char *dir, int rf)
{
	struct pctx c = { .rf = rf, .p = { 0, 0, 99 } };
	struct st_msg err;

	c.buf = malloc(4 << 20);
	cr_assert_eq(st_store_open(dir, &c.st, &err), 0);
	for (int s = 0; s < st_meta_nshards(st_store_meta(c.st)); s++)
		cr_assert_eq(st_meta_scan_egroups(st_store_meta(c.st), s, eg_cb, &c, &err), 0);
	st_store_free(c.st);
	free(c.buf);
	return c.p;
}

static uint8_t *model;

static const char *cluster(int nodes, const char *disks, int rf, uint64_t size)
{
	const char *dir = th_tmpdir("prot");
	char n[8], r[8], sz[32], path[2048];

	snprintf(n, sizeof(n), "%d", nodes);
	snprintf(r, sizeof(r), "%d", rf);
	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
	cr_assert_eq(RUN(dir, "init", "--nodes", n, "--disks", disks), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", r), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "c", "--size", sz), 0);
	free(model);
	model = malloc(size);
	th_fill(model, size, 77);
	snprintf(path, sizeof(path), "%s/data", dir);
	cr_assert_eq(th_write_file(path, model, size), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "v", path), 0);
	return dir;
}

static void reads_back(const char *dir, uint64_t size)
{
	char out[2048];
	size_t n;
	uint8_t *got;

	snprintf(out, sizeof(out), "%s/readback", dir);
	cr_assert_eq(RUN(dir, "vdisk", "read", "v", "--output", out), 0, "read failed");
	got = th_read_file(out, &n);
	cr_assert_eq(n, size);
	cr_assert_eq(memcmp(got, model, size), 0, "bytes lost");
	free(got);
}

static void heal(const char *dir, const char *kind, const char *grace)
{
	cr_assert_eq(RUN(dir, "scan", kind, "--node-grace", grace), 0);
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
}

Test(protect, rf2_disk_failed, .timeout = 120)
{
	const char *dir = cluster(3, "ssd:1x256M", 2, 24 << 20);
	struct prot p;

	cr_assert_eq(RUN(dir, "disk", "fail", "2"), 0);
	p = protection(dir, 2);
	cr_assert_lt(p.protected_, p.egroups, "the failure must leave egroups under-replicated");
	heal(dir, "partial", "60s");
	p = protection(dir, 2);
	cr_assert_eq(p.protected_, p.egroups, "%d of %d egroups fully protected", p.protected_, p.egroups);
	reads_back(dir, 24 << 20);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
}

Test(protect, rf2_node_down_then_back, .timeout = 120)
{
	const char *dir = cluster(3, "ssd:1x256M", 2, 24 << 20);
	struct prot p;
	char *out = NULL;

	cr_assert_eq(RUN(dir, "node", "down", "1"), 0);
	heal(dir, "partial", "1h"); /* within the grace period: wait */
	th_run(dir, NULL, &out, NULL, "report", "--format", "json", NULL);
	cr_assert(strstr(out, "\"tasks_rereplicate\":0"), "re-replicated inside the grace period: %s", out);
	free(out);
	heal(dir, "full", "0s"); /* past it */
	p = protection(dir, 2);
	cr_assert_eq(p.protected_, p.egroups, "%d of %d egroups protected with node 1 down", p.protected_, p.egroups);
	reads_back(dir, 24 << 20);
	/* node 1 returns: its copies are extra, dropped while RF 2 holds */
	cr_assert_eq(RUN(dir, "node", "up", "1"), 0);
	heal(dir, "full", "0s");
	p = protection(dir, 2);
	cr_assert_eq(p.protected_, p.egroups);
	th_run(dir, NULL, &out, NULL, "scan", "full", "--dry-run", NULL);
	free(out);
	th_run(dir, NULL, &out, NULL, "report", "--format", "json", NULL);
	cr_assert(strstr(out, "\"extra_replicas\":0"), "extra copies left: %s", out);
	cr_assert(strstr(out, "\"under_replicated\":0"), "%s", out);
	free(out);
	reads_back(dir, 24 << 20);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
}

Test(protect, rf3_two_disks_on_different_nodes_failed, .timeout = 120)
{
	const char *dir = cluster(4, "ssd:2x256M", 3, 24 << 20);
	struct prot p;

	/* disks 1 (node 1) and 3 (node 2) */
	cr_assert_eq(RUN(dir, "disk", "fail", "1"), 0);
	cr_assert_eq(RUN(dir, "disk", "fail", "3"), 0);
	p = protection(dir, 3);
	cr_assert_lt(p.protected_, p.egroups);
	heal(dir, "full", "60s");
	p = protection(dir, 3);
	cr_assert_eq(p.protected_, p.egroups, "%d of %d egroups at RF 3", p.protected_, p.egroups);
	reads_back(dir, 24 << 20);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
}

Test(protect, scrubber_finds_and_repairs_bit_flips, .timeout = 120)
{
	const char *dir = cluster(3, "ssd:1x256M", 2, 12 << 20);
	char cmd[4096], *out = NULL;
	struct prot p;

	/* flip one byte inside the data of every replica file on disk 1 */
	snprintf(cmd, sizeof(cmd),
		 "for f in %s/disks/node1-*/egroups/*.eg; do printf '\\x5a' | dd of=$f bs=1 seek=4000 conv=notrunc status=none; done",
		 dir);
	cr_assert_eq(system(cmd), 0);
	p = protection(dir, 2);
	cr_assert_lt(p.protected_, p.egroups, "the flips must hurt");
	cr_assert_eq(RUN(dir, "scan", "partial", "--scrub-period", "0s"), 0);
	cr_assert_eq(th_run(dir, NULL, &out, NULL, "tasks", "run", "--kind", "scrub", NULL), 0);
	cr_assert(strstr(out, "scrub"), "%s", out);
	free(out);
	p = protection(dir, 2);
	cr_assert_eq(p.protected_, p.egroups, "%d of %d repaired", p.protected_, p.egroups);
	th_run(dir, NULL, &out, NULL, "fsck", NULL);
	cr_assert(strstr(out, "0 warnings"), "fsck still sees bad copies: %s", out);
	free(out);
	reads_back(dir, 12 << 20);
}

Test(protect, drained_disk_is_emptied_and_removed, .timeout = 120)
{
	const char *dir = cluster(3, "ssd:2x256M", 2, 16 << 20);
	char *out = NULL;

	cr_assert_eq(RUN(dir, "disk", "remove", "1"), 0);
	heal(dir, "full", "60s");
	heal(dir, "full", "60s"); /* the second scan sees it empty and removes it */
	th_run(dir, NULL, &out, NULL, "disk", "list", NULL);
	cr_assert(strstr(out, "removed"), "disk 1 was not removed: %s", out);
	free(out);
	cr_assert_eq(protection(dir, 2).protected_, protection(dir, 2).egroups);
	reads_back(dir, 16 << 20);
}

/*
 * Every task path that drops a replica, driven directly, must keep at
 * least min(healthy before, RF) healthy copies of every egroup.
 */
static void apply_all(const char *dir, enum job_task_kind kind)
{
	struct st_store *st;
	struct st_msg err;
	struct job_db *db;

	cr_assert_eq(st_store_open(dir, &st, &err), 0);
	cr_assert_eq(job_db_open(dir, &db, &err), 0);
	for (int s = 0; s < st_meta_nshards(st_store_meta(st)); s++) {
		char p[2048];
		sqlite3 *m;
		sqlite3_stmt *q;
		snprintf(p, sizeof(p), "%s/meta-%d.db", dir, s);
		cr_assert_eq(sqlite3_open(p, &m), SQLITE_OK);
		cr_assert_eq(sqlite3_prepare_v2(m, "SELECT id, version FROM egroups", -1, &q, NULL), SQLITE_OK);
		while (sqlite3_step(q) == SQLITE_ROW) {
			struct job_task t = { .kind = kind, .target = (uint64_t)sqlite3_column_int64(q, 0),
					      .version = (uint64_t)sqlite3_column_int64(q, 1) };
			int64_t bytes;
			struct st_msg terr = { "" };
			job_task_apply(st, &t, -1, &bytes, &terr); /* errors are fine; losing copies is not */
		}
		sqlite3_finalize(q);
		sqlite3_close(m);
	}
	job_db_close(db);
	st_store_free(st);
}

Test(protect, no_task_drops_the_last_healthy_copy, .timeout = 180)
{
	static const enum job_task_kind droppers[] = { JT_DROP_EXTRA, JT_REREPLICATE, JT_SCRUB, JT_FILE_SWEEP };
	const char *dir = cluster(3, "ssd:1x256M", 2, 12 << 20);
	char cmd[4096];
	struct prot before, after;

	/* every copy on node 1 corrupt: egroups there are down to one healthy copy */
	snprintf(cmd, sizeof(cmd),
		 "for f in %s/disks/node1-*/egroups/*.eg; do printf '\\x5a' | dd of=$f bs=1 seek=4000 conv=notrunc status=none; done",
		 dir);
	cr_assert_eq(system(cmd), 0);
	before = protection(dir, 2);
	cr_assert_eq(before.min_healthy, 1);
	for (size_t k = 0; k < sizeof(droppers) / sizeof(droppers[0]); k++) {
		apply_all(dir, droppers[k]);
		after = protection(dir, 2);
		cr_assert_geq(after.min_healthy, before.min_healthy < 2 ? before.min_healthy : 2,
			      "%s lowered the healthy copies of an egroup to %d", job_task_kind_name(droppers[k]),
			      after.min_healthy);
		before = after;
	}
	/* and the egroups with copies left can be read */
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
}

/*
 * rounds x (full scan, then `tasks run` slowed by step_us per step and
 * killed -9 after 30 ms + up to jitter_us): every byte reads back after each
 * kill. Returns how many runs the kill cut short.
 */
static int scan_and_kill_tasks(const char *dir, int rounds, const char *step_us, unsigned jitter_us, uint64_t *seed,
			       uint64_t size)
{
	const char *run[] = { "tasks", "run", "--sweep-grace", "0s", NULL };
	int kills = 0;

	for (int round = 0; round < rounds; round++) {
		pid_t pid;
		int st;
		cr_assert_eq(RUN(dir, "scan", "full", "--sweep-grace", "0s"), 0);
		setenv("CURATOR_TASK_STEP_DELAY_US", step_us, 1);
		pid = th_spawn(dir, NULL, NULL, run);
		unsetenv("CURATOR_TASK_STEP_DELAY_US");
		usleep((useconds_t)(30000 + th_rand(seed) % jitter_us));
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		kills += WIFSIGNALED(st);
		reads_back(dir, size); /* nothing lost at any point */
	}
	return kills;
}

Test(protect, killed_during_rereplication_loses_nothing, .timeout = 180)
{
	const char *dir = cluster(3, "ssd:1x256M", 2, 24 << 20);
	uint64_t seed = 99;
	int kills = 0;
	char *out = NULL;

	cr_assert_eq(RUN(dir, "disk", "fail", "3"), 0);
	kills = scan_and_kill_tasks(dir, 4, "40000", 200000, &seed, 24 << 20);
	cr_assert_gt(kills, 0);
	/* the killed runners' claims stay theirs until a TTL after a scan saw their last beats */
	cr_assert_eq(RUN(dir, "scan", "full", "--dry-run"), 0);
	usleep(TH_LEASE_TTL_US + 300000);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(RUN(dir, "scan", "full", "--sweep-grace", "0s"), 0);
		cr_assert_eq(RUN(dir, "tasks", "run", "--sweep-grace", "0s"), 0);
	}
	cr_assert_eq(protection(dir, 2).protected_, protection(dir, 2).egroups);
	cr_assert_eq(RUN(dir, "scan", "full", "--dry-run", "--sweep-grace", "0s"), 0);
	th_run(dir, NULL, &out, NULL, "report", "--format", "json", NULL);
	cr_assert(strstr(out, "\"orphan_files\":0"), "orphan copies left: %s", out);
	cr_assert(strstr(out, "\"under_replicated\":0"), "%s", out);
	free(out);
	reads_back(dir, 24 << 20);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
}

/* The egroup ids of strip members (data first), from the strips table. */
static int strip_members(const char *dir, uint64_t *out, int max)
{
	int n = 0;
	for (int s = 0; s < 8 && n == 0; s++) {
		char p[2048];
		sqlite3 *db;
		sqlite3_stmt *q;
		snprintf(p, sizeof(p), "%s/meta-%d.db", dir, s);
		if (access(p, F_OK) || sqlite3_open(p, &db) != SQLITE_OK)
			continue;
		if (sqlite3_prepare_v2(db, "SELECT members FROM strips LIMIT 1", -1, &q, NULL) == SQLITE_OK) {
			if (sqlite3_step(q) == SQLITE_ROW) {
				n = sqlite3_column_bytes(q, 0) / 8;
				if (n > max)
					n = max;
				memcpy(out, sqlite3_column_blob(q, 0), (size_t)n * 8);
			}
			sqlite3_finalize(q);
		}
		sqlite3_close(db);
	}
	return n;
}

enum { EC_SIZE = 24 << 20 };

/* A cluster whose 24 MiB vdisk was written RF2 two days ago and converted to RS(k,m) strips. */
static const char *ec_cluster(int nodes, int k, int m)
{
	char rs[16], nn[8];
	const char *dir = th_tmpdir("ec");
	char path[2048], now[32];
	uint64_t before, after;
	enum { SIZE = EC_SIZE };

	snprintf(rs, sizeof(rs), "%d,%d", k, m);
	snprintf(nn, sizeof(nn), "%d", nodes);
	cr_assert_eq(RUN(dir, "init", "--nodes", nn, "--disks", "ssd:1x256M"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2", "--rs", rs, "--ec-delay", "1d"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "c", "--size", "24M"), 0);
	free(model);
	model = malloc(SIZE);
	th_fill(model, SIZE, 123);
	snprintf(path, sizeof(path), "%s/data", dir);
	cr_assert_eq(th_write_file(path, model, SIZE), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "v", path), 0);
	before = du_bytes(dir);
	/* two days later the data is cold: a full scan groups it into strips */
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL) + 2 * 86400);
	setenv("CURATOR_NOW", now, 1);
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	after = du_bytes(dir);
	cr_assert_lt(after, before * (uint64_t)(k + m) / (uint64_t)(2 * k) + (1u << 20),
		     "RS(%d,%d) should store about %d/%d of RF2: %llu -> %llu", k, m, k + m, 2 * k,
		     (unsigned long long)before, (unsigned long long)after);
	reads_back(dir, SIZE);
	return dir;
}

static void ec_scenario(int nodes, int k, int m, int lose)
{
	const char *dir = ec_cluster(nodes, k, m);
	char cmd[4096], *out = NULL;
	uint64_t members[20];
	enum { SIZE = EC_SIZE };
	int n;

	/* lose `lose` members of one strip (their only copies) */
	n = strip_members(dir, members, 20);
	cr_assert_eq(n, k + m, "no strip was made");
	for (int i = 0; i < lose; i++) {
		snprintf(cmd, sizeof(cmd), "rm -f %s/disks/*/egroups/%016llx.eg", dir, (unsigned long long)members[i * (k + m - 1) / (lose > 1 ? lose - 1 : 1) % (k + m)]);
		cr_assert_eq(system(cmd), 0);
	}
	reads_back(dir, SIZE); /* decoded from what is left */
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	th_run(dir, NULL, &out, NULL, "report", "--format", "json", NULL);
	cr_assert(strstr(out, "\"strips_degraded\":0") == NULL, "the losses were not noticed: %s", out);
	free(out);
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	cr_assert_eq(RUN(dir, "scan", "full", "--dry-run"), 0);
	th_run(dir, NULL, &out, NULL, "report", "--format", "json", NULL);
	cr_assert(strstr(out, "\"strips_degraded\":0") && strstr(out, "\"under_replicated\":0"),
		  "full protection not restored: %s", out);
	free(out);
	th_run(dir, NULL, &out, NULL, "fsck", NULL);
	cr_assert(strstr(out, "0 violations, 0 warnings"), "%s", out);
	free(out);
	reads_back(dir, SIZE);
	unsetenv("CURATOR_NOW");
}

Test(protect, rs42_two_members_lost, .timeout = 180)
{
	ec_scenario(6, 4, 2, 2);
}

Test(protect, rs21_small_cluster_one_member_lost, .timeout = 180)
{
	ec_scenario(3, 2, 1, 1);
}

Test(protect, scrubber_repairs_bit_flips_in_strip_data_and_parity, .timeout = 180)
{
	const char *dir = ec_cluster(6, 4, 2);
	char cmd[4096], *out = NULL;
	uint64_t members[20];
	int n = strip_members(dir, members, 20);

	cr_assert_eq(n, 6, "no strip was made");
	/* one flipped byte in data member 0 and in parity member 4 (past its header) */
	for (int i = 0; i < 2; i++) {
		snprintf(cmd, sizeof(cmd),
			 "f=$(ls %s/disks/*/egroups/%016llx.eg) && printf '\\x5a' | dd of=$f bs=1 seek=%d conv=notrunc status=none "
			 "&& test $(ls %s/disks/*/egroups/%016llx.eg | wc -l) = 1",
			 dir, (unsigned long long)members[i * 4], 5000 + i * 1000, dir, (unsigned long long)members[i * 4]);
		cr_assert_eq(system(cmd), 0, "%s", cmd);
	}
	cr_assert_eq(RUN(dir, "scan", "partial", "--scrub-period", "0s"), 0);
	cr_assert_eq(RUN(dir, "tasks", "run", "--kind", "scrub"), 0);
	th_run(dir, NULL, &out, NULL, "tasks", "list", "--kind", "scrub", "--state", "done", NULL);
	{
		const char *a = strstr(out, "rebuilt from its strip");
		cr_assert(a && strstr(a + 1, "rebuilt from its strip"), "the scrubber did not repair both: %s", out);
	}
	free(out);
	/* both repairs are good: the strip now survives losing two other members */
	for (int i = 1; i <= 2; i++) {
		snprintf(cmd, sizeof(cmd), "rm -f %s/disks/*/egroups/%016llx.eg", dir, (unsigned long long)members[i == 1 ? 1 : 5]);
		cr_assert_eq(system(cmd), 0);
	}
	reads_back(dir, EC_SIZE);
	unsetenv("CURATOR_NOW");
}

/* Parity egroups and complete strips, by walking the egroup map. */
static void strip_census(const char *dir, int *parity, int *strips, int *complete)
{
	struct st_store *st;
	struct st_msg err;

	*parity = *strips = *complete = 0;
	cr_assert_eq(st_store_open(dir, &st, &err), 0);
	for (int s = 0; s < st_meta_nshards(st_store_meta(st)); s++) {
		char p[2048];
		sqlite3 *db;
		sqlite3_stmt *q;
		snprintf(p, sizeof(p), "%s/meta-%d.db", dir, s);
		cr_assert_eq(sqlite3_open(p, &db), SQLITE_OK);
		if (sqlite3_prepare_v2(db, "SELECT id FROM egroups", -1, &q, NULL) == SQLITE_OK) {
			while (sqlite3_step(q) == SQLITE_ROW) {
				struct st_egroup_rec g;
				st_egroup_rec_init(&g);
				if (!st_meta_egroup_get(st_store_meta(st), (uint64_t)sqlite3_column_int64(q, 0), &g, NULL))
					*parity += (g.flags & ST_EGROUP_PARITY) != 0;
				st_egroup_rec_release(&g);
			}
			sqlite3_finalize(q);
		}
		if (sqlite3_prepare_v2(db, "SELECT id FROM strips", -1, &q, NULL) == SQLITE_OK) {
			while (sqlite3_step(q) == SQLITE_ROW) {
				struct st_strip sp;
				int ok = 1;
				(*strips)++;
				cr_assert_eq(st_meta_strip_get(st_store_meta(st), (uint64_t)sqlite3_column_int64(q, 0), &sp, NULL), 0);
				for (int i = 0; i < sp.k + sp.m && ok; i++) {
					struct st_egroup_rec g;
					st_egroup_rec_init(&g);
					ok = !st_meta_egroup_get(st_store_meta(st), sp.members[i], &g, NULL) && (g.flags & ST_EGROUP_EC) &&
					     g.strip == sp.id;
					st_egroup_rec_release(&g);
				}
				*complete += ok;
			}
			sqlite3_finalize(q);
		}
		sqlite3_close(db);
	}
	st_store_free(st);
}

Test(protect, killed_during_ec_conversion_loses_nothing, .timeout = 240)
{
	const char *dir = th_tmpdir("eck");
	char path[2048], now[32], *out = NULL;
	enum { SIZE = 24 << 20 };
	uint64_t seed = 4242;
	int kills = 0, parity, strips, complete;

	cr_assert_eq(RUN(dir, "init", "--nodes", "6", "--disks", "ssd:1x256M"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2", "--rs", "4,2", "--ec-delay", "1d"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "c", "--size", "24M"), 0);
	free(model);
	model = malloc(SIZE);
	th_fill(model, SIZE, 321);
	snprintf(path, sizeof(path), "%s/data", dir);
	cr_assert_eq(th_write_file(path, model, SIZE), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "v", path), 0);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL) + 2 * 86400);
	setenv("CURATOR_NOW", now, 1);
	kills = scan_and_kill_tasks(dir, 4, "60000", 300000, &seed, SIZE);
	cr_assert_gt(kills, 0);
	/* the killed runners' operations hold S0 until a scan a TTL after their last beat reaps them */
	cr_assert_eq(RUN(dir, "scan", "full", "--dry-run"), 0);
	usleep(TH_LEASE_TTL_US + 300000);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(RUN(dir, "scan", "full", "--sweep-grace", "0s"), 0);
		cr_assert_eq(RUN(dir, "tasks", "run", "--sweep-grace", "0s"), 0);
	}
	strip_census(dir, &parity, &strips, &complete);
	cr_assert_eq(strips, complete, "%d of %d strips complete", complete, strips);
	cr_assert_eq(parity, 2 * strips, "orphan parity: %d parity egroups for %d strips", parity, strips);
	cr_assert_eq(RUN(dir, "scan", "full", "--dry-run", "--sweep-grace", "0s"), 0);
	th_run(dir, NULL, &out, NULL, "report", "--format", "json", NULL);
	cr_assert(strstr(out, "\"orphan_files\":0") && strstr(out, "\"under_replicated\":0"), "%s", out);
	free(out);
	reads_back(dir, SIZE);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
	unsetenv("CURATOR_NOW");
}


Test(protect, mostly_dead_strips_are_dissolved_and_compacted, .timeout = 240)
{
	const char *dir = ec_cluster(6, 4, 2);
	enum { OVER = 20 << 20 };
	char path[2048], *out = NULL;
	uint64_t before = du_bytes(dir), after;
	int parity, strips, complete;

	/* overwrite 20 of the 24 MiB: most of every strip is dead */
	th_fill(model, OVER, 99);
	snprintf(path, sizeof(path), "%s/over", dir);
	cr_assert_eq(th_write_file(path, model, OVER), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "v", path), 0);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(RUN(dir, "scan", "full", "--sweep-grace", "0s"), 0);
		cr_assert_eq(RUN(dir, "tasks", "run", "--sweep-grace", "0s"), 0);
	}
	th_run(dir, NULL, &out, NULL, "tasks", "list", "--kind", "strip_dissolve", "--state", "done", NULL);
	cr_assert(strstr(out, "strip_dissolve"), "no strip was dissolved: %s", out);
	free(out);
	strip_census(dir, &parity, &strips, &complete);
	cr_assert_eq(strips, complete, "%d of %d strips complete", complete, strips);
	cr_assert_eq(parity, 2 * strips, "orphan parity: %d parity egroups for %d strips", parity, strips);
	cr_assert_eq(RUN(dir, "scan", "full", "--dry-run", "--sweep-grace", "0s"), 0);
	th_run(dir, NULL, &out, NULL, "report", "--format", "json", NULL);
	cr_assert(strstr(out, "\"orphan_files\":0") && strstr(out, "\"under_replicated\":0") &&
		  strstr(out, "\"strips_degraded\":0"), "%s", out);
	free(out);
	reads_back(dir, EC_SIZE);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
	/* 36 MiB of strips + 40 MiB of new RF2 copies without strip GC */
	after = du_bytes(dir);
	cr_assert_lt(after, before + (24ull << 20), "strip bytes not reclaimed: %llu -> %llu",
		     (unsigned long long)before, (unsigned long long)after);
	unsetenv("CURATOR_NOW");
}

/* One task, forced: as a stale or misqueued task would run. */
static void apply_one(const char *dir, enum job_task_kind kind, uint64_t target)
{
	struct st_store *st;
	struct st_msg err, terr = { "" };
	struct job_task t = { .kind = kind, .target = target };
	int64_t bytes;

	cr_assert_eq(st_store_open(dir, &st, &err), 0);
	job_task_apply(st, &t, -1, &bytes, &terr); /* errors are fine; losing data is not */
	st_store_free(st);
}

Test(protect, no_task_loses_a_strip_member_with_one_bad_copy, .timeout = 240)
{
	static const enum job_task_kind kinds[] = { JT_DROP_EXTRA, JT_REREPLICATE, JT_SCRUB, JT_FILE_SWEEP,
						   JT_EGROUP_COMPACT, JT_EC_REBUILD };
	const char *dir = ec_cluster(6, 4, 2);
	char cmd[4096];
	uint64_t members[20];
	int n = strip_members(dir, members, 20);

	cr_assert_eq(n, 6, "no strip was made");
	/* member 0's only copy is bad: only its strip still holds its bytes */
	snprintf(cmd, sizeof(cmd), "f=$(ls %s/disks/*/egroups/%016llx.eg) && printf '\\x5a' | dd of=$f bs=1 seek=6000 conv=notrunc status=none",
		 dir, (unsigned long long)members[0]);
	cr_assert_eq(system(cmd), 0);
	/* a complete strip is not rolled back; a dissolve decodes the bad member or gives up */
	{
		struct st_store *st;
		struct st_msg err;
		struct st_egroup_rec g;
		cr_assert_eq(st_store_open(dir, &st, &err), 0);
		st_egroup_rec_init(&g);
		cr_assert_eq(st_meta_egroup_get(st_store_meta(st), members[0], &g, &err), 0);
		st_store_free(st);
		apply_one(dir, JT_STRIP_ROLLBACK, g.strip);
		reads_back(dir, EC_SIZE);
		apply_one(dir, JT_STRIP_DISSOLVE, g.strip);
		reads_back(dir, EC_SIZE);
		st_egroup_rec_release(&g);
	}
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		apply_all(dir, kinds[k]);
		reads_back(dir, EC_SIZE);
	}
	unsetenv("CURATOR_NOW");
}

/* Full scans and all their tasks, twice. */
static void strip_cycles(const char *dir)
{
	for (int i = 0; i < 2; i++) {
		th_run(dir, NULL, NULL, NULL, "scan", "full", "--sweep-grace", "0s", NULL);
		th_run(dir, NULL, NULL, NULL, "tasks", "run", "--sweep-grace", "0s", NULL);
	}
}

/*
 * The strip row is what strip_rollback and strip_dissolve trust. Crafted
 * (members swapped, valid checksum) or flipped (checksum broken), it never
 * costs a member its bytes: the forced tasks and two full cycles run on it,
 * then the real row comes back and every byte still reads.
 */
Test(protect, corrupt_or_crafted_strip_row_loses_no_member, .timeout = 300)
{
	const char *dir = ec_cluster(6, 4, 2);
	uint64_t members[20];
	struct st_store *st;
	struct st_msg err;
	struct st_egroup_rec g;
	struct st_strip sp, crafted;
	char flip[4096];
	int shard;

	cr_assert_eq(strip_members(dir, members, 20), 6, "no strip was made");
	cr_assert_eq(st_store_open(dir, &st, &err), 0, "%s", err.text);
	st_egroup_rec_init(&g);
	cr_assert_eq(st_meta_egroup_get(st_store_meta(st), members[0], &g, &err), 0, "%s", err.text);
	cr_assert_eq(st_meta_strip_get(st_store_meta(st), g.strip, &sp, &err), 0, "%s", err.text);
	shard = st_meta_shard_egroup(st_store_meta(st), sp.id);
	st_store_free(st);
	/* flipped: the checksum one bit off; the tasks refuse, the scans keep the strip */
	snprintf(flip, sizeof(flip), "sqlite3 %s/meta-%d.db \"UPDATE strips SET crc = (crc | 1) - (crc & 1) WHERE id = %lld\"",
		 dir, shard, (long long)sp.id);
	cr_assert_eq(system(flip), 0, "%s", flip);
	apply_one(dir, JT_STRIP_ROLLBACK, sp.id);
	reads_back(dir, EC_SIZE);
	{
		/* a rollback as queued for a strip whose row is gone: with its parity ids */
		struct job_task t = { .kind = JT_STRIP_ROLLBACK, .target = sp.id, .arg = (uint8_t *)(sp.members + sp.k),
				      .arglen = (size_t)sp.m * 8 };
		struct st_msg terr = { "" };
		int64_t bytes;
		cr_assert_eq(st_store_open(dir, &st, &err), 0, "%s", err.text);
		cr_assert_neq(job_task_apply(st, &t, -1, &bytes, &terr), 0, "a rollback went ahead on a corrupt strip row");
		st_store_free(st);
	}
	apply_one(dir, JT_STRIP_DISSOLVE, sp.id);
	reads_back(dir, EC_SIZE);
	strip_cycles(dir);
	reads_back(dir, EC_SIZE);
	cr_assert_eq(system(flip), 0, "%s", flip);
	cr_assert_eq(st_store_open(dir, &st, &err), 0, "%s", err.text);
	cr_assert_eq(st_meta_strip_get(st_store_meta(st), sp.id, &crafted, &err), 0, "the strip did not survive: %s",
		     err.text);
	cr_assert_eq(memcmp(&crafted, &sp, sizeof(sp)), 0, "the strip changed under a corrupt row");
	/* crafted: data member 0 and parity member 0 change places, checksum valid */
	crafted.members[0] = sp.members[sp.k];
	crafted.members[sp.k] = sp.members[0];
	cr_assert_eq(st_meta_begin(st_store_meta(st), shard, &err), 0, "%s", err.text);
	cr_assert_eq(st_meta_strip_put(st_store_meta(st), &crafted, &err), 0, "%s", err.text);
	cr_assert_eq(st_meta_commit(st_store_meta(st), shard, &err), 0, "%s", err.text);
	st_store_free(st);
	apply_one(dir, JT_STRIP_ROLLBACK, sp.id);
	reads_back(dir, EC_SIZE);
	apply_one(dir, JT_STRIP_DISSOLVE, sp.id);
	reads_back(dir, EC_SIZE);
	strip_cycles(dir);
	reads_back(dir, EC_SIZE);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
	st_egroup_rec_release(&g);
	unsetenv("CURATOR_NOW");
}
