/*
 * tls_int.h - what the TLS context (tls.c) shares with the TLS transport
 * (tls_io.c).  Not installed; only built with OpenSSL (PL_HAVE_TLS).
 */
#ifndef PARLEY_TLS_INT_H
#define PARLEY_TLS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <openssl/ssl.h>

#include "parley/tls.h"

/*
 * One load of the certificate files: what a reload replaces.  ctx[0] is
 * the default, ctx[i] serves certs[i] when the client's SNI names it.
 * Refcounted: every transport made from it holds a reference, so a reload
 * never pulls certificates from under a handshake in progress.
 */
struct tls_gen {
	atomic_uint refs;
	size_t n;
	SSL_CTX *ctx[];
};

/* The context's shared part: transports may outlive pl_tls_free. */
struct pl_tls {
	atomic_uint refs;            /* the owner's, plus one per transport */
	pthread_mutex_t lock;        /* gen and session, for reload and resume across threads */
	struct tls_gen *gen;
	SSL_SESSION *session;        /* client, resume: the newest ticket */
	BIO_METHOD *bio;             /* send/recv without SIGPIPE */
	int server, insecure, ktls, resume, min_version;
	enum pl_tls_peer_cert peer_cert;
	long long handshake_timeout_ms;
	unsigned char *alpn;         /* wire format: length-prefixed names */
	unsigned alpn_len;
	char *ca_file, *ca_path;
	size_t ncerts;
	struct pl_tls_cert *certs;   /* copies */
};

void tls_ref(struct pl_tls *t);
void tls_unref(struct pl_tls *t);
/* The current generation with a reference taken: tls_gen_unref when done. */
struct tls_gen *tls_gen_get(struct pl_tls *t);
void tls_gen_unref(struct tls_gen *g);
/* Client, resume: a copy of the newest session (NULL for none) / keep s. */
SSL_SESSION *tls_session_get(struct pl_tls *t);
void tls_session_put(struct pl_tls *t, SSL_SESSION *s);

#endif
