#!/usr/bin/env bash
# demo.sh — set everything up and run the demo: build the agent, start the
# example FastAPI app under it (LD_PRELOAD), put load on it, say where to
# point the viewer and wscat, and show the agent's live top every few
# seconds in the terminal too.
#   DEMO_PORT (default 8000)      the app's port
#   SPY_WS_PORT (default 7799)    the agent's WebSocket port
#   DEMO_SECONDS (default 120)    how long the load runs; 0 = until Ctrl+C
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
scripts/build.sh build

port=${DEMO_PORT:-8000}
seconds=${DEMO_SECONDS:-120}
ws_port=${SPY_WS_PORT:-7799}
py=/usr/bin/python3.11
if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
  echo "demo: DEMO_PORT='$port' is not valid: expected a TCP port from 1 to 65535" >&2; exit 2
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "demo: DEMO_SECONDS='$seconds' is not valid: expected a whole number of seconds (0 = until Ctrl+C)" >&2; exit 2
fi
if $py - "$port" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
PY
then
  echo "demo: port $port is taken; run with DEMO_PORT=<free port>" >&2; exit 2
fi

echo "demo: starting the example app on http://127.0.0.1:$port with the agent preloaded"
SPY_WS_PORT="$ws_port" LD_PRELOAD="$PWD/build/agent/libspyagent.so" PYTHONPATH="$PWD/build/agent" \
  $py -m uvicorn demo_app:app --app-dir examples --port "$port" --log-level warning &
app=$!
load=""
cleanup() {
  [ -n "$load" ] && kill "$load" 2>/dev/null
  kill -TERM "$app" 2>/dev/null
  wait "$app" 2>/dev/null
}
trap cleanup EXIT INT TERM

for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
  sleep 0.1
done

echo
echo "demo: watch it live"
echo "  in a browser:  file://$PWD/viewer/index.html?host=127.0.0.1&port=$ws_port"
echo "  in a terminal: npx wscat -c ws://127.0.0.1:$ws_port   (then: dump, record 10, top 20 window 10, help)"
echo "  recordings go to $PWD/spy-data"
echo
load_seconds=$seconds
[ "$seconds" -eq 0 ] && load_seconds=86400
echo "demo: load on /cpu /json /db /cache /sleep /hash for ${seconds}s (0 = until Ctrl+C)"
$py examples/load.py --url "http://127.0.0.1:$port" --seconds "$load_seconds" --concurrency 4 &
load=$!
while kill -0 "$load" 2>/dev/null; do
  sleep 5
  echo
  $py scripts/show_top.py "http://127.0.0.1:$port" || true
done
wait "$load" || true
load=""
echo
echo "demo: the live profile is also at http://127.0.0.1:$port/_spy/top, /_spy/status and /_spy/dump"
