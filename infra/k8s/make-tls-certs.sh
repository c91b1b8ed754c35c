#!/bin/sh
# Makes what overlays/tls needs in the Secret gnet-tls: a CA for the run (ca.crt) and one
# certificate with its key (tls.crt, tls.key) that the coordinator and every worker serve. Its
# subject alternative names are the names peers dial: gnet-coordinator (workers -> coordinator)
# and gnet-worker-<i>.gnet-workers for i < WORKERS (ring neighbours, the address each worker
# advertises). Give WORKERS = the largest --max-workers you will run. EC P-256, valid 365 days.
#
#   sh infra/k8s/make-tls-certs.sh certs 2
#   kubectl create secret generic gnet-tls --from-file=certs/tls.crt --from-file=certs/tls.key --from-file=certs/ca.crt
#
# The CA's private key (certs/ca.key) stays with you; it is not needed in the cluster.
set -eu
usage="usage: make-tls-certs.sh OUT_DIR WORKERS"
out=${1:?$usage}
workers=${2:?$usage}
case $workers in '' | *[!0-9]*) echo "make-tls-certs.sh: WORKERS must be a positive integer, but got '$workers'" >&2; exit 2 ;; esac
[ "$workers" -ge 1 ] || { echo "make-tls-certs.sh: WORKERS must be at least 1, but got $workers" >&2; exit 2; }

mkdir -p "$out"
san="DNS:gnet-coordinator"
i=0
while [ "$i" -lt "$workers" ]; do
  san="$san,DNS:gnet-worker-$i.gnet-workers"
  i=$((i + 1))
done
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" >"$out/tls.ext"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
  -subj "/CN=gnet run CA" -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=gnet-coordinator" -keyout "$out/tls.key" -out "$out/tls.csr" 2>/dev/null
openssl x509 -req -in "$out/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -days 365 -extfile "$out/tls.ext" -out "$out/tls.crt" 2>/dev/null
rm -f "$out/tls.csr" "$out/tls.ext" "$out/ca.srl"
chmod 600 "$out/ca.key" "$out/tls.key"
echo "make-tls-certs.sh: wrote $out/ca.crt, $out/tls.crt, $out/tls.key (names: $san)"
