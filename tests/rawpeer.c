/*
 * rawpeer - a scriptable peer for tests: writes arbitrary bytes, splits
 * writes, stops reading, half-closes and resets on command.
 *
 *   rawpeer [-t MS] ADDRESS CMD...      connect, then run CMDs in order
 *   rawpeer [-t MS] -l ADDRESS CMD...   listen, print "listening on X", accept one, run CMDs
 *   rawpeer -A ADDRESS PROGRAM ARGS...  fake systemd socket activation: listen on
 *                                       ADDRESS as fd 3, set LISTEN_FDS=1 and
 *                                       LISTEN_PID, exec PROGRAM
 *   rawpeer [-t MS] -B ADDRESS          a black hole: a listener whose accept queue is
 *                                       kept full, so new SYNs are dropped; lives -t MS
 *
 * CMDs (TEXT takes C escapes \n \r \t \0 \\ \xHH):
 *   w:TEXT         write raw bytes          m:TEXT        write one len-framed message
 *   M:N:TEXT       N framed messages, one write buffer
 *   b:TEXT         a framed message, one byte per write
 *   bd:MS:TEXT     the same with MS between bytes
 *   h:N            a len header declaring N bytes, no body
 *   big:N          one framed message of N pattern bytes
 *   r:N            read N framed replies, print "reply: ESCAPED" each
 *   rc:N:TEXT      read N framed replies, each must be TEXT; print "rc ok N"
 *   rbig:N         read one framed reply of N pattern bytes; print "rbig ok"
 *   rb:N           read N raw bytes, print "raw: ESCAPED"
 *   eof            wait for the peer to close: prints "eof", "reset" or "timeout"
 *   shut           shutdown(SHUT_WR)          rst      reset (SO_LINGER 0) and exit
 *   sleep:MS       pause                      say:TEXT print TEXT (a sync point)
 *   kill:PID:SIG   send a signal              hold:N   open N more connections
 *   release        close the held ones        multi:N:MSG:REPLY  N clients at once
 *   flood:N:MS:SIZE  N more connections write SIZE-byte framed messages for MS
 *                  and never read; prints "flood N conns, B bytes, S stuck"
 *                  (stuck: connections the peer stopped reading from)
 *   rslow:N:MS     read N framed replies, MS between them; prints "rslow ok N"
 *   junk:N         write N pseudo-random bytes
 *   fill:N:C       write N bytes of the character C
 *   drip:N:US:C    write C one byte at a time, N times, US microseconds apart
 *   rall           read until the peer closes; prints "rall BYTES LINES"
 *   xfer:N:SEED[:US]  full duplex: write N bytes of the stream SEED names while
 *                  reading (sleeping US microseconds after each read: a slow
 *                  reader), shut the write side after the last byte, read until
 *                  EOF; prints "xfer sent N SUM got M SUM" (FNV-1a, 16 hex digits)
 *   echo:N:SIZE    N connections at once each write SIZE raw bytes of their own,
 *                  then read SIZE back; prints "echo K of N ok" (K got their own)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../src/cli.h"
#include "parley/parley.h"

static int timeout_ms = 10000;
static struct pl_addr target;
static int held[100000];
static int nheld;

static void die(const char *what, int err)
{
	printf("error: %s: %s\n", what, strerror(-err));
	exit(1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void put(int fd, const void *p, size_t n)
{
	ssize_t r = pl_fd_write_full(fd, p, n, timeout_ms);

	if (r < 0)
		die("write", (int)r);
}

static void framed(struct pl_buf *b, const uint8_t *p, size_t n)
{
	if (pl_frame_append(PL_PROTO_LEN, b, p, n) < 0)
		die("frame", -ENOMEM);
}

/* Reads one framed reply into b (reset first); 0, or -errno / -EPIPE at EOF. */
static int get_reply(int fd, struct pl_buf *b)
{
	uint8_t h[4];
	ssize_t r = pl_fd_read_full(fd, h, 4, timeout_ms);
	uint32_t len;

	if (r != 4)
		return r < 0 ? (int)r : -EPIPE;
	len = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
	pl_buf_free(b);
	if (pl_buf_reserve(b, len ? len : 1) < 0)
		return -ENOMEM;
	r = pl_fd_read_full(fd, pl_buf_tail(b), len, timeout_ms);
	if (r != (ssize_t)len)
		return r < 0 ? (int)r : -EPIPE;
	pl_buf_commit(b, len);
	return 0;
}

static void print_esc(const char *tag, const uint8_t *p, size_t n)
{
	char text[PL_ESCAPE_CAP(PL_ESCAPE_LIMIT)];

	pl_escape(p, n, PL_ESCAPE_LIMIT, text, sizeof(text));
	printf("%s: %s\n", tag, text);
}

static int connect_target(void)
{
	struct pl_connect_opts o = { .timeout_ms = timeout_ms };
	int fd = pl_connect(&target, 1, &o, NULL);

	if (fd < 0)
		die("connect", fd);
	return fd;
}

static void wait_eof(int fd)
{
	char buf[4096];

	for (;;) {
		ssize_t r = pl_fd_read_full(fd, buf, sizeof(buf), timeout_ms);
		if (r == -ETIMEDOUT) {
			printf("timeout\n");
			return;
		}
		if (r < 0) {
			printf(r == -ECONNRESET ? "reset\n" : "error: %s\n", strerror((int)-r));
			return;
		}
		if (r < (ssize_t)sizeof(buf)) {
			printf("eof\n");
			return;
		}
	}
}

static void multi(int n, const char *msg, const char *reply)
{
	int *fds = calloc((size_t)n, sizeof(int));
	struct pl_buf req = { 0 }, rep = { 0 };
	uint8_t m[4096], want[4096];
	size_t mlen = cli_unescape_opt("rawpeer", msg, m), wlen = cli_unescape_opt("rawpeer", reply, want);
	int ok = 0;

	framed(&req, m, mlen);
	for (int i = 0; i < n; i++)
		fds[i] = connect_target();
	for (int i = 0; i < n; i++)
		put(fds[i], pl_buf_head(&req), pl_buf_len(&req));
	for (int i = 0; i < n; i++) {
		if (get_reply(fds[i], &rep) == 0 && pl_buf_len(&rep) == wlen &&
		    memcmp(pl_buf_head(&rep), want, wlen) == 0)
			ok++;
		close(fds[i]);
	}
	printf("multi %d of %d ok\n", ok, n);
	pl_buf_free(&req);
	pl_buf_free(&rep);
	free(fds);
}

/* Writes without reading on n connections until ms have passed. */
static void flood(int n, long ms, size_t size)
{
	struct pollfd *p = calloc((size_t)n, sizeof(*p));
	long long *last = calloc((size_t)n, sizeof(*last)), end = pl_clock_ms() + ms, total = 0;
	struct pl_buf msg = { 0 };
	uint8_t *body = calloc(1, size);
	size_t *off = calloc((size_t)n, sizeof(*off));
	int stuck = 0;

	if (!p || !last || !body || !off)
		die("flood", -ENOMEM);
	memset(body, 'f', size);
	framed(&msg, body, size);
	for (int i = 0; i < n; i++) {
		/* a fixed receive buffer: with autotuning up to tcp_rmem's max
		 * (32 MiB on some hosts) the kernel alone could swallow the flood */
		int rcvbuf = 65536;
		p[i] = (struct pollfd){ connect_target(), POLLOUT, 0 };
		setsockopt(p[i].fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		pl_sock_nonblock(p[i].fd, 1);
		last[i] = pl_clock_ms();
	}
	for (long long now; (now = pl_clock_ms()) < end;) {
		if (poll(p, (nfds_t)n, (int)(end - now)) < 0 && errno != EINTR)
			die("poll", -errno);
		for (int i = 0; i < n; i++) {
			ssize_t w;
			if (!(p[i].revents & POLLOUT))
				continue;
			w = send(p[i].fd, pl_buf_head(&msg) + off[i], pl_buf_len(&msg) - off[i], MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN)
				die("flood write", -errno);
			if (w > 0) {
				total += w;
				off[i] = (off[i] + (size_t)w) % pl_buf_len(&msg);
				last[i] = pl_clock_ms();
			}
		}
	}
	for (int i = 0; i < n; i++)
		stuck += pl_clock_ms() - last[i] >= 1000;
	printf("flood %d conns, %lld bytes, %d stuck\n", n, total, stuck);
	for (int i = 0; i < n && nheld < 100000; i++)
		held[nheld++] = p[i].fd; /* closed by release or at exit */
	pl_buf_free(&msg);
	free(p), free(last), free(body), free(off);
}

/* The bytes xfer and echo write: a stream SEED names, so each end can tell. */
static uint8_t gen_byte(uint64_t *x)
{
	*x = *x * 6364136223846793005ull + 1442695040888963407ull;
	return (uint8_t)(*x >> 56);
}

static void fnv(uint64_t *h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		*h = (*h ^ p[i]) * 1099511628211ull;
}

/* Writes and reads at once (a peer that did one, then the other, would
 * deadlock with an echo: both sides' buffers full). */
static void xfer(int fd, long total, uint64_t seed, long us)
{
	static uint8_t out[1 << 16], in[1 << 16];
	uint64_t x = seed, hs = 14695981039346656037ull, hr = hs;
	long sent = 0, got = 0;
	size_t have = 0, off = 0;
	int shut = 0, eof = 0;

	pl_sock_nonblock(fd, 1);
	if (total == 0 && shutdown(fd, SHUT_WR) == 0)
		shut = 1;
	while (!eof || !shut) {
		struct pollfd p = { fd, (short)((eof ? 0 : POLLIN) | (shut ? 0 : POLLOUT)), 0 };
		int r = poll(&p, 1, timeout_ms);
		if (r == 0) {
			printf("xfer timeout: sent %ld got %ld\n", sent, got);
			exit(1);
		}
		if (r < 0 && errno != EINTR)
			die("poll", -errno);
		if (r < 0)
			continue;
		if (p.revents & POLLOUT && !shut) {
			if (off == have) {
				have = (size_t)(total - sent) < sizeof(out) ? (size_t)(total - sent) : sizeof(out);
				for (size_t i = 0; i < have; i++)
					out[i] = gen_byte(&x);
				fnv(&hs, out, have);
				off = 0;
			}
			ssize_t w = send(fd, out + off, have - off, MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN)
				die("xfer write", -errno);
			if (w > 0 && (off += (size_t)w, sent += w) == total) {
				shutdown(fd, SHUT_WR);
				shut = 1;
			}
		}
		if (!eof && p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(fd, in, sizeof(in), 0);
			if (n < 0 && errno != EAGAIN)
				die("xfer read", -errno);
			eof = n == 0;
			if (n > 0) {
				fnv(&hr, in, (size_t)n);
				got += n;
				if (us)
					nanosleep(&(struct timespec){ us / 1000000, us % 1000000 * 1000 }, NULL);
			}
		}
	}
	printf("xfer sent %ld %016llx got %ld %016llx\n", sent, (unsigned long long)hs, got,
	       (unsigned long long)hr);
}

/* n clients at once, each with bytes of its own: a mix-up between them shows. */
static void echo_own(int n, size_t size)
{
	int *fds = calloc((size_t)n, sizeof(int)), ok = 0;
	uint8_t *mine = malloc(size ? size : 1), *back = malloc(size ? size : 1);

	if (!fds || !mine || !back)
		die("echo", -ENOMEM);
	for (int i = 0; i < n; i++)
		fds[i] = connect_target();
	for (int i = 0; i < n; i++) {
		uint64_t x = (uint64_t)i + 1;
		for (size_t j = 0; j < size; j++)
			mine[j] = gen_byte(&x);
		put(fds[i], mine, size);
	}
	for (int i = 0; i < n; i++) {
		uint64_t x = (uint64_t)i + 1;
		for (size_t j = 0; j < size; j++)
			mine[j] = gen_byte(&x);
		ok += pl_fd_read_full(fds[i], back, size, timeout_ms) == (ssize_t)size &&
		      memcmp(mine, back, size) == 0;
		close(fds[i]);
	}
	printf("echo %d of %d ok\n", ok, n);
	free(fds), free(mine), free(back);
}

static void run(int fd, const char *cmd)
{
	static uint8_t tmp[1 << 16];
	struct pl_buf b = { 0 };
	size_t n;
	long a1 = 0, a2 = 0;
	const char *rest;

	if (strncmp(cmd, "w:", 2) == 0) {
		n = cli_unescape_opt("rawpeer", cmd + 2, tmp);
		put(fd, tmp, n);
	} else if (strncmp(cmd, "m:", 2) == 0) {
		framed(&b, tmp, cli_unescape_opt("rawpeer", cmd + 2, tmp));
		put(fd, pl_buf_head(&b), pl_buf_len(&b));
	} else if (sscanf(cmd, "M:%ld:", &a1) == 1 && (rest = strchr(cmd + 2, ':'))) {
		n = cli_unescape_opt("rawpeer", rest + 1, tmp);
		for (long i = 0; i < a1; i++)
			framed(&b, tmp, n);
		put(fd, pl_buf_head(&b), pl_buf_len(&b));
	} else if (strncmp(cmd, "b:", 2) == 0 || sscanf(cmd, "bd:%ld:", &a1) == 1) {
		rest = cmd[1] == ':' ? cmd + 2 : strchr(cmd + 3, ':') + 1;
		framed(&b, tmp, cli_unescape_opt("rawpeer", rest, tmp));
		for (size_t i = 0; i < pl_buf_len(&b); i++) {
			put(fd, pl_buf_head(&b) + i, 1);
			if (a1)
				sleep_ms(a1);
		}
	} else if (sscanf(cmd, "h:%ld", &a1) == 1) {
		pl_frame_encode_head(PL_PROTO_LEN, tmp, (size_t)(unsigned long)a1);
		put(fd, tmp, 4);
	} else if (sscanf(cmd, "big:%ld", &a1) == 1) {
		if (pl_buf_reserve(&b, (size_t)a1 + 4) < 0)
			die("big", -ENOMEM);
		pl_frame_encode_head(PL_PROTO_LEN, pl_buf_tail(&b), (size_t)a1);
		for (long i = 0; i < a1; i++)
			pl_buf_tail(&b)[4 + i] = (uint8_t)(i * 31 + 7);
		pl_buf_commit(&b, (size_t)a1 + 4);
		put(fd, pl_buf_head(&b), pl_buf_len(&b));
	} else if (sscanf(cmd, "rbig:%ld", &a1) == 1) {
		int r = get_reply(fd, &b);
		if (r < 0)
			die("rbig", r);
		int good = pl_buf_len(&b) == (size_t)a1;
		for (long i = 0; good && i < a1; i++)
			good = pl_buf_head(&b)[i] == (uint8_t)(i * 31 + 7);
		printf(good ? "rbig ok\n" : "rbig mismatch (%zu bytes)\n", pl_buf_len(&b));
	} else if (sscanf(cmd, "rc:%ld:", &a1) == 1 && (rest = strchr(cmd + 3, ':'))) {
		n = cli_unescape_opt("rawpeer", rest + 1, tmp);
		for (long i = 0; i < a1; i++) {
			int r = get_reply(fd, &b);
			if (r < 0 || pl_buf_len(&b) != n || memcmp(pl_buf_head(&b), tmp, n) != 0) {
				printf("rc mismatch at %ld (%s)\n", i, r < 0 ? strerror(-r) : "content");
				exit(1);
			}
		}
		printf("rc ok %ld\n", a1);
	} else if (sscanf(cmd, "r:%ld", &a1) == 1) {
		for (long i = 0; i < a1; i++) {
			int r = get_reply(fd, &b);
			if (r < 0)
				die("read reply", r);
			print_esc("reply", pl_buf_head(&b), pl_buf_len(&b));
		}
	} else if (sscanf(cmd, "rb:%ld", &a1) == 1) {
		ssize_t r = pl_fd_read_full(fd, tmp, (size_t)a1 < sizeof(tmp) ? (size_t)a1 : sizeof(tmp),
					    timeout_ms);
		if (r < 0)
			die("read", (int)r);
		print_esc("raw", tmp, (size_t)r);
	} else if (strcmp(cmd, "rall") == 0) {
		long bytes = 0, lines = 0;
		ssize_t r;
		while ((r = pl_fd_read_full(fd, tmp, sizeof(tmp), timeout_ms)) > 0) {
			bytes += r;
			for (ssize_t i = 0; i < r; i++)
				lines += tmp[i] == '\n';
			if ((size_t)r < sizeof(tmp))
				break;
		}
		if (r < 0)
			die("read", (int)r);
		printf("rall %ld %ld\n", bytes, lines);
	} else if (strcmp(cmd, "eof") == 0) {
		wait_eof(fd);
	} else if (strcmp(cmd, "shut") == 0) {
		shutdown(fd, SHUT_WR);
	} else if (strcmp(cmd, "rst") == 0) {
		struct linger lg = { 1, 0 };
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
		exit(0);
	} else if (sscanf(cmd, "sleep:%ld", &a1) == 1) {
		sleep_ms(a1);
	} else if (strncmp(cmd, "say:", 4) == 0) {
		printf("%s\n", cmd + 4);
	} else if (strncmp(cmd, "kill:", 5) == 0) {
		long pid = 0, sig = 0;
		sscanf(cmd + 5, "%ld:%ld", &pid, &sig);
		kill((pid_t)pid, (int)sig);
	} else if (sscanf(cmd, "hold:%ld", &a1) == 1) {
		for (long i = 0; i < a1 && nheld < 100000; i++) {
			struct pl_connect_opts o = { .timeout_ms = timeout_ms };
			int h = pl_connect(&target, 1, &o, NULL);
			if (h < 0) {
				printf("hold: %d connected, then %s\n", nheld, strerror(-h));
				break;
			}
			held[nheld++] = h;
		}
	} else if (strcmp(cmd, "release") == 0) {
		while (nheld)
			close(held[--nheld]);
	} else if (sscanf(cmd, "multi:%ld:", &a1) == 1 && (rest = strchr(cmd + 6, ':'))) {
		char msg[1024];
		const char *colon = strchr(rest + 1, ':');
		if (!colon)
			die("multi", -EINVAL);
		snprintf(msg, sizeof(msg), "%.*s", (int)(colon - rest - 1), rest + 1);
		multi((int)a1, msg, colon + 1);
	} else if (sscanf(cmd, "flood:%ld:", &a1) == 1 && (rest = strchr(cmd + 6, ':'))) {
		long ms = 0, size = 0;
		if (sscanf(rest + 1, "%ld:%ld", &ms, &size) != 2 || a1 < 1 || size < 0)
			die("flood", -EINVAL);
		flood((int)a1, ms, (size_t)size);
	} else if (sscanf(cmd, "rslow:%ld:", &a1) == 1 && (rest = strchr(cmd + 6, ':'))) {
		long ms = atol(rest + 1);
		for (long i = 0; i < a1; i++) {
			int r = get_reply(fd, &b);
			if (r < 0)
				die("rslow", r);
			sleep_ms(ms);
		}
		printf("rslow ok %ld\n", a1);
	} else if (sscanf(cmd, "junk:%ld", &a1) == 1) {
		uint32_t x = (uint32_t)getpid() * 2654435761u;
		for (long i = 0; i < a1; i += (long)sizeof(tmp)) {
			size_t k = (size_t)(a1 - i) < sizeof(tmp) ? (size_t)(a1 - i) : sizeof(tmp);
			for (size_t j = 0; j < k; j++)
				tmp[j] = (uint8_t)((x = x * 1103515245u + 12345u) >> 24);
			put(fd, tmp, k);
		}
	} else if (sscanf(cmd, "fill:%ld:", &a1) == 1 && (rest = strchr(cmd + 5, ':'))) {
		memset(tmp, rest[1], sizeof(tmp));
		for (long i = 0; i < a1; i += (long)sizeof(tmp))
			put(fd, tmp, (size_t)(a1 - i) < sizeof(tmp) ? (size_t)(a1 - i) : sizeof(tmp));
	} else if (sscanf(cmd, "drip:%ld:%ld:", &a1, &a2) == 2 &&
		   (rest = strchr(strchr(cmd + 5, ':') + 1, ':'))) {
		for (long i = 0; i < a1; i++) {
			put(fd, rest + 1, 1);
			nanosleep(&(struct timespec){ a2 / 1000000, a2 % 1000000 * 1000 }, NULL);
		}
	} else if (sscanf(cmd, "xfer:%ld:%ld", &a1, &a2) == 2) {
		long us = 0;
		rest = strchr(strchr(cmd + 5, ':') + 1, ':');
		if (rest)
			us = atol(rest + 1);
		xfer(fd, a1, (uint64_t)a2, us);
	} else if (sscanf(cmd, "echo:%ld:%ld", &a1, &a2) == 2) {
		echo_own((int)a1, (size_t)a2);
	} else {
		fprintf(stderr, "rawpeer: unknown command '%s'\n", cmd);
		exit(2);
	}
	fflush(stdout);
	pl_buf_free(&b);
}

/* Fills a backlog-0 listener's queue so the kernel drops further SYNs. */
static int black_hole(void)
{
	struct pl_listen_opts lo = { .backlog = -1 };
	struct pl_addr bound;
	char text[PL_ADDR_TEXT_MAX];
	int lfd = pl_listen(&target, &lo), fill[4];

	if (lfd < 0)
		die("listen", lfd);
	if (listen(lfd, 0) < 0)
		die("listen", -errno);
	pl_addr_local(lfd, &bound);
	target = bound;
	for (int k = 0; k < 4; k++) {
		/* a short timeout: once the queue is full these stop completing */
		struct pl_connect_opts o = { .timeout_ms = 200 };
		fill[k] = pl_connect(&target, 1, &o, NULL);
	}
	pl_addr_format(&bound, text, sizeof(text));
	printf("listening on %s\n", text);
	sleep_ms(timeout_ms);
	for (int k = 0; k < 4; k++)
		if (fill[k] >= 0)
			close(fill[k]);
	return 0;
}

int main(int argc, char **argv)
{
	int i = 1, listen_mode = 0, fd;
	const char *why;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (i + 1 < argc && strcmp(argv[i], "-t") == 0) {
		timeout_ms = atoi(argv[i + 1]);
		i += 2;
	}
	if (i + 2 < argc && strcmp(argv[i], "-A") == 0) {
		char pid[32];
		int lfd;
		if (pl_addr_parse(&target, argv[i + 1], 0, PL_ADDR_PASSIVE, &why) < 0)
			die("address", -EINVAL);
		lfd = pl_listen(&target, NULL);
		if (lfd < 0)
			die("listen", lfd);
		if (lfd != 3 && (dup2(lfd, 3) < 0 || close(lfd) < 0))
			die("dup2", -errno);
		fcntl(3, F_SETFD, 0); /* it must survive the exec */
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_PID", pid, 1);
		execv(argv[i + 2], argv + i + 2);
		die("exec", -errno);
	}
	if (i < argc && strcmp(argv[i], "-l") == 0) {
		listen_mode = 1;
		i++;
	} else if (i < argc && strcmp(argv[i], "-B") == 0) {
		listen_mode = 2;
		i++;
	}
	if (i >= argc || pl_addr_parse(&target, argv[i], 0, listen_mode ? PL_ADDR_PASSIVE : 0, &why) < 0) {
		fprintf(stderr, "usage: rawpeer [-t MS] [-l] ADDRESS CMD...\n");
		return 2;
	}
	i++;
	if (listen_mode == 2)
		return black_hole();
	if (listen_mode) {
		struct pl_addr bound;
		int lfd = pl_listen(&target, NULL);
		if (lfd < 0)
			die("listen", lfd);
		pl_addr_local(lfd, &bound);
		pl_addr_format(&bound, (char *)held, sizeof(held));
		printf("listening on %s\n", (char *)held);
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			die("accept", -errno);
		close(lfd);
	} else {
		/* multi and flood make their own connections */
		const char *first = argv[i < argc ? i : 0];
		fd = strncmp(first, "multi:", 6) == 0 || strncmp(first, "flood:", 6) == 0 ||
		     strncmp(first, "echo:", 5) == 0 ? -1 : connect_target();
	}
	for (; i < argc; i++)
		run(fd, argv[i]);
	if (fd >= 0)
		close(fd);
	return 0;
}
