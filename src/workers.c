/* workers.c - N event loops on N threads, for parley-server --threads.
 *
 * Each thread has its own loop and server (the library keeps no global
 * state, so they share nothing); TCP listeners are one per thread with
 * SO_REUSEPORT, so the kernel spreads new clients over the threads, and a
 * Unix listener is shared through dup'd descriptors.  Only the main thread
 * reads signals; it wakes the others through an eventfd each. */
#include "workers.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void on_wake(struct pl_loop *loop, struct pl_io *io, unsigned events)
{
	struct worker *w = io->data;
	uint64_t n;

	(void)events;
	if (read(io->fd, &n, sizeof(n)) < 0 && errno == EAGAIN)
		return;
	pl_io_stop(loop, io);
	pl_server_shutdown(w->srv);
}

int workers_new(struct worker *w, int n, const struct pl_server_config *cfg)
{
	int r = 0;

	memset(w, 0, (size_t)n * sizeof(*w));
	for (int i = 0; i < n; i++)
		w[i].wake.fd = -1;
	for (int i = 0; i < n && r == 0; i++) {
		if ((r = pl_loop_new(&w[i].loop)) < 0 || (r = pl_server_new(w[i].loop, cfg, &w[i].srv)) < 0)
			break;
		if (i == 0)
			continue;
		int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			break;
		}
		pl_io_init(&w[i].wake, fd, on_wake, &w[i]);
		r = pl_io_start(w[i].loop, &w[i].wake, PL_READ);
	}
	if (r < 0) {
		for (int i = 0; i < n; i++) {
			if (w[i].wake.fd >= 0)
				close(w[i].wake.fd);
			pl_server_free(w[i].srv);
			pl_loop_free(w[i].loop);
		}
	}
	return r;
}

static void *run(void *arg)
{
	struct worker *w = arg;

	w->rc = pl_loop_run(w->loop);
	return NULL;
}

int workers_start(struct worker *w, int n)
{
	for (int i = 1; i < n; i++) {
		int r = pthread_create(&w[i].tid, NULL, run, &w[i]);
		if (r != 0)
			return -r;
	}
	return 0;
}

void workers_shutdown(struct worker *w, int n)
{
	uint64_t one = 1;

	/* an eventfd write fails only when its counter would overflow */
	for (int i = 1; i < n; i++)
		(void)!write(w[i].wake.fd, &one, sizeof(one));
}

void workers_finish(struct worker *w, int n, struct pl_server_stats *sum, unsigned long long *each)
{
	/* every thread first: freeing loop 0 unblocks the signals it reads, and
	 * a second SIGTERM must not kill threads still draining */
	for (int i = 1; i < n; i++)
		if (w[i].tid)
			pthread_join(w[i].tid, NULL);
	memset(sum, 0, sizeof(*sum));
	for (int i = 0; i < n; i++) {
		const struct pl_server_stats *st = pl_server_stats(w[i].srv);
		if (each)
			each[i] = st->accepted;
		sum->accepted += st->accepted;
		sum->requests += st->requests;
		for (int r = 0; r < PL_CLOSE_REASONS; r++)
			sum->closed[r] += st->closed[r];
		pl_server_free(w[i].srv);
		if (w[i].wake.fd >= 0)
			close(w[i].wake.fd);
		pl_loop_free(w[i].loop);
	}
}
