/*
 * fuzz_s3_error: the body of an S3 error response through
 * st_cloud_s3_error_code (storage/st_cloud_int.h), which picks the <Code>
 * for the message of a failed request. The body is text (the transfer
 * keeps it terminated), so the input up to its first NUL is the body; the
 * code comes back terminated inside a buffer smaller than most bodies.
 */
#include "storage/st_cloud_int.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = fuzz_cstr(data, size);
	char code[24];

	memset(code, 'x', sizeof(code));
	st_cloud_s3_error_code(body, code, sizeof(code));
	FUZZ_ASSERT(memchr(code, 0, sizeof(code)));
	FUZZ_ASSERT(!code[0] || strstr(body, code));
	st_cloud_s3_error_code(NULL, code, sizeof(code));
	FUZZ_ASSERT(!code[0]);
	free(body);
	return 0;
}
