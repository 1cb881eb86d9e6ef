/*
 * sv_plugin: the nbdkit plugin of `curator serve` (DESIGN.md §9), built as
 * build/lib/nbdkit-curator-plugin.so and started as
 *
 *   nbdkit [-f] -U SOCKET | -i ADDR -p PORT  PLUGIN  dir=CLUSTER node=N
 *          [log-max=SIZE] [log-ranges=N] [commit-ms=MS] [lease-ms=MS]
 *
 * Every live vdisk is an export of its name (list_exports); snapshots are
 * read-only exports. read, write, flush, FUA (native), trim, zero (fast:
 * a hole punched in the block map) and block status (holes) map onto
 * sv_ctl.h, which owns the write-back logs.
 *
 * Thread model: PARALLEL, honestly: every callback goes through sv_ctl,
 * whose one mutex serialises the store; nbdkit overlaps the network side.
 * Multi-conn is advertised: the log of a vdisk is shared by every
 * connection of this process, so a flush on one commits them all.
 *
 * The cluster is opened, and the commit thread started, in after_fork
 * (nbdkit forks into the background after config_complete; SQLite handles
 * and threads must not cross a fork).
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "serve/sv_ctl.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static char *cluster_dir;
static struct sv_opts opts;
static struct sv_ctl *ctl;

struct conn {
	struct sv_vd *vd;
	int readonly; /* the client asked read-only, or the vdisk is a snapshot */
};

static void load(void)
{
	struct rlimit rl;

	sv_opts_default(&opts);
	/* a 1 GiB log commits as one batch: up to 256 egroups x RF files open at once */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max && rl.rlim_cur < 65536) {
		rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void unload(void)
{
	sv_ctl_free(ctl);
	ctl = NULL;
	free(cluster_dir);
}

static int config(const char *key, const char *value)
{
	uint64_t n;

	if (strcmp(key, "dir") == 0) {
		free(cluster_dir);
		cluster_dir = nbdkit_absolute_path(value);
		return cluster_dir ? 0 : -1;
	}
	if (strcmp(key, "node") == 0 || strcmp(key, "log-ranges") == 0 || strcmp(key, "commit-ms") == 0 ||
	    strcmp(key, "lease-ms") == 0) {
		char *end;
		errno = 0;
		n = strtoull(value, &end, 10);
		if (errno || *end || !*value || n > 0xffffffffu) {
			nbdkit_error("%s=%s: not a number", key, value);
			return -1;
		}
		if (key[0] == 'n')
			opts.node = (uint32_t)n;
		else if (strcmp(key, "lease-ms") == 0)
			opts.lease_ms = (uint32_t)n;
		else if (key[0] == 'l')
			opts.log_ranges = (uint32_t)n;
		else
			opts.commit_ms = (uint32_t)n;
		return 0;
	}
	if (strcmp(key, "log-max") == 0 || strcmp(key, "log-mem") == 0) {
		int mem = key[5] == 'e';
		if (st_parse_size(value, &n) || n == 0 || (!mem && n > SV_LOG_MAX_LIMIT)) {
			nbdkit_error("%s=%s: a size%s", key, value, mem ? "" : " of at most 4G");
			return -1;
		}
		if (mem)
			opts.log_mem = n;
		else
			opts.log_max = n;
		return 0;
	}
	nbdkit_error("unknown parameter '%s'", key);
	return -1;
}

static int config_complete(void)
{
	char node[16];

	if (!cluster_dir) {
		nbdkit_error("dir=CLUSTER is required");
		return -1;
	}
	if (opts.node == 0 || opts.node > 0xffff) {
		nbdkit_error("node=%u: out of range (1..65535)", opts.node);
		return -1;
	}
	snprintf(node, sizeof(node), "%u", opts.node);
	setenv("CURATOR_NODE", node, 1); /* st_store_open takes the node of new IDs from it */
	return 0;
}

static int after_fork(void)
{
	struct st_msg err = { "" };
	int rc = sv_ctl_new(cluster_dir, &opts, &ctl, &err);

	if (rc) {
		nbdkit_error("%s: %s", cluster_dir, err.text[0] ? err.text : st_strerror(rc));
		return -1;
	}
	rc = sv_ctl_start(ctl);
	if (rc) {
		nbdkit_error("commit thread: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

static int add_export(void *arg, const char *name, int readonly)
{
	return nbdkit_add_export(arg, name, readonly ? "snapshot (read-only)" : "vdisk") ? -1 : 0;
}

static int list_exports(int readonly, int is_tls, struct nbdkit_exports *exports)
{
	struct st_msg err = { "" };

	if (sv_ctl_exports(ctl, add_export, exports, &err)) {
		nbdkit_error("list exports: %s", err.text);
		return -1;
	}
	return 0;
}

static void *open_conn(int readonly)
{
	const char *name = nbdkit_export_name();
	struct st_msg err = { "" };
	struct conn *h;
	int rc;

	if (!name || !*name) {
		nbdkit_error("no export name: name a vdisk (nbdinfo --list shows them)");
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		nbdkit_error("out of memory");
		return NULL;
	}
	rc = sv_vd_open(ctl, name, &h->vd, &err);
	if (rc) {
		nbdkit_error("export '%s': %s", name, rc == ST_ENOTFOUND ? "no such vdisk" : err.text);
		free(h);
		return NULL;
	}
	h->readonly = readonly || sv_vd_readonly(h->vd);
	return h;
}

static void close_conn(void *handle)
{
	struct conn *h = handle;
	struct st_msg err = { "" };

	if (sv_vd_close(h->vd, &err))
		nbdkit_error("close: committing the log: %s", err.text);
	free(h);
}

static int64_t get_size(void *handle)
{
	return (int64_t)sv_vd_size(((struct conn *)handle)->vd);
}

static int can_write(void *handle)
{
	return !((struct conn *)handle)->readonly;
}

static int yes(void *handle)
{
	return 1;
}

static int can_fua(void *handle)
{
	return NBDKIT_FUA_NATIVE;
}

/* Report rc as an NBD error with its reason; -1. */
static int fail(const char *what, int rc, const struct st_msg *err)
{
	nbdkit_error("%s: %s", what, err->text[0] ? err->text : st_strerror(rc));
	nbdkit_set_error(sv_errno(rc));
	return -1;
}

static int do_pread(void *handle, void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
	struct st_msg err = { "" };
	int rc = sv_vd_pread(((struct conn *)handle)->vd, offset, count, buf, &err);

	return rc ? fail("read", rc, &err) : 0;
}

static int do_pwrite(void *handle, const void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
	struct st_msg err = { "" };
	int rc = sv_vd_write(((struct conn *)handle)->vd, offset, buf, count, !!(flags & NBDKIT_FLAG_FUA), &err);

	return rc ? fail("write", rc, &err) : 0;
}

static int do_zero(void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
	struct st_msg err = { "" };
	int rc = sv_vd_write(((struct conn *)handle)->vd, offset, NULL, count, !!(flags & NBDKIT_FLAG_FUA), &err);

	return rc ? fail("zero", rc, &err) : 0;
}

static int do_trim(void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
	return do_zero(handle, count, offset, flags);
}

static int do_flush(void *handle, uint32_t flags)
{
	struct st_msg err = { "" };
	int rc = sv_vd_flush(((struct conn *)handle)->vd, &err);

	return rc ? fail("flush", rc, &err) : 0;
}

static int add_extent(void *arg, uint64_t off, uint64_t len, int hole)
{
	return nbdkit_add_extent(arg, off, len, hole ? NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO : 0) ? -1 : 0;
}

static int do_extents(void *handle, uint32_t count, uint64_t offset, uint32_t flags, struct nbdkit_extents *ex)
{
	struct st_msg err = { "" };
	int rc = sv_vd_extents(((struct conn *)handle)->vd, offset, count, add_extent, ex, &err);

	return rc ? fail("block status", rc, &err) : 0;
}

static struct nbdkit_plugin plugin = {
	.name = "curator",
	.longname = "Curator storage controller",
	.version = "1",
	.description = "vdisks of a Curator cluster over NBD (export = vdisk name)",
	.load = load,
	.unload = unload,
	.config = config,
	.config_complete = config_complete,
	.config_help = "dir=CLUSTER      the cluster directory (required)\n"
		       "node=N           this controller's node (default 1)\n"
		       "log-max=SIZE     write-back log bytes per vdisk (default 1G, at most 4G)\n"
		       "log-mem=SIZE     write-back log bytes of all vdisks together (default: a quarter of memory)\n"
		       "log-ranges=N     write-back log ranges per vdisk (default 16384)\n"
		       "commit-ms=MS     commit a log this long after its oldest write (default 5000)\n"
		       "lease-ms=MS      the TTL of this controller's owner leases (default 5000)",
	.after_fork = after_fork,
	.list_exports = list_exports,
	.open = open_conn,
	.close = close_conn,
	.get_size = get_size,
	.can_write = can_write,
	.can_flush = yes,
	.can_trim = yes,
	.can_zero = yes,
	.can_fast_zero = yes,
	.can_fua = can_fua,
	.can_multi_conn = yes,
	.can_extents = yes,
	.pread = do_pread,
	.pwrite = do_pwrite,
	.flush = do_flush,
	.trim = do_trim,
	.zero = do_zero,
	.extents = do_extents,
	.errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN(plugin)
