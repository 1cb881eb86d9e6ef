/*
 * The cloud tier's backends against the real thing: a local directory,
 * and the S3 server of tools/s3-test-server.sh (tests/run.sh starts it and
 * exports S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY): objects go
 * up verified, come back whole and by range, list (past one page), delete;
 * wrong credentials, a dead server and a loose credentials file are clear
 * errors that never show the secret. Against the hostile server of
 * tests/tools/hostile_s3.py (repeated tokens, endless pages, huge and
 * endless bodies, a byte a second, garbage, 5xx forever) every call ends
 * with one clear error within its bound, and so does a full scan.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* --- the hostile server --------------------------------------------------- */

struct hostile {
	pid_t pid;
	int port;
};

/* Start tests/tools/hostile_s3.py on a free port; it dies with this test's process. */
static struct hostile hostile_start(void)
{
	const char *src = getenv("CURATOR_SRC");
	struct hostile h = { 0, 0 };
	char script[2048], line[64] = "";
	int fd[2];
	FILE *f;

	snprintf(script, sizeof(script), "%s/tests/tools/hostile_s3.py", src ? src : ".");
	cr_assert_eq(pipe(fd), 0);
	h.pid = fork();
	cr_assert_geq(h.pid, 0);
	if (h.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		execlp("python3", "python3", script, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	f = fdopen(fd[0], "r");
	cr_assert(f && fgets(line, sizeof(line), f) && sscanf(line, "PORT %d", &h.port) == 1,
		  "%s did not start (python3 missing?)", script);
	fclose(f);
	return h;
}

static void hostile_stop(struct hostile *h)
{
	kill(h->pid, SIGKILL);
	waitpid(h->pid, NULL, 0);
}

static size_t keep_count(char *p, size_t size, size_t n, void *arg)
{
	long *v = arg;

	*v = strtol(p, NULL, 10); /* (a few digits: one call) */
	return size * n;
}

/* How many real listings (not checks) the server answered in mode. */
static long listings(const struct hostile *h, const char *mode)
{
	CURL *c = curl_easy_init();
	char url[256];
	long n = -1;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/__count/%s", h->port, mode);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_count);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &n);
	cr_assert_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_cleanup(c);
	return n;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A handle on bucket mode of h; its check passes (every mode answers it). */
static struct st_cloud *hostile_open(const struct hostile *h, const char *mode)
{
	const char *dir = th_tmpdir("cloud-hostile");
	char url[256];
	struct st_cloud *c;
	struct st_msg err = { "" };

	snprintf(url, sizeof(url), "s3://%s@127.0.0.1:%d", mode, h->port);
	cr_assert_eq(st_cloud_open(url, cred_file(dir, "a", "b", 0600), &c, &err), 0, "%s", err.text);
	cr_assert_eq(st_cloud_check(c, &err), 0, "%s: the check must pass: %s", mode, err.text);
	return c;
}

static int count_any(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	(void)key;
	(void)size;
	(void)mtime;
	(*(long *)arg)++;
	return 0;
}

/* st_cloud_list on mode fails with rc and a message holding want, within secs; the keys seen. */
static long list_fails(struct st_cloud *c, const char *mode, int rc, const char *want, double secs)
{
	struct st_msg err = { "" };
	double t0 = now_s(), took;
	long n = 0;
	int got = st_cloud_list(c, "egroups/", count_any, &n, &err);

	took = now_s() - t0;
	cr_log_info("%s: %.2f s, %ld keys: %s", mode, took, n, err.text);
	cr_assert_eq(got, rc, "%s: rc %d (%s), want %d", mode, got, err.text, rc);
	cr_assert(strstr(err.text, want), "%s: want '%s': %s", mode, want, err.text);
	cr_assert_lt(took, secs, "%s: %.1f s, bound %.0f s", mode, took, secs);
	cr_assert_null(strchr(err.text, '\n'), "%s", err.text);
	return n;
}

/* The server behaves: two pages, 1500 keys; PUT verifies; a range GET is whole. */
Test(st_cloud, hostile_server_behaving, .timeout = 60)
{
	struct hostile h = hostile_start();
	struct st_cloud *c = hostile_open(&h, "ok");
	struct st_msg err = { "" };
	uint8_t buf[100];
	long n = 0;

	cr_assert_eq(st_cloud_list(c, "egroups/", count_any, &n, &err), 0, "%s", err.text);
	cr_assert_eq(n, 1500);
	cr_assert_eq(listings(&h, "ok"), 2);
	cr_assert_eq(st_cloud_put(c, "egroups/0000000000000001.eg", "abc", 3, &err), 0, "%s", err.text);
	cr_assert_eq(st_cloud_get(c, "egroups/0000000000000001.eg", 7, sizeof(buf), buf, &err), 0, "%s", err.text);
	st_cloud_free(c);
	hostile_stop(&h);
}

/* A repeated token (the last one or any earlier one) ends the listing at once; so does "truncated" without one. */
Test(st_cloud, hostile_tokens, .timeout = 60)
{
	struct hostile h = hostile_start();
	struct st_cloud *c = hostile_open(&h, "repeat-token");

	list_fails(c, "repeat-token", -EIO, "repeated continuation token 'same-token'", 5);
	cr_assert_eq(listings(&h, "repeat-token"), 2, "the repeated token was sent again");
	st_cloud_free(c);
	c = hostile_open(&h, "cycle-token");
	list_fails(c, "cycle-token", -EIO, "repeated continuation token", 5);
	cr_assert_eq(listings(&h, "cycle-token"), 3);
	st_cloud_free(c);
	c = hostile_open(&h, "no-token");
	list_fails(c, "no-token", -EIO, "truncated but gives no continuation token", 5);
	cr_assert_eq(listings(&h, "no-token"), 1);
	st_cloud_free(c);
	hostile_stop(&h);
}

static int bound_2500(void *arg, uint64_t *max, struct st_msg *err)
{
	(void)arg;
	(void)err;
	*max = 2500;
	return 0;
}

static int bound_fails(void *arg, uint64_t *max, struct st_msg *err)
{
	(void)arg;
	(void)max;
	return st_fail(err, ST_ECORRUPT, "no bound today");
}

/*
 * Endless pages (fresh tokens, no keys) end at the page bound (10 + one
 * per 100 keys: 10 pages), endless keys at the key bound (list_max 10000
 * here); a bound function replaces list_max for each listing.
 */
Test(st_cloud, hostile_endless_listings, .timeout = 120)
{
	struct hostile h = hostile_start();
	struct st_cloud *c = hostile_open(&h, "endless-pages");
	struct st_cloud_limits lim;
	struct st_msg err = { "" };
	long n = 0;

	st_cloud_get_limits(c, &lim);
	cr_assert_eq(lim.list_max, 1ULL << 32, "the default");
	lim.list_max = 10000;
	st_cloud_set_limits(c, &lim);
	list_fails(c, "endless-pages", -EIO, "10 pages gave only 0 keys: the server pages on: stopped", 30);
	cr_assert_eq(listings(&h, "endless-pages"), 10);
	st_cloud_free(c);

	c = hostile_open(&h, "endless-keys");
	st_cloud_set_limits(c, &lim);
	n = list_fails(c, "endless-keys", -EIO, "more than 10000 keys, more than the cluster could hold", 30);
	cr_assert_eq(n, 10000, "the callback saw every key up to the bound");
	cr_assert_eq(listings(&h, "endless-keys"), 11);
	st_cloud_set_list_bound(c, bound_2500, NULL);
	n = list_fails(c, "endless-keys", -EIO, "more than 2500 keys", 30);
	cr_assert_eq(n, 2500);
	cr_assert_eq(listings(&h, "endless-keys"), 14);
	st_cloud_get_limits(c, &lim);
	cr_assert_eq(lim.list_max, 10000, "the bound is for one listing only");
	st_cloud_set_list_bound(c, bound_fails, NULL);
	cr_assert_eq(st_cloud_list(c, "egroups/", count_any, &n, &err), ST_ECORRUPT);
	cr_assert_str_eq(err.text, "no bound today");
	cr_assert_eq(listings(&h, "endless-keys"), 14, "listed without a bound");
	st_cloud_free(c);

	/* pages slower than 1 s per 1000 keys: the listing's deadline, max(request_s, list_max / 1000) = 1 s */
	c = hostile_open(&h, "crawl");
	lim.list_max = 1000;
	lim.request_s = 1;
	st_cloud_set_limits(c, &lim);
	list_fails(c, "crawl", -ETIMEDOUT, "not done after 1 s", 3);
	cr_assert_lt(listings(&h, "crawl"), 8);
	st_cloud_free(c);
	hostile_stop(&h);
}

/*
 * Bodies are bounded: a listing page at 4 MiB (a 1 GiB one, an endless
 * chunked one), an error body at 64 KiB (then the status is reported and
 * retried), an object GET at the length asked for; garbage and cut XML
 * are unreadable listings.
 */
Test(st_cloud, hostile_bodies, .timeout = 120)
{
	struct hostile h = hostile_start();
	const char *modes[] = { "huge-body", "chunked" };
	struct st_msg err = { "" };
	struct st_cloud *c;
	uint8_t buf[4096];
	double t0;

	for (int i = 0; i < 2; i++) {
		c = hostile_open(&h, modes[i]);
		list_fails(c, modes[i], -EIO, "the reply's body is over 4.0 MiB: stopped", 10);
		cr_assert_eq(listings(&h, modes[i]), 1, "an over-long body is not retried");
		t0 = now_s();
		cr_assert_eq(st_cloud_get(c, "egroups/0000000000000001.eg", 0, sizeof(buf), buf, &err), ST_ECORRUPT,
			     "%s", err.text);
		cr_assert(strstr(err.text, "more than the 4096 bytes asked for"), "%s", err.text);
		cr_assert_lt(now_s() - t0, 10);
		st_cloud_free(c);
	}
	c = hostile_open(&h, "huge-error");
	{
		struct st_cloud_limits lim;
		st_cloud_get_limits(c, &lim);
		lim.backoff_ms = 10;
		st_cloud_set_limits(c, &lim);
	}
	list_fails(c, "huge-error", -EIO, "HTTP 500 InternalError (5 attempts)", 20);
	st_cloud_free(c);
	c = hostile_open(&h, "garbage");
	list_fails(c, "garbage", -EIO, "unreadable listing", 5);
	st_cloud_free(c);
	c = hostile_open(&h, "truncated");
	list_fails(c, "truncated", -EIO, "unreadable listing", 5);
	st_cloud_free(c);
	hostile_stop(&h);
}

/*
 * A byte a second: cut by the low-speed bound (here 2 s), or, with that
 * one off (0), by the total bound of a request (here 3 s). No retry after
 * a timeout.
 */
Test(st_cloud, hostile_slow, .timeout = 120)
{
	struct hostile h = hostile_start();
	struct st_cloud *c = hostile_open(&h, "slow");
	struct st_cloud_limits lim;
	struct st_msg err = { "" };
	uint8_t buf[100];
	double t0;

	st_cloud_get_limits(c, &lim);
	cr_assert_eq(lim.low_speed_s, 15, "the default");
	lim.low_speed_s = 2;
	st_cloud_set_limits(c, &lim);
	list_fails(c, "slow", -ETIMEDOUT, "Operation too slow", 8);
	cr_assert_eq(listings(&h, "slow"), 1, "a timeout is not retried");
	t0 = now_s();
	cr_assert_eq(st_cloud_get(c, "egroups/0000000000000001.eg", 0, sizeof(buf), buf, &err), -ETIMEDOUT, "%s",
		     err.text);
	cr_assert_lt(now_s() - t0, 8);
	lim.low_speed_bps = 0; /* no low-speed bound: only the total bound cuts it */
	lim.request_s = 3;
	st_cloud_set_limits(c, &lim);
	list_fails(c, "slow", -ETIMEDOUT, "timed out", 8);
	st_cloud_free(c);
	hostile_stop(&h);
}

/* 500 and 503 forever, a dropped connection: 1 + 4 attempts, 3.75 s of backoff, then one line. */
Test(st_cloud, hostile_errors_retried, .timeout = 120)
{
	struct hostile h = hostile_start();
	const char *modes[] = { "500", "503", "drop" };
	const char *want[] = { "HTTP 500 InternalError (5 attempts)", "HTTP 503 SlowDown (5 attempts)", "(5 attempts)" };
	struct st_msg err = { "" };
	uint8_t buf[100];

	for (int i = 0; i < 3; i++) {
		struct st_cloud *c = hostile_open(&h, modes[i]);
		double t0 = now_s();
		list_fails(c, modes[i], -EIO, want[i], 10);
		cr_assert_gt(now_s() - t0, 3.5, "%s: no backoff", modes[i]);
		/* (libcurl itself sends once more when a reused connection turns out closed) */
		cr_assert(listings(&h, modes[i]) >= 5 && listings(&h, modes[i]) <= 10, "%s: %ld listings", modes[i],
			  listings(&h, modes[i]));
		cr_assert_eq(st_cloud_get(c, "egroups/0000000000000001.eg", 0, sizeof(buf), buf, &err), -EIO, "%s",
			     err.text);
		cr_assert(strstr(err.text, want[i]), "%s", err.text);
		st_cloud_free(c);
	}
	hostile_stop(&h);
}

/*
 * A full scan against each misbehaviour (`cloud set` passes: the server
 * answers its check) fails with exit 1 and one line within 60 s (a byte a
 * second: the 15 s low-speed bound), on 1 rank and on 2; the scan is
 * recorded failed (report --last, status), and once the server behaves
 * the next scan runs.
 */
Test(st_cloud, scan_fails_cleanly_on_a_hostile_server, .timeout = 300)
{
	struct hostile h = hostile_start();
	const char *dir = th_tmpdir("cloud-hostile-scan");
	const char *modes[] = { "repeat-token", "endless-pages", "endless-keys", "huge-body", "chunked",
				"garbage",      "no-token",      "503",          "slow" };
	const char *want[] = { "repeated continuation token", "the server pages on", "more than the cluster could hold",
			       "body is over", "body is over", "unreadable listing", "no continuation token",
			       "HTTP 503 SlowDown", "Operation too slow" };
	char url[256], *out = NULL, *errout = NULL;
	const char *creds = cred_file(dir, "a", "b", 0600);
	uint8_t data[1 << 20];
	char in[2300];

	cr_assert_eq(th_run(dir, NULL, NULL, NULL, "init", "--nodes", "1", "--disks", "ssd:1x256M", NULL), 0);
	cr_assert_eq(th_run(dir, NULL, NULL, NULL, "container", "create", "c", "--rf", "1", NULL), 0);
	cr_assert_eq(th_run(dir, NULL, NULL, NULL, "vdisk", "create", "v", "--container", "c", "--size", "4M", NULL), 0);
	th_fill(data, sizeof(data), 7);
	snprintf(in, sizeof(in), "%s/data", dir);
	cr_assert_eq(th_write_file(in, data, sizeof(data)), 0);
	cr_assert_eq(th_run(dir, in, NULL, NULL, "vdisk", "write", "v", NULL), 0);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		double t0, took;
		int rc;

		snprintf(url, sizeof(url), "s3://%s@127.0.0.1:%d", modes[i], h.port);
		cr_assert_eq(th_run(dir, NULL, NULL, &errout, "cloud", "set", url, "--credentials", creds, NULL), 0,
			     "%s", errout);
		free(errout);
		t0 = now_s();
		rc = th_run(dir, NULL, NULL, &errout, "scan", "full", NULL);
		took = now_s() - t0;
		cr_log_info("scan against %s: exit %d in %.1f s", modes[i], rc, took);
		cr_assert_eq(rc, 1, "%s: exit %d: %s", modes[i], rc, errout);
		cr_assert_lt(took, 60, "%s: %.1f s", modes[i], took);
		{ /* one error line (progress lines are "info:") */
			int errs = 0;
			for (char *p = errout; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
				errs += !strncmp(p, "curator: ", 9);
			cr_assert_eq(errs, 1, "%s", errout);
		}
		cr_assert(strstr(errout, "curator: scan full: ") && strstr(errout, want[i]), "%s: want '%s': %s", modes[i],
			  want[i], errout);
		cr_assert_null(strstr(errout, "Sanitizer"), "%s", errout); /* (make asan) */
		free(errout);
		cr_assert_eq(th_run(dir, NULL, &out, NULL, "report", "--last", NULL), 0);
		cr_assert(strstr(out, ", failed,") && strstr(out, want[i]), "%s: %s", modes[i], out);
		free(out);
		cr_assert_eq(th_run(dir, NULL, &out, NULL, "status", NULL), 1, "a failed scan is a problem: %s", out);
		cr_assert(strstr(out, "failed: ") && strstr(out, want[i]), "%s: %s", modes[i], out);
		free(out);
	}
	{ /* on 2 ranks: the rank that lists fails, both end */
		const char *args[] = { "scan", "full", NULL };
		double t0 = now_s();
		snprintf(url, sizeof(url), "s3://repeat-token@127.0.0.1:%d", h.port);
		cr_assert_eq(th_run(dir, NULL, NULL, NULL, "cloud", "set", url, "--credentials", creds, NULL), 0);
		cr_assert_eq(th_run_ranks(2, dir, args), 1);
		cr_assert_lt(now_s() - t0, 60);
	}
	snprintf(url, sizeof(url), "s3://ok@127.0.0.1:%d", h.port);
	cr_assert_eq(th_run(dir, NULL, NULL, NULL, "cloud", "set", url, "--credentials", creds, NULL), 0);
	cr_assert_eq(th_run(dir, NULL, NULL, &errout, "scan", "full", NULL), 0, "%s", errout);
	free(errout);
	hostile_stop(&h);
}
