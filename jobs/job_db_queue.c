/*
 * job_db_queue: the task queue in curator.db (see job_db.h): queueing,
 * claiming, outcomes, and the runner's transactions.
 *
 * DESIGN. A task is a row of `tasks`; the unique partial index tasks_live
 * on (kind, target) over the pending and running rows is the duplicate
 * rule, so queueing is one INSERT ... ON CONFLICT DO NOTHING per task with
 * one prepared statement: N tasks cost N index probes, O(N log N) in all.
 * The tasks of one call are sorted by (kind, target) first (stably: of two
 * duplicates in one call the first is kept, as before): the probes then
 * walk the index in order, which on a queue of a million tasks is several
 * times faster than probing it at random, and the rows still get ids in
 * order (appended). Batches are transactions of their own, so a reader
 * (`curator status`) never waits (WAL), another rank's batches interleave,
 * and a stop request is honoured between batches; a scan's queueing beats
 * its row inside each batch's transaction, which is also its fence: a scan
 * declared dead commits no further batch.
 *
 * Claims take the next pending tasks by tasks_queue (state, priority DESC,
 * id) and mark them running with the claiming rank's lease (runner, see
 * job_db_set_runner; never a pid). A claim or peek of one kind walks that index too, past the
 * pending tasks of other kinds ranked ahead of it (NEEDSWORK: an index on
 * (kind, state, priority, id) would make it a seek, at a fourth b-tree
 * insert per queued task).
 *
 * queue_sums holds, per (kind, priority), the pending and running tasks
 * and their bytes: every statement here that adds a task to the queue,
 * moves it between pending and running or takes it out moves the sums in
 * the same transaction, so the size of the queue is never counted row by
 * row (`curator status` with a million tasks waiting, the daemon's and the
 * runner's "anything pending?").
 */
#include "jobs/job_db_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/st_lease.h"
#include "storage/st_sql.h"

/* --- the sums ------------------------------------------------------------ */

/* Move the sums of (kind, priority) by the deltas, in the caller's transaction. */
static int sums_move(struct job_db *db, int kind, int priority, int64_t pending, int64_t running, int64_t bytes,
		     struct st_msg *err)
{
	sqlite3_stmt *st;
	int src, rc = st_sql_prepare(db->sql,
				     "INSERT INTO queue_sums(kind, priority, pending, running, bytes) VALUES (?1, ?2, ?3, ?4, ?5)"
				     " ON CONFLICT (kind, priority) DO UPDATE SET pending = pending + excluded.pending,"
				     " running = running + excluded.running, bytes = bytes + excluded.bytes",
				     &st, err);

	if (rc)
		return rc;
	sqlite3_bind_int(st, 1, kind);
	sqlite3_bind_int(st, 2, priority);
	sqlite3_bind_int64(st, 3, pending);
	sqlite3_bind_int64(st, 4, running);
	sqlite3_bind_int64(st, 5, bytes);
	src = sqlite3_step(st);
	sqlite3_finalize(st);
	return src == SQLITE_DONE ? 0 : st_sql_fail(db->sql, src, "curator.db queue_sums", err);
}

/*
 * Space-freeing tasks join a queue that held none: a new freeing episode,
 * its figures start at 0 (in the caller's transaction).
 */
static int freeing_start(struct job_db *db, struct st_msg *err)
{
	char sql[400];

	snprintf(sql, sizeof(sql),
		 "UPDATE freeing SET freed = 0, tasks = 0, since = %f WHERE NOT EXISTS (SELECT 1 FROM queue_sums"
		 " WHERE kind IN " JOB_DB_FREEING " AND pending + running > 0)",
		 job_db_now());
	return st_sql_exec(db->sql, sql, err);
}

/* A space-freeing task is done: its bytes were given back (in the caller's transaction). */
static int freeing_done(struct job_db *db, int64_t bytes, struct st_msg *err)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "UPDATE freeing SET freed = freed + %lld, tasks = tasks + 1", (long long)bytes);
	return st_sql_exec(db->sql, sql, err);
}

/* --- queueing ------------------------------------------------------------ */

/* The 16-bit digit d of a key's (kind, target): digits 0-3 the target, low first; digit 4 the kind. */
static inline unsigned key_digit(const struct job_db_add_key *k, int d)
{
	return d < 4 ? (unsigned)(k->target >> (16 * d)) & 0xffff : k->kind & 0xffff;
}

/*
 * Sort keys[0..n) by (kind, target), stably (of two duplicates in one call
 * the first stays first): an LSD radix sort on 16-bit digits, each pass
 * stable, a pass skipped when every key has the same digit (IDs share
 * their high bits, kinds are few). O(n) against qsort's O(n log n), which
 * was a tenth of queueing a million tasks. kind < 65536 (job_task_kind).
 * 0 or -ENOMEM.
 */
static int keys_sort(struct job_db_add_key *keys, int n)
{
	struct job_db_add_key *tmp, *src = keys, *dst;
	size_t *count;

	if (n < 2)
		return 0;
	tmp = malloc((size_t)n * sizeof(*tmp));
	count = malloc(65536 * sizeof(*count));
	if (!tmp || !count) {
		free(tmp);
		free(count);
		return -ENOMEM;
	}
	dst = tmp;
	for (int d = 0; d < 5; d++) {
		size_t sum = 0;
		unsigned first = key_digit(&src[0], d);
		int same = 1;
		for (int i = 1; i < n && same; i++)
			same = key_digit(&src[i], d) == first;
		if (same)
			continue;
		memset(count, 0, 65536 * sizeof(*count));
		for (int i = 0; i < n; i++)
			count[key_digit(&src[i], d)]++;
		for (unsigned b = 0; b < 65536; b++) {
			size_t c = count[b];
			count[b] = sum;
			sum += c;
		}
		for (int i = 0; i < n; i++)
			dst[count[key_digit(&src[i], d)]++] = src[i];
		struct job_db_add_key *x = src;
		src = dst;
		dst = x;
	}
	if (src != keys)
		memcpy(keys, src, (size_t)n * sizeof(*keys));
	free(tmp);
	free(count);
	return 0;
}

/* A positive integer from the environment, else dflt. */
static int env_int(const char *name, int dflt)
{
	const char *e = getenv(name);
	long v;

	if (!e || !*e)
		return dflt;
	v = strtol(e, NULL, 10);
	return v > 0 && v < (1L << 30) ? (int)v : dflt;
}

/* n tasks of (kind, priority) with these bytes joined the queue: their sums (in the caller's transaction). */
static int sums_add(struct job_db *db, int kind, int priority, int64_t n, int64_t bytes, struct st_msg *err)
{
	int rc = 0;

	if (job_db_frees(kind) && n)
		rc = freeing_start(db, err);
	return rc ? rc : sums_move(db, kind, priority, n, 0, bytes, err);
}

/*
 * Every row of rows[0..n) was inserted (no duplicate): their sums counted
 * here rather than read back, once per (kind, priority) of the batch (the
 * rows are sorted by kind, but one kind's priorities may alternate:
 * rereplicate's depend on the copies left). *added += n.
 */
static int rows_sums(struct job_db *db, const struct job_db_row *rows, int n, int64_t *added, struct st_msg *err)
{
	struct { int32_t kind, priority; int64_t n, bytes; } acc[64];
	int nacc = 0, rc = 0;

	for (int i = 0; i < n && !rc; i++) {
		int k = nacc - 1;
		while (k >= 0 && (acc[k].kind != rows[i].kind || acc[k].priority != rows[i].priority))
			k--;
		if (k < 0 && nacc == (int)(sizeof(acc) / sizeof(acc[0]))) { /* many pairs: the ones so far, then on */
			for (int j = 0; j < nacc && !rc; j++)
				rc = sums_add(db, acc[j].kind, acc[j].priority, acc[j].n, acc[j].bytes, err);
			nacc = 0;
		}
		if (k < 0) {
			k = nacc++;
			acc[k].kind = rows[i].kind;
			acc[k].priority = rows[i].priority;
			acc[k].n = acc[k].bytes = 0;
		}
		acc[k].n++;
		acc[k].bytes += rows[i].bytes;
	}
	for (int j = 0; j < nacc && !rc; j++)
		rc = sums_add(db, acc[j].kind, acc[j].priority, acc[j].n, acc[j].bytes, err);
	if (!rc)
		*added += n;
	return rc;
}

/*
 * Insert keys[from..to) of t in the open transaction, and their sums:
 * *added += rows inserted. One INSERT ... SELECT over job_batch
 * (job_db_batch.c); the duplicates are left out by tasks_live (ON CONFLICT
 * DO NOTHING), so the sums are those of the rows it made: when it made
 * every row, the batch's own (rows_sums); else read back from the ids past
 * the largest before it (rowids of a table without AUTOINCREMENT grow from
 * its largest, and this transaction holds the write lock).
 */
static int add_rows(struct job_db *db, sqlite3_stmt *ins, sqlite3_stmt *sums, const struct job_task *t,
		    const struct job_db_add_key *keys, int from, int to, struct job_db_row *rows, int64_t *added,
		    struct st_msg *err)
{
	int64_t before = 0;
	int src, rc = 0;
	sqlite3_stmt *top;

	/* gather the batch in queueing order: the caller's tasks are read at random, so fetch ahead */
	for (int i = from; i < to; i++) {
		const struct job_task *x = &t[keys[i].at];
		if (i + 16 < to)
			__builtin_prefetch(&t[keys[i + 16].at]);
		rows[i - from] = (struct job_db_row){ .scan = x->scan, .target = x->target, .version = x->version,
						       .bytes = x->bytes, .arg = x->arglen ? x->arg : NULL,
						       .arglen = (uint32_t)x->arglen, .kind = (int32_t)x->kind,
						       .priority = x->priority ? x->priority : job_task_priority(x->kind),
						       .node = x->node };
	}

	rc = st_sql_prepare(db->sql, "SELECT coalesce(max(id), 0) FROM tasks", &top, err);
	if (rc)
		return rc;
	if ((src = sqlite3_step(top)) == SQLITE_ROW)
		before = sqlite3_column_int64(top, 0);
	sqlite3_finalize(top);
	if (src != SQLITE_ROW)
		return st_sql_fail(db->sql, src, "curator.db tasks", err);
	db->batch = (struct job_db_batch){ .rows = rows, .n = to - from };
	sqlite3_bind_double(ins, 1, job_db_now());
	src = sqlite3_step(ins);
	sqlite3_reset(ins);
	db->batch = (struct job_db_batch){ .rows = NULL };
	if (src != SQLITE_DONE)
		return st_sql_fail(db->sql, src, "curator.db tasks", err);
	if (sqlite3_changes(db->sql) == to - from)
		return rows_sums(db, rows, to - from, added, err);
	sqlite3_bind_int64(sums, 1, before);
	while (!rc && (src = sqlite3_step(sums)) == SQLITE_ROW) {
		int kind = sqlite3_column_int(sums, 0), prio = sqlite3_column_int(sums, 1);
		int64_t n = sqlite3_column_int64(sums, 2), bytes = sqlite3_column_int64(sums, 3);
		rc = sums_add(db, kind, prio, n, bytes, err);
		*added += n;
	}
	if (!rc && src != SQLITE_DONE)
		rc = st_sql_fail(db->sql, src, "curator.db tasks", err);
	sqlite3_reset(sums);
	return rc;
}

/*
 * The WAL's checkpoints of a long queueing call, on a thread of its own
 * (ckpt_start .. ckpt_stop). Left to the writer, every commit past 1,000
 * WAL pages copied the WAL into curator.db and fsync'd it inside the
 * queueing loop: a fifth of the time of queueing a million tasks. So the
 * writer's connection stops checkpointing (wal_autocheckpoint 0) and a
 * second connection copies the committed frames meanwhile, on the core the
 * other ranks leave idle while rank 0 queues. PASSIVE: it never waits for
 * or holds up the writer or a reader, and it fsyncs the WAL before it
 * copies, so what it copies is as durable as the writer's commits made it.
 * ckpt_stop makes one last pass (the last batches) before it joins, and
 * gives the writer its checkpoints back. Best effort: a checkpointer that
 * cannot open or start leaves the checkpoints to the writer, as before.
 */
struct ckpt {
	sqlite3 *writer, *sql;
	pthread_t th;
	atomic_int stop;
	int running;
};

static void *ckpt_main(void *arg)
{
	struct ckpt *k = arg;
	int log = 0, done = 0;

	int before = -1;

	while (!atomic_load(&k->stop)) {
		/* caught up, busy, or held back by a reader's snapshot (no progress): nap, a batch takes tens of ms */
		if (sqlite3_wal_checkpoint_v2(k->sql, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done) != SQLITE_OK ||
		    done >= log || done == before)
			usleep(2000);
		before = done;
	}
	/*
	 * The writer began each batch while this thread still copied the last
	 * one, so the WAL never restarted and holds the whole call: the last
	 * pass truncates it (best effort: a reader's snapshot leaves it as is,
	 * and the next writer restarts it once it is all copied).
	 */
	sqlite3_wal_checkpoint_v2(k->sql, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
	return NULL;
}

/* 1 if sql's database is in WAL mode (not on a shared file system's curator.db: st_sql ST_SQL_SHARED) */
static int in_wal(sqlite3 *sql)
{
	sqlite3_stmt *st;
	int wal = 0;

	if (sqlite3_prepare_v2(sql, "PRAGMA journal_mode", -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		wal = !strcmp((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	return wal;
}

static void ckpt_start(struct ckpt *k, sqlite3 *writer)
{
	const char *path = sqlite3_db_filename(writer, "main");

	*k = (struct ckpt){ .writer = writer };
	if (!sqlite3_threadsafe() || !path || !*path ||
	    sqlite3_open_v2(path, &k->sql, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto fail;
	/* a connection opens the WAL when it first reads: until then its checkpoints do nothing */
	if (sqlite3_exec(k->sql, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK || !in_wal(k->sql) ||
	    pthread_create(&k->th, NULL, ckpt_main, k))
		goto fail;
	k->running = 1;
	sqlite3_wal_autocheckpoint(writer, 0);
	return;
fail:
	sqlite3_close(k->sql);
	k->sql = NULL;
}

static void ckpt_stop(struct ckpt *k)
{
	if (!k->running)
		return;
	atomic_store(&k->stop, 1);
	pthread_join(k->th, NULL);
	sqlite3_close(k->sql);
	sqlite3_wal_autocheckpoint(k->writer, 1000); /* SQLite's default, as job_db_open left it */
	k->running = 0;
}

/* The scan's row in this batch's transaction: its heartbeat, and n more handled; ST_ESTALE if it is not running. */
static int add_beat(struct job_db *db, sqlite3_stmt *beat, int64_t scan, int n, struct st_msg *err)
{
	int src;

	sqlite3_bind_int64(beat, 1, n);
	sqlite3_bind_int64(beat, 2, scan);
	src = sqlite3_step(beat);
	sqlite3_reset(beat);
	if (src != SQLITE_DONE)
		return st_sql_fail(db->sql, src, "curator.db scans", err);
	if (sqlite3_changes(db->sql) == 0)
		return st_fail(err, ST_ESTALE, "scan %lld: no longer running (declared dead: no heartbeat for the TTL);"
			       " queueing stopped", (long long)scan);
	return 0;
}

int job_db_tasks_add_batched(struct job_db *db, const struct job_task *t, int n, const struct job_db_add_opts *o,
			     int64_t *added, struct st_msg *err)
{
	static const struct job_db_add_opts defaults;
	sqlite3_stmt *ins = NULL, *sums = NULL, *beat = NULL;
	struct job_db_add_key *keys;
	struct job_db_row *rows;
	struct ckpt ck = { .running = 0 };
	int64_t total = 0;
	int batch, delay_us, rc;

	if (added)
		*added = 0;
	if (n <= 0)
		return 0;
	if (!o)
		o = &defaults;
	batch = env_int("CURATOR_QUEUE_BATCH", o->batch > 0 ? o->batch : JOB_DB_ADD_BATCH);
	delay_us = env_int("CURATOR_QUEUE_DELAY_US", 0);
	keys = malloc((size_t)n * sizeof(*keys));
	rows = malloc((size_t)(n < batch ? n : batch) * sizeof(*rows));
	if (!keys || !rows) {
		free(keys);
		free(rows);
		return st_fail(err, -ENOMEM, "out of memory");
	}
	for (int i = 0; i < n; i++)
		keys[i] = (struct job_db_add_key){ .target = t[i].target, .kind = (uint32_t)t[i].kind, .at = (uint32_t)i };
	if (keys_sort(keys, n)) {
		free(keys);
		free(rows);
		return st_fail(err, -ENOMEM, "out of memory");
	}
	rc = st_sql_prepare(db->sql,
			    "INSERT INTO tasks(scan, kind, target, version, priority, bytes, arg, created, node)"
			    " SELECT scan, kind, target, version, priority, bytes, arg, ?1, node FROM job_batch"
			    " WHERE 1 ON CONFLICT DO NOTHING",
			    &ins, err);
	if (!rc)
		rc = st_sql_prepare(db->sql,
				    "SELECT kind, priority, count(*), sum(bytes) FROM tasks WHERE id > ?1"
				    " GROUP BY kind, priority",
				    &sums, err);
	if (!rc && o->scan > 0)
		rc = st_sql_prepare(db->sql,
				    "UPDATE scans SET heartbeat = heartbeat + 1, queued = queued + ?1 WHERE id = ?2"
				    " AND state = 'running'",
				    &beat, err);
	if (!rc && n > 2 * batch)
		ckpt_start(&ck, db->sql);
	for (int from = 0; !rc && from < n; from += batch) {
		int to = n - from > batch ? from + batch : n;
		int64_t got = 0;
		if (o->stop && *o->stop) {
			rc = st_fail(err, -ECANCELED, "queueing stopped after %d of %d tasks", from, n);
			break;
		}
		rc = st_sql_begin(db->sql, err);
		if (rc)
			break;
		rc = add_rows(db, ins, sums, t, keys, from, to, rows, &got, err);
		if (!rc && beat)
			rc = add_beat(db, beat, o->scan, to - from, err);
		if (rc) {
			st_sql_rollback(db->sql);
			break;
		}
		rc = st_sql_commit(db->sql, err);
		if (rc)
			break;
		total += got;
		if (o->progress)
			o->progress(o->progress_arg, to, n);
		if (delay_us)
			usleep((useconds_t)delay_us);
	}
	ckpt_stop(&ck);
	sqlite3_finalize(ins);
	sqlite3_finalize(sums);
	sqlite3_finalize(beat);
	free(keys);
	free(rows);
	if (added)
		*added = total;
	return rc;
}

int job_db_tasks_add(struct job_db *db, const struct job_task *t, int n, struct st_msg *err)
{
	return job_db_tasks_add_batched(db, t, n, NULL, NULL, err);
}

/* --- looking and claiming ------------------------------------------------ */

int job_db_set_locality(struct job_db *db, const uint32_t *elsewhere, int n)
{
	size_t off = 0;

	db->elsewhere[0] = 0;
	for (int i = 0; i < n; i++) {
		int w = snprintf(db->elsewhere + off, sizeof(db->elsewhere) - off, "%s%u", off ? "," : "", elsewhere[i]);
		if (w < 0 || (size_t)w >= sizeof(db->elsewhere) - off) {
			db->elsewhere[0] = 0;
			return ST_EINVAL;
		}
		off += (size_t)w;
	}
	return 0;
}

int job_db_task_peek(struct job_db *db, int kind, int n, int *kinds, uint64_t *targets, int *got, struct st_msg *err)
{
	sqlite3_stmt *st;
	char sql[512];
	int rc;

	snprintf(sql, sizeof(sql),
		 "SELECT kind, target FROM tasks WHERE state = 0 AND (?1 < 0 OR kind = ?1)%s%s%s"
		 " ORDER BY priority DESC, id LIMIT ?2",
		 db->elsewhere[0] ? " AND node NOT IN (" : "", db->elsewhere, db->elsewhere[0] ? ")" : "");
	rc = st_sql_prepare(db->sql, sql, &st, err);

	*got = 0;
	if (rc)
		return rc;
	sqlite3_bind_int(st, 1, kind);
	sqlite3_bind_int(st, 2, n);
	while (*got < n && sqlite3_step(st) == SQLITE_ROW) {
		kinds[*got] = sqlite3_column_int(st, 0);
		targets[*got] = (uint64_t)sqlite3_column_int64(st, 1);
		(*got)++;
	}
	sqlite3_finalize(st);
	return 0;
}

int job_db_tasks_pending(struct job_db *db, int kind, int64_t *n, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql, "SELECT coalesce(sum(pending), 0) FROM queue_sums WHERE ?1 < 0 OR kind = ?1", &st,
				err);

	*n = 0;
	if (rc)
		return rc;
	sqlite3_bind_int(st, 1, kind);
	if (sqlite3_step(st) == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

int job_db_tasks_waiting(struct job_db *db, int *yes, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(db->sql, "SELECT EXISTS (SELECT 1 FROM queue_sums WHERE pending > 0)", &st, err);

	*yes = 0;
	if (rc)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW)
		*yes = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

int job_db_task_claim(struct job_db *db, int kind, const int *kind_ranks, struct job_task *t, int *got,
		      struct st_msg *err)
{
	return job_db_task_claim_many(db, kind, kind_ranks, 1, t, got, err);
}

/* The kinds at their concurrency limit, as a list for NOT IN (always starts "-1"). */
static void kinds_at_limit(struct job_db *db, const int *kind_ranks, char *skip, size_t len)
{
	snprintf(skip, len, "-1");
	for (int k = 0; kind_ranks && k < JT_NKINDS; k++) {
		sqlite3_stmt *c;
		if (kind_ranks[k] <= 0 ||
		    sqlite3_prepare_v2(db->sql, "SELECT count(*) FROM tasks WHERE state = 1 AND kind = ?", -1, &c, NULL) != SQLITE_OK)
			continue;
		sqlite3_bind_int(c, 1, k);
		if (sqlite3_step(c) == SQLITE_ROW && sqlite3_column_int(c, 0) >= kind_ranks[k]) {
			size_t l = strlen(skip);
			snprintf(skip + l, len - l, ",%d", k);
		}
		sqlite3_finalize(c);
	}
}

/* Fill t from a claim row (columns id, scan, kind, target, version, priority, attempts, bytes, arg, node). */
static int claim_row(sqlite3_stmt *st, struct job_task *t, struct st_msg *err)
{
	memset(t, 0, sizeof(*t));
	t->id = sqlite3_column_int64(st, 0);
	t->scan = sqlite3_column_int64(st, 1);
	t->kind = (enum job_task_kind)sqlite3_column_int(st, 2);
	t->target = (uint64_t)sqlite3_column_int64(st, 3);
	t->version = (uint64_t)sqlite3_column_int64(st, 4);
	t->priority = sqlite3_column_int(st, 5);
	t->attempts = sqlite3_column_int(st, 6) + 1;
	t->bytes = sqlite3_column_int64(st, 7);
	t->arglen = (size_t)sqlite3_column_bytes(st, 8);
	if (t->arglen) {
		t->arg = malloc(t->arglen);
		if (!t->arg)
			return st_fail(err, -ENOMEM, "out of memory");
		memcpy(t->arg, sqlite3_column_blob(st, 8), t->arglen);
	}
	t->node = (uint32_t)sqlite3_column_int64(st, 9);
	return 0;
}

int job_db_task_claim_many(struct job_db *db, int kind, const int *kind_ranks, int max, struct job_task *t0, int *got,
			   struct st_msg *err)
{
	sqlite3_stmt *st;
	char skip[128], sql[600];
	int rc = st_sql_begin(db->sql, err);

	*got = 0;
	if (rc)
		return rc;
	kinds_at_limit(db, kind_ranks, skip, sizeof(skip));
	snprintf(sql, sizeof(sql),
		 "SELECT id, scan, kind, target, version, priority, attempts, bytes, arg, node FROM tasks"
		 " WHERE state = 0 AND (?1 < 0 OR kind = ?1) AND kind NOT IN (%s)%s%s%s"
		 " ORDER BY priority DESC, id LIMIT %d",
		 skip, db->elsewhere[0] ? " AND node NOT IN (" : "", db->elsewhere, db->elsewhere[0] ? ")" : "",
		 max < 1 ? 1 : max);
	rc = st_sql_prepare(db->sql, sql, &st, err);
	if (rc)
		goto fail;
	sqlite3_bind_int(st, 1, kind);
	while (!rc && *got < max && sqlite3_step(st) == SQLITE_ROW) {
		rc = claim_row(st, &t0[*got], err);
		(*got)++;
	}
	sqlite3_finalize(st);
	for (int i = 0; i < *got && !rc; i++) {
		char q[200];
		snprintf(q, sizeof(q),
			 "UPDATE tasks SET state = 1, attempts = attempts + 1, runner = %lld, updated = %f WHERE id = %lld",
			 (long long)db->runner, job_db_now(), (long long)t0[i].id);
		rc = st_sql_exec(db->sql, q, err);
		if (!rc)
			rc = sums_move(db, t0[i].kind, t0[i].priority, -1, 1, 0, err);
	}
	if (!rc)
		rc = st_sql_commit(db->sql, err);
	if (!rc)
		return 0;
fail: /* nothing claimed: the caller has nothing to release */
	for (int i = 0; i < *got; i++)
		job_task_release(&t0[i]);
	*got = 0;
	st_sql_rollback(db->sql);
	return rc;
}

void job_task_release(struct job_task *t)
{
	free(t->arg);
	t->arg = NULL;
	t->arglen = 0;
}

/* --- outcomes ------------------------------------------------------------ */

/* A task's kind, priority, state and bytes: 0, or ST_ENOTFOUND. */
static int task_get(struct job_db *db, int64_t id, int *kind, int *priority, int *state, int64_t *bytes,
		    struct st_msg *err)
{
	sqlite3_stmt *st;
	int src, rc = st_sql_prepare(db->sql, "SELECT kind, priority, state, bytes FROM tasks WHERE id = ?", &st, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		*kind = sqlite3_column_int(st, 0);
		*priority = sqlite3_column_int(st, 1);
		*state = sqlite3_column_int(st, 2);
		*bytes = sqlite3_column_int64(st, 3);
	} else {
		rc = src == SQLITE_DONE ? ST_ENOTFOUND : st_sql_fail(db->sql, src, "curator.db tasks", err);
	}
	sqlite3_finalize(st);
	return rc;
}

static int live(int state)
{
	return state == JS_PENDING || state == JS_RUNNING;
}

/* The row's new state and bytes, and the sums (in the open transaction). */
static int finish_in_tx(struct job_db *db, int64_t id, enum job_task_state state, int64_t bytes, const char *error,
			struct st_msg *err)
{
	sqlite3_stmt *st;
	int kind, prio, old, rc = 0;
	int64_t old_bytes;
	int found = task_get(db, id, &kind, &prio, &old, &old_bytes, err);

	if (found && found != ST_ENOTFOUND)
		return found;
	rc = st_sql_prepare(db->sql, "UPDATE tasks SET state = ?, bytes = ?, error = ?, updated = ? WHERE id = ?", &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int(st, 1, state);
	sqlite3_bind_int64(st, 2, bytes);
	if (error)
		sqlite3_bind_text(st, 3, error, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(st, 4, job_db_now());
	sqlite3_bind_int64(st, 5, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = st_sql_fail(db->sql, sqlite3_errcode(db->sql), "curator.db tasks", err);
	sqlite3_finalize(st);
	if (!rc && !found && live(old))
		rc = sums_move(db, kind, prio, -(old == JS_PENDING), -(old == JS_RUNNING), -old_bytes, err);
	if (!rc && !found && live((int)state))
		rc = sums_move(db, kind, prio, state == JS_PENDING, state == JS_RUNNING, bytes, err);
	if (!rc && !found && state == JS_DONE && live(old) && job_db_frees(kind))
		rc = freeing_done(db, bytes, err);
	return rc;
}

int job_db_task_finish(struct job_db *db, int64_t id, enum job_task_state state, int64_t bytes, const char *error,
		       struct st_msg *err)
{
	int own = sqlite3_get_autocommit(db->sql), rc = 0; /* not inside job_db_tasks_finish_begin: a transaction of its own */

	if (own)
		rc = st_sql_begin(db->sql, err);
	if (!rc)
		rc = finish_in_tx(db, id, state, bytes, error, err);
	if (!own)
		return rc;
	if (rc) {
		st_sql_rollback(db->sql);
		return rc;
	}
	return st_sql_commit(db->sql, err);
}

void job_db_set_runner(struct job_db *db, int64_t lease)
{
	db->runner = lease;
}

int job_db_tasks_requeue_running(struct job_db *db, struct st_config *cfg, struct st_msg *err)
{
	sqlite3_stmt *st;
	int64_t ids[256];
	int n = 0, rc = st_sql_prepare(db->sql, "SELECT id, runner FROM tasks WHERE state = 1", &st, err);

	if (rc)
		return rc;
	while (!rc && sqlite3_step(st) == SQLITE_ROW && n < 256) {
		int64_t lease = sqlite3_column_int64(st, 1);
		int live = 0;
		/* its runner's lease: live or being fenced keeps it; dead or gone frees it (never by pid) */
		rc = lease > 0 ? st_lease_is_held(cfg, lease, &live, err) : 0;
		if (!rc && !live)
			ids[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (rc)
		return rc;
	if (!n)
		return 0;
	rc = st_sql_begin(db->sql, err);
	for (int i = 0; i < n && !rc; i++) {
		int kind, prio, state;
		int64_t bytes;
		char sql[128];
		rc = task_get(db, ids[i], &kind, &prio, &state, &bytes, err);
		if (rc == ST_ENOTFOUND || (!rc && state != JS_RUNNING)) {
			rc = 0; /* finished in the meantime */
			continue;
		}
		snprintf(sql, sizeof(sql), "UPDATE tasks SET state = 0 WHERE id = %lld AND state = 1", (long long)ids[i]);
		if (!rc)
			rc = st_sql_exec(db->sql, sql, err);
		if (!rc)
			rc = sums_move(db, kind, prio, 1, -1, 0, err);
	}
	if (rc) {
		st_sql_rollback(db->sql);
		return rc;
	}
	return st_sql_commit(db->sql, err);
}

/* --- the task runner's statements (jobs/job_tasks.c) ---------------------- */

int job_db_tasks_finish_begin(struct job_db *db, struct st_msg *err)
{
	return st_sql_begin(db->sql, err);
}

int job_db_tasks_finish_commit(struct job_db *db, struct st_msg *err)
{
	return st_sql_commit(db->sql, err);
}

/* --- budgets of a task run ----------------------------------------------- */

#define BUDGET_TABLE                                                                                       \
	"CREATE TABLE IF NOT EXISTS budgets(run INTEGER NOT NULL, name TEXT NOT NULL, bytes INTEGER NOT NULL," \
	"  PRIMARY KEY (run, name)) WITHOUT ROWID"

int job_db_budget_start(struct job_db *db, int64_t *run, struct st_msg *err)
{
	sqlite3_stmt *st;
	int src, rc = st_sql_begin(db->sql, err);

	*run = 0;
	if (!rc)
		rc = st_sql_exec(db->sql, BUDGET_TABLE, err);
	if (!rc)
		rc = st_sql_prepare(db->sql, "SELECT coalesce(max(run), 0) + 1 FROM budgets", &st, err);
	if (!rc) {
		src = sqlite3_step(st);
		if (src == SQLITE_ROW)
			*run = sqlite3_column_int64(st, 0);
		else
			rc = st_sql_fail(db->sql, src, "curator.db budgets", err);
		sqlite3_finalize(st);
	}
	if (!rc)
		rc = st_sql_prepare(db->sql, "INSERT INTO budgets(run, name, bytes) VALUES (?1, '', 0)", &st, err);
	if (!rc) { /* the run's marker: the next run's number is above it */
		sqlite3_bind_int64(st, 1, *run);
		src = sqlite3_step(st);
		if (src != SQLITE_DONE)
			rc = st_sql_fail(db->sql, src, "curator.db budgets", err);
		sqlite3_finalize(st);
	}
	if (!rc)
		rc = st_sql_prepare(db->sql, "DELETE FROM budgets WHERE run <= ?1 - 16", &st, err);
	if (!rc) {
		sqlite3_bind_int64(st, 1, *run);
		src = sqlite3_step(st);
		if (src != SQLITE_DONE)
			rc = st_sql_fail(db->sql, src, "curator.db budgets", err);
		sqlite3_finalize(st);
	}
	if (rc) {
		st_sql_rollback(db->sql);
		return rc;
	}
	return st_sql_commit(db->sql, err);
}

int job_db_budget_take(struct job_db *db, int64_t run, const char *name, int64_t bytes, int64_t *total,
		       struct st_msg *err)
{
	sqlite3_stmt *st;
	int src, rc = st_sql_prepare(db->sql,
				     "INSERT INTO budgets(run, name, bytes) VALUES (?1, ?2, ?3) ON CONFLICT (run, name)"
				     " DO UPDATE SET bytes = bytes + excluded.bytes RETURNING bytes",
				     &st, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, bytes);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		*total = sqlite3_column_int64(st, 0);
	else
		rc = st_sql_fail(db->sql, src, "curator.db budgets", err);
	sqlite3_finalize(st);
	return rc;
}
