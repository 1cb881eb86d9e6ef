/*
 * st_meta_codec: the metadata maps' row formats (st_meta.h has them as
 * offset tables): extent ids, egroup record blobs, block region blobs and
 * their copy-on-write overlay, strip rows, chunk fingerprint rows. Pure functions on
 * memory: no SQL, no I/O, no state; thread-safe for distinct buffers.
 *
 * DESIGN: the SQL side (st_meta.c) stores and fetches these blobs as they
 * are; every decode here is the one place a row's bytes are trusted, so it
 * checks magic, format, lengths against counts, and the CRC32C before it
 * fills anything, and returns ST_ECORRUPT (never asserts) on a row that
 * fails: metadata is data from disk. Encoders write every reserved byte as
 * zero, so blobs are deterministic.
 */
#include "storage/st_meta_int.h"

#include "storage/st_egroup.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* --- extent ids --------------------------------------------------------- */

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

void st_extent_id_make(struct st_extent_id *id, uint64_t vdisk, uint64_t unique, uint64_t block)
{
	uint32_t home = (uint32_t)(block + 1);

	memset(id, 0, sizeof(*id));
	put_be64(id->b, vdisk);
	put_be64(id->b + 8, unique);
	id->b[16] = (uint8_t)(home >> 24);
	id->b[17] = (uint8_t)(home >> 16);
	id->b[18] = (uint8_t)(home >> 8);
	id->b[19] = (uint8_t)home;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int st_extent_id_home(const struct st_extent_id *id, uint64_t *block)
{
	uint32_t home = get_be32(id->b + 16);

	if (st_extent_id_is_dedup(id) || home == 0)
		return -1;
	*block = home - 1;
	return 0;
}

int st_extent_id_valid(const struct st_extent_id *id)
{
	if (st_extent_id_is_dedup(id))
		return get_be32(id->b + 20) <= ST_BLOCK_MAX;
	return get_be64(id->b) != 0 && get_be32(id->b + 16) != 0 && get_be32(id->b + 16) <= ST_VDISK_BLOCKS_MAX;
}

void st_extent_id_dedup(struct st_extent_id *id, const uint8_t sha1[20], uint32_t len)
{
	memcpy(id->b, sha1, 20);
	id->b[20] = (uint8_t)(len >> 24);
	id->b[21] = (uint8_t)(len >> 16);
	id->b[22] = (uint8_t)(len >> 8);
	id->b[23] = (uint8_t)len;
}

int st_extent_id_is_dedup(const struct st_extent_id *id)
{
	return (id->b[20] | id->b[21] | id->b[22] | id->b[23]) != 0;
}

uint64_t st_extent_id_vdisk(const struct st_extent_id *id)
{
	return st_extent_id_is_dedup(id) ? 0 : get_be64(id->b);
}

char *st_extent_id_fmt(const struct st_extent_id *id, char *buf, size_t len)
{
	if (st_extent_id_is_dedup(id)) {
		char hex[41];
		for (int i = 0; i < 20; i++)
			snprintf(hex + 2 * i, 3, "%02x", id->b[i]);
		snprintf(buf, len, "sha1:%s:%u", hex,
			 (unsigned)id->b[20] << 24 | (unsigned)id->b[21] << 16 | (unsigned)id->b[22] << 8 | id->b[23]);
	} else {
		snprintf(buf, len, "%llx-%llx/%lld", (unsigned long long)get_be64(id->b),
			 (unsigned long long)get_be64(id->b + 8), (long long)get_be32(id->b + 16) - 1);
	}
	return buf;
}

int st_extent_id_parse(const char *s, struct st_extent_id *id)
{
	unsigned long long a, b;
	char tail;

	if (!strncmp(s, "sha1:", 5)) {
		uint8_t sha[20];
		unsigned len;
		const char *p = s + 5;
		for (int i = 0; i < 40; i++) /* stops at the NUL: sscanf below never reads past it */
			if (!isxdigit((unsigned char)p[i]))
				return ST_EINVAL;
		for (int i = 0; i < 20; i++) {
			unsigned v;
			if (sscanf(p + 2 * i, "%2x", &v) != 1)
				return ST_EINVAL;
			sha[i] = (uint8_t)v;
		}
		if (p[40] != ':' || sscanf(p + 41, "%u%c", &len, &tail) != 1 || len == 0 || len > ST_BLOCK_MAX)
			return ST_EINVAL;
		st_extent_id_dedup(id, sha, len);
		return 0;
	}
	{
		unsigned long long home;
		int used = 0;
		if (sscanf(s, "%llx-%llx/%llu%n", &a, &b, &home, &used) != 3 || s[used] || home >= ST_VDISK_BLOCKS_MAX ||
		    a == 0)
			return ST_EINVAL;
		(void)tail;
		st_extent_id_make(id, a, b, home);
	}
	return 0;
}

/* --- egroup records ----------------------------------------------------- */

#define EGR_MAGIC 0x31524745u /* "EGR1" */
#define EGR_FORMAT 2
#define EGR_FLAGS_KNOWN (ST_EGROUP_COMPRESSED | ST_EGROUP_EC | ST_EGROUP_CLOUD | ST_EGROUP_MOVING | ST_EGROUP_PARITY)
#define EXT_FLAGS_KNOWN (ST_EXTENT_COMPRESSED | ST_EXTENT_FP | ST_EXTENT_ZLIB)
#define EGR_HDR 80
#define EGR_REPLICA 8
#define EGR_EXTENT 72

void st_egroup_rec_init(struct st_egroup_rec *r)
{
	memset(r, 0, sizeof(*r));
}

void st_egroup_rec_release(struct st_egroup_rec *r)
{
	free(r->extents);
	st_egroup_rec_init(r);
}

int st_egroup_rec_add(struct st_egroup_rec *r, const struct st_extent_rec *e)
{
	if (r->nextents == r->cap) {
		int cap = r->cap ? r->cap * 2 : 8;
		struct st_extent_rec *n = realloc(r->extents, (size_t)cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		r->extents = n;
		r->cap = cap;
	}
	r->extents[r->nextents++] = *e;
	return 0;
}

int st_egroup_rec_find(const struct st_egroup_rec *r, const struct st_extent_id *id)
{
	for (int i = 0; i < r->nextents; i++)
		if (!memcmp(r->extents[i].id.b, id->b, ST_EXTENT_ID_LEN))
			return i;
	return -1;
}

int st_egroup_rec_copy(struct st_egroup_rec *dst, const struct st_egroup_rec *src)
{
	struct st_extent_rec *ex = NULL;

	if (src->nextents) {
		ex = malloc((size_t)src->nextents * sizeof(*ex));
		if (!ex)
			return -ENOMEM;
		memcpy(ex, src->extents, (size_t)src->nextents * sizeof(*ex));
	}
	free(dst->extents);
	*dst = *src;
	dst->extents = ex;
	dst->cap = src->nextents;
	return 0;
}

/* The record's checksum: its key and last_ref_seq column, then the blob. */
static uint32_t rec_crc(uint64_t id, uint64_t last_ref_seq, const uint8_t *b, size_t len)
{
	uint8_t key[16];

	st_put64(key, id);
	st_put64(key + 8, last_ref_seq);
	return st_crc32c_update(st_crc32c(key, sizeof(key)), b, len);
}

/* The invariants of a record (st_meta.h): 0, or ST_ECORRUPT. */
static int rec_check(const struct st_egroup_rec *r)
{
	if (r->nreplicas < 0 || r->nreplicas > ST_REPLICAS_MAX || (unsigned)r->tier >= ST_NTIERS ||
	    (r->flags & ~(uint32_t)EGR_FLAGS_KNOWN) || r->nextents < 0)
		return ST_ECORRUPT;
	for (int i = 0; i < r->nreplicas; i++) {
		if (r->replicas[i].disk == 0 || r->replicas[i].state > ST_REPLICA_BAD)
			return ST_ECORRUPT;
		for (int j = 0; j < i; j++)
			if (r->replicas[j].disk == r->replicas[i].disk)
				return ST_ECORRUPT;
	}
	for (int i = 0; i < r->nextents; i++) {
		const struct st_extent_rec *e = &r->extents[i];
		int z = (e->flags & ST_EXTENT_COMPRESSED) != 0;
		if (!st_extent_id_valid(&e->id) || (e->flags & ~(uint32_t)EXT_FLAGS_KNOWN) ||
		    ((e->flags & ST_EXTENT_ZLIB) && !z))
			return ST_ECORRUPT;
		if (e->raw_len == 0 || e->raw_len > ST_BLOCK_MAX || (z ? e->stored_len == 0 || e->stored_len >= e->raw_len
									: e->stored_len != e->raw_len))
			return ST_ECORRUPT;
		if (e->offset < ST_EGROUP_HDR || (uint64_t)e->offset + ST_EXTENT_HDR + e->stored_len > r->used)
			return ST_ECORRUPT;
		if (st_extent_id_is_dedup(&e->id) && get_be32(e->id.b + 20) != e->raw_len)
			return ST_ECORRUPT;
	}
	return 0;
}

int st_egroup_rec_encode(const struct st_egroup_rec *r, uint8_t **blob, size_t *len)
{
	size_t n = EGR_HDR + (size_t)r->nreplicas * EGR_REPLICA + (size_t)r->nextents * EGR_EXTENT + 4;
	uint8_t *b, *p;

	if (r->nreplicas < 0 || r->nreplicas > ST_REPLICAS_MAX || rec_check(r))
		return ST_EINVAL;
	b = calloc(1, n);
	if (!b)
		return -ENOMEM;
	st_put32(b, EGR_MAGIC);
	st_put16(b + 4, EGR_FORMAT);
	b[6] = (uint8_t)r->nreplicas;
	b[7] = (uint8_t)r->tier;
	st_put32(b + 8, r->flags);
	st_put32(b + 12, r->container);
	st_put64(b + 16, r->owner);
	st_put64(b + 24, (uint64_t)r->created);
	st_put64(b + 32, (uint64_t)r->last_write);
	st_put64(b + 40, (uint64_t)r->last_access);
	st_put64(b + 48, (uint64_t)r->last_scrub);
	st_put32(b + 56, r->used);
	st_put32(b + 60, (uint32_t)r->nextents);
	st_put64(b + 64, r->strip);
	st_put32(b + 72, r->strip_pos);
	p = b + EGR_HDR;
	for (int i = 0; i < r->nreplicas; i++, p += EGR_REPLICA) {
		st_put32(p, r->replicas[i].disk);
		p[4] = r->replicas[i].state;
	}
	for (int i = 0; i < r->nextents; i++, p += EGR_EXTENT) {
		const struct st_extent_rec *e = &r->extents[i];
		memcpy(p, e->id.b, 24);
		st_put32(p + 24, e->offset);
		st_put32(p + 28, e->stored_len);
		st_put32(p + 32, e->raw_len);
		st_put32(p + 36, e->refcount);
		st_put32(p + 40, e->crc);
		st_put32(p + 44, e->flags);
		memcpy(p + 48, e->fp, 20);
	}
	st_put32(p, rec_crc(r->id, r->last_ref_seq, b, (size_t)(p - b)));
	*blob = b;
	*len = n;
	return 0;
}

int st_egroup_rec_decode(uint64_t id, uint64_t last_ref_seq, const uint8_t *b, size_t len,
			 struct st_egroup_rec *r)
{
	const uint8_t *p;
	uint32_t nex;
	int nrep;

	st_egroup_rec_release(r);
	r->id = id;
	r->last_ref_seq = last_ref_seq;
	if (len < EGR_HDR + 4 || st_get32(b) != EGR_MAGIC || st_get16(b + 4) != EGR_FORMAT)
		return ST_ECORRUPT;
	if (!ST_CRC_MATCH(st_get32(b + len - 4), rec_crc(id, last_ref_seq, b, len - 4)))
		return ST_ECORRUPT;
	nrep = b[6];
	nex = st_get32(b + 60);
	if (nrep > ST_REPLICAS_MAX || b[7] >= ST_NTIERS ||
	    len != EGR_HDR + (size_t)nrep * EGR_REPLICA + (size_t)nex * EGR_EXTENT + 4)
		return ST_ECORRUPT;
	r->nreplicas = nrep;
	r->tier = (enum st_tier)b[7];
	r->flags = st_get32(b + 8);
	r->container = st_get32(b + 12);
	r->owner = st_get64(b + 16);
	r->created = (int64_t)st_get64(b + 24);
	r->last_write = (int64_t)st_get64(b + 32);
	r->last_access = (int64_t)st_get64(b + 40);
	r->last_scrub = (int64_t)st_get64(b + 48);
	r->used = st_get32(b + 56);
	r->strip = st_get64(b + 64);
	r->strip_pos = st_get32(b + 72);
	p = b + EGR_HDR;
	for (int i = 0; i < nrep; i++, p += EGR_REPLICA) {
		r->replicas[i].disk = st_get32(p);
		r->replicas[i].state = p[4];
	}
	if (nex) {
		r->extents = malloc((size_t)nex * sizeof(*r->extents));
		if (!r->extents)
			return -ENOMEM;
		r->cap = (int)nex;
	}
	for (uint32_t i = 0; i < nex; i++, p += EGR_EXTENT) {
		struct st_extent_rec *e = &r->extents[i];
		memcpy(e->id.b, p, 24);
		e->offset = st_get32(p + 24);
		e->stored_len = st_get32(p + 28);
		e->raw_len = st_get32(p + 32);
		e->refcount = st_get32(p + 36);
		e->crc = st_get32(p + 40);
		e->flags = st_get32(p + 44);
		memcpy(e->fp, p + 48, 20);
	}
	r->nextents = (int)nex;
	return rec_check(r);
}

/* --- block regions ------------------------------------------------------ */


static uint32_t block_crc(uint64_t vdisk, uint64_t block, const uint8_t *buf, size_t len)
{
	uint8_t key[16];

	st_put64(key, vdisk);
	st_put64(key + 8, block);
	return st_crc32c_update(st_crc32c(key, sizeof(key)), buf, len);
}

/* Sorted, disjoint, non-empty, inside the largest block, ids valid, non-dedup ones at home. */
static int regions_check(const struct st_block *b)
{
	for (int i = 0; i < b->n; i++) {
		const struct st_region *r = &b->r[i];
		uint64_t home;
		if (r->len == 0 || (uint64_t)r->block_off + r->len > ST_BLOCK_MAX ||
		    (uint64_t)r->extent_off + r->len > ST_BLOCK_MAX || !st_extent_id_valid(&r->extent))
			return ST_ECORRUPT;
		if (i && r->block_off < b->r[i - 1].block_off + b->r[i - 1].len)
			return ST_ECORRUPT;
		if (st_extent_id_home(&r->extent, &home) == 0 && home != b->block)
			return ST_ECORRUPT;
	}
	return 0;
}

int st_block_encode(const struct st_block *b, uint8_t *buf, size_t cap, size_t *len)
{
	size_t n = 4 + (size_t)b->n * ST_META_REGION_LEN + 4;
	uint8_t *p = buf + 4;

	if (b->n < 0 || b->n > ST_REGIONS_MAX || cap < n || regions_check(b))
		return ST_EINVAL;
	buf[0] = 'B';
	buf[1] = 'R';
	st_put16(buf + 2, (uint16_t)b->n);
	for (int i = 0; i < b->n; i++, p += ST_META_REGION_LEN) {
		st_put32(p, b->r[i].block_off);
		st_put32(p + 4, b->r[i].len);
		memcpy(p + 8, b->r[i].extent.b, 24);
		st_put32(p + 32, b->r[i].extent_off);
		st_put32(p + 36, 0);
	}
	st_put32(p, block_crc(b->vdisk, b->block, buf, (size_t)(p - buf)));
	*len = n;
	return 0;
}

int st_block_decode(uint64_t vdisk, uint64_t block, const uint8_t *buf, size_t len, struct st_block *b)
{
	const uint8_t *p = buf + 4;
	int n;

	b->vdisk = vdisk;
	b->block = block;
	b->n = 0;
	if (len < 8 || buf[0] != 'B' || buf[1] != 'R')
		return ST_ECORRUPT;
	n = st_get16(buf + 2);
	if (n > ST_REGIONS_MAX || len != 4 + (size_t)n * ST_META_REGION_LEN + 4 ||
	    !ST_CRC_MATCH(st_get32(buf + len - 4), block_crc(vdisk, block, buf, len - 4)))
		return ST_ECORRUPT;
	for (int i = 0; i < n; i++, p += ST_META_REGION_LEN) {
		b->r[i].block_off = st_get32(p);
		b->r[i].len = st_get32(p + 4);
		memcpy(b->r[i].extent.b, p + 8, 24);
		b->r[i].extent_off = st_get32(p + 32);
	}
	b->n = n;
	if (regions_check(b)) {
		b->n = 0;
		return ST_ECORRUPT;
	}
	return 0;
}

int st_block_overlay(struct st_block *b, uint32_t off, uint32_t len, const struct st_extent_id *extent,
		     uint32_t extent_off)
{
	struct st_region out[ST_REGIONS_MAX + 2];
	uint32_t end = off + len;
	int n = 0, placed = 0;

	for (int i = 0; i < b->n; i++) {
		const struct st_region *r = &b->r[i];
		uint32_t rend = r->block_off + r->len;

		if (rend <= off || r->block_off >= end) { /* untouched */
			if (r->block_off >= end && !placed) {
				out[n++] = (struct st_region){ off, len, *extent, extent_off };
				placed = 1;
			}
			if (n >= ST_REGIONS_MAX + 2)
				return ST_ERANGE;
			out[n++] = *r;
			continue;
		}
		if (r->block_off < off) /* left remainder */
			out[n++] = (struct st_region){ r->block_off, off - r->block_off, r->extent, r->extent_off };
		if (!placed) {
			out[n++] = (struct st_region){ off, len, *extent, extent_off };
			placed = 1;
		}
		if (rend > end) /* right remainder */
			out[n++] = (struct st_region){ end, rend - end, r->extent, r->extent_off + (end - r->block_off) };
		if (n > ST_REGIONS_MAX)
			return ST_ERANGE;
	}
	if (!placed)
		out[n++] = (struct st_region){ off, len, *extent, extent_off };
	if (n > ST_REGIONS_MAX)
		return ST_ERANGE;
	memcpy(b->r, out, (size_t)n * sizeof(out[0]));
	b->n = n;
	return 0;
}

int st_block_punch(struct st_block *b, uint32_t off, uint32_t len)
{
	struct st_region out[ST_REGIONS_MAX + 1];
	uint32_t end = off + len;
	int n = 0;

	for (int i = 0; i < b->n; i++) {
		const struct st_region *r = &b->r[i];
		uint32_t rend = r->block_off + r->len;

		if (n > ST_REGIONS_MAX - 1)
			return ST_ERANGE;
		if (rend <= off || r->block_off >= end) {
			out[n++] = *r;
			continue;
		}
		if (r->block_off < off)
			out[n++] = (struct st_region){ r->block_off, off - r->block_off, r->extent, r->extent_off };
		if (rend > end)
			out[n++] = (struct st_region){ end, rend - end, r->extent, r->extent_off + (end - r->block_off) };
	}
	if (n > ST_REGIONS_MAX)
		return ST_ERANGE;
	memcpy(b->r, out, (size_t)n * sizeof(out[0]));
	b->n = n;
	return 0;
}

/* --- strip rows ------------------------------------------------------------- */

int st_meta_strip_decode(uint64_t id, int k, int m, uint64_t len, const void *members, size_t mlen, uint32_t crc,
			 struct st_strip *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	out->id = id;
	out->k = k;
	out->m = m;
	out->len = len;
	*why = "";
	/* k > 20 - m, not k + m > 20: k and m come from the row and k + m may overflow */
	if (out->k < 1 || out->m < 1 || out->m > 20 || out->k > 20 - out->m || mlen != (size_t)(8 * (out->k + out->m)))
		return ST_ECORRUPT;
	memcpy(out->members, members, mlen);
	if (!ST_CRC_MATCH(crc, st_meta_strip_row_crc(out))) {
		*why = " (checksum)";
		return ST_ECORRUPT;
	}
	return 0;
}

/* --- chunk fingerprint rows ------------------------------------------------ */

#define FP_MAGIC 0x31525046u /* "FPR1" */

static uint32_t fp_crc(uint64_t egroup, const uint8_t *blob, size_t len)
{
	uint8_t key[8];

	st_put64(key, egroup);
	return st_crc32c_update(st_crc32c(key, sizeof(key)), blob, len);
}

int st_meta_fp_check(uint64_t egroup, const uint8_t *blob, size_t len)
{
	uint32_t n;

	if (len < 12 || st_get32(blob) != FP_MAGIC)
		return ST_ECORRUPT;
	n = st_get32(blob + 4);
	if ((size_t)n * ST_FP_ENTRY + 12 != len || !ST_CRC_MATCH(st_get32(blob + len - 4), fp_crc(egroup, blob, len - 4)))
		return ST_ECORRUPT;
	return 0;
}

uint32_t st_meta_extent_row_crc(const struct st_extent_id *id, uint64_t egroup)
{
	uint8_t e[8];

	st_put64(e, egroup);
	return st_crc32c_update(st_crc32c(id->b, ST_EXTENT_ID_LEN), e, sizeof(e));
}

uint32_t st_meta_strip_row_crc(const struct st_strip *sp)
{
	uint8_t h[24], m[8 * 20];
	int n = sp->k + sp->m;

	st_put64(h, sp->id);
	st_put32(h + 8, (uint32_t)sp->k);
	st_put32(h + 12, (uint32_t)sp->m);
	st_put64(h + 16, sp->len);
	if (n < 0 || n > 20)
		n = 0;
	for (int i = 0; i < n; i++)
		st_put64(m + 8 * i, sp->members[i]);
	return st_crc32c_update(st_crc32c(h, sizeof(h)), m, (size_t)n * 8);
}

int st_meta_fp_encode(uint64_t egroup, const struct st_chunk_fp *v, size_t n, uint8_t **out, size_t *outlen)
{
	size_t len = 12 + n * ST_FP_ENTRY;
	uint8_t *blob = malloc(len);

	if (!blob)
		return -ENOMEM;
	st_put32(blob, FP_MAGIC);
	st_put32(blob + 4, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = blob + 8 + i * ST_FP_ENTRY;
		memcpy(p, v[i].extent.b, ST_EXTENT_ID_LEN);
		st_put32(p + 24, v[i].off);
		st_put32(p + 28, v[i].len);
		memcpy(p + 32, v[i].sha1, 20);
	}
	st_put32(blob + len - 4, fp_crc(egroup, blob, len - 4));
	*out = blob;
	*outlen = len;
	return 0;
}

int st_meta_fp_decode(uint64_t egroup, const uint8_t *blob, size_t len, struct st_chunk_fp **out, size_t *n)
{
	size_t cnt;
	struct st_chunk_fp *v;

	if (st_meta_fp_check(egroup, blob, len))
		return ST_ECORRUPT;
	cnt = st_get32(blob + 4);
	v = calloc(cnt + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < cnt; i++) {
		const uint8_t *p = blob + 8 + i * ST_FP_ENTRY;
		memcpy(v[i].extent.b, p, ST_EXTENT_ID_LEN);
		v[i].off = st_get32(p + 24);
		v[i].len = st_get32(p + 28);
		memcpy(v[i].sha1, p + 32, 20);
	}
	*out = v;
	*n = cnt;
	return 0;
}
