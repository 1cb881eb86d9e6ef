/*
 * cu_cmd_serve: `curator serve`, the node's storage controller (DESIGN.md
 * §9): checks its arguments and the cluster, then execs nbdkit with this
 * project's plugin (serve/sv_plugin.c), which does the serving.
 *
 *   curator serve --node N [--socket PATH | --listen ADDR:PORT] [--foreground]
 *                 [--log-max SIZE] [--log-mem SIZE] [--commit-ms MS] [--lease-ms MS]
 *
 * The default socket is DIR/serve-N.sock; a socket file left by a killed
 * controller (nobody accepts on it) is removed first, a live one is an
 * error. Without --foreground nbdkit goes to the background and writes its
 * pid to DIR/serve-N.pid. The plugin is $CURATOR_NBD_PLUGIN, else
 * ../lib/nbdkit-curator-plugin.so beside the curator binary; nbdkit is
 * $CURATOR_NBDKIT, else nbdkit on the PATH.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "curator/cu_cmd.h"
#include "serve/sv_ctl.h"
#include "storage/st_owner.h"

/* The plugin beside the binary (build/bin/curator -> build/lib/...). */
static int plugin_path(char *out, size_t cap)
{
	const char *env = getenv("CURATOR_NBD_PLUGIN");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(out, cap, "%s", env);
		return access(out, R_OK) ? -errno : 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = 0;
	snprintf(out, cap, "%s/../lib/nbdkit-curator-plugin.so", exe);
	return access(out, R_OK) ? -errno : 0;
}

/* Remove a socket file nobody accepts on; ST_EBUSY when a controller does. */
static int clear_socket(struct cu_ctx *ctx, const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat sb;
	int fd, rc;

	if (strlen(path) >= sizeof(a.sun_path))
		return cu_error(ctx, "--socket %s: longer than %zu bytes", path, sizeof(a.sun_path) - 1);
	if (lstat(path, &sb) < 0)
		return 0;
	if (!S_ISSOCK(sb.st_mode))
		return cu_error(ctx, "%s: exists and is not a socket", path);
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cu_error(ctx, "socket: %s", strerror(errno));
	rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	if (rc == 0)
		return cu_error(ctx, "%s: a controller is serving there already", path);
	if (unlink(path) < 0)
		return cu_error(ctx, "%s: %s", path, strerror(errno));
	return 0;
}

int cu_cmd_serve(struct cu_ctx *ctx, int argc, char **argv)
{
	struct cu_opt o[] = { { "--node", 1, 0, 0 },	  { "--socket", 1, 0, 0 },  { "--listen", 1, 0, 0 },
			      { "--foreground", 0, 0, 0 }, { "--log-max", 1, 0, 0 }, { "--commit-ms", 1, 0, 0 },
			      { "--lease-ms", 1, 0, 0 }, { "--log-mem", 1, 0, 0 } };
	char dir[PATH_MAX], plugin[PATH_MAX], sock[PATH_MAX], pidf[PATH_MAX + 32];
	char a_dir[PATH_MAX + 8], a_node[32], a_max[64], a_mem[64], a_ms[32], a_lease[32], host[256], port[16];
	const char *nbdkit = getenv("CURATOR_NBDKIT");
	uint32_t node, ms = 0, lease = 0;
	uint64_t max = 0, mem = 0;
	char *pos[1], *args[24];
	int npos, na = 0, found = 0, rc = cu_opts_parse(ctx, argc, argv, o, CU_NOPTS(o), pos, &npos, 0);
	struct st_node *nodes = NULL;
	int nn = 0;

	if (rc)
		return rc;
	if (!CU_OPT(o, "--node")->set)
		return cu_error(ctx, "expected --node N");
	if (cu_arg_u32(ctx, "--node", CU_OPT(o, "--node")->val, &node))
		return CU_EXIT_USAGE;
	if (CU_OPT(o, "--socket")->set && CU_OPT(o, "--listen")->set)
		return cu_error(ctx, "--socket and --listen: give one");
	if (cu_opt_size(ctx, CU_OPT(o, "--log-max"), &max))
		return CU_EXIT_USAGE;
	if (CU_OPT(o, "--log-max")->set && (max == 0 || max > SV_LOG_MAX_LIMIT))
		return cu_error(ctx, "--log-max %s: expected a size of at most 4G", CU_OPT(o, "--log-max")->val);
	if (cu_opt_size(ctx, CU_OPT(o, "--log-mem"), &mem))
		return CU_EXIT_USAGE;
	if (CU_OPT(o, "--log-mem")->set && mem == 0)
		return cu_error(ctx, "--log-mem %s: expected a size above 0", CU_OPT(o, "--log-mem")->val);
	if (CU_OPT(o, "--commit-ms")->set && cu_arg_u32(ctx, "--commit-ms", CU_OPT(o, "--commit-ms")->val, &ms))
		return CU_EXIT_USAGE;
	if (CU_OPT(o, "--lease-ms")->set && cu_arg_u32(ctx, "--lease-ms", CU_OPT(o, "--lease-ms")->val, &lease))
		return CU_EXIT_USAGE;
	if (CU_OPT(o, "--listen")->set) {
		const char *l = CU_OPT(o, "--listen")->val, *colon = strrchr(l, ':');
		size_t hl = colon ? (size_t)(colon - l) : 0;
		if (!colon || !colon[1] || hl >= sizeof(host) || strlen(colon + 1) >= sizeof(port) ||
		    strspn(colon + 1, "0123456789") != strlen(colon + 1))
			return cu_error(ctx, "--listen %s: expected ADDR:PORT", l);
		if (hl >= 2 && l[0] == '[' && l[hl - 1] == ']') { /* [::1]:10809 */
			l++;
			hl -= 2;
		}
		memcpy(host, l, hl);
		host[hl] = 0;
		snprintf(port, sizeof(port), "%s", colon + 1);
	}
	rc = cu_open(ctx);
	if (rc)
		return rc;
	rc = st_config_nodes(cu_config(ctx), &nodes, &nn, &ctx->err);
	if (rc)
		return rc;
	for (int i = 0; i < nn; i++)
		found |= nodes[i].id == node;
	free(nodes);
	if (!found)
		return cu_error(ctx, "--node %u: no such node in the cluster", node);
	if (!realpath(ctx->dir, dir))
		return cu_error(ctx, "%s: %s", ctx->dir, strerror(errno));
	rc = plugin_path(plugin, sizeof(plugin));
	if (rc)
		return cu_error(ctx, "the nbdkit plugin %s: %s (set CURATOR_NBD_PLUGIN)", plugin, strerror(-rc));
	st_store_free(ctx->st); /* nbdkit opens the cluster itself */
	ctx->st = NULL;

	args[na++] = (char *)(nbdkit && *nbdkit ? nbdkit : "nbdkit");
	if (CU_OPT(o, "--foreground")->set) {
		args[na++] = "-f";
	} else {
		snprintf(pidf, sizeof(pidf), "%s/serve-%u.pid", dir, node);
		args[na++] = "-P";
		args[na++] = pidf;
	}
	if (CU_OPT(o, "--listen")->set) {
		if (host[0]) {
			args[na++] = "-i";
			args[na++] = host;
		}
		args[na++] = "-p";
		args[na++] = port;
	} else {
		if (CU_OPT(o, "--socket")->set)
			snprintf(sock, sizeof(sock), "%s", CU_OPT(o, "--socket")->val);
		else
			snprintf(sock, sizeof(sock), "%s/serve-%u.sock", dir, node);
		rc = clear_socket(ctx, sock);
		if (rc)
			return rc;
		args[na++] = "-U";
		args[na++] = sock;
	}
	args[na++] = plugin;
	snprintf(a_dir, sizeof(a_dir), "dir=%s", dir);
	snprintf(a_node, sizeof(a_node), "node=%u", node);
	args[na++] = a_dir;
	args[na++] = a_node;
	if (CU_OPT(o, "--log-max")->set) {
		snprintf(a_max, sizeof(a_max), "log-max=%llu", (unsigned long long)max);
		args[na++] = a_max;
	}
	if (CU_OPT(o, "--log-mem")->set) {
		snprintf(a_mem, sizeof(a_mem), "log-mem=%llu", (unsigned long long)mem);
		args[na++] = a_mem;
	}
	if (CU_OPT(o, "--commit-ms")->set) {
		snprintf(a_ms, sizeof(a_ms), "commit-ms=%u", ms);
		args[na++] = a_ms;
	}
	if (CU_OPT(o, "--lease-ms")->set) {
		snprintf(a_lease, sizeof(a_lease), "lease-ms=%u", lease);
		args[na++] = a_lease;
	}
	args[na] = NULL;
	setenv("CURATOR_NODE", a_node + 5, 1); /* "node=N" */
	fflush(NULL);
	execvp(args[0], args);
	return cu_error(ctx, "%s: %s (is nbdkit installed? tools/install-deps.sh)", args[0], strerror(errno));
}

static int print_backup(void *arg, const char *holder, uint32_t node, int64_t since)
{
	char t[32];
	time_t ts = (time_t)since;
	int *n = arg;

	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", gmtime(&ts));
	printf("  %-12s %s (node %u) since %s\n", (*n)++ ? "" : "backups", holder, node, t);
	return 0;
}

/* curator vdisk owner NAME [--format text|json]: the controller that owns it, its lease, the backups. */
int cu_cmd_vdisk_owner(struct cu_ctx *ctx, int argc, char **argv)
{
	struct cu_opt o[] = { { "--format", 1, 0, 0 } };
	const char *fmt;
	struct st_owner w;
	struct st_vdisk v;
	char *pos[1], *json = NULL, t1[32], t2[32];
	int npos, nb = 0, rc = cu_opts_parse(ctx, argc, argv, o, CU_NOPTS(o), pos, &npos, 1);

	if (rc)
		return rc;
	if (npos != 1)
		return cu_error(ctx, "expected a NAME");
	fmt = CU_OPT(o, "--format")->set ? CU_OPT(o, "--format")->val : "text";
	if (strcmp(fmt, "text") && strcmp(fmt, "json"))
		return cu_error(ctx, "--format %s: expected text or json", fmt);
	rc = cu_open(ctx);
	if (rc)
		return rc;
	rc = st_config_vdisk_get(cu_config(ctx), pos[0], &v, &ctx->err);
	if (rc)
		return rc;
	if (strcmp(fmt, "json") == 0) {
		rc = st_owner_json(cu_config(ctx), v.id, v.name, &json, &ctx->err);
		if (rc)
			return rc;
		printf("%s\n", json);
		free(json);
		return 0;
	}
	rc = st_owner_get(cu_config(ctx), v.id, &w, &ctx->err);
	if (rc && rc != ST_ENOTFOUND)
		return rc;
	printf("vdisk %s (id %llx)\n", v.name, (unsigned long long)v.id);
	if (rc == ST_ENOTFOUND) {
		printf("  owner        none\n");
	} else {
		time_t a = (time_t)w.since, b = (time_t)w.beat_at;
		strftime(t1, sizeof(t1), "%Y-%m-%dT%H:%M:%SZ", gmtime(&a));
		strftime(t2, sizeof(t2), "%Y-%m-%dT%H:%M:%SZ", gmtime(&b));
		printf("  owner        %s (node %u) since %s, epoch %lld\n", w.holder, w.node, t1, (long long)w.epoch);
		printf("  lease        TTL %.1f s, %lld renewals, the last at %s\n", (double)w.ttl_ms / 1000,
		       (long long)w.beat, t2);
		if (w.relinquish[0])
			printf("  relinquish   asked by %s\n", w.relinquish);
	}
	rc = st_owner_backups(cu_config(ctx), v.id, print_backup, &nb, &ctx->err);
	if (!rc && nb == 0)
		printf("  backups      none\n");
	return rc;
}
