/*
 * st_cloud: see st_cloud.h. The S3 side follows ../shared/S3-NOTES.md for
 * libcurl 7.88: x-amz-content-sha256 always set (the body's hash on PUT),
 * the query built already canonical (sorted, encoded), keys encoded by
 * hand, CURLOPT_USERNAME/PASSWORD, CURLOPT_INFILESIZE_LARGE on PUT,
 * path-style URLs.
 */
#include "storage/st_cloud.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <expat.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum backend { LOCAL, S3 };

struct st_cloud {
	enum backend kind;
	char url[ST_PATH_MAX];
	char dir[ST_PATH_MAX];     /* LOCAL */
	char endpoint[512];        /* S3: http://host:port */
	char bucket[256];
	char access[256], secret[256];
	char prefix[128];          /* prepended to every key (st_cloud_set_prefix) */
	CURL *curl;
};

void st_cloud_set_prefix(struct st_cloud *c, const char *prefix)
{
	snprintf(c->prefix, sizeof(c->prefix), "%s", prefix ? prefix : "");
}

/* The stored name of key. */
static const char *full_key(const struct st_cloud *c, const char *key, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", c->prefix, key);
	return buf;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

const char *st_cloud_url(const struct st_cloud *c)
{
	return c->url;
}

void st_cloud_egroup_key(uint64_t egroup, char *buf, size_t len)
{
	snprintf(buf, len, "egroups/%016llx.eg", (unsigned long long)egroup);
}

/* --- credentials ---------------------------------------------------------- */

static void trim(char *s)
{
	size_t n = strlen(s);
	char *p = s;

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = 0;
	while (*p == ' ' || *p == '\t')
		p++;
	memmove(s, p, strlen(p) + 1);
}

static int load_credentials(struct st_cloud *c, const char *file, struct st_msg *err)
{
	const char *ak, *sk;

	if (file && *file) {
		struct stat sb;
		char line[600];
		FILE *f;
		if (stat(file, &sb) < 0)
			return st_fail(err, ST_EINVAL, "credentials file %s: %s", file, strerror(errno));
		if (sb.st_mode & 077)
			return st_fail(err, ST_EINVAL, "credentials file %s: readable by others (mode %03o); chmod 600 it",
				       file, (unsigned)(sb.st_mode & 0777));
		f = fopen(file, "r");
		if (!f)
			return st_fail(err, ST_EINVAL, "credentials file %s: %s", file, strerror(errno));
		while (fgets(line, sizeof(line), f)) {
			char *eq = strchr(line, '=');
			if (!eq || line[0] == '#')
				continue;
			*eq++ = 0;
			trim(line);
			trim(eq);
			if (!strcmp(line, "access_key") || !strcmp(line, "aws_access_key_id"))
				snprintf(c->access, sizeof(c->access), "%s", eq);
			else if (!strcmp(line, "secret_key") || !strcmp(line, "aws_secret_access_key"))
				snprintf(c->secret, sizeof(c->secret), "%s", eq);
		}
		fclose(f);
		if (!c->access[0] || !c->secret[0])
			return st_fail(err, ST_EINVAL, "credentials file %s: expected access_key = ... and secret_key = ...",
				       file);
		return 0;
	}
	ak = getenv("CURATOR_S3_ACCESS_KEY");
	sk = getenv("CURATOR_S3_SECRET_KEY");
	if (!ak || !sk) {
		ak = getenv("AWS_ACCESS_KEY_ID");
		sk = getenv("AWS_SECRET_ACCESS_KEY");
	}
	if (!ak || !sk || !*ak || !*sk)
		return st_fail(err, ST_EINVAL,
			       "s3: no credentials (a 0600 file via --credentials, or CURATOR_S3_ACCESS_KEY and "
			       "CURATOR_S3_SECRET_KEY in the environment)");
	snprintf(c->access, sizeof(c->access), "%s", ak);
	snprintf(c->secret, sizeof(c->secret), "%s", sk);
	return 0;
}

int st_cloud_open(const char *url, const char *cred_file, struct st_cloud **out, struct st_msg *err)
{
	struct st_cloud *c = calloc(1, sizeof(*c));
	int rc = 0;

	if (!c)
		return st_fail(err, -ENOMEM, "out of memory");
	snprintf(c->url, sizeof(c->url), "%s", url);
	if (!strncmp(url, "s3://", 5)) {
		const char *at = strchr(url + 5, '@');
		const char *hp = at ? at + 1 : NULL;
		c->kind = S3;
		if (!at || at == url + 5 || !*hp || strchr(hp, '/') || !strchr(hp, ':') ||
		    (size_t)(at - url - 5) >= sizeof(c->bucket)) {
			free(c);
			return st_fail(err, ST_EINVAL, "cloud URL '%s': expected s3://BUCKET@HOST:PORT", url);
		}
		memcpy(c->bucket, url + 5, (size_t)(at - url - 5));
		snprintf(c->endpoint, sizeof(c->endpoint), "http://%s", hp);
		rc = load_credentials(c, cred_file, err);
		if (!rc) {
			pthread_once(&curl_once, curl_init_once);
			c->curl = curl_easy_init();
			if (!c->curl)
				rc = st_fail(err, -ENOMEM, "s3: cannot start libcurl");
		}
	} else {
		const char *d = !strncmp(url, "file://", 7) ? url + 7 : url;
		c->kind = LOCAL;
		if (!*d) {
			free(c);
			return st_fail(err, ST_EINVAL, "cloud URL '%s': expected s3://BUCKET@HOST:PORT or a directory", url);
		}
		snprintf(c->dir, sizeof(c->dir), "%s", d);
	}
	if (rc) {
		st_cloud_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void st_cloud_free(struct st_cloud *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	memset(c->secret, 0, sizeof(c->secret));
	free(c);
}

/* --- local backend ---------------------------------------------------------- */

static int local_path(const struct st_cloud *c, const char *key, char *buf, size_t len)
{
	if (strstr(key, "..") || key[0] == '/')
		return ST_EINVAL;
	return snprintf(buf, len, "%s/%s", c->dir, key) >= (int)len ? -ENAMETOOLONG : 0;
}

static int local_check(struct st_cloud *c, struct st_msg *err)
{
	struct stat sb;

	if (stat(c->dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return st_fail(err, ST_ENOTFOUND, "cloud directory %s: %s", c->dir,
			       errno ? strerror(errno) : "not a directory");
	if (access(c->dir, W_OK) < 0)
		return st_fail(err, -EACCES, "cloud directory %s: not writable", c->dir);
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
	snprintf(dir, sizeof(dir), "%s/%s", c->dir, sub);
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

/* --- S3 backend ------------------------------------------------------------- */

/* Percent-encode s, keeping A-Za-z0-9-_.~ (and '/' when keep_slash). */
static void uri_encode(const char *s, int keep_slash, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s && o + 4 < len; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		    ch == '_' || ch == '.' || ch == '~' || (keep_slash && ch == '/')) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = 0;
}

static void hex_digest(const EVP_MD *md, const void *buf, size_t len, char *out)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	EVP_Digest(buf, len, d, &n, md, NULL);
	for (unsigned i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
	out[2 * n] = 0;
}

struct xfer {
	/* upload */
	const uint8_t *src;
	size_t srclen, srcoff;
	/* download into a fixed buffer (range GET) or a growing one (listing, errors) */
	uint8_t *dst;
	size_t dstcap, dstlen;
	int overflow;
	char *body;
	size_t bodylen, bodycap;
	char etag[80];
};

static size_t on_read(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t want = size * n, left = x->srclen - x->srcoff;

	if (want > left)
		want = left;
	memcpy(p, x->src + x->srcoff, want);
	x->srcoff += want;
	return want;
}

static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t got = size * n;

	if (x->dst) {
		if (x->dstlen + got > x->dstcap) {
			x->overflow = 1;
			got = x->dstcap - x->dstlen;
		}
		memcpy(x->dst + x->dstlen, p, got);
		x->dstlen += got;
		return size * n;
	}
	if (x->bodylen + got + 1 > x->bodycap) {
		size_t nc = (x->bodylen + got + 1) * 2;
		char *nb = realloc(x->body, nc);
		if (!nb)
			return 0;
		x->body = nb;
		x->bodycap = nc;
	}
	memcpy(x->body + x->bodylen, p, got);
	x->bodylen += got;
	x->body[x->bodylen] = 0;
	return got;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (len > 5 && !strncasecmp(p, "etag:", 5)) {
		size_t o = 0;
		for (size_t i = 5; i < len && o + 1 < sizeof(x->etag); i++)
			if (p[i] != '"' && p[i] != ' ' && p[i] != '\r' && p[i] != '\n')
				x->etag[o++] = p[i];
		x->etag[o] = 0;
	}
	return len;
}

/* The <Code> of an S3 error body, if any. */
static void s3_code(const char *body, char *code, size_t len)
{
	const char *a = body ? strstr(body, "<Code>") : NULL, *b = a ? strstr(a, "</Code>") : NULL;

	if (a && b && b > a + 6)
		snprintf(code, len, "%.*s", (int)(b - a - 6), a + 6);
	else
		snprintf(code, len, "%s", "");
}

/*
 * One S3 request: method on /bucket[/key][?query] (query already
 * canonical). body/len for PUT. Returns 0 with *status, or a transport error.
 */
static int s3_request(struct st_cloud *c, const char *method, const char *key, const char *query, struct xfer *x,
		      long *status, struct st_msg *err)
{
	CURL *h = c->curl;
	struct curl_slist *hdr = NULL;
	char url[2048], ekey[1024] = "", sha[80] = "UNSIGNED-PAYLOAD", line[160];
	CURLcode cc;

	if (key)
		uri_encode(key, 1, ekey, sizeof(ekey));
	snprintf(url, sizeof(url), "%s/%s%s%s%s%s", c->endpoint, c->bucket, key ? "/" : "", ekey, query ? "?" : "",
		 query ? query : "");
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
	curl_easy_setopt(h, CURLOPT_USERNAME, c->access);
	curl_easy_setopt(h, CURLOPT_PASSWORD, c->secret);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	if (!strcmp(method, "PUT")) {
		hex_digest(EVP_sha256(), x->src, x->srclen, sha); /* signed: end-to-end integrity */
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, x);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->srclen);
		/* (an "Expect:" header to skip 100-continue would be signed empty, then dropped: 403) */
	} else if (!strcmp(method, "DELETE")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
	} else if (!strcmp(method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	}
	snprintf(line, sizeof(line), "x-amz-content-sha256: %s", sha);
	hdr = curl_slist_append(hdr, line);
	if (x->dst && x->dstcap) {
		snprintf(line, sizeof(line), "Range: bytes=%llu-%llu", (unsigned long long)x->srcoff,
			 (unsigned long long)(x->srcoff + x->dstcap - 1));
		hdr = curl_slist_append(hdr, line);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	cc = curl_easy_perform(h);
	curl_slist_free_all(hdr);
	if (cc != CURLE_OK) {
		int rc = cc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
		return st_fail(err, rc, "s3 %s %s: %s", method, c->endpoint, curl_easy_strerror(cc));
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	return 0;
}

/* Map a non-2xx status (and the error body's Code) to one line. */
static int s3_status(const struct st_cloud *c, const char *what, const char *key, long status, const struct xfer *x,
		     struct st_msg *err)
{
	char code[80];

	s3_code(x->body, code, sizeof(code));
	if (status == 403)
		return st_fail(err, -EACCES, "s3 %s %s/%s: access denied (%s): check the credentials", what, c->bucket,
			       key ? key : "", code[0] ? code : "403");
	if (status == 404)
		return st_fail(err, ST_ENOTFOUND, "s3 %s %s/%s: %s", what, c->bucket, key ? key : "",
			       code[0] ? code : "not found");
	return st_fail(err, -EIO, "s3 %s %s/%s: HTTP %ld %s", what, c->bucket, key ? key : "", status, code);
}

static int s3_put(struct st_cloud *c, const char *key, const void *buf, size_t len, struct st_msg *err)
{
	struct xfer x = { .src = buf, .srclen = len };
	char md5[40];
	long status = 0;
	int rc = s3_request(c, "PUT", key, NULL, &x, &status, err);

	if (!rc && (status < 200 || status > 299))
		rc = s3_status(c, "PUT", key, status, &x, err);
	if (!rc) { /* a single-part PUT's ETag is the MD5 of what the server stored */
		hex_digest(EVP_md5(), buf, len, md5);
		if (strcasecmp(x.etag, md5))
			rc = st_fail(err, ST_ECORRUPT, "s3 PUT %s/%s: stored object does not verify (ETag %s, MD5 %s)",
				     c->bucket, key, x.etag[0] ? x.etag : "missing", md5);
	}
	free(x.body);
	return rc;
}

static int s3_get(struct st_cloud *c, const char *key, uint64_t off, size_t len, void *buf, struct st_msg *err)
{
	struct xfer x = { .dst = buf, .dstcap = len, .srcoff = (size_t)off };
	long status = 0;
	int rc;

	if (!len)
		return 0;
	rc = s3_request(c, "GET", key, NULL, &x, &status, err);
	if (!rc && (status < 200 || status > 299)) {
		/* an error body landed in buf: turn it into text for the code */
		x.body = calloc(1, x.dstlen + 1);
		if (x.body)
			memcpy(x.body, buf, x.dstlen);
		rc = s3_status(c, "GET", key, status, &x, err);
	}
	if (!rc && (x.dstlen != len || (status == 200 && off != 0)))
		rc = st_fail(err, ST_ECORRUPT, "s3 GET %s/%s: %zu of %zu bytes at %llu", c->bucket, key, x.dstlen, len,
			     (unsigned long long)off);
	free(x.body);
	return rc;
}

static int s3_delete(struct st_cloud *c, const char *key, struct st_msg *err)
{
	struct xfer x = { 0 };
	long status = 0;
	int rc = s3_request(c, "DELETE", key, NULL, &x, &status, err);

	if (!rc && status != 404 && (status < 200 || status > 299))
		rc = s3_status(c, "DELETE", key, status, &x, err);
	free(x.body);
	return rc;
}

/* ListObjectsV2 response, parsed by element name (namespaces differ between servers). */
struct lst {
	char path[4][32];
	int depth;
	char text[1024];
	size_t tlen;
	char key[1024];
	uint64_t size;
	int64_t mtime;
	int truncated;
	char token[1024];
	char code[80];
	st_cloud_list_cb cb;
	void *arg;
	int rc;
};

static const char *local_name(const char *n)
{
	const char *c = strrchr(n, ':');
	return c ? c + 1 : n;
}

static void XMLCALL x_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct lst *l = ud;

	(void)attrs;
	if (l->depth < 4)
		snprintf(l->path[l->depth], sizeof(l->path[0]), "%s", local_name(name));
	l->depth++;
	l->tlen = 0;
	l->text[0] = 0;
}

static int64_t iso_time(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

static void XMLCALL x_end(void *ud, const XML_Char *name)
{
	struct lst *l = ud;
	const char *n = local_name(name);
	int in_contents = l->depth >= 2 && !strcmp(l->path[1], "Contents");

	if (in_contents && !strcmp(n, "Key"))
		snprintf(l->key, sizeof(l->key), "%s", l->text);
	else if (in_contents && !strcmp(n, "Size"))
		l->size = strtoull(l->text, NULL, 10);
	else if (in_contents && !strcmp(n, "LastModified"))
		l->mtime = iso_time(l->text);
	else if (!strcmp(n, "Contents") && l->depth == 2 && !l->rc && l->key[0])
		l->rc = l->cb(l->arg, l->key, l->size, l->mtime);
	else if (!strcmp(n, "IsTruncated"))
		l->truncated = !strcmp(l->text, "true");
	else if (!strcmp(n, "NextContinuationToken"))
		snprintf(l->token, sizeof(l->token), "%s", l->text);
	else if (!strcmp(n, "Code"))
		snprintf(l->code, sizeof(l->code), "%s", l->text);
	if (!strcmp(n, "Contents")) {
		l->key[0] = 0;
		l->size = 0;
		l->mtime = 0;
	}
	l->depth--;
	l->tlen = 0;
}

static void XMLCALL x_text(void *ud, const XML_Char *s, int len)
{
	struct lst *l = ud;

	if (len > 0 && l->tlen + (size_t)len < sizeof(l->text)) {
		memcpy(l->text + l->tlen, s, (size_t)len);
		l->tlen += (size_t)len;
		l->text[l->tlen] = 0;
	}
}

static int s3_list(struct st_cloud *c, const char *prefix, st_cloud_list_cb cb, void *arg, struct st_msg *err)
{
	char token[1024] = "", eprefix[600], etoken[3100], query[4096];
	int rc = 0;

	uri_encode(prefix, 0, eprefix, sizeof(eprefix));
	do {
		struct xfer x = { 0 };
		struct lst l = { .cb = cb, .arg = arg };
		XML_Parser p;
		long status = 0;

		uri_encode(token, 0, etoken, sizeof(etoken));
		/* canonical: sorted by name, every value encoded, '=' always present */
		if (token[0])
			snprintf(query, sizeof(query), "continuation-token=%s&list-type=2&max-keys=1000&prefix=%s", etoken,
				 eprefix);
		else
			snprintf(query, sizeof(query), "list-type=2&max-keys=1000&prefix=%s", eprefix);
		rc = s3_request(c, "GET", NULL, query, &x, &status, err);
		if (!rc && (status < 200 || status > 299))
			rc = s3_status(c, "LIST", prefix, status, &x, err);
		if (!rc) {
			p = XML_ParserCreate(NULL);
			if (!p) {
				free(x.body);
				return st_fail(err, -ENOMEM, "out of memory");
			}
			XML_SetUserData(p, &l);
			XML_SetElementHandler(p, x_start, x_end);
			XML_SetCharacterDataHandler(p, x_text);
			if (XML_Parse(p, x.body ? x.body : "", (int)x.bodylen, 1) == XML_STATUS_ERROR)
				rc = st_fail(err, -EIO, "s3 LIST %s: unreadable listing (%s)", c->bucket,
					     XML_ErrorString(XML_GetErrorCode(p)));
			XML_ParserFree(p);
			if (!rc)
				rc = l.rc;
		}
		free(x.body);
		snprintf(token, sizeof(token), "%s", l.truncated ? l.token : "");
	} while (!rc && token[0]);
	return rc;
}

static int s3_check(struct st_cloud *c, struct st_msg *err)
{
	struct xfer x = { 0 };
	long status = 0;
	int rc = s3_request(c, "GET", NULL, "list-type=2&max-keys=1&prefix=", &x, &status, err);

	if (!rc && (status < 200 || status > 299))
		rc = s3_status(c, "LIST", NULL, status, &x, err);
	free(x.body);
	return rc;
}

/*
 * Local: every object to its temporary file and renamed, then one syncfs()
 * makes them all durable at once (and their renames: same filesystem), then
 * each is read back and compared.
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
			snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
			fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
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
	dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || syncfs(dfd) < 0) {
		int rc = -errno;
		if (dfd >= 0)
			close(dfd);
		for (int i = 0; i < n; i++)
			if (!rcs[i])
				rcs[i] = rc;
		return st_fail(err, rc, "cloud %s: sync: %s", c->dir, st_strerror(rc));
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

/* --- dispatch ----------------------------------------------------------------- */

int st_cloud_put_parallel(const struct st_cloud *c)
{
	return c->kind == LOCAL ? 2 : 1;
}

int st_cloud_put_many(struct st_cloud *c, int n, const char *const *keys, const void *const *bufs, const size_t *lens,
		      int *rcs, struct st_msg *err)
{
	char (*k)[1024] = calloc((size_t)n + 1, sizeof(*k));
	const char **kp = calloc((size_t)n + 1, sizeof(*kp));
	int rc = 0;

	if (!k || !kp) {
		free(k);
		free(kp);
		return st_fail(err, -ENOMEM, "out of memory");
	}
	for (int i = 0; i < n; i++)
		kp[i] = full_key(c, keys[i], k[i], sizeof(k[i]));
	if (c->kind == LOCAL)
		rc = local_put_many(c, n, kp, bufs, lens, rcs, err);
	else
		for (int i = 0; i < n; i++) /* each PUT is durable and verified when it returns */
			rcs[i] = s3_put(c, kp[i], bufs[i], lens[i], err);
	free(k);
	free(kp);
	return rc;
}

int st_cloud_check(struct st_cloud *c, struct st_msg *err)
{
	return c->kind == S3 ? s3_check(c, err) : local_check(c, err);
}

int st_cloud_put(struct st_cloud *c, const char *key, const void *buf, size_t len, struct st_msg *err)
{
	int one, rc = st_cloud_put_many(c, 1, &key, &buf, &len, &one, err);

	return rc ? rc : one;
}

int st_cloud_get(struct st_cloud *c, const char *key, uint64_t off, size_t len, void *buf, struct st_msg *err)
{
	char k[1024];

	full_key(c, key, k, sizeof(k));
	return c->kind == S3 ? s3_get(c, k, off, len, buf, err) : local_get(c, k, off, len, buf, err);
}

int st_cloud_delete(struct st_cloud *c, const char *key, struct st_msg *err)
{
	char k[1024];

	full_key(c, key, k, sizeof(k));
	return c->kind == S3 ? s3_delete(c, k, err) : local_delete(c, k, err);
}

/* Listing callbacks see keys without the handle's prefix. */
struct unprefix {
	size_t skip;
	st_cloud_list_cb cb;
	void *arg;
};

static int unprefix_cb(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct unprefix *u = arg;

	return strlen(key) >= u->skip ? u->cb(u->arg, key + u->skip, size, mtime) : 0;
}

int st_cloud_list(struct st_cloud *c, const char *prefix, st_cloud_list_cb cb, void *arg, struct st_msg *err)
{
	struct unprefix u = { strlen(c->prefix), cb, arg };
	char k[1024];

	full_key(c, prefix, k, sizeof(k));
	return c->kind == S3 ? s3_list(c, k, unprefix_cb, &u, err) : local_list(c, k, unprefix_cb, &u, err);
}
