/*
 * st_lease: leases in config.db; see st_lease.h for the protocol.
 *
 * DESIGN: a holder renews from a thread of its own, on a connection of its
 * own, so a long batch (compressing, syncing 32 MiB) never starves its
 * heartbeat; the thread is what stops when the process is stopped, so a
 * SIGSTOPped holder comes back with a lease it can tell is lost. The loss
 * rule is on the holder's clock only: TTL/2 since the start of its last
 * renewal that committed (a renewal that began earlier and committed later
 * is dated by its start, the conservative end). Observers date what they
 * saw on their own clock domain; observations are rows, not memory, so a
 * one-shot observer (the CLI) builds on what an earlier one on the same
 * host saw.
 */
#include "storage/st_lease.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "storage/st_config_int.h"
#include "storage/st_sql.h"

static const char *kind_names[] = { "writer", "rank", "master", "scan" };

const char *st_lease_kind_name(enum st_lease_kind k)
{
	return (unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "?";
}

int64_t st_lease_ttl_ms(void)
{
	const char *s = getenv("CURATOR_LEASE_TTL");
	char *end;
	int64_t secs;

	if (!s || !*s)
		return ST_LEASE_TTL_MS;
	{
		long long v = strtoll(s, &end, 10);
		if (end != s && !strcmp(end, "ms") && v >= 200 && v <= 86400000LL)
			return v;
	}
	if (st_parse_duration(s, &secs) == 0 && secs >= 1 && secs <= 86400)
		return secs * 1000;
	return ST_LEASE_TTL_MS;
}

int64_t st_lease_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line of a small file (no newline), "" if unreadable. */
static void read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = 0;
	if (f) {
		if (!fgets(buf, (int)len, f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
}

/*
 * This process's clock domain: CLOCK_MONOTONIC values are comparable only
 * within one boot of one kernel and one time namespace.
 */
static void clock_domain(char *buf, size_t len)
{
	char boot[64], tns[64] = "";
	ssize_t n = readlink("/proc/self/ns/time", tns, sizeof(tns) - 1);

	read_line("/proc/sys/kernel/random/boot_id", boot, sizeof(boot));
	tns[n > 0 ? n : 0] = 0;
	snprintf(buf, len, "%s/%s", boot[0] ? boot : "?", tns);
}

/* --- the holder ----------------------------------------------------------- */

struct st_lease {
	int64_t id;
	int64_t ttl;
	enum st_lease_kind kind;
	char what[128];
	sqlite3 *db; /* the renewal thread's own connection */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int lost;
	int64_t last_ok; /* monotonic ms at the start of the last renewal that committed */
	char why[160];
};

/* Under l->mu: the lease is lost for good. */
static void lose(struct st_lease *l, const char *why)
{
	if (!l->lost) {
		l->lost = 1;
		snprintf(l->why, sizeof(l->why), "%s", why);
	}
}

static void *renew_main(void *arg)
{
	struct st_lease *l = arg;
	sqlite3_stmt *q = NULL;
	int64_t every = l->ttl / 6 > 0 ? l->ttl / 6 : 1;

	if (sqlite3_prepare_v2(l->db, "UPDATE leases SET beat = beat + 1 WHERE id = ? AND state = 0", -1, &q, NULL) !=
	    SQLITE_OK)
		q = NULL;
	pthread_mutex_lock(&l->mu);
	while (!l->stop && !l->lost) {
		struct timespec ts;
		int64_t t0;
		int src, changes;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += every / 1000;
		ts.tv_nsec += (every % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&l->cv, &l->mu, &ts);
		if (l->stop)
			break;
		t0 = st_lease_mono_ms();
		if (t0 - l->last_ok >= l->ttl / 2) {
			char why[160];
			snprintf(why, sizeof(why), "not renewed for %lld ms (TTL %lld ms)", (long long)(t0 - l->last_ok),
				 (long long)l->ttl);
			lose(l, why);
			break;
		}
		pthread_mutex_unlock(&l->mu);
		src = SQLITE_ERROR;
		changes = -1;
		if (q) {
			sqlite3_bind_int64(q, 1, l->id);
			src = sqlite3_step(q);
			changes = sqlite3_changes(l->db);
			sqlite3_reset(q);
		}
		pthread_mutex_lock(&l->mu);
		if (src == SQLITE_DONE && changes == 1)
			l->last_ok = t0;
		else if (src == SQLITE_DONE)
			lose(l, "fenced: an observer declared it dead");
		/* other errors (busy): retry until TTL/2 passes */
	}
	pthread_mutex_unlock(&l->mu);
	sqlite3_finalize(q);
	return NULL;
}

int st_lease_acquire(struct st_config *cfg, enum st_lease_kind kind, const char *what, struct st_lease **out,
		     struct st_msg *err)
{
	struct st_lease *l = calloc(1, sizeof(*l));
	char path[ST_PATH_MAX + 16], host[128] = "", boot[64];
	int64_t t0;
	int rc;

	if (!l)
		return st_fail(err, -ENOMEM, "out of memory");
	l->kind = kind;
	l->ttl = st_lease_ttl_ms();
	snprintf(l->what, sizeof(l->what), "%s", what ? what : "");
	gethostname(host, sizeof(host) - 1);
	read_line("/proc/sys/kernel/random/boot_id", boot, sizeof(boot));
	t0 = st_lease_mono_ms();
	rc = st_config_run(cfg,
			   "INSERT INTO leases(kind, what, host, boot, pid, ttl_ms, beat, state, started)"
			   " VALUES (?, ?, ?, ?, ?, ?, 1, 0, ?)",
			   "ttttiii", NULL, err, st_lease_kind_name(kind), l->what, host, boot,
			   (int64_t)getpid(), l->ttl, st_now());
	if (rc) {
		free(l);
		return rc;
	}
	l->id = sqlite3_last_insert_rowid(cfg->db);
	l->last_ok = t0;
	snprintf(path, sizeof(path), "%s/config.db", cfg->dir);
	rc = st_sql_open(path, cfg->shared ? ST_SQL_SHARED : 0, &l->db, err);
	if (rc)
		goto fail;
	sqlite3_busy_timeout(l->db, (int)(l->ttl / 6 > 50 ? l->ttl / 6 : 50));
	pthread_mutex_init(&l->mu, NULL);
	{ /* the renewal waits on the monotonic clock, as every lease time is */
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&l->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (pthread_create(&l->thread, NULL, renew_main, l)) {
		pthread_mutex_destroy(&l->mu);
		pthread_cond_destroy(&l->cv);
		rc = st_fail(err, -EAGAIN, "lease: cannot start its renewal thread");
		goto fail;
	}
	*out = l;
	return 0;
fail:
	st_config_run(cfg, "DELETE FROM leases WHERE id = ?", "i", NULL, NULL, l->id);
	sqlite3_close(l->db);
	free(l);
	return rc;
}

char *st_lease_holder_name(int64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "lease:%lld", (long long)id);
	return buf;
}

int64_t st_lease_id(const struct st_lease *l)
{
	return l->id;
}

int64_t st_lease_ttl(const struct st_lease *l)
{
	return l->ttl;
}

int st_lease_check(struct st_lease *l, struct st_msg *err)
{
	int64_t now = st_lease_mono_ms();
	int rc = 0;

	pthread_mutex_lock(&l->mu);
	if (!l->lost && now - l->last_ok >= l->ttl / 2) {
		char why[160];
		snprintf(why, sizeof(why), "not renewed for %lld ms (TTL %lld ms)", (long long)(now - l->last_ok),
			 (long long)l->ttl);
		lose(l, why);
		pthread_cond_signal(&l->cv);
	}
	if (l->lost)
		rc = st_fail(err, ST_ELEASE, "lease %lld (%s %s): lease lost: %s", (long long)l->id,
			     st_lease_kind_name(l->kind), l->what, l->why);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

void st_lease_release(struct st_lease *l)
{
	sqlite3_stmt *q;

	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = 1;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thread, NULL);
	/* a live row goes; a fenced one stays for the observer that fenced it */
	if (sqlite3_prepare_v2(l->db, "DELETE FROM leases WHERE id = ? AND state = 0", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, l->id);
		sqlite3_step(q);
		sqlite3_finalize(q);
	}
	sqlite3_close(l->db);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
}

/* --- the observer --------------------------------------------------------- */

static int kind_parse(const char *s)
{
	for (unsigned i = 0; s && i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
		if (!strcmp(s, kind_names[i]))
			return (int)i;
	return -1;
}

static void text_col(sqlite3_stmt *q, int col, char *buf, size_t len)
{
	const unsigned char *t = sqlite3_column_text(q, col);
	snprintf(buf, len, "%s", t ? (const char *)t : "");
}

/* Read every lease into *out (in the open transaction). */
static int leases_read(struct st_config *cfg, struct st_lease_info **out, int *n, struct st_msg *err)
{
	sqlite3_stmt *q;
	struct st_lease_info *v = NULL;
	size_t cap = 0;
	int rc = st_sql_prepare(cfg->db,
				"SELECT id, kind, what, host, pid, ttl_ms, beat, state, started FROM leases ORDER BY id",
				&q, err);

	*n = 0;
	if (rc)
		return rc;
	while (sqlite3_step(q) == SQLITE_ROW) {
		struct st_lease_info *li;
		char kind[32];
		if (st_grow(&v, &cap, (size_t)*n, sizeof(*v))) {
			rc = st_fail(err, -ENOMEM, "out of memory");
			break;
		}
		li = &v[(*n)++];
		memset(li, 0, sizeof(*li));
		li->id = sqlite3_column_int64(q, 0);
		text_col(q, 1, kind, sizeof(kind));
		li->kind = kind_parse(kind) < 0 ? ST_LEASE_WRITER : (enum st_lease_kind)kind_parse(kind);
		text_col(q, 2, li->what, sizeof(li->what));
		text_col(q, 3, li->host, sizeof(li->host));
		li->pid = sqlite3_column_int64(q, 4);
		li->ttl_ms = sqlite3_column_int64(q, 5);
		li->beat = sqlite3_column_int64(q, 6);
		li->state = (enum st_lease_state)sqlite3_column_int(q, 7);
		li->started = sqlite3_column_int64(q, 8);
	}
	sqlite3_finalize(q);
	if (rc) {
		free(v);
		*n = 0;
		return rc;
	}
	*out = v;
	return 0;
}

/* Date each lease's beat on this clock domain and record it (in the open transaction). */
static int leases_watch(struct st_config *cfg, struct st_lease_info *v, int n, struct st_msg *err)
{
	char dom[160];
	int64_t now = st_lease_mono_ms();
	sqlite3_stmt *get, *put;
	int rc;

	clock_domain(dom, sizeof(dom));
	rc = st_sql_prepare(cfg->db, "SELECT beat, mono_ms FROM lease_watch WHERE lease = ? AND clock = ?", &get, err);
	if (rc)
		return rc;
	rc = st_sql_prepare(cfg->db, "INSERT OR REPLACE INTO lease_watch(lease, clock, beat, mono_ms) VALUES (?, ?, ?, ?)",
			    &put, err);
	if (rc) {
		sqlite3_finalize(get);
		return rc;
	}
	for (int i = 0; i < n && !rc; i++) {
		int seen = 0;
		sqlite3_bind_int64(get, 1, v[i].id);
		sqlite3_bind_text(get, 2, dom, -1, SQLITE_STATIC);
		if (sqlite3_step(get) == SQLITE_ROW && sqlite3_column_int64(get, 0) == v[i].beat) {
			int64_t at = sqlite3_column_int64(get, 1);
			seen = 1;
			v[i].silent_ms = now > at ? now - at : 0;
		}
		sqlite3_reset(get);
		v[i].expired = v[i].state == ST_LEASE_LIVE && seen && v[i].silent_ms >= v[i].ttl_ms;
		if (seen)
			continue;
		sqlite3_bind_int64(put, 1, v[i].id);
		sqlite3_bind_text(put, 2, dom, -1, SQLITE_STATIC);
		sqlite3_bind_int64(put, 3, v[i].beat);
		sqlite3_bind_int64(put, 4, now);
		if (sqlite3_step(put) != SQLITE_DONE)
			rc = st_sql_fail(cfg->db, sqlite3_errcode(cfg->db), "config.db lease_watch", err);
		sqlite3_reset(put);
	}
	sqlite3_finalize(get);
	sqlite3_finalize(put);
	if (!rc)
		rc = st_config_run(cfg, "DELETE FROM lease_watch WHERE lease NOT IN (SELECT id FROM leases)", "", NULL, err);
	return rc;
}

int st_lease_observe(struct st_config *cfg, struct st_lease_info **out, int *n, struct st_msg *err)
{
	struct st_lease_info *v = NULL;
	int k = 0, rc = st_sql_begin(cfg->db, err);

	if (rc)
		return rc;
	rc = leases_read(cfg, &v, &k, err);
	if (!rc)
		rc = leases_watch(cfg, v, k, err);
	if (!rc)
		rc = st_sql_commit(cfg->db, err);
	else
		st_sql_rollback(cfg->db);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*n = k;
	return 0;
}

int st_lease_fence_begin(struct st_config *cfg, int64_t id, int64_t beat, struct st_msg *err)
{
	int changes = 0;
	int rc = st_config_run(cfg, "UPDATE leases SET state = 1 WHERE id = ? AND ((state = 0 AND beat = ?) OR state = 1)",
			       "ii", &changes, err, id, beat);

	if (!rc && changes == 0)
		rc = st_fail(err, ST_ESTALE, "lease %lld: it beat meanwhile (alive) or is gone", (long long)id);
	return rc;
}

int st_lease_fence_end(struct st_config *cfg, int64_t id, struct st_msg *err)
{
	return st_config_run(cfg, "UPDATE leases SET state = 2 WHERE id = ? AND state = 1", "i", NULL, err, id);
}

int st_lease_is_live(struct st_config *cfg, int64_t id, int *live, struct st_msg *err)
{
	sqlite3_stmt *q;
	int rc = st_sql_prepare(cfg->db, "SELECT " ST_LEASE_LIVE_SQL(1), &q, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, id);
	*live = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return 0;
}

int st_lease_is_held(struct st_config *cfg, int64_t id, int *held, struct st_msg *err)
{
	sqlite3_stmt *q;
	int rc = st_sql_prepare(cfg->db, "SELECT 1 FROM leases WHERE id = ? AND state IN (0, 1)", &q, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, id);
	*held = sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	return 0;
}

/* --- locks held by leases ----------------------------------------------- */

int st_lease_lock(struct st_config *cfg, int64_t lease, const char *name, int *got, int64_t *holder,
		  struct st_msg *err)
{
	sqlite3_stmt *q;
	int64_t h = 0;
	int rc = st_sql_begin(cfg->db, err);

	*got = 0;
	if (rc)
		return rc;
	rc = st_sql_prepare(cfg->db,
			    "SELECT l.lease FROM lease_locks l JOIN leases s ON s.id = l.lease"
			    " WHERE l.name = ? AND s.state IN (0, 1)",
			    &q, err);
	if (rc)
		goto fail;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		h = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (h == lease) {
		*got = 2;
	} else if (h == 0) {
		int ch = 0;
		rc = st_config_run(cfg, "INSERT OR REPLACE INTO lease_locks(name, lease) SELECT ?1, ?2 WHERE "
				   ST_LEASE_LIVE_SQL(2), "ti", &ch, err, name, lease);
		if (!rc && ch == 0)
			rc = st_fail(err, ST_ELEASE, "lock %s: lease %lld lost: fenced by an observer", name,
				     (long long)lease);
		*got = !rc;
	}
	if (rc)
		goto fail;
	if (holder)
		*holder = h;
	return st_sql_commit(cfg->db, err);
fail:
	*got = 0;
	st_sql_rollback(cfg->db);
	return rc;
}

int st_lease_unlock(struct st_config *cfg, int64_t lease, const char *name, struct st_msg *err)
{
	return st_config_run(cfg, "DELETE FROM lease_locks WHERE name = ? AND lease = ?", "ti", NULL, err, name, lease);
}
