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

int mr_rec_cmp(const uint8_t *a, const uint8_t *b)
{
	uint64_t sa = mr_rec_sk(a), sb = mr_rec_sk(b), ha, hb;
	size_t ka, kb, va, vb;
	int c;

	if (sa != sb)
		return sa < sb ? -1 : 1;
	ha = mr_rec_hash(a);
	hb = mr_rec_hash(b);
	if (ha != hb)
		return ha < hb ? -1 : 1;
	ka = mr_rec_klen(a);
	kb = mr_rec_klen(b);
	c = memcmp(a + MR_HDR, b + MR_HDR, ka < kb ? ka : kb);
	if (c || ka != kb)
		return c ? c : (ka < kb ? -1 : 1);
	va = mr_rec_vlen(a);
	vb = mr_rec_vlen(b);
	c = memcmp(a + MR_HDR + ka, b + MR_HDR + kb, va < vb ? va : vb);
	if (c || va != vb)
		return c ? c : (va < vb ? -1 : 1);
	return 0;
}

static int idx_cmp(const void *x, const void *y)
{
	return mr_rec_cmp(((const struct mr_idx *)x)->rec, ((const struct mr_idx *)y)->rec);
}

/* Order runs of equal sort keys fully (hash collisions, equal keys' values). */
void mr_sort_fixup(struct mr_idx *idx, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && idx[j].sk == idx[i].sk)
			j++;
		if (j - i > 16) {
			qsort(idx + i, j - i, sizeof(*idx), idx_cmp);
		} else {
			for (size_t a = i + 1; a < j; a++) {
				struct mr_idx x = idx[a];
				size_t b = a;
				while (b > i && mr_rec_cmp(idx[b - 1].rec, x.rec) > 0) {
					idx[b] = idx[b - 1];
					b--;
				}
				idx[b] = x;
			}
		}
		i = j;
	}
}

/*
 * LSD radix sort on the 64-bit sort key, 16 bits per pass, skipping
 * passes whose digit is the same for every entry. Equal sort keys keep
 * their input order (see mr_sort_fixup).
 */
int mr_sort(struct mr_idx *idx, size_t n)
{
	struct mr_idx *tmp, *src = idx, *dst;
	uint32_t *cnt;

	if (n < 64) {
		for (size_t a = 1; a < n; a++) { /* stable insertion sort by sk */
			struct mr_idx x = idx[a];
			size_t b = a;
			while (b > 0 && idx[b - 1].sk > x.sk) {
				idx[b] = idx[b - 1];
				b--;
			}
			idx[b] = x;
		}
		return 0;
	}
	tmp = malloc(n * sizeof(*tmp));
	cnt = malloc(65536 * sizeof(*cnt));
	if (!tmp || !cnt) {
		free(tmp);
		free(cnt);
		return -ENOMEM;
	}
	dst = tmp;
	for (int shift = 0; shift < 64; shift += 16) {
		uint32_t sum = 0;
		int trivial = 0;

		memset(cnt, 0, 65536 * sizeof(*cnt));
		for (size_t i = 0; i < n; i++)
			cnt[(src[i].sk >> shift) & 0xffff]++;
		for (int d = 0; d < 65536; d++) {
			uint32_t c = cnt[d];
			if (c == n)
				trivial = 1;
			cnt[d] = sum;
			sum += c;
		}
		if (trivial)
			continue;
		for (size_t i = 0; i < n; i++)
			dst[cnt[(src[i].sk >> shift) & 0xffff]++] = src[i];
		struct mr_idx *t = src;
		src = dst;
		dst = t;
	}
	if (src != idx)
		memcpy(idx, src, n * sizeof(*idx));
	free(tmp);
	free(cnt);
	return 0;
}

int mr_gather(struct mr_idx *idx, size_t n, size_t bytes, uint8_t **buf, size_t *cap)
{
	size_t off = 0;

	if (bytes > *cap) {
		uint8_t *nb = realloc(*buf, bytes);
		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = bytes;
	}
	for (size_t i = 0; i < n; i++) {
		size_t sz = mr_rec_size(idx[i].rec);
		if (i + 8 < n)
			__builtin_prefetch(idx[i + 8].rec);
		if (off + sz > bytes)
			return -EINVAL; /* the caller's byte count is wrong */
		memcpy(*buf + off, idx[i].rec, sz);
		idx[i].rec = *buf + off;
		off += sz;
	}
	mr_sort_fixup(idx, n);
	return 0;
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
		memcpy(w->buf + w->len, s, k);
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
