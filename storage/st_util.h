/*
 * st_util: the small primitives every storage module uses.
 *
 *   - error codes of the storage layer and st_strerror();
 *   - struct st_msg, the optional "why" a caller can ask for;
 *   - parsing of sizes ("8G") and durations ("7d") as the CLI documents them;
 *   - the injectable clock (CURATOR_NOW);
 *   - CRC32C (ISA-L), a 64-bit mixing hash for sharding, little-endian
 *     packing helpers for on-disk formats;
 *   - durable file helpers (write fully, fsync a directory, mkdir -p).
 *
 * Everything here is thread-safe and MPI-free.
 */
#ifndef ST_UTIL_H
#define ST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Return codes. 0 is success; OS errors are -errno; the storage layer's own
 * errors live in [-1099, -1000] so they never collide with -errno.
 */
enum st_err {
	ST_OK = 0,
	ST_ENOTFOUND = -1000, /* a named object does not exist (not logged)  */
	ST_ECORRUPT = -1001,  /* bytes on disk or a metadata row fail checks */
	ST_EINVAL = -1002,    /* bad argument from a user or caller          */
	ST_EEXIST = -1003,    /* the name is taken                           */
	ST_EPOLICY = -1004,   /* placement cannot satisfy the policy         */
	ST_ENOSPACE = -1005,  /* no tier has room                            */
	ST_ESTALE = -1006,    /* compare-and-set lost: the row changed       */
	ST_EREADONLY = -1007, /* write to a snapshot or a deleted vdisk      */
	ST_ERANGE = -1008,    /* offset or length past the vdisk size        */
	ST_ENOTCLUSTER = -1009, /* the directory is not a cluster            */
	ST_EBUSY = -1010,     /* another process holds the object            */
	ST_EIO = -1011,       /* every replica failed                        */
	ST_ELEASE = -1012,    /* this process's lease is lost (or was taken over): it is fenced, commits nothing more */
	ST_EFENCED = ST_ELEASE,
};

/* A static string for rc (an st_err or -errno). Never NULL. Thread-safe. */
const char *st_strerror(int rc);

/*
 * The reason for a failure, for a person. Functions that take a trailing
 * `struct st_msg *err` fill it when they fail (err may be NULL). The text is
 * one line without the "curator:" prefix, e.g. "vdisk 'db': not found".
 */
struct st_msg {
	char text[512];
};

/*
 * Format into err (if non-NULL) and return rc unchanged, for `return st_fail(...)`.
 * The arguments may include err->text itself (to add context to a reason).
 */
int st_fail(struct st_msg *err, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Parse "4096", "8K", "1.5G" (powers of 1024; K M G T, optional B/iB) into
 * bytes. Returns 0, or ST_EINVAL for malformed input, negative or overflowing
 * values.
 */
int st_parse_size(const char *s, uint64_t *out);

/* Parse "90", "30s", "60m", "6h", "7d" into seconds. 0 or ST_EINVAL. */
int st_parse_duration(const char *s, int64_t *out);

/* Format bytes as "1.5 GiB" into buf (>= 32 bytes). Returns buf. */
char *st_fmt_size(uint64_t bytes, char *buf, size_t len);

/* Format seconds as "3d 4h", "12m 5s". Returns buf. */
char *st_fmt_duration(int64_t secs, char *buf, size_t len);

/*
 * The policy clock: CURATOR_NOW (unix seconds) when set, else time(NULL).
 * Thread-safe; reads the environment each call so tests can change it.
 */
int64_t st_now(void);

/* CRC32C (Castagnoli) of buf, standard init/xor; ISA-L accelerated. */
uint32_t st_crc32c(const void *buf, size_t len);

/* Continue a CRC32C: st_crc32c_update(st_crc32c(a), b) == crc of a||b. */
uint32_t st_crc32c_update(uint32_t crc, const void *buf, size_t len);

/*
 * Whether a stored CRC32C equals the one computed: every decoder of bytes
 * from disk or a metadata row compares its checksums through this macro.
 * Built with -DCURATOR_FUZZ_NOCRC (make fuzz's second build, never
 * shipped) every comparison passes, so fuzzed inputs reach the parsing the
 * checksums guard; both operands are still evaluated.
 */
#ifdef CURATOR_FUZZ_NOCRC
#define ST_CRC_MATCH(stored, computed) ((void)(stored), (void)(computed), 1)
#else
#define ST_CRC_MATCH(stored, computed) ((stored) == (computed))
#endif

/* A fast 64-bit hash (splitmix-style finaliser over 8-byte words). */
uint64_t st_hash64(const void *buf, size_t len);

static inline uint64_t st_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* Little-endian packing for on-disk formats (alignment-free). */
static inline void st_put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void st_put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void st_put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint16_t st_get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t st_get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t st_get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/*
 * pwrite/pread the whole buffer, retrying short transfers and EINTR.
 * st_pread_full returns the bytes read (short only at end of file) or -errno.
 */
int st_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
long long st_pread_full(int fd, void *buf, size_t len, uint64_t off);

/* fsync the directory holding path (after a create or rename). 0 or -errno. */
int st_fsync_dir(const char *dir);

/*
 * Fault injection for the crash tests: with CURATOR_TASK_STEP_DELAY_US set,
 * multi-step operations (curator tasks, EC conversion) pause that many
 * microseconds between their steps, so a kill -9 lands inside one; with
 * CURATOR_TASK_STEP_STOP=N the process stops itself (SIGSTOP) at its Nth
 * step, so a test kills it (SIGKILL) at exactly that step, each step in
 * turn. Unset in production: two getenvs and nothing else. The step count
 * is the one process-wide state of storage/, for this test hook only.
 */
void st_fault_step(void);

/* mkdir -p with mode 0755. 0 or -errno. */
int st_mkdir_p(const char *path);

/* 32 random bits for a temporary file's name (unique across hosts sharing a directory). Thread-safe. */
unsigned st_tmp_salt(void);

/*
 * Write buf to path atomically: temp file, fsync, rename, fsync directory.
 * mode is the new file's permission bits. 0 or -errno.
 */
int st_write_file_atomic(const char *path, const void *buf, size_t len, int mode);

/*
 * Make room for one more element in a growable array: *(void **)pptr holds
 * *cap elements of elem bytes, n are used. Doubles the array when n == *cap
 * (from 16). 0, or -ENOMEM leaving the array as it was.
 */
int st_grow(void *pptr, size_t *cap, size_t n, size_t elem);

/*
 * Run fn(arg, i) for every i in [0, n) on up to `threads` threads (the
 * caller's included; helpers are started and joined here; 0 = one per
 * online CPU). Items are handed out one at a time, so uneven items
 * balance. fn must be safe to run concurrently for distinct i.
 */
void st_parallel(size_t n, int threads, void (*fn)(void *arg, size_t i), void *arg);

/* Make *cap >= need elements (doubling, from 16). 0 or -ENOMEM (array unchanged). */
int st_reserve(void *pptr, size_t *cap, size_t need, size_t elem);

/* Remove a directory tree (for tests and `init --force`). 0 or -errno. */
int st_rm_rf(const char *path);

#endif
