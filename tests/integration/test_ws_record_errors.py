"""A recording that cannot be written says why, and nothing half-written
is left behind.

    test_ws_record_errors.py [PYTHON]

SPY_DATA_DIR is a path whose parent becomes a regular file once the agent
runs (so the directory cannot be created: ENOTDIR, whatever user the test
runs as; a SPY_DATA_DIR that is already unusable at start keeps the agent
off, which test_config.py checks). `record 1`
and `record last 2` must each end with `record_done` carrying an `error`
that names the path and the reason, no files listed, the connection still
working, and the app (under HTTP load, so there is something to write)
still serving.
"""

import asyncio
import os
import sys
import tempfile

import harness
from harness import Checks
from wsclient import AgentApp, Load, connect_hello


async def scenario(c, app, blocked):
    cl, hello = await connect_hello(app.url, "recorder")
    c.ok(hello is not None, "hello")
    for cmd, wait in (("record 1", 15), ("record last 2", 15)):
        done = await cl.command(cmd, ("record_done", "error"), wait)
        c.ok(done is not None and done.get("type") == "record_done", "%s ends with record_done" % cmd, repr(done))
        if not done or done.get("type") != "record_done":
            continue
        err = done.get("error") or ""
        c.ok(blocked in err, "%s: the error names the path (%s)" % (cmd, err), repr(done))
        c.ok("Not a directory" in err, "%s: the error gives the reason" % cmd, err)
        c.eq(done.get("files"), [], "%s: no files listed" % cmd)
    st = await cl.command("status", ("status",), 10)
    c.ok(st is not None and st.get("recording") is None, "status still answers, no recording running")
    await cl.close()


def main():
    python = sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/python3.11"
    harness.require_library()
    c = Checks("test_ws_record_errors")
    tmp = tempfile.mkdtemp(prefix="spy-record-errors-")
    plain_file = os.path.join(tmp, "a-file")
    blocked = os.path.join(plain_file, "spy-data")
    app = AgentApp("record-errors", python=python, data_dir=blocked)
    try:
        app.start()
        app.wait_http()
        app.wait_port()
        # the directory could be made at start; now it cannot
        with open(plain_file, "w") as f:
            f.write("not a directory\n")
        # busy samples to write (an idle recording writes no file anyway)
        load = Load(app.base, threads=2, seconds=60).start()
        try:
            asyncio.run(scenario(c, app, blocked))
        finally:
            load.stop()
        c.ok(app.http_get("/cpu") is not None, "the app still serves requests")
        c.eq(sorted(os.listdir(tmp)), ["a-file"], "nothing else was created next to the file")
    finally:
        app.kill()
    c.finish()


if __name__ == "__main__":
    main()
