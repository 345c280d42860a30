/*
 * unelect.h — mark a stored event value "elected":false.
 *
 * An event the broker did not take in time goes to the spool and is
 * produced again later, possibly long after the epoch it was stamped with
 * was overtaken.  Under the consumer's rule (docs/election.md) an elected
 * event with an old epoch is a deposed leader's duplicate and is dropped;
 * a spooled event is not a duplicate (no other node holds it any more), so
 * it must not say elected.  Pure: no allocation, no clock, no globals.
 */
#ifndef AGG_UNELECT_H
#define AGG_UNELECT_H

#include <stddef.h>

/* Room unelect() may need beyond the value's own length. */
#define UNELECT_EXTRA (sizeof(",\"elected\":false") - 1)

/*
 * Copy the value v (len bytes) to out (room for len + UNELECT_EXTRA bytes)
 * with its envelope marked not elected: {"node":...,"epoch":N,"elected":true
 * becomes ...,"elected":false; an envelope without the mark (a release
 * before it, which counts as elected) gets ,"elected":false after the
 * epoch; one already false, or a value that does not start with the
 * envelope, is copied unchanged.  Returns the length written.
 */
size_t unelect(const char *v, size_t len, char *out);

#endif
