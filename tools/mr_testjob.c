/*
 * mr_testjob: jobs that exercise the MapReduce engine under real mpiexec,
 * for the tests and the benchmark.
 *
 *   mr_testjob wordcount OUT [--splits N] [--words N] [--budget SIZE] [--combine]
 *                            [--fail RANK:SPLIT] [--slow MS] [--parts P]   (RANK -1: any rank)
 *                            [--pad BYTES]  (some values padded: every 61st word up to 4 KiB,
 *                                            every 997th up to BYTES; the reduce checks the padding)
 *   mr_testjob join OUT [--a N] [--b N] [--splits N] [--budget SIZE] [--parts P] [--ordered]
 *                       [--slow-reduce RANK]  (that rank's reduce sleeps 2 ms every 100 keys)
 *                       [--fail-reduce PART]  (the reduce of partition PART fails, on any rank)
 *       (--ordered: values sorted, and each output carries a digest of
 *       the order its reduce saw them in)
 *   mr_testjob dump OUT          every record of a committed output, in order
 *
 * Inputs are generated deterministically per split (no files), so every
 * rank count reads exactly the same records. The join is the refcount join
 * of the benchmark: input A maps extent id -> one reference, input B maps
 * extent id -> egroup id; reduce counts references per extent and emits
 * (egroup id -> extent id, count).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>

#include "mapreduce/mr.h"
#include "tools/bench_gen.h"

struct opts {
	int splits, parts, combine, ordered, fail_rank, fail_split, slow_ms, slow_reduce, fail_reduce;
	uint64_t words, a, b, budget, pad;
};

#define rnd bg_rnd

/* --- word count --------------------------------------------------------- */

struct wc {
	struct opts *o;
	int rank;
	int split;    /* --pad: the split being mapped and its record number */
	uint64_t seq;
	uint8_t *padbuf;
};

static const char *syll[] = { "ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "vu", "ze", "xo", "qi" };

static int wc_read(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
{
	struct wc *w = arg;
	uint64_t s = 0x1234567ULL + (uint64_t)split * 7919, n = w->o->words / (uint64_t)w->o->splits;

	if (w->o->slow_ms)
		usleep((useconds_t)w->o->slow_ms * 1000);
	for (uint64_t i = 0; i < n; i++) {
		char word[32];
		int len = 0, k = 1 + (int)(rnd(&s) % 3);
		uint64_t zipf = rnd(&s);
		for (int j = 0; j < k; j++) {
			const char *y = syll[(zipf >> (j * 4)) % (j == 0 ? 12 : 3 + (zipf & 7))];
			memcpy(word + len, y, 2);
			len += 2;
		}
		int rc = fn(fnarg, word, (size_t)len, NULL, 0);
		if (rc)
			return rc;
	}
	(void)why;
	(void)whylen;
	return 0;
}

static int wc_map(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em)
{
	struct wc *w = arg;
	uint64_t one = 1;

	(void)val;
	(void)vlen;
	if (w->o->fail_split == mr_emitter_split(em) && (w->o->fail_rank < 0 || w->o->fail_rank == mr_emitter_rank(em)))
		return -42;
	mr_count(em, 0, 1);
	if (w->o->pad) { /* the same records get the same padding on any rank count */
		size_t len = 8;
		if (w->split != mr_emitter_split(em)) {
			w->split = mr_emitter_split(em);
			w->seq = 0;
		}
		w->seq++;
		if (w->seq % 997 == 0)
			len += (size_t)(w->seq * 2654435761u % w->o->pad);
		else if (w->seq % 61 == 0)
			len += (size_t)(w->seq * 2654435761u % 4096);
		memcpy(w->padbuf, &one, 8);
		for (size_t i = 8; i < len; i++)
			w->padbuf[i] = (uint8_t)(i + len);
		return mr_emit(em, key, klen, w->padbuf, len);
	}
	return mr_emit(em, key, klen, &one, sizeof(one));
}

/* --pad: sum the counts, check every padding byte, emit (sum, bytes of values). */
static int wc_reduce_pad(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
			 struct mr_emitter *em)
{
	uint64_t out[2] = { 0, 0 };

	(void)arg;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = vals[i].p;
		uint64_t v;
		if (vals[i].len < 8)
			return -1;
		for (size_t k = 8; k < vals[i].len; k++)
			if (p[k] != (uint8_t)(k + vals[i].len))
				return -2;
		memcpy(&v, p, 8);
		out[0] += v;
		out[1] += vals[i].len;
	}
	mr_count(em, 1, 1);
	return mr_emit(em, key, klen, out, sizeof(out));
}

static int wc_sum(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
		  struct mr_emitter *em)
{
	uint64_t sum = 0;

	(void)arg;
	for (size_t i = 0; i < n; i++) {
		uint64_t v;
		if (vals[i].len != 8)
			return -1;
		memcpy(&v, vals[i].p, 8);
		sum += v;
	}
	return mr_emit(em, key, klen, &sum, sizeof(sum));
}

static int wc_reduce(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
		     struct mr_emitter *em)
{
	mr_count(em, 1, 1);
	return wc_sum(arg, key, klen, vals, n, em);
}

/* --- the refcount join -------------------------------------------------- */

struct jn {
	struct opts *o;
	uint64_t calls;
};

static int join_read_a(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
{
	struct jn *j = arg;
	struct bg_a g;
	uint64_t ext, ref;

	(void)why;
	(void)whylen;
	bg_a_init(&g, j->o->a, j->o->b, j->o->splits, split);
	while (bg_a_next(&g, &ext, &ref)) {
		int rc = fn(fnarg, &ext, 8, &ref, 8);
		if (rc)
			return rc;
	}
	return 0;
}

static int join_read_b(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
{
	struct jn *j = arg;
	uint64_t first, end;

	(void)why;
	(void)whylen;
	bg_b_range(j->o->b, j->o->splits, split, &first, &end);
	for (uint64_t ext = first; ext < end; ext++) {
		uint64_t eg = bg_b_egroup(ext);
		int rc = fn(fnarg, &ext, 8, &eg, 8);
		if (rc)
			return rc;
	}
	return 0;
}

/* A: value tagged 'R' (reference); B: tagged 'E' (egroup). */
static int join_map_a(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em)
{
	uint8_t v[9] = { 'R' };
	(void)arg;
	memcpy(v + 1, val, vlen < 8 ? vlen : 8);
	return mr_emit(em, key, klen, v, 9);
}

static int join_map_b(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em)
{
	uint8_t v[9] = { 'E' };
	(void)arg;
	memcpy(v + 1, val, vlen < 8 ? vlen : 8);
	return mr_emit(em, key, klen, v, 9);
}

static int join_reduce(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
		       struct mr_emitter *em)
{
	struct jn *j = arg;
	uint64_t refs = 0, eg = 0, order = 0;
	uint8_t out[24];

	(void)klen;
	if (j->o->slow_reduce >= 0 && j->o->slow_reduce == mr_emitter_rank(em) && ++j->calls % 100 == 0)
		usleep(2000); /* a straggler: the other ranks take its partitions */
	if (j->o->fail_reduce >= 0 && j->o->fail_reduce == mr_emitter_split(em))
		return -1;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = vals[i].p;
		uint64_t x;
		memcpy(&x, v + 1, 8);
		order = (order ^ x ^ v[0]) * 0x100000001b3ULL; /* depends on the order */
		if (v[0] == 'R')
			refs++;
		else
			eg = x;
	}
	if (!eg) {
		mr_count(em, 0, 1); /* dangling: references to an unknown extent */
		return 0;
	}
	memcpy(out, key, 8);
	memcpy(out + 8, &refs, 8);
	memcpy(out + 16, &order, 8);
	mr_count(em, 1, (int64_t)refs);
	return mr_emit(em, &eg, 8, out, j->o->ordered ? 24 : 16);
}

/* --- dump --------------------------------------------------------------- */

static int dump_rec(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	const uint8_t *k = key, *v = val;
	(void)arg;
	for (size_t i = 0; i < klen; i++)
		printf("%02x", k[i]);
	putchar(' ');
	for (size_t i = 0; i < vlen; i++)
		printf("%02x", v[i]);
	putchar('\n');
	return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	double v = strtod(s, &end);
	uint64_t m = 1;
	if (*end == 'K')
		m = 1ULL << 10;
	else if (*end == 'M')
		m = 1ULL << 20;
	else if (*end == 'G')
		m = 1ULL << 30;
	else if (*end)
		return -1;
	*out = (uint64_t)(v * (double)m);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .splits = 16, .parts = 64, .fail_rank = -1, .slow_reduce = -1, .fail_reduce = -1, .fail_split = -1, .words = 200000,
			  .a = 2000000, .b = 1000000, .budget = 512ULL << 20 };
	struct mr_ctx *ctx;
	struct mr_job job;
	const char *mode, *out;
	int rc;

	if (argc < 3) {
		fprintf(stderr, "usage: mr_testjob wordcount|join|dump OUT [options]\n");
		return 2;
	}
	mode = argv[1];
	out = argv[2];
	if (!strcmp(mode, "dump")) {
		char path[4096];
		int nparts = 0, nranks = 0;
		FILE *f;
		snprintf(path, sizeof(path), "%s/_SUCCESS", out);
		f = fopen(path, "r");
		if (!f || fscanf(f, "%d %d", &nparts, &nranks) != 2) {
			fprintf(stderr, "mr_testjob: %s: no committed output\n", out);
			return 1;
		}
		fclose(f);
		for (int p = 0; p < nparts; p++) {
			rc = mr_output_read_part(out, p, dump_rec, NULL);
			if (rc) {
				fprintf(stderr, "mr_testjob: %s part %d: %s\n", out, p, mr_strerror(rc));
				return 1;
			}
		}
		return 0;
	}
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
		if (!strcmp(a, "--combine") || !strcmp(a, "--ordered")) {
			*(!strcmp(a, "--combine") ? &o.combine : &o.ordered) = 1;
			continue;
		}
		i++;
		if (!strcmp(a, "--splits"))
			o.splits = atoi(v);
		else if (!strcmp(a, "--parts"))
			o.parts = atoi(v);
		else if (!strcmp(a, "--words"))
			o.words = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--a"))
			o.a = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--b"))
			o.b = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--pad"))
			o.pad = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--slow"))
			o.slow_ms = atoi(v);
		else if (!strcmp(a, "--slow-reduce"))
			o.slow_reduce = atoi(v);
		else if (!strcmp(a, "--fail-reduce"))
			o.fail_reduce = atoi(v);
		else if (!strcmp(a, "--budget") && !parse_size(v, &o.budget))
			;
		else if (!strcmp(a, "--fail") && sscanf(v, "%d:%d", &o.fail_rank, &o.fail_split) == 2)
			;
		else {
			fprintf(stderr, "mr_testjob: bad option %s\n", a);
			return 2;
		}
	}
	rc = mr_ctx_new(&argc, &argv, NULL, &ctx);
	if (rc) {
		fprintf(stderr, "mr_testjob: MPI: %s\n", mr_strerror(rc));
		return 2;
	}
	if (getenv("MR_TESTJOB_PIDS")) { /* for the kill -9 test */
		char pf[4096];
		FILE *f;
		snprintf(pf, sizeof(pf), "%s/rank-%d.pid", getenv("MR_TESTJOB_PIDS"), mr_rank(ctx));
		f = fopen(pf, "w");
		if (f) {
			fprintf(f, "%d\n", (int)getpid());
			fclose(f);
		}
	}
	mr_job_init(&job);
	job.output_dir = out;
	job.nparts = o.parts;
	job.mem_budget = o.budget;
	struct wc wc = { &o, mr_rank(ctx), -1, 0, NULL };
	if (o.pad && !(wc.padbuf = malloc(8 + o.pad))) {
		fprintf(stderr, "mr_testjob: out of memory\n");
		return 2;
	}
	struct jn jn = { .o = &o };
	if (!strcmp(mode, "wordcount")) {
		job.name = "wordcount";
		job.ninputs = 1;
		job.inputs[0] = (struct mr_input){ "words", o.splits, wc_read, &wc, NULL, wc_map, &wc };
		if (o.combine && !o.pad)
			job.combine = wc_sum;
		job.reduce = o.pad ? wc_reduce_pad : wc_reduce;
		job.ncounters = 2;
		job.counter_names[0] = "words";
		job.counter_names[1] = "distinct";
	} else if (!strcmp(mode, "join")) {
		job.name = "refcount-join";
		job.ninputs = 2;
		job.inputs[0] = (struct mr_input){ "refs", o.splits, join_read_a, &jn, NULL, join_map_a, NULL };
		job.inputs[1] = (struct mr_input){ "extents", o.splits, join_read_b, &jn, NULL, join_map_b, NULL };
		job.reduce = join_reduce;
		job.reduce_arg = &jn;
		job.values_unordered = !o.ordered; /* counts and picks the tagged egroup */
		job.ncounters = 2;
		job.counter_names[0] = "dangling";
		job.counter_names[1] = "references";
	} else {
		fprintf(stderr, "mr_testjob: unknown mode %s\n", mode);
		free(wc.padbuf);
		mr_ctx_free(ctx);
		return 2;
	}
	mr_barrier(ctx);
	double t0 = MPI_Wtime();
	rc = mr_job_run(ctx, &job);
	double t1 = MPI_Wtime();
	if (mr_rank(ctx) == 0) {
		if (rc) {
			fprintf(stderr, "mr_testjob: %s (%s)\n", mr_ctx_errmsg(ctx), mr_strerror(rc));
		} else {
			printf("ranks %d in %llu mapped %llu out %llu spills %llu map %.3f s reduce %.3f s\n", mr_nranks(ctx),
			       (unsigned long long)job.records_in, (unsigned long long)job.records_mapped,
			       (unsigned long long)job.records_out, (unsigned long long)job.spills, job.map_secs,
			       job.reduce_secs);
			printf("job_secs %.3f\n", t1 - t0);
			for (int i = 0; i < job.ncounters; i++)
				printf("counter %s %lld\n", job.counter_names[i], (long long)job.counters[i]);
		}
	}
	free(wc.padbuf);
	mr_ctx_free(ctx);
	return rc ? 1 : 0;
}
