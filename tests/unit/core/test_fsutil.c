/* test_fsutil.c — directories, atomic writes and safe reads (src/core/fsutil.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "suites.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/agg-fsutil-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static char *at(const char *rel)
{
	static char p[4][256];
	static int i;
	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, rel);
	return p[i];
}

START_TEST(mkdir_p_levels)
{
	ck_assert_int_eq(fs_mkdir_p(at("a/b/c/"), 0700), 0);
	struct stat st;
	ck_assert_int_eq(stat(at("a/b/c"), &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	ck_assert_int_eq(fs_mkdir_p(at("a/b/c"), 0700), 0);	/* already there */
	FILE *f = fopen(at("file"), "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(fs_mkdir_p(at("file"), 0700), -1);	/* a file in the way */
	ck_assert_int_eq(errno, ENOTDIR);
	ck_assert_int_eq(fs_mkdir_parent(at("x/y/z.bin"), 0700), 0);
	ck_assert_int_eq(stat(at("x/y"), &st), 0);
	ck_assert_int_ne(stat(at("x/y/z.bin"), &st), 0);
}
END_TEST

START_TEST(write_atomic_and_read)
{
	char err[256] = "";
	const char *path = at("d1/d2/f.bin");
	ck_assert_int_eq(fs_write_atomic(path, "hello", 5, 0640, err, sizeof(err)), 0);
	char *data;
	size_t len;
	ck_assert_int_eq(fs_read_file(path, 100, &data, &len), 0);
	ck_assert_uint_eq(len, 5);
	ck_assert_str_eq(data, "hello");	/* NUL-terminated */
	free(data);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0640);
	/* replaced whole, no temp file left beside it */
	ck_assert_int_eq(fs_write_atomic(path, "", 0, 0600, err, sizeof(err)), 0);
	ck_assert_int_eq(fs_read_file(path, 100, &data, &len), 0);
	ck_assert_uint_eq(len, 0);
	free(data);
	char tmp[300];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	ck_assert_int_ne(access(tmp, F_OK), 0);
}
END_TEST

START_TEST(write_atomic_failure_keeps_the_old_file)
{
	char err[256] = "";
	const char *path = at("ro/f");
	ck_assert_int_eq(fs_write_atomic(path, "old", 3, 0600, err, sizeof(err)), 0);
	/* the temp file's name taken by a directory: open() fails, even as root */
	char tmp[300];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	ck_assert_int_eq(mkdir(tmp, 0700), 0);
	ck_assert_int_eq(fs_write_atomic(path, "new", 3, 0600, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "cannot create") != NULL, "err '%s'", err);
	ck_assert_int_eq(rmdir(tmp), 0);
	char *data;
	size_t len;
	ck_assert_int_eq(fs_read_file(path, 100, &data, &len), 0);
	ck_assert_str_eq(data, "old");
	free(data);
}
END_TEST

START_TEST(read_refuses_links_fifos_and_big_files)
{
	char err[256];
	char *data = (char *)1;
	size_t len = 7;
	ck_assert_int_eq(fs_write_atomic(at("real"), "0123456789", 10, 0600, err, sizeof(err)), 0);
	ck_assert_int_eq(symlink(at("real"), at("link")), 0);
	ck_assert_int_eq(fs_read_file(at("link"), 100, &data, &len), -1);
	ck_assert_int_eq(errno, ELOOP);
	ck_assert_ptr_null(data);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(mkfifo(at("fifo"), 0600), 0);
	ck_assert_int_eq(fs_read_file(at("fifo"), 100, &data, &len), -1);	/* returns, no block */
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(fs_read_file(at("real"), 9, &data, &len), -1);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_int_eq(fs_read_file(at("real"), 10, &data, &len), 0);
	ck_assert_uint_eq(len, 10);
	free(data);
	ck_assert_int_eq(fs_read_file(at("missing"), 10, &data, &len), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

/* The old file and nothing else: no temp file left beside it. */
static void only_old(const char *path)
{
	char tmp[300];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	ck_assert_int_eq(access(tmp, F_OK), -1);
	char *data;
	size_t len;
	ck_assert_int_eq(fs_read_file(path, 100, &data, &len), 0);
	ck_assert_str_eq(data, "old");
	free(data);
}

START_TEST(write_atomic_write_and_rename_failures)
{
	char err[256] = "";
	const char *path = at("f");
	ck_assert_int_eq(fs_write_atomic(path, "old", 3, 0600, err, sizeof(err)), 0);

	/* a write refused (a file size limit, as a full disk would: EFBIG);
	 * in a child of its own: the limit would stop the test runner's
	 * own files too */
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct rlimit old, lim;
		signal(SIGXFSZ, SIG_IGN);
		if (getrlimit(RLIMIT_FSIZE, &old) < 0)
			_exit(2);
		lim = (struct rlimit){ 4, old.rlim_max };
		if (setrlimit(RLIMIT_FSIZE, &lim) < 0)
			_exit(2);
		int rc = fs_write_atomic(path, "0123456789", 10, 0600, err, sizeof(err));
		int e = errno;
		/* the limit lifted and exit, not _exit: a coverage build
		 * writes its counts at exit */
		setrlimit(RLIMIT_FSIZE, &old);
		errno = e;
		exit(rc == -1 && errno == EFBIG && strstr(err, "cannot write") != NULL ? 0 : 1);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the refused write: status %d", st);
	only_old(path);

	/* the rename refused: a directory holds the name */
	const char *dpath = at("d");
	ck_assert_int_eq(mkdir(dpath, 0700), 0);
	ck_assert_int_eq(fs_write_atomic(at("d/in"), "x", 1, 0600, err, sizeof(err)), 0);
	ck_assert_int_eq(fs_write_atomic(dpath, "new", 3, 0600, err, sizeof(err)), -1);
	ck_assert_msg(errno == EISDIR || errno == ENOTEMPTY, "errno %d", errno);
	ck_assert_msg(strstr(err, "cannot rename") != NULL, "err '%s'", err);
	char tmp[300];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", dpath, (int)getpid());
	ck_assert_int_eq(access(tmp, F_OK), -1);

	/* the directory cannot be made: a file in the way */
	ck_assert_int_eq(fs_write_atomic(at("f/g"), "new", 3, 0600, err, sizeof(err)), -1);
	ck_assert_int_eq(errno, ENOTDIR);
	ck_assert_msg(strstr(err, "cannot create the directory") != NULL, "err '%s'", err);
	only_old(path);

	/* a name that leaves no room for the temp file's suffix */
	static char longp[PATH_MAX];
	int n = snprintf(longp, sizeof(longp), "%s/", dir);
	memset(longp + n, 'a', sizeof(longp) - 4 - (size_t)n);
	longp[sizeof(longp) - 4] = '\0';
	ck_assert_int_eq(fs_write_atomic(longp, "new", 3, 0600, err, sizeof(err)), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	ck_assert_msg(strncmp(err, "path '", 6) == 0, "err '%s'", err);	/* "... is too long", cut to err's size */
}
END_TEST

START_TEST(paths_at_the_edges)
{
	/* longer than PATH_MAX */
	static char longp[PATH_MAX + 10];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[PATH_MAX + 5] = '/';	/* a parent of PATH_MAX bytes and more */
	longp[sizeof(longp) - 1] = '\0';
	ck_assert_int_eq(fs_mkdir_p(longp, 0700), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	ck_assert_int_eq(fs_fsync_parent(longp), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	/* no directory part: nothing to make; the root's parent is itself */
	ck_assert_int_eq(fs_mkdir_parent("plain-name", 0700), 0);
	ck_assert_int_eq(fs_fsync_parent("/agg-no-such-file"), 0);
	/* a parent that is not there */
	ck_assert_int_eq(fs_fsync_parent(at("missing/f")), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* a directory is not read as a file */
	char *data;
	size_t len;
	ck_assert_int_eq(fs_read_file(dir, 100, &data, &len), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

Suite *fsutil_suite(void)
{
	Suite *s = suite_create("fsutil");
	TCase *tc = tcase_create("fsutil");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, mkdir_p_levels);
	tcase_add_test(tc, write_atomic_and_read);
	tcase_add_test(tc, write_atomic_failure_keeps_the_old_file);
	tcase_add_test(tc, read_refuses_links_fifos_and_big_files);
	tcase_add_test(tc, write_atomic_write_and_rename_failures);
	tcase_add_test(tc, paths_at_the_edges);
	suite_add_tcase(s, tc);
	return s;
}
