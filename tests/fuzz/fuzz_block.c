/*
 * fuzz_block: the block map's regions blob (st_block_decode, format in
 * storage/st_meta.h).
 *
 * Input: the row's key (vdisk id u64, block u64; the checksum covers it),
 * then the blob.
 *
 * A blob that decodes holds at most ST_REGIONS_MAX non-empty regions, and
 * encodes again to a blob of the same length that decodes (under the same
 * key) to the same regions.
 */
#include "storage/st_meta.h"
#include "tests/fuzz/fuzz.h"

static int same_block(const struct st_block *a, const struct st_block *b)
{
	if (a->vdisk != b->vdisk || a->block != b->block || a->n != b->n)
		return 0;
	for (int i = 0; i < a->n; i++)
		if (a->r[i].block_off != b->r[i].block_off || a->r[i].len != b->r[i].len ||
		    a->r[i].extent_off != b->r[i].extent_off ||
		    memcmp(a->r[i].extent.b, b->r[i].extent.b, ST_EXTENT_ID_LEN))
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct st_block b, again; /* 10 KiB each: off the stack */
	static uint8_t buf[8 + 40 * ST_REGIONS_MAX];
	size_t len = 0;
	uint64_t vdisk = fuzz_u64(data, size, 0), block = fuzz_u64(data, size, 8);

	if (size < 16)
		return 0;
	memset(&b, 0, sizeof(b));
	memset(&again, 0, sizeof(again));
	if (st_block_decode(vdisk, block, data + 16, size - 16, &b) == 0) {
		FUZZ_ASSERT(b.vdisk == vdisk && b.block == block);
		FUZZ_ASSERT(b.n >= 0 && b.n <= ST_REGIONS_MAX);
		for (int i = 0; i < b.n; i++)
			FUZZ_ASSERT(b.r[i].len > 0);
		FUZZ_ASSERT(st_block_encode(&b, buf, sizeof(buf), &len) == 0);
		FUZZ_ASSERT(len == size - 16);
		FUZZ_ASSERT(st_block_decode(vdisk, block, buf, len, &again) == 0);
		FUZZ_ASSERT(same_block(&b, &again));
	}
	return 0;
}
