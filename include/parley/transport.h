/*
 * transport.h - the seam between a connection and its bytes on the wire.
 *
 * A connection (conn.h) reads and writes through a transport: by default
 * the plain socket, in which case no table is consulted at all (the fast
 * path is a recv or send).  Another transport (TLS, or a test's) is a
 * struct pl_transport, usually embedded first in the transport's own
 * state, whose ops the connection calls instead.  Framing, dispatch,
 * backpressure and timeouts sit above the seam and never see the
 * difference; the transport never sees messages, only bytes.
 *
 * Every op runs on the connection's loop thread.  Ops return counts or
 * -errno like the system calls they replace, with -EAGAIN for "not now":
 * the connection then waits for the socket events that events() asks for.
 * -EPROTO means the transport's own protocol failed (a TLS alert, a bad
 * certificate): the connection closes with PL_CLOSE_TLS, not RESET.
 */
#ifndef PARLEY_TRANSPORT_H
#define PARLEY_TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>

struct pl_transport;

struct pl_transport_ops {
	const char *name;
	/* Up to n bytes into buf: > 0, 0 at the peer's clean end of stream, or -errno. */
	ssize_t (*read)(struct pl_transport *t, int fd, void *buf, size_t n);
	/* Some of buf[0..n): > 0, or -errno.  After -EAGAIN the same bytes are
	 * offered again (what TLS needs of a retried write). */
	ssize_t (*write)(struct pl_transport *t, int fd, const void *buf, size_t n);
	/* All output is written: end this direction (a FIN, a close_notify).  0 or -errno. */
	int (*shutdown)(struct pl_transport *t, int fd);
	/* Bytes already taken off the socket and not yet returned by read, which
	 * no socket event will announce (TLS records).  May be NULL: none. */
	size_t (*pending)(const struct pl_transport *t);
	/* The socket events (PL_READ|PL_WRITE) to wait for, given what the
	 * connection wants; a handshake may need the other one.  May be NULL:
	 * the same. */
	unsigned (*events)(const struct pl_transport *t, unsigned want);
	/* The loop time (pl_loop_now's clock, ms) by which t must have got
	 * somewhere, a handshake say, or -1 for none: past it the connection
	 * closes with -ETIMEDOUT.  May be NULL: none. */
	long long (*deadline)(const struct pl_transport *t);
	/* Frees t, when the connection closes (after its close callback, so
	 * that can still ask t why it failed) and before it closes the fd
	 * itself: a last word (a close_notify) may still be written. */
	void (*free)(struct pl_transport *t);
};

struct pl_transport {
	const struct pl_transport_ops *ops;
};

#endif
