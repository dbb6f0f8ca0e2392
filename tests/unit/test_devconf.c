/*
 * Unit test of agent/devconf.c against the real kernel, in a network
 * namespace of its own: route_localnet set over rtnetlink is what
 * /proc/sys/net/ipv4/conf/lo/route_localnet then shows.
 */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "devconf.h"

static int route_localnet(const char *ifname)
{
	char path[128];
	int value = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/route_localnet", ifname);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &value) != 1)
		value = -1;
	fclose(f);
	return value;
}

static void sets_route_localnet_on_lo_only(void **state)
{
	if (unshare(CLONE_NEWNET) < 0)
		skip();	/* not root: the end-to-end tests cover it */
	assert_int_equal(system("ip link add dr-devconf0 type veth peer name dr-devconf1"), 0);
	assert_int_equal(route_localnet("lo"), 0);
	assert_int_equal(devconf_route_localnet(if_nametoindex("lo")), 0);
	assert_int_equal(route_localnet("lo"), 1);
	assert_int_equal(route_localnet("dr-devconf0"), 0);
	assert_int_equal(route_localnet("all"), 0);
	/* again: nothing changes, no error */
	assert_int_equal(devconf_route_localnet(if_nametoindex("lo")), 0);
	assert_int_equal(route_localnet("lo"), 1);
	/* no such interface */
	assert_int_equal(devconf_route_localnet(999999), -ENODEV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sets_route_localnet_on_lo_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
