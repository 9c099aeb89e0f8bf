/* unit_acl.c - access rules: network text, matching, precedence, credentials. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "parley/acl.h"
#include "parley/parley.h"
#include "unit.h"

/* text parses, formats as want, and want parses back to the same network */
static void net_ok(const char *text, const char *want)
{
	struct pl_acl_net n, again;
	char buf[PL_ACL_NET_TEXT_MAX];
	const char *why = NULL;

	if (pl_acl_net_parse(&n, text, &why) != 0) {
		fprintf(stderr, "parse '%s' failed: %s\n", text, why);
		unit_fail();
	}
	pl_acl_net_format(&n, buf, sizeof(buf));
	CHECK_STR(buf, want);
	CHECK(pl_acl_net_parse(&again, buf, NULL) == 0);
	CHECK(memcmp(&n, &again, sizeof(n)) == 0);
}

static void net_bad(const char *text, const char *want_why)
{
	struct pl_acl_net n;
	const char *why = NULL;

	if (pl_acl_net_parse(&n, text, &why) != -EINVAL) {
		fprintf(stderr, "'%s' parsed\n", text);
		unit_fail();
	}
	CHECK_STR(why, want_why);
}

static void test_acl_parse_ipv4(void)
{
	net_ok("10.0.0.0/8", "10.0.0.0/8");
	net_ok("192.168.1.7", "192.168.1.7/32");
	net_ok("192.168.1.7/32", "192.168.1.7/32");
	net_ok("0.0.0.0/0", "0.0.0.0/0");
	net_ok("127.0.0.2/31", "127.0.0.2/31");
	net_ok("172.16.0.0/12", "172.16.0.0/12");
	net_ok("255.255.255.255", "255.255.255.255/32");
}

static void test_acl_parse_ipv6(void)
{
	net_ok("::1", "::1/128");
	net_ok("::/0", "::/0");
	net_ok("2001:db8::/32", "2001:db8::/32");
	net_ok("2001:DB8:0:0::/64", "2001:db8::/64");
	net_ok("fe80::/10", "fe80::/10");
	net_ok("2001:db8::8000/113", "2001:db8::8000/113");
}

/* A mapped prefix of at least /96 is the IPv4 rule it spells; a shorter one
 * covers more than IPv4 and stays IPv6. */
static void test_acl_parse_mapped_is_ipv4(void)
{
	net_ok("::ffff:10.0.0.0/104", "10.0.0.0/8");
	net_ok("::ffff:127.0.0.1", "127.0.0.1/32");
	net_ok("::ffff:0:0/96", "0.0.0.0/0");
	net_ok("::ffff:7f00:1/128", "127.0.0.1/32");
	net_ok("::fffe:0:0/95", "::fffe:0:0/95");
	net_ok("::127.0.0.1", "::127.0.0.1/128"); /* IPv4-compatible: plain IPv6 */
	net_ok("0000:0000:0000:0000:0000:ffff:255.255.255.255/128", "255.255.255.255/32");
}

static void test_acl_parse_rejects_bad_text(void)
{
	const char *addr = "not an IPv4 or IPv6 address";

	net_bad("", addr);
	net_bad("10.0.0.300/8", addr);
	net_bad("10.0.0/8", addr);
	net_bad("10.0.0.01", addr);        /* no octal-looking octets */
	net_bad("localhost", addr);        /* names are never looked up */
	net_bad("[::1]", addr);
	net_bad("fe80::1%lo", addr);
	net_bad(" 10.0.0.1", addr);
	net_bad("/8", addr);
	net_bad("1:2:3:4:5:6:7:8:9", addr);
	net_bad("0000:0000:0000:0000:0000:0ffff:255.255.255.255", addr); /* one past the longest */
	net_bad("111111111111111111111111111111111111111111111111111111111111111111", addr);
	net_bad("10.0.0.0/33", "the length is not a number from 0 to 32");
	net_bad("10.0.0.0/", "the length is not a number from 0 to 32");
	net_bad("10.0.0.0/-1", "the length is not a number from 0 to 32");
	net_bad("10.0.0.0/+8", "the length is not a number from 0 to 32");
	net_bad("10.0.0.0/08", "the length is not a number from 0 to 32");
	net_bad("10.0.0.0/8 ", "the length is not a number from 0 to 32");
	net_bad("10.0.0.0/8/8", "the length is not a number from 0 to 32");
	net_bad("10.0.0.0/4294967304", "the length is not a number from 0 to 32");
	net_bad("::/129", "the length is not a number from 0 to 128");
	net_bad("10.1.2.3/8", "address bits are set past the length");
	net_bad("2001:db8::1/64", "address bits are set past the length");
	net_bad("::ffff:10.1.0.0/104", "address bits are set past the length");
	CHECK(pl_acl_net_parse(&(struct pl_acl_net){ 0 }, "nope", NULL) == -EINVAL); /* why NULL */
}

/* Peers as accept returns them. */
static socklen_t ip4(struct sockaddr_storage *ss, const char *text)
{
	struct sockaddr_in *s = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin_family = AF_INET;
	s->sin_port = htons(5555);
	CHECK(inet_pton(AF_INET, text, &s->sin_addr) == 1);
	return sizeof(*s);
}

static socklen_t ip6(struct sockaddr_storage *ss, const char *text)
{
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(5555);
	CHECK(inet_pton(AF_INET6, text, &s->sin6_addr) == 1);
	return sizeof(*s);
}

static socklen_t unix_peer(struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = AF_UNIX;
	return sizeof(sa_family_t); /* an unnamed client */
}

#define SA(ss) ((const struct sockaddr *)(ss))

static enum pl_acl_action check4(const struct pl_acl *acl, const char *text)
{
	struct sockaddr_storage ss;
	socklen_t len = ip4(&ss, text);

	return pl_acl_check(acl, SA(&ss), len, NULL);
}

static enum pl_acl_action check6(const struct pl_acl *acl, const char *text)
{
	struct sockaddr_storage ss;
	socklen_t len = ip6(&ss, text);

	return pl_acl_check(acl, SA(&ss), len, NULL);
}

static struct pl_acl *rules(const char *const *spec)
{
	struct pl_acl *acl;

	CHECK(pl_acl_new(&acl) == 0);
	for (; *spec; spec++)
		CHECK(pl_acl_add(acl, (*spec)[0] == '+' ? PL_ACL_ALLOW : PL_ACL_DENY, *spec + 1,
				 NULL) == 0);
	return acl;
}

static void test_acl_empty_allows_everyone(void)
{
	struct sockaddr_storage ss;
	struct pl_acl *acl;

	CHECK_EQ_INT(check4(NULL, "10.1.2.3"), PL_ACL_ALLOW);
	CHECK(pl_acl_new(&acl) == 0);
	CHECK_EQ_INT(pl_acl_count(acl), 0);
	CHECK_EQ_INT(check4(acl, "10.1.2.3"), PL_ACL_ALLOW);
	CHECK_EQ_INT(check6(acl, "::1"), PL_ACL_ALLOW);
	CHECK_EQ_INT(pl_acl_check(acl, SA(&ss), unix_peer(&ss), NULL), PL_ACL_ALLOW);
	pl_acl_free(acl);
	pl_acl_free(NULL);
}

static void test_acl_prefix_edges(void)
{
	struct pl_acl *acl = rules((const char *[]){ "+10.0.0.0/8", "+192.168.1.128/25",
						     "+2001:db8::/33", NULL });

	CHECK_EQ_INT(check4(acl, "10.0.0.0"), PL_ACL_ALLOW);
	CHECK_EQ_INT(check4(acl, "10.255.255.255"), PL_ACL_ALLOW);
	CHECK_EQ_INT(check4(acl, "11.0.0.0"), PL_ACL_DENY);
	CHECK_EQ_INT(check4(acl, "9.255.255.255"), PL_ACL_DENY);
	CHECK_EQ_INT(check4(acl, "192.168.1.128"), PL_ACL_ALLOW);
	CHECK_EQ_INT(check4(acl, "192.168.1.255"), PL_ACL_ALLOW);
	CHECK_EQ_INT(check4(acl, "192.168.1.127"), PL_ACL_DENY);
	CHECK_EQ_INT(check6(acl, "2001:db8:7fff::1"), PL_ACL_ALLOW);
	CHECK_EQ_INT(check6(acl, "2001:db8:8000::"), PL_ACL_DENY);
	CHECK_EQ_INT(pl_acl_count(acl), 3);
	pl_acl_free(acl);
}

/* First match wins, in the order added. */
static void test_acl_first_match_wins(void)
{
	struct pl_acl *acl = rules((const char *[]){ "-10.0.0.7", "+10.0.0.0/8", "-10.0.0.8", NULL });
	struct sockaddr_storage ss;
	socklen_t len;

	CHECK_EQ_INT(check4(acl, "10.0.0.7"), PL_ACL_DENY);
	CHECK_EQ_INT(check4(acl, "10.0.0.8"), PL_ACL_ALLOW); /* the allow came first */
	CHECK_EQ_INT(check4(acl, "10.0.0.9"), PL_ACL_ALLOW);
	len = ip4(&ss, "10.0.0.7");
	CHECK_EQ_INT(pl_acl_match(acl, SA(&ss), len, NULL), 0);
	len = ip4(&ss, "10.0.0.8");
	CHECK_EQ_INT(pl_acl_match(acl, SA(&ss), len, NULL), 1);
	len = ip4(&ss, "11.0.0.1");
	CHECK_EQ_INT(pl_acl_match(acl, SA(&ss), len, NULL), -1);
	pl_acl_free(acl);
}

/* No match: denied when an ALLOW rule of the peer's kind exists. */
static void test_acl_default_follows_allow_rules(void)
{
	struct pl_acl *deny_only = rules((const char *[]){ "-127.0.0.2", NULL });
	struct pl_acl *allow = rules((const char *[]){ "+127.0.0.1", NULL });

	CHECK_EQ_INT(check4(deny_only, "127.0.0.2"), PL_ACL_DENY);
	CHECK_EQ_INT(check4(deny_only, "127.0.0.3"), PL_ACL_ALLOW);
	CHECK_EQ_INT(check6(deny_only, "::1"), PL_ACL_ALLOW);
	CHECK_EQ_INT(check4(allow, "127.0.0.1"), PL_ACL_ALLOW);
	CHECK_EQ_INT(check4(allow, "127.0.0.2"), PL_ACL_DENY);
	/* an IPv4 allow list leaves IPv6 clients out too: both are IP */
	CHECK_EQ_INT(check6(allow, "::1"), PL_ACL_DENY);
	pl_acl_free(deny_only);
	pl_acl_free(allow);
}

static void test_acl_mapped_peer_matches_ipv4_rules(void)
{
	struct pl_acl *acl = rules((const char *[]){ "-127.0.0.2", "+127.0.0.0/8", "+::1", NULL });
	struct pl_acl *v6all = rules((const char *[]){ "-::/0", NULL });
	struct pl_acl *m = rules((const char *[]){ "+::ffff:127.0.0.1", NULL });

	CHECK_EQ_INT(check6(acl, "::ffff:127.0.0.1"), PL_ACL_ALLOW);
	CHECK_EQ_INT(check6(acl, "::ffff:127.0.0.2"), PL_ACL_DENY);
	CHECK_EQ_INT(check6(acl, "::ffff:10.0.0.1"), PL_ACL_DENY);
	CHECK_EQ_INT(check6(acl, "::1"), PL_ACL_ALLOW);
	CHECK_EQ_INT(check6(acl, "::2"), PL_ACL_DENY);
	/* ::/0 is every IPv6 client, and no IPv4 one, mapped or not */
	CHECK_EQ_INT(check6(v6all, "::ffff:10.0.0.1"), PL_ACL_ALLOW);
	CHECK_EQ_INT(check4(v6all, "10.0.0.1"), PL_ACL_ALLOW);
	CHECK_EQ_INT(check6(v6all, "2001:db8::1"), PL_ACL_DENY);
	CHECK_EQ_INT(check6(v6all, "::ffff:0:0"), PL_ACL_ALLOW); /* 0.0.0.0, not IPv6 */
	/* a rule written mapped matches the plain IPv4 peer */
	CHECK_EQ_INT(check4(m, "127.0.0.1"), PL_ACL_ALLOW);
	CHECK_EQ_INT(check4(m, "127.0.0.2"), PL_ACL_DENY);
	pl_acl_free(acl);
	pl_acl_free(v6all);
	pl_acl_free(m);
}

/* IP rules judge IP clients, credential rules Unix clients. */
static void test_acl_kinds_are_separate(void)
{
	struct pl_acl *acl;
	struct sockaddr_storage ss;
	struct pl_acl_cred root = { 0, 0, NULL, 0 };
	socklen_t len = unix_peer(&ss);

	acl = rules((const char *[]){ "+10.0.0.0/8", NULL });
	CHECK_EQ_INT(pl_acl_check(acl, SA(&ss), len, &root), PL_ACL_ALLOW);
	CHECK_EQ_INT(pl_acl_check(acl, SA(&ss), len, NULL), PL_ACL_ALLOW);
	CHECK(pl_acl_add_uid(acl, PL_ACL_ALLOW, 1000) == 0);
	CHECK_EQ_INT(pl_acl_check(acl, SA(&ss), len, &root), PL_ACL_DENY);
	CHECK_EQ_INT(check4(acl, "10.0.0.1"), PL_ACL_ALLOW);
	CHECK_EQ_INT(check4(acl, "11.0.0.1"), PL_ACL_DENY);
	pl_acl_free(acl);
	/* a uid rule alone leaves IP clients alone */
	CHECK(pl_acl_new(&acl) == 0);
	CHECK(pl_acl_add_uid(acl, PL_ACL_ALLOW, 1000) == 0);
	CHECK_EQ_INT(check4(acl, "11.0.0.1"), PL_ACL_ALLOW);
	CHECK_EQ_INT(check6(acl, "::1"), PL_ACL_ALLOW);
	pl_acl_free(acl);
}

static void test_acl_uid_and_gid_rules(void)
{
	static const gid_t supp[] = { 20, 44 };
	struct pl_acl_cred alice = { 1000, 1000, supp, 2 }, nobody = { 65534, 65534, NULL, 0 };
	struct pl_acl_cred root = { 0, 0, NULL, 0 };
	struct sockaddr_storage ss;
	socklen_t len = unix_peer(&ss);
	struct pl_acl *acl;

	CHECK(pl_acl_new(&acl) == 0);
	CHECK(pl_acl_add_uid(acl, PL_ACL_DENY, 1000) == 0);
	CHECK(pl_acl_add_gid(acl, PL_ACL_ALLOW, 44) == 0);  /* a supplementary group */
	CHECK(pl_acl_add_gid(acl, PL_ACL_ALLOW, 0) == 0);   /* the primary group */
	CHECK_EQ_INT(pl_acl_check(acl, SA(&ss), len, &alice), PL_ACL_DENY);  /* uid first */
	CHECK_EQ_INT(pl_acl_match(acl, SA(&ss), len, &alice), 0);
	CHECK_EQ_INT(pl_acl_check(acl, SA(&ss), len, &root), PL_ACL_ALLOW);
	CHECK_EQ_INT(pl_acl_match(acl, SA(&ss), len, &root), 2);
	CHECK_EQ_INT(pl_acl_check(acl, SA(&ss), len, &nobody), PL_ACL_DENY);
	CHECK_EQ_INT(pl_acl_match(acl, SA(&ss), len, &nobody), -1);
	alice.uid = 1001;
	CHECK_EQ_INT(pl_acl_check(acl, SA(&ss), len, &alice), PL_ACL_ALLOW);
	CHECK_EQ_INT(pl_acl_match(acl, SA(&ss), len, &alice), 1);
	pl_acl_free(acl);
}

/* What cannot be judged is refused whenever there are rules. */
static void test_acl_fails_closed(void)
{
	struct pl_acl *ip = rules((const char *[]){ "-10.0.0.1", NULL }), *cred;
	struct sockaddr_storage ss;
	socklen_t len;

	CHECK(pl_acl_new(&cred) == 0);
	CHECK(pl_acl_add_uid(cred, PL_ACL_DENY, 65534) == 0);
	len = unix_peer(&ss);
	CHECK_EQ_INT(pl_acl_check(cred, SA(&ss), len, NULL), PL_ACL_DENY); /* no credentials */
	CHECK_EQ_INT(pl_acl_check(ip, SA(&ss), len, NULL), PL_ACL_ALLOW);  /* none needed */
	len = ip4(&ss, "10.0.0.2");
	CHECK_EQ_INT(pl_acl_check(ip, SA(&ss), len - 1, NULL), PL_ACL_DENY); /* truncated */
	CHECK_EQ_INT(pl_acl_check(ip, SA(&ss), 0, NULL), PL_ACL_DENY);
	CHECK_EQ_INT(pl_acl_check(ip, NULL, 0, NULL), PL_ACL_DENY);
	len = ip6(&ss, "::1");
	CHECK_EQ_INT(pl_acl_check(ip, SA(&ss), sizeof(struct sockaddr_in), NULL), PL_ACL_DENY);
	ss.ss_family = AF_PACKET;
	CHECK_EQ_INT(pl_acl_check(ip, SA(&ss), len, NULL), PL_ACL_DENY);
	pl_acl_free(ip);
	pl_acl_free(cred);
}

/* Many rules: the list grows, and order still holds. */
static void test_acl_many_rules(void)
{
	struct pl_acl *acl;
	char text[32];

	CHECK(pl_acl_new(&acl) == 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(text, sizeof(text), "10.0.%d.%d", i / 256, i % 256);
		CHECK(pl_acl_add(acl, i % 2 ? PL_ACL_ALLOW : PL_ACL_DENY, text, NULL) == 0);
	}
	CHECK_EQ_INT(pl_acl_count(acl), 1000);
	CHECK_EQ_INT(check4(acl, "10.0.3.231"), PL_ACL_ALLOW); /* rule 999 */
	CHECK_EQ_INT(check4(acl, "10.0.3.230"), PL_ACL_DENY);
	CHECK_EQ_INT(check4(acl, "10.0.4.0"), PL_ACL_DENY);   /* no match: allow rules exist */
	pl_acl_free(acl);
}

/* The credentials of a real Unix peer: our own. */
static void test_acl_peer_cred_of_a_socketpair(void)
{
	gid_t groups[PL_ACL_GROUPS_MAX], mine[PL_ACL_GROUPS_MAX];
	struct pl_acl_cred c;
	int sv[2], n = getgroups(PL_ACL_GROUPS_MAX, mine);

	CHECK(n >= 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK_EQ_INT(pl_acl_peer_cred(sv[0], &c, groups, PL_ACL_GROUPS_MAX), 0);
	CHECK_EQ_INT(c.uid, geteuid());
	CHECK_EQ_INT(c.gid, getegid());
	CHECK_EQ_INT(c.ngroups, n);
	CHECK(c.groups == groups);
	for (int i = 0; i < n; i++)
		CHECK_EQ_INT(c.groups[i], mine[i]);
	close(sv[0]);
	close(sv[1]);
	/* not a socket: the error, not made-up credentials */
	CHECK(pipe(sv) == 0);
	CHECK_EQ_INT(pl_acl_peer_cred(sv[0], &c, groups, PL_ACL_GROUPS_MAX), -ENOTSOCK);
	close(sv[0]);
	close(sv[1]);
}


/* The server's hook: what one client met, seen through on_event. */
struct seen {
	struct pl_loop *loop;
	int opens, rejects, has_cred;
	enum pl_close_reason reason;
	enum pl_addr_kind peer_kind;
	uid_t uid;
};

static void on_event(const struct pl_server_event *ev, void *arg)
{
	struct seen *s = arg;

	if (ev->type == PL_EV_OPEN)
		s->opens++;
	if (ev->type == PL_EV_REJECT) {
		s->rejects++;
		s->reason = ev->reason;
		s->peer_kind = ev->peer->kind;
		s->has_cred = ev->cred != NULL;
		s->uid = ev->cred ? ev->cred->uid : (uid_t)-1;
	}
	if (ev->type == PL_EV_OPEN || ev->type == PL_EV_REJECT)
		pl_loop_stop(s->loop);
}

static void never(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)c, (void)msg, (void)len, (void)arg;
	CHECK(!"a request was read from a client the rules refused");
}

/* A server on addr judged by acl, and one client of it connected; runs the
 * loop until the client is opened or refused.  Returns the client's fd. */
static int one_client(const char *addr, const struct pl_acl *acl, struct seen *s,
		      struct pl_server **srv)
{
	struct pl_server_config cfg = { .on_request = never, .on_event = on_event, .arg = s,
					 .acl = acl };
	struct pl_addr a, bound;
	int lfd, cfd;

	alarm(10);
	CHECK(pl_loop_new(&s->loop) == 0);
	CHECK(pl_server_new(s->loop, &cfg, srv) == 0);
	CHECK(pl_addr_parse(&a, addr, 0, PL_ADDR_PASSIVE, NULL) == 0);
	CHECK((lfd = pl_listen(&a, NULL)) >= 0);
	CHECK(pl_addr_local(lfd, &bound) == 0);
	CHECK(pl_server_listen_fd(*srv, lfd) == 0);
	CHECK((cfd = pl_connect(&bound, 1, NULL, NULL)) >= 0);
	CHECK(pl_loop_run(s->loop) == 0);
	return cfd;
}

static void done(struct seen *s, struct pl_server *srv, int cfd, struct pl_acl *acl)
{
	close(cfd);
	pl_server_free(srv);
	pl_loop_free(s->loop);
	pl_acl_free(acl);
}

/* Refused at accept: reset, counted as denied, never open, nothing read. */
static void test_acl_server_resets_a_denied_tcp_client(void)
{
	struct pl_acl *acl = rules((const char *[]){ "-127.0.0.1", NULL });
	struct seen s = { 0 };
	struct pl_server *srv;
	int cfd = one_client("127.0.0.1:0", acl, &s, &srv);
	const struct pl_server_stats *st = pl_server_stats(srv);
	char buf[4];

	CHECK_EQ_INT(s.rejects, 1);
	CHECK_EQ_INT(s.opens, 0);
	CHECK_EQ_INT(s.reason, PL_CLOSE_DENIED);
	CHECK_EQ_INT(s.peer_kind, PL_ADDR_IP4);
	CHECK_EQ_INT(s.has_cred, 0);
	CHECK_EQ_INT(st->closed[PL_CLOSE_DENIED], 1);
	CHECK_EQ_INT(st->accepted, 0);
	CHECK_EQ_INT(st->open, 0);
	/* a reset, not an orderly end: nothing was written either way */
	CHECK_EQ_INT(pl_fd_read_full(cfd, buf, sizeof(buf), 5000), -ECONNRESET);
	done(&s, srv, cfd, acl);
}

static void test_acl_server_judges_unix_clients_by_uid(void)
{
	struct pl_acl *acl;
	struct seen s = { 0 };
	struct pl_server *srv;
	char addr[64], buf[4];
	int cfd;

	snprintf(addr, sizeof(addr), "unix:@parley-unit-acl-%d", (int)getpid());
	CHECK(pl_acl_new(&acl) == 0);
	CHECK(pl_acl_add_uid(acl, PL_ACL_ALLOW, geteuid() + 1) == 0);
	cfd = one_client(addr, acl, &s, &srv);
	CHECK_EQ_INT(s.rejects, 1);
	CHECK_EQ_INT(s.reason, PL_CLOSE_DENIED);
	CHECK_EQ_INT(s.peer_kind, PL_ADDR_UNIX);
	CHECK_EQ_INT(s.has_cred, 1);
	CHECK_EQ_INT(s.uid, geteuid());
	CHECK_EQ_INT(pl_server_stats(srv)->closed[PL_CLOSE_DENIED], 1);
	CHECK_EQ_INT(pl_fd_read_full(cfd, buf, sizeof(buf), 5000), 0); /* closed */
	done(&s, srv, cfd, acl);

	/* the same with our own uid allowed: opened */
	memset(&s, 0, sizeof(s));
	CHECK(pl_acl_new(&acl) == 0);
	CHECK(pl_acl_add_uid(acl, PL_ACL_ALLOW, geteuid()) == 0);
	cfd = one_client(addr, acl, &s, &srv);
	CHECK_EQ_INT(s.opens, 1);
	CHECK_EQ_INT(s.rejects, 0);
	CHECK_EQ_INT(pl_server_stats(srv)->closed[PL_CLOSE_DENIED], 0);
	done(&s, srv, cfd, acl);
}

static const struct unit_test tests[] = {
	T(test_acl_parse_ipv4),
	T(test_acl_parse_ipv6),
	T(test_acl_parse_mapped_is_ipv4),
	T(test_acl_parse_rejects_bad_text),
	T(test_acl_empty_allows_everyone),
	T(test_acl_prefix_edges),
	T(test_acl_first_match_wins),
	T(test_acl_default_follows_allow_rules),
	T(test_acl_mapped_peer_matches_ipv4_rules),
	T(test_acl_kinds_are_separate),
	T(test_acl_uid_and_gid_rules),
	T(test_acl_fails_closed),
	T(test_acl_many_rules),
	T(test_acl_peer_cred_of_a_socketpair),
	T(test_acl_server_resets_a_denied_tcp_client),
	T(test_acl_server_judges_unix_clients_by_uid),
};

UNIT_MAIN(tests)
