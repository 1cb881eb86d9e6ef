/*
 * fuzz: what every libFuzzer harness in tests/fuzz/ shares.
 *
 * A harness is one file tests/fuzz/fuzz_<name>.c defining
 * LLVMFuzzerTestOneInput(): it hands the input to one parser of untrusted
 * bytes (a row blob, an egroup file, an S3 response, a CLI string) and checks
 * what the parser promises (a decoded row encodes back to the same row, a
 * record the walk accepts reads back, ...). It must not leak, keep no state
 * between inputs and never write outside a temporary directory of its own.
 *
 * The same harness links two ways:
 *   - with clang's -fsanitize=fuzzer (make fuzz): libFuzzer's main() mutates
 *     inputs for FUZZ_SECS seconds;
 *   - with tests/fuzz/replay.c (make test, gcc): a main() that feeds every
 *     file of the corpus and crash directories once, a regression test.
 *
 * A broken promise calls FUZZ_ASSERT, which aborts: libFuzzer then saves the
 * input as a crash and the replay fails. assert() is not used, so NDEBUG
 * cannot turn the checks off.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The entry point libFuzzer (or replay.c) calls once per input. Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/*
 * The input as an anonymous in-memory file (memfd_create), for parsers that
 * read a file descriptor. Returns the fd (the caller closes it); aborts if
 * the file cannot be made, which is the harness's failure, not the input's.
 */
static inline int fuzz_memfd(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	size_t done = 0;

	FUZZ_ASSERT(fd >= 0);
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);
		FUZZ_ASSERT(n > 0);
		done += (size_t)n;
	}
	return fd;
}

/* A malloc'd NUL-terminated copy of the input (embedded NULs end the string early). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	FUZZ_ASSERT(s);
	if (size)
		memcpy(s, data, size);
	s[size] = 0;
	return s;
}

/* Little-endian u32 at data[off], 0 past the end (harness input framing). */
static inline uint32_t fuzz_u32(const uint8_t *data, size_t size, size_t off)
{
	uint32_t v = 0;

	for (size_t i = 0; i < 4 && off + i < size; i++)
		v |= (uint32_t)data[off + i] << (8 * i);
	return v;
}

static inline uint64_t fuzz_u64(const uint8_t *data, size_t size, size_t off)
{
	return fuzz_u32(data, size, off) | (uint64_t)fuzz_u32(data, size, off + 4) << 32;
}

#endif
