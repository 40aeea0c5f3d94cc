/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Lists interfaces the way programs ask glibc (hijack_ifaddrs_test.sh):
 * getifaddrs, if_nameindex, if_nametoindex and if_indextoname, one line
 * per fact, sorted by the script:
 *   addr NAME inet|inet6 ADDRESS/PREFIX    (getifaddrs, with netmask)
 *   link NAME                              (getifaddrs' AF_PACKET entries)
 *   index NAME INDEX                       (if_nameindex)
 * and exits 1 if if_nametoindex/if_indextoname disagree with
 * if_nameindex, or an unknown name or index does not fail as glibc's do.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static int prefix_of(const struct sockaddr *mask)
{
	const unsigned char *b;
	size_t n;
	int bits = 0;

	if (mask->sa_family == AF_INET) {
		b = (const unsigned char *)&((const struct sockaddr_in *)mask)->sin_addr;
		n = 4;
	} else {
		b = (const unsigned char *)&((const struct sockaddr_in6 *)mask)->sin6_addr;
		n = 16;
	}
	for (size_t i = 0; i < n; i++)
		bits += __builtin_popcount(b[i]);
	return bits;
}

int main(void)
{
	struct ifaddrs *list;
	int bad = 0;

	if (getifaddrs(&list) < 0) {
		perror("getifaddrs");
		return 1;
	}
	for (struct ifaddrs *a = list; a; a = a->ifa_next) {
		char text[INET6_ADDRSTRLEN];
		int family;

		if (a->ifa_addr == NULL)
			continue;
		family = a->ifa_addr->sa_family;
		if (family == AF_PACKET) {
			printf("link %s\n", a->ifa_name);
			continue;
		}
		if (family != AF_INET && family != AF_INET6)
			continue;
		inet_ntop(family,
			  family == AF_INET ?
				  (const void *)&((struct sockaddr_in *)a->ifa_addr)->sin_addr :
				  (const void *)&((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr,
			  text, sizeof(text));
		printf("addr %s %s %s/%d\n", a->ifa_name, family == AF_INET ? "inet" : "inet6",
		       text, a->ifa_netmask ? prefix_of(a->ifa_netmask) : -1);
	}
	freeifaddrs(list);

	struct if_nameindex *names = if_nameindex();
	if (names == NULL) {
		perror("if_nameindex");
		return 1;
	}
	for (struct if_nameindex *n = names; n->if_index; n++) {
		char name[IF_NAMESIZE];

		printf("index %s %u\n", n->if_name, n->if_index);
		if (if_nametoindex(n->if_name) != n->if_index) {
			fprintf(stderr, "if_nametoindex(%s) = %u\n", n->if_name,
				if_nametoindex(n->if_name));
			bad = 1;
		}
		if (if_indextoname(n->if_index, name) == NULL || strcmp(name, n->if_name)) {
			fprintf(stderr, "if_indextoname(%u) is not %s\n", n->if_index, n->if_name);
			bad = 1;
		}
	}
	if_freenameindex(names);
	errno = 0;
	if (if_nametoindex("nosuch0") != 0 || errno != ENODEV) {
		fprintf(stderr, "if_nametoindex(nosuch0): errno %d\n", errno);
		bad = 1;
	}
	char name[IF_NAMESIZE];
	if (if_indextoname(99999, name) != NULL || errno != ENXIO) {
		fprintf(stderr, "if_indextoname(99999): errno %d\n", errno);
		bad = 1;
	}
	return bad;
}
