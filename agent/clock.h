/* Clocks, in the units the agent counts in. */
#ifndef DNSREDIR_CLOCK_H
#define DNSREDIR_CLOCK_H

#include <time.h>

static inline long long clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline long long now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static inline long long now_ms(void)
{
	return now_ns() / 1000000;
}

/* Docker stamps events with the wall clock. */
static inline long long wall_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

#endif
