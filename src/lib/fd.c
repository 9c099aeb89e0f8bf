/* fd.c - whole-buffer blocking I/O with EINTR, short transfers and deadlines. */
#include "parley/fd.h"
#include "parley/clock.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

/* Waits for fd to be ready before the deadline; 0, -ETIMEDOUT or -errno. */
static int wait_ready(int fd, short ev, long long deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = ev };
		long long left = deadline - pl_clock_ms();
		int r;

		if (left < 0)
			left = 0;
		r = poll(&p, 1, (int)(left > 1 << 30 ? 1 << 30 : left));
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

ssize_t pl_fd_read_full(int fd, void *buf, size_t n, int timeout_ms)
{
	long long deadline = timeout_ms >= 0 ? pl_clock_ms() + timeout_ms : 0;
	size_t got = 0;

	while (got < n) {
		ssize_t r;

		if (timeout_ms >= 0) {
			int w = wait_ready(fd, POLLIN, deadline);
			if (w < 0)
				return w;
		}
		r = read(fd, (char *)buf + got, n - got);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0)
			break;
		else if (errno != EINTR && errno != EAGAIN)
			return -errno;
		else if (errno == EAGAIN && timeout_ms < 0) {
			int w = wait_ready(fd, POLLIN, 1LL << 60); /* a non-blocking fd */
			if (w < 0)
				return w;
		}
	}
	return (ssize_t)got;
}

ssize_t pl_fd_write_full(int fd, const void *buf, size_t n, int timeout_ms)
{
	long long deadline = timeout_ms >= 0 ? pl_clock_ms() + timeout_ms : 0;
	size_t done = 0;
	int sock = 1;

	while (done < n) {
		ssize_t r;

		if (timeout_ms >= 0) {
			int w = wait_ready(fd, POLLOUT, deadline);
			if (w < 0)
				return w;
		}
		/* MSG_NOSIGNAL: a vanished peer is an error code, not a SIGPIPE */
		r = sock ? send(fd, (const char *)buf + done, n - done, MSG_NOSIGNAL)
			 : write(fd, (const char *)buf + done, n - done);
		/* a pipe or a file: write from now on (a loop that kept r = -1 spun here) */
		if (r < 0 && sock && errno == ENOTSOCK) {
			sock = 0;
			continue;
		}
		if (r >= 0)
			done += (size_t)r;
		else if (errno != EINTR && errno != EAGAIN)
			return -errno;
		else if (errno == EAGAIN && timeout_ms < 0) {
			int w = wait_ready(fd, POLLOUT, 1LL << 60); /* a non-blocking fd */
			if (w < 0)
				return w;
		}
	}
	return (ssize_t)done;
}
