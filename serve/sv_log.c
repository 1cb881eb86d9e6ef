/*
 * sv_log: the write-back log's ranges (sv_log.h). A put finds the ranges
 * it overlaps by binary search, cuts the ones that stick out on either side
 * (the right remainder of a range that holds the new one gets its own copy
 * of its bytes), replaces the rest by the new range and merges it with a
 * neighbour of its kind that touches it (two DATA ranges both over 1 MiB
 * stay apart: a merge copies the right one). Two fast paths come first: a
 * DATA put inside one DATA range is copied in place, and one right after a
 * DATA range is appended to it (its buffer grows geometrically, or is a
 * spare of a committed log from the start), so a sequential stream costs
 * one copy a byte and a pass over a range the log holds no allocation.
 */
#include "serve/sv_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void sv_log_init(struct sv_log *l)
{
	memset(l, 0, sizeof(*l));
}

/*
 * A DATA buffer the log no longer needs: kept as a spare (its pages are
 * mapped) in place of the smallest one when it is larger and at least
 * SV_LOG_SPARE_MIN, else freed.
 */
static void spare_keep(struct sv_log *l, uint8_t *data, size_t cap)
{
	int k = 0;

	for (int s = 1; s < SV_LOG_SPARES; s++) /* the smallest slot */
		if (l->spare_cap[s] < l->spare_cap[k])
			k = s;
	if (data && cap > l->spare_cap[k] && cap >= SV_LOG_SPARE_MIN) {
		free(l->spare[k]);
		l->spare_bytes += cap - l->spare_cap[k];
		l->spare[k] = data;
		l->spare_cap[k] = cap;
	} else {
		free(data);
	}
}

/*
 * A spare of at least want bytes taken out of the pool (*cap its size),
 * the smallest such, or the largest when `largest`; NULL: none.
 */
static uint8_t *spare_take(struct sv_log *l, size_t want, int largest, size_t *cap)
{
	int k = -1;
	uint8_t *d;

	for (int s = 0; s < SV_LOG_SPARES; s++)
		if (l->spare[s] && l->spare_cap[s] >= want &&
		    (k < 0 || (largest ? l->spare_cap[s] > l->spare_cap[k] : l->spare_cap[s] < l->spare_cap[k])))
			k = s;
	if (k < 0)
		return NULL;
	d = l->spare[k];
	*cap = l->spare_cap[k];
	l->spare_bytes -= l->spare_cap[k];
	l->spare[k] = NULL;
	l->spare_cap[k] = 0;
	return d;
}

void sv_log_clear(struct sv_log *l)
{
	for (size_t i = 0; i < l->n; i++)
		spare_keep(l, l->e[i].data, l->e[i].cap);
	l->n = 0;
	l->bytes = l->covered = 0;
}

void sv_log_drop_spare(struct sv_log *l)
{
	for (int s = 0; s < SV_LOG_SPARES; s++) {
		free(l->spare[s]);
		l->spare[s] = NULL;
		l->spare_cap[s] = 0;
	}
	l->spare_bytes = 0;
}

void sv_log_release(struct sv_log *l)
{
	sv_log_clear(l);
	sv_log_drop_spare(l);
	free(l->e);
	sv_log_init(l);
}

size_t sv_log_holding(const struct sv_log *l, uint64_t off, uint64_t len)
{
	size_t i = sv_log_find(l, off);

	if (i < l->n && l->e[i].kind == SV_LOG_DATA && l->e[i].off <= off && l->e[i].off + l->e[i].len >= off + len)
		return i;
	return l->n;
}

size_t sv_log_find(const struct sv_log *l, uint64_t off)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->e[mid].off + l->e[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void account(struct sv_log *l, const struct sv_log_ent *e, int sign)
{
	if (e->kind == SV_LOG_DATA)
		l->bytes += (uint64_t)((int64_t)sign * (int64_t)e->len);
	l->covered += (uint64_t)((int64_t)sign * (int64_t)e->len);
}

/* Make room for want more entries. */
static int reserve(struct sv_log *l, size_t want)
{
	if (l->n + want <= l->cap)
		return 0;
	size_t cap = l->cap ? l->cap * 2 : 64;
	while (cap < l->n + want)
		cap *= 2;
	struct sv_log_ent *e = realloc(l->e, cap * sizeof(*e));
	if (!e)
		return -ENOMEM;
	l->e = e;
	l->cap = cap;
	return 0;
}

/*
 * Append len bytes of src to DATA range e: grown geometrically, into a
 * spare that holds it when there is one (mapped pages: no fault, and the
 * old buffer becomes a spare in turn), else by realloc.
 */
static int data_append(struct sv_log *l, struct sv_log_ent *e, const uint8_t *src, uint64_t len)
{
	if (e->len + len > e->cap) {
		size_t cap = e->cap ? e->cap : 4096, scap = 0;
		while (cap < e->len + len)
			cap *= 2;
		uint8_t *d = e->len + len >= SV_LOG_SPARE_USE ? spare_take(l, e->len + len, 0, &scap) : NULL;
		if (d) {
			if (e->len)
				memcpy(d, e->data, e->len);
			spare_keep(l, e->data, e->cap);
			cap = scap;
		} else if (!(d = realloc(e->data, cap))) {
			return -ENOMEM;
		}
		e->data = d;
		e->cap = cap;
	}
	memcpy(e->data + e->len, src, len);
	e->len += len;
	return 0;
}

static int ent_make(struct sv_log *l, struct sv_log_ent *e, uint64_t off, const uint8_t *src, uint64_t len,
		    enum sv_log_kind kind)
{
	*e = (struct sv_log_ent){ off, 0, kind, NULL, 0 };
	if (kind != SV_LOG_DATA) {
		e->len = len;
		return 0;
	}
	if (len >= SV_LOG_SPARE_USE) /* the largest spare: no fresh pages to fault in, and a stream may follow */
		e->data = spare_take(l, len, 1, &e->cap);
	return data_append(l, e, src, len);
}

/* Merge e[i + 1] into e[i] when they touch and are of one kind. */
static int merge_next(struct sv_log *l, size_t i)
{
	struct sv_log_ent *a = &l->e[i], *b = &l->e[i + 1];

	if (i + 1 >= l->n || a->off + a->len != b->off || a->kind != b->kind)
		return 0;
	if (a->kind == SV_LOG_DATA && b->len > SV_LOG_SPARE_MIN)
		return 0; /* two large ranges stay apart: merging would copy all of b */
	if (a->kind == SV_LOG_DATA) {
		if (data_append(l, a, b->data, b->len))
			return -ENOMEM;
		spare_keep(l, b->data, b->cap); /* (a stream's next range takes it back) */
	} else {
		a->len += b->len;
	}
	memmove(b, b + 1, (l->n - i - 2) * sizeof(*b));
	l->n--;
	return 0;
}

int sv_log_put(struct sv_log *l, uint64_t off, const void *buf, uint64_t len, enum sv_log_kind kind)
{
	uint64_t end = off + len;
	struct sv_log_ent ne, right = { 0 };
	int has_right = 0;
	size_t i, j;

	if (len == 0)
		return 0;
	i = sv_log_find(l, off);
	if (kind == SV_LOG_DATA) {
		/* an overwrite inside one DATA range: in place (a sequential pass over a cached range) */
		size_t h = sv_log_holding(l, off, len);
		if (h < l->n) {
			memcpy(l->e[h].data + (off - l->e[h].off), buf, len);
			return 0;
		}
		/* right after a DATA range, overlapping nothing: appended to it (a sequential stream) */
		if (i > 0 && l->e[i - 1].kind == SV_LOG_DATA && l->e[i - 1].off + l->e[i - 1].len == off &&
		    (i == l->n || l->e[i].off >= end)) {
			struct sv_log_ent *a = &l->e[i - 1];
			account(l, a, -1);
			if (data_append(l, a, buf, len)) {
				account(l, a, +1);
				return -ENOMEM;
			}
			account(l, a, +1);
			merge_next(l, i - 1);
			return 0;
		}
	}
	if (reserve(l, 2) || ent_make(l, &ne, off, buf, len, kind))
		return -ENOMEM;
	for (j = i; j < l->n && l->e[j].off < end; j++)
		;
	/* e[i..j) overlap [off, end); the last may stick out to the right */
	if (j > i && l->e[j - 1].off + l->e[j - 1].len > end) {
		const struct sv_log_ent *r = &l->e[j - 1];
		uint64_t cut = end - r->off;
		if (ent_make(l, &right, end, r->data ? r->data + cut : NULL, r->len - cut, r->kind)) {
			free(ne.data);
			return -ENOMEM;
		}
		has_right = 1;
	}
	/* nothing fails past this point but a merge, which leaves a valid log */
	if (j > i && l->e[i].off < off) { /* the first sticks out to the left: keep that part */
		account(l, &l->e[i], -1);
		l->e[i].len = off - l->e[i].off;
		account(l, &l->e[i], +1);
		i++; /* (when it also stuck out right, i == j now and right holds that part) */
	}
	for (size_t k = i; k < j; k++) {
		account(l, &l->e[k], -1);
		spare_keep(l, l->e[k].data, l->e[k].cap);
	}
	/* replace e[i..j) by ne (and right) */
	{
		size_t put = 1 + (size_t)has_right;
		memmove(&l->e[i + put], &l->e[j], (l->n - j) * sizeof(l->e[0]));
		l->n = l->n - (j - i) + put;
		l->e[i] = ne;
		account(l, &ne, +1);
		if (has_right) {
			l->e[i + 1] = right;
			account(l, &right, +1);
		}
	}
	/* merge with a neighbour of the same kind */
	if (merge_next(l, i))
		return 0; /* out of memory while merging: the ranges stay apart, still right */
	if (i > 0)
		merge_next(l, i - 1);
	return 0;
}

void sv_log_read(const struct sv_log *l, uint64_t off, uint64_t len, void *buf)
{
	uint64_t end = off + len;
	uint8_t *out = buf;

	for (size_t i = sv_log_find(l, off); i < l->n && l->e[i].off < end; i++) {
		const struct sv_log_ent *e = &l->e[i];
		uint64_t a = e->off > off ? e->off : off;
		uint64_t b = e->off + e->len < end ? e->off + e->len : end;

		if (e->kind == SV_LOG_DATA)
			memcpy(out + (a - off), e->data + (a - e->off), b - a);
		else if (e->kind == SV_LOG_ZERO)
			memset(out + (a - off), 0, b - a);
	}
}
