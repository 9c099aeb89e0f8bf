/*
 * unit_net.h - helpers for the unit tests that drive the library over real
 * sockets (unit_conn.c, unit_client.c): listeners on 127.0.0.1:0, a test
 * peer read through the same loop, framed writes and reads on a raw socket,
 * and time bounds.  Every helper is static inline, so a test file uses any
 * subset of them without unused-function warnings.
 */
#ifndef PARLEY_UNIT_NET_H
#define PARLEY_UNIT_NET_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "parley/parley.h"
#include "unit.h"

/*
 * A precondition: report it as CHECK does and leave the test, whether or
 * not a failed CHECK already ends the process (unit.h may change that).
 */
#define MUST(cond)                   \
	do {                         \
		if (!(cond)) {       \
			CHECK(cond); \
			return;      \
		}                    \
	} while (0)

/* The hard bound of one test: SIGALRM's default action kills the process,
 * which tests/run.sh reports as a failure, long before its own timeout. */
static inline void net_bound(unsigned seconds) { alarm(seconds); }

/* A guard timer's callback: the loop took too long; fail and stop it. */
static inline void net_guard_fired(struct pl_loop *l, struct pl_timer *t)
{
	(void)t;
	CHECK(!"the loop's guard timer fired (the test's events never came)");
	pl_loop_stop(l);
}

/* A listener on 127.0.0.1, port chosen by the kernel; *at receives it. */
static inline int net_listen(struct pl_addr *at)
{
	struct pl_addr a;
	int lfd;

	if (pl_addr_parse(&a, "127.0.0.1:0", 0, PL_ADDR_PASSIVE, NULL) != 0)
		return -1;
	lfd = pl_listen(&a, NULL);
	if (lfd >= 0 && pl_addr_local(lfd, at) != 0) {
		close(lfd);
		return -1;
	}
	return lfd;
}

/* A listener that completes no more handshakes: its accept queue is full
 * (tests/unit_connect.c).  fill[] holds the connections that filled it. */
static inline int net_black_hole(struct pl_addr *at, int fill[4])
{
	int lfd = net_listen(at);

	for (int i = 0; i < 4; i++)
		fill[i] = -1;
	if (lfd < 0 || listen(lfd, 0) != 0)
		return -1;
	for (int i = 0; i < 4; i++) {
		struct pl_connect_opts o = { .timeout_ms = 200 };
		fill[i] = pl_connect(at, 1, &o, NULL);
	}
	return lfd;
}

static inline void net_close_fill(int fill[4])
{
	for (int i = 0; i < 4; i++)
		if (fill[i] >= 0)
			close(fill[i]);
}

/* A blocking TCP connection to at; rcvbuf > 0 shrinks its receive buffer
 * first (before connect, so the window is small from the start). */
static inline int net_dial(const struct pl_addr *at, int rcvbuf)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (pl_addr_to_sockaddr(at, &ss, &len) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Writes one len-framed message.  0 or -1. */
static inline int net_send(int fd, const void *msg, size_t n)
{
	uint8_t head[4] = { (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24) };

	if (pl_fd_write_full(fd, head, 4, 2000) != 4)
		return -1;
	return n && pl_fd_write_full(fd, msg, n, 2000) != (ssize_t)n ? -1 : 0;
}

static inline int net_send_str(int fd, const char *s) { return net_send(fd, s, strlen(s)); }

/* Reads one len-framed message into buf (NUL-terminated when it fits).
 * Its length, -1 on error or a short read, -2 at a clean end of stream. */
static inline long net_recv(int fd, char *buf, size_t cap, int timeout_ms)
{
	uint8_t head[4];
	ssize_t r = pl_fd_read_full(fd, head, 4, timeout_ms);
	size_t n;

	if (r == 0)
		return -2;
	if (r != 4)
		return -1;
	n = (size_t)head[0] | (size_t)head[1] << 8 | (size_t)head[2] << 16 | (size_t)head[3] << 24;
	if (n >= cap)
		return -1;
	if (n && pl_fd_read_full(fd, buf, n, timeout_ms) != (ssize_t)n)
		return -1;
	buf[n] = '\0';
	return (long)n;
}

/*
 * The other end of a connection, read through the test's loop: every byte
 * is kept.  A peer with a goal (want_msgs whole messages, or want_eof)
 * stops the loop once it and every other registered peer with a goal has
 * reached it; a peer without one only reads.
 */
struct net_peer {
	struct pl_io io;
	uint8_t *buf;
	size_t len, cap;
	int eof;          /* end of stream or an error */
	int err;          /* 0 or the -errno that ended it */
	size_t want_msgs; /* len-framed messages */
	int want_eof;
	int started;      /* net_peer_start took its fd */
};

#define NET_PEERS 4
static struct net_peer *net_peers[NET_PEERS];

/* The i-th len-framed message in p's bytes: its length, or -1 when there
 * are fewer whole messages. */
static inline long net_peer_msg(const struct net_peer *p, size_t i, const uint8_t **msg)
{
	size_t off = 0;

	for (;;) {
		size_t n;
		if (p->len - off < 4)
			return -1;
		n = (size_t)p->buf[off] | (size_t)p->buf[off + 1] << 8 |
		    (size_t)p->buf[off + 2] << 16 | (size_t)p->buf[off + 3] << 24;
		if (p->len - off - 4 < n)
			return -1;
		if (i-- == 0) {
			if (msg)
				*msg = p->buf + off + 4;
			return (long)n;
		}
		off += 4 + n;
	}
}

static inline size_t net_peer_count(const struct net_peer *p)
{
	size_t i = 0;

	while (net_peer_msg(p, i, NULL) >= 0)
		i++;
	return i;
}

/* 1 when the i-th message is exactly s. */
static inline int net_peer_is(const struct net_peer *p, size_t i, const char *s)
{
	const uint8_t *m;
	long n = net_peer_msg(p, i, &m);

	return n == (long)strlen(s) && memcmp(m, s, (size_t)n) == 0;
}

static inline int net_peer_done(const struct net_peer *p)
{
	return (!p->want_msgs || net_peer_count(p) >= p->want_msgs) && (!p->want_eof || p->eof);
}

static inline void net_peer_cb(struct pl_loop *l, struct pl_io *io, unsigned events)
{
	struct net_peer *p = io->data;
	int goal = 0, all = 1;

	(void)events;
	for (;;) {
		ssize_t n;
		if (p->cap - p->len < 65536) {
			size_t cap = p->cap ? p->cap * 2 : 131072;
			uint8_t *b = realloc(p->buf, cap);
			if (!b) {
				CHECK(!"peer buffer");
				pl_loop_stop(l);
				return;
			}
			p->buf = b;
			p->cap = cap;
		}
		n = recv(io->fd, p->buf + p->len, p->cap - p->len, MSG_DONTWAIT);
		if (n > 0) {
			p->len += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		p->eof = 1;
		p->err = n < 0 ? -errno : 0;
		pl_io_stop(l, io);
		break;
	}
	for (int i = 0; i < NET_PEERS; i++)
		if (net_peers[i] && (net_peers[i]->want_msgs || net_peers[i]->want_eof)) {
			goal = 1;
			all = all && net_peer_done(net_peers[i]);
		}
	if (goal && all)
		pl_loop_stop(l);
}

/* Starts reading fd (the peer keeps it; net_peer_end closes it). */
static inline int net_peer_start(struct pl_loop *l, struct net_peer *p, int fd)
{
	for (int i = 0; i < NET_PEERS; i++)
		if (!net_peers[i]) {
			net_peers[i] = p;
			p->started = 1;
			pl_io_init(&p->io, fd, net_peer_cb, p);
			return pl_io_start(l, &p->io, PL_READ);
		}
	return -ENOSPC;
}

static inline void net_peer_end(struct pl_loop *l, struct net_peer *p)
{
	for (int i = 0; i < NET_PEERS; i++)
		if (net_peers[i] == p)
			net_peers[i] = NULL;
	if (p->started && p->io.fd >= 0) {
		pl_io_stop(l, &p->io);
		close(p->io.fd);
		p->io.fd = -1;
	}
	free(p->buf);
	p->buf = NULL;
}

#endif
