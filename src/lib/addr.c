/* addr.c - parsing, formatting and converting struct pl_addr. */
#include "parley/addr.h"
#include "parley/error.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

static int fail(const char **why, const char *text)
{
	if (why)
		*why = text;
	return -EINVAL;
}

/*
 * An IPv4-mapped IPv6 address, [::ffff:a.b.c.d], is IPv4 on the wire.  It
 * keeps its IPv6 kind and text (format round-trips), but its socket is AF_INET:
 * an AF_INET6 socket reaches it only with IPV6_V6ONLY off, and an explicit
 * IPv6 listener sets it on (to share a port with an IPv4 one), so bind said
 * EINVAL.  The IPv4 address is in the last 4 bytes of ip[].
 */
static int v4_mapped(const struct pl_addr *a)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return a->kind == PL_ADDR_IP6 && memcmp(a->ip, prefix, sizeof(prefix)) == 0;
}

/* Parses a decimal port; -1 when the text is not a number in 0..65535. */
static long parse_port(const char *s, size_t n)
{
	long v = 0;

	if (n == 0 || n > 5)
		return n > 5 && strspn(s, "0123456789") >= n ? 65536 : -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int parse_unix(struct pl_addr *a, const char *p, const char **why)
{
	int abstract = p[0] == '@';
	size_t n = 0;

	p += abstract;
	if (*p == '\0')
		return fail(why, "empty Unix socket path");
	for (; *p; n++) {
		/* a path needs its NUL; an abstract name has a leading NUL instead */
		if (n >= PL_ADDR_PATH_MAX - 1)
			return fail(why, "Unix socket path longer than sun_path (107 bytes)");
		/* abstract names may hold any byte: \xHH, as pl_addr_format writes them */
		if (abstract && p[0] == '\\' && p[1] == 'x' && hexval(p[2]) >= 0 && hexval(p[3]) >= 0) {
			a->path[n] = (char)(hexval(p[2]) * 16 + hexval(p[3]));
			p += 4;
		} else {
			a->path[n] = *p++;
		}
	}
	a->kind = abstract ? PL_ADDR_ABSTRACT : PL_ADDR_UNIX;
	a->path_len = n;
	return 0;
}

/* Fills ip/scope from a host string; NAME when it is not a literal. */
static int parse_host(struct pl_addr *a, const char *h, size_t n, int bracketed,
		      const char **why)
{
	char tmp[PL_ADDR_HOST_MAX];
	char *pct;

	if (n == 0)
		return fail(why, "empty host");
	if (n >= sizeof(tmp))
		return fail(why, "host name too long");
	memcpy(tmp, h, n);
	tmp[n] = '\0';
	pct = strchr(tmp, '%');
	if (pct) {
		if (!bracketed)
			return fail(why, "an IPv6 scope needs brackets: [addr%if]:port");
		*pct++ = '\0';
		if (*pct == '\0')
			return fail(why, "empty IPv6 scope");
		long idx = parse_port(pct, strlen(pct));
		a->scope_id = idx >= 0 && strspn(pct, "0123456789") == strlen(pct)
				      ? (uint32_t)strtoul(pct, NULL, 10)
				      : if_nametoindex(pct);
		if (a->scope_id == 0)
			return fail(why, "unknown network interface in IPv6 scope");
	}
	if (inet_pton(AF_INET6, tmp, a->ip) == 1) {
		a->kind = PL_ADDR_IP6;
		return 0;
	}
	if (bracketed)
		return fail(why, "not an IPv6 address inside [ ]");
	if (inet_pton(AF_INET, tmp, a->ip) == 1) {
		a->kind = PL_ADDR_IP4;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)tmp[i]) && !strchr("-._", tmp[i]))
			return fail(why, "invalid character in host name");
	/* a name that is also a prefix would not read back as itself */
	if (strcmp(tmp, "unix") == 0)
		return fail(why, "a host named unix reads as unix:PATH; give its address");
	if (strcmp(tmp, "udp") == 0 || strcmp(tmp, "unixgram") == 0 || strcmp(tmp, "seqpacket") == 0)
		return fail(why, "a host named udp, unixgram or seqpacket reads as that prefix; give its address");
	a->kind = PL_ADDR_NAME;
	memcpy(a->host, tmp, n + 1);
	return 0;
}

static int set_port(struct pl_addr *a, const char *p, size_t n, unsigned flags,
		    const char **why)
{
	long port = parse_port(p, n);

	if (n == 0)
		return fail(why, "missing port after ':'");
	if (port < 0)
		return fail(why, "port is not a number");
	if (port > 65535)
		return fail(why, "port above 65535");
	if (port == 0 && !(flags & PL_ADDR_PASSIVE))
		return fail(why, "port 0 is only for listening");
	a->port = (uint16_t)port;
	return 0;
}

/* "upd:1.2.3.4:5" or "tcp:host:5": letters, not all hex, before the first
 * colon cannot start an IPv6 address, so it is a mistyped prefix. */
static int looks_like_prefix(const char *text)
{
	size_t n = strcspn(text, ":");
	int hex = 1;

	for (size_t i = 0; i < n; i++) {
		if (!isalpha((unsigned char)text[i]))
			return 0;
		hex = hex && hexval(text[i]) >= 0;
	}
	return n > 0 && (!hex || n > 4);
}

/* An IP address, a host name or the wildcard, with or without a port. */
static int parse_inet(struct pl_addr *a, const char *text, uint16_t default_port,
		      unsigned flags, const char **why)
{
	const char *colon;
	int r;

	if (*text == '\0')
		return fail(why, "empty address");
	/* http://host:80 would otherwise be "IPv6 ... needs brackets", which
	 * sends the user the wrong way */
	if (strstr(text, "://"))
		return fail(why, "a URL is not an address: use HOST:PORT");
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close)
			return fail(why, "unterminated '[' in address");
		if ((r = parse_host(a, text + 1, (size_t)(close - text - 1), 1, why)) < 0)
			return r;
		if (close[1] == '\0') {
			a->port = default_port;
			return default_port || (flags & PL_ADDR_PASSIVE) ? 0 : fail(why, "missing port");
		}
		if (close[1] != ':')
			return fail(why, "junk after ']' (expected :port)");
		return set_port(a, close + 2, strlen(close + 2), flags, why);
	}
	colon = strrchr(text, ':');
	if (colon && colon != strchr(text, ':')) {
		/* several colons and no brackets: a bare IPv6 address, default port */
		if (parse_host(a, text, strlen(text), 1, why) < 0)
			return fail(why, looks_like_prefix(text)
						 ? "unknown prefix (udp:, unix:, unixgram: or seqpacket:; TCP has none)"
						 : "IPv6 address with a port needs brackets: [addr]:port");
		a->port = default_port;
		return default_port || (flags & PL_ADDR_PASSIVE) ? 0 : fail(why, "missing port");
	}
	if (colon == text || (!colon && strspn(text, "0123456789") == strlen(text))) {
		if (!(flags & PL_ADDR_PASSIVE))
			return fail(why, "a port alone is only for listening");
		a->kind = PL_ADDR_ANY;
		return set_port(a, text + (colon != NULL), strlen(text + (colon != NULL)), flags, why);
	}
	if (!colon) {
		if ((r = parse_host(a, text, strlen(text), 0, why)) < 0)
			return r;
		a->port = default_port;
		return default_port || (flags & PL_ADDR_PASSIVE) ? 0 : fail(why, "missing port");
	}
	if ((r = parse_host(a, text, (size_t)(colon - text), 0, why)) < 0)
		return r;
	return set_port(a, colon + 1, strlen(colon + 1), flags, why);
}

/* The prefixes of text, and the socket each one means. */
static const struct {
	const char *prefix;
	enum pl_sock sock;
	int is_unix;
} prefixes[] = {
	{ "unix:", PL_SOCK_STREAM, 1 },
	{ "unixgram:", PL_SOCK_DGRAM, 1 },
	{ "seqpacket:", PL_SOCK_SEQPACKET, 1 },
	{ "udp:", PL_SOCK_DGRAM, 0 },
};

int pl_addr_parse(struct pl_addr *a, const char *text, uint16_t default_port,
		  unsigned flags, const char **why)
{
	memset(a, 0, sizeof(*a));
	if (text == NULL || *text == '\0')
		return fail(why, "empty address");
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i].prefix);
		if (strncmp(text, prefixes[i].prefix, n) != 0)
			continue;
		a->sock = prefixes[i].sock;
		if (prefixes[i].is_unix)
			return parse_unix(a, text + n, why);
		if (strstr(text, "://")) /* udp://host:53 */
			return fail(why, "a URL is not an address: use HOST:PORT");
		if (strncmp(text + n, "unix:", 5) == 0)
			return fail(why, "udp: takes HOST:PORT; a Unix datagram socket is unixgram:PATH");
		return parse_inet(a, text + n, default_port, flags, why);
	}
	return parse_inet(a, text, default_port, flags, why);
}

/* The prefix a's text starts with, "" for TCP. */
static const char *prefix_of(const struct pl_addr *a)
{
	int is_unix = a->kind == PL_ADDR_UNIX || a->kind == PL_ADDR_ABSTRACT;

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (prefixes[i].sock == a->sock && prefixes[i].is_unix == is_unix)
			return prefixes[i].prefix;
	return "";
}

static size_t escape_name(const char *p, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		char tmp[5];
		int k = c > 0x20 && c < 0x7f && c != '\\' ? snprintf(tmp, sizeof(tmp), "%c", c)
							 : snprintf(tmp, sizeof(tmp), "\\x%02x", c);
		for (int j = 0; j < k; j++, o++)
			if (o + 1 < cap)
				out[o] = tmp[j];
	}
	if (cap)
		out[o < cap ? o : cap - 1] = '\0';
	return o;
}

/* a's text without its prefix (unix: aside, which the Unix kinds write here). */
static int format_body(const struct pl_addr *a, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN], scope[IF_NAMESIZE + 12];
	int n;
	size_t off;

	switch (a->kind) {
	case PL_ADDR_IP4:
		inet_ntop(AF_INET, a->ip, ip, sizeof(ip));
		return snprintf(buf, cap, "%s:%u", ip, a->port);
	case PL_ADDR_IP6:
		inet_ntop(AF_INET6, a->ip, ip, sizeof(ip));
		scope[0] = '\0';
		if (a->scope_id) {
			char name[IF_NAMESIZE];
			if (if_indextoname(a->scope_id, name))
				snprintf(scope, sizeof(scope), "%%%s", name);
			else
				snprintf(scope, sizeof(scope), "%%%u", a->scope_id);
		}
		return snprintf(buf, cap, "[%s%s]:%u", ip, scope, a->port);
	case PL_ADDR_UNIX:
	case PL_ADDR_ABSTRACT:
		/* a socket that never bound (socketpair, most clients) has no path;
		 * "unix:" alone reads as a cut-off path ("close unix:: eof").  An
		 * abstract name of length 0 has no text either (parse refuses
		 * "unix:@") and only comes from a peer that bound it on purpose. */
		if (a->path_len == 0)
			return snprintf(buf, cap, "(unnamed)");
		if (a->kind == PL_ADDR_UNIX)
			return snprintf(buf, cap, "%.*s", (int)a->path_len, a->path);
		n = snprintf(buf, cap, "@");
		off = (size_t)n < cap ? (size_t)n : cap;
		return n + (int)escape_name(a->path, a->path_len, buf + off, cap - off);
	case PL_ADDR_NAME:
		return snprintf(buf, cap, "%s:%u", a->host, a->port);
	case PL_ADDR_ANY:
		/* udp:7000 reads better than udp::7000, and both parse */
		return snprintf(buf, cap, a->sock == PL_SOCK_STREAM ? ":%u" : "%u", a->port);
	default:
		return snprintf(buf, cap, "(none)");
	}
}

int pl_addr_format(const struct pl_addr *a, char *buf, size_t cap)
{
	const char *pre = prefix_of(a);
	size_t off = strlen(pre) < cap ? strlen(pre) : cap ? cap - 1 : 0;

	if (cap)
		snprintf(buf, off + 1, "%s", pre);
	/* the rest as a TCP or unix: address would be, after the prefix */
	return (int)strlen(pre) + format_body(a, buf + off, cap - off);
}

int pl_addr_equal(const struct pl_addr *a, const struct pl_addr *b)
{
	if (a->kind != b->kind || a->sock != b->sock || a->port != b->port)
		return 0;
	switch (a->kind) {
	case PL_ADDR_IP4:
		return memcmp(a->ip, b->ip, 4) == 0;
	case PL_ADDR_IP6:
		return memcmp(a->ip, b->ip, 16) == 0 && a->scope_id == b->scope_id;
	case PL_ADDR_UNIX:
	case PL_ADDR_ABSTRACT:
		return a->path_len == b->path_len && memcmp(a->path, b->path, a->path_len) == 0;
	case PL_ADDR_NAME:
		return strcmp(a->host, b->host) == 0;
	default:
		return 1;
	}
}

int pl_addr_sa_family(const struct pl_addr *a)
{
	switch (a->kind) {
	case PL_ADDR_IP4: return AF_INET;
	case PL_ADDR_IP6: return v4_mapped(a) ? AF_INET : AF_INET6;
	case PL_ADDR_UNIX:
	case PL_ADDR_ABSTRACT: return AF_UNIX;
	default: return 0;
	}
}

int pl_addr_sock_type(const struct pl_addr *a)
{
	return a->sock == PL_SOCK_DGRAM ? SOCK_DGRAM
	       : a->sock == PL_SOCK_SEQPACKET ? SOCK_SEQPACKET : SOCK_STREAM;
}

int pl_addr_to_sockaddr(const struct pl_addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (v4_mapped(a)) {
		struct pl_addr v4 = *a;
		v4.kind = PL_ADDR_IP4;
		memcpy(v4.ip, a->ip + 12, 4);
		return pl_addr_to_sockaddr(&v4, ss, len);
	}
	switch (a->kind) {
	case PL_ADDR_IP4: {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(a->port);
		memcpy(&s4->sin_addr, a->ip, 4);
		*len = sizeof(*s4);
		return 0;
	}
	case PL_ADDR_IP6: {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		memcpy(&s6->sin6_addr, a->ip, 16);
		s6->sin6_scope_id = a->scope_id;
		*len = sizeof(*s6);
		return 0;
	}
	case PL_ADDR_UNIX:
	case PL_ADDR_ABSTRACT: {
		struct sockaddr_un *su = (struct sockaddr_un *)ss;
		size_t off = a->kind == PL_ADDR_ABSTRACT;
		if (a->path_len + off > sizeof(su->sun_path) - (off ? 0 : 1))
			return -ENAMETOOLONG;
		su->sun_family = AF_UNIX;
		memcpy(su->sun_path + off, a->path, a->path_len);
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + off + a->path_len +
				   (off ? 0 : 1));
		return 0;
	}
	default:
		return -EAFNOSUPPORT;
	}
}

int pl_addr_from_sockaddr(struct pl_addr *a, const struct sockaddr *sa, socklen_t len)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		a->kind = PL_ADDR_IP4;
		a->port = ntohs(s4->sin_port);
		memcpy(a->ip, &s4->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		a->kind = PL_ADDR_IP6;
		a->port = ntohs(s6->sin6_port);
		memcpy(a->ip, &s6->sin6_addr, 16);
		a->scope_id = s6->sin6_scope_id;
		return 0;
	}
	if (sa->sa_family == AF_UNIX) {
		const struct sockaddr_un *su = (const struct sockaddr_un *)sa;
		size_t n = len > offsetof(struct sockaddr_un, sun_path)
				   ? len - offsetof(struct sockaddr_un, sun_path) : 0;
		if (n > sizeof(su->sun_path))
			n = sizeof(su->sun_path);
		a->kind = PL_ADDR_UNIX;
		if (n > 0 && su->sun_path[0] == '\0') {
			a->kind = PL_ADDR_ABSTRACT;
			memcpy(a->path, su->sun_path + 1, n - 1);
			a->path_len = n - 1;
		} else {
			a->path_len = strnlen(su->sun_path, n);
			memcpy(a->path, su->sun_path, a->path_len);
		}
		return 0;
	}
	return -EAFNOSUPPORT;
}

static int addr_of(int fd, struct pl_addr *a, int peer)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss), tlen = sizeof(int);
	int type = SOCK_STREAM;
	int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
		     : getsockname(fd, (struct sockaddr *)&ss, &len);

	if (r < 0)
		return -errno;
	if ((r = pl_addr_from_sockaddr(a, (struct sockaddr *)&ss, len)) < 0)
		return r;
	/* the text must say which socket it is (udp:..., seqpacket:...) */
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0)
		return -errno;
	a->sock = type == SOCK_DGRAM ? PL_SOCK_DGRAM
		  : type == SOCK_SEQPACKET ? PL_SOCK_SEQPACKET : PL_SOCK_STREAM;
	return 0;
}

int pl_addr_local(int fd, struct pl_addr *a) { return addr_of(fd, a, 0); }
int pl_addr_peer(int fd, struct pl_addr *a) { return addr_of(fd, a, 1); }

/* By the socket an address gets: -4 takes [::ffff:a.b.c.d], -6 does not. */
static int family_ok(const struct pl_addr *a, enum pl_family f)
{
	int fam = pl_addr_sa_family(a);

	return f == PL_FAMILY_ANY || (f == PL_FAMILY_4 && fam == AF_INET) ||
	       (f == PL_FAMILY_6 && fam == AF_INET6);
}

int pl_addr_resolve(const struct pl_addr *a, enum pl_family family,
		    struct pl_addr *out, size_t cap, size_t *n)
{
	struct addrinfo hints, *res, *ai;
	int r;

	*n = 0;
	if (a->kind != PL_ADDR_NAME) {
		int unix_kind = a->kind == PL_ADDR_UNIX || a->kind == PL_ADDR_ABSTRACT;
		if (!unix_kind && !family_ok(a, family))
			return -EAFNOSUPPORT;
		if (cap)
			out[(*n)++] = *a;
		return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family == PL_FAMILY_4 ? AF_INET : family == PL_FAMILY_6 ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = pl_addr_sock_type(a);
	hints.ai_flags = AI_ADDRCONFIG;
	r = getaddrinfo(a->host, NULL, &hints, &res);
	if (r == EAI_NONAME || r == EAI_ADDRFAMILY || r == EAI_NODATA) {
		/* AI_ADDRCONFIG hides ::1 on hosts whose only IPv6 is loopback */
		hints.ai_flags = 0;
		r = getaddrinfo(a->host, NULL, &hints, &res);
	}
	if (r != 0)
		return pl_err_from_eai(r, errno);
	for (ai = res; ai && *n < cap; ai = ai->ai_next) {
		struct pl_addr *o = &out[*n];
		if (pl_addr_from_sockaddr(o, ai->ai_addr, ai->ai_addrlen) < 0)
			continue;
		o->port = a->port;
		o->sock = a->sock;
		int dup = 0;
		for (size_t i = 0; i < *n; i++)
			dup |= pl_addr_equal(&out[i], o);
		if (!dup)
			(*n)++;
	}
	freeaddrinfo(res);
	return *n ? 0 : -EAFNOSUPPORT;
}

const char *pl_addr_resolve_strerror(int err)
{
	if (err == -EAFNOSUPPORT)
		return "no address of the requested family";
	return pl_strerror(err);
}
