/*
 * acl.h - access control: which clients a server accepts.
 *
 * A struct pl_acl is an ordered list of rules, each ALLOW or DENY, of two
 * kinds: network rules (an IPv4 or IPv6 prefix, "10.0.0.0/8", "::1") for
 * clients over IP, and credential rules (a uid, or a gid the peer process
 * has as its group or one of its supplementary groups) for clients over a
 * Unix socket.  A client is judged by the rules of its kind only:
 *
 *   1. the rules are tried in the order they were added; the first that
 *      matches decides;
 *   2. when none matches, the client is denied if any ALLOW rule of its
 *      kind exists, and allowed otherwise (a list of DENY rules alone
 *      lets everyone else in).
 *
 * An IPv4 client seen as IPv4-mapped IPv6 (::ffff:a.b.c.d, as a dual-stack
 * listener reports it) is an IPv4 client; a rule written as a mapped prefix
 * (::ffff:10.0.0.0/104, at least /96) is the IPv4 rule it spells
 * (10.0.0.0/8).  An IPv6 rule never matches an IPv4 client, nor the
 * reverse: ::/0 is every IPv6 client, 0.0.0.0/0 every IPv4 one.
 *
 * Parsing and matching are pure functions; only pl_acl_peer_cred touches a
 * socket.  A list is built once, then only read: any number of threads may
 * check clients against it at once (struct pl_server_config.acl).
 */
#ifndef PARLEY_ACL_H
#define PARLEY_ACL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct pl_acl;

enum pl_acl_action { PL_ACL_ALLOW = 0, PL_ACL_DENY = 1 };

/* A network: family AF_INET (addr[0..3]) or AF_INET6, and the prefix length;
 * the address bits past the prefix are zero. */
struct pl_acl_net {
	int family;
	unsigned prefix;
	uint8_t addr[16];
};

/* Longest text pl_acl_net_format writes, with its NUL. */
#define PL_ACL_NET_TEXT_MAX 64

/* A Unix client's credentials: SO_PEERCRED, and its supplementary groups. */
struct pl_acl_cred {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
};

/* Supplementary groups pl_acl_peer_cred reads at most. */
#define PL_ACL_GROUPS_MAX 256

/*
 * Parses "ADDR" or "ADDR/LEN" (IPv4 dotted quad or IPv6 text, no brackets,
 * names or scopes; LEN decimal, up to 32 or 128; no LEN: the one address).
 * Returns 0, or -EINVAL with *why (if why is not NULL) pointing at a static
 * sentence: not an address, a bad length, or address bits set past the
 * length (10.1.2.3/8: a typo for /32, or for 10.0.0.0/8?).
 */
int pl_acl_net_parse(struct pl_acl_net *n, const char *text, const char **why);
/* "10.0.0.0/8", "2001:db8::/32": always with the length; parses back to *n.
 * Returns the length of the full text, like snprintf. */
int pl_acl_net_format(const struct pl_acl_net *n, char *buf, size_t cap);

/* An empty list (everyone allowed).  0 or -ENOMEM. */
int pl_acl_new(struct pl_acl **out);
void pl_acl_free(struct pl_acl *acl);

/* Appends a network rule from text (pl_acl_net_parse).  0, -EINVAL with
 * *why as there, or -ENOMEM. */
int pl_acl_add(struct pl_acl *acl, enum pl_acl_action action, const char *text, const char **why);
/* Appends a credential rule: a uid, or a gid (primary or supplementary).
 * Names are the program's to resolve.  0 or -ENOMEM. */
int pl_acl_add_uid(struct pl_acl *acl, enum pl_acl_action action, uid_t uid);
int pl_acl_add_gid(struct pl_acl *acl, enum pl_acl_action action, gid_t gid);
/* How many rules acl holds. */
size_t pl_acl_count(const struct pl_acl *acl);

/*
 * Which rule decides for a peer (sa of length len, as accept returns it;
 * cred for a Unix peer, NULL when unknown): its index, in the order rules
 * were added, or -1 when none matches and the default decides.
 */
long pl_acl_match(const struct pl_acl *acl, const struct sockaddr *sa, socklen_t len,
		  const struct pl_acl_cred *cred);
/*
 * PL_ACL_ALLOW or PL_ACL_DENY for a peer, by the rules above.  Failing
 * closed: a Unix peer whose cred is NULL is denied when any credential
 * rule exists, and a peer of another family, or an address shorter than
 * its family's, is denied when acl has any rule.
 */
enum pl_acl_action pl_acl_check(const struct pl_acl *acl, const struct sockaddr *sa,
				socklen_t len, const struct pl_acl_cred *cred);

/*
 * Reads a connected Unix socket's peer credentials into *c (SO_PEERCRED,
 * and SO_PEERGROUPS into groups, room for cap of them).  0, or -errno:
 * -ERANGE when the peer has more than cap supplementary groups.
 */
int pl_acl_peer_cred(int fd, struct pl_acl_cred *c, gid_t *groups, size_t cap);

#endif
