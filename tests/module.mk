TESTS_SRC += tests/mapreduce/test_mr.c tests/jobs/test_job_scan.c tests/jobs/test_job_protect.c
TESTS_SRC += tests/storage/test_st_util.c tests/storage/test_st_meta.c tests/storage/test_st_egroup.c tests/storage/test_st_config.c tests/storage/test_st_store.c tests/storage/test_st_fsck.c tests/storage/test_st_ec.c tests/storage/test_st_codec.c tests/curator/test_cli.c tests/curator/test_service.c
