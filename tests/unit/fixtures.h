/*
 * Where the unit tests find tests/fixtures/: $DNSREDIR_FIXTURES, else next to
 * the test binary's repository (build/tests/test_x), else the working
 * directory. Included by the tests that read fixtures; needs cmocka.h first.
 */
#ifndef DNSREDIR_TEST_FIXTURES_H
#define DNSREDIR_TEST_FIXTURES_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *fixture_path(const char *name)
{
	const char *env = getenv("DNSREDIR_FIXTURES");
	char exe[PATH_MAX], *path = NULL;
	ssize_t n;

	if (env && *env) {
		assert_true(asprintf(&path, "%s/%s", env, name) > 0);
		return path;
	}
	/* build/tests/test_x -> the repository's tests/fixtures */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		for (int up = 0; up < 3; up++) {
			char *slash = strrchr(exe, '/');

			if (slash)
				*slash = '\0';
		}
		assert_true(asprintf(&path, "%s/tests/fixtures/%s", exe, name) > 0);
		if (access(path, R_OK) == 0)
			return path;
		free(path);
	}
	assert_true(asprintf(&path, "tests/fixtures/%s", name) > 0);
	return path;
}

#endif
