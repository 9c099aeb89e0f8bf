/* proxy - a TCP/Unix proxy: each client gets its own connection upstream.
 *   proxy LISTEN UPSTREAM      e.g. proxy 127.0.0.1:8000 unix:/run/app.sock
 * Bytes flow both ways with backpressure, a FIN half-closes the other side. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <parley/parley.h>

#define CAP (256 * 1024) /* bytes queued towards one side before the other pauses */

/* A client, its upstream and the connect in flight; NULL: none (yet / any more). */
struct pair { struct pl_conn *down, *up; struct pl_connecting *connecting; };

static struct pl_addr targets[16]; /* UPSTREAM, resolved once at start */
static size_t ntargets, nlisten;
static struct pl_client *upstreams;

static struct pl_conn *other(struct pair *p, struct pl_conn *c) { return c == p->down ? p->up : p->down; }
static struct pl_conn *partner(struct pl_conn *c) { return other(pl_conn_data(c), c); }

/* What one side sends goes to the other (if still there); while the other's
 * queue is over CAP, this side is not read (memory stays bounded). */
static void on_bytes(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	struct pl_conn *o = partner(c);

	(void)arg;
	if (o && pl_conn_send(o, msg, len) == 0 && pl_conn_unsent(o) > CAP)
		pl_conn_pause(c);
}

/* c's queue is down to CAP/2: the side that filled it may read again. */
static void on_drain(struct pl_conn *c, void *arg)
{
	(void)arg;
	if (partner(c))
		pl_conn_resume(partner(c));
}

static void on_eof(struct pl_conn *c, void *arg)
{
	(void)arg;
	if (partner(c)) /* c's peer sent its last byte: a FIN after those bytes */
		pl_conn_shutdown(partner(c));
}

/* c closed (finished or failed): the other side gets what is queued for it and
 * a FIN (a clean close), then reads (dropping) until its peer ends too. */
static void side_closed(struct pl_conn *c, enum pl_close_reason why, int err, void *arg)
{
	struct pair *p = pl_conn_data(c);
	struct pl_conn *o = other(p, c);

	(void)why, (void)err, (void)arg;
	*(c == p->down ? &p->down : &p->up) = NULL;
	if (o) {
		pl_conn_release(o); /* the stream is over: a graceful stop may close o */
		pl_conn_resume(o);
		pl_conn_shutdown(o); /* if that closes o at once, its side_closed frees p */
	} else if (!p->connecting) {
		free(p);
	}
}

static void on_connected(struct pl_conn *up, const struct pl_connect_report *r, void *arg)
{
	struct pair *p = arg;
	struct pl_conn *down = p->down;
	char text[PL_ADDR_TEXT_MAX];

	p->connecting = NULL;
	if (!up) { /* the client gets a clean close, as if upstream had closed */
		pl_addr_format(&targets[r->failed < r->n ? r->failed : 0], text, sizeof(text));
		fprintf(stderr, "proxy: connect to %s: %s\n", text, pl_addr_resolve_strerror(r->err));
		pl_conn_resume(down); /* (if that fails, down and p are closed and freed) */
		pl_conn_shutdown(down);
		return;
	}
	p->up = up;
	pl_conn_set_data(up, p);
	pl_conn_hold(down); /* a graceful stop waits for the stream to end */
	pl_conn_resume(down); /* what it sent meanwhile waited in the kernel */
}

static void on_event(const struct pl_server_event *ev, void *arg)
{
	struct pair *p = ev->conn ? pl_conn_data(ev->conn) : NULL;
	struct pl_connect_opts co = { .timeout_ms = 10000, .stagger_ms = PL_CONNECT_STAGGER_MS };

	(void)arg;
	if (ev->type == PL_EV_OPEN) {
		if ((p = calloc(1, sizeof(*p))))
			p->down = ev->conn;
		pl_conn_set_data(ev->conn, p);
		pl_conn_pause(ev->conn); /* nowhere to put its bytes yet */
		if (!p || pl_client_connect(upstreams, targets, ntargets, &co, on_connected, p, &p->connecting))
			pl_conn_close(ev->conn);
	} else if (ev->type == PL_EV_CLOSE && p) {
		if (p->connecting)
			pl_client_cancel(p->connecting); /* its callback never runs */
		p->connecting = NULL;
		side_closed(ev->conn, 0, 0, NULL);
	}
}

static void on_stop(struct pl_loop *loop, int signo, void *server)
{
	(void)loop, (void)signo;
	pl_server_shutdown(server); /* streams still open get the drain timeout */
}

int main(int argc, char **argv)
{
	struct pl_server_config sc = { .proto = PL_PROTO_RAW, .out_cap = CAP, .on_request = on_bytes,
				       .on_event = on_event, .on_eof = on_eof, .on_drain = on_drain };
	struct pl_conn_config uc = { .proto = PL_PROTO_RAW, .out_cap = CAP, .on_request = on_bytes,
				     .on_eof = on_eof, .on_drain = on_drain, .on_close = side_closed };
	struct pl_addr la, ua, bound;
	struct pl_loop *loop; struct pl_server *srv;
	char text[PL_ADDR_TEXT_MAX];
	int fd, r;

	if (argc != 3 || pl_addr_parse(&la, argv[1], 1234, PL_ADDR_PASSIVE, NULL) < 0 ||
	    pl_addr_parse(&ua, argv[2], 1234, 0, NULL) < 0) {
		fprintf(stderr, "usage: proxy LISTEN UPSTREAM   (addresses as parley-server takes them)\n");
		return 2;
	}
	/* names resolve once, here (getaddrinfo would stall the loop); LISTEN's first */
	if ((r = pl_addr_resolve(&ua, PL_FAMILY_ANY, targets, 16, &ntargets)) < 0 ||
	    (r = pl_addr_resolve(&la, PL_FAMILY_ANY, &bound, 1, &nlisten)) < 0 ||
	    (fd = pl_listen(&bound, &(struct pl_listen_opts){ .nonblock = 1 })) < 0) {
		fprintf(stderr, "proxy: %s: %s\n", argv[r < 0 && !ntargets ? 2 : 1],
			r < 0 ? pl_addr_resolve_strerror(r) : strerror(-fd));
		return 1;
	}
	if (pl_loop_new(&loop) < 0 || pl_server_new(loop, &sc, &srv) < 0 ||
	    pl_server_listen_fd(srv, fd) < 0 || pl_client_new(loop, &uc, &upstreams) < 0)
		return 1;
	pl_loop_signal(loop, SIGINT, on_stop, srv);
	pl_loop_signal(loop, SIGTERM, on_stop, srv);
	pl_addr_local(fd, &bound);
	pl_addr_format(&bound, text, sizeof(text));
	fprintf(stderr, "listening on %s\n", text);
	pl_loop_run(loop);
	pl_server_free(srv); /* first: each client's close shuts its upstream */
	pl_client_free(upstreams);
	pl_loop_free(loop);
	return 0;
}
