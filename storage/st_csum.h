/*
 * st_csum: a cache of chunk checksums of verified extents, so that a read
 * of a few KiB of a large extent checks the bytes it reads without reading
 * the whole extent.
 *
 * An extent's CRC32C (in the egroup map and its record, st_egroup.h)
 * covers all of its stored bytes, so a 4 KiB read of a 1 MiB extent would
 * read and checksum 1 MiB. Once a whole extent has been read and verified
 * against that CRC, st_csum_put records the CRC32C of each ST_CSUM_CHUNK
 * chunk of its raw bytes (chunk i covers [i * ST_CSUM_CHUNK, +ST_CSUM_CHUNK)
 * of the extent, the last one shorter); a later partial read of the extent
 * reads only the chunks it touches from a replica and checks each against
 * the sums recorded (st_read.c). Every byte returned is still checked, now
 * against sums derived from bytes that passed the extent's own CRC.
 * Extents never change (copy-on-write; a move keeps the bytes), so an
 * entry is never stale: it is keyed by the extent ID and only the bound
 * evicts (the whole cache is dropped when it would pass max_bytes: crude,
 * but a cache of 32 MiB holds the sums of 32 GiB of 1 MiB extents).
 * Only uncompressed extents are cached (a compressed one is inflated
 * whole anyway).
 *
 * Order of calls: st_csum_new, then any number of _get/_put from any
 * thread (one mutex inside), st_csum_free once no thread uses it. A store
 * handle uses one when given it (st_store_set_csum); it does not own it.
 */
#ifndef ST_CSUM_H
#define ST_CSUM_H

#include <stdint.h>

#include "storage/st_meta.h"

#define ST_CSUM_CHUNK 4096u

struct st_csum;

/* A new empty cache bounded to about max_bytes (0: 32 MiB). 0 or -ENOMEM. */
int st_csum_new(uint64_t max_bytes, struct st_csum **out);
/* Free it (NULL: no-op). */
void st_csum_free(struct st_csum *c);

/*
 * The sums of chunks [first, first + n) of extent id, whose raw length is
 * raw_len, into out: 1 when known (out filled), 0 when not (out untouched).
 * Thread-safe.
 */
int st_csum_get(struct st_csum *c, const struct st_extent_id *id, uint32_t raw_len, uint32_t first, uint32_t n,
		uint32_t *out);

/*
 * Record the chunk sums of extent id from its len raw bytes in data, which
 * the caller has verified against the extent's CRC. Best effort: out of
 * memory, nothing is recorded. Thread-safe.
 */
void st_csum_put(struct st_csum *c, const struct st_extent_id *id, const uint8_t *data, uint32_t len);

/* Counters since st_csum_new: lookups that found sums, that did not; extents recorded. */
void st_csum_stats(struct st_csum *c, uint64_t *hits, uint64_t *misses, uint64_t *puts);

#endif
