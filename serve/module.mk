# the storage controller (curator serve): the write-back log and the controller go into
# libcurator.a (tests, curator vdisk owner); the nbdkit plugin is a shared object of its own,
# built from position-independent copies of storage/ and serve/ (no MPI, no sanitizers: it
# is loaded into nbdkit)
SERVE_SRC += serve/sv_log.c serve/sv_ctl.c serve/sv_own.c
PLUGIN_SRC := $(STORAGE_SRC) $(SERVE_SRC) serve/sv_plugin.c
