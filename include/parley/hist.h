/*
 * hist.h - a log-linear latency histogram with 3 significant digits.
 *
 * Values (nanoseconds, or any unit) up to 2^44 are counted in buckets whose
 * width is at most 1/1024 of their value, in the manner of HdrHistogram:
 * exact below 2048, then 1024 sub-buckets per power of two.  Recording is a
 * few shifts and an increment; percentiles walk the buckets.  Pure memory,
 * no I/O; one histogram is about 300 KiB.
 */
#ifndef PARLEY_HIST_H
#define PARLEY_HIST_H

#include <stdint.h>

struct pl_hist;

/* An empty histogram for the caller to free.  0 or -ENOMEM. */
int pl_hist_new(struct pl_hist **out);
void pl_hist_free(struct pl_hist *h); /* NULL is allowed */
void pl_hist_reset(struct pl_hist *h);

/* Counts one value; values above the range are counted as the maximum. */
void pl_hist_record(struct pl_hist *h, uint64_t v);
/* Adds every count of src into dst. */
void pl_hist_merge(struct pl_hist *dst, const struct pl_hist *src);

uint64_t pl_hist_count(const struct pl_hist *h);
uint64_t pl_hist_min(const struct pl_hist *h);
uint64_t pl_hist_max(const struct pl_hist *h); /* exact */
double pl_hist_mean(const struct pl_hist *h);
/*
 * The value at percentile p (0..100): the smallest recorded value v such that
 * at least p% of the values are <= v, reported as the highest value of its
 * bucket (within 0.1% of the true value).  0 when empty.
 */
uint64_t pl_hist_percentile(const struct pl_hist *h, double p);

#endif
