/*
 * cu_health: the cluster's health as coded checks, as `ceph health detail`
 * has them: HEALTH_OK, HEALTH_WARN or HEALTH_ERR, and each check that is
 * not fine with its code (DISK_FAILED, NODE_DOWN, DATA_UNREADABLE, ...),
 * its severity, a one-line summary and the items it concerns. `curator
 * health [detail]`, the first line of `curator status` and the
 * curator_health_* metrics of `report --format prom` are made from it.
 *
 * Where the figures come from: the topology (failed disks, down nodes,
 * tiers' use) and the daemon's row are read live; what only a scan can
 * know (replicas under RF, data no read can serve, scrubbing due, refcount
 * errors, corrupt rows) comes from the last finished scan, named in the
 * summary. Data is called lost (DATA_UNREADABLE, an error) only where a
 * read would fail: no copy on a disk that is there and not failed (the
 * scan's unreadable_egroups); copies left only on down nodes or draining
 * disks are DATA_UNDER_REPLICATED (a warning).
 *
 * Local, read-only (config.db, curator.db); not thread-safe per struct.
 */
#ifndef CU_HEALTH_H
#define CU_HEALTH_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "storage/st_store.h"

enum cu_health_level { CU_HEALTH_OK = 0, CU_HEALTH_WARN = 1, CU_HEALTH_ERR = 2 };

#define CU_HEALTH_ITEMS 10 /* items kept per check (count says how many there are) */

/* One check that is not fine. */
struct cu_health_check {
	const char *code;             /* "DISK_FAILED": one of cu_health_codes() */
	enum cu_health_level severity; /* CU_HEALTH_WARN or CU_HEALTH_ERR */
	char summary[256];            /* one line: "2 disks have failed" */
	int64_t count;                /* how many items it concerns */
	int nitems;                   /* items[0..nitems): the first CU_HEALTH_ITEMS */
	char items[CU_HEALTH_ITEMS][320]; /* long enough for a scan error with its paths */
};

struct cu_health {
	enum cu_health_level status; /* the worst severity; CU_HEALTH_OK with no check */
	int n;
	struct cu_health_check checks[24];
};

/* A check code, its severity and what it means (for docs and the metrics). */
struct cu_health_code {
	const char *code;
	enum cu_health_level severity;
	const char *meaning;
};

/* Every code there is, in a fixed order; *n receives the count. Static. */
const struct cu_health_code *cu_health_codes(int *n);

/*
 * The health of the cluster whose config is cfg into *h (cleared first). 0, or an error
 * opening curator.db (err filled); a figure that cannot be read is left
 * out, never guessed.
 */
int cu_health_get(struct st_config *cfg, struct cu_health *h, struct st_msg *err);

/*
 * Is a curator master up? 1 when a lease of kind master is live and has not
 * been silent for its TTL as this host's observers saw it (st_lease.h;
 * records this observation in config.db): never the daemon row's
 * wall-clock heartbeat against this host's clock, nor its pid. 0 otherwise
 * or when config.db cannot be read.
 */
int cu_master_up(struct st_config *cfg);

/* "HEALTH_OK", "HEALTH_WARN", "HEALTH_ERR". */
const char *cu_health_name(enum cu_health_level l);

/*
 * The health for people: the status line ("HEALTH_WARN: 1 disk has
 * failed; 1 node is down"), then with detail each check's line and its
 * items, indented by indent spaces.
 */
void cu_health_text(const struct cu_health *h, int detail, int indent, FILE *out);

/* The detail alone: each check's line ("[WRN] DISK_FAILED: ...") and its items, indented by indent spaces. */
void cu_health_detail(const struct cu_health *h, int indent, FILE *out);

/* The health as JSON: { "status", "checks": [ { "code", "severity", "summary", "count", "items" } ] }. */
json_t *cu_health_json(const struct cu_health *h);

/* The Prometheus lines: curator_health_status (0 ok, 1 warn, 2 err) and curator_health_check{code} per code. */
void cu_health_prom(const struct cu_health *h, FILE *out);

#endif
