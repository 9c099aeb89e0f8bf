/* unit_addr.c - address parsing, formatting, conversions, resolution. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

#include "parley/addr.h"
#include "parley/error.h"
#include "parley/sock.h"
#include "unit.h"

static void roundtrip(const char *text, unsigned flags, const char *want)
{
	struct pl_addr a, b;
	char buf[PL_ADDR_TEXT_MAX];
	const char *why = NULL;

	if (pl_addr_parse(&a, text, 1234, flags, &why) != 0) {
		fprintf(stderr, "parse '%s' failed: %s\n", text, why);
		unit_fail();
	}
	pl_addr_format(&a, buf, sizeof(buf));
	CHECK_STR(buf, want);
	CHECK(pl_addr_parse(&b, buf, 1234, flags, NULL) == 0);
	CHECK(pl_addr_equal(&a, &b));
}

static void test_addr_parse_format_roundtrip(void)
{
	roundtrip("127.0.0.1:1234", 0, "127.0.0.1:1234");
	roundtrip("[::1]:1234", 0, "[::1]:1234");
	roundtrip("[fe80::1%lo]:99", 0, "[fe80::1%lo]:99");
	roundtrip("[fe80::1%1]:99", 0, "[fe80::1%lo]:99");
	roundtrip("localhost:80", 0, "localhost:80");
	roundtrip("localhost", 0, "localhost:1234");
	roundtrip("1234", PL_ADDR_PASSIVE, ":1234");
	roundtrip(":0", PL_ADDR_PASSIVE, ":0");
	roundtrip("0.0.0.0:0", PL_ADDR_PASSIVE, "0.0.0.0:0");
	roundtrip("[::]:65535", PL_ADDR_PASSIVE, "[::]:65535");
	roundtrip("::1", 0, "[::1]:1234");
	roundtrip("unix:/tmp/x.sock", 0, "unix:/tmp/x.sock");
	roundtrip("unix:@parley-test", 0, "unix:@parley-test");
	roundtrip("[2001:db8::a:b]:7", 0, "[2001:db8::a:b]:7");
	roundtrip("[::ffff:127.0.0.1]:80", 0, "[::ffff:127.0.0.1]:80");
	roundtrip("[::ffff:10.1.2.3]:0", PL_ADDR_PASSIVE, "[::ffff:10.1.2.3]:0");
	roundtrip("unix:///tmp/x.sock", 0, "unix:///tmp/x.sock"); /* a path, not a URL */
}

/* Datagram and packet sockets: the prefix carries the socket type, and
 * comes back out of pl_addr_format, so `listening on` can be handed to a
 * client as it is. */
static void test_addr_dgram_spellings_roundtrip(void)
{
	roundtrip("udp:127.0.0.1:7000", 0, "udp:127.0.0.1:7000");
	roundtrip("udp:[::1]:7000", 0, "udp:[::1]:7000");
	roundtrip("udp:[fe80::1%lo]:9", 0, "udp:[fe80::1%lo]:9");
	roundtrip("udp:7000", PL_ADDR_PASSIVE, "udp:7000");
	roundtrip("udp::7000", PL_ADDR_PASSIVE, "udp:7000");
	roundtrip("udp:0", PL_ADDR_PASSIVE, "udp:0");
	roundtrip("udp:localhost:53", 0, "udp:localhost:53");
	roundtrip("udp:localhost", 0, "udp:localhost:1234");
	roundtrip("udp:::1", 0, "udp:[::1]:1234");
	roundtrip("unixgram:/tmp/x.sock", 0, "unixgram:/tmp/x.sock");
	roundtrip("unixgram:@parley", 0, "unixgram:@parley");
	roundtrip("unixgram:@a\\x00b", 0, "unixgram:@a\\x00b");
	roundtrip("seqpacket:/tmp/x.sock", 0, "seqpacket:/tmp/x.sock");
	roundtrip("seqpacket:@parley", 0, "seqpacket:@parley");
}

static void test_addr_dgram_fields(void)
{
	struct pl_addr a, b;

	CHECK(pl_addr_parse(&a, "udp:127.0.0.1:7000", 0, 0, NULL) == 0);
	CHECK_EQ_INT(a.kind, PL_ADDR_IP4);
	CHECK_EQ_INT(a.sock, PL_SOCK_DGRAM);
	CHECK_EQ_INT(a.port, 7000);
	CHECK_EQ_INT(pl_addr_sock_type(&a), SOCK_DGRAM);
	CHECK_EQ_INT(pl_addr_sa_family(&a), AF_INET);
	CHECK(pl_addr_parse(&b, "127.0.0.1:7000", 0, 0, NULL) == 0);
	CHECK_EQ_INT(b.sock, PL_SOCK_STREAM);
	CHECK_EQ_INT(pl_addr_sock_type(&b), SOCK_STREAM);
	CHECK(!pl_addr_equal(&a, &b)); /* same IP and port, another socket */
	CHECK(pl_addr_parse(&a, "udp:7000", 0, PL_ADDR_PASSIVE, NULL) == 0);
	CHECK_EQ_INT(a.kind, PL_ADDR_ANY);
	CHECK_EQ_INT(a.sock, PL_SOCK_DGRAM);
	CHECK(pl_addr_parse(&a, "unixgram:@n", 0, 0, NULL) == 0);
	CHECK_EQ_INT(a.kind, PL_ADDR_ABSTRACT);
	CHECK_EQ_INT(a.sock, PL_SOCK_DGRAM);
	CHECK_EQ_INT(pl_addr_sa_family(&a), AF_UNIX);
	CHECK(pl_addr_parse(&a, "seqpacket:/p", 0, 0, NULL) == 0);
	CHECK_EQ_INT(a.kind, PL_ADDR_UNIX);
	CHECK_EQ_INT(a.sock, PL_SOCK_SEQPACKET);
	CHECK_EQ_INT(pl_addr_sock_type(&a), SOCK_SEQPACKET);
}

/* [::ffff:a.b.c.d] is a valid IPv6 literal for an IPv4 address: it keeps its
 * text, and its socket is IPv4, so a server can listen on it (an IPv6 socket
 * with IPV6_V6ONLY, as explicit IPv6 listeners have, refused it: EINVAL) and a
 * client reach it. */
static void test_addr_v4_mapped_listens_and_connects(void)
{
	struct pl_addr a, bound;
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	socklen_t len;
	char buf[PL_ADDR_TEXT_MAX];
	const char *why = NULL;
	int lfd, cfd, afd;

	CHECK(pl_addr_parse(&a, "[::ffff:127.0.0.1]:0", 0, PL_ADDR_PASSIVE, &why) == 0);
	CHECK_EQ_INT(a.kind, PL_ADDR_IP6);
	CHECK_EQ_INT(pl_addr_sa_family(&a), AF_INET);
	CHECK(pl_addr_to_sockaddr(&a, &ss, &len) == 0);
	CHECK_EQ_INT(ss.ss_family, AF_INET);
	CHECK_EQ_INT(len, sizeof(struct sockaddr_in));
	CHECK(s4->sin_addr.s_addr == htonl(INADDR_LOOPBACK));

	lfd = pl_listen(&a, NULL);
	if (lfd < 0) {
		fprintf(stderr, "listen on [::ffff:127.0.0.1]:0: %s\n", strerror(-lfd));
		unit_fail();
	}
	CHECK(pl_addr_local(lfd, &bound) == 0);
	a.port = bound.port;
	pl_addr_format(&a, buf, sizeof(buf));
	CHECK(strncmp(buf, "[::ffff:127.0.0.1]:", 19) == 0 && a.port != 0);
	cfd = pl_connect(&a, 1, NULL, NULL);
	CHECK(cfd >= 0);
	afd = accept(lfd, NULL, NULL);
	CHECK(afd >= 0);
	if (afd >= 0)
		close(afd);
	if (cfd >= 0)
		close(cfd);
	close(lfd);
}

/* An unnamed Unix socket (socketpair, or a client that never bound) has an
 * address of sun_family alone; it prints as unix:(unnamed), not as "unix:",
 * which reads as a truncated path (and "close unix:: eof" in a log). */
static void test_addr_unnamed_unix_formats(void)
{
	struct sockaddr_un su;
	struct pl_addr a;
	char buf[PL_ADDR_TEXT_MAX];
	int sv[2];

	memset(&su, 0, sizeof(su));
	su.sun_family = AF_UNIX;
	/* what Linux returns for an unnamed socket: the family alone */
	CHECK(pl_addr_from_sockaddr(&a, (struct sockaddr *)&su, sizeof(sa_family_t)) == 0);
	CHECK_EQ_INT(a.kind, PL_ADDR_UNIX);
	CHECK_EQ_INT(a.path_len, 0);
	pl_addr_format(&a, buf, sizeof(buf));
	CHECK_STR(buf, "unix:(unnamed)");
	/* an abstract name of length 0 (sun_path holds the leading NUL alone) */
	CHECK(pl_addr_from_sockaddr(&a, (struct sockaddr *)&su, sizeof(sa_family_t) + 1) == 0);
	CHECK_EQ_INT(a.kind, PL_ADDR_ABSTRACT);
	CHECK_EQ_INT(a.path_len, 0);
	pl_addr_format(&a, buf, sizeof(buf));
	CHECK_STR(buf, "unix:(unnamed)");
	/* and a real one */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(pl_addr_peer(sv[0], &a) == 0);
	pl_addr_format(&a, buf, sizeof(buf));
	CHECK_STR(buf, "unix:(unnamed)");
	close(sv[0]);
	close(sv[1]);
}

static void test_addr_fields(void)
{
	struct pl_addr a;

	CHECK(pl_addr_parse(&a, "10.1.2.3:80", 0, 0, NULL) == 0);
	CHECK_EQ_INT(a.kind, PL_ADDR_IP4);
	CHECK_EQ_INT(a.port, 80);
	CHECK(a.ip[0] == 10 && a.ip[3] == 3);
	CHECK(pl_addr_parse(&a, "[fe80::1%lo]:1", 0, 0, NULL) == 0);
	CHECK_EQ_INT(a.kind, PL_ADDR_IP6);
	CHECK_EQ_INT(a.scope_id, 1);
	CHECK(pl_addr_parse(&a, "unix:@abc", 0, 0, NULL) == 0);
	CHECK_EQ_INT(a.kind, PL_ADDR_ABSTRACT);
	CHECK_EQ_INT(a.path_len, 3);
	CHECK(pl_addr_parse(&a, ":5", 0, PL_ADDR_PASSIVE, NULL) == 0);
	CHECK_EQ_INT(a.kind, PL_ADDR_ANY);
}

static void reject(const char *text, unsigned flags, const char *want_why)
{
	struct pl_addr a;
	const char *why = NULL;
	int r = pl_addr_parse(&a, text, 1234, flags, &why);

	if (r != -EINVAL || !why || strcmp(why, want_why) != 0) {
		fprintf(stderr, "'%s': r=%d why=%s, expected \"%s\"\n", text, r, why ? why : "(null)",
			want_why);
		unit_fail();
	}
}

static void test_addr_rejections(void)
{
	char longpath[200] = "unix:/";

	reject("", 0, "empty address");
	reject("127.0.0.1:0", 0, "port 0 is only for listening");
	reject("127.0.0.1:65536", 0, "port above 65535");
	reject("127.0.0.1:999999", 0, "port above 65535");
	reject("127.0.0.1:12x", 0, "port is not a number");
	reject("127.0.0.1:", 0, "missing port after ':'");
	reject("[::1]:80x", 0, "port is not a number");
	reject("[::1]x", 0, "junk after ']' (expected :port)");
	reject("[::1", 0, "unterminated '[' in address");
	reject("[1.2.3.4]:5", 0, "not an IPv6 address inside [ ]");
	reject("[fe80::1%nosuchif0]:5", 0, "unknown network interface in IPv6 scope");
	reject("1234", 0, "a port alone is only for listening");
	reject("unix:", 0, "empty Unix socket path");
	reject("bad host!:80", 0, "invalid character in host name");
	reject("http://host:80", 0, "a URL is not an address: use HOST:PORT");
	reject("tcp://127.0.0.1:5", 0, "a URL is not an address: use HOST:PORT");
	reject("http://[::1]:80/", 0, "a URL is not an address: use HOST:PORT");
	memset(longpath + 6, 'a', 150);
	longpath[156] = '\0';
	reject(longpath, 0, "Unix socket path longer than sun_path (107 bytes)");
	reject("udp:", 0, "empty address");
	reject("udp:7000", 0, "a port alone is only for listening");
	reject("udp:127.0.0.1:0", 0, "port 0 is only for listening");
	reject("udp:unix:/x", 0, "udp: takes HOST:PORT; a Unix datagram socket is unixgram:PATH");
	reject("udp:udp:80", 0, "a host named udp, unixgram or seqpacket reads as that prefix; give its address");
	reject("unixgram:", 0, "empty Unix socket path");
	reject("seqpacket:", 0, "empty Unix socket path");
	reject("seqpacket:@", 0, "empty Unix socket path");
	reject("upd:127.0.0.1:7000", 0, "unknown prefix (udp:, unix:, unixgram: or seqpacket:; TCP has none)");
	reject("TCP:[::1]:7000", 0, "unknown prefix (udp:, unix:, unixgram: or seqpacket:; TCP has none)");
	reject("fe80:1:2:3:4:5:6:7:8", 0, "IPv6 address with a port needs brackets: [addr]:port");
	reject("udp://host:53", 0, "a URL is not an address: use HOST:PORT");
	/* these hosts would format as a prefix and read back as another socket */
	reject("udp", 0, "a host named udp, unixgram or seqpacket reads as that prefix; give its address");
	reject("unixgram", 0, "a host named udp, unixgram or seqpacket reads as that prefix; give its address");
	reject("seqpacket:", PL_ADDR_PASSIVE, "empty Unix socket path");
}

static void test_addr_sockaddr_roundtrip(void)
{
	const char *texts[] = { "127.0.0.1:1", "[::1]:2", "[fe80::2%lo]:3", "unix:/a/b", "unix:@x",
				"[::ffff:127.0.0.1]:4" };

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct pl_addr a, b;
		struct sockaddr_storage ss;
		socklen_t len;
		CHECK(pl_addr_parse(&a, texts[i], 0, 0, NULL) == 0);
		CHECK(pl_addr_to_sockaddr(&a, &ss, &len) == 0);
		CHECK(pl_addr_from_sockaddr(&b, (struct sockaddr *)&ss, len) == 0);
		/* an IPv4-mapped address comes back as the IPv4 address its socket has */
		if (a.kind == PL_ADDR_IP6 && pl_addr_sa_family(&a) == AF_INET) {
			CHECK_EQ_INT(b.kind, PL_ADDR_IP4);
			CHECK(b.port == a.port && memcmp(b.ip, a.ip + 12, 4) == 0);
			continue;
		}
		CHECK(pl_addr_equal(&a, &b));
	}
}

static void test_addr_abstract_sockaddr_layout(void)
{
	struct pl_addr a;
	struct sockaddr_storage ss;
	socklen_t len;
	struct sockaddr_un *su = (struct sockaddr_un *)&ss;

	CHECK(pl_addr_parse(&a, "unix:@name", 0, 0, NULL) == 0);
	CHECK(pl_addr_to_sockaddr(&a, &ss, &len) == 0);
	CHECK(su->sun_path[0] == '\0' && memcmp(su->sun_path + 1, "name", 4) == 0);
	CHECK_EQ_INT(len, offsetof(struct sockaddr_un, sun_path) + 5);
}

static void test_addr_resolve_keeps_order(void)
{
	struct pl_addr a, out[8];
	size_t n = 0;

	CHECK(pl_addr_parse(&a, "127.0.0.1:5", 0, 0, NULL) == 0);
	CHECK(pl_addr_resolve(&a, PL_FAMILY_ANY, out, 8, &n) == 0);
	CHECK_EQ_INT(n, 1);
	CHECK(pl_addr_equal(&a, &out[0]));
	CHECK(pl_addr_resolve(&a, PL_FAMILY_6, out, 8, &n) == -EAFNOSUPPORT);
	CHECK(pl_addr_parse(&a, "localhost:7", 0, 0, NULL) == 0);
	CHECK(pl_addr_resolve(&a, PL_FAMILY_4, out, 8, &n) == 0);
	CHECK(n >= 1);
	CHECK(out[0].kind == PL_ADDR_IP4 && out[0].port == 7);
	CHECK(pl_addr_parse(&a, "no-such-host.invalid:7", 0, 0, NULL) == 0);
	CHECK(pl_addr_resolve(&a, PL_FAMILY_ANY, out, 8, &n) < 0);
}

/* Resolver errors never collide with -errno: glibc's EAI_NONAME is -2,
 * the same number as -ENOENT, and used to come back as it was. */
static void test_addr_resolver_errors_have_their_own_space(void)
{
	int nn = pl_err_from_eai(EAI_NONAME, 0), again = pl_err_from_eai(EAI_AGAIN, 0);

	CHECK(nn != -ENOENT && nn < -4095 && pl_err_is_eai(nn));
	CHECK(again != nn && pl_err_is_eai(again));
	CHECK(!pl_err_is_eai(-ENOENT) && !pl_err_is_eai(-4095));
	CHECK_STR(pl_strerror(nn), gai_strerror(EAI_NONAME));
	CHECK_STR(pl_strerror(-ENOENT), strerror(ENOENT));
	CHECK_EQ_INT(pl_err_from_eai(EAI_SYSTEM, EMFILE), -EMFILE);
	CHECK_STR(pl_addr_resolve_strerror(nn), gai_strerror(EAI_NONAME));
	CHECK_STR(pl_addr_resolve_strerror(-EAFNOSUPPORT), "no address of the requested family");
}

/* The socket's own type comes back from getsockname/getpeername, so the
 * bound address of a UDP listener prints as udp:...; resolving keeps it. */
static void test_addr_dgram_local_peer_and_resolve(void)
{
	struct pl_addr a, out[4];
	char buf[PL_ADDR_TEXT_MAX];
	size_t n = 0;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int sv[2];

	CHECK(fd >= 0);
	CHECK(pl_addr_local(fd, &a) == 0);
	pl_addr_format(&a, buf, sizeof(buf));
	CHECK_STR(buf, "udp:0.0.0.0:0");
	close(fd);
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	CHECK(pl_addr_peer(sv[0], &a) == 0);
	pl_addr_format(&a, buf, sizeof(buf));
	CHECK_STR(buf, "seqpacket:(unnamed)");
	close(sv[0]);
	close(sv[1]);
	CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
	CHECK(pl_addr_local(sv[0], &a) == 0);
	pl_addr_format(&a, buf, sizeof(buf));
	CHECK_STR(buf, "unixgram:(unnamed)");
	close(sv[0]);
	close(sv[1]);
	CHECK(pl_addr_parse(&a, "udp:localhost:53", 0, 0, NULL) == 0);
	CHECK(pl_addr_resolve(&a, PL_FAMILY_4, out, 4, &n) == 0);
	CHECK(n >= 1 && out[0].kind == PL_ADDR_IP4 && out[0].sock == PL_SOCK_DGRAM);
	CHECK(pl_addr_parse(&a, "udp:[::1]:53", 0, 0, NULL) == 0);
	CHECK(pl_addr_resolve(&a, PL_FAMILY_ANY, out, 4, &n) == 0);
	CHECK(n == 1 && out[0].sock == PL_SOCK_DGRAM);
}

/* Opens a listener for text, connects to what it bound, and checks one
 * datagram or packet goes through with its socket type. */
static void listen_connect(const char *text, int type)
{
	struct pl_addr a, bound;
	char buf[PL_ADDR_TEXT_MAX], got[8];
	int lfd, cfd, sfd, t = 0;
	socklen_t tl = sizeof(t);

	CHECK(pl_addr_parse(&a, text, 0, PL_ADDR_PASSIVE, NULL) == 0);
	lfd = pl_listen(&a, NULL);
	if (lfd < 0) {
		fprintf(stderr, "listen on %s: %s\n", text, strerror(-lfd));
		unit_fail();
	}
	CHECK(getsockopt(lfd, SOL_SOCKET, SO_TYPE, &t, &tl) == 0 && t == type);
	CHECK(pl_addr_local(lfd, &bound) == 0);
	CHECK_EQ_INT(bound.sock, a.sock);
	if (bound.kind == PL_ADDR_IP6 && a.kind == PL_ADDR_ANY)
		CHECK(pl_addr_parse(&bound, "udp:[::1]:0", 0, PL_ADDR_PASSIVE, NULL) == 0 &&
		      pl_addr_local(lfd, &a) == 0 && (bound.port = a.port) != 0);
	pl_addr_format(&bound, buf, sizeof(buf));
	cfd = pl_connect(&bound, 1, NULL, NULL);
	if (cfd < 0) {
		fprintf(stderr, "connect to %s: %s\n", buf, strerror(-cfd));
		unit_fail();
	}
	CHECK(send(cfd, "hi", 2, 0) == 2);
	sfd = type == SOCK_DGRAM ? lfd : accept(lfd, NULL, NULL);
	CHECK(sfd >= 0);
	CHECK(recv(sfd, got, sizeof(got), 0) == 2 && memcmp(got, "hi", 2) == 0);
	if (type == SOCK_DGRAM) {
		/* the client has an address to answer to (autobound when Unix) */
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);
		CHECK(getsockname(cfd, (struct sockaddr *)&peer, &pl) == 0);
		CHECK(sendto(lfd, "ok", 2, 0, (struct sockaddr *)&peer, pl) == 2);
		CHECK(recv(cfd, got, sizeof(got), 0) == 2 && memcmp(got, "ok", 2) == 0);
	} else {
		close(sfd);
	}
	close(cfd);
	close(lfd);
}

static void test_addr_dgram_listen_and_connect(void)
{
	char path[64];

	listen_connect("udp:127.0.0.1:0", SOCK_DGRAM);
	listen_connect("udp:[::1]:0", SOCK_DGRAM);
	listen_connect("udp:0", SOCK_DGRAM);
	listen_connect("unixgram:@parley-unit-dgram", SOCK_DGRAM);
	listen_connect("seqpacket:@parley-unit-seqpacket", SOCK_SEQPACKET);
	snprintf(path, sizeof(path), "unixgram:/tmp/parley-unit-%d.sock", (int)getpid());
	listen_connect(path, SOCK_DGRAM);
	/* the stale file of the last one is taken over, as for unix: */
	listen_connect(path, SOCK_DGRAM);
	unlink(path + 9);
}

static const struct unit_test tests[] = {
	T(test_addr_parse_format_roundtrip), T(test_addr_fields), T(test_addr_dgram_spellings_roundtrip),
	T(test_addr_dgram_fields), T(test_addr_dgram_local_peer_and_resolve),
	T(test_addr_dgram_listen_and_connect), T(test_addr_rejections),
	T(test_addr_sockaddr_roundtrip), T(test_addr_abstract_sockaddr_layout),
	T(test_addr_resolve_keeps_order), T(test_addr_resolver_errors_have_their_own_space), T(test_addr_v4_mapped_listens_and_connects),
	T(test_addr_unnamed_unix_formats),
};
UNIT_MAIN(tests)
