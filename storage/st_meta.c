/*
 * st_meta: the three maps over S SQLite shards: opening the shards, which
 * shard holds a key, and every statement on them. See st_meta.h for the
 * blob formats and the ordering rules; the blobs are encoded and checked in
 * st_meta_codec.c.
 *
 * DESIGN: one connection per shard, statements prepared once. An egroup
 * row is (id, version, last_ref_seq, record blob) so a scan reads it
 * sequentially and an update is one row write; version and last_ref_seq are
 * columns so compare-and-set is a single UPDATE ... WHERE version = ?.
 */
#include "storage/st_meta_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/st_sql.h"


static const char *queries[Q_N] = {
	[Q_EG_GET] = "SELECT version, last_ref_seq, rec FROM egroups WHERE id = ?",
	[Q_EG_INS] = "INSERT INTO egroups(id, version, last_ref_seq, rec, t_write, t_cold, t_scrub, t_created)"
		     " VALUES (?1, ?2, ?3, ?4, ?6, ?7, ?8, ?9)",
	[Q_EG_UPD] = "UPDATE egroups SET version = ?2, last_ref_seq = ?3, rec = ?4, t_write = ?6, t_cold = ?7,"
		     " t_scrub = ?8, t_created = ?9 WHERE id = ?1 AND version = ?5",
	[Q_EG_DEL] = "DELETE FROM egroups WHERE id = ? AND version = ?",
	[Q_EX_GET] = "SELECT egroup, crc FROM extents WHERE id = ?",
	[Q_EX_PUT] = "INSERT OR REPLACE INTO extents(id, egroup, crc) VALUES (?, ?, ?)",
	[Q_EX_DEL] = "DELETE FROM extents WHERE id = ? AND egroup = ?",
	[Q_BL_GET] = "SELECT regions FROM blocks WHERE vdisk = ? AND block = ?",
	[Q_BL_PUT] = "INSERT OR REPLACE INTO blocks(vdisk, block, regions) VALUES (?, ?, ?)",
	[Q_BL_DEL] = "DELETE FROM blocks WHERE vdisk = ? AND block = ?",
	[Q_FENCED] = "SELECT 1 FROM fences WHERE holder = ?",
	[Q_DATA_VERSION] = "PRAGMA data_version",
	[Q_RP_INS] = "INSERT OR IGNORE INTO replicas(disk, egroup) VALUES (?, ?)",
	[Q_RP_DEL] = "DELETE FROM replicas WHERE egroup = ?1 AND disk NOT IN (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
};

/*
 * The fences of holders declared dead or taken over (st_meta_fence): a
 * lease's holder name (st_lease_holder_name) or a controller's. Made on
 * first open in shards older than it.
 */
#define FENCES_TABLE "CREATE TABLE IF NOT EXISTS fences(holder TEXT PRIMARY KEY, at INTEGER NOT NULL);"

/*
 * The schema, run once per shard by st_meta_open(create = 1) (curator init),
 * never on an existing shard: a file that lost its tables is refused, not
 * re-created empty. Every shard names itself in its `shard` row (index,
 * count, cluster uuid, format), which st_meta_open checks.
 */
static const char meta_schema[] =
	"CREATE TABLE shard(id INTEGER PRIMARY KEY CHECK (id = 1), idx INTEGER NOT NULL,"
	"  count INTEGER NOT NULL, cluster TEXT NOT NULL, format INTEGER NOT NULL);"
	"CREATE TABLE egroups(id INTEGER PRIMARY KEY, version INTEGER NOT NULL,"
	"  last_ref_seq INTEGER NOT NULL, rec BLOB NOT NULL);"
	"CREATE TABLE extents(id BLOB PRIMARY KEY, egroup INTEGER NOT NULL, crc INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE blocks(vdisk INTEGER NOT NULL, block INTEGER NOT NULL,"
	"  regions BLOB NOT NULL, PRIMARY KEY (vdisk, block)) WITHOUT ROWID;"
	"CREATE TABLE strips(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, m INTEGER NOT NULL,"
	"  len INTEGER NOT NULL, members BLOB NOT NULL, crc INTEGER NOT NULL);"
	"CREATE TABLE fingerprints(egroup INTEGER PRIMARY KEY, fps BLOB NOT NULL);" FENCES_TABLE;

/*
 * Format 3 on top of format 2 (the rows are unchanged): the egroups' times
 * as indexed columns (t_write last write, t_cold the later of last write
 * and last access, t_scrub, t_created), written by the same statement as
 * the row; the change log `changes` (an egroup that was inserted, updated
 * or deleted, with the log's sequence at its last change), written by
 * triggers in the same transaction as the change; and `changes_mark`, the
 * sequence and the policy time up to which a scan has taken the log in.
 * A format-2 shard is brought to format 3 in place when opened (one
 * transaction: the columns filled from the rows, the indexes built).
 */
static const char meta_schema_v3[] =
	"ALTER TABLE egroups ADD COLUMN t_write INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE egroups ADD COLUMN t_cold INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE egroups ADD COLUMN t_scrub INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE egroups ADD COLUMN t_created INTEGER NOT NULL DEFAULT 0;";
static const char meta_schema_v3_log[] =
	"CREATE INDEX egroups_t_write ON egroups(t_write);"
	"CREATE INDEX egroups_t_cold ON egroups(t_cold);"
	"CREATE INDEX egroups_t_scrub ON egroups(t_scrub);"
	"CREATE INDEX egroups_t_created ON egroups(t_created);"
	"CREATE TABLE changes(egroup INTEGER PRIMARY KEY, seq INTEGER NOT NULL);"
	"CREATE TABLE changes_seq(id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);"
	"INSERT INTO changes_seq VALUES (1, 0);"
	"CREATE TABLE changes_mark(id INTEGER PRIMARY KEY CHECK (id = 1), upto INTEGER NOT NULL, at INTEGER NOT NULL);"
	"CREATE TRIGGER egroups_log_ins AFTER INSERT ON egroups BEGIN"
	"  UPDATE changes_seq SET n = n + 1;"
	"  INSERT OR REPLACE INTO changes(egroup, seq) VALUES (new.id, (SELECT n FROM changes_seq)); END;"
	"CREATE TRIGGER egroups_log_upd AFTER UPDATE ON egroups BEGIN"
	"  UPDATE changes_seq SET n = n + 1;"
	"  INSERT OR REPLACE INTO changes(egroup, seq) VALUES (new.id, (SELECT n FROM changes_seq)); END;"
	"CREATE TRIGGER egroups_log_del AFTER DELETE ON egroups BEGIN"
	"  UPDATE changes_seq SET n = n + 1;"
	"  INSERT OR REPLACE INTO changes(egroup, seq) VALUES (old.id, (SELECT n FROM changes_seq)); END;";

/* The indexed times of r (format 3). */
static void egroup_times(const struct st_egroup_rec *r, int64_t t[4])
{
	t[0] = r->last_write;
	t[1] = r->last_write > r->last_access ? r->last_write : r->last_access;
	t[2] = r->last_scrub;
	t[3] = r->created;
}


/* --- shards ------------------------------------------------------------- */

/* Make shard i of n: the schema and its `shard` row, in one transaction. */
static int shard_create(struct shard *s, int i, int n, const char *cluster, struct st_msg *err)
{
	char row[256];
	int rc = st_sql_begin(s->db, err);

	if (!rc)
		rc = st_sql_exec(s->db, meta_schema, err);
	if (!rc)
		rc = st_sql_exec(s->db, meta_schema_v3, err);
	if (!rc)
		rc = st_sql_exec(s->db, meta_schema_v3_log, err);
	if (!rc)
		rc = st_sql_exec(s->db, st_meta_schema_v4, err);
	if (!rc) {
		char *q = sqlite3_mprintf("INSERT INTO shard VALUES (1, %d, %d, %Q, %d)", i, n, cluster,
					  ST_META_FORMAT);
		rc = q ? st_sql_exec(s->db, q, err) : st_fail(err, -ENOMEM, "out of memory");
		sqlite3_free(q);
	}
	if (rc) {
		st_sql_rollback(s->db);
		snprintf(row, sizeof(row), "%s", err ? err->text : "");
		return st_fail(err, rc, "%s: cannot create the shard: %s", s->path, row);
	}
	return st_sql_commit(s->db, err);
}

/* Is this file shard i of n of this cluster, in this format? 0 or ST_ECORRUPT (err says why). */
static int shard_check(struct shard *s, int i, int n, const char *cluster, int *format, struct st_msg *err)
{
	sqlite3_stmt *q;
	int src, rc;

	src = sqlite3_prepare_v2(s->db, "SELECT idx, count, cluster, format FROM shard WHERE id = 1", -1, &q, NULL);
	if (src != SQLITE_OK) {
		rc = st_fail(err, ST_ECORRUPT, "%s: not a metadata shard (%s)", s->path, sqlite3_errmsg(s->db));
		sqlite3_finalize(q);
		return rc;
	}
	src = sqlite3_step(q);
	if (src != SQLITE_ROW) {
		rc = src == SQLITE_DONE ? st_fail(err, ST_ECORRUPT, "%s: not a metadata shard (no shard row)", s->path)
					: st_fail(err, ST_ECORRUPT, "%s: not a metadata shard (%s)", s->path,
						  sqlite3_errmsg(s->db));
	} else if (sqlite3_column_int(q, 3) > ST_META_FORMAT || sqlite3_column_int(q, 3) < 2) {
		rc = st_fail(err, ST_ECORRUPT, "%s: shard format %d, this curator reads format %d", s->path,
			     sqlite3_column_int(q, 3), ST_META_FORMAT);
	} else if (sqlite3_column_int(q, 0) != i || sqlite3_column_int(q, 1) != n) {
		rc = st_fail(err, ST_ECORRUPT, "%s: holds shard %d of %d, expected %d of %d", s->path,
			     sqlite3_column_int(q, 0), sqlite3_column_int(q, 1), i, n);
	} else if (cluster && strcmp((const char *)sqlite3_column_text(q, 2), cluster)) {
		rc = st_fail(err, ST_ECORRUPT, "%s: belongs to another cluster (%s)", s->path,
			     (const char *)sqlite3_column_text(q, 2));
	} else {
		*format = sqlite3_column_int(q, 3);
		rc = 0;
	}
	sqlite3_finalize(q);
	return rc;
}

static int step_done(struct shard *s, sqlite3_stmt *q, const char *what, struct st_msg *err);

/*
 * A format-2 shard to format 3 (meta_schema_v3), in one transaction that
 * looks at the format again under the write lock (another process may
 * have done it): the time columns added and filled from the rows (a
 * corrupt row keeps zeros: it is never acted on), then the indexes, the
 * log and its triggers. 0 or an error (nothing changed).
 */
static int shard_upgrade(struct shard *s, struct st_msg *err)
{
	sqlite3_stmt *q = NULL, *u = NULL;
	int rc = st_sql_begin(s->db, err), src, format = 0;

	if (rc)
		return rc;
	if (sqlite3_prepare_v2(s->db, "SELECT format FROM shard WHERE id = 1", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		format = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	q = NULL;
	if (format != 2)
		return st_sql_commit(s->db, err);
	rc = st_sql_exec(s->db, meta_schema_v3, err);
	if (!rc)
		rc = st_sql_prepare(s->db, "SELECT id, last_ref_seq, rec FROM egroups", &q, err);
	if (!rc)
		rc = st_sql_prepare(s->db, "UPDATE egroups SET t_write = ?2, t_cold = ?3, t_scrub = ?4, t_created = ?5"
				    " WHERE id = ?1", &u, err);
	while (!rc && (src = sqlite3_step(q)) == SQLITE_ROW) {
		struct st_egroup_rec r;
		const void *blob = sqlite3_column_blob(q, 2);
		uint64_t id = (uint64_t)sqlite3_column_int64(q, 0);
		int64_t t[4];
		st_egroup_rec_init(&r);
		if (blob && !st_egroup_rec_decode(id, (uint64_t)sqlite3_column_int64(q, 1), blob,
						  (size_t)sqlite3_column_bytes(q, 2), &r)) {
			egroup_times(&r, t);
			sqlite3_bind_int64(u, 1, (int64_t)id);
			for (int i = 0; i < 4; i++)
				sqlite3_bind_int64(u, 2 + i, t[i]);
			rc = step_done(s, u, s->path, err);
		}
		st_egroup_rec_release(&r);
	}
	if (!rc && src != SQLITE_DONE)
		rc = st_sql_fail(s->db, src, s->path, err);
	sqlite3_finalize(q);
	sqlite3_finalize(u);
	if (!rc)
		rc = st_sql_exec(s->db, meta_schema_v3_log, err);
	if (!rc)
		rc = st_sql_exec(s->db, "UPDATE shard SET format = 3 WHERE id = 1", err);
	if (rc) {
		st_sql_rollback(s->db);
		return rc;
	}
	return st_sql_commit(s->db, err);
}

/* Open shard i: create it, or check that the file is a whole shard of this cluster. */
static int shard_open(struct shard *s, const char *dir, int i, int n, int create, const char *cluster,
		      struct st_msg *err)
{
	struct stat sb;
	int oflags = create, rc, format = ST_META_FORMAT;

	create &= ST_SQL_CREATE;
	snprintf(s->path, sizeof(s->path), "%s/meta-%d.db", dir, i);
	if (!create) {
		if (stat(s->path, &sb) < 0)
			return st_fail(err, ST_ENOTCLUSTER, "%s: missing metadata shard (%s)", s->path,
				       strerror(errno));
		if (!S_ISREG(sb.st_mode) || sb.st_size < 512) /* smaller than a SQLite header page */
			return st_fail(err, ST_ECORRUPT, "%s: not a metadata shard (%s)", s->path,
				       S_ISREG(sb.st_mode) ? "empty or truncated file" : "not a regular file");
	} else if (stat(s->path, &sb) == 0) {
		return st_fail(err, ST_EEXIST, "%s: already exists", s->path);
	}
	rc = st_sql_open(s->path, oflags, &s->db, err);
	if (rc == ST_ECORRUPT) { /* err: "<path>: sqlite: <why>" */
		const char *why = err ? err->text : "";
		size_t pl = strlen(s->path);
		if (!strncmp(why, s->path, pl) && !strncmp(why + pl, ": ", 2))
			why += pl + 2;
		return st_fail(err, rc, "%s: not a metadata shard (%s)", s->path, why);
	}
	if (!rc)
		rc = create ? shard_create(s, i, n, cluster, err) : shard_check(s, i, n, cluster, &format, err);
	if (!rc && !create && format == 2)
		rc = shard_upgrade(s, err);
	if (!rc && !create && format <= 3)
		rc = st_meta_index_upgrade(s, err); /* 3 -> 4: the replica index */
	if (!rc && sqlite3_exec(s->db, "SELECT 1 FROM fences LIMIT 0", NULL, NULL, NULL) != SQLITE_OK)
		rc = st_sql_exec(s->db, FENCES_TABLE, err); /* a shard made before fences */
	for (int q = 0; !rc && q < Q_N; q++) {
		rc = st_sql_prepare(s->db, queries[q], &s->q[q], err);
		if (rc)
			rc = st_fail(err, ST_ECORRUPT, "%s: not a metadata shard (%s)", s->path, err ? err->text : "");
	}
	return rc;
}

int st_meta_open(const char *dir, int shards, int create, const char *cluster, struct st_meta **out,
		 struct st_msg *err)
{
	struct st_meta *m = calloc(1, sizeof(*m));
	int rc = 0;

	if (!m)
		return st_fail(err, -ENOMEM, "out of memory");
	m->s = calloc((size_t)shards, sizeof(*m->s));
	if (!m->s) {
		free(m);
		return st_fail(err, -ENOMEM, "out of memory");
	}
	m->n = shards;
	for (int i = 0; i < shards && !rc; i++)
		rc = shard_open(&m->s[i], dir, i, shards, create, (create & ST_SQL_CREATE) && !cluster ? "" : cluster,
				err);
	if (rc) {
		st_meta_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void st_meta_free(struct st_meta *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->n; i++) {
		for (int q = 0; q < Q_N; q++)
			sqlite3_finalize(m->s[i].q[q]);
		sqlite3_close(m->s[i].db);
	}
	free(m->s);
	free(m);
}

int st_meta_nshards(const struct st_meta *m)
{
	return m->n;
}

int st_meta_shard_egroup(const struct st_meta *m, uint64_t egroup)
{
	return (int)(st_mix64(egroup) % (uint64_t)m->n);
}

int st_meta_shard_extent(const struct st_meta *m, const struct st_extent_id *id)
{
	return (int)(st_hash64(id->b, ST_EXTENT_ID_LEN) % (uint64_t)m->n);
}

int st_meta_shard_block(const struct st_meta *m, uint64_t vdisk, uint64_t block)
{
	return (int)(st_mix64(vdisk ^ st_mix64(block + 0x9e3779b97f4a7c15ULL)) % (uint64_t)m->n);
}

int st_meta_begin(struct st_meta *m, int shard, struct st_msg *err)
{
	return st_sql_begin(m->s[shard].db, err);
}

/* Inside a transaction on shard s: ST_ELEASE if holder (the handle's when NULL) is fenced there. */
static int holder_fenced(struct st_meta *m, struct shard *s, const char *holder, struct st_msg *err)
{
	sqlite3_stmt *q = s->q[Q_FENCED];
	int src, rc = 0;

	if (!holder)
		holder = m->holder;
	if (!holder[0])
		return 0;
	sqlite3_bind_text(q, 1, holder, -1, SQLITE_STATIC);
	src = sqlite3_step(q);
	if (src == SQLITE_ROW)
		rc = st_fail(err, ST_ELEASE, "%s: lease lost: fenced in %s by an observer (declared dead or taken over)",
			     holder, s->path);
	else if (src != SQLITE_DONE)
		rc = st_sql_fail(s->db, src, s->path, err);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc;
}

int st_meta_commit(struct st_meta *m, int shard, struct st_msg *err)
{
	int rc = holder_fenced(m, &m->s[shard], NULL, err);

	if (rc) {
		st_sql_rollback(m->s[shard].db);
		return rc;
	}
	return st_sql_commit(m->s[shard].db, err);
}

void st_meta_set_holder(struct st_meta *m, const char *holder)
{
	snprintf(m->holder, sizeof(m->holder), "%s", holder ? holder : "");
}

/*
 * A single write outside a transaction by a holder runs in a transaction of
 * its own, so its fence is checked (autocommit: *own = 1).
 */
static int holder_tx_begin(struct st_meta *m, struct shard *s, int *own, struct st_msg *err)
{
	*own = m->holder[0] && sqlite3_get_autocommit(s->db);
	return *own ? st_sql_begin(s->db, err) : 0;
}

static int holder_tx_end(struct st_meta *m, struct shard *s, int own, int rc, struct st_msg *err)
{
	if (!own)
		return rc;
	if (!rc)
		rc = holder_fenced(m, s, NULL, err);
	if (rc) {
		st_sql_rollback(s->db);
		return rc;
	}
	return st_sql_commit(s->db, err);
}

void st_meta_rollback(struct st_meta *m, int shard)
{
	st_sql_rollback(m->s[shard].db);
}

void st_meta_per_shard(struct st_meta *m, int n, int *rcs, struct st_msg *errs, int (*shard_of)(void *arg, int i),
		       int (*put)(void *arg, int i, struct st_msg *err), void (*undo)(void *arg, int i), void *arg)
{
	for (int sh = 0; sh < m->n; sh++) {
		struct st_msg terr = { "" };
		int any = 0, trc = 0;
		for (int i = 0; i < n && !trc; i++) {
			if (rcs[i] || shard_of(arg, i) != sh)
				continue;
			if (!any && (trc = st_meta_begin(m, sh, &terr)))
				break;
			any = 1;
			rcs[i] = put(arg, i, &errs[i]);
		}
		if (any && st_meta_commit(m, sh, &terr))
			trc = -EIO;
		if (!trc)
			continue;
		for (int i = 0; i < n; i++)
			if (!rcs[i] && shard_of(arg, i) == sh) {
				rcs[i] = st_fail(&errs[i], trc, "%s", terr.text);
				if (undo)
					undo(arg, i);
			}
	}
}

/* Step a one-off statement that returns no rows, count the rows it changed, finalize it. */
static int step_once(struct shard *s, sqlite3_stmt *q, int *changes, struct st_msg *err)
{
	int rc = 0;

	if (sqlite3_step(q) != SQLITE_DONE)
		rc = st_sql_fail(s->db, sqlite3_errcode(s->db), s->path, err);
	else
		*changes = sqlite3_changes(s->db);
	sqlite3_finalize(q);
	return rc;
}

/* Step a prepared statement that returns no rows; reset it. */
static int step_done(struct shard *s, sqlite3_stmt *q, const char *what, struct st_msg *err)
{
	int src = sqlite3_step(q);
	int rc = 0;

	if (src != SQLITE_DONE)
		rc = st_sql_fail(s->db, src, what, err);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc;
}

int st_meta_egroup_get(struct st_meta *m, uint64_t id, struct st_egroup_rec *out, struct st_msg *err)
{
	struct shard *s = &m->s[st_meta_shard_egroup(m, id)];
	sqlite3_stmt *q = s->q[Q_EG_GET];
	int rc = 0, src;

	sqlite3_bind_int64(q, 1, (int64_t)id);
	src = sqlite3_step(q);
	if (src == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(q, 2);
		int len = sqlite3_column_bytes(q, 2);
		uint64_t lrs = (uint64_t)sqlite3_column_int64(q, 1);
		rc = blob ? st_egroup_rec_decode(id, lrs, blob, (size_t)len, out) : ST_ECORRUPT;
		if (rc == ST_ECORRUPT)
			st_fail(err, rc, "egroup %llx: corrupt metadata row in %s", (unsigned long long)id, s->path);
		out->id = id;
		out->version = (uint64_t)sqlite3_column_int64(q, 0);
		out->last_ref_seq = lrs;
	} else if (src == SQLITE_DONE) {
		rc = st_fail(err, ST_ENOTFOUND, "egroup %llx: not found", (unsigned long long)id);
	} else {
		rc = st_sql_fail(s->db, src, s->path, err);
	}
	sqlite3_reset(q);
	return rc;
}

int st_meta_egroup_put(struct st_meta *m, struct st_egroup_rec *r, uint64_t expect_version,
		       struct st_msg *err)
{
	struct shard *s = &m->s[st_meta_shard_egroup(m, r->id)];
	uint8_t *blob;
	size_t len;
	sqlite3_stmt *q;
	int64_t t[4];
	int rc = st_egroup_rec_encode(r, &blob, &len);
	int src, own;

	if (rc)
		return st_fail(err, rc, "egroup %llx: cannot encode", (unsigned long long)r->id);
	/* the row and its replica index rows in one transaction (its own unless the caller's) */
	own = sqlite3_get_autocommit(s->db);
	rc = own ? st_sql_begin(s->db, err) : 0;
	if (rc) {
		free(blob);
		return rc;
	}
	q = s->q[expect_version == 0 ? Q_EG_INS : Q_EG_UPD];
	egroup_times(r, t);
	sqlite3_bind_int64(q, 1, (int64_t)r->id);
	sqlite3_bind_int64(q, 2, (int64_t)expect_version + 1);
	sqlite3_bind_int64(q, 3, (int64_t)r->last_ref_seq);
	sqlite3_bind_blob(q, 4, blob, (int)len, SQLITE_STATIC);
	if (expect_version)
		sqlite3_bind_int64(q, 5, (int64_t)expect_version);
	for (int i = 0; i < 4; i++)
		sqlite3_bind_int64(q, 6 + i, t[i]);
	src = sqlite3_step(q);
	if (src == SQLITE_DONE && expect_version && sqlite3_changes(s->db) == 0)
		rc = st_fail(err, ST_ESTALE, "egroup %llx: changed concurrently", (unsigned long long)r->id);
	else if ((src & 0xff) == SQLITE_CONSTRAINT)
		rc = st_fail(err, ST_ESTALE, "egroup %llx: already exists", (unsigned long long)r->id);
	else if (src != SQLITE_DONE)
		rc = st_sql_fail(s->db, src, s->path, err);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	free(blob);
	if (!rc)
		rc = st_meta_index_put(s, r, expect_version == 0, err);
	if (own) {
		if (!rc)
			rc = holder_fenced(m, s, NULL, err);
		if (rc)
			st_sql_rollback(s->db);
		else
			rc = st_sql_commit(s->db, err);
	}
	if (!rc)
		r->version = expect_version + 1;
	return rc;
}

int st_meta_egroup_delete(struct st_meta *m, uint64_t id, uint64_t expect_version, struct st_msg *err)
{
	struct shard *s = &m->s[st_meta_shard_egroup(m, id)];
	sqlite3_stmt *q = s->q[Q_EG_DEL];
	int own, rc = holder_tx_begin(m, s, &own, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, (int64_t)id);
	sqlite3_bind_int64(q, 2, (int64_t)expect_version);
	rc = step_done(s, q, s->path, err);
	if (!rc && sqlite3_changes(s->db) == 0)
		rc = st_fail(err, ST_ESTALE, "egroup %llx: changed concurrently", (unsigned long long)id);
	return holder_tx_end(m, s, own, rc, err);
}

int st_meta_extent_get(struct st_meta *m, const struct st_extent_id *id, uint64_t *egroup,
		       struct st_msg *err)
{
	struct shard *s = &m->s[st_meta_shard_extent(m, id)];
	sqlite3_stmt *q = s->q[Q_EX_GET];
	int rc = 0, src;

	sqlite3_bind_blob(q, 1, id->b, ST_EXTENT_ID_LEN, SQLITE_STATIC);
	src = sqlite3_step(q);
	if (src == SQLITE_ROW) {
		*egroup = (uint64_t)sqlite3_column_int64(q, 0);
		if (!ST_CRC_MATCH((uint32_t)sqlite3_column_int64(q, 1), st_meta_extent_row_crc(id, *egroup))) {
			char b[80];
			rc = st_fail(err, ST_ECORRUPT, "extent %s: corrupt extent ID row in %s",
				     st_extent_id_fmt(id, b, sizeof(b)), s->path);
		}
	} else if (src == SQLITE_DONE) {
		char b[80];
		rc = st_fail(err, ST_ENOTFOUND, "extent %s: not in the extent ID map",
			     st_extent_id_fmt(id, b, sizeof(b)));
	} else {
		rc = st_sql_fail(s->db, src, s->path, err);
	}
	sqlite3_reset(q);
	return rc;
}

int st_meta_extent_put(struct st_meta *m, const struct st_extent_id *id, uint64_t egroup, struct st_msg *err)
{
	struct shard *s = &m->s[st_meta_shard_extent(m, id)];
	sqlite3_stmt *q = s->q[Q_EX_PUT];

	sqlite3_bind_blob(q, 1, id->b, ST_EXTENT_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, (int64_t)egroup);
	sqlite3_bind_int64(q, 3, st_meta_extent_row_crc(id, egroup));
	return step_done(s, q, s->path, err);
}

int st_meta_extent_insert(struct st_meta *m, const struct st_extent_id *id, uint64_t egroup, uint64_t *existing,
			  struct st_msg *err)
{
	struct shard *s = &m->s[st_meta_shard_extent(m, id)];
	sqlite3_stmt *q;
	int changes = 0, rc = st_sql_prepare(s->db, "INSERT OR IGNORE INTO extents(id, egroup, crc) VALUES (?, ?, ?)", &q, err);

	if (rc)
		return rc;
	sqlite3_bind_blob(q, 1, id->b, ST_EXTENT_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, (int64_t)egroup);
	sqlite3_bind_int64(q, 3, st_meta_extent_row_crc(id, egroup));
	rc = step_once(s, q, &changes, err);
	if (!rc && changes == 0) /* (the statement is atomic: no one can slip in between) */
		rc = ST_EEXIST;
	if (rc == ST_EEXIST && st_meta_extent_get(m, id, existing, err) == 0) {
		char b[80];
		st_fail(err, ST_EEXIST, "extent %s: already in egroup %llx", st_extent_id_fmt(id, b, sizeof(b)),
			(unsigned long long)*existing);
	}
	return rc;
}

int st_meta_extent_delete(struct st_meta *m, const struct st_extent_id *id, uint64_t egroup,
			  struct st_msg *err)
{
	struct shard *s = &m->s[st_meta_shard_extent(m, id)];
	sqlite3_stmt *q = s->q[Q_EX_DEL];

	sqlite3_bind_blob(q, 1, id->b, ST_EXTENT_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, (int64_t)egroup);
	return step_done(s, q, s->path, err);
}

int st_meta_extent_cas(struct st_meta *m, const struct st_extent_id *id, uint64_t from, uint64_t to, int *moved,
		       struct st_msg *err)
{
	struct shard *s = &m->s[st_meta_shard_extent(m, id)];
	sqlite3_stmt *q;
	int changes = 0, rc = st_sql_prepare(s->db, "UPDATE extents SET egroup = ?, crc = ? WHERE id = ? AND egroup = ?", &q, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, (int64_t)to);
	sqlite3_bind_int64(q, 2, st_meta_extent_row_crc(id, to));
	sqlite3_bind_blob(q, 3, id->b, ST_EXTENT_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, (int64_t)from);
	rc = step_once(s, q, &changes, err);
	if (!rc && moved)
		*moved = changes > 0;
	return rc;
}

int st_meta_vdisk_blocks_delete(struct st_meta *m, uint64_t vdisk, uint64_t *rows, struct st_msg *err)
{
	int rc = 0;

	*rows = 0;
	for (int i = 0; i < m->n && !rc; i++) {
		sqlite3_stmt *q;
		rc = st_sql_prepare(m->s[i].db, "DELETE FROM blocks WHERE vdisk = ?", &q, err);
		if (rc)
			break;
		sqlite3_bind_int64(q, 1, (int64_t)vdisk);
		if (sqlite3_step(q) != SQLITE_DONE)
			rc = st_sql_fail(m->s[i].db, sqlite3_errcode(m->s[i].db), m->s[i].path, err);
		else
			*rows += (uint64_t)sqlite3_changes(m->s[i].db);
		sqlite3_finalize(q);
	}
	return rc;
}

int st_meta_block_get(struct st_meta *m, uint64_t vdisk, uint64_t block, struct st_block *out,
		      struct st_msg *err)
{
	struct shard *s = &m->s[st_meta_shard_block(m, vdisk, block)];
	sqlite3_stmt *q = s->q[Q_BL_GET];
	int rc = 0, src;

	sqlite3_bind_int64(q, 1, (int64_t)vdisk);
	sqlite3_bind_int64(q, 2, (int64_t)block);
	src = sqlite3_step(q);
	out->vdisk = vdisk;
	out->block = block;
	out->n = 0;
	if (src == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(q, 0);
		rc = blob ? st_block_decode(vdisk, block, blob, (size_t)sqlite3_column_bytes(q, 0), out) : ST_ECORRUPT;
		if (rc)
			st_fail(err, rc, "vdisk %llx block %llu: corrupt block map row in %s",
				(unsigned long long)vdisk, (unsigned long long)block, s->path);
	} else if (src == SQLITE_DONE) {
		rc = ST_ENOTFOUND;
	} else {
		rc = st_sql_fail(s->db, src, s->path, err);
	}
	sqlite3_reset(q);
	return rc;
}

int st_meta_block_put(struct st_meta *m, const struct st_block *b, struct st_msg *err)
{
	struct shard *s = &m->s[st_meta_shard_block(m, b->vdisk, b->block)];
	sqlite3_stmt *q = s->q[Q_BL_PUT];
	uint8_t buf[ST_META_BLOCK_BLOB_MAX];
	size_t len;
	int rc = st_block_encode(b, buf, sizeof(buf), &len);

	if (rc)
		return st_fail(err, rc, "block map: cannot encode");
	sqlite3_bind_int64(q, 1, (int64_t)b->vdisk);
	sqlite3_bind_int64(q, 2, (int64_t)b->block);
	sqlite3_bind_blob(q, 3, buf, (int)len, SQLITE_STATIC);
	return step_done(s, q, s->path, err);
}

int st_meta_block_delete(struct st_meta *m, uint64_t vdisk, uint64_t block, struct st_msg *err)
{
	struct shard *s = &m->s[st_meta_shard_block(m, vdisk, block)];
	sqlite3_stmt *q = s->q[Q_BL_DEL];

	sqlite3_bind_int64(q, 1, (int64_t)vdisk);
	sqlite3_bind_int64(q, 2, (int64_t)block);
	return step_done(s, q, s->path, err);
}

int st_meta_data_version(struct st_meta *m, uint64_t *v, struct st_msg *err)
{
	uint64_t sum = 0;

	for (int i = 0; i < m->n; i++) {
		struct shard *s = &m->s[i];
		sqlite3_stmt *q = s->q[Q_DATA_VERSION];
		int src = sqlite3_step(q);
		if (src == SQLITE_ROW)
			sum += (uint64_t)sqlite3_column_int64(q, 0);
		sqlite3_reset(q);
		if (src != SQLITE_ROW)
			return st_sql_fail(s->db, src, s->path, err);
	}
	*v = sum;
	return 0;
}

/* --- fences (st_meta.h) --------------------------------------------------- */

int st_meta_fence(struct st_meta *m, const char *holder, struct st_msg *err)
{
	for (int i = 0; i < m->n; i++) {
		struct shard *s = &m->s[i];
		sqlite3_stmt *q;
		int rc = st_sql_prepare(s->db, "INSERT OR IGNORE INTO fences(holder, at) VALUES (?, ?)", &q, err);
		if (rc)
			return rc;
		sqlite3_bind_text(q, 1, holder, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(q, 2, st_now());
		rc = step_done(s, q, s->path, err);
		sqlite3_finalize(q);
		if (rc)
			return st_fail(err, rc, "%s: cannot write the fence of %s: %s", s->path, holder, err ? err->text : "");
	}
	return 0;
}

int st_meta_fenced(struct st_meta *m, int shard, const char *holder, struct st_msg *err)
{
	return holder_fenced(m, &m->s[shard], holder, err);
}

int st_meta_strip_put(struct st_meta *m, const struct st_strip *sp, struct st_msg *err)
{
	struct shard *s = &m->s[st_meta_shard_egroup(m, sp->id)];
	sqlite3_stmt *q;
	int rc = st_sql_prepare(s->db, "INSERT OR REPLACE INTO strips(id, k, m, len, members, crc) VALUES (?, ?, ?, ?, ?, ?)", &q, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, (int64_t)sp->id);
	sqlite3_bind_int(q, 2, sp->k);
	sqlite3_bind_int(q, 3, sp->m);
	sqlite3_bind_int64(q, 4, (int64_t)sp->len);
	sqlite3_bind_blob(q, 5, sp->members, (int)(sizeof(uint64_t) * (size_t)(sp->k + sp->m)), SQLITE_STATIC);
	sqlite3_bind_int64(q, 6, st_meta_strip_row_crc(sp));
	if (sqlite3_step(q) != SQLITE_DONE)
		rc = st_sql_fail(s->db, sqlite3_errcode(s->db), s->path, err);
	sqlite3_finalize(q);
	return rc;
}

int st_meta_strip_get(struct st_meta *m, uint64_t id, struct st_strip *out, struct st_msg *err)
{
	struct shard *s = &m->s[st_meta_shard_egroup(m, id)];
	sqlite3_stmt *q;
	int rc = st_sql_prepare(s->db, "SELECT k, m, len, members, crc FROM strips WHERE id = ?", &q, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, (int64_t)id);
	if (sqlite3_step(q) == SQLITE_ROW) {
		const void *members = sqlite3_column_blob(q, 3);
		const char *why = "";
		if (st_meta_strip_decode(id, sqlite3_column_int(q, 0), sqlite3_column_int(q, 1),
					 (uint64_t)sqlite3_column_int64(q, 2), members, (size_t)sqlite3_column_bytes(q, 3),
					 (uint32_t)sqlite3_column_int64(q, 4), out, &why))
			rc = st_fail(err, ST_ECORRUPT, "strip %llx: corrupt row%s", (unsigned long long)id, why);
	} else {
		rc = st_fail(err, ST_ENOTFOUND, "strip %llx: not found", (unsigned long long)id);
	}
	sqlite3_finalize(q);
	return rc;
}

int st_meta_strip_member(struct st_meta *m, const struct st_strip *sp, int i, struct st_egroup_rec *g)
{
	return i >= 0 && i < sp->k + sp->m && st_meta_egroup_get(m, sp->members[i], g, NULL) == 0 &&
	       (g->flags & ST_EGROUP_EC) && g->strip == sp->id;
}

/* Run sql (one ? for id) on the shard that holds egroup-keyed rows of id. */
static int delete_by_id(struct st_meta *m, const char *sql, uint64_t id, struct st_msg *err)
{
	struct shard *s = &m->s[st_meta_shard_egroup(m, id)];
	sqlite3_stmt *q;
	int rc = st_sql_prepare(s->db, sql, &q, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, (int64_t)id);
	if (sqlite3_step(q) != SQLITE_DONE)
		rc = st_sql_fail(s->db, sqlite3_errcode(s->db), s->path, err);
	sqlite3_finalize(q);
	return rc;
}

int st_meta_strip_delete(struct st_meta *m, uint64_t id, struct st_msg *err)
{
	return delete_by_id(m, "DELETE FROM strips WHERE id = ?", id, err);
}

/* --- chunk fingerprints --------------------------------------------------- */


int st_meta_fp_put(struct st_meta *m, uint64_t egroup, const struct st_chunk_fp *v, size_t n, struct st_msg *err)
{
	struct shard *s = &m->s[st_meta_shard_egroup(m, egroup)];
	size_t len;
	uint8_t *blob;
	sqlite3_stmt *q;
	int rc = st_meta_fp_encode(egroup, v, n, &blob, &len);

	if (rc)
		return st_fail(err, rc, "out of memory");
	rc = st_sql_prepare(s->db, "INSERT OR REPLACE INTO fingerprints(egroup, fps) VALUES (?, ?)", &q, err);
	if (!rc) {
		sqlite3_bind_int64(q, 1, (int64_t)egroup);
		sqlite3_bind_blob(q, 2, blob, (int)len, SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_DONE)
			rc = st_sql_fail(s->db, sqlite3_errcode(s->db), s->path, err);
		sqlite3_finalize(q);
	}
	free(blob);
	return rc;
}

int st_meta_fp_get(struct st_meta *m, uint64_t egroup, struct st_chunk_fp **out, size_t *n, struct st_msg *err)
{
	struct shard *s = &m->s[st_meta_shard_egroup(m, egroup)];
	sqlite3_stmt *q;
	int rc = st_sql_prepare(s->db, "SELECT fps FROM fingerprints WHERE egroup = ?", &q, err);

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, (int64_t)egroup);
	if (sqlite3_step(q) == SQLITE_ROW) {
		rc = st_meta_fp_decode(egroup, sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0), out, n);
		if (rc)
			st_fail(err, rc, "egroup %llx: %s fingerprint row", (unsigned long long)egroup,
				rc == -ENOMEM ? "out of memory reading its" : "corrupt");
	} else {
		rc = st_fail(err, ST_ENOTFOUND, "egroup %llx: no fingerprints", (unsigned long long)egroup);
	}
	sqlite3_finalize(q);
	return rc;
}

int st_meta_fp_delete(struct st_meta *m, uint64_t egroup, struct st_msg *err)
{
	return delete_by_id(m, "DELETE FROM fingerprints WHERE egroup = ?", egroup, err);
}

int st_meta_scan_fps(struct st_meta *m, int shard, st_fp_cb cb, void *arg, struct st_msg *err)
{
	struct shard *s = &m->s[shard];
	sqlite3_stmt *q;
	int rc = st_sql_prepare(s->db, "SELECT egroup, fps FROM fingerprints ORDER BY egroup", &q, err);
	int src;

	if (rc)
		return rc;
	while ((src = sqlite3_step(q)) == SQLITE_ROW) {
		const uint8_t *blob = sqlite3_column_blob(q, 1);
		size_t len = (size_t)sqlite3_column_bytes(q, 1);
		int bad = blob ? st_meta_fp_check((uint64_t)sqlite3_column_int64(q, 0), blob, len) : ST_ECORRUPT;
		rc = cb(arg, bad, (uint64_t)sqlite3_column_int64(q, 0), bad ? NULL : blob, bad ? 0 : len);
		if (rc)
			break;
	}
	if (!rc && src != SQLITE_DONE)
		rc = st_sql_fail(s->db, src, s->path, err);
	sqlite3_finalize(q);
	return rc;
}
