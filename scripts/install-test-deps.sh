#!/usr/bin/env bash
# Debian packages the tests and benchmarks use (real servers and clients, not mocks).
set -euo pipefail
PKGS=(postgresql redis-server redis-tools memcached libmemcached-tools netcat-openbsd haproxy stunnel4 easy-rsa openssl iproute2 python3 bc squid tinyproxy curl nftables conntrack apache2-utils wrk chromium)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# `kubectl kustomize` renders deploy/kubernetes in a test; any kubectl will do (Debian's is kubernetes-client).
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${missing[*]} — run as root: apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "== installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The distribution's redis-server and memcached services are not what the tests use: each test
# starts its own servers on ports it chooses.
