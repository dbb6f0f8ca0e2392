/* An interface's IPv4 settings (what /proc/sys/net/ipv4/conf/IF/ shows), over rtnetlink. */
#ifndef DNSREDIR_DEVCONF_H
#define DNSREDIR_DEVCONF_H

/*
 * Sets route_localnet on the interface ifindex of the calling thread's netns.
 * rtnetlink rather than /proc/sys: a container runtime mounts /proc/sys
 * read-only, and CAP_NET_ADMIN is all this takes. Returns 0 or -errno.
 */
int devconf_route_localnet(int ifindex);

#endif
