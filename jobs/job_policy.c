/*
 * job_policy: the per-egroup policy a scan applies to a live egroup, from
 * its row alone: protection (replicas against RF, EC members, cloud
 * objects, scrubbing), strips (half-made ones rolled back, mostly dead ones
 * dissolved), compression and EC candidates, and placement (ILM up and
 * down, disk balancing).
 *
 * DESIGN. Called by MR2's reduce (job_mr2.c, files known) and by the
 * partial scan's map (job_partial.c, files not known); decisions that need
 * a whole tier or disk become 'T', 'W' and 'E' records for MR3
 * (job_mr3.c). None of it deletes data: it queues copies, moves and
 * rewrites, each carrying the egroup version it saw (compare-and-set), and
 * moves are never planned past a tier's high watermark (no ping-pong).
 * job_policy_init derives the tier and disk picture from config.db at the
 * start, the same on every rank.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/job_scan_int.h"
#include "storage/st_cloud.h"
#include "storage/st_ec.h"
#include "storage/st_egroup.h"

/*
 * Replica health: 0 healthy; 1 unavailable for now (its node is down for
 * less than the grace period: counted as a copy, not a source); 2 unhealthy
 * (failed or removed disk, draining disk, node down past the grace period,
 * a copy marked bad, or -- full scans -- its file missing or short).
 */
static int replica_health(const struct scan_ctx *c, const struct st_egroup_rec *g, int r, int have_files,
			  const uint32_t *fdisk, const uint64_t *fsize, int nf)
{
	int di = disk_index(c, g->replicas[r].disk);
	const struct st_disk *d = di >= 0 ? &c->disks[di] : NULL;

	if (!d || !d->ok || d->removed || d->draining || g->replicas[r].state != ST_REPLICA_OK)
		return 2;
	for (int n = 0; n < c->nnodes; n++) {
		if (c->nodes[n].id != d->node || c->nodes[n].up)
			continue;
		return c->now - c->nodes[n].changed < c->o->node_grace ? 1 : 2;
	}
	if (have_files) {
		int ok = 0;
		for (int i = 0; i < nf; i++)
			ok |= fdisk[i] == d->id && fsize[i] >= g->used;
		if (!ok)
			return 2;
	}
	return 0;
}

/*
 * Could a read be served from replica r? As the read path sees it
 * (st_read_extent_any): its disk is there and not failed, whatever its
 * node's state or a drain; the copy is not marked bad; and -- full scans --
 * its file is there and long enough. Data is lost only where no replica is.
 */
static int replica_readable(const struct scan_ctx *c, const struct st_egroup_rec *g, int r, int have_files,
			    const uint32_t *fdisk, const uint64_t *fsize, int nf)
{
	int di = disk_index(c, g->replicas[r].disk), ok = !have_files;
	const struct st_disk *d = di >= 0 ? &c->disks[di] : NULL;

	if (!d || !d->ok || d->removed || g->replicas[r].state != ST_REPLICA_OK)
		return 0;
	for (int i = 0; have_files && i < nf; i++)
		ok |= fdisk[i] == d->id && fsize[i] >= g->used;
	return ok;
}

/* Replicas vs the container's RF; scrubbing due. Queues protection tasks. */
void job_policy_protection(struct scan_ctx *c, const struct st_egroup_rec *g, int have_files, const uint32_t *fdisk,
		       const uint64_t *fsize, int nf)
{
	int rf = 2, healthy = 0, waiting = 0;

	if (g->flags & ST_EGROUP_CLOUD) { /* its object is its protection: present, or lost */
		int found = !c->cloud_ok;
		for (int i = 0; have_files && i < nf; i++)
			found |= fdisk[i] == ST_CLOUD_DISK && fsize[i] >= g->used;
		c->c[JC_CLOUD_EGROUPS]++;
		c->c[JC_CLOUD_BYTES] += g->used;
		if (!found) {
			c->c[JC_LOST]++;
			c->c[JC_UNREADABLE]++;
			c->c[JC_UNREADABLE_BYTES] += g->used;
			job_scan_finding(c, "missing_object", g->id, NULL,
					 "egroup %" PRIx64 ": its cloud object is missing or short", g->id);
		}
		return;
	}
	for (int i = 0; i < c->nconts; i++)
		if (c->conts[i].id == g->container)
			rf = c->conts[i].rf;
	if (g->flags & ST_EGROUP_EC)
		rf = 1; /* a strip member: its strip is the redundancy */
	for (int r = 0; r < g->nreplicas; r++) {
		int h = replica_health(c, g, r, have_files, fdisk, fsize, nf);
		healthy += h == 0;
		waiting += h == 1;
	}
	if (waiting)
		c->c[JC_AWAITING_NODE]++;
	if (healthy + waiting < rf) {
		int left = healthy + waiting;
		c->c[JC_UNDER_REPLICATED]++;
		c->c[JC_AT_RISK_BYTES] += g->used;
		if (left == 1)
			c->c[JC_ONE_COPY_LEFT]++;
		if (g->flags & ST_EGROUP_EC) {
			c->c[JC_STRIPS_DEGRADED]++;
			job_scan_finding(c, "strip_member_lost", g->id, NULL,
				"egroup %" PRIx64 ": member %u of strip %" PRIx64 " lost its copy; reads decode it, a rebuild is queued",
				g->id, g->strip_pos, g->strip);
			job_scan_task_prio(c, JT_EC_REBUILD, g->id, g->version, (int64_t)g->used, 85);
			return;
		}
		if (healthy == 0) {
			int readable = 0;
			for (int r = 0; r < g->nreplicas; r++)
				readable += replica_readable(c, g, r, have_files, fdisk, fsize, nf);
			c->c[JC_LOST]++;
			if (!readable) {
				c->c[JC_UNREADABLE]++;
				c->c[JC_UNREADABLE_BYTES] += g->used;
				job_scan_finding(c, "unreadable", g->id, NULL,
					"egroup %" PRIx64 ": no replica a read can use (%d, RF %d): its data is lost", g->id,
					g->nreplicas, rf);
			} else {
				job_scan_finding(c, "no_healthy_replica", g->id, NULL,
					"egroup %" PRIx64 ": no healthy replica left of %d (RF %d); %d still readable (down node or draining disk)",
					g->id, g->nreplicas, rf, readable);
			}
			return; /* nothing to copy from */
		}
		job_scan_task_prio(c, JT_REREPLICATE, g->id, g->version, (int64_t)g->used * (rf - left), 100 - 10 * left);
	} else if (healthy > rf) {
		c->c[JC_EXTRA_REPLICAS]++;
		job_scan_task(c, JT_DROP_EXTRA, g->id, g->version, 0, NULL, 0);
	}
	if (c->now - g->last_scrub >= c->o->scrub_period) {
		c->c[JC_SCRUB_DUE]++;
		job_scan_task(c, JT_SCRUB, g->id, g->version, (int64_t)g->used * g->nreplicas, NULL, 0);
	}
}

/*
 * A cold, fully replicated egroup of a container with --rs becomes an EC
 * candidate for MR3: key 'E' container, value egroup id, version, node
 * count, the nodes of its healthy copies.
 */
int job_policy_ec(struct scan_ctx *c, const struct st_egroup_rec *g, struct mr_emitter *em)
{
	const struct st_container *ct = NULL;
	uint8_t k[JR_ECKEY_LEN] = { JR_KEY_EC }, v[JR_EC_MAX_LEN];
	int n = 0;

	ct = container_of(c, g->container);
	if (!ct || !ct->rs_k || (g->flags & ~(uint32_t)ST_EGROUP_COMPRESSED) || !g->nextents ||
	    c->now - g->last_write < ct->ec_delay)
		return 0;
	{ /* garbage is compacted away first, not frozen into a strip */
		uint64_t live = ST_EGROUP_HDR;
		for (int i = 0; i < g->nextents; i++)
			live += g->extents[i].stored_len;
		if (g->used > live && (g->used - live) * 100 >= (uint64_t)c->o->compact_pct * g->used)
			return 0;
	}
	for (int r = 0; r < g->nreplicas; r++) {
		int di = disk_index(c, g->replicas[r].disk);
		if (replica_health(c, g, r, 0, NULL, NULL, 0) == 0 && di >= 0) {
			memcpy(v + JR_EC_LEN(n), &c->disks[di].node, JR_EC_NODE_LEN);
			n++;
		}
	}
	if (n < ct->rf)
		return 0; /* protect it first */
	c->c[JC_EC_CANDIDATES]++;
	memcpy(k + JR_ECKEY_CONTAINER, &g->container, 4);
	memcpy(v + JR_EC_EGROUP, &g->id, 8);
	memcpy(v + JR_EC_VERSION, &g->version, 8);
	v[JR_EC_NNODES] = (uint8_t)n;
	return mr_emit(em, k, JR_ECKEY_LEN, v, JR_EC_LEN(n));
}

/*
 * A plain egroup of a container with compression on, not yet through the
 * compressor and unwritten for the container's compression delay, gets a
 * compress task. Returns 1 when one was queued.
 */
int job_policy_compress(struct scan_ctx *c, const struct st_egroup_rec *g)
{
	const struct st_container *ct = NULL;
	uint64_t raw = 0;

	ct = container_of(c, g->container);
	if (!ct || ct->compress == ST_MODE_OFF || g->flags || !g->nextents || c->now - g->last_write < ct->compress_delay)
		return 0;
	for (int i = 0; i < g->nextents; i++)
		raw += g->extents[i].stored_len;
	c->c[JC_COMPRESS_CANDIDATES]++;
	job_scan_task(c, JT_COMPRESS, g->id, g->version, (int64_t)raw * g->nreplicas, NULL, 0);
	return 1;
}

/*
 * A parity egroup whose strip is missing or whose data members do not all
 * name the strip, older than the sweep grace period (a conversion still
 * running is younger), is the leftover of a crashed conversion: roll the
 * strip back. Returns 1 if a roll-back was queued.
 */
int job_policy_half_made_strip(struct scan_ctx *c, const struct st_egroup_rec *p)
{
	struct st_strip sp;
	int complete = 0;

	if (c->now - p->created < c->o->sweep_grace)
		return 0;
	if (st_meta_strip_get(c->m, p->strip, &sp, NULL) == 0) {
		complete = 1;
		for (int i = 0; i < sp.k && complete; i++) {
			struct st_egroup_rec g;
			st_egroup_rec_init(&g);
			complete = st_meta_strip_member(c->m, &sp, i, &g);
			st_egroup_rec_release(&g);
		}
		if (complete)
			return 0;
	}
	job_scan_finding(c, "half_made_strip", p->id, NULL,
			 "parity egroup %" PRIx64 ": strip %" PRIx64 " was never completed; rolled back", p->id, p->strip);
	job_scan_task(c, JT_STRIP_ROLLBACK, p->strip, 0, p->used, &p->id, JR_ROLLBACK_EGROUP_LEN);
	return 1;
}

/*
 * GC of strips: once less than half of a complete strip's data bytes are
 * live extents (dead ones leave the records as extent_delete runs), the
 * strip is dissolved: its live members go back to plain egroups at RF, which
 * compaction then shrinks, and its dead members and parity go. Looked at
 * once per strip, from member 0.
 */
void job_policy_strip_gc(struct scan_ctx *c, const struct st_egroup_rec *g0)
{
	struct st_strip sp;
	uint64_t live = 0, total = 0, freed = 0;

	if (g0->strip_pos != 0 || st_meta_strip_get(c->m, g0->strip, &sp, NULL))
		return;
	for (int i = 0; i < sp.k; i++) {
		struct st_egroup_rec g;
		int ok;
		st_egroup_rec_init(&g);
		ok = st_meta_strip_member(c->m, &sp, i, &g);
		if (ok) {
			uint64_t l = 0;
			for (int e = 0; e < g.nextents; e++)
				l += g.extents[e].stored_len;
			live += l;
			total += g.used > ST_EGROUP_HDR ? g.used - ST_EGROUP_HDR : 0;
			if (!g.nextents)
				freed += g.used;
		}
		st_egroup_rec_release(&g);
		if (!ok)
			return; /* incomplete: a conversion or a dissolve in flight, or job_policy_half_made_strip's */
	}
	if (!total || live * 2 >= total)
		return;
	freed += (uint64_t)sp.m * (sp.len + ST_PARITY_HDR);
	job_scan_finding(c, "strip_mostly_dead", sp.id, NULL,
		"strip %" PRIx64 ": %" PRIu64 " of %" PRIu64 " data bytes live; dissolved into plain egroups for compaction",
		sp.id, live, total);
	job_scan_task(c, JT_STRIP_DISSOLVE, sp.id, 0, (int64_t)freed, NULL, 0);
}

static double disk_pct(const struct st_disk *d)
{
	return d->capacity ? 100.0 * (double)d->used / (double)d->capacity : 0.0;
}

/* Tier usage, watermarks and overfull disks from config.db (every rank, the same). */
void job_policy_init(struct scan_ctx *c)
{
	double mean[ST_NTIERS] = { 0 };
	uint64_t dcap[ST_NTIERS] = { 0 }, dused[ST_NTIERS] = { 0 };

	for (int t = 0; t < ST_NTIERS; t++) {
		c->tier_high[t] = 100;
		c->tier_low[t] = 100;
	}
	for (int i = 0; i < c->nconts; i++)
		for (int k = 0; k < c->conts[i].ntiers; k++) {
			enum st_tier t = c->conts[i].tiers[k];
			if (c->conts[i].ilm_high < c->tier_high[t])
				c->tier_high[t] = c->conts[i].ilm_high;
			if (c->conts[i].ilm_low < c->tier_low[t])
				c->tier_low[t] = c->conts[i].ilm_low;
		}
	for (int i = 0; i < c->ndisks; i++) {
		const struct st_disk *d = &c->disks[i];
		if (!d->ok || d->removed)
			continue;
		c->tier_cap[d->tier] += d->capacity;
		c->tier_used[d->tier] += d->used;
		if (!d->draining) {
			dcap[d->tier] += d->capacity;
			dused[d->tier] += d->used;
		}
	}
	for (int t = 0; t < ST_NTIERS; t++) {
		c->tier_over[t] = c->tier_cap[t] && c->tier_used[t] * 100 > (uint64_t)c->tier_high[t] * c->tier_cap[t];
		mean[t] = dcap[t] ? 100.0 * (double)dused[t] / (double)dcap[t] : 0.0;
	}
	c->disk_over = calloc((size_t)c->ndisks + 1, 1);
	c->node_under = calloc((size_t)c->nnodes + 1, 1);
	for (int i = 0; c->disk_over && c->node_under && i < c->ndisks; i++) {
		const struct st_disk *d = &c->disks[i];
		int usable = d->ok && !d->removed && !d->draining;
		c->disk_over[i] = usable && disk_pct(d) > mean[d->tier] + BALANCE_POINTS;
		for (int n = 0; usable && disk_pct(d) < mean[d->tier] && n < c->nnodes; n++)
			if (c->nodes[n].id == d->node && c->nodes[n].up)
				c->node_under[n] |= (uint8_t)(1u << d->tier);
	}
}

/* Could replica r of g move to a disk below its tier's mean, on a node holding none of g's other replicas? */
static int balance_target(const struct scan_ctx *c, const struct st_egroup_rec *g, int r)
{
	for (int n = 0; n < c->nnodes; n++) {
		int other = 0;
		if (!(c->node_under[n] & (1u << g->tier)))
			continue;
		for (int q = 0; q < g->nreplicas; q++) {
			int di = disk_index(c, g->replicas[q].disk);
			other |= q != r && di >= 0 && c->disks[di].node == c->nodes[n].id;
		}
		if (!other)
			return 1;
	}
	return 0;
}

int job_policy_load_read(void *arg, uint64_t egroup, uint32_t reads, int64_t last)
{
	uint8_t *v = st_hmap_put(arg, &egroup, NULL);

	if (!v)
		return -ENOMEM;
	memcpy(v, &reads, 4);
	memcpy(v + 4, &last, 8);
	return 0;
}

/* The tier below / above g's in its container's order, or -1. */
static int tier_step(const struct st_container *ct, enum st_tier t, int down)
{
	for (int k = 0; k < ct->ntiers; k++)
		if (ct->tiers[k] == t) {
			int j = down ? k + 1 : k - 1;
			return j >= 0 && j < ct->ntiers ? (int)ct->tiers[j] : -1;
		}
	return -1;
}

/*
 * ILM and balancing (MR2 side) for a live plain egroup. Coldness is the
 * latest of its write, its recorded access and its last foreground read.
 *  - read PROMOTE_READS times within PROMOTE_WINDOW on a lower tier: a
 *    'U' promotion candidate (job_rec.h), which MR3 turns into tier_up as
 *    far as the tier above stays under its high watermark (decided once
 *    per tier, not per rank);
 *  - older than its container's cold age: tier_down whatever the usage;
 *  - on a tier above its high watermark: a 'T' move record (job_rec.h) so
 *    MR3 moves the coldest down until the low watermark;
 *  - a replica on a disk more than BALANCE_POINTS above its tier's mean:
 *    a 'W' move record.
 */
int job_policy_placement(struct scan_ctx *c, const struct st_egroup_rec *g, struct mr_emitter *em)
{
	const struct st_container *ct = container_of(c, g->container);
	const uint8_t *rv = st_hmap_get(&c->rd, &g->id);
	uint32_t reads = 0;
	int64_t last_read = 0, cold = g->last_write > g->last_access ? g->last_write : g->last_access;
	int down, up, rc = 0;

	if (!ct || (g->flags & ~(uint32_t)(ST_EGROUP_COMPRESSED | ST_EGROUP_CLOUD)) || !g->nextents)
		return 0;
	if (rv) {
		memcpy(&reads, rv, 4);
		memcpy(&last_read, rv + 4, 8);
		if (last_read > cold)
			cold = last_read;
	}
	down = tier_step(ct, g->tier, 1);
	up = tier_step(ct, g->tier, 0);
	if (down == ST_TIER_CLOUD && !c->cloud)
		down = -1; /* no cloud configured */
	if (up >= 0 && reads >= PROMOTE_READS && c->now - last_read <= PROMOTE_WINDOW) {
		/* hot: a candidate for MR3's per-tier promotion budget (job_rec.h 'U'), nothing else this scan */
		uint8_t k[JR_PKEY_LEN] = { JR_KEY_PROMOTE, [JR_PKEY_TIER] = (uint8_t)up }, v[JR_PROMOTE_LEN];
		jr_move_put(v, last_read, g->id, g->version, (uint64_t)g->used * (uint64_t)ct->rf);
		memcpy(v + JR_PROMOTE_READS, &reads, 4);
		return mr_emit(em, k, JR_PKEY_LEN, v, JR_PROMOTE_LEN);
	}
	if (down >= 0 && ct->cold_age > 0 && c->now - cold >= ct->cold_age) {
		uint8_t a[JR_TIER_LEN] = { [JR_TIER_DEST] = (uint8_t)down, [JR_TIER_WHY] = JR_WHY_COLD };
		c->c[JC_TIER_DOWN_COLD]++;
		job_scan_task(c, JT_TIER_DOWN, g->id, g->version, (int64_t)g->used * g->nreplicas, a, JR_TIER_LEN);
		return 0;
	}
	if (down >= 0 && c->tier_over[g->tier]) {
		uint8_t k[JR_TKEY_LEN] = { JR_KEY_TIER, [JR_TKEY_TIER] = (uint8_t)g->tier }, v[JR_MOVE_DEST_LEN];
		jr_move_put(v, cold, g->id, g->version, (uint64_t)g->used * g->nreplicas);
		v[JR_MOVE_DEST] = (uint8_t)down;
		rc = mr_emit(em, k, JR_TKEY_LEN, v, JR_MOVE_DEST_LEN);
	}
	for (int r = 0; r < g->nreplicas && !rc && c->disk_over; r++) {
		int di = disk_index(c, g->replicas[r].disk);
		uint8_t k[JR_WKEY_LEN] = { JR_KEY_DISK }, v[JR_MOVE_LEN];
		if (di < 0 || !c->disk_over[di] || !c->node_under || !balance_target(c, g, r))
			continue;
		memcpy(k + JR_WKEY_DISK, &g->replicas[r].disk, 4);
		jr_move_put(v, cold, g->id, g->version, g->used);
		rc = mr_emit(em, k, JR_WKEY_LEN, v, JR_MOVE_LEN);
	}
	return rc;
}
