/*
 * mr_output: committed job outputs as inputs of the next job, and a reader
 * of partition files (format in mr_int.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "mapreduce/mr_int.h"

struct outdesc {
	char dir[PATH_MAX];
	int nparts, nranks;
};

int mr_output_read_part(const char *dir, int part, mr_record_fn fn, void *fnarg)
{
	char path[PATH_MAX + 32];
	uint8_t hdr[8], *buf = NULL;
	uint64_t trailer[2], body, done = 0, count = 0;
	uint32_t crc = 0, want;
	size_t cap = 0;
	struct stat sb;
	FILE *f;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/part-%05d", dir, part);
	f = fopen(path, "rb");
	if (!f)
		return -errno;
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	if (fstat(fileno(f), &sb) < 0 || sb.st_size < 28 || fread(hdr, 1, 8, f) != 8) {
		fclose(f);
		return MR_ECORRUPT;
	}
	{
		uint32_t magic, p;
		memcpy(&magic, hdr, 4);
		memcpy(&p, hdr + 4, 4);
		if (magic != 0x314f524d || p != (uint32_t)part) {
			fclose(f);
			return MR_ECORRUPT;
		}
	}
	crc = mr_crc(0, hdr, 8);
	body = (uint64_t)sb.st_size - 8 - 20;
	while (done < body && !rc) {
		uint8_t rh[6];
		uint16_t kl;
		uint32_t vl;
		if (body - done < 6 || fread(rh, 1, 6, f) != 6) {
			rc = MR_ECORRUPT;
			break;
		}
		memcpy(&kl, rh, 2);
		memcpy(&vl, rh + 2, 4);
		if (kl == 0 || 6 + (uint64_t)kl + vl > body - done) {
			rc = MR_ECORRUPT;
			break;
		}
		if (kl + (size_t)vl > cap) {
			cap = (kl + (size_t)vl) * 2;
			uint8_t *nb = realloc(buf, cap);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
		}
		if (fread(buf, 1, kl + (size_t)vl, f) != kl + (size_t)vl) {
			rc = MR_ECORRUPT;
			break;
		}
		crc = mr_crc(crc, rh, 6);
		crc = mr_crc(crc, buf, kl + (size_t)vl);
		done += 6 + (uint64_t)kl + vl;
		count++;
		rc = fn(fnarg, buf, kl, buf + kl, vl);
	}
	if (!rc) {
		if (fread(trailer, 1, 16, f) != 16 || fread(&want, 1, 4, f) != 4)
			rc = MR_ECORRUPT;
		else {
			crc = mr_crc(crc, trailer, 16);
			if (crc != want || trailer[0] != count || trailer[1] != body)
				rc = MR_ECORRUPT;
		}
	}
	free(buf);
	fclose(f);
	return rc;
}

static int out_read(void *arg, int split, mr_record_fn fn, void *fnarg, char *why, size_t whylen)
{
	struct outdesc *d = arg;
	int rc = mr_output_read_part(d->dir, split, fn, fnarg);

	if (rc == MR_ECORRUPT)
		snprintf(why, whylen, "%s/part-%05d: corrupt (checksum or framing)", d->dir, split);
	else if (rc < 0 && rc > -4096)
		snprintf(why, whylen, "%s/part-%05d: %s", d->dir, split, strerror(-rc));
	return rc;
}

static int out_owner(void *arg, int split, int nranks)
{
	struct outdesc *d = arg;
	return d->nranks == nranks ? split % nranks : -1;
}

int mr_output_input(const char *dir, mr_map_fn map, void *map_arg, struct mr_input *in)
{
	struct outdesc *d = calloc(1, sizeof(*d));
	char path[PATH_MAX + 16];
	FILE *f;

	if (!d)
		return -ENOMEM;
	snprintf(d->dir, sizeof(d->dir), "%s", dir);
	snprintf(path, sizeof(path), "%s/_SUCCESS", dir);
	f = fopen(path, "r");
	if (!f || fscanf(f, "%d %d", &d->nparts, &d->nranks) != 2 || d->nparts < 1) {
		if (f)
			fclose(f);
		free(d);
		return MR_EINVAL;
	}
	fclose(f);
	memset(in, 0, sizeof(*in));
	in->name = d->dir;
	in->nsplits = d->nparts;
	in->read = out_read;
	in->read_arg = d;
	in->owner = out_owner;
	in->map = map;
	in->map_arg = map_arg;
	return 0;
}

void mr_output_input_release(struct mr_input *in)
{
	free(in->read_arg);
	in->read_arg = NULL;
}
