/* unit_hist.c - the latency histogram against known data. */
#include "parley/hist.h"
#include "unit.h"

/* Within 0.1% (3 significant digits) of want. */
static int close_to(uint64_t got, uint64_t want)
{
	uint64_t d = got > want ? got - want : want - got;
	return d * 1000 <= want;
}

#define CHECK_NEAR(got, want)                                                           \
	do {                                                                            \
		uint64_t g_ = (got), w_ = (want);                                       \
		if (!close_to(g_, w_)) {                                                \
			fprintf(stderr, "%s:%d: %s == %llu, expected %llu +-0.1%%\n",   \
				__FILE__, __LINE__, #got, (unsigned long long)g_,       \
				(unsigned long long)w_);                                \
			unit_fail();                                                    \
		}                                                                       \
	} while (0)

static void test_hist_uniform_1_to_1000000(void)
{
	struct pl_hist *h;

	CHECK(pl_hist_new(&h) == 0);
	for (uint64_t v = 1; v <= 1000000; v++)
		pl_hist_record(h, v);
	CHECK_EQ_INT(pl_hist_count(h), 1000000);
	CHECK_EQ_INT(pl_hist_min(h), 1);
	CHECK_EQ_INT(pl_hist_max(h), 1000000);
	CHECK_NEAR(pl_hist_percentile(h, 50), 500000);
	CHECK_NEAR(pl_hist_percentile(h, 90), 900000);
	CHECK_NEAR(pl_hist_percentile(h, 99), 990000);
	CHECK_NEAR(pl_hist_percentile(h, 99.9), 999000);
	CHECK_EQ_INT(pl_hist_percentile(h, 100), 1000000);
	CHECK(pl_hist_mean(h) > 500000.4 && pl_hist_mean(h) < 500000.6);
	pl_hist_free(h);
}

static void test_hist_exact_below_2048(void)
{
	struct pl_hist *h;

	CHECK(pl_hist_new(&h) == 0);
	for (uint64_t v = 1; v <= 100; v++)
		pl_hist_record(h, v);
	CHECK_EQ_INT(pl_hist_percentile(h, 50), 50);
	CHECK_EQ_INT(pl_hist_percentile(h, 99), 99);
	CHECK_EQ_INT(pl_hist_percentile(h, 1), 1);
	pl_hist_free(h);
}

static void test_hist_outliers_and_merge(void)
{
	struct pl_hist *a, *b;

	CHECK(pl_hist_new(&a) == 0 && pl_hist_new(&b) == 0);
	for (int i = 0; i < 999; i++)
		pl_hist_record(a, 20000);            /* 20 us */
	pl_hist_record(b, 3000000000ULL);            /* one 3 s stall */
	pl_hist_merge(a, b);
	CHECK_EQ_INT(pl_hist_count(a), 1000);
	CHECK_NEAR(pl_hist_percentile(a, 99.9), 20000);
	CHECK_EQ_INT(pl_hist_max(a), 3000000000ULL);
	CHECK_EQ_INT(pl_hist_percentile(a, 100), 3000000000ULL);
	pl_hist_reset(a);
	CHECK_EQ_INT(pl_hist_count(a), 0);
	CHECK_EQ_INT(pl_hist_percentile(a, 50), 0);
	pl_hist_free(a);
	pl_hist_free(b);
}

static void test_hist_every_value_within_precision(void)
{
	struct pl_hist *h;

	CHECK(pl_hist_new(&h) == 0);
	/* a single value anywhere in range is reported within 0.1% */
	for (uint64_t v = 1; v < (1ULL << 43); v = v * 3 + 1) {
		pl_hist_reset(h);
		pl_hist_record(h, v);
		pl_hist_record(h, v + 1);
		CHECK_NEAR(pl_hist_percentile(h, 50), v);
	}
	pl_hist_free(h);
}

static const struct unit_test tests[] = {
	T(test_hist_uniform_1_to_1000000), T(test_hist_exact_below_2048),
	T(test_hist_outliers_and_merge), T(test_hist_every_value_within_precision),
};
UNIT_MAIN(tests)
