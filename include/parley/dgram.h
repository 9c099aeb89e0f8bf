/*
 * dgram.h - datagram sockets (udp:, unixgram:) served one datagram per message.
 *
 * A server (server.h) given a datagram socket (pl_server_listen_fd or
 * pl_server_adopt_fd with a SOCK_DGRAM fd, which pl_listen makes for a udp:
 * or unixgram: address) serves it as a datagram endpoint: one socket, many
 * peers, read with recvmmsg and answered with sendmmsg, up to
 * PL_DGRAM_BATCH datagrams per call.  Each datagram is one message with no
 * framing (the datagram is the frame), whatever the server's protocol.
 *
 * A peer (an address that sent a datagram) is a struct pl_conn, made on its
 * first datagram, so on_request, pl_conn_reply / pl_conn_send,
 * pl_conn_peer, pl_conn_set_data and pl_conn_hold work on it as on a
 * connection and a stream server's code serves datagrams unchanged.  A
 * reply is one datagram to the peer's address, sent from the local address
 * the peer last wrote to (IP_PKTINFO / IPV6_PKTINFO: a server bound to the
 * wildcard on a host with several addresses answers from the one it was
 * asked on).  The server reports a peer with PL_EV_OPEN on its first
 * datagram and PL_EV_CLOSE when it goes: PL_CLOSE_IDLE after
 * idle_timeout_ms with no datagram either way, PL_CLOSE_LIMIT when evicted
 * for a new peer, PL_CLOSE_SHUTDOWN or PL_CLOSE_APP (pl_conn_close).  A
 * closed peer that writes again is a new peer.
 *
 * max_conns bounds the peers of a server (of a group: of the process),
 * counted apart from its connections, so a flood of spoofed sources can
 * neither grow state past it nor take connection slots: over it, the least
 * recently active peer not held (pl_conn_hold) makes room; when none can,
 * the datagram is dropped (PL_DROP_LIMIT).
 *
 * Nothing is half-delivered or left to grow: a datagram longer than max_msg
 * or PL_DGRAM_MAX (the kernel says MSG_TRUNC) is dropped.  Replies the
 * socket cannot take now (EAGAIN) wait in one queue per socket, up to
 * out_cap bytes, and leave when it is writable; past the cap they are
 * dropped, as are replies the kernel refuses (too long, an unnamed Unix
 * peer, a Unix peer that is gone or whose queue stays full).  Every drop is
 * counted (pl_server_stats: dropped[]); pl_conn_send still returns 0 for a
 * reply dropped later, as UDP loses silently.  A zero-length datagram is a
 * message of length 0, answered like any other.
 *
 * What has no meaning for one socket shared by many peers does nothing:
 * pl_conn_pause and pl_conn_resume; pl_conn_shutdown only stops c's later
 * sends (-EPIPE); pl_conn_set_transport returns -EOPNOTSUPP; pl_conn_unsent
 * is 0; pl_conn_fd is the shared socket.
 *
 * The other side: pl_client_connect (client.h) to a udp: or unixgram:
 * address gives an ordinary pl_conn on a connected datagram socket whose
 * messages are datagrams both ways (an empty one included), autobound
 * when Unix; an ICMP port unreachable closes it as PL_CLOSE_RESET with
 * -ECONNREFUSED.  It has no end of stream: the idle timeout or the
 * application ends it.
 *
 * Draining (pl_server_shutdown): the datagrams already received are served,
 * reading stops, peers not held are closed, queued replies are sent, and
 * the socket closes once no peer and no reply is left (or at the drain
 * timeout).
 */
#ifndef PARLEY_DGRAM_H
#define PARLEY_DGRAM_H

#define PL_DGRAM_MAX 65536 /* the largest datagram read (UDP carries 65507 over IPv4) */
#define PL_DGRAM_BATCH 64  /* datagrams per recvmmsg / sendmmsg */

/* Why a datagram was dropped; counted in the server's stats. */
enum pl_drop_reason {
	PL_DROP_OVERSIZE = 0, /* a request over max_msg or PL_DGRAM_MAX */
	PL_DROP_QUEUE,        /* a reply found the send queue at out_cap */
	PL_DROP_LIMIT,        /* a new peer while max_conns peers are held */
	PL_DROP_ERROR,        /* a reply the kernel refused */
	PL_DROP_RCVBUF,       /* requests the kernel dropped: the receive buffer was full
			       * (SO_RXQ_OVFL; known when the next datagram is read) */
	PL_DROP_REASONS
};

/* "oversize", "queue", "limit", "error", "rcvbuf": a static string ("?" for others). */
const char *pl_drop_reason_name(enum pl_drop_reason r);

#endif
