#!/usr/bin/env bash
# check_objects.sh LOADER AGENT [SANITIZE] — what the two shared objects link to and
# export: the preloaded loader needs libc alone (so every program started
# under LD_PRELOAD stays as it was), and neither object references a Python
# symbol (which would make non-Python programs fail with "symbol lookup
# error" and tie the build to one libpython).
set -u
loader=$1 agent=$2 sanitize=${3:-none}
pass=0 fail=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then pass=$((pass + 1)); echo "ok    $what"; else fail=$((fail + 1)); echo "FAIL  $what"; fi
}
no_python_refs() { ! nm -D --undefined-only "$1" | grep -Eq ' _?Py'; }
libc_only() {
  local extra
  extra=$(ldd "$1" | grep -Ev 'linux-vdso|ld-linux|libc\.so' || true)
  # a sanitizer build links its runtimes into everything: allowed there
  [ "$sanitize" = none ] || extra=$(printf '%s\n' "$extra" | grep -Ev 'lib(asan|ubsan|m|gcc_s|stdc\+\+)\.so' || true)
  [ -z "$extra" ] || { echo "      $1 also needs: $extra"; return 1; }
}
exports_only_ours() {
  local bad
  bad=$(nm -D --defined-only "$1" | awk '$2 ~ /[TDBR]/ {print $3}' | grep -Ev '^(spy_|PyInit_spyagent$|_init$|_fini$)' || true)
  [ -z "$bad" ] || { echo "      unexpected exports: $bad"; return 1; }
}
check "the loader references no Python symbol" no_python_refs "$loader"
check "the agent references no Python symbol" no_python_refs "$agent"
check "the loader links to libc alone" libc_only "$loader"
check "the agent exports only spy_* and PyInit_spyagent" exports_only_ours "$agent"
check "the agent exports PyInit_spyagent" sh -c "nm -D --defined-only '$agent' | grep -q ' PyInit_spyagent$'"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
