/*
 * st_strip: the erasure-coded strip lifecycle, for the curator's EC tasks
 * in jobs/ (st_ec.h holds the Reed-Solomon code and the parity file
 * format; st_meta.h the strip row). A strip is k data egroups, one copy
 * each on k distinct nodes, and m parity egroups on m further nodes; any k
 * of the k + m members rebuild the others.
 *
 * Order of calls: st_store_ec_convert (a scan's EC candidates) makes a
 * strip; st_store_ec_verify scrubs a member and st_store_ec_rebuild
 * repairs one; st_store_ec_dissolve undoes a strip GC left mostly dead;
 * st_store_ec_rollback undoes one a crash left half made. Each follows the
 * safety rule (DESIGN.md §6): data first (files written, fdatasync'd and
 * read back), then the metadata by compare-and-set, old copies last; a
 * lost CAS rolls back what this call did. Reads of an EC member's extents
 * decode from the strip by themselves (st_store.h); no one needs to call
 * st_store_ec_rebuild_image for that.
 *
 * Errors as in st_store.h. Thread rules: the handle's (one thread).
 */
#ifndef ST_STRIP_H
#define ST_STRIP_H

#include <stdint.h>

#include "storage/st_store.h"

/*
 * Erasure coding (st_ec.h): turn the k egroups ids[] (at versions[]) into a
 * strip with m parity members. One verified copy of each data egroup stays,
 * on k distinct nodes; the parity goes to m further nodes. Data first: the
 * parity files are written, fdatasync'd and read back; then the metadata
 * (parity rows, the strip row, each data egroup by CAS: EC flag, strip,
 * one replica); the other copies are deleted last. A lost CAS rolls the
 * strip back. 0, ST_EINVAL (k, m, or egroups of different containers),
 * ST_ESTALE, ST_EPOLICY (not enough distinct nodes), ST_ENOSPACE, ST_EIO,
 * -errno.
 */
int st_store_ec_convert(struct st_store *st, int k, int m, const uint64_t *ids, const uint64_t *versions,
			struct st_msg *err);

/*
 * Rebuild the image of EC member g (data or parity) from the rest of its
 * strip into buf (strip length bytes), the length into *len. 0,
 * ST_ENOTFOUND (its strip row), ST_ECORRUPT (g is not where its strip
 * says), ST_EIO (too few members left).
 */
int st_store_ec_rebuild_image(struct st_store *st, const struct st_egroup_rec *g, uint8_t *buf, uint64_t *len,
			      struct st_msg *err);

/*
 * Rebuild strip member g (data or parity) that lost its copy: decode it
 * from the rest of the strip, write it on a node no other member uses,
 * fdatasync, then repoint its row by CAS (expected version g->version); the
 * old copy is deleted last if reachable. 0, ST_ESTALE, ST_EIO, ST_EPOLICY,
 * ST_ENOSPACE, -errno.
 */
int st_store_ec_rebuild(struct st_store *st, const struct st_egroup_rec *g, struct st_msg *err);

/*
 * Scrub strip member g (data or parity): read its one copy and verify it
 * (every extent's checksum, or the parity header and CRC). 0 when it
 * verifies, ST_ECORRUPT or ST_EIO when not, ST_ENOTFOUND when its strip is.
 * *bytes gets the bytes read. The caller repairs with st_store_ec_rebuild.
 */
int st_store_ec_verify(struct st_store *st, const struct st_egroup_rec *g, int64_t *bytes, struct st_msg *err);

/*
 * Dissolve a strip whose members are mostly dead (GC): every data member
 * that still holds extents first gets RF-1 more copies (verified reads,
 * fdatasync'd, on nodes it does not use), then becomes a plain egroup by
 * CAS; members without extents go; the parity rows and files and the strip
 * row go last. Normal GC then compacts the survivors. A crash part way
 * leaves an incomplete strip, which the scans roll back. *bytes: bytes
 * freed. 0, ST_ESTALE (a member changed), ST_EPOLICY, ST_EIO.
 */
int st_store_ec_dissolve(struct st_store *st, uint64_t strip, int64_t *bytes, struct st_msg *err);

/*
 * Undo a strip a crashed conversion (or dissolve) left half made: as
 * st_store_ec_dissolve, but members that never joined the strip stay as
 * they are, parity_ids[0..nparity) name the parity when the strip row is
 * gone, and a complete strip is refused (ST_ESTALE). No member is left with
 * fewer copies than its RF before the parity goes. *bytes: bytes freed.
 */
int st_store_ec_rollback(struct st_store *st, uint64_t strip, const uint64_t *parity_ids, int nparity,
			 int64_t *bytes, struct st_msg *err);

#endif
