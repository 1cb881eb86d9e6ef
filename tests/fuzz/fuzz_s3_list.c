/*
 * fuzz_s3_list: one page of an S3 ListObjectsV2 response, as a server (or
 * anything answering on its port) sends it, through
 * st_cloud_s3_list_parse (storage/st_cloud_int.h).
 *
 * The whole input is the body. Every key handed out is non-empty and
 * shorter than the parser's 1 KiB buffer; a key starting "stop" makes the
 * callback return 7, which must come back unless the body is not XML. The
 * continuation token is cut to the harness's small buffer and always
 * terminated; a failure has a message.
 */
#include <errno.h>

#include "storage/st_cloud_int.h"
#include "tests/fuzz/fuzz.h"

struct seen {
	int keys, stopped;
};

static int on_key(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct seen *s = arg;
	size_t n = strlen(key);

	(void)size;
	(void)mtime;
	FUZZ_ASSERT(!s->stopped); /* nothing after the callback said stop */
	FUZZ_ASSERT(n > 0 && n < 1024);
	s->keys++;
	if (!strncmp(key, "stop", 4)) {
		s->stopped = 1;
		return 7;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen s = { 0 };
	struct st_msg err;
	char next[17];
	int rc;

	err.text[0] = 0;
	memset(next, 'x', sizeof(next));
	rc = st_cloud_s3_list_parse((const char *)data, size, "fuzz", on_key, &s, next, sizeof(next), &err);
	FUZZ_ASSERT(rc == 0 || rc == 7 || rc == -EIO || rc == -ENOMEM);
	FUZZ_ASSERT(rc != 7 || s.stopped);
	FUZZ_ASSERT(rc != 0 || !s.stopped);
	FUZZ_ASSERT(memchr(next, 0, sizeof(next)));
	if (rc == -EIO)
		FUZZ_ASSERT(err.text[0] && memchr(err.text, 0, sizeof(err.text)));
	return 0;
}
