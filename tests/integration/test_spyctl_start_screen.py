"""spyctl --start on a terminal: the live top owns its screen, the app's
output goes to a log file spyctl names.

    python3.11 test_spyctl_start_screen.py [PYTHON]   (SPYCTL: the spyctl binary)

Stories: a real Uvicorn app (tests/targets/fastapi_app.py) started by
`spyctl --start` on a pseudo-terminal (120x40) serves requests while the
live top runs; everything written to the terminal is captured; Uvicorn's
access log lines never appear on it, the top's table does, refresh after
refresh; the access log lines are in the file spyctl named when it
started and again when it stopped (under TMPDIR).  An app that cannot
start: spyctl exits 1 and shows the end of its output from the log.
"""

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import urllib.request

import harness
import wsclient
from harness import log

SPYCTL = os.environ.get("SPYCTL") or os.path.join(harness.REPO, "build", "spyctl", "spyctl")
PYTHON = sys.argv[1] if len(sys.argv) > 1 else wsclient.APP_PYTHON
TMP = tempfile.mkdtemp(prefix="spy-start-screen-")


def start_env(port_ws):
    env = harness.clean_env({"SPY_WS_PORT": port_ws, "SPY_DATA_DIR": os.path.join(TMP, "data"),
                             "PYTHONPATH": harness.SPY_MODULE_DIR, "SPY_AGENT_LIB": harness.SPY_LIB,
                             "TMPDIR": TMP, "TERM": "xterm"})
    if harness.ASAN_RUNTIME:
        env["LD_PRELOAD"] = harness.ASAN_RUNTIME
    return env


class Screen(object):
    """Everything spyctl writes to its pseudo-terminal, collected."""

    def __init__(self, fd):
        self.fd, self.data, self.lock = fd, bytearray(), threading.Lock()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                r, _, _ = select.select([self.fd], [], [], 0.5)
                if not r:
                    continue
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.data += chunk

    def text(self):
        with self.lock:
            return self.data.decode("utf-8", "replace")


def wait_for(cond, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


def test_screen(c):
    c.section("spyctl --start on a terminal, the app serving requests")
    port, ws_port = harness.free_port(), harness.free_port()
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    p = subprocess.Popen([SPYCTL, "--start", "--port", str(port), "--app", "fastapi_app:app", "--python", PYTHON,
                          "--timeout", "60", "--", "--app-dir", harness.SPY_TARGETS],
                         env=start_env(ws_port), stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                         cwd=TMP)
    os.close(slave)
    screen = Screen(master)
    try:
        up = wait_for(lambda: "agent answers" in screen.text() or p.poll() is not None, 90)
        if not c.ok(up and p.poll() is None, "the app starts and its agent answers", screen.text()[-3000:]):
            return
        m = re.search(r"the app's output goes to (\S+)", screen.text())
        c.ok(m, "spyctl names the app's log when it starts", screen.text()[-2000:])
        logfile = m.group(1) if m else None
        c.ok(logfile and logfile.startswith(TMP + "/"), "the log is under TMPDIR (%s)" % logfile)
        served = 0
        for i in range(30):
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/health?n=%d" % (port, i), timeout=10).read()
                served += 1
            except OSError:
                pass
            time.sleep(0.1)
        c.eq(served, 30, "the app served 30 requests")
        # the top keeps refreshing meanwhile: wait for two more tables after the requests
        shown = screen.text().count("Function (file:line)")
        c.ok(wait_for(lambda: screen.text().count("Function (file:line)") >= shown + 2, 30),
             "the top refreshes its table while the app serves", screen.text()[-2000:])
        os.write(master, b"q")
        try:
            rc = p.wait(45)
        except subprocess.TimeoutExpired:
            rc = None
        c.eq(rc, 0, "q quits spyctl, exit 0")
        wait_for(lambda: "its output is in" in screen.text(), 5)
        out = screen.text()
        c.ok("Uvicorn running on" not in out and "HTTP/1.1" not in out and "Application startup" not in out,
             "none of the app's output reached the terminal", "\n".join(
                 l for l in out.splitlines() if "HTTP/1.1" in l or "Uvicorn" in l)[:2000])
        c.ok(out.count("Function (file:line)") >= 3, "the top's table was drawn (%d times)"
             % out.count("Function (file:line)"))
        m2 = re.search(r"stopped the app \(pid \d+\).*its output is in (\S+)", out)
        c.ok(m2 and m2.group(1) == logfile, "spyctl names the log again when it stops", out[-1500:])
        text = wsclient.read_text(logfile) if logfile else ""
        hits = len(re.findall(r'"GET /health\?n=\d+ HTTP/1\.1" 200', text))
        c.eq(hits, 30, "the log file has the 30 access log lines")
        c.ok("Uvicorn running on" in text, "and Uvicorn's start-up lines", text[:1500])
    finally:
        if p.poll() is None:
            harness.kill_group(p)
            p.wait(10)
        screen.thread.join(2)
        try:
            os.close(master)
        except OSError:
            pass


def test_failed_start(c):
    c.section("an app that cannot start: the end of its log is shown")
    port, ws_port = harness.free_port(), harness.free_port()
    r = harness.run([SPYCTL, "--start", "--port", str(port), "--app", "no_such_module_here:app", "--python", PYTHON,
                     "--timeout", "60"], env=start_env(ws_port), timeout=90, cwd=TMP)
    c.process_ok(r, "spyctl --start --app no_such_module_here:app", want_rc=1)
    c.ok("exited before it listened" in r.stderr, "spyctl says the app exited", r.stderr)
    c.ok(re.search(r"^  \| .*no_such_module_here", r.stderr, re.M), "with the end of the app's output",
         r.stderr)
    c.ok(r.stdout == "", "nothing of the app on standard output", r.stdout[:500])


def main():
    harness.require_library()
    if not os.access(SPYCTL, os.X_OK):
        log("FAIL: spyctl not built: %s" % SPYCTL)
        return 1
    if not os.access(PYTHON, os.X_OK):
        log("SKIP: no %s" % PYTHON)
        return harness.SKIP
    c = harness.Checks("spyctl-start-screen")
    test_screen(c)
    test_failed_start(c)
    c.finish()


if __name__ == "__main__":
    sys.exit(main())
