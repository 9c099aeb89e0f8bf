/*
 * client.h - outbound connections, made inside the event loop.
 *
 * Two levels.  pl_connect_start races a list of addresses as non-blocking
 * sockets on the loop (RFC 8305, Happy Eyeballs: the next address starts
 * when the one before fails or stagger_ms passes without an answer; the
 * first to connect wins and the others are closed) and hands over the
 * connected fd.  pl_client_connect does the same and wraps the winner in
 * a struct pl_conn (conn.h), the same object a server accepts, so framing,
 * sending, timeouts and closing work as they do there.
 *
 * Names are resolved beforehand with pl_addr_resolve (addr.h), which
 * blocks in getaddrinfo: resolve before entering the loop, or accept the
 * stall (a resolver thread is not worth its weight for a load generator
 * and a proxy with fixed upstreams).
 *
 * Everything here runs on the loop's thread; results always arrive as a
 * callback from the loop, never from inside the call that started them.
 */
#ifndef PARLEY_CLIENT_H
#define PARLEY_CLIENT_H

#include <stddef.h>
#include "parley/addr.h"
#include "parley/conn.h"
#include "parley/loop.h"
#include "parley/sock.h"

/* What happened to one address of a race. */
struct pl_connect_attempt {
	struct pl_addr addr;
	/*
	 * 0: connected (the winner); -ECANCELED: another address won first;
	 * -EAFNOSUPPORT: skipped, not the source address's family; 1: never
	 * started (the race ended first); any other -errno: failed
	 * (-ETIMEDOUT after timeout_ms).
	 */
	int result;
	int bind_failed; /* 1: the failure was binding the source address */
};

/* The race's outcome, valid during the callback only. */
struct pl_connect_report {
	const struct pl_connect_attempt *attempts; /* one per address, in the given order */
	size_t n;
	size_t winner;  /* index of the winner, or n */
	size_t failed;  /* index of the last failure, or n when none could be tried */
	int err;        /* 0 on success, else the last failure's -errno (-EAFNOSUPPORT: none tried) */
};

struct pl_race;

/* fd: the connected socket (the callee owns it), or -errno on failure. */
typedef void (*pl_race_cb)(int fd, const struct pl_connect_report *r, void *arg);

/*
 * Starts racing addrs[0..n) (copied) with the options of struct
 * pl_connect_opts (sock.h; copied, source included, but o->bind_failed
 * is written until cb runs, so it must live that long): per-attempt
 * timeout, stagger, source address, on_attempt reports, nonblock for the
 * winner.  cb runs once, from the
 * loop.  *out (may be NULL) is for pl_connect_cancel until then.  0, or
 * -ENOMEM / -EINVAL (n == 0) with cb never called.
 */
int pl_connect_start(struct pl_loop *loop, const struct pl_addr *addrs, size_t n,
		     const struct pl_connect_opts *o, pl_race_cb cb, void *arg,
		     struct pl_race **out);
/* Stops a race whose callback has not run yet; the callback never runs. */
void pl_connect_cancel(struct pl_race *r);

struct pl_client;
struct pl_connecting;

/* c: the open connection, or NULL when every address failed (r says why). */
typedef void (*pl_connect_cb)(struct pl_conn *c, const struct pl_connect_report *r, void *arg);

/*
 * A client: the connections it makes share cfg (protocol, limits,
 * callbacks; on_close reports each close) and one read buffer.  0,
 * -EINVAL without cfg->on_request, or -ENOMEM.
 */
int pl_client_new(struct pl_loop *loop, const struct pl_conn_config *cfg, struct pl_client **out);
/* Cancels connects in progress and closes every connection (on_close runs,
 * PL_CLOSE_SHUTDOWN); the loop frees them after its iteration.  Callable
 * from any of the client's callbacks, on_close and on_request included. */
void pl_client_free(struct pl_client *cl);

/*
 * Connects to one of addrs[0..n) as pl_connect_start does (o may be NULL:
 * no timeout, RFC 8305's stagger; o->nonblock is ignored, the connection
 * is always non-blocking), then opens a connection on the winner and calls
 * cb with it; from then on it is an ordinary pl_conn, whose callbacks get
 * the client's cfg->arg.  *out (may be NULL) is for pl_client_cancel until
 * cb runs.  0 or -errno (-EINVAL for n == 0, -ENOMEM), with cb never called.
 */
int pl_client_connect(struct pl_client *cl, const struct pl_addr *addrs, size_t n,
		      const struct pl_connect_opts *o, pl_connect_cb cb, void *arg,
		      struct pl_connecting **out);
/* Stops a connect whose callback has not run yet; the callback never runs. */
void pl_client_cancel(struct pl_connecting *p);
/* Connections open now. */
unsigned pl_client_open(const struct pl_client *cl);

#endif
