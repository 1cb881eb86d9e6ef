/*
 * st_cloud: see st_cloud.h. The front of the cloud tier: it picks the
 * backend from the URL's scheme, keeps the key prefix, and turns every
 * public call into one call of the backend's ops (st_cloud_int.h), the way
 * curl's lib/vtls front drives its TLS backends.
 *
 * DESIGN. The backends never see a key without the cluster's prefix, and
 * listings strip it again here, so clusters share a bucket without seeing
 * each other's objects. st_cloud_put is st_cloud_put_many of one, so both
 * verify what they stored the same way (the backend's promise: a put that
 * returns 0 is durable and verified). Nothing here does I/O.
 *
 * Remote input is bounded in two places: the backend bounds each request
 * (time, body, retries) and a listing's pages and tokens; this front bounds
 * the keys of a listing, whatever the backend, at the bound the caller set
 * (st_cloud_set_list_bound: what the cluster could hold).
 */
#include "storage/st_cloud_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/st_egroup.h"

/* URL scheme -> backend, first match wins; "" (a bare directory) last. */
static const struct {
	const char *scheme;
	const struct st_cloud_ops *ops;
} schemes[] = {
	{ "s3://", &st_cloud_s3_ops },
	{ "file://", &st_cloud_local_ops },
	{ "", &st_cloud_local_ops },
};

void st_cloud_limits_default(struct st_cloud_limits *l)
{
	l->connect_ms = 5000;
	l->low_speed_bps = 1024;
	l->low_speed_s = 15;
	l->request_s = 60;
	l->retries = 4;
	l->backoff_ms = 250;
	l->page_max = 4u << 20;
	l->reply_max = 64u << 10;
	l->list_max = 1ULL << 32;
}

void st_cloud_get_limits(const struct st_cloud *c, struct st_cloud_limits *l)
{
	*l = c->lim;
}

void st_cloud_set_limits(struct st_cloud *c, const struct st_cloud_limits *l)
{
	c->lim = *l;
}

void st_cloud_set_list_bound(struct st_cloud *c, st_cloud_bound_fn fn, void *arg)
{
	c->bound = fn;
	c->bound_arg = arg;
}

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

const char *st_cloud_url(const struct st_cloud *c)
{
	return c->url;
}

void st_cloud_egroup_key(uint64_t egroup, char *buf, size_t len)
{
	char name[ST_EGROUP_NAME_LEN + 1];

	st_egroup_name(egroup, name); /* the file name format has one home: st_egroup.h */
	snprintf(buf, len, ST_EGROUP_DIR "/%s", name);
}

int st_cloud_open(const char *url, const char *cred_file, struct st_cloud **out, struct st_msg *err)
{
	struct st_cloud *c = calloc(1, sizeof(*c));
	size_t i = 0, n;
	int rc;

	*out = NULL; /* on every failure (st_cloud_free(NULL) is a no-op) */
	if (!c)
		return st_fail(err, -ENOMEM, "out of memory");
	while (strncmp(url, schemes[i].scheme, strlen(schemes[i].scheme)))
		i++; /* the last scheme, "", always matches */
	n = strlen(schemes[i].scheme);
	if (!n && strstr(url, "://") && strspn(url, "abcdefghijklmnopqrstuvwxyz0123456789+.-") == (size_t)(strstr(url, "://") - url)) {
		/* a URL of a scheme no backend speaks is not a directory named "ftp:" */
		free(c); /* no backend opened: nothing to close */
		return st_fail(err, ST_EINVAL, "%s: unknown URL scheme (expected s3://BUCKET@HOST:PORT, file://DIR or a directory)",
			       url);
	}
	snprintf(c->url, sizeof(c->url), "%s", url);
	st_cloud_limits_default(&c->lim);
	c->ops = schemes[i].ops;
	rc = c->ops->open(c, url, url + n, cred_file, err);
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
	c->ops->close(c);
	free(c);
}

int st_cloud_put_parallel(const struct st_cloud *c)
{
	return c->ops->put_parallel;
}

int st_cloud_put_many(struct st_cloud *c, int n, const char *const *keys, const void *const *bufs, const size_t *lens,
		      int *rcs, struct st_msg *err)
{
	char (*k)[ST_CLOUD_KEY_MAX] = calloc((size_t)n + 1, sizeof(*k));
	const char **kp = calloc((size_t)n + 1, sizeof(*kp));
	int rc = 0;

	if (!k || !kp) {
		free(k);
		free(kp);
		return st_fail(err, -ENOMEM, "out of memory");
	}
	for (int i = 0; i < n; i++)
		kp[i] = full_key(c, keys[i], k[i], sizeof(k[i]));
	rc = c->ops->put_many(c, n, kp, bufs, lens, rcs, err);
	free(k);
	free(kp);
	return rc;
}

int st_cloud_check(struct st_cloud *c, struct st_msg *err)
{
	return c->ops->check(c, err);
}

int st_cloud_put(struct st_cloud *c, const char *key, const void *buf, size_t len, struct st_msg *err)
{
	int one, rc = st_cloud_put_many(c, 1, &key, &buf, &len, &one, err);

	return rc ? rc : one;
}

int st_cloud_get(struct st_cloud *c, const char *key, uint64_t off, size_t len, void *buf, struct st_msg *err)
{
	char k[ST_CLOUD_KEY_MAX];

	full_key(c, key, k, sizeof(k));
	return c->ops->get(c, k, off, len, buf, err);
}

int st_cloud_delete(struct st_cloud *c, const char *key, struct st_msg *err)
{
	char k[ST_CLOUD_KEY_MAX];

	full_key(c, key, k, sizeof(k));
	return c->ops->del(c, k, err);
}

/* Listing callbacks see keys without the handle's prefix; keys are counted against the bound. */
struct unprefix {
	size_t skip;
	st_cloud_list_cb cb;
	void *arg;
	uint64_t n, max;
	int over; /* more keys than max: the listing was stopped here */
};

static int unprefix_cb(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct unprefix *u = arg;

	if (++u->n > u->max) {
		u->over = 1;
		return -E2BIG;
	}
	return strlen(key) >= u->skip ? u->cb(u->arg, key + u->skip, size, mtime) : 0;
}

int st_cloud_list(struct st_cloud *c, const char *prefix, st_cloud_list_cb cb, void *arg, struct st_msg *err)
{
	struct unprefix u = { strlen(c->prefix), cb, arg, 0, 0, 0 };
	uint64_t set = c->lim.list_max;
	char k[ST_CLOUD_KEY_MAX];
	int rc = 0;

	if (c->bound)
		rc = c->bound(c->bound_arg, &c->lim.list_max, err);
	if (rc)
		return rc;
	u.max = c->lim.list_max;
	full_key(c, prefix, k, sizeof(k));
	rc = c->ops->list(c, k, unprefix_cb, &u, err);
	if (u.over)
		rc = st_fail(err, -EIO, "cloud LIST %s/%s: more than %llu keys, more than the cluster could hold: stopped",
			     c->url, k, (unsigned long long)u.max);
	c->lim.list_max = set;
	return rc;
}
