# Curator: one non-recursive Makefile. Source lists live in */module.mk.
#   make            build bin/curator and lib/libcurator.a
#   make test       build and run the Criterion suite (incl. mpiexec -n 2/3 runs)
#   make asan       the same suite under AddressSanitizer + UBSan
#   make valgrind   the MPI-free unit tests under valgrind
#   make soak       the GC race for 1000 rounds (ROUNDS=N to change), every task kind killed at
#                   each step (tests/jobs/test_job_converge.c), the whole fault matrix,
#                   the NBD controller's clients for minutes (tests/serve/serve_clients.sh full)
#   make perf       benchmarks (JSON lines; not tests)
#   make fuzz       every libFuzzer harness (clang) FUZZ_SECS s each, with and without
#                   checksums (docs/FUZZING.md; JSON lines; fails on a crash)
#   make demo       a demo cluster in ./demo-cluster, real bytes, summary

CC      ?= gcc
MPICC   ?= mpicc.mpich
BUILD   ?= build
OPT     ?= -O2 -g
CFLAGS  += -std=gnu11 $(OPT) -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-format-truncation \
           -D_GNU_SOURCE -I. $(EXTRA_CFLAGS)
LDLIBS  += -ljansson -lsqlite3 -lisal -lz -lcrypto -lcurl -lexpat -lpthread -lm $(EXTRA_LDLIBS)

STORAGE_SRC :=
MAPREDUCE_SRC :=
JOBS_SRC :=
CURATOR_SRC :=
TOOLS_BIN :=
SERVE_SRC :=
TESTS_SRC :=
FUZZ_NAMES :=
include storage/module.mk mapreduce/module.mk jobs/module.mk serve/module.mk curator/module.mk tools/module.mk tests/module.mk

LIB_SRC := $(STORAGE_SRC) $(MAPREDUCE_SRC) $(JOBS_SRC) $(SERVE_SRC) $(CURATOR_SRC)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB     := $(BUILD)/libcurator.a
BIN     := $(BUILD)/bin/curator
TEST_BIN := $(TESTS_SRC:tests/%.c=$(BUILD)/tests/%)
FAULT_SHIM := $(BUILD)/tests/fault/libfault.so
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz/replay_%)

PLUGIN  := $(BUILD)/lib/nbdkit-curator-plugin.so
PIC_OBJ := $(PLUGIN_SRC:%.c=$(BUILD)/pic/%.o)

all: $(BIN) $(TOOLS_BIN) $(PLUGIN) $(BUILD)/curator.8 $(BUILD)/curator.bash

# the version: VERSION's number and where in git this is (debian/rules passes VERSION=...);
# cu_version.o alone is rebuilt when it changes
VERSION ?= $(shell v=$$(cat VERSION 2>/dev/null || echo 0.0.0); g=$$(git describe --tags --always --dirty 2>/dev/null); \
	echo "$$v$${g:+ (git $$g)}")
$(BUILD)/version.stamp: FORCE
	@mkdir -p $(dir $@)
	@echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' > $@
$(BUILD)/curator/cu_version.o: $(BUILD)/version.stamp
$(BUILD)/curator/cu_version.o: CFLAGS += -DCURATOR_VERSION='"$(VERSION)"'
FORCE:
.PHONY: FORCE

# the man page and the bash completion, made by the binary from its command table (they cannot drift)
$(BUILD)/curator.8: $(BIN)
	$(BIN) --help-man > $@.tmp && mv $@.tmp $@
$(BUILD)/curator.bash: $(BIN)
	$(BIN) --help-completion > $@.tmp && mv $@.tmp $@

# make install [PREFIX=/usr/local] [DESTDIR=...]: the binary, curator(8), the bash completion,
# the systemd units (their binary path is BINDIR), the sysusers entry and an example
# /etc/default/curator (kept if there is one)
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SYSTEMDDIR  ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
SYSCONFDIR  ?= /etc
install: $(BIN) $(PLUGIN) $(BUILD)/curator.8 $(BUILD)/curator.bash
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(SYSTEMDDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(SYSCONFDIR)/default
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/curator
	install -m 0644 $(BUILD)/curator.8 $(DESTDIR)$(MANDIR)/man8/curator.8
	install -m 0644 $(BUILD)/curator.bash $(DESTDIR)$(BASHCOMPDIR)/curator
	install -d $(DESTDIR)$(PREFIX)/lib
	install -m 0644 $(PLUGIN) $(DESTDIR)$(PREFIX)/lib/nbdkit-curator-plugin.so
	for u in curator.service curator-scan.service curator-scan.timer curator-serve@.service; do \
	    sed 's|@BINDIR@|$(BINDIR)|g' dist/$$u > $(DESTDIR)$(SYSTEMDDIR)/$$u && chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/$$u; done
	install -m 0644 dist/curator.sysusers $(DESTDIR)$(SYSUSERSDIR)/curator.conf
	[ -e $(DESTDIR)$(SYSCONFDIR)/default/curator ] || install -m 0644 dist/curator.default $(DESTDIR)$(SYSCONFDIR)/default/curator

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/curator $(DESTDIR)$(MANDIR)/man8/curator.8 $(DESTDIR)$(BASHCOMPDIR)/curator \
	    $(DESTDIR)$(SYSTEMDDIR)/curator.service $(DESTDIR)$(SYSTEMDDIR)/curator-scan.service \
	    $(DESTDIR)$(SYSTEMDDIR)/curator-scan.timer $(DESTDIR)$(SYSTEMDDIR)/curator-serve@.service \
	    $(DESTDIR)$(PREFIX)/lib/nbdkit-curator-plugin.so $(DESTDIR)$(SYSUSERSDIR)/curator.conf

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) -MMD -MP -c -o $@ $<

# the nbdkit plugin's objects: -fPIC, plain gcc (storage/ and serve/ know nothing of MPI), no sanitizers
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -fPIC -fvisibility=hidden -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	    -Wno-format-truncation -D_GNU_SOURCE -I. -MMD -MP -c -o $@ $<

$(PLUGIN): $(PIC_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared -o $@ $^ -lsqlite3 -lisal -lz -lcrypto -lcurl -lexpat -lpthread -lm

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

# a fuzz harness linked with tests/fuzz/replay.c's main(): replays its corpus and known crashes (make test)
$(BUILD)/tests/fuzz/replay_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay.o $(LIB)
	$(MPICC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# the fault shim is an LD_PRELOAD library: built without the sanitizers (it runs inside every process)
$(FAULT_SHIM): tests/fault/fault_shim.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -fPIC -shared -o $@ $< -ldl

test: all $(TEST_BIN) $(FAULT_SHIM) $(FUZZ_REPLAY)
	CURATOR_SRC=$(CURDIR) CURATOR_BIN=$(abspath $(BIN)) BUILD=$(BUILD) FAULT_SHIM=$(abspath $(FAULT_SHIM)) \
	    tests/run.sh $(TEST_BIN) tests/fault/fault_matrix.sh tests/fault/lease_ns.sh tests/curator/progress_tty.sh tests/curator/report_browser.sh tests/curator/cli_errors.sh tests/dist/units.sh tests/serve/serve_clients.sh tests/hosts/test_hosts.sh $(FUZZ_REPLAY)
	$(MAKE) --no-print-directory test-shared-fs

# the storage and scan suites once more on clusters made in shared-storage mode (rollback
# journal and POSIX locks instead of WAL, as `init --shared-fs` or a network fs selects)
test-shared-fs: all $(TEST_BIN)
	CURATOR_SHARED_FS=1 CURATOR_SRC=$(CURDIR) CURATOR_BIN=$(abspath $(BIN)) BUILD=$(BUILD) \
	    tests/run.sh $(filter $(BUILD)/tests/storage/%,$(TEST_BIN)) $(BUILD)/tests/jobs/test_job_scan

asan: export LSAN_OPTIONS = suppressions=$(CURDIR)/tests/lsan.supp
asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    EXTRA_LDLIBS="-fsanitize=address,undefined" test

valgrind: all $(TEST_BIN)
	CURATOR_SRC=$(CURDIR) CURATOR_BIN=$(abspath $(BIN)) VALGRIND=1 tests/run.sh $(filter $(BUILD)/tests/storage/%,$(TEST_BIN))

soak: all $(TEST_BIN) $(FAULT_SHIM)
	CURATOR_SRC=$(CURDIR) CURATOR_BIN=$(abspath $(BIN)) CURATOR_GC_RACE_ROUNDS=$${ROUNDS:-1000} \
	    $(BUILD)/tests/jobs/test_job_scan --filter 'job_scan/gc_race_with_a_writer' --jobs 1
	CURATOR_BIN=$(abspath $(BIN)) CURATOR_CONVERGE_ALL=1 \
	    $(BUILD)/tests/jobs/test_job_converge --filter 'converge/each_kind_killed_at_each_step' --jobs 1
	CURATOR_BIN=$(abspath $(BIN)) FAULT_SHIM=$(abspath $(FAULT_SHIM)) tests/fault/fault_matrix.sh full
	CURATOR_BIN=$(abspath $(BIN)) tests/serve/serve_clients.sh full

# libFuzzer (docs/FUZZING.md): the library and the harnesses built by clang with ASan + UBSan, twice:
# build-fuzz/ as shipped, build-fuzz-nocrc/ with every checksum comparison of the decoders passing
# (-DCURATOR_FUZZ_NOCRC); then each harness runs FUZZ_SECS seconds in each build on a scratch copy
# of tests/fuzz/corpus/<name>/. FUZZ_NAMES="a b" picks harnesses; FUZZ_RUNS=N stops each after N
# executions (FUZZ_SECS still bounds it).
FUZZ_CC   ?= clang
FUZZ_SECS ?= 60
FUZZ_RUNS ?=
FUZZ_MAKE := MPICC="env MPICH_CC=$(FUZZ_CC) $(MPICC)" \
	OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
# clang knows not every gcc warning option this Makefile names
FUZZ_WARN := -Wno-unknown-warning-option -DCURATOR_FUZZ
FUZZ_BIN  := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)

$(BUILD)/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(LIB)
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz-bins: $(FUZZ_BIN)

fuzz-build:
	$(MAKE) BUILD=build-fuzz $(FUZZ_MAKE) EXTRA_CFLAGS="$(FUZZ_WARN)" FUZZ_NAMES="$(FUZZ_NAMES)" fuzz-bins
	$(MAKE) BUILD=build-fuzz-nocrc $(FUZZ_MAKE) EXTRA_CFLAGS="$(FUZZ_WARN) -DCURATOR_FUZZ_NOCRC" \
	    FUZZ_NAMES="$(FUZZ_NAMES)" fuzz-bins

fuzz: fuzz-build
	FUZZ_SECS=$(FUZZ_SECS) FUZZ_RUNS=$(FUZZ_RUNS) tests/fuzz/fuzz.sh build-fuzz:crc build-fuzz-nocrc:nocrc -- $(FUZZ_NAMES)

# the seed corpora, from the real encoders (run once; the files are committed)
fuzz-corpus: $(BUILD)/tests/fuzz/gen_corpus
	$(BUILD)/tests/fuzz/gen_corpus tests/fuzz/corpus

$(BUILD)/tests/fuzz/gen_corpus: $(BUILD)/tests/fuzz/gen_corpus.o $(LIB)
	$(MPICC) $(CFLAGS) -o $@ $^ $(LDLIBS)

perf: all
	tools/perf.sh

demo: all
	tools/demo.sh

# build the .deb (dpkg-buildpackage -b -us -uc in a copy of the tree), check what it holds and that
# its curator --version runs; under CI=true also install it with apt-get and remove it again
deb-test:
	tools/deb-test.sh

clean:
	rm -rf build build-asan build-fuzz build-fuzz-nocrc

.PHONY: test-shared-fs all test asan valgrind soak perf demo clean fuzz fuzz-build fuzz-bins fuzz-corpus install uninstall deb-test
.SECONDARY:
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
