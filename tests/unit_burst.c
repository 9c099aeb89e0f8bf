/* unit_burst.c - datagrams of one size to one peer: UDP_SEGMENT and sendmmsg. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "parley/burst.h"
#include "unit.h"

/* Two UDP sockets on 127.0.0.1 connected to each other: fds[0] sends. */
static int udp_pair(int fds[2])
{
	struct sockaddr_in a[2];
	socklen_t len = sizeof(a[0]);

	for (int i = 0; i < 2; i++) {
		a[i] = (struct sockaddr_in){ .sin_family = AF_INET,
					     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a[i], len) < 0 ||
		    getsockname(fds[i], (struct sockaddr *)&a[i], &len) < 0)
			return -1;
	}
	if (connect(fds[0], (struct sockaddr *)&a[1], len) < 0 ||
	    connect(fds[1], (struct sockaddr *)&a[0], len) < 0)
		return -1;
	return 0;
}

/* Sends len bytes of a pattern in datagrams of seg bytes, then checks that
 * the peer got each datagram whole, in order, with the right bytes. */
static void send_and_check(int fds[2], struct pl_burst *b, size_t len)
{
	static uint8_t out[200000], in[70000];
	size_t sent = 0, got = 0;

	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(i * 7 + i / 251);
	while (sent < len) {
		ssize_t r = pl_burst_send(b, out + sent, len - sent);
		CHECK(r > 0);
		CHECK(r == (ssize_t)(len - sent) || r % (ssize_t)b->seg == 0);
		sent += (size_t)r;
		/* the receiver's buffer is small: read what went before the next call */
		for (ssize_t n; got < sent && (n = recv(fds[1], in, sizeof(in), MSG_DONTWAIT)) >= 0;) {
			size_t want = len - got < b->seg ? len - got : b->seg;
			CHECK_EQ_INT(n, want);
			CHECK(memcmp(in, out + got, want) == 0);
			got += (size_t)n;
		}
	}
	CHECK_EQ_INT(got, len);
}

static void test_burst_gso_keeps_datagram_boundaries(void)
{
	int fds[2];
	struct pl_burst b;

	CHECK(udp_pair(fds) == 0);
	CHECK(pl_burst_init(&b, fds[0], 1400, 1) == 0);
	send_and_check(fds, &b, 1400 * 100 + 321);
	CHECK_EQ_INT(b.gso, 1); /* Linux 4.18 and later: loopback takes it */
	close(fds[0]);
	close(fds[1]);
}

static void test_burst_sendmmsg_keeps_datagram_boundaries(void)
{
	int fds[2];
	struct pl_burst b = { .seg = 1000, .gso = 0 };

	CHECK(udp_pair(fds) == 0);
	b.fd = fds[0];
	send_and_check(fds, &b, 1000 * 150 + 1);
	CHECK_EQ_INT(b.gso, 0);
	close(fds[0]);
	close(fds[1]);
}

/* SO_NO_CHECK makes the kernel refuse UDP_SEGMENT (GSO needs the checksum
 * offload): the burst must fall back to sendmmsg and lose nothing. */
static void test_burst_falls_back_when_gso_refused(void)
{
	int fds[2], one = 1;
	struct pl_burst b = { .seg = 1200, .gso = 1 };

	CHECK(udp_pair(fds) == 0);
	CHECK(setsockopt(fds[0], SOL_SOCKET, SO_NO_CHECK, &one, sizeof(one)) == 0);
	b.fd = fds[0];
	send_and_check(fds, &b, 1200 * 40 + 7);
	CHECK_EQ_INT(b.gso, 0);
	close(fds[0]);
	close(fds[1]);
}

static void test_burst_refuses_bad_segment_size(void)
{
	struct pl_burst b = { .fd = -1, .seg = 0, .gso = 1 };

	CHECK_EQ_INT(pl_burst_send(&b, "x", 1), -EINVAL);
	b.seg = 65508;
	CHECK_EQ_INT(pl_burst_send(&b, "x", 1), -EINVAL);
	CHECK_EQ_INT(pl_burst_init(&b, -1, 0, 1), -EINVAL);
	CHECK_EQ_INT(pl_burst_init(&b, -1, 65508, 1), -EINVAL);
}

/* A Unix datagram socket ignores UDP_SEGMENT: init leaves GSO off, and
 * the datagrams still arrive one by one. */
static void test_burst_no_gso_on_unix_datagrams(void)
{
	int fds[2];
	struct pl_burst b;
	char in[64];

	CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds) == 0);
	CHECK(pl_burst_init(&b, fds[0], 10, 1) == 0);
	CHECK_EQ_INT(b.gso, 0);
	CHECK_EQ_INT(pl_burst_send(&b, "0123456789abcdefghijKLM", 23), 23);
	CHECK_EQ_INT(recv(fds[1], in, sizeof(in), 0), 10);
	CHECK_EQ_INT(recv(fds[1], in, sizeof(in), 0), 10);
	CHECK_EQ_INT(recv(fds[1], in, sizeof(in), 0), 3);
	CHECK(memcmp(in, "KLM", 3) == 0);
	close(fds[0]);
	close(fds[1]);
}

static void test_burst_reports_refused_peer(void)
{
	int fds[2];
	struct pl_burst b = { .seg = 100, .gso = 1 };
	uint8_t buf[1000] = { 0 };
	ssize_t r = 0;

	CHECK(udp_pair(fds) == 0);
	close(fds[1]); /* nothing listens there now: ICMP port unreachable */
	b.fd = fds[0];
	for (int i = 0; i < 3 && r >= 0; i++)
		r = pl_burst_send(&b, buf, sizeof(buf));
	CHECK_EQ_INT(r, -ECONNREFUSED);
	CHECK_EQ_INT(b.gso, 1); /* a refused peer is no reason to give GSO up */
	close(fds[0]);
}

static const struct unit_test tests[] = {
	T(test_burst_gso_keeps_datagram_boundaries),
	T(test_burst_sendmmsg_keeps_datagram_boundaries),
	T(test_burst_falls_back_when_gso_refused),
	T(test_burst_refuses_bad_segment_size),
	T(test_burst_no_gso_on_unix_datagrams),
	T(test_burst_reports_refused_peer),
};
UNIT_MAIN(tests)
