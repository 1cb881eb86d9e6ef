/*
 * The same cluster state gives the same tasks on any rank count: one state
 * that makes a full scan find every task kind (real bytes written through
 * the CLI on a time line of CURATOR_NOW, real tasks run between stages,
 * then a few rows, files and usage figures changed by hand the way
 * failures leave them), scanned with --dry-run, full and partial, on 1, 2
 * and 3 MPI ranks (`scan --tasks-out`): the sorted task lists (kind,
 * target, version, priority, bytes) are identical.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <utime.h>

#include "jobs/job_kind.h"
#include "storage/st_egroup.h"
#include "storage/st_store.h"
#include "tests/helpers.h"

#define RUN(dir, ...) th_run(dir, NULL, NULL, NULL, __VA_ARGS__, NULL)
#define DAY 86400LL

static long long T; /* "now" of the final scans */

static void at(long long offset)
{
	char now[32];
	snprintf(now, sizeof(now), "%lld", T + offset);
	setenv("CURATOR_NOW", now, 1);
}

/* A vdisk of container c with len bytes of seed's pattern. */
static void vdisk(const char *dir, const char *c, const char *name, size_t len, uint64_t seed)
{
	cr_assert_eq(th_vdisk_pattern(dir, c, name, len, seed), 0, "vdisk %s", name);
}

/* Overwrite pieces of vdisk name (len bytes) with other bytes. */
static void overwrite(const char *dir, const char *name, size_t len, uint64_t seed)
{
	char path[2048], off[32];
	uint8_t *buf = malloc(1 << 20);

	snprintf(path, sizeof(path), "%s/piece", dir);
	for (int i = 0; i < 6; i++) {
		size_t n = 1 + th_rand(&seed) % (1 << 20), o = th_rand(&seed) % (len - n);
		th_fill(buf, n, seed);
		cr_assert_eq(th_write_file(path, buf, n), 0);
		snprintf(off, sizeof(off), "%zu", o);
		cr_assert_eq(RUN(dir, "vdisk", "write", name, "--offset", off, path), 0);
	}
	free(buf);
}

struct pick {
	uint32_t container;
	uint64_t owner; /* 0: any */
	int want_ec, want_parity, skip;
	uint64_t found[8];
	int n;
};

static int pick_cb(void *arg, int rc_row, uint64_t id, const struct st_egroup_rec *g)
{
	struct pick *p = arg;

	if (rc_row || p->n >= 8 || g->container != p->container || (p->owner && g->owner != p->owner))
		return 0;
	if (!!(g->flags & ST_EGROUP_EC) != p->want_ec || !!(g->flags & ST_EGROUP_PARITY) != p->want_parity)
		return 0;
	if (!p->want_parity && !g->nextents)
		return 0;
	p->found[p->n++] = id;
	return 0;
}

/* Up to 8 egroups of a container (strip members, parity or plain; of vdisk owner if not NULL), in shard order. */
static int egroups_of(struct st_store *st, const char *container, const char *owner, int ec, int parity, uint64_t *out)
{
	struct st_container c;
	struct st_vdisk v;
	struct st_msg err;
	struct pick p = { .want_ec = ec, .want_parity = parity };

	if (owner) {
		cr_assert_eq(st_config_vdisk_get(st_store_config(st), owner, &v, &err), 0, "%s", err.text);
		p.owner = v.id;
	}

	cr_assert_eq(st_config_container_get(st_store_config(st), container, &c, &err), 0, "%s", err.text);
	p.container = c.id;
	for (int s = 0; s < st_meta_nshards(st_store_meta(st)); s++)
		cr_assert_eq(st_meta_scan_egroups(st_store_meta(st), s, pick_cb, &p, &err), 0);
	memcpy(out, p.found, sizeof(p.found));
	return p.n;
}

/* Change egroup id by fn (a failure's trace), compare-and-set in its shard's transaction. */
static void edit(struct st_store *st, uint64_t id, void (*fn)(struct st_store *, struct st_egroup_rec *))
{
	struct st_meta *m = st_store_meta(st);
	struct st_egroup_rec g;
	struct st_msg err;
	int shard = st_meta_shard_egroup(m, id);

	st_egroup_rec_init(&g);
	cr_assert_eq(st_meta_egroup_get(m, id, &g, &err), 0, "%s", err.text);
	fn(st, &g);
	cr_assert_eq(st_meta_begin(m, shard, &err), 0);
	cr_assert_eq(st_meta_egroup_put(m, &g, g.version, &err), 0, "%s", err.text);
	cr_assert_eq(st_meta_commit(m, shard, &err), 0);
	st_egroup_rec_release(&g);
}

static void refcount_low(struct st_store *st, struct st_egroup_rec *g)
{
	(void)st;
	g->extents[0].refcount = 0; /* below its references: refcount_up */
}

static void replica_bad(struct st_store *st, struct st_egroup_rec *g)
{
	(void)st;
	g->replicas[0].state = ST_REPLICA_BAD; /* a read found it bad: rereplicate, or ec_rebuild for a strip member */
}

static const struct st_disk *disk_of(const struct st_disk *d, int n, uint32_t id)
{
	for (int i = 0; i < n; i++)
		if (d[i].id == id)
			return &d[i];
	return NULL;
}

static void copy_file(const char *from, const char *to)
{
	size_t len;
	void *b = th_read_file(from, &len);
	cr_assert(b, "%s", from);
	cr_assert_eq(th_write_file(to, b, len), 0);
	free(b);
}

/* A third copy on the node without one (a node came back): drop_extra. */
static void extra_copy(struct st_store *st, struct st_egroup_rec *g)
{
	struct st_disk *d;
	struct st_msg err;
	char name[ST_EGROUP_NAME_LEN + 1], from[4200], to[4200];
	int n;

	cr_assert_eq(st_config_disks(st_store_config(st), &d, &n, &err), 0);
	st_egroup_name(g->id, name);
	for (int i = 0; i < n; i++) {
		int used = 0;
		for (int r = 0; r < g->nreplicas; r++)
			used |= disk_of(d, n, g->replicas[r].disk)->node == d[i].node;
		if (used || d[i].tier != g->tier)
			continue;
		snprintf(from, sizeof(from), "%s/egroups/%s", disk_of(d, n, g->replicas[0].disk)->path, name);
		snprintf(to, sizeof(to), "%s/egroups/%s", d[i].path, name);
		copy_file(from, to);
		g->replicas[g->nreplicas].disk = d[i].id;
		g->replicas[g->nreplicas++].state = ST_REPLICA_OK;
		break;
	}
	free(d);
}

/* Kind names in a --tasks-out file. */
static int has_kind(const char *lines, const char *kind)
{
	char k[64];
	snprintf(k, sizeof(k), "%s ", kind);
	for (const char *p = lines; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, k, strlen(k)))
			return 1;
	return 0;
}

/* The scan's task list on `ranks` ranks, sorted, malloc'd. */
static char *task_list(const char *dir, const char *kind, int ranks)
{
	char out[2048], cmd[4400];
	const char *args[] = { "scan", kind, "--dry-run", "--sweep-grace", "0s", "--tasks-out", out, NULL };
	size_t len;
	char *s;

	snprintf(out, sizeof(out), "%s/tasks-%s-%d", dir, kind, ranks);
	cr_assert_eq(th_run_ranks(ranks, dir, args), 0, "%s scan on %d ranks failed", kind, ranks);
	snprintf(cmd, sizeof(cmd), "LC_ALL=C sort -o %s %s", out, out);
	cr_assert_eq(system(cmd), 0);
	s = th_read_file(out, &len);
	cr_assert(s, "no %s", out);
	s = realloc(s, len + 1);
	s[len] = 0;
	return s;
}

/*
 * A copy of dir scanned for real (tasks queued: on 2 and 3 ranks every
 * rank's tasks go to rank 0, which queues them in one run) on `ranks`
 * ranks, twice (the second time every task a duplicate): the live queue
 * (kind, target, version, priority, bytes, arg, node), ids rising in
 * (kind, target) order within the first scan's run, and its sums, as
 * text, malloc'd. The sums must be the rows'. nomem: rank 0 cannot lay
 * out the gathered tasks (CURATOR_QUEUE_NOMEM_TEST), so the ranks queue
 * theirs in turns: the same queue, less the ids' order (its last line).
 */
static char *queued(const char *dir, int ranks, int nomem)
{
	char copy[2048], cmd[4400], out[2100];
	const char *args[] = { "scan", "full", "--sweep-grace", "0s", NULL };
	size_t len;
	char *s;

	snprintf(copy, sizeof(copy), "%s-q%d%s", dir, ranks, nomem ? "-nomem" : "");
	snprintf(cmd, sizeof(cmd), "rm -rf %s && cp -a %s %s", copy, dir, copy);
	cr_assert_eq(system(cmd), 0);
	if (nomem)
		setenv("CURATOR_QUEUE_NOMEM_TEST", "1", 1);
	cr_assert_eq(th_run_ranks(ranks, copy, args), 0, "full scan on %d ranks failed", ranks);
	unsetenv("CURATOR_QUEUE_NOMEM_TEST");
	/* again, in batches of 7: every task now a duplicate of a queued one (the sums read back) */
	setenv("CURATOR_QUEUE_BATCH", "7", 1);
	cr_assert_eq(th_run_ranks(ranks, copy, args), 0, "second full scan on %d ranks failed", ranks);
	unsetenv("CURATOR_QUEUE_BATCH");
	snprintf(out, sizeof(out), "%s/queued", copy);
	snprintf(cmd, sizeof(cmd),
		 "sqlite3 %s %s/curator.db \"SELECT kind, target, version, priority, bytes, hex(arg), node FROM tasks"
		 " WHERE state IN (0, 1) ORDER BY kind, target; SELECT * FROM queue_sums WHERE pending + running > 0"
		 " ORDER BY kind, priority; SELECT count(*) FROM (SELECT kind, priority, count(*) AS n, sum(bytes) AS b"
		 " FROM tasks WHERE state IN (0, 1) GROUP BY kind, priority) AS r LEFT JOIN queue_sums AS q USING (kind, priority)"
		 " WHERE q.pending + q.running IS NOT r.n OR q.bytes IS NOT r.b;"
		 " SELECT count(*) FROM (SELECT id, lag(id) OVER (PARTITION BY id >> 40 ORDER BY kind, target) AS prev"
		 " FROM tasks WHERE scan = (SELECT max(scan) FROM tasks) AND state IN (0, 1)) WHERE id < prev\" > %s",
		 th_queue_cmds(copy), copy, out);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	s = th_read_file(out, &len);
	cr_assert(s && len > 2, "no %s", out);
	s = realloc(s, len + 1);
	s[len] = 0;
	if (nomem) { /* queued in turns: ids out of (kind, target) order, the proof of it; that line cut off */
		char *last = len >= 2 ? memrchr(s, '\n', len - 1) : NULL;
		cr_assert(last && strcmp(last, "\n0\n"), "%d ranks, rank 0 out of memory: ids still in one sorted run", ranks);
		last[1] = 0;
		len = (size_t)(last + 1 - s);
	}
	cr_assert(nomem ? len >= 3 && !strcmp(s + len - 3, "\n0\n")
			: len >= 5 && !strcmp(s + len - 5, "\n0\n0\n"),
		  "%d ranks: queue_sums differ from the rows, or ids not in (kind, target) order", ranks);
	return s;
}

static void queued_same_on_1_2_3_ranks(const char *dir)
{
	char *q1 = queued(dir, 1, 0), *q2 = queued(dir, 2, 0), *q3 = queued(dir, 3, 0), *qn = queued(dir, 2, 1);

	cr_assert_gt(th_lines(q1), 20);
	cr_assert_str_eq(q1, q2, "queued on 1 and 2 ranks: the queues differ");
	cr_assert_str_eq(q1, q3, "queued on 1 and 3 ranks: the queues differ");
	cr_assert(strlen(q1) == strlen(qn) + 2 && !strncmp(q1, qn, strlen(qn)),
		  "queued on 2 ranks in turns (rank 0 out of memory): the queue differs");
	free(qn);
	free(q1);
	free(q2);
	free(q3);
}

static void same_on_1_2_3_ranks(const char *dir, const char *kind, int every_kind)
{
	char *l1 = task_list(dir, kind, 1), *l2 = task_list(dir, kind, 2), *l3 = task_list(dir, kind, 3);

	cr_log_info("%s scan: %d tasks", kind, th_lines(l1));
	for (int k = 0; every_kind && k < JT_NKINDS; k++)
		cr_expect(has_kind(l1, job_task_kind_name(k)), "the %s scan found no %s task", kind,
			  job_task_kind_name(k));
	cr_assert_gt(th_lines(l1), 20);
	cr_assert_str_eq(l1, l2, "%s scan: 1 and 2 ranks differ", kind);
	cr_assert_str_eq(l1, l3, "%s scan: 1 and 3 ranks differ", kind);
	free(l1);
	free(l2);
	free(l3);
}

Test(determinism, every_task_kind_the_same_on_1_2_3_ranks, .timeout = 600)
{
	const char *dir = th_tmpdir("determinism");
	const char *scan_full[] = { "scan", "full", NULL };
	struct st_store *st;
	struct st_msg err;
	uint64_t eg[8], members[8], parity[8];
	char sql[4400], out[2048];
	int n;

	T = (long long)time(NULL);
	at(-10 * DAY);
	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "ssd:1x256M,hdd:1x1G", "--shards", "3"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "g", "--rf", "2"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "up", "--rf", "2", "--cold-age", "2d"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "cold", "--rf", "2", "--cold-age", "1d"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "ec", "--rf", "2", "--rs", "2,1", "--ec-delay", "1d"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "ec2", "--rf", "2", "--rs", "2,1", "--ec-delay", "1d"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "z", "--rf", "2", "--compress", "post:1h"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "dp", "--rf", "2", "--dedup", "post"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "di", "--rf", "2", "--dedup", "inline"), 0);
	/* GC: overwrites, a deleted snapshot, a deleted vdisk */
	vdisk(dir, "g", "v", 12 << 20, 1);
	vdisk(dir, "g", "gone", 4 << 20, 2);
	cr_assert_eq(RUN(dir, "vdisk", "snapshot", "v", "snap"), 0);
	overwrite(dir, "v", 12 << 20, 3);
	cr_assert_eq(RUN(dir, "vdisk", "delete", "snap"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "delete", "gone"), 0);
	vdisk(dir, "up", "hot", 8 << 20, 4);
	vdisk(dir, "ec", "e1", 12 << 20, 5);
	vdisk(dir, "ec", "e2", 12 << 20, 6);
	vdisk(dir, "ec2", "ecx", 8 << 20, 7);
	vdisk(dir, "z", "zv", 4 << 20, 8);
	vdisk(dir, "dp", "p1", 4 << 20, 9);
	vdisk(dir, "di", "d1", 4 << 20, 10);
	vdisk(dir, "di", "d2", 4 << 20, 10); /* the same bytes */
	/* strips */
	at(-8 * DAY);
	cr_assert_eq(th_run_ranks(1, dir, scan_full), 0);
	cr_assert_eq(RUN(dir, "tasks", "run", "--kind", "ec_encode"), 0);
	/* ecx's strips mostly dead; the hot vdisk down to HDD */
	at(-5 * DAY);
	cr_assert_eq(RUN(dir, "vdisk", "delete", "ecx"), 0);
	cr_assert_eq(th_run_ranks(1, dir, scan_full), 0);
	cr_assert_eq(RUN(dir, "tasks", "run", "--kind", "extent_delete"), 0);
	cr_assert_eq(RUN(dir, "tasks", "run", "--kind", "tier_down"), 0);
	/* data that is cold by the end, and new EC candidates */
	at(-3 * DAY);
	vdisk(dir, "cold", "c1", 4 << 20, 11);
	vdisk(dir, "ec", "e3", 8 << 20, 12);
	{ /* one 64 KiB block of 64 overwritten: too little garbage to compact, extent_delete */
		char path[2048];
		uint8_t *b = malloc(4 << 20);
		cr_assert_eq(RUN(dir, "vdisk", "create", "small", "--container", "g", "--size", "4M", "--block-size", "64K"),
			     0);
		th_fill(b, 4 << 20, 13);
		snprintf(path, sizeof(path), "%s/small", dir);
		cr_assert_eq(th_write_file(path, b, 4 << 20), 0);
		cr_assert_eq(RUN(dir, "vdisk", "write", "small", path), 0);
		cr_assert_eq(th_write_file(path, b + 12345, 65536), 0);
		cr_assert_eq(RUN(dir, "vdisk", "write", "small", "--offset", "65536", path), 0);
		free(b);
	}
	/* now: the hot vdisk read three times, and what failures leave behind */
	at(0);
	snprintf(out, sizeof(out), "%s/readback", dir);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(RUN(dir, "vdisk", "read", "hot", "--output", out), 0);
	cr_assert_eq(RUN(dir, "disk", "add", "--node", "2", "--tier", "hdd", "--size", "1G"), 0);
	cr_assert_eq(RUN(dir, "disk", "remove", "7"), 0); /* empty: disk_removed */
	cr_assert_eq(st_store_open(dir, &st, &err), 0, "%s", err.text);
	n = egroups_of(st, "g", "v", 0, 0, eg);
	cr_assert_geq(n, 3);
	edit(st, eg[0], refcount_low);
	edit(st, eg[1], replica_bad);
	edit(st, eg[2], extra_copy);
	{ /* an extent-ID row naming an egroup that does not hold it: extent_id_delete */
		struct st_extent_id x;
		struct st_vdisk v;
		int shard;
		cr_assert_eq(st_config_vdisk_get(st_store_config(st), "v", &v, &err), 0);
		st_extent_id_make(&x, v.id, 0xfffffffull, 3);
		shard = st_meta_shard_extent(st_store_meta(st), &x);
		cr_assert_eq(st_meta_begin(st_store_meta(st), shard, &err), 0);
		cr_assert_eq(st_meta_extent_put(st_store_meta(st), &x, eg[n - 1], &err), 0, "%s", err.text);
		cr_assert_eq(st_meta_commit(st_store_meta(st), shard, &err), 0);
	}
	{ /* a file no metadata names, a day old: file_sweep */
		struct st_disk *d;
		char name[ST_EGROUP_NAME_LEN + 1], path[4200];
		struct utimbuf ut = { .actime = (time_t)(T - DAY), .modtime = (time_t)(T - DAY) };
		int nd;
		cr_assert_eq(st_config_disks(st_store_config(st), &d, &nd, &err), 0);
		st_egroup_name(0x3000000fffffull, name);
		snprintf(path, sizeof(path), "%s/egroups/%s", d[0].path, name);
		cr_assert_eq(th_write_file(path, "orphan", 6), 0);
		cr_assert_eq(utime(path, &ut), 0);
		/* disk 1 counted far fuller than its tier's others (shared with other data): disk_balance */
		{
			uint32_t id = d[0].id;
			int64_t delta = (int64_t)(d[0].capacity / 2);
			cr_assert_eq(st_config_disk_used_add(st_store_config(st), 1, &id, &delta, &err), 0);
		}
		free(d);
	}
	cr_assert_geq(egroups_of(st, "ec", NULL, 1, 0, members), 2, "no strip was made");
	n = egroups_of(st, "ec", NULL, 1, 1, parity);
	cr_assert_geq(n, 2, "too few strips");
	edit(st, members[0], replica_bad); /* ec_rebuild */
	{ /* another strip's row gone (a conversion that never finished): strip_rollback */
		struct st_egroup_rec p, m0;
		st_egroup_rec_init(&p);
		st_egroup_rec_init(&m0);
		cr_assert_eq(st_meta_egroup_get(st_store_meta(st), members[0], &m0, &err), 0);
		for (int i = 0; i < n; i++) {
			cr_assert_eq(st_meta_egroup_get(st_store_meta(st), parity[i], &p, &err), 0);
			if (p.strip != m0.strip)
				break;
		}
		cr_assert_neq(p.strip, m0.strip);
		snprintf(sql, sizeof(sql), "sqlite3 %s/meta-%d.db \"DELETE FROM strips WHERE id = %lld\"", dir,
			 st_meta_shard_egroup(st_store_meta(st), p.strip), (long long)p.strip);
		st_egroup_rec_release(&p);
		st_egroup_rec_release(&m0);
	}
	st_store_free(st);
	cr_assert_eq(system(sql), 0, "%s", sql);
	same_on_1_2_3_ranks(dir, "full", 1);
	same_on_1_2_3_ranks(dir, "partial", 0);
	queued_same_on_1_2_3_ranks(dir);
	unsetenv("CURATOR_NOW");
}
