/*
 * fuzz_strip_row: a row of the `strips` table (an EC strip: k, m, the
 * fragment length, the k + m member egroup ids and the row's crc) through
 * st_meta_strip_decode (storage/st_meta.h), as st_meta_strip_get reads it.
 *
 * Input: the columns as SQLite hands them over.
 *
 *   off  size  field
 *   0    8     id
 *   8    4     k (int32)
 *   12   4     m (int32)
 *   16   8     len
 *   24   4     crc
 *   28   ...   members blob
 *
 * A row that decodes has 1 <= k, 1 <= m, k + m <= 20, exactly its members,
 * and a crc st_meta_strip_row_crc gives for it (unless the build bypasses
 * checksums).
 */
#include "storage/st_meta_int.h"
#include "tests/fuzz/fuzz.h"

#define HDR 28

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_strip sp;
	uint64_t id = fuzz_u64(data, size, 0), len = fuzz_u64(data, size, 16);
	int k = (int)fuzz_u32(data, size, 8), m = (int)fuzz_u32(data, size, 12);
	uint32_t crc = fuzz_u32(data, size, 24);
	size_t mlen = size > HDR ? size - HDR : 0;
	const char *why = NULL;
	int rc = st_meta_strip_decode(id, k, m, len, mlen ? data + HDR : NULL, mlen, crc, &sp, &why);

	FUZZ_ASSERT(rc == 0 || rc == ST_ECORRUPT);
	FUZZ_ASSERT(why && (!strcmp(why, "") || !strcmp(why, " (checksum)")));
	FUZZ_ASSERT(sp.id == id && sp.k == k && sp.m == m && sp.len == len);
	if (rc == 0) {
		FUZZ_ASSERT(sp.k >= 1 && sp.m >= 1 && sp.k + sp.m <= 20);
		FUZZ_ASSERT(mlen == 8 * (size_t)(k + m) && !memcmp(sp.members, data + HDR, mlen));
#ifndef CURATOR_FUZZ_NOCRC
		FUZZ_ASSERT(st_meta_strip_row_crc(&sp) == crc);
#endif
	}
	return 0;
}
