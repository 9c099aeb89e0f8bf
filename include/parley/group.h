/*
 * group.h - N event loops on N threads, each with its own server.
 *
 * A loop and its server belong to one thread, and the library keeps no
 * global state, so several cores are used by running N of them that share
 * nothing but one struct pl_server_shared (max_conns and max_memory count
 * for the whole group).  Loop 0 runs on the caller's thread (which may
 * read signals on it); loops 1..N-1 get threads of their own.  A TCP
 * address is opened once per loop with SO_REUSEPORT, so the kernel spreads
 * new clients over the threads; a Unix listener is one socket whose
 * descriptor every loop watches (whichever accept4 wins takes the client).
 *
 * Life cycle: pl_group_new -> set up (pl_group_listen, pl_group_adopt_fd,
 * anything on pl_group_loop/pl_group_server) -> pl_group_start -> run loop 0
 * with pl_loop_run -> pl_group_shutdown (e.g. from a signal callback on loop
 * 0) -> pl_loop_run returns once loop 0 has drained -> pl_group_finish.
 * Until pl_group_start every loop and server is the caller's to use; after
 * it, loop i and server i belong to thread i (0: the caller's).  Callbacks
 * of every server run on their own loop's thread, all with the same arg:
 * what they touch in it must be safe across threads.
 *
 * Links with -pthread.
 */
#ifndef PARLEY_GROUP_H
#define PARLEY_GROUP_H

#include "parley/addr.h"
#include "parley/loop.h"
#include "parley/server.h"
#include "parley/sock.h"

struct pl_group;

#define PL_GROUP_MAX PL_SHARED_SERVERS /* most loops in one group */

/*
 * Makes n loops (1 to PL_GROUP_MAX), each with a server configured by cfg
 * (copied).  With n > 1 and cfg->shared NULL, the servers count their limits
 * together in a struct pl_server_shared the group owns; a cfg->shared given
 * is used as it is.  0 with *out set, or -errno (-EINVAL for n out of range)
 * with nothing left behind.  Starts no thread.
 */
int pl_group_new(unsigned n, const struct pl_server_config *cfg, struct pl_group **out);

unsigned pl_group_size(const struct pl_group *g);
/* Loop i and its server (i < pl_group_size), owned by the group.  See the
 * top of this file for which thread may use them when. */
struct pl_loop *pl_group_loop(const struct pl_group *g, unsigned i);
struct pl_server *pl_group_server(const struct pl_group *g, unsigned i);

/*
 * Serves address a on every loop; before pl_group_start.  TCP: loop 0's
 * listener is opened first (with n > 1 as PL_REUSEPORT_NEW, so an address
 * another process listens on fails with -EADDRINUSE even though
 * SO_REUSEPORT is set), and loops 1.. join it on the port it got (port 0
 * included) with PL_REUSEPORT_JOIN.  Unix: one listener whose duplicates
 * loops 1.. watch; only loop 0's server removes the socket file.  o may be
 * NULL; its reuseport is ignored (the group sets it) and nonblock is
 * implied.  *bound (may be NULL) is set to loop 0's local address as soon
 * as that listener is open, port 0 resolved.  0, or -errno from the loop
 * whose listener failed, put in *failed (may be NULL): 0 for the first
 * (then errors are as pl_listen's, e.g. -EEXIST for a path that is not a
 * socket).  Listeners already handed to servers stay with them.
 */
int pl_group_listen(struct pl_group *g, const struct pl_addr *a, const struct pl_listen_opts *o,
		    struct pl_addr *bound, unsigned *failed);
/* pl_group_listen whose clients speak TLS with tls (tls.h; it must outlive
 * the group): every loop's listener is given it by pl_server_set_tls. */
struct pl_tls;
int pl_group_listen_tls(struct pl_group *g, const struct pl_addr *a,
			const struct pl_listen_opts *o, struct pl_tls *tls, struct pl_addr *bound,
			unsigned *failed);

/*
 * Serves a listener someone else made and keeps (socket activation, see
 * pl_listen_activated) on every loop: loop 0 adopts fd and loops 1.. a
 * duplicate each (pl_server_adopt_fd: its Unix socket file is left in
 * place).  Before pl_group_start.  0, or -errno with the loop that failed in
 * *failed (may be NULL); when that is 0, fd is still the caller's, otherwise
 * it belongs to loop 0's server.
 */
int pl_group_adopt_fd(struct pl_group *g, int fd, unsigned *failed);
/* The same, its clients speaking TLS with tls. */
int pl_group_adopt_fd_tls(struct pl_group *g, int fd, struct pl_tls *tls, unsigned *failed);

/*
 * Starts the threads of loops 1..n-1, each running pl_loop_run; the caller
 * runs loop 0.  Signals blocked on this thread (pl_loop_signal) stay
 * blocked in the threads, so call it after those are set up.  0, or -errno
 * when a thread could not be made: those started run on (end them with
 * pl_group_free), and calling it again starts only the rest.
 */
int pl_group_start(struct pl_group *g);

/*
 * Every server starts its graceful shutdown (pl_server_shutdown) on its own
 * loop's next iteration; each loop stops when its server has drained.  Only
 * writes to an eventfd per loop, so it may be called from any thread, from
 * loop 0's callbacks (a signal, say) and from a signal handler, any number
 * of times.
 */
void pl_group_shutdown(struct pl_group *g);

/*
 * After loop 0 has returned (or was never run), on its thread: asks every
 * loop still running to shut down (pl_group_shutdown), waits for every
 * thread to end (they drain first), then frees the group, its servers and
 * loops.  sum (may be NULL) gets every server's counters added up; each
 * (may be NULL, or n entries) gets each server's own.  The threads are all
 * joined before loop 0 is freed, because freeing it unblocks the signals it
 * read.  Returns 0, or the first error a thread's pl_loop_run returned.
 */
int pl_group_finish(struct pl_group *g, struct pl_server_stats *sum, struct pl_server_stats *each);
/* pl_group_finish without counters; nothing for NULL. */
void pl_group_free(struct pl_group *g);

#endif
