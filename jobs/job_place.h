/*
 * job_place: the executors of the placement tasks (issue 7), called by
 * job_task_apply. Each moves data first, flips the egroup row by
 * compare-and-set second, and deletes the old copies last; a lost CAS
 * deletes the new copies instead and marks the task stale.
 *
 * tier_down / tier_up (argument: destination tier u8, reason u8 'w'
 * watermark, 'c' cold age, 'h' hot): every replica is copied to RF disks of
 * distinct nodes on the destination tier and fdatasync'd; the row takes the
 * new replicas and tier; the old files go; the egroup's read count is reset.
 *
 * disk_balance (argument: source disk u32): the replica on that disk is
 * copied to the least-used disk of the same tier on a node holding no other
 * replica; the row swaps the one replica; the old file goes.
 *
 * Strip members, parity, moving and open (being appended) egroups are left
 * alone (stale): a move of an egroup a writer appends to loses the CAS.
 */
#ifndef JOB_PLACE_H
#define JOB_PLACE_H

#include "jobs/job_db.h"
#include "storage/st_store.h"

/* 0 done (*bytes: bytes copied), ST_ESTALE, or an error. */
int job_apply_tier_move(struct st_store *st, const struct job_task *t, int64_t *bytes, struct st_msg *err);
int job_apply_balance(struct st_store *st, const struct job_task *t, int64_t *bytes, struct st_msg *err);

/*
 * tier_down to the cloud for n tasks at once, as a pipeline: each egroup's
 * verified image is read (by two reader threads, O_DIRECT: the cold data
 * does not pass through the page cache, which the copies' deletion would
 * only empty again) while the objects before it are stored in groups
 * (a directory: one filesystem sync a group, then each read back; two
 * groups at once), images are freed as their group is stored, the stored
 * ones' rows flip by CAS every few groups (one transaction per shard) and
 * their local copies go; one usage update at the end. Memory: a few
 * groups of images whatever n. Per task: rcs[i] (0, ST_ESTALE, an error
 * in errs[i]) and bytes[i]. Returns non-zero when nothing could run, or
 * the failure of a store call as a whole that stopped the batch (the
 * tasks not attempted say so).
 */
int job_apply_to_cloud_batch(struct st_store *st, const struct job_task *const *t, int n, int64_t *bytes, int *rcs,
			     struct st_msg *errs);

#endif
