/*
 * st_egroup: egroup replica files. See st_egroup.h for the format.
 */
#include "storage/st_egroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define EG_MAGIC 0x47455543u /* "CUEG" */
#define EX_MAGIC 0x58455543u /* "CUEX" */

#define NAME_FMT "%016llx.eg" /* st_egroup_name_parse reads it back */
#define NAME_DIGITS 16

void st_egroup_name(uint64_t egroup, char buf[ST_EGROUP_NAME_LEN + 1])
{
	snprintf(buf, ST_EGROUP_NAME_LEN + 1, NAME_FMT, (unsigned long long)egroup);
}

int st_egroup_path(const char *disk_path, uint64_t egroup, char *buf, size_t len)
{
	if (snprintf(buf, len, "%s/" ST_EGROUP_DIR "/" NAME_FMT, disk_path, (unsigned long long)egroup) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/* The value of hex digit ch, or -1. */
static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int st_egroup_name_parse(const char *name, uint64_t *egroup)
{
	uint64_t id = 0;

	for (int i = 0; i < NAME_DIGITS; i++) {
		int d = hex_digit(name[i]);
		if (d < 0)
			return ST_EINVAL; /* also the end of a short name */
		id = id << 4 | (uint64_t)d;
	}
	if (strcmp(name + NAME_DIGITS, ".eg"))
		return ST_EINVAL;
	*egroup = id;
	return 0;
}

int st_egroup_create(const char *path, const struct st_egroup_hdr *h, int *fd_out)
{
	uint8_t b[ST_EGROUP_HDR] = { 0 };
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc;

	if (fd < 0)
		return -errno;
	st_put32(b, EG_MAGIC);
	st_put16(b + 4, 1);
	st_put64(b + 8, h->egroup);
	st_put32(b + 16, h->container);
	st_put64(b + 24, h->owner);
	st_put64(b + 32, (uint64_t)h->created);
	st_put32(b + 60, st_crc32c(b, 60));
	rc = st_pwrite_full(fd, b, sizeof(b), 0);
	if (rc) {
		close(fd);
		unlink(path);
		return rc;
	}
	*fd_out = fd;
	return 0;
}

int st_egroup_read_hdr(int fd, struct st_egroup_hdr *h)
{
	uint8_t b[ST_EGROUP_HDR];
	long long n = st_pread_full(fd, b, sizeof(b), 0);

	if (n < 0)
		return (int)n;
	if (n != ST_EGROUP_HDR || st_get32(b) != EG_MAGIC || st_get16(b + 4) != 1 ||
	    !ST_CRC_MATCH(st_get32(b + 60), st_crc32c(b, 60)))
		return ST_ECORRUPT;
	h->egroup = st_get64(b + 8);
	h->container = st_get32(b + 16);
	h->owner = st_get64(b + 24);
	h->created = (int64_t)st_get64(b + 32);
	return 0;
}

static void encode_ex_hdr(uint8_t *b, const struct st_extent_rec *e)
{
	st_put32(b, EX_MAGIC);
	st_put32(b + 4, e->stored_len);
	st_put32(b + 8, e->raw_len);
	st_put32(b + 12, e->flags & (ST_EXTENT_COMPRESSED | ST_EXTENT_ZLIB));
	memcpy(b + 16, e->id.b, ST_EXTENT_ID_LEN);
	st_put32(b + 40, e->crc);
	st_put32(b + 44, st_crc32c(b, 44));
}

int st_egroup_write_extent(int fd, uint64_t off, const struct st_extent_rec *e, const void *stored)
{
	uint8_t hdr[ST_EXTENT_HDR];
	struct iovec iov[2];
	size_t total = ST_EXTENT_HDR + e->stored_len;
	size_t done = 0;

	encode_ex_hdr(hdr, e);
	while (done < total) {
		ssize_t n;
		int cnt = 0;
		if (done < ST_EXTENT_HDR) {
			iov[cnt++] = (struct iovec){ hdr + done, ST_EXTENT_HDR - done };
			iov[cnt++] = (struct iovec){ (void *)stored, e->stored_len };
		} else {
			iov[cnt++] = (struct iovec){ (uint8_t *)stored + (done - ST_EXTENT_HDR), total - done };
		}
		n = pwritev(fd, iov, cnt, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

/* Parse and check a record header; fills e (offset excluded). */
static int decode_ex_hdr(const uint8_t *b, struct st_extent_rec *e)
{
	if (st_get32(b) != EX_MAGIC || !ST_CRC_MATCH(st_get32(b + 44), st_crc32c(b, 44)))
		return ST_ECORRUPT;
	e->stored_len = st_get32(b + 4);
	e->raw_len = st_get32(b + 8);
	e->flags = st_get32(b + 12);
	memcpy(e->id.b, b + 16, ST_EXTENT_ID_LEN);
	e->crc = st_get32(b + 40);
	return 0;
}

int st_egroup_check_record(const uint8_t *rec, const struct st_extent_rec *e)
{
	struct st_extent_rec f;

	if (decode_ex_hdr(rec, &f) || f.stored_len != e->stored_len || f.raw_len != e->raw_len ||
	    memcmp(f.id.b, e->id.b, ST_EXTENT_ID_LEN) || f.crc != e->crc)
		return ST_ECORRUPT;
	return ST_CRC_MATCH(e->crc, st_crc32c(rec + ST_EXTENT_HDR, e->stored_len)) ? 0 : ST_ECORRUPT;
}

int st_egroup_read_extent(int fd, const struct st_extent_rec *e, uint8_t *buf)
{
	size_t total = ST_EXTENT_HDR + e->stored_len;
	struct st_extent_rec f;
	long long n = st_pread_full(fd, buf, total, e->offset);

	if (n < 0)
		return (int)n;
	if ((size_t)n != total)
		return ST_ECORRUPT; /* truncated */
	if (decode_ex_hdr(buf, &f) || f.stored_len != e->stored_len || f.raw_len != e->raw_len ||
	    memcmp(f.id.b, e->id.b, ST_EXTENT_ID_LEN) || f.crc != e->crc)
		return ST_ECORRUPT;
	if (!ST_CRC_MATCH(e->crc, st_crc32c(buf + ST_EXTENT_HDR, e->stored_len)))
		return ST_ECORRUPT;
	return 0;
}

static int read_into(int fd, const struct st_extent_rec *e, void *dst, int verify);

int st_egroup_read_extent_into(int fd, const struct st_extent_rec *e, void *dst)
{
	return read_into(fd, e, dst, 1);
}

int st_egroup_read_extent_unverified(int fd, const struct st_extent_rec *e, void *dst)
{
	return read_into(fd, e, dst, 0);
}

static int read_into(int fd, const struct st_extent_rec *e, void *dst, int verify)
{
	uint8_t hdr[ST_EXTENT_HDR];
	struct st_extent_rec f;
	size_t total = ST_EXTENT_HDR + e->stored_len, done = 0;

	while (done < total) {
		struct iovec iov[2];
		int cnt = 0;
		ssize_t n;
		if (done < ST_EXTENT_HDR) {
			iov[cnt++] = (struct iovec){ hdr + done, ST_EXTENT_HDR - done };
			iov[cnt++] = (struct iovec){ dst, e->stored_len };
		} else {
			iov[cnt++] = (struct iovec){ (uint8_t *)dst + (done - ST_EXTENT_HDR), total - done };
		}
		n = preadv(fd, iov, cnt, (off_t)(e->offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return ST_ECORRUPT; /* truncated */
		done += (size_t)n;
	}
	if (decode_ex_hdr(hdr, &f) || f.stored_len != e->stored_len || f.raw_len != e->raw_len ||
	    memcmp(f.id.b, e->id.b, ST_EXTENT_ID_LEN) || f.crc != e->crc)
		return ST_ECORRUPT;
	if (verify && !ST_CRC_MATCH(e->crc, st_crc32c(dst, e->stored_len)))
		return ST_ECORRUPT;
	return 0;
}

int st_egroup_walk(int fd, st_egroup_walk_cb cb, void *arg, uint64_t *end)
{
	uint64_t off = ST_EGROUP_HDR;
	uint8_t *buf = NULL;
	size_t cap = 0;
	int rc = 0;

	for (;;) {
		uint8_t hdr[ST_EXTENT_HDR];
		struct st_extent_rec e;
		long long n = st_pread_full(fd, hdr, sizeof(hdr), off);

		if (n < 0) {
			rc = (int)n;
			break;
		}
		if (n != ST_EXTENT_HDR || decode_ex_hdr(hdr, &e))
			break;
		if (e.stored_len > cap) {
			struct stat sb;
			uint8_t *nb;
			/* a length from disk sizes no buffer before the file is seen to hold it */
			if (fstat(fd, &sb) < 0) {
				rc = -errno;
				break;
			}
			if (off + ST_EXTENT_HDR + e.stored_len > (uint64_t)sb.st_size)
				break; /* truncated: as if the read below came up short */
			nb = realloc(buf, e.stored_len);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
			cap = e.stored_len;
		}
		n = st_pread_full(fd, buf, e.stored_len, off + ST_EXTENT_HDR);
		if (n < 0) {
			rc = (int)n;
			break;
		}
		if ((size_t)n != e.stored_len || !ST_CRC_MATCH(e.crc, st_crc32c(buf, e.stored_len)))
			break;
		e.offset = (uint32_t)off;
		e.refcount = 0;
		memset(e.fp, 0, sizeof(e.fp));
		if (cb) {
			rc = cb(arg, off, &e, buf);
			if (rc)
				break;
		}
		off += ST_EXTENT_HDR + e.stored_len;
	}
	free(buf);
	if (end)
		*end = off;
	return rc;
}
