/*
 * bench_dgram.h - parley-bench over udp:, unixgram: and seqpacket:: many
 * peers (one connected socket each) with requests in flight, closed or
 * open loop, a lost datagram counted missing after --timeout; or one
 * peer sending a bulk of datagrams as fast as the socket takes them.
 */
#ifndef PARLEY_BENCH_DGRAM_H
#define PARLEY_BENCH_DGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "parley/addr.h"
#include "parley/hist.h"

struct dgram_bench {
	/* what to do: parley-bench's options */
	struct pl_addr target;      /* resolved */
	unsigned peers, depth;      /* -c, -P */
	uint64_t total;             /* -n */
	long long duration_ms;      /* -d; 0: -n */
	long long timeout_ms;       /* -t: a reply later than this is missing; 0: none */
	double rate;                /* --rate; 0: closed loop */
	const uint8_t *payload;
	size_t payload_len;
	const uint8_t *expect;      /* what a reply must be, when check_content */
	size_t expect_len;
	int check_content;
	uint64_t bulk;              /* --bulk: bytes to send in datagrams of payload_len; 0: off */
	int gso;                    /* --bulk: UDP_SEGMENT where the kernel has it */
	struct pl_hist *hist;       /* latencies, ns */
	/* what happened */
	uint64_t sent, done, wrong, missing, refused;
	uint64_t own_drops;         /* replies the generator's own sockets dropped (of missing) */
	uint64_t answered;          /* --bulk: replies counted */
	long long start_ns, end_ns;
	int gso_used;               /* --bulk: GSO was on to the end */
};

/* Runs the load (or the bulk) until it is over or SIGINT/SIGTERM; exits
 * 1 with one line when the sockets cannot be made. */
void bench_dgram_run(struct dgram_bench *d);

/* The figures of a --bulk run: text, or one JSON object. */
void bench_dgram_report_bulk(const struct dgram_bench *d, int json);

#endif
