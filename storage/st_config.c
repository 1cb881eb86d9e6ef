/*
 * st_config: config.db. See st_config.h for the tables and the rules.
 *
 * DESIGN: each public call is one statement or one IMMEDIATE transaction,
 * so several processes (writers, readers, the curator) share the file under
 * SQLite's locking. Paths are stored relative to the cluster directory so
 * the directory can be moved.
 */
#include "storage/st_config.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/st_sql.h"

#define CONFIG_FORMAT 1

struct st_config {
	sqlite3 *db;
	char dir[ST_PATH_MAX];
	int shards;
};

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
	"  open_egroup INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);"
	"CREATE UNIQUE INDEX vdisk_live_name ON vdisks(name) WHERE state = 0;"
	"CREATE TABLE id_counters(node INTEGER PRIMARY KEY, next INTEGER NOT NULL);"
	"CREATE TABLE seq(id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);"
	"INSERT INTO seq VALUES (1, 0);"
	"CREATE TABLE inflight(op INTEGER PRIMARY KEY AUTOINCREMENT, pid INTEGER NOT NULL,"
	"  pstart INTEGER NOT NULL, begin_seq INTEGER NOT NULL, started INTEGER NOT NULL, what TEXT);"
	"CREATE TABLE io_errors(at INTEGER NOT NULL, egroup INTEGER NOT NULL, disk INTEGER NOT NULL,"
	"  kind TEXT NOT NULL);" READS_TABLE;

static int config_path(const char *dir, char *buf, size_t len)
{
	if (snprintf(buf, len, "%s/config.db", dir) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

static int read_shards(struct st_config *cfg, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(cfg->db, "SELECT value FROM cluster WHERE key = 'shards'", &st, err);

	if (rc)
		return st_fail(err, ST_ENOTCLUSTER, "%s: not a cluster directory (config.db unreadable)",
			       cfg->dir);
	if (sqlite3_step(st) == SQLITE_ROW)
		cfg->shards = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
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

int st_config_create(const char *dir, int shards, struct st_config **out, struct st_msg *err)
{
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
	rc = st_sql_open(path, 1, &cfg->db, err);
	if (rc)
		goto fail;
	rc = st_sql_begin(cfg->db, err);
	if (rc)
		goto fail;
	rc = st_sql_exec(cfg->db, schema, err);
	if (!rc) {
		char ins[256];
		snprintf(ins, sizeof(ins),
			 "INSERT INTO cluster VALUES ('format', %d), ('shards', %d), ('created', %lld);",
			 CONFIG_FORMAT, shards, (long long)st_now());
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
	rc = st_sql_open(path, 0, &cfg->db, err);
	if (rc) {
		free(cfg);
		return st_fail(err, ST_ENOTCLUSTER, "%s: not a cluster directory (%s)", dir,
			       err ? err->text : "");
	}
	rc = read_shards(cfg, err);
	if (rc) {
		st_config_free(cfg);
		return rc;
	}
	/* clusters created before disks could drain: add the column (a no-op after) */
	sqlite3_exec(cfg->db, "ALTER TABLE disks ADD COLUMN draining INTEGER NOT NULL DEFAULT 0", NULL, NULL, NULL);
	sqlite3_exec(cfg->db, READS_TABLE, NULL, NULL, NULL);
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

/*
 * Run one statement with integer/text parameters given as a format:
 * 'i' int64, 't' text. Returns 0 and the number of changed rows, or an error.
 */
static int run(struct st_config *cfg, const char *sql, const char *fmt, int *changes,
	       struct st_msg *err, ...)
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

/* --- one generic reader for every table ---------------------------------- */

/* How to read one table's rows into its struct. */
struct table {
	const char *select; /* "SELECT <columns> FROM <table>" */
	const char *noun;   /* "disk": messages about one row */
	const char *plural; /* "disks": messages about the listing */
	size_t size;        /* of the struct */
	/* Fill out from the current row: 0, or ST_ECORRUPT for a row that cannot be right. */
	int (*row)(const struct st_config *cfg, sqlite3_stmt *st, void *out);
	/* NEEDSWORK: 0 for containers and vdisks, whose listings end quietly at a failed step. */
	int check_step;
};

/*
 * Every row of t.select + " " + rest, into a malloc'd array the caller
 * frees (NULL when there are none): 0, -ENOMEM, ST_ECORRUPT for a corrupt
 * row, or the SQLite error of a failed step.
 */
static int list_rows(struct st_config *cfg, const struct table *t, const char *rest, void **out, int *n,
		     struct st_msg *err)
{
	sqlite3_stmt *st;
	char sql[512], what[64];
	char *v = NULL;
	int cnt = 0, cap = 0, src = SQLITE_DONE, rc;

	snprintf(sql, sizeof(sql), "%s %s", t->select, rest);
	rc = st_sql_prepare(cfg->db, sql, &st, err);
	if (rc)
		return rc;
	while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap) {
			char *nv;
			cap = cap ? cap * 2 : 8;
			nv = realloc(v, (size_t)cap * t->size);
			if (!nv) {
				rc = st_fail(err, -ENOMEM, "out of memory");
				break;
			}
			v = nv;
		}
		rc = t->row(cfg, st, v + (size_t)cnt++ * t->size);
		if (rc)
			st_fail(err, rc, "%s: corrupt config row", t->plural);
	}
	if (!rc && src != SQLITE_DONE && t->check_step) {
		snprintf(what, sizeof(what), "config.db %s", t->plural);
		rc = st_sql_fail(cfg->db, src, what, err);
	}
	sqlite3_finalize(st);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/*
 * The row of t.select + " WHERE " + where (one parameter: name when not
 * NULL, else id) into out: 0, ST_ENOTFOUND, ST_ECORRUPT, or an SQLite
 * error from the prepare.
 */
static int get_row(struct st_config *cfg, const struct table *t, const char *where, const char *name, int64_t id,
		   void *out, struct st_msg *err)
{
	sqlite3_stmt *st;
	char sql[512];
	int rc;

	snprintf(sql, sizeof(sql), "%s WHERE %s", t->select, where);
	rc = st_sql_prepare(cfg->db, sql, &st, err);
	if (rc)
		return rc;
	if (name)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		rc = t->row(cfg, st, out);
		if (rc)
			st_fail(err, rc, "%s %s: corrupt config row", t->noun, name ? name : "");
	} else if (name) {
		rc = st_fail(err, ST_ENOTFOUND, "%s '%s': not found", t->noun, name);
	} else {
		rc = st_fail(err, ST_ENOTFOUND, "%s %llu: not found", t->noun, (unsigned long long)id);
	}
	sqlite3_finalize(st);
	return rc;
}

/* --- nodes and disks --------------------------------------------------- */

int st_config_node_add(struct st_config *cfg, uint32_t id, struct st_msg *err)
{
	int rc = run(cfg, "INSERT INTO nodes(id, up, changed) VALUES (?, 1, ?)", "ii", NULL, err,
		     (int64_t)id, st_now());

	if (rc == ST_EEXIST)
		return st_fail(err, rc, "node %u: already exists", id);
	return rc;
}

int st_config_node_set(struct st_config *cfg, uint32_t id, int up, struct st_msg *err)
{
	int n = 0;
	int rc = run(cfg, "UPDATE nodes SET up = ?, changed = ? WHERE id = ?", "iii", &n, err,
		     (int64_t)!!up, st_now(), (int64_t)id);

	if (!rc && n == 0)
		return st_fail(err, ST_ENOTFOUND, "node %u: not found", id);
	return rc;
}

static int node_row(const struct st_config *cfg, sqlite3_stmt *st, void *out)
{
	struct st_node *v = out;

	v->id = (uint32_t)sqlite3_column_int64(st, 0);
	v->up = sqlite3_column_int(st, 1);
	v->changed = sqlite3_column_int64(st, 2);
	return 0;
}

static const struct table node_table = {
	"SELECT id, up, changed FROM nodes", "node", "nodes", sizeof(struct st_node), node_row, 1,
};

int st_config_nodes(struct st_config *cfg, struct st_node **out, int *n, struct st_msg *err)
{
	void *v;
	int rc = list_rows(cfg, &node_table, "ORDER BY id", &v, n, err);

	if (!rc)
		*out = v;
	return rc;
}

static int disk_row(const struct st_config *cfg, sqlite3_stmt *st, void *out)
{
	struct st_disk *d = out;
	const char *p = (const char *)sqlite3_column_text(st, 4);

	d->id = (uint32_t)sqlite3_column_int64(st, 0);
	d->node = (uint32_t)sqlite3_column_int64(st, 1);
	d->tier = (enum st_tier)sqlite3_column_int(st, 2);
	d->capacity = (uint64_t)sqlite3_column_int64(st, 3);
	if (p && p[0] == '/')
		snprintf(d->path, sizeof(d->path), "%s", p);
	else
		snprintf(d->path, sizeof(d->path), "%s/%s", cfg->dir, p ? p : "");
	d->ok = sqlite3_column_int(st, 5);
	d->removed = sqlite3_column_int(st, 6);
	d->used = (uint64_t)sqlite3_column_int64(st, 7);
	d->changed = sqlite3_column_int64(st, 8);
	d->draining = sqlite3_column_int(st, 9);
	return 0;
}

static const struct table disk_table = {
	"SELECT id, node, tier, capacity, path, ok, removed, used, changed, draining FROM disks",
	"disk", "disks", sizeof(struct st_disk), disk_row, 1,
};

int st_config_disks(struct st_config *cfg, struct st_disk **out, int *n, struct st_msg *err)
{
	void *v;
	int rc = list_rows(cfg, &disk_table, "ORDER BY id", &v, n, err);

	if (!rc)
		*out = v;
	return rc;
}

int st_config_disk_get(struct st_config *cfg, uint32_t id, struct st_disk *out, struct st_msg *err)
{
	return get_row(cfg, &disk_table, "id = ?", NULL, id, out, err);
}

int st_config_disk_add(struct st_config *cfg, uint32_t node, enum st_tier tier, uint64_t capacity,
		       uint32_t *id, struct st_msg *err)
{
	char rel[128], abs[ST_PATH_MAX + 160];
	sqlite3_int64 did;
	int n = 0;
	int rc;

	if ((unsigned)tier >= ST_NTIERS)
		return st_fail(err, ST_EINVAL, "tier: unknown");
	if (capacity < (16ULL << 20))
		return st_fail(err, ST_EINVAL, "disk size: must be at least 16M");
	rc = st_sql_begin(cfg->db, err);
	if (rc)
		return rc;
	rc = run(cfg, "UPDATE nodes SET id = id WHERE id = ?", "i", &n, err, (int64_t)node);
	if (!rc && n == 0)
		rc = st_fail(err, ST_ENOTFOUND, "node %u: not found", node);
	if (!rc)
		rc = run(cfg, "INSERT INTO disks(node, tier, capacity, path, changed) VALUES (?, ?, ?, '', ?)",
			 "iiii", NULL, err, (int64_t)node, (int64_t)tier, (int64_t)capacity, st_now());
	if (rc) {
		st_sql_rollback(cfg->db);
		return rc;
	}
	did = sqlite3_last_insert_rowid(cfg->db);
	snprintf(rel, sizeof(rel), "disks/node%u-%s-disk%lld", node, st_tier_name(tier), (long long)did);
	snprintf(abs, sizeof(abs), "%s/%s/egroups", cfg->dir, rel);
	rc = st_mkdir_p(abs);
	if (rc) {
		st_sql_rollback(cfg->db);
		return st_fail(err, rc, "%s: %s", abs, st_strerror(rc));
	}
	rc = run(cfg, "UPDATE disks SET path = ? WHERE id = ?", "ti", NULL, err, rel, (int64_t)did);
	if (rc) {
		st_sql_rollback(cfg->db);
		return rc;
	}
	rc = st_sql_commit(cfg->db, err);
	if (!rc)
		*id = (uint32_t)did;
	return rc;
}

int st_config_disk_set(struct st_config *cfg, uint32_t id, int ok, int removed, struct st_msg *err)
{
	int n = 0;
	int rc = run(cfg, "UPDATE disks SET ok = ?, removed = ?, changed = ? WHERE id = ?", "iiii", &n,
		     err, (int64_t)!!ok, (int64_t)!!removed, st_now(), (int64_t)id);

	if (!rc && n == 0)
		return st_fail(err, ST_ENOTFOUND, "disk %u: not found", id);
	return rc;
}

int st_config_disk_set_draining(struct st_config *cfg, uint32_t id, int draining, struct st_msg *err)
{
	int n = 0;
	int rc = run(cfg, "UPDATE disks SET draining = ?, changed = ? WHERE id = ?", "iii", &n, err, (int64_t)!!draining,
		     st_now(), (int64_t)id);

	if (!rc && n == 0)
		return st_fail(err, ST_ENOTFOUND, "disk %u: not found", id);
	return rc;
}

/* sql stepped once per row i < n, each bound by bind(q, i, arg), all in one transaction. */
static int rows_tx(struct st_config *cfg, const char *sql, int n, void (*bind)(sqlite3_stmt *, int, const void *),
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

struct used_rows {
	const uint32_t *disk;
	const int64_t *delta;
};

static void bind_used(sqlite3_stmt *q, int i, const void *arg)
{
	const struct used_rows *u = arg;
	sqlite3_bind_int64(q, 1, u->delta[i]);
	sqlite3_bind_int64(q, 2, (int64_t)u->disk[i]);
}

int st_config_disk_used_add(struct st_config *cfg, int n, const uint32_t *disk, const int64_t *delta,
			    struct st_msg *err)
{
	struct used_rows u = { disk, delta };

	if (n == 0)
		return 0;
	return rows_tx(cfg, "UPDATE disks SET used = max(0, used + ?) WHERE id = ?", n, bind_used, &u, err);
}

/* --- containers --------------------------------------------------------- */

void st_container_defaults(struct st_container *c)
{
	memset(c, 0, sizeof(*c));
	c->rf = 2;
	c->ec_delay = 7 * 86400;
	c->compress = ST_MODE_OFF;
	c->compress_delay = 3600;
	c->codec = ST_CODEC_IGZIP;
	c->dedup = ST_MODE_OFF;
	c->chunking = ST_CHUNK_CDC; /* measured better on real images (tools/bench_dedup.sh) */
	c->ilm_high = 75;
	c->ilm_low = 60;
	c->cold_age = 30 * 86400;
	c->ntiers = 3;
	c->tiers[0] = ST_TIER_SSD;
	c->tiers[1] = ST_TIER_HDD;
	c->tiers[2] = ST_TIER_CLOUD;
}

int st_container_validate(const struct st_container *c, int nodes, struct st_msg *err)
{
	size_t nl = strnlen(c->name, sizeof(c->name));

	if (nl == 0 || nl >= sizeof(c->name))
		return st_fail(err, ST_EINVAL, "container name: must be 1..%d characters", ST_NAME_MAX - 1);
	for (size_t i = 0; i < nl; i++) {
		char ch = c->name[i];
		if (!(ch == '-' || ch == '_' || ch == '.' || (ch >= '0' && ch <= '9') ||
		      (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
			return st_fail(err, ST_EINVAL, "container name '%s': use letters, digits, - _ .", c->name);
	}
	if (c->rf < 1 || c->rf > 3)
		return st_fail(err, ST_EINVAL, "--rf %d: must be 1, 2 or 3", c->rf);
	if (c->rf > nodes)
		return st_fail(err, ST_EPOLICY, "--rf %d: the cluster has only %d node(s)", c->rf, nodes);
	if (c->rs_k || c->rs_m) {
		if (c->rs_k < 2 || c->rs_k > 16 || c->rs_m < 1 || c->rs_m > 4)
			return st_fail(err, ST_EINVAL, "--rs %d,%d: need 2 <= K <= 16 and 1 <= M <= 4", c->rs_k,
				       c->rs_m);
		if (c->rs_k + c->rs_m > nodes)
			return st_fail(err, ST_EPOLICY, "--rs %d,%d: a strip needs %d distinct nodes, the cluster has %d",
				       c->rs_k, c->rs_m, c->rs_k + c->rs_m, nodes);
	}
	if (c->ec_delay < 0 || c->compress_delay < 0 || c->cold_age < 0)
		return st_fail(err, ST_EINVAL, "durations must not be negative");
	if ((unsigned)c->compress > ST_MODE_POST || (unsigned)c->dedup > ST_MODE_POST)
		return st_fail(err, ST_EINVAL, "compress/dedup: must be off, inline or post");
	if ((unsigned)c->codec > ST_CODEC_ZLIB || (unsigned)c->chunking > ST_CHUNK_CDC)
		return st_fail(err, ST_EINVAL, "codec/chunking: unknown");
	if (c->ilm_low < 1 || c->ilm_high > 100 || c->ilm_low >= c->ilm_high)
		return st_fail(err, ST_EINVAL, "--ilm %d%%,%d%%: need 0 < LOW < HIGH <= 100", c->ilm_high,
			       c->ilm_low);
	if (c->ntiers < 1 || c->ntiers > ST_NTIERS)
		return st_fail(err, ST_EINVAL, "--tiers: give 1 to 3 of ssd,hdd,cloud");
	for (int i = 0; i < c->ntiers; i++) {
		if ((unsigned)c->tiers[i] >= ST_NTIERS)
			return st_fail(err, ST_EINVAL, "--tiers: unknown tier");
		for (int j = 0; j < i; j++)
			if (c->tiers[j] == c->tiers[i])
				return st_fail(err, ST_EINVAL, "--tiers: %s listed twice", st_tier_name(c->tiers[i]));
	}
	if (c->ntiers == 1 && c->tiers[0] == ST_TIER_CLOUD)
		return st_fail(err, ST_EINVAL, "--tiers: the cloud tier cannot be the only tier");
	return 0;
}

static void tiers_str(const struct st_container *c, char *buf, size_t len)
{
	buf[0] = 0;
	for (int i = 0; i < c->ntiers; i++) {
		size_t l = strlen(buf);
		snprintf(buf + l, len - l, "%s%s", i ? "," : "", st_tier_name(c->tiers[i]));
	}
}

int st_config_container_create(struct st_config *cfg, struct st_container *c, struct st_msg *err)
{
	struct st_node *nodes;
	char tiers[32];
	int n, rc = st_config_nodes(cfg, &nodes, &n, err);

	if (rc)
		return rc;
	free(nodes);
	rc = st_container_validate(c, n, err);
	if (rc)
		return rc;
	tiers_str(c, tiers, sizeof(tiers));
	rc = run(cfg,
		 "INSERT INTO containers(name, rf, rs_k, rs_m, ec_delay, compress, compress_delay, codec,"
		 " dedup, chunking, ilm_high, ilm_low, cold_age, tiers, created)"
		 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		 "tiiiiiiiiiiiiti", NULL, err, c->name, (int64_t)c->rf, (int64_t)c->rs_k, (int64_t)c->rs_m,
		 c->ec_delay, (int64_t)c->compress, c->compress_delay, (int64_t)c->codec, (int64_t)c->dedup,
		 (int64_t)c->chunking, (int64_t)c->ilm_high, (int64_t)c->ilm_low, c->cold_age, tiers, st_now());
	if (rc == ST_EEXIST)
		return st_fail(err, rc, "container '%s': already exists", c->name);
	if (!rc)
		c->id = (uint32_t)sqlite3_last_insert_rowid(cfg->db);
	return rc;
}

static int container_row(const struct st_config *cfg, sqlite3_stmt *st, void *out)
{
	struct st_container *c = out;
	const char *tiers = (const char *)sqlite3_column_text(st, 14);
	char buf[64], *save = NULL, *tok;

	memset(c, 0, sizeof(*c));
	c->id = (uint32_t)sqlite3_column_int64(st, 0);
	snprintf(c->name, sizeof(c->name), "%s", (const char *)sqlite3_column_text(st, 1));
	c->rf = sqlite3_column_int(st, 2);
	c->rs_k = sqlite3_column_int(st, 3);
	c->rs_m = sqlite3_column_int(st, 4);
	c->ec_delay = sqlite3_column_int64(st, 5);
	c->compress = (enum st_mode)sqlite3_column_int(st, 6);
	c->compress_delay = sqlite3_column_int64(st, 7);
	c->codec = (enum st_codec)sqlite3_column_int(st, 8);
	c->dedup = (enum st_mode)sqlite3_column_int(st, 9);
	c->chunking = (enum st_chunking)sqlite3_column_int(st, 10);
	c->ilm_high = sqlite3_column_int(st, 11);
	c->ilm_low = sqlite3_column_int(st, 12);
	c->cold_age = sqlite3_column_int64(st, 13);
	snprintf(buf, sizeof(buf), "%s", tiers ? tiers : "");
	for (tok = strtok_r(buf, ",", &save); tok && c->ntiers < ST_NTIERS; tok = strtok_r(NULL, ",", &save)) {
		int t = st_tier_parse(tok);
		if (t < 0)
			return ST_ECORRUPT;
		c->tiers[c->ntiers++] = (enum st_tier)t;
	}
	return c->ntiers ? 0 : ST_ECORRUPT;
}

static const struct table container_table = {
	"SELECT id, name, rf, rs_k, rs_m, ec_delay, compress, compress_delay, codec, dedup, chunking,"
	" ilm_high, ilm_low, cold_age, tiers FROM containers",
	"container", "containers", sizeof(struct st_container), container_row, 0,
};

int st_config_container_get(struct st_config *cfg, const char *name, struct st_container *out,
			    struct st_msg *err)
{
	return get_row(cfg, &container_table, "name = ?", name, 0, out, err);
}

int st_config_container_by_id(struct st_config *cfg, uint32_t id, struct st_container *out,
			      struct st_msg *err)
{
	return get_row(cfg, &container_table, "id = ?", NULL, id, out, err);
}

int st_config_containers(struct st_config *cfg, struct st_container **out, int *n, struct st_msg *err)
{
	void *v;
	int rc = list_rows(cfg, &container_table, "ORDER BY id", &v, n, err);

	if (!rc)
		*out = v;
	return rc;
}

/* --- vdisks ------------------------------------------------------------- */

static int vdisk_row(const struct st_config *cfg, sqlite3_stmt *st, void *out)
{
	struct st_vdisk *v = out;

	memset(v, 0, sizeof(*v));
	v->id = (uint64_t)sqlite3_column_int64(st, 0);
	snprintf(v->name, sizeof(v->name), "%s", (const char *)sqlite3_column_text(st, 1));
	v->container = (uint32_t)sqlite3_column_int64(st, 2);
	v->size = (uint64_t)sqlite3_column_int64(st, 3);
	v->block_size = (uint32_t)sqlite3_column_int64(st, 4);
	v->state = (enum st_vdisk_state)sqlite3_column_int(st, 5);
	v->readonly = sqlite3_column_int(st, 6);
	v->parent = (uint64_t)sqlite3_column_int64(st, 7);
	v->open_egroup = (uint64_t)sqlite3_column_int64(st, 8);
	v->created = sqlite3_column_int64(st, 9);
	return 0;
}

static const struct table vdisk_table = {
	"SELECT id, name, container, size, block_size, state, readonly, parent, open_egroup, created FROM vdisks",
	"vdisk", "vdisks", sizeof(struct st_vdisk), vdisk_row, 0,
};

int st_config_vdisk_insert(struct st_config *cfg, const struct st_vdisk *v, struct st_msg *err)
{
	int rc = run(cfg,
		     "INSERT INTO vdisks(id, name, container, size, block_size, state, readonly, parent,"
		     " open_egroup, created) VALUES (?, ?, ?, ?, ?, 0, ?, ?, 0, ?)",
		     "itiiiiii", NULL, err, (int64_t)v->id, v->name, (int64_t)v->container, (int64_t)v->size,
		     (int64_t)v->block_size, (int64_t)v->readonly, (int64_t)v->parent, v->created);

	if (rc == ST_EEXIST)
		return st_fail(err, rc, "vdisk '%s': already exists", v->name);
	return rc;
}

int st_config_vdisk_get(struct st_config *cfg, const char *name, struct st_vdisk *out, struct st_msg *err)
{
	return get_row(cfg, &vdisk_table, "name = ? AND state = 0", name, 0, out, err);
}

int st_config_vdisk_by_id(struct st_config *cfg, uint64_t id, struct st_vdisk *out, struct st_msg *err)
{
	return get_row(cfg, &vdisk_table, "id = ?", NULL, (int64_t)id, out, err);
}

int st_config_vdisks(struct st_config *cfg, int all, struct st_vdisk **out, int *n, struct st_msg *err)
{
	void *v;
	int rc = list_rows(cfg, &vdisk_table, all ? "ORDER BY id" : "WHERE state = 0 ORDER BY id", &v, n, err);

	if (!rc)
		*out = v;
	return rc;
}

int st_config_vdisk_delete(struct st_config *cfg, uint64_t id, struct st_msg *err)
{
	int n = 0;
	int rc = run(cfg, "UPDATE vdisks SET state = 1, open_egroup = 0 WHERE id = ? AND state = 0", "i", &n,
		     err, (int64_t)id);

	if (!rc && n == 0)
		return st_fail(err, ST_ENOTFOUND, "vdisk %llu: not found", (unsigned long long)id);
	return rc;
}

int st_config_vdisk_purge(struct st_config *cfg, uint64_t id, struct st_msg *err)
{
	return run(cfg, "DELETE FROM vdisks WHERE id = ? AND state = 1", "i", NULL, err, (int64_t)id);
}

int st_config_vdisk_set_open(struct st_config *cfg, uint64_t id, uint64_t egroup, struct st_msg *err)
{
	return run(cfg, "UPDATE vdisks SET open_egroup = ? WHERE id = ?", "ii", NULL, err, (int64_t)egroup,
		   (int64_t)id);
}

/* --- IDs, sequence, in-flight operations -------------------------------- */

int st_config_ids_reserve(struct st_config *cfg, uint32_t node, uint64_t count, uint64_t *first,
			  struct st_msg *err)
{
	sqlite3_stmt *st;
	uint64_t next = 1;
	int rc;

	if (node == 0 || node > 0xffff || count == 0 || count > (1ULL << 40))
		return st_fail(err, ST_EINVAL, "id reservation: bad node %u or count", node);
	rc = st_sql_begin(cfg->db, err);
	if (rc)
		return rc;
	rc = st_sql_prepare(cfg->db, "SELECT next FROM id_counters WHERE node = ?", &st, err);
	if (rc)
		goto fail;
	sqlite3_bind_int64(st, 1, node);
	if (sqlite3_step(st) == SQLITE_ROW)
		next = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (next + count >= (1ULL << 48)) {
		rc = st_fail(err, ST_ENOSPACE, "node %u: id space exhausted", node);
		goto fail;
	}
	rc = run(cfg, "INSERT OR REPLACE INTO id_counters(node, next) VALUES (?, ?)", "ii", NULL, err,
		 (int64_t)node, (int64_t)(next + count));
	if (rc)
		goto fail;
	rc = st_sql_commit(cfg->db, err);
	if (rc)
		return rc;
	*first = ((uint64_t)node << 48) | next;
	return 0;
fail:
	st_sql_rollback(cfg->db);
	return rc;
}

/* The start time of pid (field 22 of /proc/pid/stat), 0 if it is gone. */
static int64_t proc_start(long pid)
{
	char path[64], buf[1024];
	FILE *f;
	char *p;
	long long start = 0;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return 0;
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* after ") " come fields 3..; starttime is field 22 */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %lld",
		   &start) != 1)
		return 0;
	return start;
}

int st_config_op_begin(struct st_config *cfg, const char *what, uint64_t *seq, int64_t *op,
		       struct st_msg *err)
{
	sqlite3_stmt *st;
	int64_t s = 0;
	int rc = st_sql_begin(cfg->db, err);

	if (rc)
		return rc;
	rc = run(cfg, "UPDATE seq SET value = value + 1 WHERE id = 1", "", NULL, err);
	if (rc)
		goto fail;
	rc = st_sql_prepare(cfg->db, "SELECT value FROM seq WHERE id = 1", &st, err);
	if (rc)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW)
		s = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	rc = run(cfg, "INSERT INTO inflight(pid, pstart, begin_seq, started, what) VALUES (?, ?, ?, ?, ?)",
		 "iiiit", NULL, err, (int64_t)getpid(), proc_start(getpid()), s, st_now(), what);
	if (rc)
		goto fail;
	*op = sqlite3_last_insert_rowid(cfg->db);
	rc = st_sql_commit(cfg->db, err);
	if (rc)
		return rc;
	*seq = (uint64_t)s;
	return 0;
fail:
	st_sql_rollback(cfg->db);
	return rc;
}

int st_config_op_end(struct st_config *cfg, int64_t op, struct st_msg *err)
{
	return run(cfg, "DELETE FROM inflight WHERE op = ?", "i", NULL, err, op);
}

int st_config_scan_seq(struct st_config *cfg, uint64_t *s0, struct st_msg *err)
{
	sqlite3_stmt *st;
	int64_t cur = 0, oldest = INT64_MAX;
	int rc = st_sql_begin(cfg->db, err);

	if (rc)
		return rc;
	rc = st_sql_prepare(cfg->db, "SELECT op, pid, pstart, begin_seq FROM inflight", &st, err);
	if (rc)
		goto fail;
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t op = sqlite3_column_int64(st, 0);
		long pid = (long)sqlite3_column_int64(st, 1);
		int64_t pstart = sqlite3_column_int64(st, 2);
		int alive = kill((pid_t)pid, 0) == 0 || errno == EPERM;

		if (alive && proc_start(pid) != pstart)
			alive = 0; /* the pid was reused */
		if (!alive) {
			rc = run(cfg, "DELETE FROM inflight WHERE op = ?", "i", NULL, err, op);
			if (rc)
				break;
			continue;
		}
		if (sqlite3_column_int64(st, 3) < oldest)
			oldest = sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	if (rc)
		goto fail;
	rc = st_sql_prepare(cfg->db, "SELECT value FROM seq WHERE id = 1", &st, err);
	if (rc)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW)
		cur = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	rc = st_sql_commit(cfg->db, err);
	if (rc)
		return rc;
	*s0 = (uint64_t)(oldest < cur + 1 ? oldest : cur + 1);
	return 0;
fail:
	st_sql_rollback(cfg->db);
	return rc;
}

int st_config_oldest_inflight(struct st_config *cfg, int64_t *started, struct st_msg *err)
{
	uint64_t s0;
	sqlite3_stmt *st;
	int rc = st_config_scan_seq(cfg, &s0, err); /* removes dead processes' operations */

	if (rc)
		return rc;
	rc = st_sql_prepare(cfg->db, "SELECT min(started) FROM inflight", &st, err);
	if (rc)
		return rc;
	*started = INT64_MAX;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		*started = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

int st_config_seq(struct st_config *cfg, uint64_t *seq, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(cfg->db, "SELECT value FROM seq WHERE id = 1", &st, err);

	if (rc)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW)
		*seq = (uint64_t)sqlite3_column_int64(st, 0);
	else
		rc = st_fail(err, ST_ECORRUPT, "config.db: no sequence row");
	sqlite3_finalize(st);
	return rc;
}

int st_config_io_error(struct st_config *cfg, uint64_t egroup, uint32_t disk, const char *kind,
		       struct st_msg *err)
{
	return run(cfg, "INSERT INTO io_errors(at, egroup, disk, kind) VALUES (?, ?, ?, ?)", "iiit", NULL, err,
		   st_now(), (int64_t)egroup, (int64_t)disk, kind);
}

/* --- read counts, settings ---------------------------------------------- */

struct reads_rows {
	const uint64_t *egroup;
	const uint32_t *reads;
	int64_t now;
};

static void bind_reads(sqlite3_stmt *q, int i, const void *arg)
{
	const struct reads_rows *r = arg;
	sqlite3_bind_int64(q, 1, (int64_t)r->egroup[i]);
	sqlite3_bind_int64(q, 2, r->reads[i]);
	sqlite3_bind_int64(q, 3, r->now);
}

int st_config_reads_add(struct st_config *cfg, int n, const uint64_t *egroup, const uint32_t *reads, int64_t now,
			struct st_msg *err)
{
	struct reads_rows r = { egroup, reads, now };

	return rows_tx(cfg,
		       "INSERT INTO egroup_reads(egroup, reads, last) VALUES (?, ?, ?) ON CONFLICT(egroup)"
		       " DO UPDATE SET reads = reads + excluded.reads, last = excluded.last",
		       n, bind_reads, &r, err);
}

int st_config_reads(struct st_config *cfg, st_reads_cb cb, void *arg, struct st_msg *err)
{
	sqlite3_stmt *q;
	int rc = st_sql_prepare(cfg->db, "SELECT egroup, reads, last FROM egroup_reads", &q, err);

	if (rc)
		return rc;
	while (!rc && sqlite3_step(q) == SQLITE_ROW)
		rc = cb(arg, (uint64_t)sqlite3_column_int64(q, 0), (uint32_t)sqlite3_column_int64(q, 1),
			sqlite3_column_int64(q, 2));
	sqlite3_finalize(q);
	return rc;
}

static void bind_egroup(sqlite3_stmt *q, int i, const void *arg)
{
	sqlite3_bind_int64(q, 1, (int64_t)((const uint64_t *)arg)[i]);
}

int st_config_reads_clear(struct st_config *cfg, int n, const uint64_t *egroup, struct st_msg *err)
{
	return rows_tx(cfg, "DELETE FROM egroup_reads WHERE egroup = ?", n, bind_egroup, egroup, err);
}

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
		return run(cfg, "DELETE FROM cluster WHERE key = ?", "t", NULL, err, key);
	return run(cfg, "INSERT OR REPLACE INTO cluster(key, value) VALUES (?, ?)", "tt", NULL, err, key, value);
}

int st_config_uuid(struct st_config *cfg, char *buf, size_t len, struct st_msg *err)
{
	char u[64] = "";
	FILE *f;
	int rc;

	if (st_config_setting_get(cfg, "uuid", buf, len, NULL) == 0)
		return 0;
	f = fopen("/proc/sys/kernel/random/uuid", "r");
	if (!f || !fgets(u, sizeof(u), f)) {
		if (f)
			fclose(f);
		return st_fail(err, -EIO, "cannot make a cluster uuid");
	}
	fclose(f);
	u[strcspn(u, "\n")] = 0;
	/* first writer wins: INSERT OR IGNORE, then read back what is there */
	rc = run(cfg, "INSERT OR IGNORE INTO cluster(key, value) VALUES ('uuid', ?)", "t", NULL, err, u);
	if (!rc)
		rc = st_config_setting_get(cfg, "uuid", buf, len, err);
	return rc;
}
