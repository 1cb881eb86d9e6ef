/*
 * st_hmap: an open-addressing hash table with fixed-size keys and values,
 * for the in-memory joins of fsck and the curator (extent id -> counts).
 * Keys are compared as bytes. Values are zeroed when inserted.
 *
 * Not thread-safe. Pointers returned by put/get stay valid until the next
 * put (which may grow the table).
 */
#ifndef ST_HMAP_H
#define ST_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct st_hmap {
	size_t klen, vlen, slot;
	size_t cap, n;
	uint8_t *tab;
};

/* Initialise an empty table. */
void st_hmap_init(struct st_hmap *h, size_t klen, size_t vlen);
void st_hmap_release(struct st_hmap *h);

/* The value of key, inserting a zeroed one if absent (*isnew = 1). NULL: ENOMEM. */
void *st_hmap_put(struct st_hmap *h, const void *key, int *isnew);
/* The value of key or NULL. */
void *st_hmap_get(const struct st_hmap *h, const void *key);

/* Iterate: *pos starts at 0; returns 0 at the end, else fills key/value pointers. */
int st_hmap_next(const struct st_hmap *h, size_t *pos, const void **key, void **val);

#endif
