/* burst.c - datagrams of one size to one peer: UDP_SEGMENT, or sendmmsg. */
#include "parley/burst.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* The largest UDP payload over IPv4 (65535 less the IP and UDP headers);
 * a GSO buffer is one IP packet to the stack, so it is bound by it too. */
#define UDP_PAYLOAD_MAX 65507

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* One sendmsg with a UDP_SEGMENT control message: the kernel cuts it. */
static ssize_t send_gso(const struct pl_burst *b, const uint8_t *p, size_t len)
{
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl;
	size_t n = min_sz(len, min_sz(UDP_PAYLOAD_MAX / b->seg, PL_BURST_MAX) * b->seg);
	struct iovec iov = { (void *)p, n };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	uint16_t seg = (uint16_t)b->seg;
	ssize_t r;

	memset(&ctl, 0, sizeof(ctl));
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_UDP;
	cm->cmsg_type = UDP_SEGMENT;
	cm->cmsg_len = CMSG_LEN(sizeof(seg));
	memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
	do
		r = sendmsg(b->fd, &mh, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

/* sendmmsg of up to PL_BURST_MAX datagrams; the bytes of those it took. */
static ssize_t send_many(const struct pl_burst *b, const uint8_t *p, size_t len)
{
	struct mmsghdr mm[PL_BURST_MAX];
	struct iovec iov[PL_BURST_MAX];
	unsigned n = 0;
	size_t off = 0;
	int r;

	memset(mm, 0, sizeof(mm));
	for (; n < PL_BURST_MAX && off < len; n++) {
		iov[n] = (struct iovec){ (void *)(p + off), min_sz(b->seg, len - off) };
		mm[n].msg_hdr.msg_iov = &iov[n];
		mm[n].msg_hdr.msg_iovlen = 1;
		off += iov[n].iov_len;
	}
	do
		r = sendmmsg(b->fd, mm, n, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	off = 0;
	for (int i = 0; i < r; i++)
		off += iov[i].iov_len;
	return (ssize_t)off;
}

/* The errors by which a kernel or route says it has no UDP GSO. */
static int gso_refused(ssize_t r)
{
	return r == -EINVAL || r == -EIO || r == -ENOPROTOOPT || r == -EOPNOTSUPP;
}

int pl_burst_init(struct pl_burst *b, int fd, size_t seg, int gso)
{
	int proto = 0;
	socklen_t len = sizeof(proto);

	if (seg == 0 || seg > UDP_PAYLOAD_MAX)
		return -EINVAL;
	if (gso && (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0 || proto != IPPROTO_UDP))
		gso = 0;
	*b = (struct pl_burst){ .fd = fd, .seg = seg, .gso = gso };
	return 0;
}

ssize_t pl_burst_send(struct pl_burst *b, const void *buf, size_t len)
{
	ssize_t r;

	if (b->seg == 0 || b->seg > UDP_PAYLOAD_MAX)
		return -EINVAL;
	if (len == 0)
		return 0;
	/* one datagram needs no cutting: GSO would only cost the control message */
	if (b->gso && len > b->seg) {
		r = send_gso(b, buf, len);
		if (!gso_refused(r))
			return r;
		b->gso = 0;
	}
	return send_many(b, buf, len);
}
