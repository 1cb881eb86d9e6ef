/*
 * fuzz_mr_part: a committed MapReduce output partition file `part-NNNNN`
 * (format in mapreduce/mr_int.h) through mr_output_read_part, the reader a
 * scan's next job and the tools use.
 *
 * Input: one byte, the partition number the reader asks for (0..255), then
 * the file's bytes. The file goes to a directory of this process's own
 * under $TMPDIR (removed at exit). Every record handed out has a key of 1..
 * 65535 bytes; the reader returns 0, MR_ECORRUPT or -errno, never reads past
 * the file, and counts what it hands out against the file's trailer.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "mapreduce/mr.h"
#include "tests/fuzz/fuzz.h"

static char dir[PATH_MAX];
static char path[PATH_MAX + 32];

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static void setup(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/fuzz_mr_part.XXXXXX", t && *t ? t : "/tmp");
	FUZZ_ASSERT(mkdtemp(dir));
	atexit(cleanup);
}

static int on_rec(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	size_t *n = arg;

	FUZZ_ASSERT(klen >= 1 && klen <= 65535);
	(void)((const uint8_t *)key)[klen - 1]; /* inside the reader's span (ASan) */
	if (vlen)
		(void)((const uint8_t *)val)[vlen - 1];
	(*n)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = 0;
	int part, fd, rc;

	if (size < 1)
		return 0;
	if (!dir[0])
		setup();
	part = data[0];
	snprintf(path, sizeof(path), "%s/part-%05d", dir, part);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(size == 1 || write(fd, data + 1, size - 1) == (ssize_t)(size - 1));
	close(fd);
	rc = mr_output_read_part(dir, part, on_rec, &n);
	FUZZ_ASSERT(rc == 0 || rc == MR_ECORRUPT || (rc < 0 && rc > -4096));
	unlink(path);
	return 0;
}
