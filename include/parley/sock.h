/*
 * sock.h - listening and connecting sockets, done the careful way.
 *
 * Every socket is SOCK_CLOEXEC; listeners get SO_REUSEADDR and a SOMAXCONN
 * backlog; the wildcard listens dual-stack on [::] (IPV6_V6ONLY off) and falls
 * back to 0.0.0.0 on hosts without IPv6.  A Unix path is taken over only from
 * a stale socket file nobody listens on, never from a regular file.
 * Connecting tries each address in order, each bounded by a timeout, with an
 * optional source address bound first.  Connections get TCP_NODELAY.
 *
 * The socket type is the address's (addr.h, field sock): a udp: or
 * unixgram: "listener" is a bound datagram socket (no listen(), and no
 * SO_REUSEADDR, which would let a second UDP server share the port), a
 * seqpacket: one listens and accepts as a stream does.  Connecting a
 * datagram socket only fixes its peer (no handshake: it succeeds at once);
 * an unbound unixgram: client is autobound to an abstract name first, so
 * the server has an address to answer to.
 */
#ifndef PARLEY_SOCK_H
#define PARLEY_SOCK_H

#include <sys/types.h>
#include "parley/addr.h"

struct pl_listen_opts {
	int backlog;      /* 0: SOMAXCONN */
	int nonblock;     /* 1: the listener is O_NONBLOCK (for an event loop) */
	int unix_mode;    /* chmod of a Unix socket file; 0: leave the umask's */
	int reuseport;    /* SO_REUSEPORT (TCP), so several listeners, one per
			   * thread, share the port and the kernel spreads
			   * clients: PL_REUSEPORT_NEW for the first of them,
			   * PL_REUSEPORT_JOIN for the others; 0: off */
};

/* The first listener of a SO_REUSEPORT group: -EADDRINUSE when anything
 * listens on the address already, as without SO_REUSEPORT (otherwise a
 * second server would silently share the port). */
#define PL_REUSEPORT_NEW 1
/* Another listener of the group, on the port the first one got. */
#define PL_REUSEPORT_JOIN 2

/*
 * Opens a listener on a (IP4, IP6, ANY, UNIX, ABSTRACT).  Returns the fd or
 * -errno: -EADDRINUSE when another process listens on the Unix path, -EEXIST
 * when the path is not a socket, -ENAMETOOLONG for a path longer than
 * sun_path.
 */
int pl_listen(const struct pl_addr *a, const struct pl_listen_opts *o);

/*
 * The inode of the socket file a Unix path listener is bound to (0 for any
 * other listener).  Take it right after pl_listen and hand it back to
 * pl_listen_unlink, which removes the file only if it is still that inode,
 * so a file a later server made at the same path is never taken away.
 */
unsigned long pl_listen_ino(int fd);
void pl_listen_unlink(int fd, unsigned long ino);

/* systemd socket activation (sd_listen_fds(3)'s protocol, without
 * libsystemd): the listeners passed are fds PL_LISTEN_FDS_START.. in order. */
#define PL_LISTEN_FDS_START 3

/*
 * The listeners this process was started with: when LISTEN_PID is this
 * process's pid (decimal digits only), LISTEN_FDS (digits only, at most
 * 65536) says how many.  Returns that number n (the fds are
 * PL_LISTEN_FDS_START .. PL_LISTEN_FDS_START + n - 1, made FD_CLOEXEC and
 * now the caller's), 0 when none were passed to this process, or -errno:
 * -EINVAL when LISTEN_FDS is not a number of descriptors, -ENOTSOCK when fd
 * *bad (may be NULL) is not a listening socket.
 *
 * Touches the process's environment, as sd_listen_fds(3) does: once
 * LISTEN_FDS is read, LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES are unset,
 * so children do not take the descriptors for theirs (on -EINVAL they are
 * left as they were, for a message to quote).  unsetenv is not thread-safe:
 * call it before starting threads, and once.
 */
int pl_listen_activated(int *bad);

struct pl_connect_opts {
	int timeout_ms;                /* each attempt; <= 0: no limit */
	int stagger_ms;                /* Happy Eyeballs delay; <= 0: one at a time */
	const struct pl_addr *source;  /* bind before connect, NULL: let the OS pick */
	int nonblock;                  /* leave the connected socket O_NONBLOCK */
	/*
	 * Reports each attempt (may be NULL): -EINPROGRESS when it starts, then
	 * 0 when it wins, -errno when it fails, -ECANCELED when another won.
	 */
	void (*on_attempt)(const struct pl_addr *target, int result, void *arg);
	void *arg;
	/*
	 * Not NULL: set to 1 when the failure last reported (to on_attempt and
	 * in pl_connect's result) came from binding source, 0 when it came from
	 * the connect, so a caller can say which step failed.
	 */
	int *bind_failed;
};

/* Delay between attempts recommended by RFC 8305. */
#define PL_CONNECT_STAGGER_MS 250

/*
 * Connects to one of addrs[0..n), tried in order.  With stagger_ms > 0 the
 * attempts race (RFC 8305, Happy Eyeballs): the next starts when the one
 * before fails or stagger_ms passes without an answer, the first to connect
 * wins and the others are closed.  Targets whose family does not match the
 * source address are skipped.  Returns the connected fd, or -errno of the
 * last attempt to fail with *failed set to its index (n when no target could
 * even be tried, with -EAFNOSUPPORT).
 */
int pl_connect(const struct pl_addr *addrs, size_t n,
	       const struct pl_connect_opts *o, size_t *failed);

/* Socket option helpers.  0 or -errno. */
int pl_sock_nonblock(int fd, int on);
int pl_sock_nodelay(int fd);

#endif
