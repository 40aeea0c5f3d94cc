/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Directory streams on lkd's directories (hijack.h).
 *
 * glibc's opendir, fdopendir and readdir open and read the directory with
 * their own internal openat and getdents64, which a preload never sees: a
 * directory under the prefix would be looked for on the host, and a DIR
 * made from a kernel fd would read its host placeholder. So a directory in
 * lkd gets a stream of this library's own: a kernel fd and a buffer that
 * lkd's getdents64 fills. Every DIR function asks the registry below
 * whether a DIR is one of these; any other DIR is glibc's and goes to libc
 * untouched.
 *
 * On x86-64 struct dirent and struct dirent64 have the layout of the
 * kernel's struct linux_dirent64 (d_ino, d_off, d_reclen, d_type, d_name),
 * so readdir returns records inside the buffer as they came, as glibc
 * does. The buffer is the stream's: a record stays valid until the next
 * readdir, rewinddir, seekdir or closedir on that stream.
 *
 * scandir and scandirat open their directory inside glibc too, so they
 * are hooked for lkd's directories as well, and glob is given these hooks
 * as its directory functions; ftw and nftw walk lkd's trees here. glibc's
 * fts_* still reads the host's (programs built with gnulib's fts, as
 * coreutils and findutils are, call opendir/fdopendir and work).
 *
 * Limits: a DIR of ours handed to another library that reads its fields
 * (none of glibc's public API does) would not be understood.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <glob.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rumpclient/hijack.h"
#include "rumpclient/lkclient.h"

_Static_assert(sizeof(struct dirent) == sizeof(struct dirent64) &&
		       offsetof(struct dirent, d_name) == 19 &&
		       offsetof(struct dirent, d_type) == 18,
	       "struct dirent is not linux_dirent64's layout");

/* A stream on a kernel directory fd. */
struct lkdir {
	pthread_mutex_t lock;	/* readdir on one stream from two threads */
	int fd;			/* the kernel fd, owned: closedir closes it */
	size_t pos, len;	/* next record at buf[pos]; buf holds len bytes */
	long tell;		/* d_off of the last record returned (telldir) */
	_Alignas(8) char buf[32768];
};

/*
 * The registry of our streams: a small set of pointers under a lock.
 * g_ndirs is read without the lock first, so programs that never open a
 * directory in lkd pay one atomic load per DIR call.
 */
static pthread_mutex_t g_dirs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lkdir **g_dirs;
static size_t g_ndirs, g_dirs_cap;

static struct lkdir *mine(DIR *d)
{
	if (__atomic_load_n(&g_ndirs, __ATOMIC_ACQUIRE) == 0 || d == NULL) return NULL;
	struct lkdir *found = NULL;
	pthread_mutex_lock(&g_dirs_lock);
	for (size_t i = 0; i < g_ndirs; i++) {
		if (g_dirs[i] == (struct lkdir *)d) {
			found = g_dirs[i];
			break;
		}
	}
	pthread_mutex_unlock(&g_dirs_lock);
	return found;
}

static int remember(struct lkdir *l)
{
	int r = 0;
	pthread_mutex_lock(&g_dirs_lock);
	if (g_ndirs == g_dirs_cap) {
		size_t cap = g_dirs_cap ? 2 * g_dirs_cap : 16;
		struct lkdir **n = realloc(g_dirs, cap * sizeof(*n));
		if (n == NULL) {
			r = -1;
			goto out;
		}
		g_dirs = n;
		g_dirs_cap = cap;
	}
	g_dirs[g_ndirs] = l;
	__atomic_store_n(&g_ndirs, g_ndirs + 1, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&g_dirs_lock);
	if (r < 0) errno = ENOMEM;
	return r;
}

static void forget(struct lkdir *l)
{
	pthread_mutex_lock(&g_dirs_lock);
	for (size_t i = 0; i < g_ndirs; i++) {
		if (g_dirs[i] == l) {
			g_dirs[i] = g_dirs[g_ndirs - 1];
			__atomic_store_n(&g_ndirs, g_ndirs - 1, __ATOMIC_RELEASE);
			break;
		}
	}
	pthread_mutex_unlock(&g_dirs_lock);
}

/* A stream on kernel fd `fd`, which it then owns; NULL/errno (fd stays
 * the caller's). */
static DIR *stream_of(int fd)
{
	struct stat st;
	if (lk_sys_fstat(fd, &st) < 0) return NULL;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return NULL;
	}
	struct lkdir *l = calloc(1, sizeof(*l));
	if (l == NULL) return NULL;
	pthread_mutex_init(&l->lock, NULL);
	l->fd = fd;
	if (remember(l) < 0) {
		free(l);
		return NULL;
	}
	return (DIR *)l;
}

/* The next record, or NULL: errno set on an error, unchanged at the end. */
static struct dirent64 *next_locked(struct lkdir *l)
{
	if (l->pos >= l->len) {
		int err = errno;
		ssize_t n = lk_sys_getdents64(l->fd, l->buf, sizeof(l->buf));
		if (n <= 0) {
			if (n == 0) errno = err;
			return NULL;
		}
		l->len = (size_t)n;
		l->pos = 0;
	}
	struct dirent64 *e = (struct dirent64 *)(l->buf + l->pos);
	l->pos += e->d_reclen;
	l->tell = e->d_off;
	return e;
}

static struct dirent64 *next(struct lkdir *l)
{
	pthread_mutex_lock(&l->lock);
	struct dirent64 *e = next_locked(l);
	pthread_mutex_unlock(&l->lock);
	return e;
}

/* Moves the kernel fd's position and drops what the buffer held. */
static void seek_to(struct lkdir *l, long off)
{
	pthread_mutex_lock(&l->lock);
	if (lk_sys_lseek(l->fd, off, SEEK_SET) >= 0) l->tell = off;
	l->pos = l->len = 0;
	pthread_mutex_unlock(&l->lock);
}

/* `host`: libc's own `name`, of the type glibc declares it with. */
/* ---- opening and closing ------------------------------------------- */

EXPORT DIR *opendir(const char *path)
{
	int dirfd = AT_FDCWD;
	const char *inside = path;
	if (!to_lkd(&dirfd, &inside)) {
		LIBC(opendir);
		return host(path);
	}
	/* openat (hijack.c) places the kernel fd behind a host placeholder. */
	int fd = openat(AT_FDCWD, path, O_RDONLY | O_NONBLOCK | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) return NULL;
	DIR *d = stream_of(fd);
	if (d == NULL) {
		int err = errno;
		close(fd);
		errno = err;
	}
	return d;
}

EXPORT DIR *fdopendir(int fd)
{
	if (!is_kernel(fd)) {
		LIBC(fdopendir);
		return host(fd);
	}
	/* As glibc: a descriptor not open for reading is no directory stream. */
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0) return NULL;
	if ((fl & O_ACCMODE) == O_WRONLY) {
		errno = EINVAL;
		return NULL;
	}
	return stream_of(fd);
}

EXPORT int closedir(DIR *d)
{
	struct lkdir *l = mine(d);
	if (l == NULL) {
		LIBC(closedir);
		return host(d);
	}
	forget(l);
	int r = close(l->fd);
	pthread_mutex_destroy(&l->lock);
	free(l);
	return r;
}

EXPORT int dirfd(DIR *d)
{
	struct lkdir *l = mine(d);
	if (l == NULL) {
		LIBC(dirfd);
		return host(d);
	}
	return l->fd;
}

/* ---- reading ------------------------------------------------------- */

EXPORT struct dirent *readdir(DIR *d)
{
	struct lkdir *l = mine(d);
	if (l == NULL) {
		LIBC(readdir);
		return host(d);
	}
	return (struct dirent *)next(l);
}
EXPORT struct dirent64 *readdir64(DIR *d)
{
	struct lkdir *l = mine(d);
	if (l == NULL) {
		LIBC(readdir64);
		return host(d);
	}
	return next(l);
}

/* The record copied into the caller's entry: 0, or the errno. */
static int next_into(struct lkdir *l, struct dirent64 *entry, struct dirent64 **result)
{
	int err = errno;
	errno = 0;
	pthread_mutex_lock(&l->lock);
	struct dirent64 *e = next_locked(l);
	if (e != NULL) memcpy(entry, e, offsetof(struct dirent64, d_name) + strlen(e->d_name) + 1);
	pthread_mutex_unlock(&l->lock);
	int r = e == NULL ? errno : 0;
	errno = err;
	*result = e == NULL ? NULL : entry;
	return r;
}
/* Deprecated, but still called by old programs. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
EXPORT int readdir_r(DIR *d, struct dirent *entry, struct dirent **result)
{
	struct lkdir *l = mine(d);
	if (l == NULL) {
		LIBC(readdir_r);
		return host(d, entry, result);
	}
	return next_into(l, (struct dirent64 *)entry, (struct dirent64 **)result);
}
EXPORT int readdir64_r(DIR *d, struct dirent64 *entry, struct dirent64 **result)
{
	struct lkdir *l = mine(d);
	if (l == NULL) {
		LIBC(readdir64_r);
		return host(d, entry, result);
	}
	return next_into(l, entry, result);
}
#pragma GCC diagnostic pop

/* ---- positions ----------------------------------------------------- */

EXPORT void rewinddir(DIR *d)
{
	struct lkdir *l = mine(d);
	if (l == NULL) {
		LIBC(rewinddir);
		host(d);
		return;
	}
	seek_to(l, 0);
}

/* A position is the kernel's d_off of the record read last: seeking there
 * makes the next readdir return the record after it, as on the host. */
EXPORT long telldir(DIR *d)
{
	struct lkdir *l = mine(d);
	if (l == NULL) {
		LIBC(telldir);
		return host(d);
	}
	pthread_mutex_lock(&l->lock);
	long t = l->tell;
	pthread_mutex_unlock(&l->lock);
	return t;
}
EXPORT void seekdir(DIR *d, long loc)
{
	struct lkdir *l = mine(d);
	if (l == NULL) {
		LIBC(seekdir);
		host(d, loc);
		return;
	}
	seek_to(l, loc);
}

/* ---- scandir ------------------------------------------------------- */

typedef int (*scan_filter)(const struct dirent *);
typedef int (*scan_compar)(const struct dirent **, const struct dirent **);

/* scandir over one of our streams, which it closes: the count, or -1
 * with errno and nothing left allocated. */
static int scan(DIR *d, struct dirent ***list, scan_filter filter, scan_compar compar)
{
	struct lkdir *l = (struct lkdir *)d;
	struct dirent **v = NULL;
	size_t n = 0, cap = 0;
	int err = 0, saved = errno;
	struct dirent64 *e;
	/* errno tells the end (unchanged) from an error: a filter may set it. */
	for (errno = 0; (e = next(l)) != NULL; errno = 0) {
		if (filter && !filter((struct dirent *)e)) continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			struct dirent **nv = realloc(v, cap * sizeof(*nv));
			if (nv == NULL) break;
			v = nv;
		}
		struct dirent *copy = malloc(e->d_reclen);
		if (copy == NULL) break;
		memcpy(copy, e, e->d_reclen);
		v[n++] = copy;
	}
	err = errno;
	closedir(d);
	if (err) {
		while (n > 0) free(v[--n]);
		free(v);
		errno = err;
		return -1;
	}
	if (compar)
		qsort(v, n, sizeof(*v), (int (*)(const void *, const void *))compar);
	*list = v;
	errno = saved;
	return (int)n;
}

EXPORT int scandirat(int dirfd, const char *path, struct dirent ***list, scan_filter filter,
		     scan_compar compar)
{
	int lkd_dirfd = dirfd;
	const char *inside = path;
	if (!to_lkd(&lkd_dirfd, &inside)) {
		LIBC(scandirat);
		return host(dirfd, path, list, filter, compar);
	}
	int fd = openat(dirfd, path, O_RDONLY | O_NONBLOCK | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) return -1;
	DIR *d = stream_of(fd);
	if (d == NULL) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return scan(d, list, filter, compar);
}
EXPORT int scandirat64(int dirfd, const char *path, struct dirent64 ***list,
		       int (*filter)(const struct dirent64 *),
		       int (*compar)(const struct dirent64 **, const struct dirent64 **))
{
	return scandirat(dirfd, path, (struct dirent ***)list, (scan_filter)filter,
			 (scan_compar)compar);
}
EXPORT int scandir(const char *path, struct dirent ***list, scan_filter filter,
		   scan_compar compar)
{
	return scandirat(AT_FDCWD, path, list, filter, compar);
}
EXPORT int scandir64(const char *path, struct dirent64 ***list,
		     int (*filter)(const struct dirent64 *),
		     int (*compar)(const struct dirent64 **, const struct dirent64 **))
{
	return scandirat64(AT_FDCWD, path, list, filter, compar);
}

/* ---- getdents64 ---------------------------------------------------- */

EXPORT ssize_t getdents64(int fd, void *buf, size_t n)
{
	if (!is_kernel(fd)) return syscall(SYS_getdents64, fd, buf, n);
	/* Fewer records than fit is a valid answer; a buffer larger than the
	 * channel's data area would not cross it. */
	if (n > 65536) n = 65536;
	return lk_sys_getdents64(fd, buf, n);
}

/* ---- glob ---------------------------------------------------------- */

/*
 * glibc's glob reads directories and stats names with internal calls,
 * but takes the functions to use from the caller with GLOB_ALTDIRFUNC:
 * for a pattern under the prefix it gets the hooks of this library
 * (which hand host paths on to libc). A caller's own GLOB_ALTDIRFUNC
 * functions are left as they are.
 */
static void glob_closedir(void *d) { closedir(d); }
static struct dirent *glob_readdir(void *d) { return readdir(d); }
static void *glob_opendir(const char *path) { return opendir(path); }

EXPORT int glob(const char *pattern, int flags, int (*errfunc)(const char *, int), glob_t *g)
{
	LIBC(glob);
	int dirfd = AT_FDCWD;
	const char *inside = pattern;
	if ((flags & GLOB_ALTDIRFUNC) || !to_lkd(&dirfd, &inside))
		return host(pattern, flags, errfunc, g);
	g->gl_closedir = glob_closedir;
	g->gl_readdir = glob_readdir;
	g->gl_opendir = glob_opendir;
	g->gl_lstat = lstat;
	g->gl_stat = stat;
	return host(pattern, flags | GLOB_ALTDIRFUNC, errfunc, g);
}
EXPORT int glob64(const char *pattern, int flags, int (*errfunc)(const char *, int), glob64_t *g)
	__attribute__((alias("glob")));

/* ---- ftw and nftw -------------------------------------------------- */

/*
 * glibc's ftw and nftw walk with internal opendir, readdir and stat, so a
 * tree under the prefix is walked here, over the hooks above, reporting
 * what glibc would. The walk holds one stream per level (nopenfd, a hint,
 * is not needed) and refuses FTW_CHDIR (ENOTSUP): this library does not
 * move the working directory into lkd.
 */
typedef int (*nftw_fn)(const char *, const struct stat *, int, struct FTW *);
typedef int (*ftw_fn)(const char *, const struct stat *, int);

struct walk {
	nftw_fn fn;		/* nftw's callback, or NULL for ftw's */
	ftw_fn old_fn;
	int flags;		/* FTW_* of nftw; 0 for ftw */
	dev_t dev;		/* the root's device, for FTW_MOUNT */
	char path[PATH_MAX];
};

static int report(struct walk *w, const struct stat *st, int type, int base, int level)
{
	struct FTW f = {.base = base, .level = level};
	if (w->fn) return w->fn(w->path, st, type, &f);
	/* ftw knows no links and no post-order: a dangling link is FTW_NS. */
	return w->old_fn(w->path, st, type == FTW_SLN ? FTW_NS : type);
}

/* Whether nftw's result r is one FTW_ACTIONRETVAL lets the walk go on
 * after, in the directory that holds the entry. */
static int goes_on(const struct walk *w, int r)
{
	return r == 0 || ((w->flags & FTW_ACTIONRETVAL) && r == FTW_SKIP_SUBTREE);
}

/* Reports w->path (len bytes, its name at base) and what is below it:
 * 0, the callback's result that ends the walk, or -1/errno. */
static int visit(struct walk *w, size_t len, int base, int level)
{
	struct stat st;
	int phys = w->flags & FTW_PHYS;
	if ((phys ? lstat(w->path, &st) : stat(w->path, &st)) < 0) {
		if (level > 0 && errno != EACCES && errno != ENOENT) return -1;
		struct stat lst;
		if (!phys && errno == ENOENT && lstat(w->path, &lst) == 0 && S_ISLNK(lst.st_mode))
			return report(w, &lst, FTW_SLN, base, level);
		if (level == 0) return -1;
		return report(w, &st, FTW_NS, base, level);
	}
	if (!S_ISDIR(st.st_mode))
		return report(w, &st, S_ISLNK(st.st_mode) ? FTW_SL : FTW_F, base, level);
	if (level == 0) w->dev = st.st_dev;
	else if ((w->flags & FTW_MOUNT) && st.st_dev != w->dev) return 0;

	DIR *d = opendir(w->path);
	if (d == NULL) return errno == EACCES ? report(w, &st, FTW_DNR, base, level) : -1;
	int r = 0;
	if (!(w->flags & FTW_DEPTH)) {
		r = report(w, &st, FTW_D, base, level);
		if (r != 0) {
			closedir(d);
			return goes_on(w, r) ? 0 : r;
		}
	}
	struct dirent *e;
	for (errno = 0; (e = readdir(d)) != NULL; errno = 0) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
		size_t n = strlen(e->d_name);
		if (len + 1 + n >= sizeof(w->path)) {
			errno = ENAMETOOLONG;
			r = -1;
			break;
		}
		w->path[len] = '/';
		memcpy(w->path + len + 1, e->d_name, n + 1);
		r = visit(w, len + 1 + n, (int)len + 1, level + 1);
		w->path[len] = 0;
		if (goes_on(w, r)) r = 0;
		else if ((w->flags & FTW_ACTIONRETVAL) && r == FTW_SKIP_SIBLINGS) {
			r = 0;
			break;
		} else break;
	}
	if (e == NULL && errno != 0) r = -1;
	int err = errno;
	closedir(d);
	errno = err;
	if (r == 0 && (w->flags & FTW_DEPTH)) r = report(w, &st, FTW_DP, base, level);
	return r;
}

/* The walk from `dir`, or -1 when libc should do it (not under the
 * prefix). */
static int walk_lkd(struct walk *w, const char *dir, int *result)
{
	int dirfd = AT_FDCWD;
	const char *inside = dir;
	if (!to_lkd(&dirfd, &inside) || dir[0] != '/') return -1;
	if (w->flags & FTW_CHDIR) {
		errno = ENOTSUP;
		*result = -1;
		return 0;
	}
	size_t len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/') len--;  /* "/lkd/d/" is /lkd/d */
	if (len >= sizeof(w->path)) {
		errno = ENAMETOOLONG;
		*result = -1;
		return 0;
	}
	memcpy(w->path, dir, len);
	w->path[len] = 0;
	const char *slash = strrchr(w->path, '/');
	int r = visit(w, len, slash && slash[1] ? (int)(slash - w->path) + 1 : 0, 0);
	if ((w->flags & FTW_ACTIONRETVAL) && (r == FTW_SKIP_SUBTREE || r == FTW_SKIP_SIBLINGS)) r = 0;
	*result = r;
	return 0;
}

EXPORT int nftw(const char *dir, nftw_fn fn, int nopenfd, int flags)
{
	struct walk *w = calloc(1, sizeof(*w));
	int r;
	if (w == NULL) return -1;
	w->fn = fn;
	w->flags = flags;
	if (walk_lkd(w, dir, &r) < 0) {
		LIBC(nftw);
		r = host(dir, fn, nopenfd, flags);
	}
	int err = errno;
	free(w);
	errno = err;
	return r;
}
/* The same walk: struct stat64 is struct stat on x86-64. */
EXPORT int nftw64(const char *dir, int (*fn)(const char *, const struct stat64 *, int, struct FTW *),
		  int nopenfd, int flags)
{
	return nftw(dir, (nftw_fn)(void (*)(void))fn, nopenfd, flags);
}

EXPORT int ftw(const char *dir, ftw_fn fn, int nopenfd)
{
	struct walk *w = calloc(1, sizeof(*w));
	int r;
	if (w == NULL) return -1;
	w->old_fn = fn;
	if (walk_lkd(w, dir, &r) < 0) {
		LIBC(ftw);
		r = host(dir, fn, nopenfd);
	}
	int err = errno;
	free(w);
	errno = err;
	return r;
}
EXPORT int ftw64(const char *dir, int (*fn)(const char *, const struct stat64 *, int), int nopenfd)
{
	return ftw(dir, (ftw_fn)(void (*)(void))fn, nopenfd);
}
