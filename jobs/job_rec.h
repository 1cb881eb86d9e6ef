/*
 * job_rec: the records a scan's stages pass to each other and the task
 * arguments it hands to the executors, each declared once, as an offset
 * table and the named constants below. Nothing else in jobs/ spells a
 * record's length or a field's offset.
 *
 * Where they flow (job_scan.h has the jobs, job_scan_int.h the files):
 *
 *   readers ---> MR1 map --(key extent id)--> MR1 reduce (per extent)
 *                                                  | refs, row      (untagged, key egroup)
 *   readers ---> MR2 map <-------------------------+
 *     G C F P       X Y   --(key egroup id)--> MR2 reduce (per egroup)
 *                                                  | D E T U W H    (key-tagged)
 *   partial map ------------------------------> MR3 / partial reduce (per key)
 *   selective readers -> selective map --(key egroup id)--> selective reduce
 *                                                  |
 *                              tasks (curator.db) -+--> executors (job_tasks.c, ...)
 *
 * Encoding. Every number is copied with memcpy in host byte order: records
 * live in one job's scratch files and in curator.db on the hosts of one
 * cluster, never across architectures (NEEDSWORK: fix an order if mixed
 * clusters ever arrive; the on-disk formats of storage/ are little-endian).
 * A field's size is its type's: u8 1, u32/i32 4, u64/i64 8, extent id
 * ST_EXTENT_ID_LEN (24), SHA-1 JR_SHA1_LEN (20). Lengths are exact: a
 * reader compares a record's length with the constant before it trusts an
 * offset, except where a comment says what it does instead.
 *
 * Tags. The values of MR1 and MR2 start with a one-byte tag
 * (enum job_rec_tag) saying which record they are, since one reduce sees
 * records of several inputs under one key. MR3's records are told apart
 * by their keys' first byte instead (enum job_rec_key), and MR3's 'H'
 * values carry a tag again. The two enums are separate namespaces: 'E' is
 * an extent's egroup in MR1 and an EC candidate's key in MR3.
 *
 * The in-memory inputs (struct st_block, struct st_egroup_rec from the
 * metadata readers) are passed by reference to the map functions and are
 * not records; their keys are.
 *
 * The helpers are static inline and copy with constant sizes: they compile
 * to the memcpy's they replace (no call on a per-record path). They do not
 * check lengths; callers do, against the constants.
 */
#ifndef JOB_REC_H
#define JOB_REC_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/st_meta.h"

#define JR_SHA1_LEN 20

/* The first byte of an MR1 or MR2 value, and of MR3's 'H' values. */
enum job_rec_tag {
	JR_REF = 'R',         /* MR1: a block row references the extent */
	JR_REF_ROW = 'B',     /* MR1: the same, naming the row (dedup containers) */
	JR_EGROUP_OF = 'E',   /* MR1: the extent's egroup, from the extent ID map */
	JR_EXTENT_REFS = 'X', /* MR2: an extent of this egroup and its true refcount (MR1) */
	JR_EXTENT_ROW = 'Y',  /* MR2: an extent of this egroup and one row referencing it (MR1) */
	JR_EGROUP_ROW = 'G',  /* MR2: what the reduce needs of the egroup row */
	JR_CORRUPT_ROW = 'C', /* MR2: the egroup row exists but fails its checksum */
	JR_FILE = 'F',        /* MR2: a replica file on a disk, or the egroup's cloud object */
	JR_FPS = 'P',         /* MR2: the egroup's chunk fingerprint row */
	JR_DEDUP_HOME = 'S',  /* MR3 'H': a dedup extent already holds the chunk */
	JR_CHUNK_COPY = 'O',  /* MR3 'H': a plain extent holds a copy of the chunk */
};

/* The first byte of an MR3 (and partial reduce) key. */
enum job_rec_key {
	JR_KEY_USAGE = 'D', /* per disk: bytes and egroups on it */
	JR_KEY_EC = 'E',    /* per container: EC candidates */
	JR_KEY_TIER = 'T',  /* per tier above its high watermark: egroups that may move down */
	JR_KEY_DISK = 'W',  /* per disk far above its tier's mean: replicas that may move off */
	JR_KEY_PROMOTE = 'U', /* per destination tier: egroups read often on the tier below */
	JR_KEY_CHUNK = 'H', /* per (container, chunk fingerprint): its homes and copies */
	JR_KEY_WHOLE = 'K', /* per (container, extent checksum, length): unfingerprinted copies */
};

/* --- Block row reference (inside several records) ------------------------
 *
 *   off  size  field
 *   0    8     vdisk id
 *   8    8     block index
 *
 * Also the block map reader's key.
 */
#define JR_BLOCK_VDISK 0
#define JR_BLOCK_INDEX 8
#define JR_BLOCK_LEN 16

static inline void jr_block_put(uint8_t *p, uint64_t vdisk, uint64_t block)
{
	memcpy(p + JR_BLOCK_VDISK, &vdisk, 8);
	memcpy(p + JR_BLOCK_INDEX, &block, 8);
}

static inline void jr_block_get(const uint8_t *p, uint64_t *vdisk, uint64_t *block)
{
	memcpy(vdisk, p + JR_BLOCK_VDISK, 8);
	memcpy(block, p + JR_BLOCK_INDEX, 8);
}

/* --- MR1 map values (key: extent id) -------------------------------------
 *
 * One 'R' (or 'B') per block row and extent it references, whatever the
 * number of its regions naming the extent. After the tag (and the row),
 * the byte ranges of the extent the row shows, n = (len - header) / 8 of
 * them (not sorted, maybe overlapping: MR1's reduce coalesces them). None
 * (the bare header) means the whole extent: a region covering a whole
 * block from the extent's first byte (a non-dedup extent never holds more
 * than its block), any dedup extent (referenced from anywhere: never cut),
 * or a row of more than JR_RANGES_MAX such regions. So the common record
 * of a sequentially written vdisk stays 1 byte.
 *
 *   'R'  off  size  field
 *        0    1     tag
 *        1    8*n   ranges (below)
 *
 *   'B'  0    1     tag
 *        1    16    block row reference (as above)
 *        17   8*n   ranges (below)
 *
 *   'E'  0    1     tag
 *        1    8     egroup id (the extent ID map reader's value, u64)
 *
 * Range: off u32 (in the extent's raw bytes) at +0, len u32 at +4.
 */
#define JR_R_LEN 1
#define JR_R_RANGES 1
#define JR_B_BLOCK 1
#define JR_B_LEN (1 + JR_BLOCK_LEN) /* 17 */
#define JR_B_RANGES JR_B_LEN
#define JR_E_EGROUP 1
#define JR_E_LEN 9
#define JR_RANGE_OFF 0
#define JR_RANGE_LEN 4
#define JR_RANGE_SIZE 8
/*
 * Ranges kept per extent: an extent whose referenced bytes (coalesced over
 * every row) fall into more pieces counts as wholly referenced (its
 * shadowed bytes are not worth the bookkeeping; data is kept). The
 * compaction executor cuts an extent only under the same bound.
 */
#define JR_RANGES_MAX 256

static inline void jr_range_put(uint8_t *p, uint32_t off, uint32_t len)
{
	memcpy(p + JR_RANGE_OFF, &off, 4);
	memcpy(p + JR_RANGE_LEN, &len, 4);
}

static inline void jr_range_get(const uint8_t *p, uint32_t *off, uint32_t *len)
{
	memcpy(off, p + JR_RANGE_OFF, 4);
	memcpy(len, p + JR_RANGE_LEN, 4);
}

/*
 * A byte range [off, end) of an extent's raw bytes, in memory (not a
 * record): MR1's reduce and the compaction executor coalesce the ranges
 * block rows show with this one rule.
 */
struct jr_range {
	uint32_t off, end;
};

static inline int jr_range_cmp(const void *a, const void *b)
{
	const struct jr_range *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off ? 1 : (x->end > y->end) - (x->end < y->end);
}

/*
 * Sort r[0..n) and merge ranges that overlap or touch, in place (empty
 * ones dropped). Returns how many remain; *bytes (may be NULL) their total.
 */
static inline size_t jr_ranges_coalesce(struct jr_range *r, size_t n, uint64_t *bytes)
{
	size_t w = 0;
	uint64_t total = 0;

	if (n > 1)
		qsort(r, n, sizeof(*r), jr_range_cmp);
	for (size_t i = 0; i < n; i++) {
		if (r[i].end <= r[i].off)
			continue;
		if (w && r[i].off <= r[w - 1].end) {
			if (r[i].end > r[w - 1].end)
				r[w - 1].end = r[i].end;
			continue;
		}
		r[w++] = r[i];
	}
	for (size_t i = 0; i < w; i++)
		total += r[i].end - r[i].off;
	if (bytes)
		*bytes = total;
	return w;
}

/* --- MR1 output (key: egroup id), untagged -------------------------------
 *
 *   refs  off  size  field             one per extent that has an egroup
 *         0    24    extent id
 *         24   4     true refcount (block rows referencing it)
 *         28   4     referenced bytes: the coalesced ranges' total, or
 *                    JR_REFS_WHOLE (the whole extent, or too fragmented
 *                    to say: MR2 then counts it wholly live)
 *
 *   row   0    24    extent id         one per 'B' of the extent
 *         24   16    block row reference
 *
 * MR2's map tells them apart by length and tags them 'X' and 'Y'.
 */
#define JR_REFS_EXTENT 0
#define JR_REFS_COUNT ST_EXTENT_ID_LEN /* 24 */
#define JR_REFS_BYTES (ST_EXTENT_ID_LEN + 4) /* 28 */
#define JR_REFS_LEN (ST_EXTENT_ID_LEN + 8) /* 32 */
#define JR_REFS_WHOLE UINT32_MAX
#define JR_ROW_EXTENT 0
#define JR_ROW_BLOCK ST_EXTENT_ID_LEN /* 24 */
#define JR_ROW_LEN (ST_EXTENT_ID_LEN + JR_BLOCK_LEN) /* 40 */

/* --- MR2 map values (key: egroup id) -------------------------------------
 *
 *   'X'  0    1     tag
 *        1    32    refs (as above): extent id at 1, true refcount at 25,
 *                   referenced bytes at 29
 *
 *   'Y'  0    1     tag
 *        1    40    row (as above): extent id at 1, block row reference at 25
 *
 *   'C'  0    1     tag (a corrupt egroup row: only its existence is known)
 *
 *   'F'  0    1     tag
 *        1    20    file (below)
 *
 *   'P'  0    1     tag
 *        1    ...   the fingerprint row as stored (st_meta.h, st_meta_fp_decode),
 *                   absent (length 1) when the row fails its checksum
 */
#define JR_X_EXTENT (1 + JR_REFS_EXTENT)
#define JR_X_COUNT (1 + JR_REFS_COUNT) /* 25 */
#define JR_X_BYTES (1 + JR_REFS_BYTES) /* 29 */
#define JR_X_LEN (1 + JR_REFS_LEN)     /* 33 */
#define JR_Y_EXTENT (1 + JR_ROW_EXTENT)
#define JR_Y_BLOCK (1 + JR_ROW_BLOCK) /* 25 */
#define JR_Y_LEN (1 + JR_ROW_LEN)     /* 41 */
#define JR_C_LEN 1
#define JR_P_ROW 1
#define JR_P_BAD_LEN 1 /* a 'P' without a row */

/*
 * File: a replica file, or (disk ST_CLOUD_DISK) the egroup's cloud object.
 * The file and cloud readers' value; 'F' is the tag and this.
 *
 *   off  size  field
 *   0    4     disk id
 *   4    8     mtime (unix seconds)
 *   12   8     size in bytes
 */
#define JR_FILE_DISK 0
#define JR_FILE_MTIME 4
#define JR_FILE_SIZE 12
#define JR_FILE_LEN 20
#define JR_F_FILE 1
#define JR_F_LEN (1 + JR_FILE_LEN) /* 21 */

static inline void jr_file_put(uint8_t *p, uint32_t disk, int64_t mtime, uint64_t size)
{
	memcpy(p + JR_FILE_DISK, &disk, 4);
	memcpy(p + JR_FILE_MTIME, &mtime, 8);
	memcpy(p + JR_FILE_SIZE, &size, 8);
}

static inline void jr_file_get(const uint8_t *p, uint32_t *disk, int64_t *mtime, uint64_t *size)
{
	memcpy(disk, p + JR_FILE_DISK, 4);
	memcpy(mtime, p + JR_FILE_MTIME, 8);
	memcpy(size, p + JR_FILE_SIZE, 8);
}

/*
 * 'G': only what MR2's reduce needs of an egroup row (the executors re-read
 * the row anyway), about half the size of the row's blob. Fields of
 * struct st_egroup_rec not carried decode as zero.
 *
 *   off      size  field
 *   0        1     tag
 *   1        8     version
 *   9        8     last_ref_seq
 *   17       4     container id
 *   21       4     flags (enum st_egroup_flags)
 *   25       4     used
 *   29       1     tier
 *   30       8     last scrub
 *   38       8     created
 *   46       8     last write
 *   54       8     last access
 *   62       8     EC strip id
 *   70       4     EC strip position
 *   74       1     nreplicas R (<= ST_REPLICAS_MAX)
 *   75       5*R   replicas: disk id u32 (+0), state u8 (+4)
 *   75+5R    4     nextents E
 *   79+5R    40*E  extents: id[24] (+0), refcount u32 (+24), stored len u32 (+28),
 *                  raw len u32 (+32), flags u32 (+36)
 *   end            (the record ends exactly here)
 */
#define JR_G_VERSION 1
#define JR_G_LAST_REF_SEQ 9
#define JR_G_CONTAINER 17
#define JR_G_FLAGS 21
#define JR_G_USED 25
#define JR_G_TIER 29
#define JR_G_LAST_SCRUB 30
#define JR_G_CREATED 38
#define JR_G_LAST_WRITE 46
#define JR_G_LAST_ACCESS 54
#define JR_G_STRIP 62
#define JR_G_STRIP_POS 70
#define JR_G_NREPLICAS 74
#define JR_G_HDR 75 /* the replicas start here */
#define JR_G_REP_DISK 0
#define JR_G_REP_STATE 4
#define JR_G_REP_LEN 5
#define JR_G_NEXTENTS_LEN 4
#define JR_G_EXT_ID 0
#define JR_G_EXT_REFCOUNT 24
#define JR_G_EXT_STORED_LEN 28
#define JR_G_EXT_RAW_LEN 32
#define JR_G_EXT_FLAGS 36
#define JR_G_EXT_LEN 40
#define JR_G_MIN_LEN (JR_G_HDR + JR_G_NEXTENTS_LEN) /* no replica, no extent */

/* The length of a 'G' record of nreplicas replicas and nextents extents. */
static inline size_t jr_g_len(int nreplicas, int nextents)
{
	return JR_G_HDR + (size_t)nreplicas * JR_G_REP_LEN + JR_G_NEXTENTS_LEN + (size_t)nextents * JR_G_EXT_LEN;
}

/* --- MR2 output, MR3 and partial reduce input (key-tagged) ---------------
 *
 * Usage: a disk holds `bytes` of `egroups` egroups (one per replica, summed
 * by MR3's combine).
 *
 *   key    off  size  field        value  off  size  field
 *          0    1     'D'                 0    8     bytes
 *          1    4     disk id             8    8     egroups
 */
#define JR_UKEY_DISK 1
#define JR_UKEY_LEN 5
#define JR_USAGE_BYTES 0
#define JR_USAGE_EGROUPS 8
#define JR_USAGE_LEN 16

/*
 * EC candidate: a cold, fully replicated egroup of a container with --rs,
 * and the nodes of its healthy copies.
 *
 *   key    0    1     'E'          value  0    8     egroup id
 *          1    4     container id        8    8     version
 *                                         16   1     n: node count (<= ST_REPLICAS_MAX)
 *                                         17   4*n   node ids, u32
 */
#define JR_ECKEY_CONTAINER 1
#define JR_ECKEY_LEN 5
#define JR_EC_EGROUP 0
#define JR_EC_VERSION 8
#define JR_EC_NNODES 16
#define JR_EC_NODES 17
#define JR_EC_NODE_LEN 4
#define JR_EC_LEN(n) (JR_EC_NODES + JR_EC_NODE_LEN * (size_t)(n))
#define JR_EC_MAX_LEN JR_EC_LEN(ST_REPLICAS_MAX)

/*
 * Move candidate: an egroup that may move down a tier ('T', its tier above
 * the high watermark) or one replica of it that may move off a disk ('W').
 * MR3 takes the coldest first until the tier or disk is at its target.
 *
 *   key 'T' 0   1     'T'          value  0    8     coldness (unix seconds, i64)
 *           1   1     tier                8    8     egroup id
 *   key 'W' 0   1     'W'                 16   8     version
 *           1   4     disk id             24   8     bytes to move
 *                                         32   1     destination tier ('T' only)
 */
#define JR_TKEY_TIER 1
#define JR_TKEY_LEN 2
#define JR_WKEY_DISK 1
#define JR_WKEY_LEN 5
#define JR_MOVE_COLD 0
#define JR_MOVE_EGROUP 8
#define JR_MOVE_VERSION 16
#define JR_MOVE_BYTES 24
#define JR_MOVE_LEN 32      /* a 'W' value */
#define JR_MOVE_DEST 32
#define JR_MOVE_DEST_LEN 33 /* a 'T' value */

/*
 * Promotion candidate: an egroup read PROMOTE_READS times within the
 * promotion window on the tier below `tier`. MR3 takes them hottest first
 * (most reads, then the latest read, then the lowest egroup id) while the
 * tier stays at or under its high watermark: one decision per tier, on
 * whichever rank reduces the key, so the same whatever the rank count.
 *
 *   key 'U' 0   1     'U'          value  0    8     last read (unix seconds, i64)
 *           1   1     tier (dest)         8    8     egroup id
 *                                         16   8     version
 *                                         24   8     bytes to write (used x the container's RF)
 *                                         32   4     reads (u32)
 */
#define JR_PKEY_TIER 1
#define JR_PKEY_LEN 2
#define JR_PROMOTE_LAST_READ JR_MOVE_COLD
#define JR_PROMOTE_READS 32
#define JR_PROMOTE_LEN 36

static inline void jr_move_put(uint8_t *p, int64_t cold, uint64_t egroup, uint64_t version, uint64_t bytes)
{
	memcpy(p + JR_MOVE_COLD, &cold, 8);
	memcpy(p + JR_MOVE_EGROUP, &egroup, 8);
	memcpy(p + JR_MOVE_VERSION, &version, 8);
	memcpy(p + JR_MOVE_BYTES, &bytes, 8);
}

static inline void jr_move_get(const uint8_t *p, int64_t *cold, uint64_t *egroup, uint64_t *version, uint64_t *bytes)
{
	memcpy(cold, p + JR_MOVE_COLD, 8);
	memcpy(egroup, p + JR_MOVE_EGROUP, 8);
	memcpy(version, p + JR_MOVE_VERSION, 8);
	memcpy(bytes, p + JR_MOVE_BYTES, 8);
}

/*
 * Chunk: where one chunk of a dedup container is stored (dedup stays
 * within a container). 'S' and 'O' share their first 37 bytes.
 *
 *   key    0    1     'H'
 *          1    4     container id
 *          5    20    SHA-1 of the chunk
 *          25   4     chunk length
 *
 *   'S'    0    1     tag (a dedup extent: the chunk's existing home)
 *          1    4     container id
 *          5    8     egroup id
 *          13   24    extent id
 *
 *   'O'    0    1     tag (a copy inside a plain extent)
 *          1    4     container id
 *          5    8     egroup id
 *          13   24    extent id
 *          37   4     offset of the chunk in the extent
 *          41   4     n: block rows referencing the extent
 *          45   16*n  block row references
 */
/*
 * Whole extent: an extent of a dedup container that has no fingerprints
 * yet and is stored as written (its crc32c covers its raw bytes), keyed by
 * that checksum, so that identical extents are found in the scan that
 * first sees them, before any fingerprint task ran (issue 19: data
 * reduction in two cycles). The value is an 'O' record with offset 0. A
 * checksum match is only a candidate: the dedup task cuts the extents into
 * chunks, checks each chunk's SHA-1 and compares every copy byte for byte.
 *
 *   key    0    1     'K'
 *          1    4     container id
 *          5    4     crc32c of the extent's raw bytes
 *          9    4     raw length
 */
#define JR_KKEY_CONTAINER 1
#define JR_KKEY_CRC 5
#define JR_KKEY_BYTES 9
#define JR_KKEY_LEN 13

#define JR_HKEY_CONTAINER 1
#define JR_HKEY_SHA1 5
#define JR_HKEY_BYTES 25 /* the chunk's length */
#define JR_HKEY_LEN 29
#define JR_S_CONTAINER 1
#define JR_S_EGROUP 5
#define JR_S_EXTENT 13
#define JR_S_LEN 37
#define JR_O_CONTAINER 1
#define JR_O_EGROUP 5
#define JR_O_EXTENT 13
#define JR_O_OFF 37
#define JR_O_NROWS 41
#define JR_O_ROWS 45
#define JR_O_LEN(n) (JR_O_ROWS + JR_BLOCK_LEN * (size_t)(n))

/* --- Task arguments (tasks.arg in curator.db; decoded by the executors) --
 *
 * Extent pairs: refcount_up and refcount_down (the extents whose recorded
 * refcount is set to the value: the true refcount); extent_delete and
 * egroup_compact (the dead extents and their recorded refcounts);
 * extent_id_delete (the orphan extent-ID rows; value 0). egroup_delete has
 * no argument (every extent of its egroup is dead). Only the refcount
 * executors read the value; `curator explain` finds a task by an extent id
 * in its argument, or an egroup_delete by the extent's egroup.
 * An argument holds n = arglen / JR_PAIR_LEN pairs.
 *
 *   off      size  field
 *   28*i     24    extent id
 *   28*i+24  4     u32
 */
#define JR_PAIR_EXTENT 0
#define JR_PAIR_VALUE ST_EXTENT_ID_LEN /* 24 */
#define JR_PAIR_LEN (ST_EXTENT_ID_LEN + 4) /* 28 */

static inline void jr_pair_put(uint8_t *arg, size_t i, const struct st_extent_id *id, uint32_t v)
{
	memcpy(arg + i * JR_PAIR_LEN + JR_PAIR_EXTENT, id->b, ST_EXTENT_ID_LEN);
	memcpy(arg + i * JR_PAIR_LEN + JR_PAIR_VALUE, &v, 4);
}

static inline void jr_pair_get(const uint8_t *arg, size_t i, struct st_extent_id *id, uint32_t *v)
{
	memcpy(id->b, arg + i * JR_PAIR_LEN + JR_PAIR_EXTENT, ST_EXTENT_ID_LEN);
	memcpy(v, arg + i * JR_PAIR_LEN + JR_PAIR_VALUE, 4);
}

/*
 * file_sweep: the disks (u32 each, ST_CLOUD_DISK for the cloud object)
 * whose file of the target egroup no metadata references.
 * strip_rollback: the parity egroup ids (u64 each) of the target strip.
 * disk_balance: the disk (u32) the replica moves off.
 */
#define JR_SWEEP_DISK_LEN 4
#define JR_ROLLBACK_EGROUP_LEN 8
#define JR_BALANCE_DISK 0
#define JR_BALANCE_LEN 4

/*
 * tier_up, tier_down:
 *
 *   off  size  field
 *   0    1     destination tier (enum st_tier)
 *   1    1     why (enum job_rec_tier_why)
 */
#define JR_TIER_DEST 0
#define JR_TIER_WHY 1
#define JR_TIER_LEN 2

enum job_rec_tier_why {
	JR_WHY_HOT = 'h',       /* tier_up: read often lately */
	JR_WHY_COLD = 'c',      /* tier_down: older than the cold age */
	JR_WHY_WATERMARK = 'w', /* tier_down: its tier is above the high watermark */
};

/*
 * ec_encode: the k data members of the new strip, in strip order (the
 * first 16 bytes of their EC candidate values).
 *
 *   off      size  field
 *   16*i     8     egroup id
 *   16*i+8   8     version
 */
#define JR_ENCODE_EGROUP 0
#define JR_ENCODE_VERSION 8
#define JR_ENCODE_MEMBER_LEN 16

/*
 * dedup: extents of one container whose every chunk gets a dedup home.
 *
 *   off  size  field
 *   0    4     container id
 *   4    ...   per extent:
 *                +0   24    extent id
 *                +24  8     egroup id
 *                +32  4     n: block rows referencing it
 *                +36  16*n  block row references
 */
#define JR_DEDUP_CONTAINER 0
#define JR_DEDUP_HDR 4
#define JR_DEDUP_EXTENT 0
#define JR_DEDUP_EGROUP 24
#define JR_DEDUP_NROWS 32
#define JR_DEDUP_ROWS 36
#define JR_DEDUP_LEN(n) (JR_DEDUP_ROWS + JR_BLOCK_LEN * (size_t)(n))

/*
 * Dedup candidate: one extent of a dedup group as MR3's reduce found it,
 * gathered from every rank on rank 0 after the job (job_mr3_flush_dedup),
 * which sorts them and packs them into dedup task arguments.
 *
 *   off  size  field
 *   0    4     container id
 *   4    8     bytes: the lengths of the extent's shared chunks this rank saw
 *                (rank 0 sums them over the ranks: the task's estimate)
 *   12   ...   the extent's group as in the dedup argument (above)
 */
#define JR_DDC_CONTAINER 0
#define JR_DDC_BYTES 4
#define JR_DDC_GROUP 12
#define JR_DDC_LEN(n) (JR_DDC_GROUP + JR_DEDUP_LEN(n))

/* --- Selective scan map values (key: egroup id u64) -----------------------
 *
 * The selective scan (job_select.c) reaches an egroup from a deleted
 * vdisk's block row (through the extent-ID row of an extent it names) or
 * from an extent-ID row of an extent the deleted vdisk owns, or -- a disk
 * or node failure -- from the replica index (st_meta_egroups_on_disk). The
 * reduce re-reads the egroup row itself; the value only says how it was
 * reached.
 *
 *   off  size  field
 *   0    1     'b' (from a block row), 'o' (an extent it owns) or 'r' (a
 *              replica on a failed disk)
 */
#define JR_SEL_FROM_DISK 'r' /* a replica on a failed disk or a down node's (the replica index) */
#define JR_SEL_FROM_BLOCK 'b'
#define JR_SEL_FROM_OWNER 'o'
#define JR_SEL_LEN 1
#define JR_SEL_KEY_LEN 8

/*
 * A queued task on its way from a rank to rank 0, which queues every
 * rank's tasks in one sorted run (job_scan_out.c): the fixed part, then
 * arglen bytes of argument. Records are packed back to back, unaligned.
 *
 *   off  size  field
 *   0    4     kind (enum job_task_kind)
 *   4    4     priority (0: the kind's)
 *   8    8     target
 *   16   8     version
 *   24   8     bytes
 *   32   4     node
 *   36   4     arglen
 *   40   ...   the argument
 */
#define JR_QT_KIND 0
#define JR_QT_PRIORITY 4
#define JR_QT_TARGET 8
#define JR_QT_VERSION 16
#define JR_QT_BYTES 24
#define JR_QT_NODE 32
#define JR_QT_ARGLEN 36
#define JR_QT_LEN 40

/*
 * The layouts are fixed: records pass between the jobs of a scan, task
 * arguments stay in curator.db across upgrades and are decoded by the
 * executors. These pin every table above to the bytes it has always had.
 */
_Static_assert(JR_B_LEN == 17 && JR_E_LEN == 9 && JR_BLOCK_LEN == 16, "MR1 values");
_Static_assert(JR_RANGE_SIZE == 8 && JR_B_RANGES == 17, "MR1 ranges");
_Static_assert(JR_REFS_LEN == 32 && JR_ROW_LEN == 40, "MR1 output (one scan's scratch only)");
_Static_assert(JR_X_LEN == 33 && JR_Y_LEN == 41 && JR_F_LEN == 21 && JR_FILE_LEN == 20, "MR2 values");
_Static_assert(JR_G_LAST_REF_SEQ == JR_G_VERSION + 8 && JR_G_CONTAINER == JR_G_LAST_REF_SEQ + 8 &&
		       JR_G_FLAGS == JR_G_CONTAINER + 4 && JR_G_USED == JR_G_FLAGS + 4 && JR_G_TIER == JR_G_USED + 4 &&
		       JR_G_LAST_SCRUB == JR_G_TIER + 1 && JR_G_CREATED == JR_G_LAST_SCRUB + 8 &&
		       JR_G_LAST_WRITE == JR_G_CREATED + 8 && JR_G_LAST_ACCESS == JR_G_LAST_WRITE + 8 &&
		       JR_G_STRIP == JR_G_LAST_ACCESS + 8 && JR_G_STRIP_POS == JR_G_STRIP + 8 &&
		       JR_G_NREPLICAS == JR_G_STRIP_POS + 4 && JR_G_HDR == JR_G_NREPLICAS + 1 && JR_G_HDR == 75,
	       "'G' header");
_Static_assert(JR_G_REP_LEN == 5 && JR_G_EXT_REFCOUNT == ST_EXTENT_ID_LEN && JR_G_EXT_LEN == JR_G_EXT_FLAGS + 4 &&
		       JR_G_EXT_LEN == 40,
	       "'G' replicas and extents");
_Static_assert(JR_UKEY_LEN == 5 && JR_USAGE_LEN == 16 && JR_ECKEY_LEN == 5 && JR_EC_NODES == 17, "usage, EC");
_Static_assert(JR_TKEY_LEN == 2 && JR_WKEY_LEN == 5 && JR_MOVE_LEN == 32 && JR_MOVE_DEST_LEN == 33, "moves");
_Static_assert(JR_PKEY_LEN == 2 && JR_PROMOTE_READS == JR_MOVE_LEN && JR_PROMOTE_LEN == 36, "promotions");
_Static_assert(JR_KKEY_LEN == 13 && JR_KKEY_BYTES + 4 == JR_KKEY_LEN, "whole extents");
_Static_assert(JR_HKEY_LEN == 29 && JR_S_LEN == 37 && JR_O_OFF == JR_S_LEN && JR_O_ROWS == 45, "chunks");
_Static_assert(JR_PAIR_LEN == 28 && JR_TIER_LEN == 2 && JR_ENCODE_MEMBER_LEN == 16 && JR_DEDUP_HDR == 4 &&
		       JR_DEDUP_ROWS == 36,
	       "task arguments");
_Static_assert(JR_SEL_LEN == 1 && JR_SEL_KEY_LEN == 8, "selective scan");
_Static_assert(JR_QT_ARGLEN + 4 == JR_QT_LEN && JR_QT_NODE == JR_QT_BYTES + 8 && JR_QT_LEN == 40, "queued tasks");
_Static_assert(JR_EC_EGROUP == JR_ENCODE_EGROUP && JR_EC_VERSION == JR_ENCODE_VERSION,
	       "an EC candidate's value starts as its ec_encode member");

#endif
