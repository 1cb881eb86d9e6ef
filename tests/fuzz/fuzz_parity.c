/*
 * fuzz_parity: a parity file of an EC strip (layout in storage/st_ec.h)
 * through st_ec_parity_hdr_check and st_ec_parity_read, the reader the
 * strip's verify and rebuild use, from an in-memory file.
 *
 * Input: a 16-byte probe, then the file's bytes.
 *
 *   off  size  field
 *   0    8     strip id the caller expects (from the egroup row)
 *   8    8     fragment length the caller expects (from the strip row)
 *   16   ...   the file
 *
 * The caller sizes the buffer from the strip row, so the harness cuts the
 * expected length to the file's size plus a header. A header that checks
 * writes again (st_ec_parity_hdr) to one that checks with the same fields;
 * a file that reads as the probe's strip and length has those in its header.
 */
#include "storage/st_ec.h"
#include "tests/fuzz/fuzz.h"

#define PROBE 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *file = data + PROBE;
	size_t flen = size > PROBE ? size - PROBE : 0;
	uint64_t strip = fuzz_u64(data, size, 0), len = fuzz_u64(data, size, 8);
	uint64_t hstrip = 0, hlen = 0, s2, l2;
	uint32_t crc, c2;
	int pos, p2, hdr_ok = 0, fd, rc;
	uint8_t *buf;

	if (size < PROBE)
		return 0;
	if (flen >= ST_PARITY_HDR && st_ec_parity_hdr_check(file, &pos, &hstrip, &hlen, &crc) == 0) {
		uint8_t again[ST_PARITY_HDR];
		hdr_ok = 1;
		st_ec_parity_hdr(again, pos, hstrip, hlen, crc);
		FUZZ_ASSERT(st_ec_parity_hdr_check(again, &p2, &s2, &l2, &c2) == 0);
		FUZZ_ASSERT(p2 == pos && s2 == hstrip && l2 == hlen && c2 == crc);
	}
	if (len > flen + ST_PARITY_HDR)
		len = flen + ST_PARITY_HDR;
	buf = malloc(len ? len : 1);
	FUZZ_ASSERT(buf);
	fd = fuzz_memfd(file, flen);
	rc = st_ec_parity_read(fd, strip, len, buf);
	FUZZ_ASSERT(rc == 0 || rc == ST_ECORRUPT);
	if (rc == 0)
		FUZZ_ASSERT(hdr_ok && hstrip == strip && hlen == len && !memcmp(buf, file + ST_PARITY_HDR, len));
	close(fd);
	free(buf);
	return 0;
}
