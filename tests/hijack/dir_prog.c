/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Lists directory DIR every way glibc offers (hijack_files_test.sh):
 * prints "NAME TYPE" per entry from opendir/readdir (TYPE: d_type, "d" for
 * a directory, "f" for a regular file, "l" for a link, "?" otherwise),
 * then checks that readdir64, readdir_r, fdopendir on an openat'ed fd,
 * scandir (sorted by alphasort), scandirat, getdents64, glob (DIR/x, no
 * dot entries: two fewer) and a second pass
 * after rewinddir give the same entries; that seekdir to a telldir
 * position goes back there; that dirfd is a directory; and that a host
 * directory stream read in between (HOSTDIR) is untouched by all this.
 * Exits 1 with a message on the first disagreement.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fails;

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "dir_prog: %s (errno %s)\n", what, strerror(errno));
		fails++;
	}
}

static char type_of(unsigned char t)
{
	return t == DT_DIR ? 'd' : t == DT_REG ? 'f' : t == DT_LNK ? 'l' : '?';
}

static int count(DIR *d)
{
	int n = 0;
	while (readdir(d) != NULL) n++;
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: dir_prog DIR HOSTDIR\n");
		return 2;
	}
	const char *path = argv[1];
	DIR *d = opendir(path);
	if (d == NULL) {
		perror("opendir");
		return 1;
	}
	/* A host stream open at the same time must stay glibc's. */
	DIR *host = opendir(argv[2]);
	check(host != NULL, "opendir of the host directory");
	int host_n = host ? count(host) : -1;

	struct stat st;
	check(fstat(dirfd(d), &st) == 0 && S_ISDIR(st.st_mode), "dirfd is not a directory");

	int n = 0;
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		printf("%s %c\n", e->d_name, type_of(e->d_type));
		n++;
	}
	check(errno == 0, "readdir ended with an error");

	rewinddir(d);
	check(count(d) == n, "a second pass after rewinddir differs");

	/* telldir after the first entry; seekdir there gives the second again. */
	rewinddir(d);
	readdir(d);
	long pos = telldir(d);
	char second[256] = "";
	if ((e = readdir(d)) != NULL) snprintf(second, sizeof(second), "%s", e->d_name);
	count(d);
	seekdir(d, pos);
	e = readdir(d);
	check(e != NULL && strcmp(e->d_name, second) == 0, "seekdir to telldir's position");

	rewinddir(d);
	int n64 = 0;
	while (readdir64(d) != NULL) n64++;
	check(n64 == n, "readdir64 differs");

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	rewinddir(d);
	struct dirent ent, *res;
	int nr = 0;
	while (readdir_r(d, &ent, &res) == 0 && res != NULL) nr++;
	check(nr == n, "readdir_r differs");
#pragma GCC diagnostic pop
	check(closedir(d) == 0, "closedir");

	int fd = openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY);
	DIR *f = fdopendir(fd);
	check(f != NULL && dirfd(f) == fd, "fdopendir");
	if (f) {
		check(count(f) == n, "fdopendir's stream differs");
		closedir(f);
	}

	struct dirent **list;
	int ns = scandir(path, &list, NULL, alphasort);
	check(ns == n, "scandir differs");
	for (int i = 0; i < ns; i++) {
		if (i > 0) check(strcmp(list[i - 1]->d_name, list[i]->d_name) < 0, "scandir not sorted");
		free(list[i]);
	}
	if (ns >= 0) free(list);
	ns = scandirat(AT_FDCWD, path, &list, NULL, NULL);
	check(ns == n, "scandirat differs");
	for (int i = 0; i < ns; i++) free(list[i]);
	if (ns >= 0) free(list);

	fd = open(path, O_RDONLY | O_DIRECTORY);
	char buf[4096];
	int ng = 0;
	ssize_t got;
	while ((got = getdents64(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < got; ng++)
			off += ((struct dirent64 *)(buf + off))->d_reclen;
	}
	check(got == 0 && ng == n, "getdents64 differs");
	close(fd);

	char pattern[4096];
	snprintf(pattern, sizeof(pattern), "%s/*", path);
	glob_t g;
	check(glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc == (size_t)n - 2, "glob differs");
	globfree(&g);

	if (host) {
		rewinddir(host);
		check(count(host) == host_n, "the host stream changed");
		check(closedir(host) == 0, "closedir of the host stream");
	}
	return fails ? 1 : 0;
}
