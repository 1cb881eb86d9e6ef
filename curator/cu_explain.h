/*
 * cu_explain: `curator explain vdisk|egroup|extent ID` — what the last scans
 * found about one item and why it has, or has not, a task: "referenced by
 * 2 vdisks", "dead: egroup_delete task 12 (done) of scan 4", "changed after
 * scan 5 started (last_ref_seq 812 >= S0 800): the next scan decides".
 * Local, read-only. Counting an extent's references walks the block map.
 *
 * One pass gathers the facts and says them twice: as sentences for people
 * (out) and as the fields of the `explain` object of `--format json`
 * (docs/JSON.md): the item, its state, its garbage share, its protection,
 * the last scan's findings about it, its tasks or the reason it has none
 * (no_task: a code and a sentence), and the task kinds that refuse it by
 * rule (refusals, job_task_refusal) or the safety rule (safety).
 */
#ifndef CU_EXPLAIN_H
#define CU_EXPLAIN_H

#include <jansson.h>
#include <stdio.h>

#include "storage/st_store.h"

/*
 * what: "vdisk", "egroup" or "extent". Prints the explanation to out (text)
 * and, when obj is non-NULL, sets *obj to a new JSON object holding the
 * same facts as fields (the caller owns it: json_decref); *obj is left
 * untouched on failure. 0, ST_EINVAL (bad ID or kind), ST_ENOTFOUND (no
 * such item: neither in the metadata nor named by any task; err says so,
 * nothing is printed; an item the curator collected is explained by its
 * tasks), -ENOMEM, or the store's error. An egroup's explanation gives its
 * garbage share (by recorded refcounts), its protection (healthy copies
 * against RF, or its strip), the last scan's findings about it and its
 * tasks, or why it has none (no healthy copy to repair from is never
 * "nothing to do").
 */
int cu_explain(struct st_store *st, const char *what, const char *id, FILE *out, json_t **obj, struct st_msg *err);

#endif
