JOBS_SRC += jobs/job_db.c jobs/job_scan.c jobs/job_tasks.c jobs/job_dedup.c jobs/job_place.c
