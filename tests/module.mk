TESTS_SRC += tests/storage/test_st_util.c
