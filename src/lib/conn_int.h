/*
 * conn_int.h - what the connection data path (conn.c) shares with the
 * owners of connections: the server (accepting) and the client
 * (connecting).  Not installed.
 */
#ifndef PARLEY_CONN_INT_H
#define PARLEY_CONN_INT_H

#include <netinet/in.h>
#include "parley/buf.h"
#include "parley/conn.h"

struct conn_ctx;

/* What an owner does when its connections change. */
struct conn_owner {
	/* c is closing (already off the list and the loop): count and report */
	void (*closed)(struct conn_ctx *x, struct pl_conn *c, enum pl_close_reason why, int err,
		       uint64_t size);
	/* c's buffers' capacity went from was to now (either may be 0); may close c */
	void (*charge)(struct pl_conn *c, size_t was, size_t now);
};

/* The state every connection of one owner shares (one loop, one thread). */
struct conn_ctx {
	struct pl_loop *loop;
	struct pl_conn_config cfg;
	const struct conn_owner *owner;
	struct pl_conn *conns;       /* open connections */
	struct pl_conn *current;     /* whose requests are being handed out */
	struct pl_buf scratch;       /* current's replies, before they are written */
	uint8_t *rbuf;               /* the shared read buffer */
	uint64_t requests;
	unsigned open;
	int draining;                /* close each connection once it is quiet */
	struct pl_addr peer_text;    /* what pl_conn_peer returns */
	/* the size of the close being reported (pl_conn_close_size): kept here,
	 * not per connection, where 8 bytes would cost every idle client 16 */
	uint64_t close_size;
};

struct pl_conn {
	struct pl_io io;
	struct conn_ctx *x;
	union {
		struct {
			struct pl_conn *prev, *next; /* x->conns, while open */
		};
		struct pl_closing dead;      /* once closing: the loop's list */
	};
	struct pl_buf in, out;
	struct pl_timer timer;       /* idle, send and request timeouts */
	long long last_active;       /* last byte read or written */
	long long last_sent;         /* last write progress, or when output began to wait */
	long long msg_start;         /* when the partial request in `in` began to wait */
	size_t mem;                  /* capacity of in and out, as last charged */
	void *data;                  /* the application's */
	struct pl_transport *tp;     /* NULL: the plain socket */
	uint32_t scanned;            /* leading bytes of `in` searched for a line end */
	unsigned eof : 1, told : 1, closing : 1, paused : 1, shut : 1, shut_done : 1, over : 1;
	unsigned held : 24;          /* pl_conn_hold's count: replies the application owes */
	/* dgram: a peer of a datagram socket (dgram.c serves it); packet: a
	 * SEQPACKET connection, framed as len by its transport (packet.c) */
	unsigned dgram : 1, packet : 1;
	struct sockaddr_in6 peer;    /* AF_INET, AF_INET6 or AF_UNIX (unnamed) */
};

/* Sets up x (cfg defaults filled in).  0 or -ENOMEM. */
int conn_ctx_init(struct conn_ctx *x, struct pl_loop *loop, const struct pl_conn_config *cfg,
		  const struct conn_owner *owner);
/* Closes every connection (PL_CLOSE_SHUTDOWN) and frees x's buffers. */
void conn_ctx_free(struct conn_ctx *x);

/* A connection on fd (non-blocking, connected), open and reading; peer may
 * be NULL (looked up with getpeername).  NULL when out of memory or the
 * loop refused it: fd is then left open for the caller. */
struct pl_conn *conn_open(struct conn_ctx *x, int fd, const struct sockaddr *peer, socklen_t len);
/* Closes c for a reason, through the owner's closed(). */
void conn_close(struct pl_conn *c, enum pl_close_reason why, int err, uint64_t size);
/* A SEQPACKET connection's transport: each packet in is a len frame, each
 * len frame out a packet, so the packet is the message.  Stateless, one
 * for all.  conn_dgram_transport: the same for a connected datagram
 * socket, where an empty datagram is an empty message. */
extern const struct pl_transport conn_packet_transport;
extern const struct pl_transport conn_dgram_transport;
/* c's socket is of type (SOCK_SEQPACKET or SOCK_DGRAM, connected): its
 * packets are its messages.  Before any byte moved; other types: nothing. */
void conn_use_packets(struct pl_conn *c, int type);

/* No request pending and no reply unsent, in our buffers or the kernel's. */
int conn_quiet(const struct pl_conn *c);
/* An owner's callback on c as a batch, as on_request is: what it sends on
 * c leaves in one write at the end (a client's connect callback). */
void conn_batch_begin(struct pl_conn *c);
void conn_batch_end(struct pl_conn *c);

#endif
