/* curator: entry point; everything lives in cu_cli.c. */
#include "curator/cu_cli.h"

int main(int argc, char **argv)
{
	return cu_cli_main(argc, argv);
}
