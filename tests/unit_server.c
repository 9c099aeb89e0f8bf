/* unit_server.c - the server library driven in-process over real sockets. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "parley/parley.h"
#include "unit.h"

struct ctx {
	struct pl_server *srv;
	int closes, requests, reply_after_close;
	enum pl_close_reason last_reason;
};

static void close_in_callback(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	struct ctx *x = arg;

	(void)msg;
	(void)len;
	x->requests++;
	pl_conn_close(c);                                  /* its own connection, mid-callback */
	x->reply_after_close = pl_conn_reply(c, "late", 4); /* still valid memory: -EPIPE */
}

static void on_event(const struct pl_server_event *ev, void *arg)
{
	struct ctx *x = arg;

	if (ev->type == PL_EV_CLOSE) {
		x->closes++;
		x->last_reason = ev->reason;
		pl_server_shutdown(x->srv); /* and stop the test loop */
	}
}

/* A loop and a server on 127.0.0.1:0 calling on_request, and one client
 * connected to it; returns the client's fd. */
static int serve_one(struct pl_loop **loop, struct ctx *x, pl_request_cb on_request)
{
	struct pl_server_config cfg = { .on_request = on_request, .on_event = on_event, .arg = x };
	struct pl_addr a, bound;
	int lfd, cfd;

	CHECK(pl_loop_new(loop) == 0);
	CHECK(pl_server_new(*loop, &cfg, &x->srv) == 0);
	CHECK(pl_addr_parse(&a, "127.0.0.1:0", 0, PL_ADDR_PASSIVE, NULL) == 0);
	lfd = pl_listen(&a, NULL);
	CHECK(lfd >= 0);
	CHECK(pl_addr_local(lfd, &bound) == 0);
	CHECK(pl_server_listen_fd(x->srv, lfd) == 0);
	cfd = pl_connect(&bound, 1, NULL, NULL);
	CHECK(cfd >= 0);
	return cfd;
}

static void test_server_close_from_own_callback(void)
{
	struct pl_loop *loop;
	struct ctx x = { 0 };
	int cfd = serve_one(&loop, &x, close_in_callback);
	char buf[16];

	/* two requests in one write: the second must not run after the close */
	CHECK(pl_fd_write_full(cfd, "\2\0\0\0hi\2\0\0\0hi", 12, 1000) == 12);
	CHECK(pl_loop_run(loop) == 0);
	CHECK_EQ_INT(x.requests, 1);
	CHECK_EQ_INT(x.closes, 1);
	CHECK_EQ_INT(x.last_reason, PL_CLOSE_APP);
	CHECK_EQ_INT(x.reply_after_close, -EPIPE);
	CHECK_EQ_INT(pl_fd_read_full(cfd, buf, sizeof(buf), 1000), 0); /* closed, nothing sent */
	CHECK_EQ_INT(pl_server_stats(x.srv)->closed[PL_CLOSE_APP], 1);
	close(cfd);
	pl_server_free(x.srv);
	pl_loop_free(loop);
}

static void answer(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)arg;
	pl_conn_reply(c, msg, len);
}

static void check_nodelay(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	struct ctx *x = arg;
	int v = 0;
	socklen_t vl = sizeof(v);

	(void)msg;
	(void)len;
	x->requests++;
	CHECK(getsockopt(pl_conn_fd(c), IPPROTO_TCP, TCP_NODELAY, &v, &vl) == 0);
	CHECK_EQ_INT(v, 1); /* small replies must not wait for Nagle */
	pl_conn_close(c);
}

/* Accepted TCP clients have TCP_NODELAY: small replies leave at once. */
static void test_server_clients_get_nodelay(void)
{
	struct pl_loop *loop;
	struct ctx x = { 0 };
	int cfd = serve_one(&loop, &x, check_nodelay);

	CHECK(pl_fd_write_full(cfd, "\2\0\0\0hi", 6, 1000) == 6);
	CHECK(pl_loop_run(loop) == 0);
	CHECK_EQ_INT(x.requests, 1);
	close(cfd);
	pl_server_free(x.srv);
	pl_loop_free(loop);
}

static void test_server_rejects_missing_callback(void)
{
	struct pl_loop *loop;
	struct pl_server *s = NULL;
	struct pl_server_config cfg = { 0 };

	CHECK(pl_loop_new(&loop) == 0);
	CHECK(pl_server_new(loop, &cfg, &s) == -EINVAL);
	cfg.on_request = answer;
	CHECK(pl_server_new(loop, &cfg, &s) == 0);
	pl_server_free(s);
	pl_loop_free(loop);
}

#define PAST_CAP (4u << 20) /* more than loopback's socket buffers take at once */

struct drain_ctx {
	struct pl_timer guard, reader;
	int drains, sent, cfd;
	size_t unsent_after;
};

static void send_on_open(const struct pl_server_event *ev, void *arg)
{
	struct drain_ctx *d = arg;
	char *big;

	/* outside c's own callbacks, the way a proxy feeds the other side */
	if (ev->type == PL_EV_OPEN && (big = calloc(1, PAST_CAP))) {
		/* fixed buffers, or autotuning (tcp_wmem's max is 4 MiB here) may take it all */
		setsockopt(pl_conn_fd(ev->conn), SOL_SOCKET, SO_SNDBUF, &(int){ 65536 }, sizeof(int));
		d->sent = pl_conn_send(ev->conn, big, PAST_CAP);
		d->unsent_after = pl_conn_unsent(ev->conn);
		free(big);
	}
}

/* The client reads whatever has arrived, every few milliseconds. */
static void read_some(struct pl_loop *loop, struct pl_timer *t)
{
	struct drain_ctx *d = t->data;
	static char buf[65536];

	while (recv(d->cfd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	pl_timer_start(loop, t, 2);
}

static void drained(struct pl_conn *c, void *arg)
{
	struct drain_ctx *d = arg;

	d->drains++;
	pl_loop_stop(pl_conn_loop(c));
}

static void give_up(struct pl_loop *loop, struct pl_timer *t)
{
	(void)t;
	pl_loop_stop(loop);
}

/* Output sent past out_cap from outside the connection's callbacks (what
 * the first write did not take stays over the cap): on_drain follows once
 * it is written (it used to be armed only when a write inside the
 * connection's own callbacks left output over the cap, so a proxy that
 * paused the other side waited for ever). */
static void test_server_drain_after_send_past_cap(void)
{
	struct drain_ctx d = { 0 };
	struct pl_server_config cfg = { .on_request = answer, .on_event = send_on_open,
					.on_drain = drained, .out_cap = 1000, .arg = &d };
	struct pl_loop *loop;
	struct pl_server *srv;
	struct pl_addr a, bound;
	int lfd, cfd;

	CHECK(pl_loop_new(&loop) == 0);
	CHECK(pl_server_new(loop, &cfg, &srv) == 0);
	CHECK(pl_addr_parse(&a, "127.0.0.1:0", 0, PL_ADDR_PASSIVE, NULL) == 0);
	CHECK((lfd = pl_listen(&a, NULL)) >= 0);
	CHECK(pl_addr_local(lfd, &bound) == 0);
	CHECK(pl_server_listen_fd(srv, lfd) == 0);
	CHECK((cfd = pl_connect(&bound, 1, NULL, NULL)) >= 0);
	/* a fixed receive buffer, or autotuning up to tcp_rmem's max (32 MiB
	 * on some hosts) takes PAST_CAP at once */
	CHECK(setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &(int){ 65536 }, sizeof(int)) == 0);
	d.cfd = cfd;
	pl_timer_init(&d.guard, give_up, NULL);
	CHECK(pl_timer_start(loop, &d.guard, 5000) == 0);
	pl_timer_init(&d.reader, read_some, &d);
	CHECK(pl_timer_start(loop, &d.reader, 20) == 0);
	CHECK(pl_loop_run(loop) == 0);
	CHECK_EQ_INT(d.sent, 0);
	CHECK(d.unsent_after > 1000);
	CHECK_EQ_INT(d.drains, 1);
	pl_timer_stop(loop, &d.guard);
	pl_timer_stop(loop, &d.reader);
	close(cfd);
	pl_server_free(srv);
	pl_loop_free(loop);
}

static const struct unit_test tests[] = {
	T(test_server_close_from_own_callback), T(test_server_clients_get_nodelay),
	T(test_server_rejects_missing_callback), T(test_server_drain_after_send_past_cap),
};
UNIT_MAIN(tests)
