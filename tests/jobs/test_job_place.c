/*
 * Placement on real data through the real binary: ILM moves the coldest
 * egroups off a tier above its high watermark until the low one, moves data
 * past its cold age whatever the usage, promotes egroups read often, and
 * disk balancing evens out a tier after a disk is added; every byte reads
 * back and fsck stays clean.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/st_store.h"
#include "tests/helpers.h"

#define RUN(dir, ...) th_run(dir, NULL, NULL, NULL, __VA_ARGS__, NULL)

static void at(long long offset)
{
	char now[32];
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL) + offset);
	setenv("CURATOR_NOW", now, 1);
}

/* Write len bytes of buf into a new vdisk `name` of container c. */
static void vdisk(const char *dir, const char *name, const uint8_t *buf, size_t len)
{
	char path[2048], size[32];

	snprintf(size, sizeof(size), "%zuM", (len >> 20) + 1);
	snprintf(path, sizeof(path), "%s/%s.data", dir, name);
	cr_assert_eq(th_write_file(path, buf, len), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", name, "--container", "c", "--size", size), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", name, path), 0);
}

static void reads(const char *dir, const char *name, const uint8_t *want, size_t len)
{
	char out[2048], l[32];
	size_t n;
	uint8_t *got;

	snprintf(out, sizeof(out), "%s/readback", dir);
	snprintf(l, sizeof(l), "%zu", len);
	cr_assert_eq(RUN(dir, "vdisk", "read", name, "--length", l, "--output", out), 0, "read failed");
	got = th_read_file(out, &n);
	cr_assert_eq(n, len);
	cr_assert_eq(memcmp(got, want, len), 0, "vdisk %s: bytes lost", name);
	free(got);
}

struct where {
	uint64_t bytes[ST_NTIERS]; /* per replica, by owner */
	uint64_t owner_bytes[8][ST_NTIERS];
	int64_t newest_moved, oldest_kept;
};

struct ctx {
	struct where w;
	uint64_t owners[8];
	int nowners;
};

static int eg_cb(void *arg, int rc_row, uint64_t id, const struct st_egroup_rec *g)
{
	struct ctx *c = arg;

	(void)id;
	cr_assert_eq(rc_row, 0);
	c->w.bytes[g->tier] += g->used;
	for (int i = 0; i < c->nowners; i++)
		if (c->owners[i] == g->owner)
			c->w.owner_bytes[i][g->tier] += g->used;
	return 0;
}

/* Per tier, the egroup bytes of each named vdisk. */
static struct where where(const char *dir, const char *const *names, int n)
{
	struct ctx c = { .nowners = n };
	struct st_store *st;
	struct st_msg err;

	cr_assert_eq(st_store_open(dir, &st, &err), 0);
	for (int i = 0; i < n; i++) {
		struct st_vdisk v;
		cr_assert_eq(st_config_vdisk_get(st_store_config(st), names[i], &v, &err), 0);
		c.owners[i] = v.id;
	}
	for (int s = 0; s < st_meta_nshards(st_store_meta(st)); s++)
		cr_assert_eq(st_meta_scan_egroups(st_store_meta(st), s, eg_cb, &c, &err), 0);
	st_store_free(st);
	return c.w;
}

/* Used / capacity of a tier's disks, in percent, from config.db. */
static double tier_pct(const char *dir, enum st_tier t, double *max_disk, double *min_disk)
{
	struct st_config *cfg;
	struct st_disk *d;
	struct st_msg err;
	uint64_t used = 0, cap = 0;
	int n;

	*max_disk = 0;
	*min_disk = 100;
	cr_assert_eq(st_config_open(dir, &cfg, &err), 0);
	cr_assert_eq(st_config_disks(cfg, &d, &n, &err), 0);
	for (int i = 0; i < n; i++) {
		double p;
		if (d[i].tier != t || !d[i].ok)
			continue;
		used += d[i].used;
		cap += d[i].capacity;
		p = 100.0 * (double)d[i].used / (double)d[i].capacity;
		if (p > *max_disk)
			*max_disk = p;
		if (p < *min_disk)
			*min_disk = p;
	}
	free(d);
	st_config_free(cfg);
	return cap ? 100.0 * (double)used / (double)cap : 0;
}

/*
 * SSD filled past 75 % with part of the data written ten days ago: a scan
 * and its tasks bring SSD to <= 60 % by moving the old (coldest) data to
 * HDD, none of the recent data; everything reads back. Then the moved data
 * is read often: the next scan promotes it (as far as the watermark allows).
 */
Test(place, ilm_watermarks_move_the_coldest_then_promote, .timeout = 240)
{
	const char *dir = th_tmpdir("ilm");
	const char *names[] = { "old", "new" };
	size_t len;
	uint8_t *data = th_real_data(76 << 20, &len);
	size_t old_len = 40 << 20, new_len;
	double pct, mx, mn;
	struct where w;
	char *out = NULL;

	cr_assert(data && len > (60 << 20), "too little real data");
	new_len = len - old_len;
	unsetenv("CURATOR_NOW");
	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "ssd:1x64M,hdd:1x512M"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2"), 0);
	at(-10 * 86400);
	vdisk(dir, "old", data, old_len);
	unsetenv("CURATOR_NOW");
	vdisk(dir, "new", data + old_len, new_len);
	pct = tier_pct(dir, ST_TIER_SSD, &mx, &mn);
	cr_log_info("ssd %.1f %% used before", pct);
	cr_assert_gt(pct, 75.0);
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	pct = tier_pct(dir, ST_TIER_SSD, &mx, &mn);
	w = where(dir, names, 2);
	cr_log_info("ssd %.1f %% after; old: %llu ssd / %llu hdd; new: %llu ssd / %llu hdd", pct,
		    (unsigned long long)w.owner_bytes[0][ST_TIER_SSD], (unsigned long long)w.owner_bytes[0][ST_TIER_HDD],
		    (unsigned long long)w.owner_bytes[1][ST_TIER_SSD], (unsigned long long)w.owner_bytes[1][ST_TIER_HDD]);
	cr_assert_leq(pct, 60.0);
	cr_assert_gt(w.owner_bytes[0][ST_TIER_HDD], 0, "the old data did not move");
	cr_assert_eq(w.owner_bytes[1][ST_TIER_HDD], 0, "recent data moved while older data stayed");
	reads(dir, "old", data, old_len);
	reads(dir, "new", data + old_len, new_len);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
	th_run(dir, NULL, &out, NULL, "report", "--format", "json", NULL);
	cr_assert(strstr(out, "\"tier_down_watermark\":") && !strstr(out, "\"tier_down_watermark\":0,"), "%s", out);
	free(out);
	/* the moved data is read often now: promoted, without passing the watermark again */
	for (int i = 0; i < 3; i++)
		reads(dir, "old", data, old_len);
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	th_run(dir, NULL, &out, NULL, "tasks", "list", "--kind", "tier_up", NULL);
	cr_assert_gt(th_lines(out), 1, "nothing promoted: %s", out);
	free(out);
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	pct = tier_pct(dir, ST_TIER_SSD, &mx, &mn);
	w = where(dir, names, 2);
	cr_log_info("after promotion: ssd %.1f %%, old %llu bytes back on ssd", pct,
		    (unsigned long long)w.owner_bytes[0][ST_TIER_SSD]);
	cr_assert_leq(pct, 75.0);
	reads(dir, "old", data, old_len);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
	free(data);
}

/* Past the container's cold age, data moves down whatever the usage. */
Test(place, ilm_cold_age, .timeout = 120)
{
	const char *dir = th_tmpdir("cold");
	const char *names[] = { "v" };
	size_t len;
	uint8_t *data = th_real_data(8 << 20, &len);
	struct where w;

	unsetenv("CURATOR_NOW");
	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "ssd:1x256M,hdd:1x256M"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2", "--cold-age", "1d"), 0);
	vdisk(dir, "v", data, len);
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	w = where(dir, names, 1);
	cr_assert_eq(w.bytes[ST_TIER_HDD], 0, "young data moved");
	at(2 * 86400);
	cr_assert_eq(RUN(dir, "scan", "partial"), 0); /* the cheaper scan decides ILM too */
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	w = where(dir, names, 1);
	cr_assert_eq(w.bytes[ST_TIER_SSD], 0, "cold data stayed on ssd");
	reads(dir, "v", data, len);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
	unsetenv("CURATOR_NOW");
	free(data);
}

/* A new empty disk: the full disks of its tier give replicas to it until none is 15 points above the mean. */
Test(place, disk_balancing, .timeout = 180)
{
	const char *dir = th_tmpdir("balance");
	size_t len;
	uint8_t *data = th_real_data(72 << 20, &len);
	double pct, mx, mn;

	unsetenv("CURATOR_NOW");
	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "hdd:1x64M"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2"), 0);
	vdisk(dir, "v", data, len > (72 << 20) ? 72 << 20 : len);
	cr_assert_eq(RUN(dir, "disk", "add", "--node", "1", "--tier", "hdd", "--size", "64M"), 0);
	pct = tier_pct(dir, ST_TIER_HDD, &mx, &mn);
	cr_log_info("hdd mean %.1f %%, disks %.1f .. %.1f %% before", pct, mn, mx);
	cr_assert_gt(mx, pct + 15);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(RUN(dir, "scan", "full"), 0);
		cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	}
	pct = tier_pct(dir, ST_TIER_HDD, &mx, &mn);
	cr_log_info("hdd mean %.1f %%, disks %.1f .. %.1f %% after", pct, mn, mx);
	cr_assert_leq(mx, pct + 15);
	cr_assert_geq(mn, pct - 15);
	reads(dir, "v", data, len > (72 << 20) ? 72 << 20 : len);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
	free(data);
}

/* Local copies (egroup files) left on the disks of the cluster. */
static int local_files(const char *dir)
{
	return (int)th_sh_number("find %s/disks -name '*.eg' | wc -l", dir);
}

static int task_count(const char *dir, const char *kind, const char *state)
{
	char *out = NULL;
	int n;

	th_run(dir, NULL, &out, NULL, "tasks", "list", "--kind", kind, "--state", state, NULL);
	n = th_lines(out) - 1;
	free(out);
	return n;
}

/* tools/s3-test-server.sh rgw-stop / rgw-start: the gateway alone (its objects stay). */
static int s3_server(const char *what)
{
	char cmd[2200];
	const char *src = getenv("CURATOR_SRC");

	snprintf(cmd, sizeof(cmd), "%s/tools/s3-test-server.sh %s", src ? src : ".", what);
	return system(cmd);
}

/*
 * Cold data goes to the cloud tier (url: a directory or s3://...): the
 * egroups go up, the local copies go, reads come back (range GETs), fsck is
 * clean; read often, they come back down to HDD and the objects go.
 */
static void cloud_round_trip(const char *tag, const char *url, const char *creds, int server_down, size_t size)
{
	const char *dir = th_tmpdir(tag);
	const char *names[] = { "v" };
	size_t len;
	uint8_t *data = th_real_data(size, &len);
	struct where w;

	unsetenv("CURATOR_NOW");
	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "hdd:1x256M"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2", "--tiers", "hdd,cloud", "--cold-age", "1d"), 0);
	if (creds)
		cr_assert_eq(RUN(dir, "cloud", "set", url, "--credentials", creds), 0);
	else
		cr_assert_eq(RUN(dir, "cloud", "set", url), 0);
	vdisk(dir, "v", data, len);
	at(2 * 86400);
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	if (server_down) {
		/* one egroup goes up, then the server stops: the rest fail, nothing is lost */
		cr_assert_eq(RUN(dir, "tasks", "run", "--max", "1"), 0);
		cr_assert_eq(s3_server("rgw-stop"), 0);
		RUN(dir, "tasks", "run");
		cr_assert_gt(task_count(dir, "tier_down", "failed"), 0, "no task failed with the server down");
		cr_assert_gt(local_files(dir), 0, "local copies went without a verified upload");
		cr_assert_eq(s3_server("rgw-start"), 0);
		cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0); /* (no vdisk read here: a read makes data warm again) */
		cr_assert_eq(RUN(dir, "scan", "full"), 0); /* queues the failed ones again */
	}
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	w = where(dir, names, 1);
	cr_log_info("%s: %llu bytes on the cloud tier, %llu on hdd, %d local files", tag,
		    (unsigned long long)w.bytes[ST_TIER_CLOUD], (unsigned long long)w.bytes[ST_TIER_HDD], local_files(dir));
	cr_assert_eq(w.bytes[ST_TIER_HDD], 0, "cold data stayed local");
	cr_assert_gt(w.bytes[ST_TIER_CLOUD], 0);
	cr_assert_eq(local_files(dir), 0, "local copies left after the upload");
	reads(dir, "v", data, len);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
	if (!creds) { /* a flipped bit in an object: reads and fsck say so, in one line, exit 1 */
		char obj[2300], *err = NULL;
		long long off = 4096 + 100;
		uint8_t b;
		FILE *f;
		snprintf(obj, sizeof(obj), "find %s -name '*.eg' | head -1", url);
		f = popen(obj, "r");
		cr_assert(f && fgets(obj, sizeof(obj), f));
		pclose(f);
		obj[strcspn(obj, "\n")] = 0;
		f = fopen(obj, "r+b");
		cr_assert(f && fseek(f, off, SEEK_SET) == 0 && fread(&b, 1, 1, f) == 1);
		b ^= 0x10;
		cr_assert(fseek(f, off, SEEK_SET) == 0 && fwrite(&b, 1, 1, f) == 1);
		fclose(f);
		cr_assert_eq(th_run(dir, NULL, NULL, &err, "vdisk", "read", "v", "--output", "/dev/null", NULL), 1);
		cr_assert(strstr(err, "checksum") && th_lines(err) == 1, "%s", err);
		free(err);
		cr_assert_eq(RUN(dir, "fsck", "--quiet"), 1);
		f = fopen(obj, "r+b"); /* put it back */
		b ^= 0x10;
		cr_assert(f && fseek(f, off, SEEK_SET) == 0 && fwrite(&b, 1, 1, f) == 1);
		fclose(f);
		reads(dir, "v", data, len);
	}
	/* a full scan lists the objects: none missing, none orphaned */
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	{
		char *out = NULL;
		th_run(dir, NULL, &out, NULL, "report", "--format", "json", NULL);
		cr_assert(strstr(out, "\"lost_egroups\":0,"), "%s", out);
		cr_assert_null(strstr(out, "\"cloud_objects\":0,"), "no object listed: %s", out);
		free(out);
	}
	/* read often: back down to hdd, the objects deleted */
	for (int i = 0; i < 3; i++)
		reads(dir, "v", data, len);
	unsetenv("CURATOR_NOW");
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	w = where(dir, names, 1);
	cr_assert_eq(w.bytes[ST_TIER_CLOUD], 0, "hot data stayed on the cloud tier");
	reads(dir, "v", data, len);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
	free(data);
}

Test(place, cloud_tier_local_directory, .timeout = 180)
{
	char url[2048];

	snprintf(url, sizeof(url), "%s/objects", th_tmpdir("cloud-dir"));
	/* 100 MiB: some 32 egroups, four store groups, two at once, rows flipped twice in the batch */
	cloud_round_trip("cloud-local", url, NULL, 0, 100 << 20);
}

/* Flip one bit at off in file path (again: flips it back). */
static void flip_bit(const char *path, long off)
{
	FILE *f = fopen(path, "r+b");
	uint8_t b;

	cr_assert(f && fseek(f, off, SEEK_SET) == 0 && fread(&b, 1, 1, f) == 1, "%s", path);
	b ^= 0x04;
	cr_assert(fseek(f, off, SEEK_SET) == 0 && fwrite(&b, 1, 1, f) == 1);
	fclose(f);
}

/* The files of egroup number k's copies (in name order) on the disks of dir, into p[0..1]. */
static void copies(const char *dir, int k, char p[2][2048])
{
	char cmd[2400];
	FILE *f;

	snprintf(cmd, sizeof(cmd),
		 "name=$(find %s/disks -name '*.eg' -printf '%%f\\n' | sort -u | sed -n %dp); "
		 "find %s/disks -name \"$name\" | sort",
		 dir, k + 1, dir);
	f = popen(cmd, "r");
	cr_assert(f);
	for (int i = 0; i < 2; i++) {
		cr_assert(fgets(p[i], 2048, f), "egroup %d has fewer than two copies", k);
		p[i][strcspn(p[i], "\n")] = 0;
	}
	pclose(f);
}

/*
 * Moves to the cloud read a copy that verifies: one egroup with a flipped
 * bit in one copy and one with a truncated copy go up from their other
 * copy; one whose both copies are bad fails in one line and keeps both
 * (nothing of it is lost), and goes once mended. Every byte reads back.
 */
Test(place, cloud_move_reads_a_copy_that_verifies, .timeout = 180)
{
	const char *dir = th_tmpdir("cloud-bad-copies");
	char url[2200], a[2][2048], b[2][2048], c[2][2048], *out = NULL;
	size_t len;
	uint8_t *data = th_real_data(24 << 20, &len);
	const char *names[] = { "v" };
	long long size;

	snprintf(url, sizeof(url), "%s/objects", dir);
	unsetenv("CURATOR_NOW");
	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "hdd:1x128M"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2", "--tiers", "hdd,cloud", "--cold-age", "1d"), 0);
	cr_assert_eq(RUN(dir, "cloud", "set", url), 0);
	vdisk(dir, "v", data, len);
	at(2 * 86400);
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	copies(dir, 0, a);
	copies(dir, 1, b);
	copies(dir, 2, c);
	flip_bit(a[0], 8192 + 17);                 /* one bad copy */
	size = th_sh_number("stat -c %%s %s", b[1]);
	cr_assert_eq(truncate(b[1], size / 2), 0); /* one short copy */
	flip_bit(c[0], 4096 + 5);                  /* both bad */
	flip_bit(c[1], size / 2);
	RUN(dir, "tasks", "run");
	cr_assert_eq(task_count(dir, "tier_down", "failed"), 1, "one move fails: the egroup with no good copy");
	th_run(dir, NULL, &out, NULL, "tasks", "list", "--kind", "tier_down", "--state", "failed", NULL);
	cr_assert(strstr(out, "no copy verifies whole"), "%s", out);
	free(out);
	cr_assert_eq(local_files(dir), 2, "the failed egroup keeps both copies, the others went");
	cr_assert(access(c[0], F_OK) == 0 && access(c[1], F_OK) == 0);
	flip_bit(c[0], 4096 + 5); /* mended */
	flip_bit(c[1], size / 2);
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	cr_assert_eq(local_files(dir), 0);
	cr_assert_eq(where(dir, names, 1).bytes[ST_TIER_HDD], 0);
	reads(dir, "v", data, len);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
	free(data);
}

static const char *s3_creds(const char *secret)
{
	static char path[2][2048];
	static int k;
	char text[600], *p = path[k++ % 2];

	snprintf(p, 2048, "%s/creds", th_tmpdir("creds"));
	snprintf(text, sizeof(text), "access_key = %s\nsecret_key = %s\n", getenv("S3_ACCESS_KEY"), secret);
	cr_assert_eq(th_write_file(p, text, strlen(text)), 0);
	chmod(p, 0600);
	return p;
}

/* s3://bucket@host:port of the test server (tests/run.sh starts it and exports its address). */
static void s3_url(char *buf, size_t len)
{
	cr_assert_eq(th_s3_url(buf, len), 0, "S3_ENDPOINT/S3_BUCKET not set: tests/run.sh starts tools/s3-test-server.sh");
}

/*
 * The real S3 server (one test: it stops the server part way, so no other
 * test of this binary may use it meanwhile). Wrong credentials first:
 * `cloud set` says so in one line, exit 2, and records nothing. Then the
 * round trip, the server stopping in the middle of the migration.
 */
Test(place, cloud_tier_s3, .timeout = 300)
{
	const char *dir = th_tmpdir("cloud-creds");
	char url[512], *out = NULL, *errout = NULL;

	s3_url(url, sizeof(url));
	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "hdd:1x64M"), 0);
	cr_assert_eq(th_run(dir, NULL, NULL, &errout, "cloud", "set", url, "--credentials", s3_creds("NOT-THE-SECRET"), NULL), 2);
	cr_assert(strstr(errout, "access denied") && strstr(errout, "credentials"), "%s", errout);
	cr_assert_null(strstr(errout, "NOT-THE-SECRET"), "the secret leaked: %s", errout);
	cr_assert_eq(th_lines(errout), 1, "%s", errout);
	free(errout);
	th_run(dir, NULL, &out, NULL, "cloud", "show", NULL);
	cr_assert(strstr(out, "no cloud tier configured"), "%s", out);
	free(out);
	cloud_round_trip("cloud-s3", url, s3_creds(getenv("S3_SECRET_KEY")), 1, 12 << 20);
}
