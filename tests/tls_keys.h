/*
 * tls_keys.h - a throwaway ECDSA P-256 key and self-signed certificate
 * (CN and SAN as asked), written as PEM files, for the TLS unit tests and
 * the TLS fuzzer.  No key is ever committed: they are made at run time.
 */
#ifndef PARLEY_TLS_KEYS_H
#define PARLEY_TLS_KEYS_H

#include <stdio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* Writes cert_path and key_path: CN=cn, subjectAltName=san (e.g.
 * "DNS:localhost,IP:127.0.0.1"), valid from now for `days`.  0 or -1. */
static inline int tls_keys_make(const char *cert_path, const char *key_path, const char *cn,
				const char *san, long days)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	X509_EXTENSION *e;
	X509V3_CTX v3;
	FILE *f;
	int ok = 0;

	if (!k || !x)
		goto out;
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(unsigned)(uintptr_t)x & 0x7fffffff);
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), days * 86400);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if (!(e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san)))
		goto out;
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	if (!X509_sign(x, k, EVP_sha256()))
		goto out;
	if ((f = fopen(cert_path, "w"))) {
		ok = PEM_write_X509(f, x);
		ok &= fclose(f) == 0;
	}
	if (ok && (f = fopen(key_path, "w"))) {
		ok = PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
		ok &= fclose(f) == 0;
	} else {
		ok = 0;
	}
out:
	X509_free(x);
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

#endif
