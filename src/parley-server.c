/* parley-server - answers each request; by default "hello" gets "world". */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "parley/escape.h"
#include "parley/loop.h"
#include "parley/server.h"
#include "parley/sock.h"

#define DEFAULT_PORT 1234

struct opts {
	const char *reply;
	size_t reply_len;
	int echo, quiet, verbose;
	int unix_mode;
	struct pl_server_config cfg;
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
	       "  -r, --reply TEXT        answer TEXT to every request (default: world)\n"
	       "  -e, --echo              answer each request with itself\n"
	       "  -p, --proto PROTO       framing: len (default), line or raw\n"
	       "Output:\n"
	       "  -q, --quiet             print nothing per request\n"
	       "  -v, --verbose           log each connection's open and close, counters at exit\n"
	       "Limits:\n"
	       "      --max-conns N       most clients at once (default 10000; 0: no limit)\n"
	       "      --max-msg BYTES     largest request (default 16M)\n"
	       "      --idle-timeout SEC  close a client silent this long (default 300; 0: never)\n"
	       "      --out-cap BYTES     unsent output before a client is no longer read (default 1M)\n"
	       "      --drain-timeout SEC on SIGTERM, wait this long for replies to leave (default 5)\n"
	       "      --unix-mode MODE    permissions of Unix socket files, octal (e.g. 660)\n"
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

	switch (ev->type) {
	case PL_EV_OPEN:
		if (o->verbose)
			fprintf(stderr, "open %s\n", cli_addr_str(ev->peer));
		break;
	case PL_EV_CLOSE:
		if (ev->reason == PL_CLOSE_OVERSIZE)
			cli_warn("%s: message of %llu bytes exceeds --max-msg %u; closing",
				 cli_addr_str(ev->peer), (unsigned long long)ev->size, o->cfg.max_msg);
		else if (o->verbose && ev->err && ev->reason == PL_CLOSE_RESET)
			fprintf(stderr, "close %s: %s (%s)\n", cli_addr_str(ev->peer),
				pl_close_reason_name(ev->reason), strerror(-ev->err));
		else if (o->verbose)
			fprintf(stderr, "close %s: %s\n", cli_addr_str(ev->peer),
				pl_close_reason_name(ev->reason));
		break;
	case PL_EV_REJECT:
		cli_warn("%s: --max-conns %u reached; closing", cli_addr_str(ev->peer),
			 o->cfg.max_conns);
		break;
	case PL_EV_ACCEPT_ERROR:
		cli_warn("accept: %s; shedding new clients until it recovers", strerror(-ev->err));
		break;
	case PL_EV_ACCEPT_RESUMED:
		cli_warn("accept: working again");
		break;
	case PL_EV_DRAINED:
		break;
	}
}

static void on_signal(struct pl_loop *loop, int signo, void *arg)
{
	struct pl_server *s = arg;

	(void)loop;
	(void)signo;
	pl_server_shutdown(s);
}

static void print_stats(const struct pl_server_stats *st)
{
	fprintf(stderr, "stats: accepted=%llu requests=%llu", (unsigned long long)st->accepted,
		(unsigned long long)st->requests);
	for (int r = 0; r < PL_CLOSE_REASONS; r++)
		fprintf(stderr, " %s=%llu", pl_close_reason_name(r),
			(unsigned long long)st->closed[r]);
	fprintf(stderr, "\n");
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{ "reply", required_argument, 0, 'r' },   { "echo", no_argument, 0, 'e' },
		{ "proto", required_argument, 0, 'p' },   { "quiet", no_argument, 0, 'q' },
		{ "verbose", no_argument, 0, 'v' },       { "max-conns", required_argument, 0, 1 },
		{ "max-msg", required_argument, 0, 2 },   { "idle-timeout", required_argument, 0, 3 },
		{ "out-cap", required_argument, 0, 4 },   { "drain-timeout", required_argument, 0, 5 },
		{ "unix-mode", required_argument, 0, 6 }, { "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' },       { 0, 0, 0, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "r:ep:qvhV", longs, NULL)) != -1) {
		switch (ch) {
		case 'r': o->reply = optarg; break;
		case 'e': o->echo = 1; break;
		case 'p':
			if (pl_proto_parse(optarg, &o->cfg.proto) < 0)
				cli_usage_error("--proto: '%s' is not len, line or raw", optarg);
			break;
		case 'q': o->quiet = 1; break;
		case 'v': o->verbose = 1; break;
		case 1: o->cfg.max_conns = (unsigned)cli_uint("--max-conns", optarg, 1000000000); break;
		case 2: o->cfg.max_msg = (uint32_t)cli_size("--max-msg", optarg, UINT32_MAX); break;
		case 3: o->cfg.idle_timeout_ms = (unsigned)cli_seconds_ms("--idle-timeout", optarg); break;
		case 4: o->cfg.out_cap = cli_size("--out-cap", optarg, 1ULL << 40); break;
		case 5: o->cfg.drain_timeout_ms = (unsigned)cli_seconds_ms("--drain-timeout", optarg); break;
		case 6: {
			char *end;
			long m = strtol(optarg, &end, 8);
			if (!*optarg || *end || m <= 0 || m > 0777)
				cli_usage_error("--unix-mode: '%s' is not an octal mode", optarg);
			o->unix_mode = (int)m;
			break;
		}
		case 'h': usage();
		case 'V': cli_version();
		default: cli_usage_error("unknown option");
		}
	}
	if (o->cfg.max_msg == 0)
		o->cfg.max_msg = PL_FRAME_MAX_DEFAULT;
	if (o->cfg.drain_timeout_ms == 0)
		o->cfg.drain_timeout_ms = 1; /* "0 s": close at once, but the library reads 0 as default */
	o->reply_len = strlen(o->reply);
	if (o->cfg.proto == PL_PROTO_LINE && memchr(o->reply, '\n', o->reply_len))
		cli_usage_error("--reply: a line reply cannot contain a newline");
}

static int open_listeners(int argc, char **argv, struct opts *o, struct pl_server *s)
{
	const char *def[] = { ":1234" };
	char **addrs = optind < argc ? argv + optind : (char **)def;
	int n = optind < argc ? argc - optind : 1;
	struct pl_listen_opts lo = { .nonblock = 1, .unix_mode = o->unix_mode };

	for (int i = 0; i < n; i++) {
		struct pl_addr a, bound;
		int fd, r;

		cli_addr(&a, addrs[i], DEFAULT_PORT, PL_ADDR_PASSIVE);
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
		if (pl_addr_local(fd, &bound) < 0)
			bound = a;
		if ((r = pl_server_listen_fd(s, fd)) < 0) {
			cli_warn("listen on %s: %s", cli_addr_str(&a), strerror(-r));
			close(fd);
			return -1;
		}
		fprintf(stderr, "listening on %s\n", cli_addr_str(&bound));
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {
		.reply = "world",
		.cfg = { .max_conns = 10000, .idle_timeout_ms = 300000, .drain_timeout_ms = 5000 },
	};
	struct pl_loop *loop;
	struct pl_server *srv;
	struct pl_server_stats st;
	int r;

	cli_prog = "parley-server";
	parse_opts(argc, argv, &o);
	/* line-buffered for a person watching, block-buffered into a file or pipe */
	setvbuf(stdout, NULL, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF, 0);
	signal(SIGPIPE, SIG_IGN);

	o.cfg.on_request = on_request;
	o.cfg.on_event = on_event;
	o.cfg.arg = &o;
	if ((r = pl_loop_new(&loop)) < 0)
		cli_die(1, "event loop: %s", strerror(-r));
	if ((r = pl_server_new(loop, &o.cfg, &srv)) < 0)
		cli_die(1, "server: %s", strerror(-r));
	/* before "listening on": a test may signal as soon as it reads that line */
	pl_loop_signal(loop, SIGINT, on_signal, srv);
	pl_loop_signal(loop, SIGTERM, on_signal, srv);
	if (open_listeners(argc, argv, &o, srv) < 0) {
		pl_server_free(srv);
		pl_loop_free(loop);
		return 1;
	}
	r = pl_loop_run(loop);
	if (r < 0)
		cli_warn("event loop: %s", strerror(-r));
	st = *pl_server_stats(srv);
	pl_server_free(srv);
	if (o.verbose)
		print_stats(&st);
	pl_loop_free(loop);
	fflush(stdout);
	return r < 0 ? 1 : 0;
}
