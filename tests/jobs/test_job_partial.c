/*
 * Partial scans that cost what changed (jobs/job_partial.c, job_scan.c):
 * on a state with every kind of change since the last scan (new and
 * overwritten data, deleted egroups, a refcount lowered, a bad replica,
 * reads, egroups crossing the compression delay, the cold age and the
 * scrub period), a partial scan that reads only the change log and the
 * time windows finds exactly the tasks of a partial scan over every egroup
 * (scan partial --all), on 1 and 2 ranks, while reading fewer egroups; the
 * log is taken in by scans that succeed (the next scan of an unchanged
 * cluster reads only what the safety rule kept and what was read lately); a format-2 shard is upgraded in
 * place (the times filled from its rows) and reads back.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "storage/st_store.h"
#include "tests/helpers.h"

#define RUN(dir, ...) th_run(dir, NULL, NULL, NULL, __VA_ARGS__, NULL)

static long long counter(const char *dir, const char *name)
{
	return th_sh_number("sqlite3 %s/curator.db \"SELECT json_extract(counters, '$.%s') FROM scans WHERE id ="
			    " (SELECT max(id) FROM scans)\"",
			    dir, name);
}

static void write_file(const char *dir, const char *vdisk, const char *off, size_t len, uint64_t seed)
{
	char path[2048];
	void *buf = malloc(len);

	snprintf(path, sizeof(path), "%s/data-%llu", dir, (unsigned long long)seed);
	th_fill(buf, len, seed);
	cr_assert_eq(th_write_file(path, buf, len), 0);
	free(buf);
	cr_assert_eq(RUN(dir, "vdisk", "write", vdisk, "--offset", off, path), 0);
}

static void set_now(long long t)
{
	char v[32];

	snprintf(v, sizeof(v), "%lld", t);
	setenv("CURATOR_NOW", v, 1);
}

/* The sorted task lines of a --dry-run partial scan (all: --all) on `ranks` ranks (malloc'd). */
static char *partial_tasks(const char *dir, int all, int ranks, long long *egroups)
{
	char out[2048], cmd[4400];
	const char *args[] = { "scan", "partial", "--dry-run", "--scrub-period", "1d", "--tasks-out", out,
			       all ? "--all" : NULL, NULL };
	size_t n;
	char *s;

	snprintf(out, sizeof(out), "%s/tasks-%d-%d", dir, all, ranks);
	cr_assert_eq(th_run_ranks(ranks, dir, args), 0);
	cr_assert_eq(counter(dir, "incremental"), all ? 0 : 1, "all %d: the wrong path was taken", all);
	*egroups = counter(dir, "egroups");
	snprintf(cmd, sizeof(cmd), "sort %s > %s.sorted", out, out);
	cr_assert_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s.sorted", out);
	s = th_read_file(cmd, &n);
	cr_assert(s);
	return s;
}

/* Change egroups of the cluster through the storage API: one's refcounts to 0, a replica of another bad. */
static void change_rows(const char *dir)
{
	struct st_store *st;
	struct st_vdisk v;
	struct st_msg err;
	struct st_block *b = malloc(sizeof(*b));
	uint64_t eg[2];

	cr_assert_eq(st_store_open(dir, &st, &err), 0, "%s", err.text);
	cr_assert_eq(st_config_vdisk_get(st_store_config(st), "base", &v, &err), 0);
	for (int i = 0; i < 2; i++) { /* the egroups of blocks 0 and 6 of "base" */
		cr_assert_eq(st_meta_block_get(st_store_meta(st), v.id, (uint64_t)(i * 6), b, &err), 0, "%s", err.text);
		cr_assert_eq(st_meta_extent_get(st_store_meta(st), &b->r[0].extent, &eg[i], &err), 0);
	}
	cr_assert_neq(eg[0], eg[1]);
	for (int i = 0; i < 2; i++) {
		struct st_egroup_rec g;
		st_egroup_rec_init(&g);
		cr_assert_eq(st_meta_egroup_get(st_store_meta(st), eg[i], &g, &err), 0);
		if (i == 0)
			for (int k = 0; k < g.nextents; k++)
				g.extents[k].refcount = 0; /* as a full scan's refcount_down would */
		else
			g.replicas[0].state = ST_REPLICA_BAD; /* as a read that found a bad copy would */
		cr_assert_eq(st_meta_egroup_put(st_store_meta(st), &g, g.version, &err), 0, "%s", err.text);
		st_egroup_rec_release(&g);
	}
	free(b);
	st_store_free(st);
}

Test(job_partial, finds_exactly_what_a_partial_scan_over_everything_finds, .timeout = 300)
{
	const char *dir = th_tmpdir("partial");
	long long t0 = 1800000000, e_inc, e_all, e_inc2, e_all2;
	char *inc, *all, *inc2, *all2;

	set_now(t0);
	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "ssd:1x1G,hdd:1x2G", "--shards", "3"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "z", "--rf", "2", "--compress", "post:1h"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "p", "--rf", "2", "--cold-age", "90m", "--tiers", "ssd,hdd"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "base", "--container", "p", "--size", "16M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "old", "--container", "p", "--size", "16M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "zv", "--container", "z", "--size", "16M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "gone", "--container", "p", "--size", "8M"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "q", "--rf", "2"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "still", "--container", "q", "--size", "8M"), 0);
	/* "old" is written long before: cold by the first scans, due for scrubbing (1 d) at t0 + 1000 s */
	set_now(t0 - 85400);
	write_file(dir, "old", "0", 16 << 20, 1);
	set_now(t0);
	write_file(dir, "base", "0", 16 << 20, 2);
	write_file(dir, "gone", "0", 8 << 20, 3);
	set_now(t0 - 43200); /* "still" crosses no threshold and never changes: a partial scan need not read it */
	write_file(dir, "still", "0", 8 << 20, 6);
	set_now(t0);
	cr_assert_eq(RUN(dir, "scan", "full", "--scrub-period", "2d"), 0);
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	cr_assert_eq(RUN(dir, "scan", "partial", "--all", "--scrub-period", "2d"), 0);
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	/* every kind of change, at t0 + 10 min */
	set_now(t0 + 600);
	write_file(dir, "zv", "0", 8 << 20, 4);       /* new egroups (compression on, not yet due) */
	write_file(dir, "base", "4M", 2 << 20, 5);    /* an overwrite */
	cr_assert_eq(RUN(dir, "vdisk", "delete", "gone"), 0);
	cr_assert_eq(RUN(dir, "scan", "selective"), 0); /* deleted egroups in the log */
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	change_rows(dir);
	for (int i = 0; i < 3; i++) /* reads (promotion looks at them) */
		cr_assert_eq(RUN(dir, "vdisk", "read", "base", "--length", "1M", "--output", "/dev/null"), 0);
	/* two hours on: zv crosses the compression delay, base the cold age, old the scrub period */
	set_now(t0 + 7800);
	inc = partial_tasks(dir, 0, 1, &e_inc);
	all = partial_tasks(dir, 1, 1, &e_all);
	inc2 = partial_tasks(dir, 0, 2, &e_inc2);
	all2 = partial_tasks(dir, 1, 2, &e_all2);
	cr_assert_str_eq(inc, all, "a partial scan of what changed finds other tasks than one of everything:\n%s\n--all:\n%s",
			 inc, all);
	cr_assert_str_eq(inc2, inc, "2 ranks differ from 1");
	cr_assert_str_eq(all2, all, "2 ranks differ from 1 (--all)");
	for (int k = 0; k < 5; k++) {
		static const char *kinds[] = { "compress ", "tier_down ", "scrub ", "egroup_delete ", "rereplicate " };
		cr_assert(strstr(inc, kinds[k]), "no %stask in:\n%s", kinds[k], inc);
	}
	cr_assert_lt(e_inc, e_all, "it read %lld egroups, --all %lld", e_inc, e_all);
	cr_assert_eq(e_inc, e_inc2);
	/* a scan that succeeds takes the log in: the next one, at the same time, reads what the rule protected only */
	{
		const char *args[] = { "scan", "partial", "--scrub-period", "1d", NULL };
		cr_assert_eq(th_run_ranks(1, dir, args), 0);
		cr_assert_eq(counter(dir, "incremental"), 1);
		cr_assert_eq(th_run_ranks(1, dir, args), 0);
		cr_assert_eq(counter(dir, "incremental"), 1);
		/* what the safety rule protected, and the egroups read lately (promotion): nothing else */
		cr_assert_leq(counter(dir, "egroups"),
			      counter(dir, "protected_by_safety_rule") +
				      th_sh_number("sqlite3 %s/config.db 'SELECT count(*) FROM egroup_reads'", dir),
			      "an unchanged cluster's partial scan read egroups it did not need");
		cr_assert_lt(counter(dir, "egroups"), e_inc);
	}
	free(inc);
	free(all);
	free(inc2);
	free(all2);
	unsetenv("CURATOR_NOW");
}

Test(job_partial, a_format_2_shard_is_upgraded_in_place, .timeout = 120)
{
	const char *dir = th_tmpdir("upgrade3");
	char cmd[4096], *out = NULL;
	const char *down =
		"DROP TRIGGER egroups_log_ins; DROP TRIGGER egroups_log_upd; DROP TRIGGER egroups_log_del;"
		"DROP TABLE changes; DROP TABLE changes_seq; DROP TABLE changes_mark;"
		"DROP INDEX egroups_t_write; DROP INDEX egroups_t_cold; DROP INDEX egroups_t_scrub; DROP INDEX egroups_t_created;"
		"ALTER TABLE egroups DROP COLUMN t_write; ALTER TABLE egroups DROP COLUMN t_cold;"
		"ALTER TABLE egroups DROP COLUMN t_scrub; ALTER TABLE egroups DROP COLUMN t_created;"
		"DROP TRIGGER egroups_replicas_del; DROP TABLE replicas;" /* format 4's */
		"UPDATE shard SET format = 2;";

	cr_assert_eq(RUN(dir, "init", "--nodes", "2", "--disks", "ssd:1x512M", "--shards", "2"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "c", "--size", "8M"), 0);
	write_file(dir, "v", "0", 8 << 20, 9);
	for (int i = 0; i < 2; i++) {
		snprintf(cmd, sizeof(cmd), "sqlite3 %s/meta-%d.db '%s'", dir, i, down);
		cr_assert_eq(system(cmd), 0, "%s", cmd);
	}
	cr_assert_eq(th_sh_number("sqlite3 %s/meta-0.db 'SELECT format FROM shard'", dir), 2);
	cr_assert_eq(th_run(dir, NULL, &out, NULL, "fsck", "--quiet", NULL), 0, "fsck: %s", out);
	free(out);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(th_sh_number("sqlite3 %s/meta-%d.db 'SELECT format FROM shard'", dir, i), 4);
		/* format 4's replica index, filled from the rows: every replica of every row */
		cr_assert_eq(th_sh_number("sqlite3 %s/meta-%d.db 'SELECT count(*) FROM replicas'", dir, i),
			     2 * th_sh_number("sqlite3 %s/meta-%d.db 'SELECT count(*) FROM egroups'", dir, i));
		cr_assert_eq(th_sh_number("sqlite3 %s/meta-%d.db 'SELECT count(*) FROM egroups WHERE t_write = 0 OR"
					  " t_created = 0'", dir, i), 0, "times not filled from the rows");
	}
	/* a partial scan without a mark reads everything, marks, and the next reads what changed */
	cr_assert_eq(RUN(dir, "scan", "partial"), 0);
	cr_assert_eq(counter(dir, "incremental"), 0);
	write_file(dir, "v", "0", 1 << 20, 10);
	cr_assert_eq(RUN(dir, "scan", "partial"), 0);
	cr_assert_eq(counter(dir, "incremental"), 1);
	cr_assert_gt(counter(dir, "egroups"), 0, "the new write is in the log");
	snprintf(cmd, sizeof(cmd), "%s/read", dir);
	cr_assert_eq(RUN(dir, "vdisk", "read", "v", "--output", cmd), 0);
	snprintf(cmd, sizeof(cmd), "head -c 1M %s/data-10 | cmp -s - %s/read -n 1048576 && tail -c +1048577 %s/data-9 |"
		 " cmp -s - <(tail -c +1048577 %s/read)", dir, dir, dir, dir);
	{
		char bash[4400];
		snprintf(bash, sizeof(bash), "bash -c '%s'", cmd);
		cr_assert_eq(system(bash), 0, "the vdisk does not read back after the upgrade");
	}
}
