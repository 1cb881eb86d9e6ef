/*
 * st_lease: liveness by leases, never by PIDs (DESIGN.md §4a).
 *
 * Processes of one cluster run on several hosts that share the cluster
 * directory, so no process may judge another by its pid, its host's /proc,
 * a local lock or a host name. Every process that commits (a vdisk writer,
 * a curator rank, the daemon's master, the holder of the scan lock) holds a
 * lease: a row of config.db's table `leases`
 *
 *   id       INTEGER PRIMARY KEY AUTOINCREMENT   (never reused)
 *   kind     writer | rank | master | scan       (what holds it)
 *   what     free text ("vdisk write db", "scan full"), for people
 *   host, boot, pid                              for people only: never
 *                                                used to judge liveness
 *   ttl_ms   the holder's TTL (observers use it, so both sides agree)
 *   beat     the heartbeat: a counter the holder bumps every TTL/6
 *   state    0 live, 1 fencing (an observer is writing fences), 2 dead
 *   started  wall clock (st_now) at acquisition, for people
 *
 * HOLDER. st_lease_acquire() inserts the row and starts a thread that
 * renews it (beat = beat + 1 WHERE state = 0) every TTL/6 on a connection
 * of its own. The holder measures its lease on its own CLOCK_MONOTONIC:
 * once TTL/2 has passed since the start of its last successful renewal, or
 * a renewal finds the row no longer live, the lease is lost for good: the
 * thread stops renewing and st_lease_check() fails with ST_ELEASE ("lease
 * lost") from then on. A holder calls st_lease_check() before each commit
 * and commits nothing once it fails (it fences itself). A SIGSTOPped
 * process stops its thread too, so it comes back with a lost lease.
 *
 * OBSERVER. st_lease_observe() lists the leases with, for each, how long
 * its beat has stood still as seen by this host's monotonic clock. An
 * observation is kept in config.db's table `lease_watch` (lease, clock,
 * beat, mono_ms), keyed by the observer's clock domain (the kernel's boot
 * id and the time namespace), so one-shot processes on one host (`scan
 * full` run twice) share what they saw, and no clock is ever compared
 * across hosts or boots: a value is "silent for T" only when an observer
 * of the same clock saw that same beat T ago. A lease silent for its TTL is
 * expired.
 *
 * FENCING. Before anyone acts on a holder's death, the observer
 *   1. st_lease_fence_begin(): state 0 -> 1 by compare-and-set on the beat
 *      it saw (a beat in between wins: the holder is alive), after which
 *      the holder can neither renew nor begin an in-flight operation;
 *   2. writes a fence for the lease into every other database the holder
 *      could commit to (st_meta_fence(): one transaction per shard), where
 *      every commit of a holder checks, inside its own transaction, that
 *      it is not fenced (st_meta_set_holder());
 *   3. st_lease_fence_end(): state 1 -> 2. Only a dead lease's in-flight
 *      operations leave S0 (st_config_scan_seq).
 * An observer that dies between 1 and 3 leaves state 1; the next observer
 * redoes 2 and 3 (st_store_leases_reap() in st_store.h does all three).
 *
 * TTL: CURATOR_LEASE_TTL ("30s", "2m", or "1500ms"), else
 * ST_LEASE_TTL_MS. Tests set a few seconds.
 *
 * Errors: 0 or a negative code of st_util.h / st_sql.h; ST_ELEASE for a
 * lost lease (err "lease N (what): lease lost: ..."). Thread rules: a
 * struct st_lease may be checked from any thread (st_lease_check is
 * thread-safe); the observer functions use the st_config handle and follow
 * its rules (one thread at a time). Nothing here is MPI-collective.
 */
#ifndef ST_LEASE_H
#define ST_LEASE_H

#include <stddef.h>
#include <stdint.h>

#include "storage/st_config.h"
#include "storage/st_util.h"

#define ST_LEASE_TTL_MS 30000

enum st_lease_kind { ST_LEASE_WRITER = 0, ST_LEASE_RANK = 1, ST_LEASE_MASTER = 2, ST_LEASE_SCAN = 3 };
enum st_lease_state { ST_LEASE_LIVE = 0, ST_LEASE_FENCING = 1, ST_LEASE_DEAD = 2 };

/* "writer", "rank", "master", "scan"; "?" for anything else. */
const char *st_lease_kind_name(enum st_lease_kind k);

/* The TTL new leases get: CURATOR_LEASE_TTL when set and valid (>= 200 ms), else ST_LEASE_TTL_MS. */
int64_t st_lease_ttl_ms(void);

/* Milliseconds of this host's CLOCK_MONOTONIC. Thread-safe. */
int64_t st_lease_mono_ms(void);

/* --- the holder's side ---------------------------------------------------- */

struct st_lease;

/*
 * Take a new lease of kind for what (copied; may be NULL) in cfg's
 * config.db and start its renewal thread (its own connection to config.db,
 * opened as cfg's). [out] out: the lease, the caller's to st_lease_release.
 * 0, -ENOMEM, or an SQLite error (err filled). The first beat is the
 * insert itself.
 */
int st_lease_acquire(struct st_config *cfg, enum st_lease_kind kind, const char *what, struct st_lease **out,
		     struct st_msg *err);

/*
 * The name a lease's fences carry in the metadata shards (st_meta_fence,
 * st_meta_set_holder): "lease:<id>", into buf (ST_LEASE_HOLDER_MAX bytes
 * are enough); returns buf.
 */
#define ST_LEASE_HOLDER_MAX 32
char *st_lease_holder_name(int64_t id, char *buf, size_t len);

/* The lease's id (> 0) and TTL in ms. */
int64_t st_lease_id(const struct st_lease *l);
int64_t st_lease_ttl(const struct st_lease *l);

/*
 * 0 while the lease is held: renewed within TTL/2 of this process's
 * monotonic clock and not found fenced. ST_ELEASE otherwise, for good
 * (err "lease N (kind what): lease lost: <why>"). Thread-safe.
 */
int st_lease_check(struct st_lease *l, struct st_msg *err);

/*
 * Stop renewing, delete the row if it is still live (a fenced or dead row
 * stays for the observer), free. NULL is a no-op.
 */
void st_lease_release(struct st_lease *l);

/* --- the observer's side -------------------------------------------------- */

struct st_lease_info {
	int64_t id;
	enum st_lease_kind kind;
	char what[128];
	char host[128];   /* display only */
	int64_t pid;      /* display only */
	int64_t ttl_ms;
	int64_t beat;
	enum st_lease_state state;
	int64_t started;  /* wall clock, display only */
	int64_t silent_ms; /* how long this host's observers have seen beat unchanged */
	int expired;      /* live and silent_ms >= ttl_ms */
};

/*
 * Every lease in config.db, ordered by id, with what this clock domain saw
 * of it, and record this observation (one IMMEDIATE transaction; watches of
 * leases that are gone are dropped). [out] out: malloc'd, the caller frees;
 * *n its length. 0 or an SQLite error.
 */
int st_lease_observe(struct st_config *cfg, struct st_lease_info **out, int *n, struct st_msg *err);

/*
 * Fencing step 1: mark lease id fencing if it is still live at beat (the
 * value observed). 0 done (or it was already fencing: redo the fences),
 * ST_ESTALE when its beat moved (alive) or it is gone, or an SQLite error.
 */
int st_lease_fence_begin(struct st_config *cfg, int64_t id, int64_t beat, struct st_msg *err);

/* Fencing step 3: fencing -> dead. 0 or an SQLite error. */
int st_lease_fence_end(struct st_config *cfg, int64_t id, struct st_msg *err);

/*
 * Is lease id live in config.db right now (a row in state 0)? *live 1/0.
 * For commits that check inside their own transaction, use the SQL of
 * ST_LEASE_LIVE_SQL instead. 0 or an SQLite error.
 */
int st_lease_is_live(struct st_config *cfg, int64_t id, int *live, struct st_msg *err);
/* Is lease id still held (live, or fencing: not yet dead)? *held 1/0. 0 or an SQLite error. */
int st_lease_is_held(struct st_config *cfg, int64_t id, int *held, struct st_msg *err);

/*
 * Locks held by leases (table lease_locks(name PRIMARY KEY, lease)): the
 * scan lock ("scan"), a vdisk's write lock ("vdisk-<id>"). A lock whose
 * lease is dead or gone is free: only a lease whose fences are all in
 * loses its locks, so a stopped holder that comes back finds itself fenced
 * before anyone else commits under its lock.
 * st_lease_lock: take name for lease in one transaction. *got 1 if taken
 * (or already held by this lease: *got 2); else 0 and *holder the lease
 * that holds it (live or fencing). 0 or an SQLite error.
 * st_lease_unlock: release it if lease holds it. 0 or an SQLite error.
 */
int st_lease_lock(struct st_config *cfg, int64_t lease, const char *name, int *got, int64_t *holder,
		  struct st_msg *err);
int st_lease_unlock(struct st_config *cfg, int64_t lease, const char *name, struct st_msg *err);

/* The condition "lease ?N is live", for a statement on config.db (bind the id as parameter N). */
#define ST_LEASE_LIVE_SQL(N) "EXISTS (SELECT 1 FROM leases WHERE id = ?" #N " AND state = 0)"

#endif
