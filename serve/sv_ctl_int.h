/*
 * sv_ctl_int: what sv_ctl.c (the logs, the commit thread) and sv_own.c (the
 * owner leases, the lease thread) share. Private to serve/.
 *
 * Locks: ctl->mu guards the store handle, the list of vdisks and every
 * log; ctl->lmu guards the ownership fields of each vdisk and the lease
 * thread's config handle. Order: mu before lmu. The lease thread takes lmu
 * only, so a long commit never delays a renewal.
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
	struct sv_log log;
	int64_t first_ms; /* monotonic ms of the oldest write in the log; 0: empty */
	int bg_err;       /* the commit thread's last failure, until a commit succeeds */
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
	struct st_store *st;
	pthread_mutex_t mu;
	pthread_cond_t cv;
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
 * Before a commit (mu held): 0 when vd is owned and the lease fresh
 * (younger than ttl/2 on our clock); else ST_EFENCED and the log is
 * dropped (a fenced owner commits nothing).
 */
int sv_own_check(struct sv_vd *vd, struct st_msg *err);

/* The commit thread (mu held): a relinquish asked for: commit, release, mark moved. */
void sv_own_relinquish(struct sv_vd *vd);

/* Whether this controller owns vd now. */
int sv_own_owned(struct sv_vd *vd);

/* The last close (mu held): release the lease and the backup listing. */
void sv_own_close(struct sv_vd *vd);

/* Commit vd's log (sv_ctl.c; mu held). */
int sv_commit(struct sv_vd *vd, struct st_msg *err);

#endif
