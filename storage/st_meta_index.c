/*
 * st_meta_index: the replica index of shard format 4 (st_meta.h,
 * st_meta_egroups_on_disk): per shard, a row (disk, egroup) for every
 * replica an egroup row of that shard names, so that the egroups with a
 * copy on a failed disk (or on the disks of a node gone down) are found
 * by an index range, not by reading every egroup row.
 *
 * DESIGN. The table is written in the same transaction as the egroup row
 * it mirrors: st_meta_egroup_put calls st_meta_index_put after its insert
 * or compare-and-set update (INSERT OR IGNORE of each replica, then a
 * DELETE of the egroup's rows for disks it no longer names: an update that
 * keeps the replicas writes no index page), and a trigger drops the rows
 * of a deleted egroup. It costs what changed. The index is a way to find
 * rows, never a source of truth: every reader re-reads the egroup row and
 * decides from its replicas, so an entry of a row that was corrupted or
 * rewritten behind the curator's back is harmless, and a row missing from
 * the index is still found by the partial and full scans (the safety net).
 * A format-3 shard is brought to format 4 when opened, in one transaction
 * that fills the table from the rows.
 */
#include "storage/st_meta_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "storage/st_sql.h"

const char st_meta_schema_v4[] =
	"CREATE TABLE IF NOT EXISTS replicas(disk INTEGER NOT NULL, egroup INTEGER NOT NULL,"
	"  PRIMARY KEY (disk, egroup)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS replicas_egroup ON replicas(egroup);"
	"CREATE TRIGGER IF NOT EXISTS egroups_replicas_del AFTER DELETE ON egroups BEGIN"
	"  DELETE FROM replicas WHERE egroup = old.id; END;";

static int step_done(sqlite3 *db, sqlite3_stmt *q, const char *path, struct st_msg *err)
{
	int src = sqlite3_step(q), rc = 0;

	if (src != SQLITE_DONE)
		rc = st_sql_fail(db, src, path, err);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc;
}

/* The index rows of r, with statements ins and del (Q_RP_INS, Q_RP_DEL's text). */
static int index_put(sqlite3 *db, sqlite3_stmt *ins, sqlite3_stmt *del, const char *path,
		     const struct st_egroup_rec *r, int fresh, struct st_msg *err)
{
	int rc = 0;

	for (int i = 0; i < r->nreplicas && !rc; i++) {
		sqlite3_bind_int64(ins, 1, (int64_t)r->replicas[i].disk);
		sqlite3_bind_int64(ins, 2, (int64_t)r->id);
		rc = step_done(db, ins, path, err);
	}
	if (rc || fresh || !del)
		return rc;
	sqlite3_bind_int64(del, 1, (int64_t)r->id);
	for (int i = 0; i < ST_REPLICAS_MAX; i++) /* disk 0 is never a disk: the unused places */
		sqlite3_bind_int64(del, 2 + i, i < r->nreplicas ? (int64_t)r->replicas[i].disk : 0);
	return step_done(db, del, path, err);
}

int st_meta_index_put(struct shard *s, const struct st_egroup_rec *r, int fresh, struct st_msg *err)
{
	return index_put(s->db, s->q[Q_RP_INS], s->q[Q_RP_DEL], s->path, r, fresh, err);
}

int st_meta_index_upgrade(struct shard *s, struct st_msg *err)
{
	sqlite3_stmt *q = NULL, *ins = NULL;
	int rc = st_sql_begin(s->db, err), src = SQLITE_DONE, format = 0;

	if (rc)
		return rc;
	if (sqlite3_prepare_v2(s->db, "SELECT format FROM shard WHERE id = 1", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		format = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	q = NULL;
	if (format != 3) /* done meanwhile by another process */
		return st_sql_commit(s->db, err);
	rc = st_sql_exec(s->db, st_meta_schema_v4, err);
	if (!rc)
		rc = st_sql_prepare(s->db, "SELECT id, last_ref_seq, rec FROM egroups", &q, err);
	if (!rc)
		rc = st_sql_prepare(s->db, "INSERT OR IGNORE INTO replicas(disk, egroup) VALUES (?, ?)", &ins, err);
	while (!rc && (src = sqlite3_step(q)) == SQLITE_ROW) {
		struct st_egroup_rec r;
		const void *blob = sqlite3_column_blob(q, 2);
		uint64_t id = (uint64_t)sqlite3_column_int64(q, 0);
		st_egroup_rec_init(&r);
		/* a corrupt row is not indexed: it is never acted on */
		if (blob && !st_egroup_rec_decode(id, (uint64_t)sqlite3_column_int64(q, 1), blob,
						  (size_t)sqlite3_column_bytes(q, 2), &r))
			rc = index_put(s->db, ins, NULL, s->path, &r, 1, err);
		st_egroup_rec_release(&r);
	}
	if (!rc && src != SQLITE_DONE)
		rc = st_sql_fail(s->db, src, s->path, err);
	sqlite3_finalize(q);
	sqlite3_finalize(ins);
	if (!rc)
		rc = st_sql_exec(s->db, "UPDATE shard SET format = 4 WHERE id = 1", err);
	if (rc) {
		st_sql_rollback(s->db);
		return rc;
	}
	return st_sql_commit(s->db, err);
}

int st_meta_egroups_on_disk(struct st_meta *m, int shard, uint32_t disk, int (*cb)(void *arg, uint64_t egroup),
			    void *arg, struct st_msg *err)
{
	struct shard *s;
	sqlite3_stmt *q;
	int rc, src;

	if (shard < 0 || shard >= m->n)
		return st_fail(err, ST_EINVAL, "shard %d of %d", shard, m->n);
	s = &m->s[shard];
	rc = st_sql_prepare(s->db, "SELECT egroup FROM replicas WHERE disk = ? ORDER BY egroup", &q, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(q, 1, (int64_t)disk);
	while (!rc && (src = sqlite3_step(q)) == SQLITE_ROW)
		rc = cb(arg, (uint64_t)sqlite3_column_int64(q, 0));
	if (!rc && src != SQLITE_DONE)
		rc = st_sql_fail(s->db, src, s->path, err);
	sqlite3_finalize(q);
	return rc;
}
