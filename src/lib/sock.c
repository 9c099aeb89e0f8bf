/* sock.c - listeners and connections with the options real servers need. */
#include "parley/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "parley/clock.h"

int pl_sock_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

int pl_sock_nodelay(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ? -errno : 0;
}

static int set_int(int fd, int level, int opt, int v)
{
	return setsockopt(fd, level, opt, &v, sizeof(v)) < 0 ? -errno : 0;
}

static int close_err(int fd, int err)
{
	close(fd);
	return err;
}

/*
 * A stale socket file (left by a crashed server) may be replaced; a live one
 * or a file that is not a socket may not.
 */
static int claim_unix_path(const struct sockaddr_un *su, socklen_t len)
{
	struct stat st;
	int fd, r;

	if (lstat(su->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	/* non-blocking: a live server with a full backlog would hold a
	 * blocking connect (and us, deaf to signals) until it accepts */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)su, len);
	close(fd);
	if (r == 0)
		return -EADDRINUSE;
	if (errno != ECONNREFUSED)
		return errno == EAGAIN ? -EADDRINUSE : -errno; /* EAGAIN: a full backlog, so alive */
	return unlink(su->sun_path) < 0 && errno != ENOENT ? -errno : 0;
}

/*
 * SO_REUSEPORT lets any process of the same user join a listening group,
 * so a second server would silently take part of the first one's clients.
 * The first listener of a group therefore checks that nothing listens on
 * the address yet: a plain bind (SO_REUSEADDR still passes TIME_WAIT) is
 * refused by any listener there.  0, or -EADDRINUSE.
 */
static int address_free(int fam, const struct sockaddr_storage *ss, socklen_t len, int v6only)
{
	int fd, r = 0;

	if ((fam == AF_INET && ((const struct sockaddr_in *)ss)->sin_port == 0) ||
	    (fam == AF_INET6 && ((const struct sockaddr_in6 *)ss)->sin6_port == 0))
		return 0; /* the kernel picks a port nobody has */
	fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (fam == AF_INET6)
		set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only);
	if (bind(fd, (const struct sockaddr *)ss, len) < 0 && errno == EADDRINUSE)
		r = -EADDRINUSE;
	close(fd);
	return r;
}

static int bind_listen(int fd, const struct sockaddr_storage *ss, socklen_t len, int backlog)
{
	if (bind(fd, (const struct sockaddr *)ss, len) < 0)
		return -errno;
	if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0)
		return -errno;
	return 0;
}

static int listen_any(const struct pl_addr *a, const struct pl_listen_opts *o, int type)
{
	struct pl_addr v6 = *a, v4 = *a;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, r;

	v6.kind = PL_ADDR_IP6; /* [::] - all zero */
	fd = socket(AF_INET6, type, 0);
	if (fd >= 0) {
		set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
		if (o && o->reuseport)
			set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
		set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
		pl_addr_to_sockaddr(&v6, &ss, &len);
		r = o && o->reuseport == PL_REUSEPORT_NEW ? address_free(AF_INET6, &ss, len, 0) : 0;
		if (r == 0)
			r = bind_listen(fd, &ss, len, o ? o->backlog : 0);
		if (r == 0)
			return fd;
		close(fd);
		if (r != -EADDRNOTAVAIL && r != -EAFNOSUPPORT)
			return r;
	} else if (errno != EAFNOSUPPORT) {
		return -errno;
	}
	/* no IPv6 on this host: the IPv4 wildcard alone */
	v4.kind = PL_ADDR_IP4;
	fd = socket(AF_INET, type, 0);
	if (fd < 0)
		return -errno;
	set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (o && o->reuseport)
		set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
	pl_addr_to_sockaddr(&v4, &ss, &len);
	r = o && o->reuseport == PL_REUSEPORT_NEW ? address_free(AF_INET, &ss, len, 0) : 0;
	if (r == 0)
		r = bind_listen(fd, &ss, len, o ? o->backlog : 0);
	return r < 0 ? close_err(fd, r) : fd;
}

int pl_listen(const struct pl_addr *a, const struct pl_listen_opts *o)
{
	int type = SOCK_STREAM | SOCK_CLOEXEC | (o && o->nonblock ? SOCK_NONBLOCK : 0);
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, r, fam;

	if (a->kind == PL_ADDR_ANY)
		return listen_any(a, o, type);
	if ((r = pl_addr_to_sockaddr(a, &ss, &len)) < 0)
		return r;
	fam = pl_addr_sa_family(a);
	if (a->kind == PL_ADDR_UNIX && (r = claim_unix_path((struct sockaddr_un *)&ss, len)) < 0)
		return r;
	fd = socket(fam, type, 0);
	if (fd < 0)
		return -errno;
	if (fam != AF_UNIX)
		set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (fam != AF_UNIX && o && o->reuseport)
		set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
	/* an explicit IPv6 address means IPv6 only, so it can sit beside an
	 * explicit IPv4 listener on the same port; the wildcard is dual-stack */
	if (fam == AF_INET6)
		set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	r = fam != AF_UNIX && o && o->reuseport == PL_REUSEPORT_NEW ? address_free(fam, &ss, len, 1) : 0;
	if (r == 0)
		r = bind_listen(fd, &ss, len, o ? o->backlog : 0);
	if (r == 0 && a->kind == PL_ADDR_UNIX && o && o->unix_mode &&
	    chmod(((struct sockaddr_un *)&ss)->sun_path, (mode_t)o->unix_mode) < 0)
		r = -errno;
	if (r < 0) {
		if (a->kind == PL_ADDR_UNIX && r != -EADDRINUSE)
			pl_listen_unlink(fd, pl_listen_ino(fd));
		return close_err(fd, r);
	}
	return fd;
}

/* The path a Unix listener is bound to, or NULL. */
static const char *bound_path(int fd, struct sockaddr_un *su)
{
	socklen_t len = sizeof(*su);

	memset(su, 0, sizeof(*su));
	if (getsockname(fd, (struct sockaddr *)su, &len) < 0 || su->sun_family != AF_UNIX ||
	    len <= offsetof(struct sockaddr_un, sun_path) || su->sun_path[0] == '\0')
		return NULL;
	su->sun_path[sizeof(su->sun_path) - 1] = '\0';
	return su->sun_path;
}

unsigned long pl_listen_ino(int fd)
{
	struct sockaddr_un su;
	const char *path = bound_path(fd, &su);
	struct stat st;

	if (!path || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return 0;
	return (unsigned long)st.st_ino;
}

void pl_listen_unlink(int fd, unsigned long ino)
{
	struct sockaddr_un su;
	const char *path = bound_path(fd, &su);
	struct stat st;

	if (path && ino && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    (unsigned long)st.st_ino == ino)
		unlink(path);
}

/* Records for the caller whether the failure about to be reported was the bind. */
static void set_bind_failed(const struct pl_connect_opts *o, int v)
{
	if (o && o->bind_failed)
		*o->bind_failed = v;
}

/*
 * Starts a non-blocking connect to t.  Returns the fd with *done set when it
 * connected at once (Unix sockets), the fd with *done clear while in
 * progress, or -errno.
 */
static int start_one(const struct pl_addr *t, const struct pl_connect_opts *o, int *done)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = pl_addr_sa_family(t), fd, r;

	*done = 0;
	set_bind_failed(o, 0);
	if ((r = pl_addr_to_sockaddr(t, &ss, &len)) < 0)
		return r;
	fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (o && o->source) {
		struct sockaddr_storage src;
		socklen_t slen;
		if (o->source->port)
			set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
		if ((r = pl_addr_to_sockaddr(o->source, &src, &slen)) < 0)
			return close_err(fd, r);
		if (bind(fd, (struct sockaddr *)&src, slen) < 0) {
			set_bind_failed(o, 1);
			return close_err(fd, -errno);
		}
	}
	if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
		*done = 1;
		return fd;
	}
	/* EAGAIN: a Unix listener's backlog is full; there is nothing to wait on */
	if (errno != EINPROGRESS && errno != EINTR)
		return close_err(fd, -errno);
	return fd;
}

static int finish_one(int fd, const struct pl_addr *t, const struct pl_connect_opts *o)
{
	int r;

	if (pl_addr_sa_family(t) != AF_UNIX)
		pl_sock_nodelay(fd);
	if (!(o && o->nonblock) && (r = pl_sock_nonblock(fd, 0)) < 0)
		return close_err(fd, r);
	return fd;
}

struct attempt {
	int fd;
	size_t idx;
	long long deadline;
};

static void report(const struct pl_connect_opts *o, const struct pl_addr *t, int r)
{
	if (o && o->on_attempt)
		o->on_attempt(t, r, o->arg);
}

/* Closes every attempt but keep (-1: all), reporting them cancelled. */
static void cancel_others(struct attempt *at, size_t nat, size_t keep,
			  const struct pl_addr *addrs, const struct pl_connect_opts *o)
{
	for (size_t i = 0; i < nat; i++)
		if (i != keep) {
			close(at[i].fd);
			report(o, &addrs[at[i].idx], -ECANCELED);
		}
}

struct race {
	const struct pl_addr *addrs;
	size_t n, next, nat;
	const struct pl_connect_opts *o;
	struct attempt at[16];
	int last_err;
	size_t last_idx;
	long long next_start;
};

static void attempt_failed(struct race *rc, size_t i, int err)
{
	set_bind_failed(rc->o, 0);
	report(rc->o, &rc->addrs[rc->at[i].idx], err);
	close(rc->at[i].fd);
	rc->last_err = err;
	rc->last_idx = rc->at[i].idx;
	rc->at[i] = rc->at[--rc->nat];
	rc->next_start = 0; /* a failure starts the next address at once */
}

/* Starts the next eligible target; returns a connected fd, or -1. */
static int start_next(struct race *rc, long long now)
{
	const struct pl_connect_opts *o = rc->o;

	while (rc->next < rc->n && rc->nat < 16) {
		const struct pl_addr *t = &rc->addrs[rc->next++];
		int done, fd;
		if (o && o->source && pl_addr_sa_family(o->source) != pl_addr_sa_family(t))
			continue; /* an IPv4 source cannot reach an IPv6 target */
		report(o, t, -EINPROGRESS);
		fd = start_one(t, o, &done);
		if (fd < 0) {
			report(o, t, fd);
			rc->last_err = fd;
			rc->last_idx = (size_t)(t - rc->addrs);
			continue;
		}
		if (done) {
			report(o, t, 0);
			cancel_others(rc->at, rc->nat, (size_t)-1, rc->addrs, o);
			return finish_one(fd, t, o);
		}
		rc->at[rc->nat++] = (struct attempt){ fd, (size_t)(t - rc->addrs),
			o && o->timeout_ms > 0 ? now + o->timeout_ms : -1 };
		rc->next_start = o && o->stagger_ms > 0 ? now + o->stagger_ms : -1;
		return -1;
	}
	return -1;
}

/* Milliseconds poll may sleep: until the next start or the first deadline. */
static int race_wait_ms(const struct race *rc, long long now)
{
	long long until = rc->next < rc->n && rc->next_start >= 0 ? rc->next_start : -1;

	for (size_t i = 0; i < rc->nat; i++)
		if (rc->at[i].deadline >= 0 && (until < 0 || rc->at[i].deadline < until))
			until = rc->at[i].deadline;
	if (until < 0)
		return -1;
	return until <= now ? 0 : (int)(until - now > 1 << 30 ? 1 << 30 : until - now);
}

int pl_connect(const struct pl_addr *addrs, size_t n, const struct pl_connect_opts *o,
	       size_t *failed)
{
	struct race rc = { .addrs = addrs, .n = n, .o = o, .last_err = -EAFNOSUPPORT, .last_idx = n };

	set_bind_failed(o, 0);

	for (;;) {
		long long now = pl_clock_ms();
		struct pollfd p[16];
		int fd, r;

		if ((rc.nat == 0 || (rc.next_start >= 0 && now >= rc.next_start)) &&
		    (fd = start_next(&rc, now)) >= 0)
			return fd;
		if (rc.nat == 0 && rc.next >= rc.n)
			break;
		for (size_t i = 0; i < rc.nat; i++)
			p[i] = (struct pollfd){ .fd = rc.at[i].fd, .events = POLLOUT };
		r = poll(p, rc.nat, race_wait_ms(&rc, now));
		if (r < 0 && errno != EINTR) {
			set_bind_failed(o, 0);
			cancel_others(rc.at, rc.nat, (size_t)-1, addrs, o);
			rc.last_err = -errno;
			break;
		}
		now = pl_clock_ms();
		for (size_t i = rc.nat; i-- > 0;) {
			int err = 0;
			socklen_t len = sizeof(err);
			if (r > 0 && p[i].revents) {
				if (getsockopt(rc.at[i].fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
					err = errno;
				if (err == 0) {
					struct attempt win = rc.at[i];
					report(o, &addrs[win.idx], 0);
					cancel_others(rc.at, rc.nat, i, addrs, o);
					return finish_one(win.fd, &addrs[win.idx], o);
				}
				attempt_failed(&rc, i, -err);
			} else if (rc.at[i].deadline >= 0 && now >= rc.at[i].deadline) {
				attempt_failed(&rc, i, -ETIMEDOUT);
			}
		}
	}
	if (failed)
		*failed = rc.last_idx;
	return rc.last_err;
}
