/*
 * st_cloud_local: the cloud tier's local-directory backend (the embedded
 * default, "DIR" or "file://DIR"), behind st_cloud_ops (st_cloud_int.h).
 *
 * DESIGN. A key "a/b/c" is the file DIR/a/b/c. An object is written whole
 * to "<path>.tmp.<pid>.<random>" and renamed over its name, so a reader sees the old
 * object or the new one, never a torn one; listings skip the temporary
 * files. put_many writes a whole group first and then makes all of it
 * durable with one syncfs() of DIR's filesystem (the data and the renames),
 * and only then reads each object back through a read-only mapping and
 * compares its CRC32C with the caller's buffer: a put that returns 0 is
 * durable and verified, the same promise S3 gives (st_cloud.h).
 *
 * Safety rule: a key never leaves DIR (".." and a leading '/' are
 * ST_EINVAL). The state is DIR only, read-only after open, so two put_many
 * calls may run at once on one handle (put_parallel 2: one group's sync
 * overlaps the next group's writes).
 */
#include "storage/st_cloud_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct local {
	char dir[ST_PATH_MAX];
};

static const char *dir_of(const struct st_cloud *c)
{
	return ((const struct local *)c->be)->dir;
}

static int local_open(struct st_cloud *c, const char *url, const char *loc, const char *cred_file,
		      struct st_msg *err)
{
	struct local *l;

	if (!*loc)
		return st_fail(err, ST_EINVAL, "cloud URL '%s': expected s3://BUCKET@HOST:PORT or a directory", url);
	l = calloc(1, sizeof(*l));
	if (!l)
		return st_fail(err, -ENOMEM, "out of memory");
	snprintf(l->dir, sizeof(l->dir), "%s", loc);
	c->be = l;
	return 0;
}

static void local_close(struct st_cloud *c)
{
	free(c->be);
	c->be = NULL;
}

static int local_path(const struct st_cloud *c, const char *key, char *buf, size_t len)
{
	if (strstr(key, "..") || key[0] == '/')
		return ST_EINVAL;
	return snprintf(buf, len, "%s/%s", dir_of(c), key) >= (int)len ? -ENAMETOOLONG : 0;
}

static int local_check(struct st_cloud *c, struct st_msg *err)
{
	const char *dir = dir_of(c);
	struct stat sb;

	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return st_fail(err, ST_ENOTFOUND, "cloud directory %s: %s", dir,
			       errno ? strerror(errno) : "not a directory");
	if (access(dir, W_OK) < 0)
		return st_fail(err, -EACCES, "cloud directory %s: not writable", dir);
	return 0;
}

/*
 * Read the stored object back and compare its CRC32C with buf's: through a
 * read-only mapping of the file (the page cache's pages, no copy). 0,
 * ST_ECORRUPT, -errno.
 */
static int local_verify(const char *path, const void *buf, size_t len)
{
	struct stat sb;
	void *map;
	int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0 || (size_t)sb.st_size != len) {
		close(fd);
		return ST_ECORRUPT;
	}
	map = len ? mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) : NULL;
	close(fd);
	if (len && map == MAP_FAILED)
		return -errno;
	if (len && st_crc32c(map, len) != st_crc32c(buf, len))
		rc = ST_ECORRUPT;
	if (len)
		munmap(map, len);
	return rc;
}

static int local_get(struct st_cloud *c, const char *key, uint64_t off, size_t len, void *buf, struct st_msg *err)
{
	char path[ST_PATH_MAX + 300];
	int fd, rc = local_path(c, key, path, sizeof(path));

	if (rc)
		return st_fail(err, rc, "cloud key '%s': invalid", key);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return st_fail(err, errno == ENOENT ? ST_ENOTFOUND : -errno, "cloud %s: %s", path, strerror(errno));
	{
		long long n = st_pread_full(fd, buf, len, off);
		close(fd);
		if (n < 0)
			return st_fail(err, (int)n, "cloud %s: %s", path, st_strerror((int)n));
		if ((size_t)n != len)
			return st_fail(err, ST_ECORRUPT, "cloud %s: %lld of %zu bytes at %llu (short object)", path, n, len,
				       (unsigned long long)off);
	}
	return 0;
}

static int local_delete(struct st_cloud *c, const char *key, struct st_msg *err)
{
	char path[ST_PATH_MAX + 300];
	int rc = local_path(c, key, path, sizeof(path));

	if (rc)
		return st_fail(err, rc, "cloud key '%s': invalid", key);
	if (unlink(path) < 0 && errno != ENOENT)
		return st_fail(err, -errno, "cloud %s: %s", path, strerror(errno));
	return 0;
}

static int local_list(struct st_cloud *c, const char *prefix, st_cloud_list_cb cb, void *arg, struct st_msg *err)
{
	char dir[ST_PATH_MAX + 300], sub[256];
	const char *slash = strrchr(prefix, '/');
	struct dirent *e;
	DIR *dh;
	int rc = 0;

	/* keys are "<dir>/<name>": list the directory of the prefix */
	snprintf(sub, sizeof(sub), "%.*s", slash ? (int)(slash - prefix) : 0, prefix);
	snprintf(dir, sizeof(dir), "%s/%s", dir_of(c), sub);
	dh = opendir(dir);
	if (!dh)
		return errno == ENOENT ? 0 : st_fail(err, -errno, "cloud %s: %s", dir, strerror(errno));
	while (!rc && (e = readdir(dh))) {
		char key[600], path[ST_PATH_MAX + 600];
		struct stat sb;
		if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp."))
			continue;
		snprintf(key, sizeof(key), "%s%s%s", sub, sub[0] ? "/" : "", e->d_name);
		if (strncmp(key, prefix, strlen(prefix)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
			rc = cb(arg, key, (uint64_t)sb.st_size, (int64_t)sb.st_mtime);
	}
	closedir(dh);
	return rc;
}

/*
 * Every object to its temporary file and renamed, then one syncfs() makes
 * them all durable at once (and their renames: same filesystem), then each
 * is read back and compared.
 */
static int local_put_many(struct st_cloud *c, int n, const char *const *keys, const void *const *bufs,
			  const size_t *lens, int *rcs, struct st_msg *err)
{
	int dfd, any = 0;

	for (int i = 0; i < n; i++) {
		char path[ST_PATH_MAX + 300], tmp[ST_PATH_MAX + 340], dir[ST_PATH_MAX + 300];
		int fd, rc = local_path(c, keys[i], path, sizeof(path));
		if (!rc) {
			snprintf(dir, sizeof(dir), "%s", path);
			*strrchr(dir, '/') = 0;
			rc = st_mkdir_p(dir);
		}
		if (!rc) {
			snprintf(tmp, sizeof(tmp), "%s.tmp.%d.%08x", path, (int)getpid(), st_tmp_salt());
			fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			rc = fd < 0 ? -errno : st_pwrite_full(fd, bufs[i], lens[i], 0);
			if (fd >= 0) {
				sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE); /* writeback starts now */
				close(fd);
			}
			if (!rc && rename(tmp, path) < 0)
				rc = -errno;
			if (rc)
				unlink(tmp);
		}
		rcs[i] = rc;
		if (rc)
			st_fail(err, rc, "cloud %s: %s", path, st_strerror(rc));
		any |= !rc;
	}
	if (!any)
		return 0;
	dfd = open(dir_of(c), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || syncfs(dfd) < 0) {
		int rc = -errno;
		if (dfd >= 0)
			close(dfd);
		for (int i = 0; i < n; i++)
			if (!rcs[i])
				rcs[i] = rc;
		return st_fail(err, rc, "cloud %s: sync: %s", dir_of(c), st_strerror(rc));
	}
	close(dfd);
	for (int i = 0; i < n; i++) { /* verify: read each back and compare checksums */
		char path[ST_PATH_MAX + 300];
		if (rcs[i])
			continue;
		local_path(c, keys[i], path, sizeof(path));
		rcs[i] = local_verify(path, bufs[i], lens[i]);
		if (rcs[i])
			st_fail(err, rcs[i], "cloud %s: the stored object does not read back (%s)", path, st_strerror(rcs[i]));
	}
	return 0;
}

const struct st_cloud_ops st_cloud_local_ops = {
	.name = "local",
	.put_parallel = 2,
	.open = local_open,
	.close = local_close,
	.check = local_check,
	.put_many = local_put_many,
	.get = local_get,
	.del = local_delete,
	.list = local_list,
};
