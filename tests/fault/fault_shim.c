/*
 * fault_shim: an LD_PRELOAD library that makes the Nth I/O call of one
 * class fail, for the fault-injection tests (tests/fault/fault_matrix.sh).
 *
 * DESIGN: the tests run the real curator binary, unchanged, under this
 * shim, and step N = 1, 2, ... until the command runs without the fault
 * firing. Only calls on files under CURATOR_FAULT_DIR (the cluster
 * directory) count, so the loader, MPI and the terminal are never hit.
 * The classes, and the libc calls in each (SQLite's unix VFS calls the same
 * libc functions, so its journal and database I/O count too):
 *
 *   write   write, pwrite, pwrite64, writev, pwritev, pwritev2
 *   fsync   fsync, fdatasync
 *   rename  rename, renameat, renameat2
 *   unlink  unlink, unlinkat, rmdir
 *   read    read, pread, pread64, readv, preadv, preadv2
 *
 * Environment:
 *   CURATOR_FAULT_DIR     absolute directory whose files count (required)
 *   CURATOR_FAULT_OP      the class above
 *   CURATOR_FAULT_N       1-based index of the call to fail (0: count only)
 *   CURATOR_FAULT_ERRNO   EIO (default) or ENOSPC
 *   CURATOR_FAULT_STICKY  1: every call of the class from the Nth on fails
 *                         (a dead disk, a full file system)
 *   CURATOR_FAULT_LOG     a file to which each process appends, at exit,
 *                         "<pid> <class> calls=<n> fired=<0|1>"
 *
 * Which file an fd names is learnt from /proc/self/fd when it is opened
 * through open()/openat() (cached until close()) and looked up afresh for
 * fds this shim did not see opened. Thread-safe: the counter is atomic.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum cls { C_NONE = -1, C_WRITE, C_FSYNC, C_RENAME, C_UNLINK, C_READ };
static const char *const cls_name[] = { "write", "fsync", "rename", "unlink", "read" };

#define FD_MAX 65536
static unsigned char fd_state[FD_MAX]; /* 0 unknown, 1 under dir, 2 elsewhere */
static char dir[PATH_MAX];
static size_t dirlen;
static int target = C_NONE, sticky, err_no = EIO;
static long nth;
static atomic_long calls;
static atomic_int fired;
static char fired_path[PATH_MAX]; /* the file of the first failed call */
static int ready;

static void setup(void)
{
	const char *d = getenv("CURATOR_FAULT_DIR"), *op = getenv("CURATOR_FAULT_OP");
	const char *n = getenv("CURATOR_FAULT_N"), *e = getenv("CURATOR_FAULT_ERRNO");
	const char *s = getenv("CURATOR_FAULT_STICKY");

	if (!d || !*d || !op)
		return;
	if (!realpath(d, dir))
		snprintf(dir, sizeof(dir), "%s", d);
	dirlen = strlen(dir);
	while (dirlen > 1 && dir[dirlen - 1] == '/')
		dir[--dirlen] = 0;
	for (int i = 0; i < 5; i++)
		if (!strcmp(op, cls_name[i]))
			target = i;
	nth = n ? atol(n) : 0;
	sticky = s && *s == '1';
	if (e && !strcmp(e, "ENOSPC"))
		err_no = ENOSPC;
	ready = 1;
}

static void __attribute__((constructor)) fault_init(void)
{
	setup();
}

static void __attribute__((destructor)) fault_fini(void)
{
	const char *log = getenv("CURATOR_FAULT_LOG");
	FILE *f;

	if (!ready || !log || target == C_NONE)
		return;
	f = fopen(log, "a");
	if (!f)
		return;
	fprintf(f, "%d %s calls=%ld fired=%d %s\n", (int)getpid(), cls_name[target], atomic_load(&calls),
		atomic_load(&fired), fired_path);
	fclose(f);
}

static int under(const char *path)
{
	return dirlen && !strncmp(path, dir, dirlen) && (path[dirlen] == '/' || path[dirlen] == 0);
}

static int fd_path(int fd, char *buf, size_t len)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, len - 1);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

static int fd_under(int fd)
{
	char p[PATH_MAX];

	if (fd < 0)
		return 0;
	if (fd < FD_MAX && fd_state[fd])
		return fd_state[fd] == 1;
	return fd_path(fd, p, sizeof(p)) == 0 && under(p);
}

static void fd_learn(int fd)
{
	char p[PATH_MAX];

	if (fd >= 0 && fd < FD_MAX)
		fd_state[fd] = fd_path(fd, p, sizeof(p)) == 0 && under(p) ? 1 : 2;
}

/* An absolute form of path (relative to dirfd), for the under() test. */
static void abs_path(int dirfd, const char *path, char *out, size_t len)
{
	char base[PATH_MAX];

	if (path[0] == '/') {
		snprintf(out, len, "%s", path);
		return;
	}
	if (dirfd == AT_FDCWD) {
		if (!getcwd(base, sizeof(base)))
			base[0] = 0;
	} else if (fd_path(dirfd, base, sizeof(base))) {
		base[0] = 0;
	}
	snprintf(out, len, "%s/%s", base, path);
}

/* Count a call of class c on a file under the directory: 1 = make it fail. */
static int hit(int c)
{
	long k;

	if (!ready || c != target)
		return 0;
	k = atomic_fetch_add(&calls, 1) + 1;
	if (nth > 0 && (k == nth || (sticky && k > nth))) {
		atomic_store(&fired, 1);
		return 1;
	}
	return 0;
}

static int hit_fd(int c, int fd)
{
	if (!(ready && c == target && fd_under(fd) && hit(c)))
		return 0;
	if (!fired_path[0] && fd_path(fd, fired_path, sizeof(fired_path)))
		fired_path[0] = 0;
	return 1;
}

static int hit_path(int c, int dirfd, const char *path)
{
	char p[PATH_MAX];

	if (!ready || c != target || !path)
		return 0;
	abs_path(dirfd, path, p, sizeof(p));
	if (!(under(p) && hit(c)))
		return 0;
	if (!fired_path[0])
		snprintf(fired_path, sizeof(fired_path), "%s", p);
	return 1;
}

#define REAL(ret, name, ...)                                                 \
	static ret (*real_##name)(__VA_ARGS__);                              \
	if (!real_##name)                                                    \
		real_##name = (ret (*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name)

/* --- opening and closing (to learn what an fd names) --------------------- */

static int open_common(int fd)
{
	if (fd >= 0 && ready)
		fd_learn(fd);
	return fd;
}

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	REAL(int, open, const char *, int, ...);
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return open_common(real_open(path, flags, mode));
}

int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;
	REAL(int, open64, const char *, int, ...);
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return open_common(real_open64(path, flags, mode));
}

int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	REAL(int, openat, int, const char *, int, ...);
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return open_common(real_openat(dirfd, path, flags, mode));
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	REAL(int, openat64, int, const char *, int, ...);
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return open_common(real_openat64(dirfd, path, flags, mode));
}

int creat(const char *path, mode_t mode)
{
	REAL(int, creat, const char *, mode_t);
	return open_common(real_creat(path, mode));
}

int close(int fd)
{
	REAL(int, close, int);
	if (fd >= 0 && fd < FD_MAX)
		fd_state[fd] = 0;
	return real_close(fd);
}

/* --- the classes ---------------------------------------------------------- */

#define FAIL_FD(c, fd)                     \
	do {                               \
		if (hit_fd(c, fd)) {       \
			errno = err_no;    \
			return -1;         \
		}                          \
	} while (0)

ssize_t write(int fd, const void *b, size_t n)
{
	REAL(ssize_t, write, int, const void *, size_t);
	FAIL_FD(C_WRITE, fd);
	return real_write(fd, b, n);
}

ssize_t pwrite(int fd, const void *b, size_t n, off_t off)
{
	REAL(ssize_t, pwrite, int, const void *, size_t, off_t);
	FAIL_FD(C_WRITE, fd);
	return real_pwrite(fd, b, n, off);
}

ssize_t pwrite64(int fd, const void *b, size_t n, off_t off)
{
	REAL(ssize_t, pwrite64, int, const void *, size_t, off_t);
	FAIL_FD(C_WRITE, fd);
	return real_pwrite64(fd, b, n, off);
}

ssize_t writev(int fd, const struct iovec *v, int n)
{
	REAL(ssize_t, writev, int, const struct iovec *, int);
	FAIL_FD(C_WRITE, fd);
	return real_writev(fd, v, n);
}

ssize_t pwritev(int fd, const struct iovec *v, int n, off_t off)
{
	REAL(ssize_t, pwritev, int, const struct iovec *, int, off_t);
	FAIL_FD(C_WRITE, fd);
	return real_pwritev(fd, v, n, off);
}

ssize_t pwritev2(int fd, const struct iovec *v, int n, off_t off, int flags)
{
	REAL(ssize_t, pwritev2, int, const struct iovec *, int, off_t, int);
	FAIL_FD(C_WRITE, fd);
	return real_pwritev2(fd, v, n, off, flags);
}

int fsync(int fd)
{
	REAL(int, fsync, int);
	FAIL_FD(C_FSYNC, fd);
	return real_fsync(fd);
}

int fdatasync(int fd)
{
	REAL(int, fdatasync, int);
	FAIL_FD(C_FSYNC, fd);
	return real_fdatasync(fd);
}

ssize_t read(int fd, void *b, size_t n)
{
	REAL(ssize_t, read, int, void *, size_t);
	FAIL_FD(C_READ, fd);
	return real_read(fd, b, n);
}

ssize_t pread(int fd, void *b, size_t n, off_t off)
{
	REAL(ssize_t, pread, int, void *, size_t, off_t);
	FAIL_FD(C_READ, fd);
	return real_pread(fd, b, n, off);
}

ssize_t pread64(int fd, void *b, size_t n, off_t off)
{
	REAL(ssize_t, pread64, int, void *, size_t, off_t);
	FAIL_FD(C_READ, fd);
	return real_pread64(fd, b, n, off);
}

ssize_t readv(int fd, const struct iovec *v, int n)
{
	REAL(ssize_t, readv, int, const struct iovec *, int);
	FAIL_FD(C_READ, fd);
	return real_readv(fd, v, n);
}

ssize_t preadv(int fd, const struct iovec *v, int n, off_t off)
{
	REAL(ssize_t, preadv, int, const struct iovec *, int, off_t);
	FAIL_FD(C_READ, fd);
	return real_preadv(fd, v, n, off);
}

ssize_t preadv2(int fd, const struct iovec *v, int n, off_t off, int flags)
{
	REAL(ssize_t, preadv2, int, const struct iovec *, int, off_t, int);
	FAIL_FD(C_READ, fd);
	return real_preadv2(fd, v, n, off, flags);
}

int rename(const char *a, const char *b)
{
	REAL(int, rename, const char *, const char *);
	if (hit_path(C_RENAME, AT_FDCWD, b)) {
		errno = err_no;
		return -1;
	}
	return real_rename(a, b);
}

int renameat(int da, const char *a, int db, const char *b)
{
	REAL(int, renameat, int, const char *, int, const char *);
	if (hit_path(C_RENAME, db, b)) {
		errno = err_no;
		return -1;
	}
	return real_renameat(da, a, db, b);
}

int renameat2(int da, const char *a, int db, const char *b, unsigned int flags)
{
	REAL(int, renameat2, int, const char *, int, const char *, unsigned int);
	if (hit_path(C_RENAME, db, b)) {
		errno = err_no;
		return -1;
	}
	return real_renameat2(da, a, db, b, flags);
}

int unlink(const char *p)
{
	REAL(int, unlink, const char *);
	if (hit_path(C_UNLINK, AT_FDCWD, p)) {
		errno = err_no;
		return -1;
	}
	return real_unlink(p);
}

int unlinkat(int d, const char *p, int flags)
{
	REAL(int, unlinkat, int, const char *, int);
	if (hit_path(C_UNLINK, d, p)) {
		errno = err_no;
		return -1;
	}
	return real_unlinkat(d, p, flags);
}

int rmdir(const char *p)
{
	REAL(int, rmdir, const char *);
	if (hit_path(C_UNLINK, AT_FDCWD, p)) {
		errno = err_no;
		return -1;
	}
	return real_rmdir(p);
}
