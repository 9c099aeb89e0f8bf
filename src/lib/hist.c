/* hist.c - log-linear histogram (HdrHistogram-style, 3 significant digits). */
#include "parley/hist.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SUB_BITS 10                  /* 1024 sub-buckets per power of two */
#define SUB (1u << SUB_BITS)
#define MAX_BITS 44                  /* about 4.9 hours in nanoseconds */
#define NBUCKETS ((MAX_BITS - SUB_BITS) * SUB + SUB)

struct pl_hist {
	uint64_t count, min, max;
	double sum;
	uint64_t b[NBUCKETS];
};

static unsigned index_of(uint64_t v)
{
	unsigned e;

	if (v < 2 * SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v); /* v in [2^e, 2^(e+1)) */
	return (e - SUB_BITS) * SUB + (unsigned)(v >> (e - SUB_BITS));
}

/* The highest value that lands in bucket i. */
static uint64_t top_of(unsigned i)
{
	unsigned shift;

	if (i < 2 * SUB)
		return i;
	shift = i / SUB - 1;
	return (((uint64_t)(i % SUB + SUB) + 1) << shift) - 1;
}

int pl_hist_new(struct pl_hist **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	(*out)->min = UINT64_MAX;
	return 0;
}

void pl_hist_free(struct pl_hist *h) { free(h); }

void pl_hist_reset(struct pl_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void pl_hist_record(struct pl_hist *h, uint64_t v)
{
	uint64_t limit = (1ULL << MAX_BITS) - 1;

	if (v > limit)
		v = limit;
	h->b[index_of(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void pl_hist_merge(struct pl_hist *dst, const struct pl_hist *src)
{
	for (unsigned i = 0; i < NBUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t pl_hist_count(const struct pl_hist *h) { return h->count; }
uint64_t pl_hist_min(const struct pl_hist *h) { return h->count ? h->min : 0; }
uint64_t pl_hist_max(const struct pl_hist *h) { return h->max; }
double pl_hist_mean(const struct pl_hist *h) { return h->count ? h->sum / (double)h->count : 0; }

uint64_t pl_hist_percentile(const struct pl_hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (!h->count)
		return 0;
	if (p <= 0)
		return h->min;
	rank = (uint64_t)((p / 100.0) * (double)h->count + 0.5);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (unsigned i = 0; i < NBUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t top = top_of(i);
			return top > h->max ? h->max : top;
		}
	}
	return h->max;
}
