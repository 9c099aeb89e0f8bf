/*
 * loop.h - the event loop: descriptors, timers and signals on one epoll.
 *
 * Handles are embedded in the caller's structs (as in libuv), so the loop
 * allocates nothing per connection.  I/O is level-triggered; a callback may
 * stop, restart or close any handle, its own included.  Timers live in a
 * binary heap ordered by (deadline, start order), so equal deadlines fire in
 * the order they were started, and a timer may be restarted or stopped from
 * its own callback.  Signals arrive through a signalfd: the loop blocks them
 * in the thread that calls pl_loop_signal (and so in threads it starts
 * afterwards) and delivers them as ordinary callbacks.
 */
#ifndef PARLEY_LOOP_H
#define PARLEY_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct pl_loop;
struct pl_io;
struct pl_timer;

/* Event bits for pl_io_start, and what callbacks receive. */
#define PL_READ  0x1u
#define PL_WRITE 0x4u
#define PL_ERROR 0x8u   /* EPOLLERR or EPOLLHUP: read to learn why */

typedef void (*pl_io_cb)(struct pl_loop *loop, struct pl_io *io, unsigned events);
typedef void (*pl_timer_cb)(struct pl_loop *loop, struct pl_timer *t);
typedef void (*pl_signal_cb)(struct pl_loop *loop, int signo, void *arg);
typedef void (*pl_hook_cb)(struct pl_loop *loop, void *arg);

struct pl_io {
	int fd;
	unsigned events;    /* what is registered now; 0 = not in epoll */
	pl_io_cb cb;
	void *data;         /* for the owner */
};

struct pl_timer {
	long long deadline; /* monotonic ms */
	uint32_t seq;       /* start order, breaks ties (compared modulo 2^32) */
	uint32_t heap_index; /* UINT32_MAX when not running */
	pl_timer_cb cb;
	void *data;         /* for the owner */
};

/*
 * Closing that the loop finishes: embed one in any struct whose memory
 * must outlive the events already collected for it (a connection freed in
 * the middle of a batch would be used by the next event of that batch).
 */
struct pl_closing {
	struct pl_closing *next;
	void (*cb)(struct pl_closing *h);
};

/* Creates a loop.  0 or -errno. */
int pl_loop_new(struct pl_loop **out);
/* Frees the loop; handles still registered are forgotten, not closed;
 * close callbacks still queued (pl_loop_close) run first.  Signals taken
 * with pl_loop_signal are unblocked again in the calling thread. */
void pl_loop_free(struct pl_loop *loop);

/* Runs until pl_loop_stop, or until nothing is registered at all.  0 or -errno. */
int pl_loop_run(struct pl_loop *loop);
/* Makes pl_loop_run return after the current iteration. */
void pl_loop_stop(struct pl_loop *loop);
/* The loop's clock (monotonic ms), updated once per iteration. */
long long pl_loop_now(const struct pl_loop *loop);

/* Sets up an I/O handle; does not register it. */
void pl_io_init(struct pl_io *io, int fd, pl_io_cb cb, void *data);
/* Registers or changes interest (PL_READ|PL_WRITE); 0 removes.  0 or -errno. */
int pl_io_start(struct pl_loop *loop, struct pl_io *io, unsigned events);
/* Removes the handle from the loop (the fd stays open).  Safe to repeat. */
void pl_io_stop(struct pl_loop *loop, struct pl_io *io);
/*
 * Closes the handle's fd and forgets the handle (fd becomes -1): one system
 * call instead of two, since the kernel drops a descriptor from epoll when
 * its last reference closes.  Only for fds never duplicated (dup, fork):
 * otherwise use pl_io_stop, then close.
 */
void pl_io_close(struct pl_loop *loop, struct pl_io *io);

void pl_timer_init(struct pl_timer *t, pl_timer_cb cb, void *data);
/* (Re)starts t to fire once, ms from now (0: on the next iteration). 0 or -ENOMEM. */
int pl_timer_start(struct pl_loop *loop, struct pl_timer *t, long long ms);
void pl_timer_stop(struct pl_loop *loop, struct pl_timer *t);
static inline int pl_timer_active(const struct pl_timer *t) { return t->heap_index != UINT32_MAX; }

/*
 * Delivers signo to cb through the loop.  The signal is blocked for the
 * calling thread (call before creating threads).  0 or -errno.
 */
int pl_loop_signal(struct pl_loop *loop, int signo, pl_signal_cb cb, void *arg);

/*
 * Busy polling: when there is nothing to do, poll for up to us
 * microseconds before sleeping (0, the default: sleep at once).  Trades
 * CPU for latency where waking is slow, as in virtual machines.
 */
void pl_loop_set_busy_poll(struct pl_loop *loop, unsigned us);

/*
 * Queues h: cb(h) runs once this iteration's I/O and timer callbacks are
 * done (the way uv_close defers its callback), so it may free the struct
 * embedding h.  Call it from any callback, or outside the loop: then cb
 * runs at the end of the next iteration, when pl_loop_run returns, or in
 * pl_loop_free, whichever comes first.  The caller stops its handles
 * first; h must not be queued twice.
 */
void pl_loop_close(struct pl_loop *loop, struct pl_closing *h, void (*cb)(struct pl_closing *h));

/*
 * A user hook: calls cb(loop, arg) after every iteration's callbacks (and
 * close callbacks), in the order added (a program may flush its output
 * there).  The library itself takes none.  Up to 8 hooks: 0 or -ENOSPC.
 * A hook must not add or remove hooks.
 */
int pl_loop_add_post(struct pl_loop *loop, pl_hook_cb cb, void *arg);
/* Removes the hook added with the same cb and arg; nothing if none. */
void pl_loop_del_post(struct pl_loop *loop, pl_hook_cb cb, void *arg);

#endif
