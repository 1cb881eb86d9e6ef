#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "storage/st_codec.h"
#include "tests/helpers.h"

enum { REAL = 16 << 20, CHUNK = 256 << 10 };

static uint8_t *real_bytes(size_t *len, const char *path)
{
	uint8_t *buf = th_real_data(REAL, len);

	cr_assert(buf && *len > (4 << 20), "too little real data found");
	if (path)
		cr_assert_eq(th_write_file(path, buf, *len), 0);
	return buf;
}

/* zlib itself inflates what we stored. */
static void zlib_inflates(const uint8_t *in, size_t len, const uint8_t *want, size_t raw)
{
	uint8_t *out = malloc(raw);

	cr_assert_eq(th_zlib_inflate(in, len, out, raw), 0, "zlib does not inflate it");
	cr_assert_eq(memcmp(out, want, raw), 0, "zlib inflates to other bytes");
	free(out);
}

/* Both codecs on real data: round trip, zlib inflates, igzip-1 within 10 % of gzip -1. */
Test(st_codec, real_data_round_trips_and_matches_gzip)
{
	const char *dir = th_tmpdir("codec");
	char path[2048];
	size_t len, comp[2] = { 0, 0 }, raw_kept[2] = { 0, 0 };
	uint8_t *data, *out = malloc(st_codec_bound(CHUNK)), *back = malloc(CHUNK);
	unsigned long long gz = 0;

	snprintf(path, sizeof(path), "%s/real", dir);
	data = real_bytes(&len, path);
	for (int c = 0; c < 2; c++) {
		enum st_codec codec = c ? ST_CODEC_ZLIB : ST_CODEC_IGZIP;
		for (size_t off = 0; off < len; off += CHUNK) {
			size_t n = len - off < CHUNK ? len - off : CHUNK, olen = 0;
			int rc = st_codec_compress(codec, data + off, n, out, st_codec_bound(CHUNK), &olen);
			cr_assert(rc == 0 || rc == 1, "%s: %d", st_codec_name(codec), rc);
			if (rc == 1) { /* stays raw */
				comp[c] += n;
				raw_kept[c]++;
				continue;
			}
			comp[c] += olen;
			cr_assert_eq(st_codec_inflate(out, olen, back, n), 0);
			cr_assert_eq(memcmp(back, data + off, n), 0, "%s round trip at %zu", st_codec_name(codec), off);
			zlib_inflates(out, olen, data + off, n);
		}
	}
	gz = (unsigned long long)th_sh_number("gzip -1 -c %s | wc -c", path);
	cr_log_info("%zu bytes: igzip-1 %zu (%zu chunks raw), zlib-6 %zu, gzip -1 %llu", len, comp[0], raw_kept[0],
		    comp[1], gz);
	cr_assert_leq((double)comp[0], 1.10 * (double)gz, "igzip-1 %zu bytes vs gzip -1 %llu", comp[0], gz);
	cr_assert_leq(comp[1], comp[0], "zlib-6 should not be larger than igzip-1");
	free(data);
	free(out);
	free(back);
}

/* Random bytes do not shrink: they stay raw. */
Test(st_codec, incompressible_extent_stays_raw)
{
	uint8_t *in = malloc(CHUNK), *out = malloc(st_codec_bound(CHUNK));
	size_t olen;

	th_fill(in, CHUNK, 5);
	cr_assert_eq(st_codec_compress(ST_CODEC_IGZIP, in, CHUNK, out, st_codec_bound(CHUNK), &olen), 1);
	cr_assert_eq(st_codec_compress(ST_CODEC_ZLIB, in, CHUNK, out, st_codec_bound(CHUNK), &olen), 1);
	cr_assert_eq(st_codec_compress(ST_CODEC_IGZIP, in, CHUNK, out, 100, &olen), ST_EINVAL);
	cr_assert_eq(st_codec_compress((enum st_codec)7, in, CHUNK, out, st_codec_bound(CHUNK), &olen), ST_EINVAL);
	free(in);
	free(out);
}

/* A truncated, padded or garbage stream, or a wrong length, is an error, never a short read. */
Test(st_codec, damaged_stream_is_corrupt)
{
	enum { N = 64 << 10 };
	uint8_t *in = malloc(N), *out = malloc(st_codec_bound(N)), *back = malloc(N + 16);
	size_t olen;

	for (size_t i = 0; i < N; i++)
		in[i] = (uint8_t)("curator "[i % 8] + (i / 4096));
	cr_assert_eq(st_codec_compress(ST_CODEC_IGZIP, in, N, out, st_codec_bound(N), &olen), 0);
	cr_assert_eq(st_codec_inflate(out, olen, back, N), 0);
	cr_assert_eq(st_codec_inflate(out, olen / 2, back, N), ST_ECORRUPT, "truncated");
	cr_assert_eq(st_codec_inflate(out, olen, back, N - 1), ST_ECORRUPT, "longer than recorded");
	cr_assert_eq(st_codec_inflate(out, olen, back, N + 16), ST_ECORRUPT, "shorter than recorded");
	memset(out, 0xff, olen);
	cr_assert_eq(st_codec_inflate(out, olen, back, N), ST_ECORRUPT, "garbage");
	free(in);
	free(out);
	free(back);
}
