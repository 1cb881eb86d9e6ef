/*
 * mr_job_int: the state of one running MapReduce job, shared by the files
 * that run it (not an API: mr.h is the API). See mr.h for the model.
 *
 * Why a header of its own and not mr_int.h: mr_int.h is what the whole
 * engine shares (the record format, struct mr_ctx, sorting, run-file I/O)
 * and is included by mr_util.c, mr_ctx.c, mr_output.c, the tests and
 * tools/bench_keys.c. struct jr and the shuffle's structures below are the
 * state of one job on one rank and concern only the five mr_job files:
 * kept here, the tests and tools cannot reach into a running job, and a
 * change to the job's state rebuilds only the files that use it.
 *
 * DESIGN. Map and shuffle overlap: map output goes into one buffer per
 * destination rank (double-buffered); a full buffer leaves with MPI_Isend
 * while the rank keeps draining its own incoming messages (MPI_Iprobe)
 * into the store. The store is an arena cut into chunks, each belonging
 * to one bucket (a slice of a partition, see store_reserve), holding bare
 * records. When the arena is full the store is
 * written as a run file, partition by partition and each bucket sorted
 * (MSD radix on the sort key), with per-partition offsets and checksums.
 * After the map phase every rank sends END (carrying its status) to every
 * other rank and drains until it has all ENDs: MPI keeps the messages of
 * one sender in order, so END arrives after that sender's data. A map
 * error still runs this exchange, so no rank waits forever; the outcome is
 * then agreed with MPI_Allreduce. The reduce phase merges, per owned
 * partition, its in-memory buckets (sorted one at a time) with the run
 * files and calls reduce once per key.
 *
 * The files, one part of the job each, bottom-up but for one pair: the
 * store and the direct shuffle call each other once (a spill sorts its
 * buckets with mr_bucket_settle; the exchange records the other ranks'
 * runs with mr_store_run_new). A file calls only what its line names
 * (and everything may call mr_jr_fail and the inline helpers of this
 * header):
 *
 *   mr_store.c   the store: a bucket's new chunk (the slow path of
 *                store_reserve), spills of the whole store to a run
 *                file. Calls mr_bucket_settle (mr_direct.c) to sort each
 *                bucket it spills.
 *   mr_direct.c  the direct shuffle between the ranks of a host (setup,
 *                the exchange of store directories, the reduce queues,
 *                the rings that carry buckets after the map) and
 *                mr_bucket_settle, the sort of one bucket: its own chunks
 *                and, in direct mode, the other ranks' records of it.
 *                Calls mr_store_run_new (the other ranks' runs).
 *   mr_map.c     the map phase and its send path: emit, the per-rank
 *                buffers, the shared-memory slots and pieces, progress
 *                (receiving into the store), the combiner, the END
 *                exchange. Calls the store (store_reserve, store_commit)
 *                and the grouping of mr_reduce.c (for the combiner).
 *   mr_reduce.c  grouping records by key, and the reduce phase: per
 *                partition, merge its buckets and runs, call reduce once
 *                per key, write part-NNNNN. Calls mr_bucket_settle,
 *                mr_direct_produce and mr_part_next (mr_direct.c).
 *   mr_job.c     the job: validation, setup (buffers, store, rings),
 *                every phase in turn with its outcome agreed, the commit
 *                of the output, the release. Calls the phases above.
 *
 * Order of calls in mr_job_run (each result agreed with mr_agree before
 * the next step starts; a failed step skips the ones after it):
 *
 *   validate + jr_setup     local (mr_job.c)
 *   shm_setup               collective over the host (mr_job.c): rings of
 *                           slots or pieces, or mr_direct_setup
 *   mr_map_phase            collective: map, shuffle, END exchange
 *   mr_direct_exchange      collective over the host, direct mode only
 *   mr_reduce_phase         local (direct mode: the host's queues are
 *                           shared through atomics, not collectives)
 *   commit_output           rank 0, then ranks on other hosts
 *   jr_release              collective when rings are in use
 *
 * Errors: a function that fails records the first error of this rank in
 * jr->rc with its message (mr_jr_fail) and returns it; mr_job_run agrees
 * the outcome of each phase. Out of memory where failing alone would
 * leave the other ranks waiting (receiving the shuffle, inside the host's
 * collectives) calls mr_abort.
 *
 * Threads: one thread per rank. The ranks of a host share memory: the
 * send rings and the direct rings (one producer, one consumer each,
 * release stores and acquire loads) and the reduce queues (one word each,
 * compare-and-swap).
 */
#ifndef MR_JOB_INT_H
#define MR_JOB_INT_H

#include <limits.h>
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>

#include "mapreduce/mr_int.h"

/* Where an emitter's records go: the shuffle, a combiner's buffer, a partition's output. */
enum { EM_MAP, EM_COMBINE, EM_REDUCE };

struct pidx {              /* one bucket of the store */
	size_t n;          /* records */
	uint8_t **ch;      /* its arena chunks, in order */
	size_t *chlen;     /* bytes used in each */
	int nch, chcap;
	uint8_t *tail;     /* free space of its last chunk */
	size_t left;
};

struct run { /* a spilled run file: the whole store, partition by partition */
	char path[PATH_MAX];
	uint64_t *off;  /* nparts + 1 byte offsets */
	uint32_t *crc;  /* per partition */
};

struct sbuf { /* the buffer of map output for one rank */
	uint8_t *b[2];
	size_t len;
	int cur;
	MPI_Request req[2];
	uint8_t *ring; /* a rank on this host: its ring of slots for us (b[0]: the slot being filled) */
	int head;
	int npieces;   /* pieces handed out in the slot being filled */
};

/*
 * Shared-memory rings (ranks on one host). Each rank's segment of an
 * MPI-3 shared window holds one ring per other rank of its host: that
 * rank's shuffle buffers to it, RING_SLOTS slots of RING_HDR + sbsize
 * bytes. A slot's first 8 bytes are its length: 0 = free (the sender may
 * fill it), n = n bytes of shuffle entries published (the receiver files
 * them straight from the slot and frees it). One producer and one
 * consumer per ring; release stores and acquire loads order the data and
 * the length. This replaces MPI_Isend/MPI_Recv between local ranks: the
 * receiver reads the sender's buffer instead of a copy of it (no side
 * buffer, no kernel copy). MR_SHM=0 keeps every message on MPI.
 *
 * A slot: the length word (padded to RING_HDR), a directory of up to
 * sbsize / piece pieces, then sbsize bytes of data. Jobs with a combiner
 * fill the data with shuffle entries (sort key, record) and publish their
 * byte count. The others fill it with pieces: the sender keeps one open
 * piece (`piece` bytes or one larger record) per bucket of the receiver and
 * writes bare records into it exactly as it writes its own store, the
 * directory says which bucket each piece holds (and its bytes and
 * records), and the published length is the number of pieces; the
 * receiver moves each piece into its bucket with one memcpy instead of
 * filing record by record. Buckets are agreed between the ranks of a host
 * (the smallest fan-out).
 */
#define RING_SLOTS 4
#define RING_HDR 64
#define PIECE 1024 /* at most; smaller when a slot would hold fewer than two per bucket of a rank */
struct inring {
	uint8_t *base;
	int head;
};
struct pdir { /* a piece of a slot */
	uint32_t bucket, off, bytes, recs;
};
struct pcur { /* a bucket's open piece in the slot being filled for its rank */
	uint8_t *tail;
	uint32_t left, bytes, recs, ent;
};

/*
 * Direct mode (jobs without a combiner, ranks of one host, and
 * process_vm_readv allowed between them): a record for a partition of
 * another rank of this host stays in the store of the rank that mapped it,
 * in that partition's bucket, as if it were its own. After the map phase
 * the ranks of the host exchange where those buckets' chunks are (their
 * addresses in the mapper) and their spilled runs; the reducer reads the
 * chunks of each bucket it sorts straight from the mapper's memory
 * (process_vm_readv, one call per rank and bucket) and merges the runs
 * with its own. Nothing crosses between cores in the map phase.
 */
struct rchunk { /* a chunk of another rank's store */
	uint64_t addr, len;
	int src;    /* its local rank */
};
struct rlist { /* a bucket's chunks in the other ranks' stores */
	struct rchunk *c;
	int nc, cap;
	size_t n, bytes;
};

/*
 * Direct mode, after the map: a ring in the host's shared memory from one
 * rank (the producer) to another (the consumer) carries the producer's
 * records of the consumer's buckets, in the order the consumer will sort
 * them (its queue, largest partition first), a bucket a slot. Between its
 * own buckets the producer copies the next ones in (memcpy from its own
 * store); the consumer indexes them where they are. A bucket not there in
 * time, or in a partition taken from another queue, is read with
 * process_vm_readv as before (measured: 157 MB took 0.036 s that way on
 * this VM, page pinning included, against ~0.01 s of plain memcpy).
 */
#define RING_N 4                  /* slots a ring: the consumer keeps 2 (a group may point into the last bucket) */
#define RING_SLOT_MAX (8u << 20)  /* larger buckets go by process_vm_readv */
#define RING_TOTAL_MAX (64u << 20) /* all rings of a host */

struct rslot { /* a slot's header, one cache line */
	int64_t j;       /* the element it holds (-1: none yet); stored last */
	uint64_t bucket, len;
	uint8_t pad[40];
};
struct ring {
	volatile struct rslot *slot; /* RING_N headers */
	volatile int64_t *at;        /* the element the consumer is on (it keeps that one and the one before) */
	uint8_t *data;               /* RING_N slots */
	uint32_t *el;                /* the elements: buckets, in the consumer's order */
	int n, x;                    /* elements, and the next to produce (producer) or consume (consumer) */
};

/*
 * The state of one job on one rank: allocated zeroed by mr_job_run, set up
 * by jr_setup and shm_setup, freed by jr_release (the arena stays with the
 * context for the next job).
 */
struct jr {
	struct mr_ctx *ctx;
	struct mr_job *job;
	char scratch[PATH_MAX];
	char tmpout[PATH_MAX];

	/* store */
	uint8_t *arena;
	size_t used, cap;
	size_t chunk;         /* arena chunk size */
	struct pidx *pi;     /* per bucket: its chunks of the arena */
	int fan_bits;        /* a partition is 2^fan_bits buckets */
	size_t n;            /* records in the store */
	struct mr_idx *idx, *itmp; /* the index of the bucket being sorted, its sort's scratch */
	size_t icap;
	uint32_t *cnt;
	struct run *runs;
	int nruns;

	/* shuffle */
	struct sbuf *sb;
	size_t sbsize;
	uint8_t *rbuf;
	size_t rbufcap;
	int ends;
	int peer_failed;
	MPI_Request *endreq;
	int tick;
	int shm;              /* the rings below are in use */
	MPI_Win shwin;
	size_t stride;        /* bytes of a ring slot */
	size_t dirsz;         /* bytes of a slot's directory */
	size_t piece;         /* bytes of a piece */
	int pieces;           /* slots carry pieces (no combiner) */
	struct pcur *pc;      /* per bucket (of the other ranks of this host) */
	struct inring *inr;   /* rings from the other ranks of this host */
	int ninr;

	int direct;           /* direct mode (see mr_direct.c) */
	uint8_t *keep;        /* per partition: its records go into this rank's store */
	struct rlist *rl;     /* per bucket (the host's partitions'), the other ranks' chunks, after the exchange */
	int64_t *lpid;        /* per local rank: its pid */
	int *qlist;           /* direct: the host's partitions by local rank's queue, largest first */
	int *qstart;          /* per local rank: its queue in qlist (L + 1 entries) */
	int stolen, reduced;  /* partitions this rank took from another's queue, and reduced in all */
	int lme;              /* this rank in ctx->local */
	int own;              /* the partition being reduced came from this rank's own queue */
	int rings;            /* rwin holds the rings */
	MPI_Win rwin;
	size_t rslot;         /* bytes a slot */
	struct ring *rout, *rin; /* per local rank: the ring to it (we produce), from it (we consume) */
	uint64_t ring_hits, ring_misses; /* buckets' remote records found in a ring, and read by process_vm_readv */
	uint8_t *scr[2];      /* a bucket's chunks read from the other ranks (two: a group may point into the last) */
	size_t scrcap[2];
	int scur;

	int debug; /* MR_DEBUG: 1 per-rank timings, 2 and per split, 3 and a timeline */
	double t_splits, t_ends, t_reduced; /* MPI_Wtime: its last split mapped, every END in, its reduce done */
	double t_pull, t_settle;            /* seconds: reading other ranks' chunks, and indexing + sorting */
	int *dest; /* partition -> the rank that reduces it */

	/* outcome */
	int rc;
	int64_t counters[MR_MAX_COUNTERS];
	uint64_t in, mapped, out, spills;
};

struct mr_emitter { /* declared in mr.h: what map, combine and reduce functions emit through */
	struct jr *jr;
	int mode;
	int split;
	/* combine: the replacement buffer */
	uint8_t *cb;
	size_t clen, ccap;
	/* reduce: the partition's output */
	struct mr_wfile *wf;
	uint64_t nout;
};

/* --- grouping: shared by combine (mr_map.c) and reduce (mr_reduce.c) ---- */

struct group { /* the values of one key, for one combine or reduce call */
	uint8_t *vbuf;
	size_t vlen, vcap;
	size_t *voff, *vsz;
	struct mr_value *vals;
	size_t nv, capv;
	uint8_t key[MR_KEY_MAX];
	size_t klen;
	int active;
};

/* --- mr_job.c: the job -------------------------------------------------- */

/*
 * Record the first error of this rank with its message (later ones are
 * dropped): jr->rc = rc and the context's message "job NAME: rank R: ...".
 * Returns rc (the caller's code, whether or not it was the first). Local.
 */
int mr_jr_fail(struct jr *jr, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Collective over the ranks of this host: one bucket fan-out for all (the
 * smallest), when ranks file records into each other's buckets. The store's
 * bucket table, sized for this rank's, is large enough for any smaller one.
 */
void mr_jr_agree_fan(struct jr *jr);

/* --- mr_store.c: the store, spills and runs ----------------------------- */

/*
 * The store. Each partition appends to its own chunks of the arena (handed
 * out in order; a record larger than a chunk gets several in a row), so a
 * partition's records sit together and sorting and reducing it touches a
 * region that stays in cache rather than the whole arena. Chunks hold bare
 * records: a bucket's index (sort key, record) is built only when it is
 * sorted, hashing each key again (cheaper than writing and reading 8 more
 * bytes a record: measured 6 % on the join), so during the map phase the
 * whole budget but the send buffers holds records.
 *
 * Partitions are cut into buckets by the top bits of the hash below the
 * partition's (so a partition's sorted order is its buckets' sorted orders
 * one after the other): sorting and walking a smaller bucket stays more
 * in the core's cache and TLB (see jr_setup for how many).
 *
 * store_reserve(b, sz) makes room in bucket b for a record of sz bytes
 * (spilling the store first if the arena is full) and returns where to
 * write it; store_commit() then files it.
 */
static inline uint32_t bucket_of(const struct jr *jr, uint32_t part, uint64_t sk)
{
	return jr->fan_bits ? part << jr->fan_bits | (uint32_t)((sk >> (48 - jr->fan_bits)) & ((1u << jr->fan_bits) - 1))
			    : part;
}

/*
 * The slow path of store_reserve: a new chunk for bucket b, large enough
 * for sz bytes, spilling the store to a run first if the arena is full.
 * Where to write the record, or NULL (jr->rc says why: MR_EINVAL for a
 * record larger than the budget, -ENOMEM, or a spill's error). Local.
 * Kept out of line so that store_reserve stays small where it is inlined.
 */
__attribute__((noinline)) uint8_t *mr_store_reserve_chunk(struct jr *jr, uint32_t b, size_t sz);

static inline uint8_t *store_reserve(struct jr *jr, uint32_t b, size_t sz)
{
	struct pidx *x = &jr->pi[b];

	if (sz <= x->left)
		return x->tail;
	return mr_store_reserve_chunk(jr, b, sz); /* a new chunk */
}

static inline __attribute__((always_inline)) void store_commit(struct jr *jr, uint32_t b, uint8_t *rec)
{
	struct pidx *x = &jr->pi[b];
	size_t sz = mr_rec_size(rec);

	x->chlen[x->nch - 1] += sz;
	x->tail += sz;
	x->left -= sz;
	x->n++;
	jr->n++;
}

/* Records in bucket b, this rank's and (direct mode) the other ranks'. */
static inline size_t bucket_n(const struct jr *jr, uint32_t b)
{
	return jr->pi[b].n + (jr->rl ? jr->rl[b].n : 0);
}

/* Forget partition x's records. */
static inline void pidx_clear(struct pidx *x)
{
	x->n = 0;
	x->nch = 0;
	x->tail = NULL;
	x->left = 0;
}

/*
 * A zeroed entry at the end of jr->runs with its offsets and checksums
 * allocated, not yet counted in nruns (the caller does once it is whole),
 * or NULL (out of memory). The entry's arrays belong to jr (jr_release
 * frees them). Local.
 */
struct run *mr_store_run_new(struct jr *jr);

/* --- mr_direct.c: the direct shuffle and its rings ---------------------- */

/*
 * Collective over the ranks of this host (more than one, MR_SHM not 0, a
 * job without a combiner): direct mode if every rank can read the next
 * one's memory (process_vm_readv: same user, no ptrace restriction) and
 * MR_DIRECT is not 0 on any. Agrees the buckets' fan-out (the smallest).
 * 1 if direct (jr->direct set, the queues' shared words allocated in the
 * context on first use), 0 if not. Out of memory: mr_abort.
 */
int mr_direct_setup(struct jr *jr);

/*
 * Collective over the ranks of this host, after a successful map phase in
 * direct mode: every rank tells the others where its buckets' chunks are
 * in its store and which runs it spilled; the host's partitions are
 * assigned to reducers; each rank keeps what concerns its own (jr->rl,
 * and the runs appended to jr->runs); then the rings (unless MR_RING=0).
 * 0, or MR_ECORRUPT (a torn store directory, jr->rc set). Out of memory:
 * mr_abort.
 */
int mr_direct_exchange(struct jr *jr);

/*
 * The next partition for this rank to reduce, or -1 when there is none
 * left. [in,out] cursor: where the search resumes (0 at first; used only
 * without direct mode). Sets jr->own (direct mode: it came from this
 * rank's own queue) and counts jr->stolen. Local; in direct mode the
 * ranks of the host take from the shared queues with compare-and-swap.
 */
int mr_part_next(struct jr *jr, int *cursor);

/*
 * Producer side of the direct rings: copy the next buckets the consumers
 * will want into their rings, as far as they have freed slots. Local
 * (lock-free with the consumers); a no-op without rings.
 */
void mr_direct_produce(struct jr *jr);

/*
 * Sort bucket x (part: its partition) into jr->idx, to walk with mr_iter:
 * its records in this rank's chunks and, in direct mode, the other ranks'
 * (from a ring or process_vm_readv). jr->idx holds bucket_n() entries,
 * valid until the next call; the records they point to (in this rank's
 * chunks, a ring slot or a scratch buffer) stay readable one call longer
 * (a group may point into the bucket before). 0, or this rank's error
 * (jr->rc: -ENOMEM, MR_ECORRUPT, a failed read's -errno). Local.
 */
int mr_bucket_settle(struct jr *jr, struct pidx *x, uint32_t part);

/* --- mr_map.c: the map phase and its send path -------------------------- */

/*
 * Collective: read every input's splits (this rank's own first, then
 * handed out by a counter on rank 0), map them, shuffle the output into
 * the ranks' stores, flush, and exchange END with every rank. Returns this
 * rank's outcome (jr->rc, or 0): the caller agrees it. Every rank runs the
 * END exchange even after an error.
 */
int mr_map_phase(struct jr *jr);

/* --- mr_reduce.c: grouping and the reduce phase ------------------------- */

/*
 * Add rec's value to the group: pointed at where it is if the record stays
 * put until the reduce call (stable), else copied. 0 or -ENOMEM. Local.
 */
int mr_group_add(struct group *g, const uint8_t *rec, int stable);

/* A record of the group's key. */
static inline int group_same(const struct group *g, const uint8_t *rec)
{
	return g->active && g->klen == mr_rec_klen(rec) && !mr_bytes_cmp(g->key, rec + MR_HDR, g->klen);
}

/* Start a group of rec's key (its values added with mr_group_add). */
static inline void group_start(struct group *g, const uint8_t *rec)
{
	g->klen = mr_rec_klen(rec);
	mr_copy(g->key, rec + MR_HDR, g->klen);
	g->nv = 0;
	g->vlen = 0;
	g->active = 1;
}

/* Call fn on the group's key and values and close the group (active = 0): fn's result. */
int mr_group_call(struct group *g, mr_reduce_fn fn, void *arg, struct mr_emitter *em);

/* Free a group's buffers (a zeroed group is fine). */
static inline void group_release(struct group *g)
{
	free(g->vbuf);
	free(g->voff);
	free(g->vsz);
	free(g->vals);
}

/*
 * Reduce every partition this rank gets (mr_part_next), writing each to
 * jr->tmpout/part-NNNNN if the job has an output. 0 or this rank's first
 * error (jr->rc). Local: the caller agrees the outcome.
 */
int mr_reduce_phase(struct jr *jr);

#endif
