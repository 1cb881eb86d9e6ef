/*
 * queue_tasks: time job_db_tasks_add_batched alone, for the queueing
 * benchmark (tools/bench_queue.sh) and for tuning it.
 *
 *   queue_tasks DIR --tasks N [--arg BYTES] [--batch B] [--again]
 *       Queue N egroup_delete tasks with distinct targets in the hash order
 *       a scan emits them, each with an argument of BYTES (default 280, what
 *       the scan packs for an egroup of 10 dead extents), into DIR/curator.db
 *       (DIR must exist; a new curator.db is made when there is none).
 *       --again: then queue the same N again (every one a duplicate).
 *       Prints "queued N added A secs S" per round.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/job_db.h"
#include "tools/bench_gen.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct job_db_add_opts o = { 0 };
	struct st_msg err = { "" };
	struct job_db *db;
	struct job_task *t;
	uint8_t *arg;
	uint64_t seed = 7;
	int n = 0, arglen = 280, again = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: queue_tasks DIR --tasks N [--arg BYTES] [--batch B] [--again]\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--again"))
			again = 1;
		else if (i + 1 < argc && !strcmp(argv[i], "--tasks"))
			n = atoi(argv[++i]);
		else if (i + 1 < argc && !strcmp(argv[i], "--arg"))
			arglen = atoi(argv[++i]);
		else if (i + 1 < argc && !strcmp(argv[i], "--batch"))
			o.batch = atoi(argv[++i]);
		else {
			fprintf(stderr, "queue_tasks: %s: unknown option\n", argv[i]);
			return 2;
		}
	}
	t = calloc((size_t)n + 1, sizeof(*t));
	arg = calloc(1, (size_t)arglen + 1);
	if (!t || !arg || n <= 0) {
		fprintf(stderr, "queue_tasks: --tasks N (> 0) and memory for them\n");
		return 2;
	}
	for (int i = 0; i < arglen; i++)
		arg[i] = (uint8_t)bg_rnd(&seed);
	/* targets: egroup ids as st_store_new_id hands them out, in a random (hash) order */
	for (int i = 0; i < n; i++)
		t[i].target = (1ull << 48) | (uint64_t)(i + 1);
	for (int i = n - 1; i > 0; i--) {
		int j = (int)(bg_rnd(&seed) % (uint64_t)(i + 1));
		uint64_t x = t[i].target;
		t[i].target = t[j].target;
		t[j].target = x;
	}
	for (int i = 0; i < n; i++) {
		t[i].scan = 1;
		t[i].kind = JT_EGROUP_DELETE;
		t[i].version = 3;
		t[i].bytes = 10 << 20;
		t[i].arg = arg;
		t[i].arglen = (size_t)arglen;
	}
	if (job_db_open(argv[1], &db, &err)) {
		fprintf(stderr, "queue_tasks: %s\n", err.text);
		return 1;
	}
	for (int round = 0; round <= again; round++) {
		int64_t added = 0;
		double t0 = now();
		if (job_db_tasks_add_batched(db, t, n, &o, &added, &err)) {
			fprintf(stderr, "queue_tasks: %s\n", err.text);
			return 1;
		}
		printf("queued %d added %lld secs %.3f\n", n, (long long)added, now() - t0);
	}
	job_db_close(db);
	free(t);
	free(arg);
	return 0;
}
