/* server.c - accept, read, frame, dispatch, reply, drain. */
#include "parley/server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "parley/buf.h"
#include "parley/sock.h"

#define READ_SIZE (256 * 1024)     /* the shared read buffer */
#define READ_MORE (16 * 1024)      /* room added to a connection's own buffer */
#define ACCEPTS_PER_WAKEUP 64      /* keep existing clients' latency during a storm */
#define ACCEPT_PAUSE_MS 100        /* after ENOBUFS/ENOMEM or a lost spare fd */
#define OUT_CAP_DEFAULT (1024 * 1024)
#define DRAIN_DEFAULT_MS 5000
#define SHUTDOWN_ACCEPTS 4096       /* a full SOMAXCONN backlog */
#define SCRATCH_KEEP (1024 * 1024)  /* a reply batch larger than this is not kept */

struct pl_conn {
	struct pl_io io;
	struct pl_server *srv;
	struct pl_conn *prev, *next; /* open connections; next also links the dead */
	struct pl_buf in, out;
	struct pl_timer timer;      /* idle, send and request timeouts */
	long long last_active;       /* last byte read or written */
	long long last_sent;         /* last write progress, or when output began to wait */
	long long msg_start;         /* when the partial request in `in` began to wait */
	size_t scanned;              /* leading bytes of `in` searched for a line end */
	size_t mem;                  /* bytes of in and out, as counted in shared->mem */
	unsigned long long key;      /* hog_key() as of the last charge() */
	unsigned eof : 1, closing : 1;
	struct sockaddr_in6 peer;    /* AF_INET, AF_INET6 or AF_UNIX (unnamed) */
};

struct listener {
	struct pl_io io;
	struct pl_server *srv;
	unsigned long ino; /* of its Unix socket file, removed on close */
};

struct pl_server {
	struct pl_loop *loop;
	struct pl_server_config cfg;
	struct pl_server_stats stats;
	struct listener *ls;
	size_t nls;
	struct pl_conn *conns, *dead;
	struct pl_conn *current;     /* whose requests are being handed out */
	struct pl_buf scratch;       /* current's replies, before they are written */
	uint8_t *rbuf;
	int spare_fd;                /* given up to shed clients when fds run out */
	int accept_failing;
	int draining;
	struct pl_timer accept_timer, drain_timer;
	struct pl_addr peer_text;    /* what pl_conn_peer returns */
	struct pl_server_shared own, *sh; /* sh: own, or the config's */
	int slot;                    /* in sh->server[], or -1: the budget is ours alone */
	struct pl_io wake;           /* another server asks us to shed our biggest client */
};

static const char *const reason_names[PL_CLOSE_REASONS] = {
	"eof", "reset", "idle", "oversize", "limit", "shutdown", "app", "nomem", "stalled",
	"slow", "memory",
};

const char *pl_close_reason_name(enum pl_close_reason r)
{
	return (unsigned)r < PL_CLOSE_REASONS ? reason_names[r] : "?";
}

static void emit(struct pl_server *s, enum pl_server_event_type type, struct pl_conn *c,
		 enum pl_close_reason reason, int err, uint64_t size)
{
	struct pl_server_event ev = { type, c, c ? pl_conn_peer(c) : NULL, reason, err, size };

	if (s->cfg.on_event)
		s->cfg.on_event(&ev, s->cfg.arg);
}

const struct pl_addr *pl_conn_peer(const struct pl_conn *c)
{
	struct pl_addr *a = &c->srv->peer_text;

	if (pl_addr_from_sockaddr(a, (const struct sockaddr *)&c->peer, sizeof(c->peer)) < 0 ||
	    c->peer.sin6_family == AF_UNIX) {
		memset(a, 0, sizeof(*a));
		a->kind = PL_ADDR_UNIX; /* Unix clients are unnamed */
	}
	return a;
}

int pl_conn_fd(const struct pl_conn *c) { return c->io.fd; }

const struct pl_server_stats *pl_server_stats(const struct pl_server *s) { return &s->stats; }

static void maybe_drained(struct pl_server *s)
{
	if (s->draining && s->stats.open == 0) {
		pl_timer_stop(s->loop, &s->drain_timer);
		emit(s, PL_EV_DRAINED, NULL, 0, 0, 0);
		pl_loop_stop(s->loop);
	}
}

static void conn_close(struct pl_conn *c, enum pl_close_reason why, int err, uint64_t size)
{
	struct pl_server *s = c->srv;

	if (c->closing)
		return;
	c->closing = 1;
	if (s->current == c) {
		/* replies batched for c must not leak into the next connection */
		s->current = NULL;
		s->scratch.start = s->scratch.end = 0;
	}
	emit(s, PL_EV_CLOSE, c, why, err, size);
	pl_io_stop(s->loop, &c->io);
	pl_timer_stop(s->loop, &c->timer);
	close(c->io.fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	/* freed after the iteration: events for it may still be in this batch */
	c->next = s->dead;
	s->dead = c;
	s->stats.closed[why]++;
	s->stats.open--;
	atomic_fetch_sub_explicit(&s->sh->open, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&s->sh->mem, c->mem, memory_order_relaxed);
	c->mem = 0;
	c->key = 0;
	if (!s->conns && s->slot >= 0) /* a drained server's loop may stop: never ask it */
		atomic_store_explicit(&s->sh->server[s->slot].top, 0, memory_order_relaxed);
	maybe_drained(s);
}

void pl_conn_close(struct pl_conn *c) { conn_close(c, PL_CLOSE_APP, 0, 0); }

static void free_dead(struct pl_loop *loop, void *arg)
{
	struct pl_server *s = arg;

	(void)loop;
	while (s->dead) {
		struct pl_conn *c = s->dead;
		s->dead = c->next;
		pl_buf_free(&c->in);
		pl_buf_free(&c->out);
		free(c);
	}
}

static size_t unsent(const struct pl_conn *c)
{
	return pl_buf_len(&c->out) + (c->srv->current == c ? pl_buf_len(&c->srv->scratch) : 0);
}

static long long earliest(long long a, long long b) { return a < 0 || (b >= 0 && b < a) ? b : a; }

/* A partial request is timed only while it is being read: output held
 * back under backpressure is the send timeout's business. */
static int request_pending(const struct pl_conn *c)
{
	return c->srv->cfg.request_timeout_ms && pl_buf_len(&c->in) && c->io.events & PL_READ;
}

static long long next_check(const struct pl_conn *c)
{
	const struct pl_server_config *cfg = &c->srv->cfg;
	long long idle = cfg->idle_timeout_ms ? c->last_active + cfg->idle_timeout_ms : -1;
	long long stall = cfg->send_timeout_ms && pl_buf_len(&c->out)
		? c->last_sent + cfg->send_timeout_ms : -1;
	long long req = request_pending(c) ? c->msg_start + cfg->request_timeout_ms : -1;

	return earliest(earliest(idle, stall), req);
}

/* Pulls c's timer earlier to due when it would fire later (rare work:
 * it is only ever pulled, and activity never pushes it back). */
static void check_by(struct pl_conn *c, long long due)
{
	struct pl_loop *loop = c->srv->loop;

	if (!pl_timer_active(&c->timer) || c->timer.deadline > due)
		if (pl_timer_start(loop, &c->timer, due - pl_loop_now(loop)) < 0)
			conn_close(c, PL_CLOSE_NOMEM, -ENOMEM, 0);
}

/* A partial request starts to wait for the rest of its bytes. */
static void partial_begins(struct pl_conn *c)
{
	c->msg_start = pl_loop_now(c->srv->loop);
	if (c->srv->cfg.request_timeout_ms)
		check_by(c, c->msg_start + c->srv->cfg.request_timeout_ms);
}

/* Output just started to wait for the socket: the send timeout starts now.
 * The timer is only ever pulled earlier here, so this is rare work. */
static void output_waits(struct pl_conn *c)
{
	c->last_sent = pl_loop_now(c->srv->loop);
	if (c->srv->cfg.send_timeout_ms)
		check_by(c, c->last_sent + c->srv->cfg.send_timeout_ms);
}

/*
 * The memory budget.  Each connection's buffer capacity is added to the
 * shared total when it changes (not per request: an idle-to-busy
 * connection with small messages holds no buffer of its own).  Over the
 * budget, the connection with the most unsent output goes first (a client
 * that never reads), then the one holding the largest partial request,
 * whichever server (thread) holds it: each server publishes at least its
 * biggest client's key, and one that is over the budget but holds a
 * smaller client than another's wakes that one to close its own (only a
 * connection's own loop may touch it).
 */
static unsigned long long hog_key(const struct pl_conn *c)
{
	/* by capacity, which changes only where charge() sees it */
	return c->out.cap ? 1ULL << 63 | c->out.cap : c->in.cap;
}

static struct pl_conn *hog(struct pl_server *s)
{
	struct pl_conn *best = NULL;

	for (struct pl_conn *c = s->conns; c; c = c->next)
		if (c->mem && (!best || c->key > best->key || (c->key == best->key && c->mem > best->mem)))
			best = c;
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

static void enforce_budget(struct pl_server *s)
{
	while (atomic_load_explicit(&s->sh->mem, memory_order_relaxed) > s->cfg.max_memory) {
		struct pl_conn *victim = hog(s);
		int other = bigger_elsewhere(s, victim ? victim->key : 0);

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

static void on_wake(struct pl_loop *loop, struct pl_io *io, unsigned events)
{
	struct pl_server *s = io->data;
	uint64_t n;

	(void)loop;
	(void)events;
	(void)!read(io->fd, &n, sizeof(n));
	enforce_budget(s);
}

/* Brings c's share of the total up to date; over the budget, evicts.
 * c itself may be closed on return. */
static void charge(struct pl_conn *c)
{
	struct pl_server *s = c->srv;
	size_t now = c->closing ? 0 : c->in.cap + c->out.cap;
	size_t was = c->mem;
	unsigned long long key = c->closing ? 0 : hog_key(c);

	/* called after every batch: nothing shared is touched unless a
	 * capacity changed (the key is made of the capacities too) */
	if (now == was && key == c->key)
		return;
	c->key = key;
	/* only we write our slot; it may stay above what we hold (an upper bound) */
	if (s->slot >= 0 &&
	    key > atomic_load_explicit(&s->sh->server[s->slot].top, memory_order_relaxed))
		atomic_store_explicit(&s->sh->server[s->slot].top, key, memory_order_relaxed);
	if (now == was)
		return;
	c->mem = now;
	if (now < was) {
		atomic_fetch_sub_explicit(&s->sh->mem, was - now, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&s->sh->mem, now - was, memory_order_relaxed);
	if (s->cfg.max_memory)
		enforce_budget(s);
}

int pl_conn_reply(struct pl_conn *c, const void *msg, size_t len)
{
	struct pl_server *s = c->srv;
	/* the current connection's replies batch up in the shared scratch
	 * buffer unless older output is still waiting (order must hold) */
	struct pl_buf *b = s->current == c && !pl_buf_len(&c->out) ? &s->scratch : &c->out;
	int was_empty = !pl_buf_len(&c->out), r;

	if (c->closing)
		return -EPIPE;
	r = pl_frame_append(s->cfg.proto, b, msg, len);
	if (r < 0) {
		conn_close(c, PL_CLOSE_NOMEM, r, 0);
		return r;
	}
	if (b == &c->out && was_empty)
		output_waits(c);
	if (b == &c->out && s->current != c && !c->closing) {
		if ((r = pl_io_start(s->loop, &c->io, c->io.events | PL_WRITE)) < 0)
			conn_close(c, PL_CLOSE_RESET, r, 0);
		charge(c);
	}
	return c->closing ? -EPIPE : 0;
}

static int flush(struct pl_conn *c);

/*
 * Hands out whole requests from p[0..n), whose first `scanned` bytes are
 * known to hold no line end; returns the bytes used.  Leaves in c->scanned
 * how much of the rest was searched (all of it when it stopped for want of
 * bytes), so a long line arriving in pieces is searched once, not per read.
 */
static size_t process(struct pl_conn *c, const uint8_t *p, size_t n, size_t scanned)
{
	struct pl_server *s = c->srv;
	size_t used = 0;

	s->current = c;
	c->scanned = 0;
	while (!c->closing && unsent(c) <= s->cfg.out_cap) {
		struct pl_frame f;
		int r = pl_frame_parse_from(s->cfg.proto, p + used, n - used, s->cfg.max_msg,
					    used ? 0 : scanned, &f);
		if (r == 0) {
			c->scanned = n - used;
			break;
		}
		if (r < 0) {
			/* replies to the good requests before it still leave (best effort) */
			if (flush(c) == 0)
				conn_close(c, PL_CLOSE_OVERSIZE, r, f.declared);
			break;
		}
		used += f.used;
		s->stats.requests++;
		s->cfg.on_request(c, f.msg, f.len, s->cfg.arg);
	}
	return used;
}

/* Moves the scratch replies of c (if any) to the socket, the rest to c->out. */
static int flush(struct pl_conn *c)
{
	struct pl_server *s = c->srv;
	struct pl_buf *b = pl_buf_len(&c->out) ? &c->out : &s->scratch;
	int r = 0;

	if (s->current == c)
		s->current = NULL;
	while (pl_buf_len(b)) {
		ssize_t n = send(c->io.fd, pl_buf_head(b), pl_buf_len(b), MSG_NOSIGNAL);
		if (n > 0) {
			pl_buf_consume(b, (size_t)n);
			c->last_active = c->last_sent = pl_loop_now(s->loop);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			r = -errno;
		break;
	}
	if (b == &s->scratch && pl_buf_len(b) && r == 0) {
		if (pl_buf_append(&c->out, pl_buf_head(b), pl_buf_len(b)) < 0)
			r = -ENOMEM;
		else
			output_waits(c);
	}
	s->scratch.start = s->scratch.end = 0;
	if (s->scratch.cap > SCRATCH_KEEP)
		pl_buf_free(&s->scratch); /* a burst of large replies is over */
	if (r < 0)
		conn_close(c, r == -ENOMEM ? PL_CLOSE_NOMEM : PL_CLOSE_RESET, r, 0);
	else
		pl_buf_release(&c->out);
	return r;
}

/* No request pending and no reply unsent, in our buffers or the kernel's. */
static int quiet(const struct pl_conn *c)
{
	char byte;

	if (pl_buf_len(&c->out) || (pl_buf_len(&c->in) && !c->eof))
		return 0;
	/* a peek, not FIONREAD: that is not reliable for every socket type */
	return c->eof || recv(c->io.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
}

static void update_interest(struct pl_conn *c)
{
	struct pl_server *s = c->srv;
	unsigned want = 0, was = c->io.events;
	int r;

	if (!c->eof && pl_buf_len(&c->out) <= s->cfg.out_cap)
		want |= PL_READ;
	if (pl_buf_len(&c->out))
		want |= PL_WRITE;
	if (want == was)
		return;
	if ((r = pl_io_start(s->loop, &c->io, want)) < 0) {
		conn_close(c, PL_CLOSE_RESET, r, 0);
		return;
	}
	/* reading again after backpressure: the partial request's clock restarts */
	if (want & PL_READ && !(was & PL_READ) && pl_buf_len(&c->in))
		partial_begins(c);
}

/* Serves what c has buffered, writes, and decides what to wait for next. */
static void pump(struct pl_conn *c)
{
	struct pl_server *s = c->srv;

	for (;;) {
		size_t used = 0;
		/* replies not yet flushed (do_read's batch) may be over the cap:
		 * then they go first, and the requests after them next turn */
		int full = unsent(c) > s->cfg.out_cap;
		if (pl_buf_len(&c->in) && !full) {
			used = process(c, pl_buf_head(&c->in), pl_buf_len(&c->in), c->scanned);
			pl_buf_consume(&c->in, used);
			if (used && pl_buf_len(&c->in))
				partial_begins(c);
		}
		if (c->closing || flush(c) < 0)
			return;
		/* whole requests must not wait in `in` while output is under the
		 * cap: nothing may wake us for them, and the request timeout
		 * would take them for a slow one */
		if ((!used && !full) || pl_buf_len(&c->out) > s->cfg.out_cap || !pl_buf_len(&c->in))
			break;
	}
	pl_buf_release(&c->in);
	charge(c);
	if (c->closing)
		return;
	if (c->eof && !pl_buf_len(&c->out)) {
		conn_close(c, PL_CLOSE_EOF, 0, 0);
		return;
	}
	if (s->draining && quiet(c)) {
		conn_close(c, PL_CLOSE_SHUTDOWN, 0, 0);
		return;
	}
	update_interest(c);
}

/* Room to ask for when c already holds part of a message.  A large message
 * arriving in pieces grows the buffer towards its declared size, but by at
 * most what has arrived so far, so memory follows the bytes really sent. */
static size_t read_want(const struct pl_conn *c)
{
	struct pl_frame f;
	size_t have = pl_buf_len(&c->in), want = READ_MORE;

	/* only len messages say their size up front (and parsing a line here
	 * would search it once more per read) */
	if (c->srv->cfg.proto == PL_PROTO_LEN &&
	    pl_frame_parse(PL_PROTO_LEN, pl_buf_head(&c->in), have, c->srv->cfg.max_msg, &f) == 0 &&
	    f.used > have) {
		want = f.used - have < have ? f.used - have : have;
		if (want < READ_MORE)
			want = READ_MORE;
	}
	return want;
}

static void do_read(struct pl_conn *c)
{
	struct pl_server *s = c->srv;
	int shared = pl_buf_len(&c->in) == 0;
	uint8_t *dst;
	size_t room;
	ssize_t n;

	if (!shared) {
		if (pl_buf_reserve(&c->in, read_want(c)) < 0) {
			conn_close(c, PL_CLOSE_NOMEM, -ENOMEM, 0);
			return;
		}
		charge(c); /* over the budget, the hogs go first: maybe c */
		if (c->closing)
			return;
	}
	dst = shared ? s->rbuf : pl_buf_tail(&c->in);
	room = shared ? READ_SIZE : pl_buf_room(&c->in);
	n = recv(c->io.fd, dst, room, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		conn_close(c, PL_CLOSE_RESET, -errno, 0);
		return;
	}
	c->last_active = pl_loop_now(s->loop);
	if (n == 0) {
		/* an unterminated last line is still a line (what nc sends for printf 'a') */
		if (!c->eof && pl_frame_eof_tail(s->cfg.proto, pl_buf_head(&c->in), pl_buf_len(&c->in)) &&
		    pl_buf_append(&c->in, "\n", 1) < 0) {
			conn_close(c, PL_CLOSE_NOMEM, -ENOMEM, 0);
			return;
		}
		c->eof = 1;
	} else if (shared) {
		size_t used = process(c, dst, (size_t)n, 0);
		if (!c->closing && used < (size_t)n) {
			if (pl_buf_append(&c->in, dst + used, (size_t)n - used) < 0) {
				conn_close(c, PL_CLOSE_NOMEM, -ENOMEM, 0);
				return;
			}
			partial_begins(c);
		}
	} else {
		pl_buf_commit(&c->in, (size_t)n);
	}
	if (!c->closing)
		pump(c);
}

static void on_conn(struct pl_loop *loop, struct pl_io *io, unsigned events)
{
	struct pl_conn *c = (struct pl_conn *)((char *)io - offsetof(struct pl_conn, io));

	(void)loop;
	if (events & PL_WRITE) {
		pump(c);
		if (c->closing)
			return;
	}
	if (events & (PL_READ | PL_ERROR) && (c->io.events & PL_READ || events & PL_ERROR))
		do_read(c);
}

static void on_timer(struct pl_loop *loop, struct pl_timer *t)
{
	struct pl_conn *c = t->data;
	const struct pl_server_config *cfg = &c->srv->cfg;
	long long now = pl_loop_now(loop), due;

	if (cfg->send_timeout_ms && pl_buf_len(&c->out) && now >= c->last_sent + cfg->send_timeout_ms) {
		conn_close(c, PL_CLOSE_STALLED, -ETIMEDOUT, 0);
		return;
	}
	if (request_pending(c) && now >= c->msg_start + cfg->request_timeout_ms) {
		conn_close(c, PL_CLOSE_SLOW, -ETIMEDOUT, pl_buf_len(&c->in));
		return;
	}
	if (cfg->idle_timeout_ms && now >= c->last_active + cfg->idle_timeout_ms) {
		conn_close(c, PL_CLOSE_IDLE, -ETIMEDOUT, 0);
		return;
	}
	/* activity only stamps last_active and last_sent; the timer catches up lazily here */
	due = next_check(c);
	if (due >= 0 && pl_timer_start(loop, t, due - now) < 0)
		conn_close(c, PL_CLOSE_NOMEM, -ENOMEM, 0);
}

static void add_conn(struct pl_server *s, int fd, const struct sockaddr_storage *ss)
{
	struct pl_conn *c;

	/* counted before the check: threads racing for the last slot cannot
	 * both take it */
	if (atomic_fetch_add_explicit(&s->sh->open, 1, memory_order_relaxed) >= s->cfg.max_conns &&
	    s->cfg.max_conns) {
		struct pl_conn tmp = { .srv = s };
		atomic_fetch_sub_explicit(&s->sh->open, 1, memory_order_relaxed);
		memcpy(&tmp.peer, ss, sizeof(tmp.peer));
		close(fd);
		s->stats.closed[PL_CLOSE_LIMIT]++;
		struct pl_server_event ev = { PL_EV_REJECT, NULL, pl_conn_peer(&tmp), PL_CLOSE_LIMIT, 0, 0 };
		if (s->cfg.on_event)
			s->cfg.on_event(&ev, s->cfg.arg);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		atomic_fetch_sub_explicit(&s->sh->open, 1, memory_order_relaxed);
		close(fd);
		return;
	}
	c->srv = s;
	memcpy(&c->peer, ss, sizeof(c->peer));
	if (ss->ss_family != AF_UNIX)
		pl_sock_nodelay(fd);
	pl_io_init(&c->io, fd, on_conn, c);
	pl_timer_init(&c->timer, on_timer, c);
	c->last_active = pl_loop_now(s->loop);
	if (pl_io_start(s->loop, &c->io, PL_READ) < 0) {
		atomic_fetch_sub_explicit(&s->sh->open, 1, memory_order_relaxed);
		close(fd);
		free(c);
		return;
	}
	if (s->cfg.idle_timeout_ms)
		pl_timer_start(s->loop, &c->timer, s->cfg.idle_timeout_ms);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->stats.accepted++;
	s->stats.open++;
	emit(s, PL_EV_OPEN, c, 0, 0, 0);
}

static void pause_accepting(struct pl_server *s, int on)
{
	for (size_t i = 0; i < s->nls; i++)
		pl_io_start(s->loop, &s->ls[i].io, on ? 0 : PL_READ);
	if (on)
		pl_timer_start(s->loop, &s->accept_timer, ACCEPT_PAUSE_MS);
}

static void on_accept_timer(struct pl_loop *loop, struct pl_timer *t)
{
	struct pl_server *s = t->data;

	(void)loop;
	if (!s->draining)
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
		emit(s, PL_EV_ACCEPT_ERROR, NULL, 0, -err, 0);
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
			emit(s, PL_EV_ACCEPT_RESUMED, NULL, 0, 0, 0);
		}
		add_conn(s, fd, &ss);
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

	if (!s || !cfg->on_request || !(s->rbuf = malloc(READ_SIZE))) {
		free(s);
		return cfg->on_request ? -ENOMEM : -EINVAL;
	}
	s->loop = loop;
	s->cfg = *cfg;
	if (!s->cfg.max_msg)
		s->cfg.max_msg = PL_FRAME_MAX_DEFAULT;
	if (!s->cfg.out_cap)
		s->cfg.out_cap = OUT_CAP_DEFAULT;
	if (!s->cfg.drain_timeout_ms)
		s->cfg.drain_timeout_ms = DRAIN_DEFAULT_MS;
	s->sh = cfg->shared ? cfg->shared : &s->own;
	if (pl_loop_add_post(loop, free_dead, s) < 0) {
		free(s->rbuf);
		free(s);
		return -ENOSPC;
	}
	s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pl_timer_init(&s->accept_timer, on_accept_timer, s);
	s->slot = -1;
	pl_io_init(&s->wake, -1, on_wake, s);
	if (cfg->shared && cfg->max_memory) {
		/* a budget shared with other servers: join it, and take their wake-ups */
		unsigned slot = atomic_fetch_add_explicit(&s->sh->nservers, 1, memory_order_relaxed);
		int r = slot < PL_SHARED_SERVERS ? 0 : -ENOSPC;
		if (r == 0 && (s->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
			r = -errno;
		if (r == 0 && (r = pl_io_start(loop, &s->wake, PL_READ)) == 0) {
			s->slot = (int)slot;
			atomic_store_explicit(&s->sh->server[slot].wake, s->wake.fd, memory_order_relaxed);
		}
		if (r < 0) {
			if (s->wake.fd >= 0)
				close(s->wake.fd);
			s->wake.fd = -1;
			pl_server_free(s);
			return r;
		}
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
		pl_io_stop(s->loop, &s->ls[i].io);
	ls = realloc(s->ls, (s->nls + 1) * sizeof(*ls));
	if (ls) {
		s->ls = ls;
		pl_io_init(&ls[s->nls].io, fd, on_listener, NULL);
		ls[s->nls].srv = s;
		ls[s->nls].ino = owned ? pl_listen_ino(fd) : 0;
		s->nls++;
	}
	for (size_t i = 0; i < s->nls; i++)
		if ((r = pl_io_start(s->loop, &s->ls[i].io, PL_READ)) < 0)
			return r;
	return ls ? 0 : -ENOMEM;
}

int pl_server_listen_fd(struct pl_server *s, int fd) { return add_listener(s, fd, 1); }
int pl_server_adopt_fd(struct pl_server *s, int fd) { return add_listener(s, fd, 0); }

static void close_listeners(struct pl_server *s)
{
	for (size_t i = 0; i < s->nls; i++) {
		pl_io_stop(s->loop, &s->ls[i].io);
		pl_listen_unlink(s->ls[i].io.fd, s->ls[i].ino);
		close(s->ls[i].io.fd);
	}
	s->nls = 0;
	pl_timer_stop(s->loop, &s->accept_timer);
}

static void close_all(struct pl_server *s)
{
	while (s->conns)
		conn_close(s->conns, PL_CLOSE_SHUTDOWN, 0, 0);
}

static void on_drain_timeout(struct pl_loop *loop, struct pl_timer *t)
{
	struct pl_server *s = t->data;

	close_all(s);
	pl_loop_stop(loop);
}

void pl_server_shutdown(struct pl_server *s)
{
	struct pl_conn *c, *next;

	if (s->draining)
		return;
	/* clients already in the accept queue have connected: serve them too,
	 * rather than resetting them when the listener closes */
	for (size_t i = 0; i < s->nls; i++)
		accept_some(s, &s->ls[i].io, SHUTDOWN_ACCEPTS);
	s->draining = 1;
	close_listeners(s);
	pl_timer_init(&s->drain_timer, on_drain_timeout, s);
	pl_timer_start(s->loop, &s->drain_timer, s->cfg.drain_timeout_ms);
	for (c = s->conns; c; c = next) {
		next = c->next;
		if (quiet(c))
			conn_close(c, PL_CLOSE_SHUTDOWN, 0, 0);
	}
	maybe_drained(s);
}

void pl_server_free(struct pl_server *s)
{
	if (!s)
		return;
	close_all(s);
	close_listeners(s);
	if (s->draining)
		pl_timer_stop(s->loop, &s->drain_timer);
	free_dead(s->loop, s);
	pl_loop_del_post(s->loop, free_dead, s);
	if (s->slot >= 0) {
		atomic_store_explicit(&s->sh->server[s->slot].top, 0, memory_order_relaxed);
		atomic_store_explicit(&s->sh->server[s->slot].wake, -1, memory_order_relaxed);
	}
	if (s->wake.fd >= 0) {
		pl_io_stop(s->loop, &s->wake);
		close(s->wake.fd);
	}
	if (s->spare_fd >= 0)
		close(s->spare_fd);
	pl_buf_free(&s->scratch);
	free(s->rbuf);
	free(s->ls);
	free(s);
}
