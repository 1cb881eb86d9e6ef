/*
 * st_ec: Reed-Solomon with ISA-L. See st_ec.h. The encode matrix is ISA-L's
 * Cauchy matrix; decoding inverts the k x k submatrix of the rows present.
 */
#include "storage/st_ec.h"

#include <isa-l/erasure_code.h>
#include <stdlib.h>
#include <string.h>

static void matrix(int k, int m, unsigned char *a)
{
	gf_gen_cauchy1_matrix(a, k + m, k);
}

int st_ec_encode(int k, int m, size_t len, uint8_t *const *data, uint8_t **parity)
{
	unsigned char a[ST_EC_MAX * ST_EC_MAX], tbl[32 * ST_EC_MAX * ST_EC_MAX];

	if (k < 1 || m < 1 || k + m > ST_EC_MAX || len > INT32_MAX)
		return ST_EINVAL;
	matrix(k, m, a);
	ec_init_tables(k, m, a + k * k, tbl);
	ec_encode_data((int)len, k, m, tbl, (unsigned char **)data, parity);
	return 0;
}

int st_ec_decode(int k, int m, size_t len, uint8_t *const *frags, uint8_t **out)
{
	unsigned char a[ST_EC_MAX * ST_EC_MAX], b[ST_EC_MAX * ST_EC_MAX], inv[ST_EC_MAX * ST_EC_MAX];
	unsigned char rows[ST_EC_MAX * ST_EC_MAX], tbl[32 * ST_EC_MAX * ST_EC_MAX];
	unsigned char *src[ST_EC_MAX], *dst[ST_EC_MAX];
	int use[ST_EC_MAX], nuse = 0, nout = 0;

	if (k < 1 || m < 1 || k + m > ST_EC_MAX || len > INT32_MAX)
		return ST_EINVAL;
	for (int i = 0; i < k + m && nuse < k; i++)
		if (frags[i])
			use[nuse++] = i;
	if (nuse < k)
		return ST_EIO;
	matrix(k, m, a);
	/* b = the rows of the fragments we have; inv = b^-1 maps them back to data */
	for (int r = 0; r < k; r++)
		memcpy(b + r * k, a + use[r] * k, (size_t)k);
	if (gf_invert_matrix(b, inv, k) < 0)
		return ST_EIO;
	for (int i = 0; i < k + m; i++) {
		if (frags[i] || !out[i])
			continue;
		if (i < k) {
			memcpy(rows + nout * k, inv + i * k, (size_t)k);
		} else { /* a parity row: (row of a) x inv */
			for (int c = 0; c < k; c++) {
				unsigned char s = 0;
				for (int j = 0; j < k; j++)
					s ^= gf_mul(a[i * k + j], inv[j * k + c]);
				rows[nout * k + c] = s;
			}
		}
		dst[nout++] = out[i];
	}
	if (!nout)
		return 0;
	for (int r = 0; r < k; r++)
		src[r] = frags[use[r]];
	ec_init_tables(k, nout, rows, tbl);
	ec_encode_data((int)len, k, nout, tbl, src, dst);
	return 0;
}

int st_ec_encode_ref(int k, int m, size_t len, uint8_t *const *data, uint8_t **parity)
{
	unsigned char a[ST_EC_MAX * ST_EC_MAX];

	if (k < 1 || m < 1 || k + m > ST_EC_MAX)
		return ST_EINVAL;
	matrix(k, m, a);
	for (int p = 0; p < m; p++)
		for (size_t x = 0; x < len; x++) {
			unsigned char s = 0;
			for (int j = 0; j < k; j++)
				s ^= gf_mul(a[(k + p) * k + j], data[j][x]);
			parity[p][x] = s;
		}
	return 0;
}

void st_ec_parity_hdr(uint8_t *h, int pos, uint64_t strip, uint64_t len, uint32_t crc)
{
	memset(h, 0, ST_PARITY_HDR);
	st_put32(h, 0x41505543u); /* "CUPA" */
	st_put32(h + 4, (uint32_t)pos);
	st_put64(h + 8, strip);
	st_put64(h + 16, len);
	st_put32(h + 24, crc);
	st_put32(h + 60, st_crc32c(h, 60));
}

int st_ec_parity_hdr_check(const uint8_t *h, int *pos, uint64_t *strip, uint64_t *len, uint32_t *crc)
{
	if (st_get32(h) != 0x41505543u || !ST_CRC_MATCH(st_get32(h + 60), st_crc32c(h, 60)))
		return ST_ECORRUPT;
	*pos = (int)st_get32(h + 4);
	*strip = st_get64(h + 8);
	*len = st_get64(h + 16);
	*crc = st_get32(h + 24);
	return 0;
}

int st_ec_parity_read(int fd, uint64_t strip, uint64_t len, uint8_t *buf)
{
	uint8_t hdr[ST_PARITY_HDR];
	uint64_t hstrip, hlen;
	uint32_t crc;
	int pos;

	if (st_pread_full(fd, hdr, ST_PARITY_HDR, 0) != ST_PARITY_HDR ||
	    st_ec_parity_hdr_check(hdr, &pos, &hstrip, &hlen, &crc) || hlen != len || hstrip != strip ||
	    st_pread_full(fd, buf, len, ST_PARITY_HDR) != (long long)len || !ST_CRC_MATCH(st_crc32c(buf, len), crc))
		return ST_ECORRUPT;
	return 0;
}
