/*
 * gen_corpus: writes the seed corpora of the fuzz harnesses,
 * tests/fuzz/corpus/<name>/<seed>, from the real encoders and writers
 * (st_egroup_rec_encode, st_block_encode, st_meta_fp_encode,
 * st_egroup_create/_write_extent, st_ec_parity_hdr, mr_wfile, ...), so a seed is a valid input that reaches deep into its
 * parser and the fuzzer mutates from there. Deterministic: the same bytes on
 * every run, so `make fuzz-corpus` after a format change shows the change as
 * a diff of the seeds. Run once and commit the files; a few KB per harness.
 *
 *   gen_corpus DIR      (DIR/<name>/ is created; existing seeds are replaced)
 *
 * Each seed's framing (a probe, a selector byte) is the one its harness's
 * top comment describes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mapreduce/mr_int.h"
#include "storage/st_ec.h"
#include "storage/st_egroup.h"
#include "storage/st_meta_int.h"
#include "storage/st_util.h"

static const char *root;

static void die(const char *what)
{
	fprintf(stderr, "gen_corpus: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Write one seed: root/name/seed, the concatenation of a (alen bytes) and b (blen bytes). */
static void put2(const char *name, const char *seed, const void *a, size_t alen, const void *b, size_t blen)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	if (st_mkdir_p(path))
		die(path);
	snprintf(path, sizeof(path), "%s/%s/%s", root, name, seed);
	f = fopen(path, "wb");
	if (!f || (alen && fwrite(a, 1, alen, f) != alen) || (blen && fwrite(b, 1, blen, f) != blen) || fclose(f))
		die(path);
}

static void put(const char *name, const char *seed, const void *buf, size_t len)
{
	put2(name, seed, buf, len, NULL, 0);
}

static void put_str(const char *name, const char *seed, const char *s)
{
	put(name, seed, s, strlen(s));
}

/* The whole of a file: malloc'd, *len bytes. */
static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat sb;
	uint8_t *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &sb) < 0)
		die(path);
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf || st_pread_full(fd, buf, (size_t)sb.st_size, 0) != sb.st_size)
		die(path);
	close(fd);
	*len = (size_t)sb.st_size;
	return buf;
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* A row's key as its harness reads it before the blob: u64s, little-endian. */
static uint8_t *key(uint8_t *k, uint64_t a, uint64_t b)
{
	st_put64(k, a);
	st_put64(k + 8, b);
	return k;
}

static void extent(struct st_extent_rec *e, uint64_t vdisk, uint64_t unique, uint32_t off, uint32_t len)
{
	memset(e, 0, sizeof(*e));
	st_extent_id_make(&e->id, vdisk, unique, unique + 10);
	e->offset = off;
	e->stored_len = len;
	e->raw_len = len;
	e->refcount = 1;
	e->crc = 0x1234u + unique;
}

static void gen_egroup_rec(void)
{
	struct st_egroup_rec r;
	struct st_extent_rec e;
	uint8_t *blob, sha[20], k[16];
	size_t len;

	st_egroup_rec_init(&r);
	r.id = 1;
	r.last_ref_seq = 5;
	r.container = 1;
	r.owner = 2;
	r.created = 1700000000;
	r.nreplicas = 1;
	r.replicas[0].disk = 1;
	if (st_egroup_rec_encode(&r, &blob, &len))
		die("encode");
	put2("egroup_rec", "empty", key(k, r.id, r.last_ref_seq), 16, blob, len);
	free(blob);

	r.tier = ST_TIER_HDD;
	r.nreplicas = 3;
	for (int i = 0; i < 3; i++)
		r.replicas[i] = (struct st_replica){ (uint32_t)(i + 1), i == 2 ? ST_REPLICA_BAD : ST_REPLICA_OK };
	r.last_write = r.last_access = r.created + 60;
	for (int i = 0; i < 3; i++) {
		extent(&e, 2, (uint64_t)i + 1, (uint32_t)(ST_EGROUP_HDR + i * (ST_EXTENT_HDR + 4096)), 4096);
		if (st_egroup_rec_add(&r, &e))
			die("add");
	}
	r.used = ST_EGROUP_HDR + 3 * (ST_EXTENT_HDR + 4096);
	if (st_egroup_rec_encode(&r, &blob, &len))
		die("encode");
	put2("egroup_rec", "three-extents", key(k, r.id, r.last_ref_seq), 16, blob, len);
	free(blob);

	/* an EC member holding a compressed dedup extent with a fingerprint */
	r.flags = ST_EGROUP_EC | ST_EGROUP_COMPRESSED;
	r.strip = 7;
	r.strip_pos = 1;
	r.nextents = 1;
	fill(sha, sizeof(sha), 3);
	st_extent_id_dedup(&r.extents[0].id, sha, 8192);
	r.extents[0].flags = ST_EXTENT_COMPRESSED | ST_EXTENT_FP;
	r.extents[0].raw_len = 8192;
	memcpy(r.extents[0].fp, sha, 20);
	if (st_egroup_rec_encode(&r, &blob, &len))
		die("encode");
	put2("egroup_rec", "ec-dedup", key(k, r.id, r.last_ref_seq), 16, blob, len);
	free(blob);
	st_egroup_rec_release(&r);
}

static void gen_block(void)
{
	static struct st_block b;
	uint8_t buf[8 + 40 * 4], k[16];
	size_t len;
	struct st_extent_id id;

	memset(&b, 0, sizeof(b));
	b.vdisk = 2;
	b.block = 5;
	if (st_block_encode(&b, buf, sizeof(buf), &len))
		die("encode");
	put2("block", "empty", key(k, b.vdisk, b.block), 16, buf, len);
	st_extent_id_make(&id, 2, 1, b.block);
	b.n = 1;
	b.r[0] = (struct st_region){ 0, 1 << 20, id, 0 };
	if (st_block_encode(&b, buf, sizeof(buf), &len))
		die("encode");
	put2("block", "one", key(k, b.vdisk, b.block), 16, buf, len);
	b.n = 0;
	for (int i = 0; i < 3; i++) {
		st_extent_id_make(&id, 2, (uint64_t)i + 1, b.block);
		if (st_block_overlay(&b, (uint32_t)i * 8192 + 512, 4096, &id, (uint32_t)i * 100))
			die("overlay");
	}
	if (st_block_encode(&b, buf, sizeof(buf), &len))
		die("encode");
	put2("block", "three", key(k, b.vdisk, b.block), 16, buf, len);
}

static void gen_fp_row(void)
{
	struct st_chunk_fp v[3];
	uint8_t *blob;
	size_t len;

	for (uint32_t i = 0; i < 3; i++) {
		st_extent_id_make(&v[i].extent, 2, i + 1, 10);
		v[i].off = i * 4096;
		v[i].len = 4096;
		fill(v[i].sha1, 20, (uint8_t)i);
	}
	for (size_t n = 0; n <= 3; n += 3) {
		uint8_t eg[8];
		st_put64(eg, 0x10);
		if (st_meta_fp_encode(0x10, v, n, &blob, &len))
			die("encode");
		put2("fp_row", n ? "three" : "empty", eg, 8, blob, len);
		free(blob);
	}
}

static void gen_extent_id(void)
{
	struct st_extent_id id;
	uint8_t sha[20];
	char buf[96];

	st_extent_id_make(&id, 2, 1, 0);
	put_str("extent_id", "plain", st_extent_id_fmt(&id, buf, sizeof(buf)));
	st_extent_id_make(&id, 0xabcdef0123456789ULL, 0xffffffffffffffffULL, ST_VDISK_BLOCKS_MAX - 1);
	put_str("extent_id", "plain-max", st_extent_id_fmt(&id, buf, sizeof(buf)));
	fill(sha, sizeof(sha), 0x5a);
	st_extent_id_dedup(&id, sha, 4096);
	put_str("extent_id", "dedup", st_extent_id_fmt(&id, buf, sizeof(buf)));
	put("extent_id", "raw-dedup", id.b, sizeof(id.b));
}

static void gen_text(void)
{
	static const char *const seeds[][2] = {
		{ "size-g", "\0" "8G" },           { "size-frac", "\0" "1.5KiB" },
		{ "duration-d", "\1" "7d" },       { "duration-s", "\1" "90" },
		{ "disks", "\2" "ssd:1x8G,hdd:2x64G" }, { "tier", "\3" "hdd" },
		{ "kind", "\4" "egroup_delete" },      { "egroup-name", "\5" "00000000000000a0.eg" },
	};

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		put("text", seeds[i][0], seeds[i][1], 1 + strlen(seeds[i][1] + 1));
}

static void gen_egroup_file(const char *tmp)
{
	struct st_egroup_hdr h = { .egroup = 0x10, .container = 1, .owner = 2, .created = 1700000000 };
	struct st_extent_rec e[2];
	uint8_t data[2][300], probe[16], *file;
	char path[PATH_MAX];
	uint64_t off = ST_EGROUP_HDR;
	size_t len;
	int fd;

	snprintf(path, sizeof(path), "%s/seed.eg", tmp);
	if (st_egroup_create(path, &h, &fd))
		die(path);
	close(fd);
	file = slurp(path, &len);
	memset(probe, 0, sizeof(probe));
	put2("egroup_file", "header-only", probe, sizeof(probe), file, len);
	free(file);

	if (st_egroup_create(path, &h, &fd))
		die(path);
	for (int i = 0; i < 2; i++) {
		size_t n = i ? 300 : 100;
		fill(data[i], n, (uint8_t)(i + 1));
		extent(&e[i], 2, (uint64_t)i + 1, (uint32_t)off, (uint32_t)n);
		e[i].crc = st_crc32c(data[i], n);
		if (st_egroup_write_extent(fd, off, &e[i], data[i]))
			die(path);
		off += ST_EXTENT_HDR + n;
	}
	close(fd);
	file = slurp(path, &len);
	unlink(path);
	for (int i = 0; i < 2; i++) {
		st_put32(probe, e[i].offset);
		st_put32(probe + 4, e[i].stored_len);
		st_put32(probe + 8, e[i].raw_len);
		st_put32(probe + 12, e[i].crc);
		put2("egroup_file", i ? "two-records-probe-2" : "two-records-probe-1", probe, sizeof(probe), file, len);
	}
	free(file);
}

/* A committed output partition as mr_reduce.c writes it (header, records, trailer, crc). */
static void gen_mr_part(const char *tmp)
{
	static const char *const keys[] = { "a", "egroup", "zz" };
	uint32_t magic = 0x314f524d, part = 3, c; /* "MRO1" */
	uint64_t trailer[2];
	struct mr_wfile w;
	char path[PATH_MAX];
	uint8_t *file, pb = (uint8_t)part;
	size_t len;

	snprintf(path, sizeof(path), "%s/part", tmp);
	for (int nrec = 0; nrec <= 3; nrec += 3) {
		if (mr_wfile_open(&w, path))
			die(path);
		mr_wfile_write(&w, &magic, 4);
		mr_wfile_write(&w, &part, 4);
		for (int i = 0; i < nrec; i++) {
			uint16_t kl = (uint16_t)strlen(keys[i]);
			uint32_t vl = (uint32_t)i * 5;
			uint8_t h[6], val[16];
			memcpy(h, &kl, 2);
			memcpy(h + 2, &vl, 4);
			fill(val, sizeof(val), (uint8_t)i);
			mr_wfile_write(&w, h, 6);
			mr_wfile_write(&w, keys[i], kl);
			mr_wfile_write(&w, val, vl);
		}
		trailer[0] = (uint64_t)nrec;
		trailer[1] = w.bytes - 8;
		mr_wfile_write(&w, trailer, sizeof(trailer));
		c = mr_wfile_crc(&w);
		mr_wfile_write(&w, &c, 4);
		if (mr_wfile_close(&w, 0))
			die(path);
		file = slurp(path, &len);
		put2("mr_part", nrec ? "three" : "empty", &pb, 1, file, len);
		free(file);
	}
	unlink(path);
}

/* A spilled run's range for one partition as mr_store.c's spill writes it: bare records, then its crc first. */
static void gen_mr_run(const char *tmp)
{
	static const char *const keys[] = { "k1", "egroup-0010", "z" };
	struct mr_wfile w;
	char path[PATH_MAX];
	uint8_t *file, crc[4];
	size_t len;

	snprintf(path, sizeof(path), "%s/run", tmp);
	for (int nrec = 0; nrec <= 3; nrec += 3) {
		if (mr_wfile_open(&w, path))
			die(path);
		for (int i = 0; i < nrec; i++) {
			uint8_t rec[MR_HDR + 32];
			size_t kl = strlen(keys[i]), vl = (size_t)i * 4;
			rec[0] = (uint8_t)kl;
			rec[1] = (uint8_t)vl;
			rec[2] = rec[3] = 0;
			memcpy(rec + MR_HDR, keys[i], kl);
			fill(rec + MR_HDR + kl, vl, (uint8_t)i);
			mr_wfile_write(&w, rec, MR_HDR + kl + vl);
		}
		st_put32(crc, mr_wfile_crc(&w));
		if (mr_wfile_close(&w, 0))
			die(path);
		file = slurp(path, &len);
		put2("mr_run", nrec ? "three" : "empty", crc, 4, file, len);
		free(file);
	}
	unlink(path);
}

static void gen_parity(void)
{
	uint8_t file[ST_PARITY_HDR + 256], probe[16];

	for (int i = 0; i < 2; i++) {
		uint64_t len = i ? 256 : 0;
		fill(file + ST_PARITY_HDR, len, 9);
		st_ec_parity_hdr(file, 4 + i, 0x77, len, st_crc32c(file + ST_PARITY_HDR, len));
		st_put64(probe, 0x77);
		st_put64(probe + 8, len);
		put2("parity", i ? "k4-pos5" : "empty", probe, sizeof(probe), file, ST_PARITY_HDR + len);
	}
}

static void gen_strip_row(void)
{
	uint8_t row[28 + 8 * 20];
	struct st_strip sp;

	for (int i = 0; i < 2; i++) {
		memset(&sp, 0, sizeof(sp));
		sp.id = 0x77;
		sp.k = i ? 8 : 2;
		sp.m = i ? 3 : 1;
		sp.len = 1 << 20;
		for (int j = 0; j < sp.k + sp.m; j++)
			sp.members[j] = 0x100 + (uint64_t)j;
		st_put64(row, sp.id);
		st_put32(row + 8, (uint32_t)sp.k);
		st_put32(row + 12, (uint32_t)sp.m);
		st_put64(row + 16, sp.len);
		st_put32(row + 24, st_meta_strip_row_crc(&sp));
		memcpy(row + 28, sp.members, 8 * (size_t)(sp.k + sp.m)); /* as st_meta_strip_put binds them */
		put("strip_row", i ? "k8-m3" : "k2-m1", row, 28 + 8 * (size_t)(sp.k + sp.m));
	}
}

static void gen_s3(void)
{
	static const char *const head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
	static const char *const lists[][2] = {
		{ "empty", "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
			   "<Prefix>egroups/</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>"
			   "<IsTruncated>false</IsTruncated></ListBucketResult>" },
		{ "two-truncated",
		  "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
		  "<Prefix>egroups/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
		  "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
		  "<Contents><Key>egroups/0000000000000010.eg</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified>"
		  "<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>4160</Size>"
		  "<StorageClass>STANDARD</StorageClass></Contents>"
		  "<Contents><Key>egroups/0000000000000011.eg</Key><LastModified>2024-01-02T03:04:06.000Z</LastModified>"
		  "<Size>64</Size></Contents></ListBucketResult>" },
		{ "namespaced", "<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
				"<s3:IsTruncated>false</s3:IsTruncated><s3:Contents><s3:Key>stop-here</s3:Key>"
				"<s3:Size>1</s3:Size></s3:Contents><s3:Contents><s3:Key>after</s3:Key></s3:Contents>"
				"</s3:ListBucketResult>" },
	};
	static const char *const errors[][2] = {
		{ "no-such-key", "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>"
				 "<Key>egroups/0000000000000010.eg</Key><RequestId>tx0</RequestId></Error>" },
		{ "signature", "<Error><Code>SignatureDoesNotMatch</Code><Message>x</Message></Error>" },
		{ "empty-code", "<Error><Code></Code></Error>" },
	};
	static const char *const creds[][2] = {
		{ "plain", "access_key = AKIAFUZZ\nsecret_key = s3cr3t/fuzz\n" },
		{ "aws", "# written by hand\n[default]\naws_access_key_id=AKIA2\r\naws_secret_access_key =\tsk2 \r\n" },
		{ "missing-secret", "access_key = only\n" },
	};

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		put2("s3_list", lists[i][0], head, strlen(head), lists[i][1], strlen(lists[i][1]));
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		put2("s3_error", errors[i][0], head, strlen(head), errors[i][1], strlen(errors[i][1]));
	for (size_t i = 0; i < sizeof(creds) / sizeof(creds[0]); i++)
		put_str("s3_cred", creds[i][0], creds[i][1]);
}

int main(int argc, char **argv)
{
	char tmp[PATH_MAX];
	const char *t = getenv("TMPDIR");

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	root = argv[1];
	snprintf(tmp, sizeof(tmp), "%s/gen_corpus.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmp))
		die(tmp);
	gen_egroup_rec();
	gen_block();
	gen_fp_row();
	gen_extent_id();
	gen_text();
	gen_egroup_file(tmp);
	gen_mr_part(tmp);
	gen_mr_run(tmp);
	gen_parity();
	gen_strip_row();
	gen_s3();
	rmdir(tmp);
	return 0;
}
