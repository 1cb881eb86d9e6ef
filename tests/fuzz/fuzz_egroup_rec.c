/*
 * fuzz_egroup_rec: the egroup map's row blob (st_egroup_rec_decode, format
 * in storage/st_meta.h).
 *
 * Input: the row's key columns the checksum covers, then the blob.
 *
 *   off  size  field
 *   0    8     egroup id
 *   8    8     last_ref_seq
 *   16   ...   the blob
 *
 * A blob that decodes must encode again to a blob of the same length that
 * decodes (under the same key) to the same record.
 */
#include "storage/st_meta.h"
#include "tests/fuzz/fuzz.h"

#define KEY 16

static int same_rec(const struct st_egroup_rec *a, const struct st_egroup_rec *b)
{
	if (a->id != b->id || a->last_ref_seq != b->last_ref_seq || a->container != b->container || a->owner != b->owner || a->tier != b->tier || a->flags != b->flags ||
	    a->created != b->created || a->last_write != b->last_write || a->last_access != b->last_access ||
	    a->last_scrub != b->last_scrub || a->used != b->used || a->strip != b->strip ||
	    a->strip_pos != b->strip_pos || a->nreplicas != b->nreplicas || a->nextents != b->nextents)
		return 0;
	for (int i = 0; i < a->nreplicas; i++)
		if (a->replicas[i].disk != b->replicas[i].disk || a->replicas[i].state != b->replicas[i].state)
			return 0;
	return a->nextents == 0 || !memcmp(a->extents, b->extents, (size_t)a->nextents * sizeof(*a->extents));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_egroup_rec r, again;
	uint8_t *blob = NULL;
	size_t len = 0;
	uint64_t id = fuzz_u64(data, size, 0), seq = fuzz_u64(data, size, 8);

	if (size < KEY)
		return 0;
	st_egroup_rec_init(&r);
	st_egroup_rec_init(&again);
	if (st_egroup_rec_decode(id, seq, data + KEY, size - KEY, &r) == 0) {
		FUZZ_ASSERT(r.id == id && r.last_ref_seq == seq);
		FUZZ_ASSERT(r.nreplicas >= 0 && r.nreplicas <= ST_REPLICAS_MAX && r.nextents >= 0);
		FUZZ_ASSERT(st_egroup_rec_encode(&r, &blob, &len) == 0);
		FUZZ_ASSERT(len == size - KEY);
		FUZZ_ASSERT(st_egroup_rec_decode(id, seq, blob, len, &again) == 0);
		FUZZ_ASSERT(same_rec(&r, &again));
	}
	free(blob);
	st_egroup_rec_release(&r);
	st_egroup_rec_release(&again);
	return 0;
}
