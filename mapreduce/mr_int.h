/*
 * mr_int: private structures shared by the engine's files (not an API).
 *
 * A record, in send buffers, on the wire, in the store and in run files:
 *
 *   off  size  field
 *   0    4     partition
 *   4    8     hash64(key)
 *   12   2     key length (1..255)
 *   14   4     value length
 *   18   k     key
 *   18+k v     value
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

#define MR_HDR 18

struct mr_ctx {
	MPI_Comm comm;
	int rank, nranks;
	int own_mpi; /* we called MPI_Init */
	char scratch[4096];
	char host[256];
	char errmsg[512];
	int jobseq;
};

static inline uint32_t mr_rec_part(const uint8_t *r) { uint32_t v; memcpy(&v, r, 4); return v; }
static inline uint64_t mr_rec_hash(const uint8_t *r) { uint64_t v; memcpy(&v, r + 4, 8); return v; }
static inline uint16_t mr_rec_klen(const uint8_t *r) { uint16_t v; memcpy(&v, r + 12, 2); return v; }
static inline uint32_t mr_rec_vlen(const uint8_t *r) { uint32_t v; memcpy(&v, r + 14, 4); return v; }
static inline size_t mr_rec_size(const uint8_t *r) { return MR_HDR + mr_rec_klen(r) + (size_t)mr_rec_vlen(r); }

/* Sort key of a record: partition in the high 16 bits, then the hash. */
static inline uint64_t mr_rec_sk(const uint8_t *r)
{
	return (uint64_t)mr_rec_part(r) << 48 | mr_rec_hash(r) >> 16;
}

uint64_t mr_hash(const void *key, size_t len);
uint32_t mr_crc(uint32_t crc, const void *buf, size_t len);

/* Total order of records: (sk, hash, key, value). */
int mr_rec_cmp(const uint8_t *a, const uint8_t *b);

struct mr_idx {
	uint64_t sk;
	const uint8_t *rec;
};

/* Sort idx[0..n) by sk (LSD radix, stable). */
int mr_sort(struct mr_idx *idx, size_t n);
/* Then order runs of equal sk by mr_rec_cmp: idx is fully ordered. */
void mr_sort_fixup(struct mr_idx *idx, size_t n);
/*
 * Copy the records of idx[0..n) (sorted by sk, `bytes` in all) into *buf
 * (grown as needed) in that order, repoint idx at the copies, and fix up:
 * afterwards idx is fully ordered and the records are sequential in
 * memory. One pass, prefetching ahead. 0 or -ENOMEM.
 */
int mr_gather(struct mr_idx *idx, size_t n, size_t bytes, uint8_t **buf, size_t *cap);

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

void mr_set_err(struct mr_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
