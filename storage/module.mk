STORAGE_SRC += storage/st_util.c storage/st_sql.c storage/st_hmap.c storage/st_config.c storage/st_meta.c storage/st_egroup.c storage/st_store.c storage/st_fsck.c storage/st_ec.c storage/st_codec.c
