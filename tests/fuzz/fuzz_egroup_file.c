/*
 * fuzz_egroup_file: an egroup replica file (storage/st_egroup.h) through
 * the readers of st_egroup.c, from an in-memory file.
 *
 * Input: a 16-byte probe, then the file's bytes.
 *
 *   off  size  field
 *   0    4     probe offset (of a record header in the file)
 *   4    4     probe stored length
 *   8    4     probe raw length
 *   12   4     probe crc32c of the stored bytes
 *   16   ...   the file
 *
 * The harness reads the header (st_egroup_read_hdr) and walks the records
 * (st_egroup_walk); every record the walk accepts must read back with
 * st_egroup_read_extent, _into and _unverified, and check in memory
 * (st_egroup_check_record). Then the probe, an extent record as the egroup
 * map would give it (its id taken from the file at offset + 16), goes
 * through the same three readers. The readers' contract is a buffer of
 * stored_len bytes from the caller, so a probe whose stored length exceeds
 * the file by more than a header is cut to that.
 */
#include <stdlib.h>

#include "storage/st_egroup.h"
#include "tests/fuzz/fuzz.h"

#define PROBE 16

struct walk {
	int fd;
	uint64_t next; /* where the next record must start */
	int n;
};

static void read_all_ways(int fd, const struct st_extent_rec *e, int want_ok)
{
	uint8_t *rec = malloc(ST_EXTENT_HDR + (size_t)e->stored_len);
	uint8_t *dst = malloc(e->stored_len ? e->stored_len : 1);
	int a, b, c;

	FUZZ_ASSERT(rec && dst);
	a = st_egroup_read_extent(fd, e, rec);
	b = st_egroup_read_extent_into(fd, e, dst);
	c = st_egroup_read_extent_unverified(fd, e, dst);
	FUZZ_ASSERT(a == 0 || a == ST_ECORRUPT);
	FUZZ_ASSERT(b == 0 || b == ST_ECORRUPT);
	FUZZ_ASSERT(c == 0 || c == ST_ECORRUPT);
	/* the verified readers agree; the unverified one accepts at least as much */
	FUZZ_ASSERT(a == b && (b != 0 || c == 0));
	if (a == 0)
		FUZZ_ASSERT(st_egroup_check_record(rec, e) == 0 && !memcmp(rec + ST_EXTENT_HDR, dst, e->stored_len));
	if (want_ok)
		FUZZ_ASSERT(a == 0);
	free(rec);
	free(dst);
}

static int on_record(void *arg, uint64_t off, const struct st_extent_rec *e, const uint8_t *stored)
{
	struct walk *w = arg;
	struct st_extent_rec copy = *e;

	FUZZ_ASSERT(off == w->next && e->offset == off);
	w->next = off + ST_EXTENT_HDR + e->stored_len;
	w->n++;
	if (e->stored_len) /* an empty record may come with no buffer at all */
		(void)stored[e->stored_len - 1]; /* inside the walk's buffer (ASan) */
	read_all_ways(w->fd, &copy, 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *file = data + PROBE;
	size_t flen = size > PROBE ? size - PROBE : 0;
	struct walk w = { .next = ST_EGROUP_HDR };
	struct st_egroup_hdr h;
	struct st_extent_rec e;
	uint64_t end = 0;
	int fd, rc;

	if (size < PROBE)
		return 0;
	fd = fuzz_memfd(file, flen);
	w.fd = fd;
	rc = st_egroup_read_hdr(fd, &h);
	FUZZ_ASSERT(rc == 0 || rc == ST_ECORRUPT);
	rc = st_egroup_walk(fd, on_record, &w, &end);
	FUZZ_ASSERT(rc == 0);
	FUZZ_ASSERT(end == w.next && end <= (flen > ST_EGROUP_HDR ? flen : ST_EGROUP_HDR));

	memset(&e, 0, sizeof(e));
	e.offset = fuzz_u32(data, size, 0);
	e.stored_len = fuzz_u32(data, size, 4);
	e.raw_len = fuzz_u32(data, size, 8);
	e.crc = fuzz_u32(data, size, 12);
	if ((uint64_t)e.offset + 16 + ST_EXTENT_ID_LEN <= flen)
		memcpy(e.id.b, file + e.offset + 16, ST_EXTENT_ID_LEN);
	if (e.stored_len > flen + ST_EXTENT_HDR)
		e.stored_len = (uint32_t)(flen + ST_EXTENT_HDR);
	read_all_ways(fd, &e, 0);
	close(fd);
	return 0;
}
