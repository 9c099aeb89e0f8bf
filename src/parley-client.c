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
#include "cli_tls.h"
#include "client.h"
#include "parley/buf.h"
#include "parley/client.h"
#include "parley/escape.h"
#include "parley/clock.h"
#include "parley/loop.h"
#include "parley/tls.h"
#include "parley/transport.h"

#define MAX_TARGETS 16
#define OUT_HIGH (64 * 1024) /* queue no more requests than this ahead */
#define STREAM_BUF (256 * 1024) /* per direction in --stream mode */

/* The socket (or TLS) under a framed connection, watched (see tap_read). */
struct tap {
	struct pl_transport t; /* first: the connection calls through it */
	struct pl_transport *inner; /* TLS, or NULL: the socket itself */
	int write_failed;      /* the last error came from a write, not a read */
	int eof;               /* the server ended its direction */
};

struct client {
	struct pl_loop *loop;
	struct pl_conn *conn;  /* the framed connection, once connected and until closed */
	struct tap tap;
	int fd;                /* --stream's socket */
	struct pl_transport *stp; /* and its TLS, or NULL */
	const struct pl_addr *target; /* ADDRESS, as given */
	struct pl_addr targets[MAX_TARGETS]; /* and resolved */
	size_t ntargets;
	const char *peer;
	enum pl_proto proto;
	uint32_t max_msg;
	long long timeout_ms;
	int verbose;
	const struct pl_addr *source; /* -s, resolved; NULL: the OS picks */
	int bind_failed;       /* the race: the last failure was binding source */
	int stream, no_shutdown;
	long long idle_ms, quit_ms; /* --stream: -w and --quit; < 0 when unset */
	unsigned retries;      /* --retries: datagrams only */
	int escapes;           /* -E: messages and stdin lines take C escapes */
	struct cli_tls tls_opts;
	struct pl_tls *tls;    /* --tls or tls:ADDRESS, else NULL */
	const char *tls_name;  /* the server's name to verify and send as SNI */
	int tls_told;          /* -v: the handshake's outcome was printed */
	struct msg *msgs;
	int nmsgs, next;       /* argv messages; next to queue */
	unsigned long long lineno; /* of the last stdin line queued, for messages */
	const char *bad_line;  /* why that line could not be sent; nothing more is */
	int in_stdin;          /* the current message source is stdin ("-") */
	int stdin_eof;
	int stdin_file;        /* stdin is what epoll cannot watch: always readable */
	struct pl_io in;       /* stdin, watched by the loop */
	struct pl_timer in_due; /* reads a stdin_file from the loop */
	struct pl_buf line;    /* stdin bytes not yet a whole line */
	struct pl_timer reply_due; /* -t for the oldest unanswered request */
	unsigned long long sent, received;
};

static noreturn void usage(void)
{
	printf("Usage: parley-client [OPTIONS] [ADDRESS [MESSAGE...]]\n"
	       "Send each MESSAGE as a request and print each reply.\n"
	       "\n"
	       "ADDRESS is HOST:PORT, [IPV6]:PORT, unix:/PATH or unix:@NAME, tls: before any.\n"
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
	       "Datagrams (udp:HOST:PORT, unixgram:PATH, seqpacket:PATH; each message one\n"
	       "datagram, one request at a time; see the man page):\n"
	       "      --retries N         send a request again N times when -t passes without\n"
	       "                          its reply (udp:, unixgram:; default 0)\n"
	       "Streaming (like nc):\n"
	       "  -S, --stream            copy stdin to the socket and the socket to stdout, raw\n"
	       "  -N, --no-shutdown       keep the write side open after stdin ends\n"
	       "  -w, --idle SECONDS      fail when no data moves for this long (0: no limit)\n"
	       "      --quit SECONDS      exit this long after stdin ends (0: at once)\n"
	       "TLS (also: ADDRESS tls:HOST:PORT):\n"
	       "      --tls               connect with TLS; the server's certificate is verified\n"
	       "      --tls-ca FILE|DIR   trust these CAs instead of the system's\n"
	       "      --tls-servername NAME  name to send (SNI) and verify, instead of HOST\n"
	       "      --tls-cert FILE     client certificate (PEM), with --tls-key FILE\n"
	       "      --tls-key FILE      its private key\n"
	       "      --tls-alpn LIST     offer these protocols (h2,http/1.1)\n"
	       "      --tls-min 1.2|1.3   oldest version accepted (default 1.2)\n"
	       "      --tls-resume        offer the previous connection's session\n"
	       "      --tls-ktls          ask for kernel TLS (-v says whether it engaged)\n"
	       "      --insecure          do not verify the server's certificate (warns)\n"
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

/*
 * The plain socket, watched: pl_conn closes for a reset without saying
 * which way it failed, where the client's message names it ("read from",
 * "write to"); and it hands out a last line without its newline at the
 * server's EOF, which the client never took for a reply.
 */
static void tls_tell(struct client *c, const struct pl_transport *tp);

/* -v: the handshake's outcome as soon as it is known, reply or not. */
static void tap_tell(struct tap *tp)
{
	if (tp->inner)
		tls_tell((struct client *)((char *)tp - offsetof(struct client, tap)), tp->inner);
}

static ssize_t tap_read(struct pl_transport *t, int fd, void *buf, size_t n)
{
	struct tap *tp = (struct tap *)t;
	ssize_t r = tp->inner ? tp->inner->ops->read(tp->inner, fd, buf, n) : recv(fd, buf, n, 0);

	if (!tp->inner && r < 0)
		r = -errno;
	tap_tell(tp);
	if (r < 0) {
		tp->write_failed = 0;
		return r;
	}
	tp->eof |= r == 0;
	return r;
}

static ssize_t tap_write(struct pl_transport *t, int fd, const void *buf, size_t n)
{
	struct tap *tp = (struct tap *)t;
	ssize_t r = tp->inner ? tp->inner->ops->write(tp->inner, fd, buf, n)
			      : send(fd, buf, n, MSG_NOSIGNAL);

	if (!tp->inner && r < 0)
		r = -errno;
	tap_tell(tp);
	if (r < 0) {
		tp->write_failed = 1;
		return r;
	}
	return r;
}

static int tap_shutdown(struct pl_transport *t, int fd)
{
	struct tap *tp = (struct tap *)t;

	if (tp->inner)
		return tp->inner->ops->shutdown(tp->inner, fd);
	return shutdown(fd, SHUT_WR) < 0 ? -errno : 0;
}

static size_t tap_pending(const struct pl_transport *t)
{
	const struct tap *tp = (const struct tap *)t;

	return tp->inner ? tp->inner->ops->pending(tp->inner) : 0;
}

static unsigned tap_events(const struct pl_transport *t, unsigned want)
{
	const struct tap *tp = (const struct tap *)t;

	return tp->inner ? tp->inner->ops->events(tp->inner, want) : want;
}

static long long tap_deadline(const struct pl_transport *t)
{
	const struct tap *tp = (const struct tap *)t;

	return tp->inner ? tp->inner->ops->deadline(tp->inner) : -1;
}

/* the tap is part of struct client; what it wraps is the connection's */
static void tap_free(struct pl_transport *t)
{
	struct tap *tp = (struct tap *)t;

	if (tp->inner)
		tp->inner->ops->free(tp->inner);
	tp->inner = NULL;
}

static const struct pl_transport_ops tap_ops = {
	.name = "tap", .read = tap_read, .write = tap_write, .shutdown = tap_shutdown,
	.pending = tap_pending, .events = tap_events, .deadline = tap_deadline, .free = tap_free,
};

/* The address as the user gave it, tls: prefix and all, for TLS errors. */
static const char *tls_target(const struct client *c)
{
	static char text[PL_ADDR_TEXT_MAX + 8];

	snprintf(text, sizeof(text), "tls:%s", cli_addr_str(c->target));
	return text;
}

static noreturn void tls_failed(const struct client *c, const struct pl_transport *tp, int err)
{
	const char *why = pl_tls_error(tp);

	cli_die(1, "%s: %s", tls_target(c), why ? why : strerror(-err));
}

/* -v: what the handshake settled, once it has. */
static void tls_tell(struct client *c, const struct pl_transport *tp)
{
	struct pl_tls_info info;
	char text[768];

	if (!c->verbose || c->tls_told || !tp || pl_tls_info(tp, &info) < 0)
		return;
	c->tls_told = 1;
	cli_tls_describe(tp, text, sizeof(text));
	fprintf(stderr, "%s\n", text);
	if (c->tls_opts.ktls && !strstr(text, " ktls"))
		fprintf(stderr, "tls: kTLS did not engage (the kernel's tls module or this cipher)\n");
}

/* A TLS transport for fd, or exit. */
static struct pl_transport *tls_wrap(struct client *c, int fd)
{
	struct pl_transport *tp;
	int r = pl_tls_transport_new(c->tls, fd, c->tls_name, &tp);

	if (r < 0)
		cli_die(1, "%s: %s", tls_target(c), strerror(-r));
	return tp;
}

/* The race is lost: every address failed, or none could be tried. */
static noreturn void connect_failed(const struct client *c, const struct pl_connect_report *r)
{
	if (r->failed == r->n && r->err == -EAFNOSUPPORT)
		cli_die(1, "connect to %s: no address of the source address's family",
			cli_addr_str(c->target));
	if (r->failed == r->n)
		cli_die(1, "connect to %s: %s", cli_addr_str(c->target), strerror(-r->err));
	if (!c->verbose) /* else on_attempt said it */
		warn_failed(c, &r->attempts[r->failed].addr, r->err);
	exit(1);
}

/* Names the peer for messages and, with -v, says who is talking to whom. */
static void connected(struct client *c, int fd)
{
	static char peer_text[PL_ADDR_TEXT_MAX];
	struct pl_addr peer, local;

	if (pl_addr_peer(fd, &peer) < 0)
		peer = *c->target;
	pl_addr_format(&peer, peer_text, sizeof(peer_text));
	c->peer = peer_text;
	if (c->verbose && pl_addr_local(fd, &local) == 0)
		fprintf(stderr, "connected to %s from %s\n", c->peer, cli_addr_str(&local));
}

/* Resolves ADDRESS; the race options (the connect starts from the loop). */
static struct pl_connect_opts connect_opts(struct client *c, enum pl_family fam)
{
	size_t n;
	int r = pl_addr_resolve(c->target, fam, c->targets, MAX_TARGETS, &n);

	if (r < 0)
		cli_die(1, "resolve %s: %s",
			c->target->kind == PL_ADDR_NAME ? c->target->host : cli_addr_str(c->target),
			pl_addr_resolve_strerror(r));
	c->ntargets = n;
	return (struct pl_connect_opts){
		/* 0 is no limit for both; past INT_MAX ms the kernel gives up first */
		.timeout_ms = poll_ms(c->timeout_ms), .stagger_ms = PL_CONNECT_STAGGER_MS,
		.source = c->source, .nonblock = 1, .on_attempt = on_attempt, .arg = c,
		.bind_failed = &c->bind_failed,
	};
}

/* Queues one request on the connection. */
static void send_msg(struct client *c, const void *p, size_t len)
{
	/* only -ENOMEM, and on_close has said so and exited already */
	if (pl_conn_send(c->conn, p, len) < 0)
		cli_die(1, "out of memory");
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
		if ((n = cli_unescape_bytes(p, len, dec, (char *)dec + len)) < 0)
			c->bad_line = "bad escape (\\n \\r \\t \\0 \\\\ \\xHH allowed)";
		p = dec;
		len = n < 0 ? 0 : (size_t)n;
	}
	if (!c->bad_line && len > c->max_msg)
		cli_die(1, "stdin line %llu: longer than --max-msg %u", c->lineno, c->max_msg);
	if (!c->bad_line && c->proto == PL_PROTO_LINE && memchr(p, '\n', len))
		c->bad_line = "a message cannot contain a newline with --proto line";
	if (!c->bad_line)
		send_msg(c, p, len);
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
		send_msg(c, m->p, m->len);
		return 1;
	}
}

static int more_to_send(const struct client *c)
{
	return c->next < c->nmsgs || c->in_stdin;
}

/* The oldest unanswered request has -t from now. */
static void wait_reply(struct client *c)
{
	if (c->timeout_ms > 0 && pl_timer_start(c->loop, &c->reply_due, c->timeout_ms) < 0)
		cli_die(1, "out of memory");
}

static void fill(struct client *c)
{
	size_t unsent;

	/* raw has no framing, so the replies of two requests in flight would merge */
	while ((unsent = pl_conn_unsent(c->conn)) < OUT_HIGH &&
	       (c->proto != PL_PROTO_RAW || (c->sent == c->received && !unsent))) {
		if (!queue_next(c))
			break;
		if (c->sent++ == c->received)
			wait_reply(c);
	}
}

static void on_reply(struct pl_conn *conn, const uint8_t *msg, size_t len, void *arg)
{
	struct client *c = arg;

	(void)conn;
	if (c->tap.eof)
		return; /* a last line without its newline (see tap_read) */
	if (c->proto != PL_PROTO_RAW && c->received == c->sent)
		cli_die(1, "%s: protocol error: a reply nobody asked for", c->peer);
	tls_tell(c, c->tap.inner);
	client_print_reply(msg, len);
	c->received++;
	wait_reply(c);
}

static void on_reply_due(struct pl_loop *loop, struct pl_timer *t)
{
	struct client *c = t->data;

	(void)loop;
	if (c->sent > c->received)
		cli_die(1, "%s: no reply within %.3g s", c->peer, c->timeout_ms / 1000.0);
}

static void on_server_eof(struct pl_conn *conn, void *arg)
{
	struct client *c = arg;

	(void)conn;
	if (c->sent == c->received && !more_to_send(c))
		return; /* all answered: tick ends the loop */
	cli_die(1, "%s: connection closed by the server after %llu of %llu replies", c->peer,
		c->received, c->sent + (more_to_send(c) ? 1 : 0));
}

static void on_conn_close(struct pl_conn *conn, enum pl_close_reason why, int err, void *arg)
{
	struct client *c = arg;

	c->conn = NULL;
	switch (why) {
	case PL_CLOSE_SHUTDOWN: /* pl_client_free, once done */
	case PL_CLOSE_APP:
		return;
	case PL_CLOSE_OVERSIZE:
		cli_die(1, "%s: reply of %llu bytes exceeds --max-msg %u", c->peer,
			(unsigned long long)pl_conn_close_size(conn), c->max_msg);
	case PL_CLOSE_NOMEM:
		cli_die(1, "out of memory");
	case PL_CLOSE_TLS:
		tls_failed(c, c->tap.inner, err);
	case PL_CLOSE_RESET:
		cli_die(1, "%s %s: %s", c->tap.write_failed ? "write to" : "read from", c->peer,
			strerror(-err));
	default: /* no other timeout or limit is set */
		cli_die(1, "%s: closed (%s)", c->peer, pl_close_reason_name(why));
	}
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

static void on_stdin(struct pl_loop *loop, struct pl_io *io, unsigned events)
{
	(void)loop;
	(void)events;
	read_stdin(io->data);
}

static void on_stdin_due(struct pl_loop *loop, struct pl_timer *t)
{
	(void)loop;
	read_stdin(t->data);
}

/*
 * Reads stdin while want.  epoll refuses what is always readable (a
 * regular file, /dev/null: EPERM), where poll said so at once: such a
 * stdin is read from a timer due at once instead.
 */
static void watch_stdin(struct client *c, int want)
{
	int r = c->stdin_file ? -EPERM : pl_io_start(c->loop, &c->in, want ? PL_READ : 0);

	if (r == -EPERM) {
		c->stdin_file = 1;
		r = !want ? (pl_timer_stop(c->loop, &c->in_due), 0)
		    : pl_timer_active(&c->in_due) ? 0 : pl_timer_start(c->loop, &c->in_due, 0);
	}
	if (r < 0)
		cli_die(1, "read from stdin: %s", strerror(-r));
}

/*
 * After every turn of the loop: what the old poll loop did at its top.
 * Queues what may go, ends once everything is answered, and lets replies
 * out of stdio before the loop waits again.
 */
static void tick(struct pl_loop *loop, void *arg)
{
	struct client *c = arg;

	if (!c->conn)
		return; /* still connecting */
	fill(c);
	if (!more_to_send(c) && !pl_conn_unsent(c->conn) && c->sent == c->received) {
		pl_loop_stop(loop);
		return;
	}
	watch_stdin(c, c->in_stdin && !c->stdin_eof && pl_conn_unsent(c->conn) < OUT_HIGH);
	client_flush_stdout();
}

static void on_connect(struct pl_conn *conn, const struct pl_connect_report *r, void *arg)
{
	struct client *c = arg;

	if (!conn)
		connect_failed(c, r);
	if (c->tls)
		c->tap.inner = tls_wrap(c, pl_conn_fd(conn));
	pl_conn_set_transport(conn, &c->tap.t); /* cannot fail: no byte moved yet */
	connected(c, pl_conn_fd(conn));
	c->conn = conn;
}

/* Framed requests and replies over a pl_conn, stdin lines from the same loop. */
static void run(struct client *c, const struct pl_connect_opts *co)
{
	struct pl_conn_config cfg = {
		.proto = c->proto,
		/* raw: what one read returns is one reply, whatever --max-msg says */
		.max_msg = c->proto == PL_PROTO_RAW ? UINT32_MAX : c->max_msg,
		.out_cap = SIZE_MAX, /* replies are read however far requests are behind */
		.on_request = on_reply, .on_eof = on_server_eof, .on_close = on_conn_close, .arg = c,
	};
	struct pl_client *cl;
	int r;

	c->tap.t.ops = &tap_ops;
	pl_io_init(&c->in, STDIN_FILENO, on_stdin, c);
	pl_timer_init(&c->in_due, on_stdin_due, c);
	pl_timer_init(&c->reply_due, on_reply_due, c);
	if ((r = pl_client_new(c->loop, &cfg, &cl)) < 0 ||
	    (r = pl_client_connect(cl, c->targets, c->ntargets, co, on_connect, c, NULL)) < 0 ||
	    (r = pl_loop_add_post(c->loop, tick, c)) < 0 || (r = pl_loop_run(c->loop)) < 0)
		cli_die(1, "event loop: %s", strerror(-r));
	pl_io_stop(c->loop, &c->in);
	pl_client_free(cl);
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
static ssize_t pull(int fd, struct pipe_dir *d, int sock, struct pl_transport *tp)
{
	ssize_t n;

	if (pl_buf_len(&d->buf) >= STREAM_BUF)
		return 0;
	if (pl_buf_reserve(&d->buf, STREAM_BUF - pl_buf_len(&d->buf)) < 0)
		return -ENOMEM;
	if (tp) {
		n = tp->ops->read(tp, fd, pl_buf_tail(&d->buf), pl_buf_room(&d->buf));
		if (n < 0)
			return n == -EAGAIN || n == -EINTR ? 0 : n;
	} else {
		n = sock ? recv(fd, pl_buf_tail(&d->buf), pl_buf_room(&d->buf), 0)
			 : read(fd, pl_buf_tail(&d->buf), pl_buf_room(&d->buf));
	}
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (n == 0)
		d->open = 0;
	pl_buf_commit(&d->buf, (size_t)n);
	return n;
}

/* Writes what d holds to fd, as much as kind allows; returns the bytes written, or -errno. */
static ssize_t push(int fd, struct pipe_dir *d, enum out_kind kind, struct pl_transport *tp)
{
	size_t len = pl_buf_len(&d->buf);
	ssize_t n;

	if (tp) {
		n = tp->ops->write(tp, fd, pl_buf_head(&d->buf), len);
		if (n < 0)
			return n == -EAGAIN || n == -EINTR ? 0 : n;
		pl_buf_consume(&d->buf, (size_t)n);
		return n;
	}
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

/* moved() for the socket: a TLS failure says what TLS said. */
static size_t sock_moved(const struct client *c, ssize_t r, const char *way)
{
	if (r < 0 && c->stp && pl_tls_error(c->stp))
		tls_failed(c, c->stp, (int)r);
	return moved(r, way, c->peer);
}

/* The poll events for the socket when we want to read and/or write it. */
static short sock_events(const struct client *c, int rd, int wr)
{
	unsigned want = (rd ? PL_READ : 0) | (wr ? PL_WRITE : 0), ev;

	ev = c->stp && want ? c->stp->ops->events(c->stp, want) : want;
	return (short)((ev & PL_READ ? POLLIN : 0) | (ev & PL_WRITE ? POLLOUT : 0));
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
			if (!c->no_shutdown && c->stp) /* close_notify, then the FIN */
				c->stp->ops->shutdown(c->stp, c->fd);
			else if (!c->no_shutdown)
				shutdown(c->fd, SHUT_WR); /* tell the server we are done sending */
		}
		/* the server closed and everything it sent is out: done, whatever stdin does */
		if (!down.open && !pl_buf_len(&down.buf))
			break;
		int timeout = stream_timeout(c, now, last, eof_at, &up, &down);
		if (timeout == -2)
			break;
		int rd = down.open && pl_buf_len(&down.buf) < STREAM_BUF;
		short sock_ev = sock_events(c, rd, pl_buf_len(&up.buf) > 0);
		/* plaintext TLS already holds wakes no poll */
		int held = rd && c->stp && c->stp->ops->pending(c->stp);
		if (held)
			timeout = 0;
		/* fd -1 when nothing is wanted: a hung-up socket would wake poll at once, for ever */
		struct pollfd p[3] = {
			{ .fd = up.open && pl_buf_len(&up.buf) < STREAM_BUF ? STDIN_FILENO : -1, .events = POLLIN },
			{ .fd = sock_ev ? c->fd : -1, .events = sock_ev },
			{ .fd = pl_buf_len(&down.buf) ? out.fd : -1, .events = POLLOUT },
		};
		int n = poll(p, 3, timeout);
		if (n < 0 && errno != EINTR)
			cli_die(1, "poll: %s", strerror(errno));
		if (n <= 0 && !held)
			continue;
		int open_before = up.open + down.open;
		size_t m = 0;
		if (p[0].revents)
			m += moved(pull(STDIN_FILENO, &up, 0, NULL), "read from", "stdin");
		/* TLS: either event may move either direction (a handshake, a key
		 * update), so try both that are wanted */
		int any = c->stp && (p[1].revents || held);
		/* POLLHUP comes with data still queued: read only when there is room,
		 * or a zero-length read would pass for the server's EOF */
		if ((p[1].events & POLLIN && p[1].revents & (POLLIN | POLLERR | POLLHUP)) || (any && rd))
			m += sock_moved(c, pull(c->fd, &down, 1, c->stp), "read from");
		if ((p[1].events & POLLOUT && p[1].revents & (POLLOUT | POLLERR)) ||
		    (any && pl_buf_len(&up.buf)))
			m += sock_moved(c, push(c->fd, &up, OUT_SOCKET, c->stp), "write to");
		if (p[2].revents) {
			ssize_t r = push(out.fd, &down, out.kind, NULL);
			if (r < 0)
				client_stdout_failed((int)-r);
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

/* --stream --tls: the handshake first, so that the server's certificate
 * is checked (and -v can say what was agreed) before a byte of stdin goes. */
static void stream_handshake(struct client *c)
{
	int r;

	c->stp = tls_wrap(c, c->fd);
	while ((r = pl_tls_handshake(c->stp, c->fd)) == -EAGAIN) {
		short ev = sock_events(c, 1, 1);
		struct pollfd p = { .fd = c->fd, .events = ev };
		/* the TLS deadline is -t (or 10 s): a short poll re-checks it */
		if (poll(&p, 1, 100) < 0 && errno != EINTR)
			cli_die(1, "poll: %s", strerror(errno));
	}
	if (r < 0)
		tls_failed(c, c->stp, r);
	tls_tell(c, c->stp);
}

static void on_stream_connect(int fd, const struct pl_connect_report *r, void *arg)
{
	struct client *c = arg;

	if (fd < 0)
		connect_failed(c, r);
	c->fd = fd;
	connected(c, fd);
	pl_loop_stop(c->loop);
}

/* Connects (the race runs on the loop) and does what the options ask. */
static void talk(struct client *c, const struct pl_addr *addr, enum pl_family fam)
{
	struct pl_connect_opts co;
	int r;

	c->target = addr;
	co = connect_opts(c, fam);
	if ((r = pl_loop_new(&c->loop)) < 0)
		cli_die(1, "event loop: %s", strerror(-r));
	if (!c->stream) {
		run(c, &co);
	} else if ((r = pl_connect_start(c->loop, c->targets, c->ntargets, &co, on_stream_connect, c,
					 NULL)) < 0 || (r = pl_loop_run(c->loop)) < 0) {
		cli_die(1, "event loop: %s", strerror(-r));
	} else {
		if (c->tls)
			stream_handshake(c);
		stream(c);
		if (c->stp)
			c->stp->ops->free(c->stp); /* close_notify, if not sent yet */
		close(c->fd);
	}
	pl_loop_free(c->loop);
}

/* ADDRESS without its tls: prefix, which means --tls. */
static const char *tls_address(struct client *c, const char *text)
{
	int tls;

	text = cli_tls_strip(text, &tls);
	c->tls_opts.on |= tls;
	if (c->tls_opts.given && !c->tls_opts.on)
		cli_usage_error("--tls-* options and --insecure go with --tls or a tls: ADDRESS");
	return text;
}

/* The client's TLS context, and the name the server must prove it has. */
static void tls_setup(struct client *c, const struct pl_addr *addr)
{
	static char host[PL_ADDR_TEXT_MAX];

	if (c->timeout_ms > 0)
		c->tls_opts.handshake_timeout_ms = c->timeout_ms;
	else if (c->timeout_ms == 0)
		c->tls_opts.handshake_timeout_ms = -1;
	c->tls = cli_tls_context(&c->tls_opts, 0);
	if (c->tls_opts.servername) {
		c->tls_name = c->tls_opts.servername;
	} else if (addr->kind == PL_ADDR_NAME) {
		c->tls_name = addr->host;
	} else if (addr->kind == PL_ADDR_IP4 || addr->kind == PL_ADDR_IP6) {
		/* verified as an IP address (the certificate needs it in its SAN) */
		struct pl_addr a = *addr;
		char *colon;
		a.port = 0;
		pl_addr_format(&a, host, sizeof(host));
		if ((colon = strrchr(host, ':')) && strcmp(colon, ":0") == 0)
			*colon = '\0';
		c->tls_name = host;
	}
	if (c->tls_opts.insecure)
		cli_warn("warning: --insecure: the server's certificate is not verified; "
			 "anyone on the path can read and change this connection");
}

/* ---- udp:, unixgram:, seqpacket: (client_dgram.c) ---- */

/* The options that make sense for a datagram address, and its run. */
static void talk_dgram(struct client *c, const struct pl_addr *addr, enum pl_family fam,
		       int proto_given)
{
	struct dgram_opts o;

	if (proto_given)
		cli_usage_error("--proto goes with stream addresses: a datagram is its own frame");
	if (c->retries && addr->sock == PL_SOCK_SEQPACKET)
		cli_usage_error("--retries goes with udp: and unixgram: (a seqpacket: connection "
				"loses nothing)");
	if (c->retries && c->timeout_ms == 0)
		cli_usage_error("--retries needs a timeout (-t) after which to send again");
	c->target = addr;
	connect_opts(c, fam); /* resolves into c->targets */
	o = (struct dgram_opts){
		.targets = c->targets, .ntargets = c->ntargets, .source = c->source,
		.msgs = c->msgs, .nmsgs = c->nmsgs, .escapes = c->escapes, .verbose = c->verbose,
		.timeout_ms = c->timeout_ms, .retries = c->retries, .max_msg = c->max_msg,
		.stream = c->stream, .no_shutdown = c->no_shutdown, .idle_ms = c->idle_ms,
		.quit_ms = c->quit_ms,
	};
	client_dgram(&o);
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
		{ "retries", 0, required_argument, 3 },
		{ 0 },
	};
	struct cli_getopt g = { 0 }; /* zeroed for cppcheck: cli_getopt_init fills it */
	static char *def_msgs[] = { "hello" };
	char **args;
	struct client c = { .proto = PL_PROTO_LEN, .max_msg = PL_FRAME_MAX_DEFAULT,
			    .timeout_ms = 10000, .idle_ms = -1, .quit_ms = -1 };
	enum pl_family fam = PL_FAMILY_ANY;
	struct pl_addr addr, src;
	const char *src_text = NULL;
	int ch, stream_opts = 0, proto_given = 0;

	cli_std_fds(); /* before any socket can take a closed 0, 1 or 2 */
	cli_prog = "parley-client";
	signal(SIGPIPE, SIG_IGN); /* a reset peer is an error to report; see stdout_gone */
	cli_getopt_init(&g, opts, cli_tls_client_opts);
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
			proto_given = 1;
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
		case 3: c.retries = (unsigned)cli_uint_range("--retries", optarg, 0, 1000); break;
		case 'h': usage();
		case 'V': cli_version();
		default:
			if (!cli_tls_option(&c.tls_opts, ch, optarg))
				cli_bad_option(ch, argv, g.longs);
		}
	}
	if (c.stream && optind + 1 < argc)
		cli_usage_error("--stream takes no MESSAGE: it sends standard input");
	if (c.stream && c.escapes)
		cli_usage_error("-E goes with messages: --stream sends standard input as it is");
	if (!c.stream && stream_opts)
		cli_usage_error("-N, -w and --quit go with --stream");
	cli_addr(&addr, tls_address(&c, optind < argc ? argv[optind] : "localhost"), CLI_DEFAULT_PORT, 0);
	if (c.tls_opts.on && addr.sock != PL_SOCK_STREAM)
		cli_usage_error("--tls and tls: are for TCP and unix: addresses (there is no DTLS)");
	if (c.tls_opts.on)
		tls_setup(&c, &addr);
	args = optind + 1 < argc ? argv + optind + 1 : def_msgs;
	parse_messages(&c, args, optind + 1 < argc ? argc - optind - 1 : 1);
	if (src_text) {
		cli_addr(&src, src_text, 0, PL_ADDR_PASSIVE);
		resolve_source(&src, fam);
		c.source = &src;
	}
	if (c.retries && addr.sock == PL_SOCK_STREAM)
		cli_usage_error("--retries goes with udp: and unixgram: addresses");
	if (addr.sock != PL_SOCK_STREAM)
		talk_dgram(&c, &addr, fam, proto_given);
	else
		talk(&c, &addr, fam);
	pl_tls_free(c.tls);
	pl_buf_free(&c.line);
	free_messages(&c);
	client_flush_stdout();
	if (c.bad_line)
		cli_die(1, "stdin line %llu: %s", c.lineno, c.bad_line);
	return 0;
}
