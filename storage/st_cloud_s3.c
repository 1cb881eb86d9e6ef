/*
 * st_cloud_s3: the cloud tier's S3 backend ("s3://BUCKET@HOST:PORT"),
 * behind st_cloud_ops (st_cloud_int.h): an S3-compatible server over HTTP
 * with libcurl, path-style URLs, SigV4 (region us-east-1), ListObjectsV2
 * parsed with expat, credentials from a 0600 file or the environment.
 *
 * DESIGN. One handle keeps one libcurl easy handle (one connection, reused
 * between requests), so every verb is one thread per handle (put_parallel
 * 1). s3_request builds and signs one request; the verbs map its HTTP
 * status to the error codes of st_cloud.h. It follows ../shared/S3-NOTES.md
 * for libcurl 7.88: x-amz-content-sha256 always set (the body's hash on
 * PUT), the query built already canonical (sorted, encoded), keys encoded
 * by hand, CURLOPT_USERNAME/PASSWORD, CURLOPT_INFILESIZE_LARGE on PUT.
 *
 * Safety rules: a PUT returns 0 only when it is durable on the server and
 * verified (the payload's SHA-256 is signed, and the ETag of a single-part
 * PUT must equal the MD5 of our bytes); a GET that comes back short or
 * whole when a range was asked is ST_ECORRUPT. The secret key is wiped when
 * the handle is freed and never appears in a message.
 *
 * The two parsers of bytes from outside, the credentials file and the
 * listing, are plain functions on raw bytes (st_cloud_s3_cred_parse,
 * st_cloud_s3_list_parse) so they can be fuzzed without a server.
 */
#include "storage/st_cloud_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <expat.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct s3 {
	char endpoint[512]; /* http://host:port */
	char bucket[256];
	struct st_cloud_s3_cred cred;
	CURL *curl;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
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

/* One line (or a piece of one) of a credentials file. */
static void cred_line(char *line, struct st_cloud_s3_cred *cred)
{
	char *eq = strchr(line, '=');

	if (!eq || line[0] == '#')
		return;
	*eq++ = 0;
	trim(line);
	trim(eq);
	if (!strcmp(line, "access_key") || !strcmp(line, "aws_access_key_id"))
		snprintf(cred->access, sizeof(cred->access), "%s", eq);
	else if (!strcmp(line, "secret_key") || !strcmp(line, "aws_secret_access_key"))
		snprintf(cred->secret, sizeof(cred->secret), "%s", eq);
}

int st_cloud_s3_cred_parse(const char *text, size_t len, struct st_cloud_s3_cred *cred)
{
	size_t i = 0;

	memset(cred, 0, sizeof(*cred));
	while (i < len) { /* pieces as fgets() with a 600-byte buffer reads them */
		char line[600];
		size_t n = 0;
		while (i < len && n + 1 < sizeof(line)) {
			line[n] = text[i++];
			if (line[n++] == '\n')
				break;
		}
		line[n] = 0;
		cred_line(line, cred);
		memset(line, 0, sizeof(line));
	}
	return cred->access[0] && cred->secret[0] ? 0 : ST_EINVAL;
}

/* The whole of a small file (what it could read): *out (malloc'd, caller frees) and *len. 0 or -ENOMEM. */
static int read_all(FILE *f, char **out, size_t *len)
{
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	do {
		if (n == cap && st_reserve(&buf, &cap, cap + 4096, 1)) {
			free(buf);
			return -ENOMEM;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got);
	*out = buf;
	*len = n;
	return 0;
}

static int load_credentials(struct s3 *s, const char *file, struct st_msg *err)
{
	const char *ak, *sk;

	if (file && *file) {
		struct stat sb;
		char *text = NULL;
		size_t len = 0;
		FILE *f;
		int rc;
		if (stat(file, &sb) < 0)
			return st_fail(err, ST_EINVAL, "credentials file %s: %s", file, strerror(errno));
		if (sb.st_mode & 077)
			return st_fail(err, ST_EINVAL, "credentials file %s: readable by others (mode %03o); chmod 600 it",
				       file, (unsigned)(sb.st_mode & 0777));
		f = fopen(file, "r");
		if (!f)
			return st_fail(err, ST_EINVAL, "credentials file %s: %s", file, strerror(errno));
		rc = read_all(f, &text, &len);
		fclose(f);
		if (rc)
			return st_fail(err, rc, "out of memory");
		rc = st_cloud_s3_cred_parse(text, len, &s->cred);
		memset(text, 0, len);
		free(text);
		if (rc)
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
	snprintf(s->cred.access, sizeof(s->cred.access), "%s", ak);
	snprintf(s->cred.secret, sizeof(s->cred.secret), "%s", sk);
	return 0;
}

/* loc is "BUCKET@HOST:PORT". */
static int s3_open(struct st_cloud *c, const char *url, const char *loc, const char *cred_file, struct st_msg *err)
{
	const char *at = strchr(loc, '@');
	const char *hp = at ? at + 1 : NULL;
	struct s3 *s;
	int rc;

	if (!at || at == loc || !*hp || strchr(hp, '/') || !strchr(hp, ':') || (size_t)(at - loc) >= sizeof(s->bucket))
		return st_fail(err, ST_EINVAL, "cloud URL '%s': expected s3://BUCKET@HOST:PORT", url);
	s = calloc(1, sizeof(*s));
	if (!s)
		return st_fail(err, -ENOMEM, "out of memory");
	c->be = s;
	memcpy(s->bucket, loc, (size_t)(at - loc));
	snprintf(s->endpoint, sizeof(s->endpoint), "http://%s", hp);
	rc = load_credentials(s, cred_file, err);
	if (rc)
		return rc;
	pthread_once(&curl_once, curl_init_once);
	s->curl = curl_easy_init();
	if (!s->curl)
		return st_fail(err, -ENOMEM, "s3: cannot start libcurl");
	return 0;
}

static void s3_close(struct st_cloud *c)
{
	struct s3 *s = c->be;

	if (!s)
		return;
	if (s->curl)
		curl_easy_cleanup(s->curl);
	memset(&s->cred, 0, sizeof(s->cred));
	free(s);
	c->be = NULL;
}

/* --- requests --------------------------------------------------------------- */

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
void st_cloud_s3_error_code(const char *body, char *code, size_t len)
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
static int s3_request(struct s3 *s, const char *method, const char *key, const char *query, struct xfer *x,
		      long *status, struct st_msg *err)
{
	CURL *h = s->curl;
	struct curl_slist *hdr = NULL;
	char url[2048], ekey[1024] = "", sha[80] = "UNSIGNED-PAYLOAD", line[160];
	CURLcode cc;

	if (key)
		uri_encode(key, 1, ekey, sizeof(ekey));
	snprintf(url, sizeof(url), "%s/%s%s%s%s%s", s->endpoint, s->bucket, key ? "/" : "", ekey, query ? "?" : "",
		 query ? query : "");
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
	curl_easy_setopt(h, CURLOPT_USERNAME, s->cred.access);
	curl_easy_setopt(h, CURLOPT_PASSWORD, s->cred.secret);
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
		return st_fail(err, rc, "s3 %s %s: %s", method, s->endpoint, curl_easy_strerror(cc));
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	return 0;
}

/* Map a non-2xx status (and the error body's Code) to one line. */
static int s3_status(const struct s3 *s, const char *what, const char *key, long status, const struct xfer *x,
		     struct st_msg *err)
{
	char code[80];

	st_cloud_s3_error_code(x->body, code, sizeof(code));
	if (status == 403)
		return st_fail(err, -EACCES, "s3 %s %s/%s: access denied (%s): check the credentials", what, s->bucket,
			       key ? key : "", code[0] ? code : "403");
	if (status == 404)
		return st_fail(err, ST_ENOTFOUND, "s3 %s %s/%s: %s", what, s->bucket, key ? key : "",
			       code[0] ? code : "not found");
	return st_fail(err, -EIO, "s3 %s %s/%s: HTTP %ld %s", what, s->bucket, key ? key : "", status, code);
}

static int s3_put(struct s3 *s, const char *key, const void *buf, size_t len, struct st_msg *err)
{
	struct xfer x = { .src = buf, .srclen = len };
	char md5[40];
	long status = 0;
	int rc = s3_request(s, "PUT", key, NULL, &x, &status, err);

	if (!rc && (status < 200 || status > 299))
		rc = s3_status(s, "PUT", key, status, &x, err);
	if (!rc) { /* a single-part PUT's ETag is the MD5 of what the server stored */
		hex_digest(EVP_md5(), buf, len, md5);
		if (strcasecmp(x.etag, md5))
			rc = st_fail(err, ST_ECORRUPT, "s3 PUT %s/%s: stored object does not verify (ETag %s, MD5 %s)",
				     s->bucket, key, x.etag[0] ? x.etag : "missing", md5);
	}
	free(x.body);
	return rc;
}

static int s3_get(struct st_cloud *c, const char *key, uint64_t off, size_t len, void *buf, struct st_msg *err)
{
	struct s3 *s = c->be;
	struct xfer x = { .dst = buf, .dstcap = len, .srcoff = (size_t)off };
	long status = 0;
	int rc;

	if (!len)
		return 0;
	rc = s3_request(s, "GET", key, NULL, &x, &status, err);
	if (!rc && (status < 200 || status > 299)) {
		/* an error body landed in buf: turn it into text for the code */
		x.body = calloc(1, x.dstlen + 1);
		if (x.body)
			memcpy(x.body, buf, x.dstlen);
		rc = s3_status(s, "GET", key, status, &x, err);
	}
	if (!rc && (x.dstlen != len || (status == 200 && off != 0)))
		rc = st_fail(err, ST_ECORRUPT, "s3 GET %s/%s: %zu of %zu bytes at %llu", s->bucket, key, x.dstlen, len,
			     (unsigned long long)off);
	free(x.body);
	return rc;
}

static int s3_delete(struct st_cloud *c, const char *key, struct st_msg *err)
{
	struct s3 *s = c->be;
	struct xfer x = { 0 };
	long status = 0;
	int rc = s3_request(s, "DELETE", key, NULL, &x, &status, err);

	if (!rc && status != 404 && (status < 200 || status > 299))
		rc = s3_status(s, "DELETE", key, status, &x, err);
	free(x.body);
	return rc;
}

/* --- the listing ------------------------------------------------------------- */

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
	/* the server's numbers: a year or month out of range is no date (and must not overflow below) */
	if (tm.tm_year < 1900 || tm.tm_year > 9999 || tm.tm_mon < 1 || tm.tm_mon > 12)
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

int st_cloud_s3_list_parse(const char *xml, size_t len, const char *bucket, st_cloud_list_cb cb, void *arg,
			   char *next, size_t nextlen, struct st_msg *err)
{
	struct lst l = { .cb = cb, .arg = arg };
	XML_Parser p = XML_ParserCreate(NULL);
	enum XML_Status xs = XML_STATUS_OK;
	int rc = 0;

	if (!p)
		return st_fail(err, -ENOMEM, "out of memory");
	XML_SetUserData(p, &l);
	XML_SetElementHandler(p, x_start, x_end);
	XML_SetCharacterDataHandler(p, x_text);
	if (!xml)
		xml = "";
	while (xs != XML_STATUS_ERROR && len > INT_MAX) { /* expat takes an int length */
		xs = XML_Parse(p, xml, INT_MAX, 0);
		xml += INT_MAX;
		len -= INT_MAX;
	}
	if (xs != XML_STATUS_ERROR)
		xs = XML_Parse(p, xml, (int)len, 1);
	if (xs == XML_STATUS_ERROR)
		rc = st_fail(err, -EIO, "s3 LIST %s: unreadable listing (%s)", bucket,
			     XML_ErrorString(XML_GetErrorCode(p)));
	XML_ParserFree(p);
	if (!rc)
		rc = l.rc;
	snprintf(next, nextlen, "%s", l.truncated ? l.token : "");
	return rc;
}

static int s3_list(struct st_cloud *c, const char *prefix, st_cloud_list_cb cb, void *arg, struct st_msg *err)
{
	struct s3 *s = c->be;
	char token[1024] = "", eprefix[600], etoken[3100], query[4096];
	int rc = 0;

	uri_encode(prefix, 0, eprefix, sizeof(eprefix));
	do {
		struct xfer x = { 0 };
		long status = 0;

		uri_encode(token, 0, etoken, sizeof(etoken));
		/* canonical: sorted by name, every value encoded, '=' always present */
		if (token[0])
			snprintf(query, sizeof(query), "continuation-token=%s&list-type=2&max-keys=1000&prefix=%s", etoken,
				 eprefix);
		else
			snprintf(query, sizeof(query), "list-type=2&max-keys=1000&prefix=%s", eprefix);
		rc = s3_request(s, "GET", NULL, query, &x, &status, err);
		if (!rc && (status < 200 || status > 299))
			rc = s3_status(s, "LIST", prefix, status, &x, err);
		if (!rc)
			rc = st_cloud_s3_list_parse(x.body, x.bodylen, s->bucket, cb, arg, token, sizeof(token), err);
		free(x.body);
	} while (!rc && token[0]);
	return rc;
}

static int s3_check(struct st_cloud *c, struct st_msg *err)
{
	struct s3 *s = c->be;
	struct xfer x = { 0 };
	long status = 0;
	int rc = s3_request(s, "GET", NULL, "list-type=2&max-keys=1&prefix=", &x, &status, err);

	if (!rc && (status < 200 || status > 299))
		rc = s3_status(s, "LIST", NULL, status, &x, err);
	free(x.body);
	return rc;
}


/* Each PUT is durable and verified when it returns: one by one on the one connection. */
static int s3_put_many(struct st_cloud *c, int n, const char *const *keys, const void *const *bufs, const size_t *lens,
		       int *rcs, struct st_msg *err)
{
	for (int i = 0; i < n; i++)
		rcs[i] = s3_put(c->be, keys[i], bufs[i], lens[i], err);
	return 0;
}

const struct st_cloud_ops st_cloud_s3_ops = {
	.name = "s3",
	.put_parallel = 1,
	.open = s3_open,
	.close = s3_close,
	.check = s3_check,
	.put_many = s3_put_many,
	.get = s3_get,
	.del = s3_delete,
	.list = s3_list,
};
