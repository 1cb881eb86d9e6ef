/*
 * fuzz_fp_row: a row of the `fingerprints` table (st_meta_fp_decode, format
 * in storage/st_meta.h). A row that decodes gives exactly as many entries as
 * its length holds, every one readable.
 */
#include "storage/st_meta.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_chunk_fp *v = NULL;
	size_t n = 0;

	if (st_meta_fp_decode(data, size, &v, &n) == 0) {
		uint32_t sum = 0;
		FUZZ_ASSERT(v && n * ST_FP_ENTRY + 12 == size);
		for (size_t i = 0; i < n; i++) /* every entry is inside the array (ASan) */
			sum += v[i].off + v[i].len + v[i].extent.b[0] + v[i].sha1[19];
		(void)sum;
		free(v);
	}
	return 0;
}
