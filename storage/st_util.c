/*
 * st_util: error strings, parsing, clock, checksums and durable file I/O.
 * See st_util.h.
 */
#include "storage/st_util.h"

#include <sys/random.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <isa-l/crc.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *st_strerror(int rc)
{
	switch (rc) {
	case ST_OK: return "success";
	case ST_ENOTFOUND: return "not found";
	case ST_ECORRUPT: return "corrupt data";
	case ST_EINVAL: return "invalid argument";
	case ST_EEXIST: return "already exists";
	case ST_EPOLICY: return "policy cannot be met";
	case ST_ENOSPACE: return "no space left on any tier";
	case ST_ESTALE: return "changed concurrently (stale)";
	case ST_EREADONLY: return "read-only";
	case ST_ERANGE: return "out of range";
	case ST_ENOTCLUSTER: return "not a cluster directory";
	case ST_EBUSY: return "busy";
	case ST_EIO: return "no readable replica";
	case ST_ELEASE: return "lease lost (fenced)";
	}
	if (rc < 0 && rc > -4096)
		return strerror(-rc);
	return "unknown error";
}

int st_fail(struct st_msg *err, int rc, const char *fmt, ...)
{
	if (err) {
		/* formatted apart first: the arguments may be err->text itself ("%s: %s", path, err->text) */
		char text[sizeof(err->text)];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(text, sizeof(text), fmt, ap);
		va_end(ap);
		memcpy(err->text, text, sizeof(text));
	}
	return rc;
}

int st_parse_size(const char *s, uint64_t *out)
{
	char *end;
	double v;
	uint64_t mult = 1;

	if (!s || !isdigit((unsigned char)*s))
		return ST_EINVAL;
	for (const char *p = s; *p && !isalpha((unsigned char)*p); p++)
		if (!isdigit((unsigned char)*p) && *p != '.')
			return ST_EINVAL;
	if (strchr(s, 'x') || strchr(s, 'X') || strchr(s, 'e') || strchr(s, 'E'))
		return ST_EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return ST_EINVAL;
	switch (toupper((unsigned char)*end)) {
	case 'K': mult = 1ULL << 10; end++; break;
	case 'M': mult = 1ULL << 20; end++; break;
	case 'G': mult = 1ULL << 30; end++; break;
	case 'T': mult = 1ULL << 40; end++; break;
	default: break;
	}
	if (mult > 1 && (*end == 'i' || *end == 'I'))
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return ST_EINVAL;
	v *= (double)mult;
	if (v >= 18446744073709551616.0 || v != floor(v))
		return ST_EINVAL;
	*out = (uint64_t)v;
	return 0;
}

int st_parse_duration(const char *s, int64_t *out)
{
	char *end;
	long long v;
	int64_t mult = 1;

	if (!s || !isdigit((unsigned char)*s))
		return ST_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno)
		return ST_EINVAL;
	switch (*end) {
	case 's': end++; break;
	case 'm': mult = 60; end++; break;
	case 'h': mult = 3600; end++; break;
	case 'd': mult = 86400; end++; break;
	default: break;
	}
	if (*end || v > INT64_MAX / mult)
		return ST_EINVAL;
	*out = v * mult;
	return 0;
}

char *st_fmt_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

char *st_fmt_duration(int64_t s, char *buf, size_t len)
{
	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(buf, len, "%lldd %lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, len, "%lldh %lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, len, "%lldm %llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(buf, len, "%llds", (long long)s);
	return buf;
}

int64_t st_now(void)
{
	const char *e = getenv("CURATOR_NOW");

	if (e && *e) {
		char *end;
		long long v = strtoll(e, &end, 10);
		if (!*end)
			return v;
	}
	return (int64_t)time(NULL);
}

uint32_t st_crc32c_update(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	crc = ~crc;
	while (len > 0) {
		int n = len > (1u << 30) ? (1 << 30) : (int)len;
		crc = crc32_iscsi((unsigned char *)p, n, crc);
		p += n;
		len -= (size_t)n;
	}
	return ~crc;
}

uint32_t st_crc32c(const void *buf, size_t len)
{
	return st_crc32c_update(0, buf, len);
}

uint64_t st_hash64(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len;

	while (len >= 8) {
		h = st_mix64(h ^ st_get64(p));
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t w = 0;
		memcpy(&w, p, len);
		h = st_mix64(h ^ w);
	}
	return st_mix64(h);
}

int st_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

long long st_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;
	long long got = 0;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
		got += n;
	}
	return got;
}

int st_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int st_mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

unsigned st_tmp_salt(void)
{
	unsigned v = 0;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (unsigned)st_now() ^ (unsigned)(uintptr_t)&v;
	return v;
}

int st_write_file_atomic(const char *path, const void *buf, size_t len, int mode)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	int fd, rc;
	char *slash;

	/* unique across hosts sharing the directory (a pid alone is not): pid and 32 random bits */
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d.%08x", path, (int)getpid(), st_tmp_salt()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	rc = st_pwrite_full(fd, buf, len, 0);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		strcpy(dir, ".");
	return st_fsync_dir(dir);
}

int st_grow(void *pptr, size_t *cap, size_t n, size_t elem)
{
	void **p = pptr, *nv;
	size_t nc;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 16;
	nv = realloc(*p, nc * elem);
	if (!nv)
		return -ENOMEM;
	*p = nv;
	*cap = nc;
	return 0;
}

struct par_ctx {
	size_t n;
	size_t next; /* taken with __atomic_fetch_add */
	void (*fn)(void *arg, size_t i);
	void *arg;
};

static void *par_worker(void *p)
{
	struct par_ctx *c = p;
	size_t i;

	while ((i = __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED)) < c->n)
		c->fn(c->arg, i);
	return NULL;
}

void st_parallel(size_t n, int threads, void (*fn)(void *arg, size_t i), void *arg)
{
	struct par_ctx c = { n, 0, fn, arg };
	pthread_t th[16];
	int started = 0;

	if (threads <= 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		threads = cpus > 0 ? (int)cpus : 1;
	}
	if (threads > 16)
		threads = 16;
	if ((size_t)threads > n)
		threads = (int)n;
	for (int t = 1; t < threads; t++)
		if (pthread_create(&th[started], NULL, par_worker, &c) == 0)
			started++;
	par_worker(&c);
	for (int t = 0; t < started; t++)
		pthread_join(th[t], NULL);
}

int st_reserve(void *pptr, size_t *cap, size_t need, size_t elem)
{
	void **p = pptr, *nv;
	size_t nc = *cap ? *cap : 16;

	if (need <= *cap)
		return 0;
	while (nc < need)
		nc *= 2;
	nv = realloc(*p, nc * elem);
	if (!nv)
		return -ENOMEM;
	*p = nv;
	*cap = nc;
	return 0;
}

static int rm_one(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(p) < 0 ? -1 : 0;
}

int st_rm_rf(const char *path)
{
	if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

void st_fault_step(void)
{
	static _Atomic long steps; /* this process's steps so far: test-only state, see st_util.h */
	const char *e = getenv("CURATOR_TASK_STEP_DELAY_US"), *stop = getenv("CURATOR_TASK_STEP_STOP");

	if (e && *e)
		usleep((useconds_t)atoi(e));
	if (stop && *stop && ++steps == atol(stop))
		raise(SIGSTOP); /* the test sees it stopped here and kills it with SIGKILL */
}
