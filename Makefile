# Curator: one non-recursive Makefile. Source lists live in */module.mk.
#   make            build bin/curator and lib/libcurator.a
#   make test       build and run the Criterion suite (incl. mpiexec -n 2/3 runs)
#   make asan       the same suite under AddressSanitizer + UBSan
#   make valgrind   the MPI-free unit tests under valgrind
#   make soak       the GC race for 1000 rounds (ROUNDS=N to change), the whole fault matrix
#   make perf       benchmarks (JSON lines; not tests)
#   make demo       a demo cluster in ./demo-cluster, real bytes, summary

CC      ?= gcc
MPICC   ?= mpicc.mpich
BUILD   ?= build
OPT     ?= -O2 -g
CFLAGS  += -std=gnu11 $(OPT) -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-format-truncation \
           -D_GNU_SOURCE -I. $(EXTRA_CFLAGS)
LDLIBS  += -lsqlite3 -lisal -lz -lcrypto -lcurl -lexpat -lpthread -lm $(EXTRA_LDLIBS)

STORAGE_SRC :=
MAPREDUCE_SRC :=
JOBS_SRC :=
CURATOR_SRC :=
TOOLS_BIN :=
TESTS_SRC :=
include storage/module.mk mapreduce/module.mk jobs/module.mk curator/module.mk tools/module.mk tests/module.mk

LIB_SRC := $(STORAGE_SRC) $(MAPREDUCE_SRC) $(JOBS_SRC) $(CURATOR_SRC)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB     := $(BUILD)/libcurator.a
BIN     := $(BUILD)/bin/curator
TEST_BIN := $(TESTS_SRC:tests/%.c=$(BUILD)/tests/%)
FAULT_SHIM := $(BUILD)/tests/fault/libfault.so

all: $(BIN) $(TOOLS_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN): $(BUILD)/curator/main.o $(LIB)
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tools/%: $(BUILD)/tools/%.o $(LIB)
	$(MPICC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/helpers.o $(LIB)
	$(MPICC) $(CFLAGS) -o $@ $^ -lcriterion $(LDLIBS)

# the fault shim is an LD_PRELOAD library: built without the sanitizers (it runs inside every process)
$(FAULT_SHIM): tests/fault/fault_shim.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -fPIC -shared -o $@ $< -ldl

test: all $(TEST_BIN) $(FAULT_SHIM)
	CURATOR_SRC=$(CURDIR) CURATOR_BIN=$(abspath $(BIN)) BUILD=$(BUILD) FAULT_SHIM=$(abspath $(FAULT_SHIM)) \
	    tests/run.sh $(TEST_BIN) tests/fault/fault_matrix.sh

asan: export LSAN_OPTIONS = suppressions=$(CURDIR)/tests/lsan.supp
asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    EXTRA_LDLIBS="-fsanitize=address,undefined" test

valgrind: all $(TEST_BIN)
	CURATOR_SRC=$(CURDIR) CURATOR_BIN=$(abspath $(BIN)) VALGRIND=1 tests/run.sh $(filter $(BUILD)/tests/storage/%,$(TEST_BIN))

soak: all $(TEST_BIN) $(FAULT_SHIM)
	CURATOR_SRC=$(CURDIR) CURATOR_BIN=$(abspath $(BIN)) CURATOR_GC_RACE_ROUNDS=$${ROUNDS:-1000} \
	    $(BUILD)/tests/jobs/test_job_scan --filter 'job_scan/gc_race_with_a_writer' --jobs 1
	CURATOR_BIN=$(abspath $(BIN)) FAULT_SHIM=$(abspath $(FAULT_SHIM)) tests/fault/fault_matrix.sh full

perf: all
	tools/perf.sh

demo: all
	tools/demo.sh

clean:
	rm -rf build build-asan

.PHONY: all test asan valgrind soak perf demo clean
.SECONDARY:
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
