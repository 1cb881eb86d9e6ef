TOOLS_BIN += $(BUILD)/tools/mr_testjob
