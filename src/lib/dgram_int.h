/*
 * dgram_int.h - what the datagram endpoint (dgram.c) shares with the
 * connection layer (conn.c: a peer is a pl_conn flagged dgram) and with
 * its owner, the server (server.c).  Not installed.
 */
#ifndef PARLEY_DGRAM_INT_H
#define PARLEY_DGRAM_INT_H

#include "conn_int.h"
#include "parley/dgram.h"

struct pl_dgram;

/* What the owner of an endpoint does when its peers change. */
struct dgram_owner {
	/* a new peer may take a slot under max_conns: 1 (taken), or 0 */
	int (*admit)(void *arg);
	/* c is a new peer, open */
	void (*opened)(void *arg, struct pl_conn *c);
	/* c is closing (already off the endpoint); its slot is given back */
	void (*closed)(void *arg, struct pl_conn *c, enum pl_close_reason why, int err);
	/* draining, and the endpoint has no peer and no reply left: it closed
	 * its socket.  The owner may be freed in here: nothing of it is
	 * touched after this call. */
	void (*quiet)(void *arg);
	/* may a sender at sa have a peer at all (access rules)?  0: its
	 * datagram is dropped; the owner counts it.  NULL: everyone may. */
	int (*allowed)(void *arg, const struct sockaddr *sa, socklen_t len);
};

/*
 * Serves datagram socket fd on x's loop, with x's config (on_request,
 * max_msg, idle timeout, out_cap) and x's request counter.  owned: a Unix
 * socket file to remove on close.  0 or -errno (fd stays the caller's).
 */
int dgram_open(struct conn_ctx *x, int fd, int owned, const struct dgram_owner *o, void *arg,
	       struct pl_dgram **out);
/* Drain: serves what was received, stops reading, closes peers not held. */
void dgram_shutdown(struct pl_dgram *d);
/* No peer and no reply left (during a drain, the socket is closed then). */
int dgram_quiet(const struct pl_dgram *d);
/* Closes every peer (PL_CLOSE_SHUTDOWN) and drops queued replies. */
void dgram_close_peers(struct pl_dgram *d);
/* Closes peers and socket; the struct is freed after the loop's iteration. */
void dgram_free(struct pl_dgram *d);
/* The socket (-1 once closed) and the drops counted so far. */
int dgram_fd(const struct pl_dgram *d);
const uint64_t *dgram_dropped(const struct pl_dgram *d);

/* conn.c's calls on a peer (c->dgram). */
int dgram_send(struct pl_conn *c, const void *msg, size_t len);
void dgram_close(struct pl_conn *c, enum pl_close_reason why, int err);
const struct pl_addr *dgram_peer(const struct pl_conn *c);

#endif
