/*
 * curator.db (jobs/job_db.c, job_db_queue.c): the queue's duplicate rule
 * is what it always was (same kind and target as a pending or running
 * task, or earlier in the same call), now a unique index; an older
 * curator.db is upgraded in place (duplicates dropped, one of each kept)
 * and a current one opens without a write; a curator-q1.db of another
 * curator.db (its pair id not curator.db's) is emptied; queueing in batches stops
 * between batches when asked and when its scan was declared dead; the
 * observer declares a scan dead only after its heartbeat stood still for
 * the TTL, and a dead scan cannot end as done; the queue's sums per kind
 * and priority always equal a count of the rows.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jobs/job_db.h"
#include "jobs/job_db_int.h"
#include "storage/st_config.h"
#include "tests/helpers.h"

/* A config.db in dir (made on first use), for the runners' leases; freed at exit. */
static struct st_config *cfg_of(const char *dir)
{
	static struct st_config *cfg;
	struct st_msg err;

	if (!cfg)
		cr_assert_eq(st_config_create(dir, 1, 0, &cfg, &err), 0, "%s", err.text);
	return cfg;
}

static sqlite3 *raw(const char *dir)
{
	char p[2048];
	sqlite3 *db;

	snprintf(p, sizeof(p), "%s/curator.db", dir);
	cr_assert_eq(sqlite3_open(p, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	return db;
}

/* raw, with the queue's shards attached and read as one (job_db_sql_attach_queue) */
static sqlite3 *raw_queue(const char *dir)
{
	struct st_msg err;
	sqlite3 *db = raw(dir);

	cr_assert_eq(job_db_sql_attach_queue(db, dir, &err), 0, "%s", err.text);
	return db;
}

static int64_t q1(const char *dir, const char *sql)
{
	sqlite3 *db = raw_queue(dir);
	sqlite3_stmt *st;
	int64_t v = -1;

	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* queue_sums against a count of the pending and running rows: the rows on which they differ. */
static int64_t sums_off(const char *dir)
{
	return q1(dir, "SELECT count(*) FROM ("
		       " SELECT kind, priority, pending, running, bytes FROM queue_sums WHERE pending + running > 0"
		       " EXCEPT SELECT kind, priority, sum(state = 0), sum(state = 1), sum(bytes) FROM tasks"
		       "  WHERE state IN (0, 1) GROUP BY kind, priority)") +
	       q1(dir, "SELECT count(*) FROM ("
		       " SELECT kind, priority, sum(state = 0), sum(state = 1), sum(bytes) FROM tasks"
		       "  WHERE state IN (0, 1) GROUP BY kind, priority"
		       " EXCEPT SELECT kind, priority, pending, running, bytes FROM queue_sums WHERE pending + running > 0)");
}

/* Every live task is in the file of its shard (job_db_shard), by its id's range too; n of them. */
static void live_in_their_shards(const char *dir, int n)
{
	sqlite3 *db = raw_queue(dir);
	sqlite3_stmt *st;
	int seen = 0;

	cr_assert_eq(sqlite3_prepare_v2(db,
					"SELECT kind, target, id, 0 FROM main.tasks WHERE state IN (0, 1) UNION ALL"
					" SELECT kind, target, id, 1 FROM q1.tasks WHERE state IN (0, 1)",
					-1, &st, NULL),
		     SQLITE_OK, "%s", sqlite3_errmsg(db));
	while (sqlite3_step(st) == SQLITE_ROW) {
		int kind = sqlite3_column_int(st, 0), file = sqlite3_column_int(st, 3);
		uint64_t target = (uint64_t)sqlite3_column_int64(st, 1);
		int64_t id = sqlite3_column_int64(st, 2);
		cr_assert_eq(job_db_shard(kind, target), file, "task (%d, %llu) in shard %d's file", kind,
			     (unsigned long long)target, file);
		cr_assert_eq(job_db_id_shard(id), file, "task id %lld in shard %d's file", (long long)id, file);
		seen++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	cr_assert_eq(seen, n, "%d live tasks, not %d", seen, n);
}

static struct job_task task(enum job_task_kind kind, uint64_t target, uint64_t version)
{
	struct job_task t = { .scan = 1, .kind = kind, .target = target, .version = version };
	return t;
}

static struct job_db *open_db(const char *dir)
{
	struct job_db *db;
	struct st_msg err = { "" };

	cr_assert_eq(job_db_open(dir, &db, &err), 0, "%s", err.text);
	return db;
}

Test(job_db, duplicates_are_what_they_were)
{
	const char *dir = th_tmpdir("jdb-dup");
	struct job_db *db = open_db(dir);
	struct st_msg err = { "" };
	struct job_task t[6], c;
	int64_t added;
	int got;

	/* in one call: the first of two equal (kind, target) is kept */
	t[0] = task(JT_EGROUP_DELETE, 7, 1);
	t[1] = task(JT_EGROUP_DELETE, 7, 2);
	t[2] = task(JT_EXTENT_DELETE, 7, 3); /* another kind: not a duplicate */
	t[3] = task(JT_EGROUP_DELETE, 5, 4);
	cr_assert_eq(job_db_tasks_add_batched(db, t, 4, NULL, &added, &err), 0, "%s", err.text);
	cr_assert_eq(added, 3);
	cr_assert_eq(q1(dir, "SELECT version FROM tasks WHERE kind = 4 AND target = 7"), 1);
	/* against a pending task, and a running one */
	cr_assert_eq(job_db_task_claim(db, JT_EGROUP_DELETE, NULL, &c, &got, &err), 0);
	cr_assert_eq(got, 1);
	t[0] = task(JT_EGROUP_DELETE, 5, 9);
	t[1] = task(JT_EGROUP_DELETE, 7, 9);
	t[2] = task(JT_EXTENT_DELETE, 7, 9);
	cr_assert_eq(job_db_tasks_add(db, t, 3, &err), 0);
	cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks"), 3);
	/* a done (or stale, failed) task no longer counts */
	cr_assert_eq(job_db_task_finish(db, c.id, JS_DONE, 0, NULL, &err), 0);
	job_task_release(&c);
	t[0] = task((enum job_task_kind)c.kind, c.target, 11);
	cr_assert_eq(job_db_tasks_add_batched(db, t, 1, NULL, &added, &err), 0);
	cr_assert_eq(added, 1);
	cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks"), 4);
	/* and the one that ran can run again: its retry pending again is not a duplicate of itself */
	cr_assert_eq(job_db_task_claim(db, -1, NULL, &c, &got, &err), 0);
	cr_assert_eq(job_db_task_finish(db, c.id, JS_PENDING, 0, "retry", &err), 0);
	job_task_release(&c);
	cr_assert_eq(sums_off(dir), 0);
	job_db_close(db);
}

Test(job_db, the_sums_follow_every_change_of_the_queue)
{
	const char *dir = th_tmpdir("jdb-sums");
	struct job_db *db = open_db(dir);
	struct st_msg err = { "" };
	struct job_task t[200], c[16];
	int64_t pending;
	int got, waiting;

	for (int i = 0; i < 200; i++) {
		t[i] = task(i % 3 ? JT_EGROUP_DELETE : JT_REREPLICATE, (uint64_t)(i % 150), 1);
		t[i].priority = t[i].kind == JT_REREPLICATE ? 80 + i % 3 : 0;
		t[i].bytes = 1000 + i;
	}
	cr_assert_eq(job_db_tasks_add(db, t, 200, &err), 0);
	cr_assert_eq(sums_off(dir), 0);
	cr_assert_eq(job_db_tasks_pending(db, -1, &pending, &err), 0);
	cr_assert_eq(pending, q1(dir, "SELECT count(*) FROM tasks WHERE state = 0"));
	cr_assert_eq(job_db_tasks_pending(db, JT_REREPLICATE, &pending, &err), 0);
	cr_assert_eq(pending, q1(dir, "SELECT count(*) FROM tasks WHERE state = 0 AND kind = 8"));
	cr_assert_eq(job_db_task_claim_many(db, -1, NULL, 16, c, &got, &err), 0);
	cr_assert_eq(got, 16);
	cr_assert_eq(sums_off(dir), 0);
	/* outcomes one by one and in a batch's transaction */
	cr_assert_eq(job_db_task_finish(db, c[0].id, JS_DONE, 5, NULL, &err), 0);
	cr_assert_eq(job_db_task_finish(db, c[1].id, JS_STALE, 0, "moved", &err), 0);
	cr_assert_eq(job_db_task_finish(db, c[2].id, JS_PENDING, 0, "retry", &err), 0);
	cr_assert_eq(job_db_tasks_finish_begin(db, &err), 0);
	for (int i = 3; i < 8; i++)
		cr_assert_eq(job_db_task_finish(db, c[i].id, i % 2 ? JS_FAILED : JS_DONE, 7, "x", &err), 0);
	cr_assert_eq(job_db_tasks_finish_commit(db, &err), 0);
	cr_assert_eq(sums_off(dir), 0);
	/* a dead runner's tasks back to pending */
	{
		sqlite3 *w = raw_queue(dir); /* (a write names each shard) */
		cr_assert_eq(sqlite3_exec(w, "UPDATE main.tasks SET runner = 2147483000 WHERE state = 1;"
					     "UPDATE q1.tasks SET runner = 2147483000 WHERE state = 1",
					  NULL, NULL, NULL),
			     SQLITE_OK);
		sqlite3_close(w);
	}
	cr_assert_eq(job_db_tasks_requeue_running(db, cfg_of(dir), &err), 0);
	cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks WHERE state = 1"), 0);
	cr_assert_eq(sums_off(dir), 0);
	for (int i = 0; i < 16; i++)
		job_task_release(&c[i]);
	/* drain it */
	for (;;) {
		cr_assert_eq(job_db_task_claim(db, -1, NULL, c, &got, &err), 0);
		if (!got)
			break;
		cr_assert_eq(job_db_task_finish(db, c[0].id, JS_DONE, 0, NULL, &err), 0);
		job_task_release(&c[0]);
	}
	cr_assert_eq(sums_off(dir), 0);
	cr_assert_eq(job_db_tasks_waiting(db, &waiting, &err), 0);
	cr_assert_eq(waiting, 0);
	job_db_close(db);
}

Test(job_db, queueing_in_batches_keeps_order_and_stops_between_batches)
{
	const char *dir = th_tmpdir("jdb-batch");
	struct job_db *db = open_db(dir);
	struct st_msg err = { "" };
	volatile int stop = 0;
	struct job_db_add_opts o = { .batch = 100, .stop = &stop };
	enum { N = 1000 };
	struct job_task *t = calloc(N, sizeof(*t));
	int64_t added = 0;

	for (int i = 0; i < N; i++)
		t[i] = task(i % 2 ? JT_EXTENT_DELETE : JT_EGROUP_DELETE, (uint64_t)(N - i), (uint64_t)i);
	stop = 1;
	cr_assert_eq(job_db_tasks_add_batched(db, t, N, &o, &added, &err), -ECANCELED);
	cr_assert_eq(added, 0);
	cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks"), 0);
	stop = 0;
	cr_assert_eq(job_db_tasks_add_batched(db, t, N, &o, &added, &err), 0, "%s", err.text);
	cr_assert_eq(added, N);
	/* ids follow (kind, target): the index is walked in order */
	cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks a JOIN tasks b ON b.id = a.id + 1"
			     " WHERE (a.kind, a.target) > (b.kind, b.target)"),
		     0);
	/* again: every one a duplicate */
	cr_assert_eq(job_db_tasks_add_batched(db, t, N, &o, &added, &err), 0);
	cr_assert_eq(added, 0);
	free(t);
	job_db_close(db);
}

/*
 * A long queueing call leaves its checkpoints to a thread of its own
 * (job_db_add.c ckpt_*): when it returns, every frame is in curator.db
 * itself (the file is as long as the database), and the writer checkpoints
 * again as before. Left to the writer (1,000-page checkpoints), the last
 * batches would still be in the WAL only.
 */
Test(job_db, a_long_queueing_call_is_checkpointed_alongside)
{
	const char *dir = th_tmpdir("jdb-ckpt");
	struct job_db *db = open_db(dir);
	struct st_msg err = { "" };
	struct job_db_add_opts o = { .batch = 4096 };
	enum { N = 300000 };
	struct job_task *t = calloc(N, sizeof(*t));
	int64_t added = 0, pages, psize, ckpt = -1;
	char path[2048];
	struct stat sb;
	sqlite3_stmt *st;

	cr_assert(t);
	for (int i = 0; i < N; i++)
		t[i] = task(JT_EGROUP_DELETE, (uint64_t)i * 7 + 1, 1);
	cr_assert_eq(job_db_tasks_add_batched(db, t, N, &o, &added, &err), 0, "%s", err.text);
	cr_assert_eq(added, N);
	pages = q1(dir, "PRAGMA page_count");
	psize = q1(dir, "PRAGMA page_size");
	snprintf(path, sizeof(path), "%s/curator.db", dir);
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq((int64_t)sb.st_size, pages * psize, "curator.db %lld bytes, the database %lld", (long long)sb.st_size,
		     (long long)(pages * psize));
	/* and the WAL, which held the whole call (never restarted while the thread copied), truncated */
	snprintf(path, sizeof(path), "%s/curator.db-wal", dir);
	cr_assert(stat(path, &sb) != 0 || sb.st_size < (4 << 20), "the WAL left at %lld bytes", (long long)sb.st_size);
	cr_assert_eq(sqlite3_prepare_v2(db->sql, "PRAGMA wal_autocheckpoint", -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		ckpt = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	cr_assert_eq(ckpt, 1000);
	cr_assert_eq(sums_off(dir), 0);
	free(t);
	job_db_close(db);
}

/* Stop after the first batch, from the progress callback. */
static void stop_after_first(void *arg, int64_t done, int64_t total)
{
	(void)done;
	(void)total;
	*(volatile int *)arg = 1;
}

/*
 * The shards: a call of many batches inserts into both files at once (one
 * writer thread each); every live task lands in its shard, a duplicate is
 * found whichever shard it is in, the sums add up over both, the scan row
 * counts every task, and claims hand the tasks out by priority across the
 * shards (the highest first, never one of a lower priority before).
 */
Test(job_db, a_big_call_fills_both_shards_and_claims_merge_them)
{
	enum { N = 20000 };
	const char *dir = th_tmpdir("jdb-shards");
	struct job_db *db = open_db(dir);
	struct st_msg err = { "" };
	struct job_task *t = calloc(N, sizeof(*t)), got[64];
	struct job_db_add_opts o = { .batch = 1000 };
	int64_t added = 0, scan, shard1;
	int last = 1 << 30, claimed = 0, n;

	cr_assert(t);
	cr_assert_eq(job_db_scan_begin(db, "full", 0, 1, 1, &scan, &err), 0);
	o.scan = scan;
	for (int i = 0; i < N; i++) /* three kinds of three priorities, targets spread */
		t[i] = task(i % 3 == 0 ? JT_REREPLICATE : i % 3 == 1 ? JT_EGROUP_DELETE : JT_SCRUB,
			    (uint64_t)i * 2654435761u + 1, 1);
	cr_assert_eq(job_db_tasks_add_batched(db, t, N, &o, &added, &err), 0, "%s", err.text);
	cr_assert_eq(added, N);
	shard1 = q1(dir, "SELECT count(*) FROM q1.tasks");
	cr_assert(shard1 > N / 3 && shard1 < 2 * N / 3, "shard 1 holds %lld of %d tasks", (long long)shard1, N);
	live_in_their_shards(dir, N);
	cr_assert_eq(sums_off(dir), 0, "the sums differ from the rows of the two shards");
	cr_assert_eq(q1(dir, "SELECT sum(pending) FROM queue_sums"), N);
	cr_assert_eq(q1(dir, "SELECT queued FROM scans WHERE id = (SELECT max(id) FROM scans)"), N,
		     "the scan row did not count every shard's tasks");
	/* again: all duplicates, in both shards */
	cr_assert_eq(job_db_tasks_add_batched(db, t, N, &o, &added, &err), 0, "%s", err.text);
	cr_assert_eq(added, 0, "%lld duplicates queued", (long long)added);
	cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks"), N);
	/* claims: by priority over both shards */
	while (job_db_task_claim_many(db, -1, NULL, 64, got, &n, &err) == 0 && n > 0) {
		for (int i = 0; i < n; i++) {
			cr_assert_leq(got[i].priority, last, "priority %d handed out after %d", got[i].priority, last);
			last = got[i].priority;
			cr_assert_eq(job_db_task_finish(db, got[i].id, JS_DONE, 0, NULL, &err), 0, "%s", err.text);
			job_task_release(&got[i]);
		}
		claimed += n;
	}
	cr_assert_eq(claimed, N);
	cr_assert_eq(sums_off(dir), 0);
	cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks WHERE state = 2"), N);
	free(t);
	job_db_close(db);
}

/* The two files belong together: a new curator.db beside an old curator-q1.db does not inherit its tasks. */
Test(job_db, a_new_curator_db_empties_a_shard_file_left_from_an_old_one)
{
	const char *dir = th_tmpdir("jdb-stale-shard");
	struct job_db *db = open_db(dir);
	struct st_msg err = { "" };
	struct job_task t[64];
	char cmd[4200];

	for (int i = 0; i < 64; i++)
		t[i] = task(JT_SCRUB, (uint64_t)i + 1, 1);
	cr_assert_eq(job_db_tasks_add(db, t, 64, &err), 0, "%s", err.text);
	job_db_close(db);
	cr_assert_gt(q1(dir, "SELECT count(*) FROM q1.tasks"), 0);
	snprintf(cmd, sizeof(cmd), "rm -f %s/curator.db %s/curator.db-wal %s/curator.db-shm", dir, dir, dir);
	cr_assert_eq(system(cmd), 0);
	db = open_db(dir);
	cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks"), 0, "an old shard's tasks came back");
	cr_assert_eq(q1(dir, "SELECT count(*) FROM queue_sums"), 0);
	cr_assert_eq(job_db_tasks_add(db, t, 64, &err), 0, "%s", err.text);
	cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks"), 64);
	job_db_close(db);
}

/* A current curator.db (and its shards) opens without a write: even while another process holds the write lock. */
static void opens_without_a_write(const char *dir)
{
	sqlite3 *w = raw(dir);
	struct job_db *db;
	struct timespec a, b;

	cr_assert_eq(sqlite3_exec(w, "BEGIN IMMEDIATE; INSERT INTO events(at, kind) VALUES (1, 'x')", NULL, NULL, NULL),
		     SQLITE_OK);
	clock_gettime(CLOCK_MONOTONIC, &a);
	db = open_db(dir);
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_assert_lt((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9, 1.0,
		     "opening curator.db waited for a writer");
	job_db_close(db);
	sqlite3_exec(w, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(w);
}

/* Copy one file of the queue (and its WAL, if any) from one cluster directory to another. */
static void copy_queue_file(const char *from, const char *to, const char *name)
{
	char cmd[9000];

	snprintf(cmd, sizeof(cmd), "rm -f %s/%s-wal %s/%s-shm && cp %s/%s %s/%s && (test ! -e %s/%s-wal || cp %s/%s-wal %s/)",
		 to, name, to, name, from, name, to, name, from, name, from, name, to);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/*
 * curator.db and curator-q1.db carry one pair id: a curator-q1.db from
 * another curator.db of the same version (restored from another backup,
 * or copied from another cluster) is emptied at the next open, its tasks
 * never claimed; curator.db's own tasks stay, and the pair then opens
 * without a write.
 */
Test(job_db, a_shard_file_of_another_curator_db_is_emptied)
{
	char a[2048], b[2048];
	struct job_db *db;
	struct st_msg err = { "" };
	struct job_task t[64], got[64];
	int64_t mine;
	int n = -1, claimed = 0;

	snprintf(a, sizeof(a), "%s", th_tmpdir("jdb-pair-a"));
	snprintf(b, sizeof(b), "%s", th_tmpdir("jdb-pair-b"));
	for (int i = 0; i < 64; i++)
		t[i] = task(JT_SCRUB, (uint64_t)i + 1, 1);
	db = open_db(a);
	cr_assert_eq(job_db_tasks_add(db, t, 32, &err), 0, "%s", err.text);
	job_db_close(db);
	mine = q1(a, "SELECT count(*) FROM main.tasks");
	cr_assert(mine > 0 && mine < 32, "%lld of 32 in curator.db", (long long)mine);
	db = open_db(b);
	cr_assert_eq(job_db_tasks_add(db, t + 32, 32, &err), 0, "%s", err.text);
	job_db_close(db);
	cr_assert_gt(q1(b, "SELECT count(*) FROM q1.tasks"), 0);
	cr_assert_neq(q1(a, "SELECT id FROM main.queue_pair"), q1(b, "SELECT id FROM main.queue_pair"));
	copy_queue_file(b, a, "curator-q1.db");
	db = open_db(a);
	cr_assert_eq(q1(a, "SELECT count(*) FROM q1.tasks"), 0, "another queue's tasks were kept");
	cr_assert_eq(q1(a, "SELECT count(*) FROM q1.queue_sums"), 0);
	cr_assert_eq(q1(a, "SELECT count(*) FROM tasks"), mine, "curator.db's own tasks went");
	cr_assert_eq(q1(a, "SELECT q1.queue_pair.id = main.queue_pair.id FROM q1.queue_pair, main.queue_pair"), 1);
	cr_assert_eq(sums_off(a), 0);
	for (;;) {
		cr_assert_eq(job_db_task_claim_many(db, -1, NULL, 64, got, &n, &err), 0, "%s", err.text);
		if (n == 0)
			break;
		for (int i = 0; i < n; i++) {
			cr_assert(got[i].target <= 32, "claimed task %llu of the other queue", (unsigned long long)got[i].target);
			job_task_release(&got[i]);
		}
		claimed += n;
	}
	cr_assert_eq(claimed, mine);
	/* queueing again fills both files as before */
	cr_assert_eq(job_db_tasks_add(db, t + 32, 32, &err), 0, "%s", err.text);
	cr_assert_eq(q1(a, "SELECT count(*) FROM tasks WHERE state = 0"), 32);
	job_db_close(db);
	opens_without_a_write(a); /* the pair, once made */
}

/*
 * A pair made before the ids (version 4, no queue_pair in either file)
 * keeps its shard's tasks and gets its id; a curator.db without an id
 * beside a shard file that has one is not that file's: it is emptied.
 */
Test(job_db, a_pair_from_before_the_ids_keeps_its_tasks)
{
	const char *dir = th_tmpdir("jdb-pair-legacy");
	struct job_db *db = open_db(dir);
	struct st_msg err = { "" };
	struct job_task t[64];
	int64_t in_q1;

	for (int i = 0; i < 64; i++)
		t[i] = task(JT_SCRUB, (uint64_t)i + 1, 1);
	cr_assert_eq(job_db_tasks_add(db, t, 64, &err), 0, "%s", err.text);
	job_db_close(db);
	in_q1 = q1(dir, "SELECT count(*) FROM q1.tasks");
	cr_assert_gt(in_q1, 0);
	{
		sqlite3 *w = raw_queue(dir);
		cr_assert_eq(sqlite3_exec(w, "DROP TABLE main.queue_pair; DROP TABLE q1.queue_pair", NULL, NULL, NULL),
			     SQLITE_OK, "%s", sqlite3_errmsg(w));
		sqlite3_close(w);
	}
	db = open_db(dir);
	cr_assert_eq(q1(dir, "SELECT count(*) FROM q1.tasks"), in_q1, "a legacy pair lost its shard's tasks");
	cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks"), 64);
	cr_assert_eq(q1(dir, "SELECT q1.queue_pair.id = main.queue_pair.id FROM q1.queue_pair, main.queue_pair"), 1);
	job_db_close(db);
	{
		sqlite3 *w = raw(dir);
		cr_assert_eq(sqlite3_exec(w, "DROP TABLE main.queue_pair", NULL, NULL, NULL), SQLITE_OK, "%s",
			     sqlite3_errmsg(w));
		sqlite3_close(w);
	}
	db = open_db(dir);
	cr_assert_eq(q1(dir, "SELECT count(*) FROM q1.tasks"), 0, "a shard with an id kept its tasks beside a curator.db without one");
	cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks"), 64 - in_q1);
	cr_assert_eq(sums_off(dir), 0);
	job_db_close(db);
}

/*
 * A forged or damaged queue file: a row of curator-q1.db whose id is in
 * curator.db's range (that of a task there) would have its claim mark the
 * other task running. The claim refuses the whole queue, one clear error,
 * and neither task changes.
 */
Test(job_db, a_task_whose_id_names_the_other_file_is_refused)
{
	const char *dir = th_tmpdir("jdb-forged-id");
	struct job_db *db = open_db(dir);
	struct st_msg err = { "" };
	struct job_task t[64], got[64];
	int n = -1;

	for (int i = 0; i < 64; i++)
		t[i] = task(JT_SCRUB, (uint64_t)i + 1, 1);
	cr_assert_eq(job_db_tasks_add(db, t, 64, &err), 0, "%s", err.text);
	{
		sqlite3 *w = raw_queue(dir);
		cr_assert_eq(sqlite3_exec(w, "UPDATE q1.tasks SET id = (SELECT min(id) FROM main.tasks), priority = 99"
					     " WHERE id = (SELECT min(id) FROM q1.tasks)",
					  NULL, NULL, NULL),
			     SQLITE_OK, "%s", sqlite3_errmsg(w));
		sqlite3_close(w);
	}
	cr_assert_eq(job_db_task_claim_many(db, -1, NULL, 64, got, &n, &err), ST_ECORRUPT, "%s", err.text);
	cr_assert_eq(n, 0);
	cr_assert(strstr(err.text, "another queue file"), "%s", err.text);
	cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks WHERE state != 0"), 0, "a task changed state");
	job_db_close(db);
}

Test(job_db, a_stop_keeps_the_batches_before_it)
{
	const char *dir = th_tmpdir("jdb-stop");
	struct job_db *db = open_db(dir);
	struct st_msg err = { "" };
	volatile int stop = 0;
	struct job_db_add_opts o = { .batch = 64, .stop = &stop, .progress = stop_after_first, .progress_arg = (void *)&stop };
	struct job_task t[300];
	int64_t added = 0;

	for (int i = 0; i < 300; i++)
		t[i] = task(JT_SCRUB, (uint64_t)i + 1, 1);
	char want[64];

	cr_assert_eq(job_db_tasks_add_batched(db, t, 300, &o, &added, &err), -ECANCELED);
	/* the two shards' writers run at once: each ends the batch it is in when the
	 * stop comes, so at least the first batch and never all of them are kept;
	 * what the call says it added is exactly what the queue holds */
	cr_assert(added >= 64 && added < 300, "added %lld", (long long)added);
	snprintf(want, sizeof(want), "%lld of 300", (long long)added);
	cr_assert(strstr(err.text, want), "%s", err.text);
	cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks"), added);
	cr_assert_eq(sums_off(dir), 0);
	job_db_close(db);
}

Test(job_db, a_scan_declared_dead_is_fenced)
{
	const char *dir = th_tmpdir("jdb-fence");
	struct job_db *db = open_db(dir), *obs = open_db(dir);
	struct st_msg err = { "" };
	struct job_task t[10];
	int64_t scan, alive, added = 0;
	int reaped = 0;

	cr_assert_eq(job_db_scan_begin(db, "full", 0, 1, 1, &scan, &err), 0);
	cr_assert_eq(job_db_scan_begin(db, "partial", 0, 1, 1, &alive, &err), 0);
	/* the first look only remembers; beats reset the clock */
	cr_assert_eq(job_db_scans_reap(obs, 0.3, &reaped, &err), 0);
	cr_assert_eq(reaped, 0);
	usleep(200000);
	cr_assert_eq(job_db_scan_beat(db, alive, 10, 0, &err), 0);
	cr_assert_eq(job_db_scans_reap(obs, 0.3, &reaped, &err), 0);
	cr_assert_eq(reaped, 0);
	usleep(200000);
	cr_assert_eq(job_db_scan_beat(db, alive, 10, 0, &err), 0);
	cr_assert_eq(job_db_scans_reap(obs, 0.3, &reaped, &err), 0);
	cr_assert_eq(reaped, 1, "the silent scan was not declared dead after the TTL");
	cr_assert_eq(q1(dir, "SELECT count(*) FROM scans WHERE state = 'running'"), 1);
	cr_assert_eq(q1(dir, "SELECT records FROM scans WHERE state = 'running'"), 20);
	/* the dead one commits nothing more: its beats, its queueing and its end are refused */
	cr_assert_eq(job_db_scan_beat(db, scan, 1, 0, &err), ST_ESTALE);
	for (int i = 0; i < 10; i++)
		t[i] = task(JT_SCRUB, (uint64_t)i + 1, 1);
	{
		struct job_db_add_opts o = { .scan = scan };
		cr_assert_eq(job_db_tasks_add_batched(db, t, 10, &o, &added, &err), ST_ESTALE);
		cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks"), 0, "a fenced batch was committed");
	}
	cr_assert_eq(job_db_scan_end(db, scan, 1, NULL, NULL, NULL, &err), ST_ESTALE);
	cr_assert_eq(q1(dir, "SELECT count(*) FROM scans WHERE state = 'failed' AND error LIKE '%no heartbeat%'"), 1);
	/* the live one queues (counted in its row) and ends as done */
	{
		struct job_db_add_opts o = { .scan = alive, .batch = 4 };
		cr_assert_eq(job_db_scan_to_queue(db, alive, 10, &err), 0);
		cr_assert_eq(job_db_tasks_add_batched(db, t, 10, &o, &added, &err), 0, "%s", err.text);
		cr_assert_eq(added, 10);
		cr_assert_eq(q1(dir, "SELECT queued FROM scans WHERE state = 'running'"), 10);
	}
	cr_assert_eq(job_db_scan_end(db, alive, 1, NULL, NULL, NULL, &err), 0);
	job_db_close(obs);
	job_db_close(db);
}

/* curator.db as every version before schema 1 made it, with duplicates in its queue. */
static const char old_schema[] =
	"CREATE TABLE scans(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, dry_run INTEGER NOT NULL,"
	"  state TEXT NOT NULL, started REAL NOT NULL, ended REAL, s0 INTEGER NOT NULL, ranks INTEGER NOT NULL,"
	"  phases TEXT, counters TEXT, error TEXT, task_results TEXT);"
	"CREATE TABLE findings(scan INTEGER NOT NULL, kind TEXT NOT NULL, egroup INTEGER, extent TEXT, detail TEXT);"
	"CREATE INDEX findings_scan ON findings(scan, kind);"
	"CREATE TABLE usage(scan INTEGER NOT NULL, disk INTEGER NOT NULL, tier INTEGER NOT NULL,"
	"  bytes INTEGER NOT NULL, egroups INTEGER NOT NULL);"
	"CREATE TABLE tasks(id INTEGER PRIMARY KEY, scan INTEGER NOT NULL, kind INTEGER NOT NULL,"
	"  target INTEGER NOT NULL, version INTEGER NOT NULL, priority INTEGER NOT NULL,"
	"  state INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,"
	"  arg BLOB, error TEXT, runner INTEGER, created REAL NOT NULL, updated REAL);"
	"CREATE INDEX tasks_queue ON tasks(state, priority DESC, id);"
	"CREATE TABLE requests(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, at REAL NOT NULL, taken REAL);"
	"CREATE TABLE events(id INTEGER PRIMARY KEY, at REAL NOT NULL, kind TEXT NOT NULL, detail TEXT);"
	"CREATE TABLE daemon(id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER, host TEXT, ranks INTEGER,"
	"  started REAL, heartbeat REAL, state TEXT, scan_id INTEGER, phase TEXT, phase_index INTEGER, phases INTEGER,"
	"  phase_started REAL, next_full REAL, next_partial REAL);"
	"INSERT INTO scans(id, kind, dry_run, state, started, s0, ranks) VALUES (1, 'full', 0, 'done', 1, 1, 1);"
	"INSERT INTO scans(id, kind, dry_run, state, started, s0, ranks) VALUES (2, 'full', 0, 'running', 2, 1, 1);"
	/* (kind 4, target 9): pending 10, running 11, pending 12 -> 11 stays */
	"INSERT INTO tasks(id, scan, kind, target, version, priority, state, created) VALUES (10, 1, 4, 9, 1, 45, 0, 1);"
	"INSERT INTO tasks(id, scan, kind, target, version, priority, state, created) VALUES (11, 1, 4, 9, 1, 45, 1, 1);"
	"INSERT INTO tasks(id, scan, kind, target, version, priority, state, created) VALUES (12, 1, 4, 9, 1, 45, 0, 1);"
	/* (kind 2, target 9): pending 13, 14 -> 13 stays; done 15 is history and stays */
	"INSERT INTO tasks(id, scan, kind, target, version, priority, state, created) VALUES (13, 1, 2, 9, 1, 40, 0, 1);"
	"INSERT INTO tasks(id, scan, kind, target, version, priority, state, created) VALUES (14, 1, 2, 9, 1, 40, 0, 1);"
	"INSERT INTO tasks(id, scan, kind, target, version, priority, state, created) VALUES (15, 1, 2, 9, 1, 40, 2, 1);"
	"INSERT INTO tasks(id, scan, kind, target, version, priority, state, created) VALUES (16, 1, 2, 8, 1, 40, 0, 1);";

Test(job_db, an_old_curator_db_is_upgraded_in_place)
{
	const char *dir = th_tmpdir("jdb-upgrade");
	sqlite3 *w = raw(dir);
	struct job_db *db;
	struct st_msg err = { "" };
	struct job_task t = task(JT_EGROUP_DELETE, 9, 5);

	cr_assert_eq(sqlite3_exec(w, old_schema, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(w));
	sqlite3_close(w);
	db = open_db(dir);
	cr_assert_eq(q1(dir, "PRAGMA user_version"), 4);
	cr_assert_eq(q1(dir, "SELECT count(*) FROM freeing WHERE freed = 0 AND tasks = 0"), 1); /* version 2 */
	cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks WHERE node = 0"), 4, "old rows run anywhere"); /* version 3 */
	cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks"), 4);
	cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks WHERE id % 1099511627776 IN (11, 13, 15, 16)"), 4);
	live_in_their_shards(dir, 3); /* version 4: each live task in its shard's file, the done one stays */
	cr_assert_eq(q1(dir, "SELECT count(*) FROM sqlite_master WHERE name = 'tasks_live'"), 1);
	cr_assert_eq(sums_off(dir), 0, "the sums were not built from the queue");
	cr_assert_eq(q1(dir, "SELECT sum(pending) FROM queue_sums"), 2);
	cr_assert_eq(q1(dir, "SELECT heartbeat FROM scans WHERE id = 2"), 0); /* new columns, defaults */
	cr_assert_eq(q1(dir, "SELECT count(*) FROM scans"), 2);
	cr_assert_eq(job_db_tasks_add(db, &t, 1, &err), 0);
	cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks"), 4, "a duplicate of the running task was queued");
	job_db_close(db);
	opens_without_a_write(dir);
}

/* Locality: a handle told which nodes other ranks run on leaves their tasks to them. */
Test(job_db, claims_leave_other_ranks_nodes_alone)
{
	const char *dir = th_tmpdir("jdb-local");
	struct job_db *db = open_db(dir), *other = open_db(dir);
	struct st_msg err = { "" };
	struct job_task t[8], got[8];
	uint32_t two = 2, one = 1;
	int n = 0, seen[4] = { 0 };

	for (int i = 0; i < 8; i++) {
		t[i] = task(JT_EGROUP_DELETE, 100 + (uint64_t)i, 1);
		t[i].node = (uint32_t)(i % 4); /* nodes 0 (none), 1, 2, 3 (no rank) */
	}
	cr_assert_eq(job_db_tasks_add(db, t, 8, &err), 0, "%s", err.text);
	cr_assert_eq(q1(dir, "SELECT count(*) FROM tasks WHERE node = 2"), 2);
	cr_assert_eq(job_db_set_locality(db, &two, 1), 0); /* this rank: node 1; another on node 2 */
	cr_assert_eq(job_db_set_locality(other, &one, 1), 0);
	cr_assert_eq(job_db_task_claim_many(db, -1, NULL, 8, got, &n, &err), 0, "%s", err.text);
	cr_assert_eq(n, 6, "node 1, node 0 and node 3 (no rank): %d", n);
	for (int i = 0; i < n; i++) {
		cr_assert_neq(got[i].node, 2, "claimed a task of another rank's node");
		seen[got[i].node]++;
		job_task_release(&got[i]);
	}
	cr_assert(seen[0] == 2 && seen[1] == 2 && seen[3] == 2);
	cr_assert_eq(job_db_task_claim_many(other, -1, NULL, 8, got, &n, &err), 0, "%s", err.text);
	cr_assert_eq(n, 2, "the node-2 rank gets its own");
	for (int i = 0; i < n; i++) {
		cr_assert_eq(got[i].node, 2);
		job_task_release(&got[i]);
	}
	job_db_close(db);
	job_db_close(other);
}
