#!/bin/sh
# A private CA, a server pair and a client pair for signfed's TLS / mutual TLS
# (`make certs`). Usage: sh docker/certs.sh [DIR] [NAME ...]
#
# DIR (default certs) receives ca.pem, ca.key, server.pem, server.key, client.pem,
# client.key. The server certificate is valid for localhost, 127.0.0.1, ::1 and
# `server` (the compose service), plus every extra NAME: an IP address or a DNS name
# (the server's host name on your network). EC P-256 keys, valid 825 days (the most
# Apple's TLS clients accept). An existing DIR/ca.pem is never overwritten: every
# client trusts that CA; delete DIR to start over.
set -eu

dir=${1:-certs}
[ $# -gt 0 ] && shift
days=825

if [ -e "$dir/ca.pem" ]; then
    echo "certs.sh: $dir/ca.pem exists; keeping it (delete $dir to make new certificates)"
    exit 0
fi
command -v openssl > /dev/null || { echo "certs.sh: openssl is not installed" >&2; exit 1; }

sans="DNS:localhost,IP:127.0.0.1,IP:::1,DNS:server"
for name in "$@"; do
    case $name in
        *:*) kind=IP ;;  # IPv6
        *[!0-9.]*) kind=DNS ;;  # a host name
        *) kind=IP ;;  # IPv4
    esac
    sans="$sans,$kind:$name"
done

mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077  # private keys readable by their owner only

cat > "$work/ext.cnf" <<EOF
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $sans
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

# openssl, quiet unless it fails (OpenSSL 3 reports every successful signature).
quiet() {
    "$@" > "$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
}

key() {
    quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

key "$work/ca.key"
quiet openssl req -new -key "$work/ca.key" -subj "/CN=signfed CA" -out "$work/ca.csr"
quiet openssl x509 -req -in "$work/ca.csr" -signkey "$work/ca.key" -days $days \
    -extfile "$work/ext.cnf" -extensions ca -out "$work/ca.pem"

for role in server client; do
    key "$work/$role.key"
    quiet openssl req -new -key "$work/$role.key" -subj "/CN=signfed $role" \
        -out "$work/$role.csr"
    quiet openssl x509 -req -in "$work/$role.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
        -CAcreateserial -days $days -extfile "$work/ext.cnf" -extensions "$role" \
        -out "$work/$role.pem"
done

for f in ca.key server.key client.key; do cp "$work/$f" "$dir/$f"; chmod 600 "$dir/$f"; done
for f in ca.pem server.pem client.pem; do cp "$work/$f" "$dir/$f"; chmod 644 "$dir/$f"; done
echo "certs.sh: wrote $dir/{ca,server,client}.{pem,key}; server names: $sans"
