#!/usr/bin/env bash
# deps.sh — install what building, the demo and the tests need, when missing.
# Debian packages through apt-get; nothing from PyPI (there is none here).
set -euo pipefail

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

packages=(
  gcc libc6-dev pkg-config meson ninja-build     # build
  python3.11 python3.11-dev libpython3.11-dev     # Debian's CPython and its headers
  libwebsockets-dev libcjson-dev                  # the WebSocket server and JSON
  python3-fastapi python3-uvicorn python3-httpx   # the example app
  python3-websockets                              # a protocol client for tests
  wrk procps curl                                 # load and process tools
)
for p in "${packages[@]}"; do
  have_pkg "$p" || need+=("$p")
done

if [ "${#need[@]}" -gt 0 ]; then
  echo "deps: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
