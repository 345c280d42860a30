/*
 * syncwatch.so — an LD_PRELOAD library for the integration tests: it
 * records which files and directories a process made durable, so a test
 * can take away what a power cut would (tests/integration/test_durable_spool.sh).
 *
 *   LD_PRELOAD=tests/harness/syncwatch.so SYNCWATCH_DIR=/abs/dir SYNCWATCH_LOG=/abs/log CMD
 *
 * Every fsync() or fdatasync() that succeeds on a descriptor whose path
 * (/proc/self/fd) lies under SYNCWATCH_DIR appends one line to
 * SYNCWATCH_LOG, before the call returns to the process:
 *
 *   file PATH SIZE      a regular file, its size at that moment (bytes)
 *   dir PATH            a directory (its entries made durable)
 *
 * One write() per line with O_APPEND, so lines of several threads never
 * mix.  Nothing else changes: the real call is made first and its result
 * returned.  A test tool, built plain (never sanitized).
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void note(int fd)
{
	const char *dir = getenv("SYNCWATCH_DIR"), *log = getenv("SYNCWATCH_LOG");
	if (!dir || !log || !dir[0])
		return;
	char link[64], path[4096];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	if (n < 0)
		return;
	path[n] = '\0';
	if (strncmp(path, dir, strlen(dir)) != 0)
		return;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return;
	char line[4200];
	int len = S_ISDIR(st.st_mode) ? snprintf(line, sizeof(line), "dir %s\n", path)
				      : snprintf(line, sizeof(line), "file %s %lld\n", path, (long long)st.st_size);
	if (len <= 0 || len >= (int)sizeof(line))
		return;
	int lf = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (lf < 0)
		return;
	if (write(lf, line, (size_t)len) < 0) {
		/* nothing to do: the test sees the line missing */
	}
	close(lf);
}

int fsync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	int rc = real ? real(fd) : -1;
	if (rc == 0)
		note(fd);
	return rc;
}

int fdatasync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	int rc = real ? real(fd) : -1;
	if (rc == 0)
		note(fd);
	return rc;
}
