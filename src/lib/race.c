/*
 * race.c - connecting: Happy Eyeballs (RFC 8305) as non-blocking sockets
 * on the loop, and the blocking pl_connect as that race on a loop of its
 * own, so there is one implementation of the race.
 */
#include "parley/client.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct attempt {
	struct pl_io io;
	struct pl_timer timer;  /* this attempt's timeout */
	struct pl_race *race;
	size_t idx;
};

struct pl_race {
	struct pl_loop *loop;
	struct pl_connect_opts o;
	struct pl_addr source;
	struct pl_connect_attempt *res; /* n */
	struct attempt *at;             /* n: fixed, epoll holds their addresses */
	size_t n, next, live;
	size_t failed;
	int err;
	struct pl_timer stagger;        /* starts the next address */
	pl_race_cb cb;
	void *arg;
	struct pl_closing dead;
};

static void report(struct pl_race *r, size_t i, int result, int bind_failed)
{
	r->res[i].result = result;
	r->res[i].bind_failed = bind_failed;
	if (r->o.bind_failed && result != -EINPROGRESS && result != -ECANCELED)
		*r->o.bind_failed = bind_failed;
	if (r->o.on_attempt)
		r->o.on_attempt(&r->res[i].addr, result, r->o.arg);
}

/*
 * Whether a connect in progress has in fact finished: over loopback the
 * handshake is done by the time connect returns, and one poll then saves
 * registering the socket, a turn of the loop and unregistering it (what
 * bounds a client opening thousands of connections a second).  0 with
 * *done set when connected, 0 while in progress, or -errno (refused).
 */
static int settled(int fd, int *done)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int err = 0;
	socklen_t len = sizeof(err);

	if (poll(&p, 1, 0) <= 0)
		return 0; /* in progress (or poll failed): the loop waits for it */
	/* writable without an error is connected: no SO_ERROR to read */
	if (!(p.revents & (POLLERR | POLLHUP))) {
		*done = (p.revents & POLLOUT) != 0;
		return 0;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	return err ? -err : 0; /* a hangup without an error: the loop decides */
}

/*
 * Starts a non-blocking connect to t.  Returns the fd with *done set when it
 * connected at once (Unix sockets, loopback TCP), the fd with *done clear while in
 * progress, or -errno (*bind_failed set when binding the source failed).
 */
static int start_one(const struct pl_addr *t, const struct pl_addr *source, int *done,
		     int *bind_failed)
{
	struct sockaddr_storage ss, src;
	socklen_t len, slen;
	int fd, r, one = 1;

	*done = *bind_failed = 0;
	if ((r = pl_addr_to_sockaddr(t, &ss, &len)) < 0)
		return r;
	fd = socket(ss.ss_family, pl_addr_sock_type(t) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* an unbound Unix datagram socket sends from no address, so nothing
	 * can answer it: the kernel's autobind (the family alone) gives it an
	 * abstract name that goes away with the socket */
	if (!source && ss.ss_family == AF_UNIX && t->sock == PL_SOCK_DGRAM &&
	    bind(fd, (struct sockaddr *)&ss, sizeof(sa_family_t)) < 0) {
		r = -errno;
		*bind_failed = 1;
		close(fd);
		return r;
	}
	if (source) {
		if (source->port)
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if ((r = pl_addr_to_sockaddr(source, &src, &slen)) < 0 ||
		    (bind(fd, (struct sockaddr *)&src, slen) < 0 && (r = -errno))) {
			*bind_failed = 1;
			close(fd);
			return r;
		}
	}
	if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
		*done = 1;
		return fd;
	}
	/* EAGAIN: a Unix listener's backlog is full; there is nothing to wait on */
	if (errno != EINPROGRESS && errno != EINTR) {
		r = -errno;
		close(fd);
		return r;
	}
	if ((r = settled(fd, done)) < 0) {
		close(fd);
		return r;
	}
	return fd;
}

static void free_race(struct pl_closing *h)
{
	struct pl_race *r = (struct pl_race *)((char *)h - offsetof(struct pl_race, dead));

	free(r->res);
	free(r->at);
	free(r);
}

/* Closes every live attempt but keep (n: all), each with result. */
static void stop_all(struct pl_race *r, size_t keep, int result)
{
	for (size_t i = 0; i < r->n; i++) {
		struct attempt *a = &r->at[i];
		if (a->io.fd < 0 || i == keep)
			continue;
		pl_timer_stop(r->loop, &a->timer);
		pl_io_close(r->loop, &a->io);
		if (result)
			report(r, i, result, 0);
	}
	r->live = 0;
	pl_timer_stop(r->loop, &r->stagger);
}

/* The race is over: fd won, or every address failed (fd = -errno). */
static void finish(struct pl_race *r, int fd, size_t winner)
{
	struct pl_connect_report rep = { r->res, r->n, winner, r->failed, r->err };

	if (fd >= 0) {
		rep.err = 0;
		if (pl_addr_sa_family(&r->res[winner].addr) != AF_UNIX &&
		    r->res[winner].addr.sock == PL_SOCK_STREAM)
			pl_sock_nodelay(fd);
		if (!r->o.nonblock && (rep.err = pl_sock_nonblock(fd, 0)) < 0) {
			close(fd);
			fd = rep.err;
		}
	}
	stop_all(r, r->n, -ECANCELED);
	r->cb(fd, &rep, r->arg);
	pl_loop_close(r->loop, &r->dead, free_race);
}

static void failed(struct pl_race *r, size_t i, int err, int bind_failed)
{
	report(r, i, err, bind_failed);
	r->err = err;
	r->failed = i;
}

static void on_stagger(struct pl_loop *loop, struct pl_timer *t);

/* Starts the next address that can be tried; ends the race when none is
 * left and nothing is in flight. */
static void start_next(struct pl_race *r)
{
	while (r->next < r->n) {
		size_t i = r->next++;
		struct attempt *a = &r->at[i];
		const struct pl_addr *src = r->o.source ? &r->source : NULL;
		int done, bind_failed, fd;
		if (src && pl_addr_sa_family(src) != pl_addr_sa_family(&r->res[i].addr)) {
			r->res[i].result = -EAFNOSUPPORT; /* an IPv4 source cannot reach IPv6 */
			continue;
		}
		report(r, i, -EINPROGRESS, 0);
		fd = start_one(&r->res[i].addr, src, &done, &bind_failed);
		if (fd < 0) {
			failed(r, i, fd, bind_failed);
			continue;
		}
		if (done) {
			report(r, i, 0, 0);
			finish(r, fd, i);
			return;
		}
		pl_io_init(&a->io, fd, a->io.cb, a);
		if ((fd = pl_io_start(r->loop, &a->io, PL_WRITE)) < 0 ||
		    (r->o.timeout_ms > 0 && (fd = pl_timer_start(r->loop, &a->timer, r->o.timeout_ms)) < 0)) {
			pl_io_close(r->loop, &a->io);
			failed(r, i, fd, 0);
			continue;
		}
		r->live++;
		if (r->o.stagger_ms > 0 && r->next < r->n &&
		    pl_timer_start(r->loop, &r->stagger, r->o.stagger_ms) < 0)
			r->o.stagger_ms = 0; /* no timer: one at a time, still correct */
		return;
	}
	if (!r->live)
		finish(r, r->err, r->n);
}

/* Attempt i is over without a connection. */
static void attempt_lost(struct pl_race *r, struct attempt *a, int err)
{
	pl_timer_stop(r->loop, &a->timer);
	pl_io_close(r->loop, &a->io);
	r->live--;
	failed(r, a->idx, err, 0);
	/* a failure starts the next address at once */
	pl_timer_stop(r->loop, &r->stagger);
	start_next(r);
}

static void on_attempt_io(struct pl_loop *loop, struct pl_io *io, unsigned events)
{
	struct attempt *a = io->data;
	struct pl_race *r = a->race;
	int err = 0, fd = io->fd;
	socklen_t len = sizeof(err);

	(void)loop;
	(void)events;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		attempt_lost(r, a, -err);
		return;
	}
	pl_timer_stop(r->loop, &a->timer);
	pl_io_stop(r->loop, io);
	io->fd = -1; /* handed to the winner's owner */
	report(r, a->idx, 0, 0);
	finish(r, fd, a->idx);
}

static void on_attempt_timeout(struct pl_loop *loop, struct pl_timer *t)
{
	struct attempt *a = t->data;

	(void)loop;
	attempt_lost(a->race, a, -ETIMEDOUT);
}

static void on_stagger(struct pl_loop *loop, struct pl_timer *t)
{
	(void)loop;
	start_next(t->data);
}

int pl_connect_start(struct pl_loop *loop, const struct pl_addr *addrs, size_t n,
		     const struct pl_connect_opts *o, pl_race_cb cb, void *arg,
		     struct pl_race **out)
{
	struct pl_race *r;

	if (!n)
		return -EINVAL;
	if (!(r = calloc(1, sizeof(*r))) || !(r->res = calloc(n, sizeof(*r->res))) ||
	    !(r->at = calloc(n, sizeof(*r->at)))) {
		if (r)
			free(r->res);
		free(r);
		return -ENOMEM;
	}
	r->loop = loop;
	if (o)
		r->o = *o;
	if (o && o->source)
		r->source = *o->source;
	r->n = n;
	r->failed = n;
	r->err = -EAFNOSUPPORT;
	r->cb = cb;
	r->arg = arg;
	for (size_t i = 0; i < n; i++) {
		r->res[i] = (struct pl_connect_attempt){ addrs[i], 1, 0 };
		r->at[i].race = r;
		r->at[i].idx = i;
		pl_io_init(&r->at[i].io, -1, on_attempt_io, &r->at[i]);
		pl_timer_init(&r->at[i].timer, on_attempt_timeout, &r->at[i]);
	}
	/* the first start comes from the loop too: the callback never runs
	 * inside this call, even when a Unix connect completes at once */
	pl_timer_init(&r->stagger, on_stagger, r);
	if (pl_timer_start(loop, &r->stagger, 0) < 0) {
		free_race(&r->dead);
		return -ENOMEM;
	}
	if (o && o->bind_failed)
		*o->bind_failed = 0;
	if (out)
		*out = r;
	return 0;
}

void pl_connect_cancel(struct pl_race *r)
{
	stop_all(r, r->n, -ECANCELED);
	pl_loop_close(r->loop, &r->dead, free_race);
}

/* ---- the blocking pl_connect: the same race on a private loop ---- */

struct outcome {
	int fd;
	size_t failed;
};

static void on_done(int fd, const struct pl_connect_report *rep, void *arg)
{
	struct outcome *out = arg;

	out->fd = fd;
	out->failed = rep->failed;
}

int pl_connect(const struct pl_addr *addrs, size_t n, const struct pl_connect_opts *o,
	       size_t *failed)
{
	struct outcome out = { -EAFNOSUPPORT, n };
	struct pl_loop *loop;
	int r;

	if (o && o->bind_failed)
		*o->bind_failed = 0;
	if (!n) {
		if (failed)
			*failed = 0;
		return -EAFNOSUPPORT;
	}
	if ((r = pl_loop_new(&loop)) < 0)
		return r;
	if ((r = pl_connect_start(loop, addrs, n, o, on_done, &out, NULL)) == 0)
		r = pl_loop_run(loop);
	pl_loop_free(loop);
	if (r < 0)
		return r;
	if (failed)
		*failed = out.failed;
	return out.fd;
}
