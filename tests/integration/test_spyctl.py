"""spyctl's live side, as its users run it: the old monitor.py's flags
against real Uvicorn apps with the agent preloaded.

    python3.11 test_spyctl.py [PYTHON]      (SPYCTL: the spyctl binary)

Stories: bad flags get one line and exit 2; --help documents every flag;
settings round-trip through --save-config/--config with flags > file >
environment; --wait times out cleanly when nothing comes, and succeeds for
an app started after it; --list shows the app and its agent; --pid N (not a
terminal) prints top snapshots naming the endpoint functions; --dump --pid
prints the stacks; --record writes a valid SVG and a collapsed file whose
counts sum to the samples; a process without an agent gets the LD_PRELOAD
line; --start then SIGINT leaves no process of the tree behind.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import harness
import wsclient
from harness import log

SPYCTL = os.environ.get("SPYCTL") or os.path.join(harness.REPO, "build", "spyctl", "spyctl")
PYTHON = sys.argv[1] if len(sys.argv) > 1 else wsclient.APP_PYTHON
TMP = tempfile.mkdtemp(prefix="spy-spyctl-")
STARTED = []  # every Popen we start, killed at the end


def env_for_spyctl(extra=None):
    return harness.clean_env(extra)


def spyctl(args, extra_env=None, timeout=60):
    return harness.run([SPYCTL] + [str(a) for a in args], env=env_for_spyctl(extra_env), timeout=timeout, cwd=TMP)


def one_line_error(c, r, what):
    lines = r.stderr_lines()
    c.process_ok(r, what, want_rc=2)
    c.ok(len(lines) == 1 and lines[0].startswith("spyctl: "), "%s: one line on stderr" % what, r.describe())


def proc_state(pid):
    """State letter of pid from /proc, or None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def descendants(root):
    """Pids whose parent chain reaches root."""
    parent = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name) as f:
                    parent[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    out = []
    for pid in parent:
        p, depth = parent.get(pid), 0
        while p and p > 1 and depth < 64:
            if p == root:
                out.append(pid)
                break
            p, depth = parent.get(p), depth + 1
    return out


class Load(object):
    """Bounded background HTTP load on the app's two endpoints."""

    def __init__(self, base):
        self.base, self.stop = base, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        deadline = time.monotonic() + 240
        while not self.stop.is_set() and time.monotonic() < deadline:
            for path in ("/cpu?n=200000", "/json?n=3000"):
                try:
                    urllib.request.urlopen(self.base + path, timeout=5).read()
                except OSError:
                    time.sleep(0.1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


def test_usage(c):
    c.section("bad flags: one line, exit code 2")
    for args, env in ((["--bogus"], None), (["--pid", "abc"], None), (["--port", "0", "--wait"], None),
                      (["--record", "--output", "x.png"], None), (["--wait", "--timeout"], None),
                      (["--wait", "--start"], None), (["--start", "--app", "nocolon"], None),
                      (["--list", "--pid", "1"], None), (["--list", "extra"], None),
                      (["--wait", "--", "--workers", "2"], None), (["--list"], {"SPY_RATE": "fast"}),
                      ([], None), (["--list", "--config", os.path.join(TMP, "missing.json")], None)):
        one_line_error(c, spyctl(args, env), "spyctl %s%s" % (" ".join(args), " with %s" % env if env else ""))

    c.section("--help documents every flag with an example")
    r = spyctl(["--help"])
    c.process_ok(r, "spyctl --help")
    for flag in ("--list", "--pid", "--wait", "--port", "--timeout", "--start", "--app", "--record",
                 "--duration", "--output", "--rate", "--dump", "--python", "--agent", "--config",
                 "--save-config", "--report", "-l,", "-p,", "-w,", "-P,", "-t,", "-s,", "-r,", "-d,", "-o,"):
        c.ok(flag in r.stdout, "--help mentions %s" % flag)
    for example in ("spyctl --wait --port 8000 --timeout 30", "spyctl --record --duration 60 --output profile.svg",
                    "spyctl --dump --pid", "spyctl --start --port 8000 --app main:app", "spyctl --list"):
        c.ok(example in r.stdout, "--help shows `%s`" % example)


def test_config(c):
    c.section("--save-config / --config: flags beat the file, the file beats the environment")
    f1, f2, f3, f4 = (os.path.join(TMP, n) for n in ("a.json", "b.json", "c.json", "d.json"))
    r = spyctl(["--port", "8123", "--rate", "250", "--app", "svc.api:app", "--save-config", f1],
               {"SPY_TIMEOUT": "12"})
    c.process_ok(r, "--save-config alone")
    try:
        saved = json.load(open(f1))
    except (OSError, ValueError) as e:
        saved = {}
        c.ok(False, "the saved file is JSON", repr(e))
    c.eq((saved.get("port"), saved.get("rate"), saved.get("app"), saved.get("timeout")),
         (8123, 250, "svc.api:app", 12), "saved port, rate, app (flags) and timeout (environment)")
    c.ok("token" not in saved, "the token is never saved")
    r = spyctl(["--config", f1, "--save-config", f2], {"SPY_PORT": "9000", "SPY_DURATION": "45"})
    b = json.load(open(f2)) if r.rc == 0 else {}
    c.eq((b.get("port"), b.get("duration"), b.get("rate")), (8123, 45, 250),
         "the file beats SPY_PORT; SPY_DURATION fills what the file leaves null")
    r = spyctl(["--config", f1, "--port", "7000", "-o", "x.txt", "--save-config", f3], {"SPY_PORT": "9000"})
    d = json.load(open(f3)) if r.rc == 0 else {}
    c.eq((d.get("port"), d.get("output"), d.get("rate")), (7000, "x.txt", 250), "flags beat the file")
    with open(f4, "w") as f:
        json.dump({"port": 8000, "colour": "blue"}, f)
    one_line_error(c, spyctl(["--config", f4, "--list"]), "a config file with an unknown setting")
    with open(f4, "w") as f:
        json.dump({"rate": 99999}, f)
    one_line_error(c, spyctl(["--config", f4, "--list"]), "a config file with a bad rate")


def test_wait_timeout(c):
    c.section("--wait for nothing times out cleanly")
    port = harness.free_port()
    r = spyctl(["--wait", "--port", port, "--timeout", "2"], timeout=30)
    c.process_ok(r, "spyctl --wait --port %d --timeout 2 (nothing there)" % port, want_rc=1)
    c.ok(r.elapsed < 10, "it gives up after about 2 s (%.1f s)" % r.elapsed)
    c.ok(re.search(r"timed out after 2 s.*port %d" % port, r.stderr), "it says it timed out, and on which port",
         r.stderr)


def test_app(c):
    c.section("--wait succeeds for an app started after it")
    app = wsclient.AgentApp("spyctl", python=PYTHON)
    waiter = subprocess.Popen([SPYCTL, "--wait", "--port", str(app.http_port), "--timeout", "60", "--duration", "3"],
                              env=env_for_spyctl(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, start_new_session=True, cwd=TMP)
    STARTED.append(waiter)
    time.sleep(1.0)
    app.start()
    STARTED.append(app)
    try:
        out, err = waiter.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        harness.kill_group(waiter)
        out, err = waiter.communicate()
    c.eq(waiter.returncode, 0, "spyctl --wait exits 0 once the app's agent answered")
    c.ok("Function (file:line)" in out, "then it monitors: top snapshots on stdout", out[-2000:] + err[-2000:])
    if not c.ok(app.wait_http(60), "the app answers HTTP", app.describe()):
        return

    with Load(app.base):
        c.section("--list")
        r = spyctl(["--list"])
        c.process_ok(r, "spyctl --list")
        mine = [l for l in r.stdout.splitlines() if l.split()[:1] == [str(app.pid)]]
        c.ok(len(mine) == 1, "--list has the app's pid %d" % app.pid, r.stdout)
        if mine:
            c.ok("uvicorn" in mine[0] and "fastapi_app:app" in mine[0], "with its command line", mine[0])
            c.ok(re.search(r"\broot\b", mine[0]) and ":%d" % app.ws_port in mine[0],
                 "as an agent root on port %d" % app.ws_port, mine[0])

        c.section("--pid N, stdout not a terminal: top snapshots")
        r = spyctl(["--pid", app.pid, "--duration", "5", "--interval", "0.5"], timeout=40)
        c.process_ok(r, "spyctl --pid %d --duration 5" % app.pid)
        snaps = r.stdout.count("Function (file:line)")
        c.ok(snaps >= 3, "several snapshots (%d)" % snaps, r.stdout[-1500:])
        c.ok("cpu_work" in r.stdout and "json_work" in r.stdout, "they name the endpoints cpu_work and json_work",
             r.stdout[-3000:])

        c.section("--dump --pid N")
        r = spyctl(["--dump", "--pid", app.pid], timeout=30)
        c.process_ok(r, "spyctl --dump --pid %d" % app.pid)
        c.ok(r.stdout.startswith("Process %d:" % app.pid), "it starts with `Process PID: command line`",
             r.stdout[:300])
        c.ok(re.search(r'^Thread \d+ \((idle|active)[^)]*\): "MainThread"$', r.stdout, re.M),
             "each thread as `Thread TID (state): \"name\"`", r.stdout[:1500])
        c.ok(re.search(r"^    \S.* \(.*uvicorn.*\.py:\d+\)$", r.stdout, re.M),
             "frames as `    function (file:line)`, uvicorn's among them", r.stdout[:3000])

        c.section("--record")
        svg = os.path.join(TMP, "out", "profile.svg")
        os.makedirs(os.path.dirname(svg), exist_ok=True)
        r = spyctl(["--record", "--pid", app.pid, "--duration", "3", "--output", svg, "--rate", "200"], timeout=60)
        c.process_ok(r, "spyctl --record --duration 3 --output %s --rate 200" % svg)
        c.ok(os.path.isfile(svg), "the SVG is where it was asked for")
        if os.path.isfile(svg):
            c.ok(wsclient.check_svg(svg) is None, "it parses as an XML <svg>", wsclient.check_svg(svg))
        c.ok("recording [" in r.stderr, "a progress bar on stderr", r.stderr)
        txt = os.path.join(TMP, "out", "stacks.txt")
        r = spyctl(["--record", "-p", app.pid, "-d", "2", "-o", txt], timeout=60)
        c.process_ok(r, "spyctl --record -d 2 -o stacks.txt")
        m = re.search(r"\(collapsed, (\d+) samples", r.stderr)
        if c.ok(os.path.isfile(txt) and m, "the collapsed file is written and the samples are said", r.stderr):
            total, lines, bad = wsclient.parse_collapsed(txt)
            c.ok(not bad and lines > 0, "`a;b;c N` lines (%d)" % lines, bad[:3])
            c.eq(total, int(m.group(1)), "the counts sum to the samples recorded")
        # --record -o through a symlink: the link stays, its target gets the file
        target, link = os.path.join(TMP, "out", "real.txt"), os.path.join(TMP, "out", "link.txt")
        with open(target, "w") as f:
            f.write("old\n")
        os.symlink("real.txt", link)
        r = spyctl(["--record", "-p", app.pid, "-d", "1", "-o", link], timeout=60)
        c.process_ok(r, "spyctl --record -d 1 -o link.txt (a symlink)")
        c.ok(os.path.islink(link), "the symlink is still a symlink")
        total, lines, bad = wsclient.parse_collapsed(target)
        c.ok(lines > 0 and not bad, "its target holds the recording (%d lines)" % lines, bad[:3])
        st = spyctl(["--dump", "--pid", app.pid])  # the agent still answers, its rate restored
        c.process_ok(st, "the agent still answers after recording")

    c.section("a process without an agent")
    bare = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(60)"], env=harness.clean_env(),
                            start_new_session=True)
    STARTED.append(bare)
    time.sleep(0.5)
    r = spyctl(["--pid", bare.pid])
    c.process_ok(r, "spyctl --pid %d (no agent)" % bare.pid, want_rc=1)
    c.ok("runs no spyagent" in r.stderr and re.search(r"LD_PRELOAD=/\S*libspyagent\.so ", r.stderr),
         "it says so and gives the LD_PRELOAD= line", r.stderr)
    harness.kill_group(bare)


def test_start(c):
    c.section("--start, then SIGINT: nothing of the tree remains")
    port, ws_port = harness.free_port(), harness.free_port()
    env = env_for_spyctl({"SPY_WS_PORT": ws_port, "SPY_DATA_DIR": os.path.join(TMP, "start-data"),
                          "PYTHONPATH": harness.SPY_MODULE_DIR, "SPY_AGENT_LIB": harness.SPY_LIB})
    if harness.ASAN_RUNTIME:  # spyctl keeps it first and adds the agent after it
        env["LD_PRELOAD"] = harness.ASAN_RUNTIME
    out_path, err_path = os.path.join(TMP, "start.out"), os.path.join(TMP, "start.err")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        p = subprocess.Popen([SPYCTL, "--start", "--port", str(port), "--app", "fastapi_app:app", "--python", PYTHON,
                              "--timeout", "60", "--", "--app-dir", harness.SPY_TARGETS, "--workers", "2"],
                             env=env, stdout=out, stderr=err, start_new_session=True, cwd=TMP)
    STARTED.append(p)
    deadline, up = time.monotonic() + 90, False
    while time.monotonic() < deadline and p.poll() is None and not up:
        up = "agent answers" in wsclient.read_text(err_path)
        time.sleep(0.2)
    if not c.ok(up, "spyctl --start: the app starts and its agent answers", wsclient.read_text(err_path)[-3000:]):
        harness.kill_group(p)
        return
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=10).read()
        served = True
    except OSError:
        served = False
    c.ok(served, "the app serves HTTP on port %d" % port)
    deadline = time.monotonic() + 30
    tree = descendants(p.pid)
    while len(tree) < 4 and time.monotonic() < deadline:  # supervisor, resource tracker?, 2 workers
        time.sleep(0.2)
        tree = descendants(p.pid)
    c.ok(len(tree) >= 3, "the tree has the supervisor and two workers (%d processes)" % len(tree))
    p.send_signal(signal.SIGINT)
    try:
        rc = p.wait(45)
    except subprocess.TimeoutExpired:
        rc = None
    c.eq(rc, 0, "spyctl exits 0 after SIGINT")
    left = [(pid, proc_state(pid)) for pid in tree if proc_state(pid) is not None]
    c.ok(not left, "no process of the tree remains, not even a zombie", "%s" % left)
    c.ok(wsclient.read_text(err_path).count("stopped the app") == 1, "spyctl says it stopped the app")
    c.ok(not descendants(p.pid) or rc is None, "nothing is left under spyctl")


def main():
    harness.require_library()
    if not os.access(SPYCTL, os.X_OK):
        log("FAIL: spyctl not built: %s" % SPYCTL)
        return 1
    if not os.access(PYTHON, os.X_OK):
        log("SKIP: no %s" % PYTHON)
        return harness.SKIP
    c = harness.Checks("spyctl")
    try:
        test_usage(c)
        test_config(c)
        test_wait_timeout(c)
        test_app(c)
        test_start(c)
    finally:
        for p in STARTED:
            if isinstance(p, wsclient.AgentApp):
                p.kill()
            else:
                harness.kill_group(p)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    pass
    c.finish()


if __name__ == "__main__":
    sys.exit(main())
