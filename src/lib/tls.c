/*
 * tls.c - the TLS context: certificates, trust, verification, SNI, ALPN,
 * versions, reload.  The per-connection transport is in tls_io.c.
 */
#include "parley/tls.h"

#include <errno.h>

#ifndef PL_HAVE_TLS

int pl_tls_available(void) { return 0; }

int pl_tls_new(const struct pl_tls_config *cfg, struct pl_tls **out, char *err, size_t errcap)
{
	(void)cfg;
	*out = NULL;
	if (errcap)
		err[0] = '\0';
	return -ENOTSUP;
}

int pl_tls_reload(struct pl_tls *t, char *err, size_t errcap)
{
	(void)t, (void)err, (void)errcap;
	return -ENOTSUP;
}

void pl_tls_free(struct pl_tls *t) { (void)t; }

#else

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls_int.h"

#define HANDSHAKE_TIMEOUT_DEFAULT_MS 10000

int pl_tls_available(void) { return 1; }

/* The reason OpenSSL gave for the last failure, for "FILE: reason". */
static int fail(char *err, size_t cap, const char *file, const char *fallback)
{
	unsigned long e = ERR_peek_last_error();
	const char *why = NULL;

	if (e && ERR_GET_LIB(e) == ERR_LIB_SYS)
		why = strerror(ERR_GET_REASON(e));
	else if (e && ERR_GET_REASON(e) != ERR_R_PEM_LIB) /* "PEM lib" says nothing */
		why = ERR_reason_error_string(e);
	if (cap)
		snprintf(err, cap, "%s: %s", file, why ? why : fallback);
	ERR_clear_error();
	return -EINVAL;
}

/* A file OpenSSL would report only as "system lib": say why in words. */
static int unreadable(const char *file, char *err, size_t cap)
{
	if (access(file, R_OK) == 0)
		return 0;
	if (cap)
		snprintf(err, cap, "%s: %s", file, strerror(errno));
	return -EINVAL;
}

/* "h2,http/1.1" in ALPN's wire format (each name after its length). */
static int alpn_wire(struct pl_tls *t, const char *list, char *err, size_t cap)
{
	size_t n = strlen(list), o = 0;
	const char *p = list;

	if (!(t->alpn = malloc(n + 1)))
		return -ENOMEM;
	while (*p) {
		size_t len = strcspn(p, ",");
		if (len == 0 || len > 255) {
			if (cap)
				snprintf(err, cap, "ALPN list '%s': a protocol name must be 1 to 255 bytes",
					 list);
			return -EINVAL;
		}
		t->alpn[o++] = (unsigned char)len;
		memcpy(t->alpn + o, p, len);
		o += len;
		p += len;
		if (*p == ',' && !*++p) {
			if (cap)
				snprintf(err, cap, "ALPN list '%s' ends with a comma", list);
			return -EINVAL;
		}
	}
	if (o == 0) {
		if (cap)
			snprintf(err, cap, "ALPN list is empty");
		return -EINVAL;
	}
	t->alpn_len = (unsigned)o;
	return 0;
}

/* Server: the first of our protocols (in our order) the client offers;
 * no overlap is a fatal no_application_protocol alert (RFC 7301). */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned inlen, void *arg)
{
	struct pl_tls *t = arg;
	unsigned char *sel;

	(void)ssl;
	if (SSL_select_next_proto(&sel, outlen, t->alpn, t->alpn_len, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* Server: the certificate whose names cover the client's SNI, else the first. */
static int on_servername(SSL *ssl, int *alert, void *arg)
{
	struct tls_gen *g = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)alert;
	if (!name || g->n < 2)
		return SSL_TLSEXT_ERR_OK;
	for (size_t i = 0; i < g->n; i++) {
		X509 *x = SSL_CTX_get0_certificate(g->ctx[i]);
		if (x && X509_check_host(x, name, 0, 0, NULL) == 1) {
			if (i)
				SSL_set_SSL_CTX(ssl, g->ctx[i]);
			break;
		}
	}
	return SSL_TLSEXT_ERR_OK;
}

/* Client, resume: keep the newest session ticket the server sent. */
static int on_new_session(SSL *ssl, SSL_SESSION *s)
{
	tls_session_put(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)), s);
	return 1; /* the reference is ours now */
}

static int load_pair(SSL_CTX *ctx, const struct pl_tls_cert *c, char *err, size_t cap)
{
	int r;

	if ((r = unreadable(c->cert_file, err, cap)) < 0 || (r = unreadable(c->key_file, err, cap)) < 0)
		return r;
	if (SSL_CTX_use_certificate_chain_file(ctx, c->cert_file) != 1)
		return fail(err, cap, c->cert_file, "not a PEM certificate");
	if (SSL_CTX_use_PrivateKey_file(ctx, c->key_file, SSL_FILETYPE_PEM) != 1 &&
	    ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH)
		return fail(err, cap, c->key_file, "not a PEM private key");
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		if (cap)
			snprintf(err, cap, "%s: does not match the certificate in %s", c->key_file,
				 c->cert_file);
		return -EINVAL;
	}
	return 0;
}

static int load_trust(struct pl_tls *t, SSL_CTX *ctx, char *err, size_t cap)
{
	if (t->ca_file && unreadable(t->ca_file, err, cap) < 0)
		return -EINVAL;
	if (t->ca_file || t->ca_path) {
		if (SSL_CTX_load_verify_locations(ctx, t->ca_file, t->ca_path) != 1)
			return fail(err, cap, t->ca_file ? t->ca_file : t->ca_path, "no CA certificates");
		if (t->server && t->ca_file) {
			STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->ca_file);
			if (names)
				SSL_CTX_set_client_CA_list(ctx, names);
		}
	} else if (!t->server && !t->insecure && SSL_CTX_set_default_verify_paths(ctx) != 1) {
		return fail(err, cap, "system CA store", "cannot be read");
	}
	return 0;
}

static void set_verify(struct pl_tls *t, SSL_CTX *ctx)
{
	int mode = SSL_VERIFY_NONE;

	if (!t->server && !t->insecure)
		mode = SSL_VERIFY_PEER;
	if (t->server && t->peer_cert != PL_TLS_PEER_NONE)
		mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
	if (t->server && t->peer_cert == PL_TLS_PEER_REQUIRE)
		mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_CTX_set_verify(ctx, mode, NULL);
}

/* One SSL_CTX: the settings every connection shares, with certificate i. */
static int make_ctx(struct pl_tls *t, struct tls_gen *g, size_t i, char *err, size_t cap)
{
	SSL_CTX *ctx = SSL_CTX_new(t->server ? TLS_server_method() : TLS_client_method());
	uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE;
	int r;

	if (!ctx)
		return -ENOMEM;
	g->ctx[i] = ctx;
	if (t->ktls)
		opts |= SSL_OP_ENABLE_KTLS;
	SSL_CTX_set_options(ctx, opts);
	/* conn.c offers the same bytes again after -EAGAIN, but its buffer may
	 * have moved (grown) in between; and partial writes let it keep count */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			      SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_read_ahead(ctx, 1); /* a record in one recv, not a header and a body */
	SSL_CTX_set_min_proto_version(ctx, t->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_app_data(ctx, t);
	if (i < t->ncerts && (r = load_pair(ctx, &t->certs[i], err, cap)) < 0)
		return r;
	if ((r = load_trust(t, ctx, err, cap)) < 0)
		return r;
	set_verify(t, ctx);
	if (t->server) {
		static const unsigned char sid[] = "parley";
		SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
		SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
		SSL_CTX_set_tlsext_servername_arg(ctx, g);
		if (t->alpn)
			SSL_CTX_set_alpn_select_cb(ctx, on_alpn, t);
	} else {
		if (t->alpn && SSL_CTX_set_alpn_protos(ctx, t->alpn, t->alpn_len) != 0)
			return -ENOMEM;
		if (t->resume) {
			SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
							    SSL_SESS_CACHE_NO_INTERNAL_STORE);
			SSL_CTX_sess_set_new_cb(ctx, on_new_session);
		}
	}
	return 0;
}

void tls_gen_unref(struct tls_gen *g)
{
	if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
		return;
	for (size_t i = 0; i < g->n; i++)
		SSL_CTX_free(g->ctx[i]);
	free(g);
}

/* Reads every file into a new generation.  0 or -errno, err filled. */
static int load(struct pl_tls *t, struct tls_gen **out, char *err, size_t cap)
{
	size_t n = t->ncerts ? t->ncerts : 1;
	struct tls_gen *g = calloc(1, sizeof(*g) + n * sizeof(g->ctx[0]));
	int r = 0;

	if (!g)
		return -ENOMEM;
	atomic_init(&g->refs, 1);
	g->n = n;
	for (size_t i = 0; i < n && r == 0; i++)
		r = make_ctx(t, g, i, err, cap);
	if (r < 0) {
		tls_gen_unref(g);
		return r;
	}
	*out = g;
	return 0;
}

static int check_config(const struct pl_tls_config *cfg, char *err, size_t cap)
{
	const char *why = NULL;

	if (cfg->server && cfg->ncerts == 0)
		why = "a TLS server needs a certificate and its key";
	else if (!cfg->server && cfg->ncerts > 1)
		why = "a TLS client takes at most one certificate";
	else if (cfg->server && cfg->peer_cert != PL_TLS_PEER_NONE && !cfg->ca_file && !cfg->ca_path)
		why = "verifying client certificates needs a CA file or directory";
	else if (cfg->min_version && cfg->min_version != 12 && cfg->min_version != 13)
		why = "the minimum TLS version is 1.2 or 1.3";
	for (size_t i = 0; !why && i < cfg->ncerts; i++)
		if (!cfg->certs[i].cert_file || !cfg->certs[i].key_file)
			why = "each certificate needs its key";
	if (why && cap)
		snprintf(err, cap, "%s", why);
	return why ? -EINVAL : 0;
}

static char *dup_or_null(const char *s, int *bad)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*bad = 1;
	return d;
}

/* Copies cfg's settings and strings into t.  0 or -errno. */
static int copy_config(struct pl_tls *t, const struct pl_tls_config *cfg, char *err, size_t cap)
{
	int bad = 0, r;

	t->server = cfg->server;
	t->insecure = cfg->insecure;
	t->ktls = cfg->ktls;
	t->resume = cfg->resume;
	t->min_version = cfg->min_version ? cfg->min_version : 12;
	t->peer_cert = cfg->peer_cert;
	t->handshake_timeout_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms
							    : HANDSHAKE_TIMEOUT_DEFAULT_MS;
	t->ca_file = dup_or_null(cfg->ca_file, &bad);
	t->ca_path = dup_or_null(cfg->ca_path, &bad);
	if (cfg->ncerts && !(t->certs = calloc(cfg->ncerts, sizeof(*t->certs))))
		return -ENOMEM;
	t->ncerts = cfg->ncerts;
	for (size_t i = 0; i < cfg->ncerts; i++) {
		t->certs[i].cert_file = dup_or_null(cfg->certs[i].cert_file, &bad);
		t->certs[i].key_file = dup_or_null(cfg->certs[i].key_file, &bad);
	}
	if (bad)
		return -ENOMEM;
	if (cfg->alpn && (r = alpn_wire(t, cfg->alpn, err, cap)) < 0)
		return r;
	return 0;
}

/* SSL's own socket BIO writes with write(2): a peer gone would raise
 * SIGPIPE in a program that never asked for it.  This one uses
 * send(MSG_NOSIGNAL).  (kTLS needs the socket BIO: then the program must
 * ignore SIGPIPE; tls.h says so.) */
static int bio_write(BIO *b, const char *buf, int len)
{
	ssize_t r = send((int)(intptr_t)BIO_get_data(b), buf, (size_t)len, MSG_NOSIGNAL);

	BIO_clear_retry_flags(b);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_write(b);
	return (int)r;
}

static int bio_read(BIO *b, char *buf, int len)
{
	ssize_t r = recv((int)(intptr_t)BIO_get_data(b), buf, (size_t)len, 0);

	BIO_clear_retry_flags(b);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_read(b);
	return (int)r;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b, (void)num, (void)ptr;
	return cmd == BIO_CTRL_FLUSH;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int make_bio_method(struct pl_tls *t)
{
	if (!(t->bio = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "parley socket")))
		return -ENOMEM;
	BIO_meth_set_write(t->bio, bio_write);
	BIO_meth_set_read(t->bio, bio_read);
	BIO_meth_set_ctrl(t->bio, bio_ctrl);
	BIO_meth_set_create(t->bio, bio_create);
	return 0;
}

static void destroy(struct pl_tls *t)
{
	tls_gen_unref(t->gen);
	SSL_SESSION_free(t->session);
	BIO_meth_free(t->bio);
	pthread_mutex_destroy(&t->lock);
	for (size_t i = 0; i < t->ncerts; i++) {
		free((char *)t->certs[i].cert_file);
		free((char *)t->certs[i].key_file);
	}
	free(t->certs);
	free(t->ca_file);
	free(t->ca_path);
	free(t->alpn);
	free(t);
}

int pl_tls_new(const struct pl_tls_config *cfg, struct pl_tls **out, char *err, size_t errcap)
{
	struct pl_tls *t;
	int r;

	*out = NULL;
	if (errcap)
		err[0] = '\0';
	if ((r = check_config(cfg, err, errcap)) < 0)
		return r;
	if (!(t = calloc(1, sizeof(*t))))
		return -ENOMEM;
	atomic_init(&t->refs, 1);
	if (pthread_mutex_init(&t->lock, NULL) != 0) {
		free(t);
		return -ENOMEM;
	}
	if ((r = copy_config(t, cfg, err, errcap)) < 0 || (r = make_bio_method(t)) < 0 ||
	    (r = load(t, &t->gen, err, errcap)) < 0) {
		destroy(t);
		return r;
	}
	*out = t;
	return 0;
}

int pl_tls_reload(struct pl_tls *t, char *err, size_t errcap)
{
	struct tls_gen *g, *old;
	int r;

	if (errcap)
		err[0] = '\0';
	if ((r = load(t, &g, err, errcap)) < 0)
		return r;
	pthread_mutex_lock(&t->lock);
	old = t->gen;
	t->gen = g;
	pthread_mutex_unlock(&t->lock);
	tls_gen_unref(old);
	return 0;
}

struct tls_gen *tls_gen_get(struct pl_tls *t)
{
	struct tls_gen *g;

	pthread_mutex_lock(&t->lock);
	g = t->gen;
	atomic_fetch_add(&g->refs, 1);
	pthread_mutex_unlock(&t->lock);
	return g;
}

SSL_SESSION *tls_session_get(struct pl_tls *t)
{
	SSL_SESSION *s;

	pthread_mutex_lock(&t->lock);
	s = t->session;
	if (s)
		SSL_SESSION_up_ref(s);
	pthread_mutex_unlock(&t->lock);
	return s;
}

void tls_session_put(struct pl_tls *t, SSL_SESSION *s)
{
	SSL_SESSION *old;

	pthread_mutex_lock(&t->lock);
	old = t->session;
	t->session = s;
	pthread_mutex_unlock(&t->lock);
	SSL_SESSION_free(old);
}

void tls_ref(struct pl_tls *t) { atomic_fetch_add(&t->refs, 1); }

void tls_unref(struct pl_tls *t)
{
	if (t && atomic_fetch_sub(&t->refs, 1) == 1)
		destroy(t);
}

void pl_tls_free(struct pl_tls *t) { tls_unref(t); }

#endif
