/*
 * sv_log: a controller's write-back log for one vdisk (DESIGN.md §9).
 * NBD writes, trims and zeroes land here first; reads look here after the
 * committed bytes (sv_log_read lays the log over them); at a flush, a FUA
 * write, a size or a time limit the controller (sv_ctl.c) hands the entries,
 * in offset order, to a storage writer as one batch and clears the log.
 *
 * The log is a sorted array of disjoint ranges, each either bytes
 * (SV_LOG_DATA), or zeros to punch out of the block map (SV_LOG_ZERO), or,
 * for the block-status sweep only, a mark without bytes (SV_LOG_MAPPED).
 * A new range replaces whatever it overlaps (the last write wins) and is
 * merged with an adjacent range of its kind, so sequential writes become
 * one range and random ones stay as few as they can.
 *
 *   entry:  off u64 | len u64 | kind | data (len bytes, DATA only) | cap
 *
 * Bounds: the caller bounds the log by sv_log_bytes (bytes held) and
 * sv_log_count (ranges) before it puts more; sv_log_put itself never fails
 * but for memory.
 *
 * Errors: 0 or -ENOMEM (the log is unchanged then).
 * Thread rules: none inside; the controller holds its mutex around every call.
 */
#ifndef SV_LOG_H
#define SV_LOG_H

#include <stddef.h>
#include <stdint.h>

enum sv_log_kind {
	SV_LOG_DATA = 0,  /* bytes */
	SV_LOG_ZERO = 1,  /* reads as zeros: trimmed or zeroed */
	SV_LOG_MAPPED = 2 /* a mark (block status): written, bytes elsewhere */
};

#define SV_LOG_SPARES 4
#define SV_LOG_SPARE_MIN (1u << 20) /* smaller buffers are freed: malloc reuses them anyway */
#define SV_LOG_SPARE_USE (64u << 10) /* a new range this large takes a spare (a stream may follow) */

struct sv_log_ent {
	uint64_t off, len;
	enum sv_log_kind kind;
	uint8_t *data; /* DATA: len bytes (cap allocated); otherwise NULL */
	size_t cap;
};

struct sv_log {
	struct sv_log_ent *e; /* sorted by off, disjoint, none empty */
	size_t n, cap;
	uint64_t bytes;       /* bytes held by DATA ranges */
	uint64_t covered;     /* bytes covered by all ranges */
	uint8_t *spare[SV_LOG_SPARES]; /* the largest buffers of cleared DATA ranges, for the next ones */
	size_t spare_cap[SV_LOG_SPARES];
	uint64_t spare_bytes;          /* their sum */
};

void sv_log_init(struct sv_log *l);
/*
 * Free every range (the log is empty and may be reused). The
 * SV_LOG_SPARES largest DATA buffers of at least SV_LOG_SPARE_MIN are kept
 * as spares, which new DATA ranges of at least SV_LOG_SPARE_USE take (the
 * largest first) and growing ones move into (the smallest that holds them):
 * a log refilled after every commit would otherwise fault in fresh pages
 * for every byte (the kernel zeroes each one). The buffers of ranges a put
 * merges or overwrites become spares too (a 1 MiB write that came before
 * its left neighbour took a spare, then was merged into that neighbour).
 */
void sv_log_clear(struct sv_log *l);
/* Free the spares (an idle log; memory wanted elsewhere). */
void sv_log_drop_spare(struct sv_log *l);
/* sv_log_clear and free the array and the spare. */
void sv_log_release(struct sv_log *l);

/*
 * Put [off, off+len): a copy of buf's len bytes when kind is SV_LOG_DATA
 * (buf is not kept), else a range of that kind (buf ignored). len 0 is a
 * no-op. 0 or -ENOMEM (nothing changed).
 */
int sv_log_put(struct sv_log *l, uint64_t off, const void *buf, uint64_t len, enum sv_log_kind kind);

/*
 * Lay the log over buf, which holds [off, off+len) as committed: DATA
 * ranges copied in, ZERO ranges zeroed, MAPPED ranges left alone.
 */
void sv_log_read(const struct sv_log *l, uint64_t off, uint64_t len, void *buf);

/* Index of the first range that ends after off (l->n when none). */
size_t sv_log_find(const struct sv_log *l, uint64_t off);

/* Index of the DATA range that holds all of [off, off+len), or l->n when none does. */
size_t sv_log_holding(const struct sv_log *l, uint64_t off, uint64_t len);

static inline size_t sv_log_count(const struct sv_log *l)
{
	return l->n;
}

static inline uint64_t sv_log_bytes(const struct sv_log *l)
{
	return l->bytes;
}

#endif
