/*
 * st_topo: where the copies of the data live, as this handle sees them:
 * the disk and node tables of config.db, this process's node and its
 * batch of cluster-unique IDs, and the cloud tier's handle.
 *
 * DESIGN: the lowest file of the st_store family (st_store_int.h lists
 * them); it calls only st_config and st_cloud. It takes no step of the
 * write/read ordering itself, but every step names its copies through it:
 * reads skip copies on disks that are failed, removed or on a node that is
 * down (st_topo_usable), and the writer, the copy primitives and the strip
 * lifecycle reread the tables (st_topo_refresh) before they place
 * anything, so they see the disks other processes failed or drained. IDs
 * come from batches reserved in config.db: no two processes hand out the
 * same ID, so a new egroup, extent or strip is never mistaken for an old
 * one (the versions and compare-and-set of the safety rule rely on it).
 */
#include "storage/st_store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "storage/st_cloud.h"

int st_topo_refresh(struct st_store *st, struct st_msg *err)
{
	struct st_disk *d;
	struct st_node *n;
	int nd, nn, rc = st_config_disks(st->cfg, &d, &nd, err);

	if (rc)
		return rc;
	rc = st_config_nodes(st->cfg, &n, &nn, err);
	if (rc) {
		free(d);
		return rc;
	}
	free(st->topo.disks);
	free(st->topo.nodes);
	st->topo.disks = d;
	st->topo.ndisks = nd;
	st->topo.nodes = n;
	st->topo.nnodes = nn;
	return 0;
}

int st_topo_ids_reserve(struct st_store *st, struct st_msg *err)
{
	uint64_t first;
	int rc = st_config_ids_reserve(st->cfg, st->topo.node, ST_ID_BATCH, &first, err);

	if (rc)
		return rc;
	st->topo.id_next = first;
	st->topo.id_end = first + ST_ID_BATCH;
	return 0;
}

int st_store_new_id(struct st_store *st, uint64_t *id, struct st_msg *err)
{
	return st_topo_new_id(st, id, err);
}

void st_topo_release(struct st_topology *t)
{
	st_cloud_free(t->cloud);
	free(t->disks);
	free(t->nodes);
}

int st_store_refresh(struct st_store *st, struct st_msg *err)
{
	return st_topo_refresh(st, err);
}

/*
 * A listing of the cloud tier returns at most one key per ID the cluster
 * ever handed out (objects are named by egroup ID, IDs never reused), plus
 * a page of keys that are not ours: past that, the server misbehaves.
 */
static int cloud_list_bound(void *arg, uint64_t *max, struct st_msg *err)
{
	struct st_store *st = arg;
	uint64_t n = 0;
	int rc = st_config_ids_issued(st->cfg, &n, err);

	*max = n + 1000;
	return rc;
}

int st_store_cloud(struct st_store *st, struct st_cloud **out, struct st_msg *err)
{
	char url[ST_PATH_MAX], cred[ST_PATH_MAX] = "";
	int rc;

	if (!st->topo.cloud) {
		rc = st_config_setting_get(st->cfg, "cloud_url", url, sizeof(url), NULL);
		if (rc)
			return st_fail(err, ST_ENOTFOUND, "no cloud tier configured (curator cloud set URL)");
		st_config_setting_get(st->cfg, "cloud_credentials", cred, sizeof(cred), NULL);
		rc = st_cloud_open(url, cred, &st->topo.cloud, err);
		if (rc)
			return rc;
		{ /* clusters may share a bucket: each keeps its objects under its own uuid */
			char uuid[64], prefix[96];
			rc = st_config_uuid(st->cfg, uuid, sizeof(uuid), err);
			if (rc) {
				st_cloud_free(st->topo.cloud);
				st->topo.cloud = NULL;
				return rc;
			}
			snprintf(prefix, sizeof(prefix), "clusters/%s/", uuid);
			st_cloud_set_prefix(st->topo.cloud, prefix);
			st_cloud_set_list_bound(st->topo.cloud, cloud_list_bound, st);
		}
	}
	*out = st->topo.cloud;
	return 0;
}
