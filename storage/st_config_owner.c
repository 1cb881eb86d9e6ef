/*
 * st_config_owner: the vdisk owner leases of st_owner.h in config.db.
 *
 *   vdisk_owners(vdisk PK, holder, node, epoch, beat, ttl_ms, since, beat_at, relinquish)
 *   vdisk_backups(vdisk, holder, node, since; PK (vdisk, holder))
 *
 * Every change is one statement or one IMMEDIATE transaction, and every
 * change of an owner is a compare-and-set in its WHERE clause, so two
 * controllers racing for a row can never both win.
 */
#include "storage/st_config_int.h"
#include "storage/st_owner.h"
#include "storage/st_sql.h"

#include <errno.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char owner_tables[] =
	"CREATE TABLE IF NOT EXISTS vdisk_owners(vdisk INTEGER PRIMARY KEY, holder TEXT NOT NULL,"
	"  node INTEGER NOT NULL, epoch INTEGER NOT NULL, beat INTEGER NOT NULL, ttl_ms INTEGER NOT NULL,"
	"  since INTEGER NOT NULL, beat_at INTEGER NOT NULL, relinquish TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE IF NOT EXISTS vdisk_backups(vdisk INTEGER NOT NULL, holder TEXT NOT NULL,"
	"  node INTEGER NOT NULL, since INTEGER NOT NULL, PRIMARY KEY (vdisk, holder));";

static int tables(struct st_config *cfg, struct st_msg *err)
{
	return st_sql_exec(cfg->db, owner_tables, err);
}

static void text_col(sqlite3_stmt *q, int col, char *out)
{
	const unsigned char *t = sqlite3_column_text(q, col);
	snprintf(out, ST_HOLDER_MAX, "%s", t ? (const char *)t : "");
}

/* The row, owned or not: 0, ST_ENOTFOUND (no row), or an error. */
static int row_get(struct st_config *cfg, uint64_t vdisk, struct st_owner *out, struct st_msg *err)
{
	sqlite3_stmt *q;
	int rc = st_sql_prepare(cfg->db,
				"SELECT holder, node, epoch, beat, ttl_ms, since, beat_at, relinquish FROM vdisk_owners "
				"WHERE vdisk = ?",
				&q, err);
	int src;

	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, (int64_t)vdisk);
	memset(out, 0, sizeof(*out));
	out->vdisk = vdisk;
	src = sqlite3_step(q);
	if (src == SQLITE_ROW) {
		text_col(q, 0, out->holder);
		out->node = (uint32_t)sqlite3_column_int64(q, 1);
		out->epoch = sqlite3_column_int64(q, 2);
		out->beat = sqlite3_column_int64(q, 3);
		out->ttl_ms = sqlite3_column_int64(q, 4);
		out->since = sqlite3_column_int64(q, 5);
		out->beat_at = sqlite3_column_int64(q, 6);
		text_col(q, 7, out->relinquish);
	} else if (src == SQLITE_DONE) {
		rc = ST_ENOTFOUND;
	} else {
		rc = st_sql_fail(cfg->db, src, "config.db", err);
	}
	sqlite3_finalize(q);
	return rc;
}

int st_owner_get(struct st_config *cfg, uint64_t vdisk, struct st_owner *out, struct st_msg *err)
{
	int rc = tables(cfg, err);

	if (!rc)
		rc = row_get(cfg, vdisk, out, err);
	if (!rc && !out->holder[0])
		rc = ST_ENOTFOUND;
	return rc;
}

int st_owner_acquire(struct st_config *cfg, uint64_t vdisk, const char *holder, uint32_t node, int64_t ttl_ms,
		     int64_t *epoch, struct st_owner *cur, struct st_msg *err)
{
	struct st_owner o;
	int64_t now = st_now();
	int rc = tables(cfg, err);

	if (!rc)
		rc = st_sql_begin(cfg->db, err);
	if (rc)
		return rc;
	rc = row_get(cfg, vdisk, &o, err);
	if (rc == ST_ENOTFOUND) {
		rc = st_config_run(cfg,
				   "INSERT INTO vdisk_owners(vdisk, holder, node, epoch, beat, ttl_ms, since, beat_at) "
				   "VALUES (?, ?, ?, 1, 0, ?, ?, ?)",
				   "itiiii", NULL, err, (int64_t)vdisk, holder, (int64_t)node, ttl_ms, now, now);
		o.epoch = 1;
	} else if (!rc && o.holder[0] == 0) {
		o.epoch++;
		rc = st_config_run(cfg,
				   "UPDATE vdisk_owners SET holder = ?, node = ?, epoch = ?, beat = 0, ttl_ms = ?, "
				   "since = ?, beat_at = ?, relinquish = '' WHERE vdisk = ? AND holder = ''",
				   "tiiiiii", NULL, err, holder, (int64_t)node, o.epoch, ttl_ms, now, now, (int64_t)vdisk);
	} else if (!rc && strcmp(o.holder, holder) != 0) {
		if (cur)
			*cur = o;
		rc = st_config_run(cfg, "INSERT OR IGNORE INTO vdisk_backups(vdisk, holder, node, since) VALUES (?, ?, ?, ?)",
				   "itii", NULL, err, (int64_t)vdisk, holder, (int64_t)node, now);
		if (!rc)
			rc = st_sql_commit(cfg->db, err);
		else
			st_sql_rollback(cfg->db);
		return rc ? rc : st_fail(err, ST_EBUSY, "vdisk %llx: owned by %s", (unsigned long long)vdisk, o.holder);
	}
	if (!rc)
		rc = st_config_run(cfg, "DELETE FROM vdisk_backups WHERE vdisk = ? AND holder = ?", "it", NULL, err,
				   (int64_t)vdisk, holder);
	if (rc) {
		st_sql_rollback(cfg->db);
		return rc;
	}
	rc = st_sql_commit(cfg->db, err);
	if (!rc)
		*epoch = o.epoch;
	return rc;
}

int st_owner_ask(struct st_config *cfg, uint64_t vdisk, const char *holder, struct st_msg *err)
{
	int rc = tables(cfg, err);

	return rc ? rc
		  : st_config_run(cfg,
				  "UPDATE vdisk_owners SET relinquish = ? WHERE vdisk = ? AND holder <> '' AND holder <> ?",
				  "tit", NULL, err, holder, (int64_t)vdisk, holder);
}

int st_owner_renew(struct st_config *cfg, uint64_t vdisk, const char *holder, int64_t epoch, int *asked,
		   struct st_msg *err)
{
	struct st_owner o;
	int n = 0, rc = st_config_run(cfg,
				      "UPDATE vdisk_owners SET beat = beat + 1, beat_at = ? WHERE vdisk = ? AND holder = ? "
				      "AND epoch = ?",
				      "iiti", &n, err, st_now(), (int64_t)vdisk, holder, epoch);

	if (rc)
		return rc;
	if (n == 0)
		return st_fail(err, ST_EFENCED, "vdisk %llx: the lease of %s was taken", (unsigned long long)vdisk, holder);
	rc = row_get(cfg, vdisk, &o, err);
	if (!rc)
		*asked = o.relinquish[0] != 0;
	return rc;
}

int st_owner_release(struct st_config *cfg, uint64_t vdisk, const char *holder, int64_t epoch, struct st_msg *err)
{
	return st_config_run(cfg,
			     "UPDATE vdisk_owners SET holder = '', relinquish = '' WHERE vdisk = ? AND holder = ? AND epoch = ?",
			     "iti", NULL, err, (int64_t)vdisk, holder, epoch);
}

int st_owner_takeover(struct st_config *cfg, uint64_t vdisk, const char *holder, uint32_t node, int64_t ttl_ms,
		      const struct st_owner *seen, int64_t *epoch, struct st_msg *err)
{
	int64_t now = st_now();
	int n = 0, rc = st_sql_begin(cfg->db, err);

	if (rc)
		return rc;
	rc = st_config_run(cfg,
			   "UPDATE vdisk_owners SET holder = ?, node = ?, epoch = epoch + 1, beat = 0, ttl_ms = ?, "
			   "since = ?, beat_at = ?, relinquish = '' WHERE vdisk = ? AND holder = ? AND epoch = ? AND beat = ?",
			   "tiiiiitii", &n, err, holder, (int64_t)node, ttl_ms, now, now, (int64_t)vdisk, seen->holder,
			   seen->epoch, seen->beat);
	if (!rc && n == 0)
		rc = st_fail(err, ST_ESTALE, "vdisk %llx: its owner row moved", (unsigned long long)vdisk);
	if (!rc)
		rc = st_config_run(cfg, "DELETE FROM vdisk_backups WHERE vdisk = ? AND holder = ?", "it", NULL, err,
				   (int64_t)vdisk, holder);
	if (rc) {
		st_sql_rollback(cfg->db);
		return rc;
	}
	rc = st_sql_commit(cfg->db, err);
	if (!rc)
		*epoch = seen->epoch + 1;
	return rc;
}

int st_owner_unlist(struct st_config *cfg, uint64_t vdisk, const char *holder, struct st_msg *err)
{
	int rc = tables(cfg, err);

	return rc ? rc
		  : st_config_run(cfg, "DELETE FROM vdisk_backups WHERE vdisk = ? AND holder = ?", "it", NULL, err,
				  (int64_t)vdisk, holder);
}

int st_owner_backups(struct st_config *cfg, uint64_t vdisk, st_backup_cb cb, void *arg, struct st_msg *err)
{
	sqlite3_stmt *q;
	int rc = tables(cfg, err), src;

	if (!rc)
		rc = st_sql_prepare(cfg->db, "SELECT holder, node, since FROM vdisk_backups WHERE vdisk = ? ORDER BY since, holder",
				    &q, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, (int64_t)vdisk);
	while ((src = sqlite3_step(q)) == SQLITE_ROW && !rc)
		rc = cb(arg, (const char *)sqlite3_column_text(q, 0), (uint32_t)sqlite3_column_int64(q, 1),
			sqlite3_column_int64(q, 2));
	if (!rc && src != SQLITE_DONE && src != SQLITE_ROW)
		rc = st_sql_fail(cfg->db, src, "config.db", err);
	sqlite3_finalize(q);
	return rc;
}

#define ISO(col) "strftime('%Y-%m-%dT%H:%M:%SZ', " col ", 'unixepoch')"

int st_owner_json(struct st_config *cfg, uint64_t vdisk, const char *name, char **out, struct st_msg *err)
{
	static const char sql[] =
		"SELECT json_object('schema_version', 1, 'vdisk', ?2, 'vdisk_id', printf('%x', ?1),"
		" 'owner', (SELECT json_object('holder', holder, 'node', node, 'epoch', epoch, 'renewals', beat,"
		"   'lease_ttl_ms', ttl_ms, 'since', " ISO("since") ", 'last_renewal', " ISO("beat_at") ","
		"   'relinquish_asked_by', CASE relinquish WHEN '' THEN NULL ELSE relinquish END)"
		"   FROM vdisk_owners WHERE vdisk = ?1 AND holder <> ''),"
		" 'backups', (SELECT json_group_array(json_object('holder', holder, 'node', node, 'since', " ISO("since") "))"
		"   FROM (SELECT * FROM vdisk_backups WHERE vdisk = ?1 ORDER BY since, holder)))";
	sqlite3_stmt *q;
	int rc = tables(cfg, err), src;

	if (!rc)
		rc = st_sql_prepare(cfg->db, sql, &q, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, (int64_t)vdisk);
	sqlite3_bind_text(q, 2, name, -1, SQLITE_TRANSIENT);
	src = sqlite3_step(q);
	if (src == SQLITE_ROW) {
		*out = strdup((const char *)sqlite3_column_text(q, 0));
		rc = *out ? 0 : st_fail(err, -ENOMEM, "out of memory");
	} else {
		rc = st_sql_fail(cfg->db, src, "config.db", err);
	}
	sqlite3_finalize(q);
	return rc;
}
