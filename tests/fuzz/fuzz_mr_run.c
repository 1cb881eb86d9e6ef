/*
 * fuzz_mr_run: a spilled run's range for one partition (bare records,
 * format in mapreduce/mr_int.h) through mr_run_next, the reader the reduce
 * phase merges runs with, from an in-memory file opened by path.
 *
 * Input: the crc32c the spill recorded for the range (4 bytes), then the
 * range. Every record handed out has a key, fits in what was left of the
 * range, and the reader ends with 0 (a matching checksum), MR_ECORRUPT or
 * -errno.
 */
#include <limits.h>

#include "mapreduce/mr_int.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mr_rfile r;
	char path[64];
	uint32_t want = fuzz_u32(data, size, 0);
	const uint8_t *rec;
	int fd, rc;

	if (size < 4)
		return 0;
	fd = fuzz_memfd(data, size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	FUZZ_ASSERT(mr_rfile_open(&r, path, 4, size - 4) == 0);
	for (;;) {
		uint64_t left = mr_rfile_remaining(&r);
		rc = mr_run_next(&r, want, &rec);
		if (rc || !rec)
			break;
		FUZZ_ASSERT(mr_rec_klen(rec) >= 1 && mr_rec_size(rec) <= left);
		(void)rec[mr_rec_size(rec) - 1]; /* inside the reader's span (ASan) */
	}
	FUZZ_ASSERT(rc == 0 || rc == MR_ECORRUPT || (rc < 0 && rc > -4096));
	mr_rfile_close(&r);
	close(fd);
	return 0;
}
