/* cli_tls.c - the TLS options the three programs share. */
#include "cli_tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

enum {
	T_CERT = CLI_TLS_ID, T_KEY, T_CA, T_CLIENT_CERT, T_ALPN, T_MIN, T_HANDSHAKE, T_TLS,
	T_SERVERNAME, T_INSECURE, T_RESUME, T_KTLS,
};

const struct cli_opt cli_tls_server_opts[] = {
	{ "tls-cert", 0, required_argument, T_CERT },
	{ "tls-key", 0, required_argument, T_KEY },
	{ "tls-ca", 0, required_argument, T_CA },
	{ "tls-client-cert", 0, required_argument, T_CLIENT_CERT },
	{ "tls-alpn", 0, required_argument, T_ALPN },
	{ "tls-min", 0, required_argument, T_MIN },
	{ "tls-handshake-timeout", 0, required_argument, T_HANDSHAKE },
	{ 0 },
};

const struct cli_opt cli_tls_client_opts[] = {
	{ "tls", 0, no_argument, T_TLS },
	{ "tls-cert", 0, required_argument, T_CERT },
	{ "tls-key", 0, required_argument, T_KEY },
	{ "tls-ca", 0, required_argument, T_CA },
	{ "tls-servername", 0, required_argument, T_SERVERNAME },
	{ "tls-alpn", 0, required_argument, T_ALPN },
	{ "tls-min", 0, required_argument, T_MIN },
	{ "tls-resume", 0, no_argument, T_RESUME },
	{ "tls-ktls", 0, no_argument, T_KTLS },
	{ "insecure", 0, no_argument, T_INSECURE },
	{ 0 },
};

static void add_file(const char **list, int *n, const char *opt, const char *arg)
{
	if (*n == CLI_TLS_CERTS)
		cli_usage_error("%s: at most %d", opt, CLI_TLS_CERTS);
	if (!*arg)
		cli_usage_error("%s: empty file name", opt);
	list[(*n)++] = arg;
}

/* "h2,http/1.1": names of 1 to 255 bytes, comma-separated. */
static const char *check_alpn(const char *arg)
{
	for (const char *p = arg;; p++) {
		size_t n = strcspn(p, ",");
		if (n == 0 || n > 255)
			cli_usage_error("--tls-alpn: '%s' is not a comma-separated list of protocol names",
					arg);
		p += n;
		if (!*p)
			return arg;
	}
}

int cli_tls_option(struct cli_tls *t, int id, const char *arg)
{
	if (id < CLI_TLS_ID || id > T_KTLS)
		return 0;
	if (!pl_tls_available())
		cli_usage_error("built without TLS (rebuild with libssl-dev installed)");
	t->given = 1;
	switch (id) {
	case T_CERT: add_file(t->cert, &t->ncert, "--tls-cert", arg); break;
	case T_KEY: add_file(t->key, &t->nkey, "--tls-key", arg); break;
	case T_CA: t->ca = arg; break;
	case T_ALPN: t->alpn = check_alpn(arg); break;
	case T_SERVERNAME:
		if (!*arg || strlen(arg) > 253)
			cli_usage_error("--tls-servername: '%s' is not a host name", arg);
		t->servername = arg;
		break;
	case T_TLS: t->on = 1; break;
	case T_INSECURE: t->insecure = 1; break;
	case T_RESUME: t->resume = 1; break;
	case T_KTLS: t->ktls = 1; break;
	case T_CLIENT_CERT:
		if (strcmp(arg, "none") == 0)
			t->peer_cert = PL_TLS_PEER_NONE;
		else if (strcmp(arg, "optional") == 0)
			t->peer_cert = PL_TLS_PEER_OPTIONAL;
		else if (strcmp(arg, "require") == 0)
			t->peer_cert = PL_TLS_PEER_REQUIRE;
		else
			cli_usage_error("--tls-client-cert: '%s' is not none, optional or require", arg);
		break;
	case T_MIN:
		if (strcmp(arg, "1.2") == 0)
			t->min_version = 12;
		else if (strcmp(arg, "1.3") == 0)
			t->min_version = 13;
		else
			cli_usage_error("--tls-min: '%s' is not 1.2 or 1.3", arg);
		break;
	case T_HANDSHAKE:
		t->handshake_timeout_ms = cli_seconds_ms("--tls-handshake-timeout", arg);
		if (t->handshake_timeout_ms == 0)
			t->handshake_timeout_ms = -1; /* 0 s: none, as the other timeouts */
		break;
	}
	return 1;
}

const char *cli_tls_strip(const char *text, int *tls)
{
	*tls = strncmp(text, "tls:", 4) == 0;
	if (*tls && !pl_tls_available())
		cli_usage_error("%s: built without TLS (rebuild with libssl-dev installed)", text);
	return *tls ? text + 4 : text;
}

struct pl_tls *cli_tls_context(const struct cli_tls *t, int server)
{
	struct pl_tls_cert certs[CLI_TLS_CERTS];
	struct pl_tls_config cfg = {
		.server = server, .certs = certs, .ncerts = (size_t)t->ncert, .alpn = t->alpn,
		.insecure = t->insecure, .peer_cert = t->peer_cert, .min_version = t->min_version,
		.handshake_timeout_ms = t->handshake_timeout_ms, .ktls = t->ktls, .resume = t->resume,
	};
	struct pl_tls *tls;
	char err[512];
	int r;

	if (t->ncert != t->nkey)
		cli_usage_error("--tls-cert and --tls-key go in pairs (%d certificate%s, %d key%s)",
				t->ncert, t->ncert == 1 ? "" : "s", t->nkey, t->nkey == 1 ? "" : "s");
	if (server && !t->ncert)
		cli_usage_error("a tls: listener needs --tls-cert and --tls-key");
	if (!server && t->ncert > 1)
		cli_usage_error("--tls-cert: a client takes one certificate");
	if (server && t->peer_cert != PL_TLS_PEER_NONE && !t->ca)
		cli_usage_error("--tls-client-cert %s needs --tls-ca to verify them",
				t->peer_cert == PL_TLS_PEER_REQUIRE ? "require" : "optional");
	for (int i = 0; i < t->ncert; i++)
		certs[i] = (struct pl_tls_cert){ t->cert[i], t->key[i] };
	if (t->ca) {
		struct stat st; /* a directory of hashed certificates, or a bundle */
		int dir = stat(t->ca, &st) == 0 && S_ISDIR(st.st_mode);
		cfg.ca_file = dir ? NULL : t->ca;
		cfg.ca_path = dir ? t->ca : NULL;
	}
	if ((r = pl_tls_new(&cfg, &tls, err, sizeof(err))) < 0)
		cli_die(1, "tls: %s", r == -EINVAL && err[0] ? err : strerror(-r));
	return tls;
}

void cli_tls_describe(const struct pl_transport *tp, char *buf, size_t cap)
{
	struct pl_tls_info i;

	if (pl_tls_info(tp, &i) < 0) {
		snprintf(buf, cap, "tls: handshake not finished");
		return;
	}
	snprintf(buf, cap, "tls: %s %s alpn=%s peer=%s%s%s", i.version, i.cipher,
		 i.alpn[0] ? i.alpn : "none", i.peer[0] ? i.peer : "none",
		 i.resumed ? " resumed" : "", i.ktls_send || i.ktls_recv ? " ktls" : "");
}
