/*
 * fuzz_text: the small parsers of text a user or a row gives. The first
 * input byte picks the parser (mod 6), the rest is the string (up to its
 * first NUL):
 *
 *   0  st_parse_size        ("8G")
 *   1  st_parse_duration    ("7d")
 *   2  st_disk_spec_parse   ("ssd:1x8G,hdd:2x64G")
 *   3  st_tier_parse        ("ssd")
 *   4  job_task_kind_parse  ("egroup_delete")
 *   5  st_egroup_name_parse ("0000000000000010.eg", from a disk's or the
 *                            cloud's listing)
 *
 * Each result must be what its header promises: a size or duration that
 * parses from a decimal number of bytes/seconds gives that number, a disk
 * spec holds at most 32 disks, each of a disk tier and >= 16 MiB (none for
 * a spec of only commas: st_store_init refuses that one), a tier or task
 * kind is a valid index whose name is the input, an egroup file name is the
 * one st_egroup_name gives for its id (hex digits in either case).
 */
#include <strings.h>

#include "jobs/job_kind.h"
#include "storage/st_config.h"
#include "storage/st_egroup.h"
#include "storage/st_store.h"
#include "storage/st_util.h"
#include "tests/fuzz/fuzz.h"

static void size_case(const char *s)
{
	uint64_t v;

	if (st_parse_size(s, &v) == 0 && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 15) /* exact in a double */
		FUZZ_ASSERT(v == strtoull(s, NULL, 10));
}

static void duration_case(const char *s)
{
	int64_t v;

	if (st_parse_duration(s, &v) == 0) {
		FUZZ_ASSERT(v >= 0);
		if (strspn(s, "0123456789") == strlen(s) && strlen(s) < 19)
			FUZZ_ASSERT(v == strtoll(s, NULL, 10));
	}
}

static void disks_case(const char *s)
{
	struct st_init_spec spec;
	struct st_msg err;

	memset(&spec, 0, sizeof(spec));
	err.text[0] = 0;
	if (st_disk_spec_parse(s, &spec, &err) == 0) {
		FUZZ_ASSERT(spec.ndisks >= 0 && spec.ndisks <= 32);
		for (int i = 0; i < spec.ndisks; i++)
			FUZZ_ASSERT((spec.disks[i].tier == ST_TIER_SSD || spec.disks[i].tier == ST_TIER_HDD) &&
				    spec.disks[i].size >= (16ULL << 20));
	} else {
		FUZZ_ASSERT(err.text[0] && memchr(err.text, 0, sizeof(err.text)));
	}
}

static void tier_case(const char *s)
{
	int t = st_tier_parse(s);

	FUZZ_ASSERT(t >= -1 && t < ST_NTIERS);
	if (t >= 0)
		FUZZ_ASSERT(!strcmp(st_tier_name((enum st_tier)t), s));
}

static void kind_case(const char *s)
{
	int k = job_task_kind_parse(s);

	FUZZ_ASSERT(k >= -1 && k < JT_NKINDS);
	if (k >= 0)
		FUZZ_ASSERT(!strcmp(job_task_kind_name((enum job_task_kind)k), s));
}

static void egroup_name_case(const char *s)
{
	char name[ST_EGROUP_NAME_LEN + 1];
	uint64_t id;

	if (st_egroup_name_parse(s, &id) == 0) {
		st_egroup_name(id, name);
		FUZZ_ASSERT(!strcasecmp(name, s));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void (*const cases[])(const char *) = { size_case,    duration_case, disks_case,
						      tier_case,    kind_case,     egroup_name_case };
	char *s;

	if (size < 1)
		return 0;
	s = fuzz_cstr(data + 1, size - 1);
	cases[data[0] % (sizeof(cases) / sizeof(cases[0]))](s);
	free(s);
	return 0;
}
