"""Does a recording survive the app being stopped with SIGTERM?

    test_ws_sigterm.py [PYTHON]     (default /usr/bin/python3.11)

tests/targets/fastapi_app.py under uvicorn (LD_PRELOAD) with HTTP load; a
client sends `record 60 svg collapsed speedscope`, waits for two progress
messages, then uvicorn gets SIGTERM.  uvicorn must exit 0 within 15 s and the
three files must exist in SPY_DATA_DIR afterwards, complete (the SVG parses
as XML, the collapsed counts are positive and sum to the samples the last
progress message or record_done reported, within what the last seconds
added, the speedscope JSON has its $schema), with no temporary files left.
The client gets record_done naming those files and then a close frame with
1001 (going away) before the app is gone.
"""

import asyncio
import os
import sys
import time

import harness
from harness import Checks, log
import wsclient
from wsclient import connect_hello, short


async def record_then_wait(c, app):
    cl, hello = await connect_hello(app.url, "recorder")
    if not c.ok(hello is not None, "hello"):
        return None, None
    r = await cl.command("record 60 svg collapsed speedscope", "record_started")
    if not c.ok(r is not None and r.get("type") == "record_started", "record 60 started", short(r)):
        return None, None
    progress = []
    deadline = time.monotonic() + 8
    while len(progress) < 2 and time.monotonic() < deadline:
        m = await cl.expect("record_progress", deadline - time.monotonic())
        if m is None:
            break
        progress.append(m)
    c.ok(len(progress) == 2, "two record_progress messages (%s)" % [p.get("samples") for p in progress])
    return cl, progress


async def after_term(cl, seconds):
    """What the client sees while the app shuts down (record_done? close?)."""
    done, closed = None, None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            m = await cl.recv(deadline - time.monotonic())
            if m.get("type") == "record_done":
                done = m
        except wsclient.Closed as e:
            closed = (e.code, e.reason)
            break
        except asyncio.TimeoutError:
            break
    return done, closed


def main():
    python = sys.argv[1] if len(sys.argv) > 1 else wsclient.APP_PYTHON
    harness.require_library()
    wsclient.require_websockets()
    c = Checks("test_ws_sigterm")
    app = wsclient.start_app(c, "sigterm", python=python)
    load = wsclient.Load(app.base, threads=2, seconds=60).start()
    try:
        time.sleep(1.0)

        async def scenario():
            cl, progress = await record_then_wait(c, app)
            if cl is None:
                return None, None, None
            load.stop()
            log("  sending SIGTERM to uvicorn (pid %d) during the recording" % app.pid)
            app.proc.send_signal(15)
            done, closed = await after_term(cl, 15)
            return progress, done, closed

        progress, done, closed = wsclient.run_async(scenario(), 60)
        if progress is None:
            c.finish()
        t0 = time.monotonic()
        try:
            rc = app.proc.wait(timeout=15)
        except Exception:
            rc = None
        c.ok(rc == 0, "uvicorn exits 0 within 15 s of SIGTERM (%s)" % harness.describe_rc(rc), app.describe())
        c.note("the client saw: record_done %s, close %r" % ("yes" if done else "no", closed))
        c.ok(done is not None and done.get("files"), "the client got record_done naming the files before the "
             "app exited", short(done) if done else "no record_done")
        c.ok(closed is not None and closed[0] == 1001, "then a close frame with 1001 (going away): %r" % (closed,))
        names = sorted(os.listdir(app.data_dir)) if os.path.isdir(app.data_dir) else []
        log("  SPY_DATA_DIR: %s" % names)
        paths = {}
        for fmt, ext in wsclient.EXT_OF_FORMAT.items():
            found = [n for n in names if n.endswith(ext) and wsclient.FILE_NAME_RE.match(n)
                     and wsclient.FILE_NAME_RE.match(n).group("pid") == str(app.pid)
                     and not wsclient.FILE_NAME_RE.match(n).group("view")]
            if c.ok(len(found) == 1, "one %s file (PROGRAM-%d-...%s) after SIGTERM" % (fmt, app.pid, ext), names):
                paths[fmt] = os.path.join(app.data_dir, found[0])
        stray = [n for n in names if not wsclient.FILE_NAME_RE.match(n)]
        c.ok(not stray, "no temporary files left", stray)
        if done is not None:
            if done.get("files"):
                listed = sorted(os.path.realpath(f.get("path", "")) for f in done["files"] if "view" not in f)
                c.eq(listed, sorted(os.path.realpath(p) for p in paths.values()), "record_done names those files")
            samples = done.get("samples")
        else:
            samples = None
        if "svg" in paths:
            err = wsclient.check_svg(paths["svg"])
            c.ok(err is None, "the SVG parses as XML <svg> (%d bytes)" % os.path.getsize(paths["svg"]), err)
        total = None
        if "collapsed" in paths:
            total, lines, bad = wsclient.parse_collapsed(paths["collapsed"])
            c.ok(lines > 0 and not bad, "collapsed: %d lines `a;b;c N`, %d samples" % (lines, total), bad[:5])
            last = progress[-1].get("samples") or 0
            c.ok(total >= last > 0, "collapsed has at least the %d samples the last record_progress reported (%d): "
                 "progress and the files count the same samples" % (last, total))
            if samples is not None:
                c.eq(total, samples, "collapsed counts sum to record_done.samples")
        if "speedscope" in paths:
            doc, err = wsclient.check_speedscope(paths["speedscope"])
            c.ok(err is None, "speedscope JSON with $schema parses", err)
            n = wsclient.speedscope_samples(doc) if doc and not err else 0
            if n and total is not None:
                c.eq(n, total, "speedscope has as many samples as the collapsed file")
        bad = harness.agent_error_lines(app.stderr())
        c.ok(not bad, "no agent errors on stderr", "\n".join(bad))
        c.ok("Traceback" not in app.stderr(), "no Python traceback", app.stderr()[-2000:])
    finally:
        load.stop()
        app.kill()
    c.finish()


if __name__ == "__main__":
    main()
