/*
 * st_replica: an egroup's copies as whole files. The cache of open replica
 * fds (struct st_fdcache); whole images read and verified: a data
 * egroup's file, a parity member's payload, a cloud egroup's object, an EC
 * member decoded from the rest of its strip; the paths of the usable
 * copies and an image reader that needs no handle (for reader threads);
 * the read-ahead hint.
 *
 * DESIGN: second from the bottom of the st_store family: it calls
 * st_topo.c and the format modules (st_egroup, st_ec, st_cloud, reads of
 * st_meta), nothing above. It is the last step of a top-down read (block
 * map -> extent ID map -> egroup map -> the file), and the source of every
 * "data first" step of the curator: re-replication, repair, tiering and EC
 * conversion copy only images that verified here, each extent against its
 * CRC32C in the egroup map (a file is never trusted without its
 * checksums). Nothing here writes a file or a row, so it can break no
 * ordering. The decode of an EC member's image sits here, below the read
 * path, so that st_read.c falls back to it without calling the strip
 * lifecycle (st_strip.c) above it.
 */
#include "storage/st_store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/st_cloud.h"
#include "storage/st_ec.h"
#include "storage/st_egroup.h"

_Static_assert(ST_FD_SLOTS % ST_FD_WAYS == 0 && ((ST_FD_SLOTS / ST_FD_WAYS) & (ST_FD_SLOTS / ST_FD_WAYS - 1)) == 0,
	       "the default fd cache is a power of 2 of sets");

void st_fdcache_init(struct st_fdcache *c)
{
	c->slots = c->inl;
	c->nsets = ST_FD_SLOTS / ST_FD_WAYS;
	c->tick = 0;
	for (int i = 0; i < ST_FD_SLOTS; i++)
		c->slots[i] = (struct st_fd_slot){ .fd = -1 };
}

void st_fdcache_free(struct st_fdcache *c)
{
	st_fdcache_release(c);
	if (c->slots != c->inl)
		free(c->slots);
	st_fdcache_init(c);
}

void st_fdcache_sweep(struct st_fdcache *c)
{
	for (size_t i = 0; i < (size_t)c->nsets * ST_FD_WAYS; i++) {
		struct stat sb;
		struct st_fd_slot *s = &c->slots[i];
		if (s->fd >= 0 && fstat(s->fd, &sb) == 0 && sb.st_nlink == 0) {
			close(s->fd);
			s->fd = -1;
		}
	}
}

void st_fdcache_release(struct st_fdcache *c)
{
	for (size_t i = 0; i < (size_t)c->nsets * ST_FD_WAYS; i++) {
		if (c->slots[i].fd >= 0)
			close(c->slots[i].fd);
		c->slots[i].fd = -1;
	}
}

int st_fdcache_resize(struct st_fdcache *c, size_t n)
{
	uint32_t sets = ST_FD_SLOTS / ST_FD_WAYS;
	struct st_fd_slot *s;

	while ((size_t)sets * ST_FD_WAYS < n && sets < (1u << 20))
		sets *= 2;
	if (sets == c->nsets)
		return 0;
	s = sets == ST_FD_SLOTS / ST_FD_WAYS ? NULL : calloc((size_t)sets * ST_FD_WAYS, sizeof(*s));
	if (!s && sets != ST_FD_SLOTS / ST_FD_WAYS)
		return -ENOMEM;
	st_fdcache_free(c); /* the inline slots, empty */
	if (s) {
		c->slots = s;
		c->nsets = sets;
		for (size_t i = 0; i < (size_t)sets * ST_FD_WAYS; i++)
			s[i].fd = -1;
	}
	return 0;
}

int st_fdcache_open(struct st_fdcache *c, struct st_fd_slot *victim, uint64_t egroup, const struct st_disk *d)
{
	char path[ST_PATH_MAX + 64];

	if (st_egroup_path(d->path, egroup, path, sizeof(path)))
		return -ENAMETOOLONG;
	if (victim->fd >= 0)
		close(victim->fd);
	victim->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (victim->fd < 0)
		return -errno;
	/* egroups are read mostly whole and in order: a larger readahead window */
	posix_fadvise(victim->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	victim->egroup = egroup;
	victim->disk = d->id;
	victim->tick = c->tick;
	return victim->fd;
}

void st_fdcache_forget(struct st_fdcache *c, uint64_t egroup, uint32_t disk)
{
	struct st_fd_slot *set = st_fdcache_set(c, egroup, disk);

	for (int i = 0; i < ST_FD_WAYS; i++) {
		struct st_fd_slot *s = &set[i];
		if (s->fd >= 0 && s->egroup == egroup && s->disk == disk) {
			close(s->fd);
			s->fd = -1;
		}
	}
}

/* Check every extent of g inside its image buf ([0, used) of the file). */
int st_image_verify(const struct st_egroup_rec *g, const uint8_t *buf)
{
	struct st_egroup_hdr h;

	(void)h;
	for (int k = 0; k < g->nextents; k++) {
		const struct st_extent_rec *e = &g->extents[k];
		if ((uint64_t)e->offset + ST_EXTENT_HDR + e->stored_len > g->used ||
		    st_egroup_check_record(buf + e->offset, e))
			return ST_ECORRUPT;
	}
	return 0;
}

/* The verified image of a data egroup from replica r into buf (len >= used, zero padded). */
int st_image_load(struct st_store *st, const struct st_egroup_rec *g, int r, uint8_t *buf, uint64_t len)
{
	const struct st_disk *d = st_topo_disk(&st->topo, g->replicas[r].disk);
	int fd;
	long long n;

	if (!st_topo_usable(&st->topo, d) || g->replicas[r].state != ST_REPLICA_OK || g->used > len)
		return ST_EIO;
	fd = st_fdcache_get(&st->fdc, g->id, d);
	if (fd < 0)
		return fd;
	memset(buf + g->used, 0, len - g->used); /* (EC fragments are zero-padded past the image) */
	n = st_pread_full(fd, buf, g->used, 0);
	if (n != (long long)g->used || st_image_verify(g, buf)) {
		st_fdcache_forget(&st->fdc, g->id, d->id);
		return ST_ECORRUPT;
	}
	return 0;
}

/* The verified payload of a parity egroup into buf (len bytes). */
int st_image_load_parity(struct st_store *st, const struct st_egroup_rec *p, uint8_t *buf, uint64_t len)
{
	int fd;
	const struct st_disk *d;

	if (p->nreplicas < 1)
		return ST_EIO;
	d = st_topo_disk(&st->topo, p->replicas[0].disk);
	if (!st_topo_usable(&st->topo, d))
		return ST_EIO;
	fd = st_fdcache_get(&st->fdc, p->id, d);
	if (fd < 0)
		return fd;
	if (st_ec_parity_read(fd, p->strip, len, buf)) {
		st_fdcache_forget(&st->fdc, p->id, d->id);
		return ST_ECORRUPT;
	}
	return 0;
}

/* The whole object of cloud egroup g (g->used bytes) into buf, every extent verified. */
int st_image_cloud(struct st_store *st, const struct st_egroup_rec *g, uint8_t *buf, struct st_msg *err)
{
	struct st_cloud *c;
	char key[64];
	int rc = st_store_cloud(st, &c, err);

	st_cloud_egroup_key(g->id, key, sizeof(key));
	if (!rc)
		rc = st_cloud_get(c, key, 0, g->used, buf, err);
	if (!rc && st_image_verify(g, buf))
		rc = st_fail(err, ST_ECORRUPT, "cloud egroup %llx: the object fails its checksums", (unsigned long long)g->id);
	return rc;
}

int st_store_ec_rebuild_image(struct st_store *st, const struct st_egroup_rec *g, uint8_t *buf, uint64_t *lenp,
			      struct st_msg *err)
{
	struct st_strip sp;
	uint8_t *frag[ST_EC_MAX] = { 0 }, *out[ST_EC_MAX] = { 0 };
	int rc = st_meta_strip_get(st->meta, g->strip, &sp, err), present = 0;

	if (rc)
		return rc;
	if ((int)g->strip_pos >= sp.k + sp.m || sp.members[g->strip_pos] != g->id)
		return st_fail(err, ST_ECORRUPT, "egroup %llx: not where its strip says", (unsigned long long)g->id);
	st_topo_refresh(st, NULL);
	for (int i = 0; i < sp.k + sp.m && present < sp.k; i++) {
		struct st_egroup_rec mg;
		if (i == (int)g->strip_pos)
			continue;
		st_egroup_rec_init(&mg);
		if (st_meta_egroup_get(st->meta, sp.members[i], &mg, NULL) == 0) {
			uint8_t *b = malloc(sp.len);
			int ok = -1;
			if (b && i < sp.k) {
				for (int r = 0; r < mg.nreplicas && ok; r++)
					ok = st_image_load(st, &mg, r, b, sp.len);
			} else if (b) {
				ok = st_image_load_parity(st, &mg, b, sp.len);
			}
			if (!ok) {
				frag[i] = b;
				present++;
			} else {
				free(b);
			}
		}
		st_egroup_rec_release(&mg);
	}
	out[g->strip_pos] = buf;
	rc = st_ec_decode(sp.k, sp.m, sp.len, frag, out);
	for (int i = 0; i < sp.k + sp.m; i++)
		free(frag[i]);
	if (rc)
		return st_fail(err, ST_EIO, "egroup %llx: its strip has too few members left to decode", (unsigned long long)g->id);
	*lenp = sp.len;
	return 0;
}

int st_store_egroup_paths(struct st_store *st, const struct st_egroup_rec *g, char (*paths)[ST_EGROUP_PATH_MAX], int max)
{
	int n = 0;

	for (int r = 0; r < g->nreplicas && n < max; r++) {
		const struct st_disk *d = st_topo_disk(&st->topo, g->replicas[r].disk);
		if (st_topo_usable(&st->topo, d) && g->replicas[r].state == ST_REPLICA_OK &&
		    !st_egroup_path(d->path, g->id, paths[n], sizeof(paths[n])))
			n++;
	}
	return n;
}

int st_egroup_image_read(const char *path, const struct st_egroup_rec *g, uint8_t *buf, int direct)
{
	size_t len = direct ? (g->used + 4095) & ~(size_t)4095 : g->used;
	int fd = direct ? open(path, O_RDONLY | O_DIRECT | O_CLOEXEC) : -1;
	long long n;

	if (fd < 0 && (!direct || errno == EINVAL)) { /* (a file system without O_DIRECT) */
		fd = open(path, O_RDONLY | O_CLOEXEC);
		len = g->used;
	}
	if (fd < 0)
		return -errno;
	if (len == g->used) {
		n = st_pread_full(fd, buf, len, 0);
	} else { /* direct: whole blocks; a short read is the end of the file */
		for (n = 0; (size_t)n < len;) {
			ssize_t k = pread(fd, buf + n, len - (size_t)n, (off_t)n);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0 && errno == EINVAL && n == 0) { /* refused at read time: buffered */
				close(fd);
				return st_egroup_image_read(path, g, buf, 0);
			}
			if (k < 0) {
				n = -errno;
				break;
			}
			n += k;
			if (k == 0 || (n & 4095))
				break;
		}
	}
	close(fd);
	if (n < 0)
		return (int)n;
	return n < (long long)g->used || st_image_verify(g, buf) ? ST_ECORRUPT : 0;
}

void st_store_prefetch(struct st_store *st, const struct st_egroup_rec *g, int all)
{
	st_topo_refresh(st, NULL);
	for (int r = 0; r < g->nreplicas; r++) {
		const struct st_disk *d = st_topo_disk(&st->topo, g->replicas[r].disk);
		int fd;
		if (!st_topo_usable(&st->topo, d) || g->replicas[r].state != ST_REPLICA_OK)
			continue;
		fd = st_fdcache_get(&st->fdc, g->id, d);
		if (fd < 0)
			continue;
		posix_fadvise(fd, 0, (off_t)g->used, POSIX_FADV_WILLNEED);
		if (!all)
			break;
	}
}
