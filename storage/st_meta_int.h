/*
 * st_meta_int: what st_meta.c (the shards and their SQL), st_meta_scan.c
 * (iteration over a shard's rows, ranges, the change log) and
 * st_meta_codec.c (the row formats) share; not part of the storage API.
 * The formats themselves are drawn in st_meta.h.
 */
#ifndef ST_META_INT_H
#define ST_META_INT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "storage/st_meta.h"
#include "storage/st_util.h"

/* The shard's prepared statements (st_meta.c). */
enum {
	Q_EG_GET, Q_EG_INS, Q_EG_UPD, Q_EG_DEL,
	Q_EX_GET, Q_EX_PUT, Q_EX_DEL,
	Q_BL_GET, Q_BL_PUT, Q_BL_DEL,
	Q_FENCED, Q_DATA_VERSION,
	Q_RP_INS, Q_RP_DEL,
	Q_N
};

/* One shard: its database, its statements, its path (for messages). */
struct shard {
	sqlite3 *db;
	sqlite3_stmt *q[Q_N];
	char path[ST_PATH_MAX + 32];
};

struct st_meta {
	int n;
	struct shard *s;
	char holder[128]; /* the holder whose fence every commit checks (st_meta_set_holder); "" none */
};

/* One region of a block regions blob, and the largest blob (ST_REGIONS_MAX regions). */
#define ST_META_REGION_LEN 40
#define ST_META_BLOCK_BLOB_MAX (8 + ST_REGIONS_MAX * ST_META_REGION_LEN)

/*
 * Check a fingerprint row blob (magic, length against its count, CRC32C)
 * without decoding it. 0 or ST_ECORRUPT. Thread-safe.
 */
int st_meta_fp_check(uint64_t egroup, const uint8_t *blob, size_t len);

/*
 * Encode n fingerprints into a malloc'd row blob (*out, *len; the caller
 * frees). 0 or -ENOMEM (outputs untouched). Thread-safe.
 */
int st_meta_fp_encode(uint64_t egroup, const struct st_chunk_fp *v, size_t n, uint8_t **out, size_t *len);

/*
 * The replica index (format 4, st_meta_index.c): its schema; the index
 * rows of r written in the caller's transaction (fresh: r was just
 * inserted, so there is nothing to drop); a format-3 shard brought to
 * format 4 in one transaction of its own. 0 or a storage error.
 */
extern const char st_meta_schema_v4[];
int st_meta_index_put(struct shard *s, const struct st_egroup_rec *r, int fresh, struct st_msg *err);
int st_meta_index_upgrade(struct shard *s, struct st_msg *err);

/* The checksums of an extent-ID row and of a strip row (st_meta.h), stored in their crc columns. */
uint32_t st_meta_extent_row_crc(const struct st_extent_id *id, uint64_t egroup);
uint32_t st_meta_strip_row_crc(const struct st_strip *s);

#endif
