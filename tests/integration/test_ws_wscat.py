"""Can a person use the agent with plain `wscat`, as docs/PROTOCOL.md shows?

    test_ws_wscat.py [PYTHON]     (default /usr/bin/python3.11: Debian's, with
                                   fastapi and uvicorn)

Real wscat (npm, tests/node/node_modules/.bin/wscat; installed with
`npm install --prefix tests/node` when missing) against tests/targets/
fastapi_app.py under uvicorn with LD_PRELOAD, while bounded HTTP load runs:
  1. `wscat -c ws://... -x status -x dump -x "top 10" -w 4`: hello first, live
     top pushes naming the app's endpoint functions cpu_work and json_work,
     status, dump, top replies;
  2. `-x "record 3 svg collapsed speedscope" -w 8`: record_started, progress,
     record_done; the three files exist, the SVG parses as XML, collapsed
     lines `a;b;c N` sum to record_done.samples, the speedscope JSON has its
     $schema;
  3. wscat typed at through a pseudo-terminal, as a person would: `record 30`,
     then `record stop` 2 s later ends it early, with its files.
"""

import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import harness
from harness import Checks, log
import wsclient
from wsclient import is_push, short

NODE_DIR = os.path.join(harness.REPO, "tests", "node")
WSCAT = os.path.join(NODE_DIR, "node_modules", ".bin", "wscat")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def ensure_wscat():
    if os.access(WSCAT, os.X_OK):
        return True
    if not shutil.which("node") or not shutil.which("npm"):
        log("SKIP: node/npm not installed, no wscat")
        return False
    log("installing wscat: npm install --prefix %s" % NODE_DIR)
    r = harness.run(["npm", "install", "--prefix", NODE_DIR, "--no-audit", "--no-fund"], env=harness.clean_env(),
                    timeout=300)
    if r.rc != 0 or not os.access(WSCAT, os.X_OK):
        log("SKIP: npm install failed:\n" + r.describe())
        return False
    return True


def json_lines(text):
    """Every JSON object found on a line of text (ANSI codes and wscat's `< ` stripped)."""
    out = []
    for line in ANSI.sub("", text).replace("\r", "\n").split("\n"):
        i, j = line.find("{"), line.rfind("}")
        if i < 0 or j < i:
            continue
        try:
            obj = json.loads(line[i:j + 1])
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def wscat_execute(url, commands, wait, timeout):
    """Run `wscat -c url -x C1 -x C2 ... -w wait`; (harness.Result, [JSON messages it printed]).

    wscat quits as soon as its standard input ends, even with -x, so it gets
    a pipe that stays open until it has exited by itself."""
    cmd = [WSCAT, "--no-color", "-c", url]
    for x in commands:
        cmd += ["-x", x]
    cmd += ["-w", str(wait)]
    log("  $ %s" % " ".join("'%s'" % a if " " in a else a for a in cmd))
    rfd, wfd = os.pipe()
    t0 = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdin=rfd, stdout=out, stderr=err, env=harness.clean_env(),
                                start_new_session=True)
        os.close(rfd)
        timed_out = False
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        harness.kill_group(proc)
        proc.wait(10)
        os.close(wfd)
        out.seek(0)
        err.seek(0)
        r = harness.Result(cmd, proc.returncode, out.read(), err.read(), time.monotonic() - t0, timed_out)
    return r, json_lines(r.stdout)


def of_type(msgs, t):
    return [m for m in msgs if m.get("type") == t]


class PtyWscat(object):
    """wscat in interactive mode on a pseudo-terminal: type lines, read what it prints."""

    def __init__(self, url):
        import fcntl
        import termios
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 400, 0, 0))
        self.proc = subprocess.Popen([WSCAT, "-c", url], stdin=slave, stdout=slave, stderr=slave,
                                     env=harness.clean_env({"TERM": "dumb"}), start_new_session=True, close_fds=True)
        os.close(slave)
        self.text = ""

    def pump(self, seconds):
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if r:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    return
                if not data:
                    return
                self.text += data.decode("utf-8", "replace")

    def wait_for(self, pred, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for m in json_lines(self.text):
                if pred(m):
                    return m
            self.pump(min(0.5, deadline - time.monotonic()))
        for m in json_lines(self.text):
            if pred(m):
                return m
        return None

    def type(self, line):
        os.write(self.master, (line + "\r").encode())

    def close(self):
        try:
            os.write(self.master, b"\x03")
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        harness.kill_group(self.proc)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.close(self.master)
        except OSError:
            pass


def main():
    python = sys.argv[1] if len(sys.argv) > 1 else wsclient.APP_PYTHON
    wsclient.APP_PYTHON = python
    harness.require_library()
    if not ensure_wscat():
        sys.exit(harness.SKIP)
    c = Checks("test_ws_wscat")
    probe = harness.run([python, "-c", "import fastapi, uvicorn"], env=harness.clean_env(), timeout=60)
    if probe.rc != 0:
        log("SKIP: %s has no fastapi/uvicorn" % python)
        sys.exit(harness.SKIP)

    app = wsclient.start_app(c, "wscat", python=python)
    load = wsclient.Load(app.base, threads=3, seconds=200).start()
    try:
        _, expect = app.http_get("/_spy/expect")
        endpoint_names = [expect["cpu_work"]["function"], expect["json_work"]["function"]]
        time.sleep(2.0)  # some load in the profile first

        c.section("wscat -x status -x dump -x 'top 10'")
        r, msgs = wscat_execute(app.url, ["status", "dump", "top 10"], 4, 30)
        c.ok(not r.timed_out and r.rc == 0, "wscat ran and exited by itself (%s)" % harness.describe_rc(r.rc),
             r.describe())
        log("  wscat printed %d JSON messages: %s" % (len(msgs), [m.get("type") for m in msgs]))
        c.ok(msgs and msgs[0].get("type") == "hello", "the first line is hello", r.stdout[:500])
        if msgs and msgs[0].get("type") == "hello":
            c.eq(msgs[0].get("pid"), app.pid, "hello.pid is uvicorn's")
        st = of_type(msgs, "status")
        c.ok(len(st) == 1 and st[0].get("running") is True and st[0].get("samples", 0) > 0,
             "one status reply: running, samples > 0", short(st))
        dp = of_type(msgs, "dump")
        c.ok(len(dp) == 1 and len(dp[0].get("threads") or []) >= 2, "one dump reply with the app's threads",
             short(dp, 500))
        tops = [m for m in of_type(msgs, "top") if m.get("live") is False]
        c.ok(len(tops) == 1 and tops[0].get("limit") == 10 and len(tops[0].get("rows") or []) <= 10,
             "one `top 10` reply (live false, at most 10 rows)", short(tops, 500))
        pushes = [m for m in msgs if is_push(m)]
        c.ok(len(pushes) >= 2, "live top pushes arrive (%d in 4 s, every SPY_INTERVAL=1000 ms)" % len(pushes))
        seen = set()
        for p in pushes:
            for row in p.get("rows") or []:
                seen.add(row.get("function"))
        for name in endpoint_names:
            c.ok(name in seen, "a live push names the endpoint %s" % name, "functions pushed: %s" % sorted(seen)[:60])
        errors = of_type(msgs, "error")
        c.ok(not errors, "no error replies", short(errors))

        c.section("wscat -x 'record 3 svg collapsed speedscope'")
        r, msgs = wscat_execute(app.url, ["record 3 svg collapsed speedscope"], 8, 40)
        c.ok(not r.timed_out and r.rc == 0, "wscat ran and exited by itself", r.describe())
        log("  types: %s" % [m.get("type") for m in msgs if not is_push(m)])
        started = of_type(msgs, "record_started")
        c.ok(len(started) == 1 and started[0].get("seconds") == 3
             and sorted(started[0].get("formats") or []) == ["collapsed", "speedscope", "svg"],
             "record_started: 3 s, svg collapsed speedscope", short(started))
        prog = of_type(msgs, "record_progress")
        c.ok(len(prog) >= 1, "record_progress about once a second (%d)" % len(prog), short(prog))
        done = of_type(msgs, "record_done")
        if c.ok(len(done) == 1, "one record_done", r.stdout[-2000:]):
            d = done[0]
            log("  record_done: %s" % short(d, 800))
            paths = wsclient.check_record_done(c, d, app.data_dir, app.pid, ["svg", "collapsed", "speedscope"],
                                               "record 3")
            c.ok(2.5 <= (d.get("duration") or 0) <= 6, "duration about 3 s (%r)" % d.get("duration"))
            c.ok((d.get("samples") or 0) > 0, "samples > 0 (%r)" % d.get("samples"))
            wsclient.check_record_files(c, paths, d.get("samples"), "record 3")
            if prog:
                last = prog[-1].get("samples") or 0
                c.ok(last <= (d.get("samples") or 0),
                     "record_done.samples (%r) is not below the last record_progress.samples (%r): they count the same"
                     % (d.get("samples"), last))
            if "collapsed" in paths and os.path.isfile(paths["collapsed"]):
                text = wsclient.read_text(paths["collapsed"])
                c.ok(any(n in text for n in endpoint_names), "the collapsed stacks contain the endpoints",
                     text[:1500])

        c.section("wscat typed at on a pseudo-terminal: record 30, then record stop")
        time.sleep(1.1)  # file names have one-second resolution
        w = PtyWscat(app.url)
        try:
            hello = w.wait_for(lambda m: m.get("type") == "hello", 10)
            c.ok(hello is not None, "interactive wscat shows hello", ANSI.sub("", w.text)[-1500:])
            t0 = time.monotonic()
            w.type("record 30")
            st = w.wait_for(lambda m: m.get("type") == "record_started", 10)
            c.ok(st is not None and st.get("seconds") == 30, "record 30 started", short(st))
            w.pump(2.0)
            w.type("record stop")
            done = w.wait_for(lambda m: m.get("type") == "record_done", 15)
            took = time.monotonic() - t0
            if c.ok(done is not None, "record stop -> record_done (%.1f s after record 30)" % took,
                    ANSI.sub("", w.text)[-3000:]):
                c.ok((done.get("duration") or 99) < 15, "it ended early (duration %r s of 30)" % done.get("duration"))
                paths = wsclient.check_record_done(c, done, app.data_dir, app.pid, ["svg", "collapsed"],
                                                   "record stop")
                wsclient.check_record_files(c, paths, done.get("samples"), "record stop")
            errors = [m for m in json_lines(w.text) if m.get("type") == "error"]
            c.ok(not errors, "no error replies on the terminal", short(errors))
        finally:
            w.close()
    finally:
        ok, failures = load.stop()
        c.ok(ok > 0 and not failures, "HTTP load: %d requests answered, %d failures" % (ok, len(failures)),
             "\n".join(failures[:5]))
        rc = app.terminate(15)
        c.ok(rc == 0, "uvicorn exits 0 on SIGTERM (%s)" % harness.describe_rc(rc), app.describe() if rc != 0 else "")
        bad = harness.agent_error_lines(app.stderr())
        c.ok(not bad, "no agent errors on stderr", "\n".join(bad))
        app.kill()
    c.finish()


if __name__ == "__main__":
    main()
