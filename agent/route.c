/* Route lookup inside a container's netns, with plain sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "route.h"

static int source_for(struct in_addr server, uint16_t port, struct in_addr *source)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = server };
	struct sockaddr_in src;
	socklen_t len = sizeof(src);
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0)
		err = -errno;
	else if (getsockname(fd, (struct sockaddr *)&src, &len) < 0)
		err = -errno;
	else
		*source = src.sin_addr;
	close(fd);
	if (err == -EINVAL || err == -EHOSTUNREACH)
		err = -ENETUNREACH;
	return err;
}

int route_lookup(struct in_addr server, uint16_t port, struct route_info *out)
{
	struct ifaddrs *ifas, *ifa;
	int err;

	err = source_for(server, port, &out->source);
	if (err)
		return err;
	if ((ntohl(out->source.s_addr) >> 24) == 127)
		return -EADDRNOTAVAIL;
	if (getifaddrs(&ifas) < 0)
		return -errno;
	err = -EADDRNOTAVAIL;
	for (ifa = ifas; ifa; ifa = ifa->ifa_next) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ifa->ifa_addr;

		if (!sin || sin->sin_family != AF_INET || sin->sin_addr.s_addr != out->source.s_addr)
			continue;
		out->ifindex = if_nametoindex(ifa->ifa_name);
		if (!out->ifindex) {
			err = -errno;
			break;
		}
		strncpy(out->ifname, ifa->ifa_name, sizeof(out->ifname) - 1);
		out->ifname[sizeof(out->ifname) - 1] = '\0';
		err = 0;
		break;
	}
	freeifaddrs(ifas);
	return err;
}
