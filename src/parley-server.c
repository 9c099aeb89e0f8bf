/* parley-server - answers each request; by default "hello" gets "world". */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "parley/escape.h"
#include "parley/loop.h"
#include "parley/server.h"
#include "parley/sock.h"
#include "workers.h"

#define MAX_THREADS 256

struct opts {
	uint8_t *reply;            /* --reply with its escapes decoded */
	size_t reply_len;
	int echo, quiet, verbose;
	int unix_mode;
	int threads;
	unsigned busy_poll_us;
	struct pl_server_config cfg;
	struct worker *w;          /* threads of them; w[0] is the main thread's */
	int *shown, nshown;        /* listeners to announce once every thread runs */
	int activated;             /* how many of them came from systemd */
	struct pl_server_shared shared; /* max-conns and max-memory across threads */
};

static noreturn void usage(void)
{
	printf("Usage: parley-server [OPTIONS] [ADDRESS...]\n"
	       "Answer each request a client sends; \"hello\" gets \"world\".\n"
	       "\n"
	       "ADDRESS is HOST:PORT, [IPV6]:PORT, PORT or :PORT (every interface, IPv4 and\n"
	       "IPv6), unix:/PATH or unix:@NAME (abstract).  Default: port 1234, every interface.\n"
	       "\n"
	       "Replies:\n"
	       "  -r, --reply TEXT        answer TEXT to every request (default: world);\n"
	       "                          C escapes \\n \\r \\t \\0 \\\\ \\xHH are decoded\n"
	       "  -e, --echo              answer each request with itself\n"
	       "  -p, --proto PROTO       framing: len (default), line or raw\n"
	       "Output:\n"
	       "  -q, --quiet             print nothing per request\n"
	       "  -v, --verbose           log each connection's open and close, counters at exit\n"
	       "      --log-format FMT    text (default) or json: one JSON object per line,\n"
	       "                          with an RFC 3339 timestamp\n"
	       "Limits:\n"
	       "      --max-conns N       most clients at once (default 10000; 0: no limit)\n"
	       "      --max-msg BYTES     largest request (default 16M; at least 1)\n"
	       "      --idle-timeout SEC  close a client silent this long (default 300; 0: never)\n"
	       "      --request-timeout SEC  close a client whose request is not whole this long\n"
	       "                          after its first byte (default 30; 0: never)\n"
	       "      --send-timeout SEC  close a client whose replies cannot be sent for this\n"
	       "                          long, e.g. one that never reads (default 60; 0: never)\n"
	       "      --out-cap BYTES     unsent output before a client is no longer read\n"
	       "                          (default 1M; at least 1)\n"
	       "      --max-memory BYTES  all clients' buffers together; past it the clients\n"
	       "                          with the most unsent output are closed (default 256M;\n"
	       "                          0: no limit)\n"
	       "      --drain-timeout SEC on SIGTERM, wait this long for replies to leave\n"
	       "                          (default 5; 0: close at once)\n"
	       "      --unix-mode MODE    permissions of Unix socket files, octal (e.g. 660)\n"
	       "Threads:\n"
	       "      --threads N         N event loops on N threads, 1 to 256 (default 1); each\n"
	       "                          TCP address gets N SO_REUSEPORT listeners\n"
	       "      --busy-poll US      when idle, poll up to US microseconds before sleeping:\n"
	       "                          lower latency, more CPU (default 0: sleep at once)\n"
	       "\n"
	       "Started by systemd socket activation (LISTEN_FDS, LISTEN_PID), it serves the\n"
	       "sockets it was given, and listens on ADDRESS only when one is named.\n"
	       "SIGINT and SIGTERM drain and exit 0; SIGHUP is logged and changes nothing.\n"
	       "  -h, --help              show this help\n"
	       "  -V, --version           show the version\n");
	exit(0);
}

static void on_request(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	struct opts *o = arg;

	if (!o->quiet) {
		char text[PL_ESCAPE_CAP(PL_ESCAPE_LIMIT)];
		pl_escape(msg, len, PL_ESCAPE_LIMIT, text, sizeof(text));
		printf("client says: %s\n", text);
	}
	if (o->echo)
		pl_conn_reply(c, msg, len);
	else
		pl_conn_reply(c, o->reply, o->reply_len);
}

static void on_event(const struct pl_server_event *ev, void *arg)
{
	struct opts *o = arg;
	const char *peer = ev->peer ? cli_addr_str(ev->peer) : "";
	const char *reason = pl_close_reason_name(ev->reason);
	char num[32];

	switch (ev->type) {
	case PL_EV_OPEN:
		if (o->verbose)
			log_event(0, "open", (const char *[]){ "peer", peer, NULL }, "open %s", peer);
		break;
	case PL_EV_CLOSE:
		if (ev->reason == PL_CLOSE_OVERSIZE) {
			snprintf(num, sizeof(num), "%llu", (unsigned long long)ev->size);
			log_event(1, "oversize", (const char *[]){ "peer", peer, "#size", num, NULL },
				  "%s: message of %s bytes exceeds --max-msg %u; closing", peer, num,
				  o->cfg.max_msg);
		}
		if (ev->reason == PL_CLOSE_MEMORY) {
			snprintf(num, sizeof(num), "%llu", (unsigned long long)ev->size);
			log_event(1, "memory", (const char *[]){ "peer", peer, "#size", num, NULL },
				  "%s: holds %s bytes of buffers, the most while over --max-memory %zu; closing",
				  peer, num, o->cfg.max_memory);
		}
		if (!o->verbose)
			break;
		if (ev->err && ev->reason == PL_CLOSE_RESET)
			log_event(0, "close", (const char *[]){ "peer", peer, "reason", reason, "error", strerror(-ev->err), NULL },
				  "close %s: %s (%s)", peer, reason, strerror(-ev->err));
		else
			log_event(0, "close", (const char *[]){ "peer", peer, "reason", reason, NULL },
				  "close %s: %s", peer, reason);
		break;
	case PL_EV_REJECT:
		log_event(1, "reject", (const char *[]){ "peer", peer, NULL },
			  "%s: --max-conns %u reached; closing", peer, o->cfg.max_conns);
		break;
	case PL_EV_ACCEPT_ERROR:
		log_event(1, "accept_error", (const char *[]){ "error", strerror(-ev->err), NULL },
			  "accept: %s; shedding new clients until it recovers", strerror(-ev->err));
		break;
	case PL_EV_ACCEPT_RESUMED:
		log_event(1, "accept_resumed", NULL, "accept: working again");
		break;
	case PL_EV_DRAINED:
		break;
	}
}

static void flush_stdout(struct pl_loop *loop, void *arg)
{
	(void)loop;
	(void)arg;
	fflush(stdout); /* no system call when nothing is buffered */
}

/* Nothing to reload yet (TLS certificates will be); not dying on it is the
 * point: a terminal closing or a stray `kill -HUP` should not stop service. */
static void on_hup(struct pl_loop *loop, int signo, void *arg)
{
	(void)loop;
	(void)signo;
	(void)arg;
	log_event(0, "sighup", NULL, "SIGHUP: nothing to reload; still serving");
}

static void on_signal(struct pl_loop *loop, int signo, void *arg)
{
	struct opts *o = arg;

	(void)loop;
	(void)signo;
	pl_server_shutdown(o->w[0].srv);
	workers_shutdown(o->w, o->threads);
}

static void print_stats(const struct pl_server_stats *st)
{
	char text[512], vals[PL_CLOSE_REASONS + 2][24], names[PL_CLOSE_REASONS][24];
	const char *fields[2 * (PL_CLOSE_REASONS + 2) + 1];
	size_t o = 0;
	int k = 0;

	snprintf(vals[0], sizeof(vals[0]), "%llu", (unsigned long long)st->accepted);
	snprintf(vals[1], sizeof(vals[1]), "%llu", (unsigned long long)st->requests);
	fields[k++] = "#accepted", fields[k++] = vals[0];
	fields[k++] = "#requests", fields[k++] = vals[1];
	o += (size_t)snprintf(text, sizeof(text), "stats: accepted=%s requests=%s", vals[0], vals[1]);
	for (int r = 0; r < PL_CLOSE_REASONS; r++) {
		snprintf(vals[r + 2], sizeof(vals[0]), "%llu", (unsigned long long)st->closed[r]);
		snprintf(names[r], sizeof(names[r]), "#%s", pl_close_reason_name(r));
		fields[k++] = names[r], fields[k++] = vals[r + 2];
		o += (size_t)snprintf(text + o, sizeof(text) - o, " %s=%s", pl_close_reason_name(r), vals[r + 2]);
	}
	fields[k] = NULL;
	log_event(0, "stats", fields, "%s", text);
}

static void parse_limit(struct opts *o, int ch, const char *arg)
{
	switch (ch) {
	case 1: o->cfg.max_conns = (unsigned)cli_uint("--max-conns", arg, 1000000000); break;
	case 2:
		o->cfg.max_msg = (uint32_t)cli_size_range("--max-msg", arg, 1, UINT32_MAX);
		break;
	case 3: o->cfg.idle_timeout_ms = cli_seconds_ms("--idle-timeout", arg); break;
	case 4:
		o->cfg.out_cap = cli_size_range("--out-cap", arg, 1, 1ULL << 40);
		break;
	case 5: o->cfg.drain_timeout_ms = cli_seconds_ms("--drain-timeout", arg); break;
	case 8: o->cfg.send_timeout_ms = cli_seconds_ms("--send-timeout", arg); break;
	case 11: o->cfg.request_timeout_ms = cli_seconds_ms("--request-timeout", arg); break;
	case 12: o->cfg.max_memory = cli_size("--max-memory", arg, 1ULL << 50); break;
	}
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct cli_opt opts[] = {
		{ "reply", 'r', required_argument, 0 },      { "echo", 'e', no_argument, 0 },
		{ "proto", 'p', required_argument, 0 },      { "quiet", 'q', no_argument, 0 },
		{ "verbose", 'v', no_argument, 0 },          { "max-conns", 0, required_argument, 1 },
		{ "max-msg", 0, required_argument, 2 },      { "idle-timeout", 0, required_argument, 3 },
		{ "out-cap", 0, required_argument, 4 },      { "drain-timeout", 0, required_argument, 5 },
		{ "unix-mode", 0, required_argument, 6 },    { "log-format", 0, required_argument, 7 },
		{ "send-timeout", 0, required_argument, 8 }, { "threads", 0, required_argument, 9 },
		{ "busy-poll", 0, required_argument, 10 },   { "request-timeout", 0, required_argument, 11 },
		{ "max-memory", 0, required_argument, 12 },  { "help", 'h', no_argument, 0 },
		{ "version", 'V', no_argument, 0 },          { 0 },
	};
	struct cli_getopt g;
	const char *reply = NULL;
	int ch;

	cli_getopt_init(&g, opts);
	while ((ch = getopt_long(argc, argv, g.shorts, g.longs, NULL)) != -1) {
		switch (ch) {
		case 'r': reply = optarg; break;
		case 'e': o->echo = 1; break;
		case 'p':
			if (pl_proto_parse(optarg, &o->cfg.proto) < 0)
				cli_usage_error("--proto: '%s' is not len, line or raw", optarg);
			break;
		case 'q': o->quiet = 1; break;
		case 'v': o->verbose = 1; break;
		case 1: case 2: case 3: case 4: case 5: case 8: case 11: case 12:
			parse_limit(o, ch, optarg);
			break;
		case 6: {
			char *end;
			long m = strtol(optarg, &end, 8);
			if (*optarg < '0' || *optarg > '7' || *end || m <= 0 || m > 0777)
				cli_usage_error("--unix-mode: '%s' is not an octal mode", optarg);
			o->unix_mode = (int)m;
			break;
		}
		case 10: o->busy_poll_us = (unsigned)cli_uint("--busy-poll", optarg, 1000000); break;
		case 9:
			o->threads = (int)cli_uint_range("--threads", optarg, 1, MAX_THREADS);
			break;
		case 7:
			if (strcmp(optarg, "text") == 0)
				log_set_format(LOG_TEXT);
			else if (strcmp(optarg, "json") == 0)
				log_set_format(LOG_JSON);
			else
				cli_usage_error("--log-format: '%s' is not text or json", optarg);
			break;
		case 'h': usage();
		case 'V': cli_version();
		default: cli_bad_option(ch, argv, g.longs);
		}
	}
	if (o->cfg.drain_timeout_ms == 0)
		o->cfg.drain_timeout_ms = 1; /* "0 s": close at once, but the library reads 0 as default */
	if (reply && o->echo)
		cli_usage_error("--reply and --echo: choose one");
	if (!reply)
		reply = "world";
	o->reply = (uint8_t *)malloc(strlen(reply) + 1);
	if (!o->reply)
		cli_die(1, "%s", strerror(ENOMEM));
	o->reply_len = cli_unescape_opt("--reply", reply, o->reply);
	if (o->cfg.proto == PL_PROTO_LINE && memchr(o->reply, '\n', o->reply_len))
		cli_usage_error("--reply: a line reply cannot contain a newline");
	if (o->cfg.proto == PL_PROTO_RAW && !o->reply_len && !o->echo)
		cli_usage_error("--reply: an empty raw reply sends nothing");
}

/* How the kernel spread the clients over the threads. */
static void print_threads(const unsigned long long *each, int n)
{
	char text[MAX_THREADS * 21 + 32], list[MAX_THREADS * 21 + 4];
	size_t o = (size_t)snprintf(text, sizeof(text), "threads: accepted"), l = 1;

	list[0] = '[';
	for (int i = 0; i < n; i++) {
		o += (size_t)snprintf(text + o, sizeof(text) - o, " %llu", each[i]);
		l += (size_t)snprintf(list + l, sizeof(list) - l, "%s%llu", i ? "," : "", each[i]);
	}
	snprintf(list + l, sizeof(list) - l, "]");
	log_event(0, "threads", (const char *[]){ "#accepted", list, NULL }, "%s", text);
}

/* "listening on" waits until every thread runs: whoever reads it may count
 * the threads or signal at once. */
static int remember(struct opts *o, int fd)
{
	int *p = realloc(o->shown, (size_t)(o->nshown + 1) * sizeof(*p));

	if (!p) {
		cli_warn("listen: %s", strerror(ENOMEM));
		return -1;
	}
	o->shown = p;
	o->shown[o->nshown++] = fd;
	return 0;
}

static void announce(struct opts *o)
{
	struct pl_addr bound;

	for (int i = 0; i < o->nshown; i++)
		if (pl_addr_local(o->shown[i], &bound) == 0)
			log_event(0, "listening", (const char *[]){ "addr", cli_addr_str(&bound), NULL },
				  "listening on %s", cli_addr_str(&bound));
	free(o->shown);
	o->shown = NULL;
	if (o->verbose && o->activated)
		log_event(0, "socket_activation", NULL, "socket activation: %d listener%s from systemd",
			  o->activated, o->activated == 1 ? "" : "s");
}

/*
 * systemd socket activation: listeners arrive as fds 3.. with LISTEN_FDS set
 * and LISTEN_PID naming us (the protocol of sd_listen_fds(3), no libsystemd).
 * Returns how many were taken, or -1.
 */
/* Gives the other threads a duplicate of listener fd (Unix sockets and
 * inherited ones: SO_REUSEPORT is for TCP ports).  0 or -1. */
static int share_listener(struct opts *o, int fd)
{
	for (int i = 1; i < o->threads; i++) {
		int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (d < 0 || pl_server_adopt_fd(o->w[i].srv, d) < 0) {
			cli_warn("listener for thread %d: %s", i, strerror(errno));
			if (d >= 0)
				close(d);
			return -1;
		}
	}
	return 0;
}

/* LISTEN_FDS as sd_listen_fds(3) means it: digits only, and fds 3.. must
 * exist, so no more than the descriptor limit.  -1 when it is anything else. */
static int listen_fds_count(const char *s)
{
	long n = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		n = n * 10 + (*s - '0');
		if (n > 65536)
			return -1;
	}
	return (int)n;
}

static int activated_listeners(struct opts *o)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	int n, accepting;
	socklen_t len = sizeof(accepting);

	/* only our pid in digits names us: strtol would take "1234x" or " 1234" */
	if (!pid || !fds || !*pid || strspn(pid, "0123456789") != strlen(pid) ||
	    strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	n = listen_fds_count(fds);
	if (n < 0) {
		cli_warn("socket activation: LISTEN_FDS='%s' is not a number of descriptors", fds);
		return -1;
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	for (int fd = 3; fd < 3 + n; fd++) {
		len = sizeof(accepting);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) < 0 || !accepting) {
			cli_warn("socket activation: fd %d is not a listening socket", fd);
			return -1;
		}
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (pl_server_adopt_fd(o->w[0].srv, fd) < 0 || share_listener(o, fd) < 0 ||
		    remember(o, fd) < 0)
			return -1;
	}
	o->activated = n;
	return n;
}

/* Opens a's listener for threads 1.. on the port thread 0 got (port 0
 * included), or shares a Unix one.  0 or -1. */
static int thread_listeners(struct opts *o, struct pl_addr a, int fd0, const struct pl_listen_opts *lo)
{
	struct pl_addr bound;

	if (a.kind != PL_ADDR_IP4 && a.kind != PL_ADDR_IP6 && a.kind != PL_ADDR_ANY)
		return share_listener(o, fd0);
	if (pl_addr_local(fd0, &bound) < 0)
		return -1;
	struct pl_listen_opts join = *lo;

	join.reuseport = PL_REUSEPORT_JOIN;
	a.port = bound.port;
	for (int i = 1; i < o->threads; i++) {
		int fd = pl_listen(&a, &join), r;
		if (fd < 0 || (r = pl_server_listen_fd(o->w[i].srv, fd)) < 0) {
			cli_warn("listen on %s for thread %d: %s", cli_addr_str(&a), i,
				 strerror(fd < 0 ? -fd : -r));
			if (fd >= 0)
				close(fd);
			return -1;
		}
	}
	return 0;
}

static int open_listeners(int argc, char **argv, struct opts *o, int inherited)
{
	struct pl_server *s = o->w[0].srv;
	char port[8], *def[] = { port }; /* every interface */
	char **addrs = optind < argc ? argv + optind : def;
	int n = optind < argc ? argc - optind : inherited ? 0 : 1;
	struct pl_listen_opts lo = { .nonblock = 1, .unix_mode = o->unix_mode, .reuseport = o->threads > 1 ? PL_REUSEPORT_NEW : 0 };

	snprintf(port, sizeof(port), ":%d", CLI_DEFAULT_PORT);
	for (int i = 0; i < n; i++) {
		struct pl_addr a;
		int fd, r;

		cli_addr(&a, addrs[i], CLI_DEFAULT_PORT, PL_ADDR_PASSIVE);
		if (a.kind == PL_ADDR_NAME) {
			/* a host name listens on its first address */
			struct pl_addr res[1];
			size_t got;
			r = pl_addr_resolve(&a, PL_FAMILY_ANY, res, 1, &got);
			if (r < 0) {
				cli_warn("resolve %s: %s", a.host, pl_addr_resolve_strerror(r));
				return -1;
			}
			a = res[0];
		}
		fd = pl_listen(&a, &lo);
		if (fd < 0) {
			cli_warn("listen on %s: %s", cli_addr_str(&a),
				 fd == -EEXIST ? "File exists and is not a socket" : strerror(-fd));
			return -1;
		}
		if ((r = pl_server_listen_fd(s, fd)) < 0) {
			cli_warn("listen on %s: %s", cli_addr_str(&a), strerror(-r));
			close(fd);
			return -1;
		}
		if (thread_listeners(o, a, fd, &lo) < 0 || remember(o, fd) < 0)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {
		.threads = 1,
		.cfg = { .max_conns = 10000, .idle_timeout_ms = 300000, .send_timeout_ms = 60000,
			 .request_timeout_ms = 30000, .max_memory = 256 << 20, .drain_timeout_ms = 5000 },
	};
	struct pl_loop *loop;
	struct pl_server_stats st;
	unsigned long long each[MAX_THREADS];
	int r;

	cli_prog = "parley-server";
	cli_std_fds();
	parse_opts(argc, argv, &o);
#ifdef __GLIBC__
	/*
	 * Fixed thresholds instead of glibc's adaptive ones: once a large
	 * message buffer is freed, glibc raises its mmap threshold, later large
	 * buffers come from the heap, and a heap top it will not trim kept the
	 * RSS floor creeping up under mixed load (found by bench/soak.sh; no
	 * leak: LeakSanitizer and valgrind agree).  Buffers of 256 KiB and more
	 * are mapped and given back on free; free heap past 1 MiB is trimmed.
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
#endif
	/* line-buffered for a person watching, block-buffered into a file or pipe */
	setvbuf(stdout, NULL, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF, 0);
	signal(SIGPIPE, SIG_IGN);

	o.cfg.on_request = on_request;
	o.cfg.on_event = on_event;
	o.cfg.arg = &o;
	/* with threads the limits are the whole server's (one thread counts alone,
	 * and needs no eventfd for the memory budget) */
	o.cfg.shared = o.threads > 1 ? &o.shared : NULL;
	o.w = calloc((size_t)o.threads, sizeof(*o.w));
	if (!o.w || (r = workers_new(o.w, o.threads, &o.cfg)) < 0)
		cli_die(1, "event loop: %s", strerror(o.w ? -r : ENOMEM));
	loop = o.w[0].loop;
	for (int i = 0; i < o.threads; i++) {
		pl_loop_set_busy_poll(o.w[i].loop, o.busy_poll_us);
		/* a pipe or file gets each iteration's lines at its end, not per 4 KiB */
		if (!o.quiet)
			pl_loop_add_post(o.w[i].loop, flush_stdout, NULL);
	}
	/* before "listening on": a test may signal as soon as it reads that line;
	 * before the threads start: they inherit these signals blocked */
	pl_loop_signal(loop, SIGINT, on_signal, &o);
	pl_loop_signal(loop, SIGTERM, on_signal, &o);
	pl_loop_signal(loop, SIGHUP, on_hup, &o);
	if ((r = activated_listeners(&o)) < 0 || open_listeners(argc, argv, &o, r) < 0 ||
	    (r = workers_start(o.w, o.threads)) < 0) {
		if (r < 0 && r != -1)
			cli_warn("threads: %s", strerror(-r));
		workers_shutdown(o.w, o.threads);
		workers_finish(o.w, o.threads, &st, NULL);
		free(o.w);
		free(o.shown);
		free(o.reply);
		return 1;
	}
	announce(&o);
	r = pl_loop_run(loop);
	if (r < 0)
		cli_warn("event loop: %s", strerror(-r));
	/* this loop is done, others may still drain: a second SIGTERM now, or
	 * one still pending when loop 0 is freed (which unblocks them), must
	 * not kill the process before the orderly exit */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	workers_finish(o.w, o.threads, &st, each);
	free(o.w);
	free(o.reply);
	if (o.verbose)
		print_stats(&st);
	if (o.verbose && o.threads > 1)
		print_threads(each, o.threads);
	fflush(stdout);
	return r < 0 ? 1 : 0;
}
