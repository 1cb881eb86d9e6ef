/*
 * mr_ctx: MPI set-up, the collective helpers every job uses to agree on an
 * outcome, and removal of scratch left by crashed jobs.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mapreduce/mr_int.h"

const char *mr_strerror(int rc)
{
	switch (rc) {
	case 0: return "success";
	case MR_EABORTED: return "aborted: another rank failed";
	case MR_EINPUT: return "bad input";
	case MR_EMAP: return "map function failed";
	case MR_EREDUCE: return "reduce function failed";
	case MR_EINVAL: return "invalid job";
	case MR_ECORRUPT: return "corrupt run or output file";
	}
	if (rc < 0 && rc > -4096)
		return strerror(-rc);
	return "unknown error";
}

void mr_set_err(struct mr_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->errmsg, sizeof(ctx->errmsg), fmt, ap);
	va_end(ap);
}

static int rm_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char p[PATH_MAX];

	if (!d)
		return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		rm_tree(p);
	}
	closedir(d);
	return rmdir(path) == 0 || errno == ENOENT ? 0 : -errno;
}

int mr_rm_tree(const char *path);
int mr_rm_tree(const char *path)
{
	return rm_tree(path);
}

/*
 * Remove scratch directories "mr-<host>-<pid>-*" of dead processes of this
 * host and PID namespace (<host> names both, see mr_ctx_new): local scratch
 * under $TMPDIR, never shared storage, so a pid of this namespace is a
 * fair judge here; nothing of the cluster is judged this way (leases).
 */
static void clean_stale_scratch(struct mr_ctx *ctx)
{
	DIR *d = opendir(ctx->scratch);
	struct dirent *e;
	char prefix[300];
	size_t pl;

	if (!d)
		return;
	pl = (size_t)snprintf(prefix, sizeof(prefix), "mr-%s-", ctx->host);
	while ((e = readdir(d))) {
		char *end;
		long pid;
		char p[PATH_MAX];

		if (strncmp(e->d_name, prefix, pl))
			continue;
		pid = strtol(e->d_name + pl, &end, 10);
		if (*end != '-' || pid <= 0 || pid == (long)getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
			continue;
		snprintf(p, sizeof(p), "%s/%s", ctx->scratch, e->d_name);
		rm_tree(p);
	}
	closedir(d);
}

int mr_ctx_new(int *argc, char ***argv, const char *scratch, struct mr_ctx **out)
{
	struct mr_ctx *ctx = calloc(1, sizeof(*ctx));
	int init = 0, provided;
	const char *tmp = getenv("TMPDIR");

	if (!ctx)
		return -ENOMEM;
	MPI_Initialized(&init);
	if (!init) {
		/*
		 * hwloc's PCI discovery reads every device's config space: ~10 ms
		 * a start on a VM (trapped reads) for locality we do not use, and
		 * its plugins load libxml2 with ICU, libOpenCL and X11 (the GL one
		 * tries every X display's socket): another ~7 ms. hwloc's own XML
		 * code stands in for libxml2. Setting HWLOC_COMPONENTS or
		 * HWLOC_PLUGINS_BLACKLIST (even empty) keeps hwloc's own choice.
		 */
		setenv("HWLOC_COMPONENTS", "-pci,-linuxio", 0);
		setenv("HWLOC_PLUGINS_BLACKLIST", "hwloc_pci,hwloc_gl,hwloc_opencl,hwloc_xml_libxml", 0);
		if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
			free(ctx);
			return -EIO;
		}
		ctx->own_mpi = 1;
	}
	ctx->qwin = MPI_WIN_NULL;
	MPI_Comm_dup(MPI_COMM_WORLD, &ctx->comm);
	MPI_Comm_set_errhandler(ctx->comm, MPI_ERRORS_ARE_FATAL);
	MPI_Comm_rank(ctx->comm, &ctx->rank);
	MPI_Comm_size(ctx->comm, &ctx->nranks);
	{
		MPI_Group wg, lg;
		int *all = malloc((size_t)ctx->nranks * sizeof(int));
		ctx->local_of = malloc((size_t)ctx->nranks * sizeof(int));
		if (!all || !ctx->local_of) {
			free(all);
			free(ctx->local_of);
			MPI_Comm_free(&ctx->comm);
			free(ctx);
			return -ENOMEM;
		}
		MPI_Comm_split_type(ctx->comm, MPI_COMM_TYPE_SHARED, ctx->rank, MPI_INFO_NULL, &ctx->local);
		MPI_Comm_size(ctx->local, &ctx->local_ranks);
		MPI_Comm_group(ctx->comm, &wg);
		MPI_Comm_group(ctx->local, &lg);
		for (int r = 0; r < ctx->nranks; r++)
			all[r] = r;
		MPI_Group_translate_ranks(wg, ctx->nranks, all, lg, ctx->local_of);
		for (int r = 0; r < ctx->nranks; r++)
			if (ctx->local_of[r] == MPI_UNDEFINED)
				ctx->local_of[r] = -1;
		MPI_Group_free(&wg);
		MPI_Group_free(&lg);
		free(all);
	}
	snprintf(ctx->scratch, sizeof(ctx->scratch), "%s", scratch ? scratch : tmp && *tmp ? tmp : "/tmp");
	mkdir(ctx->scratch, 0755);
	if (gethostname(ctx->host, sizeof(ctx->host)) < 0)
		snprintf(ctx->host, sizeof(ctx->host), "localhost");
	for (char *p = ctx->host; *p; p++)
		if (*p == '-' || *p == '/')
			*p = '_';
	{
		/*
		 * Scratch names carry the PID namespace too ("<host>_ns<inode>"): a pid
		 * means something only inside its namespace, so the sweep below judges
		 * only directories of processes in this one (ranks of other namespaces
		 * sharing this $TMPDIR, e.g. hosts made by unshare, are never swept).
		 */
		char ns[64] = "";
		ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
		size_t hl = strlen(ctx->host);
		unsigned long long ino = 0;
		ns[n > 0 ? n : 0] = 0;
		if (sscanf(ns, "pid:[%llu]", &ino) == 1 && hl + 24 < sizeof(ctx->host))
			snprintf(ctx->host + hl, sizeof(ctx->host) - hl, "_ns%llu", ino);
	}
	clean_stale_scratch(ctx);
	*out = ctx;
	return 0;
}

uint64_t mr_host_budget(const struct mr_ctx *ctx)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	uint64_t b = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz / 4 : 0;

	b /= (uint64_t)(ctx->local_ranks > 0 ? ctx->local_ranks : 1);
	if (b < (512ULL << 20))
		b = 512ULL << 20;
	if (b > (8ULL << 30))
		b = 8ULL << 30;
	return b;
}

void mr_ctx_trim(struct mr_ctx *ctx)
{
	free(ctx->arena);
	ctx->arena = NULL;
	ctx->arena_cap = 0;
}

/*
 * Leave the job the way Hydra's simple PMI protocol (PMI-1 over the socket
 * in $PMI_FD) expects a finished process to: "cmd=finalize", then wait for
 * "cmd=finalize_ack". 0 once acknowledged; -1 when not launched that way or
 * the exchange failed (the caller then calls MPI_Finalize). Called after a
 * barrier on the job's communicator, so no message is in flight.
 *
 * Why not MPI_Finalize: with Debian 12's MPICH 4.0.2 (ch4:ucx) and UCX 1.13
 * it closes every UCX endpoint in flush mode and waits for the peers'
 * answers, while a peer whose closes completed first has gone on into the
 * PMI barrier and no longer progresses UCX: the waiting rank never returns.
 * Over TCP (ranks on several hosts, or UCX_TLS=tcp,self) 3 ranks hung in 28
 * of 30 runs here, and a hung rank keeps mpiexec (and the daemon's stop)
 * waiting for good. A process that exits without telling Hydra it finished
 * makes Hydra kill the others with signal 9; one that sent finalize exits
 * cleanly with its own status. Everything of the job is committed before
 * this (databases, result files); stdio is flushed by exit() as usual; the
 * kernel closes the sockets and UCX's shared memory is unlinked at creation.
 * CURATOR_MPI_FINALIZE=1 forces MPI_Finalize (to debug MPI itself).
 */
static int pmi_finalize(void)
{
	const char *fds = getenv("PMI_FD"), *force = getenv("CURATOR_MPI_FINALIZE");
	static const char req[] = "cmd=finalize\n";
	char buf[256];
	size_t got = 0;
	char *end;
	long fd;

	if (!fds || !*fds || (force && strcmp(force, "1") == 0))
		return -1;
	errno = 0;
	fd = strtol(fds, &end, 10);
	if (errno || *end || fd < 0 || fd > INT_MAX)
		return -1;
	for (size_t off = 0; off < sizeof(req) - 1;) {
		ssize_t n = write((int)fd, req + off, sizeof(req) - 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	while (got < sizeof(buf) - 1 && !memchr(buf, '\n', got)) {
		ssize_t n = read((int)fd, buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	buf[got] = 0;
	return strstr(buf, "cmd=finalize_ack") ? 0 : -1;
}

void mr_ctx_free(struct mr_ctx *ctx)
{
	if (!ctx)
		return;
	mr_ctx_trim(ctx);
	if (ctx->qwin != MPI_WIN_NULL)
		MPI_Win_free(&ctx->qwin);
	MPI_Comm_free(&ctx->local);
	MPI_Comm_free(&ctx->comm);
	free(ctx->local_of);
	if (ctx->own_mpi) {
		MPI_Barrier(MPI_COMM_WORLD);
		if (pmi_finalize() != 0)
			MPI_Finalize();
	}
	free(ctx);
}

int mr_rank(const struct mr_ctx *ctx)
{
	return ctx->rank;
}

int mr_nranks(const struct mr_ctx *ctx)
{
	return ctx->nranks;
}

const char *mr_ctx_errmsg(const struct mr_ctx *ctx)
{
	return ctx->errmsg;
}

void mr_abort(struct mr_ctx *ctx, const char *msg)
{
	fprintf(stderr, "curator: rank %d: %s\n", ctx->rank, msg);
	fflush(stderr);
	MPI_Abort(ctx->comm, 2);
	_exit(2);
}

/*
 * Agree on an outcome: the lowest (most negative) rc wins; the message of
 * the lowest-numbered rank that failed is broadcast so every rank reports
 * the same error.
 */
int mr_agree(struct mr_ctx *ctx, int rc)
{
	int all, who, mine = rc ? ctx->rank : INT_MAX;

	MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MIN, ctx->comm);
	if (!all)
		return 0;
	MPI_Allreduce(&mine, &who, 1, MPI_INT, MPI_MIN, ctx->comm);
	MPI_Bcast(ctx->errmsg, sizeof(ctx->errmsg), MPI_CHAR, who, ctx->comm);
	/* report the failing rank's own code, not a follower's MR_EABORTED */
	MPI_Bcast(&rc, 1, MPI_INT, who, ctx->comm);
	return rc;
}

int64_t mr_sum(struct mr_ctx *ctx, int64_t v)
{
	int64_t s;
	MPI_Allreduce(&v, &s, 1, MPI_INT64_T, MPI_SUM, ctx->comm);
	return s;
}

int mr_barrier(struct mr_ctx *ctx)
{
	return MPI_Barrier(ctx->comm) == MPI_SUCCESS ? 0 : -EIO;
}

int mr_bcast(struct mr_ctx *ctx, void *buf, size_t len, int root)
{
	return MPI_Bcast(buf, (int)len, MPI_BYTE, root, ctx->comm) == MPI_SUCCESS ? 0 : -EIO;
}

int mr_gather(struct mr_ctx *ctx, const void *buf, size_t len, int root, void **out, size_t *outlen)
{
	int64_t mine = (int64_t)len, *lens = NULL, total = 0;
	int *counts = NULL, *displs = NULL, rc = 0, n = ctx->nranks;
	uint8_t *all = NULL;

	*out = NULL;
	*outlen = 0;
	if (ctx->rank == root) {
		lens = calloc((size_t)n, sizeof(*lens));
		counts = calloc((size_t)n, sizeof(*counts));
		displs = calloc((size_t)n, sizeof(*displs));
		if (!lens || !counts || !displs)
			rc = -ENOMEM;
	}
	rc = mr_agree(ctx, rc);
	if (!rc) {
		MPI_Gather(&mine, 1, MPI_INT64_T, lens, 1, MPI_INT64_T, root, ctx->comm);
		for (int i = 0; ctx->rank == root && i < n; i++) {
			displs[i] = (int)total;
			counts[i] = (int)lens[i];
			total += lens[i];
			if (total > INT32_MAX)
				rc = -E2BIG;
		}
		if (!rc && ctx->rank == root && total && !(all = malloc((size_t)total)))
			rc = -ENOMEM;
		rc = mr_agree(ctx, rc);
	}
	if (!rc)
		MPI_Gatherv(buf, (int)len, MPI_BYTE, all, counts, displs, MPI_BYTE, root, ctx->comm);
	if (!rc && ctx->rank == root) {
		*out = all;
		*outlen = (size_t)total;
	} else {
		free(all);
	}
	free(lens);
	free(counts);
	free(displs);
	return rc;
}

int mr_bcast_poll(struct mr_ctx *ctx, void *buf, size_t len, int root, unsigned poll_us)
{
	MPI_Request rq;
	int done = 0;

	/* errors are fatal on ctx->comm (MPI_ERRORS_ARE_FATAL): a return is a success everywhere */
	if (MPI_Ibcast(buf, (int)len, MPI_BYTE, root, ctx->comm, &rq) != MPI_SUCCESS)
		return -EIO;
	while (!done) {
		if (MPI_Test(&rq, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
			return -EIO;
		if (!done)
			usleep(poll_us);
	}
	return 0;
}
