#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "storage/st_codec.h"
#include "tests/helpers.h"

enum { REAL = 16 << 20, CHUNK = 256 << 10 };

/* Up to REAL bytes of real files (documentation, libraries), in a fixed order. */
static uint8_t *real_bytes(size_t *len, const char *path)
{
	FILE *ls = popen("find /usr/share/doc /usr/lib/x86_64-linux-gnu -maxdepth 2 -type f -size +8k 2>/dev/null"
			 " | LC_ALL=C sort | head -400",
			 "r");
	uint8_t *buf = malloc(REAL);
	char name[4096];
	size_t n = 0;

	cr_assert(ls && buf);
	while (n < REAL && fgets(name, sizeof(name), ls)) {
		size_t flen;
		uint8_t *f;
		name[strcspn(name, "\n")] = 0;
		f = th_read_file(name, &flen);
		if (!f)
			continue;
		if (flen > REAL - n)
			flen = REAL - n;
		memcpy(buf + n, f, flen);
		n += flen;
		free(f);
	}
	pclose(ls);
	cr_assert_gt(n, 4 << 20, "too little real data found");
	*len = n;
	if (path)
		cr_assert_eq(th_write_file(path, buf, n), 0);
	return buf;
}

/* zlib itself inflates what we stored. */
static void zlib_inflates(const uint8_t *in, size_t len, const uint8_t *want, size_t raw)
{
	z_stream z;
	uint8_t *out = malloc(raw + 1);

	memset(&z, 0, sizeof(z));
	cr_assert_eq(inflateInit2(&z, -15), Z_OK);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)raw + 1;
	cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
	cr_assert_eq(z.total_out, raw);
	cr_assert_eq(memcmp(out, want, raw), 0, "zlib inflates to other bytes");
	inflateEnd(&z);
	free(out);
}

/* Both codecs on real data: round trip, zlib inflates, igzip-1 within 10 % of gzip -1. */
Test(st_codec, real_data_round_trips_and_matches_gzip)
{
	const char *dir = th_tmpdir("codec");
	char path[2048], cmd[4200];
	size_t len, comp[2] = { 0, 0 }, raw_kept[2] = { 0, 0 };
	uint8_t *data, *out = malloc(st_codec_bound(CHUNK)), *back = malloc(CHUNK);
	unsigned long long gz = 0;
	FILE *p;

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
	snprintf(cmd, sizeof(cmd), "gzip -1 -c %s | wc -c", path);
	p = popen(cmd, "r");
	cr_assert(p && fscanf(p, "%llu", &gz) == 1);
	pclose(p);
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
