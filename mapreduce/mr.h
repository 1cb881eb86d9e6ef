/*
 * mr: a MapReduce engine on MPI (DESIGN.md §5). It knows nothing of storage:
 * inputs are pluggable readers of splits, records are (key, value) byte
 * strings.
 *
 * Order of calls:
 *
 *   mr_ctx_new()            collective: MPI_Init if needed; one per process
 *   mr_job_init(&job)       local: fill a struct mr_job with defaults
 *   ... set job.inputs, job.reduce, job.output_dir, counters ...
 *   mr_job_run(ctx, &job)   collective: map + shuffle + reduce + commit
 *   mr_output_input()       local: a committed output as the next job's input
 *   mr_ctx_free()           collective: finish MPI if mr_ctx_new initialised it
 *
 * Model. Rank 0 is the master and also works; without mpiexec the program
 * is a one-rank job on the same code path (MPI singleton). Each input is a
 * list of splits read by a reader callback that hands records to the
 * input's map function; splits are handed out dynamically through an MPI
 * atomic counter on rank 0 (MPI_Fetch_and_op), except splits that must be
 * read where they live (the partitions of an earlier job's output stay on
 * the rank that wrote them). Map output is partitioned by the hash of its
 * key (its low 32 bits scaled to nparts); partition p is reduced on rank
 * p % nranks, or (direct shuffle, below) on a rank of that rank's host:
 * after the map the host's partitions are queued, a queue a rank, to
 * balance the host's reduce work, and a rank done with its queue takes
 * the smallest partitions left in the others' (a straggler's), so part-p
 * is written on that host all the same. The shuffle runs during the map
 * phase: per-destination
 * buffers go out as they fill while each rank keeps receiving into its
 * store. Between ranks of one host, a job without a combiner moves nothing
 * during the map (direct): each rank files every record for the host's
 * partitions into its own store; after the map the ranks tell each other
 * where those chunks and their spilled runs are, and while a rank reduces
 * it copies its records of the others' next buckets into rings in the
 * host's shared memory (MPI_Win_allocate_shared, a few slots of the
 * largest bucket's size per pair of ranks), where their reducers index
 * them in place. A bucket not there in time, or of a partition taken from
 * another's queue, is read straight from the other ranks' memory
 * (process_vm_readv; MR_RING=0 in the environment of any rank: always;
 * MR_RING_SLOT=BYTES caps a slot, 8 MiB by default). Where that is not allowed (a ptrace
 * restriction; MR_DIRECT=0 in the environment of any rank), and for jobs
 * with a combiner, the buffers are slots of rings in an MPI-3
 * shared-memory window (MPI_Win_allocate_shared): the receiver files a
 * slot straight from the sender's memory, and without a combiner the
 * sender fills the slot with pieces of the receiver's buckets, which the
 * receiver moves with one memcpy each. Between hosts (or with MR_SHM=0 in
 * the environment, the same on every rank) they go with MPI_Isend and are
 * received after MPI_Iprobe. Past the per-rank memory budget
 * the store is sorted and spilled to the scratch directory as a run; the
 * reduce phase merges runs. Within a partition records are ordered by
 * (hash, key, value), so equal keys are adjacent and every reduce sees its
 * values in the same order whatever the rank count: outputs are identical
 * for 1, 2 or 3 ranks (unless the job sets values_unordered, see struct
 * mr_job).
 *
 * Output: partition p is written by the rank that reduced it to
 * `<output_dir>/part-<p>`; the job writes into `<output_dir>.tmp` and
 * renames it to output_dir only when every rank succeeded (the commit),
 * marked by `<output_dir>/_SUCCESS` (a line: nparts nranks). Scratch files
 * are removed at the end of a job; those of crashed jobs (dead pid) at the
 * start of the next.
 *
 * Errors. Functions return 0 or a negative code (-errno or MR_E*).
 * Collective functions return the same code on every rank (agreed with
 * MPI_Allreduce); the message (mr_ctx_errmsg) names the rank and split
 * that failed first. Only mr_abort() calls MPI_Abort.
 *
 * Threads: single-threaded per rank; callbacks run on the calling thread.
 *
 * MR_DEBUG=1 in the environment: each rank prints its map and reduce
 * times and record counts per job on stderr (and rank 0 how the ranks of
 * a host shuffled, and how many partitions each rank reduced and took
 * from another's queue); MR_DEBUG=2 also the time of every split it read;
 * MR_DEBUG=3 also a timeline of each rank's job (map, exchange, reduce,
 * the time spent reading other ranks' chunks and sorting, commit).
 */
#ifndef MR_H
#define MR_H

#include <stddef.h>
#include <stdint.h>

enum mr_err {
	MR_EABORTED = -2000, /* another rank failed: this one stopped */
	MR_EINPUT = -2001,   /* a reader met a bad record or file */
	MR_EMAP = -2002,     /* a map function returned an error */
	MR_EREDUCE = -2003,  /* a reduce function returned an error */
	MR_EINVAL = -2004,   /* a bad job description */
	MR_ECORRUPT = -2005, /* a run or output file failed its checksum */
};

const char *mr_strerror(int rc);

#define MR_KEY_MAX 255
#define MR_MAX_INPUTS 8
#define MR_MAX_COUNTERS 64

struct mr_ctx;
struct mr_emitter;

/*
 * Collective. Initialise MPI (MPI_Init_thread FUNNELED) unless already
 * initialised, duplicate MPI_COMM_WORLD, and remember the scratch
 * directory (created; NULL = $TMPDIR or /tmp). 0 or -errno. Before
 * MPI_Init it sets HWLOC_COMPONENTS=-pci,-linuxio and
 * HWLOC_PLUGINS_BLACKLIST=hwloc_pci,hwloc_gl,hwloc_opencl,hwloc_xml_libxml,
 * each unless the environment has it (even empty): hwloc's PCI discovery
 * costs ~10 ms a start on a VM, loading those plugins (libxml2 and ICU,
 * OpenCL, X11) ~6 ms more, and the engine uses no device locality.
 */
int mr_ctx_new(int *argc, char ***argv, const char *scratch, struct mr_ctx **out);

/*
 * Collective. Free; finish MPI if mr_ctx_new initialised it: a barrier,
 * then, under Hydra (mpiexec), the PMI finalize exchange instead of
 * MPI_Finalize (which hangs over TCP with Debian's MPICH/UCX; see
 * mr_ctx.c), else MPI_Finalize. No MPI call may follow. NULL is a no-op.
 */
void mr_ctx_free(struct mr_ctx *ctx);

/*
 * Local. Give back the memory kept between jobs (the store of the last
 * job is reused by the next one, which saves faulting it in again); call
 * it after a series of jobs. mr_ctx_free does it too.
 */
void mr_ctx_trim(struct mr_ctx *ctx);

/* Local. This rank and the number of ranks. */
int mr_rank(const struct mr_ctx *ctx);
int mr_nranks(const struct mr_ctx *ctx);

/*
 * Local. A per-rank memory budget sized to this host: a quarter of its
 * physical memory shared by the ranks running on it, between 512 MiB and
 * 8 GiB (what jobs that are not told a budget should use).
 */
uint64_t mr_host_budget(const struct mr_ctx *ctx);

/* Local. The message of the last failed collective call ("" if none). */
const char *mr_ctx_errmsg(const struct mr_ctx *ctx);

/* Local. Abort the whole MPI job (MPI_Abort) after printing msg. */
void mr_abort(struct mr_ctx *ctx, const char *msg) __attribute__((noreturn));

/* Collective helpers for callers built on the engine. */
int mr_agree(struct mr_ctx *ctx, int rc);          /* min over ranks: an error wins */
int64_t mr_sum(struct mr_ctx *ctx, int64_t v);     /* sum over ranks */
int mr_barrier(struct mr_ctx *ctx);
/* Broadcast len bytes of buf from root. */
int mr_bcast(struct mr_ctx *ctx, void *buf, size_t len, int root);

/*
 * Collective. Gather len bytes of buf from every rank on root, in rank
 * order (rank 0's bytes first): on root *out is a malloc'd buffer of
 * *outlen bytes the caller frees (NULL when the total is 0), on the other
 * ranks *out = NULL and *outlen = 0. For small results of a job that one
 * rank must decide on together (a scan's dedup candidates), not for bulk
 * data. 0, -ENOMEM or -E2BIG (more than 2 GiB in all; nothing gathered),
 * the same on every rank.
 */
int mr_gather(struct mr_ctx *ctx, const void *buf, size_t len, int root, void **out, size_t *outlen);

/*
 * Collective. Broadcast len bytes of buf from root, as mr_bcast, for ranks
 * that may wait a long time for root (a daemon's slaves waiting for the
 * master's next decision): the broadcast is non-blocking (MPI_Ibcast) and
 * each rank tests it every poll_us microseconds, sleeping in between,
 * where a blocking broadcast would keep a core busy in MPI's progress
 * engine. Returns when buf holds root's bytes on this rank. Keep len
 * small (one message). 0 or -EIO, the same on every rank.
 */
int mr_bcast_poll(struct mr_ctx *ctx, void *buf, size_t len, int root, unsigned poll_us);

/*
 * Emit a record from a map, combine or reduce function. Keys are 1..255
 * bytes, values 0..16 MiB. 0 or -ENOMEM / MR_EINVAL. Valid only inside the
 * callback that received the emitter.
 */
int mr_emit(struct mr_emitter *em, const void *key, size_t klen, const void *val, size_t vlen);

/* Add v to counter idx (0..ncounters-1) of the running job. */
void mr_count(struct mr_emitter *em, int idx, int64_t v);

/* The rank running the callback, and the split or partition being processed. */
int mr_emitter_rank(const struct mr_emitter *em);
int mr_emitter_split(const struct mr_emitter *em);

/*
 * A reader hands each record of one split to `fn` (which calls the input's
 * map function). Return 0, or an error (use MR_EINPUT for bad data; set
 * *why to a static or thread-local message if you like). A non-zero return
 * of fn must be returned as is.
 */
typedef int (*mr_record_fn)(void *fnarg, const void *key, size_t klen, const void *val, size_t vlen);
typedef int (*mr_read_fn)(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen);

/* Map: emit zero or more records for one input record. 0 or an error. */
typedef int (*mr_map_fn)(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
			 struct mr_emitter *em);

struct mr_value {
	const void *p;
	size_t len;
};

/*
 * Reduce (and combine): one key and all its values (in a deterministic
 * order). Emitted records go to this partition's output file (reduce) or
 * back into the shuffle (combine). 0 or an error.
 */
typedef int (*mr_reduce_fn)(void *arg, const void *key, size_t klen, const struct mr_value *vals, size_t nvals,
			    struct mr_emitter *em);

struct mr_input {
	const char *name;
	int nsplits;
	mr_read_fn read;
	void *read_arg;
	/* Rank that must read split s, or -1 for any (may be NULL). */
	int (*owner)(void *arg, int split, int nranks);
	mr_map_fn map;
	void *map_arg;
};

struct mr_job {
	const char *name;
	int ninputs;
	struct mr_input inputs[MR_MAX_INPUTS];
	mr_reduce_fn combine;   /* optional, map side */
	void *combine_arg;
	mr_reduce_fn reduce;    /* required */
	void *reduce_arg;
	int nparts;             /* partitions (default 64); independent of ranks */
	uint64_t mem_budget;    /* per rank, bytes (default 512 MiB) */
	const char *output_dir; /* NULL: reduce output is discarded */
	/*
	 * 0 (default): each reduce (and combine) sees its values sorted by
	 * their bytes. 1: in an order that depends on arrival, which saves
	 * sorting them; set it only when the reduce's result does not depend
	 * on the order of its values (counts, sums, picking a tagged value),
	 * since otherwise outputs could differ between rank counts.
	 */
	int values_unordered;
	int ncounters;
	const char *counter_names[MR_MAX_COUNTERS];

	/* results, filled by mr_job_run on every rank */
	int64_t counters[MR_MAX_COUNTERS];    /* summed over ranks */
	uint64_t records_in, records_mapped, records_out; /* summed */
	uint64_t spills;                      /* summed */
	double map_secs, reduce_secs;         /* max over ranks */
};

/* Local. Defaults: 64 partitions, 512 MiB budget, no inputs. */
void mr_job_init(struct mr_job *job);

/*
 * Collective. Run the job. Returns 0, or the same error on every rank with
 * mr_ctx_errmsg naming the rank and split. On error no output is committed
 * and scratch files are gone.
 */
int mr_job_run(struct mr_ctx *ctx, struct mr_job *job);

/*
 * Local. Describe the committed output in dir as an input (each partition a
 * split read on the rank that wrote it when the rank count matches, else by
 * any rank). Fails with MR_EINVAL if dir has no _SUCCESS marker. The
 * returned input's read_arg is owned by *in until mr_output_input_release.
 */
int mr_output_input(const char *dir, mr_map_fn map, void *map_arg, struct mr_input *in);
void mr_output_input_release(struct mr_input *in);

/*
 * Local. Read one committed partition file (for tools and tests): calls fn
 * per record. 0, -errno, MR_ECORRUPT.
 */
int mr_output_read_part(const char *dir, int part, mr_record_fn fn, void *fnarg);

#endif
