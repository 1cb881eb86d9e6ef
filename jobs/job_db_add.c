/*
 * job_db_add: queueing tasks (job_db_tasks_add_batched, job_db.h).
 *
 * DESIGN. A task is a row of `tasks`; the unique partial index tasks_live
 * on (kind, target) over the pending and running rows is the duplicate
 * rule, so queueing is one INSERT ... ON CONFLICT DO NOTHING per task:
 * N tasks cost N index probes, O(N log N) in all. The tasks of one call
 * are sorted by (kind, target) first (stably: of two duplicates in one
 * call the first is kept): the probes then walk the index in order, which
 * on a queue of a million tasks is several times faster than probing it
 * at random, and the rows get ids in that order (appended).
 *
 * The sorted tasks are split by shard (job_db_int.h: a fixed hash of
 * (kind, target)) and each shard's are inserted through a handle of its
 * own on the shard's file, all shards at once, one thread each: SQLite has
 * one writer per file, and a million tasks into one file cost a fifth of
 * the scan that found them (docs/BENCHMARKS.md). Each shard's batches are
 * transactions of their own, so a reader (`curator status`) never waits
 * (WAL), other writers interleave, and a stop request is honoured between
 * batches.
 *
 * The fence: a scan's queueing beats its row before the first batch (a scan
 * already declared dead queues nothing) and inside every batch of shard 0,
 * whose file holds the scan rows, counting the tasks every shard has
 * committed so far; a beat that finds the scan no longer running halts all
 * shards before their next batch. The other shards' batches are not in
 * the transaction of a beat (the caller's thread beats every 0.2 s while
 * they run), so a scan declared dead meanwhile may commit the batches of
 * up to that long in those shards: their tasks are checked against the metadata
 * when they run, like every task (DESIGN.md's safety rule), so at worst
 * they end stale.
 */
#include "jobs/job_db_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/st_sql.h"

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

/*
 * Every row of rows[0..n) was inserted (no duplicate): their sums counted
 * here rather than read back, once per (kind, priority) of the batch (the
 * rows are sorted by kind, but one kind's priorities may alternate:
 * rereplicate's depend on the copies left). In the writer's transaction on
 * its shard's file (schema main). *added += n.
 */
static int rows_sums(sqlite3 *sql, const struct job_db_row *rows, int n, int64_t *added, struct st_msg *err)
{
	struct { int32_t kind, priority; int64_t n, bytes; } acc[64];
	int nacc = 0, rc = 0;

	for (int i = 0; i < n && !rc; i++) {
		int k = nacc - 1;
		while (k >= 0 && (acc[k].kind != rows[i].kind || acc[k].priority != rows[i].priority))
			k--;
		if (k < 0 && nacc == (int)(sizeof(acc) / sizeof(acc[0]))) { /* many pairs: the ones so far, then on */
			for (int j = 0; j < nacc && !rc; j++)
				rc = job_db_sums_move(sql, "main", acc[j].kind, acc[j].priority, acc[j].n, 0, acc[j].bytes, err);
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
		rc = job_db_sums_move(sql, "main", acc[j].kind, acc[j].priority, acc[j].n, 0, acc[j].bytes, err);
	if (!rc)
		*added += n;
	return rc;
}

/* One shard's writer: its handle, its tasks, and how far it got. */
struct writer {
	struct job_db h; /* its own handle on the shard's file (job_db_shard_open) */
	int shard;
	char file[32]; /* for messages: "curator-q1.db tasks" */
	const struct job_task *t;
	struct job_db_add_key *keys; /* this shard's (sorted by the writer, first thing) */
	int n;
	struct add_call *call;
	atomic_llong done; /* tasks of committed batches */
	atomic_int finished;
	int64_t added;
	int rc; /* 0, an error (err), or HALTED: stopped because another writer failed or the fence closed */
	struct st_msg err;
	pthread_t th;
	int threaded;
};

#define HALTED 1

/* What the writers of one call share. */
struct add_call {
	struct writer w[JOB_DB_SHARDS];
	int batch, delay_us, total;
	const struct job_db_add_opts *o;
	struct job_db *db;  /* the caller's handle (its thread only) */
	atomic_int halt;    /* any writer's error, or the fence: the others stop before their next batch */
	int64_t scan;       /* beaten (> 0), else 0 */
	int64_t beaten;     /* tasks counted in the scan row so far (the thread of shard 0's writer only) */
};

static int64_t call_done(struct add_call *c)
{
	int64_t d = 0;

	for (int s = 0; s < JOB_DB_SHARDS; s++)
		d += atomic_load(&c->w[s].done);
	return d;
}

/*
 * Insert keys[from..to) of the writer's tasks in its open transaction, and
 * their sums: w->added += rows inserted. One INSERT ... SELECT over
 * job_batch (job_db_batch.c), ids given by SQLite (the largest plus one;
 * a shard past 0 counts from its base: job_db_shard.c); the duplicates are left out by
 * tasks_live (ON CONFLICT DO NOTHING), so the sums are those of the rows
 * it made: when it made every row, the batch's own (rows_sums); else read
 * back from the ids past the largest before it (this transaction holds the
 * file's write lock).
 */
static int add_rows(struct writer *w, sqlite3_stmt *ins, sqlite3_stmt *top, sqlite3_stmt *sums, int from, int to,
		    struct job_db_row *rows)
{
	sqlite3 *sql = w->h.sql;
	int64_t before = 0;
	int src, rc = 0;

	/* gather the batch in queueing order: the caller's tasks are read at random, so fetch ahead */
	for (int i = from; i < to; i++) {
		const struct job_task *x = &w->t[w->keys[i].at];
		if (i + 16 < to)
			__builtin_prefetch(&w->t[w->keys[i + 16].at]);
		rows[i - from] = (struct job_db_row){ .scan = x->scan, .target = x->target, .version = x->version,
						       .bytes = x->bytes, .arg = x->arglen ? x->arg : NULL,
						       .arglen = (uint32_t)x->arglen, .kind = (int32_t)x->kind,
						       .priority = x->priority ? x->priority : job_task_priority(x->kind),
						       .node = x->node };
	}
	sqlite3_bind_int64(top, 1, JOB_DB_SHARD_BASE(w->shard));
	if ((src = sqlite3_step(top)) == SQLITE_ROW)
		before = sqlite3_column_int64(top, 0);
	sqlite3_reset(top);
	if (src != SQLITE_ROW)
		return st_sql_fail(sql, src, w->file, &w->err);
	w->h.batch = (struct job_db_batch){ .rows = rows, .n = to - from };
	sqlite3_bind_double(ins, 1, job_db_now());
	src = sqlite3_step(ins);
	sqlite3_reset(ins);
	w->h.batch = (struct job_db_batch){ .rows = NULL };
	if (src != SQLITE_DONE)
		return st_sql_fail(sql, src, w->file, &w->err);
	if (sqlite3_changes(sql) == to - from)
		return rows_sums(sql, rows, to - from, &w->added, &w->err);
	sqlite3_bind_int64(sums, 1, before);
	while (!rc && (src = sqlite3_step(sums)) == SQLITE_ROW) {
		int kind = sqlite3_column_int(sums, 0), prio = sqlite3_column_int(sums, 1);
		int64_t n = sqlite3_column_int64(sums, 2), bytes = sqlite3_column_int64(sums, 3);
		rc = job_db_sums_move(sql, "main", kind, prio, n, 0, bytes, &w->err);
		w->added += n;
	}
	if (!rc && src != SQLITE_DONE)
		rc = st_sql_fail(sql, src, w->file, &w->err);
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

/*
 * The scan's row: its heartbeat, and the tasks every shard committed since
 * the last beat (beat: on curator.db, in the caller's transaction or on
 * its own). ST_ESTALE if the scan is not running.
 */
static int add_beat(sqlite3 *sql, sqlite3_stmt *beat, struct add_call *c, int64_t pending, int64_t *counted,
		    struct st_msg *err)
{
	int64_t delta = call_done(c) + pending - c->beaten;
	int src;

	sqlite3_bind_int64(beat, 1, delta);
	sqlite3_bind_int64(beat, 2, c->scan);
	src = sqlite3_step(beat);
	sqlite3_reset(beat);
	if (src != SQLITE_DONE)
		return st_sql_fail(sql, src, "curator.db scans", err);
	if (sqlite3_changes(sql) == 0)
		return st_fail(err, ST_ESTALE, "scan %lld: no longer running (declared dead: no heartbeat for the TTL);"
			       " queueing stopped", (long long)c->scan);
	*counted = delta;
	return 0;
}

static const char beat_sql[] = "UPDATE scans SET heartbeat = heartbeat + 1, queued = queued + ?1 WHERE id = ?2"
			       " AND state = 'running'";

/* One shard's batches (on its thread, or the caller's). */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct add_call *c = w->call;
	sqlite3 *sql = w->h.sql;
	sqlite3_stmt *ins = NULL, *top = NULL, *sums = NULL, *beat = NULL, *after = NULL;
	struct job_db_row *rows = malloc((size_t)(w->n < c->batch ? w->n : c->batch) * sizeof(*rows));
	struct ckpt ck = { .running = 0 };
	int rc = rows && !keys_sort(w->keys, w->n) ? 0 : st_fail(&w->err, -ENOMEM, "out of memory");

	if (!rc)
		rc = st_sql_prepare(sql,
				    "INSERT INTO tasks(scan, kind, target, version, priority, bytes, arg, created, node)"
				    " SELECT scan, kind, target, version, priority, bytes, arg, ?1, node"
				    " FROM job_batch WHERE 1 ON CONFLICT DO NOTHING",
				    &ins, &w->err);
	if (!rc)
		rc = st_sql_prepare(sql, "SELECT max(coalesce(max(id), 0), ?1) FROM tasks", &top, &w->err);
	if (!rc)
		rc = st_sql_prepare(sql,
				    "SELECT kind, priority, count(*), sum(bytes) FROM tasks WHERE id > ?1"
				    " GROUP BY kind, priority",
				    &sums, &w->err);
	if (!rc && c->scan > 0 && w->shard == 0)
		rc = st_sql_prepare(sql, beat_sql, &beat, &w->err);
	else if (!rc && c->scan > 0 && !w->threaded)
		rc = st_sql_prepare(c->db->sql, beat_sql, &after, &w->err);
	if (!rc && w->n > 2 * c->batch)
		ckpt_start(&ck, sql);
	for (int from = 0; !rc && from < w->n; from += c->batch) {
		int to = w->n - from > c->batch ? from + c->batch : w->n;
		int64_t counted = 0;
		if (atomic_load(&c->halt)) {
			rc = HALTED;
			break;
		}
		if (c->o->stop && *c->o->stop) {
			rc = -ECANCELED;
			break;
		}
		rc = st_sql_begin(sql, &w->err);
		if (rc)
			break;
		rc = add_rows(w, ins, top, sums, from, to, rows);
		if (!rc && beat)
			rc = add_beat(sql, beat, c, to - from, &counted, &w->err);
		if (rc) {
			st_sql_rollback(sql);
			break;
		}
		rc = st_sql_commit(sql, &w->err);
		if (rc)
			break;
		atomic_fetch_add(&w->done, to - from);
		if (beat)
			c->beaten += counted; /* (the caller's thread only: shard 0's writer never has one of its own) */
		else if (after) { /* a shard past 0 on the caller's thread: a beat of its own after each batch */
			if ((rc = add_beat(c->db->sql, after, c, 0, &counted, &w->err)) != 0)
				break;
			c->beaten += counted;
		}
		if (w->shard == 0 && c->o->progress) /* (the caller's thread) */
			c->o->progress(c->o->progress_arg, (int)call_done(c), c->total);
		if (c->delay_us)
			usleep((useconds_t)c->delay_us);
	}
	ckpt_stop(&ck);
	sqlite3_finalize(ins);
	sqlite3_finalize(top);
	sqlite3_finalize(sums);
	sqlite3_finalize(beat);
	sqlite3_finalize(after);
	free(rows);
	if (rc && rc != HALTED)
		atomic_store(&c->halt, 1);
	w->rc = rc;
	atomic_store(&w->finished, 1);
	return NULL;
}

/*
 * The keys of one call grouped by shard, in call order within each:
 * keys[off[s]..off[s + 1]); each writer sorts its own (stably: the whole
 * sort, shard by shard on their threads). 0 or -ENOMEM.
 */
static int keys_by_shard(const struct job_task *t, int n, struct job_db_add_key **out, int off[JOB_DB_SHARDS + 1])
{
	struct job_db_add_key *keys = malloc((size_t)n * sizeof(*keys)), *by = NULL;
	int at[JOB_DB_SHARDS] = { 0 };

	*out = NULL;
	if (!keys)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		keys[i] = (struct job_db_add_key){ .target = t[i].target, .kind = (uint32_t)t[i].kind, .at = (uint32_t)i };
	if (!(by = malloc((size_t)n * sizeof(*by)))) {
		free(keys);
		return -ENOMEM;
	}
	memset(off, 0, (JOB_DB_SHARDS + 1) * sizeof(*off));
	for (int i = 0; i < n; i++)
		off[job_db_shard((int)keys[i].kind, keys[i].target) + 1]++;
	for (int s = 0; s < JOB_DB_SHARDS; s++) {
		off[s + 1] += off[s];
		at[s] = off[s];
	}
	for (int i = 0; i < n; i++)
		by[at[job_db_shard((int)keys[i].kind, keys[i].target)]++] = keys[i];
	free(keys);
	*out = by;
	return 0;
}

/* Before any batch: the scan still running (else nothing is queued), and a freeing episode opened if due. */
static int add_prologue(struct job_db *db, const struct job_task *t, int n, struct add_call *c, struct st_msg *err)
{
	sqlite3_stmt *beat;
	int64_t counted;
	int frees = 0, rc = 0;

	if (c->scan > 0) {
		rc = st_sql_prepare(db->sql, beat_sql, &beat, err);
		if (rc)
			return rc;
		rc = add_beat(db->sql, beat, c, 0, &counted, err);
		sqlite3_finalize(beat);
		if (rc)
			return rc;
	}
	for (int i = 0; i < n && !frees; i++)
		frees = job_db_frees(t[i].kind);
	return frees ? job_db_freeing_start(db, err) : 0;
}

/*
 * Wait for the writers on threads, beating the scan row on db's own handle
 * meanwhile (shard 0's writer, which beat in its batches, is done), and
 * count their last batches in it. Progress reported as they go.
 */
static int add_wait(struct job_db *db, struct add_call *c, const struct job_db_add_opts *o, struct st_msg *err)
{
	sqlite3_stmt *beat = NULL;
	int rc = c->scan > 0 ? st_sql_prepare(db->sql, beat_sql, &beat, err) : 0;
	double last = job_db_mono();

	for (;;) {
		int all = 1;
		for (int s = 0; s < JOB_DB_SHARDS; s++)
			all &= !c->w[s].threaded || atomic_load(&c->w[s].finished);
		if (o->progress)
			o->progress(o->progress_arg, (int)call_done(c), c->total);
		if (all || (beat && !rc && job_db_mono() - last > 0.2)) {
			int64_t counted = 0;
			if (beat && !rc && (rc = add_beat(db->sql, beat, c, 0, &counted, err)) != 0)
				atomic_store(&c->halt, 1);
			c->beaten += counted;
			last = job_db_mono();
		}
		if (all)
			break;
		usleep(5000);
	}
	for (int s = 0; s < JOB_DB_SHARDS; s++)
		if (c->w[s].threaded)
			pthread_join(c->w[s].th, NULL);
	sqlite3_finalize(beat);
	return rc;
}

int job_db_tasks_add_batched(struct job_db *db, const struct job_task *t, int n, const struct job_db_add_opts *o,
			     int64_t *added, struct st_msg *err)
{
	static const struct job_db_add_opts defaults;
	struct add_call *c;
	struct job_db_add_key *keys;
	int off[JOB_DB_SHARDS + 1], rc = 0;

	if (added)
		*added = 0;
	if (n <= 0)
		return 0;
	if (!o)
		o = &defaults;
	c = calloc(1, sizeof(*c));
	if (!c || keys_by_shard(t, n, &keys, off)) {
		free(c);
		return st_fail(err, -ENOMEM, "out of memory");
	}
	c->batch = env_int("CURATOR_QUEUE_BATCH", o->batch > 0 ? o->batch : JOB_DB_ADD_BATCH);
	c->delay_us = env_int("CURATOR_QUEUE_DELAY_US", 0);
	c->o = o;
	c->db = db;
	c->scan = o->scan;
	c->total = n;
	rc = add_prologue(db, t, n, c, err);
	for (int s = 0; s < JOB_DB_SHARDS && !rc; s++) {
		struct writer *w = &c->w[s];
		*w = (struct writer){ .shard = s, .t = t, .keys = keys + off[s], .n = off[s + 1] - off[s],
				      .call = c };
		snprintf(w->file, sizeof(w->file), s ? "curator-q%d.db tasks" : "curator.db tasks", s);
		if (w->n)
			rc = job_db_shard_open(db, s, &w->h, err);
	}
	/*
	 * Shard 0's writer on this thread (it beats the scan row), the others on
	 * threads of their own (add_wait beats while they run); one that gets no
	 * thread runs here after it, beating the row after each batch.
	 */
	for (int s = 1; s < JOB_DB_SHARDS && !rc && sqlite3_threadsafe(); s++)
		if (c->w[s].n) {
			c->w[s].threaded = 1; /* (read by the thread: set before it starts) */
			if (pthread_create(&c->w[s].th, NULL, writer_main, &c->w[s]))
				c->w[s].threaded = 0;
		}
	for (int s = 0; s < JOB_DB_SHARDS && !rc; s++) /* and any that got no thread, in turn */
		if (c->w[s].n && !c->w[s].threaded)
			writer_main(&c->w[s]);
	if (!rc)
		rc = add_wait(db, c, o, err);
	for (int s = 0; s < JOB_DB_SHARDS; s++) {
		struct writer *w = &c->w[s];
		if (w->h.sql)
			job_db_shard_close(&w->h);
		if (added)
			*added += w->added;
		if (!rc && w->rc && w->rc != HALTED)
			rc = w->rc == -ECANCELED ? st_fail(err, -ECANCELED, "queueing stopped after %lld of %d tasks",
							   (long long)call_done(c), n)
						 : (*err = w->err, w->rc);
	}
	free(keys);
	free(c);
	return rc;
}

int job_db_tasks_add(struct job_db *db, const struct job_task *t, int n, struct st_msg *err)
{
	return job_db_tasks_add_batched(db, t, n, NULL, NULL, err);
}
