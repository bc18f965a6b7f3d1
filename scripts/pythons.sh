#!/usr/bin/env bash
# pythons.sh — print, comma-separated, every CPython 3.9–3.13 on this
# machine: Debian's /usr/bin/python3.11 first, then each pyenv version.
set -euo pipefail

found=()
[ -x /usr/bin/python3.11 ] && found+=(/usr/bin/python3.11)
root=""
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
elif [ -d "${PYENV_ROOT:-$HOME/.pyenv}/versions" ]; then
  root=${PYENV_ROOT:-$HOME/.pyenv}
fi
if [ -n "$root" ] && [ -d "$root/versions" ]; then
  for d in $(ls -d "$root"/versions/* | sort -V); do
    v=$(basename "$d")
    case "$v" in
      3.9.*|3.10.*|3.11.*|3.12.*|3.13.*) ;;
      *) continue ;;
    esac
    mm=${v%.*}
    for exe in "$d/bin/python$mm" "$d/bin/python3"; do
      if [ -x "$exe" ]; then found+=("$exe"); break; fi
    done
  done
fi
(IFS=,; echo "${found[*]}")
