/*
 * st_cloud_int: what the cloud tier's front (st_cloud.c) and its backends
 * (st_cloud_local.c, st_cloud_s3.c + st_cloud_s3_parse.c) share; not part
 * of the storage API.
 *
 * The front owns struct st_cloud: the URL as given, the key prefix, and the
 * backend chosen from the URL's scheme. It turns every public call into one
 * call of the backend's ops with full keys (prefix already prepended), and
 * strips the prefix again from listed keys. A backend keeps its own state
 * behind c->be, which its open allocates and its close frees.
 *
 * Order of calls on a backend: open once (no I/O), then any of check,
 * put_many, get, delete, list, then close once (also after a failed open,
 * with whatever open left in c->be, which may be NULL).
 *
 * Bounds: a backend reads c->lim on every call (the front fills it before
 * open and before each list). The front counts the keys of a listing and
 * stops it past c->lim.list_max; a remote backend also bounds its pages,
 * its time and its bodies, and detects repeated continuation tokens.
 *
 * Adding a backend is one new file with one `const struct st_cloud_ops`
 * and one line in st_cloud.c's scheme table.
 */
#ifndef ST_CLOUD_INT_H
#define ST_CLOUD_INT_H

#include <stddef.h>
#include <stdint.h>

#include "storage/st_cloud.h"
#include "storage/st_util.h"

/* Longest full key (prefix + key + NUL) the front hands a backend. */
#define ST_CLOUD_KEY_MAX 1024

struct st_cloud_ops;

struct st_cloud {
	const struct st_cloud_ops *ops;
	char url[ST_PATH_MAX];
	char prefix[128]; /* prepended to every key (st_cloud_set_prefix) */
	void *be;         /* the backend's state (its open allocates it, its close frees it) */
	/* what one call may cost (st_cloud_set_limits); during a list, list_max
	 * is the bound of that listing (st_cloud_set_list_bound) */
	struct st_cloud_limits lim;
	st_cloud_bound_fn bound;
	void *bound_arg;
};

/*
 * One backend. Every verb has the contract of the public function of the
 * same name in st_cloud.h, with keys already prefixed. Errors fill err with
 * one line that never shows a credential.
 */
struct st_cloud_ops {
	/* "local", "s3": for messages and debugging. */
	const char *name;

	/*
	 * How many put_many calls may run at once on one handle on different
	 * threads (st_cloud_put_parallel): every other verb is one thread per
	 * handle.
	 */
	int put_parallel;

	/*
	 * [in] url: the whole URL as given (for messages); loc: the part after
	 * the scheme the front matched ("BUCKET@HOST:PORT", "DIR");
	 * cred_file: the credentials file or NULL (backends without
	 * credentials ignore it). Sets c->be. No I/O besides reading the
	 * credentials file. 0, ST_EINVAL (bad URL or credentials), -ENOMEM.
	 */
	int (*open)(struct st_cloud *c, const char *url, const char *loc, const char *cred_file, struct st_msg *err);

	/* Free c->be (NULL is a no-op) and wipe any secret in it. */
	void (*close)(struct st_cloud *c);

	int (*check)(struct st_cloud *c, struct st_msg *err);
	int (*put_many)(struct st_cloud *c, int n, const char *const *keys, const void *const *bufs, const size_t *lens,
			int *rcs, struct st_msg *err);
	int (*get)(struct st_cloud *c, const char *key, uint64_t off, size_t len, void *buf, struct st_msg *err);
	int (*del)(struct st_cloud *c, const char *key, struct st_msg *err);
	int (*list)(struct st_cloud *c, const char *prefix, st_cloud_list_cb cb, void *arg, struct st_msg *err);
};

/* A directory on a local (or mounted) filesystem: st_cloud_local.c. */
extern const struct st_cloud_ops st_cloud_local_ops;

/* An S3-compatible server over HTTP with libcurl and SigV4: st_cloud_s3.c. */
extern const struct st_cloud_ops st_cloud_s3_ops;

/* --- the S3 backend's parsers of untrusted bytes (st_cloud_s3_parse.c) ------
 *
 * The credentials and listing parsers take raw bytes (not NUL-terminated;
 * embedded NULs allowed) and never read past len; the error-code picker
 * takes the NUL-terminated text the transfer keeps. All three keep no
 * state between calls, are thread-safe, and are the entry points for
 * fuzzing (tests/fuzz/).
 */

/* What a credentials file holds. */
struct st_cloud_s3_cred {
	char access[256];
	char secret[256];
};

/*
 * Parse a credentials file's bytes: lines "NAME = VALUE" (blanks around
 * either trimmed), NAME one of access_key / aws_access_key_id and
 * secret_key / aws_secret_access_key (the last of each wins); lines
 * starting with '#' or without '=' are skipped; a line is read in pieces
 * of at most 599 bytes (as fgets with a 600-byte buffer), values are cut
 * to 255 bytes.
 * [out] cred: cleared, then filled with what was found (also on failure;
 * the caller wipes it).
 * Returns 0 when both keys were found, else ST_EINVAL.
 */
int st_cloud_s3_cred_parse(const char *text, size_t len, struct st_cloud_s3_cred *cred);

/*
 * The <Code> of an S3 error document, for the message of a failed request.
 * [in] body: the reply's text, NUL-terminated (NULL: none); [out] code:
 * the text between the first "<Code>" and the "</Code>" after it, cut to
 * len - 1 bytes, or "" when there is none. len >= 1. Thread-safe.
 */
void st_cloud_s3_error_code(const char *body, char *code, size_t len);

/*
 * Parse one page of a ListObjectsV2 response (elements matched by local
 * name, so any namespace prefix works): cb(arg, key, size, mtime) for each
 * <Contents> with a non-empty <Key>, in document order, until cb returns
 * non-zero.
 * [in] xml/len: the response body (xml may be NULL when len is 0);
 * bucket: only for the message.
 * [out] next: the <NextContinuationToken> when <IsTruncated> is "true",
 * else "" (cut to nextlen - 1 bytes; set on every return but -ENOMEM).
 * Returns 0, cb's non-zero value (err untouched), -ENOMEM ("out of
 * memory"), or -EIO for a body that is not well-formed XML, an empty one
 * included ("s3 LIST <bucket>: unreadable listing (<expat's reason>)"), or
 * that says <IsTruncated>true</IsTruncated> without a non-empty
 * <NextContinuationToken> (a listing that cannot go on must not look
 * complete).
 */
int st_cloud_s3_list_parse(const char *xml, size_t len, const char *bucket, st_cloud_list_cb cb, void *arg,
			   char *next, size_t nextlen, struct st_msg *err);

#endif
