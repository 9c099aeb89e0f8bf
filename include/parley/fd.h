/*
 * fd.h - whole-buffer reads and writes for blocking descriptors.
 *
 * They loop over partial transfers and EINTR, keep end-of-file apart from
 * errors, and can bound the wait with a deadline (poll before each call).
 * For code outside an event loop (a simple client, a test peer); inside
 * one, pl_io_* in loop.h are the handles for non-blocking descriptors.
 */
#ifndef PARLEY_FD_H
#define PARLEY_FD_H

#include <stddef.h>
#include <sys/types.h>

/*
 * timeout_ms bounds the whole call: < 0 waits for ever, 0 fails at once
 * with -ETIMEDOUT when the descriptor is not ready (unlike
 * pl_connect_opts.timeout_ms, where <= 0 means no limit).
 *
 * Reads exactly n bytes unless end-of-file comes first.  Returns n, a smaller
 * count when the peer closed (0 at once), or -errno (-ETIMEDOUT when
 * timeout_ms >= 0 passed with the buffer still short).
 */
ssize_t pl_fd_read_full(int fd, void *buf, size_t n, int timeout_ms);

/*
 * Writes all n bytes, never raising SIGPIPE on sockets.  Returns n or -errno
 * (-EPIPE when the peer has gone, -ETIMEDOUT as above).
 */
ssize_t pl_fd_write_full(int fd, const void *buf, size_t n, int timeout_ms);

#endif
