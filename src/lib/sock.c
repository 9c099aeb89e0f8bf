/* sock.c - listeners and connections with the options real servers need. */
#include "parley/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>


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
static int claim_unix_path(const struct sockaddr_un *su, socklen_t len, int type)
{
	struct stat st;
	int fd, r;

	if (lstat(su->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	/* non-blocking: a live server with a full backlog would hold a
	 * blocking connect (and us, deaf to signals) until it accepts.  Of
	 * the socket's own type: a datagram socket is "connected" to only
	 * while one is bound there, and a live socket of another type
	 * answers EPROTOTYPE */
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)su, len);
	close(fd);
	if (r == 0 || errno == EPROTOTYPE)
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
static int address_free(int fam, int type, const struct sockaddr_storage *ss, socklen_t len,
			int v6only)
{
	int fd, r = 0;

	if ((fam == AF_INET && ((const struct sockaddr_in *)ss)->sin_port == 0) ||
	    (fam == AF_INET6 && ((const struct sockaddr_in6 *)ss)->sin6_port == 0))
		return 0; /* the kernel picks a port nobody has */
	fd = socket(fam, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (type == SOCK_STREAM)
		set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (fam == AF_INET6)
		set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only);
	if (bind(fd, (const struct sockaddr *)ss, len) < 0 && errno == EADDRINUSE)
		r = -EADDRINUSE;
	close(fd);
	return r;
}

/* Binds, and listens unless it is a datagram socket (nothing to accept). */
static int bind_listen(int fd, int stype, const struct sockaddr_storage *ss, socklen_t len,
		       int backlog)
{
	if (bind(fd, (const struct sockaddr *)ss, len) < 0)
		return -errno;
	if (stype != SOCK_DGRAM && listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0)
		return -errno;
	return 0;
}

/*
 * SO_REUSEADDR for TCP only: on a TCP listener it just passes TIME_WAIT,
 * but two UDP sockets that both set it share the port, so a second UDP
 * server would start and silently take part of the first one's traffic.
 */
static void reuse_opts(int fd, int stype, const struct pl_listen_opts *o)
{
	if (stype == SOCK_STREAM)
		set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (o && o->reuseport)
		set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
}

static int listen_any(const struct pl_addr *a, const struct pl_listen_opts *o, int type)
{
	struct pl_addr v6 = *a, v4 = *a;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, r, stype = pl_addr_sock_type(a);

	v6.kind = PL_ADDR_IP6; /* [::] - all zero */
	fd = socket(AF_INET6, type, 0);
	if (fd >= 0) {
		reuse_opts(fd, stype, o);
		set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
		pl_addr_to_sockaddr(&v6, &ss, &len);
		r = o && o->reuseport == PL_REUSEPORT_NEW ? address_free(AF_INET6, stype, &ss, len, 0) : 0;
		if (r == 0)
			r = bind_listen(fd, stype, &ss, len, o ? o->backlog : 0);
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
	reuse_opts(fd, stype, o);
	pl_addr_to_sockaddr(&v4, &ss, &len);
	r = o && o->reuseport == PL_REUSEPORT_NEW ? address_free(AF_INET, stype, &ss, len, 0) : 0;
	if (r == 0)
		r = bind_listen(fd, stype, &ss, len, o ? o->backlog : 0);
	return r < 0 ? close_err(fd, r) : fd;
}

int pl_listen(const struct pl_addr *a, const struct pl_listen_opts *o)
{
	int stype = pl_addr_sock_type(a);
	int type = stype | SOCK_CLOEXEC | (o && o->nonblock ? SOCK_NONBLOCK : 0);
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, r, fam;

	if (a->sock == PL_SOCK_SEQPACKET && a->kind != PL_ADDR_UNIX && a->kind != PL_ADDR_ABSTRACT)
		return -EPROTONOSUPPORT; /* SCTP's SEQPACKET is not ours */
	if (a->kind == PL_ADDR_ANY)
		return listen_any(a, o, type);
	if ((r = pl_addr_to_sockaddr(a, &ss, &len)) < 0)
		return r;
	fam = pl_addr_sa_family(a);
	if (a->kind == PL_ADDR_UNIX &&
	    (r = claim_unix_path((struct sockaddr_un *)&ss, len, stype)) < 0)
		return r;
	fd = socket(fam, type, 0);
	if (fd < 0)
		return -errno;
	if (fam != AF_UNIX)
		reuse_opts(fd, stype, o);
	/* an explicit IPv6 address means IPv6 only, so it can sit beside an
	 * explicit IPv4 listener on the same port; the wildcard is dual-stack */
	if (fam == AF_INET6)
		set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	r = fam != AF_UNIX && o && o->reuseport == PL_REUSEPORT_NEW
		    ? address_free(fam, stype, &ss, len, 1) : 0;
	if (r == 0)
		r = bind_listen(fd, stype, &ss, len, o ? o->backlog : 0);
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

/* s as a number when it is decimal digits only, at most max; else -1.
 * strtol would take "1234x", " 1234" or "+1234". */
static long digits(const char *s, long max)
{
	long n = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		n = n * 10 + (*s - '0');
		if (n > max)
			return -1;
	}
	return n;
}

/* -ENOTSOCK unless fd is a listening socket. */
static int listening(int fd)
{
	int on = 0;
	socklen_t len = sizeof(on);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on ? 0 : -ENOTSOCK;
}

int pl_listen_activated(int *bad)
{
	const char *fds = getenv("LISTEN_FDS");
	long n;

	if (!fds || digits(getenv("LISTEN_PID"), INT_MAX) != (long)getpid())
		return 0; /* the descriptors, if any, are someone else's */
	/* the fds 3.. must exist, so no more than a descriptor limit can hold */
	n = digits(fds, 65536);
	if (n < 0)
		return -EINVAL;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	for (int fd = PL_LISTEN_FDS_START; fd < PL_LISTEN_FDS_START + n; fd++) {
		if (listening(fd) < 0) {
			if (bad)
				*bad = fd;
			return -ENOTSOCK;
		}
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	return (int)n;
}
