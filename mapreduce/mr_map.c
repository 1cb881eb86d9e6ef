/*
 * mr_map: the map phase and its send path, the first half of the shuffle.
 *
 * DESIGN. Each split is read by its input's reader, which hands records
 * to the map function; every record the map emits (mr_emit) gets its sort
 * key and partition from its key's hash and goes, by where the
 * partition is reduced:
 *
 *   - without a combiner, into this rank's store (its own partitions; in
 *     direct mode any of the host's, see mr_direct.c), with store_reserve
 *     and store_commit;
 *   - without a combiner, into an open piece of the receiver's bucket in
 *     the slot being filled of the ring to that rank (another rank of
 *     this host, not direct: pieces);
 *   - otherwise into the buffer for that rank (route) as an entry (sort
 *     key, record): a full buffer is combined (combine_buffer, with the
 *     grouping of mr_reduce.c) and then filed (this rank), published in
 *     the ring slot (another rank of this host) or sent with MPI_Isend.
 *
 * While it maps, a rank keeps receiving (progress, every 256 emits and
 * 1024 input records, and while it waits for a send or a free slot):
 * published slots are filed from the sender's memory (absorb,
 * absorb_pieces) and MPI messages received after MPI_Iprobe. At the end
 * of the map, every rank flushes its buffers and sends END with its
 * status to every other rank, then drains until it has every END: MPI
 * keeps one sender's messages in order and a rank publishes its last slot
 * before its END (MPI_Win_sync), so END means that rank's data is in.
 *
 * Its place: after setup (mr_job.c sets up the buffers and the rings,
 * shm_setup), before the exchange (mr_direct.c) and the reduce. It calls
 * the store (store_reserve, store_commit, inline in mr_job_int.h) and the
 * grouping of mr_reduce.c for the combiner. Safety: a slot's length word
 * is stored last (release) and read first (acquire), and freed by the
 * receiver only after it filed the slot; every entry received is checked
 * (size, key length, partition) before it is filed (MR_ECORRUPT).
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "mapreduce/mr_job_int.h"

/* MPI tags: a buffer of shuffle entries, and a rank's END (its map status). */
enum { TAG_DATA = 1, TAG_END = 2 };

/* --- receiving: into the store ------------------------------------------ */

/* File a shuffle entry (sort key, record) that arrived or was combined (inlined into absorb). */
static int store_add(struct jr *jr, uint64_t sk, const uint8_t *rec)
{
	size_t sz = mr_rec_size(rec);
	uint32_t b = bucket_of(jr, (uint32_t)(sk >> 48), sk);
	uint8_t *p = store_reserve(jr, b, sz);

	if (!p)
		return jr->rc ? jr->rc : -ENOMEM;
	mr_copy(p, rec, sz);
	store_commit(jr, b, p);
	return 0;
}

/* Insert every entry of a received or local buffer into the store. */
static int absorb(struct jr *jr, const uint8_t *b, size_t len)
{
	size_t off = 0;

	while (off + 8 + MR_HDR <= len) {
		const uint8_t *rec = b + off + 8;
		size_t sz = 8 + mr_rec_size(rec);
		uint64_t sk;
		int rc;
		memcpy(&sk, b + off, 8);
		if (off + sz > len || mr_rec_klen(rec) == 0 || (sk >> 48) >= (uint64_t)jr->job->nparts)
			return mr_jr_fail(jr, MR_ECORRUPT, "a torn record in the shuffle");
		rc = store_add(jr, sk, rec);
		if (rc)
			return rc;
		off += sz;
	}
	return off == len ? 0 : mr_jr_fail(jr, MR_ECORRUPT, "a torn record in the shuffle");
}

/* File the n pieces of a published slot (h: the slot), one copy each. */
static int absorb_pieces(struct jr *jr, const uint8_t *h, uint64_t n)
{
	const struct pdir *dir = (const struct pdir *)(h + RING_HDR);
	const uint8_t *data = h + RING_HDR + jr->dirsz;
	uint32_t nb = (uint32_t)jr->job->nparts << jr->fan_bits;

	if (n > jr->dirsz / sizeof(*dir))
		return mr_jr_fail(jr, MR_ECORRUPT, "a torn slot in the shuffle");
	for (uint64_t i = 0; i < n; i++) {
		struct pidx *x;
		uint8_t *p;
		if (dir[i].bucket >= nb || jr->dest[dir[i].bucket >> jr->fan_bits] != jr->ctx->rank ||
		    dir[i].off > jr->sbsize || dir[i].bytes > jr->sbsize - dir[i].off)
			return mr_jr_fail(jr, MR_ECORRUPT, "a torn piece in the shuffle");
		if (!dir[i].bytes)
			continue;
		p = store_reserve(jr, dir[i].bucket, dir[i].bytes);
		if (!p)
			return jr->rc ? jr->rc : -ENOMEM;
		memcpy(p, data + dir[i].off, dir[i].bytes);
		x = &jr->pi[dir[i].bucket];
		x->chlen[x->nch - 1] += dir[i].bytes;
		x->tail += dir[i].bytes;
		x->left -= dir[i].bytes;
		x->n += dir[i].recs;
		jr->n += dir[i].recs;
	}
	return 0;
}

/* Receive a data message into the side buffer and file its records. */
static void receive_into_store(struct jr *jr, MPI_Status *stt, size_t count)
{
	if (count > jr->rbufcap) {
		uint8_t *nb = realloc(jr->rbuf, count);
		if (!nb)
			mr_abort(jr->ctx, "shuffle: out of memory");
		jr->rbuf = nb;
		jr->rbufcap = count;
	}
	MPI_Recv(jr->rbuf, (int)count, MPI_BYTE, stt->MPI_SOURCE, TAG_DATA, jr->ctx->comm, MPI_STATUS_IGNORE);
	if (!jr->rc)
		absorb(jr, jr->rbuf, count);
}

/* File (or, after a failure, drop) every slot a local rank has published. */
static void drain_ring(struct jr *jr, struct inring *r)
{
	for (;;) {
		uint8_t *h = r->base + (size_t)r->head * jr->stride;
		uint64_t len = __atomic_load_n((uint64_t *)h, __ATOMIC_ACQUIRE);

		if (!len)
			return;
		if (jr->pieces) {
			if (!jr->rc)
				absorb_pieces(jr, h, len);
		} else if (len > jr->sbsize) {
			mr_jr_fail(jr, MR_ECORRUPT, "a torn slot in the shuffle");
		} else if (!jr->rc) {
			absorb(jr, h + RING_HDR + jr->dirsz, (size_t)len);
		}
		__atomic_store_n((uint64_t *)h, 0, __ATOMIC_RELEASE);
		r->head = (r->head + 1) % RING_SLOTS;
	}
}

/* --- sending: pieces, slots and messages; progress while a sender waits -- */

static int progress(struct jr *jr);

/* Write a bucket's open piece into the directory and close it. */
static void piece_close(struct jr *jr, struct sbuf *s, uint32_t b)
{
	struct pcur *c = &jr->pc[b];
	struct pdir *dir = (struct pdir *)(s->b[0] - jr->dirsz);

	if (!c->tail)
		return;
	dir[c->ent].bytes = c->bytes;
	dir[c->ent].recs = c->recs;
	c->tail = NULL;
	c->left = 0;
}

/* Publish dest's filled slot and wait for the next one to be free. */
static void ring_publish(struct jr *jr, struct sbuf *s)
{
	uint8_t *h = s->ring + (size_t)s->head * jr->stride;
	uint64_t len = s->len;

	if (jr->pieces) {
		const struct pdir *dir = (const struct pdir *)(h + RING_HDR);
		for (int i = 0; i < s->npieces; i++)
			if (jr->pc[dir[i].bucket].tail && jr->pc[dir[i].bucket].ent == (uint32_t)i)
				piece_close(jr, s, dir[i].bucket);
		len = (uint64_t)s->npieces;
		s->npieces = 0;
	}
	__atomic_store_n((uint64_t *)h, len, __ATOMIC_RELEASE);
	s->len = 0;
	s->head = (s->head + 1) % RING_SLOTS;
	h = s->ring + (size_t)s->head * jr->stride;
	for (unsigned spins = 0; __atomic_load_n((uint64_t *)h, __ATOMIC_ACQUIRE); spins++) {
		progress(jr);
		if (spins > 64) /* more ranks than cores: let the receiver run */
			sched_yield();
	}
	s->b[0] = h + RING_HDR + jr->dirsz;
}

/*
 * Open a new piece for bucket b (of dest's rank) with room for a record
 * of sz bytes, publishing the slot first if it is full. 1 if the record
 * is larger than a slot (the caller sends it alone).
 */
static int piece_open(struct jr *jr, struct sbuf *s, uint32_t b, size_t sz)
{
	struct pcur *c = &jr->pc[b];
	size_t want = sz > jr->piece ? sz : jr->piece;
	struct pdir *dir;

	if (want > jr->sbsize)
		return 1;
	piece_close(jr, s, b);
	if (s->len + want > jr->sbsize || (size_t)s->npieces == jr->dirsz / sizeof(*dir))
		ring_publish(jr, s);
	dir = (struct pdir *)(s->b[0] - jr->dirsz);
	c->ent = (uint32_t)s->npieces++;
	dir[c->ent] = (struct pdir){ .bucket = b, .off = (uint32_t)s->len };
	c->tail = s->b[0] + s->len;
	c->left = (uint32_t)want;
	c->bytes = c->recs = 0;
	s->len += want;
	return 0;
}

/* Drain every message that has arrived. */
static int progress(struct jr *jr)
{
	for (int k = 0; k < jr->ninr; k++)
		drain_ring(jr, &jr->inr[k]);
	for (;;) {
		MPI_Status stt;
		int flag = 0, count;

		MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, jr->ctx->comm, &flag, &stt);
		if (!flag)
			return 0;
		MPI_Get_count(&stt, MPI_BYTE, &count);
		if (stt.MPI_TAG == TAG_DATA && !jr->rc) {
			receive_into_store(jr, &stt, (size_t)count);
			continue;
		}
		if ((size_t)count > jr->rbufcap) {
			uint8_t *nb = realloc(jr->rbuf, (size_t)count);
			if (!nb)
				mr_abort(jr->ctx, "shuffle: out of memory");
			jr->rbuf = nb;
			jr->rbufcap = (size_t)count;
		}
		MPI_Recv(jr->rbuf, count, MPI_BYTE, stt.MPI_SOURCE, stt.MPI_TAG, jr->ctx->comm, MPI_STATUS_IGNORE);
		if (stt.MPI_TAG == TAG_END) {
			int peer_rc;
			memcpy(&peer_rc, jr->rbuf, sizeof(peer_rc));
			jr->ends++;
			if (peer_rc)
				jr->peer_failed = 1;
		}
		/* data after this rank failed is drained and dropped */
	}
}

/* Wait for a send to finish while draining incoming messages. */
static void wait_send(struct jr *jr, MPI_Request *req)
{
	int done = 0;

	while (*req != MPI_REQUEST_NULL) {
		MPI_Test(req, &done, MPI_STATUS_IGNORE);
		if (done)
			break;
		progress(jr);
	}
}

static int combine_buffer(struct jr *jr, struct sbuf *s);

static int flush_dest(struct jr *jr, int dest)
{
	struct sbuf *s = &jr->sb[dest];
	int rc = 0;

	if (s->len == 0 && !s->npieces)
		return 0;
	if (jr->job->combine) {
		rc = combine_buffer(jr, s);
		if (rc)
			return rc;
	}
	if (dest == jr->ctx->rank) {
		rc = absorb(jr, s->b[s->cur], s->len);
		s->len = 0;
		return rc;
	}
	if (s->ring) {
		if (jr->pieces ? s->npieces > 0 : s->len > 0)
			ring_publish(jr, s);
		return 0;
	}
	MPI_Isend(s->b[s->cur], (int)s->len, MPI_BYTE, dest, TAG_DATA, jr->ctx->comm, &s->req[s->cur]);
	s->cur ^= 1;
	s->len = 0;
	wait_send(jr, &s->req[s->cur]);
	return 0;
}

/* Append an entry (sort key, record) to dest's buffer. */
static int route(struct jr *jr, int dest, uint64_t sk, const uint8_t *hdr, const void *key, size_t klen,
		 const void *val, size_t vlen)
{
	struct sbuf *s = &jr->sb[dest];
	size_t sz = 8 + MR_HDR + klen + vlen;
	uint8_t *p;

	if (s->len + sz > jr->sbsize) {
		int rc = flush_dest(jr, dest);
		if (rc)
			return rc;
	}
	if (sz > jr->sbsize) { /* a record larger than a buffer goes alone */
		uint8_t *big = malloc(sz);
		int rc;
		if (!big)
			return mr_jr_fail(jr, -ENOMEM, "out of memory");
		memcpy(big, &sk, 8);
		memcpy(big + 8, hdr, MR_HDR);
		memcpy(big + 8 + MR_HDR, key, klen);
		memcpy(big + 8 + MR_HDR + klen, val, vlen);
		if (dest == jr->ctx->rank) {
			rc = absorb(jr, big, sz);
		} else {
			MPI_Request rq;
			MPI_Isend(big, (int)sz, MPI_BYTE, dest, TAG_DATA, jr->ctx->comm, &rq);
			wait_send(jr, &rq);
			rc = 0;
		}
		free(big);
		return rc;
	}
	p = s->b[s->cur] + s->len;
	memcpy(p, &sk, 8);
	memcpy(p + 8, hdr, MR_HDR);
	mr_copy(p + 8 + MR_HDR, key, klen);
	mr_copy(p + 8 + MR_HDR + klen, val, vlen);
	s->len += sz;
	return 0;
}

/* --- emitting ----------------------------------------------------------- */

int mr_emit(struct mr_emitter *em, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct jr *jr = em->jr;

	if (klen == 0 || klen > MR_KEY_MAX || vlen > MR_VAL_MAX)
		return mr_jr_fail(jr, MR_EINVAL, "emit: key of %zu bytes or value of %zu bytes out of range", klen, vlen);
	if (em->mode == EM_REDUCE) {
		uint16_t kl = (uint16_t)klen;
		uint32_t vl = (uint32_t)vlen;
		uint8_t h[6];
		int rc;
		if (!em->wf)
			return 0;
		memcpy(h, &kl, 2);
		memcpy(h + 2, &vl, 4);
		em->nout++;
		if (em->wf->cap - em->wf->len >= 6 + klen + vlen && !em->wf->err) { /* straight into the buffer */
			uint8_t *p = em->wf->buf + em->wf->len;
			memcpy(p, h, 6);
			mr_copy(p + 6, key, klen);
			mr_copy(p + 6 + klen, val, vlen);
			em->wf->len += 6 + klen + vlen;
			em->wf->bytes += 6 + klen + vlen;
			return 0;
		}
		mr_wfile_write(em->wf, h, 6);
		mr_wfile_write(em->wf, key, klen);
		rc = mr_wfile_write(em->wf, val, vlen);
		return rc ? mr_jr_fail(jr, rc, "writing output: %s", strerror(-rc)) : 0;
	}
	{
		uint32_t part;
		uint64_t sk = mr_key_sk(key, klen, (uint32_t)jr->job->nparts, &part);
		uint8_t hdr[MR_HDR];

		mr_rec_hdr(hdr, klen, vlen);
		if (em->mode == EM_COMBINE) {
			size_t sz = 8 + MR_HDR + klen + vlen;
			if (em->clen + sz > em->ccap) {
				size_t cap = (em->clen + sz) * 2;
				uint8_t *nb = realloc(em->cb, cap);
				if (!nb)
					return mr_jr_fail(jr, -ENOMEM, "out of memory");
				em->cb = nb;
				em->ccap = cap;
			}
			memcpy(em->cb + em->clen, &sk, 8);
			memcpy(em->cb + em->clen + 8, hdr, MR_HDR);
			memcpy(em->cb + em->clen + 8 + MR_HDR, key, klen);
			memcpy(em->cb + em->clen + 8 + MR_HDR + klen, val, vlen);
			em->clen += sz;
			return 0;
		}
		jr->mapped++;
		if ((++jr->tick & 255) == 0)
			progress(jr);
		int dest = jr->dest[part];
		if (jr->keep[part] && !jr->job->combine) { /* ours, or (direct) another local rank's */
			uint32_t b = bucket_of(jr, part, sk);
			uint8_t *p = store_reserve(jr, b, MR_HDR + klen + vlen);
			if (!p)
				return jr->rc ? jr->rc : -ENOMEM;
			memcpy(p, hdr, MR_HDR);
			mr_copy(p + MR_HDR, key, klen);
			mr_copy(p + MR_HDR + klen, val, vlen);
			store_commit(jr, b, p);
			return 0;
		}
		if (jr->pieces && jr->sb[dest].ring) { /* straight into a piece of the receiver's bucket */
			uint32_t b = bucket_of(jr, part, sk);
			struct pcur *c = &jr->pc[b];
			size_t sz = MR_HDR + klen + vlen;
			uint8_t *p;
			if (sz > c->left && piece_open(jr, &jr->sb[dest], b, sz))
				return route(jr, dest, sk, hdr, key, klen, val, vlen);
			p = c->tail;
			memcpy(p, hdr, MR_HDR);
			mr_copy(p + MR_HDR, key, klen);
			mr_copy(p + MR_HDR + klen, val, vlen);
			c->tail += sz;
			c->left -= (uint32_t)sz;
			c->bytes += (uint32_t)sz;
			c->recs++;
			return 0;
		}
		return route(jr, dest, sk, hdr, key, klen, val, vlen);
	}
}

void mr_count(struct mr_emitter *em, int idx, int64_t v)
{
	if (idx >= 0 && idx < MR_MAX_COUNTERS)
		em->jr->counters[idx] += v;
}

int mr_emitter_rank(const struct mr_emitter *em)
{
	return em->jr->ctx->rank;
}

int mr_emitter_split(const struct mr_emitter *em)
{
	return em->split;
}

/* --- the combiner -------------------------------------------------------- */

/* Sort a send buffer's records and replace it with the combiner's output. */
static int combine_buffer(struct jr *jr, struct sbuf *s)
{
	struct mr_emitter em = { .jr = jr, .mode = EM_COMBINE, .split = -1 };
	struct group g = { 0 };
	struct mr_idx *idx;
	size_t n = 0, off = 0;
	uint8_t *b = s->b[s->cur];
	int rc = 0;

	for (off = 0; off < s->len; off += 8 + mr_rec_size(b + off + 8))
		n++;
	idx = malloc((n + 1) * sizeof(*idx));
	if (!idx)
		return mr_jr_fail(jr, -ENOMEM, "out of memory");
	n = 0;
	for (off = 0; off < s->len; off += 8 + mr_rec_size(b + off + 8)) {
		memcpy(&idx[n].sk, b + off, 8);
		idx[n++].rec = b + off + 8;
	}
	rc = mr_sort(idx, n);
	if (!rc)
		mr_sort_fixup(idx, n, jr->job->values_unordered);
	for (size_t i = 0; !rc && i < n; i++) {
		if (!group_same(&g, idx[i].rec)) {
			if (g.active)
				rc = mr_group_call(&g, jr->job->combine, jr->job->combine_arg, &em);
			group_start(&g, idx[i].rec);
		}
		if (!rc)
			rc = mr_group_add(&g, idx[i].rec, 1);
	}
	if (!rc && g.active)
		rc = mr_group_call(&g, jr->job->combine, jr->job->combine_arg, &em);
	free(idx);
	group_release(&g);
	if (rc) {
		free(em.cb);
		return mr_jr_fail(jr, jr->rc ? jr->rc : MR_EMAP, "combine function failed (%d)", rc);
	}
	if (em.clen > jr->sbsize) { /* cannot grow: keep the original (combine is optional) */
		free(em.cb);
		return 0;
	}
	memcpy(b, em.cb, em.clen);
	s->len = em.clen;
	free(em.cb);
	return 0;
}

/* --- map phase ---------------------------------------------------------- */

struct mapcall {
	struct jr *jr;
	const struct mr_input *in;
	struct mr_emitter em;
	int split;
};

static int on_record(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct mapcall *mc = arg;
	struct jr *jr = mc->jr;
	int rc;

	jr->in++;
	if ((jr->in & 1023) == 0)
		progress(jr);
	if (jr->rc)
		return jr->rc;
	if (jr->peer_failed)
		return MR_EABORTED;
	rc = mc->in->map(mc->in->map_arg, key, klen, val, vlen, &mc->em);
	if (rc && !jr->rc)
		mr_jr_fail(jr, MR_EMAP, "input %s split %d: map function failed (%d)", mc->in->name ? mc->in->name : "?",
		     mc->split, rc);
	return rc ? jr->rc : 0;
}

static int map_split(struct jr *jr, const struct mr_input *in, int split)
{
	struct mapcall mc = { .jr = jr, .in = in, .split = split };
	char why[256] = "";
	int rc;

	mc.em.jr = jr;
	mc.em.mode = EM_MAP;
	mc.em.split = split;
	double t0 = MPI_Wtime();
	rc = in->read(in->read_arg, split, on_record, &mc, why, sizeof(why));
	if (jr->debug > 1)
		fprintf(stderr, "mr: rank %d input %s split %d: %.3f s\n", jr->ctx->rank, in->name ? in->name : "?", split,
			MPI_Wtime() - t0);
	if (rc && !jr->rc && rc != MR_EABORTED)
		mr_jr_fail(jr, rc == MR_EMAP ? MR_EMAP : (rc > -4096 && rc < 0) || rc == MR_EINPUT ? rc : MR_EINPUT,
		     "input %s split %d: %s", in->name ? in->name : "?", split,
		     why[0] ? why : mr_strerror(rc));
	return jr->rc ? jr->rc : (jr->peer_failed ? MR_EABORTED : 0);
}

int mr_map_phase(struct jr *jr)
{
	struct mr_ctx *ctx = jr->ctx;
	struct mr_job *job = jr->job;
	int64_t *counters = NULL;
	MPI_Win win;
	int rc = 0;

	MPI_Win_allocate(ctx->rank == 0 ? (MPI_Aint)(MR_MAX_INPUTS * sizeof(int64_t)) : 0, sizeof(int64_t),
			 MPI_INFO_NULL, ctx->comm, &counters, &win);
	if (ctx->rank == 0)
		memset(counters, 0, MR_MAX_INPUTS * sizeof(int64_t));
	MPI_Barrier(ctx->comm);
	MPI_Win_lock_all(0, win);
	for (int i = 0; i < job->ninputs && !rc; i++) {
		const struct mr_input *in = &job->inputs[i];
		/* splits that live on this rank first */
		for (int s = 0; in->owner && s < in->nsplits && !rc; s++)
			if (in->owner(in->read_arg, s, ctx->nranks) == ctx->rank)
				rc = map_split(jr, in, s);
		/* the rest, handed out dynamically */
		while (!rc) {
			int64_t one = 1, s = 0;
			MPI_Fetch_and_op(&one, &s, MPI_INT64_T, 0, i, MPI_SUM, win);
			MPI_Win_flush(0, win);
			if (s >= in->nsplits)
				break;
			if (in->owner && in->owner(in->read_arg, (int)s, ctx->nranks) >= 0)
				continue;
			rc = map_split(jr, in, (int)s);
			progress(jr);
		}
	}
	MPI_Win_unlock_all(win);
	jr->t_splits = MPI_Wtime();
	/* flush what is buffered, tell everyone we are done, drain */
	for (int d = 0; d < ctx->nranks; d++) {
		if (!jr->rc)
			flush_dest(jr, d);
		wait_send(jr, &jr->sb[d].req[0]);
		wait_send(jr, &jr->sb[d].req[1]);
	}
	if (jr->shm)
		MPI_Win_sync(jr->shwin); /* our last slots before our END */
	{
		int mine = jr->rc;
		for (int d = 0, k = 0; d < ctx->nranks; d++)
			if (d != ctx->rank)
				MPI_Isend(&mine, sizeof(mine), MPI_BYTE, d, TAG_END, ctx->comm, &jr->endreq[k++]);
		while (jr->ends < ctx->nranks - 1)
			progress(jr);
		if (jr->shm) { /* every local rank published its last slot before its END */
			MPI_Win_sync(jr->shwin);
			progress(jr);
		}
		for (int k = 0; k < ctx->nranks - 1; k++)
			wait_send(jr, &jr->endreq[k]);
	}
	jr->t_ends = MPI_Wtime();
	MPI_Win_free(&win);
	return jr->rc;
}
