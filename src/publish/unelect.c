/*
 * unelect.c — mark a stored event value "elected":false (unelect.h).
 *
 * The value is one publish.c built: {"node":<JSON string>,"epoch":<digits>,
 * "elected":true|false, then the event's members.  The first ,"epoch":
 * after {"node":" is the real member: inside a JSON string every quote is
 * escaped, so the node name cannot hold the unescaped ,"epoch": sequence.
 */
#include "unelect.h"

#include <string.h>

static const char node_m[] = "{\"node\":\"";
static const char epoch_m[] = ",\"epoch\":";
static const char el_true[] = ",\"elected\":true";
static const char el_false[] = ",\"elected\":false";
#define LIT(s) (sizeof(s) - 1)

/* Whether the literal s starts at v[at] (v holds len bytes). */
static int at_lit(const char *v, size_t len, size_t at, const char *s, size_t sl)
{
	return at <= len && len - at >= sl && memcmp(v + at, s, sl) == 0;
}

size_t unelect(const char *v, size_t len, char *out)
{
	if (len)
		memcpy(out, v, len);
	if (!at_lit(v, len, 0, node_m, LIT(node_m)))
		return len;
	const char *ep = memmem(v + LIT(node_m), len - LIT(node_m), epoch_m, LIT(epoch_m));
	if (!ep)
		return len;
	size_t d = (size_t)(ep - v) + LIT(epoch_m), e = d;
	while (e < len && v[e] >= '0' && v[e] <= '9')
		e++;
	if (e == d)
		return len;	/* not an epoch we wrote */
	if (at_lit(v, len, e, el_false, LIT(el_false)))
		return len;
	/* the mark that replaces ,"elected":true, or goes where it is missing */
	size_t skip = at_lit(v, len, e, el_true, LIT(el_true)) ? LIT(el_true) : 0;
	memcpy(out + e, el_false, LIT(el_false));
	if (len - e - skip)
		memcpy(out + e + LIT(el_false), v + e + skip, len - e - skip);
	return len - skip + LIT(el_false);
}
