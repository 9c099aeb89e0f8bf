/*
 * server.c - the accepting side: listeners, connection limits, shedding
 * clients when descriptors run out, and the graceful drain.  What happens
 * on a connection once accepted is conn.c's; the memory budget is
 * budget.c's.
 */
#include "server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "parley/acl.h"
#include "parley/sock.h"
#include "parley/tls.h"

#define ACCEPTS_PER_WAKEUP 64      /* keep existing clients' latency during a storm */
#define ACCEPT_PAUSE_MS 100        /* after ENOBUFS/ENOMEM or a lost spare fd */
#define DRAIN_DEFAULT_MS 5000
#define SHUTDOWN_ACCEPTS 4096       /* a full SOMAXCONN backlog */

static void emit(struct pl_server *s, enum pl_server_event_type type, struct pl_conn *c,
		 const struct pl_addr *peer, enum pl_close_reason reason, int err, uint64_t size)
{
	struct pl_server_event ev = { type, c, c ? pl_conn_peer(c) : peer, reason, err, size, NULL };

	if (s->cfg.on_event)
		s->cfg.on_event(&ev, s->cfg.arg);
}

static void dgram_stats(const struct pl_server *s, struct pl_server_stats *st);

const struct pl_server_stats *pl_server_stats(const struct pl_server *s)
{
	struct pl_server_stats *st = (struct pl_server_stats *)&s->stats;

	/* the data path counts requests in the connections' context */
	st->requests = s->x.requests;
	dgram_stats(s, st);
	return st;
}

/* Emits PL_EV_DRAINED once, and last: its handler may free s (callers
 * touch nothing of s after a call that can get here). */
static int dgrams_quiet(const struct pl_server *s);

static void maybe_drained(struct pl_server *s)
{
	if (s->x.draining && !s->drained && s->stats.open == 0 && dgrams_quiet(s)) {
		s->drained = 1;
		pl_timer_stop(s->x.loop, &s->drain_timer);
		pl_loop_stop(s->x.loop);
		emit(s, PL_EV_DRAINED, NULL, NULL, 0, 0, 0);
	}
}

/* The owner hook: one of our connections is closing. */
static void closed(struct conn_ctx *x, struct pl_conn *c, enum pl_close_reason why, int err,
		   uint64_t size)
{
	struct pl_server *s = (struct pl_server *)x;

	emit(s, PL_EV_CLOSE, c, NULL, why, err, size);
	s->stats.closed[why]++;
	s->stats.open--;
	atomic_fetch_sub_explicit(&s->sh->open, 1, memory_order_relaxed);
	budget_closed(s);
	maybe_drained(s);
}

static const struct conn_owner server_owner = { closed, budget_charge };

/* A client refused or lost before it was ever open: counted and reported
 * (cred: a Unix client's, for DENIED, or NULL). */
static void refuse(struct pl_server *s, int fd, const struct sockaddr_storage *ss,
		   enum pl_close_reason why, int err, const struct pl_acl_cred *cred)
{
	static const struct linger rst = { 1, 0 };
	struct pl_addr peer = { .kind = PL_ADDR_UNIX };
	struct pl_server_event ev = { PL_EV_REJECT, NULL, &peer, why, err, 0, cred };

	/* a denied TCP client gets a reset: it sees a refusal rather than an
	 * orderly end, and leaves no TIME_WAIT here however often it tries */
	if (ss->ss_family != AF_UNIX && why == PL_CLOSE_DENIED)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
	if (ss->ss_family != AF_UNIX)
		pl_addr_from_sockaddr(&peer, (const struct sockaddr *)ss, sizeof(*ss));
	else if (pl_addr_peer(fd, &peer) < 0) /* it says seqpacket: where it is one */
		peer = (struct pl_addr){ .kind = PL_ADDR_UNIX };
	close(fd);
	s->stats.closed[why]++;
	if (s->cfg.on_event)
		s->cfg.on_event(&ev, s->cfg.arg);
}

/* The access rules, before a byte is read or a slot taken.  1: refused. */
static int denied(struct pl_server *s, int fd, const struct sockaddr_storage *ss, socklen_t len)
{
	gid_t groups[PL_ACL_GROUPS_MAX];
	struct pl_acl_cred cred, *c = NULL;

	if (ss->ss_family == AF_UNIX && pl_acl_peer_cred(fd, &cred, groups, PL_ACL_GROUPS_MAX) == 0)
		c = &cred; /* unread, the rules judge the client unknown */
	if (pl_acl_check(s->cfg.acl, (const struct sockaddr *)ss, len, c) == PL_ACL_ALLOW)
		return 0;
	refuse(s, fd, ss, PL_CLOSE_DENIED, 0, c);
	return 1;
}

static void add_conn(struct pl_server *s, const struct listener *l, int fd,
		     const struct sockaddr_storage *ss, socklen_t len)
{
	struct pl_conn *c;
	int r;

	if (s->cfg.acl && denied(s, fd, ss, len))
		return;
	/* counted before the check: threads racing for the last slot cannot
	 * both take it */
	if (atomic_fetch_add_explicit(&s->sh->open, 1, memory_order_relaxed) >= s->cfg.max_conns &&
	    s->cfg.max_conns) {
		atomic_fetch_sub_explicit(&s->sh->open, 1, memory_order_relaxed);
		refuse(s, fd, ss, PL_CLOSE_LIMIT, 0, NULL);
		return;
	}
	if (ss->ss_family != AF_UNIX)
		pl_sock_nodelay(fd);
	if (!(c = conn_open(&s->x, fd, (const struct sockaddr *)ss, len))) {
		atomic_fetch_sub_explicit(&s->sh->open, 1, memory_order_relaxed);
		refuse(s, fd, ss, PL_CLOSE_NOMEM, -ENOMEM, NULL);
		return;
	}
	r = l->tls ? pl_tls_attach(c, l->tls, NULL) : 0;
	s->stats.accepted++;
	s->stats.open++;
	emit(s, PL_EV_OPEN, c, NULL, 0, 0, 0);
	/* open already, so its end is reported as every connection's is */
	if (r < 0 && !c->closing)
		conn_close(c, PL_CLOSE_NOMEM, r, 0);
}

static void pause_accepting(struct pl_server *s, int on)
{
	int r = 0;

	for (size_t i = 0; i < s->nls && r == 0; i++)
		r = pl_io_start(s->x.loop, &s->ls[i].io, on ? 0 : PL_READ);
	/* a listener epoll refused is retried, not forgotten */
	if (on || r < 0)
		r = pl_timer_start(s->x.loop, &s->accept_timer, ACCEPT_PAUSE_MS);
	if (r < 0 && !s->accept_failing) {
		s->accept_failing = 1;
		emit(s, PL_EV_ACCEPT_ERROR, NULL, NULL, 0, r, 0);
	}
}

static void on_accept_timer(struct pl_loop *loop, struct pl_timer *t)
{
	struct pl_server *s = t->data;

	(void)loop;
	if (!s->x.draining)
		pause_accepting(s, 0);
}

/*
 * Out of descriptors: give up the spare one, accept and close everything
 * pending (those clients see a close instead of hanging in the backlog), and
 * take the spare back.  Without this the listener stays readable and the loop
 * spins (the libuv trick).
 */
static int shed_pending(struct pl_server *s, int lfd)
{
	int fd;

	if (s->spare_fd < 0)
		return -1;
	close(s->spare_fd);
	s->spare_fd = -1;
	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
	s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return s->spare_fd < 0 ? -1 : 0;
}

static void accept_error(struct pl_server *s, int lfd, int err)
{
	if (!s->accept_failing) {
		s->accept_failing = 1;
		emit(s, PL_EV_ACCEPT_ERROR, NULL, NULL, 0, -err, 0);
	}
	if ((err == EMFILE || err == ENFILE) && shed_pending(s, lfd) == 0)
		return;
	pause_accepting(s, 1);
}

static void accept_some(struct pl_server *s, struct pl_io *io, int max)
{
	for (int i = 0; i < max; i++) {
		struct sockaddr_storage ss = { 0 }; /* an unnamed Unix peer fills only the family */
		socklen_t len = sizeof(ss);
		int fd = accept4(io->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN)
				return;
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO ||
			    errno == EPERM)
				continue; /* that client is gone; the listener is fine */
			accept_error(s, io->fd, errno);
			return;
		}
		if (s->accept_failing) {
			s->accept_failing = 0;
			emit(s, PL_EV_ACCEPT_RESUMED, NULL, NULL, 0, 0, 0);
		}
		add_conn(s, (const struct listener *)io, fd, &ss, len);
	}
}

static void on_listener(struct pl_loop *loop, struct pl_io *io, unsigned events)
{
	(void)loop;
	(void)events;
	accept_some(((struct listener *)io)->srv, io, ACCEPTS_PER_WAKEUP);
}

int pl_server_new(struct pl_loop *loop, const struct pl_server_config *cfg, struct pl_server **out)
{
	struct pl_server *s = calloc(1, sizeof(*s));
	struct pl_conn_config cc = {
		cfg->proto, cfg->max_msg, cfg->idle_timeout_ms, cfg->send_timeout_ms,
		cfg->request_timeout_ms, cfg->out_cap, cfg->on_request, cfg->on_eof,
		cfg->on_drain, NULL, cfg->arg,
	};
	int r;

	if (!s)
		return -ENOMEM;
	if ((r = conn_ctx_init(&s->x, loop, &cc, &server_owner)) < 0) {
		free(s);
		return r;
	}
	s->cfg = *cfg;
	if (!s->cfg.drain_timeout_ms)
		s->cfg.drain_timeout_ms = DRAIN_DEFAULT_MS;
	s->sh = cfg->shared ? cfg->shared : &s->own;
	s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pl_timer_init(&s->accept_timer, on_accept_timer, s);
	pl_timer_init(&s->drain_timer, NULL, s);
	if ((r = budget_join(s)) < 0) {
		pl_server_free(s);
		return r;
	}
	*out = s;
	return 0;
}

static int add_listener(struct pl_server *s, int fd, int owned)
{
	struct listener *ls;
	int r = pl_sock_nonblock(fd, 1);

	if (r < 0)
		return r;
	/* epoll holds the handles' addresses: unregister before realloc moves them */
	for (size_t i = 0; i < s->nls; i++)
		pl_io_stop(s->x.loop, &s->ls[i].io);
	ls = realloc(s->ls, (s->nls + 1) * sizeof(*ls));
	if (ls) {
		s->ls = ls;
		pl_io_init(&ls[s->nls].io, fd, on_listener, NULL);
		ls[s->nls].srv = s;
		ls[s->nls].ino = owned ? pl_listen_ino(fd) : 0;
		ls[s->nls].tls = NULL;
		s->nls++;
	}
	for (size_t i = 0; i < s->nls; i++)
		if ((r = pl_io_start(s->x.loop, &s->ls[i].io, PL_READ)) < 0)
			break;
	/* on any failure the new fd stays the caller's: the server forgets it */
	if (ls && r < 0 && s->ls[--s->nls].io.events)
		pl_io_stop(s->x.loop, &s->ls[s->nls].io);
	if (r < 0)
		pause_accepting(s, 1); /* the others are retried from the timer */
	return r < 0 ? r : ls ? 0 : -ENOMEM;
}

static int add_dgram(struct pl_server *s, int fd, int owned);

int pl_server_listen_fd(struct pl_server *s, int fd)
{
	int r = add_dgram(s, fd, 1);

	return r == -ENOTSUP ? add_listener(s, fd, 1) : r;
}

int pl_server_adopt_fd(struct pl_server *s, int fd)
{
	int r = add_dgram(s, fd, 0);

	return r == -ENOTSUP ? add_listener(s, fd, 0) : r;
}

int pl_server_set_tls(struct pl_server *s, int fd, struct pl_tls *t)
{
	for (size_t i = 0; i < s->nls; i++) {
		if (s->ls[i].io.fd == fd) {
			s->ls[i].tls = t;
			return 0;
		}
	}
	return -ENOENT;
}

static void close_listeners(struct pl_server *s)
{
	for (size_t i = 0; i < s->nls; i++) {
		pl_io_stop(s->x.loop, &s->ls[i].io);
		pl_listen_unlink(s->ls[i].io.fd, s->ls[i].ino);
		close(s->ls[i].io.fd);
	}
	s->nls = 0;
	pl_timer_stop(s->x.loop, &s->accept_timer);
}

static void close_all(struct pl_server *s)
{
	for (size_t i = 0; i < s->ndgrams; i++)
		dgram_close_peers(s->dgrams[i]);
	while (s->x.conns) {
		int last = !s->x.conns->next;
		conn_close(s->x.conns, PL_CLOSE_SHUTDOWN, 0, 0);
		if (last) /* draining: PL_EV_DRAINED's handler may have freed s */
			return;
	}
}

static void on_drain_timeout(struct pl_loop *loop, struct pl_timer *t)
{
	struct pl_server *s = t->data;

	int conns = s->x.conns != NULL;

	close_all(s); /* its last connection's close emits PL_EV_DRAINED: s may be gone */
	if (!conns) /* only datagram peers were left, whose closes do not */
		maybe_drained(s);
	pl_loop_stop(loop);
}

void pl_server_shutdown(struct pl_server *s)
{
	struct pl_conn *c, *next;

	if (s->x.draining)
		return;
	/* clients already in the accept queue have connected: serve them too,
	 * rather than resetting them when the listener closes */
	for (size_t i = 0; i < s->nls; i++)
		accept_some(s, &s->ls[i].io, SHUTDOWN_ACCEPTS);
	for (size_t i = 0; i < s->ndgrams; i++)
		dgram_shutdown(s->dgrams[i]);
	s->x.draining = 1;
	close_listeners(s);
	pl_timer_init(&s->drain_timer, on_drain_timeout, s);
	if (pl_timer_start(s->x.loop, &s->drain_timer, s->cfg.drain_timeout_ms) < 0 && s->x.conns) {
		close_all(s); /* no timer to bound the drain: do not wait at all */
		return;       /* its last close emitted PL_EV_DRAINED */
	}
	if (!s->x.conns) {
		maybe_drained(s);
		return;
	}
	/* the last close emits PL_EV_DRAINED (closed() -> maybe_drained), once:
	 * then next is NULL and s, which its handler may free, is not touched */
	for (c = s->x.conns; c; c = next) {
		next = c->next;
		if (conn_quiet(c))
			conn_close(c, PL_CLOSE_SHUTDOWN, 0, 0);
	}
}

void pl_server_free(struct pl_server *s)
{
	if (!s)
		return;
	close_all(s);
	close_listeners(s);
	pl_timer_stop(s->x.loop, &s->drain_timer);
	budget_leave(s);
	if (s->spare_fd >= 0)
		close(s->spare_fd);
	for (size_t i = 0; i < s->ndgrams; i++)
		dgram_free(s->dgrams[i]);
	free(s->dgrams);
	conn_ctx_free(&s->x);
	free(s->ls);
	free(s);
}

/* ---- datagram sockets: their peers count apart from connections ---- */

static int peer_admit(void *arg)
{
	struct pl_server *s = arg;

	/* counted before the check, as connections are (threads race) */
	if (atomic_fetch_add_explicit(&s->sh->peers, 1, memory_order_relaxed) >= s->cfg.max_conns &&
	    s->cfg.max_conns) {
		atomic_fetch_sub_explicit(&s->sh->peers, 1, memory_order_relaxed);
		return 0;
	}
	return 1;
}

static void peer_opened(void *arg, struct pl_conn *c)
{
	struct pl_server *s = arg;

	s->stats.peers++;
	s->stats.peers_open++;
	emit(s, PL_EV_OPEN, c, NULL, 0, 0, 0);
}

static void peer_closed(void *arg, struct pl_conn *c, enum pl_close_reason why, int err)
{
	struct pl_server *s = arg;

	emit(s, PL_EV_CLOSE, c, NULL, why, err, 0);
	s->stats.closed[why]++;
	s->stats.peers_open--;
	atomic_fetch_sub_explicit(&s->sh->peers, 1, memory_order_relaxed);
}

static void peers_quiet(void *arg) { maybe_drained(arg); }

/* Access rules for a datagram's sender: refused, its datagram is dropped
 * and counted as denied (a Unix sender's credentials are unknown, so uid
 * and gid rules refuse it; it is not logged: one line per datagram would
 * let a flood fill the log). */
static int peer_allowed(void *arg, const struct sockaddr *sa, socklen_t len)
{
	struct pl_server *s = arg;

	if (!s->cfg.acl || pl_acl_check(s->cfg.acl, sa, len, NULL) == PL_ACL_ALLOW)
		return 1;
	s->stats.closed[PL_CLOSE_DENIED]++;
	return 0;
}

static const struct dgram_owner dgram_owner = { peer_admit, peer_opened, peer_closed, peers_quiet,
						 peer_allowed };

/* -ENOTSUP when fd is not a datagram socket. */
static int add_dgram(struct pl_server *s, int fd, int owned)
{
	struct pl_dgram **v;
	int type = 0, r;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_DGRAM)
		return -ENOTSUP;
	if (!(v = realloc(s->dgrams, (s->ndgrams + 1) * sizeof(struct pl_dgram *))))
		return -ENOMEM;
	s->dgrams = v;
	if ((r = dgram_open(&s->x, fd, owned, &dgram_owner, s, &v[s->ndgrams])) == 0)
		s->ndgrams++;
	return r;
}

static int dgrams_quiet(const struct pl_server *s)
{
	for (size_t i = 0; i < s->ndgrams; i++)
		if (!dgram_quiet(s->dgrams[i]))
			return 0;
	return 1;
}

static void dgram_stats(const struct pl_server *s, struct pl_server_stats *st)
{
	memset(st->dropped, 0, sizeof(st->dropped));
	for (size_t i = 0; i < s->ndgrams; i++)
		for (int r = 0; r < PL_DROP_REASONS; r++)
			st->dropped[r] += dgram_dropped(s->dgrams[i])[r];
}
