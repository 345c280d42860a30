/*
 * offload.h — run blocking work (a Redis query, a file read) on a worker
 * thread and finish on the event loop.
 *
 * offload_submit(o, work, done, arg): work(arg) runs on the worker thread,
 * then done(arg) runs on the loop thread (where it may reply to an HTTP
 * request).  Jobs run one at a time, in order.  offload_free() runs what is
 * still queued, then calls the outstanding done()s before returning; call it
 * on the loop thread.  The caller owns arg throughout.
 */
#ifndef AGG_OFFLOAD_H
#define AGG_OFFLOAD_H

#include <event2/event.h>

struct offload;

struct offload *offload_new(struct event_base *base, const char *name);
int offload_submit(struct offload *o, void (*work)(void *), void (*done)(void *), void *arg);
void offload_free(struct offload *o);

#endif
