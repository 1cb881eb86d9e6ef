/*
 * st_chunk: dedup chunking and fingerprints (DESIGN.md §3, issue 7).
 * Data is cut into chunks, each named by its SHA-1:
 *
 *   ST_CHUNK_FIXED  16 KiB chunks from the start of the extent
 *   ST_CHUNK_CDC    content-defined: a Rabin fingerprint of the last 48
 *                   bytes (an irreducible polynomial of degree 53 over
 *                   GF(2)), computed past an 8 KiB minimum, ends a chunk
 *                   where its low 13 bits are zero: 16 KiB on average,
 *                   never under 8 KiB nor over 64 KiB. Boundaries
 *                   follow the content, so data shifted by an insert
 *                   still chunks (and dedups) the same.
 *
 * Chunking restarts at every extent (extents are the unit the block map
 * points into). Functions are reentrant; the Rabin tables are built once
 * (pthread_once).
 */
#ifndef ST_CHUNK_H
#define ST_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "storage/st_config.h"
#include "storage/st_meta.h"

#define ST_CHUNK_FIXED_SIZE (16u << 10)
#define ST_CDC_MIN (8u << 10)
#define ST_CDC_MAX (64u << 10)

/* "fixed" / "cdc". */
const char *st_chunking_name(enum st_chunking how);

/*
 * Chunk ends of data[0..len): ends[i] is the offset just past chunk i.
 * At most cap ends are written; returns the chunk count (which may exceed
 * cap: call again with a bigger array; len / ST_CDC_MIN + 1 always fits).
 */
size_t st_chunk_split(enum st_chunking how, const uint8_t *data, size_t len, uint32_t *ends, size_t cap);

/*
 * Append the chunk fingerprints of extent x's raw bytes data[0..len) to
 * *v (*n entries, *cap allocated; grown with realloc; the caller frees).
 * 0 or -ENOMEM.
 */
int st_chunk_fingerprint(enum st_chunking how, const struct st_extent_id *x, const uint8_t *data, uint32_t len,
			 struct st_chunk_fp **v, size_t *n, size_t *cap);

/* One extent for st_chunk_fingerprint_many. */
struct st_chunk_src {
	struct st_extent_id id;
	const uint8_t *data;
	uint32_t len;
};

/*
 * st_chunk_fingerprint for src[0..nsrc), in order, on every CPU
 * (st_parallel): the extents are cut in parallel, then every chunk's SHA-1
 * is computed in parallel.
 */
int st_chunk_fingerprint_many(enum st_chunking how, const struct st_chunk_src *src, size_t nsrc,
			      struct st_chunk_fp **v, size_t *n, size_t *cap);

#endif
