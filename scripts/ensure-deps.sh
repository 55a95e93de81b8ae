#!/usr/bin/env bash
# Make sure everything `npm test` / `npm run demo` needs is present on this
# machine. Idempotent, and silent when nothing is missing, so it can run in
# front of every test run without noise.
#
#   node_modules       npm ci, when missing or older than package-lock.json
#   nats-server        apt-get as root; otherwise explain and fail
#   python3 + msgpack  apt-get as root; otherwise only warn (one wire-format
#                      test uses it and skips itself when it is absent)
#   dist/              npm run build, when missing or older than src/: spawned
#                      regent processes then run compiled JS, not tsx
#
# Environment: NATS_SERVER_BIN points at a nats-server binary to use instead of
# looking it up.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'ensure-deps: %s\n' "$*" >&2; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# True when apt has no package lists yet (fresh container images ship empty
# lists, and then `apt-get install` cannot find anything).
apt_lists_empty() {
  ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}

# apt_install PKG...: install as root, refreshing the lists only when they are
# empty or the first attempt fails (an update is slow and needs the network).
apt_install() {
  command -v apt-get >/dev/null 2>&1 || { log "apt-get not available"; return 1; }
  export DEBIAN_FRONTEND=noninteractive
  if apt_lists_empty; then
    apt-get update -qq >/dev/null || return 1
  fi
  if ! apt-get install -y -qq "$@" >/dev/null; then
    apt-get update -qq >/dev/null || return 1
    apt-get install -y -qq "$@" >/dev/null || return 1
  fi
}

# --- (a) node_modules ---------------------------------------------------------
# npm writes node_modules/.package-lock.json on every install; comparing it
# with package-lock.json catches both "never installed" and "lockfile changed".
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] \
  || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing node modules (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# --- (b) nats-server ------------------------------------------------------------
find_nats_server() {
  if [ -n "${NATS_SERVER_BIN:-}" ]; then
    [ -x "$NATS_SERVER_BIN" ] && return 0
    log "NATS_SERVER_BIN=$NATS_SERVER_BIN is not an executable file"
    return 1
  fi
  command -v nats-server >/dev/null 2>&1 && return 0
  # Debian installs it into /usr/sbin, which is not on a normal user's PATH.
  [ -x /usr/sbin/nats-server ]
}

if ! find_nats_server; then
  if is_root && [ -z "${NATS_SERVER_BIN:-}" ]; then
    log "installing nats-server (apt-get)"
    apt_install nats-server || { log "could not install nats-server"; exit 1; }
    find_nats_server || { log "nats-server still not found after install"; exit 1; }
  else
    cat >&2 <<'MSG'
ensure-deps: nats-server is required but was not found (checked $NATS_SERVER_BIN, PATH, /usr/sbin/nats-server).
ensure-deps: install it with:   sudo apt-get install nats-server
ensure-deps: or point NATS_SERVER_BIN at an existing binary:   NATS_SERVER_BIN=/path/to/nats-server npm test
MSG
    exit 1
  fi
fi

# --- (c) python3 + msgpack --------------------------------------------------------
# `python3` on PATH may be a pyenv shim that never sees Debian's python3-msgpack,
# so the tests prefer /usr/bin/python3; check the same interpreter here.
python_bin() {
  if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else command -v python3 || true; fi
}
have_msgpack() {
  local py
  py="$(python_bin)"
  [ -n "$py" ] && "$py" -c 'import msgpack' >/dev/null 2>&1
}

if ! have_msgpack; then
  if is_root; then
    log "installing python3-msgpack (apt-get)"
    if ! apt_install python3 python3-msgpack || ! have_msgpack; then
      log "warning: could not install python3-msgpack; the python wire-format test will be skipped"
    fi
  else
    log "warning: python3 with msgpack not found; the python wire-format test will be skipped"
    log "         install it with:   sudo apt-get install python3-msgpack"
  fi
fi

# --- (d) dist/ -----------------------------------------------------------------
# bin/regent.js runs dist/ when it is fresh and falls back to tsx otherwise;
# building here keeps every process `npm test`, `up` and `demo` spawn on
# compiled JS (82 instead of 117 MiB RSS per idle node). Silent when fresh.
node scripts/build.mjs --if-stale

exit 0
