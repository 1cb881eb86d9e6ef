# JOBS_SRC += 
