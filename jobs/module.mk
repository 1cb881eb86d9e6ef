JOBS_SRC += jobs/job_db_report.c jobs/job_db_queue.c jobs/job_db_batch.c jobs/job_db_add.c jobs/job_db_shard.c
JOBS_SRC += jobs/job_db.c jobs/job_scan.c jobs/job_scan_out.c jobs/job_tasks.c jobs/job_kind.c jobs/job_gc.c jobs/job_compact.c jobs/job_protect.c jobs/job_ec.c jobs/job_efficiency.c jobs/job_dedup.c jobs/job_place.c
JOBS_SRC += jobs/job_scan_read.c jobs/job_mr1.c jobs/job_mr2.c jobs/job_policy.c jobs/job_mr3.c jobs/job_partial.c jobs/job_select.c
