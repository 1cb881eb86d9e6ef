/*
 * st_meta: the three metadata maps, hash-partitioned over S SQLite shards
 * (`meta-<n>.db` in the cluster directory, WAL, synchronous=FULL).
 *
 *   vdisk block map    (vdisk id, block index) -> regions of extents
 *   extent ID map      extent id (24 bytes)    -> egroup id
 *   egroup ID map      egroup id               -> version, last_ref_seq, record
 *
 * Order of calls: st_meta_open(); gets and puts, optionally grouped per
 * shard with st_meta_begin()/st_meta_commit(); st_meta_free().
 *
 * Writers follow DESIGN.md §4: egroup rows first, then extent-ID rows, then
 * block rows (bottom-up), each a committed transaction before the next
 * starts, so a crash leaves at worst an unreachable extent. Readers go
 * top-down. An egroup row is only ever replaced by compare-and-set on its
 * version (st_meta_egroup_put); ST_ESTALE means another process won.
 *
 * Thread rules: one thread per handle; several processes per cluster. The
 * codecs (st_extent_id_*, st_egroup_rec_*, st_block_*, st_meta_strip_decode,
 * st_meta_fp_decode)
 * are pure functions and thread-safe for distinct buffers.
 *
 * The code: st_meta.c (the shards and every statement on them),
 * st_meta_codec.c (the row formats below), sharing st_meta_int.h.
 *
 * Format 2 (ST_META_FORMAT): every checksum covers the row's key too, so a
 * row moved to another key (or a key edited) fails its check like a flipped
 * bit; and every decoder checks the row's invariants (lengths inside the
 * block and the egroup, known flags and states, ids of the right form)
 * after its checksum, so a row with a valid checksum but impossible content
 * is ST_ECORRUPT as well. A corrupt row is reported, never acted on.
 *
 * --- Extent ids (24 bytes, compared as bytes) ---------------------------
 *
 *   non-dedup   off 0  size 8   owner vdisk id (big-endian, never 0)
 *               off 8  size 8   unique id (big-endian)
 *               off 16 size 4   home block + 1 (big-endian, never 0): the
 *                               block of the owner whose write made it; a
 *                               non-dedup extent is referenced only from
 *                               this block of its owner and of vdisks
 *                               copied from it (snapshots, clones)
 *               off 20 size 4   zero
 *   dedup       off 0  size 20  SHA-1 of the raw bytes
 *               off 20 size 4   raw length (big-endian, never 0)
 *
 *   Bytes 20..23 are zero exactly for non-dedup ids.
 *
 * --- Egroup record blob, format 2 (little-endian) ------------------------
 *
 *   off  size  field
 *   0    4     magic "EGR1"
 *   4    2     format (2)
 *   6    1     nreplicas (<= ST_REPLICAS_MAX)
 *   7    1     tier
 *   8    4     flags (enum st_egroup_flags; unknown bits: corrupt)
 *   12   4     container id
 *   16   8     owner vdisk id
 *   24   8     created        (unix seconds)
 *   32   8     last write
 *   40   8     last access
 *   48   8     last scrub
 *   56   4     used: bytes of the egroup file in use
 *   60   4     nextents
 *   64   8     EC strip id (0 = none)
 *   72   4     EC strip position
 *   76   4     reserved (0)
 *   80   8*R   replicas: disk id u32 (distinct, not 0), state u8, 3 reserved
 *   ..   72*E  extents:  id[24], offset u32, stored len u32, raw len u32,
 *                        refcount u32, crc32c u32, flags u32,
 *                        fingerprint[20] (SHA-1, valid if flagged), 4 reserved
 *   end  4     crc32c of: egroup id u64, last_ref_seq u64 (the row's key and
 *              its column), then everything before
 *
 *   Each extent: 0 < raw len <= ST_BLOCK_MAX; stored len == raw len unless
 *   compressed, then 0 < stored len < raw len; offset >= ST_EGROUP_HDR and
 *   offset + ST_EXTENT_HDR + stored len <= used; a dedup id's length is the
 *   raw len.
 *
 * --- Block regions blob, format 2 (little-endian) ------------------------
 *
 *   off  size  field
 *   0    2     magic "BR"
 *   2    2     nregions
 *   4    40*N  block offset u32, length u32, extent id[24], extent offset u32,
 *              reserved u32
 *   end  4     crc32c of: vdisk u64, block u64 (the row's key), then
 *              everything before
 *
 *   Regions are sorted by block offset, disjoint, non-empty, inside
 *   ST_BLOCK_MAX; a non-dedup extent's home block is the row's block.
 *
 * --- Extent ID row (table extents) -----------------------------------------
 *
 *   id BLOB (24 bytes), egroup INTEGER, crc INTEGER: crc32c of id, egroup u64.
 *
 * --- Strip row (table strips) -----------------------------------------------
 *
 *   id, k, m, len, members BLOB (8*(k+m), little-endian egroup ids), crc
 *   INTEGER: crc32c of id u64, k u32, m u32, len u64, then members.
 */
#ifndef ST_META_H
#define ST_META_H

#include <stdint.h>

#include "storage/st_config.h"
#include "storage/st_util.h"

#define ST_EXTENT_ID_LEN 24
#define ST_REPLICAS_MAX 8
#define ST_REGIONS_MAX 256

struct st_extent_id {
	uint8_t b[ST_EXTENT_ID_LEN];
};

/* A non-dedup id for the extent `unique` written into block `block` of vdisk. */
void st_extent_id_make(struct st_extent_id *id, uint64_t vdisk, uint64_t unique, uint64_t block);
void st_extent_id_dedup(struct st_extent_id *id, const uint8_t sha1[20], uint32_t len);
int st_extent_id_is_dedup(const struct st_extent_id *id);
uint64_t st_extent_id_vdisk(const struct st_extent_id *id); /* 0 for dedup ids */
/* The home block of a non-dedup id: 0, or -1 for a dedup id or one without a home. */
int st_extent_id_home(const struct st_extent_id *id, uint64_t *block);
/* Is id of one of the two forms above (owner and home not 0; a dedup length <= ST_BLOCK_MAX)? 1 or 0. */
int st_extent_id_valid(const struct st_extent_id *id);

/* "<vdisk hex>-<unique hex>/<home block>" or "sha1:<40 hex>:<len>"; buf >= 64 bytes. */
char *st_extent_id_fmt(const struct st_extent_id *id, char *buf, size_t len);
/* The inverse of st_extent_id_fmt. 0 or ST_EINVAL. */
int st_extent_id_parse(const char *s, struct st_extent_id *id);

enum st_replica_state { ST_REPLICA_OK = 0, ST_REPLICA_BAD = 1 };

struct st_replica {
	uint32_t disk;
	uint8_t state;
};

enum st_extent_flags {
	ST_EXTENT_COMPRESSED = (1 << 0), /* stored bytes are a deflate stream */
	ST_EXTENT_FP = (1 << 1),         /* fingerprint is valid */
	ST_EXTENT_ZLIB = (1 << 2),       /* compressed with the zlib codec */
};

struct st_extent_rec {
	struct st_extent_id id;
	uint32_t offset;     /* of the extent's record header in the file */
	uint32_t stored_len; /* bytes stored (after compression) */
	uint32_t raw_len;    /* bytes the extent holds */
	uint32_t refcount;   /* recorded refcount */
	uint32_t crc;        /* crc32c of the stored bytes */
	uint32_t flags;
	uint8_t fp[20];
};

enum st_egroup_flags {
	ST_EGROUP_COMPRESSED = (1 << 0),
	ST_EGROUP_EC = (1 << 1),
	ST_EGROUP_CLOUD = (1 << 2),
	ST_EGROUP_MOVING = (1 << 3), /* a compaction is moving its extents out:
					no appends, no refcount increments */
	ST_EGROUP_PARITY = (1 << 4), /* a parity member of an EC strip (no extents) */
};

/* An erasure-coded strip: k data egroups then m parity egroups (st_ec.h). */
struct st_strip {
	uint64_t id;
	int k, m;
	uint64_t len;                 /* fragment length */
	uint64_t members[20];         /* k data egroup ids, then m parity egroup ids */
};


struct st_egroup_rec {
	uint64_t id;
	uint64_t version;      /* bumped by every put */
	uint64_t last_ref_seq; /* sequence of the last refcount increment */
	uint32_t container;
	uint64_t owner;        /* the only vdisk that writes it */
	enum st_tier tier;
	uint32_t flags;
	int64_t created, last_write, last_access, last_scrub;
	uint32_t used;
	uint64_t strip;
	uint32_t strip_pos;
	int nreplicas;
	struct st_replica replicas[ST_REPLICAS_MAX];
	int nextents, cap;
	struct st_extent_rec *extents; /* owned; st_egroup_rec_release frees */
};

/* Zero a record (no extents). */
void st_egroup_rec_init(struct st_egroup_rec *r);
/* Free the extents array and zero. */
void st_egroup_rec_release(struct st_egroup_rec *r);
/* Append an extent (copied). 0 or -ENOMEM. */
int st_egroup_rec_add(struct st_egroup_rec *r, const struct st_extent_rec *e);
/* Index of extent id in r, or -1. */
int st_egroup_rec_find(const struct st_egroup_rec *r, const struct st_extent_id *id);
/* Deep copy src into dst (dst must be initialised or released). */
int st_egroup_rec_copy(struct st_egroup_rec *dst, const struct st_egroup_rec *src);

/*
 * Encode r into a malloc'd blob (*len bytes); the checksum covers r->id and
 * r->last_ref_seq. 0, ST_EINVAL (a record that breaks the invariants above:
 * the writer's bug, never stored), -ENOMEM.
 */
int st_egroup_rec_encode(const struct st_egroup_rec *r, uint8_t **blob, size_t *len);
/*
 * Decode the blob of row (id, last_ref_seq) into r (initialised; its old
 * extents are released): magic, format, lengths, the checksum with the key,
 * then every invariant. 0, ST_ECORRUPT, -ENOMEM. Sets r->id and
 * r->last_ref_seq; r->version is the caller's (a column of the row).
 */
int st_egroup_rec_decode(uint64_t id, uint64_t last_ref_seq, const uint8_t *blob, size_t len,
			 struct st_egroup_rec *r);

struct st_region {
	uint32_t block_off;
	uint32_t len;
	struct st_extent_id extent;
	uint32_t extent_off;
};

struct st_block {
	uint64_t vdisk;
	uint64_t block;
	int n;
	struct st_region r[ST_REGIONS_MAX]; /* sorted by block_off, disjoint */
};

/* Encode b (its key b->vdisk, b->block is in the checksum): 0 or ST_EINVAL (too small a buf, bad regions). */
int st_block_encode(const struct st_block *b, uint8_t *buf, size_t cap, size_t *len);
/* Decode the blob of row (vdisk, block) into b, checked as above: 0 or ST_ECORRUPT. */
int st_block_decode(uint64_t vdisk, uint64_t block, const uint8_t *buf, size_t len, struct st_block *b);

/*
 * Replace [off, off+len) of b with a region of `extent` starting at
 * extent_off (copy-on-write overlay). ST_ERANGE when the result would exceed
 * ST_REGIONS_MAX regions (the caller rewrites the whole block instead).
 */
int st_block_overlay(struct st_block *b, uint32_t off, uint32_t len, const struct st_extent_id *extent,
		     uint32_t extent_off);

/*
 * Remove [off, off+len) from b: what was mapped there reads as zeros
 * (trim, write zeroes); regions straddling an edge keep their outer part.
 * b->n may become 0 (the caller deletes the row). ST_ERANGE when the
 * result would exceed ST_REGIONS_MAX regions (a hole in the middle of one
 * region splits it in two).
 */
int st_block_punch(struct st_block *b, uint32_t off, uint32_t len);

struct st_meta;

/*
 * The format of the shards (their schema and every row blob), recorded in
 * each shard's `shard` row. Format 2 covers every row's key by its checksum.
 * Format 3 (rows unchanged) adds the egroups' times as indexed columns and
 * the change log (st_meta_changes_*); st_meta_open upgrades a format-2
 * shard in place, in one transaction per shard. Format 4 (rows unchanged)
 * adds the replica index (st_meta_egroups_on_disk); a format-3 shard is
 * brought to it in place the same way.
 */
#define ST_META_FORMAT 4

/*
 * Open the S shards meta-0..S-1.db of the cluster in dir.
 * create = 1 (curator init only): make them; any that exists: ST_EEXIST.
 * create = 0: each must be a whole shard of this cluster: a missing file
 * is ST_ENOTCLUSTER; an empty, truncated or foreign file, one whose
 * `shard` row names another index, count, cluster (uuid; NULL: not
 * checked) or format is ST_ECORRUPT, with the reason in err. Nothing is
 * ever created on an existing cluster, except the `fences` table of a
 * shard made before leases (issue 21), created on first open.
 * create may carry ST_SQL_SHARED (st_sql.h) besides 1 (ST_SQL_CREATE): the
 * cluster is on shared storage (st_config_shared).
 */
int st_meta_open(const char *dir, int shards, int create, const char *cluster, struct st_meta **out,
		 struct st_msg *err);
void st_meta_free(struct st_meta *m);
int st_meta_nshards(const struct st_meta *m);

/* Which shard holds a key. */
int st_meta_shard_egroup(const struct st_meta *m, uint64_t egroup);
int st_meta_shard_extent(const struct st_meta *m, const struct st_extent_id *id);
int st_meta_shard_block(const struct st_meta *m, uint64_t vdisk, uint64_t block);

/* Strips live in the egroup map's shards (by strip id), table `strips`. */
int st_meta_strip_put(struct st_meta *m, const struct st_strip *s, struct st_msg *err);
int st_meta_strip_get(struct st_meta *m, uint64_t id, struct st_strip *out, struct st_msg *err);

/*
 * Decode a `strips` row as SQLite hands its columns over (k, m, len, the
 * members blob and the crc column; layout above). [out] out: zeroed, then
 * id, k, m and len set, the members once the row's shape is valid;
 * [out] why: "" or " (checksum)", what failed, for the message.
 * 0, or ST_ECORRUPT (k or m below 1, k + m above 20, a blob of another
 * length, or a crc that does not match). Thread-safe.
 */
int st_meta_strip_decode(uint64_t id, int k, int m, uint64_t len, const void *members, size_t mlen, uint32_t crc,
			 struct st_strip *out, const char **why);

/*
 * Member i of strip sp into g (initialised by the caller, released by it):
 * 1 when that egroup exists and still names the strip (EC flag, strip id),
 * else 0.
 */
int st_meta_strip_member(struct st_meta *m, const struct st_strip *sp, int i, struct st_egroup_rec *g);
int st_meta_strip_delete(struct st_meta *m, uint64_t id, struct st_msg *err);

/*
 * Chunk fingerprints for dedup (table `fingerprints`, in the egroup's
 * shard, one row per egroup): the SHA-1 of each chunk [off, off+len) of the
 * egroup's extents. Extents never change, so a chunk's fingerprint never
 * goes stale; entries of extents the egroup no longer holds are ignored by
 * readers and dropped by the next put.
 *
 * Row blob (little-endian):
 *
 *   off  size  field
 *   0    4     magic "FPR1"
 *   4    4     count N
 *   8    52*N  extent id[24], off u32, len u32, sha1[20]   (ST_FP_ENTRY)
 *   end  4     crc32c of: egroup id u64 (the row's key), then everything before
 *
 * put replaces the row; get: 0, ST_ENOTFOUND, ST_ECORRUPT; *out is
 * malloc'd (caller frees). scan: rows in egroup order, corrupt ones passed
 * with rc_row = ST_ECORRUPT and n = 0.
 */
struct st_chunk_fp {
	struct st_extent_id extent;
	uint32_t off, len;
	uint8_t sha1[20];
};

#define ST_FP_ENTRY 52

int st_meta_fp_put(struct st_meta *m, uint64_t egroup, const struct st_chunk_fp *v, size_t n, struct st_msg *err);
int st_meta_fp_get(struct st_meta *m, uint64_t egroup, struct st_chunk_fp **out, size_t *n, struct st_msg *err);
int st_meta_fp_delete(struct st_meta *m, uint64_t egroup, struct st_msg *err);
/* Decode a row blob into a malloc'd array: 0, ST_ECORRUPT, -ENOMEM. */
int st_meta_fp_decode(uint64_t egroup, const uint8_t *blob, size_t len, struct st_chunk_fp **out, size_t *n);
typedef int (*st_fp_cb)(void *arg, int rc_row, uint64_t egroup, const uint8_t *blob, size_t len);
/* Raw rows (checked: rc_row ST_ECORRUPT when the blob fails its checksum). */
int st_meta_scan_fps(struct st_meta *m, int shard, st_fp_cb cb, void *arg, struct st_msg *err);

/*
 * Group the following writes to one shard in an IMMEDIATE transaction.
 * st_meta_commit fails with ST_ELEASE ("lease lost"), rolling back, when
 * the handle has a holder (st_meta_set_holder) that is fenced in the
 * shard: the check runs inside the transaction, under the shard's write
 * lock, so a fence committed before it is always seen.
 */
int st_meta_begin(struct st_meta *m, int shard, struct st_msg *err);
int st_meta_commit(struct st_meta *m, int shard, struct st_msg *err);

/*
 * Fences (DESIGN.md §4a, st_lease.h, st_owner.h). Each shard has a table
 * fences(holder TEXT PRIMARY KEY, at INTEGER): the holders declared dead
 * (a lease, by st_lease_holder_name) or whose vdisk was taken over (a
 * controller's holder name). Before anyone acts on a holder's death it
 * writes the holder's fence into every shard (st_meta_fence: one
 * transaction each; 0 or the first shard's error, the fences before it
 * stay: fences are only ever added).
 * st_meta_set_holder(m, holder) makes every commit of this handle check,
 * inside its transaction, that holder is not fenced in that shard:
 * st_meta_commit, and st_meta_egroup_put / st_meta_egroup_delete outside
 * a transaction (they then run in one of their own). "" or NULL = no
 * holder (the default: reads, fsck, tests). Copied, at most 127 bytes.
 * st_meta_fenced(m, shard, holder): the same check for another holder
 * name, inside the caller's transaction on shard (a controller's block
 * rows). 0, ST_ELEASE (= ST_EFENCED), or an SQLite error.
 */
void st_meta_set_holder(struct st_meta *m, const char *holder);

/*
 * A value that changes whenever any connection, of this process or
 * another, committed to any shard since the last call on this handle (the
 * sum of the shards' PRAGMA data_version): a cache of rows read through m
 * is current while it stays the same. 0 or an SQLite error.
 */
int st_meta_data_version(struct st_meta *m, uint64_t *v, struct st_msg *err);
int st_meta_fence(struct st_meta *m, const char *holder, struct st_msg *err);
int st_meta_fenced(struct st_meta *m, int shard, const char *holder, struct st_msg *err);
void st_meta_rollback(struct st_meta *m, int shard);

/*
 * Write a batch of items, one transaction per shard: for each shard in
 * turn, put(arg, i, &errs[i]) is called for every item i (in index order)
 * with rcs[i] == 0 and shard_of(arg, i) == that shard (shard_of returns -1
 * for items to leave out); its return goes to rcs[i]. If the transaction
 * cannot begin or commit, every item of the shard still at 0 gets the
 * error in rcs[i] and errs[i] (-EIO for a failed commit), and undo(arg, i)
 * if undo is given. Items that fail in put are the caller's to undo.
 */
void st_meta_per_shard(struct st_meta *m, int n, int *rcs, struct st_msg *errs, int (*shard_of)(void *arg, int i),
		       int (*put)(void *arg, int i, struct st_msg *err), void (*undo)(void *arg, int i), void *arg);

/*
 * Egroup map. get: 0, ST_ENOTFOUND, ST_ECORRUPT (row fails its checksum).
 * out must be initialised; its previous extents are released.
 *
 * put is a compare-and-set: expect_version 0 means "the row must not
 * exist", otherwise the row's version must equal it. On success r->version
 * becomes expect_version + 1. ST_ESTALE when the row changed.
 * delete: the same compare-and-set on version.
 */
int st_meta_egroup_get(struct st_meta *m, uint64_t id, struct st_egroup_rec *out, struct st_msg *err);
int st_meta_egroup_put(struct st_meta *m, struct st_egroup_rec *r, uint64_t expect_version,
		       struct st_msg *err);
int st_meta_egroup_delete(struct st_meta *m, uint64_t id, uint64_t expect_version, struct st_msg *err);

/* Extent ID map. get: 0 or ST_ENOTFOUND. put inserts or replaces. */
int st_meta_extent_get(struct st_meta *m, const struct st_extent_id *id, uint64_t *egroup,
		       struct st_msg *err);
int st_meta_extent_put(struct st_meta *m, const struct st_extent_id *id, uint64_t egroup, struct st_msg *err);
/*
 * Insert only if absent: 0, or ST_EEXIST with *existing = the egroup the
 * row names (content-addressed dedup extents: the first writer wins).
 */
int st_meta_extent_insert(struct st_meta *m, const struct st_extent_id *id, uint64_t egroup, uint64_t *existing,
			  struct st_msg *err);
/* Delete only if it still maps to egroup (CAS). 0 even when absent. */
int st_meta_extent_delete(struct st_meta *m, const struct st_extent_id *id, uint64_t egroup,
			  struct st_msg *err);

/*
 * Repoint an extent-ID row from egroup `from` to `to` only if it still
 * names `from` (compare-and-set). 0 (also when it no longer does: *moved
 * tells which), or an error.
 */
int st_meta_extent_cas(struct st_meta *m, const struct st_extent_id *id, uint64_t from, uint64_t to, int *moved,
		       struct st_msg *err);

/* Delete every block row of a vdisk in every shard. *rows receives the count. */
int st_meta_vdisk_blocks_delete(struct st_meta *m, uint64_t vdisk, uint64_t *rows, struct st_msg *err);

/* Block map. get: 0 or ST_ENOTFOUND (reads as zeros) or ST_ECORRUPT. */
int st_meta_block_get(struct st_meta *m, uint64_t vdisk, uint64_t block, struct st_block *out,
		      struct st_msg *err);
int st_meta_block_put(struct st_meta *m, const struct st_block *b, struct st_msg *err);
int st_meta_block_delete(struct st_meta *m, uint64_t vdisk, uint64_t block, struct st_msg *err);

/*
 * Iterate one shard's rows in key order. The callback returns 0 to go on,
 * non-zero to stop (that value is returned). Corrupt rows are passed with
 * rc_row = ST_ECORRUPT and a zeroed/partial record, so scans can report
 * them instead of crashing. Records are valid during the callback only.
 */
typedef int (*st_egroup_cb)(void *arg, int rc_row, uint64_t id, const struct st_egroup_rec *r);
/* rc_row: 0, or ST_ECORRUPT for an extent-ID row that is not an id or fails its checksum. */
typedef int (*st_extent_cb)(void *arg, int rc_row, const struct st_extent_id *id, uint64_t egroup);
typedef int (*st_block_cb)(void *arg, int rc_row, const struct st_block *b);

int st_meta_scan_egroups(struct st_meta *m, int shard, st_egroup_cb cb, void *arg, struct st_msg *err);
int st_meta_scan_extents(struct st_meta *m, int shard, st_extent_cb cb, void *arg, struct st_msg *err);
int st_meta_scan_blocks(struct st_meta *m, int shard, st_block_cb cb, void *arg, struct st_msg *err);

/* Block rows of one vdisk with first <= block <= last, shard by shard. */
int st_meta_blocks_range(struct st_meta *m, uint64_t vdisk, uint64_t first, uint64_t last, st_block_cb cb, void *arg,
			 struct st_msg *err);

/* Extent-ID rows with lo <= id <= hi (byte order), shard by shard. */
int st_meta_extents_range(struct st_meta *m, const struct st_extent_id *lo, const struct st_extent_id *hi,
			  st_extent_cb cb, void *arg, struct st_msg *err);

/* Every block row of one vdisk, shard by shard (not in global block order). */
int st_meta_vdisk_blocks(struct st_meta *m, uint64_t vdisk, st_block_cb cb, void *arg, struct st_msg *err);

/*
 * The change log (format 3): per shard, every egroup inserted, updated or
 * deleted since a scan last took the log in, written by triggers in the
 * same transaction as the change; and the egroups' times as indexed
 * columns. A partial scan reads only these (job_partial.c):
 *
 * st_meta_scan_egroups_changed: the rows of shard `shard` that are in the
 * log or whose time column w[i].col lies in (w[i].after, w[i].upto] for
 * some i (nw windows, at most 16), each once, by id, as
 * st_meta_scan_egroups passes them (a deleted egroup in the log has no row
 * and is not passed). 0, cb's non-zero return, ST_EINVAL, or an error.
 *
 * st_meta_changes_state: *upto the log's sequence now (a change after
 * this has a higher one), *marked whether a scan took the log in yet and
 * *at the policy time it did.
 *
 * st_meta_changes_mark (a scan that took in every row of the log up to
 * `upto` and decided at policy time `at` with start sequence s0): the
 * log's entries up to `upto` are dropped, except those of egroups whose
 * last_ref_seq >= s0 (the safety rule kept them from this scan's
 * decisions: the next one must see them again), and (upto, at) recorded.
 * One transaction. 0 or an error.
 */
enum st_time_col { ST_TIME_WRITE, ST_TIME_COLD, ST_TIME_SCRUB, ST_TIME_CREATED, ST_TIME_NCOLS };

struct st_time_window {
	enum st_time_col col; /* last write; max(last write, last access); last scrub; created */
	int64_t after, upto;
};

int st_meta_scan_egroups_changed(struct st_meta *m, int shard, const struct st_time_window *w, int nw,
				 st_egroup_cb cb, void *arg, struct st_msg *err);
int st_meta_changes_state(struct st_meta *m, int shard, int64_t *upto, int64_t *at, int *marked, struct st_msg *err);
int st_meta_changes_mark(struct st_meta *m, int shard, int64_t upto, uint64_t s0, int64_t at, struct st_msg *err);

/*
 * The replica index (format 4): the egroups of shard `shard` whose row
 * names a replica on disk `disk`, by id, each passed to cb (stop on its
 * non-zero return, which is returned). Maintained in the transaction of
 * every egroup row write and delete, so it costs what changed; it only
 * finds rows: re-read each egroup and decide from its row (an entry can
 * outlive a row corrupted behind the curator's back). 0, cb's return,
 * ST_EINVAL (shard), or a storage error.
 */
int st_meta_egroups_on_disk(struct st_meta *m, int shard, uint32_t disk, int (*cb)(void *arg, uint64_t egroup),
			    void *arg, struct st_msg *err);

/*
 * The same one shard at a time (a selective scan's splits): the block rows
 * of one vdisk in shard `shard` (the primary key (vdisk, block) is the
 * index), and the extent-ID rows of that shard with lo <= id <= hi (the
 * primary key; a non-dedup id starts with its owner vdisk, big-endian, so
 * one owner's extents are one range). Corrupt rows are passed with rc_row
 * ST_ECORRUPT as above. 0, cb's non-zero return, or a storage error.
 */
int st_meta_vdisk_blocks_shard(struct st_meta *m, int shard, uint64_t vdisk, st_block_cb cb, void *arg,
			       struct st_msg *err);
int st_meta_extents_range_shard(struct st_meta *m, int shard, const struct st_extent_id *lo,
				const struct st_extent_id *hi, st_extent_cb cb, void *arg, struct st_msg *err);

#endif
