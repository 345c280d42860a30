/*
 * usage_capnp.c — the hourly usage file: a Cap'n Proto message (root
 * HourUsage of docs/usage.capnp) in zlib; see usage.h for the contract.
 * Pure: no I/O; any thread (aggregatorctl and the fuzzer link it without
 * the daemon).
 *
 * Longer than 800 lines for one reason: it is one format in both
 * directions, the encoder and the decoder sharing the layout below (the
 * offsets, the pointer encodings, the little-endian word helpers) and read
 * against each other; the decoder alone, with its bounds checks, is some
 * 550 lines.
 *
 * DESIGN.  No Cap'n Proto library is packaged for C, so this file holds the
 * few pieces of the encoding (https://capnproto.org/encoding.html) the one
 * schema needs, laid out by hand.  `capnp compile -ocapnp docs/usage.capnp`
 * prints the layout the offsets below come from:
 *
 *   HourUsage  data 2 words, 3 pointers
 *     hourStart  data bytes [0, 8)     account   ptr 0
 *     complete   data bit 64           locations ptr 1
 *                                      vms       ptr 2
 *   VmUsage    data 8 words, 3 pointers
 *     memMibMean [0,8)  diskGibMax [8,16)  cpuSeconds [16,24)  ioRead [24,32)
 *     ioWrite [32,40)  netTxBytes [40,48)  netRxBytes [48,56)  samples [56,60)
 *     location ptr 0, cloudspace ptr 1, vm ptr 2
 *
 * The encoder sizes the whole message first, then writes one segment in the
 * canonical layout: objects in pre-order (a struct, then what its pointers
 * point to, depth first; a struct list's elements, then each element's
 * children in order), struct data and pointer sections truncated after their
 * last non-zero word / non-null pointer (in a struct list: the largest over
 * the elements), empty lists and NULL strings as null pointers.
 *
 * The decoder never trusts a number it read: every pointer is resolved
 * (near, far, double-far) to a segment and a word range that is checked
 * against that segment before a byte of it is read; reads are charged to a
 * traversal budget, and what it allocates to a decoded-size budget, both
 * checked before the work.  Bytes are read one by one (little-endian), so
 * the input may have any alignment.  The schema's depth is fixed (root,
 * list, element, text): nothing recurses.
 */
#include "usage.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Pointer kinds (the low two bits) and list element sizes. */
enum { PTR_STRUCT = 0, PTR_LIST = 1, PTR_FAR = 2, PTR_OTHER = 3 };
enum { SZ_VOID, SZ_BIT, SZ_BYTE, SZ_TWO, SZ_FOUR, SZ_EIGHT, SZ_PTR, SZ_COMPOSITE };

#define HOUR_DATA_WORDS 2
#define HOUR_PTRS 3
#define VM_DATA_WORDS 8
#define VM_PTRS 3
#define MAX_WORDS ((uint64_t)1 << 29)	/* offsets and list sizes fit in 29 bits */
#define STR_COST 16		/* decoded-size charge for each string, beyond its bytes */

/* ---- little-endian words ---- */

static uint64_t ld64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	       (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
	       (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static uint32_t ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void st64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void st32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t dbl_bits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return u;
}

static double bits_dbl(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof(d));
	return d;
}

/* ==== encoder ==== */

static uint64_t struct_ptr(int64_t off, uint64_t dw, uint64_t pc)
{
	return (uint64_t)(uint32_t)((uint64_t)off << 2) | PTR_STRUCT | dw << 32 | pc << 48;
}

static uint64_t list_ptr(int64_t off, uint64_t size, uint64_t n)
{
	return (uint64_t)(uint32_t)((uint64_t)off << 2) | PTR_LIST | size << 32 | n << 35;
}

static uint64_t text_words(const char *s)
{
	return s ? (strlen(s) + 1 + 7) / 8 : 0;
}

/* What the decoder charges for a string to its decoded-size budget ("" for NULL). */
static uint64_t text_cost(const char *s)
{
	return (s ? strlen(s) + 1 : 1) + STR_COST;
}

/* A VM's data section as words, in schema order. */
static void vm_words(const struct usage_vm *v, uint64_t w[VM_DATA_WORDS])
{
	w[0] = dbl_bits(v->mem_mib_mean);
	w[1] = dbl_bits(v->disk_gib_max);
	w[2] = dbl_bits(v->cpu_seconds);
	w[3] = v->io_read;
	w[4] = v->io_write;
	w[5] = v->net_tx_bytes;
	w[6] = v->net_rx_bytes;
	w[7] = v->samples;	/* bytes [56, 60): the low half, little-endian */
}

/* Canonical section sizes of one VM: through the last non-zero word / non-null pointer. */
static void vm_sizes(const struct usage_vm *v, unsigned *dw, unsigned *pc)
{
	uint64_t w[VM_DATA_WORDS];
	vm_words(v, w);
	*dw = VM_DATA_WORDS;
	while (*dw > 0 && w[*dw - 1] == 0)
		(*dw)--;
	const char *p[VM_PTRS] = { v->location, v->cloudspace, v->vm };
	*pc = VM_PTRS;
	while (*pc > 0 && p[*pc - 1] == NULL)
		(*pc)--;
}

struct enc {
	uint8_t *seg;		/* the segment, zeroed, sized in advance */
	uint64_t pos;		/* next free word */
};

static void put(struct enc *e, uint64_t word, uint64_t v)
{
	st64(e->seg + word * 8, v);
}

/* Write s (if any) at the end and point word `ptr` at it. */
static void put_text(struct enc *e, uint64_t ptr, const char *s)
{
	if (!s)
		return;
	size_t n = strlen(s) + 1;
	uint64_t at = e->pos;
	memcpy(e->seg + at * 8, s, n);
	e->pos += (n + 7) / 8;
	put(e, ptr, list_ptr((int64_t)at - (int64_t)ptr - 1, SZ_BYTE, n));
}

int usage_encode_raw(const struct usage_hour *h, struct buf *out)
{
	/* Section sizes and the total, before writing anything; and what the
	 * decoder will charge to its budgets (the same sums as in the decoder
	 * below), so that nothing is written that usage_decode() would refuse. */
	unsigned rdw = h->complete ? 2 : h->hour_start != 0 ? 1 : 0;
	unsigned rpc = h->nvms ? 3 : h->nlocations ? 2 : h->account ? 1 : 0;
	unsigned edw = 0, epc = 0;
	uint64_t words = 1 + rdw + rpc + text_words(h->account);
	uint64_t reads = rdw + rpc + text_words(h->account);
	uint64_t decoded = sizeof(struct usage_hour) + text_cost(h->account);

	if (h->nlocations) {
		if (h->nlocations >= MAX_WORDS)
			return -1;
		words += h->nlocations;
		reads += h->nlocations;
		decoded += h->nlocations * sizeof(char *);
		for (size_t i = 0; i < h->nlocations; i++) {
			words += text_words(h->locations[i]);
			reads += text_words(h->locations[i]);
			decoded += text_cost(h->locations[i]);
		}
	}
	if (h->nvms) {
		if (h->nvms >= MAX_WORDS)
			return -1;
		uint64_t texts = 0;
		for (size_t i = 0; i < h->nvms; i++) {
			const struct usage_vm *v = &h->vms[i];
			unsigned dw, pc;
			vm_sizes(v, &dw, &pc);
			edw = dw > edw ? dw : edw;
			epc = pc > epc ? pc : epc;
			texts += text_words(v->location) + text_words(v->cloudspace) +
				 text_words(v->vm);
			decoded += text_cost(v->location) + text_cost(v->cloudspace) +
				   text_cost(v->vm);
		}
		uint64_t list = (uint64_t)h->nvms * (edw + epc);
		uint64_t charged = edw + epc ? list + 1 : (uint64_t)h->nvms + 1;
		uint64_t full = (uint64_t)h->nvms * (VM_DATA_WORDS + VM_PTRS);
		words += 1 + list + texts;
		reads += (full > charged ? full : charged) + texts;
		decoded += (uint64_t)h->nvms * sizeof(struct usage_vm);
	}
	if (words >= MAX_WORDS || 8 + words * 8 > USAGE_MAX_RAW ||
	    reads > USAGE_TRAVERSAL_WORDS || decoded > USAGE_MAX_DECODED)
		return -1;

	size_t bytes = 8 + (size_t)words * 8;
	if (buf_grow(out, bytes) < 0)
		return -1;
	uint8_t *msg = (uint8_t *)out->data + out->len;
	memset(msg, 0, bytes);
	st32(msg, 0);			/* segments - 1 */
	st32(msg + 4, (uint32_t)words);	/* size of segment 0, words */

	struct enc e = { .seg = msg + 8, .pos = 1 };
	uint64_t root = e.pos;
	e.pos += rdw + rpc;
	/* A zero-sized struct points just before itself (offset -1), so it is not null. */
	put(&e, 0, rdw + rpc ? struct_ptr((int64_t)root - 1, rdw, rpc) : struct_ptr(-1, 0, 0));
	if (rdw >= 1)
		put(&e, root, (uint64_t)h->hour_start);
	if (rdw >= 2)
		put(&e, root + 1, h->complete ? 1 : 0);
	uint64_t ptrs = root + rdw;
	if (rpc >= 1)
		put_text(&e, ptrs, h->account);

	if (h->nlocations) {
		uint64_t at = e.pos;
		e.pos += h->nlocations;
		put(&e, ptrs + 1, list_ptr((int64_t)(at - ptrs - 2), SZ_PTR, h->nlocations));
		for (size_t i = 0; i < h->nlocations; i++)
			put_text(&e, at + i, h->locations[i]);
	}

	if (h->nvms) {
		uint64_t per = edw + epc, tag = e.pos, first = tag + 1;
		e.pos = first + h->nvms * per;
		put(&e, ptrs + 2, list_ptr((int64_t)(tag - ptrs - 3), SZ_COMPOSITE, h->nvms * per));
		put(&e, tag, struct_ptr((int64_t)h->nvms, edw, epc));
		for (size_t i = 0; i < h->nvms; i++) {
			const struct usage_vm *v = &h->vms[i];
			uint64_t w[VM_DATA_WORDS], el = first + i * per;
			vm_words(v, w);
			for (unsigned k = 0; k < edw; k++)
				put(&e, el + k, w[k]);
			const char *p[VM_PTRS] = { v->location, v->cloudspace, v->vm };
			for (unsigned k = 0; k < epc; k++)
				put_text(&e, el + edw + k, p[k]);
		}
	}
	if (e.pos != words)	/* the sizing above and the writing disagree: a bug */
		return -1;
	out->len += bytes;
	out->data[out->len] = '\0';
	return 0;
}

int usage_encode(const struct usage_hour *h, struct buf *out)
{
	struct buf raw = BUF_INIT;
	int rc = -1;

	if (usage_encode_raw(h, &raw) < 0)
		goto out;
	uLong bound = compressBound((uLong)raw.len);
	if (buf_grow(out, bound) < 0)
		goto out;
	uLongf n = bound;
	if (compress2((Bytef *)out->data + out->len, &n, (const Bytef *)raw.data, (uLong)raw.len,
		      Z_BEST_COMPRESSION) != Z_OK)
		goto out;
	out->len += n;
	out->data[out->len] = '\0';
	rc = 0;
out:
	if (raw.oom)
		out->oom = true;
	buf_release(&raw);
	return rc;
}

/* ==== decoder ==== */

struct seg {
	const uint8_t *p;
	uint64_t words;
};

struct rd {
	const struct seg *segs;
	uint32_t nsegs;
	uint64_t budget;	/* words that may still be read */
	uint64_t decoded;	/* bytes allocated for the result so far */
	/* Where we are, for messages: "vms[12].location". */
	const char *field;
	size_t index;		/* SIZE_MAX: not in a list */
	const char *sub;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int bad(struct rd *r, const char *fmt, ...)
{
	char what[128] = "";
	if (r->field && r->index != SIZE_MAX)
		snprintf(what, sizeof(what), "HourUsage.%s[%zu]%s%s: ", r->field, r->index,
			 r->sub ? "." : "", r->sub ? r->sub : "");
	else if (r->field)
		snprintf(what, sizeof(what), "HourUsage.%s: ", r->field);
	else
		snprintf(what, sizeof(what), "HourUsage: ");
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return set_err(r->err, r->errlen, "%s%s", what, msg);
}

static uint64_t word_at(const struct rd *r, uint32_t seg, uint64_t w)
{
	return ld64(r->segs[seg].p + w * 8);
}

static int charge(struct rd *r, uint64_t words)
{
	if (words > r->budget)
		return bad(r, "message reads more than %u words (traversal limit; shared or "
			   "looping pointers?)", USAGE_TRAVERSAL_WORDS);
	r->budget -= words;
	return 0;
}

static int charge_out(struct rd *r, uint64_t bytes)
{
	if (bytes > USAGE_MAX_DECODED - r->decoded)
		return bad(r, "decoded record would exceed %u MiB", USAGE_MAX_DECODED >> 20);
	r->decoded += bytes;
	return 0;
}

/* The signed 30-bit offset of a struct or list pointer, in words. */
static int64_t ptr_offset(uint64_t p)
{
	uint32_t b = (uint32_t)p >> 2;	/* 30 bits, two's complement */
	return b & (UINT32_C(1) << 29) ? (int64_t)b - (INT64_C(1) << 30) : (int64_t)b;
}

/*
 * Where a pointer leads: the object's first word `at` in segment `seg`, and
 * `tag`, the struct or list pointer that describes it (the pointer itself,
 * or the far pointer's landing pad).  null when the pointer is null.
 */
struct ref {
	bool null;
	uint32_t seg;
	uint64_t at;
	uint64_t tag;
};

static int resolve(struct rd *r, uint32_t seg, uint64_t pos, struct ref *out)
{
	uint64_t p = word_at(r, seg, pos);
	int64_t target;

	*out = (struct ref){ .null = p == 0 };
	if (p == 0)
		return 0;
	switch (p & 3) {
	case PTR_OTHER:
		return bad(r, "capability pointer where data was expected");
	case PTR_FAR: {
		uint32_t ps = (uint32_t)(p >> 32);
		uint64_t pad = (p >> 3) & 0x1fffffff;
		bool dbl = (p >> 2) & 1;
		if (ps >= r->nsegs)
			return bad(r, "far pointer to segment %u, the message has %u", ps, r->nsegs);
		if (pad + (dbl ? 2 : 1) > r->segs[ps].words)
			return bad(r, "far pointer's landing pad at word %llu is outside segment %u "
				   "(%llu words)", (unsigned long long)pad, ps,
				   (unsigned long long)r->segs[ps].words);
		uint64_t lp = word_at(r, ps, pad);
		if (!dbl) {
			if ((lp & 3) == PTR_FAR)
				return bad(r, "far pointer's landing pad is another far pointer");
			if ((lp & 3) == PTR_OTHER)
				return bad(r, "capability pointer where data was expected");
			seg = ps;
			target = (int64_t)pad + 1 + ptr_offset(lp);
			out->tag = lp;
			break;
		}
		if ((lp & 3) != PTR_FAR || ((lp >> 2) & 1))
			return bad(r, "double-far landing pad does not start with a single far pointer");
		uint64_t tag = word_at(r, ps, pad + 1);
		if ((tag & 3) != PTR_STRUCT && (tag & 3) != PTR_LIST)
			return bad(r, "double-far landing pad's tag is not a struct or list pointer");
		seg = (uint32_t)(lp >> 32);
		if (seg >= r->nsegs)
			return bad(r, "far pointer to segment %u, the message has %u", seg, r->nsegs);
		target = (int64_t)((lp >> 3) & 0x1fffffff);
		out->tag = tag;
		break;
	}
	default:
		target = (int64_t)pos + 1 + ptr_offset(p);
		out->tag = p;
		break;
	}
	if (target < 0 || (uint64_t)target > r->segs[seg].words)
		return bad(r, "pointer leads to word %lld, outside segment %u (%llu words)",
			   (long long)target, seg, (unsigned long long)r->segs[seg].words);
	out->seg = seg;
	out->at = (uint64_t)target;
	return 0;
}

/* A struct as read: its data section (bytes) and pointer section (words). */
struct sview {
	uint32_t seg;
	uint64_t data;		/* byte offset of the data section in the segment */
	uint64_t data_bytes;
	uint64_t ptrs;		/* word index of the first pointer */
	uint64_t nptrs;
};

static uint64_t sv_u64(const struct rd *r, const struct sview *s, uint64_t off)
{
	if (off + 8 > s->data_bytes)
		return 0;	/* beyond the data section: the default */
	return ld64(r->segs[s->seg].p + s->data + off);
}

static uint32_t sv_u32(const struct rd *r, const struct sview *s, uint64_t off)
{
	if (off + 4 > s->data_bytes)
		return 0;
	return ld32(r->segs[s->seg].p + s->data + off);
}

static bool sv_bit(const struct rd *r, const struct sview *s, uint64_t bit)
{
	if (bit / 8 + 1 > s->data_bytes)
		return false;
	return (r->segs[s->seg].p[s->data + bit / 8] >> (bit % 8)) & 1;
}

/* Bounds of an object of `words` words at ref: inside its segment? */
static int in_segment(struct rd *r, const struct ref *ref, uint64_t words)
{
	if (words > r->segs[ref->seg].words - ref->at)
		return bad(r, "object of %llu words at word %llu runs past the end of segment %u "
			   "(%llu words)", (unsigned long long)words, (unsigned long long)ref->at,
			   ref->seg, (unsigned long long)r->segs[ref->seg].words);
	return 0;
}

static int read_struct(struct rd *r, uint32_t seg, uint64_t pos, struct sview *out)
{
	struct ref ref;

	*out = (struct sview){ .seg = seg };
	if (resolve(r, seg, pos, &ref) < 0)
		return -1;
	if (ref.null)
		return 0;	/* all defaults */
	if ((ref.tag & 3) != PTR_STRUCT)
		return bad(r, "list pointer where a struct was expected");
	uint64_t dw = (ref.tag >> 32) & 0xffff, pc = ref.tag >> 48;
	if (in_segment(r, &ref, dw + pc) < 0 || charge(r, dw + pc) < 0)
		return -1;
	*out = (struct sview){ .seg = ref.seg, .data = ref.at * 8, .data_bytes = dw * 8,
			       .ptrs = ref.at + dw, .nptrs = pc };
	return 0;
}

/* A list as read, each element seen as a struct (a pointer element: one pointer). */
struct lview {
	bool null;		/* the pointer was null (count 0) */
	uint32_t seg;
	uint64_t count;
	unsigned size;		/* SZ_* */
	uint64_t first;		/* byte offset of element 0 in the segment */
	uint64_t step;		/* bytes from one element to the next */
	uint64_t data_bytes;	/* of each element */
	uint64_t nptrs;		/* of each element, after its data */
	uint64_t charged;	/* words charged to the traversal budget */
};

static void elem(const struct lview *l, uint64_t i, struct sview *s)
{
	uint64_t at = l->first + i * l->step;
	*s = (struct sview){ .seg = l->seg, .data = at, .data_bytes = l->data_bytes,
			     .ptrs = (at + l->data_bytes) / 8, .nptrs = l->nptrs };
}

static int read_list(struct rd *r, uint32_t seg, uint64_t pos, struct lview *out)
{
	static const unsigned bits[] = { 0, 1, 8, 16, 32, 64, 64 };
	struct ref ref;

	*out = (struct lview){ .null = true, .seg = seg };
	if (resolve(r, seg, pos, &ref) < 0)
		return -1;
	if (ref.null)
		return 0;
	if ((ref.tag & 3) != PTR_LIST)
		return bad(r, "struct pointer where a list was expected");
	unsigned size = (unsigned)(ref.tag >> 32) & 7;
	uint64_t n = ref.tag >> 35;
	if (size != SZ_COMPOSITE) {
		uint64_t words = (n * bits[size] + 63) / 64;
		if (in_segment(r, &ref, words) < 0)
			return -1;
		/* Zero-sized elements cost a word each, so a tiny message cannot ask for 2^29. */
		uint64_t cost = size == SZ_VOID ? n : words;
		if (charge(r, cost) < 0)
			return -1;
		*out = (struct lview){ .seg = ref.seg, .count = n, .size = size,
				       .first = ref.at * 8, .step = bits[size] / 8,
				       .data_bytes = size == SZ_PTR ? 0 : bits[size] / 8,
				       .nptrs = size == SZ_PTR, .charged = cost };
		return 0;
	}
	/* Composite: n is the word count of the elements, after a tag word. */
	if (in_segment(r, &ref, n + 1) < 0)
		return -1;
	uint64_t tag = word_at(r, ref.seg, ref.at);
	if ((tag & 3) != PTR_STRUCT)
		return bad(r, "composite list's tag is not a struct pointer");
	int64_t count = ptr_offset(tag);
	uint64_t dw = (tag >> 32) & 0xffff, pc = tag >> 48;
	if (count < 0)
		return bad(r, "composite list has a negative element count");
	if ((uint64_t)count * (dw + pc) > n)
		return bad(r, "composite list of %lld elements of %llu words overflows its %llu "
			   "words", (long long)count, (unsigned long long)(dw + pc),
			   (unsigned long long)n);
	uint64_t cost = dw + pc ? n + 1 : (uint64_t)count + 1;
	if (charge(r, cost) < 0)
		return -1;
	*out = (struct lview){ .seg = ref.seg, .count = (uint64_t)count, .size = size,
			       .first = (ref.at + 1) * 8, .step = (dw + pc) * 8,
			       .data_bytes = dw * 8, .nptrs = pc, .charged = cost };
	return 0;
}

/* Text at pointer `pos`: a malloc'd copy, "" when null. */
static int read_text(struct rd *r, uint32_t seg, uint64_t pos, char **out)
{
	struct lview l;

	*out = NULL;
	if (read_list(r, seg, pos, &l) < 0)
		return -1;
	if (l.null) {	/* the default */
		if (charge_out(r, 1 + STR_COST) < 0)
			return -1;
		*out = strdup("");
	} else {
		if (l.size != SZ_BYTE)
			return bad(r, "list of %s where text was expected",
				   l.size == SZ_COMPOSITE ? "structs" : l.size == SZ_PTR ?
				   "pointers" : "non-bytes");
		const uint8_t *p = r->segs[l.seg].p + l.first;
		if (l.count == 0 || p[l.count - 1] != 0)
			return bad(r, "text is not NUL-terminated");
		if (memchr(p, 0, l.count - 1))
			return bad(r, "text holds a NUL byte");
		if (charge_out(r, l.count + STR_COST) < 0)
			return -1;
		*out = malloc(l.count);
		if (*out)
			memcpy(*out, p, l.count);
	}
	if (!*out)
		return bad(r, "out of memory");
	return 0;
}

static int read_locations(struct rd *r, const struct sview *root, struct usage_hour *h)
{
	struct lview l = { 0 };

	r->field = "locations";
	if (root->nptrs > 1 && read_list(r, root->seg, root->ptrs + 1, &l) < 0)
		return -1;
	if (l.count == 0)
		return 0;
	/* A List(Text) is a pointer list; a struct list's first pointers also do. */
	if (l.size != SZ_PTR && !(l.size == SZ_COMPOSITE && l.nptrs > 0))
		return bad(r, "list of %s where a list of text was expected",
			   l.size == SZ_COMPOSITE ? "data-only structs" : "non-pointers");
	if (charge_out(r, l.count * sizeof(char *)) < 0)
		return -1;
	h->locations = calloc(l.count, sizeof(char *));
	if (!h->locations)
		return bad(r, "out of memory for %llu locations", (unsigned long long)l.count);
	h->nlocations = l.count;
	for (uint64_t i = 0; i < l.count; i++) {
		struct sview e;
		elem(&l, i, &e);
		r->index = i;
		if (read_text(r, e.seg, e.ptrs, &h->locations[i]) < 0)
			return -1;
	}
	r->index = SIZE_MAX;
	return 0;
}

static int read_vm(struct rd *r, const struct sview *e, struct usage_vm *v)
{
	static const char *const names[VM_PTRS] = { "location", "cloudspace", "vm" };
	char **dst[VM_PTRS] = { &v->location, &v->cloudspace, &v->vm };

	v->mem_mib_mean = bits_dbl(sv_u64(r, e, 0));
	v->disk_gib_max = bits_dbl(sv_u64(r, e, 8));
	v->cpu_seconds = bits_dbl(sv_u64(r, e, 16));
	v->io_read = sv_u64(r, e, 24);
	v->io_write = sv_u64(r, e, 32);
	v->net_tx_bytes = sv_u64(r, e, 40);
	v->net_rx_bytes = sv_u64(r, e, 48);
	v->samples = sv_u32(r, e, 56);
	for (unsigned k = 0; k < VM_PTRS; k++) {
		r->sub = names[k];
		if (k < e->nptrs) {
			if (read_text(r, e->seg, e->ptrs + k, dst[k]) < 0)
				return -1;
		} else {
			if (charge_out(r, 1 + STR_COST) < 0)
				return -1;
			*dst[k] = strdup("");
			if (!*dst[k])
				return bad(r, "out of memory");
		}
	}
	r->sub = NULL;
	return 0;
}

static int read_vms(struct rd *r, const struct sview *root, struct usage_hour *h)
{
	struct lview l = { 0 };

	r->field = "vms";
	if (root->nptrs > 2 && read_list(r, root->seg, root->ptrs + 2, &l) < 0)
		return -1;
	if (l.count == 0)
		return 0;
	if (l.size == SZ_BIT)
		return bad(r, "list of bits where a list of VmUsage was expected");
	/* Each element costs at least a full VmUsage (11 words), so short or empty
	 * elements cannot turn a small message into a huge record. */
	uint64_t full = l.count * (VM_DATA_WORDS + VM_PTRS);
	if (full > l.charged && charge(r, full - l.charged) < 0)
		return -1;
	if (charge_out(r, l.count * sizeof(struct usage_vm)) < 0)
		return -1;
	h->vms = calloc(l.count, sizeof(struct usage_vm));
	if (!h->vms)
		return bad(r, "out of memory for %llu VMs", (unsigned long long)l.count);
	h->nvms = l.count;
	for (uint64_t i = 0; i < l.count; i++) {
		struct sview e;
		elem(&l, i, &e);
		r->index = i;
		if (read_vm(r, &e, &h->vms[i]) < 0)
			return -1;
	}
	r->index = SIZE_MAX;
	return 0;
}

int usage_decode_raw(const void *msg, size_t len, struct usage_hour *out, char *err,
		     size_t errlen)
{
	const uint8_t *m = msg;
	struct seg *segs = NULL;
	struct rd r = { .budget = USAGE_TRAVERSAL_WORDS, .index = SIZE_MAX, .err = err,
			.errlen = errlen };

	memset(out, 0, sizeof(*out));
	if (len < 8)
		return set_err(err, errlen, "message truncated: %zu bytes, a message has at "
			       "least 8", len);
	uint64_t nsegs = (uint64_t)ld32(m) + 1;
	if (nsegs > USAGE_MAX_SEGMENTS)
		return set_err(err, errlen, "message claims %llu segments (at most %u)",
			       (unsigned long long)nsegs, USAGE_MAX_SEGMENTS);
	uint64_t hdr = (4 + 4 * nsegs + 7) / 8 * 8;
	if (len < hdr)
		return set_err(err, errlen, "message truncated in its segment table (%llu "
			       "segments need %llu bytes, have %zu)", (unsigned long long)nsegs,
			       (unsigned long long)hdr, len);
	segs = calloc(nsegs, sizeof(*segs));
	if (!segs)
		return set_err(err, errlen, "out of memory for %llu segments",
			       (unsigned long long)nsegs);
	uint64_t off = hdr;
	for (uint64_t i = 0; i < nsegs; i++) {
		segs[i].words = ld32(m + 4 + 4 * i);
		segs[i].p = m + (off <= len ? off : len);
		off += segs[i].words * 8;
	}
	if (off > len) {
		set_err(err, errlen, "message truncated: its segment table says %llu bytes, have "
			"%zu", (unsigned long long)off, len);
		goto fail;
	}
	if (off < len) {
		set_err(err, errlen, "%llu bytes after the message", (unsigned long long)(len - off));
		goto fail;
	}
	if (segs[0].words == 0) {
		set_err(err, errlen, "message has no root pointer (segment 0 is empty)");
		goto fail;
	}
	r.segs = segs;
	r.nsegs = (uint32_t)nsegs;

	struct sview root;
	if (charge_out(&r, sizeof(*out)) < 0 || read_struct(&r, 0, 0, &root) < 0)
		goto fail;
	out->hour_start = (int64_t)sv_u64(&r, &root, 0);
	out->complete = sv_bit(&r, &root, 64);
	r.field = "account";
	if (root.nptrs > 0) {
		if (read_text(&r, root.seg, root.ptrs, &out->account) < 0)
			goto fail;
	} else if (charge_out(&r, 1 + STR_COST) < 0) {
		goto fail;
	} else if (!(out->account = strdup(""))) {
		bad(&r, "out of memory");
		goto fail;
	}
	if (read_locations(&r, &root, out) < 0 || read_vms(&r, &root, out) < 0)
		goto fail;
	free(segs);
	return 0;
fail:
	free(segs);
	usage_hour_release(out);
	return -1;
}

/* The message for a failed inflate() call. */
static int zfail(const z_stream *z, int ret, char *err, size_t errlen)
{
	if (ret == Z_BUF_ERROR && z->avail_in == 0)
		return set_err(err, errlen, "zlib stream truncated");
	if (ret == Z_MEM_ERROR)
		return set_err(err, errlen, "out of memory decompressing");
	if (ret == Z_NEED_DICT)
		return set_err(err, errlen, "corrupt zlib stream: needs a dictionary");
	return set_err(err, errlen, "corrupt zlib stream: %s", z->msg ? z->msg : "error");
}

/* Inflate data (one zlib stream, nothing after it) into *raw, at most USAGE_MAX_RAW bytes. */
static int inflate_capped(const uint8_t *data, size_t len, struct buf *raw, char *err,
			  size_t errlen)
{
	z_stream z = { 0 };
	int ret, rc = -1;

	if (len > USAGE_MAX_RAW)
		return set_err(err, errlen, "file of %zu bytes is larger than any valid one "
			       "(%u MiB)", len, USAGE_MAX_RAW >> 20);
	if (inflateInit(&z) != Z_OK)
		return set_err(err, errlen, "out of memory for zlib");
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	for (;;) {
		if (raw->len == USAGE_MAX_RAW) {
			/* At the cap: the stream may only end here, without another byte. */
			uint8_t probe;
			z.next_out = &probe;
			z.avail_out = 1;
			ret = inflate(&z, Z_NO_FLUSH);
			if (ret == Z_STREAM_END && z.avail_out == 1)
				break;
			if (z.avail_out == 0)
				set_err(err, errlen, "decompressed message exceeds %u MiB (zip bomb?)",
					USAGE_MAX_RAW >> 20);
			else
				zfail(&z, ret, err, errlen);
			goto out;
		}
		if (raw->len + 1 >= raw->cap) {
			size_t want = raw->len ? raw->len : len < 4096 ? 16384 : len * 4;
			if (want > USAGE_MAX_RAW - raw->len)
				want = USAGE_MAX_RAW - raw->len;
			if (buf_grow(raw, want) < 0) {
				set_err(err, errlen, "out of memory decompressing");
				goto out;
			}
		}
		size_t room = raw->cap - raw->len - 1;
		if (room > USAGE_MAX_RAW - raw->len)
			room = USAGE_MAX_RAW - raw->len;
		z.next_out = (Bytef *)raw->data + raw->len;
		z.avail_out = (uInt)room;
		ret = inflate(&z, Z_NO_FLUSH);
		raw->len += room - z.avail_out;
		raw->data[raw->len] = '\0';
		if (ret == Z_STREAM_END)
			break;
		if (ret != Z_OK) {
			zfail(&z, ret, err, errlen);
			goto out;
		}
	}
	if (z.avail_in) {
		set_err(err, errlen, "%u bytes after the zlib stream", z.avail_in);
		goto out;
	}
	rc = 0;
out:
	inflateEnd(&z);
	return rc;
}

int usage_decode(const void *data, size_t len, struct usage_hour *out, char *err,
		 size_t errlen)
{
	struct buf raw = BUF_INIT;

	memset(out, 0, sizeof(*out));
	if (inflate_capped(data, len, &raw, err, errlen) < 0) {
		buf_release(&raw);
		return -1;
	}
	int rc = usage_decode_raw(raw.data, raw.len, out, err, errlen);
	buf_release(&raw);
	return rc;
}

void usage_hour_release(struct usage_hour *h)
{
	free(h->account);
	for (size_t i = 0; h->locations && i < h->nlocations; i++)
		free(h->locations[i]);
	free(h->locations);
	for (size_t i = 0; h->vms && i < h->nvms; i++) {
		free(h->vms[i].location);
		free(h->vms[i].cloudspace);
		free(h->vms[i].vm);
	}
	free(h->vms);
	memset(h, 0, sizeof(*h));
}

/* ==== canonical order ==== */

static int cmp_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_vm(const void *pa, const void *pb)
{
	const struct usage_vm *a = pa, *b = pb;
	int c;

	if ((c = cmp_str(a->location, b->location)) || (c = cmp_str(a->cloudspace, b->cloudspace)) ||
	    (c = cmp_str(a->vm, b->vm)))
		return c;
	/* Ties (the same VM twice) by the figures, so the order never depends on the input's. */
	uint64_t wa[VM_DATA_WORDS], wb[VM_DATA_WORDS];
	vm_words(a, wa);
	vm_words(b, wb);
	for (int k = 0; k < VM_DATA_WORDS; k++)
		if ((c = cmp_u64(wa[k], wb[k])))
			return c;
	/* NULL and "" encode differently: NULL first. */
	const char *sa[VM_PTRS] = { a->location, a->cloudspace, a->vm };
	const char *sb[VM_PTRS] = { b->location, b->cloudspace, b->vm };
	for (int k = 0; k < VM_PTRS; k++)
		if ((sa[k] == NULL) != (sb[k] == NULL))
			return sa[k] == NULL ? -1 : 1;
	return 0;
}

static int cmp_loc(const void *pa, const void *pb)
{
	const char *a = *(char *const *)pa, *b = *(char *const *)pb;
	int c = cmp_str(a, b);
	if (c || (a == NULL) == (b == NULL))
		return c;
	return a == NULL ? -1 : 1;
}

void usage_hour_sort(struct usage_hour *h)
{
	if (h->nvms > 1)
		qsort(h->vms, h->nvms, sizeof(*h->vms), cmp_vm);
	if (h->nlocations > 1)
		qsort(h->locations, h->nlocations, sizeof(*h->locations), cmp_loc);
}
