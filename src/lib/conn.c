/* conn.c - the connection data path: read, frame, dispatch, flush, time out. */
#include "conn_int.h"
#include "dgram_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "parley/sock.h"

#define READ_SIZE (256 * 1024)     /* the shared read buffer */
#define READ_MORE (16 * 1024)      /* room added to a connection's own buffer */
#define OUT_CAP_DEFAULT (1024 * 1024)
#define SCRATCH_KEEP (1024 * 1024)  /* a reply batch larger than this is not kept */

static const char *const reason_names[PL_CLOSE_REASONS] = {
	"eof", "reset", "idle", "oversize", "limit", "shutdown", "app", "nomem", "stalled",
	"slow", "memory", "tls", "denied",
};

const char *pl_close_reason_name(enum pl_close_reason r)
{
	return (unsigned)r < PL_CLOSE_REASONS ? reason_names[r] : "?";
}

int conn_ctx_init(struct conn_ctx *x, struct pl_loop *loop, const struct pl_conn_config *cfg,
		  const struct conn_owner *owner)
{
	memset(x, 0, sizeof(*x));
	if (!cfg->on_request)
		return -EINVAL;
	if (!(x->rbuf = malloc(READ_SIZE)))
		return -ENOMEM;
	x->loop = loop;
	x->cfg = *cfg;
	x->owner = owner;
	if (!x->cfg.max_msg)
		x->cfg.max_msg = PL_FRAME_MAX_DEFAULT;
	if (!x->cfg.out_cap)
		x->cfg.out_cap = OUT_CAP_DEFAULT;
	return 0;
}

void conn_ctx_free(struct conn_ctx *x)
{
	while (x->conns)
		conn_close(x->conns, PL_CLOSE_SHUTDOWN, 0, 0);
	pl_buf_free(&x->scratch);
	free(x->rbuf);
	x->rbuf = NULL;
}

/* ---- small accessors ---- */

const struct pl_addr *pl_conn_peer(const struct pl_conn *c)
{
	struct pl_addr *a = &c->x->peer_text;

	if (c->dgram)
		return dgram_peer(c);
	if (c->peer.sin6_family == AF_UNIX) {
		/* asked of the socket: an outbound connection's peer has the path
		 * we connected to, an accepted client is unnamed */
		if (pl_addr_peer(c->io.fd, a) == 0)
			return a;
	} else if (pl_addr_from_sockaddr(a, (const struct sockaddr *)&c->peer, sizeof(c->peer)) == 0) {
		return a;
	}
	memset(a, 0, sizeof(*a));
	a->kind = PL_ADDR_UNIX; /* Unix clients are unnamed */
	return a;
}

int pl_conn_fd(const struct pl_conn *c) { return c->io.fd; }
uint64_t pl_conn_close_size(const struct pl_conn *c) { return c->x->close_size; }
struct pl_loop *pl_conn_loop(const struct pl_conn *c) { return c->x->loop; }
void pl_conn_set_data(struct pl_conn *c, void *data) { c->data = data; }
void *pl_conn_data(const struct pl_conn *c) { return c->data; }

struct pl_transport *pl_conn_transport(const struct pl_conn *c) { return c->tp; }

static long long t_deadline(const struct pl_conn *c);
static void check_by(struct pl_conn *c, long long due);

int pl_conn_set_transport(struct pl_conn *c, struct pl_transport *t)
{
	long long due;

	if (c->dgram)
		return -EOPNOTSUPP;
	if (c->tp)
		return -EBUSY;
	c->tp = t;
	if ((due = t_deadline(c)) >= 0)
		check_by(c, due);
	return 0;
}

/* ---- the transport seam: the plain socket unless c has another ---- */

static ssize_t t_read(struct pl_conn *c, void *buf, size_t n)
{
	ssize_t r;

	if (c->tp)
		return c->tp->ops->read(c->tp, c->io.fd, buf, n);
	r = recv(c->io.fd, buf, n, 0);
	return r < 0 ? -errno : r;
}

static ssize_t t_write(struct pl_conn *c, const void *buf, size_t n)
{
	ssize_t r;

	if (c->tp)
		return c->tp->ops->write(c->tp, c->io.fd, buf, n);
	r = send(c->io.fd, buf, n, MSG_NOSIGNAL);
	return r < 0 ? -errno : r;
}

static int t_shutdown(struct pl_conn *c)
{
	if (c->tp)
		return c->tp->ops->shutdown(c->tp, c->io.fd);
	return shutdown(c->io.fd, SHUT_WR) < 0 ? -errno : 0;
}

/* A transport's deadline (a handshake to finish), or -1. */
static long long t_deadline(const struct pl_conn *c)
{
	return c->tp && c->tp->ops->deadline ? c->tp->ops->deadline(c->tp) : -1;
}

/* The close reason for a failed read or write. */
static enum pl_close_reason io_reason(const struct pl_conn *c, int err)
{
	if (err == -ENOMEM)
		return PL_CLOSE_NOMEM;
	return c->tp && err == -EPROTO ? PL_CLOSE_TLS : PL_CLOSE_RESET;
}

static size_t t_pending(const struct pl_conn *c)
{
	return c->tp && c->tp->ops->pending ? c->tp->ops->pending(c->tp) : 0;
}

/* The socket events to wait for when c wants `want`: a transport may need
 * the other direction (a TLS handshake writes to read). */
static unsigned t_events(const struct pl_conn *c, unsigned want)
{
	return c->tp && c->tp->ops->events && want ? c->tp->ops->events(c->tp, want) : want;
}

/* A SEQPACKET connection is len-framed whatever the owner's protocol:
 * its transport turns packets into len frames and back. */
static enum pl_proto proto(const struct pl_conn *c)
{
	return c->packet ? PL_PROTO_LEN : c->x->cfg.proto;
}

/* ---- closing ---- */

static void free_conn(struct pl_closing *h)
{
	struct pl_conn *c = (struct pl_conn *)((char *)h - offsetof(struct pl_conn, dead));

	pl_buf_free(&c->in);
	pl_buf_free(&c->out);
	free(c);
}

static void charge(struct pl_conn *c);

void conn_close(struct pl_conn *c, enum pl_close_reason why, int err, uint64_t size)
{
	struct conn_ctx *x = c->x;
	struct pl_loop *loop = x->loop; /* x may be gone after closed(): see below */

	if (c->dgram) {
		dgram_close(c, why, err);
		return;
	}
	if (c->closing)
		return;
	c->closing = 1;
	if (x->current == c) {
		/* replies batched for c must not leak into the next connection */
		x->current = NULL;
		x->scratch.start = x->scratch.end = 0;
	}
	pl_io_stop(x->loop, &c->io);
	pl_timer_stop(x->loop, &c->timer);
	if (c->prev)
		c->prev->next = c->next;
	else
		x->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	x->open--;
	charge(c); /* gives its share of the budget back */
	x->close_size = size; /* on_close has no argument for it */
	/* the owner's close callback may free the owner, x included (a
	 * client's on_close calling pl_client_free): touch only c and loop
	 * from here on */
	x->owner->closed(x, c, why, err, size);
	/* before the fd goes: a TLS close_notify may still be sent on it */
	if (c->tp) {
		c->tp->ops->free(c->tp);
		c->tp = NULL;
	}
	close(c->io.fd);
	/* freed after the iteration: events for it may still be in this batch */
	pl_loop_close(loop, &c->dead, free_conn);
}

void pl_conn_close(struct pl_conn *c) { conn_close(c, PL_CLOSE_APP, 0, 0); }

/* ---- timeouts: activity stamps times, the one timer catches up lazily ---- */

static size_t unsent(const struct pl_conn *c)
{
	return pl_buf_len(&c->out) + (c->x->current == c ? pl_buf_len(&c->x->scratch) : 0);
}

size_t pl_conn_unsent(const struct pl_conn *c) { return unsent(c); }

static long long earliest(long long a, long long b) { return a < 0 || (b >= 0 && b < a) ? b : a; }

/* Whether c reads now: not after the peer's end, nor while paused or over
 * its output cap (backpressure). */
static int wants_read(const struct pl_conn *c)
{
	return !c->eof && !c->paused && pl_buf_len(&c->out) <= c->x->cfg.out_cap;
}

/* A partial request is timed only while it is being read: output held
 * back under backpressure is the send timeout's business. */
static int request_pending(const struct pl_conn *c)
{
	return c->x->cfg.request_timeout_ms && pl_buf_len(&c->in) && wants_read(c);
}

static long long next_check(const struct pl_conn *c)
{
	const struct pl_conn_config *cfg = &c->x->cfg;
	long long idle = cfg->idle_timeout_ms ? c->last_active + cfg->idle_timeout_ms : -1;
	long long stall = cfg->send_timeout_ms && pl_buf_len(&c->out)
		? c->last_sent + cfg->send_timeout_ms : -1;
	long long req = request_pending(c) ? c->msg_start + cfg->request_timeout_ms : -1;

	return earliest(earliest(earliest(idle, stall), req), t_deadline(c));
}

/* Pulls c's timer earlier to due when it would fire later (rare work:
 * it is only ever pulled, and activity never pushes it back). */
static void check_by(struct pl_conn *c, long long due)
{
	struct pl_loop *loop = c->x->loop;

	if (!pl_timer_active(&c->timer) || c->timer.deadline > due)
		if (pl_timer_start(loop, &c->timer, due - pl_loop_now(loop)) < 0)
			conn_close(c, PL_CLOSE_NOMEM, -ENOMEM, 0);
}

/* A partial request starts to wait for the rest of its bytes. */
static void partial_begins(struct pl_conn *c)
{
	c->msg_start = pl_loop_now(c->x->loop);
	if (c->x->cfg.request_timeout_ms)
		check_by(c, c->msg_start + c->x->cfg.request_timeout_ms);
}

/* Output just started to wait for the socket: the send timeout starts now. */
static void output_waits(struct pl_conn *c)
{
	c->last_sent = pl_loop_now(c->x->loop);
	if (c->x->cfg.send_timeout_ms)
		check_by(c, c->last_sent + c->x->cfg.send_timeout_ms);
}

/* Brings the owner's count of c's buffers up to date.  Called after every
 * batch: nothing is touched unless a capacity changed.  c may be closed on
 * return (over a memory budget). */
static void charge(struct pl_conn *c)
{
	size_t now = c->closing ? 0 : c->in.cap + c->out.cap;
	size_t was = c->mem;

	if (now == was)
		return;
	c->mem = now;
	if (c->x->owner->charge)
		c->x->owner->charge(c, was, now);
}

/* ---- sending ---- */

static void update_interest(struct pl_conn *c);
static int flush(struct pl_conn *c);

int pl_conn_send(struct pl_conn *c, const void *msg, size_t len)
{
	struct conn_ctx *x = c->x;
	/* the current connection's replies batch up in the shared scratch
	 * buffer unless older output is still waiting (order must hold) */
	struct pl_buf *b = x->current == c && !pl_buf_len(&c->out) ? &x->scratch : &c->out;
	int was_empty = !pl_buf_len(&c->out), r;

	if (c->dgram)
		return dgram_send(c, msg, len);
	if (c->closing || c->shut)
		return -EPIPE;
	r = pl_frame_append(proto(c), b, msg, len);
	if (r == -EMSGSIZE)
		return r;
	if (r < 0) {
		conn_close(c, PL_CLOSE_NOMEM, r, 0);
		return r;
	}
	if (b == &c->out && was_empty)
		output_waits(c);
	if (b == &c->out && x->current != c) {
		/* no batch is being served (a client's request from a timer or a
		 * connect callback): with nothing queued before it, the message
		 * is written now, as uv_write does, rather than a turn of the
		 * loop later, after arming PL_WRITE and disarming it again.  A
		 * batch's scratch must stay untouched: not while one is served. */
		if (was_empty && !x->current && flush(c) < 0)
			return -EPIPE;
		update_interest(c);
		charge(c);
	}
	/* past the cap by sending (a proxy feeding c from another connection's
	 * callback): on_drain must follow even when the next write takes it
	 * all, or whoever paused on pl_conn_unsent would wait for ever */
	if (!c->closing && unsent(c) > x->cfg.out_cap)
		c->over = 1;
	return c->closing ? -EPIPE : 0;
}

int pl_conn_reply(struct pl_conn *c, const void *msg, size_t len) { return pl_conn_send(c, msg, len); }

/*
 * Hands out whole requests from p[0..n), whose first `scanned` bytes are
 * known to hold no line end; returns the bytes used.  Leaves in c->scanned
 * how much of the rest was searched (all of it when it stopped for want of
 * bytes), so a long line arriving in pieces is searched once, not per read.
 */
static size_t process(struct pl_conn *c, const uint8_t *p, size_t n, size_t scanned)
{
	struct conn_ctx *x = c->x;
	size_t used = 0;

	x->current = c;
	c->scanned = 0;
	while (!c->closing && !c->paused && unsent(c) <= x->cfg.out_cap) {
		struct pl_frame f;
		int r = pl_frame_parse_from(proto(c), p + used, n - used, x->cfg.max_msg,
					    used ? 0 : scanned, &f);
		if (r == 0) {
			/* max_msg is 32-bit: a partial message is shorter */
			c->scanned = (uint32_t)(n - used);
			break;
		}
		if (r < 0) {
			/* replies to the good requests before it still leave (best effort) */
			if (flush(c) == 0)
				conn_close(c, PL_CLOSE_OVERSIZE, r, f.declared);
			break;
		}
		used += f.used;
		x->requests++;
		x->cfg.on_request(c, f.msg, f.len, x->cfg.arg);
	}
	return used;
}

/* All output written after pl_conn_shutdown: the FIN (or close_notify) goes. */
static int finish_shutdown(struct pl_conn *c)
{
	int r;

	if (!c->shut || c->shut_done || pl_buf_len(&c->out))
		return 0;
	c->shut_done = 1;
	if ((r = t_shutdown(c)) < 0 && r != -ENOTCONN)
		return r;
	return 0;
}

/* Moves the scratch replies of c (if any) to the socket, the rest to c->out. */
static int flush(struct pl_conn *c)
{
	struct conn_ctx *x = c->x;
	struct pl_buf *b = pl_buf_len(&c->out) ? &c->out : &x->scratch;
	int r = 0;

	if (x->current == c)
		x->current = NULL;
	while (pl_buf_len(b)) {
		ssize_t n = t_write(c, pl_buf_head(b), pl_buf_len(b));
		if (n > 0) {
			pl_buf_consume(b, (size_t)n);
			c->last_active = c->last_sent = pl_loop_now(x->loop);
			continue;
		}
		if (n != -EINTR && n != -EAGAIN)
			r = n < 0 ? (int)n : -EIO;
		if (n != -EINTR)
			break;
	}
	if (b == &x->scratch && pl_buf_len(b) && r == 0) {
		if (pl_buf_append(&c->out, pl_buf_head(b), pl_buf_len(b)) < 0)
			r = -ENOMEM;
		else
			output_waits(c);
	}
	x->scratch.start = x->scratch.end = 0;
	if (x->scratch.cap > SCRATCH_KEEP)
		pl_buf_free(&x->scratch); /* a burst of large replies is over */
	if (r == 0)
		r = finish_shutdown(c);
	if (r < 0)
		conn_close(c, io_reason(c, r), r, 0);
	else
		pl_buf_release(&c->out);
	return r;
}

int conn_quiet(const struct pl_conn *c)
{
	char byte;

	if (c->held || pl_buf_len(&c->out) || (pl_buf_len(&c->in) && !c->eof) || t_pending(c))
		return 0;
	/* a peek, not FIONREAD: that is not reliable for every socket type */
	return c->eof || recv(c->io.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
}

void conn_batch_begin(struct pl_conn *c) { c->x->current = c; }

void conn_batch_end(struct pl_conn *c)
{
	if (c->closing || flush(c) < 0)
		return;
	update_interest(c);
	charge(c);
}

static void update_interest(struct pl_conn *c)
{
	unsigned want = 0, was = c->io.events;
	int r;

	if (c->closing)
		return;
	if (wants_read(c))
		want |= PL_READ;
	if (pl_buf_len(&c->out))
		want |= PL_WRITE;
	want = t_events(c, want);
	if (want == was)
		return;
	if ((r = pl_io_start(c->x->loop, &c->io, want)) < 0) {
		conn_close(c, PL_CLOSE_RESET, r, 0);
		return;
	}
	/* reading again after backpressure: the partial request's clock restarts */
	if (want & PL_READ && !(was & PL_READ) && pl_buf_len(&c->in))
		partial_begins(c);
}

/* The end of both directions, or of the peer's with nobody to tell. */
static int ended(const struct pl_conn *c)
{
	/* a held connection still owes answers: the peer's end does not end it */
	if (!c->eof || pl_buf_len(&c->out) || c->held)
		return 0;
	return !c->x->cfg.on_eof || c->shut_done;
}

/* Serves what c has buffered, writes, and decides what to wait for next. */
static void pump(struct pl_conn *c)
{
	struct conn_ctx *x = c->x;

	for (;;) {
		size_t used = 0;
		/* replies not yet flushed (do_read's batch) may be over the cap:
		 * then they go first, and the requests after them next turn */
		int full = unsent(c) > x->cfg.out_cap;
		if (pl_buf_len(&c->in) && !full && !c->paused) {
			used = process(c, pl_buf_head(&c->in), pl_buf_len(&c->in), c->scanned);
			pl_buf_consume(&c->in, used);
			/* not once closed: on_request may have freed the owner */
			if (used && pl_buf_len(&c->in) && !c->closing)
				partial_begins(c);
		}
		if (c->closing || flush(c) < 0)
			return;
		/* whole requests must not wait in `in` while output is under the
		 * cap: nothing may wake us for them, and the request timeout
		 * would take them for a slow one */
		if ((!used && !full) || pl_buf_len(&c->out) > x->cfg.out_cap || !pl_buf_len(&c->in) ||
		    c->paused)
			break;
	}
	pl_buf_release(&c->in);
	charge(c);
	if (c->closing)
		return;
	if (pl_buf_len(&c->out) > x->cfg.out_cap) {
		c->over = 1;
	} else if (c->over && pl_buf_len(&c->out) <= x->cfg.out_cap / 2) {
		c->over = 0;
		if (x->cfg.on_drain) {
			x->cfg.on_drain(c, x->cfg.arg);
			if (c->closing)
				return;
		}
	}
	if (ended(c)) {
		conn_close(c, PL_CLOSE_EOF, 0, 0);
		return;
	}
	if (x->draining && conn_quiet(c)) {
		conn_close(c, PL_CLOSE_SHUTDOWN, 0, 0);
		return;
	}
	update_interest(c);
}

/* ---- reading ---- */

/* Room to ask for when c already holds part of a message.  A large message
 * arriving in pieces grows the buffer towards its declared size, but by at
 * most what has arrived so far, so memory follows the bytes really sent. */
static size_t read_want(const struct pl_conn *c)
{
	struct pl_frame f;
	size_t have = pl_buf_len(&c->in), want = READ_MORE;

	/* a packet is read whole: room for the largest one the shared buffer takes */
	if (c->packet)
		return READ_SIZE;
	/* only len messages say their size up front (and parsing a line here
	 * would search it once more per read) */
	if (c->x->cfg.proto == PL_PROTO_LEN &&
	    pl_frame_parse(PL_PROTO_LEN, pl_buf_head(&c->in), have, c->x->cfg.max_msg, &f) == 0 &&
	    f.used > have) {
		want = f.used - have < have ? f.used - have : have;
		if (want < READ_MORE)
			want = READ_MORE;
	}
	return want;
}

/* The peer ended its direction: an unterminated last line is still a line
 * (what nc sends for printf 'a').  0 or -ENOMEM. */
static int at_eof(struct pl_conn *c)
{
	if (c->eof)
		return 0;
	c->eof = 1;
	if (pl_frame_eof_tail(proto(c), pl_buf_head(&c->in), pl_buf_len(&c->in)) &&
	    pl_buf_append(&c->in, "\n", 1) < 0)
		return -ENOMEM;
	return 0;
}

/* No whole message is left in `in`: at most the first bytes of one, whose
 * rest can never come after the end (a peer that stopped mid-message). */
static int nothing_whole(const struct pl_conn *c)
{
	struct pl_frame f;

	return pl_frame_parse(proto(c), pl_buf_head(&c->in), pl_buf_len(&c->in),
			      c->x->cfg.max_msg, &f) == 0;
}

/* Tells the application once every message before the end is handed out.
 * A partial one left over must not hold the news back: nothing would come
 * to complete it, and the connection would wait for ever. */
static void tell_eof(struct pl_conn *c)
{
	const struct pl_conn_config *cfg;

	if (c->closing) /* first: its owner may be freed already */
		return;
	cfg = &c->x->cfg;
	if (cfg->on_eof && c->eof && !c->told && nothing_whole(c)) {
		c->told = 1;
		cfg->on_eof(c, cfg->arg);
	}
}

static void do_read(struct pl_conn *c)
{
	struct conn_ctx *x = c->x;
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
	dst = shared ? x->rbuf : pl_buf_tail(&c->in);
	room = shared ? READ_SIZE : pl_buf_room(&c->in);
	n = t_read(c, dst, room);
	if (n < 0) {
		if (n != -EAGAIN && n != -EINTR)
			conn_close(c, io_reason(c, (int)n), (int)n, 0);
		else if (c->tp) /* the transport may wait for the other event now */
			update_interest(c);
		return;
	}
	c->last_active = pl_loop_now(x->loop);
	if (n == 0) {
		if (at_eof(c) < 0) {
			conn_close(c, PL_CLOSE_NOMEM, -ENOMEM, 0);
			return;
		}
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
	if (c->closing)
		return;
	pump(c);
	tell_eof(c);
	/* the pending plaintext of a transport wakes no epoll: read it now */
	if (!c->closing && wants_read(c) && t_pending(c))
		do_read(c);
}

static void on_conn(struct pl_loop *loop, struct pl_io *io, unsigned events)
{
	struct pl_conn *c = (struct pl_conn *)((char *)io - offsetof(struct pl_conn, io));

	(void)loop;
	if (c->tp) {
		/* the transport chose the events: either one may move either
		 * direction, so try what c wants of both */
		if (pl_buf_len(&c->out))
			pump(c);
		if (!c->closing && (wants_read(c) || events & PL_ERROR))
			do_read(c);
		return;
	}
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
	const struct pl_conn_config *cfg = &c->x->cfg;
	long long now = pl_loop_now(loop), due = t_deadline(c);

	if (due >= 0 && now >= due) {
		conn_close(c, PL_CLOSE_TLS, -ETIMEDOUT, 0);
		return;
	}
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
	/* released after the peer's end, or while draining: done now? */
	if (ended(c)) {
		conn_close(c, PL_CLOSE_EOF, 0, 0);
		return;
	}
	if (c->x->draining && conn_quiet(c)) {
		conn_close(c, PL_CLOSE_SHUTDOWN, 0, 0);
		return;
	}
	/* resumed with whole messages buffered: hand them out now */
	if (!c->paused && pl_buf_len(&c->in)) {
		pump(c);
		tell_eof(c);
		if (c->closing)
			return;
	}
	/* and plaintext a transport holds, which no socket event announces */
	if (wants_read(c) && t_pending(c)) {
		do_read(c);
		if (c->closing)
			return;
	}
	due = next_check(c);
	if (due >= 0 && pl_timer_start(loop, t, due - now) < 0)
		conn_close(c, PL_CLOSE_NOMEM, -ENOMEM, 0);
}

/* ---- the application's flow control ---- */

int pl_conn_shutdown(struct pl_conn *c)
{
	int r;

	if (c->closing)
		return -EPIPE;
	if (c->shut)
		return 0;
	c->shut = 1;
	if (c->dgram) /* a datagram peer has no direction to end: it only stops sending */
		return 0;
	/* replies of the batch being served are not in c->out yet: the FIN
	 * must follow them, so the batch's flush sends it */
	if (c->x->current == c)
		return 0;
	if ((r = finish_shutdown(c)) < 0) {
		conn_close(c, PL_CLOSE_RESET, r, 0);
		return r;
	}
	if (ended(c)) {
		conn_close(c, PL_CLOSE_EOF, 0, 0);
		return 0;
	}
	return 0;
}

void pl_conn_pause(struct pl_conn *c)
{
	if (c->closing || c->paused || c->dgram)
		return;
	c->paused = 1;
	if (c->x->current != c) /* else pump() sets the interest after the batch */
		update_interest(c);
}

void pl_conn_resume(struct pl_conn *c)
{
	if (c->closing || !c->paused || c->dgram)
		return;
	c->paused = 0;
	if (c->x->current == c)
		return;
	update_interest(c);
	/* messages already buffered would wait for bytes that may never come:
	 * the timer hands them out on the next iteration */
	if (!c->closing && (pl_buf_len(&c->in) || c->eof || t_pending(c)))
		check_by(c, pl_loop_now(c->x->loop));
}

int pl_conn_hold(struct pl_conn *c)
{
	if (c->closing)
		return 0;
	if (c->held == (1u << 24) - 1)
		return -EOVERFLOW;
	c->held++;
	return 0;
}

void pl_conn_release(struct pl_conn *c)
{
	if (c->closing || !c->held)
		return;
	/* checked from the timer, not here: the caller may be c's own callback */
	if (--c->held == 0 && (c->x->draining || c->eof))
		check_by(c, pl_loop_now(c->x->loop));
}

/* ---- opening ---- */

void conn_use_packets(struct pl_conn *c, int type)
{
	if (type != SOCK_SEQPACKET && type != SOCK_DGRAM)
		return;
	c->packet = 1;
	c->tp = (struct pl_transport *)(type == SOCK_DGRAM ? &conn_dgram_transport
							   : &conn_packet_transport);
}

/* 232 bytes and malloc's 8 make a 240-byte chunk: one byte more and every
 * idle client costs 16 more (bench W5, bytes per idle connection <= 256) */
_Static_assert(sizeof(struct pl_conn) <= 232, "struct pl_conn outgrew its malloc chunk");

struct pl_conn *conn_open(struct conn_ctx *x, int fd, const struct sockaddr *peer, socklen_t len)
{
	struct pl_conn *c = calloc(1, sizeof(*c));
	struct sockaddr_storage ss;

	if (!c)
		return NULL;
	c->x = x;
	if (!peer) {
		len = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
			ss.ss_family = AF_UNIX;
		peer = (const struct sockaddr *)&ss;
	}
	memcpy(&c->peer, peer, len < sizeof(c->peer) ? len : sizeof(c->peer));
	if (peer->sa_family == AF_UNIX) {
		int type = 0;
		socklen_t tl = sizeof(type);
		c->peer.sin6_family = AF_UNIX; /* the path is looked up when asked */
		/* asked of Unix sockets only: an accepted TCP client pays nothing
		 * (a client's UDP socket is the client's to tell) */
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0)
			conn_use_packets(c, type);
	}
	pl_io_init(&c->io, fd, on_conn, c);
	pl_timer_init(&c->timer, on_timer, c);
	c->last_active = pl_loop_now(x->loop);
	if (pl_io_start(x->loop, &c->io, PL_READ) < 0 ||
	    (x->cfg.idle_timeout_ms && pl_timer_start(x->loop, &c->timer, x->cfg.idle_timeout_ms) < 0)) {
		pl_io_stop(x->loop, &c->io);
		free(c);
		return NULL;
	}
	c->next = x->conns;
	if (x->conns)
		x->conns->prev = c;
	x->conns = c;
	x->open++;
	return c;
}
