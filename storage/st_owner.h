/*
 * st_owner: vdisk ownership with leases, in config.db (DESIGN.md §4a, §9).
 * A vdisk is written through one storage controller at a time, its owner:
 * one row per vdisk (holder, epoch, heartbeat) and a list of backups (the
 * controllers that asked for it and wait).
 *
 * NEEDSWORK: the multi-host leases (storage/st_lease, another branch) were
 * not on main when this was written; this is the minimal owner lease the
 * controllers need, with the same rules, to be folded into st_lease:
 *   - the owner renews (st_owner_renew: beat + 1) every ttl/6; it fences
 *     itself (commits nothing more) once its last good renewal is ttl/2 old
 *     on its own monotonic clock, and as soon as a renewal finds the row
 *     taken (ST_EFENCED);
 *   - an observer declares the owner dead only after the beat it saw has not
 *     moved for the ttl on the observer's own monotonic clock (no clocks
 *     compared across hosts); it then fences the holder in every metadata
 *     shard (st_meta_fence) and only then takes the row by compare-and-set
 *     on (holder, epoch, beat) as it saw them (st_owner_takeover): among
 *     volunteers the first CAS wins, the others stay backups;
 *   - a controller that wants a live owner's vdisk asks it to relinquish
 *     (st_owner_ask); the owner sees the request at its next renewal,
 *     commits its log and releases (st_owner_release), and the asker
 *     acquires (st_owner_acquire).
 * Holder names are unique per controller process ("n<node>-<pid>-<random>"),
 * at most 127 bytes. The tables are made on first use.
 *
 * Errors: 0, ST_EBUSY (acquire: another holder owns it; cur says who),
 * ST_EFENCED (renew: the row is no longer this holder's), ST_ESTALE
 * (takeover: the row moved since it was seen), ST_ENOTFOUND (get: no
 * owner), or the SQLite error.
 * Thread rules: those of st_config (one thread per handle).
 */
#ifndef ST_OWNER_H
#define ST_OWNER_H

#include <stdint.h>

#include "storage/st_config.h"

#define ST_HOLDER_MAX 128

struct st_owner {
	uint64_t vdisk;
	char holder[ST_HOLDER_MAX]; /* "" when nobody owns it */
	uint32_t node;
	int64_t epoch;   /* +1 at every change of owner */
	int64_t beat;    /* +1 at every renewal */
	int64_t ttl_ms;  /* the owner's lease TTL */
	int64_t since;   /* st_now() when it became owner (for people) */
	int64_t beat_at; /* st_now() of the last renewal (for people; observers never compare it) */
	char relinquish[ST_HOLDER_MAX]; /* who asked it to let go, "" none */
};

/* The owner row of vdisk into *out: 0, or ST_ENOTFOUND when nobody owns it. */
int st_owner_get(struct st_config *cfg, uint64_t vdisk, struct st_owner *out, struct st_msg *err);

/*
 * Become the owner of vdisk when nobody is (or stay it): 0 and *epoch.
 * Held by another: ST_EBUSY, *cur (may be NULL) its row, and holder is
 * listed as a backup.
 */
int st_owner_acquire(struct st_config *cfg, uint64_t vdisk, const char *holder, uint32_t node, int64_t ttl_ms,
		     int64_t *epoch, struct st_owner *cur, struct st_msg *err);

/* Ask the owner to relinquish on behalf of holder (a no-op when holder owns it or nobody does). */
int st_owner_ask(struct st_config *cfg, uint64_t vdisk, const char *holder, struct st_msg *err);

/* Renew: 0 (*asked: 1 when someone asks for the vdisk), or ST_EFENCED. */
int st_owner_renew(struct st_config *cfg, uint64_t vdisk, const char *holder, int64_t epoch, int *asked,
		   struct st_msg *err);

/* Let go (the row stays, owned by nobody, epoch kept). 0 also when it was not ours any more. */
int st_owner_release(struct st_config *cfg, uint64_t vdisk, const char *holder, int64_t epoch, struct st_msg *err);

/*
 * Take vdisk from the holder seen in *seen (declared dead by the caller,
 * who fenced it first): compare-and-set on seen's holder, epoch and beat.
 * 0 and *epoch, or ST_ESTALE.
 */
int st_owner_takeover(struct st_config *cfg, uint64_t vdisk, const char *holder, uint32_t node, int64_t ttl_ms,
		      const struct st_owner *seen, int64_t *epoch, struct st_msg *err);

/* Drop holder from vdisk's backups (it closed the vdisk). */
int st_owner_unlist(struct st_config *cfg, uint64_t vdisk, const char *holder, struct st_msg *err);

/* The backups of vdisk, oldest first: cb(arg, holder, node, since). */
typedef int (*st_backup_cb)(void *arg, const char *holder, uint32_t node, int64_t since);
int st_owner_backups(struct st_config *cfg, uint64_t vdisk, st_backup_cb cb, void *arg, struct st_msg *err);

/*
 * `curator vdisk owner NAME --format json`: the owner row and the backups
 * of vdisk as one JSON object built by SQLite (schema_version 1; times ISO
 * 8601 UTC; "owner" null when nobody owns it) into *out (malloc'd, the
 * caller frees). 0 or the SQLite error.
 */
int st_owner_json(struct st_config *cfg, uint64_t vdisk, const char *name, char **out, struct st_msg *err);

#endif
