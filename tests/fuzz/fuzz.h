/* What the fuzz targets share. */
#ifndef DNSREDIR_FUZZ_H
#define DNSREDIR_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

/* An invariant of the code under test: abort (a finding) when it does not hold. */
#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s: check failed: %s (line %d)\n", __FILE__, #cond, \
				__LINE__);                                               \
			abort();                                                         \
		}                                                                        \
	} while (0)

#endif
