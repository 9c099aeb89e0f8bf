/*
 * unit_conn.c - the connection layer (conn.h) on accepted connections,
 * driven in-process over real sockets with the loop run by the test:
 * sending outside on_request, half-close, closing from every kind of
 * callback, two servers on one loop, backpressure, pause/resume, timeouts
 * and the drain.  Every test is bounded by alarm() and a guard timer.
 */
#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "parley/parley.h"
#include "unit.h"
#include "unit_net.h"

/* ---- the fixture: one loop, one server on 127.0.0.1:0 ---- */

struct fx {
	struct pl_loop *loop;
	struct pl_server *srv;
	struct pl_addr addr;
	struct pl_timer guard;
	struct pl_conn *conn;          /* the last connection opened, NULL once closed */
	int opens, closes, drained, requests;
	enum pl_close_reason reason;   /* of the last close */
	int err;
	size_t unsent_at_close;
	int stop_on_close;             /* pl_loop_stop at each PL_EV_CLOSE */
	void (*open_hook)(struct pl_conn *c);
	void (*close_hook)(struct pl_conn *c);
};

static struct fx F;

static void on_event(const struct pl_server_event *ev, void *arg)
{
	(void)arg;
	switch (ev->type) {
	case PL_EV_OPEN:
		F.opens++;
		F.conn = ev->conn;
		if (F.open_hook)
			F.open_hook(ev->conn);
		break;
	case PL_EV_CLOSE:
		F.closes++;
		F.reason = ev->reason;
		F.err = ev->err;
		F.unsent_at_close = pl_conn_unsent(ev->conn);
		if (F.close_hook)
			F.close_hook(ev->conn);
		if (F.conn == ev->conn)
			F.conn = NULL;
		if (F.stop_on_close)
			pl_loop_stop(F.loop);
		break;
	case PL_EV_DRAINED:
		CHECK_EQ_INT(F.closes, F.opens); /* after the last close */
		F.drained++;
		break;
	default:
		break;
	}
}

/* Loop, server (cfg's on_event defaults to the fixture's) and listener. */
static int fx_start(struct pl_server_config *cfg)
{
	int lfd;

	memset(&F, 0, sizeof(F));
	memset(net_peers, 0, sizeof(net_peers));
	net_bound(30);
	if (!cfg->on_event)
		cfg->on_event = on_event;
	if (pl_loop_new(&F.loop) < 0)
		return -1;
	if (pl_server_new(F.loop, cfg, &F.srv) < 0)
		return -1;
	if ((lfd = net_listen(&F.addr)) < 0 || pl_server_listen_fd(F.srv, lfd) < 0)
		return -1;
	pl_timer_init(&F.guard, net_guard_fired, NULL);
	return pl_timer_start(F.loop, &F.guard, 10000);
}

static void fx_end(void)
{
	for (int i = 0; i < NET_PEERS; i++)
		if (net_peers[i])
			net_peer_end(F.loop, net_peers[i]);
	pl_server_free(F.srv);
	pl_loop_free(F.loop);
}

static int dial(void) { return net_dial(&F.addr, 0); }

/* Shrinks the server side's send buffer, so that output backs up in the
 * connection rather than in the kernel. */
static void small_sndbuf(struct pl_conn *c)
{
	int v = 4096;

	setsockopt(pl_conn_fd(c), SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

static void big_sndbuf(struct pl_conn *c)
{
	int v = 256 * 1024;

	setsockopt(pl_conn_fd(c), SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

static void echo(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)arg;
	F.requests++;
	CHECK_EQ_INT(pl_conn_send(c, msg, len), 0);
}

/* ---- sending outside on_request ---- */

static struct pl_timer later;
static char saved[64];

static void defer_request(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)arg;
	F.requests++;
	MUST(len < sizeof(saved));
	memcpy(saved, msg, len);
	saved[len] = '\0';
	later.data = c;
	CHECK_EQ_INT(pl_timer_start(F.loop, &later, 20), 0); /* answered from a timer */
}

static void answer_later(struct pl_loop *l, struct pl_timer *t)
{
	struct pl_conn *c = t->data;
	char reply[80];

	(void)l;
	MUST(F.conn == c); /* still open */
	snprintf(reply, sizeof(reply), "late:%s", saved);
	CHECK_EQ_INT(pl_conn_send(c, reply, strlen(reply)), 0);
	CHECK_EQ_INT(pl_conn_send(c, "two", 3), 0);
	CHECK_EQ_INT(pl_conn_reply(c, "three", 5), 0);
}

static void stay_open(struct pl_conn *c, void *arg) { (void)c, (void)arg; }

static void reply_then_shut(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)arg;
	F.requests++;
	CHECK_EQ_INT(pl_conn_send(c, msg, len), 0);
	CHECK_EQ_INT(pl_conn_shutdown(c), 0);
}

/* pl_conn_shutdown right after a reply, inside on_request: the reply
 * (still in the batch) leaves before the FIN, not after it. */
static void test_conn_shutdown_in_on_request_sends_reply_first(void)
{
	struct pl_server_config cfg = { .on_request = reply_then_shut, .on_eof = stay_open };
	struct net_peer p = { .want_eof = 1 };
	int fd;

	MUST(fx_start(&cfg) == 0);
	MUST((fd = dial()) >= 0);
	MUST(net_send_str(fd, "bye") == 0);
	MUST(net_peer_start(F.loop, &p, fd) == 0);
	CHECK_EQ_INT(pl_loop_run(F.loop), 0);
	CHECK_EQ_INT(F.requests, 1);
	CHECK_EQ_INT(net_peer_count(&p), 1); /* the reply, then the end */
	CHECK(net_peer_is(&p, 0, "bye"));
	fx_end();
}

static void hold_request(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)msg, (void)len, (void)arg;
	F.requests++;
	CHECK_EQ_INT(pl_conn_hold(c), 0);
	later.data = c;
	CHECK_EQ_INT(pl_timer_start(F.loop, &later, 30), 0);
}

static void answer_and_release(struct pl_loop *l, struct pl_timer *t)
{
	struct pl_conn *c = t->data;

	(void)l;
	MUST(F.conn == c); /* the peer's end did not close it: it is held */
	CHECK_EQ_INT(pl_conn_send(c, "held", 4), 0);
	pl_conn_release(c);
}

/* Without on_eof, a held connection outlives the peer's end: the answer
 * sent later still arrives, then the connection closes as eof. */
static void test_conn_hold_outlasts_peer_eof(void)
{
	struct pl_server_config cfg = { .on_request = hold_request };
	struct net_peer p = { .want_eof = 1 };
	int fd;

	MUST(fx_start(&cfg) == 0);
	pl_timer_init(&later, answer_and_release, NULL);
	MUST((fd = dial()) >= 0);
	MUST(net_send_str(fd, "q") == 0);
	MUST(shutdown(fd, SHUT_WR) == 0);
	MUST(net_peer_start(F.loop, &p, fd) == 0);
	CHECK_EQ_INT(pl_loop_run(F.loop), 0);
	CHECK_EQ_INT(net_peer_count(&p), 1);
	CHECK(net_peer_is(&p, 0, "held"));
	CHECK_EQ_INT(F.closes, 1);
	CHECK_EQ_INT(F.reason, PL_CLOSE_EOF);
	fx_end();
}

/* A reply sent from a timer, after on_request returned, reaches the peer,
 * several sends in order. */
static void test_conn_reply_from_timer(void)
{
	struct pl_server_config cfg = { .on_request = defer_request };
	struct net_peer p = { .want_msgs = 3 };
	int fd;

	MUST(fx_start(&cfg) == 0);
	pl_timer_init(&later, answer_later, NULL);
	MUST((fd = dial()) >= 0);
	MUST(net_send_str(fd, "hello") == 0);
	MUST(net_peer_start(F.loop, &p, fd) == 0);
	CHECK_EQ_INT(pl_loop_run(F.loop), 0);
	CHECK_EQ_INT(F.requests, 1);
	CHECK_EQ_INT(net_peer_count(&p), 3);
	CHECK(net_peer_is(&p, 0, "late:hello"));
	CHECK(net_peer_is(&p, 1, "two"));
	CHECK(net_peer_is(&p, 2, "three"));
	CHECK_EQ_INT(F.closes, 0);
	fx_end();
}

/* two peers: the connection each opened, told apart by port */
static struct pl_addr local_b;
static struct pl_conn *conn_a, *conn_b;

static void label_open(struct pl_conn *c)
{
	CHECK(pl_conn_data(c) == NULL); /* nothing until set */
	if (pl_addr_equal(pl_conn_peer(c), &local_b)) {
		conn_b = c;
		pl_conn_set_data(c, "B");
	} else {
		conn_a = c;
		pl_conn_set_data(c, "A");
	}
}

static void forward(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	const char *who = pl_conn_data(c);

	(void)arg;
	F.requests++;
	MUST(who && strcmp(who, "A") == 0);
	MUST(conn_b != NULL);
	CHECK(pl_conn_data(conn_b) && strcmp(pl_conn_data(conn_b), "B") == 0);
	CHECK_EQ_INT(pl_conn_send(conn_b, msg, len), 0); /* to B, from A's callback */
	CHECK_EQ_INT(pl_conn_send(c, "forwarded", 9), 0);
}

/* A's on_request sends to connection B; both messages arrive. */
static void test_conn_send_to_another_conn(void)
{
	struct pl_server_config cfg = { .on_request = forward };
	struct net_peer pa = { .want_msgs = 1 }, pb = { .want_msgs = 1 };
	int fa, fb;

	MUST(fx_start(&cfg) == 0);
	F.open_hook = label_open;
	conn_a = conn_b = NULL;
	MUST((fb = dial()) >= 0);
	MUST(pl_addr_local(fb, &local_b) == 0);
	MUST((fa = dial()) >= 0);
	MUST(net_send_str(fa, "for B") == 0);
	MUST(net_peer_start(F.loop, &pa, fa) == 0);
	MUST(net_peer_start(F.loop, &pb, fb) == 0);
	CHECK_EQ_INT(pl_loop_run(F.loop), 0);
	CHECK_EQ_INT(F.opens, 2);
	CHECK_EQ_INT(F.requests, 1);
	CHECK(net_peer_is(&pa, 0, "forwarded"));
	CHECK(net_peer_is(&pb, 0, "for B"));
	fx_end();
}

/* ---- the peer's half-close ---- */

static char order[32];
static struct pl_conn *eof_conn;

static void note_request(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)c, (void)msg, (void)len, (void)arg;
	F.requests++;
	strcat(order, "r");
}

static void eof_then_wait(struct pl_conn *c, void *arg)
{
	(void)arg;
	strcat(order, "e");
	CHECK_EQ_INT(F.requests, 1); /* every message before the end came first */
	eof_conn = c;
	later.data = c;
	CHECK_EQ_INT(pl_timer_start(F.loop, &later, 30), 0);
}

static void reply_and_shut(struct pl_loop *l, struct pl_timer *t)
{
	struct pl_conn *c = t->data;

	(void)l;
	strcat(order, "s");
	MUST(F.closes == 0 && F.conn == c); /* on_eof kept it open */
	CHECK_EQ_INT(pl_conn_send(c, "answer", 6), 0); /* written at once: nothing queued */
	CHECK_EQ_INT(F.closes, 0);
	CHECK_EQ_INT(pl_conn_shutdown(c), 0);
	/* the FIN went after it, and both directions are done: closed */
	CHECK_EQ_INT(F.closes, 1);
	CHECK_EQ_INT(pl_conn_shutdown(c), -EPIPE);
	CHECK_EQ_INT(pl_conn_send(c, "x", 1), -EPIPE);
}

/* The peer shuts down its side after its request; with on_eof the
 * connection stays open for a reply sent later, and pl_conn_shutdown
 * ends it: closed with PL_CLOSE_EOF once the reply is out. */
static void test_conn_reply_after_peer_half_close(void)
{
	struct pl_server_config cfg = { .on_request = note_request, .on_eof = eof_then_wait };
	char buf[64];
	int fd;

	MUST(fx_start(&cfg) == 0);
	F.stop_on_close = 1;
	order[0] = '\0';
	pl_timer_init(&later, reply_and_shut, NULL);
	MUST((fd = dial()) >= 0);
	MUST(net_send_str(fd, "question") == 0);
	MUST(shutdown(fd, SHUT_WR) == 0);
	CHECK_EQ_INT(pl_loop_run(F.loop), 0);
	CHECK_STR(order, "res");
	CHECK_EQ_INT(F.closes, 1);
	CHECK_EQ_INT(F.reason, PL_CLOSE_EOF);
	CHECK_EQ_INT(F.unsent_at_close, 0);
	CHECK_EQ_INT(net_recv(fd, buf, sizeof(buf), 2000), 6);
	CHECK_STR(buf, "answer");
	CHECK_EQ_INT(net_recv(fd, buf, sizeof(buf), 2000), -2); /* then the FIN */
	close(fd);
	fx_end();
}

#define BIG (1u << 20) /* far more than the 4 KiB socket buffers take */
static uint8_t *big;

static struct pl_timer *after_big; /* started at the big reply, if set */

static void big_reply(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)msg, (void)len, (void)arg;
	F.requests++;
	if (after_big)
		CHECK_EQ_INT(pl_timer_start(F.loop, after_big, 50), 0);
	CHECK_EQ_INT(pl_conn_send(c, big, BIG), 0);
}

static uint8_t *make_big(void)
{
	uint8_t *b = malloc(BIG);

	for (size_t i = 0; b && i < BIG; i++)
		b[i] = (uint8_t)(i * 7);
	return b;
}

/* Without on_eof, a half-closed peer still gets all of its reply (1 MiB,
 * far more than one write) before the connection closes with EOF. */
static void test_conn_half_close_without_on_eof_sends_first(void)
{
	struct pl_server_config cfg = { .on_request = big_reply };
	struct net_peer p = { .want_eof = 1 };
	const uint8_t *m = NULL;
	int fd;

	MUST((big = make_big()) != NULL); /* before the loop's clock starts */
	MUST(fx_start(&cfg) == 0);
	F.open_hook = small_sndbuf;
	MUST((fd = dial()) >= 0);
	MUST(net_send_str(fd, "all of it") == 0);
	MUST(shutdown(fd, SHUT_WR) == 0);
	MUST(net_peer_start(F.loop, &p, fd) == 0);
	CHECK_EQ_INT(pl_loop_run(F.loop), 0);
	CHECK_EQ_INT(F.closes, 1);
	CHECK_EQ_INT(F.reason, PL_CLOSE_EOF);
	CHECK_EQ_INT(F.unsent_at_close, 0);
	CHECK_EQ_INT(p.err, 0);
	CHECK_EQ_INT(p.len, 4 + BIG);
	CHECK_EQ_INT(net_peer_msg(&p, 0, &m), BIG);
	CHECK(m && p.len == 4 + BIG && memcmp(m, big, BIG) == 0);
	fx_end();
	free(big);
}

/* ---- pl_conn_close from every kind of callback ---- */

/* After pl_conn_close, c stays valid memory until the iteration ends:
 * every call on it is harmless. */
static void after_close(struct pl_conn *c)
{
	pl_conn_close(c); /* a second close */
	CHECK_EQ_INT(pl_conn_send(c, "late", 4), -EPIPE);
	CHECK_EQ_INT(pl_conn_shutdown(c), -EPIPE);
	pl_conn_pause(c);
	pl_conn_resume(c);
	pl_conn_set_data(c, "x");
	CHECK(pl_conn_data(c) != NULL);
	(void)pl_conn_unsent(c); /* what was dropped: callable, whatever it says */
}

static void close_in_request(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)msg, (void)len, (void)arg;
	F.requests++;
	CHECK_EQ_INT(pl_conn_send(c, "dropped", 7), 0);
	pl_conn_close(c);
	after_close(c);
}

/* Runs the loop until the close, then checks it was the application's and
 * the peer saw the end without a byte (a reset counts: unread bytes may
 * remain at the server's end). */
static void expect_app_close(int fd)
{
	char buf[16];
	long r;

	CHECK_EQ_INT(pl_loop_run(F.loop), 0);
	CHECK_EQ_INT(F.closes, 1);
	CHECK_EQ_INT(F.reason, PL_CLOSE_APP);
	CHECK_EQ_INT(pl_server_stats(F.srv)->closed[PL_CLOSE_APP], 1);
	r = net_recv(fd, buf, sizeof(buf), 2000);
	CHECK(r == -2 || r == -1); /* EOF, or ECONNRESET */
	close(fd);
}

static void test_conn_close_in_on_request(void)
{
	struct pl_server_config cfg = { .on_request = close_in_request };
	int fd;

	MUST(fx_start(&cfg) == 0);
	F.stop_on_close = 1;
	MUST((fd = dial()) >= 0);
	/* two requests in one write: the second is never handed out */
	MUST(net_send_str(fd, "one") == 0 && net_send_str(fd, "two") == 0);
	expect_app_close(fd);
	CHECK_EQ_INT(F.requests, 1);
	fx_end();
}

static void close_in_eof(struct pl_conn *c, void *arg)
{
	(void)arg;
	strcat(order, "e");
	pl_conn_close(c);
	after_close(c);
}

static void test_conn_close_in_on_eof(void)
{
	struct pl_server_config cfg = { .on_request = echo, .on_eof = close_in_eof };
	char buf[16];
	int fd;

	MUST(fx_start(&cfg) == 0);
	F.stop_on_close = 1;
	order[0] = '\0';
	MUST((fd = dial()) >= 0);
	MUST(net_send_str(fd, "ping") == 0);
	MUST(shutdown(fd, SHUT_WR) == 0);
	CHECK_EQ_INT(pl_loop_run(F.loop), 0);
	CHECK_STR(order, "e");
	CHECK_EQ_INT(F.closes, 1);
	CHECK_EQ_INT(F.reason, PL_CLOSE_APP);
	/* the echo left before the end was seen */
	CHECK_EQ_INT(net_recv(fd, buf, sizeof(buf), 2000), 4);
	CHECK_EQ_INT(net_recv(fd, buf, sizeof(buf), 2000), -2);
	close(fd);
	fx_end();
}

/* backpressure: replies of REPLY bytes to NREQ requests, OUT_CAP */
#define OUT_CAP (64u * 1024)
#define REPLY (16u * 1024)
#define NREQ 64

static uint8_t reply_buf[REPLY];
static size_t max_unsent;
static int drains, requests_at_stall;
static struct net_peer bp_peer;
static int bp_fd;

static void reply_16k(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)msg, (void)len, (void)arg;
	/* messages are handed out only while unsent output is under the cap */
	CHECK(pl_conn_unsent(c) <= OUT_CAP);
	if (F.requests++ == 0) /* timed from here: setup may be slow (valgrind) */
		CHECK_EQ_INT(pl_timer_start(F.loop, &later, 100), 0);
	CHECK_EQ_INT(pl_conn_send(c, reply_buf, REPLY), 0);
	if (pl_conn_unsent(c) > max_unsent)
		max_unsent = pl_conn_unsent(c);
}

/* The peer has not read for a while: the server must have stopped. */
static void start_reading(struct pl_loop *l, struct pl_timer *t)
{
	(void)t;
	MUST(F.conn != NULL);
	requests_at_stall = F.requests;
	CHECK(F.requests < NREQ);
	CHECK(pl_conn_unsent(F.conn) > OUT_CAP);
	CHECK_EQ_INT(drains, 0);
	MUST(net_peer_start(l, &bp_peer, bp_fd) == 0);
}

/* A peer that sends NREQ requests and reads nothing until start_reading. */
static int backpressure_setup(struct pl_server_config *cfg)
{
	struct net_peer p0 = { 0 };

	cfg->out_cap = OUT_CAP;
	if (fx_start(cfg) != 0)
		return -1;
	F.open_hook = small_sndbuf;
	max_unsent = 0;
	drains = 0;
	bp_peer = p0;
	pl_timer_init(&later, start_reading, NULL);
	if ((bp_fd = net_dial(&F.addr, 4096)) < 0)
		return -1;
	for (int i = 0; i < NREQ; i++)
		if (net_send_str(bp_fd, "q") != 0)
			return -1;
	return 0;
}

static void close_in_drain(struct pl_conn *c, void *arg)
{
	(void)arg;
	drains++;
	CHECK(pl_conn_unsent(c) <= OUT_CAP / 2);
	pl_conn_close(c);
	after_close(c);
}

static void test_conn_close_in_on_drain(void)
{
	struct pl_server_config cfg = { .on_request = reply_16k, .on_drain = close_in_drain };

	MUST(backpressure_setup(&cfg) == 0);
	F.stop_on_close = 1;
	CHECK_EQ_INT(pl_loop_run(F.loop), 0);
	CHECK_EQ_INT(drains, 1);
	CHECK_EQ_INT(F.closes, 1);
	CHECK_EQ_INT(F.reason, PL_CLOSE_APP);
	CHECK(requests_at_stall > 0 && requests_at_stall < NREQ);
	fx_end();
}

static void close_again(struct pl_conn *c)
{
	pl_conn_close(c); /* already closing: harmless, no second event */
	pl_conn_close(c);
	CHECK_EQ_INT(pl_conn_send(c, "x", 1), -EPIPE);
}

/* pl_conn_close from the close event itself (closing for another reason). */
static void test_conn_close_in_close_event(void)
{
	struct pl_server_config cfg = { .on_request = echo };
	int fd;

	MUST(fx_start(&cfg) == 0);
	F.stop_on_close = 1;
	F.close_hook = close_again;
	MUST((fd = dial()) >= 0);
	close(fd); /* the peer leaves: EOF */
	CHECK_EQ_INT(pl_loop_run(F.loop), 0);
	CHECK_EQ_INT(F.closes, 1);
	CHECK_EQ_INT(F.reason, PL_CLOSE_EOF);
	CHECK_EQ_INT(pl_server_stats(F.srv)->closed[PL_CLOSE_EOF], 1);
	CHECK_EQ_INT(pl_server_stats(F.srv)->closed[PL_CLOSE_APP], 0);
	CHECK_EQ_INT(pl_server_stats(F.srv)->open, 0);
	fx_end();
}

static void close_at_open(struct pl_conn *c)
{
	pl_conn_close(c);
	after_close(c);
}

static void test_conn_close_in_open_event(void)
{
	struct pl_server_config cfg = { .on_request = echo };
	int fd;

	MUST(fx_start(&cfg) == 0);
	F.stop_on_close = 1;
	F.open_hook = close_at_open;
	MUST((fd = dial()) >= 0);
	expect_app_close(fd);
	CHECK_EQ_INT(F.requests, 0);
	fx_end();
}

static void close_from_timer(struct pl_loop *l, struct pl_timer *t)
{
	struct pl_conn *c = t->data;

	(void)l;
	MUST(F.conn == c);
	pl_conn_close(c);
	after_close(c);
}

static void hold_and_close_later(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)msg, (void)len, (void)arg;
	F.requests++;
	CHECK_EQ_INT(pl_conn_send(c, "pending", 7), 0);
	later.data = c;
	CHECK_EQ_INT(pl_timer_start(F.loop, &later, 10), 0);
}

static void test_conn_close_in_timer(void)
{
	struct pl_server_config cfg = { .on_request = hold_and_close_later };
	char buf[16];
	int fd;

	MUST(fx_start(&cfg) == 0);
	F.stop_on_close = 1;
	pl_timer_init(&later, close_from_timer, NULL);
	MUST((fd = dial()) >= 0);
	MUST(net_send_str(fd, "one") == 0);
	CHECK_EQ_INT(pl_loop_run(F.loop), 0);
	CHECK_EQ_INT(F.closes, 1);
	CHECK_EQ_INT(F.reason, PL_CLOSE_APP);
	CHECK_EQ_INT(net_recv(fd, buf, sizeof(buf), 2000), 7); /* sent before the close */
	CHECK_EQ_INT(net_recv(fd, buf, sizeof(buf), 2000), -2);
	close(fd);
	fx_end();
}

/* a pipe on the loop whose callback closes the server's connection */
static int pipe_fds[2], peer_fd;
static struct pl_io pipe_io;

static void on_pipe(struct pl_loop *l, struct pl_io *io, unsigned events)
{
	struct pl_conn *c = F.conn;
	char b;

	(void)events;
	CHECK_EQ_INT(read(io->fd, &b, 1), 1);
	pl_io_stop(l, io);
	MUST(c != NULL);
	pl_conn_close(c);
	after_close(c);
}

/* At the open, the pipe becomes readable and then the connection: both are
 * in the next batch, the pipe first, so the connection's event comes after
 * its close in the same iteration (the loop frees it only afterwards). */
static void ready_both(struct pl_conn *c)
{
	(void)c;
	CHECK_EQ_INT(write(pipe_fds[1], "x", 1), 1);
	CHECK_EQ_INT(net_send_str(peer_fd, "after the pipe"), 0);
}

static void test_conn_close_in_io_callback(void)
{
	struct pl_server_config cfg = { .on_request = echo };

	MUST(fx_start(&cfg) == 0);
	MUST(pipe(pipe_fds) == 0);
	pl_io_init(&pipe_io, pipe_fds[0], on_pipe, NULL);
	MUST(pl_io_start(F.loop, &pipe_io, PL_READ) == 0);
	F.stop_on_close = 1;
	F.open_hook = ready_both;
	MUST((peer_fd = dial()) >= 0);
	expect_app_close(peer_fd);
	CHECK(F.requests <= 1);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	fx_end();
}

static void close_on_signal(struct pl_loop *l, int signo, void *arg)
{
	struct pl_conn *c = F.conn;

	(void)l, (void)arg;
	CHECK_EQ_INT(signo, SIGUSR1);
	MUST(c != NULL);
	pl_conn_close(c);
	after_close(c);
}

static void raise_usr1(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)c, (void)msg, (void)len, (void)arg;
	F.requests++;
	kill(getpid(), SIGUSR1); /* blocked: the loop delivers it */
}

static void test_conn_close_in_signal_callback(void)
{
	struct pl_server_config cfg = { .on_request = raise_usr1 };
	int fd;

	MUST(fx_start(&cfg) == 0);
	MUST(pl_loop_signal(F.loop, SIGUSR1, close_on_signal, NULL) == 0);
	F.stop_on_close = 1;
	MUST((fd = dial()) >= 0);
	MUST(net_send_str(fd, "signal me") == 0);
	expect_app_close(fd);
	CHECK_EQ_INT(F.requests, 1);
	fx_end();
}

/* ---- two servers and a user post hook on one loop ---- */

struct tagged {
	const char *tag;
	int closes;
	enum pl_close_reason reason;
};

static void tag_echo(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	const struct tagged *t = arg;
	char reply[64];

	MUST(len < 32);
	snprintf(reply, sizeof(reply), "%s:%.*s", t->tag, (int)len, (const char *)msg);
	CHECK_EQ_INT(pl_conn_send(c, reply, strlen(reply)), 0);
}

static void tag_event(const struct pl_server_event *ev, void *arg)
{
	struct tagged *t = arg;

	if (ev->type == PL_EV_CLOSE) {
		t->closes++;
		t->reason = ev->reason;
	}
}

static int hooks, ticks, phase;
static struct pl_server *s1, *s2;
static struct net_peer p1, p2;

static void count_hook(struct pl_loop *l, void *arg)
{
	(void)l;
	CHECK(arg == &hooks);
	hooks++;
}

/* Runs once per iteration (restarted for "now": the next one). */
static void tick(struct pl_loop *l, struct pl_timer *t)
{
	CHECK_EQ_INT(hooks, ticks); /* the hook ran after every iteration before */
	ticks++;
	if (phase == 0 && net_peer_count(&p1) == 1 && net_peer_count(&p2) == 1) {
		CHECK(net_peer_is(&p1, 0, "1:a"));
		CHECK(net_peer_is(&p2, 0, "2:b"));
		pl_server_free(s1); /* inside the loop, beside the other server */
		s1 = NULL;
		CHECK_EQ_INT(net_send_str(p2.io.fd, "c"), 0);
		phase = 1;
	} else if (phase == 1 && p1.eof && net_peer_count(&p2) == 2) {
		CHECK(net_peer_is(&p2, 1, "2:c"));
		phase = 2;
		pl_loop_stop(l);
		return;
	}
	pl_timer_start(l, t, 0);
}

static void test_conn_two_servers_and_a_post_hook(void)
{
	struct tagged t1 = { "1", 0, 0 }, t2 = { "2", 0, 0 };
	struct pl_server_config c1 = { .on_request = tag_echo, .on_event = tag_event, .arg = &t1 };
	struct pl_server_config c2 = { .on_request = tag_echo, .on_event = tag_event, .arg = &t2 };
	struct pl_addr a1, a2;
	struct pl_timer tk;
	int l2, f1, f2;

	MUST(fx_start(&c1) == 0); /* F.srv is s1; fx_end must not free it again */
	s1 = F.srv;
	F.srv = NULL;
	a1 = F.addr;
	MUST(pl_server_new(F.loop, &c2, &s2) == 0);
	MUST((l2 = net_listen(&a2)) >= 0 && pl_server_listen_fd(s2, l2) == 0);
	MUST(pl_loop_add_post(F.loop, count_hook, &hooks) == 0);
	hooks = ticks = phase = 0;
	memset(&p1, 0, sizeof(p1));
	memset(&p2, 0, sizeof(p2));
	pl_timer_init(&tk, tick, NULL);
	MUST(pl_timer_start(F.loop, &tk, 0) == 0);
	MUST((f1 = net_dial(&a1, 0)) >= 0 && (f2 = net_dial(&a2, 0)) >= 0);
	MUST(net_send_str(f1, "a") == 0 && net_send_str(f2, "b") == 0);
	MUST(net_peer_start(F.loop, &p1, f1) == 0 && net_peer_start(F.loop, &p2, f2) == 0);
	CHECK_EQ_INT(pl_loop_run(F.loop), 0);
	CHECK_EQ_INT(phase, 2);
	CHECK(ticks > 2);
	CHECK_EQ_INT(hooks, ticks); /* the last iteration's hook ran too */
	CHECK_EQ_INT(t1.closes, 1);
	CHECK_EQ_INT(t1.reason, PL_CLOSE_SHUTDOWN);
	CHECK_EQ_INT(t2.closes, 0);
	CHECK_EQ_INT(pl_server_stats(s2)->requests, 2);
	/* the freed server's listener is gone; the other still accepts */
	CHECK_EQ_INT(net_dial(&a1, 0), -1);
	int f3 = net_dial(&a2, 0);
	CHECK(f3 >= 0);
	if (f3 >= 0)
		close(f3);
	pl_server_free(s1); /* NULL: nothing */
	pl_server_free(s2);
	fx_end();
}

/* ---- backpressure and pause/resume ---- */

static void note_drain(struct pl_conn *c, void *arg)
{
	(void)arg;
	drains++;
	CHECK(max_unsent > OUT_CAP); /* only after passing the cap */
	CHECK(pl_conn_unsent(c) <= OUT_CAP / 2);
}

/* A peer that does not read: the connection stops handing out requests
 * once unsent output passes out_cap; once the peer reads, requests resume
 * as soon as the output is under out_cap again (docs/DESIGN.md), and
 * on_drain comes when it is down to half of out_cap; every reply arrives. */
static void test_conn_backpressure_stops_and_drains(void)
{
	struct pl_server_config cfg = { .on_request = reply_16k, .on_drain = note_drain };

	MUST(backpressure_setup(&cfg) == 0);
	bp_peer.want_msgs = NREQ;
	CHECK_EQ_INT(pl_loop_run(F.loop), 0);
	CHECK_EQ_INT(F.requests, NREQ);
	CHECK(requests_at_stall > 0 && requests_at_stall < NREQ);
	CHECK(drains >= 1);
	CHECK(max_unsent > OUT_CAP);
	CHECK_EQ_INT(net_peer_count(&bp_peer), NREQ);
	CHECK_EQ_INT(bp_peer.len, NREQ * (4 + REPLY));
	CHECK_EQ_INT(F.closes, 0);
	fx_end();
}

static int pr_fd;

static void pause_after_first(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)arg;
	F.requests++;
	CHECK_EQ_INT(pl_conn_send(c, msg, len), 0);
	if (F.requests == 1) {
		pl_conn_pause(c);
		pl_conn_pause(c); /* twice: the same */
		CHECK_EQ_INT(pl_timer_start(F.loop, &later, 50), 0); /* the steps start */
	}
}

static void pr_step(struct pl_loop *l, struct pl_timer *t)
{
	MUST(F.conn != NULL);
	switch (phase++) {
	case 0: /* paused in on_request with 4 more buffered */
		CHECK_EQ_INT(F.requests, 1);
		CHECK_EQ_INT(net_send_str(pr_fd, "6"), 0); /* arrives while paused */
		CHECK_EQ_INT(net_send_str(pr_fd, "7"), 0);
		break;
	case 1:
		CHECK_EQ_INT(F.requests, 1);
		pl_conn_resume(F.conn);
		CHECK_EQ_INT(F.requests, 1); /* handed out from the loop, not here */
		pl_conn_resume(F.conn);
		break;
	case 2:
		CHECK_EQ_INT(F.requests, 7);
		pl_conn_pause(F.conn); /* from outside any of its callbacks */
		CHECK_EQ_INT(net_send_str(pr_fd, "8"), 0);
		break;
	case 3:
		CHECK_EQ_INT(F.requests, 7);
		pl_conn_resume(F.conn);
		break;
	default:
		CHECK_EQ_INT(F.requests, 8);
		pl_loop_stop(l);
		return;
	}
	pl_timer_start(l, t, 50);
}

static void test_conn_pause_resume(void)
{
	struct pl_server_config cfg = { .on_request = pause_after_first };
	struct net_peer p = { 0 };

	MUST(fx_start(&cfg) == 0);
	phase = 0;
	pl_timer_init(&later, pr_step, NULL);
	MUST((pr_fd = dial()) >= 0);
	for (int i = 1; i <= 5; i++) {
		char m[2] = { (char)('0' + i), 0 };
		MUST(net_send_str(pr_fd, m) == 0); /* one write's worth, buffered together */
	}
	MUST(net_peer_start(F.loop, &p, pr_fd) == 0);
	CHECK_EQ_INT(pl_loop_run(F.loop), 0);
	CHECK_EQ_INT(phase, 5);
	CHECK_EQ_INT(F.requests, 8);
	CHECK_EQ_INT(net_peer_count(&p), 8);
	for (int i = 0; i < 8; i++) {
		char m[2] = { (char)('1' + i), 0 };
		CHECK(net_peer_is(&p, (size_t)i, m)); /* in order */
	}
	fx_end();
}

/* ---- timeouts ---- */

static void test_conn_idle_timeout(void)
{
	struct pl_server_config cfg = { .on_request = echo, .idle_timeout_ms = 60 };
	char buf[16];
	int fd;

	MUST(fx_start(&cfg) == 0);
	F.stop_on_close = 1;
	MUST((fd = dial()) >= 0);
	MUST(net_send_str(fd, "once") == 0); /* activity, then nothing */
	CHECK_EQ_INT(pl_loop_run(F.loop), 0);
	CHECK_EQ_INT(F.requests, 1);
	CHECK_EQ_INT(F.reason, PL_CLOSE_IDLE);
	CHECK_EQ_INT(F.err, -ETIMEDOUT);
	CHECK_EQ_INT(net_recv(fd, buf, sizeof(buf), 2000), 4);
	CHECK_EQ_INT(net_recv(fd, buf, sizeof(buf), 2000), -2);
	close(fd);
	fx_end();
}

static void test_conn_send_timeout(void)
{
	struct pl_server_config cfg = { .on_request = big_reply, .send_timeout_ms = 80 };
	int fd;

	MUST((big = make_big()) != NULL); /* before the loop's clock starts */
	MUST(fx_start(&cfg) == 0);
	F.stop_on_close = 1;
	F.open_hook = small_sndbuf;
	MUST((fd = net_dial(&F.addr, 4096)) >= 0);
	MUST(net_send_str(fd, "and never read") == 0);
	CHECK_EQ_INT(pl_loop_run(F.loop), 0);
	CHECK_EQ_INT(F.closes, 1);
	CHECK_EQ_INT(F.reason, PL_CLOSE_STALLED);
	CHECK_EQ_INT(F.err, -ETIMEDOUT);
	CHECK(F.unsent_at_close > 0);
	close(fd);
	fx_end();
	free(big);
}

static void test_conn_request_timeout(void)
{
	struct pl_server_config cfg = { .on_request = echo, .request_timeout_ms = 50 };
	int fd;

	MUST(fx_start(&cfg) == 0);
	F.stop_on_close = 1;
	MUST((fd = dial()) >= 0);
	MUST(pl_fd_write_full(fd, "\5\0\0\0ab", 6, 1000) == 6); /* 3 bytes short */
	CHECK_EQ_INT(pl_loop_run(F.loop), 0);
	CHECK_EQ_INT(F.reason, PL_CLOSE_SLOW);
	CHECK_EQ_INT(F.requests, 0);
	close(fd);
	fx_end();
}

/* ---- the drain ---- */

static struct net_peer dr_peer;
static int dr_fd, dr_idle_fd;

static void drain_step(struct pl_loop *l, struct pl_timer *t)
{
	switch (phase++) {
	case 0:
		MUST(F.conn != NULL && F.opens == 2);
		CHECK(pl_conn_unsent(F.conn) > 0);
		pl_server_shutdown(F.srv);
		CHECK_EQ_INT(F.closes, 1); /* the idle one at once */
		CHECK_EQ_INT(F.reason, PL_CLOSE_SHUTDOWN);
		CHECK_EQ_INT(F.drained, 0);
		pl_timer_start(l, t, 50);
		break;
	case 1:
		CHECK_EQ_INT(F.closes, 1); /* the busy one waits for its output */
		CHECK_EQ_INT(F.drained, 0);
		CHECK_EQ_INT(net_peer_start(l, &dr_peer, dr_fd), 0);
		MUST(F.conn != NULL);
		big_sndbuf(F.conn); /* the rest goes faster (valgrind) */
		break;
	}
}

/* pl_server_shutdown with output pending: an idle connection closes at
 * once, the busy one only after its output is written (PL_CLOSE_SHUTDOWN),
 * then PL_EV_DRAINED comes and the loop stops by itself. */
static void test_conn_drain_waits_for_output(void)
{
	struct pl_server_config cfg = { .on_request = big_reply };
	struct pl_timer step;
	size_t total;

	MUST((big = make_big()) != NULL); /* before the loop's clock starts */
	MUST(fx_start(&cfg) == 0);
	F.open_hook = small_sndbuf;
	phase = 0;
	memset(&dr_peer, 0, sizeof(dr_peer));
	MUST((dr_idle_fd = dial()) >= 0);
	MUST((dr_fd = net_dial(&F.addr, 4096)) >= 0);
	MUST(net_send_str(dr_fd, "everything") == 0);
	pl_timer_init(&step, drain_step, NULL);
	after_big = &step; /* timed from the request: setup may be slow (valgrind) */
	CHECK_EQ_INT(pl_loop_run(F.loop), 0); /* stopped by the drain */
	after_big = NULL;
	CHECK_EQ_INT(phase, 2);
	CHECK_EQ_INT(F.drained, 1);
	CHECK_EQ_INT(F.closes, 2);
	CHECK_EQ_INT(F.reason, PL_CLOSE_SHUTDOWN);
	CHECK_EQ_INT(F.unsent_at_close, 0);
	CHECK_EQ_INT(pl_server_stats(F.srv)->closed[PL_CLOSE_SHUTDOWN], 2);
	/* the rest is in the kernel's buffers: read it to the end */
	total = dr_peer.len;
	for (;;) {
		char buf[65536];
		ssize_t n = read(dr_fd, buf, sizeof(buf));
		if (n <= 0) {
			CHECK_EQ_INT(n, 0);
			break;
		}
		total += (size_t)n;
	}
	CHECK_EQ_INT(total, 4 + BIG);
	close(dr_idle_fd);
	fx_end();
	free(big);
}

static void free_server_when_drained(const struct pl_server_event *ev, void *arg)
{
	on_event(ev, arg);
	if (ev->type == PL_EV_DRAINED) {
		pl_server_free(F.srv); /* what a program does next */
		F.srv = NULL;
	}
}

static void shutdown_now(struct pl_loop *l, struct pl_timer *t)
{
	(void)l, (void)t;
	pl_server_shutdown(F.srv);
}

/* A drain that closes its last (quiet) connection itself: PL_EV_DRAINED
 * once, and its handler may free the server (ASan: nothing touches it
 * afterwards). */
static void test_conn_drain_quiet_drained_once(void)
{
	struct pl_server_config cfg = { .on_request = echo, .on_event = free_server_when_drained };
	struct pl_timer t;
	int fd;

	MUST(fx_start(&cfg) == 0);
	MUST((fd = dial()) >= 0);
	pl_timer_init(&t, shutdown_now, NULL);
	MUST(pl_timer_start(F.loop, &t, 20) == 0);
	CHECK_EQ_INT(pl_loop_run(F.loop), 0); /* stopped by the drain */
	CHECK_EQ_INT(F.opens, 1);
	CHECK_EQ_INT(F.closes, 1);
	CHECK_EQ_INT(F.reason, PL_CLOSE_SHUTDOWN);
	CHECK_EQ_INT(F.drained, 1);
	CHECK(F.srv == NULL);
	close(fd);
	fx_end();
}

/* The drain timeout closes a connection that cannot finish; PL_EV_DRAINED
 * once, freed from its handler. */
static void test_conn_drain_timeout_frees_in_drained(void)
{
	struct pl_server_config cfg = { .on_request = big_reply, .on_event = free_server_when_drained,
					.drain_timeout_ms = 60 };
	struct pl_timer t;
	int fd;

	MUST((big = make_big()) != NULL); /* before the loop's clock starts */
	MUST(fx_start(&cfg) == 0);
	F.open_hook = small_sndbuf;
	MUST((fd = net_dial(&F.addr, 4096)) >= 0);
	MUST(net_send_str(fd, "and never read") == 0);
	pl_timer_init(&t, shutdown_now, NULL);
	after_big = &t; /* shut down once the output is waiting */
	CHECK_EQ_INT(pl_loop_run(F.loop), 0);
	after_big = NULL;
	CHECK_EQ_INT(F.requests, 1);
	CHECK_EQ_INT(F.closes, 1);
	CHECK_EQ_INT(F.reason, PL_CLOSE_SHUTDOWN);
	CHECK(F.unsent_at_close > 0); /* cut short by the timeout */
	CHECK_EQ_INT(F.drained, 1);
	CHECK(F.srv == NULL);
	close(fd);
	fx_end();
	free(big);
}

static const struct unit_test tests[] = {
	T(test_conn_hold_outlasts_peer_eof),
	T(test_conn_shutdown_in_on_request_sends_reply_first),
	T(test_conn_reply_from_timer),
	T(test_conn_send_to_another_conn),
	T(test_conn_reply_after_peer_half_close),
	T(test_conn_half_close_without_on_eof_sends_first),
	T(test_conn_close_in_on_request),
	T(test_conn_close_in_on_eof),
	T(test_conn_close_in_on_drain),
	T(test_conn_close_in_close_event),
	T(test_conn_close_in_open_event),
	T(test_conn_close_in_timer),
	T(test_conn_close_in_io_callback),
	T(test_conn_close_in_signal_callback),
	T(test_conn_two_servers_and_a_post_hook),
	T(test_conn_backpressure_stops_and_drains),
	T(test_conn_pause_resume),
	T(test_conn_idle_timeout),
	T(test_conn_send_timeout),
	T(test_conn_request_timeout),
	T(test_conn_drain_waits_for_output),
	T(test_conn_drain_quiet_drained_once),
	T(test_conn_drain_timeout_frees_in_drained),
};
UNIT_MAIN(tests)
