/*
 * unit_client.c - outbound connections (client.h) and the transport seam
 * (transport.h), driven in-process over real sockets with the loop run by
 * the test: connect, refusal, timeout, the Happy Eyeballs race,
 * cancelling, freeing a client with work in flight, a test transport on
 * both ends, and the peer address of outbound TCP and Unix connections.
 * Every test is bounded by alarm() and a guard timer.
 */
#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parley/parley.h"
#include "unit.h"
#include "unit_net.h"

/* ---- the fixture: a loop, a client, maybe an echo server ---- */

struct cx {
	struct pl_loop *loop;
	struct pl_client *cl;
	struct pl_server *srv;
	struct pl_addr srv_addr;
	struct pl_timer guard;
	int cbs;                       /* connect callbacks */
	struct pl_conn *conn;          /* the last connected, NULL once closed */
	int err;
	size_t n, winner;
	int result[4];
	int closes;
	enum pl_close_reason reason;
	int close_err;
	int requests;
	char last[64];
	int srv_opens, srv_closes, srv_requests;
	int stop_on_connect, stop_on_request, stop_on_close, stop_on_srv_closes;
	void (*connect_hook)(struct pl_conn *c);
	void (*request_hook)(struct pl_conn *c);
	void (*close_hook)(struct pl_conn *c);
	void (*srv_open_hook)(struct pl_conn *c);
};

static struct cx C;

static void on_connect(struct pl_conn *c, const struct pl_connect_report *r, void *arg)
{
	CHECK(arg == &C);
	C.cbs++;
	C.conn = c;
	C.err = r->err;
	C.n = r->n;
	C.winner = r->winner;
	CHECK((c != NULL) == (r->winner < r->n));
	for (size_t i = 0; i < r->n && i < 4; i++)
		C.result[i] = r->attempts[i].result;
	if (c && C.connect_hook)
		C.connect_hook(c);
	if (C.stop_on_connect)
		pl_loop_stop(C.loop);
}

static void on_request(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	CHECK(arg == &C);
	C.requests++;
	if (len < sizeof(C.last)) {
		memcpy(C.last, msg, len);
		C.last[len] = '\0';
	}
	if (C.request_hook)
		C.request_hook(c);
	if (C.stop_on_request)
		pl_loop_stop(C.loop);
}

static void on_close(struct pl_conn *c, enum pl_close_reason why, int err, void *arg)
{
	CHECK(arg == &C);
	C.closes++;
	C.reason = why;
	C.close_err = err;
	if (C.conn == c)
		C.conn = NULL;
	if (C.close_hook)
		C.close_hook(c);
	if (C.stop_on_close)
		pl_loop_stop(C.loop);
}

static void srv_echo(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)arg;
	C.srv_requests++;
	CHECK_EQ_INT(pl_conn_send(c, msg, len), 0);
}

static void srv_event(const struct pl_server_event *ev, void *arg)
{
	(void)arg;
	if (ev->type == PL_EV_OPEN) {
		C.srv_opens++;
		if (C.srv_open_hook)
			C.srv_open_hook(ev->conn);
	} else if (ev->type == PL_EV_CLOSE) {
		if (++C.srv_closes == C.stop_on_srv_closes)
			pl_loop_stop(C.loop);
	}
}

/* Loop, client and guard; with_server: an echo server on 127.0.0.1:0. */
static int cx_start(int with_server)
{
	struct pl_conn_config cfg = { .on_request = on_request, .on_close = on_close, .arg = &C };
	struct pl_server_config scfg = { .on_request = srv_echo, .on_event = srv_event };
	int lfd;

	memset(&C, 0, sizeof(C));
	memset(net_peers, 0, sizeof(net_peers));
	net_bound(30);
	if (pl_loop_new(&C.loop) < 0 || pl_client_new(C.loop, &cfg, &C.cl) < 0)
		return -1;
	pl_timer_init(&C.guard, net_guard_fired, NULL);
	if (pl_timer_start(C.loop, &C.guard, 10000) < 0)
		return -1;
	if (!with_server)
		return 0;
	if (pl_server_new(C.loop, &scfg, &C.srv) < 0)
		return -1;
	if ((lfd = net_listen(&C.srv_addr)) < 0 || pl_server_listen_fd(C.srv, lfd) < 0)
		return -1;
	return 0;
}

static void cx_end(void)
{
	pl_client_free(C.cl);
	pl_server_free(C.srv);
	pl_loop_free(C.loop);
}

static void stop_loop(struct pl_loop *l, struct pl_timer *t)
{
	(void)t;
	pl_loop_stop(l);
}

static const struct pl_connect_opts quick = { .timeout_ms = 2000, .stagger_ms = 50 };

/* ---- connecting ---- */

static void greet(struct pl_conn *c)
{
	CHECK(pl_conn_data(c) == NULL);
	pl_conn_set_data(c, &C);
	CHECK(pl_conn_data(c) == &C);
	CHECK(pl_conn_loop(c) == C.loop);
	CHECK(pl_conn_fd(c) >= 0);
	CHECK_EQ_INT(pl_client_open(C.cl), 1);
	/* the peer of an outbound TCP connection is the address connected to */
	CHECK(pl_addr_equal(pl_conn_peer(c), &C.srv_addr));
	CHECK_EQ_INT(pl_conn_send(c, "ping", 4), 0);
}

static void close_twice(struct pl_conn *c)
{
	pl_conn_close(c); /* from on_close: already closing, harmless */
	CHECK_EQ_INT(pl_conn_send(c, "x", 1), -EPIPE);
}

static void test_client_connect_success(void)
{
	struct pl_conn *c;

	MUST(cx_start(1) == 0);
	C.connect_hook = greet;
	C.close_hook = close_twice;
	C.stop_on_request = 1;
	MUST(pl_client_connect(C.cl, &C.srv_addr, 1, &quick, on_connect, &C, NULL) == 0);
	CHECK_EQ_INT(C.cbs, 0); /* never from inside the call */
	CHECK_EQ_INT(pl_loop_run(C.loop), 0);
	CHECK_EQ_INT(C.cbs, 1);
	CHECK_EQ_INT(C.err, 0);
	CHECK_EQ_INT(C.n, 1);
	CHECK_EQ_INT(C.winner, 0);
	CHECK_EQ_INT(C.result[0], 0);
	CHECK_EQ_INT(C.requests, 1);
	CHECK_STR(C.last, "ping");
	MUST((c = C.conn) != NULL);
	CHECK(pl_conn_data(c) == &C);
	pl_conn_close(c); /* outside the loop: freed at the next iteration's end */
	CHECK_EQ_INT(C.closes, 1);
	CHECK_EQ_INT(C.reason, PL_CLOSE_APP);
	CHECK_EQ_INT(pl_client_open(C.cl), 0);
	C.stop_on_srv_closes = 1;
	CHECK_EQ_INT(pl_loop_run(C.loop), 0); /* the server sees it go */
	CHECK_EQ_INT(C.srv_closes, 1);
	CHECK_EQ_INT(C.closes, 1);
	cx_end();
}

static void test_client_connect_refused(void)
{
	struct pl_addr gone;
	int lfd;

	MUST(cx_start(0) == 0);
	MUST((lfd = net_listen(&gone)) >= 0);
	close(lfd);
	C.stop_on_connect = 1;
	MUST(pl_client_connect(C.cl, &gone, 1, &quick, on_connect, &C, NULL) == 0);
	CHECK_EQ_INT(pl_loop_run(C.loop), 0);
	CHECK_EQ_INT(C.cbs, 1);
	CHECK(C.conn == NULL);
	CHECK_EQ_INT(C.err, -ECONNREFUSED);
	CHECK_EQ_INT(C.result[0], -ECONNREFUSED);
	CHECK_EQ_INT(C.winner, 1);
	CHECK_EQ_INT(pl_client_open(C.cl), 0);
	cx_end();
}

static void test_client_connect_timeout(void)
{
	struct pl_connect_opts o = { .timeout_ms = 100 };
	struct pl_addr hole;
	int fill[4], lfd;

	MUST((lfd = net_black_hole(&hole, fill)) >= 0);
	MUST(cx_start(0) == 0);
	C.stop_on_connect = 1;
	MUST(pl_client_connect(C.cl, &hole, 1, &o, on_connect, &C, NULL) == 0);
	CHECK_EQ_INT(pl_loop_run(C.loop), 0);
	CHECK_EQ_INT(C.cbs, 1);
	CHECK(C.conn == NULL);
	CHECK_EQ_INT(C.err, -ETIMEDOUT);
	CHECK_EQ_INT(C.result[0], -ETIMEDOUT);
	close(lfd);
	net_close_fill(fill);
	cx_end();
}

/* The first address does not answer; the second starts after the 50 ms
 * stagger and wins; the first is cancelled. */
static void test_client_connect_race(void)
{
	struct pl_connect_opts o = { .timeout_ms = 5000, .stagger_ms = 50 };
	struct pl_addr addrs[2];
	int fill[4], lfd;

	MUST((lfd = net_black_hole(&addrs[0], fill)) >= 0);
	MUST(cx_start(1) == 0);
	addrs[1] = C.srv_addr;
	C.stop_on_connect = 1;
	MUST(pl_client_connect(C.cl, addrs, 2, &o, on_connect, &C, NULL) == 0);
	CHECK_EQ_INT(pl_loop_run(C.loop), 0);
	CHECK_EQ_INT(C.cbs, 1);
	CHECK(C.conn != NULL);
	CHECK_EQ_INT(C.err, 0);
	CHECK_EQ_INT(C.n, 2);
	CHECK_EQ_INT(C.winner, 1);
	CHECK_EQ_INT(C.result[0], -ECANCELED);
	CHECK_EQ_INT(C.result[1], 0);
	if (C.conn)
		CHECK(pl_addr_equal(pl_conn_peer(C.conn), &addrs[1]));
	close(lfd);
	net_close_fill(fill);
	cx_end();
}

static struct pl_connecting *inflight;

static void cancel_now(struct pl_loop *l, struct pl_timer *t)
{
	(void)l, (void)t;
	pl_client_cancel(inflight);
	inflight = NULL;
}

/* pl_client_cancel before the callback: right after the call (to a live
 * server), and while an attempt is in flight; the callback never runs and
 * the loop has nothing left to wait for (ASan: nothing leaks). */
static void test_client_cancel_before_callback(void)
{
	struct pl_connecting *p = NULL;
	struct pl_addr hole;
	struct pl_timer t;
	int fill[4], lfd;

	/* first: it takes a while, and the loop's clock starts with the loop */
	MUST((lfd = net_black_hole(&hole, fill)) >= 0);
	MUST(cx_start(1) == 0);
	MUST(pl_client_connect(C.cl, &C.srv_addr, 1, &quick, on_connect, &C, &p) == 0);
	MUST(p != NULL);
	pl_client_cancel(p);
	MUST(pl_client_connect(C.cl, &hole, 1, &quick, on_connect, &C, &inflight) == 0);
	pl_timer_init(&t, cancel_now, NULL);
	MUST(pl_timer_start(C.loop, &t, 50) == 0);
	pl_server_free(C.srv); /* nothing else to keep the loop running */
	C.srv = NULL;
	pl_timer_stop(C.loop, &C.guard);
	CHECK_EQ_INT(pl_loop_run(C.loop), 0); /* returns: nothing registered */
	CHECK_EQ_INT(C.cbs, 0);
	CHECK(inflight == NULL);
	CHECK_EQ_INT(pl_client_open(C.cl), 0);
	close(lfd);
	net_close_fill(fill);
	cx_end();
}

static struct pl_addr hole_addr;

static void free_client(struct pl_loop *l, struct pl_timer *t)
{
	(void)l, (void)t;
	CHECK_EQ_INT(pl_client_open(C.cl), 2);
	CHECK_EQ_INT(C.closes, 0);
	pl_client_free(C.cl); /* two open, one connecting */
	C.cl = NULL;
	CHECK_EQ_INT(C.closes, 2); /* on_close ran for each, at once */
	CHECK_EQ_INT(C.reason, PL_CLOSE_SHUTDOWN);
}

static struct pl_timer free_timer;

static void after_two(struct pl_conn *c)
{
	(void)c;
	if (C.cbs == 2) {
		CHECK_EQ_INT(pl_client_connect(C.cl, &hole_addr, 1, &quick, on_connect, &C, NULL), 0);
		CHECK_EQ_INT(pl_timer_start(C.loop, &free_timer, 30), 0);
	}
}

/* pl_client_free with two connections open and a connect in progress:
 * on_close runs for each, the connect's callback never; the server sees
 * both connections end. */
static void test_client_free_with_work_in_flight(void)
{
	int fill[4], lfd;

	MUST((lfd = net_black_hole(&hole_addr, fill)) >= 0);
	MUST(cx_start(1) == 0);
	pl_timer_init(&free_timer, free_client, NULL);
	C.connect_hook = after_two;
	C.stop_on_srv_closes = 2;
	MUST(pl_client_connect(C.cl, &C.srv_addr, 1, &quick, on_connect, &C, NULL) == 0);
	MUST(pl_client_connect(C.cl, &C.srv_addr, 1, &quick, on_connect, &C, NULL) == 0);
	CHECK_EQ_INT(pl_loop_run(C.loop), 0);
	CHECK(C.cl == NULL);
	CHECK_EQ_INT(C.cbs, 2);
	CHECK_EQ_INT(C.closes, 2);
	CHECK_EQ_INT(C.srv_opens, 2);
	CHECK_EQ_INT(C.srv_closes, 2);
	close(lfd);
	net_close_fill(fill);
	cx_end();
}

static void free_from_request(struct pl_conn *c)
{
	(void)c;
	pl_client_free(C.cl); /* the connection's own owner, inside its callback */
	C.cl = NULL;
	CHECK_EQ_INT(C.closes, 1);
}

static void send_two(struct pl_conn *c)
{
	CHECK_EQ_INT(pl_conn_send(c, "one", 3), 0);
	CHECK_EQ_INT(pl_conn_send(c, "two", 3), 0);
}

/* pl_client_free from on_request, with a second message in the same read:
 * it is not handed out and nothing touches the freed client. */
static void test_client_free_in_on_request(void)
{
	MUST(cx_start(1) == 0);
	C.connect_hook = send_two;
	C.request_hook = free_from_request;
	C.stop_on_srv_closes = 1;
	MUST(pl_client_connect(C.cl, &C.srv_addr, 1, &quick, on_connect, &C, NULL) == 0);
	CHECK_EQ_INT(pl_loop_run(C.loop), 0);
	CHECK_EQ_INT(C.requests, 1);
	CHECK_EQ_INT(C.closes, 1);
	CHECK_EQ_INT(C.reason, PL_CLOSE_SHUTDOWN);
	cx_end();
}

/* The same when the message was completed in the connection's own buffer
 * (its first part came in an earlier read) and more bytes follow it. */
static void test_client_free_in_on_request_buffered(void)
{
	struct pl_addr raw_addr;
	struct pl_timer t;
	int lfd, afd;

	MUST(cx_start(0) == 0);
	MUST((lfd = net_listen(&raw_addr)) >= 0);
	C.stop_on_connect = 1;
	MUST(pl_client_connect(C.cl, &raw_addr, 1, &quick, on_connect, &C, NULL) == 0);
	CHECK_EQ_INT(pl_loop_run(C.loop), 0);
	MUST(C.conn != NULL);
	MUST((afd = accept(lfd, NULL, NULL)) >= 0);
	MUST(pl_fd_write_full(afd, "\5\0\0\0he", 6, 1000) == 6); /* a part */
	pl_timer_init(&t, stop_loop, NULL);
	pl_timer_start(C.loop, &t, 30);
	C.stop_on_connect = 0;
	CHECK_EQ_INT(pl_loop_run(C.loop), 0);
	CHECK_EQ_INT(C.requests, 0);
	C.request_hook = free_from_request;
	C.stop_on_close = 1;
	MUST(pl_fd_write_full(afd, "llo\3\0\0\0two", 10, 1000) == 10); /* the rest, and more */
	CHECK_EQ_INT(pl_loop_run(C.loop), 0);
	CHECK_EQ_INT(C.requests, 1);
	CHECK_STR(C.last, "hello");
	CHECK_EQ_INT(C.closes, 1);
	close(afd);
	close(lfd);
	cx_end();
}

static void free_from_close(struct pl_conn *c)
{
	(void)c;
	pl_client_free(C.cl); /* a one-shot client tears itself down */
	C.cl = NULL;
}

static void close_server_side(struct pl_conn *c) { pl_conn_close(c); }

/* pl_client_free from on_close: the server closes the connection, the
 * client's on_close frees the client. */
static void test_client_free_in_on_close(void)
{
	MUST(cx_start(1) == 0);
	C.srv_open_hook = close_server_side;
	C.close_hook = free_from_close;
	C.stop_on_close = 1;
	MUST(pl_client_connect(C.cl, &C.srv_addr, 1, &quick, on_connect, &C, NULL) == 0);
	CHECK_EQ_INT(pl_loop_run(C.loop), 0);
	CHECK_EQ_INT(C.cbs, 1);
	CHECK_EQ_INT(C.closes, 1);
	CHECK_EQ_INT(C.reason, PL_CLOSE_EOF);
	CHECK(C.cl == NULL);
	cx_end();
}

/* ---- the transport seam: a test transport XORs every byte ---- */

#define XOR_KEY 0x5a

static int tp_made, tp_frees, tp_shutdowns;

static ssize_t xor_read(struct pl_transport *t, int fd, void *buf, size_t n)
{
	ssize_t r = recv(fd, buf, n, 0);

	(void)t;
	if (r < 0)
		return -errno;
	for (ssize_t i = 0; i < r; i++)
		((uint8_t *)buf)[i] ^= XOR_KEY;
	return r;
}

static ssize_t xor_write(struct pl_transport *t, int fd, const void *buf, size_t n)
{
	uint8_t tmp[16384];
	size_t m = n < sizeof(tmp) ? n : sizeof(tmp);
	ssize_t r;

	(void)t;
	for (size_t i = 0; i < m; i++)
		tmp[i] = ((const uint8_t *)buf)[i] ^ XOR_KEY;
	r = send(fd, tmp, m, MSG_NOSIGNAL);
	return r < 0 ? -errno : r;
}

static int xor_shutdown(struct pl_transport *t, int fd)
{
	(void)t;
	tp_shutdowns++;
	return shutdown(fd, SHUT_WR) < 0 ? -errno : 0;
}

static void xor_free(struct pl_transport *t)
{
	tp_frees++;
	free(t);
}

static const struct pl_transport_ops xor_ops = {
	.name = "xor", .read = xor_read, .write = xor_write, .shutdown = xor_shutdown,
	.free = xor_free,
};

static struct pl_transport *xor_new(void)
{
	struct pl_transport *t = malloc(sizeof(*t));

	if (t) {
		t->ops = &xor_ops;
		tp_made++;
	}
	return t;
}

static void set_xor(struct pl_conn *c)
{
	struct pl_transport *t = xor_new(), spare = { &xor_ops };

	MUST(t != NULL);
	CHECK_EQ_INT(pl_conn_set_transport(c, t), 0);
	CHECK_EQ_INT(pl_conn_set_transport(c, &spare), -EBUSY); /* not taken */
}

static void set_xor_and_send(struct pl_conn *c)
{
	set_xor(c);
	CHECK_EQ_INT(pl_conn_send(c, "hello", 5), 0);
}

static void xor_bytes(uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] ^= XOR_KEY;
}

/*
 * Both ends through the XOR transport (the server's set at PL_EV_OPEN, the
 * client's in the connect callback): messages round-trip; a raw socket on
 * the other end of either sees XORed bytes; pl_conn_shutdown goes through
 * the transport; each transport is freed once.
 */
static void test_client_transport_seam(void)
{
	uint8_t raw[16], want[16];
	struct pl_addr raw_addr;
	struct pl_timer t;
	int rfd, lfd, afd;

	MUST(cx_start(1) == 0);
	tp_made = tp_frees = tp_shutdowns = 0;
	C.srv_open_hook = set_xor;
	C.connect_hook = set_xor_and_send;
	C.stop_on_request = 1;
	/* 1: the library on both ends */
	MUST(pl_client_connect(C.cl, &C.srv_addr, 1, &quick, on_connect, &C, NULL) == 0);
	CHECK_EQ_INT(pl_loop_run(C.loop), 0);
	CHECK_EQ_INT(C.srv_requests, 1); /* the server saw "hello" whole */
	CHECK_EQ_INT(C.requests, 1);
	CHECK_STR(C.last, "hello");
	CHECK_EQ_INT(tp_made, 2);

	/* 2: a raw client of the XOR server */
	MUST((rfd = net_dial(&C.srv_addr, 0)) >= 0);
	memcpy(want, "\3\0\0\0raw", 7);
	memcpy(raw, want, 7);
	xor_bytes(raw, 7);
	MUST(pl_fd_write_full(rfd, raw, 7, 1000) == 7);
	pl_timer_init(&t, stop_loop, NULL);
	pl_timer_start(C.loop, &t, 50);
	C.stop_on_request = 0;
	CHECK_EQ_INT(pl_loop_run(C.loop), 0);
	CHECK_EQ_INT(C.srv_requests, 2);
	MUST(pl_fd_read_full(rfd, raw, 7, 2000) == 7);
	CHECK(memcmp(raw, want, 7) != 0); /* not the plain bytes on the wire */
	xor_bytes(raw, 7);
	CHECK(memcmp(raw, want, 7) == 0);
	close(rfd);

	/* 3: the XOR client of a raw server */
	MUST((lfd = net_listen(&raw_addr)) >= 0);
	C.connect_hook = set_xor_and_send;
	C.stop_on_connect = 1;
	MUST(pl_client_connect(C.cl, &raw_addr, 1, &quick, on_connect, &C, NULL) == 0);
	CHECK_EQ_INT(pl_loop_run(C.loop), 0);
	MUST(C.conn != NULL);
	MUST((afd = accept(lfd, NULL, NULL)) >= 0);
	C.stop_on_connect = 0;
	pl_timer_start(C.loop, &t, 30); /* the send leaves */
	CHECK_EQ_INT(pl_loop_run(C.loop), 0);
	MUST(pl_fd_read_full(afd, raw, 9, 2000) == 9);
	memcpy(want, "\5\0\0\0hello", 9);
	CHECK(memcmp(raw, want, 9) != 0);
	xor_bytes(raw, 9);
	CHECK(memcmp(raw, want, 9) == 0);
	memcpy(raw, "\2\0\0\0ok", 6);
	xor_bytes(raw, 6);
	MUST(pl_fd_write_full(afd, raw, 6, 1000) == 6);
	C.stop_on_request = 1;
	CHECK_EQ_INT(pl_loop_run(C.loop), 0);
	CHECK_STR(C.last, "ok");
	MUST(C.conn != NULL);
	CHECK_EQ_INT(pl_conn_shutdown(C.conn), 0); /* nothing unsent: the FIN now */
	CHECK_EQ_INT(tp_shutdowns, 1);
	CHECK_EQ_INT(pl_fd_read_full(afd, raw, 1, 2000), 0);
	close(afd);
	close(lfd);
	CHECK_EQ_INT(tp_made, 4);
	cx_end();
	CHECK_EQ_INT(tp_frees, 4); /* each once */
}

/* ---- the peer of an outbound Unix connection ---- */

static char unix_dir[64];
static struct pl_addr unix_addr;

static void check_unix_peer(struct pl_conn *c)
{
	const struct pl_addr *a = pl_conn_peer(c);

	CHECK_EQ_INT(a->kind, unix_addr.kind);
	CHECK(pl_addr_equal(a, &unix_addr));
}

static void check_unnamed(struct pl_conn *c)
{
	char buf[PL_ADDR_TEXT_MAX];

	pl_addr_format(pl_conn_peer(c), buf, sizeof(buf));
	CHECK_STR(buf, "unix:(unnamed)"); /* an accepted Unix client has no name */
}

static void unix_peer_case(const char *text)
{
	int lfd;

	MUST(pl_addr_parse(&unix_addr, text, 0, PL_ADDR_PASSIVE, NULL) == 0);
	MUST((lfd = pl_listen(&unix_addr, NULL)) >= 0);
	MUST(pl_server_listen_fd(C.srv, lfd) == 0);
	C.connect_hook = check_unix_peer;
	C.srv_open_hook = check_unnamed;
	C.stop_on_connect = 1;
	C.cbs = 0;
	MUST(pl_client_connect(C.cl, &unix_addr, 1, &quick, on_connect, &C, NULL) == 0);
	CHECK_EQ_INT(pl_loop_run(C.loop), 0);
	CHECK_EQ_INT(C.cbs, 1);
	MUST(C.conn != NULL);
	check_unix_peer(C.conn); /* outside the callback too */
	pl_conn_close(C.conn);
}

static void test_client_unix_peer_is_the_path(void)
{
	char text[128];
	struct stat st;

	MUST(cx_start(1) == 0);
	snprintf(unix_dir, sizeof(unix_dir), "/tmp/parley-unit-XXXXXX");
	MUST(mkdtemp(unix_dir) != NULL);
	snprintf(text, sizeof(text), "unix:%s/s.sock", unix_dir);
	unix_peer_case(text);
	snprintf(text, sizeof(text), "unix:@parley-unit-%d", (int)getpid());
	unix_peer_case(text);
	cx_end();
	snprintf(text, sizeof(text), "%s/s.sock", unix_dir);
	CHECK(stat(text, &st) < 0); /* the server removed its socket file */
	rmdir(unix_dir);
}

static const struct unit_test tests[] = {
	T(test_client_connect_success),
	T(test_client_connect_refused),
	T(test_client_connect_timeout),
	T(test_client_connect_race),
	T(test_client_cancel_before_callback),
	T(test_client_free_with_work_in_flight),
	T(test_client_free_in_on_request),
	T(test_client_free_in_on_request_buffered),
	T(test_client_free_in_on_close),
	T(test_client_transport_seam),
	T(test_client_unix_peer_is_the_path),
};
UNIT_MAIN(tests)
