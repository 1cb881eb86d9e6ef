/*
 * gen_cluster: write the metadata of a large cluster straight into the
 * shards (no data files), for the scan benchmark, and read it back plainly.
 *
 *   gen_cluster DIR --extents N [--egroups G] [--shards S] [--seed X] [--deleted P]
 *       A new cluster in DIR (3 nodes). Shapes: vdisks written block by
 *       block, one extent per block; ~15 % of the block rows belong to
 *       snapshots sharing their parent's extents; ~5 % reference 1 % of the
 *       extents as dedup extents with many references; ~20 % of the extents
 *       are garbage (no block references them); ~1 % of the recorded
 *       refcounts are off. N/G extents per egroup, 2 replicas.
 *       --deleted P: then P % of the vdisks (every one for 100, with its
 *       snapshot) are deleted, their block rows left for the curator as
 *       `vdisk delete` leaves them: a full scan queues a blocks_delete per
 *       deleted vdisk and an egroup_delete per egroup nothing live references
 *       any more (at 100: one per egroup, the queueing benchmark's state).
 *   gen_cluster DIR --read
 *       The baseline: read every row of the three maps from every shard with
 *       plain SELECTs (columns fetched, blobs touched), one process; prints
 *       read_secs.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/st_egroup.h"
#include "storage/st_store.h"
#include "tools/bench_gen.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define rnd bg_rnd

/*
 * The id of generated extent e: the last ndedup are dedup ids (a fake SHA-1
 * from e, 1 MiB), the others name the vdisk (index ovd[e]) and block home[e]
 * that first referenced them; garbage extents nobody references keep
 * vdisk index 0 and a block from their number.
 */
static void gen_extent_id(struct st_extent_id *id, uint64_t e, uint64_t n, uint64_t ndedup, const struct st_vdisk *vds,
			  const uint32_t *ovd, const uint32_t *home, uint64_t blocks_per_vd)
{
	if (e >= n - ndedup) {
		uint8_t sha[20] = { 0 };
		for (int i = 0; i < 8; i++)
			sha[i] = (uint8_t)(e >> (8 * i));
		sha[19] = 0x5a;
		st_extent_id_dedup(id, sha, 1u << 20);
		return;
	}
	st_extent_id_make(id, vds[ovd[e]].id, e, ovd[e] || home[e] ? home[e] : e % blocks_per_vd);
}

static int die(const char *what, const char *why)
{
	fprintf(stderr, "gen_cluster: %s: %s\n", what, why);
	return 1;
}

static int plain_read(const char *dir)
{
	struct st_store *st;
	struct st_msg err;
	double t0;
	uint64_t rows = 0, bytes = 0;
	int nshards;

	if (st_store_open(dir, &st, &err))
		return die(dir, err.text);
	nshards = st_config_shards(st_store_config(st));
	st_store_free(st);
	t0 = now();
	for (int s = 0; s < nshards; s++) {
		static const char *q[] = { "SELECT vdisk, block, regions FROM blocks", "SELECT id, egroup FROM extents",
					   "SELECT id, version, last_ref_seq, rec FROM egroups" };
		char path[4200];
		sqlite3 *db;
		snprintf(path, sizeof(path), "%s/meta-%d.db", dir, s);
		if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
			return die(path, sqlite3_errmsg(db));
		for (int k = 0; k < 3; k++) {
			sqlite3_stmt *stt;
			if (sqlite3_prepare_v2(db, q[k], -1, &stt, NULL) != SQLITE_OK)
				return die(q[k], sqlite3_errmsg(db));
			while (sqlite3_step(stt) == SQLITE_ROW) {
				int nc = sqlite3_column_count(stt);
				for (int c = 0; c < nc; c++) {
					if (sqlite3_column_type(stt, c) == SQLITE_BLOB) {
						const uint8_t *b = sqlite3_column_blob(stt, c);
						int n = sqlite3_column_bytes(stt, c);
						bytes += (uint64_t)n + (n ? b[n - 1] : 0);
					} else {
						bytes += (uint64_t)sqlite3_column_int64(stt, c) & 1;
					}
				}
				rows++;
			}
			sqlite3_finalize(stt);
		}
		sqlite3_close(db);
	}
	printf("read_secs %.3f rows %llu checksum %llu\n", now() - t0, (unsigned long long)rows,
	       (unsigned long long)bytes);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t n = 1000000, g = 0, seed = 42;
	int shards = 8, deleted = 0;
	struct st_init_spec spec = { .nodes = 3 };
	struct st_store *st;
	struct st_msg err;
	struct st_container c;
	double t0 = now();

	if (argc < 2)
		return die("usage", "gen_cluster DIR --extents N [--egroups G] [--shards S] [--deleted P] | DIR --read");
	if (argc >= 3 && !strcmp(argv[2], "--read"))
		return plain_read(argv[1]);
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--extents"))
			n = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--egroups"))
			g = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--shards"))
			shards = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--seed"))
			seed = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--deleted"))
			deleted = atoi(argv[i + 1]);
		else
			return die(argv[i], "unknown option");
	}
	if (!g)
		g = n / 10;
	spec.shards = shards;
	if (st_disk_spec_parse("ssd:1x1T,hdd:2x4T", &spec, &err) || st_store_init(argv[1], &spec, &err) ||
	    st_store_open(argv[1], &st, &err))
		return die(argv[1], err.text);
	st_container_defaults(&c);
	strcpy(c.name, "gen");
	if (st_config_container_create(st_store_config(st), &c, &err))
		return die("container", err.text);

	struct st_meta *m = st_store_meta(st);
	uint64_t per = n / g, nvd = 1 + n / 100000, blocks_per_vd = n / nvd + 1;
	uint64_t ndedup = n / 100, next_extent = 0;
	struct st_vdisk *vds = calloc(nvd * 2, sizeof(*vds));
	struct st_egroup_rec rec;
	struct st_block *b = calloc(1, sizeof(*b));
	uint32_t *refs;
	uint64_t rows_in_txn = 0;

	/* vdisks, and a snapshot for every fourth one */
	for (uint64_t v = 0; v < nvd * 2; v++) {
		if (st_store_new_id(st, &vds[v].id, &err))
			return die("id", err.text);
		snprintf(vds[v].name, sizeof(vds[v].name), v < nvd ? "vd%llu" : "vd%llu@snap",
			 (unsigned long long)(v % nvd));
		vds[v].container = c.id;
		vds[v].block_size = 1 << 20;
		vds[v].size = blocks_per_vd << 20;
		vds[v].readonly = v >= nvd;
		vds[v].parent = v >= nvd ? vds[v - nvd].id : 0;
		if (v < nvd || (v - nvd) % 4 == 0)
			if (st_config_vdisk_insert(st_store_config(st), &vds[v], &err))
				return die("vdisk", err.text);
	}
	refs = calloc(n, sizeof(uint32_t));
	/* each extent's id: who wrote it into which block (dedup-like ones are content ids) */
	uint32_t *ovd = calloc(n, sizeof(uint32_t)), *home = calloc(n, sizeof(uint32_t));
	if (!refs || !b || !vds || !ovd || !home)
		return die("memory", strerror(ENOMEM));

	/* block rows: extents are handed out in order; 20 % are skipped (garbage) */
	for (int s = 0; s < shards; s++)
		st_meta_begin(m, s, &err);
	for (uint64_t v = 0; v < nvd; v++) {
		for (uint64_t blk = 0; blk < blocks_per_vd && next_extent < n; blk++) {
			uint64_t r = rnd(&seed) % 100, e;
			if (r < 20 && next_extent + 1 < n)
				next_extent++; /* an extent nobody references */
			if (r >= 95 && ndedup) {
				e = n - 1 - rnd(&seed) % ndedup; /* a dedup-like hot extent */
			} else {
				e = next_extent++;
			}
			b->vdisk = vds[v].id;
			b->block = blk;
			b->n = 1;
			b->r[0].block_off = 0;
			b->r[0].len = 1 << 20;
			if (e < n - ndedup && !refs[e]) { /* its first reference: where it was written */
				ovd[e] = (uint32_t)v;
				home[e] = (uint32_t)blk;
			}
			gen_extent_id(&b->r[0].extent, e, n, ndedup, vds, ovd, home, blocks_per_vd);
			b->r[0].extent_off = 0;
			if (st_meta_block_put(m, b, &err))
				return die("block", err.text);
			refs[e]++;
			if ((++rows_in_txn % 500000) == 0)
				for (int k = 0; k < shards; k++) {
					st_meta_commit(m, k, &err);
					st_meta_begin(m, k, &err);
				}
			if (v % 4 == 0 && rnd(&seed) % 100 < 60) { /* the snapshot shares it */
				b->vdisk = vds[nvd + v].id;
				if (st_meta_block_put(m, b, &err))
					return die("block", err.text);
				refs[e]++;
			}
		}
	}
	/* extents and egroups */
	st_egroup_rec_init(&rec);
	for (uint64_t eg = 0; eg < g; eg++) {
		uint64_t id, first = eg * per, last = eg + 1 == g ? n : first + per;
		uint64_t owner = vds[(first / blocks_per_vd) % nvd].id;
		if (st_store_new_id(st, &id, &err))
			return die("id", err.text);
		st_egroup_rec_release(&rec);
		rec.id = id;
		rec.container = c.id;
		rec.owner = owner;
		rec.tier = ST_TIER_SSD;
		rec.created = rec.last_write = rec.last_access = rec.last_scrub = 1700000000;
		rec.nreplicas = 2;
		rec.replicas[0].disk = 1 + 3 * (uint32_t)(eg % 3);
		rec.replicas[1].disk = 1 + 3 * (uint32_t)((eg + 1) % 3);
		rec.used = ST_EGROUP_HDR;
		rec.last_ref_seq = 0;
		for (uint64_t e = first; e < last; e++) {
			struct st_extent_rec x = { 0 };
			/* the extent id must match what block rows reference */
			gen_extent_id(&x.id, e, n, ndedup, vds, ovd, home, blocks_per_vd);
			x.offset = rec.used;
			x.stored_len = x.raw_len = 1 << 20;
			x.refcount = refs[e] + (rnd(&seed) % 100 == 0 ? 1 : 0);
			x.crc = (uint32_t)e;
			st_egroup_rec_add(&rec, &x);
			rec.used += ST_EXTENT_HDR + x.stored_len;
			if (st_meta_extent_put(m, &x.id, id, &err))
				return die("extent", err.text);
		}
		if (st_meta_egroup_put(m, &rec, 0, &err))
			return die("egroup", err.text);
		if ((eg + 1) % 50000 == 0)
			for (int k = 0; k < shards; k++) {
				st_meta_commit(m, k, &err);
				st_meta_begin(m, k, &err);
			}
	}
	for (int s = 0; s < shards; s++)
		if (st_meta_commit(m, s, &err))
			return die("commit", err.text);
	/* the first P % of the vdisks (and their snapshots) are deleted */
	for (uint64_t v = 0; v < nvd * 2; v++) {
		uint64_t base = v % nvd;
		if (base * 100 >= (uint64_t)deleted * nvd || (v >= nvd && (v - nvd) % 4 != 0))
			continue;
		if (st_config_vdisk_delete(st_store_config(st), vds[v].id, &err))
			return die("vdisk delete", err.text);
	}
	printf("generated %llu extents in %llu egroups, %llu vdisks, in %.1f s\n", (unsigned long long)n,
	       (unsigned long long)g, (unsigned long long)nvd * 2, now() - t0);
	st_egroup_rec_release(&rec);
	free(refs);
	free(ovd);
	free(home);
	free(b);
	free(vds);
	st_store_free(st);
	return 0;
}
