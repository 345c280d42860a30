/*
 * fsutil.c — directories, atomic durable writes and safe whole-file reads
 * (see fsutil.h).  Plain POSIX calls; no state.
 *
 * DESIGN.  A file the daemon writes (a usage file, a marker) must be either
 * the old one or the new one after a crash or a power cut: write a temp file
 * beside it, fsync it, rename() it over the old name (atomic within one
 * file system), then fsync the directory so the rename itself is on disk.
 * A file the daemon reads from state_dir may have been replaced by anyone
 * with write access there, so reads refuse links and anything that is not a
 * regular file, and never block in open() (O_NONBLOCK: a FIFO would).
 */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"

int fs_mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	size_t n = strlen(tmp);
	while (n > 1 && tmp[n - 1] == '/')
		tmp[--n] = '\0';
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0) {
		if (errno != EEXIST)
			return -1;
		struct stat st;
		if (stat(tmp, &st) < 0)
			return -1;
		if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			return -1;
		}
	}
	return 0;
}

/* The directory part of path into out ("." when path has no '/'). */
static int parent_of(const char *path, char *out, size_t len)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return snprintf(out, len, ".") < (int)len ? 0 : -1;
	size_t n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out, path, n);
	out[n] = '\0';
	return 0;
}

int fs_mkdir_parent(const char *path, mode_t mode)
{
	char dir[PATH_MAX];
	if (parent_of(path, dir, sizeof(dir)) < 0)
		return -1;
	return strcmp(dir, ".") == 0 ? 0 : fs_mkdir_p(dir, mode);
}

int fs_fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	if (parent_of(path, dir, sizeof(dir)) < 0)
		return -1;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	int rc = fsync(dfd);
	int e = errno;
	close(dfd);
	errno = e;
	return rc;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	if (fs_mkdir_parent(path, 0700) < 0)
		return set_err(err, errlen, "cannot create the directory of '%s': %s", path, strerror(errno));
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return set_err(err, errlen, "path '%s' is too long", path);
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return set_err(err, errlen, "cannot create '%s': %s", tmp, strerror(errno));
	const char *p = data;
	size_t left = len;
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : ENOSPC;
			close(fd);
			unlink(tmp);
			errno = e;
			return set_err(err, errlen, "cannot write '%s': %s", tmp, strerror(e));
		}
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		return set_err(err, errlen, "cannot fsync '%s': %s", tmp, strerror(e));
	}
	if (close(fd) < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return set_err(err, errlen, "cannot close '%s': %s", tmp, strerror(e));
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return set_err(err, errlen, "cannot rename '%s' to '%s': %s", tmp, path, strerror(e));
	}
	if (fs_fsync_parent(path) < 0)
		return set_err(err, errlen, "cannot fsync the directory of '%s': %s", path, strerror(errno));
	return 0;
}

int fs_read_file(const char *path, size_t max, char **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 0 || (unsigned long long)st.st_size > max) {
		close(fd);
		errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		return -1;
	}
	size_t size = (size_t)st.st_size;
	char *b = malloc(size + 1);
	if (!b) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, b + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;	/* shrank under us */
			free(b);
			close(fd);
			errno = e;
			return -1;
		}
		got += (size_t)r;
	}
	close(fd);
	b[got] = '\0';
	*data = b;
	*len = got;
	return 0;
}

const char *fs_read_why(int errnum)
{
	return errnum == ELOOP ? "a symbolic link" : errnum == EINVAL ? "not a regular file" :
	       errnum == EFBIG ? "too large" : strerror(errnum);
}
