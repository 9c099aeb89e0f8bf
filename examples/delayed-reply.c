/* delayed-reply - answers each message with itself, 50 ms later, from a timer.
 *   delayed-reply [ADDRESS]    (default 127.0.0.1:7000; prints the bound address)
 * Pipelined requests are answered in order; a client that half-closes after
 * its last request still gets every reply, then the server's FIN. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <parley/parley.h>

#define DELAY_MS 50
#define MAX_PENDING 1024 /* replies owed to one client before it stops being read */
#define MAX_BYTES (1 << 20) /* ... or bytes of them (one message may pass it) */

struct pending {
	struct pending *next;
	long long due;
	size_t len;
	uint8_t msg[];
};

struct client {
	struct pl_timer timer; /* fires for the oldest pending reply */
	struct pl_conn *conn;
	struct pending *head, **tail;
	unsigned n;
	size_t bytes;          /* of the pending replies */
	int eof;               /* the client sent its last request */
};

static int full(const struct client *cl) { return cl->n >= MAX_PENDING || cl->bytes >= MAX_BYTES; }

static void on_timer(struct pl_loop *loop, struct pl_timer *t)
{
	struct client *cl = t->data;
	struct pending *p;
	int was_full = full(cl), r;

	/* same delay for all: due times come in arrival order, so replies do too */
	while ((p = cl->head) && p->due <= pl_loop_now(loop)) {
		if (!(cl->head = p->next))
			cl->tail = &cl->head;
		cl->bytes -= p->len; /* first: a failed send frees cl */
		r = pl_conn_send(cl->conn, p->msg, p->len);
		free(p);
		if (r < 0)
			return; /* closing: its close event has freed cl */
		if (--cl->n == 0)
			pl_conn_release(cl->conn); /* a graceful stop may close it now */
	}
	if (cl->head)
		pl_timer_start(loop, t, cl->head->due - pl_loop_now(loop));
	else if (cl->eof)
		pl_conn_shutdown(cl->conn); /* all answered: FIN once they have left */
	if (was_full && !full(cl) && !cl->eof)
		pl_conn_resume(cl->conn); /* last: failing, it closes c and frees cl */
}

static void on_request(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	struct client *cl = pl_conn_data(c);
	struct pl_loop *loop = pl_conn_loop(c);
	struct pending *p = malloc(sizeof(*p) + len);

	(void)arg;
	if (!p) {
		pl_conn_close(c);
		return;
	}
	*p = (struct pending){ NULL, pl_loop_now(loop) + DELAY_MS, len };
	memcpy(p->msg, msg, len);
	*cl->tail = p;
	cl->tail = &p->next;
	if (cl->n == 0)
		pl_conn_hold(c); /* a graceful stop waits for what we owe */
	cl->n++;
	cl->bytes += len;
	if (full(cl))
		pl_conn_pause(c); /* memory per client stays bounded */
	if (!pl_timer_active(&cl->timer))
		pl_timer_start(loop, &cl->timer, DELAY_MS);
}

/* The client is done sending: keep the connection until the replies are out. */
static void on_eof(struct pl_conn *c, void *arg)
{
	struct client *cl = pl_conn_data(c);

	(void)arg;
	cl->eof = 1;
	if (!cl->head)
		pl_conn_shutdown(c);
}

static void on_event(const struct pl_server_event *ev, void *arg)
{
	struct client *cl = ev->conn ? pl_conn_data(ev->conn) : NULL;

	(void)arg;
	if (ev->type == PL_EV_OPEN) {
		if (!(cl = calloc(1, sizeof(*cl)))) {
			pl_conn_close(ev->conn);
			return;
		}
		pl_timer_init(&cl->timer, on_timer, cl);
		cl->conn = ev->conn;
		cl->tail = &cl->head;
		pl_conn_set_data(ev->conn, cl);
	} else if (ev->type == PL_EV_CLOSE && cl) {
		/* gone (early or not): its timer must never fire on freed memory */
		pl_timer_stop(pl_conn_loop(ev->conn), &cl->timer);
		for (struct pending *p = cl->head, *next; p; p = next) {
			next = p->next;
			free(p);
		}
		free(cl);
	}
}

static void on_stop(struct pl_loop *loop, int signo, void *server)
{
	(void)loop, (void)signo;
	/* the drain sees the library's buffers only: replies still owed here are lost */
	pl_server_shutdown(server);
}

int main(int argc, char **argv)
{
	struct pl_server_config cfg = { .proto = PL_PROTO_LEN, .on_request = on_request,
					.on_event = on_event, .on_eof = on_eof };
	struct pl_listen_opts lo = { .nonblock = 1 };
	struct pl_addr addr, bound;
	struct pl_loop *loop;
	struct pl_server *srv;
	const char *why;
	char text[PL_ADDR_TEXT_MAX];
	int fd;

	signal(SIGPIPE, SIG_IGN);
	if (argc > 2 || pl_addr_parse(&addr, argc > 1 ? argv[1] : "127.0.0.1:7000", 7000,
				      PL_ADDR_PASSIVE, &why) < 0) {
		fprintf(stderr, "usage: delayed-reply [ADDRESS]\n");
		return 2;
	}
	/* a host name listens on its first address, as parley-server's does */
	if ((fd = pl_addr_resolve(&addr, PL_FAMILY_ANY, &bound, 1, &(size_t){ 0 })) < 0) {
		fprintf(stderr, "delayed-reply: %s: %s\n", argv[1], pl_addr_resolve_strerror(fd));
		return 1;
	}
	if ((fd = pl_listen(&bound, &lo)) < 0) {
		pl_addr_format(&bound, text, sizeof(text));
		fprintf(stderr, "delayed-reply: listen on %s: %s\n", text, strerror(-fd));
		return 1;
	}
	if (pl_loop_new(&loop) < 0 || pl_server_new(loop, &cfg, &srv) < 0 ||
	    pl_server_listen_fd(srv, fd) < 0)
		return 1;
	pl_loop_signal(loop, SIGINT, on_stop, srv);
	pl_loop_signal(loop, SIGTERM, on_stop, srv);
	pl_addr_local(fd, &bound);
	pl_addr_format(&bound, text, sizeof(text));
	fprintf(stderr, "listening on %s\n", text);
	pl_loop_run(loop);
	pl_server_free(srv);
	pl_loop_free(loop);
	return 0;
}
