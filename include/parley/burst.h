/*
 * burst.h - many datagrams of one size to one peer, in few system calls.
 *
 * A bulk sender (parley-bench --bulk) has a buffer to cut into datagrams of
 * seg bytes each, all for the peer its socket is connected to.  With UDP
 * generic segmentation offload (UDP_SEGMENT, Linux 4.18) one sendmsg hands
 * the kernel up to 64 of them as one buffer, and the stack cuts it as late
 * as it can (or the network card does); without it, sendmmsg still sends up
 * to 64 datagrams per call.  Either way the peer receives the same
 * datagrams.
 *
 * Whether the kernel and the route take UDP_SEGMENT is found at run time,
 * at the first send: a refusal (EINVAL, EIO, ENOPROTOOPT, EOPNOTSUPP)
 * switches the burst to sendmmsg for good, and the same bytes go that way,
 * so a caller never sees the difference except in pl_burst.gso.
 */
#ifndef PARLEY_BURST_H
#define PARLEY_BURST_H

#include <stddef.h>
#include <sys/types.h>

/* The most datagrams one call sends: the kernel's UDP_MAX_SEGMENTS. */
#define PL_BURST_MAX 64

struct pl_burst {
	int fd;     /* a connected datagram socket (non-blocking, or the calls block) */
	size_t seg; /* bytes in each datagram, 1 .. 65507 */
	int gso;    /* 1: try UDP_SEGMENT; 0: sendmmsg.  Cleared when the kernel refuses */
};

/*
 * Fills b for fd, seg and gso (1: use UDP_SEGMENT where it works).  GSO is
 * left off for any socket but UDP: a Unix datagram socket would ignore
 * the control message and send the whole buffer as one datagram.  0, or
 * -EINVAL for a seg out of range.
 */
int pl_burst_init(struct pl_burst *b, int fd, size_t seg, int gso);

/*
 * Sends the first bytes of buf[0..len) as datagrams of b->seg bytes (the
 * last one may be shorter), as many as one call takes (PL_BURST_MAX at
 * most, and under 64 KiB in all with GSO).  Returns the bytes sent, whole
 * datagrams only, or -errno: -EAGAIN when the socket buffer is full,
 * -ECONNREFUSED after an ICMP port unreachable, -EINVAL for a seg out of
 * range.
 */
ssize_t pl_burst_send(struct pl_burst *b, const void *buf, size_t len);

#endif
