/* Test helpers; see helpers.h. */
#include "tests/helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <sqlite3.h>

#include "jobs/job_db.h"

/*
 * Leases (storage/st_lease.h): tests kill writers and runners with -9 and
 * expect the next scans to clean up after the lease TTL, so every suite
 * (and every curator process it starts) runs with a TTL of 4 s unless the
 * environment says otherwise. A test that needs another sets its own.
 */
__attribute__((constructor)) static void th_lease_ttl(void)
{
	setenv("CURATOR_LEASE_TTL", TH_LEASE_TTL, 0);
}

static char tmp_paths[64][PATH_MAX];
static int tmp_n;
static pid_t tmp_owner;

/* Remove this test process's scratch directories (CURATOR_KEEP_TMP=1 keeps them). */
static void tmp_cleanup(void)
{
	const char *keep = getenv("CURATOR_KEEP_TMP");

	if (getpid() != tmp_owner || (keep && *keep == '1'))
		return;
	for (int i = 0; i < tmp_n && i < 64; i++) {
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_paths[i]);
		if (system(cmd) != 0)
			continue;
	}
}

const char *th_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *p = tmp_paths[tmp_n++ % 64];

	if (tmp_owner != getpid()) { /* each forked test process cleans up its own */
		tmp_owner = getpid();
		atexit(tmp_cleanup);
	}
	snprintf(p, PATH_MAX, "%s/curator-test-%s-XXXXXX", base && *base ? base : "/tmp", tag);
	if (!mkdtemp(p))
		abort();
	return p;
}

uint64_t th_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

void th_fill(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t s = seed * 0x2545F4914F6CDD1DULL + 1;

	while (len >= 8) {
		uint64_t v = th_rand(&s);
		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	while (len--)
		*p++ = (uint8_t)th_rand(&s);
}

const char *th_curator(void)
{
	const char *b = getenv("CURATOR_BIN");
	return b && *b ? b : "build/bin/curator";
}

static char *slurp_fd(int fd)
{
	size_t cap = 4096, n = 0;
	char *s = malloc(cap);

	for (;;) {
		ssize_t r;
		if (n + 1 >= cap)
			s = realloc(s, cap *= 2);
		r = read(fd, s + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	s[n] = 0;
	return s;
}

static int wait_status(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

int th_run(const char *dir, const char *in, char **out, char **errout, const char *arg0, ...)
{
	const char *argv[64];
	int n = 0, po[2], pe[2], rc;
	char outf[PATH_MAX], errf[PATH_MAX];
	va_list ap;
	pid_t pid;

	argv[n++] = th_curator();
	argv[n++] = "-C";
	argv[n++] = dir;
	argv[n++] = arg0;
	va_start(ap, arg0);
	while (n < 63 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	(void)po;
	(void)pe;
	/* capture through temp files: no pipe deadlocks on big outputs */
	snprintf(outf, sizeof(outf), "%s/th-out-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	snprintf(errf, sizeof(errf), "%s/th-err-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	pid = fork();
	if (pid == 0) {
		int fi = open(in ? in : "/dev/null", O_RDONLY);
		int fo = open(outf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int fe = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fi, 0);
		dup2(fo, 1);
		dup2(fe, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	rc = wait_status(pid);
	{
		int fd = open(outf, O_RDONLY);
		char *s = slurp_fd(fd);
		close(fd);
		if (out)
			*out = s;
		else
			free(s);
		fd = open(errf, O_RDONLY);
		s = slurp_fd(fd);
		close(fd);
		if (errout)
			*errout = s;
		else
			free(s);
	}
	unlink(outf);
	unlink(errf);
	return rc;
}

pid_t th_spawn(const char *dir, const char *in, const char *outfile, const char *const *args)
{
	const char *argv[64];
	int n = 0;
	pid_t pid;

	argv[n++] = th_curator();
	argv[n++] = "-C";
	argv[n++] = dir;
	for (int i = 0; args[i] && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid = fork();
	if (pid == 0) {
		int fi = open(in ? in : "/dev/null", O_RDONLY);
		int fo = open(outfile ? outfile : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int fe = open("/dev/null", O_WRONLY);
		dup2(fi, 0);
		dup2(fo, 1);
		dup2(fe, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

int th_write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	if (len && fwrite(buf, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

void *th_read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat sb;
	char *buf;
	size_t n = 0;

	if (fd < 0 || fstat(fd, &sb) < 0)
		return NULL;
	buf = malloc((size_t)sb.st_size + 1);
	while (n < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)sb.st_size - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = 0;
	*len = n;
	return buf;
}

int th_lines(const char *s)
{
	int n = 0;
	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

uint8_t *th_real_data(size_t max, size_t *len)
{
	FILE *ls = popen("find /usr/share/doc /usr/lib/x86_64-linux-gnu -maxdepth 2 -type f -size +8k 2>/dev/null"
			 " | LC_ALL=C sort | head -2000",
			 "r");
	uint8_t *buf = malloc(max);
	char name[4096];
	size_t n = 0;

	if (!ls || !buf) {
		if (ls)
			pclose(ls);
		free(buf);
		return NULL;
	}
	while (n < max && fgets(name, sizeof(name), ls)) {
		size_t flen;
		uint8_t *f;
		name[strcspn(name, "\n")] = 0;
		f = th_read_file(name, &flen);
		if (!f)
			continue;
		if (flen > max - n)
			flen = max - n;
		memcpy(buf + n, f, flen);
		n += flen;
		free(f);
	}
	pclose(ls);
	*len = n;
	if (!n) {
		free(buf);
		return NULL;
	}
	return buf;
}

int th_zlib_inflate(const uint8_t *in, size_t len, uint8_t *out, size_t raw)
{
	z_stream z;
	int ok;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, -15) != Z_OK)
		return -1;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)raw;
	ok = inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == raw && z.avail_in == 0;
	inflateEnd(&z);
	return ok ? 0 : -1;
}

int th_run_ranks(int ranks, const char *dir, const char *const *args)
{
	const char *argv[40];
	char nr[8];
	int n = 0, st;
	pid_t pid;

	if (ranks > 1) {
		snprintf(nr, sizeof(nr), "%d", ranks);
		argv[n++] = getenv("MPIEXEC") ? getenv("MPIEXEC") : "mpiexec.mpich";
		argv[n++] = "-n";
		argv[n++] = nr;
	}
	argv[n++] = th_curator();
	argv[n++] = "-C";
	argv[n++] = dir;
	for (int i = 0; args[i] && n < 39; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_WRONLY);
		dup2(nul, 1);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

long long th_sh_number(const char *fmt, ...)
{
	char cmd[8192];
	long long v = -1;
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (fscanf(p, "%lld", &v) != 1)
		v = -1;
	pclose(p);
	return v;
}

int th_jq(const char *dir, const char *args, const char *filter)
{
	char cmd[8192];

	snprintf(cmd, sizeof(cmd), "'%s' -C '%s' %s | jq -e '%s' >/dev/null", th_curator(), dir, args, filter);
	return system(cmd) == 0 ? 0 : 1;
}

char *th_jq_get(const char *dir, const char *args, const char *filter, char *buf, size_t len)
{
	char cmd[8192];
	FILE *p;

	buf[0] = 0;
	snprintf(cmd, sizeof(cmd), "'%s' -C '%s' %s | jq -r '%s'", th_curator(), dir, args, filter);
	p = popen(cmd, "r");
	if (!p)
		return buf;
	if (fgets(buf, (int)len, p))
		buf[strcspn(buf, "\n")] = 0;
	pclose(p);
	return buf;
}

int th_s3_url(char *buf, size_t len)
{
	const char *ep = getenv("S3_ENDPOINT"), *b = getenv("S3_BUCKET");

	if (!ep || !b || strncmp(ep, "http://", 7))
		return -1;
	snprintf(buf, len, "s3://%s@%s", b, ep + 7);
	return 0;
}

int th_vdisk_pattern(const char *dir, const char *c, const char *name, size_t len, uint64_t seed)
{
	char path[2048], size[32];
	uint8_t *buf = malloc(len);
	int rc;

	if (!buf)
		return -1;
	th_fill(buf, len, seed);
	snprintf(size, sizeof(size), "%zuM", (len >> 20) + 1);
	snprintf(path, sizeof(path), "%s/%s.data", dir, name);
	rc = th_write_file(path, buf, len);
	free(buf);
	if (!rc)
		rc = th_run(dir, NULL, NULL, NULL, "vdisk", "create", name, "--container", c, "--size", size, NULL);
	if (!rc)
		rc = th_run(dir, NULL, NULL, NULL, "vdisk", "write", name, path, NULL);
	return rc;
}

const char *th_queue_cmds(const char *dir)
{
	static char buf[8192];

	snprintf(buf, sizeof(buf),
		 "-cmd \".timeout 5000\" -cmd \"ATTACH '%s/curator-q1.db' AS q1\""
		 " -cmd \"CREATE TEMP VIEW tasks AS SELECT * FROM main.tasks UNION ALL SELECT * FROM q1.tasks\""
		 " -cmd \"CREATE TEMP VIEW queue_sums AS SELECT kind, priority, sum(pending) AS pending,"
		 " sum(running) AS running, sum(bytes) AS bytes FROM (SELECT * FROM main.queue_sums UNION ALL"
		 " SELECT * FROM q1.queue_sums) GROUP BY kind, priority\"",
		 dir);
	return buf;
}

struct sqlite3 *th_curator_db(const char *dir)
{
	char p[4200];
	struct st_msg err = { "" };
	sqlite3 *db = NULL;

	snprintf(p, sizeof(p), "%s/curator.db", dir);
	if (sqlite3_open(p, &db) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", p, db ? sqlite3_errmsg(db) : "cannot open");
		abort();
	}
	sqlite3_busy_timeout(db, 10000);
	if (job_db_sql_attach_queue(db, dir, &err)) {
		fprintf(stderr, "%s: %s\n", p, err.text);
		abort();
	}
	return db;
}
