/*
 * mr_util: hashing, checksums, the record order and its sort, buffered
 * files. See mr_int.h for the record layout.
 */
#include <errno.h>
#include <isa-l/crc.h>
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>

#include "mapreduce/mr_int.h"

uint64_t mr_hash(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (len * 0xff51afd7ed558ccdULL);

	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 29;
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t w = 0;
		memcpy(&w, p, len);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
	}
	h ^= h >> 31;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 32;
	return h;
}

uint32_t mr_crc(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	crc = ~crc;
	while (len) {
		int n = len > (1u << 30) ? 1 << 30 : (int)len;
		crc = crc32_iscsi((unsigned char *)p, n, crc);
		p += n;
		len -= (size_t)n;
	}
	return ~crc;
}

int mr_key_cmp(const uint8_t *a, const uint8_t *b)
{
	size_t ka = mr_rec_klen(a), kb = mr_rec_klen(b);
	int c = mr_bytes_cmp(a + MR_HDR, b + MR_HDR, ka < kb ? ka : kb);

	return c ? c : ka == kb ? 0 : ka < kb ? -1 : 1;
}

int mr_rec_cmp(const uint8_t *a, const uint8_t *b)
{
	size_t ka, kb, va, vb;
	int c = mr_key_cmp(a, b);

	if (c)
		return c;
	ka = mr_rec_klen(a);
	kb = mr_rec_klen(b);
	va = mr_rec_vlen(a);
	vb = mr_rec_vlen(b);
	c = mr_bytes_cmp(a + MR_HDR + ka, b + MR_HDR + kb, va < vb ? va : vb);
	if (c || va != vb)
		return c ? c : (va < vb ? -1 : 1);
	return 0;
}

static int idx_cmp(const void *x, const void *y)
{
	return mr_rec_cmp(((const struct mr_idx *)x)->rec, ((const struct mr_idx *)y)->rec);
}

static int idx_key_cmp(const void *x, const void *y)
{
	return mr_key_cmp(((const struct mr_idx *)x)->rec, ((const struct mr_idx *)y)->rec);
}

/*
 * Order runs of equal sort keys fully (hash collisions, equal keys'
 * values); keys_only: only make equal keys adjacent, which in a run of
 * one key (nearly always: the sort key holds 48 bits of the hash) is one
 * look at each record.
 */
void mr_sort_fixup(struct mr_idx *idx, size_t n, int keys_only)
{
	int (*cmp)(const uint8_t *, const uint8_t *) = keys_only ? mr_key_cmp : mr_rec_cmp;

	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		int same = 1;
		while (j < n && idx[j].sk == idx[i].sk) {
			if (keys_only && same && mr_key_cmp(idx[i].rec, idx[j].rec))
				same = 0;
			j++;
		}
		if (keys_only && same) {
			/* one key: nothing to order */
		} else if (j - i > 16) {
			qsort(idx + i, j - i, sizeof(*idx), keys_only ? idx_key_cmp : idx_cmp);
		} else {
			for (size_t a = i + 1; a < j; a++) {
				struct mr_idx x = idx[a];
				size_t b = a;
				while (b > i && cmp(idx[b - 1].rec, x.rec) > 0) {
					idx[b] = idx[b - 1];
					b--;
				}
				idx[b] = x;
			}
		}
		i = j;
	}
}

/* Stable insertion sort by sk (small ranges). */
static void insertion_sort(struct mr_idx *idx, size_t n)
{
	for (size_t a = 1; a < n; a++) {
		struct mr_idx x = idx[a];
		size_t b = a;
		while (b > 0 && idx[b - 1].sk > x.sk) {
			idx[b] = idx[b - 1];
			b--;
		}
		idx[b] = x;
	}
}

/*
 * MSD radix sort on the 64-bit sort key, from src into dst: one counting
 * pass and one scatter on the highest bits that differ (diff: the OR of
 * every sk ^ src[0].sk; up to 16 bits, about log2(n) - 1 of them, so a
 * bucket holds a few entries), then every bucket of dst is sorted in
 * place: small ones by insertion, large ones by recursing (which starts
 * below the bits already used, with src's room as scratch). Within a
 * store bucket the partition bits are all equal, so the digit is the top
 * of the hash: one scatter pass instead of an LSD sort's three. Equal sort
 * keys keep their input order. src is clobbered.
 */
static int msd_into(struct mr_idx *src, struct mr_idx *dst, size_t n, uint64_t diff, uint32_t *cnt);

static int msd_sort(struct mr_idx *idx, size_t n, struct mr_idx *tmp, uint32_t *cnt)
{
	uint64_t diff = 0;

	if (n <= 32) {
		insertion_sort(idx, n);
		return 0;
	}
	for (size_t i = 1; i < n; i++)
		diff |= idx[i].sk ^ idx[0].sk;
	if (!diff)
		return 0; /* all equal: already in (input) order */
	memcpy(tmp, idx, n * sizeof(*idx));
	return msd_into(tmp, idx, n, diff, cnt);
}

static int msd_into(struct mr_idx *src, struct mr_idx *dst, size_t n, uint64_t diff, uint32_t *cnt)
{
	int hi, bits, shift;
	size_t nb;

	if (n <= 32 || !diff) {
		memcpy(dst, src, n * sizeof(*dst));
		if (diff)
			insertion_sort(dst, n);
		return 0;
	}
	hi = 63 - __builtin_clzll(diff);
	bits = 62 - __builtin_clzll((uint64_t)n); /* ~log2(n) - 1 */
	if (bits > 16)
		bits = 16;
	if (bits > hi + 1)
		bits = hi + 1;
	shift = hi + 1 - bits;
	nb = (size_t)1 << bits;
	memset(cnt, 0, (nb + 1) * sizeof(*cnt));
	for (size_t i = 0; i < n; i++)
		cnt[((src[i].sk >> shift) & (nb - 1)) + 1]++;
	for (size_t d = 1; d <= nb; d++)
		cnt[d] += cnt[d - 1];
	/* cnt[d] is where bucket d starts; scatter advances it to its end */
	for (size_t i = 0; i < n; i++)
		dst[cnt[(src[i].sk >> shift) & (nb - 1)]++] = src[i];
	for (size_t d = 0, start = 0; d < nb; d++) {
		size_t end = cnt[d], len = end - start;
		if (len <= 2) { /* most buckets: no call */
			if (len == 2 && dst[start].sk > dst[start + 1].sk) {
				struct mr_idx t = dst[start];
				dst[start] = dst[start + 1];
				dst[start + 1] = t;
			}
		} else if (len <= 32) {
			insertion_sort(dst + start, len);
		} else {
			/* below this digit: only lower bits can differ */
			size_t ncnt = len + 2 < 65537 ? len + 2 : 65537; /* >= 2^bits + 1 for len */
			uint32_t *sub = malloc(ncnt * sizeof(*sub));
			int rc = sub ? msd_sort(dst + start, len, src + start, sub) : -ENOMEM;
			free(sub);
			if (rc)
				return rc;
		}
		start = end;
	}
	return 0;
}

int mr_sort_from(struct mr_idx *src, struct mr_idx *dst, size_t n, uint64_t diff, uint32_t *cnt)
{
	return msd_into(src, dst, n, diff, cnt);
}

int mr_sort(struct mr_idx *idx, size_t n)
{
	struct mr_idx *tmp;
	uint32_t *cnt;
	int rc;

	if (n <= 32) {
		insertion_sort(idx, n);
		return 0;
	}
	tmp = malloc(n * sizeof(*tmp));
	cnt = malloc(MR_SORT_COUNTS * sizeof(*cnt));
	rc = tmp && cnt ? msd_sort(idx, n, tmp, cnt) : -ENOMEM;
	free(tmp);
	free(cnt);
	return rc;
}

/*
 * The reader's first buffer; it grows to the largest record. Fuzz builds
 * start small: every exec is cheaper and the refill paths run more often.
 */
#ifdef CURATOR_FUZZ
#define RFILE_CAP 4096
#else
#define RFILE_CAP (1 << 20)
#endif

int mr_rfile_open(struct mr_rfile *r, const char *path, uint64_t off, uint64_t len)
{
	memset(r, 0, sizeof(*r));
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0)
		return -errno;
	r->cap = RFILE_CAP;
	r->buf = malloc(r->cap);
	if (!r->buf) {
		close(r->fd);
		r->fd = -1;
		return -ENOMEM;
	}
	r->off = off;
	r->left = len;
	return 0;
}

const uint8_t *mr_rfile_get(struct mr_rfile *r, size_t n, int *err)
{
	*err = 0;
	if (r->len - r->pos < n) {
		size_t have = r->len - r->pos;
		if ((uint64_t)(n - have) > r->left)
			return NULL; /* the range ends first */
		memmove(r->buf, r->buf + r->pos, have);
		r->pos = 0;
		r->len = have;
		if (n > r->cap) {
			uint8_t *nb = realloc(r->buf, n);
			if (!nb) {
				*err = -ENOMEM;
				return NULL;
			}
			r->buf = nb;
			r->cap = n;
		}
		while (r->len < n) {
			size_t want = r->cap - r->len;
			ssize_t got;
			if (want > r->left)
				want = (size_t)r->left;
			got = pread(r->fd, r->buf + r->len, want, (off_t)r->off);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				*err = got < 0 ? -errno : -EIO; /* shorter than it was written */
				return NULL;
			}
			r->crc = mr_crc(r->crc, r->buf + r->len, (size_t)got);
			r->len += (size_t)got;
			r->off += (uint64_t)got;
			r->left -= (uint64_t)got;
		}
	}
	r->pos += n;
	return r->buf + r->pos - n;
}

int mr_run_next(struct mr_rfile *r, uint32_t want, const uint8_t **rec)
{
	const uint8_t *h;
	int err;

	*rec = NULL;
	if (mr_rfile_remaining(r) == 0)
		return MR_CRC_MATCH(want, r->crc) ? 0 : MR_ECORRUPT;
	/* peek at the header, then take the whole record as one span */
	h = mr_rfile_get(r, MR_HDR, &err);
	if (!h)
		return err ? err : MR_ECORRUPT;
	r->pos -= MR_HDR;
	if (mr_rec_klen(h) == 0)
		return MR_ECORRUPT;
	h = mr_rfile_get(r, mr_rec_size(h), &err);
	if (!h)
		return err ? err : MR_ECORRUPT;
	*rec = h;
	return 0;
}

void mr_rfile_close(struct mr_rfile *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	free(r->buf);
	r->buf = NULL;
}

int mr_wfile_open(struct mr_wfile *w, const char *path)
{
	memset(w, 0, sizeof(*w));
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0)
		return -errno;
	w->cap = 1 << 20;
	w->buf = malloc(w->cap);
	if (!w->buf) {
		close(w->fd);
		w->fd = -1;
		return -ENOMEM;
	}
	return 0;
}

static int wflush(struct mr_wfile *w)
{
	size_t off = 0;

	w->crc = mr_crc(w->crc, w->buf, w->len);
	while (off < w->len && !w->err) {
		ssize_t n = write(w->fd, w->buf + off, w->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			w->err = -errno;
		else
			off += (size_t)n;
	}
	w->len = 0;
	return w->err;
}

int mr_wfile_write(struct mr_wfile *w, const void *p, size_t n)
{
	const uint8_t *s = p;

	while (n && !w->err) {
		size_t k = w->cap - w->len < n ? w->cap - w->len : n;
		mr_copy(w->buf + w->len, s, k);
		w->len += k;
		w->bytes += k;
		s += k;
		n -= k;
		if (w->len == w->cap)
			wflush(w);
	}
	return w->err;
}

uint32_t mr_wfile_crc(struct mr_wfile *w)
{
	return mr_crc(w->crc, w->buf, w->len);
}

void mr_wfile_crc_reset(struct mr_wfile *w)
{
	wflush(w);
	w->crc = 0;
}

int mr_wfile_close(struct mr_wfile *w, int sync)
{
	int rc;

	if (w->fd < 0)
		return w->err;
	wflush(w);
	rc = w->err;
	if (sync && !rc && fsync(w->fd) < 0)
		rc = -errno;
	if (close(w->fd) < 0 && !rc)
		rc = -errno;
	w->fd = -1;
	free(w->buf);
	w->buf = NULL;
	return rc;
}
