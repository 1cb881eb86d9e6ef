MAPREDUCE_SRC += mapreduce/mr_util.c mapreduce/mr_ctx.c mapreduce/mr_job.c mapreduce/mr_output.c mapreduce/mr_store.c mapreduce/mr_direct.c mapreduce/mr_map.c mapreduce/mr_reduce.c
