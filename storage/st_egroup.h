/*
 * st_egroup: the extent store's file format. One egroup replica is one file
 * `<disk>/egroups/<egroup id, 16 hex digits>.eg`; extents are appended to it
 * contiguously, each with its own header and checksum. A file is never
 * trusted without its checksums: every read verifies the record header and
 * the CRC32C of the stored bytes against the egroup map's.
 *
 * File header (64 bytes, little-endian):
 *
 *   off  size  field
 *   0    4     magic "CUEG"
 *   4    2     format (1)
 *   6    2     reserved
 *   8    8     egroup id
 *   16   4     container id
 *   20   4     reserved
 *   24   8     owner vdisk id
 *   32   8     created (unix seconds)
 *   40   20    reserved
 *   60   4     crc32c of bytes 0..59
 *
 * Extent record (48-byte header, then the stored bytes):
 *
 *   off  size  field
 *   0    4     magic "CUEX"
 *   4    4     stored length
 *   8    4     raw length
 *   12   4     flags (st_extent_flags)
 *   16   24    extent id
 *   40   4     crc32c of the stored bytes
 *   44   4     crc32c of bytes 0..43
 *   48   ...   stored bytes
 *
 * The egroup map's `offset` of an extent is the offset of its record
 * header. Bytes past the map's `used` are garbage from an interrupted
 * append and are ignored (the next append overwrites them).
 *
 * Functions take file descriptors owned by the caller; they are
 * thread-safe for distinct buffers (pread/pwrite only).
 */
#ifndef ST_EGROUP_H
#define ST_EGROUP_H

#include <stdint.h>
#include <sys/types.h>

#include "storage/st_meta.h"
#include "storage/st_util.h"

#define ST_EGROUP_HDR 64
#define ST_EXTENT_HDR 48

struct st_egroup_hdr {
	uint64_t egroup;
	uint32_t container;
	uint64_t owner;
	int64_t created;
};

/*
 * The name of a replica file: "<egroup id, 16 lowercase hex digits>.eg",
 * in the directory ST_EGROUP_DIR of its disk. A cloud object is the same
 * name under the key prefix ST_EGROUP_DIR "/". st_egroup_name builds it,
 * st_egroup_path the whole path, st_egroup_name_parse reads it back (the
 * scans' file and cloud listings); this is the only place that spells it.
 */
#define ST_EGROUP_DIR "egroups"
#define ST_EGROUP_NAME_LEN 19 /* characters, without the NUL */

/* The name of egroup's file into buf (ST_EGROUP_NAME_LEN + 1 bytes at least). */
void st_egroup_name(uint64_t egroup, char buf[ST_EGROUP_NAME_LEN + 1]);

/* "<disk path>/egroups/<name>" into buf. 0 or -ENAMETOOLONG. */
int st_egroup_path(const char *disk_path, uint64_t egroup, char *buf, size_t len);

/*
 * The inverse of st_egroup_name: name must be exactly 16 hex digits (either
 * case) and ".eg". 0 with *egroup set, or ST_EINVAL (*egroup untouched) for
 * any other name (a temporary file, a stranger's file). Thread-safe.
 */
int st_egroup_name_parse(const char *name, uint64_t *egroup);

/*
 * Create (or truncate) the replica file at path and write its header; *fd
 * receives an O_RDWR descriptor the caller closes. 0 or -errno.
 */
int st_egroup_create(const char *path, const struct st_egroup_hdr *h, int *fd);

/* Read and check the header of an open replica: 0, ST_ECORRUPT, -errno. */
int st_egroup_read_hdr(int fd, struct st_egroup_hdr *h);

/*
 * Append one extent record at `off` (the egroup's `used`): header and
 * stored bytes in one pwritev. e supplies id, lengths, flags and crc (the
 * crc must be st_crc32c(stored, e->stored_len)). 0 or -errno (-ENOSPC for a
 * full filesystem). The record occupies ST_EXTENT_HDR + stored_len bytes.
 */
int st_egroup_write_extent(int fd, uint64_t off, const struct st_extent_rec *e, const void *stored);

/*
 * Read the record of e (at e->offset) into buf, which must hold
 * ST_EXTENT_HDR + e->stored_len bytes; the stored bytes start at
 * buf + ST_EXTENT_HDR. Verifies magic, header crc, id, lengths and the data
 * crc against e->crc. 0, ST_ECORRUPT (bad or truncated), -errno.
 */
int st_egroup_read_extent(int fd, const struct st_extent_rec *e, uint8_t *buf);

/*
 * Like st_egroup_read_extent, but the stored bytes land directly in dst
 * (e->stored_len bytes) with one preadv: no intermediate copy.
 */
int st_egroup_read_extent_into(int fd, const struct st_extent_rec *e, void *dst);

/*
 * The same with the record header checked but the data's CRC32C left to
 * the caller (who must check it, e.g. on another thread, before trusting
 * dst). 0, ST_ECORRUPT, -errno.
 */
int st_egroup_read_extent_unverified(int fd, const struct st_extent_rec *e, void *dst);

/*
 * Check a record in memory: rec points at its header, the stored bytes
 * follow. 0 or ST_ECORRUPT (header, id, lengths or data crc mismatch).
 */
int st_egroup_check_record(const uint8_t *rec, const struct st_extent_rec *e);

/*
 * Walk the records of a replica file from its first extent, calling cb for
 * each well-formed record (stored bytes verified). Stops at the first bad or
 * truncated record (*end receives its offset, i.e. the valid length); a
 * record longer than the file is truncated, and no buffer is sized from
 * its length.
 */
typedef int (*st_egroup_walk_cb)(void *arg, uint64_t off, const struct st_extent_rec *e, const uint8_t *stored);
int st_egroup_walk(int fd, st_egroup_walk_cb cb, void *arg, uint64_t *end);

#endif
