/* parley-bench - a load generator for request/response servers. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "bench_dgram.h"
#include "cli.h"
#include "parley/buf.h"
#include "parley/clock.h"
#include "parley/client.h"
#include "parley/frame.h"
#include "parley/hist.h"
#include "parley/loop.h"
#include "parley/sock.h"

#define DEFAULT_TIMEOUT_MS 5000
#define RETRY_MAX_MS 1000 /* a failed connect is retried after 1, 2, 4 ... up to this */

enum mode { MODE_LOAD, MODE_CHURN, MODE_CONNECT_ONLY };

struct conn {
	struct bench *b;
	struct pl_conn *pc;     /* the open connection, or NULL */
	struct pl_connecting *pending; /* the connect in progress, or NULL */
	size_t queued;          /* requests waiting for the connect to finish */
	size_t raw_got;         /* raw: bytes of the current reply */
	int raw_bad;            /* raw: the current reply differs from --expect */
	uint64_t *times;        /* ring: start time (ns) of each request in flight */
	size_t head, n, cap;
	long long opened_ns;    /* when the connect started */
	struct pl_timer retry;  /* the next attempt after a failed connect */
	unsigned failures;      /* failed connects in a row, for the pause */
	long long failing_since_ms; /* when the first of them started */
};

struct bench {
	/* options */
	struct pl_addr addr;
	enum mode mode;
	enum pl_proto proto;
	unsigned conns, depth;
	uint64_t total;          /* -n */
	long long duration_ms;   /* -d; 0: use -n */
	long long timeout_ms;    /* -t: for a connect or a reply; 0: no limit */
	double rate;             /* --rate; 0: closed loop */
	size_t reply_size;       /* raw */
	int json, quiet;
	int churn_reset;         /* --reset: churn closes with RST, no TIME_WAIT */
	uint64_t bulk;           /* --bulk: bytes of datagrams to send; 0: off */
	int no_gso;              /* --no-gso */
	uint64_t sent;           /* datagrams: requests that left (loss is missing of them) */
	uint64_t own_drops;      /* datagrams: replies our own sockets had no room for */
	/* the request (the connections frame it) and what a reply must be */
	uint8_t *payload;
	size_t payload_len;
	uint8_t *expect;
	size_t expect_len;
	int check_content, check_len;
	/* run state */
	struct pl_loop *loop;
	struct pl_client *client;
	struct pl_hist *hist;
	struct conn *c;
	struct pl_addr target;
	uint64_t issued, done, wrong, missing, connect_errors;
	uint64_t churned;        /* connections that completed their request */
	uint64_t inflight;       /* requests sent and not answered, all connections */
	unsigned alive, connecting; /* connections open or connecting; of them, connecting */
	unsigned waiting;        /* connections waiting to retry a failed connect */
	int connect_warned, timeout_warned, holding, draining;
	long long start_ns, end_ns, stop_sending_ms;
	unsigned next_conn;
	struct pl_timer tick, progress, end, sweep;
	struct pl_io pace;       /* the open loop's timerfd */
	uint64_t last_done;
	int stopping;
};

static noreturn void usage(void)
{
	printf("Usage: parley-bench [OPTIONS] [ADDRESS]\n"
	       "Drive a request/response server and report throughput and latency.\n"
	       "ADDRESS defaults to localhost:1234.\n"
	       "\n"
	       "Load:\n"
	       "  -c, --conns N           connections (default 50)\n"
	       "  -n, --requests N        total requests (default 100000)\n"
	       "  -d, --duration SECONDS  run this long instead of a count (not with -n), then\n"
	       "                          wait up to --timeout for the replies in flight\n"
	       "  -P, --pipeline DEPTH    requests in flight per connection (default 1)\n"
	       "      --rate R            open loop: R requests/s in total, latency measured\n"
	       "                          from each request's scheduled send time\n"
	       "  -t, --timeout SECONDS   a connect or a reply not done in this time fails; an\n"
	       "                          unanswered request is missing (default 5; 0: no limit)\n"
	       "Requests and replies:\n"
	       "  -p, --proto PROTO       len (default), line or raw\n"
	       "      --size BYTES        request payload size (default 5: \"hello\", padded)\n"
	       "      --request TEXT      request payload, C escapes allowed\n"
	       "      --reply-size BYTES  raw: bytes in each reply\n"
	       "      --expect TEXT       each reply must be TEXT (len/line default: world)\n"
	       "      --expect-echo       each reply must equal the request\n"
	       "Modes:\n"
	       "      --churn             connect, one request, read the reply, close; repeat\n"
	       "      --reset             with --churn: close with a reset (SO_LINGER 0), so\n"
	       "                          closed connections do not hold local ports in TIME_WAIT\n"
	       "      --connect-only      open the connections and hold them idle for -d seconds\n"
	       "                          (without -d, until interrupted)\n"
	       "Datagrams (udp:, unixgram:, seqpacket:; -c is peers, each its own socket):\n"
	       "      --bulk BYTES        send BYTES in datagrams of --size (default 1400) from\n"
	       "                          one socket as fast as it takes them; replies counted\n"
	       "      --no-gso            --bulk without UDP_SEGMENT (sendmmsg instead)\n"
	       "Output:\n"
	       "      --json              one JSON object with every figure\n"
	       "  -q, --quiet             no progress line\n"
	       "  -h, --help              show this help\n"
	       "  -V, --version           show the version\n"
	       "\n"
	       "Options that contradict each other are usage errors (see the man page).\n"
	       "Exit status: 0 when every reply arrived and was right, 1 otherwise (a request\n"
	       "still in flight at the end, SIGINT included, is missing), 2 on a usage error.\n");
	exit(0);
}

static int sending_allowed(const struct bench *b)
{
	if (b->stopping)
		return 0;
	if (b->duration_ms)
		return pl_loop_now(b->loop) < b->stop_sending_ms;
	return b->issued < b->total;
}

static void push_time(struct conn *c, uint64_t t)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		uint64_t *nt = malloc(cap * sizeof(*nt));
		if (!nt)
			cli_die(1, "out of memory");
		for (size_t i = 0; i < c->n; i++)
			nt[i] = c->times[(c->head + i) % c->cap];
		free(c->times);
		c->times = nt;
		c->head = 0;
		c->cap = cap;
	}
	c->times[(c->head + c->n++) % c->cap] = t;
}

static uint64_t pop_time(struct conn *c)
{
	uint64_t t = c->times[c->head];

	c->head = (c->head + 1) % c->cap;
	c->n--;
	c->b->inflight--;
	return t;
}

static void finish_if_done(struct bench *b);

/* Queues one request on c: sent at once on an open connection (a failure
 * closes it, and on_close counts the request missing), or when the
 * connect in progress finishes. */
static void send_request(struct conn *c, uint64_t t)
{
	struct bench *b = c->b;

	push_time(c, t);
	b->issued++;
	b->inflight++;
	if (c->pc)
		pl_conn_send(c->pc, b->payload, b->payload_len);
	else
		c->queued++;
}

/* One reply is complete: its latency counts, and whether it was right. */
static void reply_done(struct conn *c, int ok)
{
	struct bench *b = c->b;

	if (!c->n) {
		b->wrong++; /* a reply nobody asked for */
		return;
	}
	pl_hist_record(b->hist, (uint64_t)(pl_clock_ns() - (long long)pop_time(c)));
	b->done++;
	if (!ok)
		b->wrong++;
}

static void check_reply(struct conn *c, const uint8_t *p, size_t len)
{
	struct bench *b = c->b;
	int ok = 1;

	if (((b->check_len || b->check_content) && len != b->expect_len) ||
	    (b->check_content && len && memcmp(p, b->expect, len) != 0))
		ok = 0;
	reply_done(c, ok);
}

/*
 * Raw replies have no framing: every reply_size bytes are one reply.
 * Returns -1 on bytes that no request asked for (replies longer than
 * --reply-size): from there on replies and requests are out of step.
 */
static int on_raw(struct conn *c, const uint8_t *p, size_t n)
{
	struct bench *b = c->b;

	while (n) {
		if (!c->n) {
			b->wrong++;
			return -1;
		}
		size_t take = b->reply_size - c->raw_got;
		if (take > n)
			take = n;
		if (b->check_content && memcmp(p, b->expect + c->raw_got, take) != 0)
			c->raw_bad = 1;
		c->raw_got += take;
		p += take;
		n -= take;
		if (c->raw_got == b->reply_size) {
			reply_done(c, !c->raw_bad);
			c->raw_got = 0;
			c->raw_bad = 0;
		}
	}
	return 0;
}

static void refill(struct conn *c)
{
	struct bench *b = c->b;

	if (b->rate > 0)
		return; /* the open-loop schedule sends, not replies */
	/* a failed send closes the connection: then nothing more goes */
	while (c->pc && c->n < b->depth && sending_allowed(b))
		send_request(c, (uint64_t)pl_clock_ns());
}

/* Churn got its reply: the connection closes (--reset: with a reset, so
 * no local port waits in TIME_WAIT), and on_close opens the next. */
static void churn_done(struct conn *c)
{
	struct linger lg = { 1, 0 };

	c->b->churned++;
	if (c->b->churn_reset)
		setsockopt(pl_conn_fd(c->pc), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	pl_conn_close(c->pc);
}

/* A reply arrived on c's connection (raw: whatever one read brought).
 * Sends made here leave together, in one write after the batch. */
static void on_reply(struct pl_conn *pc, const uint8_t *msg, size_t len, void *arg)
{
	struct conn *c = pl_conn_data(pc);
	struct bench *b = arg;

	if (b->proto != PL_PROTO_RAW) {
		check_reply(c, msg, len);
	} else if (on_raw(c, msg, len) < 0) {
		pl_conn_close(pc);
		return;
	}
	if (b->mode == MODE_CHURN && c->n == 0) {
		churn_done(c);
		return;
	}
	refill(c);
	finish_if_done(b);
}

/* The server ended its side: no reply can come any more, so the requests
 * in flight are missing now, whatever is still unsent. */
static void on_eof(struct pl_conn *pc, void *arg)
{
	(void)arg;
	pl_conn_close(pc);
}

static void start_conn(struct conn *c);

/* Takes back requests queued on a connection that never connected: they
 * were not sent, so they are neither in flight nor, at conn_lost, missing. */
static void unsend(struct conn *c)
{
	c->b->issued -= c->n;
	c->b->inflight -= c->n;
	c->n = c->queued = 0;
}

/* c's connection or connect is gone: the requests in flight on it are missing. */
static void conn_lost(struct conn *c)
{
	struct bench *b = c->b;

	b->missing += c->n;
	b->inflight -= c->n;
	c->n = c->head = c->queued = 0;
	c->raw_got = c->raw_bad = 0;
	c->pc = NULL;
	b->alive--;
}

/* A connection ended: the peer closed it, an error, a reply timed out, or
 * churn got its reply.  Churn opens the next one at once; should that
 * connect fail, its retry waits for a timer, so this never recurses. */
static void on_close(struct pl_conn *pc, enum pl_close_reason why, int err, void *arg)
{
	struct conn *c = pl_conn_data(pc);
	struct bench *b = arg;

	(void)err;
	if (why == PL_CLOSE_OVERSIZE)
		b->wrong++; /* a reply over 4 GiB: replies and requests are out of step */
	conn_lost(c);
	if (b->mode == MODE_CHURN && sending_allowed(b))
		start_conn(c);
	finish_if_done(b);
}

/* The run is over: what is still in flight on c, or waits for its
 * connect, is missing. */
static void conn_drop(struct conn *c)
{
	if (c->pending) {
		pl_client_cancel(c->pending);
		c->pending = NULL;
		c->b->connecting--;
		conn_lost(c);
	} else if (c->pc) {
		pl_conn_close(c->pc); /* on_close counts it */
	}
}

/* The pause before the Nth retry in a row: 1, 2, 4 ... RETRY_MAX_MS. */
static long long retry_ms(unsigned failures)
{
	long long ms = 1LL << (failures < 11 ? failures - 1 : 10);

	return ms < RETRY_MAX_MS ? ms : RETRY_MAX_MS;
}

/* Whether c, whose connect just failed, tries again: while requests may
 * still be sent, except that a run without an end time (-n) gives a
 * connection up once it has failed for --timeout in a row. */
static int may_retry(const struct conn *c)
{
	const struct bench *b = c->b;

	if (!sending_allowed(b))
		return 0;
	return b->duration_ms || !b->timeout_ms ||
	       pl_loop_now(b->loop) - c->failing_since_ms < b->timeout_ms;
}

/*
 * A connect failed (refused, unreachable, timed out, no descriptor or
 * port left): it is counted, said once, and tried again from a timer after
 * a pause that doubles up to RETRY_MAX_MS, so an address with nothing
 * behind it costs a few attempts a second, not a busy loop or a recursion
 * per attempt.
 */
static void connect_failed(struct conn *c, int err)
{
	struct bench *b = c->b;

	b->connect_errors++;
	if (!b->connect_warned) {
		b->connect_warned = 1;
		cli_warn("connect to %s: %s", cli_addr_str(&b->target), strerror(err));
	}
	unsend(c);
	if (c->failures++ == 0) /* the loop reads the same clock, pl_clock_ms */
		c->failing_since_ms = c->opened_ns / 1000000;
	if (may_retry(c)) {
		b->waiting++;
		pl_timer_start(b->loop, &c->retry, retry_ms(c->failures));
	}
	finish_if_done(b);
}

static void on_retry(struct pl_loop *loop, struct pl_timer *t)
{
	struct conn *c = t->data;

	(void)loop;
	c->b->waiting--;
	if (sending_allowed(c->b))
		start_conn(c);
	finish_if_done(c->b);
}

/* --connect-only: every connection is up; the -d seconds of holding start. */
static void holding(struct bench *b)
{
	b->holding = 1;
	if (!b->json)
		printf("holding %u connections\n", b->conns);
	fflush(stdout);
	if (b->duration_ms) {
		b->stop_sending_ms = pl_loop_now(b->loop) + b->duration_ms;
		pl_timer_start(b->loop, &b->end, b->duration_ms);
	}
}

/* c has connected: what waited for it goes, and load fills its pipeline,
 * all in one write (the connect callback is a batch). */
static void conn_ready(struct conn *c)
{
	struct bench *b = c->b;

	c->failures = 0;
	if (b->mode == MODE_CONNECT_ONLY) {
		if (!b->holding && b->alive - b->connecting == b->conns)
			holding(b);
		return;
	}
	/* a failed send closes the connection (the rest is then missing), and
	 * churn may have queued the next connection's request by the time it
	 * returns: count down first */
	while (c->queued && c->pc) {
		c->queued--;
		pl_conn_send(c->pc, b->payload, b->payload_len);
	}
	if (b->mode == MODE_LOAD)
		refill(c);
}

static void on_connected(struct pl_conn *pc, const struct pl_connect_report *r, void *arg)
{
	struct conn *c = arg;

	c->pending = NULL;
	c->b->connecting--;
	if (!pc) {
		c->b->alive--;
		connect_failed(c, -r->err);
		return;
	}
	c->pc = pc;
	pl_conn_set_data(pc, c);
	conn_ready(c);
}

/* -t bounds a connect as it does a reply (the race takes an int). */
static int connect_timeout_ms(const struct bench *b)
{
	return b->timeout_ms < INT_MAX ? (int)b->timeout_ms : INT_MAX;
}

/*
 * Opens c with a connect in the loop, so a slow or silent address holds up
 * nothing else.  Churn queues its one request at once: its latency counts
 * from here, the connect included.
 */
static void start_conn(struct conn *c)
{
	struct bench *b = c->b;
	struct pl_connect_opts o = { .timeout_ms = connect_timeout_ms(b) };
	int r;

	c->opened_ns = pl_clock_ns();
	r = pl_client_connect(b->client, &b->target, 1, &o, on_connected, c, &c->pending);
	if (r < 0) {
		connect_failed(c, -r);
		return;
	}
	b->alive++;
	b->connecting++;
	if (b->mode == MODE_CHURN)
		send_request(c, (uint64_t)c->opened_ns);
}

/* How many connections to open: a short -n run no more than it fills. */
static unsigned conns_to_open(const struct bench *b)
{
	uint64_t need;

	if (b->mode == MODE_CONNECT_ONLY || b->duration_ms || b->rate > 0)
		return b->conns;
	need = b->mode == MODE_CHURN ? b->total : (b->total + b->depth - 1) / b->depth;
	return need < b->conns ? (unsigned)need : b->conns;
}

static void finish(struct bench *b)
{
	b->stopping = 1;
	if (!b->end_ns)
		b->end_ns = pl_clock_ns();
	pl_loop_stop(b->loop);
}

/* Ends the run once nothing is in flight and nothing more will be sent:
 * sending is over, or no connection is left to send on. */
static void finish_if_done(struct bench *b)
{
	if (b->mode == MODE_CONNECT_ONLY) {
		if (!b->alive && !b->waiting)
			finish(b); /* nothing left to hold */
		return;
	}
	if (b->inflight)
		return;
	if (sending_allowed(b) && (b->alive || b->waiting))
		return;
	finish(b);
}

/* Open loop: the next connection open or connecting, in turn, or NULL. */
static struct conn *next_open(struct bench *b)
{
	for (unsigned i = 0; i < b->conns; i++) {
		struct conn *c = &b->c[b->next_conn++ % b->conns];
		if (c->pc || c->pending)
			return c;
	}
	return NULL;
}

/* Open loop: hands out the requests that are due, each with its scheduled
 * time.  Returns 0 once sending is over. */
static int issue_due(struct bench *b)
{
	long long now = pl_clock_ns();
	double elapsed = (double)(now - b->start_ns) / 1e9;
	uint64_t due = (uint64_t)(elapsed * b->rate);

	if (b->duration_ms == 0 && due > b->total)
		due = b->total;
	while (b->issued < due && sending_allowed(b)) {
		struct conn *c = next_open(b);
		if (!c)
			break; /* none is open: they wait to retry their connects */
		send_request(c, (uint64_t)(b->start_ns + (long long)((double)b->issued * 1e9 / b->rate)));
	}
	if (sending_allowed(b))
		return 1;
	finish_if_done(b);
	return 0;
}

/* The loop's timers tick in milliseconds: the fallback pacer. */
static void on_tick(struct pl_loop *loop, struct pl_timer *t)
{
	if (issue_due(t->data))
		pl_timer_start(loop, t, 1);
}

/* A timerfd paces the open loop in microseconds, so requests leave in small
 * groups close to their scheduled times rather than in 1 ms bursts (which
 * would add up to a millisecond of the generator's own delay to every
 * latency it reports). */
static void on_pace(struct pl_loop *loop, struct pl_io *io, unsigned events)
{
	struct bench *b = io->data;
	uint64_t expirations;

	(void)events;
	if (read(io->fd, &expirations, sizeof(expirations)) < 0 && errno == EAGAIN)
		return;
	if (!issue_due(b)) {
		pl_io_stop(loop, io);
		close(io->fd);
		io->fd = -1;
	}
}

static void start_pacing(struct bench *b)
{
	/* a step per request, but at most 20,000 wakeups a second: a request
	 * leaves at most one step (50 us to 1 ms) after its scheduled time,
	 * and that delay counts in the latency reported */
	long long period_ns = (long long)(1e9 / b->rate);
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	if (period_ns < 50000)
		period_ns = 50000;
	if (period_ns > 1000000)
		period_ns = 1000000;
	struct itimerspec its = { { 0, period_ns }, { 0, 1000 } };
	if (fd >= 0 && timerfd_settime(fd, 0, &its, NULL) == 0) {
		pl_io_init(&b->pace, fd, on_pace, b);
		if (pl_io_start(b->loop, &b->pace, PL_READ) == 0)
			return;
	}
	if (fd >= 0)
		close(fd);
	pl_timer_start(b->loop, &b->tick, 0);
}

static void on_progress(struct pl_loop *loop, struct pl_timer *t)
{
	struct bench *b = t->data;

	fprintf(stderr, "\r%llu requests, %llu/s   ", (unsigned long long)b->done,
		(unsigned long long)(b->done - b->last_done));
	b->last_done = b->done;
	pl_timer_start(loop, t, 1000);
}

/* -d is over: sending stops, and the replies in flight get --timeout to
 * arrive (with -t 0, as long as they take). */
static void on_end_of_duration(struct pl_loop *loop, struct pl_timer *t)
{
	struct bench *b = t->data;

	if (b->mode == MODE_CONNECT_ONLY || b->draining) {
		finish(b);
		return;
	}
	b->draining = 1;
	finish_if_done(b);
	if (!b->stopping && b->timeout_ms)
		pl_timer_start(loop, t, b->timeout_ms);
}

/* A connection's oldest request waited --timeout: it is missing.  Only
 * closing the connection keeps its late reply from being taken for the
 * next request's; the others in flight on it are missing too. */
static void reply_timed_out(struct conn *c)
{
	struct bench *b = c->b;

	if (!b->timeout_warned) {
		b->timeout_warned = 1;
		cli_warn("%s: no reply within %.3g s", cli_addr_str(&b->target),
			 (double)b->timeout_ms / 1000.0);
	}
	pl_conn_close(c->pc);
}

/* How often the sweep looks: a fifth of --timeout, from 10 ms to 1 s, so
 * a request is given up at most that long after its time is up. */
static long long sweep_ms(const struct bench *b)
{
	long long ms = b->timeout_ms / 5;

	return ms < 10 ? 10 : ms > 1000 ? 1000 : ms;
}

/* Gives up the replies that waited --timeout (a connect's own timeout
 * covers the connects).  Replies come in order, so only each connection's
 * oldest request needs a look. */
static void on_sweep(struct pl_loop *loop, struct pl_timer *t)
{
	struct bench *b = t->data;
	long long now = pl_clock_ns(), limit = b->timeout_ms * 1000000LL;

	for (unsigned i = 0; i < b->conns && !b->stopping; i++) {
		struct conn *c = &b->c[i];
		if (c->pc && c->n && now - (long long)c->times[c->head] >= limit)
			reply_timed_out(c);
	}
	pl_timer_start(loop, t, sweep_ms(b));
}

/*
 * The client every connection comes from.  Reading never stops for
 * unsent requests (out_cap): a server that stops reading while its own
 * replies wait would otherwise deadlock with us.  Replies may be as long
 * as their framing allows.
 */
static int new_client(struct bench *b)
{
	struct pl_conn_config cfg = {
		.proto = b->proto, .max_msg = UINT32_MAX, .out_cap = SIZE_MAX,
		.on_request = on_reply, .on_eof = on_eof, .on_close = on_close, .arg = b,
	};

	return pl_client_new(b->loop, &cfg, &b->client);
}

static void on_signal(struct pl_loop *loop, int signo, void *arg)
{
	struct bench *b = arg;

	(void)loop;
	(void)signo;
	finish(b);
}

static void build_request(struct bench *b, const char *request, size_t size)
{
	if (request) {
		b->payload = malloc(strlen(request) + 1);
		b->payload_len = cli_unescape_opt("--request", request, b->payload);
	} else {
		b->payload = malloc(size + 1);
		for (size_t i = 0; i < size; i++)
			b->payload[i] = i < 5 ? (uint8_t)"hello"[i] : 'x';
		b->payload_len = size;
	}
	if (b->proto == PL_PROTO_LINE && memchr(b->payload, '\n', b->payload_len))
		cli_usage_error("--proto line: a request cannot contain a newline");
	if (b->proto == PL_PROTO_RAW && b->payload_len == 0)
		cli_usage_error("--proto raw: an empty request sends nothing, so no reply would come");
}

static double us(uint64_t ns) { return (double)ns / 1000.0; }

/* Datagrams: the share of those sent that got no reply. */
static double loss(const struct bench *b) { return b->sent ? (double)b->missing / (double)b->sent : 0; }

static void report(const struct bench *b)
{
	double secs = (double)(b->end_ns - b->start_ns) / 1e9;
	uint64_t errors = b->wrong + b->missing + b->connect_errors;
	const struct pl_hist *h = b->hist;
	const char *mode = b->mode == MODE_CHURN ? "churn" : b->mode == MODE_CONNECT_ONLY ? "connect-only" : "load";
	const char *proto = b->addr.sock == PL_SOCK_STREAM ? pl_proto_name(b->proto) : "datagram";

	if (secs <= 0)
		secs = 1e-9;
	if (b->json) {
		printf("{\"address\":\"%s\",\"proto\":\"%s\",\"mode\":\"%s\",\"conns\":%u,\"pipeline\":%u,"
		       "\"rate\":%.0f,\"requests\":%llu,\"seconds\":%.6f,\"rps\":%.1f,"
		       "\"connections_per_s\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
		       "\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,\"wrong\":%llu,"
		       "\"missing\":%llu,\"connect_errors\":%llu,\"errors\":%llu",
		       cli_addr_str(&b->target), proto, mode, b->conns, b->depth,
		       b->rate, (unsigned long long)b->done, secs, (double)b->done / secs,
		       (double)b->churned / secs, us(pl_hist_percentile(h, 50)),
		       us(pl_hist_percentile(h, 90)), us(pl_hist_percentile(h, 99)),
		       us(pl_hist_percentile(h, 99.9)), us(pl_hist_max(h)), pl_hist_mean(h) / 1000.0,
		       (unsigned long long)b->wrong, (unsigned long long)b->missing,
		       (unsigned long long)b->connect_errors, (unsigned long long)errors);
		if (b->addr.sock != PL_SOCK_STREAM)
			printf(",\"sent\":%llu,\"loss\":%.6f,\"own_drops\":%llu", (unsigned long long)b->sent,
			       loss(b), (unsigned long long)b->own_drops);
		printf("}\n");
		return;
	}
	printf("%s  %s  %s, %u %s, pipeline %u%s\n", cli_addr_str(&b->target), proto, mode, b->conns,
	       b->addr.sock == PL_SOCK_STREAM ? "connections" : "peers", b->depth,
	       b->rate > 0 ? ", open loop" : "");
	printf("requests      %llu in %.3f s\n", (unsigned long long)b->done, secs);
	printf("throughput    %.0f requests/s\n", (double)b->done / secs);
	if (b->mode == MODE_CHURN)
		printf("churn         %.0f connections/s\n", (double)b->churned / secs);
	printf("latency (us)  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
	       us(pl_hist_percentile(h, 50)), us(pl_hist_percentile(h, 90)),
	       us(pl_hist_percentile(h, 99)), us(pl_hist_percentile(h, 99.9)), us(pl_hist_max(h)));
	printf("errors        %llu wrong, %llu missing, %llu %s\n", (unsigned long long)b->wrong,
	       (unsigned long long)b->missing, (unsigned long long)b->connect_errors,
	       b->addr.sock == PL_SOCK_STREAM ? "connect" : "refused");
	if (b->addr.sock != PL_SOCK_STREAM)
		printf("loss          %.3f%% (%llu of %llu datagrams unanswered; %llu replies dropped "
		       "by this generator's own sockets)\n", loss(b) * 100, (unsigned long long)b->missing,
		       (unsigned long long)b->sent, (unsigned long long)b->own_drops);
}

/* The options that can clash with others, one bit each, in opt_names order. */
enum {
	O_REQUESTS = 1 << 0, O_DURATION = 1 << 1, O_PIPELINE = 1 << 2, O_RATE = 1 << 3,
	O_SIZE = 1 << 4, O_REQUEST = 1 << 5, O_EXPECT = 1 << 6, O_ECHO = 1 << 7,
	O_REPLY_SIZE = 1 << 8, O_CHURN = 1 << 9, O_CONNECT_ONLY = 1 << 10, O_RESET = 1 << 11,
	O_PROTO = 1 << 12, O_BULK = 1 << 13, O_NO_GSO = 1 << 14, O_CONNS = 1 << 15,
};
#define O_REQUEST_SHAPING (O_REQUESTS | O_PIPELINE | O_RATE | O_SIZE | O_REQUEST | O_EXPECT | \
			   O_ECHO | O_REPLY_SIZE | O_PROTO)

static const char *opt_name(unsigned bit)
{
	static const char *const names[] = {
		"--requests", "--duration", "--pipeline", "--rate", "--size", "--request",
		"--expect", "--expect-echo", "--reply-size", "--churn", "--connect-only",
		"--reset", "--proto", "--bulk", "--no-gso", "--conns",
	};
	unsigned i = 0;

	while (!(bit & 1u << i))
		i++;
	return names[i];
}

/*
 * Options that contradict each other are refused, with the reason, rather
 * than one quietly overriding the other: a run that measured something
 * else than asked for is worse than no run.
 */
static void check_clashes(unsigned given)
{
	static const struct { unsigned a, b; const char *why; } clashes[] = {
		{ O_REQUESTS, O_DURATION, "a run is a count of requests or a time" },
		{ O_CHURN, O_CONNECT_ONLY, "they are two modes" },
		{ O_EXPECT, O_ECHO, "both say what a reply must be" },
		{ O_SIZE, O_REQUEST, "--request sets the size" },
		{ O_RATE, O_CHURN, "--churn opens a connection per request, at its own pace" },
		{ O_RATE, O_PIPELINE, "the open loop's schedule sets what is in flight" },
		{ O_PIPELINE, O_CHURN, "--churn sends one request per connection" },
	};

	for (size_t i = 0; i < sizeof(clashes) / sizeof(clashes[0]); i++)
		if ((given & clashes[i].a) && (given & clashes[i].b))
			cli_usage_error("%s and %s cannot be combined: %s", opt_name(clashes[i].a),
					opt_name(clashes[i].b), clashes[i].why);
	if (given & O_CONNECT_ONLY && given & O_REQUEST_SHAPING)
		cli_usage_error("--connect-only and %s cannot be combined: --connect-only sends "
				"no requests", opt_name(given & O_REQUEST_SHAPING & -(given & O_REQUEST_SHAPING)));
	if (given & O_RESET && !(given & O_CHURN))
		cli_usage_error("--reset goes with --churn (it is how churn closes)");
}



/* What each reply must be: --expect-echo, --expect, or for len and line
 * "world"; raw replies are only counted unless one of those says. */
static void set_expect(struct bench *b, const char *expect, int echo)
{
	if (echo) {
		b->expect = b->payload;
		b->expect_len = b->payload_len;
		b->check_content = 1;
	} else if (expect || b->proto != PL_PROTO_RAW) {
		b->expect = malloc(strlen(expect ? expect : "world") + 1);
		b->expect_len = cli_unescape_opt("--expect", expect ? expect : "world", b->expect);
		b->check_content = 1;
	}
	if (b->proto == PL_PROTO_LINE && b->check_content && memchr(b->expect, '\n', b->expect_len))
		cli_usage_error("--proto line: a reply cannot contain a newline");
	if (b->proto == PL_PROTO_RAW && b->check_content && b->expect_len != b->reply_size)
		cli_usage_error("%s: a reply of %zu bytes, but --reply-size is %zu",
				echo ? "--expect-echo" : "--expect", b->expect_len, b->reply_size);
}

/* The options a datagram address takes, and those only it takes. */
static void check_dgram(const struct bench *b, unsigned given)
{
	const unsigned stream_only = O_CHURN | O_CONNECT_ONLY | O_RESET | O_PROTO | O_REPLY_SIZE;
	const unsigned not_bulk = O_REQUESTS | O_DURATION | O_PIPELINE | O_RATE | O_EXPECT | O_ECHO |
				  O_CONNS;

	if (b->addr.sock == PL_SOCK_STREAM && given & (O_BULK | O_NO_GSO))
		cli_usage_error("%s goes with udp:, unixgram: and seqpacket: addresses",
				opt_name(given & (O_BULK | O_NO_GSO) & -(given & (O_BULK | O_NO_GSO))));
	if (b->addr.sock != PL_SOCK_STREAM && given & stream_only)
		cli_usage_error("%s goes with stream addresses (a datagram is its own frame, "
				"and has no connection)", opt_name(given & stream_only & -(given & stream_only)));
	if (given & O_BULK && given & not_bulk)
		cli_usage_error("--bulk and %s cannot be combined: --bulk sends datagrams from one "
				"socket as fast as it can", opt_name(given & not_bulk & -(given & not_bulk)));
	if (given & O_NO_GSO && !(given & O_BULK))
		cli_usage_error("--no-gso goes with --bulk");
	if (b->addr.sock != PL_SOCK_STREAM && b->timeout_ms == 0)
		cli_usage_error("--timeout 0 with datagrams: a lost one would be waited for for ever");
}

static void parse(struct bench *b, int argc, char **argv)
{
	static const struct cli_opt opts[] = {
		{ "conns", 'c', required_argument, 0 },     { "requests", 'n', required_argument, 0 },
		{ "duration", 'd', required_argument, 0 },  { "pipeline", 'P', required_argument, 0 },
		{ "rate", 0, required_argument, 9 },        { "proto", 'p', required_argument, 0 },
		{ "size", 0, required_argument, 10 },       { "request", 0, required_argument, 1 },
		{ "reply-size", 0, required_argument, 2 },  { "expect", 0, required_argument, 3 },
		{ "expect-echo", 0, no_argument, 4 },       { "churn", 0, no_argument, 5 },
		{ "connect-only", 0, no_argument, 6 },      { "json", 0, no_argument, 7 },
		{ "reset", 0, no_argument, 8 },             { "timeout", 't', required_argument, 0 },
		{ "quiet", 'q', no_argument, 0 },           { "help", 'h', no_argument, 0 },
		{ "version", 'V', no_argument, 0 },         { "bulk", 0, required_argument, 11 },
		{ "no-gso", 0, no_argument, 12 },           { 0 },
	};
	struct cli_getopt g = { 0 }; /* zeroed for cppcheck: cli_getopt_init fills it */
	const char *request = NULL, *expect = NULL;
	size_t size = 5;
	unsigned given = 0;
	int ch;

	cli_getopt_init(&g, opts, NULL);
	while ((ch = getopt_long(argc, argv, g.shorts, g.longs, NULL)) != -1) {
		switch (ch) {
		case 'c': b->conns = (unsigned)cli_uint_range("--conns", optarg, 1, 1000000); given |= O_CONNS; break;
		case 'n': b->total = cli_uint_range("--requests", optarg, 1, 1ULL << 40); given |= O_REQUESTS; break;
		case 'd':
			b->duration_ms = cli_seconds_ms("--duration", optarg);
			if (b->duration_ms == 0)
				cli_usage_error("--duration: '%s' is not a number of seconds from "
						"0.001 to %d", optarg, CLI_SECONDS_MAX);
			given |= O_DURATION;
			break;
		case 't': b->timeout_ms = cli_seconds_ms("--timeout", optarg); break;
		case 'P': b->depth = (unsigned)cli_uint_range("--pipeline", optarg, 1, 1000000); given |= O_PIPELINE; break;
		case 9: b->rate = (double)cli_uint_range("--rate", optarg, 1, 100000000); given |= O_RATE; break;
		case 'p':
			if (pl_proto_parse(optarg, &b->proto) < 0)
				cli_usage_error("--proto: '%s' is not len, line or raw", optarg);
			given |= O_PROTO;
			break;
		case 10: size = cli_size("--size", optarg, 1ULL << 30); given |= O_SIZE; break;
		case 1: request = optarg; given |= O_REQUEST; break;
		case 2:
			b->reply_size = cli_size("--reply-size", optarg, 1ULL << 30);
			if (!b->reply_size)
				cli_usage_error("--reply-size: '%s' is not a size from 1 to %llu "
						"(K, M, G allowed)", optarg, 1ULL << 30);
			given |= O_REPLY_SIZE;
			break;
		case 3: expect = optarg; given |= O_EXPECT; break;
		case 4: given |= O_ECHO; break;
		case 5: b->mode = MODE_CHURN; given |= O_CHURN; break;
		case 6: b->mode = MODE_CONNECT_ONLY; given |= O_CONNECT_ONLY; break;
		case 7: b->json = 1; break;
		case 8: b->churn_reset = 1; given |= O_RESET; break;
		case 11:
			b->bulk = cli_size_range("--bulk", optarg, 1, 1ULL << 40);
			given |= O_BULK;
			break;
		case 12: b->no_gso = 1; given |= O_NO_GSO; break;
		case 'q': b->quiet = 1; break;
		case 'h': usage();
		case 'V': cli_version();
		default: cli_bad_option(ch, argv, g.longs);
		}
	}
	if (argc - optind > 1)
		cli_usage_error("unexpected argument '%s' (one ADDRESS at most)", argv[optind + 1]);
	check_clashes(given);
	if (b->proto == PL_PROTO_RAW && !b->reply_size && b->mode != MODE_CONNECT_ONLY)
		cli_usage_error("--proto raw needs --reply-size (raw replies have no framing)");
	if (b->proto != PL_PROTO_RAW && b->reply_size)
		cli_usage_error("--reply-size goes with --proto raw");
	cli_addr(&b->addr, optind < argc ? argv[optind] : "localhost", CLI_DEFAULT_PORT, 0);
	check_dgram(b, given);
	if (b->mode == MODE_CONNECT_ONLY)
		return;
	build_request(b, request, b->bulk && !(given & O_SIZE) ? 1400 : size);
	if (b->addr.sock == PL_SOCK_SEQPACKET && b->payload_len == 0)
		cli_usage_error("seqpacket: an empty request reads as the end of the connection");
	/* 65535 less the IPv4 and UDP headers; a Unix datagram's bound is its socket buffer */
	if ((b->bulk || (b->addr.sock == PL_SOCK_DGRAM && pl_addr_sa_family(&b->addr) != AF_UNIX)) &&
	    b->payload_len > 65507)
		cli_usage_error("a UDP datagram holds at most 65507 bytes, not %zu", b->payload_len);
	if (b->bulk && b->payload_len == 0)
		cli_usage_error("--bulk: a datagram of 0 bytes carries nothing");
	set_expect(b, expect, (given & O_ECHO) != 0);
}

/* ---- udp:, unixgram:, seqpacket: (bench_dgram.c) ---- */

static int run_dgram(struct bench *b)
{
	struct dgram_bench d = {
		.target = b->target, .peers = b->conns, .depth = b->depth, .total = b->total,
		.duration_ms = b->duration_ms, .timeout_ms = b->timeout_ms, .rate = b->rate,
		.payload = b->payload, .payload_len = b->payload_len, .expect = b->expect,
		.expect_len = b->expect_len, .check_content = b->check_content, .bulk = b->bulk,
		.gso = !b->no_gso,
	};

	if (pl_hist_new(&d.hist) < 0)
		cli_die(1, "out of memory");
	bench_dgram_run(&d);
	if (b->bulk) {
		bench_dgram_report_bulk(&d, b->json);
	} else {
		b->hist = d.hist;
		b->done = d.done, b->wrong = d.wrong, b->missing = d.missing, b->sent = d.sent;
		b->connect_errors = d.refused, b->start_ns = d.start_ns, b->end_ns = d.end_ns;
		b->own_drops = d.own_drops;
		report(b);
	}
	if ((fflush(stdout) != 0 || ferror(stdout)) && errno != EPIPE)
		cli_die(1, "write to stdout: %s", strerror(errno));
	pl_hist_free(d.hist);
	free(b->payload);
	if (b->expect != b->payload)
		free(b->expect);
	return d.wrong || d.missing || d.refused ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct bench b = { .conns = 50, .depth = 1, .total = 100000,
			   .timeout_ms = DEFAULT_TIMEOUT_MS, .pace.fd = -1 };
	size_t n;
	int r;

	cli_prog = "parley-bench";
	cli_std_fds();
	signal(SIGPIPE, SIG_IGN);
	parse(&b, argc, argv);
	r = pl_addr_resolve(&b.addr, PL_FAMILY_ANY, &b.target, 1, &n);
	if (r < 0)
		cli_die(1, "resolve %s: %s", b.addr.host, pl_addr_resolve_strerror(r));
	if (b.addr.sock != PL_SOCK_STREAM)
		return run_dgram(&b);
	if (pl_loop_new(&b.loop) < 0 || pl_hist_new(&b.hist) < 0 ||
	    !(b.c = calloc(b.conns, sizeof(*b.c))) || new_client(&b) < 0)
		cli_die(1, "out of memory");
	pl_loop_signal(b.loop, SIGINT, on_signal, &b);
	pl_loop_signal(b.loop, SIGTERM, on_signal, &b);
	for (unsigned i = 0; i < b.conns; i++) {
		b.c[i].b = &b;
		pl_timer_init(&b.c[i].retry, on_retry, &b.c[i]);
	}
	pl_timer_init(&b.tick, on_tick, &b);
	pl_timer_init(&b.progress, on_progress, &b);
	pl_timer_init(&b.end, on_end_of_duration, &b);
	pl_timer_init(&b.sweep, on_sweep, &b);
	b.start_ns = pl_clock_ns();
	b.stop_sending_ms = pl_loop_now(b.loop) + b.duration_ms;
	if (b.duration_ms)
		pl_timer_start(b.loop, &b.end, b.duration_ms);
	for (unsigned i = 0, n_open = conns_to_open(&b); i < n_open; i++)
		start_conn(&b.c[i]);
	if (b.rate > 0)
		start_pacing(&b);
	if (b.timeout_ms)
		pl_timer_start(b.loop, &b.sweep, sweep_ms(&b));
	if (!b.quiet && !b.json && isatty(STDOUT_FILENO))
		pl_timer_start(b.loop, &b.progress, 1000);
	finish_if_done(&b);
	if (!b.stopping)
		pl_loop_run(b.loop);
	if (!b.end_ns)
		b.end_ns = pl_clock_ns();
	b.stopping = 1; /* no closing connection may open another */
	for (unsigned i = 0; i < b.conns; i++)
		conn_drop(&b.c[i]); /* what is still in flight is missing */
	if (pl_timer_active(&b.progress))
		fprintf(stderr, "\r\033[K"); /* erase the progress line */
	report(&b);
	/* a reader that stopped early (| head) is no failure of the run */
	if ((fflush(stdout) != 0 || ferror(stdout)) && errno != EPIPE)
		cli_die(1, "write to stdout: %s", strerror(errno));
	for (unsigned i = 0; i < b.conns; i++)
		free(b.c[i].times);
	if (b.pace.fd >= 0)
		close(b.pace.fd);
	pl_client_free(b.client);
	free(b.c);
	free(b.payload);
	if (b.expect != b.payload)
		free(b.expect);
	pl_hist_free(b.hist);
	pl_loop_free(b.loop);
	return b.wrong + b.missing + b.connect_errors ? 1 : 0;
}
