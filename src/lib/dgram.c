/*
 * dgram.c - a datagram endpoint: one socket, many peers, one datagram per
 * message, read and answered in batches (recvmmsg / sendmmsg).
 *
 * A peer is a struct pl_conn (flagged dgram) inside a struct peer that adds
 * its address, found by a hash of the address; the peers also form a list
 * from the most to the least recently active, so the idle timeout is one
 * timer at the list's tail and the peer to evict is found there too.
 * Replies of a batch are queued as records (header, then the bytes) and
 * leave in one sendmmsg after it; what the socket refuses (EAGAIN) stays
 * queued, up to out_cap, until it is writable.
 */
#include "dgram_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "parley/sock.h"

#define RECV_ROUNDS 4        /* batches per wakeup, then the loop's other handles */
#define DRAIN_ROUNDS 64      /* batches served at shutdown: what was already received */
#define EVICT_SCAN 16        /* held peers passed over at the tail before giving up */
#define QUEUE_KEEP (64 * 1024) /* a reply queue this small is kept when empty */
/* the larger pktinfo, and the kernel's drop counter (SO_RXQ_OVFL) */
#define CTRL_SPACE (CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint32_t)))

static const char *const drop_names[PL_DROP_REASONS] = { "oversize", "queue", "limit", "error",
							    "rcvbuf" };

const char *pl_drop_reason_name(enum pl_drop_reason r)
{
	return (unsigned)r < PL_DROP_REASONS ? drop_names[r] : "?";
}

union paddr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_un un;
};

/* The local address a datagram was sent to (family 0: unknown, let the
 * kernel choose). */
struct local {
	int family, ifindex;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	};
};

struct peer {
	struct pl_conn c;            /* first: free(&p->c) frees the peer */
	struct peer *hnext;          /* the hash chain */
	struct pl_dgram *d;
	uint64_t hash;
	struct local loc;            /* where it last wrote to: replies leave from there */
	socklen_t alen;
	union paddr addr;            /* normalized: padding zeroed, so memcmp compares */
};

/* A queued reply: this header, then len bytes, padded to 8. */
struct rec {
	uint32_t len;
	socklen_t alen;
	struct local loc;
	union paddr to;
};

struct pl_dgram {
	struct pl_io io;
	struct conn_ctx *x;          /* the owner's: loop, config, request count */
	const struct dgram_owner *owner;
	void *arg;
	unsigned long ino;           /* of an owned Unix socket file, removed on close */
	size_t slot;                 /* receive bytes per datagram: min(max_msg, PL_DGRAM_MAX) */
	uint8_t *arena;              /* PL_DGRAM_BATCH slots */
	struct peer **table;         /* hash buckets, a power of two */
	size_t nbuckets, npeers;
	uint64_t seed;               /* so that senders cannot choose colliding addresses */
	struct peer *lru, *lru_tail; /* most recently active first (c.prev / c.next) */
	struct pl_timer expiry;      /* the tail's idle deadline */
	struct pl_buf q;             /* queued replies (struct rec + bytes) */
	size_t qn;                   /* records in q */
	int in_batch;                /* replies wait for the batch's sendmmsg */
	int blocked;                 /* the socket said EAGAIN: wait until writable */
	int draining, dead;
	uint32_t ovfl;               /* the kernel's drop counter, as last seen */
	uint64_t dropped[PL_DROP_REASONS];
	struct pl_closing closing;
	/* a batch received, and one being sent: replies may leave in the
	 * middle of a received batch */
	struct mmsghdr msgs[PL_DGRAM_BATCH], out[PL_DGRAM_BATCH];
	struct iovec iov[PL_DGRAM_BATCH], out_iov[PL_DGRAM_BATCH];
	union paddr src[PL_DGRAM_BATCH];
	_Alignas(struct cmsghdr) uint8_t ctrl[PL_DGRAM_BATCH][CTRL_SPACE];
	_Alignas(struct cmsghdr) uint8_t out_ctrl[PL_DGRAM_BATCH][CTRL_SPACE];
};

static struct peer *peer_of(const struct pl_conn *c)
{
	return (struct peer *)((char *)c - offsetof(struct peer, c));
}

int dgram_fd(const struct pl_dgram *d) { return d->io.fd; }
const uint64_t *dgram_dropped(const struct pl_dgram *d) { return d->dropped; }
int dgram_quiet(const struct pl_dgram *d) { return d->npeers == 0 && d->qn == 0; }

/* ---- peer addresses: normalized, hashed, looked up ---- */

/* Copies a sender's address with every byte the kernel did not fill zeroed
 * (flow info included), so two datagrams of one sender compare equal. */
static socklen_t normalize(const union paddr *raw, socklen_t len, union paddr *out)
{
	memset(out, 0, sizeof(*out));
	switch (raw->sa.sa_family) {
	case AF_INET:
		out->in.sin_family = AF_INET;
		out->in.sin_port = raw->in.sin_port;
		out->in.sin_addr = raw->in.sin_addr;
		return sizeof(out->in);
	case AF_INET6:
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_port = raw->in6.sin6_port;
		out->in6.sin6_addr = raw->in6.sin6_addr;
		out->in6.sin6_scope_id = raw->in6.sin6_scope_id;
		return sizeof(out->in6);
	case AF_UNIX:
		len = len < sizeof(out->un) ? len : sizeof(out->un);
		memcpy(out, raw, len);
		return len;
	default:
		return 0;
	}
}

static uint64_t hash_addr(uint64_t seed, const union paddr *a, socklen_t n)
{
	const uint8_t *b = (const uint8_t *)a;
	uint64_t h = seed ^ n;

	for (socklen_t i = 0; i < n; i += 8) {
		uint64_t w = 0;
		memcpy(&w, b + i, n - i < 8 ? n - i : 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	return h;
}

static struct peer **bucket(struct pl_dgram *d, uint64_t h)
{
	return &d->table[h & (d->nbuckets - 1)];
}

static struct peer *lookup(struct pl_dgram *d, const union paddr *a, socklen_t n, uint64_t h)
{
	for (struct peer *p = *bucket(d, h); p; p = p->hnext)
		if (p->hash == h && p->alen == n && memcmp(&p->addr, a, n) == 0)
			return p;
	return NULL;
}

/* Doubles the table when it holds as many peers as buckets.  A table that
 * cannot grow still works, with longer chains. */
static void grow(struct pl_dgram *d)
{
	size_t n = d->nbuckets * 2;
	struct peer **t;

	if (d->npeers < d->nbuckets || !(t = calloc(n, sizeof(struct peer *))))
		return;
	for (size_t i = 0; i < d->nbuckets; i++) {
		struct peer *p = d->table[i], *next;
		for (; p; p = next) {
			next = p->hnext;
			p->hnext = t[p->hash & (n - 1)];
			t[p->hash & (n - 1)] = p;
		}
	}
	free(d->table);
	d->table = t;
	d->nbuckets = n;
}

static void unhash(struct pl_dgram *d, struct peer *p)
{
	struct peer **pp = bucket(d, p->hash);

	while (*pp != p)
		pp = &(*pp)->hnext;
	*pp = p->hnext;
}

/* ---- the activity list and the idle timeout ---- */

static void lru_unlink(struct pl_dgram *d, struct peer *p)
{
	struct pl_conn *c = &p->c;

	if (c->prev)
		c->prev->next = c->next;
	else
		d->lru = c->next ? peer_of(c->next) : NULL;
	if (c->next)
		c->next->prev = c->prev;
	else
		d->lru_tail = c->prev ? peer_of(c->prev) : NULL;
	c->prev = c->next = NULL;
}

/* p was active now: to the front of the list (a store when it is there). */
static void touch(struct pl_dgram *d, struct peer *p, long long now)
{
	p->c.last_active = now;
	if (d->lru == p)
		return;
	if (p->c.prev) /* linked, and not first */
		lru_unlink(d, p);
	p->c.next = d->lru ? &d->lru->c : NULL;
	if (d->lru)
		d->lru->c.prev = &p->c;
	d->lru = p;
	if (!d->lru_tail)
		d->lru_tail = p;
}

static void on_expiry(struct pl_loop *loop, struct pl_timer *t)
{
	struct pl_dgram *d = t->data;
	long long idle = d->x->cfg.idle_timeout_ms, now = pl_loop_now(loop);

	while (d->lru_tail && now >= d->lru_tail->c.last_active + idle)
		dgram_close(&d->lru_tail->c, PL_CLOSE_IDLE, -ETIMEDOUT);
	/* a timer that cannot start leaves the peers until the next one does */
	if (d->lru_tail)
		pl_timer_start(loop, t, d->lru_tail->c.last_active + idle - now);
}

/* ---- peers: made, closed ---- */

static void free_peer(struct pl_closing *h)
{
	free((char *)h - offsetof(struct peer, c.dead));
}

static void close_socket(struct pl_dgram *d);

/* Draining: every peer not owed an answer goes. */
static void close_unheld(struct pl_dgram *d)
{
	struct peer *p, *prev;

	for (p = d->lru_tail; p; p = prev) {
		prev = p->c.prev ? peer_of(p->c.prev) : NULL;
		if (!p->c.held)
			dgram_close(&p->c, PL_CLOSE_SHUTDOWN, 0);
	}
}

/* Draining and nothing left: the socket closes and the owner hears of it
 * last (it may free itself, and so d->x). */
static void maybe_quiet(struct pl_dgram *d)
{
	if (!d->draining || d->dead || !dgram_quiet(d) || d->io.fd < 0)
		return;
	close_socket(d);
	d->owner->quiet(d->arg);
}

void dgram_close(struct pl_conn *c, enum pl_close_reason why, int err)
{
	struct peer *p = peer_of(c);
	struct pl_dgram *d = p->d;
	struct pl_loop *loop = d->x->loop;

	if (c->closing)
		return;
	c->closing = 1;
	pl_timer_stop(loop, &c->timer);
	unhash(d, p);
	lru_unlink(d, p);
	d->npeers--;
	d->owner->closed(d->arg, c, why, err);
	pl_loop_close(loop, &c->dead, free_peer);
}

/* A drain waits for a held peer: its last release brings it here. */
static void on_peer_timer(struct pl_loop *loop, struct pl_timer *t)
{
	struct pl_conn *c = t->data;
	struct pl_dgram *d = peer_of(c)->d;

	(void)loop;
	if (d->draining && !c->held) {
		dgram_close(c, PL_CLOSE_SHUTDOWN, 0);
		maybe_quiet(d);
	}
}

/* Makes room under max_conns by closing the least recently active peer
 * that is not held.  1 when a slot was taken for the new peer. */
static int admit(struct pl_dgram *d)
{
	struct peer *p = d->lru_tail;

	if (d->owner->admit(d->arg))
		return 1;
	for (int i = 0; p && i < EVICT_SCAN; i++, p = p->c.prev ? peer_of(p->c.prev) : NULL) {
		if (!p->c.held) {
			dgram_close(&p->c, PL_CLOSE_LIMIT, 0);
			return d->owner->admit(d->arg);
		}
	}
	return 0;
}

static struct peer *new_peer(struct pl_dgram *d, const union paddr *a, socklen_t n, uint64_t h)
{
	struct peer *p;

	/* a sender the rules refuse never becomes a peer: it costs no slot */
	if (d->owner->allowed && !d->owner->allowed(d->arg, &a->sa, n))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p || !admit(d)) {
		d->dropped[PL_DROP_LIMIT] += p != NULL; /* no memory: as the kernel drops */
		free(p);
		return NULL;
	}
	p->c.x = d->x;
	p->c.dgram = 1;
	pl_io_init(&p->c.io, d->io.fd, NULL, p);
	pl_timer_init(&p->c.timer, on_peer_timer, &p->c);
	p->d = d;
	p->hash = h;
	p->alen = n;
	memcpy(&p->addr, a, n);
	grow(d);
	p->hnext = *bucket(d, h);
	*bucket(d, h) = p;
	d->npeers++;
	touch(d, p, pl_loop_now(d->x->loop));
	if (!pl_timer_active(&d->expiry) && d->x->cfg.idle_timeout_ms)
		pl_timer_start(d->x->loop, &d->expiry, d->x->cfg.idle_timeout_ms);
	d->owner->opened(d->arg, &p->c);
	return p;
}

const struct pl_addr *dgram_peer(const struct pl_conn *c)
{
	const struct peer *p = peer_of(c);
	struct pl_addr *a = &c->x->peer_text;

	if (pl_addr_from_sockaddr(a, &p->addr.sa, p->alen) < 0) {
		memset(a, 0, sizeof(*a));
		a->kind = PL_ADDR_UNIX;
	}
	a->sock = PL_SOCK_DGRAM;
	return a;
}

/* ---- local addresses (IP_PKTINFO, IPV6_PKTINFO) ---- */

/* The local address a datagram came to, and the kernel's count of those
 * it dropped before it, for lack of room in the receive buffer (a flood). */
static void control(struct pl_dgram *d, struct msghdr *m, struct local *loc)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL) {
			uint32_t n;
			memcpy(&n, CMSG_DATA(cm), sizeof(n));
			d->dropped[PL_DROP_RCVBUF] += (uint32_t)(n - d->ovfl); /* it wraps */
			d->ovfl = n;
		} else if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			loc->family = IN_MULTICAST(ntohl(pi.ipi_addr.s_addr)) ? 0 : AF_INET;
			loc->v4 = pi.ipi_addr;
			loc->ifindex = 0;
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			loc->family = IN6_IS_ADDR_MULTICAST(&pi.ipi6_addr) ? 0 : AF_INET6;
			loc->v6 = pi.ipi6_addr;
			/* a link-local address is only unique with its interface;
			 * any other leaves the route to the kernel */
			loc->ifindex = IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr) ? (int)pi.ipi6_ifindex : 0;
		}
	}
}

/* The control message that sends from loc; its length (0: none). */
static size_t local_cmsg(const struct local *loc, uint8_t *buf)
{
	struct msghdr m = { .msg_control = buf, .msg_controllen = CTRL_SPACE };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

	memset(buf, 0, CTRL_SPACE);
	if (loc->family == AF_INET) {
		struct in_pktinfo pi = { .ipi_spec_dst = loc->v4 };
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	if (loc->family == AF_INET6) {
		/* for IPv4 on a dual-stack socket the address is v4-mapped,
		 * which the kernel takes as IP_PKTINFO */
		struct in6_pktinfo pi = { .ipi6_addr = loc->v6, .ipi6_ifindex = (unsigned)loc->ifindex };
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	return 0;
}

/* ---- sending: the reply queue ---- */

static size_t rec_size(size_t len) { return (sizeof(struct rec) + len + 7) & ~(size_t)7; }

static void update_interest(struct pl_dgram *d);

/* Drops the oldest queued reply. */
static void drop_head(struct pl_dgram *d, enum pl_drop_reason why)
{
	const struct rec *r = (const struct rec *)pl_buf_head(&d->q);

	pl_buf_consume(&d->q, rec_size(r->len));
	d->qn--;
	d->dropped[why]++;
}

/* One sendmmsg of up to PL_DGRAM_BATCH queued replies: how many left, or -errno. */
static int send_some(struct pl_dgram *d)
{
	struct mmsghdr *mm = d->out;
	uint8_t *at = pl_buf_head(&d->q);
	unsigned k = 0;
	int n;

	for (; k < d->qn && k < PL_DGRAM_BATCH; k++) {
		struct rec *r = (struct rec *)at;
		size_t cl = local_cmsg(&r->loc, d->out_ctrl[k]);
		d->out_iov[k] = (struct iovec){ at + sizeof(*r), r->len };
		mm[k].msg_hdr = (struct msghdr){ .msg_name = &r->to, .msg_namelen = r->alen,
						 .msg_iov = &d->out_iov[k], .msg_iovlen = 1,
						 .msg_control = cl ? d->out_ctrl[k] : NULL,
						 .msg_controllen = cl };
		at += rec_size(r->len);
	}
	do
		n = sendmmsg(d->io.fd, mm, k, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/*
 * Sends what is queued.  After EAGAIN the rest waits for the socket to be
 * writable; woken (writable) and refused again at once, the first reply is
 * dropped: a Unix peer whose queue is full makes sendto fail while the
 * socket polls writable, and waiting on it would spin.
 */
static void flush(struct pl_dgram *d, int writable)
{
	d->blocked = 0;
	while (d->qn && d->io.fd >= 0) {
		int n = send_some(d);
		if (n == -EAGAIN && !writable) {
			d->blocked = 1;
			break;
		}
		writable = 0;
		if (n < 0) {
			/* this one cannot go (no route, too long, a Unix peer gone
			 * or full): the others may */
			drop_head(d, n == -EAGAIN ? PL_DROP_QUEUE : PL_DROP_ERROR);
			continue;
		}
		for (int i = 0; i < n; i++) {
			const struct rec *r = (const struct rec *)pl_buf_head(&d->q);
			pl_buf_consume(&d->q, rec_size(r->len));
			d->qn--;
		}
	}
	/* kept for the next batch unless a burst made it large */
	if (!d->qn && d->q.cap > QUEUE_KEEP)
		pl_buf_free(&d->q);
	update_interest(d);
}

/* Queues msg for p, from p's local address.  Full: a batch's worth or
 * out_cap goes out first; over out_cap while blocked, it is dropped. */
static void enqueue(struct pl_dgram *d, const struct peer *p, const void *msg, size_t len)
{
	size_t need = rec_size(len);
	struct rec *r;

	if (p->alen <= sizeof(sa_family_t)) {
		d->dropped[PL_DROP_ERROR]++; /* an unnamed Unix peer: no address to answer */
		return;
	}
	if (!d->blocked && (d->qn >= PL_DGRAM_BATCH || pl_buf_len(&d->q) + need > d->x->cfg.out_cap))
		flush(d, 0);
	if ((d->qn && pl_buf_len(&d->q) + need > d->x->cfg.out_cap) ||
	    pl_buf_reserve(&d->q, need) < 0) {
		d->dropped[PL_DROP_QUEUE]++;
		return;
	}
	r = (struct rec *)(d->q.data + d->q.end); /* reserved: not NULL */
	memset(r, 0, sizeof(*r));
	r->len = (uint32_t)len;
	r->alen = p->alen;
	r->loc = p->loc;
	memcpy(&r->to, &p->addr, p->alen);
	if (len)
		memcpy((uint8_t *)r + sizeof(*r), msg, len);
	pl_buf_commit(&d->q, need);
	d->qn++;
}

int dgram_send(struct pl_conn *c, const void *msg, size_t len)
{
	struct peer *p = peer_of(c);
	struct pl_dgram *d = p->d;

	if (c->closing || c->shut || d->io.fd < 0)
		return -EPIPE;
	if (len > PL_DGRAM_MAX)
		return -EMSGSIZE;
	touch(d, p, pl_loop_now(d->x->loop));
	enqueue(d, p, msg, len);
	/* outside a batch (a timer, another connection) it leaves now */
	if (!d->in_batch && !d->blocked)
		flush(d, 0);
	return 0;
}

/* ---- receiving ---- */

/* Hands datagram i of the batch to on_request. */
static void deliver(struct pl_dgram *d, unsigned i, long long now)
{
	struct msghdr *m = &d->msgs[i].msg_hdr;
	const struct pl_conn_config *cfg = &d->x->cfg;
	size_t len = d->msgs[i].msg_len;
	union paddr a;
	socklen_t n;
	uint64_t h;
	struct peer *p;
	struct local loc = { 0 };

	control(d, m, &loc);
	if (m->msg_flags & MSG_TRUNC || len > cfg->max_msg) {
		d->dropped[PL_DROP_OVERSIZE]++; /* never half of it */
		return;
	}
	/* an unbound Unix sender has no address (namelen 0): one peer for all */
	n = m->msg_namelen >= sizeof(sa_family_t) ? normalize(&d->src[i], m->msg_namelen, &a) : 0;
	if (n == 0)
		n = normalize(&(union paddr){ .un.sun_family = AF_UNIX }, sizeof(sa_family_t), &a);
	h = hash_addr(d->seed, &a, n);
	if (!(p = lookup(d, &a, n, h)) && !(p = new_peer(d, &a, n, h)))
		return;
	p->loc = loc;
	touch(d, p, now);
	d->x->requests++;
	cfg->on_request(&p->c, d->iov[i].iov_base, len, cfg->arg);
}

/* One recvmmsg and its batch: how many datagrams, 0 when none, or -errno. */
static int recv_batch(struct pl_dgram *d)
{
	int n;

	for (unsigned i = 0; i < PL_DGRAM_BATCH; i++) {
		d->iov[i] = (struct iovec){ d->arena + i * d->slot, d->slot };
		d->msgs[i].msg_hdr = (struct msghdr){ .msg_name = &d->src[i],
						      .msg_namelen = sizeof(d->src[i]),
						      .msg_iov = &d->iov[i], .msg_iovlen = 1,
						      .msg_control = d->ctrl[i],
						      .msg_controllen = CTRL_SPACE };
	}
	do
		n = recvmmsg(d->io.fd, d->msgs, PL_DGRAM_BATCH, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	d->in_batch = 1;
	for (int i = 0; i < n && !d->dead; i++)
		deliver(d, (unsigned)i, pl_loop_now(d->x->loop));
	d->in_batch = 0;
	if (!d->dead && !d->blocked)
		flush(d, 0);
	/* a shutdown from on_request: the batch's new peers go too */
	if (!d->dead && d->draining)
		close_unheld(d);
	return n;
}

/* Up to rounds full batches; a pending socket error (an ICMP report)
 * is read and forgotten: it is about one peer, not the socket. */
static void recv_some(struct pl_dgram *d, int rounds)
{
	for (int i = 0; i < rounds && !d->dead && !d->draining; i++) {
		int n = recv_batch(d);
		if (n >= 0 && n < PL_DGRAM_BATCH)
			break;
	}
}

static void update_interest(struct pl_dgram *d)
{
	unsigned want = (d->draining ? 0 : PL_READ) | (d->blocked ? PL_WRITE : 0);

	if (d->io.fd >= 0 && want != d->io.events && pl_io_start(d->x->loop, &d->io, want) < 0 &&
	    want & PL_WRITE) {
		/* epoll refused: the queue cannot wait, so it is dropped */
		while (d->qn)
			drop_head(d, PL_DROP_QUEUE);
		d->blocked = 0;
	}
}

static void on_io(struct pl_loop *loop, struct pl_io *io, unsigned events)
{
	struct pl_dgram *d = io->data;

	(void)loop;
	if (events & PL_WRITE)
		flush(d, 1);
	if (!d->dead && events & (PL_READ | PL_ERROR) && !d->draining)
		recv_some(d, RECV_ROUNDS);
	if (!d->dead)
		maybe_quiet(d);
}

/* ---- the endpoint ---- */

/* Asks the kernel for each datagram's local address (for the reply's
 * source) and for its count of datagrams dropped on a full buffer. */
static void want_pktinfo(int fd)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = sizeof(ss);
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET)
		setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	else if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
}

int dgram_open(struct conn_ctx *x, int fd, int owned, const struct dgram_owner *o, void *arg,
	       struct pl_dgram **out)
{
	struct pl_dgram *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	d->x = x;
	d->owner = o;
	d->arg = arg;
	d->slot = x->cfg.max_msg < PL_DGRAM_MAX ? x->cfg.max_msg : PL_DGRAM_MAX;
	d->nbuckets = 64;
	/* pages of the arena are touched only as far as datagrams reach */
	if (!(d->arena = malloc(PL_DGRAM_BATCH * d->slot)) ||
	    !(d->table = calloc(d->nbuckets, sizeof(struct peer *)))) {
		r = -ENOMEM;
		goto fail;
	}
	if (getrandom(&d->seed, sizeof(d->seed), GRND_NONBLOCK) != sizeof(d->seed))
		d->seed = (uint64_t)(uintptr_t)d ^ (uint64_t)pl_loop_now(x->loop);
	if ((r = pl_sock_nonblock(fd, 1)) < 0)
		goto fail;
	want_pktinfo(fd);
	pl_io_init(&d->io, fd, on_io, d);
	pl_timer_init(&d->expiry, on_expiry, d);
	if ((r = pl_io_start(x->loop, &d->io, PL_READ)) < 0)
		goto fail;
	d->ino = owned ? pl_listen_ino(fd) : 0;
	*out = d;
	return 0;
fail:
	free(d->arena);
	free(d->table);
	free(d);
	return r;
}

static void close_socket(struct pl_dgram *d)
{
	if (d->io.fd < 0)
		return;
	pl_io_stop(d->x->loop, &d->io);
	pl_listen_unlink(d->io.fd, d->ino);
	close(d->io.fd);
	d->io.fd = -1;
	pl_timer_stop(d->x->loop, &d->expiry);
}

void dgram_close_peers(struct pl_dgram *d)
{
	while (d->lru)
		dgram_close(&d->lru->c, PL_CLOSE_SHUTDOWN, 0);
	while (d->qn)
		drop_head(d, PL_DROP_QUEUE);
	pl_buf_free(&d->q);
	d->blocked = 0;
}

void dgram_shutdown(struct pl_dgram *d)
{
	if (d->draining || d->io.fd < 0)
		return;
	/* what the kernel holds was sent before the stop: answer it too
	 * (not from inside a batch, whose arrays a read would overwrite) */
	if (!d->in_batch)
		recv_some(d, DRAIN_ROUNDS);
	d->draining = 1;
	update_interest(d);
	close_unheld(d);
	/* the owner checks dgram_quiet itself: it is in the middle of its own
	 * shutdown, so it is not called back from here */
	if (!d->in_batch && dgram_quiet(d))
		close_socket(d);
}

static void free_dgram(struct pl_closing *h)
{
	struct pl_dgram *d = (struct pl_dgram *)((char *)h - offsetof(struct pl_dgram, closing));

	free(d->arena);
	free(d->table);
	pl_buf_free(&d->q);
	free(d);
}

void dgram_free(struct pl_dgram *d)
{
	if (!d)
		return;
	dgram_close_peers(d);
	close_socket(d);
	d->dead = 1;
	/* after the iteration: it may be freed from inside its own callback */
	pl_loop_close(d->x->loop, &d->closing, free_dgram);
}
