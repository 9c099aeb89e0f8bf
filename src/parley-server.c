/* parley-server - answers each request; by default "hello" gets "world". */
#include <errno.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_acl.h"
#include "cli_tls.h"
#include "log.h"
#include "parley/escape.h"
#include "parley/group.h"
#include "parley/loop.h"
#include "parley/server.h"
#include "parley/sock.h"
#include "parley/tls.h"

#define MAX_THREADS PL_GROUP_MAX

struct opts {
	uint8_t *reply;            /* --reply with its escapes decoded */
	size_t reply_len;
	int echo, quiet, verbose;
	int unix_mode;
	int threads;
	unsigned busy_poll_us;
	struct pl_server_config cfg;
	struct pl_group *g;        /* one loop per thread; loop 0 is the main thread's */
	struct shown { struct pl_addr a; int tls; } *shown; /* listeners to announce once every thread runs */
	int nshown;
	struct cli_tls tls_opts;
	struct pl_tls *tls;        /* for the tls: listeners, or NULL */
	struct cli_acl acl;        /* --allow, --deny, --allow-uid, --allow-gid */
	int activated;             /* how many of them came from systemd */
	int dgram;                 /* a datagram listener: its counters are printed */
};

static noreturn void usage(void)
{
	printf("Usage: parley-server [OPTIONS] [ADDRESS...]\n"
	       "Answer each request a client sends; \"hello\" gets \"world\".\n"
	       "\n"
	       "ADDRESS is HOST:PORT, [IPV6]:PORT, PORT or :PORT (every interface, IPv4 and\n"
	       "IPv6), unix:/PATH or unix:@NAME (abstract).  Default: port 1234, every interface.\n"
	       "Datagrams (one datagram, one message): udp:HOST:PORT, udp:PORT, unixgram:/PATH,\n"
	       "unixgram:@NAME; Unix packets (one packet, one message): seqpacket:/PATH,\n"
	       "seqpacket:@NAME.\n"
	       "With the prefix tls: (tls:127.0.0.1:7443, tls:7443, tls:unix:/PATH) it serves TLS.\n"
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
	       "TLS (for tls: listeners):\n"
	       "      --tls-cert FILE     certificate chain (PEM); repeat with --tls-key for\n"
	       "                          more names: the client's SNI picks, the first is default\n"
	       "      --tls-key FILE      the private key of the --tls-cert before it (PEM)\n"
	       "      --tls-ca FILE|DIR   CAs that client certificates are verified against\n"
	       "      --tls-client-cert none|optional|require  ask for client certificates\n"
	       "                          (default none)\n"
	       "      --tls-alpn LIST     protocols to accept, in order of preference (h2,http/1.1)\n"
	       "      --tls-min 1.2|1.3   oldest TLS version accepted (default 1.2)\n"
	       "      --tls-handshake-timeout SEC  close a client whose handshake takes longer\n"
	       "                          (default 10; 0: never)\n"
	       "Access (first matching rule wins; see ACCESS CONTROL in the manual):\n"
	       "      --allow CIDR        let in TCP clients from CIDR (10.0.0.0/8, ::1); once\n"
	       "                          one is given, TCP clients no rule matches are refused\n"
	       "      --deny CIDR         refuse TCP clients from CIDR\n"
	       "      --allow-uid USER    let in Unix-socket clients running as USER (name or\n"
	       "                          number); the others are refused\n"
	       "      --allow-gid GROUP   let in Unix-socket clients in GROUP (name or number)\n"
	       "\n"
	       "Started by systemd socket activation (LISTEN_FDS, LISTEN_PID), it serves the\n"
	       "sockets it was given, and listens on ADDRESS only when one is named.\n"
	       "SIGINT and SIGTERM drain and exit 0; SIGHUP reloads the TLS certificate files\n"
	       "(connections open keep theirs).\n"
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

static void log_tls_close(const struct pl_server_event *ev, const char *peer)
{
	const char *why = pl_tls_error(pl_conn_transport(ev->conn));

	if (!why)
		why = ev->err ? strerror(-ev->err) : "failed";
	log_event(0, "close", (const char *[]){ "peer", peer, "reason", "tls", "error", why, NULL },
		  "close %s: tls (%s)", peer, why);
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
				  o->cfg.max_msg ? o->cfg.max_msg : PL_FRAME_MAX_DEFAULT);
		}
		if (ev->reason == PL_CLOSE_MEMORY) {
			snprintf(num, sizeof(num), "%llu", (unsigned long long)ev->size);
			log_event(1, "memory", (const char *[]){ "peer", peer, "#size", num, NULL },
				  "%s: holds %s bytes of buffers, the most while over --max-memory %zu; closing",
				  peer, num, o->cfg.max_memory);
		}
		if (!o->verbose)
			break;
		if (ev->reason == PL_CLOSE_TLS)
			log_tls_close(ev, peer);
		else if (ev->err && ev->reason == PL_CLOSE_RESET)
			log_event(0, "close", (const char *[]){ "peer", peer, "reason", reason, "error", strerror(-ev->err), NULL },
				  "close %s: %s (%s)", peer, reason, strerror(-ev->err));
		else
			log_event(0, "close", (const char *[]){ "peer", peer, "reason", reason, NULL },
				  "close %s: %s", peer, reason);
		break;
	case PL_EV_REJECT:
		if (ev->reason == PL_CLOSE_DENIED) { /* the rules at work, not a fault */
			if (o->verbose)
				cli_acl_log_denied(&o->acl, ev);
		} else if (ev->reason == PL_CLOSE_LIMIT)
			log_event(1, "reject", (const char *[]){ "peer", peer, NULL },
				  "%s: --max-conns %u reached; closing", peer, o->cfg.max_conns);
		else /* the connection could not be set up */
			log_event(1, "reject", (const char *[]){ "peer", peer, "error", strerror(-ev->err), NULL },
				  "%s: %s; closing", peer, strerror(-ev->err));
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

/* Renewed certificates are read again; a reload that fails keeps the old
 * ones (a half-written file must not stop service), and so does a stray
 * `kill -HUP` without TLS. */
static void on_hup(struct pl_loop *loop, int signo, void *arg)
{
	struct opts *o = arg;
	char err[512];
	int r;

	(void)loop;
	(void)signo;
	if (!o->tls) {
		log_event(0, "sighup", NULL, "SIGHUP: nothing to reload; still serving");
		return;
	}
	if ((r = pl_tls_reload(o->tls, err, sizeof(err))) < 0)
		log_event(1, "sighup", (const char *[]){ "error", err[0] ? err : strerror(-r), NULL },
			  "SIGHUP: reload failed: %s; keeping the certificates in use",
			  err[0] ? err : strerror(-r));
	else
		log_event(0, "sighup", NULL, "SIGHUP: TLS certificates reloaded");
}

static void on_signal(struct pl_loop *loop, int signo, void *arg)
{
	struct opts *o = arg;

	(void)loop;
	(void)signo;
	pl_group_shutdown(o->g);
}

/* Datagram counters, after the stream ones: peers made, datagrams dropped. */
static void dgram_stats(const struct pl_server_stats *st, char *text, size_t cap,
			  const char **fields, char (*vals)[24])
{
	uint64_t total = 0;
	size_t o;
	int k = 0;

	for (int r = 0; r < PL_DROP_REASONS; r++)
		total += st->dropped[r];
	snprintf(vals[0], 24, "%llu", (unsigned long long)st->peers);
	snprintf(vals[1], 24, "%llu", (unsigned long long)total);
	fields[k++] = "#peers", fields[k++] = vals[0];
	fields[k++] = "#dropped", fields[k++] = vals[1];
	o = (size_t)snprintf(text, cap, " peers=%s dropped=%s", vals[0], vals[1]);
	for (int r = 0; r < PL_DROP_REASONS; r++) {
		static const char *const names[PL_DROP_REASONS] = {
			"#drop_oversize", "#drop_queue", "#drop_limit", "#drop_error",
			"#drop_rcvbuf"
		};
		snprintf(vals[r + 2], 24, "%llu", (unsigned long long)st->dropped[r]);
		fields[k++] = names[r], fields[k++] = vals[r + 2];
		o += (size_t)snprintf(text + o, cap - o, " %s=%s", names[r] + 1, vals[r + 2]);
	}
	fields[k] = NULL;
}

static void print_stats(const struct pl_server_stats *st, int dgram)
{
	char text[768], vals[PL_CLOSE_REASONS + 2 + PL_DROP_REASONS + 2][24];
	char names[PL_CLOSE_REASONS][24];
	const char *fields[2 * (PL_CLOSE_REASONS + 2 + PL_DROP_REASONS + 2) + 1];
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
	if (dgram)
		dgram_stats(st, text + o, sizeof(text) - o, fields + k, vals + PL_CLOSE_REASONS + 2);
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

/* TLS options need a tls: listener, and a tls: listener needs a certificate. */
static void check_tls(int argc, char **argv, struct opts *o)
{
	int any = 0, tls;

	for (int i = optind; i < argc; i++) {
		cli_tls_strip(argv[i], &tls);
		any |= tls;
	}
	if (!any && o->tls_opts.given)
		cli_usage_error("--tls-* options given, but no tls: listener (tls:127.0.0.1:7443)");
	if (any)
		o->tls = cli_tls_context(&o->tls_opts, 1);
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
		{ "version", 'V', no_argument, 0 },          { "allow", 0, required_argument, CLI_ACL_ALLOW },
		{ "deny", 0, required_argument, CLI_ACL_DENY }, { "allow-uid", 0, required_argument, CLI_ACL_UID },
		{ "allow-gid", 0, required_argument, CLI_ACL_GID }, { 0 },
	};
	struct cli_getopt g = { 0 }; /* zeroed for cppcheck: cli_getopt_init fills it */
	const char *reply = NULL;
	int ch;

	cli_getopt_init(&g, opts, cli_tls_server_opts);
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
		default:
			if (!cli_tls_option(&o->tls_opts, ch, optarg) &&
			    !cli_acl_option(&o->acl, ch, optarg))
				cli_bad_option(ch, argv, g.longs);
		}
	}
	check_tls(argc, argv, o);
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
static void print_threads(const struct pl_server_stats *each, int n)
{
	char text[MAX_THREADS * 21 + 32], list[MAX_THREADS * 21 + 4];
	size_t o = (size_t)snprintf(text, sizeof(text), "threads: accepted"), l = 1;

	list[0] = '[';
	for (int i = 0; i < n; i++) {
		unsigned long long a = each[i].accepted;
		o += (size_t)snprintf(text + o, sizeof(text) - o, " %llu", a);
		l += (size_t)snprintf(list + l, sizeof(list) - l, "%s%llu", i ? "," : "", a);
	}
	snprintf(list + l, sizeof(list) - l, "]");
	log_event(0, "threads", (const char *[]){ "#accepted", list, NULL }, "%s", text);
}

/* "listening on" waits until every thread runs: whoever reads it may count
 * the threads or signal at once. */
static int remember(struct opts *o, const struct pl_addr *bound, int tls)
{
	struct shown *p = realloc(o->shown, (size_t)(o->nshown + 1) * sizeof(*p));

	if (!p) {
		cli_warn("listen: %s", strerror(ENOMEM));
		return -1;
	}
	o->shown = p;
	o->shown[o->nshown++] = (struct shown){ *bound, tls };
	o->dgram |= bound->sock == PL_SOCK_DGRAM;
	return 0;
}

static void announce(struct opts *o)
{
	for (int i = 0; i < o->nshown; i++) {
		char a[PL_ADDR_TEXT_MAX + 8];
		snprintf(a, sizeof(a), "%s%s", o->shown[i].tls ? "tls:" : "",
			 cli_addr_str(&o->shown[i].a));
		log_event(0, "listening", (const char *[]){ "addr", a, NULL }, "listening on %s", a);
	}
	free(o->shown);
	o->shown = NULL;
	if (o->verbose && o->activated)
		log_event(0, "socket_activation", NULL, "socket activation: %d listener%s from systemd",
			  o->activated, o->activated == 1 ? "" : "s");
}

/* systemd socket activation (sd_listen_fds(3)): every loop serves each
 * listener passed.  Returns how many were taken, or -1. */
static int activated_listeners(struct opts *o)
{
	int bad = -1, n = pl_listen_activated(&bad), r;
	struct pl_addr bound;
	unsigned failed;

	if (n == -EINVAL)
		cli_warn("socket activation: LISTEN_FDS='%s' is not a number of descriptors",
			 getenv("LISTEN_FDS"));
	else if (n == -ENOTSOCK)
		cli_warn("socket activation: fd %d is not a listening socket", bad);
	else if (n < 0)
		cli_warn("socket activation: %s", strerror(-n));
	if (n < 0)
		return -1;
	for (int fd = PL_LISTEN_FDS_START; fd < PL_LISTEN_FDS_START + n; fd++) {
		if ((r = pl_group_adopt_fd(o->g, fd, &failed)) < 0) {
			cli_warn("listener for thread %u: %s", failed, strerror(-r));
			return -1;
		}
		if (pl_addr_local(fd, &bound) == 0 && remember(o, &bound, 0) < 0)
			return -1;
	}
	o->activated = n;
	return n;
}

/* Says which loop's listener on a failed, and why. */
static void listen_failed(struct pl_addr a, const struct pl_addr *bound, unsigned failed, int r)
{
	if (failed == 0) {
		cli_warn("listen on %s: %s", cli_addr_str(&a),
			 r == -EEXIST ? "File exists and is not a socket" : strerror(-r));
	} else if (a.kind != PL_ADDR_IP4 && a.kind != PL_ADDR_IP6 && a.kind != PL_ADDR_ANY) {
		cli_warn("listener for thread %u: %s", failed, strerror(-r));
	} else {
		a.port = bound->port; /* the others join the port loop 0 got */
		cli_warn("listen on %s for thread %u: %s", cli_addr_str(&a), failed, strerror(-r));
	}
}

static int open_listeners(int argc, char **argv, struct opts *o, int inherited)
{
	char port[8], *def[] = { port }; /* every interface */
	char **addrs = optind < argc ? argv + optind : def;
	int n = optind < argc ? argc - optind : inherited ? 0 : 1;
	struct pl_listen_opts lo = { .unix_mode = o->unix_mode };

	snprintf(port, sizeof(port), ":%d", CLI_DEFAULT_PORT);
	for (int i = 0; i < n; i++) {
		struct pl_addr a, bound;
		unsigned failed;
		int r, tls;
		const char *text = cli_tls_strip(addrs[i], &tls);

		cli_addr(&a, text, CLI_DEFAULT_PORT, PL_ADDR_PASSIVE);
		if (tls && a.sock != PL_SOCK_STREAM)
			cli_usage_error("bad address '%s': tls: is for TCP and unix: addresses", addrs[i]);
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
		r = pl_group_listen_tls(o->g, &a, &lo, tls ? o->tls : NULL, &bound, &failed);
		if (r < 0) {
			listen_failed(a, &bound, failed, r);
			return -1;
		}
		if (remember(o, &bound, tls) < 0)
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
	struct pl_server_stats st, each[MAX_THREADS];
	int r, rt;

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
	o.cfg.acl = o.acl.acl;
	/* with threads the limits are the whole server's: the group shares them */
	if ((r = pl_group_new((unsigned)o.threads, &o.cfg, &o.g)) < 0)
		cli_die(1, "event loop: %s", strerror(-r));
	loop = pl_group_loop(o.g, 0);
	for (int i = 0; i < o.threads; i++) {
		pl_loop_set_busy_poll(pl_group_loop(o.g, (unsigned)i), o.busy_poll_us);
		/* a pipe or file gets each iteration's lines at its end, not per 4 KiB */
		if (!o.quiet)
			pl_loop_add_post(pl_group_loop(o.g, (unsigned)i), flush_stdout, NULL);
	}
	/* before "listening on": a test may signal as soon as it reads that line;
	 * before the threads start: they inherit these signals blocked */
	pl_loop_signal(loop, SIGINT, on_signal, &o);
	pl_loop_signal(loop, SIGTERM, on_signal, &o);
	pl_loop_signal(loop, SIGHUP, on_hup, &o);
	if ((r = activated_listeners(&o)) < 0 || open_listeners(argc, argv, &o, r) < 0 ||
	    (r = pl_group_start(o.g)) < 0) {
		if (r < 0 && r != -1)
			cli_warn("threads: %s", strerror(-r));
		pl_group_free(o.g);
		pl_tls_free(o.tls);
		cli_acl_free(&o.acl);
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
	rt = pl_group_finish(o.g, &st, each);
	if (rt < 0 && r == 0)
		cli_warn("event loop: %s", strerror(-rt));
	free(o.reply);
	pl_tls_free(o.tls);
	cli_acl_free(&o.acl);
	if (o.verbose)
		print_stats(&st, o.dgram);
	if (o.verbose && o.threads > 1)
		print_threads(each, o.threads);
	fflush(stdout);
	return r < 0 || rt < 0 ? 1 : 0;
}
