/*
 * st_config_seq: the 64-bit IDs, the global write sequence and the
 * foreground operations in flight (st_config.h), plus what the read path
 * records in config.db: bad replicas (io_errors) and read counts per egroup
 * (egroup_reads, for promotion).
 *
 * DESIGN: this is the first half of the scan safety rule (DESIGN.md §6).
 * st_config_op_begin takes the next sequence number and registers the
 * operation in the same IMMEDIATE transaction, so no scan can see the new
 * sequence without the operation, and only while the operation's lease
 * is live (its fence in config.db); st_config_scan_seq first drops the
 * operations of dead leases (st_lease.h: never by pid), then returns S0 =
 * min(oldest begin sequence in flight, current + 1). An ID counter is committed before the IDs are handed out, so an ID
 * is never reused, even after a crash.
 */
#include "storage/st_config_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "storage/st_lease.h"
#include "storage/st_sql.h"

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
	rc = st_config_run(cfg, "INSERT OR REPLACE INTO id_counters(node, next) VALUES (?, ?)", "ii", NULL, err,
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

int st_config_ids_issued(struct st_config *cfg, uint64_t *n, struct st_msg *err)
{
	sqlite3_stmt *st;
	int rc = st_sql_prepare(cfg->db, "SELECT coalesce(sum(next - 1), 0) FROM id_counters", &st, err);

	if (rc)
		return rc;
	*n = sqlite3_step(st) == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return 0;
}

int st_config_op_begin(struct st_config *cfg, int64_t lease, const char *what, uint64_t *seq, int64_t *op,
		       struct st_msg *err)
{
	sqlite3_stmt *st;
	int64_t s = 0;
	int changes = 0;
	int rc = st_sql_begin(cfg->db, err);

	if (rc)
		return rc;
	rc = st_config_run(cfg, "UPDATE seq SET value = value + 1 WHERE id = 1", "", NULL, err);
	if (rc)
		goto fail;
	rc = st_sql_prepare(cfg->db, "SELECT value FROM seq WHERE id = 1", &st, err);
	if (rc)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW)
		s = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	/* the lease's fence in config.db: a fenced or dead holder begins nothing */
	rc = st_config_run(cfg,
			   "INSERT INTO inflight(lease, pid, begin_seq, started, what) SELECT ?1, ?2, ?3, ?4, ?5"
			   " WHERE " ST_LEASE_LIVE_SQL(1),
			   "iiiit", &changes, err, lease, (int64_t)getpid(), s, st_now(), what);
	if (!rc && changes == 0)
		rc = st_fail(err, ST_ELEASE, "%s: lease %lld lost: fenced by an observer", what, (long long)lease);
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
	return st_config_run(cfg, "DELETE FROM inflight WHERE op = ?", "i", NULL, err, op);
}

int st_config_scan_seq(struct st_config *cfg, uint64_t *s0, struct st_msg *err)
{
	sqlite3_stmt *st;
	int64_t cur = 0, oldest = INT64_MAX;
	int rc = st_sql_begin(cfg->db, err);

	if (rc)
		return rc;
	/*
	 * Operations of dead leases leave: only a lease whose fences are all in
	 * is dead (st_lease.h), and a lease that is gone was released or dead.
	 * A live or fencing lease's operations stay in S0, whatever its age.
	 */
	rc = st_config_run(cfg,
			   "DELETE FROM inflight WHERE lease NOT IN (SELECT id FROM leases WHERE state IN (0, 1))", "",
			   NULL, err);
	if (!rc) /* a dead lease with nothing left in flight is forgotten (its shard fences stay) */
		rc = st_config_run(cfg, "DELETE FROM leases WHERE state = 2 AND id NOT IN (SELECT lease FROM inflight)",
				   "", NULL, err);
	if (rc)
		goto fail;
	rc = st_sql_prepare(cfg->db, "SELECT min(begin_seq) FROM inflight", &st, err);
	if (rc)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		oldest = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
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
	return st_config_run(cfg, "INSERT INTO io_errors(at, egroup, disk, kind) VALUES (?, ?, ?, ?)", "iiit", NULL, err,
		   st_now(), (int64_t)egroup, (int64_t)disk, kind);
}

/* --- read counts ------------------------------------------------------- */

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

	return st_config_rows_tx(cfg,
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
	return st_config_rows_tx(cfg, "DELETE FROM egroup_reads WHERE egroup = ?", n, bind_egroup, egroup, err);
}

/* --- punched ranges ------------------------------------------------------ */

int st_config_trim_note(struct st_config *cfg, uint64_t vdisk, uint64_t lo, uint64_t hi, int64_t now, struct st_msg *err)
{
	if (lo > hi || lo > INT64_MAX || hi > INT64_MAX || vdisk > INT64_MAX)
		return st_fail(err, ST_EINVAL, "trim note: bad block range %llu..%llu", (unsigned long long)lo,
			       (unsigned long long)hi);
	return st_config_run(cfg,
			     "INSERT INTO vdisk_trims(vdisk, lo, hi, at) VALUES (?, ?, ?, ?) ON CONFLICT(vdisk)"
			     " DO UPDATE SET lo = min(lo, excluded.lo), hi = max(hi, excluded.hi)",
			     "iiii", NULL, err, (int64_t)vdisk, (int64_t)lo, (int64_t)hi, now);
}

int st_config_trims_take(struct st_config *cfg, struct st_trim *out, int max, int *n, struct st_msg *err)
{
	sqlite3_stmt *q = NULL;
	int rc, src;

	*n = 0;
	if (max <= 0)
		return 0;
	rc = st_sql_begin(cfg->db, err);
	if (rc)
		return rc;
	rc = st_sql_prepare(cfg->db, "SELECT vdisk, lo, hi FROM vdisk_trims ORDER BY at, vdisk LIMIT ?", &q, err);
	if (!rc) {
		sqlite3_bind_int(q, 1, max);
		while ((src = sqlite3_step(q)) == SQLITE_ROW) {
			int64_t v = sqlite3_column_int64(q, 0), lo = sqlite3_column_int64(q, 1), hi = sqlite3_column_int64(q, 2);
			if (v <= 0 || lo < 0 || hi < lo)
				continue; /* a hostile row: dropped below, never answered (the full scan is the net) */
			out[*n] = (struct st_trim){ .vdisk = (uint64_t)v, .lo = (uint64_t)lo, .hi = (uint64_t)hi };
			(*n)++;
		}
		if (src != SQLITE_DONE)
			rc = st_sql_fail(cfg->db, src, "config.db vdisk_trims", err);
		sqlite3_finalize(q);
	}
	if (!rc)
		rc = st_config_run(cfg,
				   "DELETE FROM vdisk_trims WHERE vdisk IN (SELECT vdisk FROM vdisk_trims ORDER BY at, vdisk LIMIT ?)",
				   "i", NULL, err, (int64_t)max);
	if (rc) {
		st_sql_rollback(cfg->db);
		*n = 0;
		return rc;
	}
	return st_sql_commit(cfg->db, err);
}
