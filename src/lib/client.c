/* client.c - the connecting side: a race's winner becomes a pl_conn. */
#include "conn_int.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "parley/client.h"

struct pl_connecting {
	struct pl_client *cl;
	struct pl_race *race;
	struct pl_connecting *prev, *next;
	pl_connect_cb cb;
	void *arg;
};

struct pl_client {
	struct conn_ctx x;           /* first: the connections' owner */
	struct pl_connecting *pending;
};

static void closed(struct conn_ctx *x, struct pl_conn *c, enum pl_close_reason why, int err,
		   uint64_t size)
{
	(void)size;
	if (x->cfg.on_close)
		x->cfg.on_close(c, why, err, x->cfg.arg);
}

static const struct conn_owner client_owner = { closed, NULL };

int pl_client_new(struct pl_loop *loop, const struct pl_conn_config *cfg, struct pl_client **out)
{
	struct pl_client *cl = calloc(1, sizeof(*cl));
	int r;

	if (!cl)
		return -ENOMEM;
	if ((r = conn_ctx_init(&cl->x, loop, cfg, &client_owner)) < 0) {
		free(cl);
		return r;
	}
	*out = cl;
	return 0;
}

static void unlink_pending(struct pl_connecting *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		p->cl->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
}

static void on_race(int fd, const struct pl_connect_report *r, void *arg)
{
	struct pl_connecting *p = arg;
	struct pl_client *cl = p->cl;
	struct pl_conn *c = NULL;
	struct sockaddr_storage peer;
	socklen_t len = 0;

	unlink_pending(p);
	/* the winner's address is the peer: no getpeername per connection */
	if (fd >= 0 && pl_addr_to_sockaddr(&r->attempts[r->winner].addr, &peer, &len) < 0)
		len = 0;
	if (fd >= 0 && !(c = conn_open(&cl->x, fd, len ? (struct sockaddr *)&peer : NULL, len))) {
		struct pl_connect_report fail = *r;
		close(fd);
		fail.err = -ENOMEM;
		fail.winner = r->n;
		p->cb(NULL, &fail, p->arg);
	} else {
		/* a udp: connection: each datagram is a message (Unix datagram
		 * and packet sockets conn_open tells by itself) */
		if (c)
			conn_use_packets(c, pl_addr_sock_type(&r->attempts[r->winner].addr));
		/* requests sent from the callback leave in one write after it,
		 * not one each (the sends are outside any other batch) */
		if (c)
			conn_batch_begin(c);
		p->cb(c, r, p->arg);
		if (c)
			conn_batch_end(c);
	}
	free(p);
}

int pl_client_connect(struct pl_client *cl, const struct pl_addr *addrs, size_t n,
		      const struct pl_connect_opts *o, pl_connect_cb cb, void *arg,
		      struct pl_connecting **out)
{
	struct pl_connect_opts dflt = { .stagger_ms = PL_CONNECT_STAGGER_MS };
	struct pl_connect_opts opts = o ? *o : dflt;
	struct pl_connecting *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	opts.nonblock = 1; /* the loop's connection */
	p->cl = cl;
	p->cb = cb;
	p->arg = arg;
	if ((r = pl_connect_start(cl->x.loop, addrs, n, &opts, on_race, p, &p->race)) < 0) {
		free(p);
		return r;
	}
	p->next = cl->pending;
	if (cl->pending)
		cl->pending->prev = p;
	cl->pending = p;
	if (out)
		*out = p;
	return 0;
}

void pl_client_cancel(struct pl_connecting *p)
{
	pl_connect_cancel(p->race);
	unlink_pending(p);
	free(p);
}

unsigned pl_client_open(const struct pl_client *cl) { return cl->x.open; }

void pl_client_free(struct pl_client *cl)
{
	if (!cl)
		return;
	for (struct pl_connecting *p = cl->pending, *next; p; p = next) {
		next = p->next;
		pl_connect_cancel(p->race);
		free(p);
	}
	cl->pending = NULL;
	conn_ctx_free(&cl->x);
	free(cl);
}
