/*
 * tls.h - TLS for connections, with OpenSSL 3 behind the transport seam.
 *
 * A struct pl_tls is a context: the certificates and keys, what to trust,
 * how to verify the peer, ALPN and versions.  Each connection gets a
 * transport (transport.h) made from it, so framing, dispatch, timeouts and
 * backpressure above work unchanged.  The handshake is driven by the loop:
 * the first read or write runs it, waiting only for the socket event
 * OpenSSL asks for.
 *
 * A server context (server = 1) holds one or more certificate/key pairs;
 * the first is the default and the others are chosen by the name the
 * client sends (SNI).  A client context verifies the server against
 * ca_file/ca_path or, with neither, the system store, unless insecure is
 * set; it sends the name given to pl_tls_attach as SNI (when it is a host
 * name) and checks the certificate against it (host name or IP address).
 *
 * Built without OpenSSL (no libssl-dev), pl_tls_available is 0 and
 * pl_tls_new fails with -ENOTSUP; everything else here is never reached.
 *
 * Thread safety: a context may serve connections on several loops at once;
 * pl_tls_reload may run on any thread while they do.  A transport belongs
 * to its connection's loop thread.
 */
#ifndef PARLEY_TLS_H
#define PARLEY_TLS_H

#include <stddef.h>
#include "parley/conn.h"
#include "parley/transport.h"

struct pl_tls;

/* What a server asks of its clients' certificates. */
enum pl_tls_peer_cert {
	PL_TLS_PEER_NONE = 0,  /* none asked for */
	PL_TLS_PEER_OPTIONAL,  /* asked for; verified when sent */
	PL_TLS_PEER_REQUIRE,   /* required and verified */
};

struct pl_tls_cert {
	const char *cert_file; /* PEM: the certificate, then its chain */
	const char *key_file;  /* PEM private key */
};

struct pl_tls_config {
	int server;                     /* 1: the accepting side */
	/* server: 1 or more, the first the default; client: 0, or 1 for mutual TLS */
	const struct pl_tls_cert *certs;
	size_t ncerts;
	const char *ca_file;            /* PEM bundle of trusted CAs, or NULL */
	const char *ca_path;            /* c_rehash'd directory, or NULL */
	/* client: do not verify the server (a warning's worth: anyone in the middle reads it) */
	int insecure;
	enum pl_tls_peer_cert peer_cert; /* server: client certificates */
	const char *alpn;               /* "h2,http/1.1": offered (client) or accepted in
					 * this order of preference (server); NULL: none */
	int min_version;                /* 12 or 13 (TLS 1.2 / 1.3); 0: 12 */
	long long handshake_timeout_ms; /* 0: 10 s; < 0: none */
	int ktls;                       /* ask OpenSSL for kernel TLS (SSL_OP_ENABLE_KTLS) */
	int resume;                     /* client: resume the last session on the next connection */
};

/* 1 when this libparley was built with OpenSSL, else 0. */
int pl_tls_available(void);

/*
 * A context from cfg (strings copied; files read now).  0 with *out set, or
 * -ENOTSUP (built without TLS), -EINVAL (a bad setting, or a file OpenSSL
 * refused: err, of errcap bytes, then says which file and why), -ENOMEM.
 */
int pl_tls_new(const struct pl_tls_config *cfg, struct pl_tls **out, char *err, size_t errcap);

/*
 * Reads the certificate, key and CA files again (after a renewal: SIGHUP).
 * Connections open keep the certificates they began with; new ones get the
 * new.  On any error nothing changes: 0 or -errno, with err as pl_tls_new.
 */
int pl_tls_reload(struct pl_tls *t, char *err, size_t errcap);

/* Frees t.  Transports made from it keep what they need and may outlive it. */
void pl_tls_free(struct pl_tls *t);

/*
 * A transport for the connected socket fd, on t's side.  name (client
 * only, may be NULL) is the server's name: sent as SNI when it is a host
 * name, and what the certificate must match unless t is insecure.  0 with
 * *out set, or -ENOMEM.  fd stays the caller's.
 */
int pl_tls_transport_new(struct pl_tls *t, int fd, const char *name, struct pl_transport **out);

/* pl_tls_transport_new for c's socket, then pl_conn_set_transport.  0 or -errno. */
int pl_tls_attach(struct pl_conn *c, struct pl_tls *t, const char *name);

/*
 * Drives tp's handshake on fd without a connection (a byte pump of one's
 * own): 0 when done, -EAGAIN to call again once fd has the events
 * tp->ops->events asks for, -EPROTO (pl_tls_error says why) or another
 * -errno when it failed, -ETIMEDOUT after the handshake timeout.
 */
int pl_tls_handshake(struct pl_transport *tp, int fd);

/*
 * Why tp failed, for a person: "certificate verify failed: self-signed
 * certificate", "hostname mismatch", "peer did not send a certificate",
 * "handshake timeout", "peer closed without close_notify", ...  NULL when
 * it has not failed or tp is not a TLS transport (or is NULL, so
 * pl_tls_error(pl_conn_transport(c)) is always safe).  Valid while tp is.
 * A connection whose TLS failed closes with PL_CLOSE_TLS and -EPROTO (or
 * -ETIMEDOUT for the handshake timeout).
 */
const char *pl_tls_error(const struct pl_transport *tp);

struct pl_tls_info {
	char version[16];      /* "TLSv1.3" */
	char cipher[64];       /* "TLS_AES_256_GCM_SHA384" */
	char alpn[64];         /* negotiated protocol, "" for none */
	char servername[256];  /* server: the SNI name the client sent, "" for none */
	char peer[256];        /* the peer certificate's subject (RFC 2253), "" for none */
	int resumed;           /* the session was resumed, no full handshake */
	int ktls_send, ktls_recv; /* the kernel does the record layer that way */
};

/* What tp's handshake settled.  0, or -EAGAIN before it is done, -EINVAL
 * when tp is not a TLS transport. */
int pl_tls_info(const struct pl_transport *tp, struct pl_tls_info *info);

#endif
