/*
 * udpfloor - the cheapest possible UDP server, as a baseline: one socket,
 * one blocking recvfrom and one sendto per datagram, the loop every
 * textbook shows.  Each datagram is a request; the reply is "world", or
 * the datagram itself with --echo.  No batching, no options beyond these:
 *   udpfloor [--echo] [PORT]      prints "listening on udp:127.0.0.1:PORT"
 * On SIGINT or SIGTERM it prints "received N, sent N" and exits 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int signo)
{
	(void)signo;
	stop = 1;
}

int main(int argc, char **argv)
{
	static unsigned char buf[65536];
	int echo = 0, fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	unsigned long long received = 0, sent = 0;
	/* no SA_RESTART: the signal must end the blocking recvfrom */
	struct sigaction sa = { .sa_handler = on_signal };

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--echo") == 0)
			echo = 1;
		else
			a.sin_port = htons((uint16_t)atoi(argv[i]));
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("udpfloor: bind");
		return 1;
	}
	getsockname(fd, (struct sockaddr *)&a, &alen);
	fprintf(stderr, "listening on udp:127.0.0.1:%u\n", ntohs(a.sin_port));
	while (!stop) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &plen);
		if (n < 0)
			continue; /* EINTR (then stop is set), or an ICMP error of an earlier reply */
		received++;
		if (sendto(fd, echo ? buf : (const unsigned char *)"world", echo ? (size_t)n : 5, 0,
			   (struct sockaddr *)&peer, plen) >= 0)
			sent++;
	}
	fprintf(stderr, "received %llu, sent %llu\n", received, sent);
	return 0;
}
