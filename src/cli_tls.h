/* cli_tls.h - the TLS options the three programs share, and the tls: prefix. */
#ifndef PARLEY_CLI_TLS_H
#define PARLEY_CLI_TLS_H

#include "cli.h"
#include "parley/tls.h"

#define CLI_TLS_CERTS 16    /* --tls-cert/--tls-key pairs (SNI choices) */
#define CLI_TLS_ID 300      /* option ids CLI_TLS_ID.. belong to cli_tls_option (past every letter) */

struct cli_tls {
	const char *cert[CLI_TLS_CERTS], *key[CLI_TLS_CERTS];
	int ncert, nkey;
	const char *ca, *servername, *alpn;
	enum pl_tls_peer_cert peer_cert;
	int min_version, insecure, resume, ktls;
	int on;                       /* --tls: connect with TLS (client, bench) */
	int given;                    /* some --tls* option was given */
	long long handshake_timeout_ms;
};

/* The options' tables, for cli_getopt_init's second table. */
extern const struct cli_opt cli_tls_server_opts[];
extern const struct cli_opt cli_tls_client_opts[];

/* Takes option id with its value; 0 when id is not a TLS option.  Bad
 * values, and any TLS option in a build without TLS, are usage errors. */
int cli_tls_option(struct cli_tls *t, int id, const char *arg);

/* text without a leading "tls:" (then *tls is set to 1) */
const char *cli_tls_strip(const char *text, int *tls);

/* The context the options describe; exits 1 with the file and reason when
 * OpenSSL refuses them, 2 for a contradiction.  A client's --insecure is
 * said, as a warning, here. */
struct pl_tls *cli_tls_context(const struct cli_tls *t, int server);

/* A client's ADDRESS without its "tls:" prefix, which turns t->on on; any
 * --tls-* option without TLS on is a usage error. */
const char *cli_tls_address(struct cli_tls *t, const char *text);

/* The name a client sends as SNI and the server's certificate must match:
 * --tls-servername, else addr's host name or IP address (in a static
 * buffer), else NULL. */
const char *cli_tls_name(const struct cli_tls *t, const struct pl_addr *addr);

/* One line for -v: "tls: TLSv1.3 TLS_AES_256_GCM_SHA384 alpn=h2 peer=CN=x". */
void cli_tls_describe(const struct pl_transport *tp, char *buf, size_t cap);

#endif
