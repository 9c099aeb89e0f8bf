/*
 * conn.h - one framed connection on the loop, accepted or outbound.
 *
 * A struct pl_conn is what a server accepts (server.h) and what a client
 * connects (client.h): the same object and the same calls either way, the
 * way libuv's uv_stream_t serves both.  It reads through its transport
 * (transport.h), cuts the bytes into messages by its protocol (frame.h),
 * hands each whole message to on_request in order, and writes what is sent
 * on it framed the same way, in one write per batch.  It closes itself on
 * errors and timeouts with a reason (enum pl_close_reason).
 *
 * Life cycle: open -> closing (pl_conn_close or a close for a reason, from
 * any callback, its own included; the owner's close event runs at once) ->
 * freed by the loop after the iteration (pl_loop_close).  A struct pl_conn
 * pointer is valid from the open event until the close event returns;
 * calls on it made later inside the same iteration are harmless (they fail
 * with -EPIPE or do nothing), later ones are use after free.
 *
 * Every call here must be made on the connection's loop thread.
 */
#ifndef PARLEY_CONN_H
#define PARLEY_CONN_H

#include <stddef.h>
#include <stdint.h>
#include "parley/addr.h"
#include "parley/frame.h"
#include "parley/loop.h"
#include "parley/transport.h"

struct pl_conn;

/* Why a connection was closed; counted in the owner's stats. */
enum pl_close_reason {
	PL_CLOSE_EOF = 0,    /* the peer closed and the output queued for it was sent */
	PL_CLOSE_RESET,      /* ECONNRESET, EPIPE or another socket error */
	PL_CLOSE_IDLE,       /* idle timeout */
	PL_CLOSE_OVERSIZE,   /* a message over max_msg */
	PL_CLOSE_LIMIT,      /* refused: max_conns reached */
	PL_CLOSE_SHUTDOWN,   /* the server stopped (drained or drain timeout) */
	PL_CLOSE_APP,        /* pl_conn_close from the application */
	PL_CLOSE_NOMEM,      /* a buffer could not grow */
	PL_CLOSE_STALLED,    /* unsent output made no progress for send_timeout */
	PL_CLOSE_SLOW,       /* a request not complete request_timeout after its first byte */
	PL_CLOSE_MEMORY,     /* evicted: the servers' buffers passed max_memory */
	PL_CLOSE_TLS,        /* the TLS handshake or a record failed (tls.h says why) */
	PL_CLOSE_DENIED,     /* refused by the access rules (acl.h), before any byte */
	PL_CLOSE_REASONS
};

/* "eof", "reset", ...: a static string ("?" for an unknown value). */
const char *pl_close_reason_name(enum pl_close_reason r);

/*
 * In on_close for PL_CLOSE_OVERSIZE: the size the message declared (a
 * len header, or the bytes of a line so far), as a server's PL_EV_CLOSE
 * event has it in size; 0 for other reasons.
 */
uint64_t pl_conn_close_size(const struct pl_conn *c);

/*
 * Called for each whole message.  msg is valid only during the call.
 * Answer with pl_conn_send (any number of times, or none, now or later).
 */
typedef void (*pl_request_cb)(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg);
typedef void (*pl_conn_cb)(struct pl_conn *c, void *arg);
/* c is closing: the last call in which c may be used.  err is 0 or -errno. */
typedef void (*pl_conn_close_cb)(struct pl_conn *c, enum pl_close_reason why, int err, void *arg);

/* How the connections of one server or one client behave. */
struct pl_conn_config {
	enum pl_proto proto;
	uint32_t max_msg;          /* 0: PL_FRAME_MAX_DEFAULT */
	long long idle_timeout_ms; /* no byte either way this long closes; 0: never */
	long long send_timeout_ms; /* unsent output stuck this long closes; 0: never */
	/* a message must be whole this long after its first byte (slowloris); 0: never */
	long long request_timeout_ms;
	size_t out_cap;            /* unsent bytes past which c stops reading; 0: 1 MiB */
	pl_request_cb on_request;  /* required */
	/*
	 * The peer ended its direction (read returned end of stream) and every
	 * whole message before it was handed out.  NULL: close (PL_CLOSE_EOF)
	 * once the output is sent and no hold is left (pl_conn_hold), as a
	 * request/response server does.  Set:
	 * c stays open for sending until pl_conn_shutdown or pl_conn_close;
	 * once both directions are done it closes with PL_CLOSE_EOF.
	 */
	pl_conn_cb on_eof;
	/* Unsent output that had passed out_cap is down to half of it again
	 * (a proxy resumes reading the other side here).  May be NULL. */
	pl_conn_cb on_drain;
	pl_conn_close_cb on_close; /* client connections; servers report PL_EV_CLOSE */
	void *arg;
};

/*
 * Queues msg, framed by c's protocol; it leaves in the current batch, at
 * once when no batch is being served and nothing waits before it, or when
 * the socket is writable.  Callable from any callback of c's loop at any
 * time while c is open, not only from on_request.  0, -EPIPE when c is
 * closing, was shut down (pl_conn_shutdown) or failed writing it at once
 * (then c is closing: its close was reported inside this call), -EMSGSIZE
 * over 4 GiB, or -ENOMEM (then c is closing).  Sending past out_cap is
 * allowed: the cap stops reading, not sending.
 */
int pl_conn_send(struct pl_conn *c, const void *msg, size_t len);
/* The same as pl_conn_send: a server's replies. */
int pl_conn_reply(struct pl_conn *c, const void *msg, size_t len);

/* Closes c now, dropping unsent output (PL_CLOSE_APP).  Safe from any
 * callback, repeatedly, and on a connection already closing. */
void pl_conn_close(struct pl_conn *c);

/*
 * Half-close: once the queued output is written, ends c's sending
 * direction (a FIN); c goes on reading.  Further sends fail with -EPIPE.
 * When the peer has ended its direction too, c closes (PL_CLOSE_EOF).
 * 0, or -EPIPE when c is closing.
 */
int pl_conn_shutdown(struct pl_conn *c);

/*
 * Stops / restarts reading from c, whatever its own output: backpressure
 * between two connections.  Messages already buffered wait too; after a
 * resume they are handed out from the loop, not inside the call.
 */
void pl_conn_pause(struct pl_conn *c);
void pl_conn_resume(struct pl_conn *c);

/*
 * The application owes c an answer it will send later (from a timer,
 * another connection, a thread's result): while c is held, a graceful
 * drain (pl_server_shutdown) waits for it as for output already queued,
 * until the drain timeout.  Holds count, up to 2^24 - 1 (more: -EOVERFLOW);
 * pl_conn_release drops one, after the answer was sent.  pl_conn_hold
 * returns 0 otherwise.  Both are no-ops on a closing connection (hold then
 * returns 0), and pl_conn_release on a connection not held does nothing.
 *
 * A hold also outlasts the peer's end: with on_eof NULL, a held c whose
 * peer ended its direction stays open until the last release, then
 * closes (PL_CLOSE_EOF) once its output is sent, so a client that sends
 * its request and half-closes (nc -N) still gets the answer.
 */
int pl_conn_hold(struct pl_conn *c);
void pl_conn_release(struct pl_conn *c);

/* Bytes queued on c and not yet written to the socket. */
size_t pl_conn_unsent(const struct pl_conn *c);

/* A pointer for the application, NULL until set; the library never looks at it. */
void pl_conn_set_data(struct pl_conn *c, void *data);
void *pl_conn_data(const struct pl_conn *c);

/*
 * The peer's address.  The pointer is into the owner (server or client)
 * and is overwritten by the next pl_conn_peer call on any of its
 * connections: copy it to keep it.  An accepted Unix client is unnamed
 * ("unix:(unnamed)").
 */
const struct pl_addr *pl_conn_peer(const struct pl_conn *c);
/* c's socket (the library owns and closes it), and the loop c runs on. */
int pl_conn_fd(const struct pl_conn *c);
struct pl_loop *pl_conn_loop(const struct pl_conn *c);

/*
 * Reads and writes c through t from now on; c owns t and frees it when c
 * is freed.  Call before any byte moved: from the server's PL_EV_OPEN
 * event or a client's connect callback.  0, or -EBUSY when c already has
 * a transport (t is then not taken).
 */
int pl_conn_set_transport(struct pl_conn *c, struct pl_transport *t);
/* c's transport, NULL for the plain socket. */
struct pl_transport *pl_conn_transport(const struct pl_conn *c);

#endif
