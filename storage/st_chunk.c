/*
 * st_chunk: see st_chunk.h.
 *
 * The Rabin fingerprint keeps the window's polynomial reduced modulo POLY
 * (degree 53). Appending byte b: h = (h * x^8 + b) mod POLY, done with one
 * table lookup on the 8 bits that overflow degree 53. Dropping the oldest
 * byte o of a full window: its term is o * x^(8 * (WIN - 1)) mod POLY,
 * which out_table[o] holds, so it is XORed away.
 */
#include "storage/st_chunk.h"

#include <errno.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "storage/st_util.h"

/* Irreducible over GF(2), degree 53; found by a Ben-Or test over random candidates. */
#define POLY 0x290cd1e827062dULL
#define POLY_DEG 53
#define WIN 48
#define CDC_MASK ((1u << 13) - 1) /* past the 8 KiB minimum: 16 KiB on average */

static uint64_t mod_table[256], out_table[256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static uint64_t poly_mod(uint64_t a)
{
	for (int d = 63; d >= POLY_DEG; d--)
		if ((a >> d) & 1)
			a ^= POLY << (d - POLY_DEG);
	return a;
}

static inline uint64_t append(uint64_t h, uint8_t b)
{
	return ((h << 8) | b) ^ mod_table[h >> (POLY_DEG - 8)];
}

static void tables_init(void)
{
	for (int b = 0; b < 256; b++)
		mod_table[b] = poly_mod((uint64_t)b << POLY_DEG) | ((uint64_t)b << POLY_DEG);
	for (int b = 0; b < 256; b++) {
		uint64_t h = append(0, (uint8_t)b);
		for (int i = 0; i < WIN - 1; i++)
			h = append(h, 0);
		out_table[b] = h;
	}
}

const char *st_chunking_name(enum st_chunking how)
{
	return how == ST_CHUNK_CDC ? "cdc" : "fixed";
}

/* End of the content-defined chunk starting at data[0] (len bytes left). */
static size_t cdc_next(const uint8_t *data, size_t len)
{
	uint64_t h = 0;
	size_t i;

	if (len <= ST_CDC_MIN)
		return len;
	if (len > ST_CDC_MAX)
		len = ST_CDC_MAX;
	/* the window fills over the WIN bytes before the minimum size */
	for (i = ST_CDC_MIN - WIN; i < ST_CDC_MIN; i++)
		h = append(h, data[i]);
	for (; i < len; i++) {
		if ((h & CDC_MASK) == 0)
			return i;
		h ^= out_table[data[i - WIN]];
		h = append(h, data[i]);
	}
	return len;
}

size_t st_chunk_split(enum st_chunking how, const uint8_t *data, size_t len, uint32_t *ends, size_t cap)
{
	size_t n = 0, off = 0;

	pthread_once(&tables_once, tables_init);
	while (off < len) {
		size_t step = how == ST_CHUNK_CDC ? cdc_next(data + off, len - off)
						  : (len - off < ST_CHUNK_FIXED_SIZE ? len - off : ST_CHUNK_FIXED_SIZE);
		off += step;
		if (n < cap)
			ends[n] = (uint32_t)off;
		n++;
	}
	return n;
}

struct fp_ctx {
	enum st_chunking how;
	const struct st_chunk_src *src;
	uint32_t **ends;   /* per source, its chunk ends */
	size_t *cnt;
	struct st_chunk_fp *fp;
	const uint8_t **base; /* per fingerprint, its source's bytes */
	int oom;
};

static void split_one(void *arg, size_t i)
{
	struct fp_ctx *c = arg;
	size_t max = c->src[i].len / ST_CDC_MIN + 2;

	c->ends[i] = malloc(max * sizeof(uint32_t));
	if (!c->ends[i]) {
		c->oom = 1;
		return;
	}
	c->cnt[i] = st_chunk_split(c->how, c->src[i].data, c->src[i].len, c->ends[i], max);
}

static void sha_one(void *arg, size_t i)
{
	struct fp_ctx *c = arg;

	SHA1(c->base[i] + c->fp[i].off, c->fp[i].len, c->fp[i].sha1);
}

int st_chunk_fingerprint_many(enum st_chunking how, const struct st_chunk_src *src, size_t nsrc,
			      struct st_chunk_fp **v, size_t *n, size_t *cap)
{
	struct fp_ctx c = { how, src, calloc(nsrc + 1, sizeof(uint32_t *)), calloc(nsrc + 1, sizeof(size_t)), NULL,
			    NULL, 0 };
	size_t total = 0, at = *n;
	int rc = 0;

	pthread_once(&tables_once, tables_init);
	if (!c.ends || !c.cnt)
		c.oom = 1;
	if (!c.oom)
		st_parallel(nsrc, 0, split_one, &c); /* boundaries: per extent, extents in parallel */
	for (size_t i = 0; i < nsrc && !c.oom; i++)
		total += c.cnt[i];
	if (c.oom || st_reserve(v, cap, *n + total, sizeof(**v)) || !(c.base = malloc((total + 1) * sizeof(*c.base)))) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nsrc; i++) {
		uint32_t start = 0;
		for (size_t k = 0; k < c.cnt[i]; k++) {
			struct st_chunk_fp *f = &(*v)[at];
			f->extent = src[i].id;
			f->off = start;
			f->len = c.ends[i][k] - start;
			c.base[at - *n] = src[i].data;
			start = c.ends[i][k];
			at++;
		}
	}
	c.fp = *v + *n;
	st_parallel(total, total >= 16 ? 0 : 1, sha_one, &c); /* SHA-1s: every chunk in parallel */
	*n += total;
out:
	for (size_t i = 0; c.ends && i < nsrc; i++)
		free(c.ends[i]);
	free(c.ends);
	free(c.cnt);
	free(c.base);
	return rc;
}

int st_chunk_fingerprint(enum st_chunking how, const struct st_extent_id *x, const uint8_t *data, uint32_t len,
			 struct st_chunk_fp **v, size_t *n, size_t *cap)
{
	struct st_chunk_src s = { *x, data, len };

	return st_chunk_fingerprint_many(how, &s, 1, v, n, cap);
}
