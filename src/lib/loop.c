/* loop.c - epoll, a timer heap and a signalfd in one loop. */
#include "parley/loop.h"
#include "parley/clock.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define NSIG_MAX 65
#define MAX_POST 8

struct sig_handler {
	pl_signal_cb cb;
	void *arg;
};

struct hook {
	pl_hook_cb cb;
	void *arg;
};

struct pl_loop {
	int epfd;
	int stop;
	long long now;
	unsigned nio;              /* handles registered in epoll */
	struct pl_timer **heap;
	size_t nheap, heap_cap;
	uint32_t timer_seq;
	struct pl_io sigio;
	sigset_t sigmask;
	struct sig_handler sig[NSIG_MAX];
	struct pl_closing *closing; /* queued by pl_loop_close, oldest last */
	struct hook post[MAX_POST];
	int npost;
	long long spin_ns;         /* busy poll this long before sleeping */
	struct epoll_event events[MAX_EVENTS]; /* preallocated: nothing per iteration */
};

int pl_loop_new(struct pl_loop **out)
{
	struct pl_loop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int e = errno;
		free(l);
		return -e;
	}
	l->sigio.fd = -1;
	sigemptyset(&l->sigmask);
	l->now = pl_clock_ms();
	*out = l;
	return 0;
}

static void run_closing(struct pl_loop *l)
{
	/* a close callback may queue more: take the list each round */
	while (l->closing) {
		struct pl_closing *h = l->closing;
		l->closing = NULL;
		while (h) {
			struct pl_closing *next = h->next;
			h->cb(h);
			h = next;
		}
	}
}

void pl_loop_close(struct pl_loop *l, struct pl_closing *h, void (*cb)(struct pl_closing *h))
{
	h->cb = cb;
	h->next = l->closing;
	l->closing = h;
}

void pl_loop_free(struct pl_loop *l)
{
	if (!l)
		return;
	run_closing(l);
	if (l->sigio.fd >= 0) {
		close(l->sigio.fd);
		sigprocmask(SIG_UNBLOCK, &l->sigmask, NULL);
	}
	close(l->epfd);
	free(l->heap);
	free(l);
}

long long pl_loop_now(const struct pl_loop *l) { return l->now; }
void pl_loop_stop(struct pl_loop *l) { l->stop = 1; }

int pl_loop_add_post(struct pl_loop *l, pl_hook_cb cb, void *arg)
{
	if (l->npost == MAX_POST)
		return -ENOSPC;
	l->post[l->npost++] = (struct hook){ cb, arg };
	return 0;
}

void pl_loop_del_post(struct pl_loop *l, pl_hook_cb cb, void *arg)
{
	for (int i = 0; i < l->npost; i++)
		if (l->post[i].cb == cb && l->post[i].arg == arg) {
			memmove(&l->post[i], &l->post[i + 1], (size_t)(l->npost - i - 1) * sizeof(l->post[0]));
			l->npost--;
			return;
		}
}

void pl_io_init(struct pl_io *io, int fd, pl_io_cb cb, void *data)
{
	io->fd = fd;
	io->events = 0;
	io->cb = cb;
	io->data = data;
}

int pl_io_start(struct pl_loop *l, struct pl_io *io, unsigned events)
{
	struct epoll_event ev = { 0 };
	int op;

	if (events == io->events)
		return 0;
	if (events == 0) {
		pl_io_stop(l, io);
		return 0;
	}
	ev.events = (events & PL_READ ? EPOLLIN : 0) | (events & PL_WRITE ? EPOLLOUT : 0);
	ev.data.ptr = io;
	op = io->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(l->epfd, op, io->fd, &ev) < 0)
		return -errno;
	if (!io->events)
		l->nio++;
	io->events = events;
	return 0;
}

void pl_io_stop(struct pl_loop *l, struct pl_io *io)
{
	if (!io->events)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->events = 0;
	l->nio--;
}

void pl_io_close(struct pl_loop *l, struct pl_io *io)
{
	if (io->events) {
		io->events = 0;
		l->nio--;
	}
	close(io->fd);
	io->fd = -1;
}

/* ---- timers: a binary min-heap of handles, keyed by (deadline, seq) ---- */

/* Start order modulo 2^32: two timers with one deadline started 2^31
 * starts apart may fire out of order, which is harmless. */
static int seq_before(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }

static int before(const struct pl_timer *a, const struct pl_timer *b)
{
	return a->deadline < b->deadline || (a->deadline == b->deadline && seq_before(a->seq, b->seq));
}

static void heap_set(struct pl_loop *l, size_t i, struct pl_timer *t)
{
	l->heap[i] = t;
	t->heap_index = (uint32_t)i;
}

static void sift_up(struct pl_loop *l, size_t i)
{
	struct pl_timer *t = l->heap[i];

	while (i > 0 && before(t, l->heap[(i - 1) / 2])) {
		heap_set(l, i, l->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(l, i, t);
}

static void sift_down(struct pl_loop *l, size_t i)
{
	struct pl_timer *t = l->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= l->nheap)
			break;
		if (c + 1 < l->nheap && before(l->heap[c + 1], l->heap[c]))
			c++;
		if (!before(l->heap[c], t))
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, t);
}

void pl_timer_init(struct pl_timer *t, pl_timer_cb cb, void *data)
{
	memset(t, 0, sizeof(*t));
	t->heap_index = UINT32_MAX;
	t->cb = cb;
	t->data = data;
}

void pl_timer_stop(struct pl_loop *l, struct pl_timer *t)
{
	size_t i = t->heap_index;
	struct pl_timer *last;

	if (t->heap_index == UINT32_MAX)
		return;
	t->heap_index = UINT32_MAX;
	last = l->heap[--l->nheap];
	if (i == l->nheap)
		return;
	heap_set(l, i, last);
	sift_up(l, i);
	sift_down(l, last->heap_index);
}

int pl_timer_start(struct pl_loop *l, struct pl_timer *t, long long ms)
{
	pl_timer_stop(l, t);
	if (l->nheap == l->heap_cap) {
		if (l->heap_cap >= UINT32_MAX / 2)
			return -ENOMEM;
		size_t cap = l->heap_cap ? l->heap_cap * 2 : 16;
		struct pl_timer **h = realloc(l->heap, cap * sizeof(struct pl_timer *));
		if (!h)
			return -ENOMEM;
		l->heap = h;
		l->heap_cap = cap;
	}
	t->deadline = l->now + (ms > 0 ? ms : 0);
	t->seq = l->timer_seq++;
	heap_set(l, l->nheap++, t);
	sift_up(l, t->heap_index);
	return 0;
}

static void run_timers(struct pl_loop *l)
{
	/* a timer started by a callback for "now" waits for the next turn */
	uint32_t limit = l->timer_seq;

	while (l->nheap && l->heap[0]->deadline <= l->now && seq_before(l->heap[0]->seq, limit)) {
		struct pl_timer *t = l->heap[0];
		pl_timer_stop(l, t);
		t->cb(l, t);
	}
}

static int poll_timeout(struct pl_loop *l)
{
	long long d;

	if (!l->nheap)
		return -1;
	d = l->heap[0]->deadline - l->now;
	return d <= 0 ? 0 : d > 1 << 30 ? 1 << 30 : (int)d;
}

/* ---- signals ---- */

static void on_signalfd(struct pl_loop *l, struct pl_io *io, unsigned events)
{
	struct signalfd_siginfo si[8];
	ssize_t n;

	(void)events;
	n = read(io->fd, si, sizeof(si));
	for (ssize_t i = 0; n > 0 && i < n / (ssize_t)sizeof(si[0]); i++) {
		unsigned s = si[i].ssi_signo;
		if (s < NSIG_MAX && l->sig[s].cb)
			l->sig[s].cb(l, (int)s, l->sig[s].arg);
	}
}

int pl_loop_signal(struct pl_loop *l, int signo, pl_signal_cb cb, void *arg)
{
	int fd;

	if (signo <= 0 || signo >= NSIG_MAX)
		return -EINVAL;
	/* an ignored signal is discarded even while blocked, so it would never
	 * reach the signalfd (shells start background jobs with SIGINT ignored) */
	if (signal(signo, SIG_DFL) == SIG_ERR)
		return -errno;
	sigaddset(&l->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &l->sigmask, NULL) < 0)
		return -errno;
	fd = signalfd(l->sigio.fd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	l->sig[signo].cb = cb;
	l->sig[signo].arg = arg;
	if (l->sigio.fd < 0) {
		pl_io_init(&l->sigio, fd, on_signalfd, NULL);
		int r = pl_io_start(l, &l->sigio, PL_READ);
		if (r < 0)
			return r;
		l->nio--; /* a signal watch alone does not keep the loop alive */
	}
	return 0;
}

/* ---- the loop ---- */

void pl_loop_set_busy_poll(struct pl_loop *l, unsigned us) { l->spin_ns = (long long)us * 1000; }

/*
 * Waiting for events.  With busy polling, a loop that would sleep polls
 * first: in a virtual machine an idle vCPU halts, and waking it for the
 * next packet costs a hypervisor exit and an IPI, often more than the
 * request itself.  Bounded, so an idle loop still sleeps.
 */
static int wait_events(struct pl_loop *l)
{
	int timeout = poll_timeout(l);

	if (l->spin_ns && timeout != 0) {
		long long end = pl_clock_ns() + l->spin_ns;
		do {
			int n = epoll_wait(l->epfd, l->events, MAX_EVENTS, 0);
			if (n != 0)
				return n;
		} while (pl_clock_ns() < end);
	}
	return epoll_wait(l->epfd, l->events, MAX_EVENTS, timeout);
}

int pl_loop_run(struct pl_loop *l)
{
	l->stop = 0;
	while (!l->stop && (l->nio > 0 || l->nheap > 0)) {
		int n = wait_events(l);

		if (n < 0 && errno != EINTR)
			return -errno;
		l->now = pl_clock_ms();
		for (int i = 0; i < n; i++) {
			struct pl_io *io = l->events[i].data.ptr;
			uint32_t e = l->events[i].events;
			unsigned ev = (e & EPOLLIN ? PL_READ : 0) | (e & EPOLLOUT ? PL_WRITE : 0) |
				      (e & (EPOLLERR | EPOLLHUP) ? PL_ERROR : 0);
			/* a callback earlier in this batch may have stopped this handle */
			if (io->events)
				io->cb(l, io, ev);
		}
		run_timers(l);
		run_closing(l);
		for (int i = 0; i < l->npost; i++)
			l->post[i].cb(l, l->post[i].arg);
	}
	run_closing(l);
	return 0;
}
