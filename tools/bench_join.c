/*
 * bench_join: the refcount join of tools/bench_gen.h as baselines for
 * tools/bench_mr.sh:
 *
 *   bench_join hashjoin OUTFILE A B SPLITS
 *       single-threaded in-memory hash join (the floor): build a table
 *       extent -> (egroup, count) from B, probe it with A, write
 *       (egroup, extent, count) for every extent, as the MapReduce job does.
 *   bench_join sqlite DBFILE A B SPLITS
 *       load the rows into SQLite tables (timed apart), build an index on
 *       the join key (timed apart), then run the join as SQL with default
 *       settings and with tuned ones (cache, mmap, temp store in memory);
 *       prints each time.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/bench_gen.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct slot {
	uint64_t ext, eg, count;
};

static int hashjoin(const char *out, uint64_t a, uint64_t b, int splits)
{
	double t0 = now();
	size_t cap = 1;
	while (cap < b * 2)
		cap <<= 1;
	struct slot *t = calloc(cap, sizeof(*t));
	FILE *f;
	char *buf;

	if (!t)
		return 1;
	for (int s = 0; s < splits; s++) {
		uint64_t first, end;
		bg_b_range(b, splits, s, &first, &end);
		for (uint64_t ext = first; ext < end; ext++) {
			size_t i = (size_t)((ext * 0x9e3779b97f4a7c15ULL) >> 20) & (cap - 1);
			while (t[i].ext)
				i = (i + 1) & (cap - 1);
			t[i].ext = ext;
			t[i].eg = bg_b_egroup(ext);
		}
	}
	for (int s = 0; s < splits; s++) {
		struct bg_a g;
		uint64_t ext, ref;
		bg_a_init(&g, a, b, splits, s);
		while (bg_a_next(&g, &ext, &ref)) {
			size_t i = (size_t)((ext * 0x9e3779b97f4a7c15ULL) >> 20) & (cap - 1);
			while (t[i].ext && t[i].ext != ext)
				i = (i + 1) & (cap - 1);
			if (t[i].ext)
				t[i].count++;
		}
	}
	f = fopen(out, "wb");
	buf = malloc(1 << 20);
	setvbuf(f, buf, _IOFBF, 1 << 20);
	for (size_t i = 0; i < cap; i++) {
		if (!t[i].ext)
			continue;
		uint64_t rec[3] = { t[i].eg, t[i].ext, t[i].count };
		fwrite(rec, sizeof(rec), 1, f);
	}
	fclose(f);
	free(buf);
	printf("hashjoin_secs %.3f\n", now() - t0);
	free(t);
	return 0;
}

static void check(sqlite3 *db, int rc, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
		fprintf(stderr, "bench_join: %s: %s\n", what, sqlite3_errmsg(db));
		exit(1);
	}
}

static double run_query(sqlite3 *db, uint64_t *rows)
{
	static const char *q = "SELECT b.egroup, b.ext, count(a.ext) FROM b LEFT JOIN a ON a.ext = b.ext GROUP BY b.ext";
	sqlite3_stmt *st;
	double t0 = now();
	uint64_t n = 0, sum = 0;

	check(db, sqlite3_prepare_v2(db, q, -1, &st, NULL), "prepare");
	while (sqlite3_step(st) == SQLITE_ROW) {
		sum += (uint64_t)sqlite3_column_int64(st, 2);
		n++;
	}
	sqlite3_finalize(st);
	*rows = n;
	(void)sum;
	return now() - t0;
}

static int sqlite_bench(const char *path, uint64_t a, uint64_t b, int splits)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	double t0, tload, tindex, tdef, ttuned;
	uint64_t rows1, rows2;

	remove(path);
	check(NULL, sqlite3_open(path, &db), "open");
	check(db, sqlite3_exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
				   "CREATE TABLE a(ext INTEGER NOT NULL, ref INTEGER NOT NULL);"
				   "CREATE TABLE b(ext INTEGER PRIMARY KEY, egroup INTEGER NOT NULL);",
			      NULL, NULL, NULL), "schema");
	t0 = now();
	check(db, sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), "begin");
	check(db, sqlite3_prepare_v2(db, "INSERT INTO a VALUES (?, ?)", -1, &st, NULL), "prepare");
	for (int s = 0; s < splits; s++) {
		struct bg_a g;
		uint64_t ext, ref;
		bg_a_init(&g, a, b, splits, s);
		while (bg_a_next(&g, &ext, &ref)) {
			sqlite3_bind_int64(st, 1, (sqlite3_int64)ext);
			sqlite3_bind_int64(st, 2, (sqlite3_int64)ref);
			sqlite3_step(st);
			sqlite3_reset(st);
		}
	}
	sqlite3_finalize(st);
	check(db, sqlite3_prepare_v2(db, "INSERT INTO b VALUES (?, ?)", -1, &st, NULL), "prepare");
	for (int s = 0; s < splits; s++) {
		uint64_t first, end;
		bg_b_range(b, splits, s, &first, &end);
		for (uint64_t ext = first; ext < end; ext++) {
			sqlite3_bind_int64(st, 1, (sqlite3_int64)ext);
			sqlite3_bind_int64(st, 2, (sqlite3_int64)bg_b_egroup(ext));
			sqlite3_step(st);
			sqlite3_reset(st);
		}
	}
	sqlite3_finalize(st);
	check(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
	tload = now() - t0;
	t0 = now();
	check(db, sqlite3_exec(db, "CREATE INDEX a_ext ON a(ext); ANALYZE;", NULL, NULL, NULL), "index");
	tindex = now() - t0;
	sqlite3_close(db);

	/* default settings, fresh connection */
	check(NULL, sqlite3_open(path, &db), "open");
	tdef = run_query(db, &rows1);
	sqlite3_close(db);
	/* tuned: a big page cache, memory-mapped I/O, temp b-trees in memory */
	check(NULL, sqlite3_open(path, &db), "open");
	check(db, sqlite3_exec(db, "PRAGMA cache_size=-2000000; PRAGMA mmap_size=8589934592; PRAGMA temp_store=MEMORY;",
			      NULL, NULL, NULL), "pragma");
	ttuned = run_query(db, &rows2);
	sqlite3_close(db);
	printf("sqlite_load_secs %.3f\nsqlite_index_secs %.3f\nsqlite_query_default_secs %.3f\n"
	       "sqlite_query_tuned_secs %.3f\nsqlite_rows %llu\n",
	       tload, tindex, tdef, ttuned, (unsigned long long)rows1);
	if (rows1 != rows2 || rows1 != b)
		fprintf(stderr, "bench_join: sqlite returned %llu/%llu rows, want %llu\n", (unsigned long long)rows1,
			(unsigned long long)rows2, (unsigned long long)b);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: bench_join hashjoin|sqlite PATH A B SPLITS\n");
		return 2;
	}
	uint64_t a = strtoull(argv[3], NULL, 10), b = strtoull(argv[4], NULL, 10);
	int splits = atoi(argv[5]);
	if (!strcmp(argv[1], "hashjoin"))
		return hashjoin(argv[2], a, b, splits);
	if (!strcmp(argv[1], "sqlite"))
		return sqlite_bench(argv[2], a, b, splits);
	fprintf(stderr, "bench_join: unknown mode %s\n", argv[1]);
	return 2;
}
