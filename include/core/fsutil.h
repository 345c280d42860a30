/*
 * fsutil.h — the daemon's one way to touch its files under state_dir:
 * create directories, write a file so that a crash leaves the old file or
 * the new one (never half of one), make a new directory entry durable, and
 * read a whole regular file without following links or blocking on a FIFO.
 *
 * Errors: 0 or -1 with errno set (and, where err is given, a message naming
 * the path, e.g. "cannot create '/x/y.tmp.12': Permission denied").
 * Ownership: fs_read_file() hands back a buffer the caller frees with
 * free().  Any thread; blocking (disk I/O): never on the event loop for
 * large files.
 */
#ifndef AGG_FSUTIL_H
#define AGG_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* mkdir -p of path itself, each missing level created with mode. */
int fs_mkdir_p(const char *path, mode_t mode);

/* mkdir -p of the directory that holds path (everything before its last '/'). */
int fs_mkdir_parent(const char *path, mode_t mode);

/* fsync the directory holding path, so a file created or renamed there survives a power cut. */
int fs_fsync_parent(const char *path);

/*
 * Write data[0..len) to path atomically and durably: the parent directories
 * (mode 0700 when created), a temp file beside it (path.tmp.PID, file mode
 * `mode`), write, fsync, rename over path, fsync the directory.  On failure
 * the temp file is removed and path is untouched.
 */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    char *err, size_t errlen);

/*
 * Read all of a regular file of at most max bytes.  Opened with O_NOFOLLOW
 * and O_NONBLOCK (a link or a FIFO put in state_dir is refused, never
 * followed or waited on); not a regular file: EINVAL; larger than max:
 * EFBIG.  *data is NUL-terminated (one byte past *len); caller frees.
 */
int fs_read_file(const char *path, size_t max, char **data, size_t *len);

/* Why fs_read_file() failed, from its errno, in words for a log line: a
 * symbolic link, not a regular file, too large, or strerror()'s text. */
const char *fs_read_why(int errnum);

#endif
