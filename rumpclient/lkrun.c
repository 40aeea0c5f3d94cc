/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * lkrun: runs an unmodified program on lkd's kernel (liblkhijack.so
 * preloaded). It first checks that lkd accepts connections on its socket,
 * and refuses to start the program otherwise: a program must never run on
 * the host's network stack by accident. (The library itself also refuses
 * to run a program it cannot attach.)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_SERVER "unix:///run/lkd/lkd.sock"
#define LIBRARY "liblkhijack.so"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: lkrun [--server URL] [--prefix PATH] [--netns NAME] [--] PROGRAM [ARGS...]\n"
		"\n"
		"Runs PROGRAM with its sockets (AF_INET, AF_INET6, AF_NETLINK, AF_PACKET)\n"
		"in lkd's kernel; files, pipes and AF_UNIX sockets stay on the host.\n"
		"\n"
		"  --server URL   lkd's socket (default: $LKD_SERVER, else " DEFAULT_SERVER ")\n"
		"  --prefix PATH  paths under PATH open in lkd's file systems, PATH removed\n"
		"                 (adds prefix=PATH to LKD_HIJACK)\n"
		"  --netns NAME   live in network namespace NAME of lkd's kernel (one made\n"
		"                 with `lkctl netns add NAME`; sets LKD_NETNS)\n"
		"  --help         this text\n"
		"\n"
		"Environment: LKD_HIJACK=\"net=inet,inet6,netlink,packet;unix=host;prefix=/lkd\"\n"
		"(see README); LKRUN_LIBRARY names liblkhijack.so explicitly.\n"
		"PROGRAM runs off the CPUs lkd's dispatch threads use (lkd --dispatch_cpus);\n"
		"LKD_CLIENT_CPUS=any lets it use them too.\n"
		"If lkd cannot be reached lkrun prints why and exits 125 without running\n"
		"PROGRAM; if PROGRAM cannot be started it exits 127.\n");
}

/* The unix socket path of a URL, or NULL. */
static const char *socket_path(const char *url)
{
	if (strncmp(url, "unix://", 7) == 0) url += 7;
	else if (strstr(url, "://")) return NULL;
	return url[0] == '/' ? url : NULL;
}

static int reachable(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return 0;
	}
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) return 0;
	int ok = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
	int err = errno;
	close(fd);
	errno = err;
	return ok;
}

/* liblkhijack.so beside lkrun, or installed under ../lib of it, or in
 * the usual library directories. */
static int find_library(char *out, size_t size)
{
	const char *forced = getenv("LKRUN_LIBRARY");
	if (forced && *forced) {
		snprintf(out, size, "%s", forced);
		return access(out, R_OK) == 0;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		char *dir = dirname(self);
		const char *rel[] = {"", "/../lib", "/../lib/lkd"};
		for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			snprintf(out, size, "%s%s/" LIBRARY, dir, rel[i]);
			if (access(out, R_OK) == 0) return 1;
		}
	}
	const char *dirs[] = {"/usr/local/lib", "/usr/local/lib/lkd", "/usr/lib", "/usr/lib/lkd"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(out, size, "%s/" LIBRARY, dirs[i]);
		if (access(out, R_OK) == 0) return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *server = getenv("LKD_SERVER");
	const char *prefix = NULL, *netns = NULL;
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) { i++; break; }
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); return 0; }
		if (strcmp(a, "--server") == 0 || strcmp(a, "--prefix") == 0 ||
		    strcmp(a, "--netns") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "lkrun: %s needs a value (see --help)\n", a);
				return 2;
			}
			if (a[2] == 's') server = argv[++i];
			else if (a[2] == 'p') prefix = argv[++i];
			else netns = argv[++i];
			continue;
		}
		if (strncmp(a, "--server=", 9) == 0) { server = a + 9; continue; }
		if (strncmp(a, "--prefix=", 9) == 0) { prefix = a + 9; continue; }
		if (strncmp(a, "--netns=", 8) == 0) { netns = a + 8; continue; }
		if (a[0] == '-') {
			fprintf(stderr, "lkrun: unknown option '%s' (see --help)\n", a);
			return 2;
		}
		break;
	}
	if (i >= argc) {
		fprintf(stderr, "lkrun: no program to run (see --help)\n");
		return 2;
	}
	if (server == NULL || *server == 0) server = DEFAULT_SERVER;
	const char *path = socket_path(server);
	if (path == NULL) {
		fprintf(stderr, "lkrun: bad server '%s': only unix:///PATH is supported\n", server);
		return 2;
	}
	if (prefix && prefix[0] != '/') {
		fprintf(stderr, "lkrun: --prefix '%s' must be an absolute path\n", prefix);
		return 2;
	}
	if (!reachable(path)) {
		fprintf(stderr, "lkrun: cannot reach lkd at %s: %s (is lkd running? --server names "
			"its socket); %s not started\n", path, strerror(errno), argv[i]);
		return 125;
	}
	char lib[PATH_MAX];
	if (!find_library(lib, sizeof(lib))) {
		fprintf(stderr, "lkrun: cannot find " LIBRARY " (beside lkrun, in ../lib, "
			"/usr/local/lib or /usr/lib; or set LKRUN_LIBRARY)\n");
		return 125;
	}

	char *preload = NULL, *hijack = NULL;
	const char *old = getenv("LD_PRELOAD");
	if (asprintf(&preload, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "") < 0) return 125;
#ifdef __SANITIZE_ADDRESS__
	/*
	 * Built with --config=asan, so is the library beside us: its ASan
	 * runtime must be the program's first library, and the program's own
	 * leaks (it is not instrumented) are not ours to report. Our own copy
	 * of the runtime says where it is.
	 */
	Dl_info asan;
	void *asan_init = dlsym(RTLD_DEFAULT, "__asan_init");
	if (asan_init && dladdr(asan_init, &asan) && asan.dli_fname) {
		char *first = NULL, *options = NULL;
		const char *opts = getenv("ASAN_OPTIONS");
		if (asprintf(&first, "%s:%s", asan.dli_fname, preload) < 0 ||
		    asprintf(&options, "%s%sdetect_leaks=0", opts && *opts ? opts : "",
			     opts && *opts ? ":" : "") < 0)
			return 125;
		preload = first;
		setenv("ASAN_OPTIONS", options, 1);
	}
#endif
	setenv("LD_PRELOAD", preload, 1);
	setenv("LKD_SERVER", server, 1);
	if (netns) setenv("LKD_NETNS", netns, 1);
	if (prefix) {
		const char *cfg = getenv("LKD_HIJACK");
		if (asprintf(&hijack, "%s%sprefix=%s", cfg && *cfg ? cfg : "", cfg && *cfg ? ";" : "",
			     prefix) < 0)
			return 125;
		setenv("LKD_HIJACK", hijack, 1);
	}
	execvp(argv[i], argv + i);
	fprintf(stderr, "lkrun: %s: %s\n", argv[i], strerror(errno));
	return 127;
}
