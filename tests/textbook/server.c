/*
 * The textbook chapter's server, translated to C as written: one read, one
 * write, no framing, no error handling worth the name.  Only the port comes
 * from argv (the chapter hard-codes 1234) so tests can run it on a free port.
 * It is here to prove parley interoperates with it, not as an example.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *msg)
{
	perror(msg);
	abort();
}

static void do_something(int connfd)
{
	char rbuf[64] = { 0 };
	ssize_t n = read(connfd, rbuf, sizeof(rbuf) - 1);
	if (n < 0) {
		fprintf(stderr, "read() error\n");
		return;
	}
	printf("client says: %s\n", rbuf);
	fflush(stdout);

	char wbuf[] = "world";
	if (write(connfd, wbuf, strlen(wbuf)) < 0)
		fprintf(stderr, "write() error\n");
}

int main(int argc, char **argv)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket()");
	int val = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &val, sizeof(val));

	struct sockaddr_in addr = { 0 };
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)(argc > 1 ? atoi(argv[1]) : 1234));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (const struct sockaddr *)&addr, sizeof(addr)))
		die("bind()");
	if (listen(fd, SOMAXCONN))
		die("listen()");
	socklen_t alen = sizeof(addr);
	getsockname(fd, (struct sockaddr *)&addr, &alen);
	fprintf(stderr, "listening on 127.0.0.1:%u\n", ntohs(addr.sin_port));

	while (1) {
		struct sockaddr_in client_addr = { 0 };
		socklen_t addrlen = sizeof(client_addr);
		int connfd = accept(fd, (struct sockaddr *)&client_addr, &addrlen);
		if (connfd < 0)
			continue;
		do_something(connfd);
		close(connfd);
	}
}
