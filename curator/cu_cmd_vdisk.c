/*
 * cu_cmd_vdisk: the vdisk commands: create, write, read, snapshot, clone,
 * delete, list, info (rows of cu_cmds in cu_cli.c; see cu_cmd.h).
 *
 * DESIGN. These are the foreground I/O path seen from the shell. A write
 * streams its input through one st_writer in 4 MiB reads; what the
 * writer reports as committed is durable (with --progress it is printed
 * as it advances), so after a failure or a kill the bytes up to the last
 * "committed" line are on disk and the error says how many were. A read
 * goes a block at a time through st_vdisk_pread, which verifies each
 * replica it reads and skips a bad one (counted, and recorded for the
 * curator). All but create find the store open (CU_CMD_OPEN_FIRST).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "curator/cu_cmd.h"
#include "curator/cu_json.h"
#include "curator/cu_log.h"
#include "jobs/job_db_report.h"

int cu_cmd_vdisk_create(struct cu_ctx *ctx, int argc, char **argv)
{
	struct cu_opt o[] = { { "--container", 1, 0, 0 }, { "--size", 1, 0, 0 }, { "--block-size", 1, 0, 0 } };
	uint64_t size = 0, bs = 0;
	struct st_vdisk v;
	char *pos[1];
	int npos, rc = cu_opts_parse(ctx, argc, argv, o, CU_NOPTS(o), pos, &npos, 1);

	if (rc)
		return rc;
	if (npos != 1 || !CU_OPT(o, "--container")->set || !CU_OPT(o, "--size")->set)
		return cu_error(ctx, "expected NAME --container C --size SIZE");
	if (cu_opt_size(ctx, CU_OPT(o, "--size"), &size) || cu_opt_size(ctx, CU_OPT(o, "--block-size"), &bs))
		return CU_EXIT_USAGE;
	if (bs > ST_BLOCK_MAX)
		return cu_error(ctx, "--block-size: must be a power of two from 4K to 4M");
	rc = cu_open(ctx);
	if (rc)
		return rc;
	rc = st_vdisk_create(ctx->st, pos[0], CU_OPT(o, "--container")->val, size, (uint32_t)bs, &v, &ctx->err);
	if (rc)
		return rc;
	printf("created vdisk %s (id %llx)\n", v.name, (unsigned long long)v.id);
	return 0;
}

/*
 * Copy fd into the writer w in cap-byte reads; with progress, print each
 * new committed offset. 0, or the failure with ctx->err filled.
 */
static int write_stream(struct cu_ctx *ctx, struct st_writer *w, int fd, const char *src, int progress, uint64_t total)
{
	size_t cap = 4u << 20;
	uint64_t acked = 0, in = 0;
	double t0 = cu_clock();
	uint8_t *buf = malloc(cap);
	int rc = 0;

	if (!buf)
		return cu_error(ctx, "out of memory");
	for (;;) {
		ssize_t n = read(fd, buf, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = st_fail(&ctx->err, -errno, "%s: %s", src, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		rc = st_writer_write(w, buf, (size_t)n, &ctx->err);
		if (rc)
			break;
		in += (uint64_t)n;
		{ /* the bar on a terminal (cu_log.h): bytes read in, bytes durable */
			char b1[32], b2[32];
			double secs = cu_clock() - t0;
			cu_progress_set(total ? (double)in / (double)total : -1,
					total && in && secs > 0 ? secs * (double)(total - in) / (double)in : -1,
					"%s written, %s committed", st_fmt_size(in, b1, sizeof(b1)),
					st_fmt_size(st_writer_committed(w), b2, sizeof(b2)));
		}
		if (progress && st_writer_committed(w) != acked) {
			acked = st_writer_committed(w);
			printf("committed %llu\n", (unsigned long long)acked);
			fflush(stdout);
		}
	}
	free(buf);
	return rc;
}

int cu_cmd_vdisk_write(struct cu_ctx *ctx, int argc, char **argv)
{
	struct cu_opt o[] = { { "--offset", 1, 0, 0 }, { "--progress", 0, 0, 0 } };
	struct st_store_stats s;
	struct st_writer *w;
	struct st_vdisk v;
	uint64_t off = 0;
	char *pos[2];
	int npos, fd = 0, rc = cu_opts_parse(ctx, argc, argv, o, CU_NOPTS(o), pos, &npos, 2);
	const char *src;
	struct stat sb;

	if (rc)
		return rc;
	if (npos < 1)
		return cu_error(ctx, "expected a vdisk NAME");
	if (cu_opt_size(ctx, CU_OPT(o, "--offset"), &off))
		return CU_EXIT_USAGE;
	src = npos == 2 ? pos[1] : "stdin";
	if (npos == 2 && strcmp(pos[1], "-")) {
		fd = open(pos[1], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return cu_error(ctx, "%s: %s", pos[1], strerror(errno));
	}
	rc = st_config_vdisk_get(cu_config(ctx), pos[0], &v, &ctx->err);
	if (!rc && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && off + (uint64_t)sb.st_size > v.size)
		rc = st_fail(&ctx->err, ST_ERANGE,
			     "%s (%lld bytes) at offset %llu: past the size of vdisk '%s' (%llu bytes)", src,
			     (long long)sb.st_size, (unsigned long long)off, v.name, (unsigned long long)v.size);
	if (!rc)
		rc = st_writer_open(ctx->st, pos[0], off, &w, &ctx->err);
	if (rc) {
		if (fd > 0)
			close(fd);
		return rc;
	}
	cu_progress_begin(ctx->name, 0);
	rc = write_stream(ctx, w, fd, src, CU_OPT(o, "--progress")->set,
			  fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0);
	cu_progress_end("%s %s: %s", ctx->name, pos[0], rc ? "stopped" : "all written");
	if (fd > 0)
		close(fd);
	if (rc > 0) { /* out of memory, printed */
		st_writer_close(w, NULL);
		return rc;
	}
	if (rc) {
		char why[sizeof(ctx->err.text)];
		uint64_t done = st_writer_committed(w);
		st_writer_close(w, NULL);
		snprintf(why, sizeof(why), "%s", ctx->err.text);
		return st_fail(&ctx->err, rc, "%s (%llu bytes before it were written)", why, (unsigned long long)done);
	}
	rc = st_writer_close(w, &ctx->err);
	if (rc)
		return rc;
	st_store_stats(ctx->st, &s);
	printf("wrote %llu bytes to vdisk %s at offset %llu (%llu extents, %llu new egroups)\n",
	       (unsigned long long)s.bytes_written, pos[0], (unsigned long long)off, (unsigned long long)s.extents_written,
	       (unsigned long long)s.egroups_created);
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copy len bytes of v from off to fd, a block at a time. 0 or the failure with err filled. */
static int read_stream(struct cu_ctx *ctx, const struct st_vdisk *v, uint64_t off, uint64_t len, int fd)
{
	size_t cap = 1u << 20; /* a block at a time: the buffer stays in cache for the checksum pass */
	uint8_t *buf = malloc(cap);
	uint64_t done = 0;
	int rc = 0;

	if (!buf)
		return cu_error(ctx, "out of memory");
	while (done < len) {
		size_t n = (size_t)(len - done < cap ? len - done : cap);
		rc = st_vdisk_pread(ctx->st, v, off + done, n, buf, &ctx->err);
		if (rc)
			break;
		rc = write_all(fd, buf, n);
		if (rc) {
			st_fail(&ctx->err, rc, "output: %s", strerror(-rc));
			break;
		}
		done += n;
	}
	free(buf);
	return rc;
}

int cu_cmd_vdisk_read(struct cu_ctx *ctx, int argc, char **argv)
{
	struct cu_opt o[] = { { "--offset", 1, 0, 0 }, { "--length", 1, 0, 0 }, { "--output", 1, 0, 0 } };
	struct cu_opt *output = CU_OPT(o, "--output");
	struct st_store_stats s;
	struct st_vdisk v;
	uint64_t off = 0, len;
	char *pos[1];
	int npos, fd = 1, rc = cu_opts_parse(ctx, argc, argv, o, CU_NOPTS(o), pos, &npos, 1);

	if (rc)
		return rc;
	if (npos != 1)
		return cu_error(ctx, "expected a vdisk NAME");
	if (cu_opt_size(ctx, CU_OPT(o, "--offset"), &off))
		return CU_EXIT_USAGE;
	rc = st_config_vdisk_get(cu_config(ctx), pos[0], &v, &ctx->err);
	if (rc)
		return rc;
	if (off > v.size)
		return cu_error(ctx, "--offset %llu: past the size of vdisk '%s' (%llu bytes)", (unsigned long long)off, v.name,
				(unsigned long long)v.size);
	len = v.size - off;
	if (cu_opt_size(ctx, CU_OPT(o, "--length"), &len))
		return CU_EXIT_USAGE;
	if (len > v.size - off)
		return cu_error(ctx, "--length %llu at offset %llu: past the size of vdisk '%s' (%llu bytes)",
				(unsigned long long)len, (unsigned long long)off, v.name, (unsigned long long)v.size);
	if (output->set && strcmp(output->val, "-")) {
		fd = open(output->val, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return cu_error(ctx, "%s: %s", output->val, strerror(errno));
	}
	rc = read_stream(ctx, &v, off, len, fd);
	if (fd != 1 && close(fd) < 0 && !rc)
		rc = st_fail(&ctx->err, -errno, "output: %s", strerror(errno));
	if (rc > 0) /* out of memory, printed */
		return rc;
	st_store_stats(ctx->st, &s);
	if (s.bad_replicas && !rc)
		fprintf(stderr, "curator: warning: vdisk read: %llu bad or missing replica(s) skipped, recorded for the curator\n",
			(unsigned long long)s.bad_replicas);
	return rc;
}

/* vdisk snapshot NAME SNAP, vdisk clone SNAP NEW */
static int vdisk_copy(struct cu_ctx *ctx, int argc, char **argv, int snap)
{
	int rc;

	if (argc != 2)
		return cu_error(ctx, snap ? "expected NAME SNAP" : "expected SNAP NEW");
	if (snap)
		rc = st_vdisk_snapshot(ctx->st, argv[0], argv[1], &ctx->err);
	else
		rc = st_vdisk_clone(ctx->st, argv[0], argv[1], &ctx->err);
	if (rc)
		return rc;
	printf("%s %s -> %s\n", snap ? "snapshot" : "clone", argv[0], argv[1]);
	return 0;
}

int cu_cmd_vdisk_snapshot(struct cu_ctx *ctx, int argc, char **argv)
{
	return vdisk_copy(ctx, argc, argv, 1);
}

int cu_cmd_vdisk_clone(struct cu_ctx *ctx, int argc, char **argv)
{
	return vdisk_copy(ctx, argc, argv, 0);
}

/*
 * vdisk delete NAME: the vdisk marked deleted (committed first), then a
 * "vdisk_deleted" event for the daemon, which answers within a tick with
 * a selective scan of its rows and their tasks. An event that cannot be
 * recorded loses nothing: the next full scan collects the vdisk (warned).
 */
int cu_cmd_vdisk_delete(struct cu_ctx *ctx, int argc, char **argv)
{
	struct st_msg eerr = { "" };
	struct st_vdisk v;
	struct job_db *db;
	char detail[32];
	int rc;

	if (argc != 1)
		return cu_error(ctx, "expected a NAME");
	rc = st_config_vdisk_get(cu_config(ctx), argv[0], &v, &ctx->err);
	if (!rc)
		rc = st_vdisk_delete(ctx->st, argv[0], &ctx->err);
	if (rc)
		return rc;
	snprintf(detail, sizeof(detail), "%llx", (unsigned long long)v.id);
	rc = job_db_open(st_config_dir(cu_config(ctx)), &db, &eerr);
	if (!rc) {
		rc = job_db_event_add(db, "vdisk_deleted", detail, &eerr);
		job_db_close(db);
	}
	if (rc)
		fprintf(stderr, "curator: vdisk delete: the daemon was not told (%s); the next full scan reclaims it\n",
			eerr.text);
	printf("deleted vdisk %s (its space is freed by the daemon within seconds; curator status shows it)\n",
	       argv[0]);
	return 0;
}

static const char *vdisk_kind(const struct st_vdisk *v)
{
	return v->readonly ? "snapshot" : v->parent ? "clone" : "vdisk";
}

/* A vdisk as JSON (docs/JSON.md): its parent and container by name. */
static json_t *vdisk_json(const struct st_vdisk *v, const char *container, const char *parent)
{
	return json_pack("{s:o,s:s,s:s,s:s,s:o,s:I,s:I,s:o}", "id", cu_json_hex(v->id), "name", v->name, "container",
			 container, "kind", vdisk_kind(v), "parent", cu_json_str(parent), "size_bytes", (json_int_t)v->size,
			 "block_size_bytes", (json_int_t)v->block_size, "created", cu_json_time((double)v->created));
}

static int print_json(struct cu_ctx *ctx, json_t *doc)
{
	int rc = cu_json_print(doc, stdout);

	return rc ? st_fail(&ctx->err, rc, "cannot write the JSON document: %s", st_strerror(rc)) : 0;
}

/*
 * vdisk list: live vdisks, then deleted ones whose rows the curator has
 * not purged yet ("deleted, freeing"), and what the space-freeing tasks
 * still have to give back (as ZFS shows `freeing`).
 */
int cu_cmd_vdisk_list(struct cu_ctx *ctx, int argc, char **argv)
{
	struct st_vdisk *v;
	struct st_container *cs;
	struct job_db *db;
	json_t *doc = NULL, *a = NULL;
	int n, nc, rc, json, ndel = 0;

	(void)argv;
	if (argc != 0)
		return cu_error(ctx, "takes no arguments");
	if (cu_json_wanted(ctx, &json))
		return CU_EXIT_USAGE;
	rc = st_config_vdisks(cu_config(ctx), 1, &v, &n, &ctx->err);
	if (rc)
		return rc;
	rc = st_config_containers(cu_config(ctx), &cs, &nc, &ctx->err);
	if (rc) {
		free(v);
		return rc;
	}
	if (json) {
		doc = cu_json_doc();
		a = json_array();
		json_object_set_new(doc, "vdisks", a);
	} else {
		printf("%-16s %-24s %-16s %-10s %s\n", "ID", "NAME", "CONTAINER", "SIZE", "KIND");
	}
	/* live vdisks first, then deleted ones the curator is still freeing */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < n; i++) {
			const char *cn = "?", *pn = NULL;
			char sz[32];
			if ((v[i].state == ST_VDISK_DELETED) != pass)
				continue;
			ndel += pass;
			for (int k = 0; k < nc; k++)
				if (cs[k].id == v[i].container)
					cn = cs[k].name;
			for (int k = 0; k < n && v[i].parent; k++)
				if (v[k].id == v[i].parent)
					pn = v[k].name;
			if (json) {
				json_t *o = vdisk_json(&v[i], cn, pn);
				json_object_set_new(o, "state", json_string(pass ? "deleted" : "live"));
				json_array_append_new(a, o);
			} else {
				printf("%-16llx %-24s %-16s %-10s %s%s\n", (unsigned long long)v[i].id, v[i].name, cn,
				       st_fmt_size(v[i].size, sz, sizeof(sz)), vdisk_kind(&v[i]), pass ? ", deleted: freeing" : "");
			}
		}
	free(v);
	free(cs);
	if (!job_db_open(st_config_dir(cu_config(ctx)), &db, NULL)) {
		struct job_freeing f;
		if (!job_db_freeing(db, &f, NULL) && json) {
			json_object_set_new(doc, "freeing",
					    json_pack("{s:I,s:I,s:I}", "pending_bytes", (json_int_t)f.pending_bytes, "pending_tasks",
						      (json_int_t)f.pending_tasks, "freed_bytes", (json_int_t)f.freed_bytes));
		} else if (!job_db_freeing(db, &f, NULL) && (f.pending_tasks || ndel)) {
			char x[32], y[32];
			printf("freeing: %s in %lld task(s), %s freed (%.0f%%)%s\n",
			       st_fmt_size((uint64_t)f.pending_bytes, x, sizeof(x)), (long long)f.pending_tasks,
			       st_fmt_size((uint64_t)f.freed_bytes, y, sizeof(y)),
			       f.freed_bytes + f.pending_bytes > 0
				       ? 100.0 * (double)f.freed_bytes / (double)(f.freed_bytes + f.pending_bytes)
				       : 0.0,
			       !f.pending_tasks ? " (the curator has yet to scan the deleted vdisks)" : "");
		}
		job_db_close(db);
	}
	return json ? print_json(ctx, doc) : 0;
}

int cu_cmd_vdisk_info(struct cu_ctx *ctx, int argc, char **argv)
{
	struct st_vdisk v, p;
	struct st_container c;
	uint64_t bytes = 0, blocks = 0;
	char b1[32], b2[32];
	int rc, json, has_parent;

	if (argc != 1)
		return cu_error(ctx, "expected a NAME");
	if (cu_json_wanted(ctx, &json))
		return CU_EXIT_USAGE;
	rc = st_config_vdisk_get(cu_config(ctx), argv[0], &v, &ctx->err);
	if (!rc)
		rc = st_config_container_by_id(cu_config(ctx), v.container, &c, &ctx->err);
	if (!rc)
		rc = st_vdisk_mapped(ctx->st, &v, &bytes, &blocks, &ctx->err);
	if (rc)
		return rc;
	has_parent = v.parent && st_config_vdisk_by_id(cu_config(ctx), v.parent, &p, NULL) == 0;
	if (json) {
		json_t *doc = cu_json_doc(), *j = vdisk_json(&v, c.name, has_parent ? p.name : NULL);
		json_object_set_new(j, "parent_deleted", json_boolean(has_parent && p.state == ST_VDISK_DELETED));
		json_object_set_new(j, "written_bytes", json_integer((json_int_t)bytes));
		json_object_set_new(j, "written_blocks", json_integer((json_int_t)blocks));
		json_object_set_new(doc, "vdisk", j);
		return print_json(ctx, doc);
	}
	printf("vdisk %s (id %llx)\n", v.name, (unsigned long long)v.id);
	printf("  container    %s\n", c.name);
	printf("  kind         %s\n", v.readonly ? "snapshot (read-only)" : v.parent ? "clone" : "vdisk");
	if (has_parent)
		printf("  parent       %s%s\n", p.name, p.state == ST_VDISK_DELETED ? " (deleted)" : "");
	printf("  size         %s (%llu bytes)\n", st_fmt_size(v.size, b1, sizeof(b1)), (unsigned long long)v.size);
	printf("  block size   %u\n", v.block_size);
	printf("  written      %s (%llu bytes) in %llu blocks\n", st_fmt_size(bytes, b2, sizeof(b2)),
	       (unsigned long long)bytes, (unsigned long long)blocks);
	return 0;
}
