/*
 * Chunking and fingerprints on real data: fixed 16 KiB chunks, content-
 * defined chunks within their bounds and about 16 KiB on average, CDC
 * finding the same chunks again after an insert shifts the data (fixed
 * chunks do not), and every fingerprint the SHA-1 of its chunk.
 */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "storage/st_chunk.h"
#include "tests/helpers.h"

enum { REAL = 8 << 20 };

static int cmp_fp(const void *a, const void *b)
{
	return memcmp(((const struct st_chunk_fp *)a)->sha1, ((const struct st_chunk_fp *)b)->sha1, 20);
}

/* Fraction of b's chunks (by bytes) whose fingerprint is among a's. */
static double shared(struct st_chunk_fp *a, size_t na, const struct st_chunk_fp *b, size_t nb)
{
	uint64_t hit = 0, all = 0;

	qsort(a, na, sizeof(*a), cmp_fp);
	for (size_t i = 0; i < nb; i++) {
		all += b[i].len;
		if (bsearch(&b[i], a, na, sizeof(*a), cmp_fp))
			hit += b[i].len;
	}
	return (double)hit / (double)all;
}

static void fingerprints(enum st_chunking how, const uint8_t *d, size_t len, struct st_chunk_fp **v, size_t *n)
{
	struct st_extent_id x;
	size_t cap = 0;

	st_extent_id_make(&x, 1, 2, 0);
	*v = NULL;
	*n = 0;
	cr_assert_eq(st_chunk_fingerprint(how, &x, d, (uint32_t)len, v, n, &cap), 0);
}

Test(st_chunk, fixed_and_cdc_bounds_on_real_data)
{
	size_t len, n;
	uint8_t *d = th_real_data(REAL, &len);
	uint32_t *ends = malloc((len / ST_CDC_MIN + 2) * sizeof(*ends));
	uint32_t prev = 0;

	cr_assert(d && len > (4 << 20));
	n = st_chunk_split(ST_CHUNK_FIXED, d, len, ends, len / ST_CDC_MIN + 2);
	cr_assert_eq(n, (len + ST_CHUNK_FIXED_SIZE - 1) / ST_CHUNK_FIXED_SIZE);
	cr_assert_eq(ends[0], ST_CHUNK_FIXED_SIZE);
	cr_assert_eq(ends[n - 1], len);
	n = st_chunk_split(ST_CHUNK_CDC, d, len, ends, len / ST_CDC_MIN + 2);
	for (size_t i = 0; i < n; i++) {
		uint32_t sz = ends[i] - prev;
		cr_assert_leq(sz, ST_CDC_MAX);
		if (i + 1 < n)
			cr_assert_geq(sz, ST_CDC_MIN, "chunk %zu is %u bytes", i, sz);
		prev = ends[i];
	}
	cr_assert_eq(prev, len);
	cr_log_info("cdc: %zu chunks, mean %zu bytes", n, len / n);
	cr_assert(len / n >= (8u << 10) && len / n <= (32u << 10), "mean chunk %zu bytes", len / n);
	/* a short buffer is one chunk; a count past cap is still returned */
	cr_assert_eq(st_chunk_split(ST_CHUNK_CDC, d, 100, ends, 1), 1);
	cr_assert_eq(ends[0], 100);
	cr_assert_gt(st_chunk_split(ST_CHUNK_CDC, d, len, ends, 1), 1);
	free(ends);
	free(d);
}

Test(st_chunk, cdc_survives_a_shift_fixed_does_not)
{
	size_t len, na, nb;
	uint8_t *d = th_real_data(REAL, &len), *s = malloc(len + 100);
	struct st_chunk_fp *a, *b;
	double fixed, cdc;

	cr_assert(d && s);
	memset(s, 'x', 100);
	memcpy(s + 100, d, len);
	fingerprints(ST_CHUNK_FIXED, d, len, &a, &na);
	fingerprints(ST_CHUNK_FIXED, s, len + 100, &b, &nb);
	fixed = shared(a, na, b, nb);
	free(a);
	free(b);
	fingerprints(ST_CHUNK_CDC, d, len, &a, &na);
	fingerprints(ST_CHUNK_CDC, s, len + 100, &b, &nb);
	cdc = shared(a, na, b, nb);
	cr_log_info("after a 100-byte insert: fixed %.3f, cdc %.3f of the bytes found again", fixed, cdc);
	cr_assert_geq(cdc, 0.95);
	cr_assert_lt(fixed, cdc);
	/* each fingerprint is its chunk's SHA-1 */
	for (size_t i = 0; i < nb; i += 7) {
		uint8_t md[EVP_MAX_MD_SIZE];
		unsigned mdlen;
		cr_assert_eq(EVP_Digest(s + b[i].off, b[i].len, md, &mdlen, EVP_sha1(), NULL), 1);
		cr_assert_eq(mdlen, 20);
		cr_assert_eq(memcmp(md, b[i].sha1, 20), 0);
	}
	free(a);
	free(b);
	free(d);
	free(s);
}
