/*
 * fuzz_acl - libFuzzer harness for access rules.
 * Input: rule text, optionally a newline and raw bytes taken as a peer's
 * sockaddr.  Invariants: whatever parses formats back to text that parses
 * to the same network; the bits past the length are zero; a rule matches
 * its network's address and one with its last bit set, and not one with
 * the last bit of the length flipped; sockaddr bytes of any length are
 * judged without reading past them (a buffer of exactly that length).
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parley/acl.h"

/* The network's address with bit (from the top) set or cleared, as a peer. */
static socklen_t peer(const struct pl_acl_net *n, int bit, int on, struct sockaddr_storage *ss)
{
	uint8_t a[16];

	memcpy(a, n->addr, sizeof(a));
	if (bit >= 0)
		a[bit / 8] = (uint8_t)(on ? a[bit / 8] | (0x80 >> bit % 8) : a[bit / 8] & ~(0x80 >> bit % 8));
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)n->family;
	if (n->family == AF_INET) {
		memcpy(&((struct sockaddr_in *)ss)->sin_addr, a, 4);
		return sizeof(struct sockaddr_in);
	}
	memcpy(&((struct sockaddr_in6 *)ss)->sin6_addr, a, 16);
	return sizeof(struct sockaddr_in6);
}

static void check_net(const struct pl_acl_net *n, const char *text)
{
	char buf[PL_ACL_NET_TEXT_MAX];
	struct pl_acl_net again;
	struct pl_acl *acl;
	struct sockaddr_storage ss;
	unsigned max = n->family == AF_INET ? 32 : 128;
	socklen_t len;

	if ((n->family != AF_INET && n->family != AF_INET6) || n->prefix > max)
		abort();
	if (pl_acl_net_format(n, buf, sizeof(buf)) >= (int)sizeof(buf) ||
	    pl_acl_net_parse(&again, buf, NULL) < 0 || memcmp(n, &again, sizeof(*n)) != 0)
		abort();
	if (pl_acl_new(&acl) < 0)
		return;
	if (pl_acl_add(acl, PL_ACL_ALLOW, text, NULL) < 0)
		abort();
	len = peer(n, -1, 0, &ss);
	if (pl_acl_match(acl, (struct sockaddr *)&ss, len, NULL) != 0)
		abort();
	for (unsigned b = n->prefix; b < max; b++) /* host bits: zero */
		if (n->addr[b / 8] & (0x80 >> b % 8))
			abort();
	if (n->prefix < max) {
		len = peer(n, (int)max - 1, 1, &ss);
		if (pl_acl_match(acl, (struct sockaddr *)&ss, len, NULL) != 0)
			abort();
	}
	if (n->prefix > 0) {
		len = peer(n, (int)n->prefix - 1, !(n->addr[(n->prefix - 1) / 8] & (0x80 >> (n->prefix - 1) % 8)), &ss);
		if (pl_acl_match(acl, (struct sockaddr *)&ss, len, NULL) != -1 ||
		    pl_acl_check(acl, (struct sockaddr *)&ss, len, NULL) != PL_ACL_DENY)
			abort();
	}
	pl_acl_free(acl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[256];
	const uint8_t *nl = memchr(data, '\n', size);
	size_t tlen = nl ? (size_t)(nl - data) : size;
	struct pl_acl_net n;
	struct pl_acl *acl;
	struct sockaddr *sa;
	static const gid_t groups[] = { 0, 7 };
	const struct pl_acl_cred cred = { 0, 0, groups, 2 };

	if (tlen >= sizeof(text))
		return 0;
	memcpy(text, data, tlen);
	text[tlen] = '\0';
	if (pl_acl_net_parse(&n, text, NULL) == 0)
		check_net(&n, text);
	/* the bytes after the newline, as a peer of that length, against a rule of each kind */
	size -= tlen + (nl ? 1 : 0);
	if (!nl || !(sa = malloc(size ? size : 1)))
		return 0;
	memcpy(sa, nl + 1, size);
	if (pl_acl_new(&acl) == 0) {
		pl_acl_add(acl, PL_ACL_DENY, text, NULL);
		pl_acl_add_gid(acl, PL_ACL_ALLOW, 7);
		pl_acl_add(acl, PL_ACL_ALLOW, "::/0", NULL);
		pl_acl_check(acl, sa, (socklen_t)size, &cred);
		pl_acl_check(acl, sa, (socklen_t)size, NULL);
		pl_acl_free(acl);
	}
	free(sa);
	return 0;
}
