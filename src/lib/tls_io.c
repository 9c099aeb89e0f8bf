/*
 * tls_io.c - the TLS transport: one SSL per connection behind the seam of
 * transport.h, driven by the loop.  OpenSSL says after each call which
 * socket event it needs (WANT_READ / WANT_WRITE) for the operation it
 * could not finish; the connection waits for exactly that one.
 */
#include "parley/tls.h"

#include <errno.h>

#ifndef PL_HAVE_TLS

int pl_tls_transport_new(struct pl_tls *t, int fd, const char *name, struct pl_transport **out)
{
	(void)t, (void)fd, (void)name;
	*out = NULL;
	return -ENOTSUP;
}

int pl_tls_attach(struct pl_conn *c, struct pl_tls *t, const char *name)
{
	(void)c, (void)t, (void)name;
	return -ENOTSUP;
}

int pl_tls_handshake(struct pl_transport *tp, int fd)
{
	(void)tp, (void)fd;
	return -ENOTSUP;
}

const char *pl_tls_error(const struct pl_transport *tp)
{
	(void)tp;
	return NULL;
}

int pl_tls_info(const struct pl_transport *tp, struct pl_tls_info *info)
{
	(void)tp, (void)info;
	return -EINVAL;
}

#else

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "parley/clock.h"
#include "parley/loop.h"
#include "tls_int.h"

struct tls_tp {
	struct pl_transport base;    /* first: the connection holds this */
	SSL *ssl;
	struct pl_tls *tls;          /* referenced: sessions go back to it */
	struct tls_gen *gen;         /* referenced: the certificates this SSL began with */
	long long deadline;          /* handshake done by then (pl_clock_ms), or -1 */
	unsigned rd_wants, wr_wants; /* the event the last blocked read / write waits for */
	unsigned done : 1, failed : 1, shut : 1;
	int err;                     /* the failure's -errno, once failed */
	char why[200];               /* and the words for it */
};

static struct tls_tp *of(struct pl_transport *tp) { return (struct tls_tp *)tp; }

static void note_done(struct tls_tp *t)
{
	if (!t->done && SSL_is_init_finished(t->ssl)) {
		t->done = 1;
		t->deadline = -1;
	}
}

/* The peer's FIN without a close_notify: a truncation once talking, most
 * likely no TLS at all before. */
static void eof_words(struct tls_tp *t)
{
	snprintf(t->why, sizeof(t->why), "%s",
		 t->done || SSL_is_init_finished(t->ssl) ? "peer closed without close_notify"
			 : "peer closed during the handshake (not a TLS port?)");
}

/* Words for an SSL_ERROR_SSL, from what OpenSSL left in its queue. */
static void describe(struct tls_tp *t)
{
	unsigned long e = ERR_peek_last_error();
	int reason = ERR_GET_REASON(e);
	long v = SSL_get_verify_result(t->ssl);
	const char *s;

	if (ERR_GET_LIB(e) == ERR_LIB_SSL && reason == SSL_R_CERTIFICATE_VERIFY_FAILED && v != X509_V_OK)
		snprintf(t->why, sizeof(t->why), "certificate verify failed: %s",
			 X509_verify_cert_error_string(v));
	else if (ERR_GET_LIB(e) == ERR_LIB_SSL && reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		snprintf(t->why, sizeof(t->why), "peer did not send a certificate");
	else if (ERR_GET_LIB(e) == ERR_LIB_SSL && reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)
		eof_words(t);
	else if (ERR_GET_LIB(e) == ERR_LIB_SSL && reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED)
		snprintf(t->why, sizeof(t->why), "the peer requires a certificate (alert certificate required)");
	else if ((s = e ? ERR_reason_error_string(e) : NULL))
		snprintf(t->why, sizeof(t->why), "%s", s);
	else
		snprintf(t->why, sizeof(t->why), "protocol error");
}

static int failed(struct tls_tp *t, int err)
{
	t->failed = 1;
	t->err = err;
	ERR_clear_error();
	return err;
}

/* After an SSL call returned r <= 0: -EAGAIN (with the event it waits
 * for in *wants), 0 at the peer's close_notify, or the failure. */
static int step(struct tls_tp *t, int r, unsigned *wants)
{
	int e = SSL_get_error(t->ssl, r), saved = errno;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*wants = PL_READ;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		*wants = PL_WRITE;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_last_error()) {
			describe(t);
			return failed(t, -EPROTO);
		}
		if (saved == 0 || saved == EAGAIN) {
			eof_words(t);
			return failed(t, -EPROTO);
		}
		snprintf(t->why, sizeof(t->why), "%s", strerror(saved));
		return failed(t, -saved);
	default:
		describe(t);
		return failed(t, -EPROTO);
	}
}

/* Before an SSL call for one direction: the failure it already had, or 0
 * with the error queue, errno and that direction's wait cleared. */
static int begin(struct tls_tp *t, unsigned *wants)
{
	if (t->failed)
		return t->err;
	ERR_clear_error();
	errno = 0;
	*wants = 0;
	return 0;
}

/* After it: the bytes moved (ok == 1), else -EAGAIN, 0 or the failure. */
static ssize_t end(struct tls_tp *t, int ok, size_t n, unsigned *wants)
{
	ssize_t r = ok == 1 ? (ssize_t)n : step(t, ok, wants);

	note_done(t);
	return r;
}

static ssize_t tp_read(struct pl_transport *tp, int fd, void *buf, size_t n)
{
	struct tls_tp *t = of(tp);
	size_t got = 0;
	int r;

	(void)fd;
	if ((r = begin(t, &t->rd_wants)) < 0)
		return r;
	r = SSL_read_ex(t->ssl, buf, n, &got);
	return end(t, r, got, &t->rd_wants);
}

static ssize_t tp_write(struct pl_transport *tp, int fd, const void *buf, size_t n)
{
	struct tls_tp *t = of(tp);
	size_t done = 0;
	ssize_t r;
	int ok;

	(void)fd;
	if ((ok = begin(t, &t->wr_wants)) < 0)
		return ok;
	ok = SSL_write_ex(t->ssl, buf, n, &done);
	r = end(t, ok, done, &t->wr_wants);
	/* a close_notify while writing: the peer cannot read what we send */
	return r == 0 && !done ? -EPIPE : r;
}

/* close_notify, then the FIN: TLS 1.3 peers may keep writing after ours,
 * and OpenSSL goes on reading after SSL_shutdown has sent it. */
static int tp_shutdown(struct pl_transport *tp, int fd)
{
	struct tls_tp *t = of(tp);

	if (!t->failed && t->done && !t->shut) {
		ERR_clear_error();
		t->shut = 1;
		/* a full socket here (rare: every reply was written) loses the
		 * close_notify, not the half-close */
		if (SSL_shutdown(t->ssl) < 0)
			ERR_clear_error();
	}
	return shutdown(fd, SHUT_WR) < 0 ? -errno : 0;
}

static size_t tp_pending(const struct pl_transport *tp)
{
	const struct tls_tp *t = (const struct tls_tp *)tp;
	int n;

	if (t->failed)
		return 0;
	n = SSL_pending(t->ssl);
	/* records read ahead but not decrypted wake no epoll either */
	return n > 0 ? (size_t)n : (size_t)SSL_has_pending(t->ssl);
}

static unsigned tp_events(const struct pl_transport *tp, unsigned want)
{
	const struct tls_tp *t = (const struct tls_tp *)tp;
	unsigned ev = 0;

	if (want & PL_READ)
		ev |= t->rd_wants ? t->rd_wants : PL_READ;
	if (want & PL_WRITE)
		ev |= t->wr_wants ? t->wr_wants : PL_WRITE;
	return ev;
}

static long long tp_deadline(const struct pl_transport *tp)
{
	return ((const struct tls_tp *)tp)->deadline;
}

static void tp_free(struct pl_transport *tp)
{
	struct tls_tp *t = of(tp);

	/* a graceful close says so: without close_notify the peer must take
	 * it for a truncation */
	if (!t->failed && t->done && !t->shut) {
		ERR_clear_error();
		if (SSL_shutdown(t->ssl) < 0)
			ERR_clear_error();
	}
	SSL_free(t->ssl);
	tls_gen_unref(t->gen);
	tls_unref(t->tls);
	free(t);
}

static const struct pl_transport_ops tls_ops = {
	.name = "tls",
	.read = tp_read,
	.write = tp_write,
	.shutdown = tp_shutdown,
	.pending = tp_pending,
	.events = tp_events,
	.deadline = tp_deadline,
	.free = tp_free,
};

/* Client: SNI for a host name, and the name or address to verify. */
static int set_name(struct tls_tp *t, const char *name)
{
	char host[256];
	size_t n = strlen(name);
	unsigned char bin[16];

	/* "[::1]" as a user may give it */
	if (n >= 2 && name[0] == '[' && name[n - 1] == ']' && n - 2 < sizeof(host)) {
		memcpy(host, name + 1, n - 2);
		host[n - 2] = '\0';
		name = host;
	}
	if (inet_pton(AF_INET, name, bin) == 1 || inet_pton(AF_INET6, name, bin) == 1) {
		if (!t->tls->insecure &&
		    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name) != 1)
			return -EINVAL;
		return 0;
	}
	if (SSL_set_tlsext_host_name(t->ssl, name) != 1)
		return -EINVAL;
	if (!t->tls->insecure && SSL_set1_host(t->ssl, name) != 1)
		return -EINVAL;
	return 0;
}

static int attach_fd(struct tls_tp *t, int fd)
{
	BIO *b;

	if (t->tls->ktls)  /* kTLS engages only on OpenSSL's own socket BIO */
		return SSL_set_fd(t->ssl, fd) == 1 ? 0 : -ENOMEM;
	if (!(b = BIO_new(t->tls->bio)))
		return -ENOMEM;
	BIO_set_data(b, (void *)(intptr_t)fd);
	SSL_set_bio(t->ssl, b, b);
	return 0;
}

static int setup(struct tls_tp *t, int fd, const char *name)
{
	SSL_SESSION *s;
	int r;

	if (!(t->ssl = SSL_new(t->gen->ctx[0])))
		return -ENOMEM;
	if ((r = attach_fd(t, fd)) < 0)
		return r;
	if (t->tls->server) {
		SSL_set_accept_state(t->ssl);
		return 0;
	}
	SSL_set_connect_state(t->ssl);
	if (name && (r = set_name(t, name)) < 0)
		return r;
	if (t->tls->resume && (s = tls_session_get(t->tls))) {
		SSL_set_session(t->ssl, s);
		SSL_SESSION_free(s);
	}
	return 0;
}

int pl_tls_transport_new(struct pl_tls *tls, int fd, const char *name, struct pl_transport **out)
{
	struct tls_tp *t = calloc(1, sizeof(*t));
	int r;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	t->base.ops = &tls_ops;
	t->tls = tls;
	tls_ref(tls);
	t->gen = tls_gen_get(tls);
	t->deadline = tls->handshake_timeout_ms > 0 ? pl_clock_ms() + tls->handshake_timeout_ms : -1;
	if ((r = setup(t, fd, name)) < 0) {
		ERR_clear_error();
		tp_free(&t->base);
		return r;
	}
	*out = &t->base;
	return 0;
}

int pl_tls_attach(struct pl_conn *c, struct pl_tls *tls, const char *name)
{
	struct pl_transport *tp;
	int r;

	if ((r = pl_tls_transport_new(tls, pl_conn_fd(c), name, &tp)) < 0)
		return r;
	if ((r = pl_conn_set_transport(c, tp)) < 0)
		tp->ops->free(tp);
	return r;
}

static int is_tls(const struct pl_transport *tp) { return tp && tp->ops == &tls_ops; }

int pl_tls_handshake(struct pl_transport *tp, int fd)
{
	struct tls_tp *t = of(tp);
	int r;

	(void)fd;
	if (!is_tls(tp))
		return -EINVAL;
	if (t->failed)
		return t->err;
	if (t->done)
		return 0;
	if (t->deadline >= 0 && pl_clock_ms() >= t->deadline)
		return failed(t, -ETIMEDOUT);
	ERR_clear_error();
	errno = 0;
	t->rd_wants = t->wr_wants = 0;
	if ((r = SSL_do_handshake(t->ssl)) == 1) {
		note_done(t);
		return 0;
	}
	/* either direction's op may have to wait: both wait for the same */
	r = step(t, r, &t->rd_wants);
	t->wr_wants = t->rd_wants;
	return r == 0 ? failed(t, -ECONNRESET) : r;
}

const char *pl_tls_error(const struct pl_transport *tp)
{
	const struct tls_tp *t = (const struct tls_tp *)tp;

	if (!is_tls(tp))
		return NULL;
	if (!t->done && t->deadline >= 0 && pl_clock_ms() >= t->deadline &&
	    (!t->failed || t->err == -ETIMEDOUT))
		return "handshake timeout";
	return t->failed ? t->why : NULL;
}

static void subject(X509 *x, char *buf, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n;

	buf[0] = '\0';
	if (!b)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_read(b, buf, (int)cap - 1)) > 0)
		buf[n] = '\0';
	BIO_free(b);
}

int pl_tls_info(const struct pl_transport *tp, struct pl_tls_info *info)
{
	const struct tls_tp *t = (const struct tls_tp *)tp;
	const unsigned char *alpn = NULL;
	unsigned alen = 0;
	const char *sni;
	X509 *peer;

	if (!is_tls(tp))
		return -EINVAL;
	if (!t->done)
		return -EAGAIN;
	memset(info, 0, sizeof(*info));
	snprintf(info->version, sizeof(info->version), "%s", SSL_get_version(t->ssl));
	snprintf(info->cipher, sizeof(info->cipher), "%s", SSL_get_cipher_name(t->ssl));
	SSL_get0_alpn_selected(t->ssl, &alpn, &alen);
	if (alen >= sizeof(info->alpn))
		alen = sizeof(info->alpn) - 1;
	memcpy(info->alpn, alpn ? (const char *)alpn : "", alen);
	if (t->tls->server && (sni = SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name)))
		snprintf(info->servername, sizeof(info->servername), "%s", sni);
	if ((peer = SSL_get1_peer_certificate(t->ssl))) {
		subject(peer, info->peer, sizeof(info->peer));
		X509_free(peer);
	}
	info->resumed = SSL_session_reused(t->ssl);
	info->ktls_send = BIO_get_ktls_send(SSL_get_wbio(t->ssl)) > 0;
	info->ktls_recv = BIO_get_ktls_recv(SSL_get_rbio(t->ssl)) > 0;
	return 0;
}

#endif
