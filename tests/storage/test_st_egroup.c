#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/st_egroup.h"
#include "tests/helpers.h"

static int make_file(const char *dir, struct st_extent_rec *ex, int n, uint8_t **data)
{
	char path[512];
	struct st_egroup_hdr h = { 0xabc, 2, 0x77, 1700000000 };
	uint64_t off = ST_EGROUP_HDR;
	int fd;

	snprintf(path, sizeof(path), "%s/g.eg", dir);
	cr_assert_eq(st_egroup_create(path, &h, &fd), 0);
	for (int i = 0; i < n; i++) {
		uint32_t len = 1000u + (uint32_t)i * 4096u;
		data[i] = malloc(len);
		th_fill(data[i], len, (uint64_t)i + 1);
		memset(&ex[i], 0, sizeof(ex[i]));
		st_extent_id_make(&ex[i].id, 0x77, (uint64_t)i, (uint64_t)i);
		ex[i].offset = (uint32_t)off;
		ex[i].stored_len = ex[i].raw_len = len;
		ex[i].crc = st_crc32c(data[i], len);
		cr_assert_eq(st_egroup_write_extent(fd, off, &ex[i], data[i]), 0);
		off += ST_EXTENT_HDR + len;
	}
	return fd;
}

Test(st_egroup, write_read_verify)
{
	const char *dir = th_tmpdir("eg");
	struct st_extent_rec ex[5];
	uint8_t *data[5];
	struct st_egroup_hdr h;
	int fd = make_file(dir, ex, 5, data);
	uint8_t *buf = malloc(ST_EXTENT_HDR + 32768);

	cr_assert_eq(st_egroup_read_hdr(fd, &h), 0);
	cr_assert_eq(h.egroup, 0xabc);
	cr_assert_eq(h.owner, 0x77);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(st_egroup_read_extent(fd, &ex[i], buf), 0);
		cr_assert_eq(memcmp(buf + ST_EXTENT_HDR, data[i], ex[i].raw_len), 0);
	}
	/* a wrong expected checksum (the map disagrees with the file) */
	ex[1].crc ^= 1;
	cr_assert_eq(st_egroup_read_extent(fd, &ex[1], buf), ST_ECORRUPT);
	ex[1].crc ^= 1;
	for (int i = 0; i < 5; i++)
		free(data[i]);
	free(buf);
	close(fd);
	st_rm_rf(dir);
}

Test(st_egroup, bit_flip_and_truncation_are_corrupt)
{
	const char *dir = th_tmpdir("eg");
	struct st_extent_rec ex[3];
	uint8_t *data[3];
	int fd = make_file(dir, ex, 3, data);
	uint8_t *buf = malloc(ST_EXTENT_HDR + 32768);
	uint8_t byte;
	uint64_t end;

	/* flip one bit in the data of extent 1, then in its header */
	uint64_t at[2] = { ex[1].offset + ST_EXTENT_HDR + 500, ex[1].offset + 20 };
	for (int k = 0; k < 2; k++) {
		cr_assert_eq(pread(fd, &byte, 1, (off_t)at[k]), 1);
		byte ^= 0x10;
		cr_assert_eq(pwrite(fd, &byte, 1, (off_t)at[k]), 1);
		cr_assert_eq(st_egroup_read_extent(fd, &ex[1], buf), ST_ECORRUPT);
		cr_assert_eq(st_egroup_read_extent(fd, &ex[0], buf), 0, "a neighbour must still read");
		cr_assert_eq(st_egroup_read_extent(fd, &ex[2], buf), 0);
		byte ^= 0x10;
		cr_assert_eq(pwrite(fd, &byte, 1, (off_t)at[k]), 1);
	}
	cr_assert_eq(st_egroup_walk(fd, NULL, NULL, &end), 0);
	cr_assert_eq(end, ex[2].offset + ST_EXTENT_HDR + ex[2].stored_len);
	/* truncate into extent 2 */
	cr_assert_eq(ftruncate(fd, ex[2].offset + 100), 0);
	cr_assert_eq(st_egroup_read_extent(fd, &ex[2], buf), ST_ECORRUPT);
	cr_assert_eq(st_egroup_walk(fd, NULL, NULL, &end), 0);
	cr_assert_eq(end, ex[2].offset, "walk stops at the torn record");
	cr_assert_eq(ftruncate(fd, 10), 0);
	struct st_egroup_hdr h;
	cr_assert_eq(st_egroup_read_hdr(fd, &h), ST_ECORRUPT);
	for (int i = 0; i < 3; i++)
		free(data[i]);
	free(buf);
	close(fd);
	st_rm_rf(dir);
}

/*
 * The golden file tests/data/egroup-v1.eg was written by format 1: one
 * extent of 5000 bytes th_fill(seed 99), id 0x77-0x1, egroup 0xabc. New
 * code must keep reading it.
 */
Test(st_egroup, reads_golden_format_1)
{
	const char *src = getenv("CURATOR_SRC");
	char path[1024];
	struct st_extent_rec e = { 0 };
	struct st_egroup_hdr h;
	uint8_t *buf = malloc(ST_EXTENT_HDR + 5000), *want = malloc(5000);
	int fd;

	snprintf(path, sizeof(path), "%s/tests/data/egroup-v1.eg", src ? src : ".");
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "missing %s", path);
	cr_assert_eq(st_egroup_read_hdr(fd, &h), 0);
	cr_assert_eq(h.egroup, 0xabc);
	th_fill(want, 5000, 99);
	st_extent_id_make(&e.id, 0x77, 1, 0);
	memset(e.id.b + 16, 0, 4); /* written before extent ids carried their home block */
	e.offset = ST_EGROUP_HDR;
	e.stored_len = e.raw_len = 5000;
	e.crc = st_crc32c(want, 5000);
	cr_assert_eq(st_egroup_read_extent(fd, &e, buf), 0);
	cr_assert_eq(memcmp(buf + ST_EXTENT_HDR, want, 5000), 0);
	close(fd);
	free(buf);
	free(want);
}

/* The replica file name: built by st_egroup_name / st_egroup_path, read back by st_egroup_name_parse. */
Test(st_egroup, file_name_round_trip)
{
	const uint64_t ids[] = { 0, 1, 0xabc, 0x100000000f002ull, 0xffffffffffffffffull };
	char name[ST_EGROUP_NAME_LEN + 1], path[64];
	uint64_t id;

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		st_egroup_name(ids[i], name);
		cr_assert_eq(strlen(name), ST_EGROUP_NAME_LEN);
		id = ~ids[i];
		cr_assert_eq(st_egroup_name_parse(name, &id), 0, "%s", name);
		cr_assert_eq(id, ids[i]);
		cr_assert_eq(st_egroup_path("/d", ids[i], path, sizeof(path)), 0);
		cr_assert_str_eq(path + strlen("/d/" ST_EGROUP_DIR "/"), name);
		cr_assert_eq(strncmp(path, "/d/" ST_EGROUP_DIR "/", strlen("/d/" ST_EGROUP_DIR "/")), 0);
	}
	st_egroup_name(0xabc, name);
	cr_assert_str_eq(name, "0000000000000abc.eg");
	cr_assert_eq(st_egroup_name_parse("0000000000000ABC.eg", &id), 0);
	cr_assert_eq(id, 0xabc);
	cr_assert_eq(st_egroup_path("/d", 1, path, 10), -ENAMETOOLONG);
}

Test(st_egroup, file_name_parse_rejects_strangers)
{
	const char *bad[] = {
		"", ".eg", "abc.eg", "000000000000abc.eg", "00000000000000abc.eg", "0000000000000abc",
		"0000000000000abc.e", "0000000000000abc.egg", "0000000000000abc.eg.tmp.42", "0000000000000abc.EG",
		"0x00000000000abc.eg", "+000000000000abc.eg", "-000000000000abc.eg", " 000000000000abc.eg",
		"000000000000 abc.eg", "000000000000gabc.eg", "0000000000000abc.eg/",
	};
	uint64_t id = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(st_egroup_name_parse(bad[i], &id), ST_EINVAL, "accepted \"%s\"", bad[i]);
		cr_assert_eq(id, 7, "changed the output on \"%s\"", bad[i]);
	}
}
