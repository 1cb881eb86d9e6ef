/*
 * sv_ctl: the controller without nbdkit, on a real cluster: writes, zeroes and
 * flushes through the write-back log against a model; what a flush returned for
 * is in the cluster (another handle reads it); block status matches the model's
 * holes; the size and time limits commit; snapshots refuse writes.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve/sv_ctl.h"
#include "tests/storage/st_store_th.h"

struct ext_check {
	const uint8_t *stored; /* 1: the model says the byte is stored */
	uint64_t next;
};

static int ext_cb(void *arg, uint64_t off, uint64_t len, int hole)
{
	struct ext_check *x = arg;

	cr_assert_eq(off, x->next, "extents not consecutive");
	for (uint64_t b = off; b < off + len; b++)
		cr_assert_eq(!hole, x->stored[b], "byte %llu: hole %d", (unsigned long long)b, hole);
	x->next = off + len;
	return 0;
}

static struct sv_ctl *ctl_open(const char *dir, uint64_t log_max, uint32_t commit_ms)
{
	struct sv_opts o;
	struct sv_ctl *c;
	struct st_msg err;

	sv_opts_default(&o);
	o.log_max = log_max;
	o.commit_ms = commit_ms;
	cr_assert_eq(sv_ctl_new(dir, &o, &c, &err), 0, "%s", err.text);
	cr_assert_eq(sv_ctl_start(c), 0); /* the commit and lease threads */
	return c;
}

Test(sv_ctl, log_against_a_model, .timeout = 120)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 2, "hdd:1x512M");
	enum { BS = 65536, SIZE = 128 * BS };
	uint8_t *model = calloc(1, SIZE), *stored = calloc(1, SIZE), *flushed = calloc(1, SIZE);
	uint8_t *buf = malloc(SIZE);
	uint64_t seed = 3;
	struct st_msg err;
	struct sv_ctl *c;
	struct sv_vd *vd, *vd2;

	container(st, "c", 2);
	cr_assert_eq(st_vdisk_create(st, "v", "c", SIZE, BS, NULL, &err), 0);
	c = ctl_open(dir, 1 << 20, 60000); /* a small log: the size limit commits too */
	cr_assert_eq(sv_vd_open(c, "nope", &vd, &err), ST_ENOTFOUND);
	cr_assert_eq(sv_vd_open(c, "v", &vd, &err), 0, "%s", err.text);
	cr_assert_eq(sv_vd_open(c, "v", &vd2, &err), 0, "%s", err.text);
	cr_assert_eq(vd, vd2, "connections to one vdisk share it");
	for (int i = 0; i < 600; i++) {
		uint64_t r = th_rand(&seed);
		uint32_t len = 1 + (uint32_t)(r % 5 == 0 ? th_rand(&seed) % (3 * BS) : th_rand(&seed) % 8192);
		uint64_t off = th_rand(&seed) % (SIZE - len);

		if (r % 6 == 0) {
			cr_assert_eq(sv_vd_write(i % 2 ? vd : vd2, off, NULL, len, r % 13 == 0, &err), 0, "%s", err.text);
			memset(model + off, 0, len);
			memset(stored + off, 0, len);
		} else {
			th_fill(buf, len, seed++);
			cr_assert_eq(sv_vd_write(vd, off, buf, len, r % 17 == 0, &err), 0, "%s", err.text);
			memcpy(model + off, buf, len);
			memset(stored + off, 1, len);
		}
		if (r % 41 == 0) {
			cr_assert_eq(sv_vd_flush(vd2, &err), 0, "%s", err.text);
			memcpy(flushed, model, SIZE);
			expect_read(st, "v", flushed, SIZE); /* another handle sees what was flushed */
		}
		if (i % 50 == 0) {
			struct ext_check x = { stored, 0 };
			cr_assert_eq(sv_vd_pread(vd, 0, SIZE, buf, &err), 0, "%s", err.text);
			cr_assert_eq(memcmp(buf, model, SIZE), 0, "read %d through the log differs", i);
			while (x.next < SIZE)
				cr_assert_eq(sv_vd_extents(vd, x.next, SIZE - x.next, ext_cb, &x, &err), 0, "%s", err.text);
		}
	}
	/* reads of small pieces, some wholly in the log */
	for (int i = 0; i < 200; i++) {
		uint32_t len = 1 + (uint32_t)(th_rand(&seed) % 5000);
		uint64_t off = th_rand(&seed) % (SIZE - len);
		cr_assert_eq(sv_vd_pread(vd, off, len, buf, &err), 0, "%s", err.text);
		cr_assert_eq(memcmp(buf, model + off, len), 0);
	}
	cr_assert_eq(sv_vd_write(vd, SIZE - 10, buf, 11, 0, &err), ST_ERANGE);
	cr_assert_eq(sv_vd_close(vd2, &err), 0, "%s", err.text);
	cr_assert_eq(sv_vd_close(vd, &err), 0, "%s", err.text); /* the last close commits */
	expect_read(st, "v", model, SIZE);
	sv_ctl_free(c);
	fsck_clean(st);
	free(model);
	free(stored);
	free(flushed);
	free(buf);
	st_store_free(st);
	st_rm_rf(dir);
}

Test(sv_ctl, time_limit_commits_and_snapshots_are_read_only, .timeout = 60)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 1, "hdd:1x256M");
	enum { SIZE = 8 << 20 };
	uint8_t *model = calloc(1, SIZE), b[4096];
	struct st_msg err;
	struct sv_ctl *c;
	struct sv_vd *vd, *snap;
	int i;

	container(st, "c", 1);
	cr_assert_eq(st_vdisk_create(st, "v", "c", SIZE, 0, NULL, &err), 0);
	c = ctl_open(dir, 32 << 20, 200);
	cr_assert_eq(sv_vd_open(c, "v", &vd, &err), 0, "%s", err.text);
	th_fill(b, sizeof(b), 1);
	cr_assert_eq(sv_vd_write(vd, 12345, b, sizeof(b), 0, &err), 0, "%s", err.text);
	memcpy(model + 12345, b, sizeof(b));
	/* no flush: the commit thread commits within commit_ms (plus its 50 ms tick) */
	for (i = 0; i < 100; i++) {
		uint8_t got[4096];
		struct st_vdisk v;
		cr_assert_eq(st_config_vdisk_get(st_store_config(st), "v", &v, &err), 0);
		cr_assert_eq(st_vdisk_pread(st, &v, 12345, sizeof(got), got, &err), 0, "%s", err.text);
		if (memcmp(got, b, sizeof(b)) == 0)
			break;
		usleep(20000);
	}
	cr_assert_lt(i, 100, "the time limit never committed the log");
	/* a snapshot between commits sees what was committed; it refuses writes */
	cr_assert_eq(st_vdisk_snapshot(st, "v", "v@1", &err), 0, "%s", err.text);
	cr_assert_eq(sv_vd_open(c, "v@1", &snap, &err), 0, "%s", err.text);
	cr_assert(sv_vd_readonly(snap));
	cr_assert_eq(sv_vd_write(snap, 0, b, 10, 0, &err), ST_EREADONLY);
	cr_assert_eq(sv_vd_close(snap, &err), 0);
	cr_assert_eq(sv_vd_close(vd, &err), 0);
	sv_ctl_free(c);
	expect_read(st, "v@1", model, SIZE);
	free(model);
	st_store_free(st);
	st_rm_rf(dir);
}

/*
 * Reads while commits run: threads each write their own region and read it
 * back at once, while small logs are frozen and committed underneath
 * (double-buffered: the commit thread and the writers commit, mu dropped).
 * No read may miss an acknowledged write; the cluster ends as the model.
 */
struct rw_arg {
	struct sv_vd *vd;
	uint8_t *model; /* the whole vdisk; each thread touches only its region */
	uint64_t base, len;
	uint64_t seed;
	int bad;
};

static void *rw_thread(void *arg)
{
	struct rw_arg *a = arg;
	uint8_t *buf = malloc(65536), *got = malloc(65536);
	struct st_msg err;

	for (int i = 0; i < 300 && !a->bad; i++) {
		uint32_t len = 1 + (uint32_t)(th_rand(&a->seed) % 20000);
		uint64_t off = a->base + th_rand(&a->seed) % (a->len - len);
		uint64_t r = th_rand(&a->seed);

		if (r % 7 == 0) {
			a->bad |= sv_vd_write(a->vd, off, NULL, len, 0, &err) != 0;
			memset(a->model + off, 0, len);
		} else {
			th_fill(buf, len, a->seed);
			a->bad |= sv_vd_write(a->vd, off, buf, len, r % 29 == 0, &err) != 0;
			memcpy(a->model + off, buf, len);
		}
		if (r % 31 == 0)
			a->bad |= sv_vd_flush(a->vd, &err) != 0;
		len = 1 + (uint32_t)(th_rand(&a->seed) % 65536);
		if (len > a->len)
			len = (uint32_t)a->len;
		off = a->base + th_rand(&a->seed) % (a->len - len + 1);
		a->bad |= sv_vd_pread(a->vd, off, len, got, &err) != 0;
		if (!a->bad && memcmp(got, a->model + off, len))
			a->bad = 2;
	}
	free(buf);
	free(got);
	return NULL;
}

Test(sv_ctl, reads_during_commits_see_every_acknowledged_write, .timeout = 120)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 2, "hdd:1x1G");
	enum { BS = 65536, SIZE = 64 * BS, T = 4 };
	uint8_t *model = calloc(1, SIZE);
	struct rw_arg a[T];
	pthread_t th[T];
	struct st_msg err;
	struct sv_ctl *c;
	struct sv_vd *vd;

	container(st, "c", 2);
	cr_assert_eq(st_vdisk_create(st, "v", "c", SIZE, BS, NULL, &err), 0);
	c = ctl_open(dir, 96 << 10, 1); /* small logs, frozen by writers; the commit thread commits what waits */
	cr_assert_eq(sv_vd_open(c, "v", &vd, &err), 0, "%s", err.text);
	for (int i = 0; i < T; i++) {
		a[i] = (struct rw_arg){ vd, model, (uint64_t)i * (SIZE / T), SIZE / T, 11 + (uint64_t)i, 0 };
		cr_assert_eq(pthread_create(&th[i], NULL, rw_thread, &a[i]), 0);
	}
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(a[i].bad, 0, "thread %d: %s", i, a[i].bad == 2 ? "a read missed a write" : "an error");
	}
	cr_assert_eq(sv_vd_close(vd, &err), 0, "%s", err.text);
	sv_ctl_free(c);
	expect_read(st, "v", model, SIZE);
	fsck_clean(st);
	free(model);
	st_store_free(st);
	st_rm_rf(dir);
}

struct seq_check {
	struct st_meta *m;
	uint64_t seq;
	int n, mixed;
};

static int seq_cb(void *arg, uint64_t egroup)
{
	struct seq_check *s = arg;
	struct st_egroup_rec g;
	struct st_msg err;

	st_egroup_rec_init(&g);
	cr_assert_eq(st_meta_egroup_get(s->m, egroup, &g, &err), 0, "%s", err.text);
	if (s->n++ && g.last_ref_seq != s->seq)
		s->mixed = 1;
	s->seq = g.last_ref_seq;
	st_egroup_rec_release(&g);
	return 0;
}

/*
 * A log larger than a writer's batch buffer (32 MiB): passes over a range
 * the log holds are copied in place and never commit for size; the flush
 * commits all of it as one batch (every egroup carries one sequence
 * number); the bound on all logs together commits without a flush.
 */
Test(sv_ctl, a_large_log_is_one_batch_and_all_logs_are_bounded, .timeout = 120)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 1, "ssd:1x1G");
	enum { MB = 1 << 20, SIZE = 80 * MB };
	uint8_t *model = calloc(1, SIZE), *zero = calloc(1, SIZE), *buf = malloc(MB);
	struct seq_check sc = { st_store_meta(st), 0, 0, 0 };
	struct sv_opts o;
	struct st_msg err;
	struct sv_ctl *c;
	struct sv_vd *vd;

	container(st, "c", 1);
	cr_assert_eq(st_vdisk_create(st, "v", "c", SIZE, 0, NULL, &err), 0, "%s", err.text);
	sv_opts_default(&o);
	o.log_max = 96 * MB;
	o.commit_ms = 600000;
	cr_assert_eq(sv_ctl_new(dir, &o, &c, &err), 0, "%s", err.text);
	cr_assert_eq(sv_ctl_start(c), 0);
	cr_assert_eq(sv_vd_open(c, "v", &vd, &err), 0, "%s", err.text);
	for (int pass = 0; pass < 3; pass++) {
		for (uint64_t off = 0; off < SIZE; off += MB) {
			th_fill(buf, MB, 100 * (uint64_t)pass + off / MB);
			cr_assert_eq(sv_vd_write(vd, off, buf, MB, 0, &err), 0, "%s", err.text);
			memcpy(model + off, buf, MB);
		}
	}
	expect_read(st, "v", zero, SIZE); /* nothing committed: 3 passes of 80 MiB held in a 96 MiB log */
	cr_assert_eq(sv_vd_pread(vd, 5 * MB + 7, MB, buf, &err), 0, "%s", err.text);
	cr_assert_eq(memcmp(buf, model + 5 * MB + 7, MB), 0, "a read through the log");
	cr_assert_eq(sv_vd_flush(vd, &err), 0, "%s", err.text);
	expect_read(st, "v", model, SIZE);
	for (int s = 0; s < st_meta_nshards(st_store_meta(st)); s++)
		cr_assert_eq(st_meta_egroups_on_disk(st_store_meta(st), s, 1, seq_cb, &sc, &err), 0, "%s", err.text);
	cr_assert_geq(sc.n, 20, "80 MiB in 4 MiB egroups");
	cr_assert_eq(sc.mixed, 0, "the log was committed in several batches");
	cr_assert_eq(sv_vd_close(vd, &err), 0, "%s", err.text);
	sv_ctl_free(c);

	/* all logs together bounded to 4 MiB: writes commit without a flush */
	o.log_mem = 4 * MB;
	cr_assert_eq(sv_ctl_new(dir, &o, &c, &err), 0, "%s", err.text);
	cr_assert_eq(sv_ctl_start(c), 0);
	cr_assert_eq(sv_vd_open(c, "v", &vd, &err), 0, "%s", err.text);
	for (uint64_t off = 0; off < 32 * MB; off += MB) {
		th_fill(buf, MB, 7000 + off / MB);
		cr_assert_eq(sv_vd_write(vd, off, buf, MB, 0, &err), 0, "%s", err.text);
		memcpy(model + off, buf, MB);
	}
	for (int i = 0; i < 100; i++) { /* the commit thread commits what was frozen */
		struct st_vdisk v;
		cr_assert_eq(st_config_vdisk_get(st_store_config(st), "v", &v, &err), 0, "%s", err.text);
		cr_assert_eq(st_vdisk_pread(st, &v, 0, 16 * MB, zero, &err), 0, "%s", err.text);
		if (!memcmp(zero, model, 16 * MB))
			break;
		cr_assert_lt(i, 99, "16 MiB written through a 4 MiB bound not committed after 10 s");
		usleep(100000);
	}
	cr_assert_eq(sv_vd_close(vd, &err), 0, "%s", err.text);
	sv_ctl_free(c);
	expect_read(st, "v", model, SIZE);
	fsck_clean(st);
	free(model);
	free(zero);
	free(buf);
	st_store_free(st);
	st_rm_rf(dir);
}

/* This process's fds on files under dir that were deleted (readlink ends in " (deleted)"). */
static int deleted_fds(const char *dir)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert(d);
	while ((e = readdir(d))) {
		char p[300], t[4200];
		ssize_t k;
		snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
		k = readlink(p, t, sizeof(t) - 1);
		if (k <= 0)
			continue;
		t[k] = 0;
		n += !strncmp(t, dir, strlen(dir)) && strstr(t, " (deleted)") != NULL;
	}
	closedir(d);
	return n;
}

/*
 * The read handles keep replica files open between reads; when the files
 * go (an egroup retired by another process: here, deleted by hand), the
 * commit thread's sweep of the idle handles closes them within a second,
 * so the disk gets the space back.
 */
Test(sv_ctl, idle_read_handles_let_go_of_deleted_files, .timeout = 60)
{
	const char *dir;
	struct st_store *st = cluster(&dir, 1, "hdd:1x256M");
	enum { SIZE = 8 << 20 };
	uint8_t *buf = malloc(SIZE);
	char cmd[4200];
	struct st_msg err;
	struct sv_ctl *c;
	struct sv_vd *vd;
	int i;

	container(st, "c", 1);
	cr_assert_eq(st_vdisk_create(st, "v", "c", SIZE, 0, NULL, &err), 0);
	c = ctl_open(dir, 32 << 20, 60000);
	cr_assert_eq(sv_vd_open(c, "v", &vd, &err), 0, "%s", err.text);
	th_fill(buf, SIZE, 5);
	cr_assert_eq(sv_vd_write(vd, 0, buf, SIZE, 0, &err), 0, "%s", err.text);
	cr_assert_eq(sv_vd_flush(vd, &err), 0, "%s", err.text);
	cr_assert_eq(sv_vd_pread(vd, 0, SIZE, buf, &err), 0, "%s", err.text); /* the handle opens the files */
	cr_assert_eq(deleted_fds(dir), 0);
	snprintf(cmd, sizeof(cmd), "find %s -path '*/egroups/*' -type f -delete", dir);
	cr_assert_eq(system(cmd), 0);
	cr_assert_gt(deleted_fds(dir), 0, "the read handle kept no file open");
	for (i = 0; i < 40 && deleted_fds(dir) > 0; i++)
		usleep(50000);
	cr_assert_eq(deleted_fds(dir), 0, "%d fds of deleted files still open after 2 s", deleted_fds(dir));
	cr_assert_eq(sv_vd_close(vd, &err), 0, "%s", err.text);
	sv_ctl_free(c);
	free(buf);
	st_store_free(st);
	st_rm_rf(dir);
}
