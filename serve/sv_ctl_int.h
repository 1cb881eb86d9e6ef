/*
 * sv_ctl_int: what sv_ctl.c (the logs, the commit thread) and sv_own.c (the
 * owner leases, the lease thread) share. Private to serve/.
 *
 * Locks: ctl->mu guards the list of vdisks and every vdisk's logs (the
 * active one and the frozen one being committed), its commit state and
 * generation; it is never held across I/O. ctl->cmu guards the commit
 * handle ctl->st (commits, fencing others' leases); ctl->rmu the pool of
 * read handles; ctl->lmu the ownership fields of each vdisk and the lease
 * thread's config handle. Orders: mu before lmu, cmu before lmu; mu and
 * cmu are never held together (a commit drops mu before it takes cmu).
 * The lease thread takes lmu only, so a long commit never delays a
 * renewal.
 *
 * Double buffer: a commit freezes the active log (vd->frozen, fstate 1),
 * writes go on into a fresh one, and the frozen log is committed with mu
 * dropped (fstate 2); reads lay the frozen log, then the active one, over
 * the committed bytes. One frozen log per vdisk at a time: a full active
 * log waits for the frozen one. A frozen log whose commit failed stays
 * frozen (fstate 1, bg_err) until a commit of it succeeds.
 */
#ifndef SV_CTL_INT_H
#define SV_CTL_INT_H

#include <pthread.h>
#include <stdint.h>

#include "serve/sv_ctl.h"
#include "serve/sv_log.h"
#include "storage/st_owner.h"
#include "storage/st_store.h"

struct sv_vd {
	struct sv_ctl *ctl;
	struct st_vdisk v;
	struct sv_log log;    /* the active log: writes go here */
	struct sv_log frozen; /* the log being committed (fstate > 0) */
	int fstate;           /* 0 no frozen log, 1 frozen (to commit), 2 being committed */
	uint64_t gen;         /* bumped whenever a commit ends: the committed bytes changed */
	int64_t first_ms; /* monotonic ms of the oldest write in the active log; 0: empty */
	int64_t retry_ms; /* a failed frozen log: the commit thread retries it from then */
	int bg_err;       /* the last failed commit's error, until a commit succeeds */
	unsigned pass;    /* the commit thread's pass that last looked at this vdisk */
	int refs;
	struct sv_vd *next;

	/* ownership (sv_own.c); under ctl->lmu, except as sv_own.c says */
	int owned, fenced, moved, asked;
	int64_t epoch;
	int64_t last_ok_ms;   /* monotonic ms of the last good renewal */
	struct st_owner seen; /* the other owner's row as last seen, and when it last moved */
	int64_t seen_ms;
	int listed;           /* listed as a backup */
};

struct sv_ctl {
	struct sv_opts o;
	char *dir;
	struct st_store *st; /* the commit handle (cmu) */
	pthread_mutex_t mu, cmu;
	pthread_cond_t cv;   /* wakes the commit thread */
	pthread_cond_t dcv;  /* a vdisk's commit state changed (fstate) */
	/* read handles (rmu), one per thread reading at a time; cgen counts commits */
	pthread_mutex_t rmu;
	struct st_store **rpool;
	uint64_t *rgen;      /* the cgen each pooled handle last read at */
	size_t nrpool, caprpool;
	size_t nhandles;     /* under rmu: read handles open, pooled or in use (their fd budgets) */
	uint64_t cgen;       /* under rmu: commits that ended, of any vdisk */
	struct st_csum *csum; /* chunk sums of verified extents, shared by the read handles */
	struct st_mcache *mc; /* block, extent and egroup rows, shared by the read handles */
	struct sv_vd *vds;
	pthread_t th;
	int started, stop;
	/* leases (sv_own.c): a config.db handle of the lease thread's own, its mutex */
	char holder[ST_HOLDER_MAX];
	struct st_config *lcfg;
	pthread_mutex_t lmu;
	pthread_t lth;
	int lstarted;
};

int64_t sv_mono_ms(void);

/* --- sv_own.c ----------------------------------------------------------------- */

/* Name this controller's holder, open the lease thread's handle (sv_ctl_new). */
int sv_own_init(struct sv_ctl *c, const char *dir, struct st_msg *err);
/* Start / stop the lease thread; release every lease held. */
int sv_own_start(struct sv_ctl *c);
void sv_own_stop(struct sv_ctl *c);
void sv_own_release(struct sv_ctl *c);

/*
 * Admission of a write (mu NOT held): make this controller the owner of vd,
 * asking the owner to relinquish and waiting for it, or taking over once the
 * owner's beat stood still for its TTL (fencing it in every shard first).
 * 0, ST_EFENCED (this controller lost the vdisk's lease), ST_EREADONLY (the
 * vdisk moved to another controller on its request), ST_EBUSY (still owned
 * after ttl + 2 s), or a config error.
 */
int sv_own_admit(struct sv_vd *vd, struct st_msg *err);

/*
 * Before a commit (cmu held, not mu): 0 when vd is owned and the lease
 * fresh (younger than ttl/2 on our clock); else ST_EFENCED, and *fenced
 * says whether the lease was lost (the caller drops the logs: a fenced
 * owner commits nothing) rather than never held.
 */
int sv_own_check(struct sv_vd *vd, int *fenced, struct st_msg *err);

/* The commit thread (mu held): a relinquish asked for: commit, release, mark moved. */
void sv_own_relinquish(struct sv_vd *vd);

/* Whether this controller owns vd now. */
int sv_own_owned(struct sv_vd *vd);

/* The last close (mu held): release the lease and the backup listing. */
void sv_own_close(struct sv_vd *vd);

/*
 * Commit everything vd's logs hold now (sv_ctl.c; mu held, dropped while
 * committing, so the list of vdisks may change meanwhile): 0 or the
 * commit's error (the writes stay in the frozen log).
 */
int sv_commit(struct sv_vd *vd, struct st_msg *err);

/* A read handle from the pool (its caches dropped if a commit ended since it last read); give it back. */
int sv_pool_get(struct sv_ctl *c, struct st_store **out, struct st_msg *err);
void sv_pool_put(struct sv_ctl *c, struct st_store *st);

#endif
