TESTS_SRC += tests/mapreduce/test_mr.c tests/jobs/test_job_db.c tests/jobs/test_job_scan.c tests/jobs/test_job_protect.c tests/jobs/test_job_efficiency.c tests/jobs/test_job_place.c tests/jobs/test_job_corrupt.c tests/jobs/test_job_budget.c tests/jobs/test_job_determinism.c tests/jobs/test_job_select.c tests/jobs/test_job_partial.c tests/jobs/test_job_converge.c tests/jobs/test_job_compact.c
TESTS_SRC += tests/storage/test_st_util.c tests/storage/test_st_meta.c tests/storage/test_st_egroup.c tests/storage/test_st_config.c tests/storage/test_st_lease.c tests/storage/test_st_store.c tests/storage/test_st_fsck.c tests/storage/test_st_ec.c tests/storage/test_st_codec.c tests/storage/test_st_chunk.c tests/storage/test_st_cloud.c tests/curator/test_cli.c tests/curator/test_service.c tests/curator/test_health.c
# the st_store family, split along storage/st_store_int.h
TESTS_SRC += tests/serve/test_sv_log.c tests/serve/test_sv_ctl.c tests/storage/test_st_owner.c
TESTS_SRC += tests/storage/test_st_place.c tests/storage/test_st_read.c tests/storage/test_st_write.c tests/storage/test_st_replica.c tests/storage/test_st_csum.c tests/storage/test_st_mcache.c
# libFuzzer harnesses (tests/fuzz/fuzz_<name>.c): replayed on their corpus in make test, fuzzed by make fuzz
FUZZ_NAMES += egroup_rec block fp_row strip_row extent_id text egroup_file parity mr_part mr_run
FUZZ_NAMES += s3_list s3_error s3_cred
