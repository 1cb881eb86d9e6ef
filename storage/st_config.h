/*
 * st_config: the cluster configuration database, `config.db` in the cluster
 * directory (SQLite, WAL). It holds
 *
 *   nodes       id, state up/down
 *   disks       id, node, tier, capacity, path (relative to the cluster
 *               directory), state ok/failed, bytes used by egroup replicas
 *   containers  name and every policy of DESIGN.md §3
 *   vdisks      id, name, container, size, block size, live/deleted,
 *               read-only (snapshots), parent, the egroup open for appends
 *   id_counters per-node counter behind every 64-bit ID
 *   seq         the global write sequence
 *   inflight    foreground operations in flight (begin sequence, lease;
 *               pid for people)
 *   leases, lease_watch  holders and their heartbeats (st_lease.h)
 *   io_errors   bad or missing replicas met by reads
 *   egroup_reads reads per egroup since it last moved tier (promotion)
 *   vdisk_trims  punched block ranges per vdisk, for the daemon's selective scans
 *
 * The code: st_config.c (the handle, the schema, settings),
 * st_config_tables.c (nodes, disks, containers, vdisks),
 * st_config_seq.c (IDs, sequence, in-flight operations, read records),
 * sharing st_config_int.h.
 *
 * Order of calls: st_config_create() once (by `curator init`), then
 * st_config_open() in each process, the getters and setters, st_config_free().
 *
 * Thread rules: a handle is used by one thread at a time. Several processes
 * may open the same cluster: every write is one IMMEDIATE transaction.
 *
 * The sequence and in-flight operations implement the first half of the
 * scan safety rule (DESIGN.md §6): st_config_op_begin() takes the next
 * sequence number and registers the operation in the same transaction;
 * st_config_scan_seq() returns S0, which is never later than the begin
 * sequence of an operation still in flight. Every operation belongs to a
 * lease (st_lease.h); operations of dead leases are removed first, never
 * judged by pid, /proc or host.
 */
#ifndef ST_CONFIG_H
#define ST_CONFIG_H

#include <stdint.h>

#include "storage/st_util.h"

#define ST_NAME_MAX 64
#define ST_PATH_MAX 1024

enum st_tier { ST_TIER_SSD = 0, ST_TIER_HDD = 1, ST_TIER_CLOUD = 2, ST_NTIERS = 3 };
enum st_mode { ST_MODE_OFF = 0, ST_MODE_INLINE = 1, ST_MODE_POST = 2 };
enum st_codec { ST_CODEC_IGZIP = 0, ST_CODEC_ZLIB = 1 };
enum st_chunking { ST_CHUNK_FIXED = 0, ST_CHUNK_CDC = 1 };

/* "ssd" <-> ST_TIER_SSD. st_tier_parse returns -1 for an unknown name. */
const char *st_tier_name(enum st_tier t);
int st_tier_parse(const char *s);
const char *st_mode_name(enum st_mode m);

struct st_node {
	uint32_t id;
	int up;          /* 1 up, 0 down */
	int64_t changed; /* st_now() of the last state change */
};

struct st_disk {
	uint32_t id;
	uint32_t node;
	enum st_tier tier;
	uint64_t capacity;
	uint64_t used;          /* bytes of egroup replicas accounted here */
	int ok;                 /* 1 ok, 0 failed or removed */
	int removed;            /* 1 once `disk remove` finished */
	int draining;           /* `disk remove` asked: no new replicas, copies move off */
	int64_t changed;
	char path[ST_PATH_MAX]; /* absolute, resolved against the cluster dir */
};

struct st_container {
	uint32_t id;
	char name[ST_NAME_MAX];
	int rf;                 /* 1..3 */
	int rs_k, rs_m;         /* 0,0 = no erasure coding */
	int64_t ec_delay;       /* seconds cold before EC (default 7 d) */
	enum st_mode compress;
	int64_t compress_delay; /* post-process delay (default 60 min) */
	enum st_codec codec;
	enum st_mode dedup;
	enum st_chunking chunking;
	int ilm_high, ilm_low;  /* percent of a tier (default 75, 60) */
	int64_t cold_age;       /* seconds; 0 = never by age (default 30 d) */
	int ntiers;
	enum st_tier tiers[ST_NTIERS]; /* highest first */
};

enum st_vdisk_state { ST_VDISK_LIVE = 0, ST_VDISK_DELETED = 1 };

/* A vdisk's block size is a power of two in [ST_BLOCK_MIN, ST_BLOCK_MAX]. */
#define ST_BLOCK_MIN 4096u
#define ST_BLOCK_MAX (4u << 20)
/*
 * The most blocks a vdisk may have: a non-dedup extent id carries its home
 * block + 1 in 32 bits (st_meta.h), so 16 TiB at 4 KiB blocks, 4 PiB at 1 MiB.
 */
#define ST_VDISK_BLOCKS_MAX 0xfffffffeull

struct st_vdisk {
	uint64_t id;
	char name[ST_NAME_MAX * 2];
	uint32_t container;
	uint64_t size;
	uint32_t block_size;
	enum st_vdisk_state state;
	int readonly;           /* snapshots */
	uint64_t parent;        /* 0 = none */
	uint64_t open_egroup;   /* egroup taking appends, 0 = none */
	int64_t created;
};

struct st_config;

/*
 * Create config.db in dir (which must exist and hold no cluster yet) with
 * `shards` metadata shards recorded. shared = 1 makes it a cluster on
 * shared storage (rollback journal instead of WAL, st_sql.h); so does a
 * network file system under dir, or CURATOR_SHARED_FS=1 in the
 * environment (the test suites' shared-fs pass). Recorded as the file's
 * journal mode and the cluster setting 'journal' (wal | delete).
 * Returns 0, ST_EEXIST, -errno.
 */
int st_config_create(const char *dir, int shards, int shared, struct st_config **out, struct st_msg *err);

/* Open an existing cluster's config. ST_ENOTCLUSTER when dir holds none. */
int st_config_open(const char *dir, struct st_config **out, struct st_msg *err);

/* Close. NULL is a no-op. */
void st_config_free(struct st_config *cfg);

/* The cluster directory (absolute) and metadata shard count. */
const char *st_config_dir(const struct st_config *cfg);
int st_config_shards(const struct st_config *cfg);
/* 1 if the cluster runs in shared-storage mode (st_sql_cluster_shared when opened). */
int st_config_shared(const struct st_config *cfg);

/* --- nodes and disks --------------------------------------------------- */

/* Add node `id` (state up). ST_EEXIST if present. */
int st_config_node_add(struct st_config *cfg, uint32_t id, struct st_msg *err);

/* Set a node up (1) or down (0). ST_ENOTFOUND. */
int st_config_node_set(struct st_config *cfg, uint32_t id, int up, struct st_msg *err);

/*
 * All nodes / disks, ordered by id, in a malloc'd array the caller frees.
 * 0 or an error; *n is the count.
 */
int st_config_nodes(struct st_config *cfg, struct st_node **out, int *n, struct st_msg *err);
int st_config_disks(struct st_config *cfg, struct st_disk **out, int *n, struct st_msg *err);

/* One disk by id: 0 or ST_ENOTFOUND. */
int st_config_disk_get(struct st_config *cfg, uint32_t id, struct st_disk *out, struct st_msg *err);

/*
 * Add a disk on `node` and create its directory under disks/. *id receives
 * the new disk id. ST_ENOTFOUND for an unknown node.
 */
int st_config_disk_add(struct st_config *cfg, uint32_t node, enum st_tier tier,
		       uint64_t capacity, uint32_t *id, struct st_msg *err);

/* Mark a disk ok (1) or failed (0); `removed` = 1 marks it removed. */
int st_config_disk_set(struct st_config *cfg, uint32_t id, int ok, int removed, struct st_msg *err);

/* Start (1) or stop (0) draining a disk ahead of its removal. */
int st_config_disk_set_draining(struct st_config *cfg, uint32_t id, int draining, struct st_msg *err);

/*
 * Add delta[i] (may be negative; clamped at 0) to the used bytes of disk[i],
 * for i < n, in one transaction. 0 or an error.
 */
int st_config_disk_used_add(struct st_config *cfg, int n, const uint32_t *disk,
			    const int64_t *delta, struct st_msg *err);

/* --- containers --------------------------------------------------------- */

/* Fill c with the defaults of DESIGN.md §3 (RF 2, no EC, ...), name empty. */
void st_container_defaults(struct st_container *c);

/*
 * Check every policy of c; nodes is the cluster's node count (RF and k+m
 * must fit). 0 or ST_EINVAL / ST_EPOLICY with err naming the field.
 */
int st_container_validate(const struct st_container *c, int nodes, struct st_msg *err);

/* Validate and store c; c->id receives the new id. ST_EEXIST for a taken name. */
int st_config_container_create(struct st_config *cfg, struct st_container *c, struct st_msg *err);

/* Look up by name or id. 0 or ST_ENOTFOUND. */
int st_config_container_get(struct st_config *cfg, const char *name, struct st_container *out,
			    struct st_msg *err);
int st_config_container_by_id(struct st_config *cfg, uint32_t id, struct st_container *out,
			      struct st_msg *err);

/* All containers, malloc'd, caller frees. */
int st_config_containers(struct st_config *cfg, struct st_container **out, int *n, struct st_msg *err);

/* --- vdisks ------------------------------------------------------------- */

/*
 * Insert v (v->id must already be allocated). The name must not be taken by
 * a live vdisk: ST_EEXIST.
 */
int st_config_vdisk_insert(struct st_config *cfg, const struct st_vdisk *v, struct st_msg *err);

/* The live vdisk called name (ST_ENOTFOUND), or any vdisk by id. */
int st_config_vdisk_get(struct st_config *cfg, const char *name, struct st_vdisk *out, struct st_msg *err);
int st_config_vdisk_by_id(struct st_config *cfg, uint64_t id, struct st_vdisk *out, struct st_msg *err);

/* All vdisks (deleted ones too when all=1), malloc'd, caller frees. */
int st_config_vdisks(struct st_config *cfg, int all, struct st_vdisk **out, int *n, struct st_msg *err);

/* Mark a vdisk deleted (its metadata is the curator's to remove). */
int st_config_vdisk_delete(struct st_config *cfg, uint64_t id, struct st_msg *err);

/* Forget a deleted vdisk entirely (after the curator removed its block map). */
int st_config_vdisk_purge(struct st_config *cfg, uint64_t id, struct st_msg *err);

/* Remember the egroup a vdisk appends to (0 = none). */
int st_config_vdisk_set_open(struct st_config *cfg, uint64_t id, uint64_t egroup, struct st_msg *err);

/* --- IDs, sequence, in-flight operations -------------------------------- */

/*
 * Reserve `count` consecutive IDs on node: *first is (node << 48) | counter.
 * The counter is persisted before returning, so IDs are never reused.
 */
int st_config_ids_reserve(struct st_config *cfg, uint32_t node, uint64_t count, uint64_t *first,
			  struct st_msg *err);

/*
 * [out] n: how many IDs all nodes have reserved so far, an upper bound on
 * the egroups (and vdisks, extents) the cluster ever had: IDs are never
 * reused. 0 or an SQLite error.
 */
int st_config_ids_issued(struct st_config *cfg, uint64_t *n, struct st_msg *err);

/*
 * Begin a foreground (or curator) operation that adds references: take the
 * next global sequence number into *seq and register the operation (*op)
 * as in flight under lease (st_lease_id of the caller's lease), in one
 * transaction that also checks the lease is live: ST_ELEASE when it is
 * fenced or gone. Pair with st_config_op_end(). (st_store_op_begin takes
 * the store's lease for the caller.)
 */
int st_config_op_begin(struct st_config *cfg, int64_t lease, const char *what, uint64_t *seq, int64_t *op,
		       struct st_msg *err);

/* Unregister an operation. 0 or an error. */
int st_config_op_end(struct st_config *cfg, int64_t op, struct st_msg *err);

/*
 * S0 for a scan: remove operations of dead leases (those an observer has
 * fenced: st_store_leases_reap does that first), then return the
 * smaller of (current sequence + 1) and the oldest in-flight begin sequence.
 * Every extent reference added by an operation that is not in flight and
 * began before S0 is already visible in the metadata.
 */
int st_config_scan_seq(struct st_config *cfg, uint64_t *s0, struct st_msg *err);

/* Start time (st_now) of the oldest operation still in flight, INT64_MAX if none. */
int st_config_oldest_inflight(struct st_config *cfg, int64_t *started, struct st_msg *err);

/* The current sequence (last one handed out). */
int st_config_seq(struct st_config *cfg, uint64_t *seq, struct st_msg *err);

/* Record a bad or missing replica met by a read (kind: "checksum", "missing", ...). */
int st_config_io_error(struct st_config *cfg, uint64_t egroup, uint32_t disk, const char *kind,
		       struct st_msg *err);

/*
 * Read counts per egroup (table egroup_reads), for promotion: reads add
 * counts (one transaction for n egroups; last = now); the scan reads them;
 * a move to another tier clears its egroup's row.
 */
int st_config_reads_add(struct st_config *cfg, int n, const uint64_t *egroup, const uint32_t *reads, int64_t now,
			struct st_msg *err);
typedef int (*st_reads_cb)(void *arg, uint64_t egroup, uint32_t reads, int64_t last);
int st_config_reads(struct st_config *cfg, st_reads_cb cb, void *arg, struct st_msg *err);
/* Clear the rows of n egroups, in one transaction. */
int st_config_reads_clear(struct st_config *cfg, int n, const uint64_t *egroup, struct st_msg *err);

/*
 * Punched ranges (table vdisk_trims): a writer whose committed batch
 * trimmed or zeroed blocks lo..hi (block indexes) of a vdisk notes them
 * (merged with the vdisk's note not yet taken: the smallest lo, the
 * largest hi); the daemon takes up to max notes, oldest first, deleting
 * them in the same transaction, and answers with a selective scan of the
 * extents the vdisk owns whose home block is in the range. A note lost
 * (a failed take, a crash) leaves its garbage to the full scan.
 */
struct st_trim {
	uint64_t vdisk, lo, hi;
};
int st_config_trim_note(struct st_config *cfg, uint64_t vdisk, uint64_t lo, uint64_t hi, int64_t now, struct st_msg *err);
int st_config_trims_take(struct st_config *cfg, struct st_trim *out, int max, int *n, struct st_msg *err);

/* The cluster's uuid (made on first use, then fixed). 0 or an error. */
int st_config_uuid(struct st_config *cfg, char *buf, size_t len, struct st_msg *err);

/* Cluster settings (table cluster: key -> text). get: 0 or ST_ENOTFOUND; set NULL deletes. */
int st_config_setting_get(struct st_config *cfg, const char *key, char *buf, size_t len, struct st_msg *err);
int st_config_setting_set(struct st_config *cfg, const char *key, const char *value, struct st_msg *err);

/*
 * A tier's fill thresholds, in percent of the capacity of its disks that
 * are neither failed nor removed: at warn_pct or more the tier is nearly
 * full (health TIER_NEARFULL), at err_pct or more full (TIER_FULL). Stored
 * in config.db (table cluster, key "tier_fill.<tier>", value "WARN,ERR",
 * one row so both change in one transaction); a tier never set has the
 * defaults. The cloud tier has no capacity to fill: ST_EINVAL for it.
 *
 * get: 0 (*warn_pct, *err_pct filled, the defaults when unset), ST_EINVAL,
 * or a database error. A stored value that does not parse is ST_ECORRUPT.
 * set: 1 <= warn_pct < err_pct <= 100, else ST_EINVAL (err says which);
 * 0 or a database error. Local, any process (one IMMEDIATE transaction).
 */
#define ST_TIER_WARN_PCT 85
#define ST_TIER_ERR_PCT 95
int st_config_tier_fill(struct st_config *cfg, enum st_tier t, int *warn_pct, int *err_pct, struct st_msg *err);
int st_config_tier_fill_set(struct st_config *cfg, enum st_tier t, int warn_pct, int err_pct, struct st_msg *err);

#endif
