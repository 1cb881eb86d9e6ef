/*
 * cu_cli: the `curator` command line (shared/CLI.md). cu_cli_main() parses
 * argv, runs one command and returns the process exit status:
 *
 *   0  success
 *   1  the command ran and found a problem (fsck violations, unreadable data)
 *   2  usage or environment error
 *
 * Errors are printed as one line on stderr: "curator: <what>: <why>".
 * Plain commands are single processes; scans, task runs and the daemon are
 * MPI programs (initialised only by those commands). The commands are the
 * rows of one table (cu_cmd.h, private to curator/), which also makes the
 * usage text. Not thread-safe; call it once per process.
 */
#ifndef CU_CLI_H
#define CU_CLI_H

int cu_cli_main(int argc, char **argv);

#endif
