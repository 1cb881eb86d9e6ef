/*
 * st_hmap: linear probing, power-of-two capacity, load <= 1/2. A slot is an
 * 8-byte header (in-use flag), the key, then the value, each 8-aligned.
 */
#include "storage/st_hmap.h"

#include <stdlib.h>
#include <string.h>

#include "storage/st_util.h"

#define VAL(h, s) ((s) + 8 + (((h)->klen + 7) & ~(size_t)7))

void st_hmap_init(struct st_hmap *h, size_t klen, size_t vlen)
{
	memset(h, 0, sizeof(*h));
	h->klen = klen;
	h->vlen = vlen;
	h->slot = 8 + ((klen + 7) & ~(size_t)7) + ((vlen + 7) & ~(size_t)7);
}

void st_hmap_release(struct st_hmap *h)
{
	free(h->tab);
	st_hmap_init(h, h->klen, h->vlen);
}

static uint8_t *find(const struct st_hmap *h, const void *key, int *found)
{
	size_t mask = h->cap - 1;
	size_t i = (size_t)st_hash64(key, h->klen) & mask;

	for (;;) {
		uint8_t *s = h->tab + i * h->slot;
		if (!s[0]) {
			*found = 0;
			return s;
		}
		if (!memcmp(s + 8, key, h->klen)) {
			*found = 1;
			return s;
		}
		i = (i + 1) & mask;
	}
}

static int grow(struct st_hmap *h)
{
	struct st_hmap n = *h;

	n.cap = h->cap ? h->cap * 2 : 1024;
	n.n = 0;
	n.tab = calloc(n.cap, n.slot);
	if (!n.tab)
		return -1;
	for (size_t i = 0; i < h->cap; i++) {
		uint8_t *s = h->tab + i * h->slot;
		int found;
		if (s[0])
			memcpy(find(&n, s + 8, &found), s, h->slot);
	}
	n.n = h->n;
	free(h->tab);
	*h = n;
	return 0;
}

void *st_hmap_put(struct st_hmap *h, const void *key, int *isnew)
{
	uint8_t *s;
	int found;

	if ((h->n + 1) * 2 > h->cap && grow(h))
		return NULL;
	s = find(h, key, &found);
	if (!found) {
		s[0] = 1;
		memcpy(s + 8, key, h->klen);
		memset(VAL(h, s), 0, h->vlen);
		h->n++;
	}
	if (isnew)
		*isnew = !found;
	return VAL(h, s);
}

void *st_hmap_get(const struct st_hmap *h, const void *key)
{
	uint8_t *s;
	int found;

	if (!h->cap)
		return NULL;
	s = find(h, key, &found);
	return found ? VAL(h, s) : NULL;
}

int st_hmap_next(const struct st_hmap *h, size_t *pos, const void **key, void **val)
{
	while (*pos < h->cap) {
		uint8_t *s = h->tab + (*pos)++ * h->slot;
		if (s[0]) {
			*key = s + 8;
			*val = VAL(h, s);
			return 1;
		}
	}
	return 0;
}
