#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "storage/st_util.h"
#include "tests/helpers.h"

/* Bitwise CRC32C: the slow reference the ISA-L path is checked against. */
static uint32_t crc32c_ref(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
	}
	return ~c;
}

Test(st_util, crc32c_check_value)
{
	cr_assert_eq(st_crc32c("123456789", 9), 0xe3069283u);
	cr_assert_eq(st_crc32c("", 0), 0);
}

Test(st_util, crc32c_matches_reference_and_composes)
{
	static uint8_t buf[70001];
	th_fill(buf, sizeof(buf), 7);
	for (size_t n = 0; n < sizeof(buf); n = n * 3 + 1) {
		cr_assert_eq(st_crc32c(buf, n), crc32c_ref(buf, n), "len %zu", n);
		cr_assert_eq(st_crc32c_update(st_crc32c(buf, n / 2), buf + n / 2, n - n / 2), crc32c_ref(buf, n));
	}
}

Test(st_util, parse_size)
{
	uint64_t v;
	cr_assert_eq(st_parse_size("4096", &v), 0);
	cr_assert_eq(v, 4096);
	cr_assert_eq(st_parse_size("8K", &v), 0);
	cr_assert_eq(v, 8192);
	cr_assert_eq(st_parse_size("1.5G", &v), 0);
	cr_assert_eq(v, 3ULL << 29);
	cr_assert_eq(st_parse_size("2TiB", &v), 0);
	cr_assert_eq(v, 2ULL << 40);
	cr_assert_eq(st_parse_size("64m", &v), 0);
	cr_assert_eq(v, 64ULL << 20);
	const char *bad[] = { "", "-1", "K", "12Q", "1.3", " 5", "5 K", "99999999999999999999999", "nan", "inf", "0x10" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(st_parse_size(bad[i], &v), ST_EINVAL, "'%s' accepted", bad[i]);
}

Test(st_util, parse_duration)
{
	int64_t v;
	cr_assert_eq(st_parse_duration("90", &v), 0);
	cr_assert_eq(v, 90);
	cr_assert_eq(st_parse_duration("60m", &v), 0);
	cr_assert_eq(v, 3600);
	cr_assert_eq(st_parse_duration("7d", &v), 0);
	cr_assert_eq(v, 7 * 86400);
	cr_assert_eq(st_parse_duration("6h", &v), 0);
	cr_assert_eq(v, 6 * 3600);
	const char *bad[] = { "", "-5m", "5x", "m", "5mm", "99999999999999999999d" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(st_parse_duration(bad[i], &v), ST_EINVAL, "'%s' accepted", bad[i]);
}

Test(st_util, clock_is_injectable)
{
	setenv("CURATOR_NOW", "1000", 1);
	cr_assert_eq(st_now(), 1000);
	unsetenv("CURATOR_NOW");
	cr_assert_gt(st_now(), 1700000000);
}

Test(st_util, atomic_file_write)
{
	const char *d = th_tmpdir("util");
	char p[512];
	size_t n;
	snprintf(p, sizeof(p), "%s/f", d);
	cr_assert_eq(st_write_file_atomic(p, "hello", 5, 0600), 0);
	char *s = th_read_file(p, &n);
	cr_assert_eq(n, 5);
	cr_assert_str_eq(s, "hello");
	free(s);
	cr_assert_eq(st_rm_rf(d), 0);
}

Test(st_util, strerror_names_every_code)
{
	for (int rc = ST_ENOTFOUND; rc >= ST_EIO; rc--)
		cr_assert_str_neq(st_strerror(rc), "unknown error", "rc %d", rc);
}
