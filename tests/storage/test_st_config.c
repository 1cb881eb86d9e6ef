#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/st_config.h"
#include "storage/st_lease.h"
#include "tests/helpers.h"

static struct st_config *fresh(const char **dir, int nodes)
{
	struct st_config *cfg;
	struct st_msg err;

	*dir = th_tmpdir("cfg");
	cr_assert_eq(st_config_create(*dir, 2, 0, &cfg, &err), 0, "%s", err.text);
	for (int n = 1; n <= nodes; n++)
		cr_assert_eq(st_config_node_add(cfg, (uint32_t)n, &err), 0);
	return cfg;
}

Test(st_config, container_policies_validated_and_stored)
{
	const char *dir;
	struct st_config *cfg = fresh(&dir, 3);
	struct st_container c, g;
	struct st_msg err;

	st_container_defaults(&c);
	strcpy(c.name, "gold");
	c.rf = 3;
	c.rs_k = 2;
	c.rs_m = 1;
	c.ec_delay = 86400;
	c.compress = ST_MODE_POST;
	c.compress_delay = 600;
	c.codec = ST_CODEC_ZLIB;
	c.dedup = ST_MODE_INLINE;
	c.chunking = ST_CHUNK_CDC;
	c.ilm_high = 80;
	c.ilm_low = 50;
	c.cold_age = 3600;
	c.ntiers = 2;
	c.tiers[0] = ST_TIER_HDD;
	c.tiers[1] = ST_TIER_CLOUD;
	cr_assert_eq(st_config_container_create(cfg, &c, &err), 0, "%s", err.text);
	cr_assert_eq(st_config_container_get(cfg, "gold", &g, &err), 0);
	cr_assert_eq(g.rf, 3);
	cr_assert_eq(g.rs_k, 2);
	cr_assert_eq(g.rs_m, 1);
	cr_assert_eq(g.ec_delay, 86400);
	cr_assert_eq(g.compress, ST_MODE_POST);
	cr_assert_eq(g.compress_delay, 600);
	cr_assert_eq(g.codec, ST_CODEC_ZLIB);
	cr_assert_eq(g.dedup, ST_MODE_INLINE);
	cr_assert_eq(g.chunking, ST_CHUNK_CDC);
	cr_assert_eq(g.ilm_high, 80);
	cr_assert_eq(g.ilm_low, 50);
	cr_assert_eq(g.cold_age, 3600);
	cr_assert_eq(g.ntiers, 2);
	cr_assert_eq(g.tiers[1], ST_TIER_CLOUD);
	cr_assert_eq(st_config_container_create(cfg, &c, &err), ST_EEXIST);

	st_container_defaults(&c);
	strcpy(c.name, "x");
	c.rf = 4;
	cr_assert_eq(st_container_validate(&c, 3, &err), ST_EINVAL);
	c.rf = 3;
	cr_assert_eq(st_container_validate(&c, 2, &err), ST_EPOLICY, "RF above the node count");
	c.rf = 2;
	c.rs_k = 4;
	c.rs_m = 2;
	cr_assert_eq(st_container_validate(&c, 3, &err), ST_EPOLICY, "strip wider than the cluster");
	c.rs_k = 1;
	cr_assert_eq(st_container_validate(&c, 8, &err), ST_EINVAL);
	c.rs_k = c.rs_m = 0;
	c.ilm_high = 50;
	c.ilm_low = 60;
	cr_assert_eq(st_container_validate(&c, 3, &err), ST_EINVAL);
	c.ilm_high = 75;
	c.ilm_low = 60;
	c.ntiers = 2;
	c.tiers[0] = c.tiers[1] = ST_TIER_SSD;
	cr_assert_eq(st_container_validate(&c, 3, &err), ST_EINVAL);
	c.ntiers = 1;
	c.tiers[0] = ST_TIER_CLOUD;
	cr_assert_eq(st_container_validate(&c, 3, &err), ST_EINVAL);
	strcpy(c.name, "bad name");
	c.tiers[0] = ST_TIER_SSD;
	cr_assert_eq(st_container_validate(&c, 3, &err), ST_EINVAL);
	st_config_free(cfg);
	st_rm_rf(dir);
}

Test(st_config, ids_are_unique_across_handles_and_persisted)
{
	const char *dir;
	struct st_config *a = fresh(&dir, 2), *b;
	struct st_msg err;
	uint64_t x, y, z;

	cr_assert_eq(st_config_open(dir, &b, &err), 0);
	cr_assert_eq(st_config_ids_reserve(a, 1, 100, &x, &err), 0);
	cr_assert_eq(st_config_ids_reserve(b, 1, 100, &y, &err), 0);
	cr_assert_eq(st_config_ids_reserve(a, 2, 100, &z, &err), 0);
	cr_assert_eq(x >> 48, 1);
	cr_assert_eq(z >> 48, 2);
	cr_assert(y >= x + 100, "overlapping batches");
	st_config_free(a);
	st_config_free(b);
	cr_assert_eq(st_config_open(dir, &a, &err), 0);
	cr_assert_eq(st_config_ids_reserve(a, 1, 1, &z, &err), 0);
	cr_assert(z >= y + 100, "counter not persisted");
	st_config_free(a);
	st_rm_rf(dir);
}

/* Is lease id expired by this observation? (observe records what it saw) */
static int observed_expired(struct st_config *cfg, int64_t id, int64_t *beat)
{
	struct st_lease_info *v = NULL;
	struct st_msg err;
	int n = 0, expired = -1;

	cr_assert_eq(st_lease_observe(cfg, &v, &n, &err), 0, "%s", err.text);
	for (int i = 0; i < n; i++)
		if (v[i].id == id) {
			expired = v[i].expired;
			*beat = v[i].beat;
		}
	free(v);
	return expired;
}

Test(st_config, scan_sequence_respects_in_flight_and_dead_leases)
{
	const char *dir;
	struct st_config *cfg;
	struct st_lease *l;
	struct st_msg err;
	uint64_t s1, s2, s0;
	int64_t op1, op2, child_lease, beat;
	int pfd[2];
	pid_t pid;

	setenv("CURATOR_LEASE_TTL", "600ms", 1);
	cfg = fresh(&dir, 1);
	cr_assert_eq(st_lease_acquire(cfg, ST_LEASE_WRITER, "test", &l, &err), 0, "%s", err.text);
	cr_assert_eq(st_config_op_begin(cfg, st_lease_id(l), "t", &s1, &op1, &err), 0);
	cr_assert_eq(st_config_op_begin(cfg, st_lease_id(l), "t", &s2, &op2, &err), 0);
	cr_assert_gt(s2, s1);
	cr_assert_eq(st_config_scan_seq(cfg, &s0, &err), 0);
	cr_assert_eq(s0, s1, "S0 must not pass the oldest in-flight operation");
	cr_assert_eq(st_config_op_end(cfg, op1, &err), 0);
	cr_assert_eq(st_config_scan_seq(cfg, &s0, &err), 0);
	cr_assert_eq(s0, s2);
	cr_assert_eq(st_config_op_end(cfg, op2, &err), 0);
	cr_assert_eq(st_config_scan_seq(cfg, &s0, &err), 0);
	cr_assert_eq(s0, s2 + 1);
	cr_assert_eq(st_config_op_begin(cfg, 999999, "no such lease", &s1, &op1, &err), ST_ELEASE,
		     "an operation needs a live lease");

	/* a process (its own lease) that begins an operation and dies (kill -9) */
	cr_assert_eq(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		struct st_config *c;
		struct st_lease *cl;
		uint64_t s;
		int64_t op, id;
		if (st_config_open(dir, &c, NULL) || st_lease_acquire(c, ST_LEASE_WRITER, "child", &cl, NULL))
			_exit(1);
		id = st_lease_id(cl);
		if (st_config_op_begin(c, id, "child", &s, &op, NULL))
			_exit(1);
		if (write(pfd[1], &id, sizeof(id)) != sizeof(id))
			_exit(1);
		pause();
		_exit(0);
	}
	cr_assert_eq(read(pfd[0], &child_lease, sizeof(child_lease)), (ssize_t)sizeof(child_lease));
	cr_assert_eq(observed_expired(cfg, child_lease, &beat), 0);
	usleep(900 * 1000); /* 1.5 TTL: a live holder beats every TTL/6 */
	cr_assert_eq(observed_expired(cfg, child_lease, &beat), 0, "a live holder is never expired");
	cr_assert_eq(st_config_scan_seq(cfg, &s0, &err), 0);
	cr_assert_eq(s0, s2 + 1, "the live child's operation holds S0 back");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	cr_assert_eq(observed_expired(cfg, child_lease, &beat), 0, "first sight of the last beat");
	cr_assert_eq(st_config_scan_seq(cfg, &s0, &err), 0);
	cr_assert_eq(s0, s2 + 1, "an operation stays until its lease is declared dead");
	usleep(700 * 1000);
	cr_assert_eq(observed_expired(cfg, child_lease, &beat), 1, "silent for the TTL on this clock");
	cr_assert_eq(st_lease_fence_begin(cfg, child_lease, beat, &err), 0, "%s", err.text);
	cr_assert_eq(st_config_scan_seq(cfg, &s0, &err), 0);
	cr_assert_eq(s0, s2 + 1, "a lease being fenced still holds S0");
	cr_assert_eq(st_lease_fence_end(cfg, child_lease, &err), 0, "%s", err.text);
	cr_assert_eq(st_config_scan_seq(cfg, &s0, &err), 0);
	cr_assert_eq(s0, s2 + 2, "the dead child's operation must be cleaned up");
	cr_assert_eq(st_lease_check(l, &err), 0, "%s", err.text);
	st_lease_release(l);
	st_config_free(cfg);
	st_rm_rf(dir);
	unsetenv("CURATOR_LEASE_TTL");
}

Test(st_config, not_a_cluster)
{
	const char *dir = th_tmpdir("cfg");
	struct st_config *cfg;
	struct st_msg err;
	char p[512];

	cr_assert_eq(st_config_open(dir, &cfg, &err), ST_ENOTCLUSTER);
	cr_assert_eq(st_config_open("/nonexistent/x", &cfg, &err), ST_ENOTCLUSTER);
	snprintf(p, sizeof(p), "%s/config.db", dir);
	th_write_file(p, "garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage", 80);
	cr_assert_eq(st_config_open(dir, &cfg, &err), ST_ENOTCLUSTER);
	cr_assert(strstr(err.text, "not a cluster"), "%s", err.text);
	st_rm_rf(dir);
}

static int reads_cb(void *arg, uint64_t egroup, uint32_t reads, int64_t last)
{
	uint64_t *seen = arg;
	(void)last;
	seen[egroup % 4] = reads;
	return 0;
}

/* Read counts add up per egroup; clearing a batch removes exactly those rows. */
Test(st_config, egroup_reads_add_and_clear_in_batches)
{
	const char *dir;
	struct st_config *cfg = fresh(&dir, 1);
	struct st_msg err;
	uint64_t eg[3] = { 1, 2, 3 }, seen[4] = { 0 };
	uint32_t r[3] = { 5, 6, 7 };

	cr_assert_eq(st_config_reads_add(cfg, 3, eg, r, 100, &err), 0);
	cr_assert_eq(st_config_reads_add(cfg, 3, eg, r, 200, &err), 0);
	cr_assert_eq(st_config_reads_clear(cfg, 2, eg, &err), 0);
	cr_assert_eq(st_config_reads_clear(cfg, 0, eg, &err), 0);
	cr_assert_eq(st_config_reads(cfg, reads_cb, seen, &err), 0);
	cr_assert_eq(seen[1], 0);
	cr_assert_eq(seen[2], 0);
	cr_assert_eq(seen[3], 14, "egroup 3 keeps both additions");
	st_config_free(cfg);
	st_rm_rf(dir);
}

/*
 * Rows that decide placement and protection are checked when read: a row
 * that breaks an invariant (edited with the sqlite3 shell) is ST_ECORRUPT
 * with a reason, from the single-row reads and the listings alike, and the
 * row is fine again once repaired.
 */
Test(st_config, rows_that_break_invariants_are_refused_when_read)
{
	static const struct {
		const char *sql, *why;
	} bad[] = {
		{ "UPDATE containers SET rf = 0", "--rf 0" },
		{ "UPDATE containers SET rf = 9", "--rf 9" },
		{ "UPDATE containers SET rs_k = 1, rs_m = 9", "--rs 1,9" },
		{ "UPDATE containers SET ilm_high = 10, ilm_low = 50", "--ilm" },
		{ "UPDATE containers SET tiers = 'ssd,tape'", "unknown tier 'tape'" },
		{ "UPDATE containers SET compress = 7", "compress/dedup" },
		{ "UPDATE vdisks SET block_size = 3", "block size 3" },
		{ "UPDATE vdisks SET block_size = 0", "block size 0" },
		{ "UPDATE vdisks SET size = -5", "size -5" },
		{ "UPDATE vdisks SET state = 9", "state 9" },
		{ "UPDATE vdisks SET state = 1", "state 1 but deleted at 0" },
		{ "UPDATE disks SET tier = 7", "unknown tier 7" },
		{ "UPDATE disks SET node = 0", "node 0" },
		{ "UPDATE disks SET capacity = 0", "capacity 0" },
		{ "UPDATE nodes SET up = 5", "up = 5" },
	};
	const char *dir;
	struct st_config *cfg = fresh(&dir, 3);
	struct st_container c, g;
	struct st_vdisk v = { .id = 77, .container = 1, .size = 1 << 20, .block_size = 65536 }, w;
	struct st_msg err;
	uint32_t disk;
	char db[1024], cmd[2048];

	st_container_defaults(&c);
	strcpy(c.name, "c");
	c.rf = 2;
	cr_assert_eq(st_config_container_create(cfg, &c, &err), 0, "%s", err.text);
	strcpy(v.name, "v");
	cr_assert_eq(st_config_vdisk_insert(cfg, &v, &err), 0, "%s", err.text);
	cr_assert_eq(st_config_disk_add(cfg, 1, ST_TIER_SSD, 1 << 30, &disk, &err), 0, "%s", err.text);
	st_config_free(cfg);
	snprintf(db, sizeof(db), "%s/config.db", dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s.good", db, db);
	cr_assert_eq(system(cmd), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *list = NULL;
		int n = 0, rc = 0;
		snprintf(cmd, sizeof(cmd), "cp %s.good %s && sqlite3 %s \"%s\"", db, db, db, bad[i].sql);
		cr_assert_eq(system(cmd), 0, "%s", cmd);
		cr_assert_eq(st_config_open(dir, &cfg, &err), 0, "%s", err.text);
		if (!strncmp(bad[i].sql, "UPDATE containers", 17)) {
			rc = st_config_container_get(cfg, "c", &g, &err);
			cr_assert_eq(rc, ST_ECORRUPT, "%s: %d", bad[i].sql, rc);
			cr_assert(strstr(err.text, bad[i].why), "%s: %s", bad[i].sql, err.text);
			rc = st_config_containers(cfg, (struct st_container **)&list, &n, &err);
		} else if (!strncmp(bad[i].sql, "UPDATE vdisks", 13)) {
			rc = st_config_vdisk_by_id(cfg, 77, &w, &err);
			cr_assert_eq(rc, ST_ECORRUPT, "%s: %d", bad[i].sql, rc);
			cr_assert(strstr(err.text, bad[i].why), "%s: %s", bad[i].sql, err.text);
			rc = st_config_vdisks(cfg, 1, (struct st_vdisk **)&list, &n, &err);
		} else if (!strncmp(bad[i].sql, "UPDATE disks", 12)) {
			struct st_disk d;
			rc = st_config_disk_get(cfg, disk, &d, &err);
			cr_assert_eq(rc, ST_ECORRUPT, "%s: %d", bad[i].sql, rc);
			cr_assert(strstr(err.text, bad[i].why), "%s: %s", bad[i].sql, err.text);
			rc = st_config_disks(cfg, (struct st_disk **)&list, &n, &err);
		} else {
			rc = st_config_nodes(cfg, (struct st_node **)&list, &n, &err);
		}
		cr_assert_eq(rc, ST_ECORRUPT, "listing after %s: %d", bad[i].sql, rc);
		cr_assert(strstr(err.text, bad[i].why), "%s: %s", bad[i].sql, err.text);
		free(list);
		st_config_free(cfg);
	}
	snprintf(cmd, sizeof(cmd), "cp %s.good %s", db, db);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(st_config_open(dir, &cfg, &err), 0, "%s", err.text);
	cr_assert_eq(st_config_container_get(cfg, "c", &g, &err), 0, "%s", err.text);
	cr_assert_eq(st_config_vdisk_by_id(cfg, 77, &w, &err), 0, "%s", err.text);
	st_config_free(cfg);
}
