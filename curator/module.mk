CURATOR_SRC += curator/cu_cli.c curator/cu_report.c
