/*
 * fuzz_strip_row: a row of the `strips` table (an EC strip: k, m, the
 * fragment length and the k + m member egroup ids) through
 * st_meta_strip_decode (storage/st_meta.h), as st_meta_strip_get reads it.
 *
 * Input: the columns as SQLite hands them over.
 *
 *   off  size  field
 *   0    4     k (int32)
 *   4    4     m (int32)
 *   8    8     len
 *   16   ...   members blob
 *
 * A row that decodes has 1 <= k, 1 <= m, k + m <= 20 and exactly its
 * members.
 */
#include "storage/st_meta.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_strip sp;
	int k = (int)fuzz_u32(data, size, 0), m = (int)fuzz_u32(data, size, 4);
	uint64_t len = fuzz_u64(data, size, 8);
	size_t mlen = size > 16 ? size - 16 : 0;

	if (st_meta_strip_decode(42, k, m, len, mlen ? data + 16 : NULL, mlen, &sp) == 0) {
		FUZZ_ASSERT(sp.id == 42 && sp.k == k && sp.m == m && sp.len == len);
		FUZZ_ASSERT(sp.k >= 1 && sp.m >= 1 && sp.k + sp.m <= 20);
		FUZZ_ASSERT(mlen == 8 * (size_t)(k + m) && !memcmp(sp.members, data + 16, mlen));
	}
	return 0;
}
