/*
 * server_int.h - the server's state, shared by its accepting side
 * (server.c) and its memory budget (budget.c).  Not installed.
 */
#ifndef PARLEY_SERVER_INT_H
#define PARLEY_SERVER_INT_H

#include "conn_int.h"
#include "dgram_int.h"
#include "parley/server.h"

struct listener {
	struct pl_io io;
	struct pl_server *srv;
	unsigned long ino; /* of its Unix socket file, removed on close */
	struct pl_tls *tls; /* its clients speak TLS, or NULL */
};

struct pl_server {
	struct conn_ctx x;           /* first: the connections' owner */
	struct pl_server_config cfg;
	struct pl_server_stats stats;
	struct listener *ls;
	size_t nls;
	int spare_fd;                /* given up to shed clients when fds run out */
	int accept_failing;
	int drained;                 /* PL_EV_DRAINED was emitted (once) */
	struct pl_timer accept_timer, drain_timer;
	struct pl_server_shared own, *sh; /* sh: own, or the config's */
	int slot;                    /* in sh->server[], or -1: the budget is ours alone */
	struct pl_io wake;           /* another server asks us to shed our biggest client */
	struct pl_dgram **dgrams;    /* datagram sockets (dgram.c), ndgrams of them */
	size_t ndgrams;
};

/* Joins the shared budget when there is one to join.  0 or -errno. */
int budget_join(struct pl_server *s);
void budget_leave(struct pl_server *s);
/* The owner hook: c's buffers went from was to now bytes. */
void budget_charge(struct pl_conn *c, size_t was, size_t now);
/* c is gone: a server with no client left publishes nothing to evict. */
void budget_closed(struct pl_server *s);

#endif
