/* workers.h - parley-server's event loops, one per thread (--threads). */
#ifndef PARLEY_WORKERS_H
#define PARLEY_WORKERS_H
#include <pthread.h>

#include "parley/loop.h"
#include "parley/server.h"

struct worker {
	struct pl_loop *loop;
	struct pl_server *srv;
	struct pl_io wake;   /* an eventfd: the main thread asks for shutdown */
	pthread_t tid;
	int rc;
};

/* Makes n loops, each with a server of cfg (w[0] runs on the calling
 * thread).  0, or -errno with nothing left behind. */
int workers_new(struct worker *w, int n, const struct pl_server_config *cfg);
/* Starts threads for w[1..n-1].  Call after the signals are set up on
 * w[0].loop, so the threads inherit them blocked.  0 or -errno. */
int workers_start(struct worker *w, int n);
/* From w[0]'s loop: every other loop starts its graceful shutdown. */
void workers_shutdown(struct worker *w, int n);
/* Waits for the threads; adds every server's counters into *sum, and puts
 * each one's accepted count in each[] (when not NULL); frees all. */
void workers_finish(struct worker *w, int n, struct pl_server_stats *sum, unsigned long long *each);
#endif
