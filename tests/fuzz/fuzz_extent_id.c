/*
 * fuzz_extent_id: the text form of extent ids (st_extent_id_parse, as the
 * CLI's `explain extent` takes it). A string that parses formats to a
 * string that parses to the same id; and,
 * from the input's first 24 bytes as a raw id, a valid id formats to a
 * string that parses back to it (a non-dedup id's home block must also be
 * one a vdisk can have, below ST_VDISK_BLOCKS_MAX: st_extent_id_valid only
 * asks for a home).
 */
#include "storage/st_meta.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	struct st_extent_id id, again;
	char buf[96];

	if (st_extent_id_parse(s, &id) == 0) {
		st_extent_id_fmt(&id, buf, sizeof(buf));
		FUZZ_ASSERT(st_extent_id_parse(buf, &again) == 0);
		FUZZ_ASSERT(!memcmp(id.b, again.b, ST_EXTENT_ID_LEN));
	}
	free(s);
	if (size >= ST_EXTENT_ID_LEN) {
		uint64_t home;
		memcpy(id.b, data, ST_EXTENT_ID_LEN);
		if (st_extent_id_valid(&id) &&
		    (st_extent_id_is_dedup(&id) || (st_extent_id_home(&id, &home) == 0 && home < ST_VDISK_BLOCKS_MAX))) {
			st_extent_id_fmt(&id, buf, sizeof(buf));
			FUZZ_ASSERT(st_extent_id_parse(buf, &again) == 0);
			FUZZ_ASSERT(!memcmp(id.b, again.b, ST_EXTENT_ID_LEN));
		}
	}
	return 0;
}
