/*
 * usage_cli.c — test driver for the usage file codec (src/rollup/usage_capnp.c),
 * linked against the library under test (sanitized with it).
 *
 *   usage_cli encode [--raw] FILE     write the fixed sample hour (zlib, or the raw message)
 *   usage_cli synth N [--raw] [--account A] [--hour UNIX] [--seed S] [--location L] FILE
 *                                     write a synthetic hour of N VMs with realistic
 *                                     names and figures (deterministic per seed)
 *   usage_cli decode [--raw] FILE     decode a file and print it as text (below)
 *   usage_cli zlib                    compress stdin to stdout (zlib, level 9)
 *   usage_cli unzlib                  decompress a zlib stream on stdin to stdout
 *
 * decode prints one "name: value" line per HourUsage field, then one
 * "vm[i]:" line per VM with its fields as name=value, doubles with %.17g so
 * they read back exactly.  Exit status 0, 1 with "usage_cli: message" on
 * stderr when a file cannot be read, written or decoded, 2 on a usage error.
 * Single-threaded; everything it allocates is freed before exit (leak
 * checks stay quiet).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "buf.h"
#include "usage.h"

static int usage(void)
{
	fprintf(stderr, "usage: usage_cli encode [--raw] FILE\n"
		"       usage_cli synth N [--raw] [--account A] [--hour UNIX] [--seed S] [--location L] FILE\n"
		"       usage_cli decode [--raw] FILE\n"
		"       usage_cli zlib|unzlib < IN > OUT\n");
	return 2;
}

static int read_all(FILE *f, const char *name, struct buf *b)
{
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(b, chunk, n);
	if (ferror(f) || b->oom) {
		fprintf(stderr, "usage_cli: cannot read '%s': %s\n", name,
			b->oom ? "out of memory" : strerror(errno));
		return -1;
	}
	return 0;
}

static int write_file(const char *path, const struct buf *b)
{
	FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
	if (!f || fwrite(b->data, 1, b->len, f) != b->len || (f != stdout && fclose(f) != 0)) {
		fprintf(stderr, "usage_cli: cannot write '%s': %s\n", path, strerror(errno));
		return -1;
	}
	if (f == stdout)
		fflush(stdout);
	return 0;
}

static int emit(const struct usage_hour *h, bool raw, const char *path)
{
	struct buf b = BUF_INIT;
	int rc = raw ? usage_encode_raw(h, &b) : usage_encode(h, &b);
	if (rc < 0) {
		fprintf(stderr, "usage_cli: cannot encode the hour\n");
		buf_release(&b);
		return 1;
	}
	rc = write_file(path, &b) < 0 ? 1 : 0;
	buf_release(&b);
	return rc;
}

/*
 * The fixed sample (tests/integration/test_usage_capnp.sh checks these
 * values): 2023-11-14T22:00Z, two locations, three VMs in canonical order,
 * UTF-8 in one name, the largest UInt64 and UInt32 in another.
 */
static int cmd_encode(bool raw, const char *path)
{
	char *locs[] = { "loc-a", "loc-b" };
	struct usage_vm vms[] = {
		{ "loc-a", "cs-1234", "vm-5678-web", 2048.5, 40, 1234.25, 1000, 2000, 300000, 400000, 60 },
		{ "loc-a", "cs-1234", "vm-\xc3\xa9t\xc3\xa9-\xe6\x97\xa5", 512, 20.5, 0.125, 1, 2, 3, 4, 59 },
		{ "loc-b", "cs-9", "vm-max", 0, 0, 0, UINT64_MAX, 0, UINT64_MAX, 1, UINT32_MAX },
	};
	struct usage_hour h = { .account = "acme", .hour_start = 1700000000 - 1700000000 % 3600,
				.locations = locs, .nlocations = 2, .complete = true,
				.vms = vms, .nvms = 3 };
	return emit(&h, raw, path);
}

/* xorshift64*: a small deterministic generator for synthetic figures. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/*
 * A location node's hour for one account: n VMs named like production ones
 * (location "loc-a" unless given, cloudspace "cs-1234" shared by 8 VMs, vm
 * "vm-5678-web") with realistic figures: memory the mean of 60 integer MiB
 * samples, disk a multiple of 20 GiB, CPU a counter increase with 0.1 ms
 * resolution, operation and byte counts of a busy hour.
 */
static int cmd_synth(long n, bool raw, const char *account, long long hour, uint64_t seed,
		     const char *location, const char *path)
{
	static const char *const role[] = { "web", "db", "app", "cache" };
	struct usage_hour h = { .account = strdup(account), .hour_start = hour, .complete = true };
	uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 42;
	int rc = 1;

	h.locations = calloc(1, sizeof(char *));
	h.vms = calloc((size_t)n ? (size_t)n : 1, sizeof(*h.vms));
	if (!h.account || !h.locations || !h.vms || !(h.locations[0] = strdup(location)))
		goto oom;
	h.nlocations = 1;
	for (long i = 0; i < n; i++) {
		struct usage_vm *v = &h.vms[i];
		char cs[32], vm[32];
		snprintf(cs, sizeof(cs), "cs-%04ld", 1234 + i / 8 % 8000);
		snprintf(vm, sizeof(vm), "vm-%04ld-%s", 5678 + i % 4000, role[rnd(&s) % 4]);
		v->location = strdup(location);
		v->cloudspace = strdup(cs);
		v->vm = strdup(vm);
		h.nvms++;
		if (!v->location || !v->cloudspace || !v->vm)
			goto oom;
		double mem = 0;
		for (int k = 0; k < 60; k++)
			mem += (double)(1024 + rnd(&s) % 3072);
		v->mem_mib_mean = mem / 60;
		v->disk_gib_max = (double)(20 * (1 + rnd(&s) % 10));
		v->cpu_seconds = (double)(rnd(&s) % 36000000) / 10000.0;
		v->io_read = rnd(&s) % 200000;
		v->io_write = rnd(&s) % 100000;
		v->net_tx_bytes = rnd(&s) % (1ULL << 31);
		v->net_rx_bytes = rnd(&s) % (1ULL << 29);
		v->samples = 60;
	}
	usage_hour_sort(&h);
	rc = emit(&h, raw, path);
	usage_hour_release(&h);
	return rc;
oom:
	fprintf(stderr, "usage_cli: out of memory\n");
	usage_hour_release(&h);
	return 1;
}

static void print_hour(const struct usage_hour *h)
{
	printf("account: %s\n", h->account);
	printf("hour_start: %" PRId64 "\n", h->hour_start);
	printf("complete: %s\n", h->complete ? "true" : "false");
	printf("locations:");
	for (size_t i = 0; i < h->nlocations; i++)
		printf(" %s", h->locations[i]);
	printf("\nvms: %zu\n", h->nvms);
	for (size_t i = 0; i < h->nvms; i++) {
		const struct usage_vm *v = &h->vms[i];
		printf("vm[%zu]: location=%s cloudspace=%s vm=%s mem_mib_mean=%.17g "
		       "disk_gib_max=%.17g cpu_seconds=%.17g io_read=%" PRIu64 " io_write=%" PRIu64
		       " net_tx_bytes=%" PRIu64 " net_rx_bytes=%" PRIu64 " samples=%" PRIu32 "\n",
		       i, v->location, v->cloudspace, v->vm, v->mem_mib_mean, v->disk_gib_max,
		       v->cpu_seconds, v->io_read, v->io_write, v->net_tx_bytes, v->net_rx_bytes,
		       v->samples);
	}
}

static int cmd_decode(bool raw, const char *path)
{
	struct buf b = BUF_INIT;
	struct usage_hour h;
	char err[256];
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");

	if (!f) {
		fprintf(stderr, "usage_cli: cannot open '%s': %s\n", path, strerror(errno));
		return 1;
	}
	int rc = read_all(f, path, &b);
	if (f != stdin)
		fclose(f);
	if (rc < 0) {
		buf_release(&b);
		return 1;
	}
	rc = raw ? usage_decode_raw(b.data, b.len, &h, err, sizeof(err))
		 : usage_decode(b.data, b.len, &h, err, sizeof(err));
	buf_release(&b);
	if (rc < 0) {
		fprintf(stderr, "usage_cli: '%s': %s\n", path, err);
		return 1;
	}
	print_hour(&h);
	usage_hour_release(&h);
	return 0;
}

static int cmd_zlib(bool compress)
{
	struct buf in = BUF_INIT, out = BUF_INIT;
	int rc = 1;

	if (read_all(stdin, "stdin", &in) < 0)
		goto done;
	if (compress) {
		uLongf n = compressBound((uLong)in.len);
		if (buf_grow(&out, n) < 0 ||
		    compress2((Bytef *)out.data, &n, (const Bytef *)in.data, (uLong)in.len,
			      Z_BEST_COMPRESSION) != Z_OK) {
			fprintf(stderr, "usage_cli: zlib: compress failed\n");
			goto done;
		}
		out.len = n;
	} else {
		z_stream z = { 0 };
		if (inflateInit(&z) != Z_OK)
			goto done;
		z.next_in = (Bytef *)in.data;
		z.avail_in = (uInt)in.len;
		int ret = Z_OK;
		while (ret == Z_OK) {
			if (buf_grow(&out, 65536) < 0)
				break;
			z.next_out = (Bytef *)out.data + out.len;
			z.avail_out = 65536;
			ret = inflate(&z, Z_NO_FLUSH);
			out.len += 65536 - z.avail_out;
		}
		inflateEnd(&z);
		if (ret != Z_STREAM_END) {
			fprintf(stderr, "usage_cli: unzlib: bad zlib stream\n");
			goto done;
		}
	}
	rc = write_file("-", &out) < 0 ? 1 : 0;
done:
	buf_release(&in);
	buf_release(&out);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	const char *cmd = argv[1], *path = NULL, *account = "acme", *location = "loc-a";
	bool raw = false;
	long n = -1;
	long long hour = 1700000000 - 1700000000 % 3600;
	uint64_t seed = 1;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--raw") == 0)
			raw = true;
		else if (strcmp(argv[i], "--account") == 0 && i + 1 < argc)
			account = argv[++i];
		else if (strcmp(argv[i], "--hour") == 0 && i + 1 < argc)
			hour = strtoll(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--location") == 0 && i + 1 < argc)
			location = argv[++i];
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (strcmp(cmd, "synth") == 0 && n < 0)
			n = strtol(argv[i], NULL, 10);
		else if (!path)
			path = argv[i];
		else
			return usage();
	}
	if (strcmp(cmd, "encode") == 0 && path)
		return cmd_encode(raw, path);
	if (strcmp(cmd, "synth") == 0 && path && n >= 0)
		return cmd_synth(n, raw, account, hour, seed, location, path);
	if (strcmp(cmd, "decode") == 0 && path)
		return cmd_decode(raw, path);
	if (strcmp(cmd, "zlib") == 0 && argc == 2)
		return cmd_zlib(true);
	if (strcmp(cmd, "unzlib") == 0 && argc == 2)
		return cmd_zlib(false);
	return usage();
}
