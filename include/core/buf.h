/*
 * buf.h — a growable byte buffer (always NUL-terminated).
 *
 * Life cycle: `struct buf b = BUF_INIT;` ... buf_release(&b).  A buffer whose
 * allocation ever failed is marked (b.oom) and further appends are no-ops, so
 * a caller can build a whole document and check once at the end.
 * buf_detach() hands the bytes to the caller, who frees them with free().
 */
#ifndef AGG_BUF_H
#define AGG_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;	/* NUL-terminated contents, or "" when empty */
	size_t len;	/* bytes used, without the NUL */
	size_t cap;	/* bytes allocated */
	bool oom;	/* an allocation failed: contents are incomplete */
};

#define BUF_INIT { .data = buf_empty, .len = 0, .cap = 0, .oom = false }
extern char buf_empty[1];

void buf_init(struct buf *b);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);			/* len = 0, keeps memory */
int buf_grow(struct buf *b, size_t extra);	/* 0, or -1 and b->oom */
void buf_add(struct buf *b, const void *p, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_addf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap);
char *buf_detach(struct buf *b, size_t *len);	/* caller frees; NULL if oom */

/* Format a message into the caller's err[errlen]; returns -1 (for `return set_err(...)`). */
int set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
