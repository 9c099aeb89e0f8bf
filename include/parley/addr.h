/*
 * addr.h - one address type in place of the sockaddr zoo.
 *
 * A struct pl_addr is a tagged value: IPv4, IPv6 (with scope id), a Unix
 * socket path or Linux abstract name, a host name still to be resolved, or
 * the wildcard ("every interface").  Text goes in with pl_addr_parse and
 * comes back out with pl_addr_format, and parse(format(a)) == a.  The
 * sockaddr conversions and the getsockname/getpeername wrappers are the only
 * places that touch struct sockaddr_*.
 *
 * Accepted text:
 *   127.0.0.1:1234   [::1]:1234   [fe80::1%eth0]:1234   localhost:1234
 *   1234   :1234   (wildcard)     unix:/path/to.sock   unix:@name (abstract)
 *   a host or bracketed IPv6 without a port takes the caller's default port.
 * Datagram and packet sockets say so with a prefix (the field sock):
 *   udp:127.0.0.1:7000   udp:[::1]:7000   udp:localhost:7000   udp:7000
 *   (every interface)    unixgram:/path   unixgram:@name       seqpacket:/path
 *   seqpacket:@name.  Everything after udp: is read as a TCP address is.
 *   So a host named udp, unix, unixgram or seqpacket is refused: its text
 *   would read as the prefix.
 * An IPv4-mapped IPv6 address ([::ffff:127.0.0.1]:1234) stays IPv6 as text
 * but gets an IPv4 socket (pl_addr_sa_family, pl_addr_to_sockaddr): that is
 * what it is on the wire, and an IPV6_V6ONLY socket could not bind it.  A URL
 * (anything with "://" outside unix:) is refused.
 */
#ifndef PARLEY_ADDR_H
#define PARLEY_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PL_ADDR_HOST_MAX 256   /* a DNS name is at most 253 bytes */
#define PL_ADDR_PATH_MAX 108   /* sizeof(((struct sockaddr_un *)0)->sun_path) */
#define PL_ADDR_TEXT_MAX 512   /* enough for any formatted address (107 escaped bytes) */

enum pl_addr_kind {
	PL_ADDR_NONE = 0,
	PL_ADDR_IP4,
	PL_ADDR_IP6,
	PL_ADDR_UNIX,     /* path[] holds a file system path */
	PL_ADDR_ABSTRACT, /* path[] holds the name, without the leading NUL */
	PL_ADDR_NAME,     /* host[] holds a name for pl_addr_resolve */
	PL_ADDR_ANY,      /* every interface, IPv4 and IPv6 */
};

/* The socket type an address is for.  STREAM is 0, so a zeroed address and
 * every address made before datagrams existed stay TCP / Unix streams. */
enum pl_sock {
	PL_SOCK_STREAM = 0, /* TCP, unix: */
	PL_SOCK_DGRAM,      /* udp:, unixgram: (one datagram, one message) */
	PL_SOCK_SEQPACKET,  /* seqpacket: (Unix only: a connection of packets) */
};

struct pl_addr {
	enum pl_addr_kind kind;
	enum pl_sock sock;
	uint16_t port;          /* host byte order */
	uint32_t scope_id;      /* IPv6 interface index, 0 if none */
	uint8_t ip[16];         /* IPv4 in the first 4 bytes */
	size_t path_len;        /* bytes used in path[] (abstract names may hold NULs) */
	char path[PL_ADDR_PATH_MAX];
	char host[PL_ADDR_HOST_MAX];
};

/* Flags for pl_addr_parse. */
#define PL_ADDR_PASSIVE 0x1 /* for a listener: port 0 and the wildcard are allowed */

/*
 * Parses text into *a.  Port defaults to default_port when the text names a
 * host without one.  Returns 0, or -EINVAL with *why (if why is not NULL)
 * pointing at a static sentence saying what is wrong.  Never resolves names;
 * a scope such as %eth0 is looked up with if_nametoindex.
 */
int pl_addr_parse(struct pl_addr *a, const char *text, uint16_t default_port,
		  unsigned flags, const char **why);

/*
 * Writes a's text form into buf (NUL-terminated, truncated to cap).  Returns
 * the length the full text has, like snprintf.  Non-printable bytes of an
 * abstract name are written as \xHH.  A Unix socket with no name (an unbound
 * client, a socketpair) is written as unix:(unnamed).
 */
int pl_addr_format(const struct pl_addr *a, char *buf, size_t cap);

/* Compares two addresses field by field (sock included); 1 when equal. */
int pl_addr_equal(const struct pl_addr *a, const struct pl_addr *b);

/* Converts to a sockaddr; *len receives its length.  -EAFNOSUPPORT for NAME/ANY/NONE.
 * An IPv4-mapped IPv6 address becomes a sockaddr_in. */
int pl_addr_to_sockaddr(const struct pl_addr *a, struct sockaddr_storage *ss, socklen_t *len);

/* Converts from a sockaddr of length len; sock is PL_SOCK_STREAM (the
 * caller sets another).  -EAFNOSUPPORT for other families. */
int pl_addr_from_sockaddr(struct pl_addr *a, const struct sockaddr *sa, socklen_t len);

/* getsockname / getpeername of fd as a pl_addr, sock from the socket's
 * SO_TYPE (so a UDP listener formats as udp:...).  0 or -errno. */
int pl_addr_local(int fd, struct pl_addr *a);
int pl_addr_peer(int fd, struct pl_addr *a);

/* Address family to ask the resolver for. */
enum pl_family { PL_FAMILY_ANY = 0, PL_FAMILY_4 = 4, PL_FAMILY_6 = 6 };

/*
 * Resolves a into concrete addresses, in the resolver's order, stored in
 * out[0..cap); *n receives how many.  A numeric address resolves to itself
 * (filtered by family), a NAME goes through getaddrinfo.  Returns 0, a
 * resolver error (pl_err_is_eai, error.h: never equal to any -errno) when
 * resolution failed, -errno for a system error (EAI_SYSTEM), or
 * -EAFNOSUPPORT when no address of the family was found.  The results keep
 * a's sock.
 */
int pl_addr_resolve(const struct pl_addr *a, enum pl_family family,
		    struct pl_addr *out, size_t cap, size_t *n);

/* Text for an error from pl_addr_resolve (pl_strerror, with words of its
 * own for -EAFNOSUPPORT): a static string, never freed. */
const char *pl_addr_resolve_strerror(int err);

/* The socket family for a: AF_INET (IPv4-mapped IPv6 included), AF_INET6 or
 * AF_UNIX; 0 for NAME/ANY/NONE. */
int pl_addr_sa_family(const struct pl_addr *a);

/* The socket type for a: SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET. */
int pl_addr_sock_type(const struct pl_addr *a);

#endif
