/*
 * mr_int: private structures shared by the engine's files (not an API).
 * The state of a running job is in mr_job_int.h, private to the job's files.
 *
 * A record, in send buffers, on the wire, in the store and in run files:
 *
 *   off  size  field
 *   0    1     key length (1..255)
 *   1    3     value length (little-endian, < 16 MiB)
 *   4    k     key
 *   4+k  v     value
 *
 * Its sort key (mr_sk: the partition and 48 bits of hash64(key)) is
 * computed by the rank that emits it and travels beside it in send
 * buffers and shuffle messages as entries (sort key u64, record), so the
 * receiver files it without hashing; the store and run files hold bare
 * records (the key is hashed again when a bucket is sorted or a run read
 * back). Records are ordered by (sort key, key bytes, value bytes).
 *
 * A committed output partition file `part-NNNNN`:
 *
 *   off  size  field
 *   0    4     magic "MRO1"
 *   4    4     partition
 *   8    ...   records: key length u16, value length u32, key, value
 *   end  16    record count u64, byte count u64 of the records, then
 *   end  4     crc32c (ISA-L) of everything before
 */
#ifndef MR_INT_H
#define MR_INT_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mapreduce/mr.h"

#define MR_HDR 4

struct mr_ctx {
	MPI_Comm comm;
	int rank, nranks;
	int local_ranks; /* ranks on this host */
	MPI_Comm local; /* them (MPI_COMM_TYPE_SHARED) */
	int *local_of;  /* world rank -> its rank in local, or -1 on another host */
	uint8_t *arena;  /* the store's memory, kept from one job to the next (mr_ctx_trim) */
	size_t arena_cap;
	MPI_Win qwin;           /* direct shuffle: the reduce queues' shared words (MPI_WIN_NULL until a direct job) */
	volatile uint64_t *q;   /* per local rank: its queue's head << 32 | tail, in shared memory */
	int own_mpi; /* we called MPI_Init */
	char scratch[4096];
	char host[256];
	char errmsg[512];
	int jobseq;
};

static inline size_t mr_rec_klen(const uint8_t *r) { return r[0]; }
static inline uint32_t mr_rec_vlen(const uint8_t *r) { return r[1] | (uint32_t)r[2] << 8 | (uint32_t)r[3] << 16; }
static inline size_t mr_rec_size(const uint8_t *r) { return MR_HDR + mr_rec_klen(r) + (size_t)mr_rec_vlen(r); }
static inline const uint8_t *mr_rec_key(const uint8_t *r) { return r + MR_HDR; }
static inline const uint8_t *mr_rec_val(const uint8_t *r) { return r + MR_HDR + r[0]; }
static inline void mr_rec_hdr(uint8_t *h, size_t klen, size_t vlen)
{
	h[0] = (uint8_t)klen;
	h[1] = (uint8_t)vlen;
	h[2] = (uint8_t)(vlen >> 8);
	h[3] = (uint8_t)(vlen >> 16);
}

#define MR_VAL_MAX ((16u << 20) - 1)

/* Sort key: partition in the high 16 bits, then the top 48 bits of the hash. */
static inline uint64_t mr_sk(uint32_t part, uint64_t hash)
{
	return (uint64_t)part << 48 | hash >> 16;
}

/* memcmp order of n bytes, eight at a time (short keys and values). */
static inline int mr_bytes_cmp(const uint8_t *a, const uint8_t *b, size_t n)
{
	if (n > 32) {
		int c = memcmp(a, b, n);
		return c < 0 ? -1 : c > 0;
	}
	while (n >= 8) {
		uint64_t x, y;
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		if (x != y) {
			x = __builtin_bswap64(x);
			y = __builtin_bswap64(y);
			return x < y ? -1 : 1;
		}
		a += 8;
		b += 8;
		n -= 8;
	}
	for (; n; a++, b++, n--)
		if (*a != *b)
			return *a < *b ? -1 : 1;
	return 0;
}

uint64_t mr_hash(const void *key, size_t len);
uint32_t mr_crc(uint32_t crc, const void *buf, size_t len);

/*
 * Whether a stored crc32c equals the one computed: the readers of run and
 * output files compare through this macro (storage/st_util.h has the same
 * for the storage layer, which mapreduce/ does not include). Built with
 * -DCURATOR_FUZZ_NOCRC (make fuzz's second build, never shipped) every
 * comparison passes; both operands are still evaluated.
 */
#ifdef CURATOR_FUZZ_NOCRC
#define MR_CRC_MATCH(stored, computed) ((void)(stored), (void)(computed), 1)
#else
#define MR_CRC_MATCH(stored, computed) ((stored) == (computed))
#endif

/* Order of two records of equal sort keys: (key, value). */
int mr_rec_cmp(const uint8_t *a, const uint8_t *b);
/* Order of their keys only. */
int mr_key_cmp(const uint8_t *a, const uint8_t *b);
/* The partition of a key among nparts and its sort key. */
static inline uint64_t mr_key_sk(const void *key, size_t klen, uint32_t nparts, uint32_t *part)
{
	uint64_t h = mr_hash(key, klen);
	*part = (uint32_t)(((h & 0xffffffffu) * nparts) >> 32); /* the low half scaled: no division */
	return mr_sk(*part, h);
}

struct mr_idx {
	uint64_t sk;
	const uint8_t *rec;
};

/* Sort idx[0..n) by sk (MSD radix, stable). 0 or -ENOMEM. */
int mr_sort(struct mr_idx *idx, size_t n);
#define MR_SORT_COUNTS 65537
/*
 * Sort src[0..n) into dst (src is clobbered); diff is the OR of every
 * src[i].sk ^ src[0].sk (the caller gathered it while filling src); cnt
 * is scratch of MR_SORT_COUNTS entries.
 */
int mr_sort_from(struct mr_idx *src, struct mr_idx *dst, size_t n, uint64_t diff, uint32_t *cnt);
/*
 * Then order runs of equal sk by mr_rec_cmp (keys_only: by mr_key_cmp):
 * idx is fully ordered (keys_only: equal keys are adjacent).
 */
void mr_sort_fixup(struct mr_idx *idx, size_t n, int keys_only);
/*
 * Walk idx[0..n) (sorted by sk) in the record order: each run of equal
 * sort keys is fixed up (mr_sort_fixup) when the walk reaches it, and the
 * records ahead are prefetched. Returns the next record (its sort key in
 * *sk) or NULL.
 */
/* All n records have the key of the first (the usual run of one sort key). */
static inline int mr_same_keys(const struct mr_idx *x, size_t n)
{
	size_t kl = x[0].rec[0];

	for (size_t i = 1; i < n; i++)
		if (x[i].rec[0] != kl || mr_bytes_cmp(x[i].rec + MR_HDR, x[0].rec + MR_HDR, kl))
			return 0;
	return 1;
}

#ifndef MR_PREFETCH
#define MR_PREFETCH 32
#endif
struct mr_iter {
	struct mr_idx *idx;
	size_t i, n, fixed;
	int keys_only;
};

static inline const uint8_t *mr_iter_next(struct mr_iter *it, uint64_t *sk)
{
	struct mr_idx *x = it->idx;
	size_t i = it->i;

	if (i >= it->n)
		return NULL;
	if (i >= it->fixed) {
		size_t j = i + 1;
		while (j < it->n && x[j].sk == x[i].sk)
			j++;
		if (j - i > 1 && !(it->keys_only && mr_same_keys(x + i, j - i)))
			mr_sort_fixup(x + i, j - i, it->keys_only);
		it->fixed = j;
	}
	if (i + MR_PREFETCH < it->n) {
		__builtin_prefetch(x[i + MR_PREFETCH].rec);
		__builtin_prefetch(x[i + MR_PREFETCH].rec + 63);
	}
	it->i = i + 1;
	*sk = x[i].sk;
	return x[i].rec;
}

/*
 * memcpy for the short keys and values of records: overlapping 8- and
 * 16-byte moves inline instead of a library call; long ones use memcpy.
 */
static inline void mr_copy(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	if (n > 32) {
		memcpy(d, s, n);
	} else if (n > 16) {
		uint8_t a[16], b[16];
		memcpy(a, s, 16);
		memcpy(b, s + n - 16, 16);
		memcpy(d, a, 16);
		memcpy(d + n - 16, b, 16);
	} else if (n >= 8) {
		uint64_t a, b;
		memcpy(&a, s, 8);
		memcpy(&b, s + n - 8, 8);
		memcpy(d, &a, 8);
		memcpy(d + n - 8, &b, 8);
	} else if (n >= 4) {
		uint32_t a, b;
		memcpy(&a, s, 4);
		memcpy(&b, s + n - 4, 4);
		memcpy(d, &a, 4);
		memcpy(d + n - 4, &b, 4);
	} else {
		for (size_t i = 0; i < n; i++)
			d[i] = s[i];
	}
}


/*
 * Buffered sequential file writer with a running crc32c of what was
 * written. mr_wfile_crc() is the crc so far; mr_wfile_crc_reset() starts a
 * new crc (per-partition checksums of runs). An error sticks.
 */
struct mr_wfile {
	int fd;
	uint8_t *buf;
	size_t len, cap;
	uint32_t crc;   /* of the bytes already flushed */
	uint64_t bytes;
	int err;
};
int mr_wfile_open(struct mr_wfile *w, const char *path);
int mr_wfile_write(struct mr_wfile *w, const void *p, size_t n);
uint32_t mr_wfile_crc(struct mr_wfile *w);
void mr_wfile_crc_reset(struct mr_wfile *w);
int mr_wfile_close(struct mr_wfile *w, int sync); /* 0 or -errno */

/*
 * Block reader of a byte range of a file: reads 1 MiB at a time with
 * pread, keeps a running crc32c of every byte of the range read so far,
 * and hands out contiguous spans (a span that crosses a block is moved to
 * the front first). A span stays valid until the next mr_rfile_get.
 */
struct mr_rfile {
	int fd;
	uint8_t *buf;
	size_t cap, pos, len;  /* buf[pos..len) is read but not handed out */
	uint64_t off, left;    /* next file offset to read, bytes of the range unread */
	uint32_t crc;          /* of the range's bytes read so far */
};
/* 0 or -errno. */
int mr_rfile_open(struct mr_rfile *r, const char *path, uint64_t off, uint64_t len);
/* The next n bytes of the range, or NULL if fewer remain (*err: 0) or a read failed (*err: -errno). */
const uint8_t *mr_rfile_get(struct mr_rfile *r, size_t n, int *err);
/* Bytes of the range not yet handed out. */
static inline uint64_t mr_rfile_remaining(const struct mr_rfile *r) { return r->left + (r->len - r->pos); }
/* Close and free (a zeroed or closed reader is fine). */
void mr_rfile_close(struct mr_rfile *r);

/*
 * The next record of a spilled run's range for one partition (r opened on
 * that range; want: the crc32c the spill recorded for it). Local.
 * [out] rec: the record (a span valid until the next call on r), or NULL
 * at the end of the range when its bytes matched want.
 * Returns 0; MR_ECORRUPT when the range ends inside a record or a record
 * has an empty key (mr_rfile_remaining(r) > 0 then, the record not taken),
 * or when the whole range fails want (mr_rfile_remaining(r) == 0 then);
 * -errno when a read failed. *rec is NULL on every failure.
 */
int mr_run_next(struct mr_rfile *r, uint32_t want, const uint8_t **rec);

void mr_set_err(struct mr_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
