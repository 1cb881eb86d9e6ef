CURATOR_SRC += curator/cu_cli.c curator/cu_cli_help.c curator/cu_version.c curator/cu_cmd_cluster.c curator/cu_cmd_vdisk.c curator/cu_cmd_scan.c
CURATOR_SRC += curator/cu_json.c curator/cu_health.c curator/cu_report.c curator/cu_log.c curator/cu_watch.c curator/cu_daemon.c curator/cu_status.c curator/cu_html.c curator/cu_explain.c curator/cu_cmd_serve.c
