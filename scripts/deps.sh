#!/usr/bin/env bash
# deps.sh — install what building, the demo and the tests need, when missing.
# Debian packages through apt-get; nothing from PyPI (there is none here).
set -euo pipefail

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

packages=(
  gcc libc6-dev pkg-config meson ninja-build     # build
  python3.11 python3.11-dev libpython3.11-dev     # Debian's CPython and its headers
  libwebsockets-dev libcjson-dev zlib1g-dev       # the WebSocket server, JSON, gzip for pprof
  protobuf-compiler                               # protoc checks our pprof files
  python3-fastapi python3-uvicorn python3-httpx   # the example app
  python3-uvloop python3-httptools                # what uvicorn[standard] runs on: the uvloop event loop
  gunicorn                                        # forked workers in the tests
  python3-websockets                              # a protocol client for tests
  wrk procps curl                                 # load and process tools
  chromium                                        # the browser tests
  clang libclang-rt-14-dev                        # libFuzzer (scripts/fuzz.sh)
)
for p in "${packages[@]}"; do
  have_pkg "$p" || need+=("$p")
done
# Node.js and npm (for wscat and playwright-core): whatever provides the
# commands will do (Debian's packages, or a nodejs build that bundles npm).
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)

if [ "${#need[@]}" -gt 0 ]; then
  echo "deps: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Node packages the tests drive (wscat, playwright-core with Debian's
# chromium), installed from the lock files next to the tests.
cd "$(dirname "$0")/.."
for dir in tests/browser tests/node tests/viewer; do
  if [ -f "$dir/package.json" ] && [ ! -d "$dir/node_modules" ]; then
    echo "deps: npm install in $dir" >&2
    if [ -f "$dir/package-lock.json" ]; then
      npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
    else
      npm install --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
    fi
  fi
done
