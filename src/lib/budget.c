/*
 * budget.c - max_memory: the connection buffers of one server, or of
 * several servers (one per thread), held under one budget.
 *
 * Each connection's buffer capacity is added to the shared total when it
 * changes (not per request: an idle-to-busy connection with small
 * messages holds no buffer of its own).  Over the budget, the connection
 * with the most unsent output goes first (a client that never reads), then
 * the one holding the largest partial request, whichever server (thread)
 * holds it: each server publishes at least its biggest client's key, and
 * one that is over the budget but holds a smaller client than another's
 * wakes that one to close its own (only a connection's own loop may touch
 * it).
 */
#include "server_int.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

static unsigned long long hog_key(const struct pl_conn *c)
{
	/* by capacity, which changes only where charge() sees it */
	return c->out.cap ? 1ULL << 63 | c->out.cap : c->in.cap;
}

static struct pl_conn *hog(struct pl_server *s)
{
	struct pl_conn *best = NULL;
	unsigned long long bk = 0;

	for (struct pl_conn *c = s->x.conns; c; c = c->next) {
		unsigned long long k = hog_key(c);
		if (c->mem && (!best || k > bk || (k == bk && c->mem > best->mem))) {
			best = c;
			bk = k;
		}
	}
	return best;
}

/* The slot of a server holding a bigger client than ours (mine, exact: we
 * just looked at every one), or -1. */
static int bigger_elsewhere(struct pl_server *s, unsigned long long mine)
{
	struct pl_server_shared *sh = s->sh;
	unsigned n = atomic_load_explicit(&sh->nservers, memory_order_relaxed);
	int best = -1;

	if (s->slot < 0)
		return -1;
	atomic_store_explicit(&sh->server[s->slot].top, mine, memory_order_relaxed);
	for (unsigned i = 0; i < n && i < PL_SHARED_SERVERS; i++) {
		unsigned long long t = atomic_load_explicit(&sh->server[i].top, memory_order_relaxed);
		if ((int)i != s->slot && t > mine) {
			mine = t;
			best = (int)i;
		}
	}
	return best;
}

static void enforce(struct pl_server *s)
{
	while (atomic_load_explicit(&s->sh->mem, memory_order_relaxed) > s->cfg.max_memory) {
		struct pl_conn *victim = hog(s);
		int other = bigger_elsewhere(s, victim ? hog_key(victim) : 0);

		if (other >= 0) {
			/* over the budget until that loop runs: a moment */
			uint64_t one = 1;
			int fd = atomic_load_explicit(&s->sh->server[other].wake, memory_order_relaxed);
			if (fd >= 0)
				(void)!write(fd, &one, sizeof(one));
			return;
		}
		if (!victim)
			return;
		conn_close(victim, PL_CLOSE_MEMORY, -ENOMEM, victim->mem);
	}
}

void budget_charge(struct pl_conn *c, size_t was, size_t now)
{
	struct pl_server *s = (struct pl_server *)c->x;
	unsigned long long key = c->closing ? 0 : hog_key(c);

	/* only we write our slot; it may stay above what we hold (an upper bound) */
	if (s->slot >= 0 &&
	    key > atomic_load_explicit(&s->sh->server[s->slot].top, memory_order_relaxed))
		atomic_store_explicit(&s->sh->server[s->slot].top, key, memory_order_relaxed);
	if (now < was) {
		atomic_fetch_sub_explicit(&s->sh->mem, was - now, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&s->sh->mem, now - was, memory_order_relaxed);
	if (s->cfg.max_memory)
		enforce(s);
}

void budget_closed(struct pl_server *s)
{
	if (!s->x.conns && s->slot >= 0) /* a drained server's loop may stop: never ask it */
		atomic_store_explicit(&s->sh->server[s->slot].top, 0, memory_order_relaxed);
}

static void on_wake(struct pl_loop *loop, struct pl_io *io, unsigned events)
{
	struct pl_server *s = io->data;
	uint64_t n;

	(void)loop;
	(void)events;
	(void)!read(io->fd, &n, sizeof(n));
	enforce(s);
}

int budget_join(struct pl_server *s)
{
	unsigned slot;
	int r;

	s->slot = -1;
	pl_io_init(&s->wake, -1, on_wake, s);
	if (!s->cfg.shared || !s->cfg.max_memory)
		return 0;
	/* a budget shared with other servers: join it, and take their wake-ups */
	slot = atomic_fetch_add_explicit(&s->sh->nservers, 1, memory_order_relaxed);
	if (slot >= PL_SHARED_SERVERS)
		return -ENOSPC;
	if ((s->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		return -errno;
	if ((r = pl_io_start(s->x.loop, &s->wake, PL_READ)) < 0)
		return r;
	s->slot = (int)slot;
	atomic_store_explicit(&s->sh->server[slot].wake, s->wake.fd, memory_order_relaxed);
	return 0;
}

void budget_leave(struct pl_server *s)
{
	if (s->slot >= 0) {
		atomic_store_explicit(&s->sh->server[s->slot].top, 0, memory_order_relaxed);
		atomic_store_explicit(&s->sh->server[s->slot].wake, -1, memory_order_relaxed);
	}
	if (s->wake.fd >= 0) {
		pl_io_stop(s->x.loop, &s->wake);
		close(s->wake.fd);
		s->wake.fd = -1;
	}
}
