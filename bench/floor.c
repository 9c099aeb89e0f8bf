/*
 * floor - the cheapest possible server, as a baseline: the textbook accept
 * loop with one thread per connection, each answering pipelined len requests
 * with plain read() and write().  No event loop, no options beyond these:
 *   floor [--echo] [PORT]      prints "listening on 127.0.0.1:PORT"
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

static int echo;

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	size_t cap = 1 << 17, len = 0;
	uint8_t *in = malloc(cap), *out = malloc(cap + 16);
	ssize_t n;

	while ((n = read(fd, in + len, cap - len)) > 0) {
		size_t off = 0, olen = 0;
		len += (size_t)n;
		for (;;) {
			uint32_t m;
			if (len - off < 4)
				break;
			memcpy(&m, in + off, 4); /* little-endian host */
			if (m > cap - 4)
				goto done;
			if (len - off - 4 < m)
				break;
			const uint8_t *body = echo ? in + off : (const uint8_t *)"\5\0\0\0world";
			size_t rl = echo ? 4 + m : 9;
			if (olen + rl > cap && (write_all(fd, out, olen) < 0 || (olen = 0)))
				goto done;
			if (rl > cap) {
				if (write_all(fd, body, rl) < 0)
					goto done;
			} else {
				memcpy(out + olen, body, rl);
				olen += rl;
			}
			off += 4 + m;
		}
		if (olen && write_all(fd, out, olen) < 0)
			break;
		memmove(in, in + off, len - off);
		len -= off;
	}
done:
	close(fd);
	free(in);
	free(out);
	return NULL;
}

int main(int argc, char **argv)
{
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--echo") == 0)
			echo = 1;
		else
			a.sin_port = htons((uint16_t)atoi(argv[i]));
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, SOMAXCONN) < 0) {
		perror("floor: listen");
		return 1;
	}
	getsockname(fd, (struct sockaddr *)&a, &alen);
	fprintf(stderr, "listening on 127.0.0.1:%u\n", ntohs(a.sin_port));
	for (;;) {
		int c = accept(fd, NULL, NULL);
		pthread_t t;
		if (c < 0)
			continue;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&at, 256 * 1024);
		if (pthread_create(&t, &at, serve, (void *)(intptr_t)c) != 0)
			close(c);
		pthread_attr_destroy(&at);
	}
}
