/*
 * packet.c - SEQPACKET under the connection layer: the packet is the
 * message.  A transport (transport.h) that hands the connection each
 * packet as a len frame and sends each len frame it is given as one
 * packet, so framing, dispatch, backpressure and timeouts are the stream
 * ones, and message boundaries are the kernel's, never searched for.
 * A connected datagram socket (a client's udp: or unixgram:) is served
 * the same way by a second table that differs in one thing: a datagram
 * of length 0 is an empty message, as there is no end of stream.
 *
 * A packet is read whole into the room the connection offers (its shared
 * 256 KiB buffer, or as much of its own: read_want in conn.c), so one
 * larger than that (the kernel would cut it: MSG_TRUNC) fails the read
 * with -EMSGSIZE.  A zero-length packet cannot be told from the end of
 * the stream (recv returns 0 for both): it reads as the end, and an empty
 * message is therefore never sent as a packet.
 */
#include "conn_int.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* One packet as a len frame; an empty one is the end (SEQPACKET) or an
 * empty message (a datagram). */
static ssize_t read_frame(int fd, void *buf, size_t n, int empty_is_message)
{
	uint8_t *b = buf;
	struct iovec iov = { b + PL_LEN_HEADER, n - PL_LEN_HEADER };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r;

	if (n <= PL_LEN_HEADER)
		return -ENOBUFS;
	if ((r = recvmsg(fd, &m, MSG_DONTWAIT)) < 0)
		return -errno;
	if (r == 0 && !empty_is_message)
		return 0;
	if (m.msg_flags & MSG_TRUNC)
		return -EMSGSIZE;
	pl_frame_encode_head(PL_PROTO_LEN, b, (size_t)r);
	return r + PL_LEN_HEADER;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* buf holds whole len frames (the connection consumes what is returned,
 * so it stays cut at frame boundaries): up to a batch of them leaves in
 * one sendmmsg; returns the bytes of the frames sent.  Without
 * empty_ok, an empty message is skipped: see above. */
static ssize_t write_frames(int fd, const void *buf, size_t n, int empty_ok)
{
	const uint8_t *b = buf;
	struct mmsghdr mm[64];
	struct iovec iov[64];
	size_t off = 0, used[64];
	unsigned k = 0;
	int r;

	while (k < 64 && n - off >= PL_LEN_HEADER && n - off - PL_LEN_HEADER >= le32(b + off)) {
		size_t len = le32(b + off);
		off += PL_LEN_HEADER + len;
		if (len == 0 && !empty_ok && k == 0)
			return (ssize_t)off;
		if (len == 0 && !empty_ok)
			break;
		iov[k] = (struct iovec){ (void *)(b + off - len), len };
		mm[k].msg_hdr = (struct msghdr){ .msg_iov = &iov[k], .msg_iovlen = 1 };
		used[k++] = off;
	}
	if (k == 0)
		return -EINVAL; /* not a frame: cannot happen */
	if ((r = sendmmsg(fd, mm, k, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0)
		return -errno;
	return r ? (ssize_t)used[r - 1] : -EAGAIN;
}

static ssize_t pk_read(struct pl_transport *t, int fd, void *buf, size_t n)
{
	(void)t;
	return read_frame(fd, buf, n, 0);
}

static ssize_t pk_write(struct pl_transport *t, int fd, const void *buf, size_t n)
{
	(void)t;
	return write_frames(fd, buf, n, 0);
}

static ssize_t dg_read(struct pl_transport *t, int fd, void *buf, size_t n)
{
	(void)t;
	return read_frame(fd, buf, n, 1);
}

static ssize_t dg_write(struct pl_transport *t, int fd, const void *buf, size_t n)
{
	(void)t;
	return write_frames(fd, buf, n, 1);
}

static int pk_shutdown(struct pl_transport *t, int fd)
{
	(void)t;
	return shutdown(fd, SHUT_WR) < 0 ? -errno : 0;
}

static void pk_free(struct pl_transport *t) { (void)t; /* shared, never allocated */ }

static const struct pl_transport_ops packet_ops = {
	.name = "packet",
	.read = pk_read,
	.write = pk_write,
	.shutdown = pk_shutdown,
	.free = pk_free,
};

static const struct pl_transport_ops dgram_ops = {
	.name = "datagram",
	.read = dg_read,
	.write = dg_write,
	.shutdown = pk_shutdown,
	.free = pk_free,
};

const struct pl_transport conn_packet_transport = { &packet_ops };
const struct pl_transport conn_dgram_transport = { &dgram_ops };
