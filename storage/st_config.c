/*
 * st_config: config.db. See st_config.h for the tables and the rules.
 * This file holds the handle (create, open, the schema and its in-place
 * upgrades), the statement helpers the module shares (st_config_int.h),
 * tier and mode names, settings and the cluster uuid. The object tables
 * are in st_config_tables.c, IDs / sequence / in-flight operations in
 * st_config_seq.c.
 *
 * DESIGN: each public call is one statement or one IMMEDIATE transaction,
 * so several processes (writers, readers, the curator) share the file under
 * SQLite's locking. Paths are stored relative to the cluster directory so
 * the directory can be moved.
 */
#include "storage/st_config_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "storage/st_sql.h"

/*
 * The cluster format: 2 since row keys are covered by checksums and shards
 * name themselves (st_meta.h). Clusters of format 1 are refused with a
 * message saying so (no in-place migration: see README "Formats").
 */
#define CONFIG_FORMAT 2

static const char *tier_names[ST_NTIERS] = { "ssd", "hdd", "cloud" };

const char *st_tier_name(enum st_tier t)
{
	return (unsigned)t < ST_NTIERS ? tier_names[t] : "?";
}

int st_tier_parse(const char *s)
{
	for (int i = 0; i < ST_NTIERS; i++)
		if (!strcmp(s, tier_names[i]))
			return i;
	return -1;
}

const char *st_mode_name(enum st_mode m)
{
	switch (m) {
	case ST_MODE_OFF: return "off";
	case ST_MODE_INLINE: return "inline";
	case ST_MODE_POST: return "post";
	}
	return "?";
}

/* Reads per egroup since its last move, for promotion (st_config_reads_add). */
#define READS_TABLE                                                                                    \
	"CREATE TABLE IF NOT EXISTS egroup_reads(egroup INTEGER PRIMARY KEY, reads INTEGER NOT NULL,"  \
	"  last INTEGER NOT NULL);"

/* Punched ranges per vdisk not yet answered (st_config_trim_note). */
#define TRIMS_TABLE                                                                                    \
	"CREATE TABLE IF NOT EXISTS vdisk_trims(vdisk INTEGER PRIMARY KEY, lo INTEGER NOT NULL,"       \
	"  hi INTEGER NOT NULL, at INTEGER NOT NULL);"

/*
 * Leases (st_lease.h): the holders and what each clock domain saw of their
 * heartbeats.
 */
#define LEASE_TABLES                                                                                   \
	"CREATE TABLE IF NOT EXISTS leases(id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,"  \
	"  what TEXT, host TEXT, boot TEXT, pid INTEGER, ttl_ms INTEGER NOT NULL, beat INTEGER NOT NULL,"\
	"  state INTEGER NOT NULL DEFAULT 0, started INTEGER NOT NULL);"                               \
	"CREATE TABLE IF NOT EXISTS lease_watch(lease INTEGER NOT NULL, clock TEXT NOT NULL,"          \
	"  beat INTEGER NOT NULL, mono_ms INTEGER NOT NULL, PRIMARY KEY (lease, clock)) WITHOUT ROWID;"     \
	"CREATE TABLE IF NOT EXISTS lease_locks(name TEXT PRIMARY KEY, lease INTEGER NOT NULL);"

static const char schema[] =
	"CREATE TABLE cluster(key TEXT PRIMARY KEY, value);"
	"CREATE TABLE nodes(id INTEGER PRIMARY KEY, up INTEGER NOT NULL DEFAULT 1,"
	"  changed INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE disks(id INTEGER PRIMARY KEY, node INTEGER NOT NULL REFERENCES nodes(id),"
	"  tier INTEGER NOT NULL, capacity INTEGER NOT NULL, path TEXT NOT NULL,"
	"  ok INTEGER NOT NULL DEFAULT 1, removed INTEGER NOT NULL DEFAULT 0,"
	"  used INTEGER NOT NULL DEFAULT 0, changed INTEGER NOT NULL DEFAULT 0,"
	"  draining INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE containers(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	"  rf INTEGER, rs_k INTEGER, rs_m INTEGER, ec_delay INTEGER, compress INTEGER,"
	"  compress_delay INTEGER, codec INTEGER, dedup INTEGER, chunking INTEGER,"
	"  ilm_high INTEGER, ilm_low INTEGER, cold_age INTEGER, tiers TEXT, created INTEGER);"
	"CREATE TABLE vdisks(id INTEGER PRIMARY KEY, name TEXT NOT NULL, container INTEGER NOT NULL,"
	"  size INTEGER NOT NULL, block_size INTEGER NOT NULL, state INTEGER NOT NULL DEFAULT 0,"
	"  readonly INTEGER NOT NULL DEFAULT 0, parent INTEGER NOT NULL DEFAULT 0,"
	"  open_egroup INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);"
	"CREATE UNIQUE INDEX vdisk_live_name ON vdisks(name) WHERE state = 0;"
	"CREATE TABLE id_counters(node INTEGER PRIMARY KEY, next INTEGER NOT NULL);"
	"CREATE TABLE seq(id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);"
	"INSERT INTO seq VALUES (1, 0);"
	"CREATE TABLE inflight(op INTEGER PRIMARY KEY AUTOINCREMENT, pid INTEGER NOT NULL DEFAULT 0,"
	"  pstart INTEGER NOT NULL DEFAULT 0, begin_seq INTEGER NOT NULL, started INTEGER NOT NULL, what TEXT,"
	"  lease INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE io_errors(at INTEGER NOT NULL, egroup INTEGER NOT NULL, disk INTEGER NOT NULL,"
	"  kind TEXT NOT NULL);" READS_TABLE TRIMS_TABLE LEASE_TABLES;

static int config_path(const char *dir, char *buf, size_t len)
{
	if (snprintf(buf, len, "%s/config.db", dir) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/* An integer of the cluster table: 0, ST_ENOTFOUND, or the SQLite error (err says it). */
static int cluster_int(struct st_config *cfg, const char *key, int *out, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(cfg->db, "SELECT value FROM cluster WHERE key = ?", &st, err);
	int src;

	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		*out = sqlite3_column_int(st, 0);
	else
		rc = src == SQLITE_DONE ? ST_ENOTFOUND : st_sql_fail(cfg->db, src, "config.db", err);
	sqlite3_finalize(st);
	return rc;
}

/* The format and shard count, checked: a cluster this curator can read. */
static int read_shards(struct st_config *cfg, struct st_msg *err)
{
	int format = 0, rc = cluster_int(cfg, "format", &format, err);

	if (rc == ST_ENOTFOUND)
		return st_fail(err, ST_ENOTCLUSTER, "%s: not a cluster directory (config.db has no format)", cfg->dir);
	if (rc)
		return st_fail(err, rc, "%s/config.db: %s", cfg->dir, err ? err->text : "unreadable");
	if (format != CONFIG_FORMAT)
		return st_fail(err, ST_ECORRUPT,
			       "%s: cluster format %d, this curator reads format %d only (%s)", cfg->dir, format,
			       CONFIG_FORMAT,
			       format < CONFIG_FORMAT ? "made by an older curator: copy its vdisks out with that version"
						      : "made by a newer curator");
	rc = cluster_int(cfg, "shards", &cfg->shards, err);
	if (rc && rc != ST_ENOTFOUND)
		return st_fail(err, rc, "%s/config.db: %s", cfg->dir, err ? err->text : "unreadable");
	if (cfg->shards < 1 || cfg->shards > 1024)
		return st_fail(err, ST_ECORRUPT, "%s/config.db: bad shard count %d", cfg->dir, cfg->shards);
	return 0;
}

static int config_new(const char *dir, struct st_config **out, struct st_msg *err)
{
	struct st_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return st_fail(err, -ENOMEM, "out of memory");
	if (!realpath(dir, cfg->dir)) {
		int rc = -errno;
		free(cfg);
		return st_fail(err, rc == -ENOENT ? ST_ENOTCLUSTER : rc, "%s: %s", dir,
			       rc == -ENOENT ? "not a cluster directory (no such directory)" : st_strerror(rc));
	}
	*out = cfg;
	return 0;
}

/* A fresh random uuid (the kernel's), for the cluster table. */
static int make_uuid(char *buf, size_t len, struct st_msg *err)
{
	char u[64] = "";
	FILE *f = fopen("/proc/sys/kernel/random/uuid", "r");

	if (!f || !fgets(u, sizeof(u), f)) {
		if (f)
			fclose(f);
		return st_fail(err, -EIO, "cannot make a cluster uuid");
	}
	fclose(f);
	u[strcspn(u, "\n")] = 0;
	snprintf(buf, len, "%s", u);
	return 0;
}

int st_config_create(const char *dir, int shards, int shared, struct st_config **out, struct st_msg *err)
{
	const char *force = getenv("CURATOR_SHARED_FS");
	struct st_config *cfg;
	char path[ST_PATH_MAX + 16];
	struct stat sb;
	int rc;

	if (shards < 1 || shards > 1024)
		return st_fail(err, ST_EINVAL, "--shards: must be 1..1024");
	rc = st_mkdir_p(dir);
	if (rc)
		return st_fail(err, rc, "%s: %s", dir, st_strerror(rc));
	rc = config_new(dir, &cfg, err);
	if (rc)
		return rc;
	config_path(cfg->dir, path, sizeof(path));
	if (stat(path, &sb) == 0) {
		free(cfg);
		return st_fail(err, ST_EEXIST, "%s: already holds a cluster", dir);
	}
	cfg->shared = shared || (force && !strcmp(force, "1")) || st_sql_netfs(cfg->dir);
	rc = st_sql_open(path, ST_SQL_CREATE | (cfg->shared ? ST_SQL_SHARED : 0), &cfg->db, err);
	if (rc)
		goto fail;
	rc = st_sql_begin(cfg->db, err);
	if (rc)
		goto fail;
	rc = st_sql_exec(cfg->db, schema, err);
	if (!rc) {
		char ins[256];
		char uuid[64];
		rc = make_uuid(uuid, sizeof(uuid), err);
		snprintf(ins, sizeof(ins),
			 "INSERT INTO cluster VALUES ('format', %d), ('shards', %d), ('created', %lld), ('uuid', '%s'),"
			 " ('journal', '%s');",
			 CONFIG_FORMAT, shards, (long long)st_now(), uuid, cfg->shared ? "delete" : "wal");
		if (!rc)
			rc = st_sql_exec(cfg->db, ins, err);
	}
	if (rc) {
		st_sql_rollback(cfg->db);
		goto fail;
	}
	rc = st_sql_commit(cfg->db, err);
	if (rc)
		goto fail;
	cfg->shards = shards;
	*out = cfg;
	return 0;
fail:
	st_config_free(cfg);
	return rc;
}

int st_config_open(const char *dir, struct st_config **out, struct st_msg *err)
{
	struct st_config *cfg;
	char path[ST_PATH_MAX + 16];
	struct stat sb;
	int rc = config_new(dir, &cfg, err);

	if (rc)
		return rc;
	config_path(cfg->dir, path, sizeof(path));
	if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		free(cfg);
		return st_fail(err, ST_ENOTCLUSTER, "%s: not a cluster directory (no config.db; run curator init)",
			       dir);
	}
	cfg->shared = st_sql_cluster_shared(cfg->dir);
	rc = st_sql_open(path, cfg->shared ? ST_SQL_SHARED : 0, &cfg->db, err);
	if (rc) {
		free(cfg);
		if (rc == ST_ECORRUPT) /* not a SQLite database at all */
			return st_fail(err, ST_ENOTCLUSTER, "%s: not a cluster directory (%s)", dir, err ? err->text : "");
		return rc; /* an I/O error, a lock...: err has the path and SQLite's reason */
	}
	rc = read_shards(cfg, err);
	if (rc) {
		st_config_free(cfg);
		return rc;
	}
	/* clusters created before disks could drain: add the column (a no-op after) */
	sqlite3_exec(cfg->db, "ALTER TABLE disks ADD COLUMN draining INTEGER NOT NULL DEFAULT 0", NULL, NULL, NULL);
	sqlite3_exec(cfg->db, READS_TABLE, NULL, NULL, NULL);
	sqlite3_exec(cfg->db, TRIMS_TABLE, NULL, NULL, NULL);
	/* clusters made before leases (issue 21): the tables and the in-flight column */
	if (sqlite3_exec(cfg->db, "SELECT lease FROM inflight LIMIT 0", NULL, NULL, NULL) != SQLITE_OK)
		sqlite3_exec(cfg->db, "ALTER TABLE inflight ADD COLUMN lease INTEGER NOT NULL DEFAULT 0", NULL, NULL, NULL);
	if (sqlite3_exec(cfg->db, "SELECT 1 FROM leases, lease_watch, lease_locks LIMIT 0", NULL, NULL, NULL) != SQLITE_OK)
		sqlite3_exec(cfg->db, LEASE_TABLES, NULL, NULL, NULL);
	*out = cfg;
	return 0;
}

void st_config_free(struct st_config *cfg)
{
	if (!cfg)
		return;
	sqlite3_close(cfg->db);
	free(cfg);
}

const char *st_config_dir(const struct st_config *cfg)
{
	return cfg->dir;
}

int st_config_shards(const struct st_config *cfg)
{
	return cfg->shards;
}

int st_config_shared(const struct st_config *cfg)
{
	return cfg->shared;
}

/* --- statement helpers (st_config_int.h) ------------------------------- */

int st_config_run(struct st_config *cfg, const char *sql, const char *fmt, int *changes, struct st_msg *err, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc = st_sql_prepare(cfg->db, sql, &st, err);
	int src;

	if (rc)
		return rc;
	va_start(ap, err);
	for (int i = 0; fmt[i]; i++) {
		if (fmt[i] == 'i')
			sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
		else
			sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
	}
	va_end(ap);
	src = sqlite3_step(st);
	if (src != SQLITE_DONE && src != SQLITE_ROW) {
		if ((src & 0xff) == SQLITE_CONSTRAINT)
			rc = st_fail(err, ST_EEXIST, "already exists");
		else
			rc = st_sql_fail(cfg->db, src, "config.db", err);
	}
	if (changes)
		*changes = sqlite3_changes(cfg->db);
	sqlite3_finalize(st);
	return rc;
}

int st_config_rows_tx(struct st_config *cfg, const char *sql, int n, void (*bind)(sqlite3_stmt *, int, const void *),
		      const void *arg, struct st_msg *err)
{
	sqlite3_stmt *q;
	int rc = st_sql_begin(cfg->db, err);

	if (!rc)
		rc = st_sql_prepare(cfg->db, sql, &q, err);
	if (rc) {
		st_sql_rollback(cfg->db);
		return rc;
	}
	for (int i = 0; i < n && !rc; i++) {
		bind(q, i, arg);
		if (sqlite3_step(q) != SQLITE_DONE)
			rc = st_sql_fail(cfg->db, sqlite3_errcode(cfg->db), "config.db", err);
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	if (rc) {
		st_sql_rollback(cfg->db);
		return rc;
	}
	return st_sql_commit(cfg->db, err);
}

/* --- settings ---------------------------------------------------------- */

int st_config_setting_get(struct st_config *cfg, const char *key, char *buf, size_t len, struct st_msg *err)
{
	sqlite3_stmt *q;
	int rc = st_sql_prepare(cfg->db, "SELECT value FROM cluster WHERE key = ?", &q, err);

	if (rc)
		return rc;
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(q, 0));
	else
		rc = st_fail(err, ST_ENOTFOUND, "setting '%s' is not set", key);
	sqlite3_finalize(q);
	return rc;
}

int st_config_setting_set(struct st_config *cfg, const char *key, const char *value, struct st_msg *err)
{
	if (!value)
		return st_config_run(cfg, "DELETE FROM cluster WHERE key = ?", "t", NULL, err, key);
	return st_config_run(cfg, "INSERT OR REPLACE INTO cluster(key, value) VALUES (?, ?)", "tt", NULL, err, key, value);
}

/* --- tier fill thresholds --------------------------------------------- */

static int tier_fill_key(enum st_tier t, char *key, size_t len, struct st_msg *err)
{
	if ((int)t < 0 || t >= ST_NTIERS || t == ST_TIER_CLOUD)
		return st_fail(err, ST_EINVAL, "tier '%s': only the ssd and hdd tiers have a capacity to fill",
			       (int)t >= 0 && t < ST_NTIERS ? st_tier_name(t) : "?");
	snprintf(key, len, "tier_fill.%s", st_tier_name(t));
	return 0;
}

int st_config_tier_fill(struct st_config *cfg, enum st_tier t, int *warn_pct, int *err_pct, struct st_msg *err)
{
	char key[32], v[64];
	int w, e, used = 0, rc = tier_fill_key(t, key, sizeof(key), err);

	if (rc)
		return rc;
	rc = st_config_setting_get(cfg, key, v, sizeof(v), NULL);
	if (rc == ST_ENOTFOUND) {
		*warn_pct = ST_TIER_WARN_PCT;
		*err_pct = ST_TIER_ERR_PCT;
		return 0;
	}
	if (rc)
		return st_config_setting_get(cfg, key, v, sizeof(v), err);
	if (sscanf(v, "%d,%d%n", &w, &e, &used) != 2 || v[used] || w < 1 || w >= e || e > 100)
		return st_fail(err, ST_ECORRUPT, "config.db: setting %s is '%s', not WARN,ERR percents", key, v);
	*warn_pct = w;
	*err_pct = e;
	return 0;
}

int st_config_tier_fill_set(struct st_config *cfg, enum st_tier t, int warn_pct, int err_pct, struct st_msg *err)
{
	char key[32], v[32];
	int rc = tier_fill_key(t, key, sizeof(key), err);

	if (rc)
		return rc;
	if (warn_pct < 1 || err_pct > 100 || warn_pct >= err_pct)
		return st_fail(err, ST_EINVAL, "tier %s: thresholds warn %d%%, err %d%%: want 1 <= warn < err <= 100",
			       st_tier_name(t), warn_pct, err_pct);
	snprintf(v, sizeof(v), "%d,%d", warn_pct, err_pct);
	return st_config_setting_set(cfg, key, v, err);
}

int st_config_uuid(struct st_config *cfg, char *buf, size_t len, struct st_msg *err)
{
	char u[64];
	int rc;

	if (st_config_setting_get(cfg, "uuid", buf, len, NULL) == 0)
		return 0;
	rc = make_uuid(u, sizeof(u), err);
	/* first writer wins: INSERT OR IGNORE, then read back what is there */
	if (!rc)
		rc = st_config_run(cfg, "INSERT OR IGNORE INTO cluster(key, value) VALUES ('uuid', ?)", "t", NULL, err, u);
	if (!rc)
		rc = st_config_setting_get(cfg, "uuid", buf, len, err);
	return rc;
}
