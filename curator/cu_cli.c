/*
 * cu_cli: argument parsing and the storage half of the command line. Each
 * command parses its flags, opens the cluster, calls the library, prints.
 * The library never prints; this file turns its errors into one line.
 */
#include "curator/cu_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "curator/cu_daemon.h"
#include "curator/cu_explain.h"
#include "curator/cu_log.h"
#include "curator/cu_report.h"
#include "curator/cu_status.h"
#include "jobs/job_db_report.h"
#include "jobs/job_scan.h"
#include "jobs/job_tasks.h"
#include "mapreduce/mr.h"
#include "storage/st_cloud.h"
#include "storage/st_fsck.h"
#include "storage/st_store.h"

#define EXIT_PROBLEM 1
#define EXIT_USAGE 2

static const char usage_text[] =
	"usage: curator [-C DIR] COMMAND ...    DIR: the cluster directory ($CURATOR_DIR, else ./cluster)\n"
	"\n"
	"  init --nodes N --disks SPEC [--shards S]     SPEC per node, e.g. \"ssd:1x8G,hdd:2x64G\"\n"
	"  container create NAME --rf R [--rs K,M] [--ec-delay DUR]\n"
	"          [--compress off|inline|post[:DELAY]] [--codec igzip|zlib] [--dedup off|inline|post]\n"
	"          [--chunking fixed|cdc] [--ilm HIGH%,LOW%] [--cold-age DUR] [--tiers ssd,hdd,cloud]\n"
	"  container list | info NAME\n"
	"  vdisk create NAME --container C --size SIZE [--block-size SIZE]\n"
	"  vdisk write NAME [--offset OFF] [--progress] [FILE|-]   --progress: print \"committed BYTES\" per durable batch\n"
	"  vdisk read NAME [--offset OFF] [--length LEN] [--output FILE]   (stdout by default)\n"
	"  vdisk snapshot NAME SNAP | clone SNAP NEW | delete NAME | list | info NAME\n"
	"  disk add --node N --tier T --size SIZE | fail ID | remove ID (drain, then remove) | list\n"
	"  node down ID | up ID | list\n"
	"  cloud set URL [--credentials FILE] | show     s3://BUCKET@HOST:PORT or a local directory;\n"
	"                                   credentials: a 0600 file (access_key = / secret_key =) or\n"
	"                                   CURATOR_S3_ACCESS_KEY / CURATOR_S3_SECRET_KEY\n"
	"  fsck [--quiet]                               exit 0 clean, 1 violations found, 2 error\n"
	"  scan full|partial [--dry-run] [--mem-budget SIZE] [--sweep-grace DUR] [--compact-pct P]\n"
	"        [--node-grace DUR] [--scrub-period DUR]   (defaults 1h, 20, 60s, 7d)\n"
	"  tasks list [--kind K] [--state S] | run [--kind K] [--max N] [--rate MBPS] [--sweep-grace DUR]\n"
	"  scan full|partial --request                  queue a scan for the running daemon\n"
	"  report [--scan ID | --last] [--format text|json|html|prom] [--output FILE]\n"
	"  status                                       exit 1 when there are health warnings\n"
	"  explain vdisk|egroup|extent ID               what the scans found about it, and why\n"
	"  daemon [--full-every DUR] [--partial-every DUR] [--mem-budget SIZE] [--rate MBPS]\n"
	"         [--throttle KIND=MBPS[:RANKS]]... [--tick SECS]   under mpiexec: rank 0 master, others slaves\n"
	"\n"
	"scan, tasks run and daemon are MPI programs: one rank when started directly, N under mpiexec -n N.\n"
	"CURATOR_LOG=debug|info|warn|error sets the log level (logs and progress go to stderr).\n"
	"  help\n"
	"\n"
	"Sizes take K, M, G, T (powers of 1024); durations s, m, h, d.\n"
	"CURATOR_NOW=<unix seconds> sets the policy clock; CURATOR_NODE=<id> the node this process runs on.\n";

static int verbose_errors = 1;

static int die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int die(int code, const char *fmt, ...)
{
	va_list ap;

	if (verbose_errors) {
		fputs("curator: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	return code;
}

/* Exit status for a library error: data problems are 1, the rest 2. */
static int status_of(int rc)
{
	return rc == ST_ECORRUPT || rc == ST_EIO ? EXIT_PROBLEM : EXIT_USAGE;
}

static int fail_with(const char *cmd, int rc, const struct st_msg *err)
{
	return die(status_of(rc), "%s: %s", cmd, err->text[0] ? err->text : st_strerror(rc));
}

/* --- option parsing ----------------------------------------------------- */

struct opt {
	const char *name; /* "--rf" */
	int has_arg;
	const char *val;
	int set;
};

/*
 * Split args into options (from opts) and positionals. Returns 0 or prints
 * a usage error and returns EXIT_USAGE.
 */
static int parse_opts(const char *cmd, int argc, char **argv, struct opt *opts, int nopts, char **pos,
		      int *npos, int maxpos)
{
	*npos = 0;
	for (int i = 0; i < argc; i++) {
		char *a = argv[i];
		int found = 0;

		if (a[0] == '-' && a[1] == '-' && a[2]) {
			char *eq = strchr(a, '=');
			size_t nl = eq ? (size_t)(eq - a) : strlen(a);
			for (int k = 0; k < nopts; k++) {
				if (strlen(opts[k].name) != nl || strncmp(opts[k].name, a, nl))
					continue;
				found = 1;
				if (opts[k].has_arg) {
					if (eq)
						opts[k].val = eq + 1;
					else if (i + 1 < argc)
						opts[k].val = argv[++i];
					else
						return die(EXIT_USAGE, "%s: %s needs a value", cmd, opts[k].name);
				} else if (eq) {
					return die(EXIT_USAGE, "%s: %s takes no value", cmd, opts[k].name);
				}
				opts[k].set = 1;
				break;
			}
			if (!found)
				return die(EXIT_USAGE, "%s: unknown option %s (see curator help)", cmd, a);
			continue;
		}
		if (*npos >= maxpos)
			return die(EXIT_USAGE, "%s: unexpected argument '%s' (see curator help)", cmd, a);
		pos[(*npos)++] = a;
	}
	return 0;
}

static struct opt *opt_get(struct opt *opts, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(opts[i].name, name))
			return &opts[i];
	return NULL;
}

#define NOPTS(o) ((int)(sizeof(o) / sizeof((o)[0])))
#define OPT(o, name) opt_get((o), NOPTS(o), (name))

static int size_opt(const char *cmd, struct opt *o, uint64_t *out)
{
	if (!o->set)
		return 0;
	if (st_parse_size(o->val, out))
		return die(EXIT_USAGE, "%s: %s '%s': not a size (e.g. 4096, 64K, 10G)", cmd, o->name, o->val);
	return 0;
}

static int u32_arg(const char *cmd, const char *what, const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || !*s || v == 0 || v > 0xffffffffUL || s[0] == '-')
		return die(EXIT_USAGE, "%s: %s '%s': not a positive integer", cmd, what, s);
	*out = (uint32_t)v;
	return 0;
}

/* --- cluster handle ----------------------------------------------------- */

static const char *cluster_dir = NULL;

static int open_store(const char *cmd, struct st_store **st)
{
	struct st_msg err = { "" };
	int rc = st_store_open(cluster_dir, st, &err);

	if (rc)
		return fail_with(cmd, rc, &err);
	return 0;
}

/* --- init --------------------------------------------------------------- */

static int cmd_init(int argc, char **argv)
{
	struct opt o[] = { { "--nodes", 1, 0, 0 }, { "--disks", 1, 0, 0 }, { "--shards", 1, 0, 0 } };
	struct st_init_spec spec = { 0 };
	struct st_msg err = { "" };
	char *pos[1];
	int npos, rc = parse_opts("init", argc, argv, o, NOPTS(o), pos, &npos, 0);
	uint32_t v;

	if (rc)
		return rc;
	if (!OPT(o, "--nodes")->set || !OPT(o, "--disks")->set)
		return die(EXIT_USAGE, "init: --nodes and --disks are required");
	if (u32_arg("init", "--nodes", OPT(o, "--nodes")->val, &v))
		return EXIT_USAGE;
	spec.nodes = (int)(v > 1000 ? 1000 : v);
	spec.shards = 4;
	if (OPT(o, "--shards")->set) {
		if (u32_arg("init", "--shards", OPT(o, "--shards")->val, &v))
			return EXIT_USAGE;
		spec.shards = (int)(v > 4096 ? 4096 : v);
	}
	rc = st_disk_spec_parse(OPT(o, "--disks")->val, &spec, &err);
	if (!rc)
		rc = st_store_init(cluster_dir, &spec, &err);
	if (rc)
		return fail_with("init", rc, &err);
	printf("initialised cluster in %s: %d nodes x %d disks, %d metadata shards\n", cluster_dir, spec.nodes,
	       spec.ndisks, spec.shards);
	return 0;
}

/* --- containers --------------------------------------------------------- */

static int parse_mode(const char *s, enum st_mode *m)
{
	if (!strcmp(s, "off"))
		*m = ST_MODE_OFF;
	else if (!strcmp(s, "inline"))
		*m = ST_MODE_INLINE;
	else if (!strcmp(s, "post"))
		*m = ST_MODE_POST;
	else
		return -1;
	return 0;
}

static int container_opts(struct opt *o, int n, struct st_container *c)
{
	const char *cmd = "container create";
	struct opt *x;
	char buf[64];

	if ((x = opt_get(o, n, "--rf"))->set) {
		uint32_t v;
		if (u32_arg(cmd, "--rf", x->val, &v))
			return EXIT_USAGE;
		c->rf = (int)(v > 100 ? 100 : v);
	}
	if ((x = opt_get(o, n, "--rs"))->set) {
		int k, m;
		char tail;
		if (sscanf(x->val, "%d,%d%c", &k, &m, &tail) != 2)
			return die(EXIT_USAGE, "%s: --rs '%s': expected K,M (e.g. 4,2)", cmd, x->val);
		c->rs_k = k;
		c->rs_m = m;
	}
	if ((x = opt_get(o, n, "--ec-delay"))->set && st_parse_duration(x->val, &c->ec_delay))
		return die(EXIT_USAGE, "%s: --ec-delay '%s': not a duration (e.g. 7d)", cmd, x->val);
	if ((x = opt_get(o, n, "--cold-age"))->set && st_parse_duration(x->val, &c->cold_age))
		return die(EXIT_USAGE, "%s: --cold-age '%s': not a duration (e.g. 30d)", cmd, x->val);
	if ((x = opt_get(o, n, "--compress"))->set) {
		char *colon;
		snprintf(buf, sizeof(buf), "%s", x->val);
		colon = strchr(buf, ':');
		if (colon)
			*colon++ = 0;
		if (parse_mode(buf, &c->compress) || (colon && c->compress != ST_MODE_POST))
			return die(EXIT_USAGE, "%s: --compress '%s': expected off, inline or post[:DELAY]", cmd, x->val);
		if (colon && st_parse_duration(colon, &c->compress_delay))
			return die(EXIT_USAGE, "%s: --compress '%s': bad delay", cmd, x->val);
	}
	if ((x = opt_get(o, n, "--codec"))->set) {
		if (!strcmp(x->val, "igzip"))
			c->codec = ST_CODEC_IGZIP;
		else if (!strcmp(x->val, "zlib"))
			c->codec = ST_CODEC_ZLIB;
		else
			return die(EXIT_USAGE, "%s: --codec '%s': expected igzip or zlib", cmd, x->val);
	}
	if ((x = opt_get(o, n, "--dedup"))->set && parse_mode(x->val, &c->dedup))
		return die(EXIT_USAGE, "%s: --dedup '%s': expected off, inline or post", cmd, x->val);
	if ((x = opt_get(o, n, "--chunking"))->set) {
		if (!strcmp(x->val, "fixed"))
			c->chunking = ST_CHUNK_FIXED;
		else if (!strcmp(x->val, "cdc"))
			c->chunking = ST_CHUNK_CDC;
		else
			return die(EXIT_USAGE, "%s: --chunking '%s': expected fixed or cdc", cmd, x->val);
	}
	if ((x = opt_get(o, n, "--ilm"))->set) {
		int hi, lo;
		char tail;
		if (sscanf(x->val, "%d%%,%d%%%c", &hi, &lo, &tail) != 2 && sscanf(x->val, "%d,%d%c", &hi, &lo, &tail) != 2)
			return die(EXIT_USAGE, "%s: --ilm '%s': expected HIGH%%,LOW%% (e.g. 75%%,60%%)", cmd, x->val);
		c->ilm_high = hi;
		c->ilm_low = lo;
	}
	if ((x = opt_get(o, n, "--tiers"))->set) {
		char *save = NULL, *tok;
		snprintf(buf, sizeof(buf), "%s", x->val);
		c->ntiers = 0;
		for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			int t = st_tier_parse(tok);
			if (t < 0 || c->ntiers >= ST_NTIERS)
				return die(EXIT_USAGE, "%s: --tiers '%s': give up to 3 of ssd,hdd,cloud", cmd, x->val);
			c->tiers[c->ntiers++] = (enum st_tier)t;
		}
	}
	return 0;
}

static void print_container(const struct st_container *c)
{
	char d1[32], d2[32], d3[32];

	printf("container %s (id %u)\n", c->name, c->id);
	printf("  replication factor  %d\n", c->rf);
	if (c->rs_k)
		printf("  erasure coding      RS(%d,%d) after %s cold\n", c->rs_k, c->rs_m,
		       st_fmt_duration(c->ec_delay, d1, sizeof(d1)));
	else
		printf("  erasure coding      off\n");
	printf("  compression         %s%s%s (%s)\n", st_mode_name(c->compress),
	       c->compress == ST_MODE_POST ? " after " : "",
	       c->compress == ST_MODE_POST ? st_fmt_duration(c->compress_delay, d2, sizeof(d2)) : "",
	       c->codec == ST_CODEC_ZLIB ? "zlib" : "igzip");
	printf("  dedup               %s (%s chunks)\n", st_mode_name(c->dedup),
	       c->chunking == ST_CHUNK_CDC ? "content-defined" : "fixed 16K");
	printf("  ilm watermarks      high %d%%, low %d%%\n", c->ilm_high, c->ilm_low);
	printf("  cold age            %s\n", c->cold_age ? st_fmt_duration(c->cold_age, d3, sizeof(d3)) : "never");
	printf("  tiers               ");
	for (int i = 0; i < c->ntiers; i++)
		printf("%s%s", i ? " > " : "", st_tier_name(c->tiers[i]));
	printf("\n");
}

static int cmd_container(int argc, char **argv)
{
	struct st_store *st;
	struct st_msg err = { "" };
	int rc;

	if (argc < 1)
		return die(EXIT_USAGE, "container: expected create, list or info");
	if (!strcmp(argv[0], "create")) {
		struct opt o[] = { { "--rf", 1, 0, 0 },       { "--rs", 1, 0, 0 },    { "--ec-delay", 1, 0, 0 },
				   { "--compress", 1, 0, 0 }, { "--codec", 1, 0, 0 }, { "--dedup", 1, 0, 0 },
				   { "--chunking", 1, 0, 0 }, { "--ilm", 1, 0, 0 },   { "--cold-age", 1, 0, 0 },
				   { "--tiers", 1, 0, 0 } };
		struct st_container c;
		char *pos[1];
		int npos;

		rc = parse_opts("container create", argc - 1, argv + 1, o, NOPTS(o), pos, &npos, 1);
		if (rc)
			return rc;
		if (npos != 1)
			return die(EXIT_USAGE, "container create: expected a NAME");
		if (!OPT(o, "--rf")->set)
			return die(EXIT_USAGE, "container create: --rf is required");
		st_container_defaults(&c);
		if (strlen(pos[0]) >= sizeof(c.name))
			return die(EXIT_USAGE, "container create: name too long");
		snprintf(c.name, sizeof(c.name), "%s", pos[0]);
		rc = container_opts(o, NOPTS(o), &c);
		if (rc)
			return rc;
		if ((rc = open_store("container create", &st)))
			return rc;
		rc = st_config_container_create(st_store_config(st), &c, &err);
		st_store_free(st);
		if (rc)
			return fail_with("container create", rc, &err);
		printf("created container %s (id %u)\n", c.name, c.id);
		return 0;
	}
	if (!strcmp(argv[0], "list")) {
		struct st_container *cs;
		int n;
		if (argc != 1)
			return die(EXIT_USAGE, "container list: takes no arguments");
		if ((rc = open_store("container list", &st)))
			return rc;
		rc = st_config_containers(st_store_config(st), &cs, &n, &err);
		st_store_free(st);
		if (rc)
			return fail_with("container list", rc, &err);
		printf("%-4s %-20s %-3s %-6s %-9s %-7s %s\n", "ID", "NAME", "RF", "EC", "COMPRESS", "DEDUP", "TIERS");
		for (int i = 0; i < n; i++) {
			char ec[16], tiers[32] = "";
			if (cs[i].rs_k)
				snprintf(ec, sizeof(ec), "%d,%d", cs[i].rs_k, cs[i].rs_m);
			else
				snprintf(ec, sizeof(ec), "off");
			for (int t = 0; t < cs[i].ntiers; t++) {
				size_t l = strlen(tiers);
				snprintf(tiers + l, sizeof(tiers) - l, "%s%s", t ? "," : "", st_tier_name(cs[i].tiers[t]));
			}
			printf("%-4u %-20s %-3d %-6s %-9s %-7s %s\n", cs[i].id, cs[i].name, cs[i].rf, ec,
			       st_mode_name(cs[i].compress), st_mode_name(cs[i].dedup), tiers);
		}
		free(cs);
		return 0;
	}
	if (!strcmp(argv[0], "info")) {
		struct st_container c;
		if (argc != 2)
			return die(EXIT_USAGE, "container info: expected a NAME");
		if ((rc = open_store("container info", &st)))
			return rc;
		rc = st_config_container_get(st_store_config(st), argv[1], &c, &err);
		st_store_free(st);
		if (rc)
			return fail_with("container info", rc, &err);
		print_container(&c);
		return 0;
	}
	return die(EXIT_USAGE, "container: unknown subcommand '%s'", argv[0]);
}

/* --- vdisks ------------------------------------------------------------- */

static int vdisk_write(struct st_store *st, int argc, char **argv)
{
	const char *cmd = "vdisk write";
	struct opt o[] = { { "--offset", 1, 0, 0 }, { "--progress", 0, 0, 0 } };
	struct st_msg err = { "" };
	struct st_writer *w;
	uint64_t acked = 0;
	struct st_vdisk v;
	uint64_t off = 0;
	char *pos[2];
	int npos, fd = 0, rc = parse_opts(cmd, argc, argv, o, NOPTS(o), pos, &npos, 2);
	size_t cap = 4u << 20;
	uint8_t *buf;
	struct stat sb;

	if (rc)
		return rc;
	if (npos < 1)
		return die(EXIT_USAGE, "%s: expected a vdisk NAME", cmd);
	if (size_opt(cmd, OPT(o, "--offset"), &off))
		return EXIT_USAGE;
	if (npos == 2 && strcmp(pos[1], "-")) {
		fd = open(pos[1], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return die(EXIT_USAGE, "%s: %s: %s", cmd, pos[1], strerror(errno));
	}
	rc = st_config_vdisk_get(st_store_config(st), pos[0], &v, &err);
	if (!rc && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && off + (uint64_t)sb.st_size > v.size)
		rc = st_fail(&err, ST_ERANGE, "%s (%lld bytes) at offset %llu: past the size of vdisk '%s' (%llu bytes)",
			     npos == 2 ? pos[1] : "stdin", (long long)sb.st_size, (unsigned long long)off, v.name,
			     (unsigned long long)v.size);
	if (!rc)
		rc = st_writer_open(st, pos[0], off, &w, &err);
	if (rc) {
		if (fd > 0)
			close(fd);
		return fail_with(cmd, rc, &err);
	}
	buf = malloc(cap);
	if (!buf) {
		st_writer_close(w, NULL);
		return die(EXIT_USAGE, "%s: out of memory", cmd);
	}
	for (;;) {
		ssize_t n = read(fd, buf, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = st_fail(&err, -errno, "%s: %s", npos == 2 ? pos[1] : "stdin", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		rc = st_writer_write(w, buf, (size_t)n, &err);
		if (rc)
			break;
		if (OPT(o, "--progress")->set && st_writer_committed(w) != acked) {
			acked = st_writer_committed(w);
			printf("committed %llu\n", (unsigned long long)acked);
			fflush(stdout);
		}
	}
	free(buf);
	if (fd > 0)
		close(fd);
	if (rc) {
		uint64_t done = st_writer_committed(w);
		st_writer_close(w, NULL);
		die(status_of(rc), "%s: %s (%llu bytes before it were written)", cmd, err.text,
		    (unsigned long long)done);
		return status_of(rc);
	}
	{
		uint64_t total = 0;
		struct st_store_stats s;
		rc = st_writer_close(w, &err);
		if (rc)
			return fail_with(cmd, rc, &err);
		st_store_stats(st, &s);
		total = s.bytes_written;
		printf("wrote %llu bytes to vdisk %s at offset %llu (%llu extents, %llu new egroups)\n",
		       (unsigned long long)total, pos[0], (unsigned long long)off,
		       (unsigned long long)s.extents_written, (unsigned long long)s.egroups_created);
	}
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

static int vdisk_read(struct st_store *st, int argc, char **argv)
{
	const char *cmd = "vdisk read";
	struct opt o[] = { { "--offset", 1, 0, 0 }, { "--length", 1, 0, 0 }, { "--output", 1, 0, 0 } };
	struct st_msg err = { "" };
	struct st_vdisk v;
	struct st_store_stats s;
	uint64_t off = 0, len, done = 0;
	char *pos[1];
	int npos, fd = 1, rc = parse_opts(cmd, argc, argv, o, NOPTS(o), pos, &npos, 1);
	size_t cap = 1u << 20; /* a block at a time: the buffer stays in cache for the checksum pass */
	uint8_t *buf;

	if (rc)
		return rc;
	if (npos != 1)
		return die(EXIT_USAGE, "%s: expected a vdisk NAME", cmd);
	if (size_opt(cmd, OPT(o, "--offset"), &off))
		return EXIT_USAGE;
	rc = st_config_vdisk_get(st_store_config(st), pos[0], &v, &err);
	if (rc)
		return fail_with(cmd, rc, &err);
	if (off > v.size)
		return die(EXIT_USAGE, "%s: --offset %llu: past the size of vdisk '%s' (%llu bytes)", cmd,
			   (unsigned long long)off, v.name, (unsigned long long)v.size);
	len = v.size - off;
	if (size_opt(cmd, OPT(o, "--length"), &len))
		return EXIT_USAGE;
	if (len > v.size - off)
		return die(EXIT_USAGE, "%s: --length %llu at offset %llu: past the size of vdisk '%s' (%llu bytes)", cmd,
			   (unsigned long long)len, (unsigned long long)off, v.name, (unsigned long long)v.size);
	if (OPT(o, "--output")->set && strcmp(OPT(o, "--output")->val, "-")) {
		fd = open(OPT(o, "--output")->val, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return die(EXIT_USAGE, "%s: %s: %s", cmd, OPT(o, "--output")->val, strerror(errno));
	}
	buf = malloc(cap);
	if (!buf)
		return die(EXIT_USAGE, "%s: out of memory", cmd);
	while (done < len) {
		size_t n = (size_t)(len - done < cap ? len - done : cap);
		rc = st_vdisk_pread(st, &v, off + done, n, buf, &err);
		if (rc)
			break;
		rc = write_all(fd, buf, n);
		if (rc) {
			st_fail(&err, rc, "output: %s", strerror(-rc));
			break;
		}
		done += n;
	}
	free(buf);
	if (fd != 1 && close(fd) < 0 && !rc)
		rc = st_fail(&err, -errno, "output: %s", strerror(errno));
	st_store_stats(st, &s);
	if (s.bad_replicas && !rc)
		fprintf(stderr, "curator: warning: vdisk read: %llu bad or missing replica(s) skipped, recorded for the curator\n",
			(unsigned long long)s.bad_replicas);
	if (rc)
		return fail_with(cmd, rc, &err);
	return 0;
}

static int vdisk_info(struct st_store *st, const char *name)
{
	struct st_msg err = { "" };
	struct st_vdisk v, p;
	struct st_container c;
	uint64_t bytes = 0, blocks = 0;
	char b1[32], b2[32];
	int rc = st_config_vdisk_get(st_store_config(st), name, &v, &err);

	if (!rc)
		rc = st_config_container_by_id(st_store_config(st), v.container, &c, &err);
	if (!rc)
		rc = st_vdisk_mapped(st, &v, &bytes, &blocks, &err);
	if (rc)
		return fail_with("vdisk info", rc, &err);
	printf("vdisk %s (id %llx)\n", v.name, (unsigned long long)v.id);
	printf("  container    %s\n", c.name);
	printf("  kind         %s\n", v.readonly ? "snapshot (read-only)" : v.parent ? "clone" : "vdisk");
	if (v.parent && st_config_vdisk_by_id(st_store_config(st), v.parent, &p, NULL) == 0)
		printf("  parent       %s%s\n", p.name, p.state == ST_VDISK_DELETED ? " (deleted)" : "");
	printf("  size         %s (%llu bytes)\n", st_fmt_size(v.size, b1, sizeof(b1)), (unsigned long long)v.size);
	printf("  block size   %u\n", v.block_size);
	printf("  written      %s in %llu blocks\n", st_fmt_size(bytes, b2, sizeof(b2)), (unsigned long long)blocks);
	return 0;
}

static int vdisk_list(struct st_store *st)
{
	struct st_msg err = { "" };
	struct st_vdisk *v;
	struct st_container *cs;
	int n, nc, rc = st_config_vdisks(st_store_config(st), 0, &v, &n, &err);

	if (rc)
		return fail_with("vdisk list", rc, &err);
	rc = st_config_containers(st_store_config(st), &cs, &nc, &err);
	if (rc) {
		free(v);
		return fail_with("vdisk list", rc, &err);
	}
	printf("%-16s %-24s %-16s %-10s %s\n", "ID", "NAME", "CONTAINER", "SIZE", "KIND");
	for (int i = 0; i < n; i++) {
		const char *cn = "?";
		char sz[32];
		for (int k = 0; k < nc; k++)
			if (cs[k].id == v[i].container)
				cn = cs[k].name;
		printf("%-16llx %-24s %-16s %-10s %s\n", (unsigned long long)v[i].id, v[i].name, cn,
		       st_fmt_size(v[i].size, sz, sizeof(sz)),
		       v[i].readonly ? "snapshot" : v[i].parent ? "clone" : "vdisk");
	}
	free(v);
	free(cs);
	return 0;
}

static int cmd_vdisk(int argc, char **argv)
{
	struct st_store *st;
	struct st_msg err = { "" };
	const char *sub = argc ? argv[0] : "";
	int rc;

	if (argc < 1)
		return die(EXIT_USAGE, "vdisk: expected create, write, read, snapshot, clone, delete, list or info");
	if (strcmp(sub, "create") && strcmp(sub, "write") && strcmp(sub, "read") && strcmp(sub, "snapshot") &&
	    strcmp(sub, "clone") && strcmp(sub, "delete") && strcmp(sub, "list") && strcmp(sub, "info"))
		return die(EXIT_USAGE, "vdisk: unknown subcommand '%s'", sub);
	if (!strcmp(sub, "create")) {
		struct opt o[] = { { "--container", 1, 0, 0 }, { "--size", 1, 0, 0 }, { "--block-size", 1, 0, 0 } };
		uint64_t size = 0, bs = 0;
		struct st_vdisk v;
		char *pos[1];
		int npos;

		rc = parse_opts("vdisk create", argc - 1, argv + 1, o, NOPTS(o), pos, &npos, 1);
		if (rc)
			return rc;
		if (npos != 1 || !OPT(o, "--container")->set || !OPT(o, "--size")->set)
			return die(EXIT_USAGE, "vdisk create: expected NAME --container C --size SIZE");
		if (size_opt("vdisk create", OPT(o, "--size"), &size) ||
		    size_opt("vdisk create", OPT(o, "--block-size"), &bs))
			return EXIT_USAGE;
		if (bs > ST_BLOCK_MAX)
			return die(EXIT_USAGE, "vdisk create: --block-size: must be a power of two from 4K to 4M");
		if ((rc = open_store("vdisk create", &st)))
			return rc;
		rc = st_vdisk_create(st, pos[0], OPT(o, "--container")->val, size, (uint32_t)bs, &v, &err);
		st_store_free(st);
		if (rc)
			return fail_with("vdisk create", rc, &err);
		printf("created vdisk %s (id %llx)\n", v.name, (unsigned long long)v.id);
		return 0;
	}
	if ((rc = open_store("vdisk", &st)))
		return rc;
	if (!strcmp(sub, "write")) {
		rc = vdisk_write(st, argc - 1, argv + 1);
	} else if (!strcmp(sub, "read")) {
		rc = vdisk_read(st, argc - 1, argv + 1);
	} else if (!strcmp(sub, "list")) {
		rc = argc == 1 ? vdisk_list(st) : die(EXIT_USAGE, "vdisk list: takes no arguments");
	} else if (!strcmp(sub, "info")) {
		rc = argc == 2 ? vdisk_info(st, argv[1]) : die(EXIT_USAGE, "vdisk info: expected a NAME");
	} else if (!strcmp(sub, "delete")) {
		if (argc != 2)
			rc = die(EXIT_USAGE, "vdisk delete: expected a NAME");
		else if ((rc = st_vdisk_delete(st, argv[1], &err)))
			rc = fail_with("vdisk delete", rc, &err);
		else
			printf("deleted vdisk %s (space is reclaimed by the next scans)\n", argv[1]);
	} else if (!strcmp(sub, "snapshot") || !strcmp(sub, "clone")) {
		int snap = !strcmp(sub, "snapshot");
		if (argc != 3)
			rc = die(EXIT_USAGE, snap ? "vdisk snapshot: expected NAME SNAP" : "vdisk clone: expected SNAP NEW");
		else if ((rc = snap ? st_vdisk_snapshot(st, argv[1], argv[2], &err)
				    : st_vdisk_clone(st, argv[1], argv[2], &err)))
			rc = fail_with(snap ? "vdisk snapshot" : "vdisk clone", rc, &err);
		else
			printf("%s %s -> %s\n", snap ? "snapshot" : "clone", argv[1], argv[2]);
	}
	st_store_free(st);
	return rc;
}

/* --- disks and nodes ---------------------------------------------------- */

/* A failure or recovery for the daemon, which answers with a partial scan. */
static int record_event(struct st_store *st, const char *kind, uint32_t id, struct st_msg *err)
{
	sqlite3 *db;
	char detail[32];
	int rc = job_db_open(st_config_dir(st_store_config(st)), &db, err);

	if (rc)
		return rc;
	snprintf(detail, sizeof(detail), "%u", id);
	rc = job_db_event_add(db, kind, detail, err);
	job_db_close(db);
	return rc;
}

static int cmd_disk(int argc, char **argv)
{
	struct st_store *st;
	struct st_msg err = { "" };
	int rc;

	if (argc < 1)
		return die(EXIT_USAGE, "disk: expected add, fail, remove or list");
	if (!strcmp(argv[0], "add")) {
		struct opt o[] = { { "--node", 1, 0, 0 }, { "--tier", 1, 0, 0 }, { "--size", 1, 0, 0 } };
		uint64_t size = 0;
		uint32_t node, id;
		char *pos[1];
		int npos, tier;

		rc = parse_opts("disk add", argc - 1, argv + 1, o, NOPTS(o), pos, &npos, 0);
		if (rc)
			return rc;
		if (!OPT(o, "--node")->set || !OPT(o, "--tier")->set || !OPT(o, "--size")->set)
			return die(EXIT_USAGE, "disk add: expected --node N --tier T --size SIZE");
		if (u32_arg("disk add", "--node", OPT(o, "--node")->val, &node) ||
		    size_opt("disk add", OPT(o, "--size"), &size))
			return EXIT_USAGE;
		tier = st_tier_parse(OPT(o, "--tier")->val);
		if (tier < 0 || tier == ST_TIER_CLOUD)
			return die(EXIT_USAGE, "disk add: --tier '%s': expected ssd or hdd", OPT(o, "--tier")->val);
		if ((rc = open_store("disk add", &st)))
			return rc;
		rc = st_config_disk_add(st_store_config(st), node, (enum st_tier)tier, size, &id, &err);
		st_store_free(st);
		if (rc)
			return fail_with("disk add", rc, &err);
		printf("added disk %u on node %u (%s)\n", id, node, st_tier_name((enum st_tier)tier));
		return 0;
	}
	if (!strcmp(argv[0], "fail")) {
		uint32_t id;
		if (argc != 2)
			return die(EXIT_USAGE, "disk fail: expected a disk ID");
		if (u32_arg("disk fail", "ID", argv[1], &id))
			return EXIT_USAGE;
		if ((rc = open_store("disk fail", &st)))
			return rc;
		rc = st_config_disk_set(st_store_config(st), id, 0, 0, &err);
		if (!rc)
			rc = record_event(st, "disk_failed", id, &err);
		st_store_free(st);
		if (rc)
			return fail_with("disk fail", rc, &err);
		printf("disk %u marked failed\n", id);
		return 0;
	}
	if (!strcmp(argv[0], "remove")) {
		uint32_t id;
		if (argc != 2)
			return die(EXIT_USAGE, "disk remove: expected a disk ID");
		if (u32_arg("disk remove", "ID", argv[1], &id))
			return EXIT_USAGE;
		if ((rc = open_store("disk remove", &st)))
			return rc;
		rc = st_config_disk_set_draining(st_store_config(st), id, 1, &err);
		if (!rc)
			rc = record_event(st, "disk_draining", id, &err);
		st_store_free(st);
		if (rc)
			return fail_with("disk remove", rc, &err);
		printf("disk %u is draining: scans copy its replicas elsewhere, then mark it removed\n", id);
		return 0;
	}
	if (!strcmp(argv[0], "list")) {
		struct st_disk *d;
		int n;
		if ((rc = open_store("disk list", &st)))
			return rc;
		rc = st_config_disks(st_store_config(st), &d, &n, &err);
		st_store_free(st);
		if (rc)
			return fail_with("disk list", rc, &err);
		printf("%-4s %-4s %-5s %-10s %-10s %-5s %-7s %s\n", "ID", "NODE", "TIER", "CAPACITY", "USED", "USE%",
		       "STATE", "PATH");
		for (int i = 0; i < n; i++) {
			char c1[32], c2[32];
			printf("%-4u %-4u %-5s %-10s %-10s %4.1f%% %-7s %s\n", d[i].id, d[i].node, st_tier_name(d[i].tier),
			       st_fmt_size(d[i].capacity, c1, sizeof(c1)), st_fmt_size(d[i].used, c2, sizeof(c2)),
			       100.0 * (double)d[i].used / (double)d[i].capacity,
			       d[i].removed ? "removed" : !d[i].ok ? "failed" : d[i].draining ? "drain" : "ok", d[i].path);
		}
		free(d);
		return 0;
	}
	return die(EXIT_USAGE, "disk: unknown subcommand '%s'", argv[0]);
}

/*
 * cloud set URL [--credentials FILE]: check the tier answers (bucket there,
 * credentials accepted; or the directory writable) before recording it.
 * cloud show: the URL (never a secret).
 */
static int cmd_cloud(int argc, char **argv)
{
	struct opt o[] = { { "--credentials", 1, NULL, 0 } };
	char *pos[2];
	int npos, rc;
	struct st_store *st;
	struct st_msg err = { "" };

	if (argc < 1)
		return die(EXIT_USAGE, "cloud: expected set URL [--credentials FILE] or show");
	if (!strcmp(argv[0], "show")) {
		char url[ST_PATH_MAX];
		if (argc != 1)
			return die(EXIT_USAGE, "cloud show: takes no arguments");
		if ((rc = open_store("cloud show", &st)))
			return rc;
		rc = st_config_setting_get(st_store_config(st), "cloud_url", url, sizeof(url), NULL);
		st_store_free(st);
		printf("%s\n", rc ? "no cloud tier configured" : url);
		return 0;
	}
	if (strcmp(argv[0], "set"))
		return die(EXIT_USAGE, "cloud: unknown subcommand '%s' (expected set or show)", argv[0]);
	if ((rc = parse_opts("cloud set", argc - 1, argv + 1, o, NOPTS(o), pos, &npos, 1)))
		return rc;
	if (npos != 1)
		return die(EXIT_USAGE, "cloud set: expected a URL (s3://BUCKET@HOST:PORT or a directory)");
	{
		struct st_cloud *c;
		char cred[ST_PATH_MAX] = "", url[ST_PATH_MAX];
		const char *u = pos[0];
		if (OPT(o, "--credentials")->set && !realpath(OPT(o, "--credentials")->val, cred))
			return die(EXIT_USAGE, "cloud set: --credentials %s: %s", OPT(o, "--credentials")->val, strerror(errno));
		if (strncmp(u, "s3://", 5)) { /* a local directory: absolute, created if missing */
			const char *d = !strncmp(u, "file://", 7) ? u + 7 : u;
			rc = st_mkdir_p(d);
			if (rc || !realpath(d, url))
				return die(EXIT_USAGE, "cloud set: %s: %s", d, st_strerror(rc ? rc : -errno));
			u = url;
		}
		rc = st_cloud_open(u, cred, &c, &err);
		if (!rc)
			rc = st_cloud_check(c, &err);
		st_cloud_free(c);
		if (rc)
			return fail_with("cloud set", rc, &err);
		if ((rc = open_store("cloud set", &st)))
			return rc;
		rc = st_config_setting_set(st_store_config(st), "cloud_url", u, &err);
		if (!rc)
			rc = st_config_setting_set(st_store_config(st), "cloud_credentials", cred[0] ? cred : NULL, &err);
		st_store_free(st);
		if (rc)
			return fail_with("cloud set", rc, &err);
		printf("cloud tier: %s\n", u);
	}
	return 0;
}

static int cmd_node(int argc, char **argv)
{
	struct st_store *st;
	struct st_msg err = { "" };
	int rc;

	if (argc < 1)
		return die(EXIT_USAGE, "node: expected down, up or list");
	if (!strcmp(argv[0], "down") || !strcmp(argv[0], "up")) {
		int up = !strcmp(argv[0], "up");
		uint32_t id;
		if (argc != 2)
			return die(EXIT_USAGE, "node %s: expected a node ID", argv[0]);
		if (u32_arg(up ? "node up" : "node down", "ID", argv[1], &id))
			return EXIT_USAGE;
		if ((rc = open_store("node", &st)))
			return rc;
		rc = st_config_node_set(st_store_config(st), id, up, &err);
		if (!rc)
			rc = record_event(st, up ? "node_up" : "node_down", id, &err);
		st_store_free(st);
		if (rc)
			return fail_with(up ? "node up" : "node down", rc, &err);
		printf("node %u is %s\n", id, up ? "up" : "down");
		return 0;
	}
	if (!strcmp(argv[0], "list")) {
		struct st_node *nd;
		int n;
		if ((rc = open_store("node list", &st)))
			return rc;
		rc = st_config_nodes(st_store_config(st), &nd, &n, &err);
		st_store_free(st);
		if (rc)
			return fail_with("node list", rc, &err);
		printf("%-4s %s\n", "ID", "STATE");
		for (int i = 0; i < n; i++)
			printf("%-4u %s\n", nd[i].id, nd[i].up ? "up" : "down");
		free(nd);
		return 0;
	}
	return die(EXIT_USAGE, "node: unknown subcommand '%s'", argv[0]);
}

/* --- fsck --------------------------------------------------------------- */

static void fsck_say(void *arg, enum st_fsck_level lvl, const char *msg)
{
	int quiet = *(int *)arg;
	if (lvl == ST_FSCK_VIOLATION)
		printf("VIOLATION %s\n", msg);
	else if (!quiet)
		printf("%s %s\n", lvl == ST_FSCK_WARNING ? "WARNING" : "INFO", msg);
}

static int cmd_fsck(int argc, char **argv)
{
	struct opt o[] = { { "--quiet", 0, 0, 0 } };
	struct st_fsck_report r;
	struct st_msg err = { "" };
	struct st_store *st;
	char *pos[1];
	char b[32];
	int npos, quiet, rc = parse_opts("fsck", argc, argv, o, NOPTS(o), pos, &npos, 0);

	if (rc)
		return rc;
	quiet = OPT(o, "--quiet")->set;
	if ((rc = open_store("fsck", &st)))
		return rc;
	rc = st_fsck_run(st, fsck_say, &quiet, &r, &err);
	st_store_free(st);
	if (rc)
		return fail_with("fsck", rc, &err) ? EXIT_USAGE : EXIT_USAGE;
	printf("fsck: %llu block rows, %llu regions, %llu extents in %llu egroups, %s verified\n",
	       (unsigned long long)r.block_rows, (unsigned long long)r.regions, (unsigned long long)r.extents,
	       (unsigned long long)r.egroups, st_fmt_size(r.bytes_verified, b, sizeof(b)));
	printf("fsck: %llu violations, %llu warnings (%llu bad replicas); garbage for the curator: %llu "
	       "unreferenced extents, %llu refcounts above references, %llu orphan extent-ID rows, %llu block rows "
	       "of deleted vdisks\n",
	       (unsigned long long)r.violations, (unsigned long long)r.warnings, (unsigned long long)r.bad_replicas,
	       (unsigned long long)r.unreferenced, (unsigned long long)r.refcount_high,
	       (unsigned long long)r.orphan_extent_ids, (unsigned long long)r.deleted_vdisk_rows);
	return r.violations ? EXIT_PROBLEM : 0;
}

/* --- scans, tasks, reports (MPI) ----------------------------------------- */

static int mpi_open(const char *cmd, struct mr_ctx **mr, struct st_store **st)
{
	int rc = mr_ctx_new(NULL, NULL, NULL, mr);

	if (rc)
		return die(EXIT_USAGE, "%s: cannot start MPI: %s", cmd, mr_strerror(rc));
	verbose_errors = mr_rank(*mr) == 0;
	rc = open_store(cmd, st);
	rc = mr_agree(*mr, rc ? -1 : 0);
	if (rc) {
		mr_ctx_free(*mr);
		return EXIT_USAGE;
	}
	return 0;
}

static double scan_started;
static double prev_phase[4]; /* the last finished scan of this kind, per phase, for the ETA */
static int nprev;

static int prev_phase_secs(void *arg, const struct job_scan_phase *p)
{
	(void)arg;
	if (nprev >= 4)
		return 1;
	prev_phase[nprev++] = p->secs;
	return 0;
}

static void load_prev_phases(const char *dir, int full)
{
	sqlite3 *db;
	int64_t id;

	nprev = 0;
	if (job_db_open(dir, &db, NULL))
		return;
	if (!job_db_scan_last_done(db, full ? "full" : "partial", &id, NULL))
		job_db_scan_phases(db, id, prev_phase_secs, NULL, NULL);
	job_db_close(db);
}

static void scan_progress(void *arg, int64_t scan, const char *phase, int index, int total)
{
	double eta = nprev == total ? 0 : -1;

	(void)arg;
	(void)scan;
	if (index == 1)
		scan_started = (double)st_now();
	for (int k = index - 1; eta >= 0 && k < nprev; k++)
		eta += prev_phase[k];
	cu_progress(phase, index, total, scan_started, eta, 0);
}

static int cmd_scan(int argc, char **argv)
{
	struct opt o[] = { { "--dry-run", 0, 0, 0 },     { "--mem-budget", 1, 0, 0 }, { "--sweep-grace", 1, 0, 0 },
			   { "--compact-pct", 1, 0, 0 }, { "--request", 0, 0, 0 },     { "--node-grace", 1, 0, 0 },
			   { "--scrub-period", 1, 0, 0 } };
	struct job_scan_opts so = { .sweep_grace = -1, .node_grace = -1, .scrub_period = -1 };
	struct job_scan_result res;
	struct st_msg err = { "" };
	struct mr_ctx *mr;
	struct st_store *st;
	char *pos[1];
	int npos, rc = parse_opts("scan", argc, argv, o, NOPTS(o), pos, &npos, 1);

	if (rc)
		return rc;
	if (npos != 1 || (strcmp(pos[0], "full") && strcmp(pos[0], "partial")))
		return die(EXIT_USAGE, "scan: expected full or partial");
	if (OPT(o, "--request")->set) {
		sqlite3 *db;
		if ((rc = open_store("scan --request", &st)))
			return rc;
		rc = job_db_open(st_config_dir(st_store_config(st)), &db, &err);
		if (!rc)
			rc = job_db_request_add(db, pos[0], &err);
		job_db_close(db);
		st_store_free(st);
		if (rc)
			return fail_with("scan --request", rc, &err);
		printf("requested a %s scan; the running daemon picks it up within seconds (curator status)\n", pos[0]);
		return 0;
	}
	so.full = !strcmp(pos[0], "full");
	so.dry_run = OPT(o, "--dry-run")->set;
	if (size_opt("scan", OPT(o, "--mem-budget"), &so.mem_budget))
		return EXIT_USAGE;
	if (OPT(o, "--mem-budget")->set && so.mem_budget < (16u << 20))
		return die(EXIT_USAGE, "scan: --mem-budget must be at least 16M");
	if (OPT(o, "--sweep-grace")->set && st_parse_duration(OPT(o, "--sweep-grace")->val, &so.sweep_grace))
		return die(EXIT_USAGE, "scan: --sweep-grace '%s': not a duration", OPT(o, "--sweep-grace")->val);
	if (OPT(o, "--node-grace")->set && st_parse_duration(OPT(o, "--node-grace")->val, &so.node_grace))
		return die(EXIT_USAGE, "scan: --node-grace '%s': not a duration", OPT(o, "--node-grace")->val);
	if (OPT(o, "--scrub-period")->set && st_parse_duration(OPT(o, "--scrub-period")->val, &so.scrub_period))
		return die(EXIT_USAGE, "scan: --scrub-period '%s': not a duration", OPT(o, "--scrub-period")->val);
	if (OPT(o, "--compact-pct")->set) {
		uint32_t v;
		if (u32_arg("scan", "--compact-pct", OPT(o, "--compact-pct")->val, &v) || v > 100)
			return die(EXIT_USAGE, "scan: --compact-pct: 1..100");
		so.compact_pct = (int)v;
	}
	if ((rc = mpi_open("scan", &mr, &st)))
		return rc;
	cu_log_init(mr_rank(mr) != 0);
	if (mr_rank(mr) == 0)
		load_prev_phases(st_config_dir(st_store_config(st)), so.full);
	so.progress = scan_progress;
	so.progress_arg = &so;
	rc = job_scan_run(mr, st, &so, &res, &err);
	if (mr_rank(mr) == 0 && !rc)
		cu_progress(so.full ? "full scan" : "partial scan", so.full ? 3 : 1, so.full ? 3 : 1, scan_started, 0, 1);
	if (rc) {
		die(EXIT_PROBLEM, "scan %s: %s", pos[0], err.text[0] ? err.text : mr_ctx_errmsg(mr));
	} else if (mr_rank(mr) == 0) {
		struct st_msg e2 = { "" };
		cu_report_write(st_store_config(st), res.scan_id, CU_TEXT, stdout, &e2);
	}
	st_store_free(st);
	mr_ctx_free(mr);
	return rc ? EXIT_PROBLEM : 0;
}

static int cmd_tasks(int argc, char **argv)
{
	struct st_msg err = { "" };
	int rc, kind = -1;

	if (argc < 1)
		return die(EXIT_USAGE, "tasks: expected list or run");
	if (!strcmp(argv[0], "list")) {
		struct opt o[] = { { "--kind", 1, 0, 0 }, { "--state", 1, 0, 0 } };
		struct st_store *st;
		char *pos[1];
		int npos;
		rc = parse_opts("tasks list", argc - 1, argv + 1, o, NOPTS(o), pos, &npos, 0);
		if (rc)
			return rc;
		if (OPT(o, "--kind")->set && (kind = job_task_kind_parse(OPT(o, "--kind")->val)) < 0)
			return die(EXIT_USAGE, "tasks list: --kind '%s': unknown task kind", OPT(o, "--kind")->val);
		if ((rc = open_store("tasks list", &st)))
			return rc;
		rc = cu_tasks_list(st_config_dir(st_store_config(st)), kind,
				   OPT(o, "--state")->set ? OPT(o, "--state")->val : NULL, stdout, &err);
		st_store_free(st);
		return rc ? fail_with("tasks list", rc, &err) : 0;
	}
	if (!strcmp(argv[0], "run")) {
		struct opt o[] = { { "--kind", 1, 0, 0 }, { "--max", 1, 0, 0 }, { "--rate", 1, 0, 0 },
				   { "--sweep-grace", 1, 0, 0 } };
		struct job_run_opts ro = { .kind = -1, .sweep_grace = -1 };
		struct job_run_result res;
		struct mr_ctx *mr;
		struct st_store *st;
		char *pos[1];
		int npos;
		rc = parse_opts("tasks run", argc - 1, argv + 1, o, NOPTS(o), pos, &npos, 0);
		if (rc)
			return rc;
		if (OPT(o, "--kind")->set && (ro.kind = job_task_kind_parse(OPT(o, "--kind")->val)) < 0)
			return die(EXIT_USAGE, "tasks run: --kind '%s': unknown task kind", OPT(o, "--kind")->val);
		if (OPT(o, "--max")->set) {
			uint32_t v;
			if (u32_arg("tasks run", "--max", OPT(o, "--max")->val, &v))
				return EXIT_USAGE;
			ro.max = v;
		}
		if (OPT(o, "--rate")->set) {
			char *end;
			ro.rate_mbps = strtod(OPT(o, "--rate")->val, &end);
			if (*end || ro.rate_mbps <= 0)
				return die(EXIT_USAGE, "tasks run: --rate '%s': MB/s, a positive number", OPT(o, "--rate")->val);
		}
		if (OPT(o, "--sweep-grace")->set && st_parse_duration(OPT(o, "--sweep-grace")->val, &ro.sweep_grace))
			return die(EXIT_USAGE, "tasks run: --sweep-grace: not a duration");
		if ((rc = mpi_open("tasks run", &mr, &st)))
			return rc;
		rc = job_tasks_run(mr, st, &ro, &res, &err);
		if (rc) {
			die(EXIT_PROBLEM, "tasks run: %s", err.text[0] ? err.text : mr_ctx_errmsg(mr));
		} else if (mr_rank(mr) == 0) {
			uint64_t d = 0, s = 0, f = 0;
			char b[32];
			for (int k = 0; k < JT_NKINDS; k++) {
				if (res.done[k] + res.stale[k] + res.failed[k])
					printf("%-18s %llu done, %llu stale, %llu failed\n", job_task_kind_name(k),
					       (unsigned long long)res.done[k], (unsigned long long)res.stale[k],
					       (unsigned long long)res.failed[k]);
				d += res.done[k];
				s += res.stale[k];
				f += res.failed[k];
			}
			printf("tasks: %llu done, %llu stale, %llu failed; %s reclaimed\n", (unsigned long long)d,
			       (unsigned long long)s, (unsigned long long)f,
			       st_fmt_size(res.bytes_reclaimed > 0 ? (uint64_t)res.bytes_reclaimed : 0, b, sizeof(b)));
		}
		st_store_free(st);
		mr_ctx_free(mr);
		return rc ? EXIT_PROBLEM : 0;
	}
	return die(EXIT_USAGE, "tasks: unknown subcommand '%s'", argv[0]);
}

static int cmd_report(int argc, char **argv)
{
	struct opt o[] = { { "--scan", 1, 0, 0 }, { "--last", 0, 0, 0 }, { "--format", 1, 0, 0 }, { "--output", 1, 0, 0 } };
	struct st_msg err = { "" };
	struct st_store *st;
	enum cu_format fmt = CU_TEXT;
	int64_t scan = 0;
	FILE *out = stdout;
	char *pos[1];
	int npos, rc = parse_opts("report", argc, argv, o, NOPTS(o), pos, &npos, 0);

	if (rc)
		return rc;
	if (OPT(o, "--scan")->set) {
		uint32_t v;
		if (u32_arg("report", "--scan", OPT(o, "--scan")->val, &v))
			return EXIT_USAGE;
		scan = v;
	}
	if (OPT(o, "--format")->set) {
		const char *f = OPT(o, "--format")->val;
		if (!strcmp(f, "json"))
			fmt = CU_JSON;
		else if (!strcmp(f, "html"))
			fmt = CU_HTML;
		else if (!strcmp(f, "prom"))
			fmt = CU_PROM;
		else if (strcmp(f, "text"))
			return die(EXIT_USAGE, "report: --format '%s': text, json, html or prom", f);
	}
	if ((rc = open_store("report", &st)))
		return rc;
	if (OPT(o, "--output")->set) {
		out = fopen(OPT(o, "--output")->val, "w");
		if (!out) {
			st_store_free(st);
			return die(EXIT_USAGE, "report: %s: %s", OPT(o, "--output")->val, strerror(errno));
		}
	}
	rc = cu_report_write(st_store_config(st), scan, fmt, out, &err);
	if (out != stdout)
		fclose(out);
	st_store_free(st);
	return rc ? fail_with("report", rc, &err) : 0;
}

static int parse_throttle(const char *v, struct job_run_opts *ro)
{
	char kind[64];
	double mbps = 0;
	int ranks = 0, k;
	const char *eq = strchr(v, '=');

	if (!eq || (size_t)(eq - v) >= sizeof(kind))
		return -1;
	memcpy(kind, v, (size_t)(eq - v));
	kind[eq - v] = 0;
	k = job_task_kind_parse(kind);
	if (k < 0 || sscanf(eq + 1, "%lf:%d", &mbps, &ranks) < 1 || mbps < 0 || ranks < 0)
		return -1;
	ro->kind_mbps[k] = mbps;
	ro->kind_ranks[k] = ranks;
	return 0;
}

static int cmd_daemon(int argc, char **argv)
{
	struct opt o[] = { { "--full-every", 1, 0, 0 }, { "--partial-every", 1, 0, 0 }, { "--mem-budget", 1, 0, 0 },
			   { "--rate", 1, 0, 0 },       { "--throttle", 1, 0, 0 },      { "--tick", 1, 0, 0 } };
	struct cu_daemon_opts d = { .tasks = { .kind = -1, .sweep_grace = -1 } };
	struct st_msg err = { "" };
	struct mr_ctx *mr;
	struct st_store *st;
	char *pos[1];
	int npos, rc;

	/* --throttle may repeat: take them out before the common parser */
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--throttle") || i + 1 >= argc)
			continue;
		if (parse_throttle(argv[i + 1], &d.tasks))
			return die(EXIT_USAGE, "daemon: --throttle '%s': KIND=MBPS[:RANKS], e.g. egroup_compact=50:1", argv[i + 1]);
		memmove(argv + i, argv + i + 2, (size_t)(argc - i - 2) * sizeof(*argv));
		argc -= 2;
		i--;
	}
	rc = parse_opts("daemon", argc, argv, o, NOPTS(o), pos, &npos, 0);
	if (rc)
		return rc;
	if (OPT(o, "--full-every")->set && (st_parse_duration(OPT(o, "--full-every")->val, &d.full_every) || !d.full_every))
		return die(EXIT_USAGE, "daemon: --full-every '%s': a positive duration", OPT(o, "--full-every")->val);
	if (OPT(o, "--partial-every")->set &&
	    (st_parse_duration(OPT(o, "--partial-every")->val, &d.partial_every) || !d.partial_every))
		return die(EXIT_USAGE, "daemon: --partial-every '%s': a positive duration", OPT(o, "--partial-every")->val);
	if (size_opt("daemon", OPT(o, "--mem-budget"), &d.mem_budget))
		return EXIT_USAGE;
	if (OPT(o, "--rate")->set) {
		char *end;
		d.tasks.rate_mbps = strtod(OPT(o, "--rate")->val, &end);
		if (*end || d.tasks.rate_mbps <= 0)
			return die(EXIT_USAGE, "daemon: --rate: MB/s, a positive number");
	}
	if (OPT(o, "--tick")->set) {
		char *end;
		d.tick = strtod(OPT(o, "--tick")->val, &end);
		if (*end || d.tick <= 0 || d.tick > 60)
			return die(EXIT_USAGE, "daemon: --tick: seconds, 0 < T <= 60");
	}
	if ((rc = mpi_open("daemon", &mr, &st)))
		return rc;
	cu_log_init(mr_rank(mr) != 0);
	rc = cu_daemon_run(mr, st, &d, &err);
	if (rc)
		die(EXIT_USAGE, "daemon: %s", err.text);
	st_store_free(st);
	mr_ctx_free(mr);
	return rc ? EXIT_USAGE : 0;
}

static int cmd_explain(int argc, char **argv)
{
	struct st_msg err = { "" };
	struct st_store *st;
	int rc;

	if (argc != 2)
		return die(EXIT_USAGE, "explain: expected vdisk|egroup|extent ID");
	if ((rc = open_store("explain", &st)))
		return rc;
	rc = cu_explain(st, argv[0], argv[1], stdout, &err);
	st_store_free(st);
	return rc ? fail_with("explain", rc, &err) : 0;
}

static int cmd_status(int argc, char **argv)
{
	struct st_msg err = { "" };
	struct st_store *st;
	int rc, warnings = 0;

	(void)argv;
	if (argc)
		return die(EXIT_USAGE, "status: takes no arguments");
	if ((rc = open_store("status", &st)))
		return rc;
	rc = cu_status_write(st, stdout, &warnings, &err);
	st_store_free(st);
	if (rc)
		return fail_with("status", rc, &err);
	return warnings ? EXIT_PROBLEM : 0;
}

/* --- dispatch ----------------------------------------------------------- */

int cu_cli_main(int argc, char **argv)
{
	int i = 1;

	cluster_dir = getenv("CURATOR_DIR");
	if (!cluster_dir || !*cluster_dir)
		cluster_dir = "./cluster";
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "-C") && i + 1 < argc) {
			cluster_dir = argv[i + 1];
			i += 2;
		} else if (!strncmp(argv[i], "-C", 2) && argv[i][2]) {
			cluster_dir = argv[i] + 2;
			i++;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_text, stdout);
			return 0;
		} else {
			return die(EXIT_USAGE, "unknown option %s (see curator help)", argv[i]);
		}
	}
	if (i >= argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	argv += i;
	argc -= i;
	if (!strcmp(argv[0], "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(argv[0], "init"))
		return cmd_init(argc - 1, argv + 1);
	if (!strcmp(argv[0], "container"))
		return cmd_container(argc - 1, argv + 1);
	if (!strcmp(argv[0], "vdisk"))
		return cmd_vdisk(argc - 1, argv + 1);
	if (!strcmp(argv[0], "disk"))
		return cmd_disk(argc - 1, argv + 1);
	if (!strcmp(argv[0], "node"))
		return cmd_node(argc - 1, argv + 1);
	if (!strcmp(argv[0], "cloud"))
		return cmd_cloud(argc - 1, argv + 1);
	if (!strcmp(argv[0], "fsck"))
		return cmd_fsck(argc - 1, argv + 1);
	if (!strcmp(argv[0], "scan"))
		return cmd_scan(argc - 1, argv + 1);
	if (!strcmp(argv[0], "tasks"))
		return cmd_tasks(argc - 1, argv + 1);
	if (!strcmp(argv[0], "report"))
		return cmd_report(argc - 1, argv + 1);
	if (!strcmp(argv[0], "daemon"))
		return cmd_daemon(argc - 1, argv + 1);
	if (!strcmp(argv[0], "status"))
		return cmd_status(argc - 1, argv + 1);
	if (!strcmp(argv[0], "explain"))
		return cmd_explain(argc - 1, argv + 1);
	return die(EXIT_USAGE, "unknown command '%s' (see curator help)", argv[0]);
}
