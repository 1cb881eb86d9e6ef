/*
 * st_ec: Reed-Solomon erasure coding over GF(2^8) with ISA-L, systematic:
 * k data fragments, m parity fragments computed with a (k+m) x k Cauchy
 * matrix (any k of the k+m fragments recover the rest).
 *
 * Strip layout (how egroups use it): the k data fragments are the images
 * [0, used) of k egroup files, zero-padded to the strip length `len`; parity
 * fragment j is stored in a parity file `<parity egroup id>.eg`:
 *
 *   off  size  field
 *   0    4     magic "CUPA"
 *   4    4     position in the strip (k + j)
 *   8    8     strip id
 *   16   8     strip length len
 *   24   4     crc32c of the len parity bytes
 *   28   32    reserved
 *   60   4     crc32c of bytes 0..59
 *   64   len   parity bytes
 *
 * Functions are local and thread-safe (tables on the caller's stack;
 * st_ec_parity_read reads a caller's descriptor with pread only).
 */
#ifndef ST_EC_H
#define ST_EC_H

#include <stddef.h>
#include <stdint.h>

#include "storage/st_util.h"

#define ST_EC_MAX 20 /* k + m */
#define ST_PARITY_HDR 64

/* Compute parity[0..m) (len bytes each) from data[0..k). 0 or ST_EINVAL. */
int st_ec_encode(int k, int m, size_t len, uint8_t *const *data, uint8_t **parity);

/*
 * Recover missing fragments. frags[0..k+m): pointers to the fragments
 * present, NULL for the missing; out[i] (for each missing i < k+m that is
 * wanted; NULL if not wanted) receives fragment i. Needs at least k present.
 * 0, ST_EIO (too few fragments), ST_EINVAL.
 */
int st_ec_decode(int k, int m, size_t len, uint8_t *const *frags, uint8_t **out);

/* Slow reference implementations (tests check ISA-L against them). */
int st_ec_encode_ref(int k, int m, size_t len, uint8_t *const *data, uint8_t **parity);

/* Parity file header (see the layout above). */
void st_ec_parity_hdr(uint8_t *hdr, int pos, uint64_t strip, uint64_t len, uint32_t crc);
int st_ec_parity_hdr_check(const uint8_t *hdr, int *pos, uint64_t *strip, uint64_t *len, uint32_t *crc);

/*
 * Read a parity file from fd (the caller's, read with pread only) and check
 * it: a header that checks, of strip `strip` with fragment length len (both
 * from the metadata), then len parity bytes matching the header's crc32c.
 * [out] buf: the len parity bytes (the caller's buffer of len bytes; its
 * contents are undefined on failure).
 * 0, or ST_ECORRUPT for anything else, a failed or short read included
 * (the copy is unusable either way).
 */
int st_ec_parity_read(int fd, uint64_t strip, uint64_t len, uint8_t *buf);

#endif
