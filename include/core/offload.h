/*
 * offload.h — run blocking work (a Redis query, a file read) on a worker
 * thread and finish on the event loop.
 *
 * offload_submit(o, work, done, arg): work(arg) runs on the worker thread,
 * then done(arg) runs on the loop thread (where it may reply to an HTTP
 * request).  Jobs run one at a time, in order, on a worker (worker.h).
 * offload_stop_request() asks it to stop (phase 1 of a shut-down);
 * offload_free() waits until deadline_us (mono_usec(); 0: no bound) while
 * it runs what is still queued, then calls the outstanding done()s and
 * frees it: 0.  -1 when the worker is still inside a task at the deadline:
 * it is left running and nothing is freed (the process is exiting).  Call
 * both on the loop thread.  The caller owns arg throughout.
 */
#ifndef AGG_OFFLOAD_H
#define AGG_OFFLOAD_H

#include <event2/event.h>
#include <stdint.h>

struct offload;

struct offload *offload_new(struct event_base *base, const char *name);
int offload_submit(struct offload *o, void (*work)(void *), void (*done)(void *), void *arg);
void offload_stop_request(struct offload *o);		/* NULL is fine */
int offload_free(struct offload *o, uint64_t deadline_us);	/* NULL is fine */

#endif
