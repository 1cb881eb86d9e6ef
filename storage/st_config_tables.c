/*
 * st_config_tables: config.db's object tables, nodes, disks, containers
 * and vdisks (st_config.h), and container policy checks.
 *
 * DESIGN: every table is read through one generic list reader and one
 * single-row reader, given the table's SELECT and a row callback that fills
 * its struct (struct table), so a column is added in one place. A disk's
 * path is stored relative to the cluster directory and resolved here. Each
 * call is one statement or one IMMEDIATE transaction (disk_add creates the
 * disk's directory inside its transaction and rolls back if it cannot).
 */
#include "storage/st_config_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "storage/st_sql.h"

/* --- one generic reader for every table ---------------------------------- */

/* How to read one table's rows into its struct. */
struct table {
	const char *select; /* "SELECT <columns> FROM <table>" */
	const char *noun;   /* "disk": messages about one row */
	const char *plural; /* "disks": messages about the listing */
	size_t size;        /* of the struct */
	/*
	 * Fill out from the current row and check it against its invariants:
	 * 0, or ST_ECORRUPT with why filled for a row that cannot be right
	 * (nothing may act on it: the caller fails with that reason).
	 */
	int (*row)(const struct st_config *cfg, sqlite3_stmt *st, void *out, struct st_msg *why);
};

/* A row that fails its invariants: "<noun> <id>: <what>", ST_ECORRUPT. */
static int bad_row(struct st_msg *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad_row(struct st_msg *why, const char *fmt, ...)
{
	char text[sizeof(why->text)]; /* the arguments may hold why->text */
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	memcpy(why->text, text, sizeof(text));
	return ST_ECORRUPT;
}

static int is_bool(int v)
{
	return v == 0 || v == 1;
}

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
		struct st_msg why = { "" };
		rc = t->row(cfg, st, v + (size_t)cnt++ * t->size, &why);
		if (rc)
			st_fail(err, rc, "config.db: corrupt %s row: %s", t->noun, why.text);
	}
	if (!rc && src != SQLITE_DONE) {
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
	int rc, src;

	snprintf(sql, sizeof(sql), "%s WHERE %s", t->select, where);
	rc = st_sql_prepare(cfg->db, sql, &st, err);
	if (rc)
		return rc;
	if (name)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int64(st, 1, id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		struct st_msg why = { "" };
		rc = t->row(cfg, st, out, &why);
		if (rc)
			st_fail(err, rc, "config.db: corrupt %s row: %s", t->noun, why.text);
	} else if (src != SQLITE_DONE) {
		char what[64];
		snprintf(what, sizeof(what), "config.db %s", t->plural);
		rc = st_sql_fail(cfg->db, src, what, err);
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
	int rc = st_config_run(cfg, "INSERT INTO nodes(id, up, changed) VALUES (?, 1, ?)", "ii", NULL, err,
		     (int64_t)id, st_now());

	if (rc == ST_EEXIST)
		return st_fail(err, rc, "node %u: already exists", id);
	return rc;
}

int st_config_node_set(struct st_config *cfg, uint32_t id, int up, struct st_msg *err)
{
	int n = 0;
	int rc = st_config_run(cfg, "UPDATE nodes SET up = ?, changed = ? WHERE id = ?", "iii", &n, err,
		     (int64_t)!!up, st_now(), (int64_t)id);

	if (!rc && n == 0)
		return st_fail(err, ST_ENOTFOUND, "node %u: not found", id);
	return rc;
}

static int node_row(const struct st_config *cfg, sqlite3_stmt *st, void *out, struct st_msg *why)
{
	struct st_node *v = out;
	int64_t id = sqlite3_column_int64(st, 0);

	v->id = (uint32_t)id;
	v->up = sqlite3_column_int(st, 1);
	v->changed = sqlite3_column_int64(st, 2);
	if (id < 1 || id > 0xffff)
		return bad_row(why, "node id %lld outside 1..65535", (long long)id);
	if (!is_bool(v->up))
		return bad_row(why, "node %u: up = %d", v->id, v->up);
	return 0;
}

static const struct table node_table = {
	"SELECT id, up, changed FROM nodes", "node", "nodes", sizeof(struct st_node), node_row,
};

int st_config_nodes(struct st_config *cfg, struct st_node **out, int *n, struct st_msg *err)
{
	void *v;
	int rc = list_rows(cfg, &node_table, "ORDER BY id", &v, n, err);

	if (!rc)
		*out = v;
	return rc;
}

static int disk_row(const struct st_config *cfg, sqlite3_stmt *st, void *out, struct st_msg *why)
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
	if (sqlite3_column_int64(st, 0) < 1 || sqlite3_column_int64(st, 0) > UINT32_MAX)
		return bad_row(why, "disk id %lld out of range", (long long)sqlite3_column_int64(st, 0));
	if (sqlite3_column_int64(st, 1) < 1 || sqlite3_column_int64(st, 1) > 0xffff)
		return bad_row(why, "disk %u: node %lld out of range", d->id, (long long)sqlite3_column_int64(st, 1));
	if ((unsigned)d->tier >= ST_NTIERS)
		return bad_row(why, "disk %u: unknown tier %d", d->id, (int)d->tier);
	if (sqlite3_column_int64(st, 3) <= 0)
		return bad_row(why, "disk %u: capacity %lld", d->id, (long long)sqlite3_column_int64(st, 3));
	if (!is_bool(d->ok) || !is_bool(d->removed) || !is_bool(d->draining))
		return bad_row(why, "disk %u: state flags ok=%d removed=%d draining=%d", d->id, d->ok, d->removed,
			       d->draining);
	if (!p || !p[0])
		return bad_row(why, "disk %u: no path", d->id);
	return 0;
}

static const struct table disk_table = {
	"SELECT id, node, tier, capacity, path, ok, removed, used, changed, draining FROM disks",
	"disk", "disks", sizeof(struct st_disk), disk_row,
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
	rc = st_config_run(cfg, "UPDATE nodes SET id = id WHERE id = ?", "i", &n, err, (int64_t)node);
	if (!rc && n == 0)
		rc = st_fail(err, ST_ENOTFOUND, "node %u: not found", node);
	if (!rc)
		rc = st_config_run(cfg, "INSERT INTO disks(node, tier, capacity, path, changed) VALUES (?, ?, ?, '', ?)",
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
	rc = st_config_run(cfg, "UPDATE disks SET path = ? WHERE id = ?", "ti", NULL, err, rel, (int64_t)did);
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
	int rc = st_config_run(cfg, "UPDATE disks SET ok = ?, removed = ?, changed = ? WHERE id = ?", "iiii", &n,
		     err, (int64_t)!!ok, (int64_t)!!removed, st_now(), (int64_t)id);

	if (!rc && n == 0)
		return st_fail(err, ST_ENOTFOUND, "disk %u: not found", id);
	return rc;
}

int st_config_disk_set_draining(struct st_config *cfg, uint32_t id, int draining, struct st_msg *err)
{
	int n = 0;
	int rc = st_config_run(cfg, "UPDATE disks SET draining = ?, changed = ? WHERE id = ?", "iii", &n, err, (int64_t)!!draining,
		     st_now(), (int64_t)id);

	if (!rc && n == 0)
		return st_fail(err, ST_ENOTFOUND, "disk %u: not found", id);
	return rc;
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
	return st_config_rows_tx(cfg, "UPDATE disks SET used = max(0, used + ?) WHERE id = ?", n, bind_used, &u, err);
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
	rc = st_config_run(cfg,
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

static int container_row(const struct st_config *cfg, sqlite3_stmt *st, void *out, struct st_msg *why)
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
			return bad_row(why, "container %u: unknown tier '%s'", c->id, tok);
		c->tiers[c->ntiers++] = (enum st_tier)t;
	}
	/* every policy as `container create` checks it (the node count is not known here: 64, the most) */
	if (st_container_validate(c, 64, why))
		return bad_row(why, "container %u: %s", c->id, why->text);
	return 0;
}

static const struct table container_table = {
	"SELECT id, name, rf, rs_k, rs_m, ec_delay, compress, compress_delay, codec, dedup, chunking,"
	" ilm_high, ilm_low, cold_age, tiers FROM containers",
	"container", "containers", sizeof(struct st_container), container_row,
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

static int vdisk_row(const struct st_config *cfg, sqlite3_stmt *st, void *out, struct st_msg *why)
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
	if (!v->name[0])
		return bad_row(why, "vdisk %llu: no name", (unsigned long long)v->id);
	if (v->block_size < ST_BLOCK_MIN || v->block_size > ST_BLOCK_MAX || (v->block_size & (v->block_size - 1)))
		return bad_row(why, "vdisk '%s': block size %u is not a power of two in 4K..4M", v->name, v->block_size);
	if (sqlite3_column_int64(st, 3) <= 0 || v->size / v->block_size > ST_VDISK_BLOCKS_MAX)
		return bad_row(why, "vdisk '%s': size %lld out of range", v->name, (long long)sqlite3_column_int64(st, 3));
	if (!is_bool((int)v->state) || !is_bool(v->readonly))
		return bad_row(why, "vdisk '%s': state %d, readonly %d", v->name, (int)v->state, v->readonly);
	/* a deletion is two fields: the state and when (one flipped field does not delete a vdisk) */
	if ((v->state == ST_VDISK_DELETED) != (sqlite3_column_int64(st, 10) > 0))
		return bad_row(why, "vdisk '%s': state %d but deleted at %lld", v->name, (int)v->state,
			       (long long)sqlite3_column_int64(st, 10));
	if (sqlite3_column_int64(st, 2) < 1 || sqlite3_column_int64(st, 2) > UINT32_MAX)
		return bad_row(why, "vdisk '%s': container %lld out of range", v->name,
			       (long long)sqlite3_column_int64(st, 2));
	return 0;
}

static const struct table vdisk_table = {
	"SELECT id, name, container, size, block_size, state, readonly, parent, open_egroup, created, deleted FROM vdisks",
	"vdisk", "vdisks", sizeof(struct st_vdisk), vdisk_row,
};

int st_config_vdisk_insert(struct st_config *cfg, const struct st_vdisk *v, struct st_msg *err)
{
	int rc = st_config_run(cfg,
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
	int rc = st_config_run(cfg, "UPDATE vdisks SET state = 1, open_egroup = 0, deleted = ? WHERE id = ? AND state = 0", "ii",
		     &n, err, st_now() > 0 ? st_now() : 1, (int64_t)id);

	if (!rc && n == 0)
		return st_fail(err, ST_ENOTFOUND, "vdisk %llu: not found", (unsigned long long)id);
	return rc;
}

int st_config_vdisk_purge(struct st_config *cfg, uint64_t id, struct st_msg *err)
{
	return st_config_run(cfg, "DELETE FROM vdisks WHERE id = ? AND state = 1", "i", NULL, err, (int64_t)id);
}

int st_config_vdisk_set_open(struct st_config *cfg, uint64_t id, uint64_t egroup, struct st_msg *err)
{
	return st_config_run(cfg, "UPDATE vdisks SET open_egroup = ? WHERE id = ?", "ii", NULL, err, (int64_t)egroup,
		   (int64_t)id);
}
