#!/usr/bin/env python3
"""The agent's overhead on a FastAPI app, next to a baseline and a wake-up floor.

Measures, in one run, what the agent costs a FastAPI service, against the
same service without it, and how the sampler's CPU per tick compares with
the floor that any thread waking up at the same rate pays.

Server: targets/overhead_app.py under uvicorn (Debian's /usr/bin/python3.11),
pinned to core 0 with ``taskset -c 0``; ~35 Python threads (the main thread
and an anyio pool of 34 idle workers, limit 40 tokens). Routes: ``/cpu``
(async, CPU at ~40 frames deep, ~1-2 ms), ``/json`` (async, pydantic models
to JSON), ``/await`` (async, mostly ``await asyncio.sleep(0.005)``) and
``/sync`` (a ``def`` route run in the pool). Load: ``taskset -c 1 wrk -t1
-c16``, on the other core.

Configurations, interleaved in rounds, each measurement on a fresh server
(free 127.0.0.1 port) after a --warmup wrk run: no agent (baseline); the
agent preloaded at 100 Hz and at 1000 Hz (``LD_PRELOAD=libspyagent.so
SPY_RATE=R SPY_CPU_BUDGET=0 SPY_WS_PORT=<free>``; the sampler shares core 0
with the server); and, when the environment names an Austin binary
(``AUSTIN=/path/to/austin``), Austin at the same two rates (``austin -i
<1e6/R> -p <server pid> -o /dev/null``, also on core 0, attached after the
warm-up).

Reported per path and configuration (medians over the rounds):
  req/s               wrk's Requests/sec
  ratio to baseline   req/s over the baseline's req/s in the same round
  sampler CPU % core  CPU time of the agent's spy-sampler thread (first field
                      of /proc/PID/task/TID/schedstat) over the measured wall
                      time; for Austin, all of the austin process's threads
  ticks/s             the ticks (below) over the measured wall time: lower
                      than the rate when the core is too busy to wake the
                      sampler in time (the agent then skips ticks)
  us/tick             that CPU time over the ticks in the window: the agent's
                      ``samples`` (its ticks) from the ``status`` command on
                      its WebSocket, read at both ends of the window; for
                      Austin, which does not report its ticks, its voluntary
                      context switches (one per sleep between two passes;
                      a pass that overran its interval has no sleep, so
                      this undercounts when Austin cannot keep up)
  x floor             us/tick over the wake-up floor at the same rate, same
                      path, same round
  above floor         us/tick minus that floor: the work of a tick
The wake-up floor comes from wakeup_floor.c (compiled at run time with
``cc -O2``): a thread that only sleeps to absolute CLOCK_MONOTONIC deadlines
and reports its own CPU time per wake-up. It runs on core 0 right after
every baseline measurement, in an extra phase in which wrk keeps loading
the same server (so core 0 is as busy and its caches as cold as under the
measurement), at each rate for --floor-seconds; it is not run during the
measured window so that it does not lower the baseline's req/s.
Not a test: no thresholds. Needs cores 0 and 1, wrk, taskset and cc.

    python3 tests/bench/bench_overhead.py --build build
    AUSTIN=/path/to/austin python3 tests/bench/bench_overhead.py --build build \\
        [--rounds 4] [--duration 8] [--paths /cpu,/json,/await,/sync]
"""

import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

import benchlib as bl
from bench_wrk import free_port, parse_wrk

APP = "overhead_app:app"
ROUTES = ("/cpu", "/json", "/await", "/sync")
FLOOR_SRC = os.path.join(bl.HERE, "wakeup_floor.c")
SERVER_CORE, LOAD_CORE = 0, 1


def parse_args():
    p = bl.arg_parser(__doc__.split("\n")[0])
    p.epilog = ("Environment: AUSTIN=/path/to/austin adds Austin at the same rates to the comparison. "
                "Default length: rounds x paths x (configurations x ~12 s + ~10 s of floor), "
                "~12 min with the defaults, ~20 min with Austin.")
    p.add_argument("--rounds", type=bl.positive_int(1, 100), default=4,
                   help="interleaved rounds (default: 4)")
    p.add_argument("--duration", type=bl.positive_int(1, 3600), default=8,
                   help="wrk -d seconds per measurement (default: 8)")
    p.add_argument("--warmup", type=bl.positive_int(0, 600), default=2,
                   help="unmeasured wrk seconds before each measurement (default: 2)")
    p.add_argument("--connections", type=bl.positive_int(1, 10000), default=16,
                   help="wrk -c (default: 16)")
    p.add_argument("--paths", default=",".join(ROUTES),
                   help="comma-separated routes of the app to measure, from %s (default: all)"
                        % ",".join(ROUTES))
    p.add_argument("--rates", type=bl.int_list(1, 10000), default=[100, 1000],
                   help="comma-separated sampling rates in Hz for the agent, Austin and the "
                        "wake-up floor (default: 100,1000)")
    p.add_argument("--floor-seconds", type=bl.positive_float(0.5, 600), default=4.0,
                   help="how long the wake-up floor runs at each rate (default: 4)")
    p.add_argument("--python", default="/usr/bin/python3.11",
                   help="interpreter with fastapi and uvicorn (default: /usr/bin/python3.11)")
    p.add_argument("--old-build", default=None,
                   help="a second build (e.g. of an earlier commit) measured as 'old agent' in the same rounds")
    args = p.parse_args()
    args.build = bl.check_build(p, args.build)
    args.old_build = bl.check_build(p, args.old_build) if args.old_build else None
    paths = [s.strip() for s in args.paths.split(",") if s.strip()]
    bad = [s for s in paths if s not in ROUTES]
    if not paths or bad:
        p.error("--paths must be a comma-separated list of %s, got %r" % (", ".join(ROUTES), args.paths))
    args.paths = list(dict.fromkeys(paths))
    args.rates = list(dict.fromkeys(args.rates))
    for tool, pkg in (("wrk", "wrk"), ("taskset", "util-linux"), ("cc", "gcc")):
        if not shutil.which(tool):
            p.error("%s not found (Debian package %s)" % (tool, pkg))
    cores = os.sched_getaffinity(0)
    if SERVER_CORE not in cores or LOAD_CORE not in cores:
        p.error("needs cores %d (server, samplers) and %d (wrk); this process may use %s"
                % (SERVER_CORE, LOAD_CORE, sorted(cores)))
    if not os.access(args.python, os.X_OK):
        p.error("--python %s is not an executable" % args.python)
    check = subprocess.run([args.python, "-c", "import fastapi, uvicorn, anyio, pydantic; print('ok')"],
                           env=bl.clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
    if check.returncode != 0 or check.stdout.strip() != "ok":
        p.error("--python %s cannot import fastapi, uvicorn, anyio and pydantic: %s"
                % (args.python, (check.stderr.strip().splitlines() or ["no output"])[-1]))
    args.austin = os.environ.get("AUSTIN") or None
    if args.austin:
        if not (os.path.isfile(args.austin) and os.access(args.austin, os.X_OK)):
            p.error("AUSTIN=%s is not an executable file" % args.austin)
        ver = subprocess.run([args.austin, "--version"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True)
        if ver.returncode != 0 or not ver.stdout.startswith("austin"):
            p.error("AUSTIN=%s does not answer --version like Austin: %r"
                    % (args.austin, ver.stdout.strip()[:200]))
        args.austin_version = ver.stdout.strip()
    return args


def compile_floor(tmpdir):
    exe = os.path.join(tmpdir, "wakeup_floor")
    proc = subprocess.run(["cc", "-O2", "-std=c11", "-pthread", "-o", exe, FLOOR_SRC],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if proc.returncode != 0:
        raise RuntimeError("cc %s failed: %s" % (FLOOR_SRC, proc.stdout.strip()[-500:]))
    return exe


# ------------------------------------------------------------ /proc readers

def schedstat_ns(pid, tid):
    """Nanoseconds on CPU of one thread (first field of its schedstat)."""
    with open("/proc/%d/task/%d/schedstat" % (pid, tid)) as f:
        return int(f.read().split()[0])


def process_cpu(pid):
    """(ns on CPU, voluntary context switches), summed over every thread."""
    cpu = switches = 0
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, task)) as f:
                cpu += int(f.read().split()[0])
            with open("/proc/%d/task/%s/status" % (pid, task)) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        switches += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass            # a thread that just ended
    return cpu, switches


def thread_id(pid, name):
    """The TID of the process's thread called ``name``, or None."""
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, task)) as f:
                if f.read().strip() == name:
                    return int(task)
        except OSError:
            pass
    return None


# --------------------------------------------------- the agent's WebSocket

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class _Conn:
    """Just enough of a WebSocket client (RFC 6455) to send a command to the
    agent and read its replies; the standard library only."""

    def __init__(self, port, timeout):
        self.deadline = time.monotonic() + timeout
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        key = base64.b64encode(os.urandom(16))
        self.sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                          b"Sec-WebSocket-Version: 13\r\n\r\n" % (port, key))
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if len(lines[0].split()) < 2 or lines[0].split()[1] != "101":
            raise RuntimeError("WebSocket handshake refused: %r" % lines[0])
        accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest()).decode()
        if not any(l.lower().startswith("sec-websocket-accept:") and l.split(":", 1)[1].strip() == accept
                   for l in lines[1:]):
            raise RuntimeError("WebSocket handshake: wrong or missing Sec-WebSocket-Accept")

    def _fill(self):
        if time.monotonic() > self.deadline:
            raise RuntimeError("WebSocket: no answer in time")
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError("WebSocket: the agent closed the connection")
        self.buf += chunk

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_text(self, text):
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else struct.pack("!BH", 0x80 | 126, n))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv_text(self):
        """The next whole text message (control frames skipped)."""
        parts = []
        while True:
            b0, b1 = self._take(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._take(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._take(8))[0]
            mask = self._take(4) if b1 & 0x80 else None
            payload = self._take(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise RuntimeError("WebSocket: the agent sent close")
            if opcode in (0x9, 0xA):
                continue
            parts.append(payload)
            if b0 & 0x80:
                return b"".join(parts).decode("utf-8")

    def close(self):
        try:
            self.sock.sendall(bytes([0x88, 0x80]) + os.urandom(4))
        except OSError:
            pass
        self.sock.close()


def agent_status(port, timeout=10.0):
    """The reply to {"cmd":"status"} (docs/PROTOCOL.md), skipping hello and pushes."""
    conn = _Conn(port, timeout)
    try:
        conn.send_text(json.dumps({"cmd": "status"}))
        while True:
            msg = json.loads(conn.recv_text())
            if msg.get("type") == "status":
                return msg
            if msg.get("type") == "error":
                raise RuntimeError("agent answered status with an error: %s" % json.dumps(msg)[:300])
    finally:
        conn.close()


# ------------------------------------------------------------------ running

class Server:
    """overhead_app under uvicorn, pinned to core 0."""

    def __init__(self, python, env):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.stderr = tempfile.TemporaryFile(mode="w+")
        # taskset execs uvicorn, so proc.pid is the server's pid.
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(SERVER_CORE), python, "-m", "uvicorn", APP, "--app-dir", bl.TARGETS,
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning", "--no-access-log"],
            env=env, stdout=subprocess.DEVNULL, stderr=self.stderr)

    def stderr_text(self):
        self.stderr.seek(0)
        return self.stderr.read()

    def wait_ready(self, path, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("uvicorn exited %s: %s" % (
                    self.proc.returncode, self.stderr_text().strip()[-500:]))
            try:
                with urllib.request.urlopen(self.url + path, timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("uvicorn did not answer on %s within %ss" % (self.url + path, timeout))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.stderr_text()
        self.stderr.close()
        return err


def wrk_cmd(args, url, seconds):
    return ["taskset", "-c", str(LOAD_CORE), "wrk", "-t1", "-c%d" % args.connections,
            "-d%ds" % seconds, url]


def wrk(args, url, seconds):
    proc = subprocess.run(wrk_cmd(args, url, seconds), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=seconds + 60)
    if proc.returncode != 0:
        raise RuntimeError("wrk exited %d: %s" % (proc.returncode, proc.stdout.strip()[-300:]))
    out = parse_wrk(proc.stdout)
    if out["rps"] is None:
        raise RuntimeError("no Requests/sec in wrk's output: %r" % proc.stdout.strip()[-300:])
    return out


def run_floors(args, floor_exe, url):
    """The wake-up floor at every rate, while wrk loads the server. {rate: us}."""
    # wrk gets ample time and is stopped once every floor has run.
    seconds = int(args.floor_seconds * len(args.rates) + 120)
    load = subprocess.Popen(wrk_cmd(args, url, seconds), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    out = {}
    try:
        time.sleep(0.5)
        for rate in args.rates:
            res, err = bl.run_target(["taskset", "-c", str(SERVER_CORE), floor_exe, str(rate),
                                      "%g" % args.floor_seconds], bl.clean_env(), args.floor_seconds + 30)
            if err:
                raise RuntimeError("wakeup_floor %d Hz: %s" % (rate, err))
            out[rate] = res["us_per_wakeup"]
    finally:
        load.send_signal(signal.SIGINT)
        try:
            load.wait(10)
        except subprocess.TimeoutExpired:
            load.kill()
            load.wait()
    return out


def start_austin(args, pid, rate):
    err = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(["taskset", "-c", str(SERVER_CORE), args.austin,
                             "-i", str(max(1, round(1e6 / rate))), "-p", str(pid), "-o", os.devnull],
                            stdout=subprocess.DEVNULL, stderr=err)
    time.sleep(1.0)         # attach and find the interpreter before the window opens
    if proc.poll() is not None:
        err.seek(0)
        raise RuntimeError("austin exited %s at attach: %s" % (proc.returncode, err.read().strip()[-400:]))
    return proc, err


def stop_austin(proc, err):
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    err.close()


def measure(args, cfg, path, floor_exe):
    """One fresh server, warm-up, one measured wrk run (and the floor phase
    after a baseline). Returns a dict of what was measured."""
    kind, rate = cfg["kind"], cfg["rate"]
    if kind == "agent":
        env = cfg.get("build", args.build).env(rate=rate, cpu_budget=0)
        ws_port = free_port()
        env["SPY_WS_PORT"] = str(ws_port)
        env["SPY_DATA_DIR"] = os.path.join(args.tmp, "spy-data")     # nothing in the caller's cwd
    else:
        env = bl.clean_env()
    server = Server(args.python, env)
    austin = None
    try:
        server.wait_ready(path)
        pid = server.proc.pid
        sampler = None
        if kind == "agent":
            sampler = thread_id(pid, "spy-sampler")
            if sampler is None:
                raise RuntimeError("agent preloaded but no spy-sampler thread in uvicorn (threads: %s)"
                                   % sorted(set(bl.thread_names(pid))))
        if args.warmup:
            wrk(args, server.url + path, args.warmup)
        if kind == "austin":
            austin = start_austin(args, pid, rate)

        def snapshot():
            snap = {"wall": time.monotonic()}
            if kind == "agent":
                st = agent_status(ws_port)
                snap.update(cpu=schedstat_ns(pid, sampler), ticks=st["samples"], pythreads=st["threads"])
            elif kind == "austin":
                snap["cpu"], snap["ticks"] = process_cpu(austin[0].pid)
            return snap

        a = snapshot()
        r = wrk(args, server.url + path, args.duration)
        b = snapshot()
        if kind == "austin" and austin[0].poll() is not None:
            raise RuntimeError("austin exited %s during the measurement" % austin[0].returncode)
        # threads of the server itself, without the agent's own (spy-*)
        out = {"rps": r["rps"], "errors": r["errors"] + r["non2xx"],
               "threads": len([n for n in bl.thread_names(pid) if not n.startswith("spy-")])}
        if kind != "base":
            wall = b["wall"] - a["wall"]
            ticks = b["ticks"] - a["ticks"]
            cpu = b["cpu"] - a["cpu"]
            out.update(cpu_pct=cpu / (wall * 1e9) * 100.0, ticks=ticks, tick_hz=ticks / wall,
                       us_tick=cpu / ticks / 1000.0 if ticks > 0 else None)
            if kind == "agent":
                out["pythreads"] = b["pythreads"]
        if kind == "base":
            try:
                out["floor"] = run_floors(args, floor_exe, server.url + path)
            except (RuntimeError, OSError, KeyError, subprocess.TimeoutExpired) as e:
                bl.log("  wake-up floor after the baseline of %s: ERROR %s" % (path, e))
                out["floor"] = {}
        return out
    finally:
        if austin:
            stop_austin(*austin)
        err = server.stop()
        if err.strip():
            bl.log("  uvicorn stderr: %s" % err.strip()[-300:])


def configs(args):
    out = [{"name": "baseline", "kind": "base", "rate": None}]
    out += [{"name": "agent %d Hz" % r, "kind": "agent", "rate": r} for r in args.rates]
    if args.old_build:
        out += [{"name": "old agent %d Hz" % r, "kind": "agent", "rate": r, "build": args.old_build}
                for r in args.rates]
    if args.austin:
        out += [{"name": "Austin %d Hz" % r, "kind": "austin", "rate": r} for r in args.rates]
    return out


def median_of(pairs):
    return bl.median([v for v in pairs if v is not None])


def main():
    args = parse_args()
    cfgs = configs(args)
    res = {}        # (round, path, config name) -> result
    with tempfile.TemporaryDirectory(prefix="spy-bench-overhead-") as tmp:
        try:
            args.tmp = tmp
            floor_exe = compile_floor(tmp)
        except (RuntimeError, OSError) as e:
            bl.log("ERROR: %s" % e)
            return 1
        for rnd in range(1, args.rounds + 1):
            for path in args.paths:
                for cfg in cfgs:
                    try:
                        r = measure(args, cfg, path, floor_exe)
                    except (RuntimeError, OSError, ValueError, KeyError,
                            subprocess.TimeoutExpired) as e:
                        bl.log("round %d %-6s %-14s ERROR %s" % (rnd, path, cfg["name"], e))
                        continue
                    res[(rnd, path, cfg["name"])] = r
                    line = "round %d %-6s %-14s %8.1f req/s  errors %d  threads %d" % (
                        rnd, path, cfg["name"], r["rps"], r["errors"], r["threads"])
                    if "cpu_pct" in r:
                        line += "  CPU %.2f %% core  %d ticks (%.0f/s)  %s us/tick" % (
                            r["cpu_pct"], r["ticks"], r["tick_hz"], bl.fmt(r["us_tick"], 2))
                    if "floor" in r:
                        line += "  floor " + "  ".join("%d Hz %.2f us" % (k, v) for k, v in r["floor"].items())
                    bl.log(line)

    rows, floor_lines = [], []
    for path in args.paths:
        base = {rnd: res.get((rnd, path, "baseline")) for rnd in range(1, args.rounds + 1)}
        floors = {rate: median_of([b["floor"].get(rate) for b in base.values() if b])
                  for rate in args.rates}
        floor_lines.append("- `GET %s`: %s" % (path, ", ".join(
            "%d Hz %s µs/wake-up" % (rate, bl.fmt(floors[rate], 2)) for rate in args.rates)))
        for cfg in cfgs:
            runs = {rnd: res.get((rnd, path, cfg["name"])) for rnd in range(1, args.rounds + 1)}
            got = [r for r in runs.values() if r]
            rps = median_of([r["rps"] for r in got])
            if cfg["kind"] == "base":
                rows.append(["`GET %s`" % path, cfg["name"], bl.fmt(rps, 0), "1", "—", "—", "—", "—", "—",
                             "%d/%d" % (len(got), args.rounds)])
                continue
            ratio = median_of([r["rps"] / base[k]["rps"] for k, r in runs.items()
                               if r and base[k] and base[k]["rps"]])
            times = median_of([r["us_tick"] / base[k]["floor"][cfg["rate"]] for k, r in runs.items()
                               if r and r["us_tick"] is not None and base[k]
                               and base[k]["floor"].get(cfg["rate"])])
            above = median_of([r["us_tick"] - base[k]["floor"][cfg["rate"]] for k, r in runs.items()
                               if r and r["us_tick"] is not None and base[k]
                               and base[k]["floor"].get(cfg["rate"]) is not None])
            rows.append(["`GET %s`" % path, cfg["name"], bl.fmt(rps, 0), bl.fmt(ratio, 3),
                         bl.fmt(median_of([r["cpu_pct"] for r in got]), 2),
                         bl.fmt(median_of([r["tick_hz"] for r in got]), 0),
                         bl.fmt(median_of([r["us_tick"] for r in got]), 2),
                         bl.fmt(times, 2, "×"), bl.fmt(above, 2),
                         "%d/%d" % (len(got), args.rounds)])

    threads = median_of([r["threads"] for r in res.values()])
    pythreads = median_of([r.get("pythreads") for r in res.values()])
    print("### Overhead of the agent on a FastAPI app\n")
    print("`targets/overhead_app.py` under uvicorn on %s (%s), pinned to core %d with the samplers; "
          "`wrk -t1 -c%d -d%ds` pinned to core %d; a fresh server per measurement after a %d s warm-up; "
          "medians of %d interleaved rounds; agent with SPY_CPU_BUDGET=0%s. Threads in the server "
          "(without the agent's): %s, of which Python threads (as the agent counts them): %s. %s.\n"
          % (bl.python_version(args.python), args.python, SERVER_CORE, args.connections, args.duration,
             LOAD_CORE, args.warmup, args.rounds,
             "; %s with `-o /dev/null`" % args.austin_version if args.austin else "",
             bl.fmt(threads, 0), bl.fmt(pythreads, 0), bl.machine_line()))
    print(bl.markdown_table(["path", "config", "req/s", "ratio to baseline", "sampler CPU % core",
                             "ticks/s", "µs/tick", "× floor", "above floor µs/tick", "runs"],
                            rows, "llrrrrrrrr"))
    print("\nWake-up floor (wakeup_floor.c on core %d, CPU per wake-up, median over rounds, "
          "%g s per rate while wrk loads the baseline server):\n" % (SERVER_CORE, args.floor_seconds))
    print("\n".join(floor_lines))
    if args.austin:
        print("\nAustin's ticks are its voluntary context switches (one sleep per sampling pass); "
              "its CPU is all of its threads. Austin does not sleep after a pass that took longer "
              "than its interval, so when it cannot keep up this undercounts its passes "
              "(its ticks/s then fall well below the rate).")
    print()
    complete = all(res.get((rnd, path, cfg["name"])) for rnd in range(1, args.rounds + 1)
                   for path in args.paths for cfg in cfgs)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
