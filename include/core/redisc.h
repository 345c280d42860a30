/*
 * redisc.h — one way to open a blocking hiredis connection from the config,
 * and one way to exchange a command on it: with a whole-call deadline.
 *
 * Each thread that talks to Redis owns its own connection (hiredis contexts
 * are not thread-safe).  Timeouts: redis.timeout_ms for connect, and for
 * each command as a whole (writing it, reading its reply, however the
 * bytes trickle): a call past its deadline fails the context with
 * "timed out after N ms (whole call)" (c->err REDIS_ERR_IO), and the
 * callers drop the connection and retry as for any Redis error.  Every
 * command goes through redis_call(), redis_call_argv() or, for pipelines
 * (commands queued with redisAppendCommand*()), redis_reply(); hiredis's
 * redisCommand()/redisGetReply() count their timeout per socket wait and
 * are not used.  Each call is declared to the calling thread's worker
 * (worker_call_begin), so the watchdog counts it alive until its deadline.
 */
#ifndef AGG_REDISC_H
#define AGG_REDISC_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include "config.h"

/*
 * Connect to rc's server, AUTH and SELECT as configured.  Returns the
 * context (caller frees with redisFree()), or NULL with the reason in err.
 */
redisContext *redis_connect(const struct redis_cfg *rc, char *err, size_t errlen);

/* The deadline (mono_usec() clock) of a call of timeout_ms starting now. */
uint64_t redis_deadline(int timeout_ms);

/*
 * One command: queued, written and its reply read before deadline_us
 * (redis_deadline()).  Returns the reply (an error reply included; caller
 * frees with freeReplyObject()), or NULL with c->err and c->errstr set:
 * the context is failed and the caller drops it (redisFree()).
 */
redisReply *redis_call(redisContext *c, uint64_t deadline_us, const char *fmt, ...);
redisReply *redis_call_argv(redisContext *c, uint64_t deadline_us, int argc, const char **argv,
			    const size_t *argvlen);

/*
 * Pipelines: write whatever is queued on c (redisAppendCommand*()) and read
 * the next reply, all before deadline_us.  0 with *reply set (caller frees
 * with freeReplyObject()), or -1 with *reply NULL and c failed as above.
 */
int redis_reply(redisContext *c, uint64_t deadline_us, redisReply **reply);

/* What is left of deadline_us at now_us as a timeval ({0,0} when none). */
struct timeval redis_time_left(uint64_t deadline_us, uint64_t now_us);

/*
 * Make *dst a deep copy of src (host, user and password duplicated), freeing
 * what dst held.  0, or -1 after logging (dst unchanged).  Release a copy
 * with redis_cfg_release().
 */
int redis_cfg_copy(struct redis_cfg *dst, const struct redis_cfg *src);
void redis_cfg_release(struct redis_cfg *c);

/*
 * A thread's own copy of settings another thread may replace (a reload):
 * taken under the owner's lock, then used without it.  cfg.host and
 * cfg.user and cfg.password point into the arrays; nothing is allocated.
 */
struct redis_snap {
	struct redis_cfg cfg;
	char host[1024], user[256], password[1024];
};
void redis_snap_take(struct redis_snap *s, const struct redis_cfg *src);

#endif
