#!/usr/bin/env bash
# tls_certs.sh DIR - makes the TLS tests' certificates and keys in DIR (which
# it creates).  They are made at test time and never committed: ECDSA P-256,
# one openssl call each (made side by side), well under a second for the set.
#
#   ca.pem ca.key          the test CA (CN=parley test CA)
#   server.pem .key        CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1, by ca
#   renewed.pem .key       the same names, CN=renewed (the certificate after a renewal)
#   other.pem .key         CN=other.test, SAN DNS:other.test, by ca (SNI)
#   wrong.pem .key         CN=wrong.test, SAN DNS:wrong.test only, by ca
#   expired.pem .key       as server.pem, valid 2000-01-01 to 2001-01-01, by ca
#   self.pem .key          CN=localhost with server.pem's names, self-signed
#   client.pem .key        CN=client, clientAuth, by ca
#   ca2.pem ca2.key        a second CA (CN=parley other CA): "wrong CA"
#   client2.pem .key       CN=client2, clientAuth, by ca2
#   bundle.pem             ca.pem and ca2.pem together
set -eu
dir=${1:?usage: tls_certs.sh DIR}
mkdir -p "$dir"
cd "$dir"

# Our own configuration, so the system's openssl.cnf adds nothing.
cat >openssl.cnf <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
# openssl ca (the expired certificate: only it takes arbitrary dates in 3.0)
[ca]
default_ca = test_ca
[test_ca]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
EOF
export OPENSSL_CONF=$PWD/openssl.cnf
newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc)
names="subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1"

# ca NAME CN: a self-signed CA
ca() {
	openssl req -x509 "${newkey[@]}" -keyout "$1.key" -out "$1.pem" -days 30 \
		-subj "/CN=$2" -extensions ca_ext 2>/dev/null
}

# leaf NAME CN ISSUER EXT [SAN]: a certificate ISSUER signed (self: itself)
leaf() {
	local san=() issuer=()
	[ -n "${5:-}" ] && san=(-addext "$5")
	[ "$3" != self ] && issuer=(-CA "$3.pem" -CAkey "$3.key")
	openssl req -x509 "${newkey[@]}" -keyout "$1.key" -out "$1.pem" -days 30 \
		-subj "/CN=$2" -extensions "$4" "${issuer[@]}" "${san[@]}" 2>/dev/null
}

# expired: a request, signed by openssl ca with dates in the past
expired() {
	openssl req -new "${newkey[@]}" -keyout expired.key -out expired.csr \
		-subj /CN=localhost -addext "$names" -addext "extendedKeyUsage = serverAuth" 2>/dev/null
	: >index.txt
	echo 01 >serial
	openssl ca -batch -notext -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
		-startdate 20000101000000Z -enddate 20010101000000Z 2>/dev/null
	rm -f expired.csr index.txt* serial* 01.pem
}

ca ca "parley test CA"
ca ca2 "parley other CA"
# the rest at once: each is an openssl start-up more than a computation
pids=()
leaf server localhost ca server_ext "$names" & pids+=($!)
leaf renewed renewed ca server_ext "$names" & pids+=($!)
leaf other other.test ca server_ext "subjectAltName = DNS:other.test" & pids+=($!)
leaf wrong wrong.test ca server_ext "subjectAltName = DNS:wrong.test" & pids+=($!)
leaf self localhost self server_ext "$names" & pids+=($!)
leaf client client ca client_ext & pids+=($!)
leaf client2 client2 ca2 client_ext & pids+=($!)
expired & pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done

cat ca.pem ca2.pem >bundle.pem
chmod 600 ./*.key
