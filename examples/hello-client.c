/* hello-client - connect, send one message, print the reply: the blocking way.
 *   hello-client ADDRESS [MESSAGE]      (MESSAGE defaults to hello) */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <parley/parley.h>

int main(int argc, char **argv)
{
	struct pl_addr addr, targets[8];
	struct pl_connect_opts co = { .timeout_ms = 5000, .stagger_ms = PL_CONNECT_STAGGER_MS };
	const char *msg = argc > 2 ? argv[2] : "hello", *why;
	struct pl_buf req = { 0 };
	struct pl_decoder dec;
	struct pl_frame reply;
	char text[PL_ESCAPE_CAP(PL_ESCAPE_LIMIT)];
	size_t n;
	int fd, r;

	if (argc < 2 || pl_addr_parse(&addr, argv[1], 1234, 0, &why) < 0) {
		fprintf(stderr, "usage: hello-client ADDRESS [MESSAGE]\n");
		return 2;
	}
	/* a name may have several addresses: pl_connect races them */
	if (pl_addr_resolve(&addr, PL_FAMILY_ANY, targets, 8, &n) < 0 ||
	    (fd = pl_connect(targets, n, &co, NULL)) < 0) {
		fprintf(stderr, "hello-client: cannot connect to %s\n", argv[1]);
		return 1;
	}
	pl_frame_append(PL_PROTO_LEN, &req, msg, strlen(msg)); /* length + bytes */
	if (pl_fd_write_full(fd, pl_buf_head(&req), pl_buf_len(&req), 5000) < 0)
		return 1;
	/* feed whatever arrives to the decoder until it holds a whole reply */
	pl_decoder_init(&dec, PL_PROTO_LEN, 0);
	while ((r = pl_decoder_next(&dec, &reply)) == 0) {
		char buf[4096];
		ssize_t got = read(fd, buf, sizeof(buf));
		if (got <= 0 || pl_decoder_feed(&dec, buf, (size_t)got) < 0) {
			fprintf(stderr, "hello-client: %s: no reply\n", argv[1]);
			return 1;
		}
	}
	if (r < 0)
		return 1;
	pl_escape(reply.msg, reply.len, PL_ESCAPE_LIMIT, text, sizeof(text)); /* never raw */
	printf("reply: %s\n", text);
	pl_decoder_free(&dec);
	pl_buf_free(&req);
	close(fd);
	return 0;
}
