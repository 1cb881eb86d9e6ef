/*
 * st_mcache: the shared metadata cache (st_mcache.h). Three hash tables
 * under one mutex: block rows as heap blocks { n, regions }, extents as
 * { egroup, record } in place, egroups as their row without extents in
 * place. Bytes are counted as the tables' slots (twice the entries: the
 * tables grow at half full) plus the heap blocks; a put that would pass
 * the bound drops everything first.
 */
#include "storage/st_mcache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/st_hmap.h"

struct brow {
	uint32_t n;
	struct st_region r[];
};

struct xval {
	uint64_t egroup;
	struct st_extent_rec e;
};

struct st_mcache {
	pthread_mutex_t mu;
	struct st_store *probe;
	uint64_t version; /* the probe's data_version sum at the last check */
	int have_version;
	int64_t checked_us;   /* monotonic us of the last check */
	int64_t check_us;     /* the longest between two checks */
	uint64_t epoch;       /* moves on at every drop */
	struct st_hmap blocks;  /* (vdisk, block) -> struct brow * */
	struct st_hmap extents; /* extent id -> struct xval */
	struct st_hmap egroups; /* egroup id -> struct st_egroup_rec (no extents) */
	uint64_t bytes, max;
	struct st_mcache_stats s;
};

#define SLOT(klen, vlen) (2 * (8 + (uint64_t)(klen) + (vlen)))

static void init_tables(struct st_mcache *m)
{
	st_hmap_init(&m->blocks, 16, sizeof(struct brow *));
	st_hmap_init(&m->extents, ST_EXTENT_ID_LEN, sizeof(struct xval));
	st_hmap_init(&m->egroups, 8, sizeof(struct st_egroup_rec));
	m->bytes = 0;
}

/* Free every row (mu held). */
static void drop_all(struct st_mcache *m)
{
	size_t pos = 0;
	const void *k;
	void *v;

	while (st_hmap_next(&m->blocks, &pos, &k, &v)) {
		struct brow *b;
		memcpy(&b, v, sizeof(b));
		free(b);
	}
	st_hmap_release(&m->blocks);
	st_hmap_release(&m->extents);
	st_hmap_release(&m->egroups);
	init_tables(m);
	m->epoch++;
}

int st_mcache_new(struct st_store *probe, uint64_t max_bytes, struct st_mcache **out)
{
	struct st_mcache *m = calloc(1, sizeof(*m));

	if (!m) {
		st_store_free(probe);
		return -ENOMEM;
	}
	pthread_mutex_init(&m->mu, NULL);
	m->probe = probe;
	m->max = max_bytes ? max_bytes : 64u << 20;
	m->epoch = 1;
	m->check_us = ST_MCACHE_CHECK_US;
	init_tables(m);
	*out = m;
	return 0;
}

void st_mcache_free(struct st_mcache *m)
{
	if (!m)
		return;
	drop_all(m);
	st_hmap_release(&m->blocks);
	st_hmap_release(&m->extents);
	st_hmap_release(&m->egroups);
	st_store_free(m->probe);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int st_mcache_begin(struct st_mcache *m, uint64_t *epoch)
{
	int64_t now = mono_us();
	uint64_t v;
	int rc = 0;

	pthread_mutex_lock(&m->mu);
	if (!m->have_version || now - m->checked_us >= m->check_us) {
		rc = st_meta_data_version(st_store_meta(m->probe), &v, NULL);
		if (!rc) {
			if (!m->have_version || v != m->version) {
				if (m->bytes)
					m->s.drops++;
				drop_all(m);
				m->version = v;
				m->have_version = 1;
			}
			m->checked_us = now;
		}
	}
	*epoch = m->epoch;
	pthread_mutex_unlock(&m->mu);
	return rc;
}

void st_mcache_set_check_us(struct st_mcache *m, int64_t us)
{
	pthread_mutex_lock(&m->mu);
	m->check_us = us;
	pthread_mutex_unlock(&m->mu);
}

void st_mcache_invalidate(struct st_mcache *m)
{
	pthread_mutex_lock(&m->mu);
	if (m->bytes)
		m->s.drops++;
	drop_all(m);
	pthread_mutex_unlock(&m->mu);
}

/* Room for `need` more bytes (mu held): everything dropped if they would pass the bound. 0, or 1 never. */
static int room(struct st_mcache *m, uint64_t need)
{
	if (need > m->max / 4)
		return 1;
	if (m->bytes + need > m->max) {
		uint64_t e = m->epoch;
		drop_all(m);
		m->epoch = e; /* a bound drop: nothing went stale, fills in flight stay welcome */
		m->s.overflows++;
	}
	m->bytes += need;
	return 0;
}

int st_mcache_block(struct st_mcache *m, uint64_t vdisk, uint64_t block, uint32_t from, uint32_t to,
		    struct st_block *out)
{
	uint64_t key[2] = { vdisk, block };
	struct brow *b;
	void *v;
	int found = 0;

	pthread_mutex_lock(&m->mu);
	v = st_hmap_get(&m->blocks, key);
	if (v) {
		uint32_t lo = 0, hi, n = 0;
		memcpy(&b, v, sizeof(b));
		hi = b->n;
		while (lo < hi) { /* the first region that ends past from */
			uint32_t mid = lo + (hi - lo) / 2;
			if ((uint64_t)b->r[mid].block_off + b->r[mid].len <= from)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (uint32_t i = lo; i < b->n && b->r[i].block_off < to && n < ST_REGIONS_MAX; i++)
			out->r[n++] = b->r[i];
		out->vdisk = vdisk;
		out->block = block;
		out->n = (int)n;
		found = 1;
		m->s.block_hits++;
	} else {
		m->s.block_misses++;
	}
	pthread_mutex_unlock(&m->mu);
	return found;
}

void st_mcache_put_block(struct st_mcache *m, uint64_t epoch, const struct st_block *b)
{
	uint64_t key[2] = { b->vdisk, b->block };
	size_t sz;
	struct brow *r;
	void *v;
	int isnew;

	if (b->n < 0 || b->n > ST_REGIONS_MAX)
		return;
	sz = sizeof(*r) + (size_t)b->n * sizeof(r->r[0]);
	r = malloc(sz);
	if (!r)
		return;
	r->n = (uint32_t)b->n;
	memcpy(r->r, b->r, (size_t)b->n * sizeof(r->r[0]));
	pthread_mutex_lock(&m->mu);
	if (epoch != m->epoch || st_hmap_get(&m->blocks, key) || room(m, SLOT(16, sizeof(r)) + sz)) {
		pthread_mutex_unlock(&m->mu);
		free(r);
		return;
	}
	v = st_hmap_put(&m->blocks, key, &isnew);
	if (v)
		memcpy(v, &r, sizeof(r));
	else
		free(r);
	pthread_mutex_unlock(&m->mu);
}

int st_mcache_extent(struct st_mcache *m, const struct st_extent_id *id, struct st_egroup_rec *g,
		     struct st_extent_rec *e)
{
	struct xval *x;
	struct st_egroup_rec *gr = NULL;
	int found = 0;

	pthread_mutex_lock(&m->mu);
	x = st_hmap_get(&m->extents, id->b);
	if (x)
		gr = st_hmap_get(&m->egroups, &x->egroup);
	if (gr) {
		*g = *gr;
		*e = x->e;
		found = 1;
		m->s.extent_hits++;
	} else {
		m->s.extent_misses++;
	}
	pthread_mutex_unlock(&m->mu);
	return found;
}

void st_mcache_put_egroup(struct st_mcache *m, uint64_t epoch, const struct st_egroup_rec *g)
{
	uint64_t need = SLOT(8, sizeof(*g)) + (uint64_t)g->nextents * SLOT(ST_EXTENT_ID_LEN, sizeof(struct xval));
	struct st_egroup_rec *gr;
	int isnew;

	pthread_mutex_lock(&m->mu);
	if (epoch != m->epoch || st_hmap_get(&m->egroups, &g->id) || room(m, need)) {
		pthread_mutex_unlock(&m->mu);
		return;
	}
	gr = st_hmap_put(&m->egroups, &g->id, &isnew);
	if (gr) {
		*gr = *g;
		gr->extents = NULL;
		gr->nextents = gr->cap = 0;
		for (int i = 0; i < g->nextents; i++) {
			/* an extent already cached keeps its egroup: that came from the extent ID map */
			struct xval *x = st_hmap_put(&m->extents, g->extents[i].id.b, &isnew);
			if (!x)
				break;
			if (isnew) {
				x->egroup = g->id;
				x->e = g->extents[i];
			}
		}
	}
	pthread_mutex_unlock(&m->mu);
}

void st_mcache_stats(struct st_mcache *m, struct st_mcache_stats *out)
{
	pthread_mutex_lock(&m->mu);
	*out = m->s;
	out->bytes = m->bytes;
	pthread_mutex_unlock(&m->mu);
}
