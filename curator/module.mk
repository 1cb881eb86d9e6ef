CURATOR_SRC += curator/cu_cli.c
