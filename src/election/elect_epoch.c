/*
 * elect_epoch.c — the highest epoch this node has seen, kept under
 * state_dir so that a restart does not forget it (docs/election.md, "The
 * epoch across restarts").
 *
 * The bump's floor is the greatest of what Redis holds and what the node
 * saw.  Held in memory only, that floor was lost with the process: a Redis
 * that lost the epoch key (restarted without persistence, flushed) while
 * every node restarted too would hand out epochs from 1 again, and
 * consumers would fence the new leader's events as a deposed leader's.
 *
 * The file: <state_dir>/election/epoch, one line "<cluster>+<cluster_id>
 * <epoch>\n", written atomically and durably (fs_write_atomic) each time
 * the epoch the node has seen grows, before events are stamped with it.
 * Elections are rare, so is the write.  Thread: the election thread (and
 * the job's create, before the thread starts).
 */
#include "elect_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "log.h"

#define EPOCH_FILE_MAX 512	/* bytes: a group name and a number, with room */

int elect_epoch_path(char *out, size_t n, const char *state_dir)
{
	int w = snprintf(out, n, "%s/election/epoch", state_dir);
	return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* "<cluster>+<cluster_id>", the file's first word. */
static void group_of(const struct elect *e, char *out, size_t n)
{
	snprintf(out, n, "%s+%d", e->cluster, e->cluster_id);
}

unsigned long long elect_epoch_load(const struct elect *e)
{
	char group[ELECT_KEY_MAX], *data = NULL;
	size_t len = 0;
	group_of(e, group, sizeof(group));
	if (fs_read_file(e->epoch_path, EPOCH_FILE_MAX, &data, &len) < 0) {
		if (errno != ENOENT)
			log_warn("election: cannot read '%s': %s; the epoch starts from what redis holds",
				 e->epoch_path, fs_read_why(errno));
		return 0;
	}
	/* "<group> <digits>\n" and nothing else */
	unsigned long long v = 0;
	char *sp = memchr(data, ' ', len), *end = NULL;
	if (sp && ((size_t)(sp - data) != strlen(group) || memcmp(data, group, strlen(group)) != 0)) {
		log_warn("election: '%s' is not for group '%s'; ignored, the epoch starts from what redis "
			 "holds", e->epoch_path, group);
	} else {
		errno = 0;
		if (sp && sp[1] >= '0' && sp[1] <= '9')
			v = strtoull(sp + 1, &end, 10);
		if (!end || errno || end != data + len - 1 || *end != '\n' || v == 0) {
			log_warn("election: '%s' does not hold \"%s EPOCH\"; ignored, the epoch starts from "
				 "what redis holds", e->epoch_path, group);
			v = 0;
		}
	}
	free(data);
	return v;
}

int elect_epoch_save(const struct elect *e, unsigned long long epoch, char *err, size_t errlen)
{
	char group[ELECT_KEY_MAX], line[EPOCH_FILE_MAX];
	group_of(e, group, sizeof(group));
	int n = snprintf(line, sizeof(line), "%s %llu\n", group, epoch);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		snprintf(err, errlen, "the group's name is too long");
		return -1;
	}
	return fs_write_atomic(e->epoch_path, line, (size_t)n, 0600, err, errlen);
}
