/*
 * bench_dgram.c - parley-bench over udp:, unixgram: and seqpacket:.
 *
 * Each peer is one connected socket on the loop with its requests in
 * flight, oldest first.  With --expect-echo (and requests of 8 bytes or
 * more) each request carries its number, so a reply finds its own request
 * and the older ones still waiting were lost (one path keeps order);
 * otherwise a reply carries no id and is taken for its peer's oldest
 * request.  Datagrams may be lost, so every request has a
 * deadline (--timeout), past which it counts missing.  When that leaves
 * the peer nothing in flight, it goes on from a new socket, so a reply that
 * was only late cannot pass for a newer request's; when younger requests
 * still wait (an open loop past capacity) the socket stays, since closing
 * it would lose their replies too.  Replies are read up to 64 per system
 * call (recvmmsg), requests sent up to 64 per call (sendmmsg).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/sock_diag.h>

#include "bench_dgram.h"
#include "cli.h"
#include "parley/buf.h"
#include "parley/burst.h"
#include "parley/clock.h"
#include "parley/loop.h"

#define BATCH 64

struct run;

struct peer {
	struct run *r;
	struct pl_io io;
	struct pl_buf times; /* times (uint64_t ns) of the requests in flight, oldest first */
	unsigned unsent;     /* the newest of them, still waiting for room in the socket */
	uint64_t head_seq;   /* the number of the oldest in flight (numbered requests) */
};

struct run {
	struct dgram_bench *d;
	struct pl_loop *loop;
	struct peer *peers;
	uint8_t *slots;        /* BATCH receive buffers of slot bytes */
	size_t slot;
	int numbered;          /* requests carry their number (see the top) */
	uint8_t *out;          /* numbered: BATCH requests being sent */
	uint64_t issued, inflight;
	long long stop_sending_ms;
	long long last_ns;     /* the last request sent or reply read */
	unsigned next_peer;
	int draining, stopping, warned;
	struct pl_timer end, sweep;
	struct pl_io pace;     /* the open loop's timerfd */
};

static size_t in_flight(const struct peer *p) { return pl_buf_len(&p->times) / sizeof(uint64_t); }

/* p's k oldest requests leave the queue (the caller counts them). */
static void pop(struct peer *p, size_t k)
{
	pl_buf_consume(&p->times, k * sizeof(uint64_t));
	p->head_seq += k;
	p->r->inflight -= k;
}

/* A request's number, in its first 8 bytes, little-endian. */
static void put_seq(uint8_t *b, uint64_t seq)
{
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(seq >> (8 * i));
}

static uint64_t get_seq(const uint8_t *b)
{
	uint64_t seq = 0;

	for (int i = 7; i >= 0; i--)
		seq = seq << 8 | b[i];
	return seq;
}

/* A socket connected to the target, non-blocking: -errno on failure. */
static int open_socket(const struct pl_addr *t)
{
	struct sockaddr_storage ss;
	struct sockaddr_storage me = { .ss_family = AF_UNIX };
	socklen_t len;
	int fd = socket(pl_addr_sa_family(t), pl_addr_sock_type(t) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int err;

	if (fd < 0)
		return -errno;
	pl_addr_to_sockaddr(t, &ss, &len);
	/* a Unix datagram peer needs a name to be answered: autobind one */
	if ((t->sock == PL_SOCK_DGRAM && ss.ss_family == AF_UNIX &&
	     bind(fd, (struct sockaddr *)&me, sizeof(sa_family_t)) < 0) ||
	    connect(fd, (struct sockaddr *)&ss, len) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void on_readable(struct pl_loop *loop, struct pl_io *io, unsigned events);

static void peer_open(struct peer *p)
{
	int fd = open_socket(&p->r->d->target);

	if (fd < 0)
		cli_die(1, "connect to %s: %s", cli_addr_str(&p->r->d->target), strerror(-fd));
	pl_io_init(&p->io, fd, on_readable, p);
	if (pl_io_start(p->r->loop, &p->io, PL_READ) < 0)
		cli_die(1, "event loop: out of memory");
}

/* One line the first time the peer refuses (nothing listens there). */
static void refused(struct run *r)
{
	r->d->refused++;
	if (!r->warned++)
		cli_warn("%s: Connection refused", cli_addr_str(&r->d->target));
}

/* What p's socket dropped for want of room (SO_MEMINFO): replies this
 * generator was too slow to read, counted apart from the server's losses. */
static void count_own_drops(struct peer *p)
{
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mem);

	if (p->io.fd >= 0 && getsockopt(p->io.fd, SOL_SOCKET, SO_MEMINFO, mem, &len) == 0 &&
	    len > SK_MEMINFO_DROPS * sizeof(mem[0]))
		p->r->d->own_drops += mem[SK_MEMINFO_DROPS];
}

/* All p's requests in flight are lost: counted missing, and p starts
 * over from a new socket (see the top). */
static void peer_lost(struct peer *p)
{
	struct run *r = p->r;
	size_t n = in_flight(p);

	r->d->missing += n;
	pop(p, n);
	pl_buf_free(&p->times);
	p->unsent = 0;
	count_own_drops(p);
	pl_io_close(r->loop, &p->io);
	if (!r->stopping)
		peer_open(p);
}

static int sending_allowed(const struct run *r)
{
	if (r->stopping)
		return 0;
	if (r->d->duration_ms)
		return pl_loop_now(r->loop) < r->stop_sending_ms;
	return r->issued < r->d->total;
}

/* The run ends; its time ends with the last datagram that moved, not
 * with the --timeout waited for those that never came. */
static void finish(struct run *r)
{
	r->stopping = 1;
	if (!r->d->end_ns)
		r->d->end_ns = r->last_ns ? r->last_ns : pl_clock_ns();
	pl_loop_stop(r->loop);
}

static void finish_if_done(struct run *r)
{
	if (!r->inflight && !sending_allowed(r))
		finish(r);
}

/* Sends p's waiting requests, BATCH per call, while the socket takes
 * them; a full one (a Unix datagram server's queue, above all) is waited
 * for, as a stream would be. */
/* Up to BATCH of p's waiting requests in one sendmmsg: its result. */
static int send_batch(struct peer *p)
{
	struct run *r = p->r;
	size_t len = r->d->payload_len;
	unsigned n = p->unsent < BATCH ? p->unsent : BATCH;
	uint64_t seq = p->head_seq + in_flight(p) - p->unsent;
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];

	memset(mm, 0, n * sizeof(mm[0]));
	for (unsigned i = 0; i < n; i++) {
		uint8_t *b = r->numbered ? r->out + i * len : (uint8_t *)r->d->payload;
		if (r->numbered) {
			memcpy(b, r->d->payload, len);
			put_seq(b, seq + i);
		}
		iov[i] = (struct iovec){ b, len };
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	return sendmmsg(p->io.fd, mm, n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void flush(struct peer *p)
{
	struct run *r = p->r;
	int sent = 0;

	while (p->unsent && (sent = send_batch(p)) > 0) {
		p->unsent -= (unsigned)sent;
		r->last_ns = pl_clock_ns();
	}
	if (sent < 0 && errno != EAGAIN && errno != ENOBUFS && errno != EINTR) {
		if (errno == ECONNREFUSED)
			refused(r);
		peer_lost(p); /* what it had in flight, sent or not, is missing */
		return;
	}
	if (pl_io_start(r->loop, &p->io, PL_READ | (p->unsent ? PL_WRITE : 0)) < 0)
		cli_die(1, "event loop: out of memory");
}

/* Queues n requests on p, stamped t (ns); flush sends them. */
static void queue_requests(struct peer *p, unsigned n, uint64_t t)
{
	struct run *r = p->r;

	for (unsigned i = 0; i < n; i++)
		if (pl_buf_append(&p->times, &t, sizeof(t)) < 0)
			cli_die(1, "out of memory");
	r->issued += n;
	r->d->sent += n;
	r->inflight += n;
	p->unsent += n;
}

/* Queues n requests on p, stamped t (ns), and sends them. */
static void send_requests(struct peer *p, unsigned n, uint64_t t)
{
	queue_requests(p, n, t);
	if (p->unsent == n) /* else the socket is full: on_event sends when it has room */
		flush(p);
}

/* Closed loop: p's pipeline filled up again. */
static void refill(struct peer *p)
{
	struct run *r = p->r;

	while (r->d->rate <= 0 && in_flight(p) < r->d->depth && sending_allowed(r)) {
		uint64_t want = r->d->depth - in_flight(p);
		if (!r->d->duration_ms && want > r->d->total - r->issued)
			want = r->d->total - r->issued;
		send_requests(p, (unsigned)want, (uint64_t)pl_clock_ns());
	}
}

/* One reply on p: the latency of its oldest request, and whether it is right. */
static void reply(struct peer *p, const uint8_t *msg, size_t len)
{
	struct dgram_bench *d = p->r->d;
	size_t skip = p->r->numbered ? 8 : 0;
	uint64_t t, seq = len >= 8 ? get_seq(msg) : 0;

	if (p->r->numbered && len >= 8) {
		if (seq < p->head_seq)
			return; /* a late answer to a request already given up */
		if (seq - p->head_seq >= in_flight(p)) {
			d->wrong++; /* no request in flight has that number */
			return;
		}
		d->missing += seq - p->head_seq; /* the older ones got none: lost */
		pop(p, (size_t)(seq - p->head_seq));
	}
	if (!in_flight(p)) {
		d->wrong++; /* nobody asked for it */
		return;
	}
	memcpy(&t, pl_buf_head(&p->times), sizeof(t));
	pop(p, 1);
	p->r->last_ns = pl_clock_ns();
	pl_hist_record(d->hist, (uint64_t)p->r->last_ns - t);
	d->done++;
	if (d->check_content && (len != d->expect_len || len < skip ||
				 memcmp(msg + skip, d->expect + skip, len - skip) != 0))
		d->wrong++;
}

/* The replies waiting on p's socket, up to BATCH in one call.  An empty
 * read on seqpacket: is the server's end (a zero-length packet reads the
 * same). */
static void on_readable(struct pl_loop *loop, struct pl_io *io, unsigned events)
{
	struct peer *p = io->data;
	struct run *r = p->r;
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	int n, conn = r->d->target.sock == PL_SOCK_SEQPACKET;

	(void)loop;
	memset(mm, 0, sizeof(mm));
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ r->slots + (size_t)i * r->slot, r->slot };
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	/* MSG_TRUNC: a reply longer than the slot says its real length (and is wrong) */
	if (events & PL_WRITE && p->unsent) {
		flush(p);
		if (io->fd < 0 || !(events & (PL_READ | PL_ERROR)))
			return; /* lost (and reopened), or nothing to read */
	}
	n = recvmmsg(io->fd, mm, BATCH, MSG_DONTWAIT | MSG_TRUNC, NULL);
	if (n < 0 && errno == ECONNREFUSED)
		refused(r);
	if (n < 0 && (conn || errno == ECONNREFUSED) && errno != EAGAIN && errno != EINTR)
		peer_lost(p);
	for (int i = 0; i < n; i++) {
		if (conn && mm[i].msg_len == 0) {
			peer_lost(p);
			break;
		}
		reply(p, iov[i].iov_base, mm[i].msg_len);
	}
	refill(p);
	finish_if_done(r);
}

/* Gives up p's requests sent limit ns or more before now (see the top). */
static void expire(struct peer *p, long long now, long long limit)
{
	size_t n = in_flight(p), gone = 0;
	uint64_t t;

	for (; gone < n; gone++) {
		memcpy(&t, pl_buf_head(&p->times) + gone * sizeof(t), sizeof(t));
		if (now - (long long)t < limit)
			break;
	}
	if (gone == n) {
		peer_lost(p);
		return;
	}
	if (gone > n - p->unsent) /* some waited for room in the socket that long */
		p->unsent = (unsigned)(n - gone);
	p->r->d->missing += gone;
	pop(p, gone);
}

/* Gives up the requests that waited --timeout; times grow from the head,
 * so a peer whose oldest is younger than that has nothing to give up. */
static void on_sweep(struct pl_loop *loop, struct pl_timer *t)
{
	struct run *r = t->data;
	long long now = pl_clock_ns(), limit = r->d->timeout_ms * 1000000LL;
	long long ms = r->d->timeout_ms / 5;

	for (unsigned i = 0; i < r->d->peers && !r->stopping; i++) {
		struct peer *p = &r->peers[i];
		uint64_t oldest;
		if (!in_flight(p))
			continue;
		memcpy(&oldest, pl_buf_head(&p->times), sizeof(oldest));
		if (now - (long long)oldest >= limit) {
			expire(p, now, limit);
			refill(p);
		}
	}
	finish_if_done(r);
	pl_timer_start(loop, t, ms < 10 ? 10 : ms > 1000 ? 1000 : ms);
}

/*
 * Open loop: the requests due by now leave, each on the next peer in turn,
 * stamped with the time it was due (so a late send counts in its latency),
 * each peer's in one sendmmsg; 0 once sending is over.  At most PACE_MAX
 * per tick: a generator that cannot keep up still reads its replies
 * between ticks, instead of losing them to its own full sockets.
 */
#define PACE_MAX 1024
static int issue_due(struct run *r)
{
	struct dgram_bench *d = r->d;
	long long now = pl_clock_ns();
	uint64_t due = (uint64_t)((double)(now - d->start_ns) / 1e9 * d->rate);

	if (!d->duration_ms && due > d->total)
		due = d->total;
	if (due > r->issued + PACE_MAX)
		due = r->issued + PACE_MAX;
	while (r->issued < due && sending_allowed(r)) {
		struct peer *p = &r->peers[r->next_peer++ % d->peers];
		queue_requests(p, 1, (uint64_t)(d->start_ns + (long long)((double)r->issued * 1e9 / d->rate)));
	}
	for (unsigned i = 0; i < d->peers; i++)
		if (r->peers[i].unsent && !(r->peers[i].io.events & PL_WRITE))
			flush(&r->peers[i]);
	finish_if_done(r);
	return sending_allowed(r);
}

static void on_pace(struct pl_loop *loop, struct pl_io *io, unsigned events)
{
	uint64_t ticks;

	(void)events;
	if (read(io->fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
		return;
	if (!issue_due(io->data))
		pl_io_close(loop, io);
}

/* A timerfd every 1/rate s (50 us at the least, 1 ms at the most), so
 * requests leave close to when they are due rather than in bursts. */
static void start_pacing(struct run *r)
{
	long long ns = (long long)(1e9 / r->d->rate);
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	struct itimerspec its = { { 0, ns < 50000 ? 50000 : ns > 1000000 ? 1000000 : ns }, { 0, 1000 } };

	if (fd < 0 || timerfd_settime(fd, 0, &its, NULL) < 0)
		cli_die(1, "timerfd: %s", strerror(errno));
	pl_io_init(&r->pace, fd, on_pace, r);
	if (pl_io_start(r->loop, &r->pace, PL_READ) < 0)
		cli_die(1, "event loop: out of memory");
}

/* -d is over: sending stops, and the replies in flight get --timeout. */
static void on_end(struct pl_loop *loop, struct pl_timer *t)
{
	struct run *r = t->data;

	if (r->draining) {
		finish(r);
		return;
	}
	r->draining = 1;
	finish_if_done(r);
	if (!r->stopping && r->d->timeout_ms)
		pl_timer_start(loop, t, r->d->timeout_ms);
}

static void on_signal(struct pl_loop *loop, int signo, void *arg)
{
	(void)loop;
	(void)signo;
	finish(arg);
}

/* The loop, its timers and the peers' sockets. */
static void setup(struct run *r)
{
	struct dgram_bench *d = r->d;

	r->slot = (d->check_content ? d->expect_len : 0) + 64;
	r->numbered = d->check_content && d->expect == d->payload && d->payload_len >= 8;
	if (pl_loop_new(&r->loop) < 0 || !(r->peers = calloc(d->peers, sizeof(*r->peers))) ||
	    !(r->slots = malloc(BATCH * r->slot)) || !(r->out = malloc(BATCH * d->payload_len + 1)))
		cli_die(1, "out of memory");
	pl_loop_signal(r->loop, SIGINT, on_signal, r);
	pl_loop_signal(r->loop, SIGTERM, on_signal, r);
	pl_timer_init(&r->end, on_end, r);
	pl_timer_init(&r->sweep, on_sweep, r);
	for (unsigned i = 0; i < d->peers; i++) {
		r->peers[i].r = r;
		peer_open(&r->peers[i]);
	}
}

static void teardown(struct run *r)
{
	for (unsigned i = 0; i < r->d->peers; i++) {
		r->d->missing += in_flight(&r->peers[i]); /* still in flight at the end */
		pl_buf_free(&r->peers[i].times);
		count_own_drops(&r->peers[i]);
		pl_io_close(r->loop, &r->peers[i].io);
	}
	if (r->pace.fd >= 0)
		pl_io_close(r->loop, &r->pace);
	pl_loop_free(r->loop);
	free(r->peers);
	free(r->slots);
	free(r->out);
}

static void run_bulk(struct dgram_bench *d);

void bench_dgram_run(struct dgram_bench *d)
{
	struct run r = { .d = d, .pace.fd = -1 };

	if (d->bulk) {
		run_bulk(d);
		return;
	}
	setup(&r);
	d->start_ns = pl_clock_ns();
	r.stop_sending_ms = pl_loop_now(r.loop) + d->duration_ms;
	if (d->duration_ms)
		pl_timer_start(r.loop, &r.end, d->duration_ms);
	if (d->timeout_ms)
		pl_timer_start(r.loop, &r.sweep, 10);
	if (d->rate > 0)
		start_pacing(&r);
	for (unsigned i = 0; i < d->peers; i++)
		refill(&r.peers[i]);
	finish_if_done(&r);
	if (!r.stopping && pl_loop_run(r.loop) < 0)
		cli_die(1, "event loop: %s", strerror(errno));
	finish(&r);
	teardown(&r);
}

/* ---- --bulk: one peer, datagrams as fast as the socket takes them ---- */

/* Counts the replies waiting (they are only counted: bulk measures the
 * sending); 0 when none was there. */
static int count_replies(struct dgram_bench *d, int fd)
{
	static uint8_t slot[BATCH][64];
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	int n;

	memset(mm, 0, sizeof(mm));
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ slot[i], sizeof(slot[i]) };
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	n = recvmmsg(fd, mm, BATCH, MSG_DONTWAIT, NULL);
	if (n > 0)
		d->answered += (unsigned)n;
	return n > 0;
}

/* Sends d->bulk bytes; the socket's own buffer paces it (poll on a full one). */
static void bulk_send(struct dgram_bench *d, struct pl_burst *b, const uint8_t *buf, size_t cap)
{
	uint64_t left = d->bulk;

	while (left) {
		ssize_t n = pl_burst_send(b, buf, left < cap ? (size_t)left : cap);
		if (n == -EAGAIN || n == -ENOBUFS) {
			struct pollfd p = { b->fd, POLLOUT, 0 };
			poll(&p, 1, 100);
			continue;
		}
		if (n < 0)
			cli_die(1, "write to %s: %s", cli_addr_str(&d->target), strerror((int)-n));
		left -= (uint64_t)n;
		d->sent += ((uint64_t)n + d->payload_len - 1) / d->payload_len;
		count_replies(d, b->fd);
	}
}

static void run_bulk(struct dgram_bench *d)
{
	size_t cap = d->payload_len * BATCH;
	uint8_t *buf = malloc(cap);
	struct pl_burst b;
	int fd = open_socket(&d->target);

	if (!buf)
		cli_die(1, "out of memory");
	if (fd < 0)
		cli_die(1, "connect to %s: %s", cli_addr_str(&d->target), strerror(-fd));
	for (size_t i = 0; i < cap; i++)
		buf[i] = d->payload[i % d->payload_len];
	if (pl_burst_init(&b, fd, d->payload_len, d->gso) < 0) /* parse checked the size */
		cli_die(1, "--bulk: datagrams of %zu bytes", d->payload_len);
	d->start_ns = pl_clock_ns();
	bulk_send(d, &b, buf, cap);
	d->end_ns = pl_clock_ns();
	d->gso_used = b.gso;
	/* the last replies: until none came for 100 ms, --timeout at the most */
	for (long long until = pl_clock_ms() + (d->timeout_ms ? d->timeout_ms : 1000);
	     pl_clock_ms() < until;) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, 100) <= 0 || !count_replies(d, fd))
			break;
	}
	close(fd);
	free(buf);
}

void bench_dgram_report_bulk(const struct dgram_bench *d, int json)
{
	double secs = (double)(d->end_ns - d->start_ns) / 1e9;
	double loss = d->sent ? 1.0 - (double)d->answered / (double)d->sent : 0;

	if (secs <= 0)
		secs = 1e-9;
	if (json) {
		printf("{\"address\":\"%s\",\"mode\":\"bulk\",\"size\":%zu,\"gso\":%d,\"bytes\":%llu,"
		       "\"datagrams\":%llu,\"seconds\":%.6f,\"mb_per_s\":%.1f,\"datagrams_per_s\":%.1f,"
		       "\"answered\":%llu,\"loss\":%.6f}\n",
		       cli_addr_str(&d->target), d->payload_len, d->gso_used,
		       (unsigned long long)d->bulk, (unsigned long long)d->sent, secs,
		       (double)d->bulk / secs / 1e6, (double)d->sent / secs,
		       (unsigned long long)d->answered, loss);
		return;
	}
	printf("%s  bulk, %zu-byte datagrams, GSO %s\n", cli_addr_str(&d->target), d->payload_len,
	       d->gso_used ? "on" : d->gso ? "off (not UDP, or the kernel refused it)" : "off");
	printf("sent          %llu bytes in %llu datagrams in %.3f s\n", (unsigned long long)d->bulk,
	       (unsigned long long)d->sent, secs);
	printf("throughput    %.1f MB/s, %.0f datagrams/s\n", (double)d->bulk / secs / 1e6,
	       (double)d->sent / secs);
	printf("answered      %llu (loss %.3f%%)\n", (unsigned long long)d->answered, loss * 100);
}
