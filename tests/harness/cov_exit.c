/*
 * cov_exit.c — in the coverage build only (make coverage): _exit writes the
 * gcov counters first.  The daemon leaves with _exit when a thread is still
 * inside a call to a server that does not answer (main.c); without this the
 * runs of the hang tests would count for nothing.  The link wraps _exit
 * (-Wl,--wrap=_exit), so the daemon's code is the same as in every build.
 */
#include <stdnoreturn.h>

void __gcov_dump(void);
noreturn void __real__exit(int status);
noreturn void __wrap__exit(int status);

noreturn void __wrap__exit(int status)
{
	__gcov_dump();
	__real__exit(status);
}
