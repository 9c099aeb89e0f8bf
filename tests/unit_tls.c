/*
 * unit_tls.c - TLS behind the connection seam (tls.h), in-process over
 * real sockets: a round trip with what the handshake settled (version,
 * ALPN, peer, SNI), verification failures and their words, the handshake
 * timeout counted as a TLS close, pipelined messages in one record, a
 * truncation, bad configurations, and a reload that old connections
 * survive.  Keys and certificates are made at run time (tls_keys.h).
 * Built without OpenSSL, one test checks that TLS says so.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "parley/parley.h"
#include "parley/tls.h"
#include "unit.h"
#include "unit_net.h"

#ifndef PL_HAVE_TLS

static void test_tls_unavailable(void)
{
	struct pl_tls_config cfg = { 0 };
	struct pl_tls *t = (struct pl_tls *)&cfg;
	char err[64];

	CHECK_EQ_INT(pl_tls_available(), 0);
	CHECK_EQ_INT(pl_tls_new(&cfg, &t, err, sizeof(err)), -ENOTSUP);
	CHECK(t == NULL);
}

static const struct unit_test tests[] = { { "test_tls_unavailable", test_tls_unavailable } };

#else

#include <openssl/ssl.h>
#include "tls_keys.h"

static char dir[64], cert[96], key[96], cert2[96], key2[96];

/* Fresh key pairs in a temporary directory: localhost and other.test. */
static int make_keys(void)
{
	snprintf(dir, sizeof(dir), "/tmp/unit_tls.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(cert, sizeof(cert), "%s/a.pem", dir);
	snprintf(key, sizeof(key), "%s/a.key", dir);
	snprintf(cert2, sizeof(cert2), "%s/b.pem", dir);
	snprintf(key2, sizeof(key2), "%s/b.key", dir);
	return tls_keys_make(cert, key, "localhost", "DNS:localhost,IP:127.0.0.1", 1) |
	       tls_keys_make(cert2, key2, "other", "DNS:other.test", 1);
}

static void drop_keys(void)
{
	unlink(cert), unlink(key), unlink(cert2), unlink(key2);
	rmdir(dir);
}

/* ---- the fixture: a TLS echo server and a TLS client on one loop ---- */

struct tx {
	struct pl_loop *loop;
	struct pl_server *srv;
	struct pl_client *cl;
	struct pl_tls *stls, *ctls;
	struct pl_addr at;
	struct pl_timer guard;
	struct pl_conn *conn;
	const char *name;          /* the client's SNI / verified name */
	int replies, closes, srv_closes;
	enum pl_close_reason why, srv_why;
	int err, srv_err;
	char srv_error[200], error[200];
	struct pl_tls_info info, srv_info;
	int stop_after;            /* replies */
	const char *send;          /* sent on connect, send_count times */
	size_t send_len;
	int send_count;
};

static struct tx X;

static void cl_reply(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)msg, (void)len, (void)arg;
	if (++X.replies == 1)
		CHECK_EQ_INT(pl_tls_info(pl_conn_transport(c), &X.info), 0);
	if (X.replies == X.stop_after)
		pl_loop_stop(X.loop);
}

static void cl_close(struct pl_conn *c, enum pl_close_reason why, int err, void *arg)
{
	const char *e = pl_tls_error(pl_conn_transport(c));

	(void)arg;
	X.closes++;
	X.why = why;
	X.err = err;
	snprintf(X.error, sizeof(X.error), "%s", e ? e : "");
	X.conn = NULL;
	pl_loop_stop(X.loop);
}

static void cl_connected(struct pl_conn *c, const struct pl_connect_report *r, void *arg)
{
	(void)r, (void)arg;
	MUST(c != NULL);
	X.conn = c;
	CHECK_EQ_INT(pl_tls_attach(c, X.ctls, X.name), 0);
	CHECK_EQ_INT(pl_tls_attach(c, X.ctls, X.name), -EBUSY); /* one transport */
	CHECK_EQ_INT(pl_tls_info(pl_conn_transport(c), &X.info), -EAGAIN);
	for (int i = 0; i < X.send_count; i++)
		CHECK_EQ_INT(pl_conn_send(c, X.send, X.send_len), 0);
}

static void srv_echo(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)arg;
	pl_tls_info(pl_conn_transport(c), &X.srv_info);
	pl_conn_send(c, msg, len);
}

static void srv_event(const struct pl_server_event *ev, void *arg)
{
	const char *e;

	(void)arg;
	if (ev->type != PL_EV_CLOSE)
		return;
	X.srv_closes++;
	X.srv_why = ev->reason;
	X.srv_err = ev->err;
	e = pl_tls_error(pl_conn_transport(ev->conn));
	snprintf(X.srv_error, sizeof(X.srv_error), "%s", e ? e : "");
}

static int tx_server(const struct pl_tls_config *scfg)
{
	struct pl_server_config cfg = { .on_request = srv_echo, .on_event = srv_event };
	char err[256];
	int lfd;

	if (pl_tls_new(scfg, &X.stls, err, sizeof(err)) < 0) {
		fprintf(stderr, "server context: %s\n", err);
		return -1;
	}
	if (pl_server_new(X.loop, &cfg, &X.srv) < 0 || (lfd = net_listen(&X.at)) < 0 ||
	    pl_server_listen_fd(X.srv, lfd) < 0)
		return -1;
	return pl_server_set_tls(X.srv, lfd, X.stls);
}

static int tx_client(const struct pl_tls_config *ccfg)
{
	struct pl_conn_config cfg = { .on_request = cl_reply, .on_close = cl_close };
	char err[256];

	if (X.ctls)
		pl_tls_free(X.ctls);
	if (pl_tls_new(ccfg, &X.ctls, err, sizeof(err)) < 0) {
		fprintf(stderr, "client context: %s\n", err);
		return -1;
	}
	return X.cl ? 0 : pl_client_new(X.loop, &cfg, &X.cl);
}

static int tx_start(const struct pl_tls_config *scfg, const struct pl_tls_config *ccfg)
{
	memset(&X, 0, sizeof(X));
	net_bound(30);
	X.name = "localhost";
	X.send = "\5\0\0\0hello";
	X.send_len = 9;
	X.send_count = 1;
	X.stop_after = 1;
	if (make_keys() < 0 || pl_loop_new(&X.loop) < 0)
		return -1;
	pl_timer_init(&X.guard, net_guard_fired, NULL);
	if (pl_timer_start(X.loop, &X.guard, 10000) < 0 || tx_server(scfg) < 0)
		return -1;
	return tx_client(ccfg);
}

static void tx_connect(void)
{
	static const struct pl_connect_opts quick = { .timeout_ms = 2000 };

	CHECK_EQ_INT(pl_client_connect(X.cl, &X.at, 1, &quick, cl_connected, NULL, NULL), 0);
	CHECK_EQ_INT(pl_loop_run(X.loop), 0);
}

static void tx_end(void)
{
	pl_client_free(X.cl);
	pl_server_free(X.srv);
	pl_loop_free(X.loop);
	pl_tls_free(X.ctls);
	pl_tls_free(X.stls);
	drop_keys();
}

static void stop_it(struct pl_loop *l, struct pl_timer *t)
{
	(void)t;
	pl_loop_stop(l);
}

/* Runs the loop for about ms. */
static void spin(long long ms)
{
	struct pl_timer t;

	pl_timer_init(&t, stop_it, NULL);
	pl_timer_start(X.loop, &t, ms);
	pl_loop_run(X.loop);
	pl_timer_stop(X.loop, &t);
}

/* Runs the loop until the server closed a connection (at most 5 s). */
static void until_server_closed(void)
{
	for (int i = 0; i < 100 && X.srv_closes == 0; i++)
		spin(50);
}

static struct pl_tls_cert pair(const char *c, const char *k) { return (struct pl_tls_cert){ c, k }; }

/* ---- tests ---- */

static void test_tls_round_trip_and_info(void)
{
	struct pl_tls_cert certs[2];
	struct pl_tls_config s = { .server = 1, .certs = certs, .ncerts = 2, .alpn = "h2,x-parley" };
	struct pl_tls_config c = { .ca_file = NULL, .alpn = "x-parley,h2" };

	MUST(make_keys() == 0); /* the paths, for the configs; tx_start makes them anew */
	certs[0] = pair(cert, key), certs[1] = pair(cert2, key2);
	c.ca_file = cert;
	MUST(tx_start(&s, &c) == 0);
	tx_connect();
	CHECK_EQ_INT(X.replies, 1);
	CHECK_STR(X.info.version, "TLSv1.3");
	CHECK_STR(X.info.alpn, "h2"); /* the server's preference wins */
	CHECK_STR(X.info.peer, "CN=localhost");
	CHECK_STR(X.srv_info.servername, "localhost");
	CHECK_STR(X.srv_info.peer, ""); /* no client certificate */
	CHECK(X.info.cipher[0] != '\0');
	CHECK_EQ_INT(pl_tls_error(pl_conn_transport(X.conn)) == NULL, 1);
	CHECK_EQ_INT(pl_tls_error(NULL) == NULL, 1);
	tx_end();
}

/* SNI picks the second certificate; the client verifies it by that name */
static void test_tls_sni_picks_certificate(void)
{
	struct pl_tls_cert certs[2];
	struct pl_tls_config s = { .server = 1, .certs = certs, .ncerts = 2 };
	struct pl_tls_config c = { 0 };

	MUST(make_keys() == 0);
	certs[0] = pair(cert, key), certs[1] = pair(cert2, key2);
	c.ca_file = cert2;
	MUST(tx_start(&s, &c) == 0);
	X.name = "other.test";
	tx_connect();
	CHECK_EQ_INT(X.replies, 1);
	CHECK_STR(X.info.peer, "CN=other");
	tx_end();
}

static void test_tls_verify_failures_say_why(void)
{
	struct pl_tls_cert certs[1];
	struct pl_tls_config s = { .server = 1, .certs = certs, .ncerts = 1 };
	struct pl_tls_config c = { 0 }; /* the system store: our self-signed is unknown */

	MUST(make_keys() == 0);
	certs[0] = pair(cert, key);
	MUST(tx_start(&s, &c) == 0);
	tx_connect();
	CHECK_EQ_INT(X.closes, 1);
	CHECK_EQ_INT(X.why, PL_CLOSE_TLS);
	CHECK_EQ_INT(X.err, -EPROTO);
	CHECK_STR(X.error, "certificate verify failed: self-signed certificate");

	/* the right anchor, the wrong name */
	c.ca_file = cert;
	MUST(tx_client(&c) == 0);
	X.name = "wrong.test";
	tx_connect();
	CHECK_EQ_INT(X.why, PL_CLOSE_TLS);
	CHECK_STR(X.error, "certificate verify failed: hostname mismatch");
	/* the server heard the client's alert */
	CHECK_EQ_INT(X.srv_why, PL_CLOSE_TLS);
	tx_end();
}

static void test_tls_client_cert_required(void)
{
	struct pl_tls_cert certs[1];
	struct pl_tls_config s = { .server = 1, .certs = certs, .ncerts = 1,
				   .peer_cert = PL_TLS_PEER_REQUIRE };
	struct pl_tls_config c = { 0 };
	const struct pl_server_stats *st;

	MUST(make_keys() == 0);
	certs[0] = pair(cert, key);
	s.ca_file = cert;
	c.ca_file = cert;
	MUST(tx_start(&s, &c) == 0);
	tx_connect();
	CHECK_EQ_INT(X.why, PL_CLOSE_TLS);
	CHECK(strstr(X.error, "certificate required") != NULL);
	st = pl_server_stats(X.srv);
	CHECK_EQ_INT(st->closed[PL_CLOSE_TLS], 1);
	CHECK_STR(X.srv_error, "peer did not send a certificate");

	/* with one (its own pair, which the server trusts), it is let in */
	c.certs = certs, c.ncerts = 1;
	MUST(tx_client(&c) == 0);
	tx_connect();
	CHECK_EQ_INT(X.replies, 1);
	CHECK_STR(X.srv_info.peer, "CN=localhost");
	tx_end();
}

/* A client that connects and never says hello: closed, counted as tls */
static void test_tls_handshake_timeout(void)
{
	struct pl_tls_cert certs[1];
	struct pl_tls_config s = { .server = 1, .certs = certs, .ncerts = 1,
				   .handshake_timeout_ms = 100 };
	struct pl_tls_config c = { .insecure = 1 };
	int fd;

	MUST(make_keys() == 0);
	certs[0] = pair(cert, key);
	MUST(tx_start(&s, &c) == 0);
	MUST((fd = net_dial(&X.at, 0)) >= 0);
	until_server_closed();
	CHECK_EQ_INT(X.srv_why, PL_CLOSE_TLS);
	CHECK_EQ_INT(X.srv_err, -ETIMEDOUT);
	CHECK_STR(X.srv_error, "handshake timeout");
	CHECK_EQ_INT(pl_server_stats(X.srv)->closed[PL_CLOSE_TLS], 1);
	close(fd);
	tx_end();
}

/* 200 requests in one TLS record, and 200 replies in one: what OpenSSL
 * holds after one read must be served without another socket event */
static void test_tls_pipelined_in_one_record(void)
{
	struct pl_tls_cert certs[1];
	struct pl_tls_config s = { .server = 1, .certs = certs, .ncerts = 1 };
	struct pl_tls_config c = { .insecure = 1 };

	MUST(make_keys() == 0);
	certs[0] = pair(cert, key);
	MUST(tx_start(&s, &c) == 0);
	/* queued while the handshake runs, then written as one record */
	X.send_count = 200;
	X.stop_after = 200;
	tx_connect();
	CHECK_EQ_INT(X.replies, 200);
	tx_end();
}

static void test_tls_config_errors(void)
{
	struct pl_tls_cert certs[2];
	struct pl_tls_config s = { .server = 1, .certs = certs, .ncerts = 1 };
	struct pl_tls *t = NULL;
	char err[512];

	MUST(make_keys() == 0);
	certs[0] = pair("/nonexistent/cert.pem", key);
	CHECK_EQ_INT(pl_tls_new(&s, &t, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "/nonexistent/cert.pem: No such file or directory");
	CHECK(t == NULL);
	certs[0] = pair(cert, key2); /* another certificate's key */
	CHECK_EQ_INT(pl_tls_new(&s, &t, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "does not match the certificate") != NULL);
	certs[0] = pair(key, key); /* a key where the certificate goes */
	CHECK_EQ_INT(pl_tls_new(&s, &t, err, sizeof(err)), -EINVAL);
	CHECK(strncmp(err, key, strlen(key)) == 0);
	CHECK_STR(err + strlen(key), ": not a PEM certificate");
	s.ncerts = 0;
	CHECK_EQ_INT(pl_tls_new(&s, &t, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "a TLS server needs a certificate and its key");
	certs[0] = pair(cert, key);
	s.ncerts = 1;
	s.alpn = "h2,,x";
	CHECK_EQ_INT(pl_tls_new(&s, &t, err, sizeof(err)), -EINVAL);
	s.alpn = NULL;
	s.peer_cert = PL_TLS_PEER_REQUIRE; /* and nothing to verify them against */
	CHECK_EQ_INT(pl_tls_new(&s, &t, err, sizeof(err)), -EINVAL);
	s.peer_cert = PL_TLS_PEER_NONE;
	s.min_version = 11;
	CHECK_EQ_INT(pl_tls_new(&s, &t, err, sizeof(err)), -EINVAL);
	s.min_version = 13;
	CHECK_EQ_INT(pl_tls_new(&s, &t, err, sizeof(err)), 0);
	/* a reload that fails keeps what was loaded */
	rename(cert, cert2);
	CHECK_EQ_INT(pl_tls_reload(t, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "No such file or directory") != NULL);
	pl_tls_free(t);
	drop_keys();
}

/* New certificate files, SIGHUP-style: the connection open keeps going,
 * the next one sees the new certificate */
static void test_tls_reload_keeps_connections(void)
{
	struct pl_tls_cert certs[1];
	struct pl_tls_config s = { .server = 1, .certs = certs, .ncerts = 1 };
	struct pl_tls_config c = { .insecure = 1 };
	struct pl_conn *old;
	char err[256];

	MUST(make_keys() == 0);
	certs[0] = pair(cert, key);
	MUST(tx_start(&s, &c) == 0);
	tx_connect();
	CHECK_STR(X.info.peer, "CN=localhost");
	MUST((old = X.conn) != NULL);
	MUST(rename(cert2, cert) == 0 && rename(key2, key) == 0);
	CHECK_EQ_INT(pl_tls_reload(X.stls, err, sizeof(err)), 0);
	X.stop_after = 2;
	CHECK_EQ_INT(pl_conn_send(old, "\5\0\0\0again", 9), 0);
	CHECK_EQ_INT(pl_loop_run(X.loop), 0);
	CHECK_EQ_INT(X.replies, 2);
	X.replies = 0;
	X.stop_after = 1;
	tx_connect();
	CHECK_STR(X.info.peer, "CN=other");
	tx_end();
}

/* After the handshake, a peer that goes away without close_notify */
static void test_tls_truncation_is_an_error(void)
{
	struct pl_tls_cert certs[1];
	struct pl_tls_config s = { .server = 1, .certs = certs, .ncerts = 1 };
	struct pl_tls_config c = { .insecure = 1 };
	struct pl_transport *tp;
	int fd, r;

	MUST(make_keys() == 0);
	certs[0] = pair(cert, key);
	MUST(tx_start(&s, &c) == 0);
	MUST((fd = net_dial(&X.at, 0)) >= 0);
	MUST(pl_sock_nonblock(fd, 1) == 0);
	MUST(pl_tls_transport_new(X.ctls, fd, "localhost", &tp) == 0);
	while ((r = pl_tls_handshake(tp, fd)) == -EAGAIN)
		spin(5);
	CHECK_EQ_INT(r, 0);
	shutdown(fd, SHUT_RDWR); /* the FIN, no close_notify */
	tp->ops->free(tp);
	close(fd);
	until_server_closed();
	CHECK_EQ_INT(X.srv_why, PL_CLOSE_TLS);
	CHECK_STR(X.srv_error, "peer closed without close_notify");
	tx_end();
}


/* ---- threads: one context for every loop of a group ---- */

/* Waits for what tp asks of fd, up to 2 s. */
static int wait_for(struct pl_transport *tp, int fd, unsigned want)
{
	unsigned ev = tp->ops->events(tp, want);
	struct pollfd p = { fd, (short)((ev & PL_READ ? POLLIN : 0) | (ev & PL_WRITE ? POLLOUT : 0)), 0 };

	return poll(&p, 1, 2000) > 0 ? 0 : -1;
}

/* One TLS request and its reply over a new connection; the peer's CN in cn. */
static int one_exchange(const struct pl_addr *at, struct pl_tls *t, char *cn, size_t cap)
{
	static const char req[] = "\5\0\0\0hello";
	struct pl_transport *tp;
	struct pl_tls_info info;
	char buf[64];
	size_t got = 0, sent = 0;
	int fd = net_dial(at, 0), r = -1;

	if (fd < 0 || pl_sock_nonblock(fd, 1) < 0 || pl_tls_transport_new(t, fd, "localhost", &tp) < 0)
		return -1;
	while ((r = pl_tls_handshake(tp, fd)) == -EAGAIN && wait_for(tp, fd, PL_READ) == 0)
		;
	while (r == 0 && sent < sizeof(req) - 1) {
		ssize_t n = tp->ops->write(tp, fd, req + sent, sizeof(req) - 1 - sent);
		if (n > 0)
			sent += (size_t)n;
		else if (n != -EAGAIN || wait_for(tp, fd, PL_WRITE) < 0)
			r = -1;
	}
	while (r == 0 && got < 9) {
		ssize_t n = tp->ops->read(tp, fd, buf + got, sizeof(buf) - got);
		if (n > 0)
			got += (size_t)n;
		else if (n != -EAGAIN || wait_for(tp, fd, PL_READ) < 0)
			r = -1;
	}
	if (r == 0 && pl_tls_info(tp, &info) == 0)
		snprintf(cn, cap, "%s", info.peer);
	tp->ops->free(tp);
	close(fd);
	return r == 0 && got == 9 && memcmp(buf, req, 9) == 0 ? 0 : -1;
}

struct thread_run {
	struct pl_group *g;
	struct pl_addr at;
	struct pl_tls *srv, *cl;
	int ok, before, after;
};

/* The clients' thread: exchanges, a reload in the middle (from this
 * thread, while the loops run), more exchanges, then the shutdown. */
static void *clients(void *arg)
{
	struct thread_run *t = arg;
	char cn[256], err[256];

	for (int i = 0; i < 20; i++)
		t->before += one_exchange(&t->at, t->cl, cn, sizeof(cn)) == 0 && strcmp(cn, "CN=localhost") == 0;
	if (rename(cert2, cert) == 0 && rename(key2, key) == 0 &&
	    pl_tls_reload(t->srv, err, sizeof(err)) == 0)
		for (int i = 0; i < 20; i++)
			t->after += one_exchange(&t->at, t->cl, cn, sizeof(cn)) == 0 && strcmp(cn, "CN=other") == 0;
	pl_group_shutdown(t->g);
	return NULL;
}

static void group_echo(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)arg;
	pl_conn_send(c, msg, len);
}

static void test_tls_threads_share_a_context(void)
{
	struct pl_tls_cert certs[1];
	struct pl_tls_config s = { .server = 1, .certs = certs, .ncerts = 1 };
	struct pl_tls_config c = { .insecure = 1 };
	struct pl_server_config cfg = { .on_request = group_echo };
	struct thread_run t = { 0 };
	struct pl_server_stats st;
	struct pl_addr a;
	pthread_t th;
	char err[256];

	net_bound(60);
	MUST(make_keys() == 0);
	certs[0] = pair(cert, key);
	MUST(pl_tls_new(&s, &t.srv, err, sizeof(err)) == 0);
	MUST(pl_tls_new(&c, &t.cl, err, sizeof(err)) == 0);
	MUST(pl_group_new(2, &cfg, &t.g) == 0);
	MUST(pl_addr_parse(&a, "127.0.0.1:0", 0, PL_ADDR_PASSIVE, NULL) == 0);
	MUST(pl_group_listen_tls(t.g, &a, NULL, t.srv, &t.at, NULL) == 0);
	MUST(pl_group_start(t.g) == 0);
	MUST(pthread_create(&th, NULL, clients, &t) == 0);
	CHECK_EQ_INT(pl_loop_run(pl_group_loop(t.g, 0)), 0);
	pthread_join(th, NULL);
	CHECK_EQ_INT(pl_group_finish(t.g, &st, NULL), 0);
	CHECK_EQ_INT(t.before, 20);
	CHECK_EQ_INT(t.after, 20);
	CHECK_EQ_INT(st.accepted, 40);
	CHECK_EQ_INT(st.closed[PL_CLOSE_TLS], 0); /* each client said close_notify */
	pl_tls_free(t.cl);
	pl_tls_free(t.srv);
	drop_keys();
}

static const struct unit_test tests[] = {
	T(test_tls_round_trip_and_info),
	T(test_tls_sni_picks_certificate),
	T(test_tls_verify_failures_say_why),
	T(test_tls_client_cert_required),
	T(test_tls_handshake_timeout),
	T(test_tls_pipelined_in_one_record),
	T(test_tls_config_errors),
	T(test_tls_reload_keeps_connections),
	T(test_tls_truncation_is_an_error),
	T(test_tls_threads_share_a_context),
};

#endif

UNIT_MAIN(tests)
