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

#include "parley/io.h"

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
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
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
		set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
		pl_addr_to_sockaddr(&v6, &ss, &len);
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
	pl_addr_to_sockaddr(&v4, &ss, &len);
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
	/* an explicit IPv6 address means IPv6 only, so it can sit beside an
	 * explicit IPv4 listener on the same port; the wildcard is dual-stack */
	if (fam == AF_INET6)
		set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
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

/* Waits for a non-blocking connect to finish; 0 or -errno. */
static int finish_connect(int fd, int timeout_ms)
{
	long long deadline = pl_io_now_ms() + timeout_ms;
	int err = 0;
	socklen_t len = sizeof(err);

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		long long left = timeout_ms > 0 ? deadline - pl_io_now_ms() : -1;
		int r = poll(&p, 1, timeout_ms > 0 ? (left < 0 ? 0 : (int)left) : -1);
		if (r > 0)
			break;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}

static int connect_one(const struct pl_addr *t, const struct pl_connect_opts *o)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = pl_addr_sa_family(t), fd, r;

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
		if (bind(fd, (struct sockaddr *)&src, slen) < 0)
			return close_err(fd, -errno);
	}
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		if (errno != EINPROGRESS && errno != EINTR && errno != EAGAIN)
			return close_err(fd, -errno);
		/* EAGAIN on a Unix socket means a full backlog: wait like TCP does */
		if (errno == EAGAIN)
			return close_err(fd, -EAGAIN);
		if ((r = finish_connect(fd, o ? o->timeout_ms : 0)) < 0)
			return close_err(fd, r);
	}
	if (fam != AF_UNIX)
		pl_sock_nodelay(fd);
	if (!(o && o->nonblock) && (r = pl_sock_nonblock(fd, 0)) < 0)
		return close_err(fd, r);
	return fd;
}

int pl_connect(const struct pl_addr *addrs, size_t n, const struct pl_connect_opts *o,
	       size_t *failed)
{
	int r = -EAFNOSUPPORT;
	size_t last = n;

	for (size_t i = 0; i < n; i++) {
		const struct pl_addr *t = &addrs[i];
		if (o && o->source && pl_addr_sa_family(o->source) != pl_addr_sa_family(t))
			continue; /* an IPv4 source cannot reach an IPv6 target */
		r = connect_one(t, o);
		if (o && o->on_attempt)
			o->on_attempt(t, r < 0 ? r : 0, o->arg);
		if (r >= 0)
			return r;
		last = i;
	}
	if (failed)
		*failed = last;
	return r;
}
