/*
 * mr_output: committed job outputs as inputs of the next job, and a reader
 * of partition files (format in mr_int.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mapreduce/mr_int.h"

struct outdesc {
	char dir[PATH_MAX];
	int nparts, nranks;
};

int mr_output_read_part(const char *dir, int part, mr_record_fn fn, void *fnarg)
{
	char path[PATH_MAX + 32];
	struct mr_rfile r;
	const uint8_t *p;
	uint64_t body, done = 0, count = 0, trailer[2];
	uint32_t want, magic, pn;
	struct stat sb;
	int rc, err = 0;

	snprintf(path, sizeof(path), "%s/part-%05d", dir, part);
	if (stat(path, &sb) < 0)
		return -errno;
	if (sb.st_size < 28)
		return MR_ECORRUPT;
	/* the crc covers everything but its own last 4 bytes */
	rc = mr_rfile_open(&r, path, 0, (uint64_t)sb.st_size - 4);
	if (rc)
		return rc;
	p = mr_rfile_get(&r, 8, &err);
	if (!p) {
		mr_rfile_close(&r);
		return err ? err : MR_ECORRUPT;
	}
	memcpy(&magic, p, 4);
	memcpy(&pn, p + 4, 4);
	if (magic != 0x314f524d || pn != (uint32_t)part) {
		mr_rfile_close(&r);
		return MR_ECORRUPT;
	}
	body = (uint64_t)sb.st_size - 8 - 20;
	while (done < body && !rc) {
		uint16_t kl;
		uint32_t vl;
		if (body - done < 6 || !(p = mr_rfile_get(&r, 6, &err))) {
			rc = err ? err : MR_ECORRUPT;
			break;
		}
		memcpy(&kl, p, 2);
		memcpy(&vl, p + 2, 4);
		if (kl == 0 || 6 + (uint64_t)kl + vl > body - done || !(p = mr_rfile_get(&r, kl + (size_t)vl, &err))) {
			rc = err ? err : MR_ECORRUPT;
			break;
		}
		done += 6 + (uint64_t)kl + vl;
		count++;
		rc = fn(fnarg, p, kl, p + kl, vl);
	}
	if (!rc) {
		if (!(p = mr_rfile_get(&r, 16, &err)) || pread(r.fd, &want, 4, (off_t)sb.st_size - 4) != 4) {
			rc = err ? err : MR_ECORRUPT;
		} else {
			memcpy(trailer, p, 16);
			if (!MR_CRC_MATCH(want, r.crc) || trailer[0] != count || trailer[1] != body)
				rc = MR_ECORRUPT;
		}
	}
	mr_rfile_close(&r);
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
