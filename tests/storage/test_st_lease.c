/*
 * st_lease: the holder fences itself (stopped past TTL/2, or fenced by an
 * observer), observers date beats on their own clock domain only, fences in
 * the shards stop a fenced holder's commits, locks follow leases.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/st_lease.h"
#include "storage/st_meta.h"
#include "storage/st_store.h"
#include "tests/helpers.h"

static struct st_config *fresh(const char **dir)
{
	struct st_config *cfg;
	struct st_msg err;

	setenv("CURATOR_LEASE_TTL", "600ms", 1);
	*dir = th_tmpdir("lease");
	cr_assert_eq(st_config_create(*dir, 1, 0, &cfg, &err), 0, "%s", err.text);
	return cfg;
}

static struct st_lease_info find(struct st_config *cfg, int64_t id)
{
	struct st_lease_info *v = NULL, got = { 0 };
	struct st_msg err;
	int n = 0;

	cr_assert_eq(st_lease_observe(cfg, &v, &n, &err), 0, "%s", err.text);
	for (int i = 0; i < n; i++)
		if (v[i].id == id)
			got = v[i];
	free(v);
	return got;
}

/* A child holding a lease is stopped for 2 TTL, continued: its next check fails, for good. */
Test(st_lease, stopped_past_half_the_ttl_the_holder_fences_itself, .timeout = 30)
{
	const char *dir;
	struct st_config *cfg = fresh(&dir);
	int pfd[2], st;
	pid_t pid;
	char c;

	cr_assert_eq(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		struct st_config *cc;
		struct st_lease *l;
		struct st_msg err;
		if (st_config_open(dir, &cc, NULL) || st_lease_acquire(cc, ST_LEASE_WRITER, "child", &l, NULL))
			_exit(10);
		usleep(700 * 1000); /* beats keep it: more than the TTL of running */
		if (st_lease_check(l, &err))
			_exit(11);
		if (write(pfd[1], "x", 1) != 1)
			_exit(12);
		raise(SIGSTOP);
		if (st_lease_check(l, &err) != ST_ELEASE || !strstr(err.text, "lease lost"))
			_exit(13);
		usleep(300 * 1000);
		_exit(st_lease_check(l, &err) == ST_ELEASE ? 0 : 14); /* lost for good */
	}
	cr_assert_eq(read(pfd[0], &c, 1), 1);
	cr_assert_eq(waitpid(pid, &st, WUNTRACED), pid);
	cr_assert(WIFSTOPPED(st));
	usleep(1200 * 1000);
	kill(pid, SIGCONT);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child exit %d", WEXITSTATUS(st));
	st_config_free(cfg);
	st_rm_rf(dir);
}

/*
 * An observer fences a live lease (as if it had been silent): the holder's
 * renewal finds it, its checks fail, its commits to a fenced shard fail,
 * it can begin no operation, and a lock it held is free.
 */
Test(st_lease, a_fenced_holder_commits_nothing, .timeout = 30)
{
	struct st_init_spec spec = { .nodes = 1, .shards = 2 };
	const char *dir = th_tmpdir("lease-fence");
	struct st_store *st, *other;
	struct st_lease *l;
	struct st_msg err;
	struct st_lease_info li;
	char hn[ST_LEASE_HOLDER_MAX];
	uint64_t seq;
	int64_t op;

	setenv("CURATOR_LEASE_TTL", "600ms", 1);
	cr_assert_eq(st_disk_spec_parse("ssd:1x64M", &spec, &err), 0);
	cr_assert_eq(st_store_init(dir, &spec, &err), 0, "%s", err.text);
	cr_assert_eq(st_store_open(dir, &st, &err), 0, "%s", err.text);
	cr_assert_eq(st_store_open(dir, &other, &err), 0, "%s", err.text);
	cr_assert_eq(st_store_lease(st, &l, &err), 0, "%s", err.text);
	cr_assert_eq(st_store_lock(st, "test", -1, &err), 0, "%s", err.text);
	cr_assert_eq(st_store_lock(other, "test", -1, &err), ST_EBUSY, "a live holder keeps its lock");
	cr_assert(strstr(err.text, "live"), "%s", err.text);
	/* fence it as an observer would */
	li = find(st_store_config(other), st_lease_id(l));
	cr_assert_eq(st_lease_fence_begin(st_store_config(other), li.id, li.beat + 1, &err), ST_ESTALE,
		     "the compare-and-set is on the beat seen");
	li = find(st_store_config(other), st_lease_id(l));
	cr_assert_eq(st_lease_fence_begin(st_store_config(other), li.id, li.beat, &err), 0, "%s", err.text);
	cr_assert_eq(st_meta_fence(st_store_meta(other), st_lease_holder_name(li.id, hn, sizeof(hn)), &err), 0, "%s", err.text);
	cr_assert_eq(st_lease_fence_end(st_store_config(other), li.id, &err), 0, "%s", err.text);
	/* the shards refuse its commits at once, whatever its clock says */
	cr_assert_eq(st_meta_begin(st_store_meta(st), 0, &err), 0);
	cr_assert_eq(st_meta_commit(st_store_meta(st), 0, &err), ST_ELEASE);
	cr_assert(strstr(err.text, "lease"), "%s", err.text);
	/* config.db refuses a new operation */
	cr_assert_eq(st_config_op_begin(st_store_config(st), li.id, "late", &seq, &op, &err), ST_ELEASE);
	/* its renewal sees the fence within a few beats */
	usleep(400 * 1000);
	cr_assert_eq(st_store_lease_check(st, &err), ST_ELEASE);
	cr_assert(strstr(err.text, "fenced"), "%s", err.text);
	cr_assert_eq(st_store_op_begin(st, "late", &seq, &op, &err), ST_ELEASE);
	/* its lock is free for others */
	cr_assert_eq(st_store_lock(other, "test", -1, &err), 0, "%s", err.text);
	st_store_unlock(other, "test");
	st_store_free(st);
	st_store_free(other);
	st_rm_rf(dir);
}

/* A beat seen by another clock domain (another host, another boot) does not date it here. */
Test(st_lease, silence_is_measured_on_the_observers_own_clock_only, .timeout = 30)
{
	const char *dir;
	struct st_config *cfg = fresh(&dir);
	struct st_lease_info li;
	char path[4200], sql[512];
	sqlite3 *db;
	int64_t id;

	/* a lease nobody renews: a row as a dead holder of another host left it */
	snprintf(path, sizeof(path), "%s/config.db", dir);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db,
				  "INSERT INTO leases(kind, what, host, boot, pid, ttl_ms, beat, state, started)"
				  " VALUES ('writer', 'elsewhere', 'other-host', 'x', 1, 600, 7, 0, 0)",
				  NULL, NULL, NULL),
		     SQLITE_OK);
	id = sqlite3_last_insert_rowid(db);
	/* another clock domain saw beat 7 long ago: that says nothing about this one's clock */
	snprintf(sql, sizeof(sql),
		 "INSERT INTO lease_watch(lease, clock, beat, mono_ms) VALUES (%lld, 'other-boot/time:[1]', 7, 0)",
		 (long long)id);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	li = find(cfg, id);
	cr_assert_eq(li.expired, 0, "first sight on this clock");
	cr_assert_eq(li.silent_ms, 0);
	usleep(400 * 1000);
	li = find(cfg, id);
	cr_assert_eq(li.expired, 0, "silent 400 ms < TTL 600 ms");
	cr_assert_geq(li.silent_ms, 350);
	usleep(300 * 1000);
	li = find(cfg, id);
	cr_assert_eq(li.expired, 1, "silent past the TTL on this clock");
	st_config_free(cfg);
	st_rm_rf(dir);
}
