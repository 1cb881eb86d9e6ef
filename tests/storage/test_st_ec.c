#include <criterion/criterion.h>
#include <stdlib.h>

#include "storage/st_ec.h"
#include "tests/helpers.h"

/* ISA-L's encoder against the slow reference, and every erasure pattern decodes. */
Test(st_ec, encode_matches_reference_and_decodes_every_loss)
{
	static const int shapes[][2] = { { 2, 1 }, { 4, 2 }, { 6, 3 } };
	enum { LEN = 4099 };

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		int k = shapes[s][0], m = shapes[s][1], n = k + m;
		uint8_t *frag[ST_EC_MAX], *ref[ST_EC_MAX], *out[ST_EC_MAX];

		for (int i = 0; i < n; i++) {
			frag[i] = malloc(LEN);
			ref[i] = malloc(LEN);
			out[i] = malloc(LEN);
			if (i < k)
				th_fill(frag[i], LEN, (uint64_t)(s * 10 + (size_t)i + 1));
		}
		cr_assert_eq(st_ec_encode(k, m, LEN, frag, frag + k), 0);
		cr_assert_eq(st_ec_encode_ref(k, m, LEN, frag, ref + k), 0);
		for (int p = 0; p < m; p++)
			cr_assert_eq(memcmp(frag[k + p], ref[k + p], LEN), 0, "RS(%d,%d) parity %d differs from the reference", k, m, p);
		/* every set of up to m lost fragments (bitmask over n) */
		for (unsigned mask = 1; mask < (1u << n); mask++) {
			uint8_t *have[ST_EC_MAX], *want[ST_EC_MAX];
			if (__builtin_popcount(mask) > m)
				continue;
			for (int i = 0; i < n; i++) {
				have[i] = mask & (1u << i) ? NULL : frag[i];
				want[i] = mask & (1u << i) ? out[i] : NULL;
			}
			cr_assert_eq(st_ec_decode(k, m, LEN, have, want), 0);
			for (int i = 0; i < n; i++)
				if (mask & (1u << i))
					cr_assert_eq(memcmp(out[i], frag[i], LEN), 0, "RS(%d,%d) mask %x fragment %d", k, m, mask, i);
		}
		/* m + 1 losses cannot be decoded */
		{
			uint8_t *have[ST_EC_MAX], *want[ST_EC_MAX];
			for (int i = 0; i < n; i++) {
				have[i] = i <= m ? NULL : frag[i];
				want[i] = i <= m ? out[i] : NULL;
			}
			cr_assert_eq(st_ec_decode(k, m, LEN, have, want), ST_EIO);
		}
		for (int i = 0; i < n; i++) {
			free(frag[i]);
			free(ref[i]);
			free(out[i]);
		}
	}
}

Test(st_ec, parity_header_round_trips)
{
	uint8_t h[ST_PARITY_HDR];
	int pos;
	uint64_t strip, len;
	uint32_t crc;

	st_ec_parity_hdr(h, 5, 0x1234, 4096, 0xabcdef);
	cr_assert_eq(st_ec_parity_hdr_check(h, &pos, &strip, &len, &crc), 0);
	cr_assert_eq(pos, 5);
	cr_assert_eq(strip, 0x1234);
	cr_assert_eq(len, 4096);
	cr_assert_eq(crc, 0xabcdef);
	h[9] ^= 1;
	cr_assert_eq(st_ec_parity_hdr_check(h, &pos, &strip, &len, &crc), ST_ECORRUPT);
}
