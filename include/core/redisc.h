/*
 * redisc.h — one way to open a blocking hiredis connection from the config.
 *
 * Each thread that talks to Redis owns its own connection (hiredis contexts
 * are not thread-safe).  Timeouts: redis.timeout_ms for connect and for every
 * command (redisSetTimeout), so a frozen Redis costs a thread at most that
 * long per call and the call fails ("Resource temporarily unavailable");
 * the callers retry as for any Redis error.  hiredis counts the timeout per
 * socket read, so a Redis that trickles its replies can stretch one call
 * beyond it (replies here are small: a few reads each).
 */
#ifndef AGG_REDISC_H
#define AGG_REDISC_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "config.h"

/*
 * Connect to rc's server, AUTH and SELECT as configured.  Returns the
 * context (caller frees with redisFree()), or NULL with the reason in err.
 */
redisContext *redis_connect(const struct redis_cfg *rc, char *err, size_t errlen);

/*
 * Make *dst a deep copy of src (host and password duplicated), freeing
 * what dst held.  0, or -1 after logging (dst unchanged).  Release a copy
 * with redis_cfg_release().
 */
int redis_cfg_copy(struct redis_cfg *dst, const struct redis_cfg *src);
void redis_cfg_release(struct redis_cfg *c);

/*
 * A thread's own copy of settings another thread may replace (a reload):
 * taken under the owner's lock, then used without it.  cfg.host and
 * cfg.password point into the arrays; nothing is allocated.
 */
struct redis_snap {
	struct redis_cfg cfg;
	char host[1024], password[1024];
};
void redis_snap_take(struct redis_snap *s, const struct redis_cfg *src);

#endif
