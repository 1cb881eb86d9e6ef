/*
 * st_csum: the chunk-checksum cache (st_csum.h). A hash table from extent
 * ID to a heap block { raw length, one CRC32C per chunk } under one mutex;
 * the bytes the blocks and the table's slots take are counted, and a put
 * that would pass the bound drops everything first.
 */
#include "storage/st_csum.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "storage/st_hmap.h"
#include "storage/st_util.h"

struct sums {
	uint32_t len; /* the extent's raw length */
	uint32_t crc[];
};

struct st_csum {
	pthread_mutex_t mu;
	struct st_hmap map; /* extent id -> struct sums * */
	uint64_t bytes, max;
	uint64_t hits, misses, puts;
};

static uint32_t nchunks(uint32_t len)
{
	return (len + ST_CSUM_CHUNK - 1) / ST_CSUM_CHUNK;
}

static void drop_all(struct st_csum *c)
{
	size_t pos = 0;
	const void *k;
	void *v;

	while (st_hmap_next(&c->map, &pos, &k, &v)) {
		struct sums *s;
		memcpy(&s, v, sizeof(s));
		free(s);
	}
	st_hmap_release(&c->map);
	st_hmap_init(&c->map, ST_EXTENT_ID_LEN, sizeof(struct sums *));
	c->bytes = 0;
}

int st_csum_new(uint64_t max_bytes, struct st_csum **out)
{
	struct st_csum *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->mu, NULL);
	st_hmap_init(&c->map, ST_EXTENT_ID_LEN, sizeof(struct sums *));
	c->max = max_bytes ? max_bytes : 32u << 20;
	*out = c;
	return 0;
}

void st_csum_free(struct st_csum *c)
{
	if (!c)
		return;
	drop_all(c);
	st_hmap_release(&c->map);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int st_csum_get(struct st_csum *c, const struct st_extent_id *id, uint32_t raw_len, uint32_t first, uint32_t n,
		uint32_t *out)
{
	int found = 0;

	pthread_mutex_lock(&c->mu);
	void *v = st_hmap_get(&c->map, id->b);
	if (v) {
		struct sums *s;
		memcpy(&s, v, sizeof(s));
		if (s->len == raw_len && (uint64_t)first + n <= nchunks(raw_len)) {
			memcpy(out, s->crc + first, (size_t)n * sizeof(*out));
			found = 1;
		}
	}
	if (found)
		c->hits++;
	else
		c->misses++;
	pthread_mutex_unlock(&c->mu);
	return found;
}

void st_csum_put(struct st_csum *c, const struct st_extent_id *id, const uint8_t *data, uint32_t len)
{
	uint32_t n = nchunks(len);
	struct sums *s = malloc(sizeof(*s) + (size_t)n * sizeof(uint32_t)), *old = NULL;
	uint64_t cost = sizeof(*s) + (uint64_t)n * sizeof(uint32_t) + ST_EXTENT_ID_LEN + 2 * sizeof(void *) + 16;
	int isnew = 0;

	if (!s || len == 0) {
		free(s);
		return;
	}
	s->len = len;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t off = i * ST_CSUM_CHUNK;
		s->crc[i] = st_crc32c(data + off, len - off < ST_CSUM_CHUNK ? len - off : ST_CSUM_CHUNK);
	}
	pthread_mutex_lock(&c->mu);
	if (c->bytes + cost > c->max)
		drop_all(c);
	void *v = st_hmap_put(&c->map, id->b, &isnew);
	if (v) {
		if (!isnew)
			memcpy(&old, v, sizeof(old));
		memcpy(v, &s, sizeof(s));
		c->bytes += isnew ? cost : 0;
		c->puts++;
		s = NULL;
	}
	pthread_mutex_unlock(&c->mu);
	free(old);
	free(s);
}

void st_csum_stats(struct st_csum *c, uint64_t *hits, uint64_t *misses, uint64_t *puts)
{
	pthread_mutex_lock(&c->mu);
	*hits = c->hits;
	*misses = c->misses;
	*puts = c->puts;
	pthread_mutex_unlock(&c->mu);
}
