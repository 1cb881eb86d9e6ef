TOOLS_BIN += $(BUILD)/tools/mr_testjob $(BUILD)/tools/bench_join $(BUILD)/tools/bench_keys $(BUILD)/tools/gen_cluster $(BUILD)/tools/queue_tasks
