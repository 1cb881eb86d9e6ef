/*
 * st_codec: per-extent compression (DESIGN.md §3, issue 7). An extent is
 * stored compressed as one raw deflate stream (RFC 1951, no zlib or gzip
 * wrapper), so any inflater reads it: zlib's inflate with windowBits -15
 * does. Two compressors write the format:
 *
 *   ST_CODEC_IGZIP  ISA-L igzip level 1 (fast; about 4x zlib level 1)
 *   ST_CODEC_ZLIB   zlib level 6 (higher ratio)
 *
 * An extent is kept compressed only if it shrinks to at most
 * ST_CODEC_KEEP_PCT % of its raw size; otherwise it stays raw (the caller
 * stores the raw bytes). Checksums are the caller's business and cover the
 * bytes as stored.
 *
 * Functions are reentrant; each call allocates its own state (igzip level
 * buffer or zlib stream) and frees it before returning.
 * st_codec_compress_jobs runs on helper threads it starts and joins itself.
 */
#ifndef ST_CODEC_H
#define ST_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "storage/st_config.h"
#include "storage/st_util.h"

#define ST_CODEC_KEEP_PCT 90

/* Worst-case compressed size for len input bytes (output buffer size). */
size_t st_codec_bound(size_t len);

/*
 * Compress in[0..len) with codec into out[0..cap). 0 and *outlen when the
 * result is worth keeping (<= ST_CODEC_KEEP_PCT % of len), 1 when it is not
 * (store raw), ST_EINVAL (bad codec or cap < st_codec_bound(len)), -ENOMEM.
 */
int st_codec_compress(enum st_codec codec, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
		      size_t *outlen);

/*
 * Inflate the raw deflate stream in[0..len) into exactly raw_len bytes at
 * out. 0, or ST_ECORRUPT when the stream is damaged, ends early, or does not
 * inflate to exactly raw_len bytes.
 */
int st_codec_inflate(const uint8_t *in, size_t len, uint8_t *out, size_t raw_len);

/* One extent for st_codec_compress_jobs. */
struct st_codec_job {
	const uint8_t *in;
	size_t len;
	uint8_t *out;  /* cap >= st_codec_bound(len) */
	size_t cap;
	size_t outlen; /* results, as st_codec_compress */
	int rc;
};

/*
 * Compress jobs[0..n) with codec on up to `threads` threads (st_parallel:
 * 0 = one per CPU), each job as
 * st_codec_compress. Returns 0, or the first negative job rc (-ENOMEM,
 * ST_EINVAL); rc 1 in a job means "store it raw".
 */
int st_codec_compress_jobs(enum st_codec codec, struct st_codec_job *jobs, int n, int threads);

/* "igzip" / "zlib". */
const char *st_codec_name(enum st_codec codec);

#endif
