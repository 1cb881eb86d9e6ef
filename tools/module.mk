TOOLS_BIN += $(BUILD)/tools/mr_testjob $(BUILD)/tools/bench_join $(BUILD)/tools/gen_cluster
