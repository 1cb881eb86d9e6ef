/*
 * bench_gen: the refcount-join data set shared by the benchmark programs
 * (ours, MR-MPI, SQLite, the hash join), generated deterministically per
 * split so every program sees exactly the same rows.
 *
 *   input A  `a` rows: extent id (u64) -> reference id (u64); extent ids
 *            uniform over 1..b, with 1/16 of the rows on 1024 hot extents
 *   input B  `b` rows: extent id 1..b -> egroup id 0x100000 + id / 4
 */
#ifndef BENCH_GEN_H
#define BENCH_GEN_H

#include <stdint.h>

static inline uint64_t bg_rnd(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

/* Row i of split `split` of A (per rows per split): *ext, *ref. Call with i increasing from 0. */
struct bg_a {
	uint64_t s, per, b, split, i;
};

static inline void bg_a_init(struct bg_a *g, uint64_t a, uint64_t b, int splits, int split)
{
	g->per = a / (uint64_t)splits;
	g->b = b;
	g->split = (uint64_t)split;
	g->s = 0x9e37ULL + (uint64_t)split * 104729;
	g->i = 0;
}

static inline int bg_a_next(struct bg_a *g, uint64_t *ext, uint64_t *ref)
{
	uint64_t r;
	if (g->i >= g->per)
		return 0;
	r = bg_rnd(&g->s);
	*ext = 1 + (r % g->b);
	if ((r >> 60) == 0)
		*ext = 1 + ((r >> 20) % 1024);
	*ref = g->split * g->per + g->i;
	g->i++;
	return 1;
}

static inline void bg_b_range(uint64_t b, int splits, int split, uint64_t *first, uint64_t *end)
{
	uint64_t per = b / (uint64_t)splits;
	*first = (uint64_t)split * per + 1;
	*end = *first + per;
}

static inline uint64_t bg_b_egroup(uint64_t ext)
{
	return 0x100000 + ext / 4;
}

#endif
