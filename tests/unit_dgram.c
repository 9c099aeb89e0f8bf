/* unit_dgram.c - datagram endpoints and SEQPACKET connections, in-process over real sockets. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "parley/parley.h"
#include "unit.h"

struct ctx {
	struct pl_server *srv;
	struct pl_loop *loop;
	int requests, opens, closes, drained, stop_at;
	enum pl_close_reason last_reason;
	struct pl_conn *held;
	char peer[PL_ADDR_TEXT_MAX];
	int results[8];
	void *data_seen;
};

static void on_event(const struct pl_server_event *ev, void *arg)
{
	struct ctx *x = arg;

	if (ev->type == PL_EV_OPEN)
		x->opens++;
	if (ev->type == PL_EV_CLOSE) {
		x->closes++;
		x->last_reason = ev->reason;
	}
	if (ev->type == PL_EV_DRAINED)
		x->drained++;
}

/* A server on ADDR (port 0) with cfg's limits; returns the bound address. */
static struct pl_addr serve(struct ctx *x, struct pl_server_config *cfg, const char *text)
{
	struct pl_addr a, bound;
	int fd;

	cfg->on_event = on_event;
	cfg->arg = x;
	CHECK(pl_loop_new(&x->loop) == 0);
	CHECK(pl_server_new(x->loop, cfg, &x->srv) == 0);
	CHECK(pl_addr_parse(&a, text, 0, PL_ADDR_PASSIVE, NULL) == 0);
	CHECK((fd = pl_listen(&a, NULL)) >= 0);
	CHECK(pl_addr_local(fd, &bound) == 0);
	CHECK(pl_server_listen_fd(x->srv, fd) == 0);
	return bound;
}

static void finish(struct ctx *x)
{
	pl_server_free(x->srv);
	pl_loop_free(x->loop);
}

static void stop_at(struct ctx *x)
{
	if (++x->requests == x->stop_at)
		pl_loop_stop(x->loop);
}

/* Runs the loop until stop_at requests were served. */
static void run_until(struct ctx *x, int requests)
{
	x->stop_at = requests;
	CHECK(pl_loop_run(x->loop) == 0);
	CHECK_EQ_INT(x->requests, requests);
}

static void expect_reply(int fd, const char *want)
{
	char buf[256];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	CHECK(poll(&p, 1, 5000) == 1);
	n = recv(fd, buf, sizeof(buf), 0);
	CHECK(n == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)n) == 0);
}

/* A peer is a pl_conn: its address, its data across datagrams, and the
 * calls that have no meaning for a shared socket answering harmlessly. */
static void conn_calls(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	struct ctx *x = arg;
	static char big[PL_DGRAM_MAX + 1];

	(void)msg;
	(void)len;
	pl_addr_format(pl_conn_peer(c), x->peer, sizeof(x->peer));
	if (!pl_conn_data(c)) {
		pl_conn_set_data(c, x);
		x->results[0] = pl_conn_set_transport(c, NULL);
		x->results[1] = pl_conn_send(c, big, sizeof(big));
		pl_conn_pause(c);
		pl_conn_resume(c);
		x->results[2] = (int)pl_conn_unsent(c);
		x->results[3] = pl_conn_reply(c, "first", 5);
	} else {
		x->data_seen = pl_conn_data(c);
		pl_conn_shutdown(c);
		x->results[4] = pl_conn_reply(c, "late", 4);
	}
	stop_at(x);
}

static void test_dgram_peer_is_a_conn(void)
{
	struct ctx x = { 0 };
	struct pl_server_config cfg = { .on_request = conn_calls };
	struct pl_addr srv = serve(&x, &cfg, "udp:127.0.0.1:0"), me;
	char want[PL_ADDR_TEXT_MAX];
	int fd = pl_connect(&srv, 1, NULL, NULL);

	CHECK(fd >= 0);
	CHECK(send(fd, "a", 1, 0) == 1 && send(fd, "b", 1, 0) == 1);
	run_until(&x, 2);
	expect_reply(fd, "first");
	CHECK(pl_addr_local(fd, &me) == 0);
	pl_addr_format(&me, want, sizeof(want));
	CHECK_STR(x.peer, want); /* udp:127.0.0.1:PORT, the spelling a client takes */
	CHECK_EQ_INT(x.results[0], -EOPNOTSUPP);
	CHECK_EQ_INT(x.results[1], -EMSGSIZE);
	CHECK_EQ_INT(x.results[2], 0);
	CHECK_EQ_INT(x.results[3], 0);
	CHECK(x.data_seen == &x); /* the second datagram found the same peer */
	CHECK_EQ_INT(x.results[4], -EPIPE);
	CHECK_EQ_INT(x.opens, 1);
	CHECK_EQ_INT(pl_server_stats(x.srv)->peers, 1);
	CHECK_EQ_INT(pl_server_stats(x.srv)->peers_open, 1);
	CHECK_EQ_INT(pl_server_stats(x.srv)->open, 0); /* peers are not connections */
	close(fd);
	finish(&x);
	CHECK_EQ_INT(x.closes, 1);
	CHECK_EQ_INT(x.last_reason, PL_CLOSE_SHUTDOWN);
}

static void hold_first(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	struct ctx *x = arg;

	(void)len;
	if (msg[0] == 'h') {
		CHECK(pl_conn_hold(c) == 0);
		x->held = c;
	}
	pl_conn_reply(c, msg, len);
	stop_at(x);
}

/* max_conns peers, all held (owed an answer): a new address has no room
 * and its datagram is dropped; released, the least recent one makes room. */
static void test_dgram_held_peers_are_not_evicted(void)
{
	struct ctx x = { 0 };
	struct pl_server_config cfg = { .on_request = hold_first, .max_conns = 1 };
	struct pl_addr srv = serve(&x, &cfg, "udp:127.0.0.1:0");
	int a = pl_connect(&srv, 1, NULL, NULL), b = pl_connect(&srv, 1, NULL, NULL);

	CHECK(a >= 0 && b >= 0);
	CHECK(send(a, "h", 1, 0) == 1);
	run_until(&x, 1);
	CHECK(send(b, "x", 1, 0) == 1);
	CHECK(send(a, "y", 1, 0) == 1); /* served after b's was dropped */
	run_until(&x, 2);
	expect_reply(a, "h");
	expect_reply(a, "y");
	CHECK_EQ_INT(pl_server_stats(x.srv)->dropped[PL_DROP_LIMIT], 1);
	pl_conn_release(x.held);
	CHECK(send(b, "z", 1, 0) == 1);
	run_until(&x, 3);
	expect_reply(b, "z");
	CHECK_EQ_INT(pl_server_stats(x.srv)->closed[PL_CLOSE_LIMIT], 1); /* a, evicted */
	CHECK_EQ_INT(pl_server_stats(x.srv)->peers, 2);
	close(a);
	close(b);
	finish(&x);
}

static void echo(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	pl_conn_reply(c, msg, len);
	stop_at(arg);
}

static void stop_loop(struct pl_loop *loop, struct pl_timer *t)
{
	(void)t;
	pl_loop_stop(loop);
}

/*
 * A Unix peer that does not read: its queue takes 10 datagrams (from a
 * socket it is not connected to), the server's socket then refuses
 * (EAGAIN) while it polls writable.  The replies wait
 * up to out_cap, the rest are dropped, each one counted, and the loop does
 * not spin on them: the server is idle again soon after.
 */
static void test_dgram_reply_queue_is_capped(void)
{
	struct ctx x = { 0 };
	struct pl_server_config cfg = { .on_request = echo, .out_cap = 2000 };
	char path[64];
	struct pl_addr srv;
	struct pl_timer t;
	const struct pl_server_stats *st;
	char msg[100] = { 0 };
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, got = 0;

	snprintf(path, sizeof(path), "unixgram:@parley-unit-q-%d", (int)getpid());
	srv = serve(&x, &cfg, path);
	CHECK(pl_addr_to_sockaddr(&srv, &ss, &len) == 0);
	CHECK((fd = socket(AF_UNIX, SOCK_DGRAM, 0)) >= 0);
	CHECK(bind(fd, (struct sockaddr *)&ss, sizeof(sa_family_t)) == 0); /* autobind */
	/* the server's own queue holds 10 too: send in rounds */
	for (int r = 0; r < 5; r++) {
		for (int i = 0; i < 8; i++)
			CHECK(sendto(fd, msg, sizeof(msg), 0, (struct sockaddr *)&ss, len) == sizeof(msg));
		run_until(&x, 8 + 8 * r);
	}
	/* what is still queued is dropped on the next writable events */
	pl_timer_init(&t, stop_loop, NULL);
	CHECK(pl_timer_start(x.loop, &t, 50) == 0);
	CHECK(pl_loop_run(x.loop) == 0);
	while (recv(fd, msg, sizeof(msg), MSG_DONTWAIT) == sizeof(msg))
		got++;
	st = pl_server_stats(x.srv);
	CHECK_EQ_INT(got + st->dropped[PL_DROP_QUEUE], 40);
	CHECK(st->dropped[PL_DROP_QUEUE] > 0);
	CHECK(got >= 10);
	close(fd);
	finish(&x);
}

static void hold_and_answer_later(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	struct ctx *x = arg;

	(void)msg;
	(void)len;
	CHECK(pl_conn_hold(c) == 0);
	x->held = c;
	pl_server_shutdown(x->srv);
	x->requests++;
}

static void answer_held(struct pl_loop *loop, struct pl_timer *t)
{
	struct ctx *x = t->data;

	(void)loop;
	CHECK_EQ_INT(x->drained, 0); /* the drain waits for the owed answer */
	CHECK(pl_conn_reply(x->held, "later", 5) == 0);
	pl_conn_release(x->held);
}

/* A drain waits for a held peer; once released, it is closed, the socket
 * too, and PL_EV_DRAINED ends the loop. */
static void test_dgram_drain_waits_for_held_peer(void)
{
	struct ctx x = { 0 };
	struct pl_server_config cfg = { .on_request = hold_and_answer_later };
	struct pl_addr srv = serve(&x, &cfg, "udp:127.0.0.1:0");
	struct pl_timer t;
	int fd = pl_connect(&srv, 1, NULL, NULL);

	CHECK(fd >= 0);
	CHECK(send(fd, "q", 1, 0) == 1);
	pl_timer_init(&t, answer_held, &x);
	CHECK(pl_timer_start(x.loop, &t, 30) == 0);
	CHECK(pl_loop_run(x.loop) == 0);
	CHECK_EQ_INT(x.drained, 1);
	CHECK_EQ_INT(x.last_reason, PL_CLOSE_SHUTDOWN);
	expect_reply(fd, "later");
	close(fd);
	finish(&x);
}

static void fill(char *p, int i)
{
	memset(p, 'a' + i % 26, 600);
	p[0] = '\n'; /* no line framing: the packet is the message */
}

static void echo_then_stop(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	struct ctx *x = arg;

	pl_conn_reply(c, msg, len);
	if (x->requests++ == 0)
		pl_server_shutdown(x->srv);
}

/* A shutdown from on_request in the middle of a batch: the batch's other
 * datagrams are each served once (the drain must not read over the batch
 * it is called from), then the server drains. */
static void test_dgram_shutdown_inside_a_batch(void)
{
	struct ctx x = { 0 };
	struct pl_server_config cfg = { .on_request = echo_then_stop, .drain_timeout_ms = 3600000 };
	struct pl_addr srv = serve(&x, &cfg, "udp:127.0.0.1:0");
	int fd = pl_connect(&srv, 1, NULL, NULL);
	char m[2] = "0";

	CHECK(fd >= 0);
	for (int i = 0; i < 5; i++, m[0]++)
		CHECK(send(fd, m, 1, 0) == 1);
	CHECK(pl_loop_run(x.loop) == 0);
	CHECK_EQ_INT(x.drained, 1);
	CHECK_EQ_INT(x.requests, 5);
	m[0] = '0';
	for (int i = 0; i < 5; i++, m[0]++)
		expect_reply(fd, m);
	CHECK(recv(fd, m, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
	close(fd);
	finish(&x);
}

/* SEQPACKET: 200 packets pipelined as fast as the socket takes them (a
 * Unix packet queue holds 10), answered under backpressure (out_cap far
 * below what is owed): every reply comes back whole and in order. */
static void test_seqpacket_boundaries_under_backpressure(void)
{
	struct ctx x = { 0 };
	struct pl_server_config cfg = { .on_request = echo, .out_cap = 1000, .proto = PL_PROTO_LINE };
	char path[64], buf[1024], want[600];
	struct pl_addr srv;
	struct pl_timer t;
	int fd, sent = 0, got = 0;

	snprintf(path, sizeof(path), "seqpacket:@parley-unit-sp-%d", (int)getpid());
	srv = serve(&x, &cfg, path);
	CHECK((fd = pl_connect(&srv, 1, NULL, NULL)) >= 0);
	CHECK(pl_sock_nonblock(fd, 1) == 0);
	pl_timer_init(&t, stop_loop, NULL);
	for (int turns = 0; got < 200 && turns < 100000; turns++) {
		ssize_t n;
		for (; sent < 200; sent++) {
			fill(want, sent);
			if (send(fd, want, 100 + (size_t)sent * 2, 0) < 0)
				break;
		}
		CHECK(pl_timer_start(x.loop, &t, 0) == 0);
		CHECK(pl_loop_run(x.loop) == 0);
		while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
			fill(want, got);
			CHECK_EQ_INT(n, 100 + got * 2);
			CHECK(memcmp(buf, want, (size_t)n) == 0);
			got++;
		}
	}
	CHECK_EQ_INT(got, 200);
	close(fd);
	finish(&x);
}

struct cl {
	struct pl_loop *loop;
	int replies;
	char got[3][16];
	size_t lens[3];
};

static void client_reply(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	struct cl *k = arg;

	(void)c;
	if (k->replies < 3) {
		memcpy(k->got[k->replies], msg, len < 16 ? len : 16);
		k->lens[k->replies] = len;
	}
	if (++k->replies == 3)
		pl_loop_stop(k->loop);
}

static void connected(struct pl_conn *c, const struct pl_connect_report *r, void *arg)
{
	(void)r;
	(void)arg;
	CHECK(c != NULL);
	CHECK(pl_conn_send(c, "one", 3) == 0);
	CHECK(pl_conn_send(c, "", 0) == 0); /* an empty datagram is a message */
	CHECK(pl_conn_send(c, "three", 5) == 0);
}

/* A client's connection to a datagram server, on the same loop: each
 * message is one datagram both ways, the empty one included. */
static void client_over(const char *text)
{
	struct ctx x = { 0 };
	struct pl_server_config cfg = { .on_request = echo };
	struct pl_addr srv = serve(&x, &cfg, text);
	struct cl k = { .loop = x.loop };
	struct pl_conn_config cc = { .on_request = client_reply, .arg = &k };
	struct pl_client *cl;

	CHECK(pl_client_new(x.loop, &cc, &cl) == 0);
	CHECK(pl_client_connect(cl, &srv, 1, NULL, connected, NULL, NULL) == 0);
	CHECK(pl_loop_run(x.loop) == 0);
	CHECK_EQ_INT(k.replies, 3);
	CHECK(k.lens[0] == 3 && memcmp(k.got[0], "one", 3) == 0);
	CHECK_EQ_INT(k.lens[1], 0);
	CHECK(k.lens[2] == 5 && memcmp(k.got[2], "three", 5) == 0);
	pl_client_free(cl);
	finish(&x);
}

static void test_dgram_client_connection_one_datagram_per_message(void)
{
	char path[64];

	client_over("udp:127.0.0.1:0");
	client_over("udp:[::1]:0");
	snprintf(path, sizeof(path), "unixgram:@parley-unit-cl-%d", (int)getpid());
	client_over(path);
}

static void send_one(struct pl_conn *c, const struct pl_connect_report *r, void *arg)
{
	(void)r;
	(void)arg;
	CHECK(c != NULL);
	CHECK(pl_conn_send(c, "anyone?", 7) == 0);
}

static void refused(struct pl_conn *c, enum pl_close_reason why, int err, void *arg)
{
	int *got = arg;

	got[0] = (int)why;
	got[1] = err;
	pl_loop_stop(pl_conn_loop(c));
}

/* Nobody on the port: the ICMP port unreachable comes back to the
 * connected socket and closes the connection with ECONNREFUSED. */
static void test_dgram_client_refused(void)
{
	struct pl_loop *loop;
	struct pl_client *cl;
	struct pl_addr a, bound;
	int got[2] = { -1, 0 }, fd;
	struct pl_conn_config cc = { .on_request = client_reply, .on_close = refused, .arg = got };

	/* a port that was just free: bind, learn it, close */
	CHECK(pl_addr_parse(&a, "udp:127.0.0.1:0", 0, PL_ADDR_PASSIVE, NULL) == 0);
	CHECK((fd = pl_listen(&a, NULL)) >= 0);
	CHECK(pl_addr_local(fd, &bound) == 0);
	close(fd);
	CHECK(pl_loop_new(&loop) == 0);
	CHECK(pl_client_new(loop, &cc, &cl) == 0);
	CHECK(pl_client_connect(cl, &bound, 1, NULL, send_one, NULL, NULL) == 0);
	CHECK(pl_loop_run(loop) == 0);
	CHECK_EQ_INT(got[0], PL_CLOSE_RESET);
	CHECK_EQ_INT(got[1], -ECONNREFUSED);
	pl_client_free(cl);
	pl_loop_free(loop);
}

static const struct unit_test tests[] = {
	T(test_dgram_peer_is_a_conn), T(test_dgram_held_peers_are_not_evicted),
	T(test_dgram_reply_queue_is_capped), T(test_dgram_drain_waits_for_held_peer),
	T(test_dgram_shutdown_inside_a_batch), T(test_dgram_client_connection_one_datagram_per_message),
	T(test_dgram_client_refused), T(test_seqpacket_boundaries_under_backpressure),
};
UNIT_MAIN(tests)
