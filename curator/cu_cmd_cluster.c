/*
 * cu_cmd_cluster: the commands that shape the cluster: init, container,
 * disk, node, cloud (rows of cu_cmds in cu_cli.c; see cu_cmd.h).
 *
 * DESIGN. Each handler checks its arguments, opens the store, makes one
 * config change through st_config (or st_store_init), and prints one line
 * or a table. A disk or node failure is also recorded as an event in
 * curator.db, which a running daemon answers with a partial scan; the
 * config change commits first, so a daemon never acts on an event whose
 * change is not there yet.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curator/cu_cmd.h"
#include "curator/cu_json.h"
#include "jobs/job_db.h"
#include "storage/st_cloud.h"

/* --- init --------------------------------------------------------------- */

int cu_cmd_init(struct cu_ctx *ctx, int argc, char **argv)
{
	struct cu_opt o[] = { { "--nodes", 1, 0, 0 }, { "--disks", 1, 0, 0 }, { "--shards", 1, 0, 0 },
			      { "--shared-fs", 0, 0, 0 } };
	struct st_config *cfg = NULL;
	int shared = 0;
	struct st_init_spec spec = { 0 };
	char *pos[1];
	int npos, rc = cu_opts_parse(ctx, argc, argv, o, CU_NOPTS(o), pos, &npos, 0);
	uint32_t v;

	if (rc)
		return rc;
	if (!CU_OPT(o, "--nodes")->set || !CU_OPT(o, "--disks")->set)
		return cu_error(ctx, "--nodes and --disks are required");
	if (cu_arg_u32(ctx, "--nodes", CU_OPT(o, "--nodes")->val, &v))
		return CU_EXIT_USAGE;
	spec.nodes = (int)(v > 1000 ? 1000 : v);
	spec.shards = 4;
	if (CU_OPT(o, "--shards")->set) {
		if (cu_arg_u32(ctx, "--shards", CU_OPT(o, "--shards")->val, &v))
			return CU_EXIT_USAGE;
		spec.shards = (int)(v > 4096 ? 4096 : v);
	}
	spec.shared_fs = CU_OPT(o, "--shared-fs")->set;
	rc = st_disk_spec_parse(CU_OPT(o, "--disks")->val, &spec, &ctx->err);
	if (!rc)
		rc = st_store_init(ctx->dir, &spec, &ctx->err);
	if (rc)
		return rc;
	if (st_config_open(ctx->dir, &cfg, NULL) == 0)
		shared = st_config_shared(cfg);
	st_config_free(cfg);
	printf("initialised cluster in %s: %d nodes x %d disks, %d metadata shards%s\n", ctx->dir, spec.nodes,
	       spec.ndisks, spec.shards, shared ? ", shared-fs mode (rollback journal, POSIX locks)" : "");
	return 0;
}

/* --- containers --------------------------------------------------------- */

static int parse_mode(const char *s, enum st_mode *m)
{
	if (!strcmp(s, "off"))
		*m = ST_MODE_OFF;
	else if (!strcmp(s, "inline"))
		*m = ST_MODE_INLINE;
	else if (!strcmp(s, "post"))
		*m = ST_MODE_POST;
	else
		return -1;
	return 0;
}

/* --compress off|inline|post[:DELAY] */
static int compress_opt(struct cu_ctx *ctx, const struct cu_opt *x, struct st_container *c)
{
	char buf[64], *colon;

	snprintf(buf, sizeof(buf), "%s", x->val);
	colon = strchr(buf, ':');
	if (colon)
		*colon++ = 0;
	if (parse_mode(buf, &c->compress) || (colon && c->compress != ST_MODE_POST))
		return cu_error(ctx, "--compress '%s': expected off, inline or post[:DELAY]", x->val);
	if (colon && st_parse_duration(colon, &c->compress_delay))
		return cu_error(ctx, "--compress '%s': bad delay", x->val);
	return 0;
}

/* --tiers ssd,hdd,cloud */
static int tiers_opt(struct cu_ctx *ctx, const struct cu_opt *x, struct st_container *c)
{
	char buf[64], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", x->val);
	c->ntiers = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int t = st_tier_parse(tok);
		if (t < 0 || c->ntiers >= ST_NTIERS)
			return cu_error(ctx, "--tiers '%s': give up to 3 of ssd,hdd,cloud", x->val);
		c->tiers[c->ntiers++] = (enum st_tier)t;
	}
	return 0;
}

/* The policy options of `container create` into c (defaults already there). */
static int container_opts(struct cu_ctx *ctx, struct cu_opt *o, int n, struct st_container *c)
{
	struct cu_opt *x;

	if ((x = cu_opt_get(o, n, "--rf"))->set) {
		uint32_t v;
		if (cu_arg_u32(ctx, "--rf", x->val, &v))
			return CU_EXIT_USAGE;
		c->rf = (int)(v > 100 ? 100 : v);
	}
	if ((x = cu_opt_get(o, n, "--rs"))->set) {
		int k, m;
		char tail;
		if (sscanf(x->val, "%d,%d%c", &k, &m, &tail) != 2)
			return cu_error(ctx, "--rs '%s': expected K,M (e.g. 4,2)", x->val);
		c->rs_k = k;
		c->rs_m = m;
	}
	if ((x = cu_opt_get(o, n, "--ec-delay"))->set && st_parse_duration(x->val, &c->ec_delay))
		return cu_error(ctx, "--ec-delay '%s': not a duration (e.g. 7d)", x->val);
	if ((x = cu_opt_get(o, n, "--cold-age"))->set && st_parse_duration(x->val, &c->cold_age))
		return cu_error(ctx, "--cold-age '%s': not a duration (e.g. 30d)", x->val);
	if ((x = cu_opt_get(o, n, "--compress"))->set && compress_opt(ctx, x, c))
		return CU_EXIT_USAGE;
	if ((x = cu_opt_get(o, n, "--codec"))->set) {
		if (!strcmp(x->val, "igzip"))
			c->codec = ST_CODEC_IGZIP;
		else if (!strcmp(x->val, "zlib"))
			c->codec = ST_CODEC_ZLIB;
		else
			return cu_error(ctx, "--codec '%s': expected igzip or zlib", x->val);
	}
	if ((x = cu_opt_get(o, n, "--dedup"))->set && parse_mode(x->val, &c->dedup))
		return cu_error(ctx, "--dedup '%s': expected off, inline or post", x->val);
	if ((x = cu_opt_get(o, n, "--chunking"))->set) {
		if (!strcmp(x->val, "fixed"))
			c->chunking = ST_CHUNK_FIXED;
		else if (!strcmp(x->val, "cdc"))
			c->chunking = ST_CHUNK_CDC;
		else
			return cu_error(ctx, "--chunking '%s': expected fixed or cdc", x->val);
	}
	if ((x = cu_opt_get(o, n, "--ilm"))->set) {
		int hi, lo;
		char tail;
		if (sscanf(x->val, "%d%%,%d%%%c", &hi, &lo, &tail) != 2 && sscanf(x->val, "%d,%d%c", &hi, &lo, &tail) != 2)
			return cu_error(ctx, "--ilm '%s': expected HIGH%%,LOW%% (e.g. 75%%,60%%)", x->val);
		c->ilm_high = hi;
		c->ilm_low = lo;
	}
	if ((x = cu_opt_get(o, n, "--tiers"))->set && tiers_opt(ctx, x, c))
		return CU_EXIT_USAGE;
	return 0;
}

int cu_cmd_container_create(struct cu_ctx *ctx, int argc, char **argv)
{
	struct cu_opt o[] = { { "--rf", 1, 0, 0 },       { "--rs", 1, 0, 0 },    { "--ec-delay", 1, 0, 0 },
			      { "--compress", 1, 0, 0 }, { "--codec", 1, 0, 0 }, { "--dedup", 1, 0, 0 },
			      { "--chunking", 1, 0, 0 }, { "--ilm", 1, 0, 0 },   { "--cold-age", 1, 0, 0 },
			      { "--tiers", 1, 0, 0 } };
	struct st_container c;
	char *pos[1];
	int npos, rc = cu_opts_parse(ctx, argc, argv, o, CU_NOPTS(o), pos, &npos, 1);

	if (rc)
		return rc;
	if (npos != 1)
		return cu_error(ctx, "expected a NAME");
	if (!CU_OPT(o, "--rf")->set)
		return cu_error(ctx, "--rf is required");
	st_container_defaults(&c);
	if (strlen(pos[0]) >= sizeof(c.name))
		return cu_error(ctx, "name too long");
	snprintf(c.name, sizeof(c.name), "%s", pos[0]);
	rc = container_opts(ctx, o, CU_NOPTS(o), &c);
	if (!rc)
		rc = cu_open(ctx);
	if (rc)
		return rc;
	rc = st_config_container_create(cu_config(ctx), &c, &ctx->err);
	if (rc)
		return rc;
	printf("created container %s (id %u)\n", c.name, c.id);
	return 0;
}

/* A container's policies as JSON (docs/JSON.md). */
static json_t *container_json(const struct st_container *c)
{
	json_t *tiers = json_array();

	for (int t = 0; t < c->ntiers; t++)
		json_array_append_new(tiers, json_string(st_tier_name(c->tiers[t])));
	return json_pack("{s:I,s:s,s:i,s:o,s:I,s:s,s:I,s:s,s:s,s:s,s:i,s:i,s:o,s:o}", "id", (json_int_t)c->id, "name",
			 c->name, "rf", c->rf, "erasure_coding",
			 c->rs_k ? json_pack("{s:i,s:i}", "k", c->rs_k, "m", c->rs_m) : json_null(), "ec_delay_seconds",
			 (json_int_t)c->ec_delay, "compress", st_mode_name(c->compress), "compress_delay_seconds",
			 (json_int_t)c->compress_delay, "codec", c->codec == ST_CODEC_ZLIB ? "zlib" : "igzip", "dedup",
			 st_mode_name(c->dedup), "chunking", c->chunking == ST_CHUNK_CDC ? "cdc" : "fixed", "ilm_high_pct",
			 c->ilm_high, "ilm_low_pct", c->ilm_low, "cold_age_seconds",
			 c->cold_age ? json_integer((json_int_t)c->cold_age) : json_null(), "tiers", tiers);
}

/* Print doc; a failure to build or write it is the command's error. */
static int print_json(struct cu_ctx *ctx, json_t *doc)
{
	int rc = cu_json_print(doc, stdout);

	return rc ? st_fail(&ctx->err, rc, "cannot write the JSON document: %s", st_strerror(rc)) : 0;
}

int cu_cmd_container_list(struct cu_ctx *ctx, int argc, char **argv)
{
	struct st_container *cs;
	int n, rc, json;

	(void)argv;
	if (argc != 0)
		return cu_error(ctx, "takes no arguments");
	if (cu_json_wanted(ctx, &json))
		return CU_EXIT_USAGE;
	rc = cu_open(ctx);
	if (rc)
		return rc;
	rc = st_config_containers(cu_config(ctx), &cs, &n, &ctx->err);
	if (rc)
		return rc;
	if (json) {
		json_t *doc = cu_json_doc(), *a = json_array();
		for (int i = 0; i < n; i++)
			json_array_append_new(a, container_json(&cs[i]));
		json_object_set_new(doc, "containers", a);
		free(cs);
		return print_json(ctx, doc);
	}
	printf("%-4s %-20s %-3s %-6s %-9s %-7s %s\n", "ID", "NAME", "RF", "EC", "COMPRESS", "DEDUP", "TIERS");
	for (int i = 0; i < n; i++) {
		char ec[16], tiers[32] = "";
		if (cs[i].rs_k)
			snprintf(ec, sizeof(ec), "%d,%d", cs[i].rs_k, cs[i].rs_m);
		else
			snprintf(ec, sizeof(ec), "off");
		for (int t = 0; t < cs[i].ntiers; t++) {
			size_t l = strlen(tiers);
			snprintf(tiers + l, sizeof(tiers) - l, "%s%s", t ? "," : "", st_tier_name(cs[i].tiers[t]));
		}
		printf("%-4u %-20s %-3d %-6s %-9s %-7s %s\n", cs[i].id, cs[i].name, cs[i].rf, ec, st_mode_name(cs[i].compress),
		       st_mode_name(cs[i].dedup), tiers);
	}
	free(cs);
	return 0;
}

static void print_container(const struct st_container *c)
{
	char d1[32], d2[32], d3[32];

	printf("container %s (id %u)\n", c->name, c->id);
	printf("  replication factor  %d\n", c->rf);
	if (c->rs_k)
		printf("  erasure coding      RS(%d,%d) after %s cold\n", c->rs_k, c->rs_m,
		       st_fmt_duration(c->ec_delay, d1, sizeof(d1)));
	else
		printf("  erasure coding      off\n");
	printf("  compression         %s%s%s (%s)\n", st_mode_name(c->compress), c->compress == ST_MODE_POST ? " after " : "",
	       c->compress == ST_MODE_POST ? st_fmt_duration(c->compress_delay, d2, sizeof(d2)) : "",
	       c->codec == ST_CODEC_ZLIB ? "zlib" : "igzip");
	printf("  dedup               %s (%s chunks)\n", st_mode_name(c->dedup),
	       c->chunking == ST_CHUNK_CDC ? "content-defined" : "fixed 16K");
	printf("  ilm watermarks      high %d%%, low %d%%\n", c->ilm_high, c->ilm_low);
	printf("  cold age            %s\n", c->cold_age ? st_fmt_duration(c->cold_age, d3, sizeof(d3)) : "never");
	printf("  tiers               ");
	for (int i = 0; i < c->ntiers; i++)
		printf("%s%s", i ? " > " : "", st_tier_name(c->tiers[i]));
	printf("\n");
}

int cu_cmd_container_info(struct cu_ctx *ctx, int argc, char **argv)
{
	struct st_container c;
	int rc, json;

	if (argc != 1)
		return cu_error(ctx, "expected a NAME");
	if (cu_json_wanted(ctx, &json))
		return CU_EXIT_USAGE;
	rc = cu_open(ctx);
	if (rc)
		return rc;
	rc = st_config_container_get(cu_config(ctx), argv[0], &c, &ctx->err);
	if (rc)
		return rc;
	if (json) {
		json_t *doc = cu_json_doc();
		json_object_set_new(doc, "container", container_json(&c));
		return print_json(ctx, doc);
	}
	print_container(&c);
	return 0;
}

/* --- disks and nodes ---------------------------------------------------- */

/* A failure or recovery for the daemon, which answers with a partial scan. */
static int record_event(struct cu_ctx *ctx, const char *kind, uint32_t id)
{
	struct job_db *db;
	char detail[32];
	int rc = job_db_open(st_config_dir(cu_config(ctx)), &db, &ctx->err);

	if (rc)
		return rc;
	snprintf(detail, sizeof(detail), "%u", id);
	rc = job_db_event_add(db, kind, detail, &ctx->err);
	job_db_close(db);
	return rc;
}

int cu_cmd_disk_add(struct cu_ctx *ctx, int argc, char **argv)
{
	struct cu_opt o[] = { { "--node", 1, 0, 0 }, { "--tier", 1, 0, 0 }, { "--size", 1, 0, 0 } };
	uint64_t size = 0;
	uint32_t node, id;
	char *pos[1];
	int npos, tier, rc = cu_opts_parse(ctx, argc, argv, o, CU_NOPTS(o), pos, &npos, 0);

	if (rc)
		return rc;
	if (!CU_OPT(o, "--node")->set || !CU_OPT(o, "--tier")->set || !CU_OPT(o, "--size")->set)
		return cu_error(ctx, "expected --node N --tier T --size SIZE");
	if (cu_arg_u32(ctx, "--node", CU_OPT(o, "--node")->val, &node) || cu_opt_size(ctx, CU_OPT(o, "--size"), &size))
		return CU_EXIT_USAGE;
	tier = st_tier_parse(CU_OPT(o, "--tier")->val);
	if (tier < 0 || tier == ST_TIER_CLOUD)
		return cu_error(ctx, "--tier '%s': expected ssd or hdd", CU_OPT(o, "--tier")->val);
	rc = cu_open(ctx);
	if (rc)
		return rc;
	rc = st_config_disk_add(cu_config(ctx), node, (enum st_tier)tier, size, &id, &ctx->err);
	if (rc)
		return rc;
	printf("added disk %u on node %u (%s)\n", id, node, st_tier_name((enum st_tier)tier));
	return 0;
}

/* disk fail ID, disk remove ID: the state change, then the event. */
static int disk_change(struct cu_ctx *ctx, int argc, char **argv, int drain)
{
	uint32_t id;
	int rc;

	if (argc != 1)
		return cu_error(ctx, "expected a disk ID");
	if (cu_arg_u32(ctx, "ID", argv[0], &id))
		return CU_EXIT_USAGE;
	rc = cu_open(ctx);
	if (rc)
		return rc;
	if (drain)
		rc = st_config_disk_set_draining(cu_config(ctx), id, 1, &ctx->err);
	else
		rc = st_config_disk_set(cu_config(ctx), id, 0, 0, &ctx->err);
	if (!rc)
		rc = record_event(ctx, drain ? "disk_draining" : "disk_failed", id);
	if (rc)
		return rc;
	if (drain)
		printf("disk %u is draining: scans copy its replicas elsewhere, then mark it removed\n", id);
	else
		printf("disk %u marked failed\n", id);
	return 0;
}

int cu_cmd_disk_fail(struct cu_ctx *ctx, int argc, char **argv)
{
	return disk_change(ctx, argc, argv, 0);
}

int cu_cmd_disk_remove(struct cu_ctx *ctx, int argc, char **argv)
{
	return disk_change(ctx, argc, argv, 1);
}

static const char *disk_state(const struct st_disk *d)
{
	return d->removed ? "removed" : !d->ok ? "failed" : d->draining ? "draining" : "ok";
}

int cu_cmd_disk_list(struct cu_ctx *ctx, int argc, char **argv)
{
	struct st_disk *d;
	int n, rc, json;

	(void)argv;
	if (argc)
		return cu_error(ctx, "takes no arguments");
	if (cu_json_wanted(ctx, &json))
		return CU_EXIT_USAGE;
	rc = cu_open(ctx);
	if (rc)
		return rc;
	rc = st_config_disks(cu_config(ctx), &d, &n, &ctx->err);
	if (rc)
		return rc;
	if (json) {
		json_t *doc = cu_json_doc(), *a = json_array();
		for (int i = 0; i < n; i++)
			json_array_append_new(a, json_pack("{s:I,s:I,s:s,s:I,s:I,s:s,s:s,s:o}", "id", (json_int_t)d[i].id, "node",
							   (json_int_t)d[i].node, "tier", st_tier_name(d[i].tier),
							   "capacity_bytes", (json_int_t)d[i].capacity, "used_bytes",
							   (json_int_t)d[i].used, "state", disk_state(&d[i]), "path", d[i].path,
							   "changed", cu_json_time((double)d[i].changed)));
		json_object_set_new(doc, "disks", a);
		free(d);
		return print_json(ctx, doc);
	}
	printf("%-4s %-4s %-5s %-10s %-10s %-5s %-8s %s\n", "ID", "NODE", "TIER", "CAPACITY", "USED", "USE%", "STATE", "PATH");
	for (int i = 0; i < n; i++) {
		char c1[32], c2[32];
		printf("%-4u %-4u %-5s %-10s %-10s %4.1f%% %-8s %s\n", d[i].id, d[i].node, st_tier_name(d[i].tier),
		       st_fmt_size(d[i].capacity, c1, sizeof(c1)), st_fmt_size(d[i].used, c2, sizeof(c2)),
		       100.0 * (double)d[i].used / (double)d[i].capacity,
		       disk_state(&d[i]), d[i].path);
	}
	free(d);
	return 0;
}

/* node down ID, node up ID: the state change, then the event. */
static int node_change(struct cu_ctx *ctx, int argc, char **argv, int up)
{
	const char *cmd = ctx->cmd;
	uint32_t id;
	int rc;

	if (argc != 1)
		return cu_error(ctx, "expected a node ID");
	if (cu_arg_u32(ctx, "ID", argv[0], &id))
		return CU_EXIT_USAGE;
	ctx->cmd = "node"; /* a missing cluster is "node: ..." */
	rc = cu_open(ctx);
	if (rc)
		return rc;
	ctx->cmd = cmd;
	rc = st_config_node_set(cu_config(ctx), id, up, &ctx->err);
	if (!rc)
		rc = record_event(ctx, up ? "node_up" : "node_down", id);
	if (rc)
		return rc;
	printf("node %u is %s\n", id, up ? "up" : "down");
	return 0;
}

int cu_cmd_node_down(struct cu_ctx *ctx, int argc, char **argv)
{
	return node_change(ctx, argc, argv, 0);
}

int cu_cmd_node_up(struct cu_ctx *ctx, int argc, char **argv)
{
	return node_change(ctx, argc, argv, 1);
}

int cu_cmd_node_list(struct cu_ctx *ctx, int argc, char **argv)
{
	struct st_node *nd;
	int n, rc, json;

	(void)argv;
	if (argc)
		return cu_error(ctx, "takes no arguments");
	if (cu_json_wanted(ctx, &json))
		return CU_EXIT_USAGE;
	rc = cu_open(ctx);
	if (rc)
		return rc;
	rc = st_config_nodes(cu_config(ctx), &nd, &n, &ctx->err);
	if (rc)
		return rc;
	if (json) {
		json_t *doc = cu_json_doc(), *a = json_array();
		for (int i = 0; i < n; i++)
			json_array_append_new(a, json_pack("{s:I,s:s,s:o}", "id", (json_int_t)nd[i].id, "state",
							   nd[i].up ? "up" : "down", "changed",
							   cu_json_time((double)nd[i].changed)));
		json_object_set_new(doc, "nodes", a);
		free(nd);
		return print_json(ctx, doc);
	}
	printf("%-4s %s\n", "ID", "STATE");
	for (int i = 0; i < n; i++)
		printf("%-4u %s\n", nd[i].id, nd[i].up ? "up" : "down");
	free(nd);
	return 0;
}

/* --- the cloud tier ----------------------------------------------------- */

/*
 * cloud set URL [--credentials FILE]: check the tier answers (bucket there,
 * credentials accepted; or the directory writable) before recording it.
 */
int cu_cmd_cloud_set(struct cu_ctx *ctx, int argc, char **argv)
{
	struct cu_opt o[] = { { "--credentials", 1, NULL, 0 } };
	char cred[ST_PATH_MAX] = "", url[ST_PATH_MAX];
	struct st_cloud *c = NULL;
	const char *u;
	char *pos[2];
	int npos, rc = cu_opts_parse(ctx, argc, argv, o, CU_NOPTS(o), pos, &npos, 1);

	if (rc)
		return rc;
	if (npos != 1)
		return cu_error(ctx, "expected a URL (s3://BUCKET@HOST:PORT or a directory)");
	u = pos[0];
	if (CU_OPT(o, "--credentials")->set && !realpath(CU_OPT(o, "--credentials")->val, cred))
		return cu_error(ctx, "--credentials %s: %s", CU_OPT(o, "--credentials")->val, strerror(errno));
	if (strncmp(u, "s3://", 5) && strncmp(u, "file://", 7) && strstr(u, "://"))
		return cu_error(ctx, "%s: unknown URL scheme (expected s3://BUCKET@HOST:PORT, file://DIR or a directory)", u);
	if (strncmp(u, "s3://", 5)) { /* a local directory: absolute, created if missing */
		const char *d = !strncmp(u, "file://", 7) ? u + 7 : u;
		rc = st_mkdir_p(d);
		if (rc || !realpath(d, url))
			return cu_error(ctx, "%s: %s", d, st_strerror(rc ? rc : -errno));
		u = url;
	}
	rc = st_cloud_open(u, cred, &c, &ctx->err);
	if (!rc)
		rc = st_cloud_check(c, &ctx->err);
	st_cloud_free(c);
	if (!rc)
		rc = cu_open(ctx);
	if (rc)
		return rc;
	rc = st_config_setting_set(cu_config(ctx), "cloud_url", u, &ctx->err);
	if (!rc)
		rc = st_config_setting_set(cu_config(ctx), "cloud_credentials", cred[0] ? cred : NULL, &ctx->err);
	if (rc)
		return rc;
	printf("cloud tier: %s\n", u);
	return 0;
}

/* cloud show: the URL (never a secret). */
int cu_cmd_cloud_show(struct cu_ctx *ctx, int argc, char **argv)
{
	char url[ST_PATH_MAX];
	int rc, json;

	(void)argv;
	if (argc != 0)
		return cu_error(ctx, "takes no arguments");
	if (cu_json_wanted(ctx, &json))
		return CU_EXIT_USAGE;
	rc = cu_open(ctx);
	if (rc)
		return rc;
	rc = st_config_setting_get(cu_config(ctx), "cloud_url", url, sizeof(url), NULL);
	if (json) {
		json_t *doc = cu_json_doc();
		json_object_set_new(doc, "cloud", rc ? json_null() : json_pack("{s:s}", "url", url));
		return print_json(ctx, doc);
	}
	printf("%s\n", rc ? "no cloud tier configured" : url);
	return 0;
}

/* --- tiers: fill thresholds ------------------------------------------- */

/* A percent option ("80" or "80%") into *out if set: 0, or CU_EXIT_USAGE (printed). */
static int opt_pct(struct cu_ctx *ctx, const struct cu_opt *o, int *out)
{
	char *end;
	long v;

	if (!o->set)
		return 0;
	v = strtol(o->val, &end, 10);
	if (end == o->val || (*end && strcmp(end, "%")) || v < 1 || v > 100)
		return cu_error(ctx, "%s '%s': a percent, 1..100", o->name, o->val);
	*out = (int)v;
	return 0;
}

/* The tier named s, one with a capacity (ssd, hdd): 0, or CU_EXIT_USAGE (printed). */
static int arg_tier(struct cu_ctx *ctx, const char *s, enum st_tier *t)
{
	int v = st_tier_parse(s);

	if (v < 0 || v == ST_TIER_CLOUD)
		return cu_error(ctx, "tier '%s': expected ssd or hdd (the cloud tier has no capacity to fill)", s);
	*t = (enum st_tier)v;
	return 0;
}

/* tier set TIER [--warn P] [--err P]: the thresholds of TIER_NEARFULL and TIER_FULL (the one not given is kept). */
int cu_cmd_tier_set(struct cu_ctx *ctx, int argc, char **argv)
{
	struct cu_opt o[] = { { "--warn", 1, 0, 0 }, { "--err", 1, 0, 0 } };
	char *pos[1];
	enum st_tier t = ST_TIER_SSD;
	int npos, warn = 0, full = 0, rc = cu_opts_parse(ctx, argc, argv, o, CU_NOPTS(o), pos, &npos, 1);

	if (rc)
		return rc;
	if (npos != 1 || (!CU_OPT(o, "--warn")->set && !CU_OPT(o, "--err")->set))
		return cu_error(ctx, "expected TIER [--warn P] [--err P] (at least one)");
	if (arg_tier(ctx, pos[0], &t) || opt_pct(ctx, CU_OPT(o, "--warn"), &warn) || opt_pct(ctx, CU_OPT(o, "--err"), &full))
		return CU_EXIT_USAGE;
	rc = cu_open(ctx);
	if (rc)
		return rc;
	if (!warn || !full) {
		/* the one not given is kept (with both given, a stored value that does not parse is replaced) */
		int w0, e0;
		rc = st_config_tier_fill(cu_config(ctx), t, &w0, &e0, &ctx->err);
		if (rc)
			return rc;
		warn = warn ? warn : w0;
		full = full ? full : e0;
	}
	if (warn >= full)
		return cu_error(ctx, "tier %s: warn %d%% must be below err %d%%", st_tier_name(t), warn, full);
	rc = st_config_tier_fill_set(cu_config(ctx), t, warn, full, &ctx->err);
	if (rc)
		return rc;
	printf("tier %s: warn at %d%% full (TIER_NEARFULL), err at %d%% (TIER_FULL)\n", st_tier_name(t), warn, full);
	return 0;
}

/* tier list: each tier with a capacity, its disks (not failed or removed), use and thresholds. */
int cu_cmd_tier_list(struct cu_ctx *ctx, int argc, char **argv)
{
	struct st_disk *d;
	json_t *a = NULL;
	int n, rc, json;

	(void)argv;
	if (argc)
		return cu_error(ctx, "takes no arguments");
	if (cu_json_wanted(ctx, &json))
		return CU_EXIT_USAGE;
	rc = cu_open(ctx);
	if (!rc)
		rc = st_config_disks(cu_config(ctx), &d, &n, &ctx->err);
	if (rc)
		return rc;
	if (json)
		a = json_array();
	else
		printf("%-5s %-5s %-10s %-10s %-6s %-5s %s\n", "TIER", "DISKS", "CAPACITY", "USED", "FILL", "WARN", "ERR");
	for (int t = 0; !rc && t < ST_NTIERS; t++) {
		uint64_t cap = 0, used = 0;
		int nd = 0, warn, full;
		char c1[32], c2[32];
		double pct;
		if (t == ST_TIER_CLOUD)
			continue;
		for (int i = 0; i < n; i++)
			if (d[i].tier == (enum st_tier)t && d[i].ok && !d[i].removed) {
				nd++;
				cap += d[i].capacity;
				used += d[i].used;
			}
		rc = st_config_tier_fill(cu_config(ctx), (enum st_tier)t, &warn, &full, &ctx->err);
		pct = cap ? 100.0 * (double)used / (double)cap : 0;
		if (!rc && json)
			json_array_append_new(a, json_pack("{s:s,s:i,s:I,s:I,s:f,s:i,s:i}", "tier", st_tier_name((enum st_tier)t),
							   "disks", nd, "capacity_bytes", (json_int_t)cap, "used_bytes",
							   (json_int_t)used, "fill_pct", (double)(int64_t)(pct * 10 + 0.5) / 10,
							   "warn_pct", warn, "err_pct", full));
		else if (!rc)
			printf("%-5s %-5d %-10s %-10s %5.1f%% %3d%%  %3d%%\n", st_tier_name((enum st_tier)t), nd,
			       st_fmt_size(cap, c1, sizeof(c1)), st_fmt_size(used, c2, sizeof(c2)), pct, warn, full);
	}
	free(d);
	if (rc || !json) {
		json_decref(a);
		return rc;
	}
	{
		json_t *doc = cu_json_doc();
		json_object_set_new(doc, "tiers", a);
		return print_json(ctx, doc);
	}
}
