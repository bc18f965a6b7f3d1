"""The report command over the WebSocket, as a person uses it from wscat.

    test_ws_report.py [PYTHON]

Against a real Uvicorn app under load: `report text 5` answers with the
text report of the last 5 s (summary, categories, top functions naming the
app's endpoint functions); `report html` writes a self-contained HTML file
into SPY_DATA_DIR and replies with its path; after `record 2`, a plain
`report` covers that recording; bad arguments get errors and the
connection keeps working.
"""

import asyncio
import os
import sys

import harness
from harness import Checks
from wsclient import AgentApp, Load, connect_hello


async def scenario(c, app):
    cl, hello = await connect_hello(app.url, "reporter")
    c.ok(hello is not None and "report" in hello.get("commands", []), "hello lists the report command")
    await asyncio.sleep(4)

    r = await cl.command("report text 5", ("report", "error"), 20)
    c.ok(r is not None and r.get("type") == "report" and r.get("format") == "text", "report text 5 answers", repr(r)[:300])
    text = (r or {}).get("text", "")
    c.eq((r or {}).get("span"), "window", "it covers a window")
    for part in ("Categories", "Top", "cpu_work"):
        c.ok(part in text, "the text report has %r" % part, text[:2000])

    r = await cl.command("report html", ("report", "error"), 30)
    files = (r or {}).get("files") or []
    c.ok(r is not None and r.get("type") == "report" and len(files) == 1, "report html names one file", repr(r)[:300])
    if files:
        path = files[0].get("path", "")
        c.ok(os.path.isabs(path) and path.startswith(app.data_dir), "the file is in SPY_DATA_DIR: %s" % path)
        c.ok(path.endswith(".html") and os.path.exists(path), "the HTML file exists")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                html = f.read()
            c.ok(html.lstrip().lower().startswith("<!doctype html") and "</html>" in html, "it is a whole HTML document")
            c.ok("http://" not in html.replace("http://www.w3.org", "") and "https://" not in html,
                 "it loads nothing from the network")

    done = await cl.command("record 2", ("record_done", "error"), 20)
    c.ok(done is not None and done.get("type") == "record_done", "record 2 finishes")
    r = await cl.command("report", ("report", "error"), 20)
    c.eq((r or {}).get("span"), "recording", "a plain report covers the last recording")
    dur = [l for l in (r or {}).get("text", "").splitlines() if l.startswith("Duration")]
    want = "%.1f" % float((done or {}).get("duration") or 0)
    c.ok(dur and dur[0].split()[1:3] == [want, "s"] and want != "0.0",
         "it says the recording's length, as record_done did (%s s): %r" % (want, dur))

    for bad, code in (("report pdf", "bad_argument"), ("report text 0", "bad_argument"),
                      ("report html 5 now", "too_many_arguments"), ('{"cmd":"report","format":"xml"}', "bad_argument")):
        r = await cl.command(bad, ("report", "error"), 10)
        c.eq((r or {}).get("error"), code, "%s is refused" % bad)
    st = await cl.command("status", ("status",), 10)
    c.ok(st is not None, "the connection still works")
    await cl.close()


def main():
    python = sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/python3.11"
    harness.require_library()
    c = Checks("test_ws_report")
    app = AgentApp("report", python=python)
    load = None
    try:
        app.start()
        app.wait_http()
        app.wait_port()
        load = Load(app.base, threads=2, seconds=60)
        load.start()
        asyncio.run(scenario(c, app))
    finally:
        if load:
            load.stop()
        app.kill()
    c.finish()


if __name__ == "__main__":
    main()
