/*
 * job_dedup: the executors of the dedup tasks (issue 7, DESIGN.md §3 and
 * §6), called by job_task_apply.
 *
 * fingerprint (target: an egroup of a dedup container): reads the egroup's
 * extents through verified replicas (inflating compressed ones), cuts them
 * into chunks by the container's chunking (st_chunk.h) and stores the
 * chunks' SHA-1s in the egroup's fingerprint row. An egroup that is gone
 * loses its row. Extents never change, so no compare-and-set is needed.
 *
 * dedup (argument: the container and the groups MR3 formed, see
 * job_scan.c form_dedup): per group, one chunk stored more than once
 * becomes one refcounted dedup extent (id "sha1:<hex>:<len>") and every
 * block row that references a copy is repointed at it. Order (bottom-up,
 * DESIGN.md §4):
 *   1. one operation begins (sequence s, in flight);
 *   2. data: the chunks that have no dedup extent yet are read from their
 *      source, their SHA-1 checked against the fingerprint, and written
 *      into one new egroup (RF copies, fdatasync'd), whose row is inserted
 *      with each extent's recorded refcount = its number of target rows
 *      and last_ref_seq = s; then their extent-ID rows. Existing dedup
 *      extents get their recorded refcount raised by compare-and-set
 *      (last_ref_seq = s) instead;
 *   3. metadata flips: each target block row is changed in one shard
 *      transaction that re-reads it (so a concurrent write wins: regions
 *      no longer naming the old extent are left alone), after the old
 *      copy's bytes were read and compared byte for byte with the dedup
 *      extent's;
 *   4. the operation ends. The old extents lose references and are
 *      collected by the next scans (the safety rule applies as ever).
 * A crash leaves at worst refcounts above the truth (lowered by a later
 * scan) and an unreferenced dedup egroup (collected).
 */
#ifndef JOB_DEDUP_H
#define JOB_DEDUP_H

#include "jobs/job_db.h"
#include "storage/st_store.h"

/* 0 done (*bytes: bytes read), ST_ESTALE, or an error. */
int job_apply_fingerprint(struct st_store *st, const struct job_task *t, int64_t *bytes, struct st_msg *err);

/* 0 done (frees nothing itself: the old copies go with the next scans' GC), or an error. */
int job_apply_dedup(struct st_store *st, const struct job_task *t, int64_t *bytes, struct st_msg *err);

#endif
