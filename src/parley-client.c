/* parley-client - sends messages, prints replies. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "parley/buf.h"
#include "parley/clock.h"
#include "parley/escape.h"
#include "parley/frame.h"
#include "parley/sock.h"

#define MAX_TARGETS 16
#define OUT_HIGH (64 * 1024) /* queue no more requests than this ahead */
#define STREAM_BUF (256 * 1024) /* per direction in --stream mode */

struct msg {
	const char *p; /* NULL: "-", the lines of stdin go here */
	size_t len;
};

struct client {
	int fd;
	const char *peer;
	enum pl_proto proto;
	uint32_t max_msg;
	long long timeout_ms;
	int verbose;
	const struct pl_addr *source; /* -s, resolved; NULL: the OS picks */
	int bind_failed;       /* pl_connect: the last failure was binding source */
	int stream, no_shutdown;
	long long idle_ms, quit_ms; /* --stream: -w and --quit; < 0 when unset */
	int escapes;           /* -E: messages and stdin lines take C escapes */
	struct msg *msgs;
	int nmsgs, next;       /* argv messages; next to queue */
	unsigned long long lineno; /* of the last stdin line queued, for messages */
	const char *bad_line;  /* why that line could not be sent; nothing more is */
	int in_stdin;          /* the current message source is stdin ("-") */
	int stdin_eof;
	struct pl_buf line;    /* stdin bytes not yet a whole line */
	struct pl_buf out;     /* framed requests not yet written */
	struct pl_decoder dec;
	unsigned long long sent, received;
	long long deadline;    /* for the oldest unanswered request */
};

static noreturn void usage(void)
{
	printf("Usage: parley-client [OPTIONS] [ADDRESS [MESSAGE...]]\n"
	       "Send each MESSAGE as a request and print each reply.\n"
	       "\n"
	       "ADDRESS defaults to localhost:1234; MESSAGE defaults to hello.  A MESSAGE of -\n"
	       "reads more messages from standard input, one per line (a CR before the LF is\n"
	       "dropped).\n"
	       "\n"
	       "Connecting:\n"
	       "  -4                      IPv4 addresses only\n"
	       "  -6                      IPv6 addresses only\n"
	       "  -s, --source ADDRESS    bind this local address (and port) before connecting\n"
	       "  -t, --timeout SECONDS   bound the connect and the wait for each reply\n"
	       "                          (default 10; 0: no limit)\n"
	       "  -v, --verbose           print each connect attempt and both ends once connected\n"
	       "Protocol:\n"
	       "  -p, --proto PROTO       framing: len (default), line or raw\n"
	       "      --max-msg BYTES     largest reply, and longest stdin line (default 16M)\n"
	       "  -E, --escapes           decode C escapes in each MESSAGE and stdin line:\n"
	       "                          \\n \\r \\t \\0 \\\\ \\xHH (else sent as typed)\n"
	       "Streaming (like nc):\n"
	       "  -S, --stream            copy stdin to the socket and the socket to stdout, raw\n"
	       "  -N, --no-shutdown       keep the write side open after stdin ends\n"
	       "  -w, --idle SECONDS      fail when no data moves for this long (0: no limit)\n"
	       "      --quit SECONDS      exit this long after stdin ends (0: at once)\n"
	       "  -h, --help              show this help\n"
	       "  -V, --version           show the version\n"
	       "\n"
	       "Exit status: 0 when every reply arrived (with --stream: the exchange ended\n"
	       "cleanly), 1 on a network or protocol error, a reset or a timeout, 2 on a usage\n"
	       "error.  When the reader of stdout goes away, the client ends quietly, killed by\n"
	       "SIGPIPE like cat.\n");
	exit(0);
}

/* The source address as given to bind: without the port when the OS picks it. */
static const char *source_str(const struct pl_addr *src)
{
	static char text[PL_ADDR_TEXT_MAX];
	size_t n = (size_t)pl_addr_format(src, text, sizeof(text));

	if (src->port == 0 && n > 2 && n < sizeof(text) && strcmp(text + n - 2, ":0") == 0)
		text[n - 2] = '\0';
	return text;
}

/* One line for a failed attempt: the bind of the source, or the connect. */
static void warn_failed(const struct client *c, const struct pl_addr *t, int err)
{
	if (c->bind_failed)
		cli_warn("bind to %s: %s", source_str(c->source), strerror(-err));
	else
		cli_warn("connect to %s: %s", cli_addr_str(t), strerror(-err));
}

static void on_attempt(const struct pl_addr *t, int result, void *arg)
{
	struct client *c = arg;

	if (!c->verbose || result == 0)
		return; /* the winner is reported with both ends once connected */
	if (result == -EINPROGRESS)
		fprintf(stderr, "trying %s\n", cli_addr_str(t));
	else if (result == -ECANCELED)
		fprintf(stderr, "cancelled %s: another address connected first\n", cli_addr_str(t));
	else
		warn_failed(c, t, result);
}

static int resolve_source(struct pl_addr *src, enum pl_family fam)
{
	size_t n;
	int r;

	if (src->kind == PL_ADDR_ANY)
		cli_usage_error("--source: give an address, not a port alone");
	r = pl_addr_resolve(src, fam, src, 1, &n);
	if (r < 0)
		cli_die(1, "resolve %s: %s", src->host, pl_addr_resolve_strerror(r));
	return 0;
}

/*
 * poll's timeout for ms milliseconds left (< 0: none).  poll takes an int:
 * a longer wait is cut to INT_MAX ms (24.8 days) and the loop waits again,
 * where a cast would wrap (-t 4294968 waited 0.7 s).
 */
static int poll_ms(long long ms)
{
	return ms < 0 ? -1 : ms > INT_MAX ? INT_MAX : (int)ms;
}

static int connect_to(struct client *c, const struct pl_addr *a, enum pl_family fam)
{
	static struct pl_addr targets[MAX_TARGETS];
	struct pl_connect_opts co = {
		/* 0 is no limit for both; past INT_MAX ms the kernel gives up first */
		.timeout_ms = poll_ms(c->timeout_ms), .stagger_ms = PL_CONNECT_STAGGER_MS,
		.source = c->source, .nonblock = 1,
		.on_attempt = on_attempt, .arg = c, .bind_failed = &c->bind_failed,
	};
	size_t n, failed;
	int r = pl_addr_resolve(a, fam, targets, MAX_TARGETS, &n);
	int fd;

	if (r < 0)
		cli_die(1, "resolve %s: %s", a->kind == PL_ADDR_NAME ? a->host : cli_addr_str(a),
			pl_addr_resolve_strerror(r));
	fd = pl_connect(targets, n, &co, &failed);
	if (fd < 0 && failed == n)
		cli_die(1, "connect to %s: no address of the source address's family",
			cli_addr_str(a));
	if (fd < 0) {
		if (!c->verbose)
			warn_failed(c, &targets[failed], fd);
		exit(1);
	}
	return fd;
}

/*
 * -E on a stdin line, which may hold raw NUL bytes where cli_unescape wants
 * a C string: each NUL-free piece is decoded on its own and the NULs kept.
 * tmp needs n + 1 bytes, out n.  Returns the decoded length, or -1 on a
 * bad escape.
 */
static ssize_t unescape_line(const uint8_t *p, size_t n, uint8_t *out, char *tmp)
{
	size_t i = 0, len = 0;

	memcpy(tmp, p, n);
	tmp[n] = '\0';
	for (;;) {
		ssize_t r = cli_unescape(tmp + i, out + len);
		if (r < 0)
			return -1;
		len += (size_t)r;
		i += strlen(tmp + i);
		if (i >= n)
			return (ssize_t)len;
		out[len++] = 0;
		i++;
	}
}

/*
 * Frames one stdin line (without its LF, and without a CR before it: CRLF
 * text, e.g. from Windows).  Returns 1, or 0 with c->bad_line set for a
 * line that cannot be sent: nothing more is, and once the replies to what
 * went before are in, the client exits 1 naming the line.
 */
static int queue_line(struct client *c, const uint8_t *p, size_t len)
{
	uint8_t *dec = NULL;
	ssize_t n;

	c->lineno++;
	if (c->escapes) {
		if (!(dec = malloc(2 * len + 1)))
			cli_die(1, "out of memory");
		if ((n = unescape_line(p, len, dec, (char *)dec + len)) < 0)
			c->bad_line = "bad escape (\\n \\r \\t \\0 \\\\ \\xHH allowed)";
		p = dec;
		len = n < 0 ? 0 : (size_t)n;
	}
	if (!c->bad_line && len > c->max_msg)
		cli_die(1, "stdin line %llu: longer than --max-msg %u", c->lineno, c->max_msg);
	if (!c->bad_line && c->proto == PL_PROTO_LINE && memchr(p, '\n', len))
		c->bad_line = "a message cannot contain a newline with --proto line";
	if (!c->bad_line && pl_frame_append(c->proto, &c->out, p, len) < 0)
		cli_die(1, "out of memory");
	free(dec);
	if (!c->bad_line)
		return 1;
	c->in_stdin = 0;
	c->next = c->nmsgs;
	return 0;
}

/* Takes the next message, from argv or a whole stdin line; 1 if one was queued. */
static int queue_next(struct client *c)
{
	for (;;) {
		if (c->in_stdin) {
			uint8_t *p = pl_buf_head(&c->line);
			size_t n = pl_buf_len(&c->line);
			uint8_t *nl = n ? memchr(p, '\n', n) : NULL;
			if (nl || (c->stdin_eof && n)) {
				size_t len = nl ? (size_t)(nl - p) : n;
				int ok = queue_line(c, p, nl && len && p[len - 1] == '\r' ? len - 1 : len);
				pl_buf_consume(&c->line, len + (nl != NULL));
				return ok;
			}
			if (!c->stdin_eof)
				return 0; /* wait for stdin */
			c->in_stdin = 0;
		}
		if (c->next >= c->nmsgs)
			return 0;
		const struct msg *m = &c->msgs[c->next++];
		if (!m->p) {
			c->in_stdin = 1;
			continue;
		}
		if (pl_frame_append(c->proto, &c->out, m->p, m->len) < 0)
			cli_die(1, "out of memory");
		return 1;
	}
}

static int more_to_send(const struct client *c)
{
	return c->next < c->nmsgs || c->in_stdin;
}

static void fill(struct client *c, long long now)
{
	/* raw has no framing, so the replies of two requests in flight would merge */
	while (pl_buf_len(&c->out) < OUT_HIGH &&
	       (c->proto != PL_PROTO_RAW || (c->sent == c->received && !pl_buf_len(&c->out)))) {
		if (!queue_next(c))
			break;
		if (c->sent++ == c->received)
			c->deadline = now + c->timeout_ms;
	}
}

/*
 * The reader of stdout went away (piped into head): end quietly, as cat or
 * seq do when SIGPIPE kills them.  SIGPIPE is ignored only so that a socket
 * never kills us; here it is let through.  Status 141 (what a shell shows
 * for that death) if it is blocked.
 */
static noreturn void stdout_gone(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(SIGPIPE);
	_exit(128 + SIGPIPE);
}

static noreturn void stdout_failed(int err)
{
	if (err == EPIPE)
		stdout_gone();
	cli_die(1, "write to stdout: %s", strerror(err));
}

/*
 * Replies leave before the client waits again, even into a pipe or a file
 * (stdio would hold them in its buffer), so a program that reads a reply
 * before it writes the next line (a coprocess) is answered.
 */
static void flush_stdout(void)
{
	if (fflush(stdout) != 0)
		stdout_failed(errno);
}

static void print_reply(const uint8_t *p, size_t n)
{
	char text[PL_ESCAPE_CAP(PL_ESCAPE_LIMIT)];

	pl_escape(p, n, PL_ESCAPE_LIMIT, text, sizeof(text));
	if (printf("server says: %s\n", text) < 0)
		stdout_failed(errno);
}

static void read_replies(struct client *c, long long now)
{
	uint8_t buf[64 * 1024];
	ssize_t n = read(c->fd, buf, sizeof(buf));
	struct pl_frame f;
	int r;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0)
		cli_die(1, "read from %s: %s", c->peer, strerror(errno));
	if (n == 0) {
		if (c->sent == c->received && !more_to_send(c))
			return;
		cli_die(1, "%s: connection closed by the server after %llu of %llu replies", c->peer,
			c->received, c->sent + (more_to_send(c) ? 1 : 0));
	}
	if (c->proto == PL_PROTO_RAW) {
		print_reply(buf, (size_t)n);
		c->received++;
		c->deadline = now + c->timeout_ms;
		return;
	}
	if (pl_decoder_feed(&c->dec, buf, (size_t)n) < 0)
		cli_die(1, "out of memory");
	while ((r = pl_decoder_next(&c->dec, &f)) == 1) {
		if (c->received == c->sent)
			cli_die(1, "%s: protocol error: a reply nobody asked for", c->peer);
		print_reply(f.msg, f.len);
		c->received++;
		c->deadline = now + c->timeout_ms;
	}
	if (r < 0)
		cli_die(1, "%s: reply of %llu bytes exceeds --max-msg %u", c->peer,
			(unsigned long long)f.declared, c->max_msg);
}

static void read_stdin(struct client *c)
{
	ssize_t n;

	if (pl_buf_reserve(&c->line, 16384) < 0)
		cli_die(1, "out of memory");
	n = read(STDIN_FILENO, pl_buf_tail(&c->line), pl_buf_room(&c->line));
	if (n < 0 && errno != EINTR && errno != EAGAIN)
		cli_die(1, "read from stdin: %s", strerror(errno));
	if (n == 0)
		c->stdin_eof = 1;
	if (n > 0)
		pl_buf_commit(&c->line, (size_t)n);
	/* bounds a line still without its newline; whole lines are checked as queued */
	if (pl_buf_len(&c->line) > c->max_msg &&
	    !memchr(pl_buf_head(&c->line), '\n', pl_buf_len(&c->line)))
		cli_die(1, "stdin line %llu: longer than --max-msg %u", c->lineno + 1, c->max_msg);
}

static void write_requests(struct client *c)
{
	ssize_t n = send(c->fd, pl_buf_head(&c->out), pl_buf_len(&c->out), MSG_NOSIGNAL);

	if (n < 0 && errno != EAGAIN && errno != EINTR)
		cli_die(1, "write to %s: %s", c->peer, strerror(errno));
	if (n > 0)
		pl_buf_consume(&c->out, (size_t)n);
}

static void run(struct client *c)
{
	for (;;) {
		long long now = pl_clock_ms();
		struct pollfd p[2] = { { .fd = c->fd, .events = POLLIN }, { .fd = -1 } };
		int want_stdin, timeout, r;

		fill(c, now);
		if (!more_to_send(c) && !pl_buf_len(&c->out) && c->sent == c->received)
			return;
		if (pl_buf_len(&c->out))
			p[0].events |= POLLOUT;
		want_stdin = c->in_stdin && !c->stdin_eof && pl_buf_len(&c->out) < OUT_HIGH;
		if (want_stdin)
			p[1] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		timeout = -1;
		if (c->sent > c->received && c->timeout_ms > 0) {
			long long left = c->deadline - now;
			if (left <= 0)
				cli_die(1, "%s: no reply within %.3g s", c->peer, c->timeout_ms / 1000.0);
			timeout = poll_ms(left);
		}
		flush_stdout();
		r = poll(p, 2, timeout);
		if (r < 0 && errno != EINTR)
			cli_die(1, "poll: %s", strerror(errno));
		if (r <= 0)
			continue;
		now = pl_clock_ms();
		if (p[0].revents & POLLOUT)
			write_requests(c);
		if (p[0].revents & (POLLIN | POLLERR | POLLHUP))
			read_replies(c, now);
		if (p[1].revents)
			read_stdin(c);
	}
}

/* ---- --stream: bytes both ways, like nc ---- */

struct pipe_dir {
	struct pl_buf buf;
	int open; /* the source can still produce bytes */
};

/*
 * How a write to stdout is kept from stalling the loop (and with it -w and
 * the other direction).  stdout's file description is often shared (with
 * the shell, a terminal, the rest of a pipeline), so it is never made
 * O_NONBLOCK: that would change it for them too, and stay so if we were
 * killed.  Instead each write is one that poll's POLLOUT says fits:
 *   OUT_FILE (regular file, block device): everything; a disk waits on no reader.
 *   OUT_SOCKET: send with MSG_DONTWAIT, non-blocking for this one call.
 *   OUT_OWN (a pipe or FIFO): opened again through /proc, which makes a new
 *   file description of the same pipe, ours alone, so it can be
 *   O_NONBLOCK; writes take what fits, in large pieces.
 *   OUT_PIPE (anything else, or OUT_OWN when /proc cannot open it): PIPE_BUF
 *   bytes, which a pipe that polls writable takes at once (a free page).
 *   Pieces that small cost a wakeup of the reader each, hence OUT_OWN.
 */
enum out_kind { OUT_FILE, OUT_SOCKET, OUT_OWN, OUT_PIPE };

struct out {
	enum out_kind kind;
	int fd; /* STDOUT_FILENO, or our own description of it */
};

static struct out open_out(void)
{
	struct out o = { OUT_PIPE, STDOUT_FILENO };
	struct stat st;

	if (fstat(STDOUT_FILENO, &st) < 0)
		return o;
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
		o.kind = OUT_FILE;
	} else if (S_ISSOCK(st.st_mode)) {
		o.kind = OUT_SOCKET;
	} else if (S_ISFIFO(st.st_mode)) {
		/* fails without /proc, or when the reader is gone (EPIPE will say so) */
		int fd = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0)
			o = (struct out){ OUT_OWN, fd };
	}
	return o;
}

/* Reads what fd has into d; returns the bytes read (0 at EOF, d->open cleared), or -errno. */
static ssize_t pull(int fd, struct pipe_dir *d, int sock)
{
	ssize_t n;

	if (pl_buf_len(&d->buf) >= STREAM_BUF)
		return 0;
	if (pl_buf_reserve(&d->buf, STREAM_BUF - pl_buf_len(&d->buf)) < 0)
		return -ENOMEM;
	n = sock ? recv(fd, pl_buf_tail(&d->buf), pl_buf_room(&d->buf), 0)
		 : read(fd, pl_buf_tail(&d->buf), pl_buf_room(&d->buf));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (n == 0)
		d->open = 0;
	pl_buf_commit(&d->buf, (size_t)n);
	return n;
}

/* Writes what d holds to fd, as much as kind allows; returns the bytes written, or -errno. */
static ssize_t push(int fd, struct pipe_dir *d, enum out_kind kind)
{
	size_t len = pl_buf_len(&d->buf);
	ssize_t n;

	if (kind == OUT_PIPE && len > PIPE_BUF)
		len = PIPE_BUF;
	n = kind == OUT_SOCKET ? send(fd, pl_buf_head(&d->buf), len, MSG_NOSIGNAL | MSG_DONTWAIT)
			       : write(fd, pl_buf_head(&d->buf), len);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	pl_buf_consume(&d->buf, (size_t)n);
	return n;
}

/* Bytes pull or push moved; on an error, one line saying which way and where. */
static size_t moved(ssize_t r, const char *way, const char *where)
{
	if (r < 0)
		cli_die(1, "%s %s: %s", way, where, strerror((int)-r));
	return (size_t)r;
}

/* -w ran out: say which side holds bytes back, if one does. */
static noreturn void idle_expired(const struct client *c, const struct pipe_dir *up,
				  const struct pipe_dir *down)
{
	cli_die(1, "%s: no data for %.3g s%s%s", c->peer, c->idle_ms / 1000.0,
		pl_buf_len(&down->buf) ? "; standard output is blocked" : "",
		pl_buf_len(&up->buf) ? "; the server is not reading" : "");
}

/* How long poll may wait, or -2 when --quit's time is up. */
static int stream_timeout(const struct client *c, long long now, long long last,
			  long long eof_at, const struct pipe_dir *up, const struct pipe_dir *down)
{
	long long t = -1;

	if (c->idle_ms >= 0) {
		if (now - last >= c->idle_ms)
			idle_expired(c, up, down);
		t = last + c->idle_ms - now;
	}
	if (c->quit_ms >= 0 && eof_at >= 0) {
		long long q = eof_at + c->quit_ms - now;
		if (q <= 0)
			return -2;
		t = t < 0 || q < t ? q : t;
	}
	return poll_ms(t);
}

static void stream(struct client *c)
{
	struct pipe_dir up = { .open = 1 }, down = { .open = 1 }; /* stdin->sock, sock->stdout */
	struct out out = open_out();
	long long last = pl_clock_ms(), eof_at = -1;

	for (;;) {
		long long now = pl_clock_ms();
		if (!up.open && !pl_buf_len(&up.buf) && eof_at < 0) {
			eof_at = now;
			if (!c->no_shutdown)
				shutdown(c->fd, SHUT_WR); /* tell the server we are done sending */
		}
		/* the server closed and everything it sent is out: done, whatever stdin does */
		if (!down.open && !pl_buf_len(&down.buf))
			break;
		int timeout = stream_timeout(c, now, last, eof_at, &up, &down);
		if (timeout == -2)
			break;
		short sock_ev = (down.open && pl_buf_len(&down.buf) < STREAM_BUF ? POLLIN : 0) |
				(pl_buf_len(&up.buf) ? POLLOUT : 0);
		/* fd -1 when nothing is wanted: a hung-up socket would wake poll at once, for ever */
		struct pollfd p[3] = {
			{ .fd = up.open && pl_buf_len(&up.buf) < STREAM_BUF ? STDIN_FILENO : -1, .events = POLLIN },
			{ .fd = sock_ev ? c->fd : -1, .events = sock_ev },
			{ .fd = pl_buf_len(&down.buf) ? out.fd : -1, .events = POLLOUT },
		};
		int n = poll(p, 3, timeout);
		if (n < 0 && errno != EINTR)
			cli_die(1, "poll: %s", strerror(errno));
		if (n <= 0)
			continue;
		int open_before = up.open + down.open;
		size_t m = 0;
		if (p[0].revents)
			m += moved(pull(STDIN_FILENO, &up, 0), "read from", "stdin");
		/* POLLHUP comes with data still queued: read only when there is room,
		 * or a zero-length read would pass for the server's EOF */
		if (p[1].events & POLLIN && p[1].revents & (POLLIN | POLLERR | POLLHUP))
			m += moved(pull(c->fd, &down, 1), "read from", c->peer);
		if (p[1].events & POLLOUT && p[1].revents & (POLLOUT | POLLERR))
			m += moved(push(c->fd, &up, OUT_SOCKET), "write to", c->peer);
		if (p[2].revents) {
			ssize_t r = push(out.fd, &down, out.kind);
			if (r < 0)
				stdout_failed((int)-r);
			m += (size_t)r;
		}
		/* -w counts bytes moved and ends seen, not wakeups */
		if (m || up.open + down.open != open_before)
			last = pl_clock_ms();
	}
	if (out.fd != STDOUT_FILENO)
		close(out.fd);
	pl_buf_free(&up.buf);
	pl_buf_free(&down.buf);
}

/* The MESSAGE arguments, decoded with -E; "-" stands for stdin. */
static void parse_messages(struct client *c, char **args, int n)
{
	if (!(c->msgs = calloc((size_t)n, sizeof(*c->msgs))))
		cli_die(1, "out of memory");
	c->nmsgs = n;
	for (int i = 0; i < n; i++) {
		struct msg *m = &c->msgs[i];
		if (strcmp(args[i], "-") == 0)
			continue;
		m->p = args[i];
		m->len = strlen(args[i]);
		if (c->escapes) {
			char *dec = malloc(m->len + 1);
			if (!dec)
				cli_die(1, "out of memory");
			m->len = cli_unescape_opt("MESSAGE", args[i], (uint8_t *)dec);
			m->p = dec;
		}
		if (c->proto == PL_PROTO_LINE && memchr(m->p, '\n', m->len))
			cli_usage_error("a message cannot contain a newline with --proto line");
	}
}

static void free_messages(struct client *c)
{
	for (int i = 0; c->escapes && i < c->nmsgs; i++)
		free((char *)c->msgs[i].p);
	free(c->msgs);
}

int main(int argc, char **argv)
{
	static const struct cli_opt opts[] = {
		{ NULL, '4', no_argument, 0 },            { NULL, '6', no_argument, 0 },
		{ "source", 's', required_argument, 0 },  { "timeout", 't', required_argument, 0 },
		{ "verbose", 'v', no_argument, 0 },       { "proto", 'p', required_argument, 0 },
		{ "max-msg", 0, required_argument, 1 },   { "help", 'h', no_argument, 0 },
		{ "version", 'V', no_argument, 0 },       { "stream", 'S', no_argument, 0 },
		{ "no-shutdown", 'N', no_argument, 0 },   { "idle", 'w', required_argument, 0 },
		{ "quit", 0, required_argument, 2 },      { "escapes", 'E', no_argument, 0 },
		{ 0 },
	};
	struct cli_getopt g;
	static char *def_msgs[] = { "hello" };
	char **args;
	struct client c = { .proto = PL_PROTO_LEN, .max_msg = PL_FRAME_MAX_DEFAULT,
			    .timeout_ms = 10000, .idle_ms = -1, .quit_ms = -1 };
	enum pl_family fam = PL_FAMILY_ANY;
	struct pl_addr addr, src, local;
	const char *src_text = NULL;
	int ch, stream_opts = 0;

	cli_std_fds(); /* before any socket can take a closed 0, 1 or 2 */
	cli_prog = "parley-client";
	signal(SIGPIPE, SIG_IGN); /* a reset peer is an error to report; see stdout_gone */
	cli_getopt_init(&g, opts);
	while ((ch = getopt_long(argc, argv, g.shorts, g.longs, NULL)) != -1) {
		switch (ch) {
		case '4': fam = PL_FAMILY_4; break;
		case '6': fam = PL_FAMILY_6; break;
		case 's': src_text = optarg; break;
		case 't': c.timeout_ms = cli_seconds_ms("--timeout", optarg); break;
		case 'v': c.verbose = 1; break;
		case 'p':
			if (pl_proto_parse(optarg, &c.proto) < 0)
				cli_usage_error("--proto: '%s' is not len, line or raw", optarg);
			break;
		case 1: c.max_msg = (uint32_t)cli_size_range("--max-msg", optarg, 1, UINT32_MAX); break;
		case 'S': c.stream = 1; break;
		case 'E': c.escapes = 1; break;
		case 'N': c.no_shutdown = stream_opts = 1; break;
		case 'w': /* 0: no limit, as with -t 0 */
			c.idle_ms = cli_seconds_ms("--idle", optarg);
			c.idle_ms = c.idle_ms ? c.idle_ms : -1;
			stream_opts = 1;
			break;
		case 2: c.quit_ms = cli_seconds_ms("--quit", optarg); stream_opts = 1; break;
		case 'h': usage();
		case 'V': cli_version();
		default: cli_bad_option(ch, argv, g.longs);
		}
	}
	if (c.stream && optind + 1 < argc)
		cli_usage_error("--stream takes no MESSAGE: it sends standard input");
	if (c.stream && c.escapes)
		cli_usage_error("-E goes with messages: --stream sends standard input as it is");
	if (!c.stream && stream_opts)
		cli_usage_error("-N, -w and --quit go with --stream");
	cli_addr(&addr, optind < argc ? argv[optind] : "localhost", CLI_DEFAULT_PORT, 0);
	args = optind + 1 < argc ? argv + optind + 1 : def_msgs;
	parse_messages(&c, args, optind + 1 < argc ? argc - optind - 1 : 1);
	if (src_text) {
		cli_addr(&src, src_text, 0, PL_ADDR_PASSIVE);
		resolve_source(&src, fam);
		c.source = &src;
	}
	pl_decoder_init(&c.dec, c.proto, c.max_msg);

	c.fd = connect_to(&c, &addr, fam);
	{
		static char peer_text[PL_ADDR_TEXT_MAX];
		struct pl_addr peer;
		if (pl_addr_peer(c.fd, &peer) < 0)
			peer = addr;
		pl_addr_format(&peer, peer_text, sizeof(peer_text));
		c.peer = peer_text;
		if (c.verbose && pl_addr_local(c.fd, &local) == 0)
			fprintf(stderr, "connected to %s from %s\n", c.peer, cli_addr_str(&local));
	}
	if (c.stream)
		stream(&c);
	else
		run(&c);
	close(c.fd);
	pl_decoder_free(&c.dec);
	pl_buf_free(&c.out);
	pl_buf_free(&c.line);
	free_messages(&c);
	flush_stdout();
	if (c.bad_line)
		cli_die(1, "stdin line %llu: %s", c.lineno, c.bad_line);
	return 0;
}
