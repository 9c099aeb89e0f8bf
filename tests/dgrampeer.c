/*
 * dgrampeer - a scriptable datagram peer for tests (udp:, unixgram:).
 *
 *   dgrampeer [-t MS] ADDRESS CMD...   a connected datagram socket (a Unix one
 *                                      autobound, so it can be answered); CMDs in order
 *
 * CMDs (TEXT takes C escapes \n \r \t \0 \\ \xHH):
 *   s:TEXT         send one datagram          z      send an empty datagram
 *   big:N          send a datagram of N pattern bytes
 *   r              read one reply, print "reply: ESCAPED" (or "timeout", exit 1)
 *   rbig:N         read one reply of N pattern bytes, print "rbig ok"
 *   peers:N        N more sockets (N source addresses), 100 at a time, each send
 *                  "hello" and read one reply; prints "peers K of N answered" (K got "world" or
 *                  their "hello" back)
 *   flood:N:SIZE   send N datagrams of SIZE bytes as fast as the socket takes
 *                  them, reading nothing; prints "flood N sent"
 *   bounce:N       N more sockets each send "hello" and close at once, so the
 *                  replies bounce (ICMP port unreachable, or a gone Unix peer)
 *   drain          read and discard replies until none comes for 200 ms;
 *                  prints "drained N"
 *   sleep:MS       pause
 * and for seqpacket: (a connection of packets; the commands above work on it too)
 *   shut           shutdown(SHUT_WR)          eof    wait for the end: prints "eof",
 *                                                    "reset" or "timeout"
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../src/cli.h"
#include "parley/parley.h"

static int timeout_ms = 5000;
static struct pl_addr target;
static uint8_t buf[PL_DGRAM_MAX + 1];

static void die(const char *what, int err)
{
	printf("error: %s: %s\n", what, strerror(-err));
	exit(1);
}

static int open_one(void)
{
	int fd = pl_connect(&target, 1, NULL, NULL);

	if (fd < 0)
		die("connect", fd);
	return fd;
}

/* One datagram within the timeout: its length, or -1 (timeout). */
static ssize_t get(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return -1;
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0)
		die("recv", -errno);
	return n;
}

static void put(int fd, const void *p, size_t n)
{
	if (send(fd, p, n, 0) != (ssize_t)n)
		die("send", -errno);
}

static void pattern(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)('a' + i % 26);
}

/* n sockets in waves of 100 (a burst of thousands would overflow the
 * server's receive buffer, which is not what is tested), all kept open
 * until the end, so the n source addresses are distinct. */
static void peers(long n)
{
	int *fds = calloc((size_t)n, sizeof(int));
	long ok = 0;

	if (!fds)
		die("peers", -ENOMEM);
	for (long w = 0; w < n; w += 100) {
		long end = w + 100 < n ? w + 100 : n;
		for (long i = w; i < end; i++) {
			fds[i] = open_one();
			put(fds[i], "hello", 5);
		}
		for (long i = w; i < end; i++) {
			ssize_t k = get(fds[i], timeout_ms);
			ok += k == 5 && (memcmp(buf, "world", 5) == 0 || memcmp(buf, "hello", 5) == 0);
		}
	}
	for (long i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	printf("peers %ld of %ld answered\n", ok, n);
}

static void flood(int fd, long n, size_t size)
{
	long sent = 0;

	pattern(buf, size);
	for (long i = 0; i < n; i++) {
		/* the local buffer may be full for a moment: wait for room, never for replies */
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		if (send(fd, buf, size, MSG_DONTWAIT) == (ssize_t)size) {
			sent++;
			continue;
		}
		if (errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED)
			die("flood", -errno);
		poll(&p, 1, 10);
	}
	printf("flood %ld sent\n", sent);
}

static void run(int fd, const char *cmd)
{
	char text[PL_ESCAPE_CAP(PL_ESCAPE_LIMIT)];
	ssize_t n;

	if (strncmp(cmd, "s:", 2) == 0) {
		size_t len = cli_unescape_opt("s:", cmd + 2, buf);
		put(fd, buf, len);
	} else if (strcmp(cmd, "z") == 0) {
		put(fd, "", 0);
	} else if (strncmp(cmd, "big:", 4) == 0) {
		size_t len = strtoul(cmd + 4, NULL, 10);
		pattern(buf, len);
		put(fd, buf, len);
	} else if (strcmp(cmd, "r") == 0) {
		if ((n = get(fd, timeout_ms)) < 0) {
			printf("timeout\n");
			exit(1);
		}
		pl_escape(buf, (size_t)n, PL_ESCAPE_LIMIT, text, sizeof(text));
		printf("reply: %s\n", text);
	} else if (strncmp(cmd, "rbig:", 5) == 0) {
		size_t len = strtoul(cmd + 5, NULL, 10);
		static uint8_t want[PL_DGRAM_MAX];
		pattern(want, len);
		n = get(fd, timeout_ms);
		printf(n == (ssize_t)len && memcmp(buf, want, len) == 0 ? "rbig ok\n" : "rbig bad %zd\n", n);
	} else if (strncmp(cmd, "peers:", 6) == 0) {
		peers(strtol(cmd + 6, NULL, 10));
	} else if (strncmp(cmd, "flood:", 6) == 0) {
		char *end;
		long count = strtol(cmd + 6, &end, 10);
		flood(fd, count, strtoul(end + 1, NULL, 10));
	} else if (strncmp(cmd, "bounce:", 7) == 0) {
		for (long i = strtol(cmd + 7, NULL, 10); i > 0; i--) {
			int b = open_one();
			put(b, "hello", 5);
			close(b);
		}
	} else if (strcmp(cmd, "drain") == 0) {
		long got = 0;
		while (get(fd, 200) >= 0)
			got++;
		printf("drained %ld\n", got);
	} else if (strcmp(cmd, "shut") == 0) {
		shutdown(fd, SHUT_WR);
	} else if (strcmp(cmd, "eof") == 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		n = poll(&p, 1, timeout_ms) <= 0 ? -2 : recv(fd, buf, sizeof(buf), 0);
		printf("%s\n", n == 0 ? "eof" : n == -2 ? "timeout" : n < 0 ? "reset" : "data");
	} else if (strncmp(cmd, "sleep:", 6) == 0) {
		long ms = strtol(cmd + 6, NULL, 10);
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	} else {
		printf("error: unknown command %s\n", cmd);
		exit(2);
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int i = 1, fd;

	cli_prog = "dgrampeer";
	if (argc > 2 && strcmp(argv[1], "-t") == 0) {
		timeout_ms = atoi(argv[2]);
		i = 3;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: dgrampeer [-t MS] ADDRESS CMD...\n");
		return 2;
	}
	cli_addr(&target, argv[i++], 0, 0);
	fd = open_one();
	for (; i < argc; i++)
		run(fd, argv[i]);
	close(fd);
	return 0;
}
