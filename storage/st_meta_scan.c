/*
 * st_meta_scan: iteration over one shard's rows (egroups, extent-ID rows,
 * block rows, fingerprints aside), key ranges of the maps, and the change
 * log a partial scan reads (format 3, st_meta.c). Read-only: nothing here
 * writes a map row; st_meta_changes_mark records how far a scan has taken
 * the log in. Split out of st_meta.c (the shards and their writes); the
 * API is st_meta.h.
 */
#include "storage/st_meta_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/st_sql.h"

/* --- iteration ---------------------------------------------------------- */

/* Step a `SELECT id, version, last_ref_seq, rec FROM egroups ...` through cb, then finalize it. */
static int step_egroup_rows(struct shard *s, sqlite3_stmt *q, st_egroup_cb cb, void *arg, struct st_msg *err)
{
	struct st_egroup_rec r;
	int rc = 0, src;

	st_egroup_rec_init(&r);
	while ((src = sqlite3_step(q)) == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(q, 3);
		uint64_t id = (uint64_t)sqlite3_column_int64(q, 0);
		uint64_t lrs = (uint64_t)sqlite3_column_int64(q, 2);
		int rrc = blob ? st_egroup_rec_decode(id, lrs, blob, (size_t)sqlite3_column_bytes(q, 3), &r) : ST_ECORRUPT;

		if (rrc == -ENOMEM) {
			rc = st_fail(err, rrc, "out of memory");
			break;
		}
		r.id = id;
		r.version = (uint64_t)sqlite3_column_int64(q, 1);
		r.last_ref_seq = (uint64_t)sqlite3_column_int64(q, 2);
		rc = cb(arg, rrc, id, &r);
		if (rc)
			break;
	}
	if (!rc && src != SQLITE_DONE)
		rc = st_sql_fail(s->db, src, s->path, err);
	st_egroup_rec_release(&r);
	sqlite3_finalize(q);
	return rc;
}

int st_meta_scan_egroups(struct st_meta *m, int shard, st_egroup_cb cb, void *arg, struct st_msg *err)
{
	struct shard *s = &m->s[shard];
	sqlite3_stmt *q;
	int rc = st_sql_prepare(s->db, "SELECT id, version, last_ref_seq, rec FROM egroups ORDER BY id", &q, err);

	return rc ? rc : step_egroup_rows(s, q, cb, arg, err);
}

static const char *const time_cols[ST_TIME_NCOLS] = { "t_write", "t_cold", "t_scrub", "t_created" };

int st_meta_scan_egroups_changed(struct st_meta *m, int shard, const struct st_time_window *w, int nw,
				 st_egroup_cb cb, void *arg, struct st_msg *err)
{
	struct shard *s = &m->s[shard];
	char sql[2048];
	size_t off;
	sqlite3_stmt *q;
	int rc;

	/*
	 * One IN list of the ids (the log's, then each window's through its
	 * index), not `id IN (log) OR (window) OR ...`: with three windows
	 * SQLite's planner prices that OR above a scan of the whole table in
	 * id order (3,126 of a shard's 7,550 pages read for 129 rows of a
	 * 1 M-extent cluster; the IN list reads 153). The list is a sorted
	 * ephemeral index, so the rows come in id order without a sort.
	 */
	off = (size_t)snprintf(sql, sizeof(sql), "SELECT id, version, last_ref_seq, rec FROM egroups WHERE"
				" id IN (SELECT egroup FROM changes");
	for (int i = 0; i < nw && off < sizeof(sql); i++) {
		if ((unsigned)w[i].col >= ST_TIME_NCOLS)
			return st_fail(err, ST_EINVAL, "time window %d: no such column", i);
		off += (size_t)snprintf(sql + off, sizeof(sql) - off,
					" UNION ALL SELECT id FROM egroups WHERE %s > %lld AND %s <= %lld", time_cols[w[i].col],
					(long long)w[i].after, time_cols[w[i].col], (long long)w[i].upto);
	}
	if (off >= sizeof(sql) - 16)
		return st_fail(err, ST_EINVAL, "too many time windows");
	snprintf(sql + off, sizeof(sql) - off, ") ORDER BY id");
	rc = st_sql_prepare(s->db, sql, &q, err);
	return rc ? rc : step_egroup_rows(s, q, cb, arg, err);
}

int st_meta_changes_state(struct st_meta *m, int shard, int64_t *upto, int64_t *at, int *marked, struct st_msg *err)
{
	struct shard *s = &m->s[shard];
	sqlite3_stmt *q;
	int src, rc = st_sql_prepare(s->db,
				     "SELECT (SELECT n FROM changes_seq WHERE id = 1), (SELECT at FROM changes_mark WHERE id = 1)",
				     &q, err);

	*upto = *at = 0;
	*marked = 0;
	if (rc)
		return rc;
	src = sqlite3_step(q);
	if (src == SQLITE_ROW) {
		*upto = sqlite3_column_int64(q, 0);
		*marked = sqlite3_column_type(q, 1) != SQLITE_NULL;
		*at = sqlite3_column_int64(q, 1);
	} else {
		rc = st_sql_fail(s->db, src, s->path, err);
	}
	sqlite3_finalize(q);
	return rc;
}

int st_meta_changes_mark(struct st_meta *m, int shard, int64_t upto, uint64_t s0, int64_t at, struct st_msg *err)
{
	struct shard *s = &m->s[shard];
	char sql[512];
	int rc = st_sql_begin(s->db, err);

	if (rc)
		return rc;
	snprintf(sql, sizeof(sql),
		 "DELETE FROM changes WHERE seq <= %lld AND NOT EXISTS (SELECT 1 FROM egroups e WHERE e.id = changes.egroup"
		 " AND e.last_ref_seq >= %lld);"
		 "INSERT OR REPLACE INTO changes_mark(id, upto, at) VALUES (1, %lld, %lld);",
		 (long long)upto, (long long)s0, (long long)upto, (long long)at);
	rc = st_sql_exec(s->db, sql, err);
	if (rc) {
		st_sql_rollback(s->db);
		return rc;
	}
	return st_sql_commit(s->db, err);
}

/*
 * Step a `SELECT id, egroup, crc FROM extents ...` statement through cb, then
 * finalize it. A row that is not an extent id, or fails its checksum, goes
 * to cb with rc_row = ST_ECORRUPT (its bytes as far as they go).
 */
static int step_extent_rows(struct shard *s, sqlite3_stmt *q, st_extent_cb cb, void *arg, struct st_msg *err)
{
	int rc = 0, src;

	while ((src = sqlite3_step(q)) == SQLITE_ROW) {
		struct st_extent_id id;
		const void *b = sqlite3_column_blob(q, 0);

		uint64_t eg = (uint64_t)sqlite3_column_int64(q, 1);
		int rrc = 0;

		memset(id.b, 0, sizeof(id.b));
		if (!b || sqlite3_column_bytes(q, 0) != ST_EXTENT_ID_LEN) {
			rrc = ST_ECORRUPT; /* not an extent id at all */
			if (b)
				memcpy(id.b, b, (size_t)sqlite3_column_bytes(q, 0) < sizeof(id.b)
							? (size_t)sqlite3_column_bytes(q, 0) : sizeof(id.b));
		} else {
			memcpy(id.b, b, ST_EXTENT_ID_LEN);
			if (!ST_CRC_MATCH((uint32_t)sqlite3_column_int64(q, 2), st_meta_extent_row_crc(&id, eg)) ||
			    !st_extent_id_valid(&id))
				rrc = ST_ECORRUPT;
		}
		rc = cb(arg, rrc, &id, eg);
		if (rc)
			break;
	}
	if (!rc && src != SQLITE_DONE)
		rc = st_sql_fail(s->db, src, s->path, err);
	sqlite3_finalize(q);
	return rc;
}

int st_meta_scan_extents(struct st_meta *m, int shard, st_extent_cb cb, void *arg, struct st_msg *err)
{
	struct shard *s = &m->s[shard];
	sqlite3_stmt *q;
	int rc = st_sql_prepare(s->db, "SELECT id, egroup, crc FROM extents", &q, err);

	return rc ? rc : step_extent_rows(s, q, cb, arg, err);
}

static int scan_blocks_range(struct shard *s, const char *sql, int64_t vdisk, int64_t first, int64_t last,
			     st_block_cb cb, void *arg, struct st_msg *err);

static int scan_blocks(struct shard *s, const char *sql, int64_t vdisk, st_block_cb cb, void *arg,
		       struct st_msg *err)
{
	return scan_blocks_range(s, sql, vdisk, -1, -1, cb, arg, err);
}

static int scan_blocks_range(struct shard *s, const char *sql, int64_t vdisk, int64_t first, int64_t last,
			     st_block_cb cb, void *arg, struct st_msg *err)
{
	struct st_block *b = malloc(sizeof(*b));
	sqlite3_stmt *q;
	int rc, src;

	if (!b)
		return st_fail(err, -ENOMEM, "out of memory");
	rc = st_sql_prepare(s->db, sql, &q, err);
	if (rc) {
		free(b);
		return rc;
	}
	if (vdisk >= 0)
		sqlite3_bind_int64(q, 1, vdisk);
	if (first >= 0) {
		sqlite3_bind_int64(q, 2, first);
		sqlite3_bind_int64(q, 3, last);
	}
	while ((src = sqlite3_step(q)) == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(q, 2);
		int rrc;

		b->vdisk = (uint64_t)sqlite3_column_int64(q, 0);
		b->block = (uint64_t)sqlite3_column_int64(q, 1);
		b->n = 0;
		rrc = blob ? st_block_decode(b->vdisk, b->block, blob, (size_t)sqlite3_column_bytes(q, 2), b) : ST_ECORRUPT;
		if (rrc)
			b->n = 0;
		rc = cb(arg, rrc, b);
		if (rc)
			break;
	}
	if (!rc && src != SQLITE_DONE)
		rc = st_sql_fail(s->db, src, s->path, err);
	sqlite3_finalize(q);
	free(b);
	return rc;
}

int st_meta_scan_blocks(struct st_meta *m, int shard, st_block_cb cb, void *arg, struct st_msg *err)
{
	return scan_blocks(&m->s[shard], "SELECT vdisk, block, regions FROM blocks", -1, cb, arg, err);
}

int st_meta_blocks_range(struct st_meta *m, uint64_t vdisk, uint64_t first, uint64_t last, st_block_cb cb, void *arg,
			 struct st_msg *err)
{
	int rc = 0;

	for (int i = 0; i < m->n && !rc; i++)
		rc = scan_blocks_range(&m->s[i],
				       "SELECT vdisk, block, regions FROM blocks WHERE vdisk = ? AND block BETWEEN ? AND ?",
				       (int64_t)vdisk, (int64_t)first, (int64_t)last, cb, arg, err);
	return rc;
}

int st_meta_extents_range(struct st_meta *m, const struct st_extent_id *lo, const struct st_extent_id *hi,
			  st_extent_cb cb, void *arg, struct st_msg *err)
{
	int rc = 0;

	for (int i = 0; i < m->n && !rc; i++) {
		struct shard *s = &m->s[i];
		sqlite3_stmt *q;
		rc = st_sql_prepare(s->db, "SELECT id, egroup, crc FROM extents WHERE id BETWEEN ? AND ?", &q, err);
		if (rc)
			break;
		sqlite3_bind_blob(q, 1, lo->b, ST_EXTENT_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(q, 2, hi->b, ST_EXTENT_ID_LEN, SQLITE_STATIC);
		rc = step_extent_rows(s, q, cb, arg, err);
	}
	return rc;
}

int st_meta_vdisk_blocks(struct st_meta *m, uint64_t vdisk, st_block_cb cb, void *arg, struct st_msg *err)
{
	int rc = 0;

	for (int i = 0; i < m->n && !rc; i++)
		rc = scan_blocks(&m->s[i], "SELECT vdisk, block, regions FROM blocks WHERE vdisk = ?",
				 (int64_t)vdisk, cb, arg, err);
	return rc;
}

int st_meta_vdisk_blocks_shard(struct st_meta *m, int shard, uint64_t vdisk, st_block_cb cb, void *arg,
			       struct st_msg *err)
{
	return scan_blocks(&m->s[shard], "SELECT vdisk, block, regions FROM blocks WHERE vdisk = ?", (int64_t)vdisk,
			   cb, arg, err);
}

int st_meta_extents_range_shard(struct st_meta *m, int shard, const struct st_extent_id *lo,
				const struct st_extent_id *hi, st_extent_cb cb, void *arg, struct st_msg *err)
{
	struct shard *s = &m->s[shard];
	sqlite3_stmt *q;
	int rc = st_sql_prepare(s->db, "SELECT id, egroup, crc FROM extents WHERE id BETWEEN ? AND ?", &q, err);

	if (rc)
		return rc;
	sqlite3_bind_blob(q, 1, lo->b, ST_EXTENT_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(q, 2, hi->b, ST_EXTENT_ID_LEN, SQLITE_STATIC);
	return step_extent_rows(s, q, cb, arg, err);
}

