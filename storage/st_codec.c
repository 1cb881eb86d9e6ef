/*
 * st_codec: see st_codec.h.
 */
#include "storage/st_codec.h"

#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

size_t st_codec_bound(size_t len)
{
	/* stored blocks: 5 bytes per 64 KiB block, plus slack for either compressor */
	return len + (len >> 12) + 5 * (len / 65535 + 1) + 64;
}

static int igzip_compress(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	struct isal_zstream s;
	uint8_t *lvl = malloc(ISAL_DEF_LVL1_DEFAULT);
	int rc;

	if (!lvl)
		return -ENOMEM;
	isal_deflate_stateless_init(&s);
	s.next_in = (uint8_t *)in;
	s.avail_in = (uint32_t)len;
	s.next_out = out;
	s.avail_out = (uint32_t)cap;
	s.level = 1;
	s.level_buf = lvl;
	s.level_buf_size = ISAL_DEF_LVL1_DEFAULT;
	s.end_of_stream = 1;
	s.flush = NO_FLUSH;
	s.gzip_flag = IGZIP_DEFLATE;
	rc = isal_deflate_stateless(&s);
	free(lvl);
	if (rc == STATELESS_OVERFLOW)
		return 1;
	if (rc != COMP_OK)
		return ST_EINVAL;
	*outlen = s.total_out;
	return 0;
}

static int zlib_compress(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	z_stream z;
	int rc;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	rc = deflate(&z, Z_FINISH);
	*outlen = z.total_out;
	deflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : 1;
}

int st_codec_compress(enum st_codec codec, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
		      size_t *outlen)
{
	int rc;

	if (cap < st_codec_bound(len) || len > UINT32_MAX / 2)
		return ST_EINVAL;
	*outlen = 0;
	switch (codec) {
	case ST_CODEC_IGZIP: rc = igzip_compress(in, len, out, cap, outlen); break;
	case ST_CODEC_ZLIB: rc = zlib_compress(in, len, out, cap, outlen); break;
	default: return ST_EINVAL;
	}
	if (rc == 0 && *outlen * 100 > len * ST_CODEC_KEEP_PCT)
		rc = 1;
	return rc;
}

int st_codec_inflate(const uint8_t *in, size_t len, uint8_t *out, size_t raw_len)
{
	struct inflate_state s;

	if (len > UINT32_MAX || raw_len > UINT32_MAX)
		return ST_ECORRUPT;
	isal_inflate_init(&s);
	s.next_in = (uint8_t *)in;
	s.avail_in = (uint32_t)len;
	s.next_out = out;
	s.avail_out = (uint32_t)raw_len;
	s.crc_flag = ISAL_DEFLATE;
	if (isal_inflate_stateless(&s) != ISAL_DECOMP_OK || s.total_out != raw_len || s.avail_in != 0)
		return ST_ECORRUPT;
	return 0;
}

struct jobs_ctx {
	enum st_codec codec;
	struct st_codec_job *jobs;
};

static void job_one(void *arg, size_t i)
{
	struct jobs_ctx *c = arg;
	struct st_codec_job *j = &c->jobs[i];

	j->rc = st_codec_compress(c->codec, j->in, j->len, j->out, j->cap, &j->outlen);
}

int st_codec_compress_jobs(enum st_codec codec, struct st_codec_job *jobs, int n, int threads)
{
	struct jobs_ctx c = { codec, jobs };

	st_parallel((size_t)n, threads, job_one, &c);
	for (int i = 0; i < n; i++)
		if (jobs[i].rc < 0)
			return jobs[i].rc;
	return 0;
}

const char *st_codec_name(enum st_codec codec)
{
	return codec == ST_CODEC_ZLIB ? "zlib" : codec == ST_CODEC_IGZIP ? "igzip" : "?";
}
