/*
 * fuzz_fp_row: a row of the `fingerprints` table (st_meta_fp_decode, format
 * in storage/st_meta.h).
 *
 * Input: the row's key (egroup id u64; the checksum covers it), then the
 * blob.
 *
 * A row that decodes gives exactly as many entries as its length holds,
 * passes st_meta_fp_check, and encodes again (st_meta_fp_encode) to a row
 * of the same length that decodes to the same entries.
 */
#include "storage/st_meta_int.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_chunk_fp *v = NULL, *again = NULL;
	uint8_t *blob = NULL;
	size_t n = 0, n2 = 0, len = 0;
	uint64_t egroup = fuzz_u64(data, size, 0);

	if (size < 8)
		return 0;
	data += 8;
	size -= 8;
	if (st_meta_fp_decode(egroup, data, size, &v, &n) == 0) {
		FUZZ_ASSERT(v && n * ST_FP_ENTRY + 12 == size && st_meta_fp_check(egroup, data, size) == 0);
		FUZZ_ASSERT(st_meta_fp_encode(egroup, v, n, &blob, &len) == 0 && len == size);
		FUZZ_ASSERT(st_meta_fp_decode(egroup, blob, len, &again, &n2) == 0 && n2 == n);
		for (size_t i = 0; i < n; i++)
			FUZZ_ASSERT(!memcmp(v[i].extent.b, again[i].extent.b, ST_EXTENT_ID_LEN) && v[i].off == again[i].off &&
				    v[i].len == again[i].len && !memcmp(v[i].sha1, again[i].sha1, 20));
	}
	free(v);
	free(again);
	free(blob);
	return 0;
}
