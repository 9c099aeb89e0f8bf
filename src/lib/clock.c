/* clock.c - CLOCK_MONOTONIC in nanoseconds and milliseconds. */
#include "parley/clock.h"

#include <time.h>

long long pl_clock_ns(void)
{
	struct timespec ts;

	/* cannot fail: the clock exists on every Linux and ts is valid */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

long long pl_clock_ms(void)
{
	return pl_clock_ns() / 1000000;
}
