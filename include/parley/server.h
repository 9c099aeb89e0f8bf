/*
 * server.h - the accepting side: listeners, limits, drain.
 *
 * A server accepts connections on its listeners and owns them; what
 * happens on each (reading, framing, dispatch, replies, backpressure,
 * timeouts) is the connection layer's, conn.h, the same as for a
 * connection a client made.  The server adds what only an acceptor has:
 * max_conns over every thread, a memory budget over every client's
 * buffers, shedding clients when descriptors run out, counters per close
 * reason, and the graceful drain.
 *
 * All of a server's connections read into one 256 KiB buffer (a server
 * runs on one loop, so they never read at once); only a partial message or
 * unsent output is kept per connection, so an idle connection costs its
 * struct alone.
 *
 * Connection life cycle: accepted -> open (on_event OPEN) -> closing (after
 * pl_conn_close, from any callback, its own included, or a close for a
 * reason; on_event CLOSE runs then) -> freed by the loop after the
 * iteration.  Every call here is for the server's loop thread, except
 * that struct pl_server_shared is shared between threads.
 */
#ifndef PARLEY_SERVER_H
#define PARLEY_SERVER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "parley/addr.h"
#include "parley/conn.h"
#include "parley/dgram.h"
#include "parley/frame.h"
#include "parley/loop.h"

struct pl_server;
struct pl_acl;
struct pl_acl_cred;

enum pl_server_event_type {
	PL_EV_OPEN,         /* conn accepted */
	PL_EV_CLOSE,        /* conn closing: reason, err (0 or -errno), size for OVERSIZE
			     * (declared) and MEMORY (bytes of buffers it held) */
	PL_EV_REJECT,       /* a client closed at once, never open: peer, reason LIMIT
			     * (over max_conns), NOMEM (err: it could not be set up) or
			     * DENIED (by cfg.acl; cred for a Unix client) */
	PL_EV_ACCEPT_ERROR, /* accept failed: err; reported once per episode */
	PL_EV_ACCEPT_RESUMED, /* accepting works again after ACCEPT_ERROR */
	PL_EV_DRAINED,      /* shutdown finished: every connection closed; once,
			     * and the handler may pl_server_free the server */
};

struct pl_server_event {
	enum pl_server_event_type type;
	struct pl_conn *conn;       /* OPEN, CLOSE */
	/* OPEN, CLOSE, REJECT; valid during the callback only, and a call to
	 * pl_conn_peer in it (on any connection) overwrites it: copy it to keep it */
	const struct pl_addr *peer;
	enum pl_close_reason reason;
	int err;
	uint64_t size;
	/* REJECT DENIED of a Unix client: its credentials, NULL when they could
	 * not be read; valid during the callback only */
	const struct pl_acl_cred *cred;
};

typedef void (*pl_event_cb)(const struct pl_server_event *ev, void *arg);

#define PL_SHARED_SERVERS 256 /* servers one pl_server_shared can join */

/*
 * What several servers (one per thread, each on its own loop) count
 * together, so that max_conns and max_memory are limits of the whole
 * process.  Zero it, point each server's config at it (at most
 * PL_SHARED_SERVERS), and keep it alive longer than the servers.  Over
 * max_memory, a server may wake another one's loop to close that one's
 * biggest client: free the servers only once every one of them has stopped.
 */
struct pl_server_shared {
	atomic_ulong open;         /* connections open, all servers */
	atomic_size_t mem;         /* bytes of connection buffers, all servers */
	atomic_ulong peers;        /* datagram peers with state (dgram.h), all servers */
	atomic_uint nservers;      /* slots taken below */
	struct {
		atomic_ullong top;     /* at least its biggest client's hog key */
		atomic_int wake;       /* an eventfd its loop reads, or -1 */
	} server[PL_SHARED_SERVERS];
};

struct pl_server_config {
	enum pl_proto proto;
	uint32_t max_msg;          /* 0: PL_FRAME_MAX_DEFAULT */
	unsigned max_conns;        /* 0: no limit */
	long long idle_timeout_ms; /* 0: never */
	long long send_timeout_ms; /* unsent output stuck this long closes; 0: never */
	/* a request must be whole this long after its first byte (slowloris); 0: never */
	long long request_timeout_ms;
	size_t out_cap;            /* 0: 1 MiB */
	/*
	 * Connection buffers (partial requests, unsent replies) past this many
	 * bytes: the connections holding the most unsent output are closed
	 * (PL_CLOSE_MEMORY) until the total is under it again.  0: no limit.
	 */
	size_t max_memory;
	long long drain_timeout_ms; /* 0: 5 s */
	struct pl_server_shared *shared; /* NULL: this server counts alone */
	/*
	 * Access rules (acl.h), checked right after accept, before a byte is
	 * read: a refused client is closed at once (a TCP one with a reset),
	 * counted in closed[PL_CLOSE_DENIED] and reported as PL_EV_REJECT.
	 * Only read, so the servers of a group share one; it must outlive
	 * them.  NULL: everyone is let in.
	 */
	const struct pl_acl *acl;
	pl_request_cb on_request;
	pl_event_cb on_event;      /* may be NULL */
	pl_conn_cb on_eof;         /* may be NULL: see struct pl_conn_config */
	pl_conn_cb on_drain;       /* may be NULL: see struct pl_conn_config */
	void *arg;
};

struct pl_server_stats {
	uint64_t accepted;
	uint64_t requests;         /* datagrams included */
	uint64_t closed[PL_CLOSE_REASONS]; /* datagram peers' included */
	unsigned open;             /* connections open now */
	/* datagram sockets (dgram.h) */
	uint64_t peers;            /* peers made (first datagram of an address) */
	unsigned peers_open;       /* peers with state now */
	uint64_t dropped[PL_DROP_REASONS]; /* datagrams dropped, by reason */
};

/* A server on loop, with cfg copied.  0, -EINVAL without on_request,
 * -ENOMEM, or -ENOSPC when cfg->shared already has PL_SHARED_SERVERS. */
int pl_server_new(struct pl_loop *loop, const struct pl_server_config *cfg,
		  struct pl_server **out);
/* Closes every connection (on_event CLOSE, PL_CLOSE_SHUTDOWN) and listener
 * (listeners' Unix files are unlinked).  The loop frees the connections
 * after its iteration, or in pl_loop_free. */
void pl_server_free(struct pl_server *s);

/*
 * Serves on a listening fd (made non-blocking here); the server owns it and,
 * for a Unix path, removes the socket file when it closes.  0 or -errno:
 * on an error fd is still the caller's to close.  A datagram socket (bound,
 * SOCK_DGRAM: udp:, unixgram:) is served one datagram per message, its
 * peers as connections (dgram.h); a SEQPACKET listener's connections are
 * one packet per message, whatever the protocol.
 */
int pl_server_listen_fd(struct pl_server *s, int fd);
/*
 * The same for a listener someone else made (systemd socket activation):
 * the server owns and closes fd as above, but its Unix socket file is left
 * in place.  0 or -errno.
 */
int pl_server_adopt_fd(struct pl_server *s, int fd);

struct pl_tls;
/*
 * The connections accepted on listener fd (already given to
 * pl_server_listen_fd or pl_server_adopt_fd) speak TLS with t, which
 * must outlive the server.  0, or -ENOENT when fd is not s's listener.
 */
int pl_server_set_tls(struct pl_server *s, int fd, struct pl_tls *t);

/*
 * Graceful stop: closes the listeners, then each connection once it has no
 * request pending, no reply unsent and no hold (pl_conn_hold, conn.h);
 * after drain_timeout_ms the rest are closed.  When the last connection is
 * gone, on_event gets PL_EV_DRAINED and the loop is stopped.
 */
void pl_server_shutdown(struct pl_server *s);

/* The server's counters, up to date; valid until pl_server_free. */
const struct pl_server_stats *pl_server_stats(const struct pl_server *s);

#endif
