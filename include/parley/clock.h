/*
 * clock.h - the one monotonic clock of parley.
 *
 * CLOCK_MONOTONIC: it never jumps with the wall clock (NTP, date -s), so
 * deadlines, timeouts and latencies measured with it stay right; its zero
 * is arbitrary, so only differences mean anything.  The event loop, the
 * blocking helpers, the programs and the tests all read it here, so their
 * times can be compared with each other.
 */
#ifndef PARLEY_CLOCK_H
#define PARLEY_CLOCK_H

/* Monotonic time in nanoseconds. */
long long pl_clock_ns(void);

/* Monotonic time in milliseconds (pl_clock_ns() / 1000000). */
long long pl_clock_ms(void);

#endif
