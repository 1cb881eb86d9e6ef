/*
 * Data efficiency on real data (files from /usr/share/doc and /usr/lib as
 * vdisk content), through the real binary: compression inline and
 * post-process after its delay (the injectable clock), every compressed
 * extent inflating with zlib itself and every byte reading back.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "storage/st_egroup.h"
#include "storage/st_store.h"
#include "tests/helpers.h"

#define RUN(dir, ...) th_run(dir, NULL, NULL, NULL, __VA_ARGS__, NULL)

enum { REAL = 16 << 20 };

static uint8_t *model;
static size_t model_len;

/* A 3-node RF2 cluster with container c (extra flags) and vdisk v holding REAL bytes of real files. */
static const char *cluster(const char *tag, const char *const *cflags)
{
	const char *dir = th_tmpdir(tag);
	const char *args[32] = { "container", "create", "c", "--rf", "2" };
	char path[2048];
	int n = 5;

	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "ssd:1x1G,hdd:1x2G"), 0);
	for (int i = 0; cflags && cflags[i]; i++)
		args[n++] = cflags[i];
	cr_assert_eq(th_run(dir, NULL, NULL, NULL, args[0], args[1], args[2], args[3], args[4], args[5], args[6],
			    args[7], args[8], args[9], NULL),
		     0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "v", "--container", "c", "--size", "64M"), 0);
	free(model);
	model = th_real_data(REAL, &model_len);
	cr_assert(model && model_len > (8 << 20), "too little real data found");
	snprintf(path, sizeof(path), "%s/data", dir);
	cr_assert_eq(th_write_file(path, model, model_len), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "v", path), 0);
	return dir;
}

static void vdisk_reads(const char *dir, const char *name, const uint8_t *want, size_t len)
{
	char out[2048];
	size_t n;
	uint8_t *got;

	snprintf(out, sizeof(out), "%s/readback", dir);
	cr_assert_eq(RUN(dir, "vdisk", "read", name, "--length", "16M", "--output", out), 0, "read failed");
	got = th_read_file(out, &n);
	cr_assert_geq(n, len);
	cr_assert_eq(memcmp(got, want, len), 0, "vdisk %s: bytes lost", name);
	free(got);
}

static void reads_back(const char *dir)
{
	vdisk_reads(dir, "v", model, model_len);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
}

struct stored {
	struct st_store *st;
	uint64_t raw, stored, compressed, extents, zlib_flagged;
	uint8_t *buf, *inflated, *ours;
};

/* Every compressed extent: zlib itself inflates its stored bytes to what our read path returns. */
static int eg_cb(void *arg, int rc_row, uint64_t id, const struct st_egroup_rec *g)
{
	struct stored *s = arg;

	(void)id;
	cr_assert_eq(rc_row, 0);
	for (int k = 0; k < g->nextents; k++) {
		const struct st_extent_rec *e = &g->extents[k];
		s->extents++;
		s->raw += e->raw_len;
		s->stored += e->stored_len;
		if (!(e->flags & ST_EXTENT_COMPRESSED))
			continue;
		s->compressed++;
		s->zlib_flagged += (e->flags & ST_EXTENT_ZLIB) != 0;
		cr_assert_lt(e->stored_len, e->raw_len);
		cr_assert_eq(st_store_read_replica(s->st, g, 0, e, s->buf), 0);
		cr_assert_eq(th_zlib_inflate(s->buf, e->stored_len, s->inflated, e->raw_len), 0,
			     "zlib cannot inflate an extent of egroup %llx", (unsigned long long)g->id);
		cr_assert_eq(st_store_read_extent(s->st, g, e, s->ours, NULL, NULL), 0);
		cr_assert_eq(memcmp(s->inflated, s->ours, e->raw_len), 0, "zlib and the read path disagree");
	}
	return 0;
}

static struct stored stored_bytes(const char *dir)
{
	struct stored s = { 0 };
	struct st_msg err;

	s.buf = malloc(8 << 20);
	s.inflated = malloc(8 << 20);
	s.ours = malloc(8 << 20);
	cr_assert_eq(st_store_open(dir, &s.st, &err), 0);
	for (int i = 0; i < st_meta_nshards(st_store_meta(s.st)); i++)
		cr_assert_eq(st_meta_scan_egroups(st_store_meta(s.st), i, eg_cb, &s, &err), 0);
	st_store_free(s.st);
	free(s.buf);
	free(s.inflated);
	free(s.ours);
	return s;
}

static unsigned long long gzip1(const char *dir)
{
	long long gz = th_sh_number("gzip -1 -c %s/data | wc -c", dir);

	cr_assert_gt(gz, 0);
	return (unsigned long long)gz;
}

static void at(long long offset)
{
	char now[32];
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL) + offset);
	setenv("CURATOR_NOW", now, 1);
}

/*
 * Post-process: nothing is compressed before the delay; after it a full
 * scan queues compress tasks, they shrink the data to within 10 % of
 * gzip -1 on the same bytes, zlib inflates every extent, everything reads
 * back, and the report shows the savings.
 */
Test(efficiency, compress_post_after_delay, .timeout = 180)
{
	const char *flags[] = { "--compress", "post:1h", NULL };
	const char *dir;
	struct stored s;
	unsigned long long gz;
	char *out = NULL;

	unsetenv("CURATOR_NOW");
	dir = cluster("comp-post", flags);
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	th_run(dir, NULL, &out, NULL, "tasks", "list", "--kind", "compress", NULL);
	cr_assert_null(strstr(out, "compress "), "compressed before the delay: %s", out);
	free(out);
	at(2 * 3600);
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	cr_assert_eq(RUN(dir, "tasks", "run"), 0);
	th_run(dir, NULL, &out, NULL, "tasks", "list", "--kind", "compress", "--state", "done", NULL);
	cr_assert(strstr(out, "compress"), "no compress task ran: %s", out);
	free(out);
	s = stored_bytes(dir);
	gz = gzip1(dir);
	cr_log_info("post igzip: %llu raw bytes stored as %llu (%llu of %llu extents compressed); gzip -1 %llu",
		    (unsigned long long)s.raw, (unsigned long long)s.stored, (unsigned long long)s.compressed,
		    (unsigned long long)s.extents, gz);
	cr_assert_eq(s.raw, model_len);
	cr_assert_gt(s.compressed, 0);
	cr_assert_eq(s.zlib_flagged, 0);
	cr_assert_leq((double)s.stored, 1.10 * (double)gz, "stored %llu vs gzip -1 %llu", (unsigned long long)s.stored, gz);
	reads_back(dir);
	/* the next scan reports the savings and queues nothing more */
	cr_assert_eq(RUN(dir, "scan", "full"), 0);
	th_run(dir, NULL, &out, NULL, "report", "--format", "json", NULL);
	cr_assert(strstr(out, "\"saved_compression\":"), "%s", out);
	cr_assert_null(strstr(out, "\"saved_compression\":0,"), "no savings reported: %s", out);
	cr_assert(strstr(out, "\"compress_candidates\":0"), "compressed egroups are candidates again: %s", out);
	free(out);
	unsetenv("CURATOR_NOW");
}

/* Inline with zlib level 6: compressed as written, smaller than gzip -1, reads back. */
Test(efficiency, compress_inline_zlib, .timeout = 120)
{
	const char *flags[] = { "--compress", "inline", "--codec", "zlib", NULL };
	const char *dir;
	struct stored s;
	unsigned long long gz;

	unsetenv("CURATOR_NOW");
	dir = cluster("comp-inline", flags);
	s = stored_bytes(dir);
	gz = gzip1(dir);
	cr_log_info("inline zlib: %llu raw bytes stored as %llu; gzip -1 %llu", (unsigned long long)s.raw,
		    (unsigned long long)s.stored, gz);
	cr_assert_gt(s.compressed, 0);
	cr_assert_eq(s.zlib_flagged, s.compressed);
	cr_assert_leq((double)s.stored, 1.05 * (double)gz);
	reads_back(dir);
	/* an overwrite in the middle of a compressed extent reads back too */
	{
		char path[2048];
		uint8_t patch[5000];
		th_fill(patch, sizeof(patch), 9);
		memcpy(model + 1000000, patch, sizeof(patch));
		snprintf(path, sizeof(path), "%s/patch", dir);
		cr_assert_eq(th_write_file(path, patch, sizeof(patch)), 0);
		cr_assert_eq(RUN(dir, "vdisk", "write", "v", "--offset", "1000000", path), 0);
		reads_back(dir);
	}
}

static int nranks = 1;

/* Full scans and their tasks, on nranks ranks. */
static void rounds(const char *dir, int n)
{
	const char *scan[] = { "scan", "full", "--sweep-grace", "0s", NULL };
	const char *run[] = { "tasks", "run", "--sweep-grace", "0s", NULL };

	for (int i = 0; i < n; i++) {
		cr_assert_eq(th_run_ranks(nranks, dir, scan), 0);
		cr_assert_eq(th_run_ranks(nranks, dir, run), 0);
	}
}

/*
 * The same real files written into four vdisks (full copies, as in desktop
 * images), three of them then partly overwritten: post-process dedup and
 * the collection after it remove >= 90 % of the duplicate bytes, and every
 * vdisk reads back its own bytes.
 */
static void four_copies(const char *tag, const char *const *flags, int expect_fp_tasks)
{
	const char *dir;
	uint8_t *copies[4];
	char path[2048], *out = NULL;
	struct stored before, after;
	enum { PATCH = 256 << 10 };
	uint64_t unique, dups;

	unsetenv("CURATOR_NOW");
	dir = cluster(tag, flags);
	copies[0] = model;
	snprintf(path, sizeof(path), "%s/data", dir);
	for (int i = 1; i < 4; i++) {
		char name[8], off[32];
		uint8_t *patch = malloc(PATCH);
		snprintf(name, sizeof(name), "v%d", i);
		cr_assert_eq(RUN(dir, "vdisk", "create", name, "--container", "c", "--size", "64M"), 0);
		cr_assert_eq(RUN(dir, "vdisk", "write", name, path), 0);
		/* partly overwritten, somewhere different in each */
		copies[i] = malloc(model_len);
		memcpy(copies[i], model, model_len);
		th_fill(patch, PATCH, 100 + (uint64_t)i);
		memcpy(copies[i] + (size_t)i * (3 << 20) + 12345, patch, PATCH);
		snprintf(path + strlen(dir), sizeof(path) - strlen(dir), "/patch%d", i);
		cr_assert_eq(th_write_file(path, patch, PATCH), 0);
		snprintf(off, sizeof(off), "%d", i * (3 << 20) + 12345);
		cr_assert_eq(RUN(dir, "vdisk", "write", name, "--offset", off, path), 0);
		snprintf(path, sizeof(path), "%s/data", dir);
		free(patch);
	}
	rounds(dir, 1); /* the overwritten extents' garbage goes first */
	before = stored_bytes(dir);
	rounds(dir, 4);
	th_run(dir, NULL, &out, NULL, "tasks", "list", "--kind", "fingerprint", "--state", "done", NULL);
	cr_assert_eq(th_lines(out) > 1, expect_fp_tasks, "fingerprint tasks: %s", out);
	free(out);
	after = stored_bytes(dir);
	unique = model_len + 3 * PATCH;
	dups = before.stored - unique;
	cr_log_info("%s: stored %llu -> %llu bytes per copy; unique %llu; %.1f %% of the duplicate bytes removed", tag,
		    (unsigned long long)before.stored, (unsigned long long)after.stored, (unsigned long long)unique,
		    100.0 * (double)(before.stored - after.stored) / (double)dups);
	cr_assert_geq((double)(before.stored - after.stored), 0.9 * (double)dups);
	vdisk_reads(dir, "v", copies[0], model_len);
	for (int i = 1; i < 4; i++) {
		char name[8];
		snprintf(name, sizeof(name), "v%d", i);
		vdisk_reads(dir, name, copies[i], model_len);
		free(copies[i]);
	}
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
	th_run(dir, NULL, &out, NULL, "report", "--format", "json", NULL);
	cr_assert_null(strstr(out, "\"saved_dedup\":0,"), "no dedup savings reported: %s", out);
	free(out);
}

Test(efficiency, dedup_post_four_copies, .timeout = 300)
{
	const char *flags[] = { "--dedup", "post", "--chunking", "fixed", NULL };
	four_copies("dedup-post", flags, 1);
}

/*
 * Inline: fingerprints are recorded on write, so no fingerprint task is
 * needed; content-defined chunks; scans and tasks on 2 ranks, whose dedup
 * tasks convert the same extents and make the same dedup extents at once.
 */
Test(efficiency, dedup_inline_cdc_four_copies_2_ranks, .timeout = 300)
{
	const char *flags[] = { "--dedup", "inline", "--chunking", "cdc", NULL };
	nranks = 2;
	four_copies("dedup-inline", flags, 0);
}

/*
 * Data reduction in two cycles (issue 19): four copies of real text (the
 * uncompressed files of /usr/share/doc, 4 MiB) in four vdisks of a
 * container with post-process compression and dedup, RF2. Cycle 1 (a full
 * scan, its tasks) finds the copies by their extents' checksums and
 * dedups them into a compressed egroup before compressing anything;
 * cycle 2 collects the copies. Then the disks hold at most 1.25 x gzip -1
 * of one copy x RF, every byte reads back, fsck is clean, and a third
 * scan finds nothing more to reduce or collect.
 */
Test(efficiency, dedup_compress_post_two_cycles, .timeout = 300)
{
	const char *dir = th_tmpdir("reduce-2");
	char path[2048], *out = NULL;
	long long gz, used, len;

	unsetenv("CURATOR_NOW");
	snprintf(path, sizeof(path), "%s/text", dir);
	cr_assert_eq(th_sh_number("find /usr/share/doc -type f ! -name '*.gz' -size +2k -print0 | LC_ALL=C sort -z"
				  " | xargs -0 cat 2>/dev/null | head -c 4194304 > %s; echo 0", path), 0);
	len = th_sh_number("stat -c %%s %s", path);
	cr_assert_gt(len, 2 << 20, "too little text in /usr/share/doc");
	gz = th_sh_number("gzip -1 -c %s | wc -c", path);
	cr_assert_eq(RUN(dir, "init", "--nodes", "3", "--disks", "ssd:1x1G,hdd:1x2G"), 0);
	cr_assert_eq(RUN(dir, "container", "create", "c", "--rf", "2", "--compress", "post", "--dedup", "post"), 0);
	for (int i = 0; i < 4; i++) {
		char name[8];
		snprintf(name, sizeof(name), "v%d", i);
		cr_assert_eq(RUN(dir, "vdisk", "create", name, "--container", "c", "--size", "64M"), 0);
		cr_assert_eq(RUN(dir, "vdisk", "write", name, path), 0);
	}
	at(2 * 3600); /* past the compression delay */
	rounds(dir, 2);
	used = th_sh_number("du -sb --apparent-size %s/disks | cut -f1", dir);
	cr_log_info("two cycles: 4 x %lld bytes of text stored as %lld bytes (RF2); gzip -1 of one copy %lld: %.2f x gzip x RF",
		    len, used, gz, (double)used / (2.0 * (double)gz));
	cr_assert_leq((double)used, 1.25 * (double)gz * 2, "stored %lld > 1.25 x %lld x 2", used, gz);
	for (int i = 0; i < 4; i++) {
		char name[8], rb[2048], ln[32];
		snprintf(name, sizeof(name), "v%d", i);
		snprintf(rb, sizeof(rb), "%s/readback", dir);
		snprintf(ln, sizeof(ln), "%lld", len);
		cr_assert_eq(RUN(dir, "vdisk", "read", name, "--length", ln, "--output", rb), 0);
		cr_assert_eq(th_sh_number("cmp -s %s %s; echo $?", rb, path), 0, "vdisk %s: bytes lost", name);
	}
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
	/* converged: the next scan queues no reduction and no collection */
	cr_assert_eq(RUN(dir, "scan", "full", "--sweep-grace", "0s"), 0);
	th_run(dir, NULL, &out, NULL, "tasks", "list", NULL);
	cr_assert_eq(th_lines(out), 1, "a third cycle still has work: %s", out);
	free(out);
	unsetenv("CURATOR_NOW");
}

static int pending(const char *dir)
{
	char *out = NULL;
	int n;

	th_run(dir, NULL, &out, NULL, "tasks", "list", "--state", "pending", NULL);
	n = th_lines(out) - 1;
	free(out);
	return n;
}

static long long report_counter(const char *dir, const char *name)
{
	return th_sh_number("%s -C %s report --format json | jq -r '.counters.%s'", th_curator(), dir, name);
}

/*
 * kill -9 of the task runner at random points while it compresses,
 * fingerprints, dedups and moves data to the cloud tier (a local
 * directory): every vdisk reads back its bytes after every kill, and a few
 * clean rounds later nothing has leaked and fsck is clean.
 */
Test(efficiency, killed_runner_during_compress_dedup_and_cloud_moves, .timeout = 300)
{
	const char *flags[] = { "--compress", "post:1h", "--dedup", "post", NULL };
	const char *scan[] = { "scan", "full", "--sweep-grace", "0s", NULL };
	const char *spawn_args[] = { "tasks", "run", "--sweep-grace", "0s", NULL };
	const char *dir;
	char path[2048], cloud[2100];
	uint64_t seed = (uint64_t)time(NULL);
	int kills = 0;

	unsetenv("CURATOR_NOW");
	dir = cluster("kill-eff", flags); /* vdisk v: real data, compressing and deduplicating container */
	snprintf(path, sizeof(path), "%s/data", dir);
	cr_assert_eq(RUN(dir, "vdisk", "create", "v1", "--container", "c", "--size", "64M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "v1", path), 0);
	snprintf(cloud, sizeof(cloud), "%s/objects", dir);
	cr_assert_eq(RUN(dir, "cloud", "set", cloud), 0);
	cr_assert_eq(RUN(dir, "container", "create", "arch", "--rf", "2", "--tiers", "hdd,cloud", "--cold-age", "1d"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "create", "a", "--container", "arch", "--size", "64M"), 0);
	cr_assert_eq(RUN(dir, "vdisk", "write", "a", path), 0);
	at(2 * 86400);
	for (int round = 0; round < 8; round++) {
		pid_t pid;
		int st;
		cr_assert_eq(th_run_ranks(1, dir, scan), 0);
		if (pending(dir) == 0)
			break;
		setenv("CURATOR_TASK_STEP_DELAY_US", "20000", 1);
		pid = th_spawn(dir, NULL, NULL, spawn_args);
		unsetenv("CURATOR_TASK_STEP_DELAY_US");
		usleep((useconds_t)(30000 + th_rand(&seed) % 400000));
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		kills += WIFSIGNALED(st);
		unsetenv("CURATOR_NOW"); /* (read "two days ago": the reads leave the data cold) */
		vdisk_reads(dir, "v", model, model_len); /* nothing lost, at every point */
		vdisk_reads(dir, "v1", model, model_len);
		vdisk_reads(dir, "a", model, model_len);
		at(2 * 86400);
	}
	cr_assert_gt(kills, 0, "the runner always finished before the kill");
	/* the killed runners' leases: seen by a scan, reaped by the next one a TTL later */
	cr_assert_eq(th_run_ranks(1, dir, scan), 0);
	usleep(TH_LEASE_TTL_US + 300000);
	/* clean rounds until a scan finds nothing to do (each task kind's follow-up is the next round's) */
	for (int round = 0; round < 10; round++) {
		cr_assert_eq(th_run_ranks(1, dir, scan), 0);
		if (pending(dir) == 0)
			break;
		rounds(dir, 1);
	}
	cr_assert_eq(pending(dir), 0, "the scans do not settle");
	cr_assert_eq(report_counter(dir, "dead_extents"), 0, "dead extents leaked");
	cr_assert_eq(report_counter(dir, "orphan_files"), 0, "orphan files leaked");
	cr_assert_eq(report_counter(dir, "orphan_extent_ids"), 0, "orphan extent-ID rows leaked");
	cr_assert_eq(report_counter(dir, "dangling_references"), 0);
	cr_assert_eq(report_counter(dir, "lost_egroups"), 0);
	cr_assert_gt(report_counter(dir, "cloud_egroups"), 0, "nothing reached the cloud tier");
	vdisk_reads(dir, "v", model, model_len);
	vdisk_reads(dir, "v1", model, model_len);
	vdisk_reads(dir, "a", model, model_len);
	cr_assert_eq(RUN(dir, "fsck", "--quiet"), 0);
	unsetenv("CURATOR_NOW");
}
