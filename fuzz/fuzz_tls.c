/*
 * fuzz_tls.c - random bytes as the client's side of a handshake, fed to
 * the server's TLS transport (tls_io.c) over a socketpair: whatever the
 * peer sends, the transport answers -EAGAIN, data, 0 or an error, never
 * a crash, a hang or a leak.  Seeded with real ClientHellos
 * (corpus/tls).  Built without OpenSSL, it has nothing to fuzz.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "parley/tls.h"

#ifdef PL_HAVE_TLS
#include "../tests/tls_keys.h"

static struct pl_tls *server;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/fuzz_tls.XXXXXX", cert[64], key[64], err[256];
	struct pl_tls_cert pair = { cert, key };
	struct pl_tls_config cfg = { .server = 1, .certs = &pair, .ncerts = 1, .alpn = "h2,x" };

	(void)argc, (void)argv;
	if (!mkdtemp(dir))
		abort();
	snprintf(cert, sizeof(cert), "%s/c.pem", dir);
	snprintf(key, sizeof(key), "%s/c.key", dir);
	if (tls_keys_make(cert, key, "localhost", "DNS:localhost", 1) < 0 ||
	    pl_tls_new(&cfg, &server, err, sizeof(err)) < 0)
		abort();
	unlink(cert), unlink(key), rmdir(dir);
	return 0;
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
#ifdef PL_HAVE_TLS
	struct pl_transport *tp;
	char buf[4096];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (pl_tls_transport_new(server, sv[0], NULL, &tp) < 0)
		abort();
	if (n && write(sv[1], data, n) != (ssize_t)n)
		abort();
	shutdown(sv[1], SHUT_WR);
	/* every call moves forward or fails: a bound, not a hope */
	for (int i = 0; i < 64; i++) {
		ssize_t r = tp->ops->read(tp, sv[0], buf, sizeof(buf));
		while (read(sv[1], buf, sizeof(buf)) > 0)
			; /* what the server answered, so it never fills up */
		if (r <= 0 && r != -EAGAIN)
			break;
	}
	(void)pl_tls_error(tp);
	tp->ops->free(tp);
	close(sv[0]);
	close(sv[1]);
#else
	(void)data, (void)n;
#endif
	return 0;
}
