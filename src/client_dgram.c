/*
 * client_dgram.c - parley-client over udp:, unixgram: and seqpacket:.
 *
 * The datagram is the frame: each message is one datagram (or packet) on a
 * connected socket, each reply one datagram back.  Requests go one at a
 * time: UDP has neither order nor request ids, so a reply can only be told
 * apart as the answer to the one request in flight.  A request unanswered
 * for -t is sent again, --retries times; after a request that needed a
 * retry, the next goes from a new socket (a new port), so a late answer to
 * an earlier try cannot pass for the next reply.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "parley/buf.h"
#include "parley/clock.h"
#include "parley/fd.h"

struct dgram {
	const struct dgram_opts *o;
	int fd;
	size_t target;          /* o->targets[target] is the socket's peer */
	int conn;               /* seqpacket: a connection (EOF, no retries) */
	int answered;           /* the peer answered once: a refusal is final */
	char peer[PL_ADDR_TEXT_MAX];
	uint8_t *buf;           /* the reply being read */
	size_t cap;
	unsigned long long lineno, sent, received;
};

/* -s PATH for a Unix datagram socket: the file we made, removed on exit. */
static char bound_path[PL_ADDR_PATH_MAX];

static void unlink_bound(void)
{
	if (bound_path[0])
		unlink(bound_path);
}

static void unlink_and_die(int signo)
{
	unlink_bound();
	signal(signo, SIG_DFL);
	raise(signo);
}

/* A Unix datagram socket must have a name for the server to answer to:
 * -s's, or one the kernel makes up in the abstract namespace (autobind:
 * a bind with no name), which needs no file and no cleanup. */
static int bind_unix(int fd, const struct pl_addr *src)
{
	struct sockaddr_storage ss = { .ss_family = AF_UNIX };
	socklen_t len = sizeof(sa_family_t);

	if (src && pl_addr_to_sockaddr(src, &ss, &len) < 0)
		return -EAFNOSUPPORT;
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		return -errno;
	if (src && src->kind == PL_ADDR_UNIX) {
		memcpy(bound_path, src->path, src->path_len);
		atexit(unlink_bound);
		signal(SIGINT, unlink_and_die);
		signal(SIGTERM, unlink_and_die);
		signal(SIGHUP, unlink_and_die);
	}
	return 0;
}

/* Binds -s (when its family is t's) before the connect. */
static int bind_source(int fd, const struct pl_addr *t, const struct pl_addr *src)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (t->sock == PL_SOCK_DGRAM && pl_addr_sa_family(t) == AF_UNIX)
		return bind_unix(fd, src);
	if (!src)
		return 0;
	if (pl_addr_sa_family(src) != pl_addr_sa_family(t) || pl_addr_to_sockaddr(src, &ss, &len) < 0)
		return -EAFNOSUPPORT;
	return bind(fd, (struct sockaddr *)&ss, len) < 0 ? -errno : 0;
}

/* A socket connected to t, non-blocking (every wait is a poll with a
 * deadline), or -errno with *step saying which call failed. */
static int open_sock(const struct pl_addr *t, const struct pl_addr *src, const char **step)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(pl_addr_sa_family(t), pl_addr_sock_type(t) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int r;

	*step = "socket for";
	if (fd < 0)
		return -errno;
	*step = "bind to";
	if ((r = bind_source(fd, t, src)) < 0) {
		close(fd);
		return r;
	}
	*step = "connect to";
	pl_addr_to_sockaddr(t, &ss, &len);
	/* a Unix SEQPACKET connect completes at once or fails; EAGAIN: a full backlog */
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* Opens a socket to the first target from d->target on that takes one. */
static void open_from(struct dgram *d, size_t first)
{
	const struct dgram_opts *o = d->o;
	const char *step = "";
	int r = -EAFNOSUPPORT;
	struct pl_addr local;

	for (d->target = first; d->target < o->ntargets; d->target++) {
		const struct pl_addr *t = &o->targets[d->target];
		pl_addr_format(t, d->peer, sizeof(d->peer));
		if (o->verbose)
			fprintf(stderr, "trying %s\n", d->peer);
		if ((d->fd = r = open_sock(t, o->source, &step)) >= 0)
			break;
		if (o->verbose && r != -EAFNOSUPPORT)
			cli_warn("%s to %s: %s", step, d->peer, strerror(-r));
	}
	if (r == -EAFNOSUPPORT)
		cli_die(1, "connect to %s: no address of the source address's family",
			cli_addr_str(&o->targets[0]));
	if (r < 0)
		cli_die(1, "%s %s: %s", step, step[0] == 'b' && o->source ? cli_addr_str(o->source)
					      : d->peer, strerror(-r));
	if (o->verbose && pl_addr_local(d->fd, &local) == 0)
		fprintf(stderr, "connected to %s from %s\n", d->peer, cli_addr_str(&local));
}

/* The peer refused (ICMP port unreachable): before any answer came, the
 * next address of the name is tried, as a stream connect would be. */
static int refused_next(struct dgram *d)
{
	if (d->answered || d->target + 1 >= d->o->ntargets)
		return 0;
	close(d->fd);
	open_from(d, d->target + 1);
	return 1;
}

/* Milliseconds to deadline for poll (-1: none). */
static int left_ms(long long deadline)
{
	long long ms = deadline - pl_clock_ms();

	return deadline < 0 ? -1 : ms <= 0 ? 0 : ms > 1000000 ? 1000000 : (int)ms;
}

/* Waits for d's socket to be ready for events, until deadline: 0, or -ETIMEDOUT. */
static int wait_ready(const struct dgram *d, short events, long long deadline)
{
	struct pollfd p = { d->fd, events, 0 };

	for (;;) {
		int n = poll(&p, 1, left_ms(deadline));
		if (n > 0)
			return 0; /* an error (POLLERR) is read by the call that follows */
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			cli_die(1, "poll: %s", strerror(errno));
	}
}

/* One datagram out, waiting for room until deadline: 0 or -errno. */
static int send_dgram(const struct dgram *d, const void *p, size_t len, long long deadline)
{
	for (;;) {
		if (send(d->fd, p, len, MSG_NOSIGNAL) >= 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if (wait_ready(d, POLLOUT, deadline) < 0)
			return -ETIMEDOUT;
	}
}

/*
 * Reads the datagram waiting, its size learned first (MSG_PEEK|MSG_TRUNC),
 * so a reply is never cut and the buffer is only as large as the largest
 * reply.  Returns its length, or -errno (-EAGAIN: nothing after all);
 * seqpacket: 0 with *eof set at the peer's end.
 */
static ssize_t recv_dgram(struct dgram *d, int *eof)
{
	ssize_t size = recv(d->fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
	ssize_t n;

	if (size < 0)
		return -errno;
	if ((size_t)size > d->o->max_msg)
		cli_die(1, "%s: reply of %zd bytes exceeds --max-msg %u", d->peer, size, d->o->max_msg);
	if ((size_t)size > d->cap) {
		free(d->buf);
		if (!(d->buf = malloc((size_t)size)))
			cli_die(1, "out of memory");
		d->cap = (size_t)size;
	}
	n = recv(d->fd, d->buf, (size_t)size, 0);
	if (n < 0)
		return -errno;
	/* a zero-length packet reads as the end on SEQPACKET: the kernel tells them not apart */
	*eof = d->conn && n == 0;
	return n;
}

/* The reply to the request in flight, until deadline: 1, or -errno
 * (-ETIMEDOUT, -ECONNREFUSED...). */
static int await_reply(struct dgram *d, long long deadline)
{
	for (;;) {
		int eof = 0;
		if (wait_ready(d, POLLIN, deadline) < 0)
			return -ETIMEDOUT;
		ssize_t n = recv_dgram(d, &eof);
		if (n == -EAGAIN || n == -EINTR)
			continue;
		if (n < 0)
			return (int)n;
		if (eof)
			cli_die(1, "%s: connection closed by the server after %llu of %llu replies",
				d->peer, d->received, d->sent);
		client_print_reply(d->buf, (size_t)n);
		d->received++;
		d->answered = 1;
		return 1;
	}
}

/* A socket error other than a timeout ends the client. */
static void io_failed(const struct dgram *d, int err, int sending)
{
	if (err == -ECONNREFUSED)
		cli_die(1, "%s: Connection refused", d->peer);
	cli_die(1, "%s %s: %s", sending ? "write to" : "read from", d->peer, strerror(-err));
}

/* The next socket for a request after one that needed a retry (see top). */
static void renew(struct dgram *d)
{
	const struct pl_addr *s = d->o->source;

	if (d->conn || (s && (s->port || s->kind == PL_ADDR_UNIX || s->kind == PL_ADDR_ABSTRACT)))
		return; /* a fixed port or name cannot be had twice */
	close(d->fd);
	open_from(d, d->target);
}

/* Sends one message and prints its reply, trying again on a timeout. */
static void exchange(struct dgram *d, const uint8_t *p, size_t len)
{
	const struct dgram_opts *o = d->o;
	unsigned tries = d->conn ? 1 : o->retries + 1;

	d->sent++;
	for (unsigned i = 1;; i++) {
		long long deadline = o->timeout_ms > 0 ? pl_clock_ms() + o->timeout_ms : -1;
		int r = send_dgram(d, p, len, deadline), sending = r < 0;
		if (r == 0)
			r = await_reply(d, deadline);
		if (r == 1) {
			if (i > 1)
				renew(d);
			return;
		}
		if (r == -ECONNREFUSED && refused_next(d)) {
			i = 0; /* the next address gets its own tries */
			continue;
		}
		if (r != -ETIMEDOUT)
			io_failed(d, r, sending);
		if (i == tries && tries == 1)
			cli_die(1, "%s: no reply within %.3g s", d->peer, o->timeout_ms / 1000.0);
		if (i == tries)
			cli_die(1, "%s: no reply after %u tries", d->peer, tries);
		if (o->verbose)
			fprintf(stderr, "no reply within %.3g s; sending again (try %u of %u)\n",
				o->timeout_ms / 1000.0, i + 1, tries);
	}
}

/*
 * The next stdin line, without its LF (and a CR before it), decoded with
 * -E, in *line (which grows).  Returns its length, or -1 at the end.
 * Bounded by --max-msg before its newline comes, as the stream side is.
 */
static ssize_t read_line(struct dgram *d, uint8_t **line, size_t *cap)
{
	size_t n = 0;
	int ch;

	while ((ch = getchar_unlocked()) != EOF && ch != '\n') {
		if (n > d->o->max_msg)
			cli_die(1, "stdin line %llu: longer than --max-msg %u", d->lineno + 1,
				d->o->max_msg);
		if (n + 1 >= *cap) {
			size_t c = *cap ? *cap * 2 : 256;
			uint8_t *p = realloc(*line, 2 * c + 1); /* room for -E's decoding */
			if (!p)
				cli_die(1, "out of memory");
			*line = p;
			*cap = c;
		}
		(*line)[n++] = (uint8_t)ch;
	}
	if (ferror(stdin))
		cli_die(1, "read from stdin: %s", strerror(errno));
	if (ch == EOF && n == 0)
		return -1;
	d->lineno++;
	n -= ch == '\n' && n && (*line)[n - 1] == '\r';
	return (ssize_t)n;
}

/* Checks and decodes one stdin line; its length, or exits 1 naming it. */
static size_t take_line(struct dgram *d, uint8_t *line, size_t n)
{
	const char *why = NULL;
	ssize_t len = (ssize_t)n;

	/* decoded into the second half of the buffer, then moved back */
	if (d->o->escapes && (len = cli_unescape_bytes(line, n, line + n + 1, (char *)line + n + 1)) < 0)
		why = "bad escape (\\n \\r \\t \\0 \\\\ \\xHH allowed)";
	else if (d->o->escapes)
		memmove(line, line + n + 1, (size_t)len);
	if (!why && (size_t)len > d->o->max_msg)
		why = "longer than --max-msg";
	if (!why && d->conn && len == 0)
		why = "an empty message reads as the end of the connection on seqpacket:";
	if (why)
		cli_die(1, "stdin line %llu: %s", d->lineno, why);
	return (size_t)len;
}

static void send_stdin(struct dgram *d)
{
	uint8_t *line = NULL;
	size_t cap = 0;
	ssize_t n;

	client_flush_stdout(); /* a coprocess reads the reply before it writes the next line */
	while ((n = read_line(d, &line, &cap)) >= 0) {
		exchange(d, line, take_line(d, line, (size_t)n));
		client_flush_stdout();
	}
	free(line);
}

/* Request mode: each MESSAGE (and stdin's lines for "-"), one at a time. */
static void requests(struct dgram *d)
{
	for (int i = 0; d->conn && i < d->o->nmsgs; i++)
		if (d->o->msgs[i].p && d->o->msgs[i].len == 0)
			cli_usage_error("an empty MESSAGE reads as the end of the connection on seqpacket:");
	for (int i = 0; i < d->o->nmsgs; i++) {
		const struct msg *m = &d->o->msgs[i];
		if (m->p)
			exchange(d, (const uint8_t *)m->p, m->len);
		else
			send_stdin(d);
	}
}

/* ---- --stream: stdin in datagrams, datagrams to stdout, like nc -u ---- */

#define PIECE_MAX (65535 - 20 - 8) /* the largest UDP payload over IPv4 */
#define STDIN_MAX (256 * 1024)     /* stdin bytes read ahead of the socket */

/* The next datagram of stdin's bytes: a line with its LF (cut at
 * PIECE_MAX), or at the end what is left; 0 while none is whole. */
static size_t next_piece(const struct pl_buf *in, int in_open)
{
	size_t n = pl_buf_len(in), max = n < PIECE_MAX ? n : PIECE_MAX;
	const uint8_t *nl = max ? memchr(pl_buf_head(in), '\n', max) : NULL;

	if (nl)
		return (size_t)(nl - pl_buf_head(in)) + 1;
	return n >= PIECE_MAX ? PIECE_MAX : in_open ? 0 : n;
}

/* Reads stdin into in; 0 at its end, else 1. */
static int read_stdin(struct pl_buf *in)
{
	ssize_t n;

	if (pl_buf_reserve(in, STDIN_MAX - pl_buf_len(in)) < 0)
		cli_die(1, "out of memory");
	n = read(STDIN_FILENO, pl_buf_tail(in), pl_buf_room(in));
	if (n < 0 && errno != EINTR && errno != EAGAIN)
		cli_die(1, "read from stdin: %s", strerror(errno));
	if (n > 0)
		pl_buf_commit(in, (size_t)n);
	return n != 0;
}

/* A datagram in: to stdout as it is.  1 when one moved, 0 when none
 * was there, -1 at a seqpacket peer's end. */
static int pass_reply(struct dgram *d)
{
	int eof = 0;
	ssize_t n = recv_dgram(d, &eof), w;

	if (eof)
		return -1;
	if (n == -EAGAIN || n == -EINTR)
		return 0;
	if (n < 0)
		io_failed(d, (int)n, 0);
	if ((w = pl_fd_write_full(STDOUT_FILENO, d->buf, (size_t)n, -1)) < 0)
		client_stdout_failed((int)-w);
	return 1;
}

/* One piece of stdin out, if the socket takes it now; 1 when it did. */
static int pass_piece(struct dgram *d, struct pl_buf *in, size_t piece)
{
	if (send(d->fd, pl_buf_head(in), piece, MSG_NOSIGNAL) >= 0) {
		pl_buf_consume(in, piece);
		return 1;
	}
	if (errno != EAGAIN && errno != EINTR)
		io_failed(d, -errno, 1);
	return 0;
}

/*
 * The deadline of the stream's next wait (-1: none), or -2 when it is
 * over: after stdin's end, a datagram client quits once nothing came for
 * the quiet period (--quit, default 1 s) and a seqpacket one --quit
 * after it (default: at the server's end).  -w fails it when no byte
 * moved for that long.
 */
static long long stream_deadline(const struct dgram *d, long long last, long long heard,
				 long long eof_at)
{
	const struct dgram_opts *o = d->o;
	long long now = pl_clock_ms(), t = -1;
	long long quiet = o->quit_ms >= 0 ? o->quit_ms : d->conn ? -1 : 1000;

	if (o->idle_ms >= 0) {
		if (now - last >= o->idle_ms)
			cli_die(1, "%s: no data for %.3g s", d->peer, o->idle_ms / 1000.0);
		t = last + o->idle_ms;
	}
	if (eof_at >= 0 && quiet >= 0) {
		long long q = (d->conn || heard < eof_at ? eof_at : heard) + quiet;
		if (q <= now)
			return -2;
		t = t < 0 || q < t ? q : t;
	}
	return t;
}

static void client_dgram_stream(struct dgram *d)
{
	struct pl_buf in = { 0 };
	int in_open = 1;
	long long last = pl_clock_ms(), heard = -1, eof_at = -1;

	for (;;) {
		size_t piece = next_piece(&in, in_open);
		if (!in_open && !pl_buf_len(&in) && eof_at < 0) {
			eof_at = pl_clock_ms();
			if (d->conn && !d->o->no_shutdown)
				shutdown(d->fd, SHUT_WR); /* the server's cue that we are done */
		}
		long long deadline = stream_deadline(d, last, heard, eof_at);
		if (deadline == -2)
			break;
		struct pollfd p[2] = {
			{ in_open && !piece && pl_buf_len(&in) < STDIN_MAX ? STDIN_FILENO : -1, POLLIN, 0 },
			{ d->fd, (short)(POLLIN | (piece ? POLLOUT : 0)), 0 },
		};
		int n = poll(p, 2, left_ms(deadline));
		if (n < 0 && errno != EINTR)
			cli_die(1, "poll: %s", strerror(errno));
		if (n <= 0)
			continue;
		int moved = 0, was_open = in_open;
		if (p[0].revents)
			moved = in_open = read_stdin(&in);
		if (p[1].revents & (POLLIN | POLLERR | POLLHUP)) {
			int r = pass_reply(d);
			if (r < 0)
				break;
			if (r)
				moved = 1, heard = pl_clock_ms();
		}
		if (piece && p[1].revents & POLLOUT)
			moved |= pass_piece(d, &in, piece);
		/* -w counts bytes moved and ends seen, not wakeups */
		if (moved || in_open != was_open)
			last = pl_clock_ms();
	}
	pl_buf_free(&in);
}

void client_dgram(const struct dgram_opts *o)
{
	struct dgram d = { .o = o, .conn = o->targets[0].sock == PL_SOCK_SEQPACKET };

	open_from(&d, 0);
	if (o->stream)
		client_dgram_stream(&d);
	else
		requests(&d);
	close(d.fd);
	free(d.buf);
}
