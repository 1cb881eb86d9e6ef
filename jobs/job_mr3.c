/*
 * job_mr3: MR3 placement, and the partial scan's reduce. Per key of MR2's
 * output (or of the partial map): 'D' usage per disk (summed by the
 * combine), 'E' EC candidates of a container -> ec_encode strips of k
 * egroups on distinct nodes, 'T' and 'W' move candidates -> tier_down by
 * watermark and disk_balance, coldest first down to the target, 'U'
 * promotion candidates -> tier_up, hottest first while the tier stays
 * under its high watermark, 'H' chunk copies and 'K' whole extents alike by
 * checksum -> dedup tasks per container.
 *
 * DESIGN. The last job of a full scan (and the reduce of the partial
 * scan); records in job_rec.h. Its output is tasks and usage only. Task
 * sets come from whole keys (a tier, a disk, a container, a chunk), so
 * they do not depend on the rank count. Dedup groups span keys (an
 * extent holds many chunks, reduced on any rank), so the reduce only
 * collects candidate extents; after the job job_mr3_flush_dedup gathers
 * them on rank 0, which sorts them by (container, extent id) and packs
 * DD_TASK_EXTENTS to a task. Promotions into a tier are one key ('U'), so
 * its budget is spent once, not once per rank.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/job_scan_int.h"
#include "storage/st_ec.h"

struct mv {
	int64_t cold;
	uint64_t egroup, version, bytes;
	uint8_t dest;
};

static int mv_cmp(const void *a, const void *b)
{
	const struct mv *x = a, *y = b;
	if (x->cold != y->cold)
		return x->cold < y->cold ? -1 : 1;
	return x->egroup < y->egroup ? -1 : x->egroup > y->egroup;
}

/* MR3: the coldest first, until the tier (or disk) is down to its target. */
static int form_moves(struct scan_ctx *c, const uint8_t *key, size_t klen, const struct mr_value *vals, size_t n)
{
	struct mv *m = calloc(n + 1, sizeof(*m));
	size_t nm = 0;
	uint64_t need = 0, got = 0;
	uint32_t disk = 0;

	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = vals[i].p;
		if (vals[i].len < JR_MOVE_LEN)
			continue;
		jr_move_get(v, &m[nm].cold, &m[nm].egroup, &m[nm].version, &m[nm].bytes);
		m[nm].dest = vals[i].len > JR_MOVE_DEST ? v[JR_MOVE_DEST] : 0;
		nm++;
	}
	qsort(m, nm, sizeof(*m), mv_cmp);
	if (key[0] == JR_KEY_TIER) {
		enum st_tier t = (enum st_tier)key[JR_TKEY_TIER];
		uint64_t low = (uint64_t)c->tier_low[t] * c->tier_cap[t] / 100;
		need = c->tier_used[t] > low ? c->tier_used[t] - low : 0;
	} else if (klen == JR_WKEY_LEN) {
		int di;
		double mean;
		uint64_t cap = 0, used = 0;
		memcpy(&disk, key + JR_WKEY_DISK, 4);
		di = disk_index(c, disk);
		if (di < 0) {
			free(m);
			return 0;
		}
		for (int i = 0; i < c->ndisks; i++) {
			const struct st_disk *d = &c->disks[i];
			if (d->tier == c->disks[di].tier && d->ok && !d->removed && !d->draining) {
				cap += d->capacity;
				used += d->used;
			}
		}
		mean = cap ? (double)used / (double)cap : 0.0;
		need = (uint64_t)((double)c->disks[di].used - mean * (double)c->disks[di].capacity);
	}
	for (size_t i = 0; i < nm && got < need; i++) {
		if (key[0] == JR_KEY_TIER) {
			uint8_t a[JR_TIER_LEN] = { [JR_TIER_DEST] = m[i].dest, [JR_TIER_WHY] = JR_WHY_WATERMARK };
			c->c[JC_TIER_DOWN_WATERMARK]++;
			job_scan_task(c, JT_TIER_DOWN, m[i].egroup, m[i].version, (int64_t)m[i].bytes, a, JR_TIER_LEN);
		} else {
			c->c[JC_DISK_BALANCE]++;
			int di = disk_index(c, disk);
			c->task_node = di >= 0 ? c->disks[di].node : 0; /* it reads the disk it moves off */
			job_scan_task(c, JT_DISK_BALANCE, m[i].egroup, m[i].version, (int64_t)m[i].bytes, &disk,
				      JR_BALANCE_LEN);
		}
		got += m[i].bytes;
	}
	c->task_node = 0;
	free(m);
	return c->oom ? -ENOMEM : 0;
}

struct hot {
	int64_t last_read;
	uint64_t egroup, version, bytes;
	uint32_t reads;
};

static int hot_cmp(const void *a, const void *b)
{
	const struct hot *x = a, *y = b;
	if (x->reads != y->reads)
		return x->reads > y->reads ? -1 : 1;
	if (x->last_read != y->last_read)
		return x->last_read > y->last_read ? -1 : 1;
	return x->egroup < y->egroup ? -1 : x->egroup > y->egroup;
}

/*
 * MR3, per destination tier ('U'): the promotion budget, decided once for
 * the tier. The hottest candidates first, each only while the tier's
 * usage (as config.db had it at the start) plus what this key already
 * promotes stays at or under its high watermark: promotions never push a
 * tier past it, so the next scan finds no reason to move them back down.
 */
static int form_promotions(struct scan_ctx *c, const uint8_t *key, const struct mr_value *vals, size_t n)
{
	enum st_tier t = (enum st_tier)key[JR_PKEY_TIER];
	struct hot *h;
	size_t nh = 0;
	uint64_t room, planned = 0;

	if ((unsigned)t >= ST_NTIERS)
		return 0;
	room = (uint64_t)c->tier_high[t] * c->tier_cap[t] / 100;
	room = room > c->tier_used[t] ? room - c->tier_used[t] : 0;
	h = calloc(n + 1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = vals[i].p;
		if (vals[i].len != JR_PROMOTE_LEN)
			continue;
		jr_move_get(v, &h[nh].last_read, &h[nh].egroup, &h[nh].version, &h[nh].bytes);
		memcpy(&h[nh].reads, v + JR_PROMOTE_READS, 4);
		nh++;
	}
	qsort(h, nh, sizeof(*h), hot_cmp);
	for (size_t i = 0; i < nh; i++) {
		uint8_t a[JR_TIER_LEN] = { [JR_TIER_DEST] = (uint8_t)t, [JR_TIER_WHY] = JR_WHY_HOT };
		if (h[i].bytes > room - planned)
			continue; /* a smaller one may still fit */
		planned += h[i].bytes;
		c->c[JC_TIER_UP]++;
		job_scan_task(c, JT_TIER_UP, h[i].egroup, h[i].version, (int64_t)h[i].bytes, a, JR_TIER_LEN);
	}
	free(h);
	return c->oom ? -ENOMEM : 0;
}

/*
 * Per container: group EC candidates into strips of k egroups that can keep
 * one copy each on k distinct nodes (greedy, in the shuffle's order, which
 * is the same whatever the rank count). One ec_encode task per strip.
 */
static int form_strips(struct scan_ctx *c, const uint8_t *key, const struct mr_value *vals, size_t n)
{
	const struct st_container *ct = NULL;
	uint32_t container, used_nodes[ST_EC_MAX];
	uint8_t arg[JR_ENCODE_MEMBER_LEN * ST_EC_MAX];
	int in = 0;

	memcpy(&container, key + JR_ECKEY_CONTAINER, 4);
	ct = container_of(c, container);
	if (!ct || ct->rs_k < 2 || ct->rs_k + ct->rs_m > ST_EC_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = vals[i].p;
		int nn = v[JR_EC_NNODES], pick = -1;
		for (int j = 0; j < nn && pick < 0; j++) {
			uint32_t node;
			int clash = 0;
			memcpy(&node, v + JR_EC_LEN(j), JR_EC_NODE_LEN);
			for (int q = 0; q < in; q++)
				clash |= used_nodes[q] == node;
			if (!clash)
				pick = (int)node;
		}
		if (pick < 0)
			continue;
		used_nodes[in] = (uint32_t)pick;
		/* the candidate's egroup and version are the member's, in the same layout */
		memcpy(arg + JR_ENCODE_MEMBER_LEN * in + JR_ENCODE_EGROUP, v + JR_EC_EGROUP, 8);
		memcpy(arg + JR_ENCODE_MEMBER_LEN * in + JR_ENCODE_VERSION, v + JR_EC_VERSION, 8);
		if (++in == ct->rs_k) {
			uint64_t first;
			memcpy(&first, arg + JR_ENCODE_EGROUP, 8);
			job_scan_task(c, JT_EC_ENCODE, first, 0, 0, arg, (size_t)JR_ENCODE_MEMBER_LEN * in);
			in = 0;
		}
	}
	return c->oom ? -ENOMEM : 0;
}

#define DD_TASK_EXTENTS 64

/* The number of block rows an 'O' record names, or -1 when it is not a well-formed 'O' record. */
static int64_t occ_refs(const struct mr_value *v)
{
	const uint8_t *p = v->p;
	uint32_t nref;

	if (p[0] != JR_CHUNK_COPY || v->len < JR_O_ROWS)
		return -1;
	memcpy(&nref, p + JR_O_NROWS, 4);
	return v->len == JR_O_LEN(nref) ? (int64_t)nref : -1;
}

/*
 * MR3, per (container, chunk fingerprint), and per (container, checksum,
 * length) of whole extents not yet fingerprinted: when the chunk is stored more
 * than once, or a dedup extent already holds it, every extent holding a
 * copy is to be turned into dedup extents, all of its chunks (a chunk of it
 * that is unique becomes a dedup extent with one reference, so the whole
 * extent can go: garbage is collected per extent). Each extent becomes a
 * candidate once per rank (job_rec.h, dedup candidate); the tasks are made
 * on rank 0 after the job (job_mr3_flush_dedup).
 */
static int form_dedup(struct scan_ctx *c, uint32_t container, uint32_t len, const struct mr_value *vals, size_t n)
{
	struct dd_cands *d = &c->dd;
	size_t nocc = 0;
	int home = 0;

	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = vals[i].p;
		if (v[0] == JR_DEDUP_HOME && vals[i].len == JR_S_LEN)
			home = 1;
		else if (occ_refs(&vals[i]) >= 0)
			nocc++;
	}
	if (!nocc || (!home && nocc < 2))
		return 0; /* a unique chunk: nothing to share */
	c->c[JC_DEDUP_GROUPS]++;
	c->c[JC_DEDUP_BYTES] += (int64_t)len * (int64_t)(home ? nocc : nocc - 1);
	if (!d->ready) {
		st_hmap_init(&d->seen, 4 + ST_EXTENT_ID_LEN, 8); /* -> the record's offset in d->p */
		d->ready = 1;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *v = vals[i].p;
		int64_t refs = occ_refs(&vals[i]);
		uint32_t nref = (uint32_t)refs;
		uint8_t sk[4 + ST_EXTENT_ID_LEN], *q;
		int isnew;
		if (refs <= 0)
			continue;
		uint64_t *at, b64 = len, had;
		memcpy(sk, &container, 4);
		memcpy(sk + 4, v + JR_O_EXTENT, ST_EXTENT_ID_LEN);
		at = st_hmap_put(&d->seen, sk, &isnew);
		if (!at)
			return -ENOMEM;
		if (!isnew) { /* already a candidate here: count this chunk's bytes too */
			memcpy(&had, d->p + *at + JR_DDC_BYTES, 8);
			had += b64;
			memcpy(d->p + *at + JR_DDC_BYTES, &had, 8);
			continue;
		}
		if (st_reserve(&d->p, &d->cap, d->len + JR_DDC_LEN(nref), 1))
			return -ENOMEM;
		*at = d->len;
		q = d->p + d->len;
		memcpy(q + JR_DDC_CONTAINER, &container, 4);
		memcpy(q + JR_DDC_BYTES, &b64, 8);
		q += JR_DDC_GROUP;
		memcpy(q + JR_DEDUP_EXTENT, v + JR_O_EXTENT, ST_EXTENT_ID_LEN);
		memcpy(q + JR_DEDUP_EGROUP, v + JR_O_EGROUP, 8);
		memcpy(q + JR_DEDUP_NROWS, &nref, 4);
		memcpy(q + JR_DEDUP_ROWS, v + JR_O_ROWS, JR_BLOCK_LEN * (size_t)nref);
		d->len += JR_DDC_LEN(nref);
	}
	return 0;
}

int job_mr3_map(void *arg, const void *key, size_t klen, const void *val, size_t vlen, struct mr_emitter *em)
{
	(void)arg;
	return mr_emit(em, key, klen, val, vlen);
}

int job_mr3_reduce(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
			struct mr_emitter *em)
{
	struct scan_ctx *c = arg;
	const uint8_t *k = key;
	uint32_t disk;
	uint64_t bytes = 0, egroups = 0;
	int di;

	if (job_scan_poll(c, 0))
		return c->w.rc;
	(void)em;
	if (klen == JR_ECKEY_LEN && k[0] == JR_KEY_EC)
		return form_strips(c, k, vals, n);
	if (klen == JR_HKEY_LEN && k[0] == JR_KEY_CHUNK) {
		uint32_t container, len;
		memcpy(&container, k + JR_HKEY_CONTAINER, 4);
		memcpy(&len, k + JR_HKEY_BYTES, 4);
		return form_dedup(c, container, len, vals, n);
	}
	if (klen == JR_KKEY_LEN && k[0] == JR_KEY_WHOLE) { /* whole extents alike by checksum: the same rule */
		uint32_t container, len;
		memcpy(&container, k + JR_KKEY_CONTAINER, 4);
		memcpy(&len, k + JR_KKEY_BYTES, 4);
		return form_dedup(c, container, len, vals, n);
	}
	if (klen == JR_PKEY_LEN && k[0] == JR_KEY_PROMOTE)
		return form_promotions(c, k, vals, n);
	if ((klen == JR_TKEY_LEN && k[0] == JR_KEY_TIER) || (klen == JR_WKEY_LEN && k[0] == JR_KEY_DISK))
		return form_moves(c, k, klen, vals, n);
	if (klen != JR_UKEY_LEN || k[0] != JR_KEY_USAGE)
		return 0;
	memcpy(&disk, k + JR_UKEY_DISK, 4);
	for (size_t i = 0; i < n; i++) {
		uint64_t b, e;
		if (vals[i].len != JR_USAGE_LEN)
			continue;
		memcpy(&b, (const uint8_t *)vals[i].p + JR_USAGE_BYTES, 8);
		memcpy(&e, (const uint8_t *)vals[i].p + JR_USAGE_EGROUPS, 8);
		bytes += b;
		egroups += e;
	}
	di = disk_index(c, disk);
	if (di >= 0) {
		c->ubytes[di] += bytes;
		c->uegroups[di] += egroups;
	}
	return 0;
}

/*
 * MR3 (and partial scan) combine: a disk's usage records ('D', two per
 * egroup) are summed on the map side, so the reduce of each disk gets a
 * few values instead of one per replica; every other record passes
 * through as it is.
 */
int job_mr3_combine(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t n,
			 struct mr_emitter *em)
{
	const uint8_t *k = key;
	uint64_t sum[2] = { 0, 0 };
	size_t other = 0;
	int rc = 0;

	(void)arg;
	for (size_t i = 0; i < n && !rc; i++) {
		if (klen == JR_UKEY_LEN && k[0] == JR_KEY_USAGE && vals[i].len == JR_USAGE_LEN) {
			uint64_t b, e;
			memcpy(&b, (const uint8_t *)vals[i].p + JR_USAGE_BYTES, 8);
			memcpy(&e, (const uint8_t *)vals[i].p + JR_USAGE_EGROUPS, 8);
			sum[0] += b;
			sum[1] += e;
		} else {
			rc = mr_emit(em, key, klen, vals[i].p, vals[i].len);
			other++;
		}
	}
	if (!rc && other < n)
		rc = mr_emit(em, key, klen, sum, JR_USAGE_LEN); /* bytes, egroups */
	return rc;
}

/* A gathered candidate: where it starts and how long it is. */
struct ddc {
	const uint8_t *p;
	size_t len;
};

static int ddc_cmp(const void *a, const void *b)
{
	const struct ddc *x = a, *y = b;
	uint32_t cx, cy;

	memcpy(&cx, x->p + JR_DDC_CONTAINER, 4);
	memcpy(&cy, y->p + JR_DDC_CONTAINER, 4);
	if (cx != cy)
		return cx < cy ? -1 : 1;
	return memcmp(x->p + JR_DDC_GROUP + JR_DEDUP_EXTENT, y->p + JR_DDC_GROUP + JR_DEDUP_EXTENT, ST_EXTENT_ID_LEN);
}

/* Queue the task of arg[0..len) (a container's header and its groups), n extents of bytes. */
static void dedup_task(struct scan_ctx *c, const uint8_t *arg, size_t len, int64_t bytes)
{
	uint64_t target = 1469598103934665603ULL; /* FNV-1a of the extent groups: unique among pending tasks */

	for (size_t i = JR_DEDUP_HDR; i < len; i++)
		target = (target ^ arg[i]) * 1099511628211ULL;
	job_scan_task(c, JT_DEDUP, target, 0, bytes, arg, len);
}

/* Rank 0: the gathered candidates all[0..len) into tasks. 0 or -ENOMEM. */
static int dedup_tasks(struct scan_ctx *c, const uint8_t *all, size_t len)
{
	struct ddc *v = NULL;
	size_t nv = 0, capv = 0, alen = 0, acap = 0;
	uint8_t *arg = NULL;
	int groups = 0, rc = 0;
	int64_t bytes = 0;

	for (size_t off = 0; off + JR_DDC_LEN(0) <= len;) {
		uint32_t nrows;
		memcpy(&nrows, all + off + JR_DDC_GROUP + JR_DEDUP_NROWS, 4);
		if (off + JR_DDC_LEN(nrows) > len)
			break; /* (cannot happen: every rank wrote whole records) */
		if (st_grow(&v, &capv, nv, sizeof(*v))) {
			free(v);
			return -ENOMEM;
		}
		v[nv].p = all + off;
		v[nv++].len = JR_DDC_LEN(nrows);
		off += JR_DDC_LEN(nrows);
	}
	if (nv)
		qsort(v, nv, sizeof(*v), ddc_cmp);
	for (size_t i = 0; i < nv && !rc; i++) {
		uint32_t container;
		uint64_t b;
		memcpy(&b, v[i].p + JR_DDC_BYTES, 8);
		bytes += (int64_t)b;
		if (i && !ddc_cmp(&v[i - 1], &v[i]))
			continue; /* the same extent from another rank: its bytes counted, its rows there already */
		memcpy(&container, v[i].p + JR_DDC_CONTAINER, 4);
		if (groups && (groups == DD_TASK_EXTENTS || memcmp(arg + JR_DEDUP_CONTAINER, &container, 4))) {
			dedup_task(c, arg, alen, bytes - (int64_t)b);
			groups = 0;
			bytes = (int64_t)b;
		}
		if (!groups)
			alen = JR_DEDUP_HDR;
		if (st_reserve(&arg, &acap, alen + v[i].len, 1)) {
			rc = -ENOMEM;
			break;
		}
		memcpy(arg + JR_DEDUP_CONTAINER, &container, 4);
		memcpy(arg + alen, v[i].p + JR_DDC_GROUP, v[i].len - JR_DDC_GROUP);
		alen += v[i].len - JR_DDC_GROUP;
		groups++;
	}
	if (!rc && groups)
		dedup_task(c, arg, alen, bytes);
	free(arg);
	free(v);
	return rc ? rc : c->oom ? -ENOMEM : 0;
}

int job_mr3_flush_dedup(struct scan_ctx *c, struct mr_ctx *mr)
{
	void *all = NULL;
	size_t len = 0;
	int rc = mr_gather(mr, c->dd.p, c->dd.len, 0, &all, &len);

	if (!rc && c->rank == 0)
		rc = dedup_tasks(c, all, len);
	free(all);
	return mr_agree(mr, rc);
}
