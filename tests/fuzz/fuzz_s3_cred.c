/*
 * fuzz_s3_cred: a credentials file's bytes through st_cloud_s3_cred_parse
 * (storage/st_cloud_int.h). Both keys come back terminated inside their
 * buffers; 0 exactly when both were found.
 */
#include "storage/st_cloud_int.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_cloud_s3_cred cred;
	int rc = st_cloud_s3_cred_parse((const char *)data, size, &cred);

	FUZZ_ASSERT(rc == 0 || rc == ST_EINVAL);
	FUZZ_ASSERT(memchr(cred.access, 0, sizeof(cred.access)) && memchr(cred.secret, 0, sizeof(cred.secret)));
	FUZZ_ASSERT((rc == 0) == (cred.access[0] && cred.secret[0]));
	return 0;
}
