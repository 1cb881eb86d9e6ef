/* curator: the entry point. The command line is cu_cli_main (cu_cli.h); its commands are the table in cu_cli.c. */
#include "curator/cu_cli.h"

int main(int argc, char **argv)
{
	return cu_cli_main(argc, argv);
}
