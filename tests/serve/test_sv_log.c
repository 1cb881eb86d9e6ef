/* sv_log: the write-back log's ranges against a byte model (what each byte is: untouched, data, zero, mapped). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "serve/sv_log.h"
#include "tests/helpers.h"

enum { SIZE = 1 << 16 };

static void check(const struct sv_log *l, const uint8_t *kind, const uint8_t *bytes)
{
	uint8_t *buf = malloc(SIZE);
	uint64_t held = 0, covered = 0;

	for (size_t i = 0; i < l->n; i++) {
		const struct sv_log_ent *e = &l->e[i];
		cr_assert_gt(e->len, 0);
		if (i) { /* sorted, disjoint; touching neighbours differ in kind unless a merge ran out of memory */
			cr_assert_geq(e->off, l->e[i - 1].off + l->e[i - 1].len);
			if (e->off == l->e[i - 1].off + l->e[i - 1].len)
				cr_assert_neq(e->kind, l->e[i - 1].kind, "ranges %zu and %zu not merged", i - 1, i);
		}
		for (uint64_t b = e->off; b < e->off + e->len; b++)
			cr_assert_eq(kind[b], 1 + e->kind, "byte %llu", (unsigned long long)b);
		if (e->kind == SV_LOG_DATA)
			held += e->len;
		covered += e->len;
	}
	for (uint64_t b = 0; b < SIZE; b++)
		covered -= kind[b] != 0;
	cr_assert_eq(covered, 0, "bytes covered by the ranges and by the model differ");
	cr_assert_eq(held, sv_log_bytes(l));
	cr_assert_eq(l->bytes, held);
	/* a read over a committed image of 0xee bytes */
	memset(buf, 0xee, SIZE);
	sv_log_read(l, 0, SIZE, buf);
	for (uint64_t b = 0; b < SIZE; b++) {
		uint8_t want = kind[b] == 1 + SV_LOG_DATA ? bytes[b] : kind[b] == 1 + SV_LOG_ZERO ? 0 : 0xee;
		cr_assert_eq(buf[b], want, "byte %llu", (unsigned long long)b);
	}
	/* and a read of a window */
	memset(buf, 0xee, 1000);
	sv_log_read(l, 12345, 1000, buf);
	for (uint64_t b = 0; b < 1000; b++) {
		uint64_t x = 12345 + b;
		uint8_t want = kind[x] == 1 + SV_LOG_DATA ? bytes[x] : kind[x] == 1 + SV_LOG_ZERO ? 0 : 0xee;
		cr_assert_eq(buf[b], want);
	}
	free(buf);
}

Test(sv_log, random_puts_match_a_model)
{
	struct sv_log l;
	uint8_t *kind = calloc(1, SIZE), *bytes = calloc(1, SIZE), *src = malloc(SIZE);
	uint64_t seed = 5;

	sv_log_init(&l);
	for (int i = 0; i < 3000; i++) {
		uint64_t r = th_rand(&seed);
		uint64_t len = 1 + (r % 7 == 0 ? th_rand(&seed) % 9000 : th_rand(&seed) % 300);
		uint64_t off = th_rand(&seed) % (SIZE - len);
		enum sv_log_kind k = r % 5 == 0 ? SV_LOG_ZERO : r % 11 == 0 ? SV_LOG_MAPPED : SV_LOG_DATA;

		if (r % 3 == 0 && l.n) /* sequential after the last range: the merge path */
			off = l.e[l.n - 1].off + l.e[l.n - 1].len < SIZE - len ? l.e[l.n - 1].off + l.e[l.n - 1].len : off;
		th_fill(src, len, seed++);
		cr_assert_eq(sv_log_put(&l, off, src, len, k), 0);
		memset(kind + off, 1 + k, len);
		if (k == SV_LOG_DATA)
			memcpy(bytes + off, src, len);
		if (i % 97 == 0)
			check(&l, kind, bytes);
		if (i == 1500) { /* cleared, it starts over */
			sv_log_clear(&l);
			memset(kind, 0, SIZE);
			check(&l, kind, bytes);
		}
	}
	check(&l, kind, bytes);
	sv_log_release(&l);
	free(kind);
	free(bytes);
	free(src);
}

Test(sv_log, sequential_writes_become_one_range)
{
	struct sv_log l;
	uint8_t b[4096];

	sv_log_init(&l);
	for (int i = 0; i < 256; i++) {
		memset(b, i, sizeof(b));
		cr_assert_eq(sv_log_put(&l, (uint64_t)i * 4096, b, 4096, SV_LOG_DATA), 0);
	}
	cr_assert_eq(sv_log_count(&l), 1);
	cr_assert_eq(sv_log_bytes(&l), 1 << 20);
	/* overwriting the middle and zeroing a piece inside keeps three/five ranges */
	cr_assert_eq(sv_log_put(&l, 10000, NULL, 5000, SV_LOG_ZERO), 0);
	cr_assert_eq(sv_log_count(&l), 3);
	cr_assert_eq(sv_log_bytes(&l), (1 << 20) - 5000);
	cr_assert_eq(sv_log_put(&l, 12000, b, 100, SV_LOG_DATA), 0);
	cr_assert_eq(sv_log_count(&l), 5);
	/* a range covering all of it replaces all */
	cr_assert_eq(sv_log_put(&l, 0, NULL, 1 << 21, SV_LOG_ZERO), 0);
	cr_assert_eq(sv_log_count(&l), 1);
	cr_assert_eq(sv_log_bytes(&l), 0);
	sv_log_release(&l);
}

/*
 * The fast paths and the spares: a put inside a DATA range is copied in
 * place (no new range, no new bytes); a stream appends; a cleared log keeps
 * its large buffers and the next large range takes one; two large ranges
 * that touch stay apart (a merge would copy one), and a read spans both.
 */
Test(sv_log, in_place_appends_spares_and_large_neighbours)
{
	enum { MB = 1 << 20 };
	struct sv_log l;
	uint8_t *a = malloc(4 * MB), *b = malloc(4 * MB), *out = malloc(8 * MB);
	uint8_t *buf0;

	th_fill(a, 4 * MB, 1);
	th_fill(b, 4 * MB, 2);
	sv_log_init(&l);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(sv_log_put(&l, (uint64_t)i * MB, a + (size_t)i * MB, MB, SV_LOG_DATA), 0);
	cr_assert_eq(sv_log_count(&l), 1, "a stream is one range");
	cr_assert_eq(sv_log_bytes(&l), 4 * MB);
	buf0 = l.e[0].data;
	cr_assert_eq(sv_log_put(&l, 100, b, 3 * MB, SV_LOG_DATA), 0);
	cr_assert_eq(sv_log_count(&l), 1);
	cr_assert_eq(sv_log_bytes(&l), 4 * MB, "an overwrite inside a range takes no more room");
	cr_assert_eq(l.e[0].data, buf0, "copied in place");
	memcpy(out, a, 4 * MB);
	memcpy(out + 100, b, 3 * MB);
	cr_assert_eq(memcmp(l.e[0].data, out, 4 * MB), 0);

	sv_log_clear(&l);
	cr_assert_eq(sv_log_count(&l), 0);
	cr_assert_geq(l.spare_bytes, 4 * MB, "the large buffer is kept");
	cr_assert_eq(sv_log_put(&l, 8 * MB, b, 2 * MB, SV_LOG_DATA), 0);
	cr_assert_eq(l.e[0].data, buf0, "the next large range took the spare");
	cr_assert_eq(l.spare_bytes, 0);
	/* a large range right before it: the two stay apart, reads see both */
	cr_assert_eq(sv_log_put(&l, 6 * MB, a, 2 * MB, SV_LOG_DATA), 0);
	cr_assert_eq(sv_log_count(&l), 2);
	memset(out, 0xee, 8 * MB);
	sv_log_read(&l, 6 * MB, 4 * MB, out);
	cr_assert_eq(memcmp(out, a, 2 * MB), 0);
	cr_assert_eq(memcmp(out + 2 * MB, b, 2 * MB), 0);
	/* a zero range cuts into one of them */
	cr_assert_eq(sv_log_put(&l, 7 * MB, b, 4096, SV_LOG_ZERO), 0);
	sv_log_read(&l, 6 * MB, 4 * MB, out);
	for (int i = 0; i < 4096; i++)
		cr_assert_eq(out[MB + i], 0);
	sv_log_drop_spare(&l);
	sv_log_release(&l);
	free(a);
	free(b);
	free(out);
}

/*
 * A stream whose writes arrive a little out of order (iodepth > 1) keeps
 * reusing the spares: the 1 MiB range that came before its left neighbour
 * took the largest spare, and when it is merged into that neighbour its
 * buffer goes back to the pool, where the growing range moves into it.
 * Without that every commit cycle faulted in fresh pages for the whole
 * hot range (half of the controller's CPU in 1 MiB sequential writes).
 */
Test(sv_log, merged_and_replaced_buffers_become_spares)
{
	enum { MB = 1 << 20 };
	struct sv_log l;
	uint8_t *src = malloc(8 * MB), *out = malloc(8 * MB), *p;

	th_fill(src, 8 * MB, 21);
	sv_log_init(&l);
	cr_assert_eq(sv_log_put(&l, 0, src, 8 * MB, SV_LOG_DATA), 0);
	sv_log_clear(&l);
	cr_assert_eq(l.spare_bytes, 8 * MB);
	p = NULL;
	for (int s = 0; s < SV_LOG_SPARES; s++)
		if (l.spare_cap[s] == 8 * MB)
			p = l.spare[s];
	cr_assert(p, "the 8 MiB buffer was not kept");
	/* the second MiB first: it takes the spare */
	cr_assert_eq(sv_log_put(&l, MB, src + MB, MB, SV_LOG_DATA), 0);
	cr_assert_eq(l.n, 1);
	cr_assert_eq(l.e[0].data, p);
	cr_assert_eq(l.spare_bytes, 0);
	/* then the first: merged, the spare back in the pool */
	cr_assert_eq(sv_log_put(&l, 0, src, MB, SV_LOG_DATA), 0);
	cr_assert_eq(l.n, 1);
	cr_assert_eq(l.spare_bytes, 8 * MB, "the merged range's buffer was freed, not kept");
	/* the stream goes on: the range moves into the spare instead of faulting in new pages */
	for (int i = 2; i < 8; i++)
		cr_assert_eq(sv_log_put(&l, (uint64_t)i * MB, src + (size_t)i * MB, MB, SV_LOG_DATA), 0);
	cr_assert_eq(l.n, 1);
	cr_assert_eq(l.e[0].data, p, "the growing range did not take the spare");
	sv_log_read(&l, 0, 8 * MB, out);
	cr_assert_eq(memcmp(out, src, 8 * MB), 0);
	/* an overwrite that replaces a whole range keeps its buffer too */
	cr_assert_eq(sv_log_put(&l, 0, src, 8 * MB, SV_LOG_ZERO), 0);
	cr_assert_eq(l.n, 1);
	cr_assert_eq(l.e[0].kind, SV_LOG_ZERO);
	cr_assert_geq(l.spare_bytes, 8 * MB);
	sv_log_read(&l, 0, 8 * MB, out);
	for (size_t i = 0; i < 8 * MB; i += 4096)
		cr_assert_eq(out[i], 0);
	sv_log_release(&l);
	free(src);
	free(out);
}
