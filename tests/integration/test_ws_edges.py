"""Protocol edges: what the agent answers where a client might not expect it.

    test_ws_edges.py [PYTHON]     (default /usr/bin/python3.11)

Against tests/targets/fastapi_app.py under uvicorn with LD_PRELOAD:
  - one JSON command per message: `{"cmd":"status"}garbage` and two objects
    in one message are errors (bad_json) naming what follows the object, and
    the connection still answers;
  - `auth` is answered with `hello` as docs/PROTOCOL.md says: as the first
    message, and again on a connection already authenticated (by ?token=,
    with its "id" echoed); a wrong token there is the error `auth`; without
    SPY_TOKEN, `auth anything` is answered with hello too;
  - `record stop` right after `record 60` on an idle app: record_done says
    there was nothing busy to write (files empty, `error` set) and no file,
    certainly no empty one, appears in SPY_DATA_DIR;
  - every error code the agent's sources can send is listed in
    docs/PROTOCOL.md (read from every .c file under agent/).
"""

import asyncio
import json
import os
import re
import sys
import time

import harness
from harness import Checks, log
import wsclient
from wsclient import Client, connect_hello, short

TOKEN = "edge-Token-0815"


async def status_works(cl):
    m = await cl.command("status", "status", 10)
    return m is not None and m.get("type") == "status"


async def one_object(c, app):
    cl, hello = await connect_hello(app.url, "json")
    c.ok(hello is not None, "hello")
    for text, words in (('{"cmd":"status"}garbage', ["garbage", "one JSON object"]),
                        ('{"cmd":"status"}{"cmd":"top"}', ['{"cmd":"top"}', "one JSON object"]),
                        ('{"cmd":"status","id":5} x', ["'x'"])):
        m = await cl.command(text, "status")
        ok = m is not None and m.get("type") == "error" and m.get("error") == "bad_json" \
            and all(w in m.get("message", "") for w in words)
        c.ok(ok, "%s: error bad_json naming what follows" % text, short(m))
        c.ok(await status_works(cl), "  ... and the connection still answers status")
    await cl.close()


async def auth_with_token(c, app):
    cl, hello = await connect_hello(app.url + "?token=" + TOKEN, "tok")
    c.ok(hello is not None, "?token=RIGHT: hello")
    m = await cl.command({"cmd": "auth", "token": TOKEN, "id": 12}, "hello")
    c.ok(m is not None and m.get("type") == "hello" and m.get("id") == 12,
         "auth on an authenticated connection: hello, id echoed", short(m))
    m = await cl.command("auth " + TOKEN, "hello")
    c.ok(m is not None and m.get("type") == "hello", "auth TOKEN (text) again: hello", short(m))
    m = await cl.command("auth wrong-token-123", "hello")
    c.ok(m is not None and m.get("type") == "error" and m.get("error") == "auth",
         "auth with a wrong token on an authenticated connection: error auth", short(m))
    c.ok(await status_works(cl), "  ... and the connection stays authenticated")
    await cl.close()
    cl = await Client.open(app.url, "first")
    m = await cl.recv(5)
    c.eq(m.get("type"), "auth_required", "without ?token=: auth_required")
    m = await cl.command("auth " + TOKEN, "hello")
    c.ok(m is not None and m.get("type") == "hello", "auth TOKEN as first message: hello", short(m))
    await cl.close()


async def auth_without_token(c, app):
    cl, hello = await connect_hello(app.url, "notoken")
    m = await cl.command("auth anything-at-all", "hello")
    c.ok(m is not None and m.get("type") == "hello", "no SPY_TOKEN: auth is answered with hello", short(m))
    await cl.close()


async def record_stop_at_once(c, app):
    cl, hello = await connect_hello(app.url, "rec")
    await cl.send("record 60")
    await cl.send("record stop")
    started = await cl.expect("record_started", 10)
    c.ok(started is not None and started.get("type") == "record_started", "record 60: record_started", short(started))
    done = await cl.expect("record_done", 30)
    log("  record_done: %s" % short(done))
    c.ok(done is not None and done.get("type") == "record_done", "record stop at once: record_done", short(done))
    if done and done.get("type") == "record_done":
        if done.get("samples"):
            c.note("the recording caught %d busy samples: files are expected" % done["samples"])
            c.ok(done.get("files"), "with busy samples it names files", short(done))
        else:
            c.eq(done.get("files"), [], "no busy samples: no files")
            c.ok("no busy samples" in (done.get("error") or ""), "record_done.error says why",
                 short(done))
    time.sleep(0.5)
    names = sorted(os.listdir(app.data_dir)) if os.path.isdir(app.data_dir) else []
    empty = [n for n in names if os.path.getsize(os.path.join(app.data_dir, n)) == 0]
    log("  SPY_DATA_DIR: %s" % names)
    c.ok(not empty, "no empty file in SPY_DATA_DIR", empty)
    c.ok(await status_works(cl), "the connection still answers status")
    await cl.close()


def documented_codes():
    text = open(os.path.join(harness.REPO, "docs", "PROTOCOL.md")).read()
    m = re.search(r"- `error`: `error` \(a code:(.*?)\)", text, re.S)
    return set(re.findall(r"`([a-z_]+)`", m.group(1))) if m else set()


def source_codes():
    codes = set()
    agent = os.path.join(harness.REPO, "agent")
    for folder, _, files in os.walk(agent):
        for name in files:
            if name.endswith(".c"):
                text = open(os.path.join(folder, name)).read()
                codes.update(re.findall(r'spy_msg_error\(\s*"([a-z_]+)"', text))
                if name == "protocol.c":
                    codes.update(re.findall(r'fail\(err,\s*"([a-z_]+)"', text))
    return codes


def main():
    python = sys.argv[1] if len(sys.argv) > 1 else wsclient.APP_PYTHON
    harness.require_library()
    wsclient.require_websockets()
    c = Checks("test_ws_edges")

    c.section("error codes: sources against docs/PROTOCOL.md")
    doc, src = documented_codes(), source_codes()
    log("  documented: %s" % sorted(doc))
    log("  in agent/**/*.c: %s" % sorted(src))
    c.ok(src and not (src - doc), "every error code the agent can send is listed", sorted(src - doc))

    c.section("an app without SPY_TOKEN")
    app = wsclient.start_app(c, "edges", python=python)
    try:
        wsclient.run_async(one_object(c, app), 60)
        wsclient.run_async(auth_without_token(c, app), 30)
        wsclient.run_async(record_stop_at_once(c, app), 60)
        bad = harness.agent_error_lines(app.stderr())
        c.ok(not bad, "no agent errors on stderr", "\n".join(bad))
    finally:
        app.kill()

    c.section("an app with SPY_TOKEN")
    app = wsclient.start_app(c, "edges-token", python=python, env={"SPY_TOKEN": TOKEN})
    try:
        wsclient.run_async(auth_with_token(c, app), 60)
    finally:
        app.kill()
    c.finish()


if __name__ == "__main__":
    main()
