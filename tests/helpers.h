/*
 * Test helpers shared by the Criterion suites: scratch directories, a
 * deterministic PRNG, running the real `curator` binary.
 */
#ifndef TESTS_HELPERS_H
#define TESTS_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The lease TTL of every test process and the curator processes it runs
 * (CURATOR_LEASE_TTL, set at load unless already set), and how long an
 * observer must watch a dead holder before a scan reaps it.
 */
#define TH_LEASE_TTL "4s"
#define TH_LEASE_TTL_US 4000000

/* A fresh empty directory under $TMPDIR; path valid until the process ends. */
const char *th_tmpdir(const char *tag);

/* xorshift PRNG and buffer fill. */
uint64_t th_rand(uint64_t *state);
void th_fill(void *buf, size_t len, uint64_t seed);

/* The curator binary ($CURATOR_BIN, else build/bin/curator). */
const char *th_curator(void);

/*
 * Run curator with args (NULL-terminated) in cluster dir, stdin from
 * `in` (NULL: /dev/null). Captures stdout/stderr into malloc'd strings
 * (may be NULL to discard). Returns the exit status (or 128+signal).
 */
int th_run(const char *dir, const char *in, char **out, char **errout, const char *arg0, ...);

/* Run `curator -C dir args...` under mpiexec -n ranks (1: directly), stdout to /dev/null; the exit status. */
int th_run_ranks(int ranks, const char *dir, const char *const *args);

/* Spawn curator in the background (stdout to a file); returns the pid. */
pid_t th_spawn(const char *dir, const char *in, const char *outfile, const char *const *args);

/* Write / read a whole file. */
int th_write_file(const char *path, const void *buf, size_t len);

/* A new vdisk `name` of container c holding len bytes of th_fill(seed), written by the CLI; 0 or not. */
int th_vdisk_pattern(const char *dir, const char *c, const char *name, size_t len, uint64_t seed);
void *th_read_file(const char *path, size_t *len);

/*
 * Up to max bytes of real files (documentation and libraries from
 * /usr/share/doc and /usr/lib, in a fixed order), malloc'd; *len gets the
 * count. NULL when none could be read.
 */
uint8_t *th_real_data(size_t max, size_t *len);

/* Inflate a raw deflate stream with zlib itself into exactly raw bytes: 0 or -1. */
int th_zlib_inflate(const uint8_t *in, size_t len, uint8_t *out, size_t raw);

/*
 * The number a shell command prints (printf-style), e.g. "du -sb %s | cut -f1";
 * -1 when it prints none.
 */
long long th_sh_number(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The sqlite3 shell's options that read dir/curator.db's task queue whole
 * (its shards attached, TEMP views tasks and queue_sums over them, as
 * job_db_sql_attach_queue makes them): "sqlite3 <these> dir/curator.db
 * ...". Double-quoted for sh; a static buffer, overwritten by the next call.
 */
const char *th_queue_cmds(const char *dir);

/* dir/curator.db opened with its queue's shards attached and read as one (job_db_sql_attach_queue). */
struct sqlite3;
struct sqlite3 *th_curator_db(const char *dir);

/*
 * The S3 test server's URL for `cloud set`, "s3://BUCKET@HOST:PORT", from the
 * S3_ENDPOINT and S3_BUCKET that tests/run.sh exports. 0, or -1 when unset.
 */
int th_s3_url(char *buf, size_t len);

/*
 * `curator -C dir ARGS | jq -e FILTER` (ARGS a shell word list, so it may
 * hold redirections and $(...)): 0 when the filter held, 1 otherwise.
 */
int th_jq(const char *dir, const char *args, const char *filter);

/* What `curator -C dir ARGS | jq -r FILTER` prints: its first line (at most len-1 bytes) in buf, "" if none; buf. */
char *th_jq_get(const char *dir, const char *args, const char *filter, char *buf, size_t len);

/* Count the lines of s. */
int th_lines(const char *s);

#endif
