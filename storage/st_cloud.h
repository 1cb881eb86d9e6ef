/*
 * st_cloud: the cloud tier's object store, one interface over two
 * backends (issue 7):
 *
 *   s3://BUCKET@HOST:PORT   an S3-compatible server over HTTP with libcurl:
 *                           path-style URLs, SigV4 (region us-east-1),
 *                           the payload's SHA-256 signed on PUT, range GETs,
 *                           ListObjectsV2 parsed with expat
 *   DIR or file://DIR       a local directory (the embedded default): plain
 *                           POSIX, a temporary file, fsync, rename
 *
 * Each backend sits behind struct st_cloud_ops (st_cloud_int.h):
 * st_cloud_local.c, and st_cloud_s3.c with its parsers of untrusted bytes
 * in st_cloud_s3_parse.c; st_cloud.c is the front (picks the backend by
 * the URL's scheme, prefixes keys, bounds listings) and holds no backend
 * code.
 *
 * An egroup on the cloud tier is one object, key "egroups/<id>.eg" under
 * the cluster's prefix "clusters/<cluster uuid>/" (st_store sets it), holding
 * the same bytes as a replica file (st_egroup.h), so reads verify it the
 * same way.
 *
 * Order of calls: st_cloud_open (no I/O), optionally st_cloud_set_prefix,
 * st_cloud_set_limits and st_cloud_set_list_bound, then any of check, put,
 * put_many, get, delete, list; st_cloud_free last.
 *
 * Credentials (S3 only) come from the file given to st_cloud_open, which
 * must not be readable by group or others (lines "access_key = ..." and
 * "secret_key = ..."), else from $CURATOR_S3_ACCESS_KEY /
 * $CURATOR_S3_SECRET_KEY, else $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY.
 * They never appear in an error message or a log.
 *
 * Remote input is bounded (struct st_cloud_limits): a server that never
 * answers, answers a byte a second, sends an endless body, repeats its
 * continuation token or pages forever costs each call a bounded time and
 * memory and ends it with one clear line in err, never a hang or a loop.
 *
 * Errors (one line in err): -ECONNREFUSED when the server cannot be
 * reached, -ETIMEDOUT when a request or a listing ran past its time bound
 * (connect, low speed, total), -EIO when the server fails (HTTP 5xx after
 * the retries, a dropped connection, an unreadable or over-long answer, a
 * repeated continuation token, a listing past its bound), -EACCES for
 * rejected credentials, ST_ENOTFOUND for a missing key or bucket,
 * ST_ECORRUPT when a PUT does not verify (ETag vs MD5, or the local
 * read-back) or a GET comes back short or long, ST_EINVAL for a bad URL or
 * credentials file, -ENOMEM.
 *
 * Thread rules: one thread per handle (it keeps one connection open), but
 * for st_cloud_put_many (st_cloud_put_parallel).
 */
#ifndef ST_CLOUD_H
#define ST_CLOUD_H

#include <stddef.h>
#include <stdint.h>

#include "storage/st_config.h"
#include "storage/st_util.h"

struct st_cloud;

/* The cloud tier's pseudo disk id, where lists of files name disks (scans, sweeps). */
#define ST_CLOUD_DISK 0xffffffffu

/*
 * Parse url ("s3://BUCKET@HOST:PORT", "file://DIR" or "DIR") and load the
 * credentials (S3: from cred_file when non-empty, else the environment);
 * no network I/O yet.
 * [in] url, cred_file (NULL or "" for none); [out] out: the handle, owned
 * by the caller (st_cloud_free), or NULL on every failure, so that
 * st_cloud_free(*out) is always safe.
 * Returns 0, ST_EINVAL (a bad URL, no credentials, a credentials file that
 * is missing, unreadable, readable by others or incomplete), -ENOMEM.
 */
int st_cloud_open(const char *url, const char *cred_file, struct st_cloud **out, struct st_msg *err);

/* Free c and wipe its credentials; NULL is a no-op. */
void st_cloud_free(struct st_cloud *c);

/*
 * Prefix every key with prefix (e.g. "clusters/<uuid>/"), so clusters can
 * share a bucket; listings return keys without it. Default: none.
 */
void st_cloud_set_prefix(struct st_cloud *c, const char *prefix);

/*
 * What one call may cost. The defaults (st_cloud_limits_default) and why:
 *
 *   connect_ms     5000     a TCP connect (a LAN or a region's endpoint)
 *   low_speed_bps  1024     a transfer below 1 KiB/s ...
 *   low_speed_s    15       ... for 15 s is cut (-ETIMEDOUT): a byte a
 *                           second ends within 15 s (low_speed_bps 0: no
 *                           such bound, only request_s)
 *   request_s      60       one request in total, plus 1 s per MiB it
 *                           carries (a range GET or a PUT of an egroup)
 *   retries        4        more attempts after HTTP 429/500/502/503/504 or
 *                           a dropped connection (never after a timeout or
 *                           a refused connection), waiting backoff_ms,
 *   backoff_ms     250      doubled each time: 250+500+1000+2000 = 3.75 s
 *   page_max       4 MiB    the body of one listing page (1000 keys of
 *                           1 KiB each fit in about 1.3 MiB)
 *   reply_max      64 KiB   any other body: error documents, PUT and
 *                           DELETE replies (an object GET is bounded by
 *                           the length asked for)
 *   list_max       2^32     keys one listing may return, and
 *                           max(request_s, list_max / 1000) s it may take
 *                           in all (1 s per 1000 keys: a legitimate server
 *                           answers a page of 1000 in well under 1 s).
 *                           st_cloud_set_list_bound replaces it, listing by
 *                           listing, with what the cluster could hold.
 *
 * Besides, a listing asks for another page only while its pages are fewer
 * than 10 + one per 100 keys they gave (a full page holds 1000), so a
 * server paging on without keys stops after 10 pages.
 *
 * A directory (the local backend) is a filesystem, not a remote peer: it
 * honours list_max only.
 */
struct st_cloud_limits {
	long connect_ms;
	long low_speed_bps;
	long low_speed_s;
	long request_s;
	int retries;
	long backoff_ms;
	size_t page_max;
	size_t reply_max;
	uint64_t list_max;
};

/* [out] l: the defaults above. Thread-safe. */
void st_cloud_limits_default(struct st_cloud_limits *l);

/* The handle's limits now: [out] l. */
void st_cloud_get_limits(const struct st_cloud *c, struct st_cloud_limits *l);

/* Use *l (copied; start from st_cloud_get_limits) for the calls that follow on c. */
void st_cloud_set_limits(struct st_cloud *c, const struct st_cloud_limits *l);

/*
 * How many keys a listing may return at most: fn(arg, &max) is called at
 * the start of every st_cloud_list on c and replaces limits.list_max for
 * that listing (st_store bounds it by the egroup IDs the cluster ever
 * handed out). fn returns 0, or an error that st_cloud_list returns (its
 * reason in err). fn NULL: limits.list_max as set.
 */
typedef int (*st_cloud_bound_fn)(void *arg, uint64_t *max, struct st_msg *err);
void st_cloud_set_list_bound(struct st_cloud *c, st_cloud_bound_fn fn, void *arg);

/*
 * One round trip that proves the bucket (or directory) is there and the
 * credentials work: a listing of at most one key. 0 or an error above.
 */
int st_cloud_check(struct st_cloud *c, struct st_msg *err);

/*
 * Store buf[0..len) as key, then verify what was stored (ETag = MD5, or
 * read back). 0 only when the object is durable and verified.
 */
int st_cloud_put(struct st_cloud *c, const char *key, const void *buf, size_t len, struct st_msg *err);

/*
 * st_cloud_put for n objects; rcs[i] gets each one's result (err the last
 * failure). A directory makes them durable with one filesystem sync for
 * all (then reads each back); S3 puts them one by one. Returns 0 unless
 * the call itself could not run (-ENOMEM).
 */
int st_cloud_put_many(struct st_cloud *c, int n, const char *const *keys, const void *const *bufs, const size_t *lens,
		      int *rcs, struct st_msg *err);

/*
 * How many st_cloud_put_many calls may run at once on one handle, on
 * different threads: 2 for a directory (one group's sync overlaps the
 * next group's writes), 1 for S3 (one connection).
 */
int st_cloud_put_parallel(const struct st_cloud *c);

/*
 * Exactly len bytes of key from off into buf (caller's, len bytes). 0,
 * ST_ENOTFOUND, ST_ECORRUPT when the server sends fewer or more bytes
 * than asked (buf then holds at most len of them), or an error above.
 */
int st_cloud_get(struct st_cloud *c, const char *key, uint64_t off, size_t len, void *buf, struct st_msg *err);

/* Delete key; a missing key is success. */
int st_cloud_delete(struct st_cloud *c, const char *key, struct st_msg *err);

/*
 * Every key under prefix: cb(arg, key, size, mtime) with the key relative
 * to the handle's prefix (valid during the call only), in the server's
 * order, until cb returns non-zero (then returned, err untouched). The
 * callback may already have seen some keys when the listing fails.
 * Returns 0, cb's value, or an error above: -EIO past list_max keys or
 * the page bound (st_cloud_limits), or when the server repeats a
 * continuation token (any earlier one, not only the last) or says
 * "truncated" without one; -ETIMEDOUT past the listing's time bound.
 */
typedef int (*st_cloud_list_cb)(void *arg, const char *key, uint64_t size, int64_t mtime);
int st_cloud_list(struct st_cloud *c, const char *prefix, st_cloud_list_cb cb, void *arg, struct st_msg *err);

/* The object key of an egroup: "egroups/<16 hex>.eg". */
void st_cloud_egroup_key(uint64_t egroup, char *buf, size_t len);

/* The URL as given (no credentials ever appear in it); valid while c lives. */
const char *st_cloud_url(const struct st_cloud *c);

#endif
