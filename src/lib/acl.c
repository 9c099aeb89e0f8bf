/*
 * acl.c - access rules: parsing networks, matching peers, reading a Unix
 * peer's credentials.  Everything but pl_acl_peer_cred is pure, so the
 * parser is unit-tested and fuzzed on text alone.
 */
#include "parley/acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum rule_kind { RULE_NET, RULE_UID, RULE_GID };

struct rule {
	enum pl_acl_action action;
	enum rule_kind kind;
	struct pl_acl_net net; /* RULE_NET */
	unsigned id;           /* RULE_UID, RULE_GID */
};

struct pl_acl {
	struct rule *r;
	size_t n, cap;
	int allow_net, allow_cred; /* an ALLOW rule of that kind exists: the default is DENY */
	int any_cred;              /* a credential rule exists */
};

static int bad(const char **why, const char *text)
{
	if (why)
		*why = text;
	return -EINVAL;
}

/* The bits of byte i an address keeps under prefix. */
static uint8_t mask_byte(unsigned prefix, unsigned i)
{
	unsigned keep = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * i : 0;

	return (uint8_t)(0xff00u >> keep);
}

static int in_net(const struct pl_acl_net *n, const uint8_t *addr)
{
	unsigned bytes = n->family == AF_INET ? 4 : 16;

	for (unsigned i = 0; i < bytes; i++)
		if ((n->addr[i] ^ addr[i]) & mask_byte(n->prefix, i))
			return 0;
	return 1;
}

/* Digits only, no sign, space or leading zero, at most max. */
static int parse_prefix(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9' && i < 4; i++)
		v = v * 10 + (unsigned)(s[i] - '0');
	if (i == 0 || s[i] || v > max || (s[0] == '0' && i > 1))
		return -1;
	*out = v;
	return 0;
}

int pl_acl_net_parse(struct pl_acl_net *n, const char *text, const char **why)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t hlen = slash ? (size_t)(slash - text) : strlen(text);
	unsigned max;

	memset(n, 0, sizeof(*n));
	if (hlen == 0 || hlen >= sizeof(host))
		return bad(why, "not an IPv4 or IPv6 address");
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, n->addr) == 1)
		n->family = AF_INET, max = 32;
	else if (inet_pton(AF_INET6, host, n->addr) == 1)
		n->family = AF_INET6, max = 128;
	else
		return bad(why, "not an IPv4 or IPv6 address");
	n->prefix = max;
	if (slash && parse_prefix(slash + 1, max, &n->prefix) < 0)
		return bad(why, max == 32 ? "the length is not a number from 0 to 32"
					  : "the length is not a number from 0 to 128");
	for (unsigned i = 0; i < max / 8; i++)
		if (n->addr[i] & ~mask_byte(n->prefix, i))
			return bad(why, "address bits are set past the length");
	/* ::ffff:a.b.c.d/96+ is IPv4, which is how clients in it are judged */
	if (n->family == AF_INET6 && n->prefix >= 96 && memcmp(n->addr, mapped, 12) == 0) {
		memmove(n->addr, n->addr + 12, 4);
		memset(n->addr + 4, 0, 12);
		n->family = AF_INET;
		n->prefix -= 96;
	}
	return 0;
}

int pl_acl_net_format(const struct pl_acl_net *n, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	if (!inet_ntop(n->family, n->addr, host, sizeof(host)))
		return snprintf(buf, cap, "?");
	return snprintf(buf, cap, "%s/%u", host, n->prefix);
}

int pl_acl_new(struct pl_acl **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void pl_acl_free(struct pl_acl *acl)
{
	if (acl)
		free(acl->r);
	free(acl);
}

size_t pl_acl_count(const struct pl_acl *acl) { return acl->n; }

static int append(struct pl_acl *acl, const struct rule *r)
{
	if (acl->n == acl->cap) {
		size_t cap = acl->cap ? 2 * acl->cap : 8;
		struct rule *p = realloc(acl->r, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		acl->r = p;
		acl->cap = cap;
	}
	acl->r[acl->n++] = *r;
	if (r->kind == RULE_NET)
		acl->allow_net |= r->action == PL_ACL_ALLOW;
	else
		acl->allow_cred |= r->action == PL_ACL_ALLOW, acl->any_cred = 1;
	return 0;
}

int pl_acl_add(struct pl_acl *acl, enum pl_acl_action action, const char *text, const char **why)
{
	struct rule r = { .action = action, .kind = RULE_NET };
	int e = pl_acl_net_parse(&r.net, text, why);

	return e < 0 ? e : append(acl, &r);
}

int pl_acl_add_uid(struct pl_acl *acl, enum pl_acl_action action, uid_t uid)
{
	return append(acl, &(struct rule){ .action = action, .kind = RULE_UID, .id = uid });
}

int pl_acl_add_gid(struct pl_acl *acl, enum pl_acl_action action, gid_t gid)
{
	return append(acl, &(struct rule){ .action = action, .kind = RULE_GID, .id = gid });
}

/*
 * What a peer is judged as: AF_INET (a mapped IPv6 address included) or
 * AF_INET6 with its address in ip, AF_UNIX, or 0 for anything else.
 * Fields are copied, not cast to: sa need not be aligned for them.
 */
static int peer_kind(const struct sockaddr *sa, socklen_t len, uint8_t ip[16])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	sa_family_t family;

	if (!sa || len < sizeof(family))
		return 0;
	memcpy(&family, (const char *)sa + offsetof(struct sockaddr, sa_family), sizeof(family));
	if (family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		memcpy(ip, (const char *)sa + offsetof(struct sockaddr_in, sin_addr), 4);
		return AF_INET;
	}
	if (family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		memcpy(ip, (const char *)sa + offsetof(struct sockaddr_in6, sin6_addr), 16);
		if (memcmp(ip, mapped, 12) != 0)
			return AF_INET6;
		memmove(ip, ip + 12, 4);
		return AF_INET;
	}
	return family == AF_UNIX ? AF_UNIX : 0;
}

static int has_group(const struct pl_acl_cred *c, unsigned gid)
{
	if (c->gid == gid)
		return 1;
	for (size_t i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return 1;
	return 0;
}

static int matches(const struct rule *r, int kind, const uint8_t *ip, const struct pl_acl_cred *c)
{
	if (r->kind == RULE_NET)
		return kind == r->net.family && in_net(&r->net, ip);
	if (kind != AF_UNIX || !c)
		return 0;
	return r->kind == RULE_UID ? c->uid == r->id : has_group(c, r->id);
}

static long find(const struct pl_acl *acl, int kind, const uint8_t *ip, const struct pl_acl_cred *c)
{
	for (size_t i = 0; acl && i < acl->n; i++)
		if (matches(&acl->r[i], kind, ip, c))
			return (long)i;
	return -1;
}

long pl_acl_match(const struct pl_acl *acl, const struct sockaddr *sa, socklen_t len,
		  const struct pl_acl_cred *cred)
{
	uint8_t ip[16] = { 0 };

	return find(acl, peer_kind(sa, len, ip), ip, cred);
}

enum pl_acl_action pl_acl_check(const struct pl_acl *acl, const struct sockaddr *sa,
				socklen_t len, const struct pl_acl_cred *cred)
{
	uint8_t ip[16] = { 0 };
	int kind;
	long i;

	if (!acl || acl->n == 0)
		return PL_ACL_ALLOW;
	kind = peer_kind(sa, len, ip);
	if (kind == 0 || (kind == AF_UNIX && !cred && acl->any_cred))
		return PL_ACL_DENY;
	if ((i = find(acl, kind, ip, cred)) >= 0)
		return acl->r[i].action;
	return (kind == AF_UNIX ? acl->allow_cred : acl->allow_net) ? PL_ACL_DENY : PL_ACL_ALLOW;
}

int pl_acl_peer_cred(int fd, struct pl_acl_cred *c, gid_t *groups, size_t cap)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	if (cap > NGROUPS_MAX)
		cap = NGROUPS_MAX; /* the kernel's most; keeps len a socklen_t */
	len = (socklen_t)(cap * sizeof(*groups));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return -errno;
	c->uid = uc.uid;
	c->gid = uc.gid;
	c->groups = groups;
	c->ngroups = len / sizeof(*groups);
	return 0;
}
