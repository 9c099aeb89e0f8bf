/* echo-server - the smallest useful parley server: every message comes back.
 *   echo-server [ADDRESS]     (default 127.0.0.1:7000; prints the bound address)
 * Stop it with Ctrl-C: it finishes the replies in flight, then exits. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <parley/parley.h>

static void on_request(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)arg;
	pl_conn_reply(c, msg, len); /* queued; the library writes it */
}

static void on_stop(struct pl_loop *loop, int signo, void *server)
{
	(void)loop;
	(void)signo;
	pl_server_shutdown(server); /* the loop returns once every client is done */
}

int main(int argc, char **argv)
{
	struct pl_server_config cfg = { .proto = PL_PROTO_LEN, .on_request = on_request };
	struct pl_listen_opts lo = { .nonblock = 1 };
	struct pl_addr addr, bound;
	struct pl_loop *loop;
	struct pl_server *srv;
	const char *why;
	char text[PL_ADDR_TEXT_MAX];
	int fd;

	signal(SIGPIPE, SIG_IGN);
	if (pl_addr_parse(&addr, argc > 1 ? argv[1] : "127.0.0.1:7000", 7000, PL_ADDR_PASSIVE, &why) < 0) {
		fprintf(stderr, "echo-server: bad address: %s\n", why);
		return 2;
	}
	if ((fd = pl_listen(&addr, &lo)) < 0) {
		fprintf(stderr, "echo-server: listen: %s\n", strerror(-fd));
		return 1;
	}
	if (pl_loop_new(&loop) < 0 || pl_server_new(loop, &cfg, &srv) < 0 ||
	    pl_server_listen_fd(srv, fd) < 0)
		return 1;
	pl_loop_signal(loop, SIGINT, on_stop, srv);
	pl_loop_signal(loop, SIGTERM, on_stop, srv);
	pl_addr_local(fd, &bound);
	pl_addr_format(&bound, text, sizeof(text));
	fprintf(stderr, "listening on %s\n", text);
	pl_loop_run(loop);
	pl_server_free(srv);
	pl_loop_free(loop);
	return 0;
}
