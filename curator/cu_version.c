/*
 * cu_version: the version string, fixed at build time. The Makefile
 * defines CURATOR_VERSION from the VERSION file and `git describe` (or
 * VERSION= on its command line, as debian/rules does from the changelog)
 * and rebuilds this file alone when it changes.
 */
#include "curator/cu_cmd.h"

#ifndef CURATOR_VERSION
#define CURATOR_VERSION "unknown"
#endif

const char *cu_version(void)
{
	return CURATOR_VERSION;
}
