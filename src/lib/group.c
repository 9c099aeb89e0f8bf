/* group.c - N event loops on N threads, each with its own server.
 *
 * The loops share nothing but the servers' pl_server_shared counters, so
 * nothing here takes a lock: the only thing crossing threads is an eventfd
 * per loop, written to ask for shutdown. */
#include "parley/group.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct member {
	struct pl_loop *loop;
	struct pl_server *srv;
	struct pl_io wake;   /* an eventfd: pl_group_shutdown asks for shutdown */
	pthread_t tid;
	int started;         /* tid is a thread to join */
	int rc;              /* its pl_loop_run's result */
};

struct pl_group {
	unsigned n;
	struct pl_server_shared shared; /* when the config brings none */
	struct member m[];
};

static void on_wake(struct pl_loop *loop, struct pl_io *io, unsigned events)
{
	struct member *m = io->data;
	uint64_t n;

	(void)events;
	if (read(io->fd, &n, sizeof(n)) < 0 && errno == EAGAIN)
		return;
	pl_io_stop(loop, io);
	pl_server_shutdown(m->srv);
}

static int member_new(struct member *m, const struct pl_server_config *cfg)
{
	int r, fd;

	if ((r = pl_loop_new(&m->loop)) < 0 || (r = pl_server_new(m->loop, cfg, &m->srv)) < 0)
		return r;
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	pl_io_init(&m->wake, fd, on_wake, m);
	return pl_io_start(m->loop, &m->wake, PL_READ);
}

static void member_free(struct member *m)
{
	pl_server_free(m->srv);
	if (m->wake.fd >= 0)
		close(m->wake.fd);
	pl_loop_free(m->loop);
}

int pl_group_new(unsigned n, const struct pl_server_config *cfg, struct pl_group **out)
{
	struct pl_server_config c = *cfg;
	struct pl_group *g;
	int r = 0;

	if (n < 1 || n > PL_GROUP_MAX)
		return -EINVAL;
	g = calloc(1, sizeof(*g) + n * sizeof(g->m[0]));
	if (!g)
		return -ENOMEM;
	g->n = n;
	/* one server alone needs no shared counters (nor their eventfd) */
	if (n > 1 && !c.shared)
		c.shared = &g->shared;
	for (unsigned i = 0; i < n; i++)
		g->m[i].wake.fd = -1;
	for (unsigned i = 0; i < n && r == 0; i++)
		r = member_new(&g->m[i], &c);
	if (r < 0) {
		pl_group_free(g);
		return r;
	}
	*out = g;
	return 0;
}

unsigned pl_group_size(const struct pl_group *g) { return g->n; }
struct pl_loop *pl_group_loop(const struct pl_group *g, unsigned i) { return g->m[i].loop; }
struct pl_server *pl_group_server(const struct pl_group *g, unsigned i) { return g->m[i].srv; }

/* Loops from..n-1 watch a duplicate of listener fd, which stays with
 * whoever made it: only one server may remove a Unix socket file. */
static int share(struct pl_group *g, unsigned from, int fd, struct pl_tls *tls, unsigned *failed)
{
	for (unsigned i = from; i < g->n; i++) {
		int d = fcntl(fd, F_DUPFD_CLOEXEC, 0), r;
		if (d < 0 || (r = pl_server_adopt_fd(g->m[i].srv, d)) < 0) {
			r = d < 0 ? -errno : r;
			if (d >= 0)
				close(d);
			*failed = i;
			return r;
		}
		if (tls)
			pl_server_set_tls(g->m[i].srv, d, tls);
	}
	return 0;
}

/* Loops 1.. each listen on a, port included, joining loop 0's group. */
static int join(struct pl_group *g, const struct pl_addr *a, const struct pl_listen_opts *o,
		struct pl_tls *tls, unsigned *failed)
{
	for (unsigned i = 1; i < g->n; i++) {
		int fd = pl_listen(a, o), r;
		if (fd < 0 || (r = pl_server_listen_fd(g->m[i].srv, fd)) < 0) {
			if (fd >= 0)
				close(fd);
			*failed = i;
			return fd < 0 ? fd : r;
		}
		if (tls)
			pl_server_set_tls(g->m[i].srv, fd, tls);
	}
	return 0;
}

int pl_group_listen(struct pl_group *g, const struct pl_addr *a, const struct pl_listen_opts *o,
		    struct pl_addr *bound, unsigned *failed)
{
	return pl_group_listen_tls(g, a, o, NULL, bound, failed);
}

int pl_group_listen_tls(struct pl_group *g, const struct pl_addr *a,
			const struct pl_listen_opts *o, struct pl_tls *tls, struct pl_addr *bound,
			unsigned *failed)
{
	struct pl_listen_opts lo = { 0 };
	struct pl_addr at = *a, local;
	unsigned dummy;
	int fd, r;

	if (!failed)
		failed = &dummy;
	*failed = 0;
	if (o)
		lo = *o;
	lo.nonblock = 1;
	lo.reuseport = g->n > 1 ? PL_REUSEPORT_NEW : 0;
	fd = pl_listen(&at, &lo);
	if (fd < 0)
		return fd;
	if ((r = pl_server_listen_fd(g->m[0].srv, fd)) < 0) {
		close(fd);
		return r;
	}
	if (tls)
		pl_server_set_tls(g->m[0].srv, fd, tls);
	if ((r = pl_addr_local(fd, &local)) < 0)
		return r;
	if (bound)
		*bound = local;
	if (at.kind != PL_ADDR_IP4 && at.kind != PL_ADDR_IP6 && at.kind != PL_ADDR_ANY)
		return share(g, 1, fd, tls, failed);
	lo.reuseport = PL_REUSEPORT_JOIN;
	at.port = local.port;
	return join(g, &at, &lo, tls, failed);
}

int pl_group_adopt_fd(struct pl_group *g, int fd, unsigned *failed)
{
	return pl_group_adopt_fd_tls(g, fd, NULL, failed);
}

int pl_group_adopt_fd_tls(struct pl_group *g, int fd, struct pl_tls *tls, unsigned *failed)
{
	unsigned dummy;
	int r;

	if (!failed)
		failed = &dummy;
	*failed = 0;
	if ((r = pl_server_adopt_fd(g->m[0].srv, fd)) < 0)
		return r;
	if (tls)
		pl_server_set_tls(g->m[0].srv, fd, tls);
	return share(g, 1, fd, tls, failed);
}

static void *run(void *arg)
{
	struct member *m = arg;

	m->rc = pl_loop_run(m->loop);
	return NULL;
}

int pl_group_start(struct pl_group *g)
{
	for (unsigned i = 1; i < g->n; i++) {
		if (g->m[i].started)
			continue;
		int r = pthread_create(&g->m[i].tid, NULL, run, &g->m[i]);
		if (r != 0)
			return -r;
		g->m[i].started = 1;
	}
	return 0;
}

void pl_group_shutdown(struct pl_group *g)
{
	uint64_t one = 1;

	/* an eventfd write fails only when its counter would overflow, and
	 * then a wake-up is pending anyway */
	for (unsigned i = 0; i < g->n; i++)
		if (g->m[i].wake.fd >= 0)
			(void)!write(g->m[i].wake.fd, &one, sizeof(one));
}

static void add_stats(struct pl_server_stats *sum, const struct pl_server_stats *st)
{
	sum->accepted += st->accepted;
	sum->requests += st->requests;
	for (int r = 0; r < PL_CLOSE_REASONS; r++)
		sum->closed[r] += st->closed[r];
	sum->open += st->open;
	sum->peers += st->peers;
	sum->peers_open += st->peers_open;
	for (int r = 0; r < PL_DROP_REASONS; r++)
		sum->dropped[r] += st->dropped[r];
}

int pl_group_finish(struct pl_group *g, struct pl_server_stats *sum, struct pl_server_stats *each)
{
	int rc = 0;

	if (sum)
		memset(sum, 0, sizeof(*sum));
	if (!g)
		return 0;
	pl_group_shutdown(g);
	/* every thread first: freeing loop 0 unblocks the signals it reads, and
	 * a second SIGTERM must not kill threads still draining */
	for (unsigned i = 1; i < g->n; i++) {
		if (!g->m[i].started)
			continue;
		pthread_join(g->m[i].tid, NULL);
		if (rc == 0)
			rc = g->m[i].rc;
	}
	for (unsigned i = 0; i < g->n; i++) {
		if (g->m[i].srv && sum)
			add_stats(sum, pl_server_stats(g->m[i].srv));
		if (g->m[i].srv && each)
			each[i] = *pl_server_stats(g->m[i].srv);
		member_free(&g->m[i]);
	}
	free(g);
	return rc;
}

void pl_group_free(struct pl_group *g) { pl_group_finish(g, NULL, NULL); }
