/*
 * st_store: the handle. Cluster creation (st_store_init, and the disk spec
 * it takes), st_store_open and st_store_free, the handle's parts handed to
 * the curator and tools, and its counters. The operations live in the rest
 * of the family, one concern a file (st_store_int.h lists them, lowest
 * first).
 *
 * DESIGN: the top of the st_store family, because open and free build and
 * tear down every part (st_topo.c's tables, st_replica.c's fd cache,
 * st_read.c's caches, st_retire.c's unlink helpers); nothing else of the
 * family calls into this file. It takes no step of the write/read
 * ordering: a cluster made by st_store_init has no data, and
 * st_store_free first adds the read counts gathered to config.db, then
 * waits for the queued unlinks of retired copies (old copies last: a
 * crash before one leaves an orphan file for the sweep).
 */
#include "storage/st_store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "storage/st_lease.h"
#include "storage/st_sql.h"

int st_disk_spec_parse(const char *s, struct st_init_spec *spec, struct st_msg *err)
{
	char buf[512], *save = NULL, *tok;

	spec->ndisks = 0;
	if (!s || !*s || strlen(s) >= sizeof(buf))
		return st_fail(err, ST_EINVAL, "--disks: empty or too long");
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':'), *x;
		long count;
		uint64_t size;
		int tier;

		if (!colon)
			return st_fail(err, ST_EINVAL, "--disks '%s': expected TIER:COUNTxSIZE, e.g. ssd:1x8G", tok);
		*colon = 0;
		tier = st_tier_parse(tok);
		if (tier < 0 || tier == ST_TIER_CLOUD)
			return st_fail(err, ST_EINVAL, "--disks: unknown disk tier '%s' (ssd or hdd)", tok);
		x = strchr(colon + 1, 'x');
		if (!x)
			return st_fail(err, ST_EINVAL, "--disks '%s': expected COUNTxSIZE after the tier", colon + 1);
		*x = 0;
		count = strtol(colon + 1, &tok, 10);
		if (*tok || count < 1 || count > 16)
			return st_fail(err, ST_EINVAL, "--disks: disk count '%s' must be 1..16", colon + 1);
		if (st_parse_size(x + 1, &size) || size < (16ULL << 20))
			return st_fail(err, ST_EINVAL, "--disks: disk size '%s' must be a size >= 16M", x + 1);
		for (long i = 0; i < count; i++) {
			if (spec->ndisks >= 32)
				return st_fail(err, ST_EINVAL, "--disks: at most 32 disks per node");
			spec->disks[spec->ndisks].tier = (enum st_tier)tier;
			spec->disks[spec->ndisks].size = size;
			spec->ndisks++;
		}
	}
	return 0;
}

int st_store_init(const char *dir, const struct st_init_spec *spec, struct st_msg *err)
{
	struct st_config *cfg = NULL;
	struct st_meta *meta = NULL;
	char path[ST_PATH_MAX + 16], uuid[64];
	int rc;

	if (spec->nodes < 1 || spec->nodes > 64)
		return st_fail(err, ST_EINVAL, "--nodes %d: must be 1..64", spec->nodes);
	if (spec->ndisks < 1)
		return st_fail(err, ST_EINVAL, "--disks: at least one disk per node");
	rc = st_config_create(dir, spec->shards, spec->shared_fs, &cfg, err);
	if (rc)
		return rc;
	for (int n = 1; n <= spec->nodes && !rc; n++) {
		rc = st_config_node_add(cfg, (uint32_t)n, err);
		for (int d = 0; d < spec->ndisks && !rc; d++) {
			uint32_t id;
			rc = st_config_disk_add(cfg, (uint32_t)n, spec->disks[d].tier, spec->disks[d].size, &id, err);
		}
	}
	if (!rc) {
		snprintf(path, sizeof(path), "%s/locks", st_config_dir(cfg));
		rc = st_mkdir_p(path);
		if (rc)
			st_fail(err, rc, "%s: %s", path, st_strerror(rc));
	}
	if (!rc)
		rc = st_config_uuid(cfg, uuid, sizeof(uuid), err);
	if (!rc)
		rc = st_meta_open(st_config_dir(cfg), spec->shards,
				  ST_SQL_CREATE | (st_config_shared(cfg) ? ST_SQL_SHARED : 0), uuid, &meta, err);
	st_meta_free(meta);
	st_config_free(cfg);
	return rc;
}

int st_store_open(const char *dir, struct st_store **out, struct st_msg *err)
{
	struct st_store *st = calloc(1, sizeof(*st));
	const char *node = getenv("CURATOR_NODE");
	char uuid[64];
	int rc;

	if (!st)
		return st_fail(err, -ENOMEM, "out of memory");
	st_fdcache_init(&st->fdc);
	st_readcache_init(&st->rcache);
	st->topo.node = node && *node ? (uint32_t)strtoul(node, NULL, 10) : 1;
	st->lease_kind = ST_LEASE_WRITER;
	snprintf(st->lease_what, sizeof(st->lease_what), "vdisk writer");
	rc = st_config_open(dir, &st->cfg, err);
	if (!rc)
		rc = st_config_uuid(st->cfg, uuid, sizeof(uuid), err);
	if (!rc)
		rc = st_meta_open(st_config_dir(st->cfg), st_config_shards(st->cfg),
				  st_config_shared(st->cfg) ? ST_SQL_SHARED : 0, uuid, &st->meta, err);
	if (!rc)
		rc = st_topo_refresh(st, err);
	if (rc) {
		st_store_free(st);
		return rc;
	}
	*out = st;
	return 0;
}

void st_store_free(struct st_store *st)
{
	if (!st)
		return;
	st_readcache_release(st);
	st_store_async_unlink(st, 0);
	st_fdcache_free(&st->fdc);
	free(st->cbuf);
	st_topo_release(&st->topo);
	st_lease_release(st->lease);
	st_meta_free(st->meta);
	st_config_free(st->cfg);
	free(st);
}

struct st_config *st_store_config(struct st_store *st)
{
	return st->cfg;
}

struct st_meta *st_store_meta(struct st_store *st)
{
	return st->meta;
}

uint32_t st_store_node(const struct st_store *st)
{
	return st->topo.node;
}

void st_store_stats(const struct st_store *st, struct st_store_stats *out)
{
	*out = st->stats;
}

/* --- leases ------------------------------------------------------------- */

void st_store_set_holder(struct st_store *st, int kind, const char *what)
{
	st->lease_kind = kind;
	snprintf(st->lease_what, sizeof(st->lease_what), "%s", what ? what : "");
}

int st_store_lease(struct st_store *st, struct st_lease **out, struct st_msg *err)
{
	int rc;

	if (!st->lease) {
		rc = st_lease_acquire(st->cfg, (enum st_lease_kind)st->lease_kind, st->lease_what, &st->lease, err);
		if (rc)
			return rc;
		char name[ST_LEASE_HOLDER_MAX];
		st_meta_set_holder(st->meta, st_lease_holder_name(st_lease_id(st->lease), name, sizeof(name)));
	}
	rc = st_lease_check(st->lease, err);
	if (!rc && out)
		*out = st->lease;
	return rc;
}

int st_store_lease_check(struct st_store *st, struct st_msg *err)
{
	return st->lease ? st_lease_check(st->lease, err) : 0;
}

int st_store_op_begin(struct st_store *st, const char *what, uint64_t *seq, int64_t *op, struct st_msg *err)
{
	int rc = st_store_lease(st, NULL, err);

	if (rc)
		return rc;
	return st_config_op_begin(st->cfg, st_lease_id(st->lease), what, seq, op, err);
}

/* st_store_leases_reap, handing back the observation (*out, *nout: the caller frees) when out is set. */
static int reap(struct st_store *st, int *reaped, struct st_lease_info **out, int *nout, struct st_msg *err)
{
	struct st_lease_info *v = NULL;
	int n = 0, dead = 0, rc = st_lease_observe(st->cfg, &v, &n, err);

	for (int i = 0; i < n && !rc; i++) {
		int frc;
		if (!v[i].expired && v[i].state != ST_LEASE_FENCING)
			continue;
		if (st->lease && v[i].id == st_lease_id(st->lease))
			continue; /* never our own: we would have lost it first */
		frc = st_lease_fence_begin(st->cfg, v[i].id, v[i].beat, err);
		if (frc == ST_ESTALE)
			continue; /* it beat in between: alive */
		rc = frc;
		if (!rc) {
			char name[ST_LEASE_HOLDER_MAX];
			rc = st_meta_fence(st->meta, st_lease_holder_name(v[i].id, name, sizeof(name)), err);
		}
		if (!rc)
			rc = st_lease_fence_end(st->cfg, v[i].id, err);
		if (!rc)
			dead++;
	}
	if (out && !rc) {
		*out = v;
		*nout = n;
	} else {
		free(v);
	}
	if (reaped)
		*reaped = dead;
	return rc;
}

int st_store_leases_reap(struct st_store *st, int *reaped, struct st_msg *err)
{
	return reap(st, reaped, NULL, NULL, err);
}

int st_store_lock(struct st_store *st, const char *name, int wait_ms, struct st_msg *err)
{
	int64_t t0 = st_lease_mono_ms(), first_beat = -1, holder = 0, limit = wait_ms > 0 ? wait_ms : 0;
	int got = 0, rc = st_store_lease(st, NULL, err);
	char who[300] = "";

	while (!rc) {
		struct st_lease_info *v = NULL;
		int n = 0;

		rc = st_lease_lock(st->cfg, st_lease_id(st->lease), name, &got, &holder, err);
		if (rc || got == 1)
			break;
		if (got == 2) {
			rc = st_fail(err, ST_EBUSY, "%s: already held by this process", name);
			break;
		}
		rc = reap(st, NULL, &v, &n, err);
		for (int i = 0; !rc && i < n; i++) {
			if (v[i].id != holder)
				continue;
			snprintf(who, sizeof(who), "lease %lld: %s '%s' on %s, pid %lld", (long long)v[i].id,
				 st_lease_kind_name(v[i].kind), v[i].what, v[i].host, (long long)v[i].pid);
			if (limit < v[i].ttl_ms * 3 / 2)
				limit = v[i].ttl_ms * 3 / 2;
			if (first_beat < 0)
				first_beat = v[i].beat;
			else if (v[i].beat != first_beat && wait_ms < 0)
				rc = st_fail(err, ST_EBUSY, "%s: held by a live holder (%s)", name, who);
		}
		free(v);
		if (!rc && st_lease_mono_ms() - t0 > limit)
			rc = st_fail(err, ST_EBUSY, "%s: held by another (%s)", name, who[0] ? who : "a lease");
		if (!rc)
			usleep(100000);
	}
	return rc;
}

void st_store_unlock(struct st_store *st, const char *name)
{
	if (st->lease)
		st_lease_unlock(st->cfg, st_lease_id(st->lease), name, NULL);
}

int st_store_scan_seq(struct st_store *st, uint64_t *s0, struct st_msg *err)
{
	int rc = st_store_leases_reap(st, NULL, err);

	if (rc)
		return rc;
	return st_config_scan_seq(st->cfg, s0, err);
}
