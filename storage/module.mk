STORAGE_SRC += storage/st_util.c storage/st_sql.c storage/st_hmap.c storage/st_config.c storage/st_meta.c storage/st_egroup.c storage/st_store.c storage/st_csum.c storage/st_mcache.c storage/st_fsck.c storage/st_ec.c storage/st_codec.c storage/st_chunk.c storage/st_cloud.c
STORAGE_SRC += storage/st_config_owner.c
STORAGE_SRC += storage/st_config_tables.c storage/st_config_seq.c storage/st_lease.c storage/st_meta_codec.c storage/st_meta_scan.c storage/st_meta_index.c storage/st_cloud_local.c storage/st_cloud_s3.c
# the st_store family (storage/st_store_int.h lists it, lowest first)
STORAGE_SRC += storage/st_topo.c storage/st_replica.c storage/st_place.c storage/st_read.c storage/st_vdisk.c storage/st_write.c storage/st_retire.c storage/st_rewrite.c storage/st_strip.c
# the S3 backend's parsers of untrusted bytes
STORAGE_SRC += storage/st_cloud_s3_parse.c
