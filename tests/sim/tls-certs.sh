#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tls-certs.sh OUT: throwaway x509 credentials for the TLS tests, made with certtool
# (ECDSA P-256: fast), in QEMU's tls-creds-x509 layout:
#   OUT/ca/             the CA: ca-cert.pem, ca-key.pem
#   OUT/server/         ca-cert.pem server-cert.pem server-key.pem (CN=dst.example,
#                       names localhost and 127.0.0.1, ::1)
#   OUT/client/         ca-cert.pem client-cert.pem client-key.pem (CN=src.example)
#   OUT/other-client/   a client of another CA (CN=src.example)
#   OUT/other-server/   a server of another CA
#   OUT/foreign-client/ a client certificate of another CA, our CA to check servers
#   OUT/nocert-client/  ca-cert.pem only
#   OUT/expired-client/ a client whose certificate expired (CN=old.example)
#   OUT/stranger-client/ a client of the right CA, CN=stranger.example
#   OUT/wrongname-server/ a server of the right CA named wrong.example only
set -eu
out=${1:?usage: tls-certs.sh OUT}
mkdir -p "$out/ca"
cd "$out"

key() { certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile "$1" 2>/dev/null; }

# ca DIR: a self-signed CA in DIR
ca() {
	mkdir -p "$1"
	key "$1/ca-key.pem"
	cat >"$1/ca.tmpl" <<T
cn = "vfiomig test CA $1"
ca
cert_signing_key
crl_signing_key
expiration_days = 30
T
	certtool --generate-self-signed --load-privkey "$1/ca-key.pem" --template "$1/ca.tmpl" \
		--outfile "$1/ca-cert.pem" 2>/dev/null
}

# leaf CA DIR ROLE CN [template lines...]: ROLE server or client
leaf() {
	local cadir=$1 dir=$2 role=$3 cn=$4; shift 4
	mkdir -p "$dir"
	cp "$cadir/ca-cert.pem" "$dir/ca-cert.pem"
	key "$dir/$role-key.pem"
	{
		echo "cn = \"$cn\""
		echo "organization = \"vfiomig test\""
		echo "signing_key"
		echo "encryption_key"
		if [ "$role" = server ]; then echo tls_www_server; else echo tls_www_client; fi
		printf '%s\n' "$@"
	} >"$dir/$role.tmpl"
	grep -q '^expiration_days\|^expiration_date' "$dir/$role.tmpl" || echo "expiration_days = 30" >>"$dir/$role.tmpl"
	certtool --generate-certificate --load-privkey "$dir/$role-key.pem" \
		--load-ca-certificate "$cadir/ca-cert.pem" --load-ca-privkey "$cadir/ca-key.pem" \
		--template "$dir/$role.tmpl" --outfile "$dir/$role-cert.pem" 2>/dev/null
	rm -f "$dir/$role.tmpl"
}

ca ca
ca other-ca
leaf ca server server dst.example 'dns_name = "localhost"' 'dns_name = "dst.example"' \
	'ip_address = "127.0.0.1"' 'ip_address = "::1"'
leaf ca client client src.example
leaf other-ca other-client client src.example
leaf other-ca other-server server dst.example 'dns_name = "localhost"' 'ip_address = "127.0.0.1"'
# a client certificate of another CA, with our CA to check the server by
leaf other-ca foreign-client client src.example
cp ca/ca-cert.pem foreign-client/ca-cert.pem
mkdir -p nocert-client && cp ca/ca-cert.pem nocert-client/
leaf ca expired-client client old.example 'activation_date = "2020-01-01 00:00:00 UTC"' \
	'expiration_date = "2020-02-01 00:00:00 UTC"'
leaf ca stranger-client client stranger.example
leaf ca wrongname-server server wrong.example 'dns_name = "wrong.example"'
