#!/usr/bin/env python3
"""Requests per second of the demo app (examples/main.py under uvicorn) with
and without the agent, measured with wrk on loopback.

For every round and every path, a fresh uvicorn server is started on a free
127.0.0.1 port, once without the agent and once with LD_PRELOAD at SPY_RATE
(default 100 Hz; SPY_CPU_BUDGET left at the agent's default unless
--cpu-budget is given), warmed up with a short wrk run, then measured with
``wrk -t2 -c16 -d10s --latency``. Rounds alternate (none, agent, none,
agent, ...) and the medians of requests/s and p99 latency are reported with
the loss against the baseline. Not a test: no thresholds.

    python3 tests/bench/bench_wrk.py --build build [--rounds 5] [--paths /json,/cpu]
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import benchlib as bl

APP_DIR = os.path.join(bl.REPO, "examples")


def parse_args():
    p = bl.arg_parser(__doc__.split("\n")[0], rounds=5, rate=100, python="/usr/bin/python3.11",
                      python_help="interpreter with fastapi and uvicorn")
    p.add_argument("--duration", type=bl.positive_int(1, 3600), default=10,
                   help="wrk -d seconds per measurement (default: 10)")
    p.add_argument("--warmup", type=bl.positive_int(0, 600), default=2,
                   help="unmeasured wrk seconds before each measurement (default: 2)")
    p.add_argument("--threads", type=bl.positive_int(1, 64), default=2,
                   help="wrk -t (default: 2)")
    p.add_argument("--connections", type=bl.positive_int(1, 10000), default=16,
                   help="wrk -c (default: 16)")
    p.add_argument("--paths", default="/json,/cpu",
                   help="comma-separated app paths, one table row each (default: /json,/cpu)")
    p.add_argument("--cpu-budget", type=bl.positive_float(0, 100), default=None,
                   help="SPY_CPU_BUDGET for the agent runs (default: the agent's default)")
    p.add_argument("--viewers", type=bl.positive_int(0, 100), default=0,
                   help="also measure the agent with this many WebSocket viewers reading 10 pushes/s "
                        "(SPY_INTERVAL=100); 0 = not (default: 0)")
    args = bl.parse_args(p)
    if args.threads > args.connections:
        p.error("--threads (%d) must not exceed --connections (%d), as wrk requires"
                % (args.threads, args.connections))
    paths = [s.strip() for s in args.paths.split(",") if s.strip()]
    if not paths or any(not s.startswith("/") or " " in s for s in paths):
        p.error("--paths must be comma-separated paths starting with '/', got %r" % args.paths)
    args.paths = paths
    if not shutil.which("wrk"):
        p.error("wrk not found (Debian package wrk)")
    check = subprocess.run([args.python, "-c", "import fastapi, uvicorn; print('ok')"],
                           env=bl.clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
    if check.returncode != 0 or check.stdout.strip() != "ok":
        p.error("--python %s cannot import fastapi and uvicorn: %s"
                % (args.python, (check.stderr.strip().splitlines() or ["no output"])[-1]))
    return args


def free_port():
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A uvicorn process serving examples/main.py on loopback."""

    def __init__(self, python, env):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        # stderr goes to a file, not a pipe nobody drains during the run.
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [python, "-m", "uvicorn", "main:app", "--app-dir", APP_DIR,
             "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning", "--no-access-log"],
            env=env, stdout=subprocess.DEVNULL, stderr=self.stderr)

    def stderr_text(self):
        self.stderr.seek(0)
        return self.stderr.read()

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("uvicorn exited %s: %s" % (
                    self.proc.returncode, self.stderr_text().strip()[-500:]))
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("uvicorn did not answer on %s within %ss" % (self.url, timeout))

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


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_wrk(text):
    """Requests/s, p99 latency (ms) and error counts from wrk --latency output."""
    out = {"rps": None, "p99_ms": None, "errors": 0, "non2xx": 0}
    m = re.search(r"Requests/sec:\s*([\d.]+)", text)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    if m:
        out["p99_ms"] = float(m.group(1)) * _UNITS[m.group(2)]
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["errors"] = sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    return out


def wrk(args, url, seconds):
    cmd = ["wrk", "-t%d" % args.threads, "-c%d" % args.connections, "-d%ds" % seconds,
           "--latency", url]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=seconds + 60)
    if proc.returncode != 0:
        raise RuntimeError("wrk exited %d: %s" % (proc.returncode, proc.stdout.strip()[-300:]))
    return parse_wrk(proc.stdout)


VIEWERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "targets", "viewers.py")


def measure(args, env, path, with_agent, viewers=0):
    """One fresh server, warm-up, one measured wrk run. Returns the parsed result."""
    env = dict(env)
    if with_agent:
        env["SPY_WS_PORT"] = str(free_port())
    if viewers:
        env["SPY_INTERVAL"] = "100"
    server = Server(args.python, env)
    crowd = None
    try:
        server.wait_ready()
        if viewers:
            crowd = subprocess.Popen([args.python, VIEWERS, env["SPY_WS_PORT"], str(viewers),
                                      str(args.warmup + args.duration + 30)],
                                     env=bl.clean_env(), stdout=subprocess.PIPE, universal_newlines=True)
            line = crowd.stdout.readline().strip()
            if line != "connected %d" % viewers:
                raise RuntimeError("viewers did not all connect: %r" % line)
        if with_agent and "spy-sampler" not in bl.thread_names(server.proc.pid):
            raise RuntimeError("agent preloaded but no spy-sampler thread in uvicorn "
                               "(threads: %s)" % sorted(set(bl.thread_names(server.proc.pid))))
        if args.warmup:
            wrk(args, server.url + path, args.warmup)
        return wrk(args, server.url + path, args.duration)
    finally:
        if crowd:
            crowd.kill()
            crowd.wait()
        err = server.stop()
        if err.strip():
            bl.log("  uvicorn stderr: %s" % err.strip()[-300:])


def main():
    args = parse_args()
    configs = [("no agent", False, 0), ("agent %d Hz" % args.rate, True, 0)]
    if args.viewers:
        configs.append(("agent + %d viewers" % args.viewers, True, args.viewers))
    envs = {False: bl.clean_env(), True: args.build.env(rate=args.rate, cpu_budget=args.cpu_budget)}
    res = {}        # (path, config name) -> [result]
    for rnd in range(1, args.rounds + 1):
        for path in args.paths:
            for name, with_agent, viewers in configs:
                try:
                    r = measure(args, envs[with_agent], path, with_agent, viewers)
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                    bl.log("round %d %s %s: ERROR %s" % (rnd, path, name, e))
                    continue
                res.setdefault((path, name), []).append(r)
                bl.log("round %d %-6s %-14s %9.1f req/s  p99 %s ms  socket errors %d  non-2xx %d"
                       % (rnd, path, name, r["rps"] or 0, bl.fmt(r["p99_ms"], 1),
                          r["errors"], r["non2xx"]))

    rows = []
    for path in args.paths:
        base = bl.median([r["rps"] for r in res.get((path, configs[0][0]), [])])
        for name, with_agent, _ in configs:
            runs = res.get((path, name), [])
            rps = bl.median([r["rps"] for r in runs])
            p99 = bl.median([r["p99_ms"] for r in runs])
            errs = sum(r["errors"] + r["non2xx"] for r in runs)
            rows.append(["`GET %s`" % path, name, bl.fmt(rps, 0),
                         bl.fmt(bl.loss_pct(base, rps), 2, " %") if with_agent else "—",
                         bl.fmt(p99, 1), str(errs), "%d/%d" % (len(runs), args.rounds)])
    budget = ("SPY_CPU_BUDGET=%g" % args.cpu_budget if args.cpu_budget is not None
              else "default SPY_CPU_BUDGET")
    print("### Requests/s of the demo app under wrk\n")
    print("uvicorn + FastAPI on %s (%s), `wrk -t%d -c%d -d%ds` on 127.0.0.1, median of %d "
          "interleaved rounds, fresh server per run after a %d s warm-up, %s. %s.\n"
          % (bl.python_version(args.python), args.python, args.threads, args.connections,
             args.duration, args.rounds, args.warmup, budget, bl.machine_line()))
    print(bl.markdown_table(["Endpoint", "Configuration", "req/s", "loss", "p99 ms",
                             "errors", "runs"], rows, "llrrrrr"))
    print()
    complete = all(res.get((path, name)) for path in args.paths for name, _, _ in configs)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
