/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Walks tree ROOT with nftw (flags 0, FTW_PHYS, FTW_PHYS|FTW_DEPTH, and
 * FTW_ACTIONRETVAL skipping directories named "sub") and ftw, printing
 * one line per report: "WALK TYPE LEVEL PATH NAME", PATH relative to
 * ROOT and NAME what ftwbuf's base points at (hijack_files_test.sh
 * compares the sorted lines of a tree in lkd with those of the same tree
 * on the host). Exits 1 if a walk fails or, with FTW_DEPTH, a directory
 * is reported before something below it.
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include <string.h>

static const char *walk;
static size_t root_len;
static char last_dp[4096];
static int bad;

static const char *type_name(int t)
{
	switch (t) {
	case FTW_F: return "F";
	case FTW_D: return "D";
	case FTW_DNR: return "DNR";
	case FTW_NS: return "NS";
	case FTW_SL: return "SL";
	case FTW_DP: return "DP";
	case FTW_SLN: return "SLN";
	}
	return "?";
}

static int report(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	printf("%s %s %d .%s %s\n", walk, type_name(type), f->level, path + root_len,
	       path + f->base);
	/* Post-order: nothing below a directory after it. */
	if (last_dp[0] && strncmp(path, last_dp, strlen(last_dp)) == 0 &&
	    path[strlen(last_dp)] == '/')
		bad = 1;
	if (type == FTW_DP) snprintf(last_dp, sizeof(last_dp), "%s", path);
	if (!strcmp(walk, "skip") && type == FTW_D && !strcmp(path + f->base, "sub"))
		return FTW_SKIP_SUBTREE;
	return 0;
}

static int report_ftw(const char *path, const struct stat *st, int type)
{
	(void)st;
	printf("ftw %s .%s\n", type_name(type), path + root_len);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: walk_prog ROOT\n");
		return 2;
	}
	root_len = strlen(argv[1]);
	static const struct {
		const char *name;
		int flags;
	} walks[] = {
		{"follow", 0},
		{"phys", FTW_PHYS},
		{"depth", FTW_PHYS | FTW_DEPTH},
		{"skip", FTW_PHYS | FTW_ACTIONRETVAL},
	};
	for (size_t i = 0; i < sizeof(walks) / sizeof(walks[0]); i++) {
		walk = walks[i].name;
		last_dp[0] = 0;
		if (nftw(argv[1], report, 8, walks[i].flags) != 0) {
			perror(walk);
			return 1;
		}
	}
	if (ftw(argv[1], report_ftw, 8) != 0) {
		perror("ftw");
		return 1;
	}
	if (nftw("/lkd-no-such/x", report, 8, 0) != -1) return 1;
	return bad;
}
