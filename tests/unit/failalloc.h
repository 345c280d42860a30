/*
 * failalloc.h — an allocation-failure injector for the unit tests.
 *
 * check_unit is linked with --wrap for malloc, calloc, realloc, strdup,
 * strndup, asprintf and getline: every call from an object linked
 * statically (libagg.a, the tests, check itself) goes through
 * failalloc.c.  Off by default: nothing fails until a test arms it, so
 * every other test is unaffected.  Shared libraries (libconfig, PCRE2,
 * hiredis, libevent, zlib, libc's own internals) allocate unwrapped.
 *
 * oom_loop() is the one driver every out-of-memory test uses: it runs
 * body for n = 0, 1, 2, ...; body sets up (unarmed), brackets the call
 * under test with oom_arm()/oom_disarm() -- the n-th allocation from
 * oom_arm() fails, once, the others succeed -- then checks the outcome
 * and frees everything.  The loop ends at the first n the call made
 * fewer than n+1 allocations (it ran whole, no failure): body must then
 * see the full success.  Under the SANITIZE build each failure path is
 * thereby checked for leaks and use after free.
 */
#ifndef AGG_TEST_FAILALLOC_H
#define AGG_TEST_FAILALLOC_H

#include <stdbool.h>

/* Run body(arg) for n = 0, 1, ... until a run's armed call saw no failure.
 * Fails the test if body never called oom_arm(), or if the call under
 * test made no allocation at all (the test would prove nothing). */
void oom_loop(const char *what, void (*body)(void *arg), void *arg);
/* Inside body: fail the n-th allocation from now (n from oom_loop). */
void oom_arm(void);
/* Inside body: stop failing; true when an allocation was failed. */
bool oom_disarm(void);
/* Outside oom_loop (a driver that runs one n per process): set the n that
 * the next oom_arm() fails. */
void oom_set_n(long n);
/* The n of the current run (for messages). */
long oom_n(void);

#endif
