/*
 * The cloud tier's backends against the real thing: a local directory,
 * and the S3 server of tools/s3-test-server.sh (tests/run.sh starts it and
 * exports S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY): objects go
 * up verified, come back whole and by range, list (past one page), delete;
 * wrong credentials, a dead server and a loose credentials file are clear
 * errors that never show the secret.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "storage/st_cloud.h"
#include "tests/helpers.h"

/* s3://bucket@host:port of the test server (tests/run.sh starts it and exports its address). */
static void s3_url(char *buf, size_t len)
{
	cr_assert_eq(th_s3_url(buf, len), 0, "S3_ENDPOINT/S3_BUCKET not set: tests/run.sh starts tools/s3-test-server.sh");
}

static const char *cred_file(const char *dir, const char *ak, const char *sk, int mode)
{
	static char path[2048];
	char text[600];

	snprintf(path, sizeof(path), "%s/creds", dir);
	snprintf(text, sizeof(text), "# test\naccess_key = %s\nsecret_key = %s\n", ak, sk);
	cr_assert_eq(th_write_file(path, text, strlen(text)), 0);
	chmod(path, (mode_t)mode);
	return path;
}

static int count_cb(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	int *n = arg;

	cr_assert(!strncmp(key, "many/", 5), "key %s outside the prefix", key);
	cr_assert_eq(size, 3);
	cr_assert_gt(mtime, 1600000000);
	(*n)++;
	return 0;
}

/* put / get whole and by range / list / delete on one backend. */
static void round_trip(struct st_cloud *c, int many)
{
	enum { N = (5 << 20) + 123 };
	uint8_t *buf = malloc(N), *got = malloc(N);
	struct st_msg err = { "" };
	int n = 0;

	th_fill(buf, N, 42);
	cr_assert_eq(st_cloud_check(c, &err), 0, "%s", err.text);
	cr_assert_eq(st_cloud_put(c, "egroups/0000000000000001.eg", buf, N, &err), 0, "%s", err.text);
	cr_assert_eq(st_cloud_get(c, "egroups/0000000000000001.eg", 0, N, got, &err), 0, "%s", err.text);
	cr_assert_eq(memcmp(buf, got, N), 0);
	cr_assert_eq(st_cloud_get(c, "egroups/0000000000000001.eg", 1000000, 4096, got, &err), 0, "%s", err.text);
	cr_assert_eq(memcmp(buf + 1000000, got, 4096), 0, "range GET returned other bytes");
	cr_assert_eq(st_cloud_get(c, "egroups/0000000000000001.eg", N - 10, 20, got, &err), ST_ECORRUPT,
		     "a range past the end must not look whole");
	cr_assert_eq(st_cloud_get(c, "egroups/ffffffffffffffff.eg", 0, 10, got, &err), ST_ENOTFOUND);
	for (int i = 0; i < many; i++) {
		char key[64];
		snprintf(key, sizeof(key), "many/%05d", i);
		cr_assert_eq(st_cloud_put(c, key, "abc", 3, &err), 0, "%s", err.text);
	}
	cr_assert_eq(st_cloud_list(c, "many/", count_cb, &n, &err), 0, "%s", err.text);
	cr_assert_eq(n, many);
	cr_assert_eq(st_cloud_delete(c, "egroups/0000000000000001.eg", &err), 0, "%s", err.text);
	cr_assert_eq(st_cloud_delete(c, "egroups/0000000000000001.eg", &err), 0, "deleting a missing key is fine");
	cr_assert_eq(st_cloud_get(c, "egroups/0000000000000001.eg", 0, 10, got, &err), ST_ENOTFOUND);
	free(buf);
	free(got);
}

Test(st_cloud, local_directory)
{
	const char *dir = th_tmpdir("cloud-local");
	struct st_cloud *c;
	struct st_msg err = { "" };

	cr_assert_eq(st_cloud_open(dir, NULL, &c, &err), 0, "%s", err.text);
	round_trip(c, 20);
	st_cloud_free(c);
	cr_assert_eq(st_cloud_open("/nonexistent/cloud", NULL, &c, &err), 0);
	cr_assert_eq(st_cloud_check(c, &err), ST_ENOTFOUND);
	cr_assert(strstr(err.text, "/nonexistent/cloud"), "%s", err.text);
	st_cloud_free(c);
}

Test(st_cloud, s3_round_trip_and_pages, .timeout = 120)
{
	const char *dir = th_tmpdir("cloud-s3");
	char url[512];
	struct st_cloud *c;
	struct st_msg err = { "" };

	s3_url(url, sizeof(url));
	cr_assert_eq(st_cloud_open(url, cred_file(dir, getenv("S3_ACCESS_KEY"), getenv("S3_SECRET_KEY"), 0600), &c, &err),
		     0, "%s", err.text);
	round_trip(c, 1003); /* more than one listing page */
	for (int i = 0; i < 1003; i++) {
		char key[64];
		snprintf(key, sizeof(key), "many/%05d", i);
		cr_assert_eq(st_cloud_delete(c, key, &err), 0, "%s", err.text);
	}
	st_cloud_free(c);
}

Test(st_cloud, s3_errors_are_clear_and_keep_the_secret)
{
	const char *dir = th_tmpdir("cloud-err");
	char url[512], dead[64];
	struct st_cloud *c;
	struct st_msg err = { "" };

	s3_url(url, sizeof(url));
	/* wrong secret */
	cr_assert_eq(st_cloud_open(url, cred_file(dir, getenv("S3_ACCESS_KEY"), "WRONGSECRETVALUE", 0600), &c, &err), 0);
	cr_assert_eq(st_cloud_check(c, &err), -EACCES, "%s", err.text);
	cr_assert(strstr(err.text, "credentials"), "%s", err.text);
	cr_assert_null(strstr(err.text, "WRONGSECRETVALUE"), "the secret leaked: %s", err.text);
	cr_assert_eq(st_cloud_put(c, "x", "abc", 3, &err), -EACCES);
	st_cloud_free(c);
	/* a dead server */
	snprintf(dead, sizeof(dead), "s3://b@127.0.0.1:1");
	cr_assert_eq(st_cloud_open(dead, cred_file(dir, "a", "b", 0600), &c, &err), 0);
	cr_assert_eq(st_cloud_check(c, &err), -ECONNREFUSED, "%s", err.text);
	st_cloud_free(c);
	/* a credentials file others can read, a bad URL, no credentials at all */
	cr_assert_eq(st_cloud_open(url, cred_file(dir, "a", "b", 0644), &c, &err), ST_EINVAL);
	cr_assert(strstr(err.text, "chmod 600"), "%s", err.text);
	cr_assert_eq(st_cloud_open("s3://nobucket", NULL, &c, &err), ST_EINVAL);
	unsetenv("CURATOR_S3_ACCESS_KEY");
	unsetenv("AWS_ACCESS_KEY_ID");
	cr_assert_eq(st_cloud_open(url, NULL, &c, &err), ST_EINVAL);
	cr_assert(strstr(err.text, "no credentials"), "%s", err.text);
}

/* `curator cloud set ... ` in dir: exit 2, nothing on stdout, one line "curator: cloud set: ...<want>...". */
static void cloud_set_fails(const char *dir, const char *want, const char *url, const char *cred)
{
	char *out = NULL, *errout = NULL;
	int rc = cred ? th_run(dir, NULL, &out, &errout, "cloud", "set", url, "--credentials", cred, NULL)
		      : th_run(dir, NULL, &out, &errout, "cloud", "set", url, NULL);

	cr_assert_eq(rc, 2, "cloud set %s: exit %d (139 is SIGSEGV): %s", url, rc, errout);
	cr_assert_eq(th_lines(errout), 1, "%s", errout);
	cr_assert(!strncmp(errout, "curator: cloud set: ", 20), "%s", errout);
	cr_assert(strstr(errout, want), "want '%s': %s", want, errout);
	cr_assert(!out || !out[0], "%s", out);
	free(out);
	free(errout);
}

/*
 * Every error path of `cloud set` is one line and exit 2, and records
 * nothing (it crashed on each: the handle st_cloud_open never set was
 * freed). make asan runs the same under AddressSanitizer.
 */
Test(st_cloud, cloud_set_error_paths, .timeout = 60)
{
	const char *dir = th_tmpdir("cloud-set-err");
	char url[512], *out = NULL;

	s3_url(url, sizeof(url));
	cr_assert_eq(th_run(dir, NULL, NULL, NULL, "init", "--nodes", "1", "--disks", "ssd:1x64M", NULL), 0);
	cloud_set_fails(dir, "expected s3://BUCKET@HOST:PORT", "s3://nobucket", NULL);
	cloud_set_fails(dir, "expected s3://BUCKET@HOST:PORT", "s3://@127.0.0.1:1", NULL);
	unsetenv("CURATOR_S3_ACCESS_KEY");
	unsetenv("CURATOR_S3_SECRET_KEY");
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	cloud_set_fails(dir, "no credentials", url, NULL);
	cloud_set_fails(dir, "chmod 600", url, cred_file(dir, "a", "b", 0644));
	cloud_set_fails(dir, "expected access_key", url, cred_file(dir, "", "", 0600));
	cloud_set_fails(dir, "--credentials", url, "/nonexistent/creds");
	cloud_set_fails(dir, "127.0.0.1:1", "s3://b@127.0.0.1:1", cred_file(dir, "a", "b", 0600));
	cr_assert_eq(th_run(dir, NULL, &out, NULL, "cloud", "show", NULL), 0);
	cr_assert(strstr(out, "no cloud tier configured"), "a failed cloud set recorded something: %s", out);
	free(out);
}
