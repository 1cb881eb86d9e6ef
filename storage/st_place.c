/*
 * st_place: where the replicas of a new egroup go. On the first tier (in
 * the container's order, or a preferred one first) that can hold a full
 * egroup, take the least-used disk of each node that is up and not
 * excluded, then the least-used of those nodes, one replica per node; ties
 * rotate by the egroup id so equal disks share the load. Failed, removed
 * and draining disks never receive a replica; the cloud tier is not
 * placed here (an egroup moves there whole, by the curator).
 *
 * DESIGN: a pure decision over st_topo.c's tables, the first step of every
 * bottom-up write: the writer, the curator's rewrites and copies and the
 * strip lifecycle place their new files here before they write data, sync
 * it and only then commit rows. It writes nothing. Distinct nodes per
 * egroup is what makes RF copies independent witnesses; excluding the
 * nodes of existing copies keeps that true for re-replication, balancing,
 * EC parity and rebuilds.
 */
#include "storage/st_store_int.h"

#include <stdio.h>
#include <string.h>

#include "storage/st_egroup.h"

/*
 * Choose `want` disks on distinct nodes for a new egroup (st_store_int.h);
 * pending[i] is bytes the caller already put on st->topo.disks[i] but not
 * yet accounted.
 */
int st_place(struct st_store *st, const struct st_container *c, uint64_t egroup, const int64_t *pending, int want,
	     const uint32_t *excl, int nexcl, int prefer, uint32_t *out, enum st_tier *tier_out, struct st_msg *err)
{
	char full[64] = "";
	int best_nodes = 0;
	enum st_tier order[ST_NTIERS + 1];
	int norder = 0;

	if (prefer >= 0)
		order[norder++] = (enum st_tier)prefer;
	for (int t = 0; t < c->ntiers; t++)
		if ((int)c->tiers[t] != prefer)
			order[norder++] = c->tiers[t];
	for (int t = 0; t < norder; t++) {
		enum st_tier tier = order[t];
		int pick[64], nodes_with_tier = 0, npick = 0;
		double frac[64];

		if (tier == ST_TIER_CLOUD)
			continue;
		for (int n = 0; n < st->topo.nnodes && n < 64; n++) {
			int best = -1, has_tier = 0, skip = 0;
			double bf = 2.0;
			for (int k = 0; k < nexcl; k++)
				skip |= excl[k] == st->topo.nodes[n].id;
			if (!st->topo.nodes[n].up || skip)
				continue;
			for (int i = 0; i < st->topo.ndisks; i++) {
				const struct st_disk *d = &st->topo.disks[i];
				uint64_t used = d->used + (uint64_t)pending[i];
				if (d->node != st->topo.nodes[n].id || d->tier != tier || !d->ok || d->removed || d->draining)
					continue;
				has_tier = 1;
				if (used + ST_EGROUP_TARGET + ST_EXTENT_HDR * 64 > d->capacity)
					continue;
				if ((double)used / (double)d->capacity < bf) {
					bf = (double)used / (double)d->capacity;
					best = i;
				}
			}
			nodes_with_tier += has_tier;
			if (best >= 0) {
				pick[npick] = best;
				frac[npick++] = bf;
			}
		}
		if (nodes_with_tier > best_nodes)
			best_nodes = nodes_with_tier;
		if (npick < want) {
			if (nodes_with_tier >= want) {
				size_t l = strlen(full);
				snprintf(full + l, sizeof(full) - l, "%s%s", l ? ", " : "", st_tier_name(tier));
			}
			continue;
		}
		/* the least-used nodes; rotate ties by the egroup id to spread load */
		for (int k = 0; k < want; k++) {
			int sel = k;
			for (int j = k + 1; j < npick; j++) {
				double a = frac[j], b = frac[sel];
				if (a < b - 1e-9 ||
				    (a <= b + 1e-9 && st_mix64(egroup ^ (uint64_t)pick[j]) < st_mix64(egroup ^ (uint64_t)pick[sel])))
					sel = j;
			}
			int ti = pick[k];
			double tf = frac[k];
			pick[k] = pick[sel];
			frac[k] = frac[sel];
			pick[sel] = ti;
			frac[sel] = tf;
			out[k] = st->topo.disks[pick[k]].id;
		}
		*tier_out = tier;
		return 0;
	}
	if (best_nodes < want && nexcl == 0)
		return st_fail(err, ST_EPOLICY,
			       "container '%s': RF %d needs %d nodes up with disks on its tiers, %d available", c->name,
			       c->rf, want, best_nodes);
	if (best_nodes < want)
		return st_fail(err, ST_EPOLICY,
			       "container '%s': %d new replica(s) need as many more nodes up with disks on its tiers, %d available",
			       c->name, want, best_nodes);
	return st_fail(err, ST_ENOSPACE, "container '%s': no tier has room (full: %s)", c->name,
		       full[0] ? full : "all");
}
