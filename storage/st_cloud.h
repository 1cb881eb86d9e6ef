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
 * Each backend is one file behind struct st_cloud_ops (st_cloud_int.h):
 * st_cloud_s3.c and st_cloud_local.c; st_cloud.c is the front (picks the
 * backend by the URL's scheme, prefixes keys) and holds no backend code.
 *
 * An egroup on the cloud tier is one object, key "egroups/<id>.eg" under
 * the cluster's prefix "clusters/<cluster uuid>/" (st_store sets it), holding
 * the same bytes as a replica file (st_egroup.h), so reads verify it the
 * same way.
 *
 * Credentials (S3 only) come from the file given to st_cloud_open, which
 * must not be readable by group or others (lines "access_key = ..." and
 * "secret_key = ..."), else from $CURATOR_S3_ACCESS_KEY /
 * $CURATOR_S3_SECRET_KEY, else $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY.
 * They never appear in an error message or a log.
 *
 * Errors (one line in err): -ECONNREFUSED / -ETIMEDOUT / -EIO when the
 * server cannot be reached or fails, -EACCES for rejected credentials,
 * ST_ENOTFOUND for a missing key or bucket, ST_ECORRUPT when a PUT does
 * not verify (ETag vs MD5, or the local read-back) or a GET comes back
 * short, ST_EINVAL for a bad URL or credentials file.
 *
 * Thread rules: one thread per handle (it keeps one connection open).
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

/* Parse url, load credentials (S3), no I/O yet. */
int st_cloud_open(const char *url, const char *cred_file, struct st_cloud **out, struct st_msg *err);
void st_cloud_free(struct st_cloud *c);

/*
 * Prefix every key with prefix (e.g. "clusters/<uuid>/"), so clusters can
 * share a bucket; listings return keys without it. Default: none.
 */
void st_cloud_set_prefix(struct st_cloud *c, const char *prefix);

/* A round trip that proves the bucket (or directory) is there and the credentials work. */
int st_cloud_check(struct st_cloud *c, struct st_msg *err);

/* Store buf[0..len) as key, then verify what was stored (ETag = MD5, or read back). */
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

/* Exactly len bytes of key from off into buf. */
int st_cloud_get(struct st_cloud *c, const char *key, uint64_t off, size_t len, void *buf, struct st_msg *err);

/* Delete key; a missing key is success. */
int st_cloud_delete(struct st_cloud *c, const char *key, struct st_msg *err);

/* Every key under prefix: cb(arg, key, size, mtime) until it returns non-zero (returned). */
typedef int (*st_cloud_list_cb)(void *arg, const char *key, uint64_t size, int64_t mtime);
int st_cloud_list(struct st_cloud *c, const char *prefix, st_cloud_list_cb cb, void *arg, struct st_msg *err);

/* The object key of an egroup: "egroups/<16 hex>.eg". */
void st_cloud_egroup_key(uint64_t egroup, char *buf, size_t len);

/* The URL as given (no credentials ever appear in it). */
const char *st_cloud_url(const struct st_cloud *c);

#endif
