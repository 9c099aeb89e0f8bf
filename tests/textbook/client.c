/*
 * The textbook chapter's client, translated to C as written: write "hello",
 * one read, print.  Only the port comes from argv (the chapter uses 1234).
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
	exit(1);
}

int main(int argc, char **argv)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket()");

	struct sockaddr_in addr = { 0 };
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)(argc > 1 ? atoi(argv[1]) : 1234));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (const struct sockaddr *)&addr, sizeof(addr)))
		die("connect");

	char msg[] = "hello";
	if (write(fd, msg, strlen(msg)) < 0)
		die("write");

	char rbuf[64] = { 0 };
	ssize_t n = read(fd, rbuf, sizeof(rbuf) - 1);
	if (n < 0)
		die("read");
	printf("server says: %s\n", rbuf);
	close(fd);
	return 0;
}
