/*
 * bench_keys: the engine's path for fixed-width keys (8, 16 and 24 bytes)
 * against the two obvious alternatives, on the same records in memory:
 *
 *   ours      hash each key (mr_hash, 8 bytes a step) into a 48-bit sort
 *             key, MSD-radix sort the index on it (mr_sort_from), walk it
 *             with mr_iter, which makes equal keys adjacent where sort keys
 *             collide: what a bucket's reduce does.
 *   qsort     the index sorted by memcmp of the keys.
 *   radix     an LSD radix sort on the key bytes themselves, 16 bits a
 *             pass (4, 8 and 12 passes), each key carried in the array
 *             beside its record's address.
 *
 * Each walks the result counting distinct keys (a reduce's groups), and
 * the three counts must agree. Best of RUNS for each; JSON lines as the
 * other benchmarks print them (ratio > 1: ours faster).
 *
 *   bench_keys [RECORDS] [RUNS]      (default 5000000 3)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mapreduce/mr_int.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* malloc, and the bytes faulted in before any clock starts; exits when out of memory. */
static void *xalloc(size_t n)
{
	void *p = malloc(n);
	if (!p) {
		fprintf(stderr, "bench_keys: out of memory\n");
		exit(1);
	}
	return memset(p, 0, n);
}

static size_t width; /* for qsort's comparison */

static int key_cmp(const void *a, const void *b)
{
	return memcmp(*(const uint8_t *const *)a + MR_HDR, *(const uint8_t *const *)b + MR_HDR, width);
}

static uint64_t groups_of(const uint8_t *const *recs, size_t n, size_t w)
{
	uint64_t g = 0;
	for (size_t i = 0; i < n; i++)
		g += !i || memcmp(recs[i - 1] + MR_HDR, recs[i] + MR_HDR, w) != 0;
	return g;
}

static double run_ours(const uint8_t *recs, size_t n, size_t rsz, size_t w, uint64_t *groups)
{
	struct mr_idx *src = xalloc(n * sizeof(*src)), *dst = xalloc(n * sizeof(*dst));
	uint32_t *cnt = xalloc(MR_SORT_COUNTS * sizeof(*cnt));
	const uint8_t *prev = NULL, *r;
	uint64_t diff = 0, sk, g = 0;
	double t0 = now();

	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = recs + i * rsz;
		src[i].sk = mr_sk(0, mr_hash(e + MR_HDR, w));
		src[i].rec = e;
		diff |= src[i].sk ^ src[0].sk;
	}
	if (mr_sort_from(src, dst, n, diff, cnt)) {
		fprintf(stderr, "bench_keys: sorting: out of memory\n");
		exit(1);
	}
	struct mr_iter it = { .idx = dst, .n = n, .keys_only = 1 };
	while ((r = mr_iter_next(&it, &sk))) {
		g += !prev || mr_key_cmp(prev, r) != 0;
		prev = r;
	}
	t0 = now() - t0;
	free(src);
	free(dst);
	free(cnt);
	*groups = g;
	return t0;
}

static double run_qsort(const uint8_t *recs, size_t n, size_t rsz, size_t w, uint64_t *groups)
{
	const uint8_t **p = xalloc(n * sizeof(*p));
	double t0 = now();

	for (size_t i = 0; i < n; i++)
		p[i] = recs + i * rsz;
	width = w;
	qsort(p, n, sizeof(*p), key_cmp);
	*groups = groups_of(p, n, w);
	t0 = now() - t0;
	free(p);
	return t0;
}

/*
 * The LSD baseline, one function a width: an entry carries the key's bytes
 * and the record (16, 24 or 32 bytes), moved whole in each pass.
 */
#define LSD(W)                                                                                              \
	struct ent##W {                                                                                     \
		uint8_t key[W];                                                                             \
		const uint8_t *rec;                                                                         \
	};                                                                                                  \
	static double lsd##W(const uint8_t *recs, size_t n, size_t rsz, const uint8_t **p, size_t *cnt)      \
	{                                                                                                   \
		struct ent##W *a = xalloc(n * sizeof(*a)), *b = xalloc(n * sizeof(*b)), *t;               \
		double t0 = now();                                                                          \
		for (size_t i = 0; i < n; i++) {                                                            \
			memcpy(a[i].key, recs + i * rsz + MR_HDR, W);                                       \
			a[i].rec = recs + i * rsz;                                                          \
		}                                                                                           \
		for (size_t o = W; o >= 2; o -= 2) { /* the last pair of bytes first: memcmp order */      \
			size_t sum = 0;                                                                     \
			memset(cnt, 0, 65536 * sizeof(*cnt));                                               \
			for (size_t i = 0; i < n; i++)                                                      \
				cnt[(unsigned)a[i].key[o - 2] << 8 | a[i].key[o - 1]]++;                    \
			for (size_t d = 0; d < 65536; d++) {                                                \
				size_t c = cnt[d];                                                          \
				cnt[d] = sum;                                                               \
				sum += c;                                                                   \
			}                                                                                   \
			for (size_t i = 0; i < n; i++)                                                      \
				b[cnt[(unsigned)a[i].key[o - 2] << 8 | a[i].key[o - 1]]++] = a[i];          \
			t = a;                                                                              \
			a = b;                                                                              \
			b = t;                                                                              \
		}                                                                                           \
		for (size_t i = 0; i < n; i++)                                                              \
			p[i] = a[i].rec;                                                                    \
		t0 = now() - t0;                                                                            \
		free(a);                                                                                    \
		free(b);                                                                                    \
		return t0;                                                                                  \
	}
LSD(8)
LSD(16)
LSD(24)

static double run_radix(const uint8_t *recs, size_t n, size_t rsz, size_t w, uint64_t *groups)
{
	const uint8_t **p = xalloc(n * sizeof(*p));
	size_t *cnt = xalloc(65536 * sizeof(*cnt));
	double t, t0;

	t = w == 8 ? lsd8(recs, n, rsz, p, cnt) : w == 16 ? lsd16(recs, n, rsz, p, cnt) : lsd24(recs, n, rsz, p, cnt);
	t0 = now();
	*groups = groups_of(p, n, w);
	t += now() - t0;
	free(p);
	free(cnt);
	return t;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 5000000;
	int runs = argc > 2 ? atoi(argv[2]) : 3;
	static const size_t widths[] = { 8, 16, 24 };

	if (n < 2 || runs < 1) {
		fprintf(stderr, "usage: bench_keys [RECORDS >= 2] [RUNS >= 1]\n");
		return 2;
	}
	for (int wi = 0; wi < 3; wi++) {
		size_t w = widths[wi], rsz = MR_HDR + w + 8;
		uint8_t *recs = xalloc(n * rsz);
		double best[3] = { 1e30, 1e30, 1e30 };
		uint64_t g[3];
		const char *name[3] = { "ours", "qsort", "radix" };

		for (size_t i = 0; i < n; i++) { /* about two records a key, in random order */
			uint8_t *e = recs + i * rsz;
			uint64_t k = mix(i) % (n / 2), v = i;
			mr_rec_hdr(e, w, 8);
			for (size_t j = 0; j < w; j += 8) {
				uint64_t word = mix(k * 3 + j);
				memcpy(e + MR_HDR + j, &word, 8);
			}
			memcpy(e + MR_HDR + w, &v, 8);
		}
		for (int r = 0; r < runs; r++)
			for (int s = 0; s < 3; s++) {
				uint64_t got;
				double t = s == 0 ? run_ours(recs, n, rsz, w, &got)
					   : s == 1 ? run_qsort(recs, n, rsz, w, &got) : run_radix(recs, n, rsz, w, &got);
				if (t < best[s])
					best[s] = t;
				g[s] = got;
			}
		for (int s = 1; s < 3; s++)
			if (g[s] != g[0]) {
				fprintf(stderr, "bench_keys: %zu-byte keys: %s found %llu keys, ours %llu\n", w, name[s],
					(unsigned long long)g[s], (unsigned long long)g[0]);
				return 1;
			}
		fprintf(stderr, "bench_keys: %zu-byte keys, %zu records, %llu keys: ours %.3f s, qsort %.3f s, LSD radix %.3f s\n",
			w, n, (unsigned long long)g[0], best[0], best[1], best[2]);
		printf("{\"bench\": \"mr_keys\", \"figure\": \"group_%zuB_keys_vs_qsort\", \"value\": %.3f, \"unit\": \"s\", "
		       "\"baseline\": \"qsort by memcmp of the keys\", \"baseline_value\": %.3f, \"ratio\": %.2f}\n",
		       w, best[0], best[1], best[1] / best[0]);
		printf("{\"bench\": \"mr_keys\", \"figure\": \"group_%zuB_keys_vs_lsd_radix\", \"value\": %.3f, \"unit\": \"s\", "
		       "\"baseline\": \"LSD radix sort on the key bytes, 16 bits a pass\", \"baseline_value\": %.3f, "
		       "\"ratio\": %.2f}\n",
		       w, best[0], best[2], best[2] / best[0]);
		fflush(stdout);
		free(recs);
	}
	return 0;
}
