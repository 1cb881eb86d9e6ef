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
 * PUT must equal the MD5 of our bytes); a GET that comes back short, long,
 * or whole when a range was asked is ST_ECORRUPT. The secret key is wiped
 * when the handle is freed and never appears in a message.
 *
 * The server is not trusted to end anything (st_cloud_limits): each
 * request has a connect, a low-speed and a total timeout; each body stops
 * at its bound (the write callback refuses more); 429 / 5xx answers and
 * dropped connections are retried a bounded number of times with a
 * doubling backoff, timeouts and refusals never (they already cost their
 * bound); a listing stops at a repeated continuation token, a page bound
 * and a deadline. A listing that fails has handed out some keys already:
 * its caller must treat the whole listing as failed (the scan does).
 *
 * The parsers of bytes from outside, the credentials file, the error body
 * and a listing page, are plain functions in st_cloud_s3_parse.c
 * (st_cloud_s3_cred_parse, st_cloud_s3_error_code, st_cloud_s3_list_parse)
 * so they can be fuzzed without a server; this file does the I/O.
 */
#include "storage/st_cloud_int.h"
#include "storage/st_hmap.h"

#include <curl/curl.h>
#include <errno.h>
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
	char errbuf[CURL_ERROR_SIZE]; /* libcurl's reason for the last failed transfer */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* --- credentials ---------------------------------------------------------- */

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

/*
 * One transfer's state. Every body is bounded: a range GET lands in the
 * caller's buffer (dst, dstcap bytes: more is an overflow), any other 2xx
 * body grows up to bodymax (a listing page's page_max or reply_max), an
 * error body (non-2xx) up to replymax; past its bound the transfer stops.
 */
struct xfer {
	/* upload */
	const uint8_t *src;
	size_t srclen, srcoff;
	/* download */
	uint8_t *dst;
	size_t dstcap, dstlen;
	uint64_t range_off; /* a range GET: dstcap bytes from here */
	char *body;
	size_t bodylen, bodycap, bodymax, replymax;
	long status;  /* of the last status line seen (a 100 Continue comes first) */
	int capped;   /* a body went past its bound: the transfer was stopped */
	int overflow; /* a range GET got more than dstcap bytes: stopped */
	int attempts; /* how many times the request was sent */
	char etag[80];
};

static int status_ok(long status)
{
	return status >= 200 && status <= 299;
}

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

/* Returning less than got stops the transfer (CURLE_WRITE_ERROR): how every bound ends it. */
static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t got = size * n, max;

	if (x->dst && status_ok(x->status)) {
		if (got > x->dstcap - x->dstlen) {
			x->overflow = 1;
			got = x->dstcap - x->dstlen;
			memcpy(x->dst + x->dstlen, p, got);
			x->dstlen += got;
			return 0;
		}
		memcpy(x->dst + x->dstlen, p, got);
		x->dstlen += got;
		return got;
	}
	max = status_ok(x->status) ? x->bodymax : x->replymax;
	if (got > max - x->bodylen) {
		x->capped = 1;
		return 0;
	}
	if (st_reserve(&x->body, &x->bodycap, x->bodylen + got + 1, 1))
		return 0;
	memcpy(x->body + x->bodylen, p, got);
	x->bodylen += got;
	x->body[x->bodylen] = 0;
	return got;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	char line[64];

	if (len > 5 && !strncmp(p, "HTTP/", 5)) { /* a new response (after a 100 Continue, the real one) */
		long st = 0;
		snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) ? len : sizeof(line) - 1), p);
		if (sscanf(line, "HTTP/%*s %ld", &st) == 1)
			x->status = st;
		x->etag[0] = 0;
	} else if (len > 5 && !strncasecmp(p, "etag:", 5)) {
		size_t o = 0;
		for (size_t i = 5; i < len && o + 1 < sizeof(x->etag); i++)
			if (p[i] != '"' && p[i] != ' ' && p[i] != '\r' && p[i] != '\n')
				x->etag[o++] = p[i];
		x->etag[o] = 0;
	}
	return len;
}

/* Milliseconds on the monotonic clock. */
static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Worth another attempt: the server said "later" or dropped the connection (never a timeout or a refusal). */
static int retryable(CURLcode cc, long status)
{
	if (cc == CURLE_OK)
		return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
	return cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR || cc == CURLE_PARTIAL_FILE;
}

/* Set up h for one attempt of method on url. */
static void setup(struct s3 *s, const struct st_cloud_limits *lim, const char *method, const char *url,
		  struct curl_slist *hdr, struct xfer *x, long timeout_ms)
{
	CURL *h = s->curl;

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
	curl_easy_setopt(h, CURLOPT_USERNAME, s->cred.access);
	curl_easy_setopt(h, CURLOPT_PASSWORD, s->cred.secret);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, lim->connect_ms);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, lim->low_speed_bps);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, lim->low_speed_s);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	if (!strcmp(method, "PUT")) {
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
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
}

/*
 * One S3 request: method (PUT, DELETE, HEAD, else GET: "GET" or "LIST",
 * for messages) on /bucket[/key][?query] (query already canonical);
 * x->src/srclen for a PUT, x->dst/dstcap/range_off for a range GET,
 * x->bodymax for any other 2xx body, x->replymax for an error body.
 * Sent again (up to lim->retries more times, with backoff) after a
 * retryable answer, never past deadline_ms (monotonic; 0: none). Returns
 * 0 with *status (a non-2xx one included: the caller maps it; its body may
 * have been cut at replymax; a range GET that overflowed is 0 with
 * x->overflow), or a transport error: -ETIMEDOUT (connect, low speed,
 * total, deadline), -ECONNREFUSED, -EIO (a dropped connection after the
 * retries, a 2xx body past bodymax), -ENOMEM.
 */
static int s3_request(struct st_cloud *c, const char *method, const char *key, const char *query, struct xfer *x,
		      int64_t deadline_ms, long *status, struct st_msg *err)
{
	const struct st_cloud_limits *lim = &c->lim;
	struct s3 *s = c->be;
	struct curl_slist *hdr = NULL;
	char url[2048], ekey[1024] = "", sha[80] = "UNSIGNED-PAYLOAD", line[160];
	size_t payload = x->srclen > x->dstcap ? x->srclen : x->dstcap;
	long backoff = lim->backoff_ms;
	CURLcode cc;

	if (key)
		uri_encode(key, 1, ekey, sizeof(ekey));
	snprintf(url, sizeof(url), "%s/%s%s%s%s%s", s->endpoint, s->bucket, key ? "/" : "", ekey, query ? "?" : "",
		 query ? query : "");
	if (!strcmp(method, "PUT"))
		hex_digest(EVP_sha256(), x->src, x->srclen, sha); /* signed: end-to-end integrity */
	snprintf(line, sizeof(line), "x-amz-content-sha256: %s", sha);
	hdr = curl_slist_append(hdr, line);
	if (x->dst && x->dstcap) {
		snprintf(line, sizeof(line), "Range: bytes=%llu-%llu", (unsigned long long)x->range_off,
			 (unsigned long long)(x->range_off + x->dstcap - 1));
		hdr = curl_slist_append(hdr, line);
	}
	if (!hdr)
		return st_fail(err, -ENOMEM, "out of memory");
	for (x->attempts = 1;; x->attempts++) {
		long timeout = lim->request_s * 1000 + (long)(payload >> 20) * 1000;
		int64_t now = mono_ms();

		if (deadline_ms && deadline_ms - now < timeout)
			timeout = (long)(deadline_ms - now);
		if (timeout <= 0) {
			curl_slist_free_all(hdr);
			return st_fail(err, -ETIMEDOUT, "s3 %s %s/%s: out of time", method, s->bucket, key ? key : "");
		}
		x->srcoff = x->dstlen = x->bodylen = 0;
		x->status = 0;
		x->capped = x->overflow = 0;
		x->etag[0] = s->errbuf[0] = 0;
		setup(s, lim, method, url, hdr, x, timeout);
		cc = curl_easy_perform(s->curl);
		*status = 0;
		if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && (x->overflow || (x->capped && !status_ok(x->status)))))
			curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, status);
		if (*status && x->attempts <= lim->retries && retryable(CURLE_OK, *status))
			; /* the server asks to come back */
		else if (!*status && x->attempts <= lim->retries && retryable(cc, 0))
			; /* the connection dropped */
		else
			break;
		if (deadline_ms && mono_ms() + backoff >= deadline_ms)
			break;
		sleep_ms(backoff);
		backoff *= 2;
	}
	curl_slist_free_all(hdr);
	if (*status)
		return 0;
	url[strcspn(url, "?")] = 0; /* (messages name the object, not the query) */
	if (cc == CURLE_WRITE_ERROR && x->capped) {
		char b[32];
		return st_fail(err, -EIO, "s3 %s %s: the reply's body is over %s: stopped", method, url,
			       st_fmt_size(x->bodymax, b, sizeof(b)));
	}
	if (cc == CURLE_WRITE_ERROR)
		return st_fail(err, -ENOMEM, "out of memory");
	{
		int rc = cc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
		const char *why = s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc);
		if (x->attempts > 1)
			return st_fail(err, rc, "s3 %s %s: %s (%d attempts)", method, url, why, x->attempts);
		return st_fail(err, rc, "s3 %s %s: %s", method, url, why);
	}
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
	if (x->attempts > 1)
		return st_fail(err, -EIO, "s3 %s %s/%s: HTTP %ld %s (%d attempts)", what, s->bucket, key ? key : "", status,
			       code, x->attempts);
	return st_fail(err, -EIO, "s3 %s %s/%s: HTTP %ld %s", what, s->bucket, key ? key : "", status, code);
}

static int s3_put(struct st_cloud *c, const char *key, const void *buf, size_t len, struct st_msg *err)
{
	struct s3 *s = c->be;
	struct xfer x = { .src = buf, .srclen = len, .bodymax = c->lim.reply_max, .replymax = c->lim.reply_max };
	char md5[40];
	long status = 0;
	int rc = s3_request(c, "PUT", key, NULL, &x, 0, &status, err);

	if (!rc && !status_ok(status))
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
	struct xfer x = { .dst = buf, .dstcap = len, .range_off = off, .replymax = c->lim.reply_max };
	long status = 0;
	int rc;

	if (!len)
		return 0;
	rc = s3_request(c, "GET", key, NULL, &x, 0, &status, err);
	if (!rc && !status_ok(status))
		rc = s3_status(s, "GET", key, status, &x, err);
	if (!rc && x.overflow && !(status == 200 && off == 0)) /* (a whole object for a range from 0: its head is right) */
		rc = st_fail(err, ST_ECORRUPT, "s3 GET %s/%s: more than the %zu bytes asked for at %llu", s->bucket, key,
			     len, (unsigned long long)off);
	if (!rc && (x.dstlen != len || (status == 200 && off != 0)))
		rc = st_fail(err, ST_ECORRUPT, "s3 GET %s/%s: %zu of %zu bytes at %llu", s->bucket, key, x.dstlen, len,
			     (unsigned long long)off);
	free(x.body);
	return rc;
}

static int s3_delete(struct st_cloud *c, const char *key, struct st_msg *err)
{
	struct s3 *s = c->be;
	struct xfer x = { .bodymax = c->lim.reply_max, .replymax = c->lim.reply_max };
	long status = 0;
	int rc = s3_request(c, "DELETE", key, NULL, &x, 0, &status, err);

	if (!rc && status != 404 && !status_ok(status))
		rc = s3_status(s, "DELETE", key, status, &x, err);
	free(x.body);
	return rc;
}

/* --- the listing ------------------------------------------------------------- */

/* Keys a listing has handed out so far, for its page bound. */
struct counted {
	st_cloud_list_cb cb;
	void *arg;
	uint64_t keys;
};

static int counted_cb(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct counted *k = arg;

	k->keys++;
	return k->cb(k->arg, key, size, mtime);
}

/*
 * The listing, page by page, bounded (st_cloud.h): a page is asked for
 * only while the pages so far are fewer than 10 + one per 100 keys they
 * gave (full pages hold 1000), each body at most page_max bytes, all of it
 * within max(request_s, list_max / 1000) s; a continuation token seen
 * before (any page, not only the last) ends it, since a server repeating
 * itself would loop forever. (The front bounds the keys at list_max.)
 */
static int s3_list(struct st_cloud *c, const char *prefix, st_cloud_list_cb cb, void *arg, struct st_msg *err)
{
	struct s3 *s = c->be;
	const struct st_cloud_limits *lim = &c->lim;
	struct counted k = { cb, arg, 0 };
	uint64_t pages = 0;
	uint64_t per_keys = lim->list_max / 1000 < (1ULL << 40) ? lim->list_max / 1000 : 1ULL << 40;
	uint64_t secs = per_keys > (uint64_t)lim->request_s ? per_keys : (uint64_t)lim->request_s;
	int64_t deadline = mono_ms() + (int64_t)secs * 1000;
	char token[1024] = "", eprefix[600], etoken[3100], query[4096];
	struct st_hmap seen; /* hashes of the tokens sent so far */
	int rc = 0;

	st_hmap_init(&seen, 8, 1);
	uri_encode(prefix, 0, eprefix, sizeof(eprefix));
	do {
		struct xfer x = { .bodymax = lim->page_max, .replymax = lim->reply_max };
		long status = 0;

		if (token[0]) {
			uint64_t h = st_hash64(token, strlen(token));
			int isnew = 0;
			if (!st_hmap_put(&seen, &h, &isnew)) {
				rc = st_fail(err, -ENOMEM, "out of memory");
				break;
			}
			if (!isnew) {
				rc = st_fail(err, -EIO,
					     "s3 LIST %s/%s: the server repeated continuation token '%.40s' after %llu pages: "
					     "stopped",
					     s->bucket, prefix, token, (unsigned long long)pages);
				break;
			}
		}
		if (pages >= 10 + k.keys / 100) {
			rc = st_fail(err, -EIO, "s3 LIST %s/%s: %llu pages gave only %llu keys: the server pages on: stopped",
				     s->bucket, prefix, (unsigned long long)pages, (unsigned long long)k.keys);
			break;
		}
		if (mono_ms() >= deadline) {
			rc = st_fail(err, -ETIMEDOUT, "s3 LIST %s/%s: not done after %llu s (%llu pages): stopped", s->bucket,
				     prefix, (unsigned long long)secs, (unsigned long long)pages);
			break;
		}
		pages++;
		uri_encode(token, 0, etoken, sizeof(etoken));
		/* canonical: sorted by name, every value encoded, '=' always present */
		if (token[0])
			snprintf(query, sizeof(query), "continuation-token=%s&list-type=2&max-keys=1000&prefix=%s", etoken,
				 eprefix);
		else
			snprintf(query, sizeof(query), "list-type=2&max-keys=1000&prefix=%s", eprefix);
		rc = s3_request(c, "LIST", NULL, query, &x, deadline, &status, err);
		if (rc == -ETIMEDOUT && mono_ms() >= deadline) /* cut by the listing's bound, not the request's */
			rc = st_fail(err, -ETIMEDOUT, "s3 LIST %s/%s: not done after %llu s (%llu pages): stopped", s->bucket,
				     prefix, (unsigned long long)secs, (unsigned long long)pages);
		if (!rc && !status_ok(status))
			rc = s3_status(s, "LIST", prefix, status, &x, err);
		if (!rc)
			rc = st_cloud_s3_list_parse(x.body, x.bodylen, s->bucket, counted_cb, &k, token, sizeof(token), err);
		free(x.body);
	} while (!rc && token[0]);
	st_hmap_release(&seen);
	return rc;
}

static int s3_check(struct st_cloud *c, struct st_msg *err)
{
	struct s3 *s = c->be;
	struct xfer x = { .bodymax = c->lim.page_max, .replymax = c->lim.reply_max };
	long status = 0;
	int rc = s3_request(c, "LIST", NULL, "list-type=2&max-keys=1&prefix=", &x, 0, &status, err);

	if (!rc && !status_ok(status))
		rc = s3_status(s, "LIST", NULL, status, &x, err);
	free(x.body);
	return rc;
}

/* Each PUT is durable and verified when it returns: one by one on the one connection. */
static int s3_put_many(struct st_cloud *c, int n, const char *const *keys, const void *const *bufs, const size_t *lens,
		       int *rcs, struct st_msg *err)
{
	for (int i = 0; i < n; i++)
		rcs[i] = s3_put(c, keys[i], bufs[i], lens[i], err);
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
