"""Does the agent's WebSocket server speak docs/PROTOCOL.md, refuse what it
should, and survive abuse?

    test_ws_protocol.py [PYTHON]     (default /usr/bin/python3.11: Debian's,
                                      with fastapi, uvicorn and websockets)

Against tests/targets/fastapi_app.py under uvicorn with LD_PRELOAD and
SPY_INTERVAL=200, under light HTTP load:
  - hello, status (every key of spyagent.status() plus clients,
    frames_dropped, recording), help (every command), dump, top with
    arguments, live, pause/resume (no pushes while paused), rate 250 (shows in
    status), reset, JSON commands with "id" echoed;
  - every bad input gets {"type":"error"} with the documented code and a
    message naming what was wrong (and the accepted range), and the same
    connection answers `status` afterwards;
  - one recording at a time (`busy` names the running one), `record stop`
    without a recording (`not_recording`), `record last 2` writing files at
    once;
  - Origin: evil origins closed at once with code 4003, null and loopback
    origins accepted; a message over 4096 bytes (1009), a burst of 200
    commands (4008) and invalid UTF-8 (1007) close only that client.
Then with SPY_TOKEN (auth by ?token=, by `auth TOKEN`, by JSON; no or a wrong
token closes with 4001 "bad token" after nothing but auth_required), with
SPY_WS_HOST=0.0.0.0 and no token (the server refuses to start, one stderr
line, the app serves), and with the port already taken (one stderr line
naming the port and SPY_WS_PORT, the app serves).
"""

import asyncio
import json
import os
import socket
import sys
import time

import harness
from harness import Checks, log
import wsclient
from wsclient import Closed, Client, connect_hello, is_push, short

INTERVAL_MS = 200
TOKEN = "s3cret-Token-4711"

# (command, accepted error codes, words the message must contain)
BAD_INPUTS = [
    ("frobnicate", ("unknown_command",), ["frobnicate"]),
    ("Status", ("unknown_command",), ["Status"]),
    ("record -5", ("bad_argument",), ["-5", "3600"]),
    ("record 99999999", ("bad_argument",), ["99999999", "3600"]),
    ("record abc", ("bad_argument",), ["abc"]),
    ("record", ("missing_argument",), ["record"]),
    ("record 5 gif", ("bad_argument",), ["gif", "svg"]),
    ("record last 999999", ("bad_argument",), ["999999"]),
    ("top 5 window", ("missing_argument",), ["window"]),
    ("top 0", ("bad_argument",), ["0", "1000"]),
    ("top 1001", ("bad_argument",), ["1001", "1000"]),
    ("top 5 window 0", ("bad_argument",), ["0"]),
    ("top 5 window 99999", ("bad_argument",), ["99999"]),
    ("rate 0", ("bad_argument",), ["0", "10000"]),
    ("rate 10001", ("bad_argument",), ["10001", "10000"]),
    ("rate fast", ("bad_argument",), ["fast", "10000"]),
    ("rate", ("missing_argument",), ["rate"]),
    ("status now", ("too_many_arguments",), ["status"]),
    ("dump all", ("too_many_arguments",), ["dump"]),
    ("help me", ("too_many_arguments",), ["help"]),
    ("rate 100 200", ("too_many_arguments",), ["rate"]),
    ("record stop now", ("too_many_arguments",), ["stop"]),
    ("top 5 window 5 idle extra", ("too_many_arguments", "bad_argument"), ["extra"]),
    ('{"cmd":"record","seconds":"60"}', ("bad_argument",), ["seconds"]),
    ('{"cmd":"record","seconds":-5}', ("bad_argument",), ["seconds"]),
    ('{"cmd":"top","limit":5.5}', ("bad_argument",), ["limit"]),
    ('{"cmd":"rate"}', ("missing_argument",), ["hz"]),
    ('{"cmd":"nope"}', ("unknown_command",), ["nope"]),
    ('{"cmd":42}', ("bad_argument", "bad_json", "unknown_command"), ["cmd"]),
    ('{"limit":5}', ("bad_json", "missing_argument", "bad_argument"), ["cmd"]),
    ('{bad json', ("bad_json",), []),
    ('{"cmd":"status"}garbage', ("bad_json",), ["garbage", "one JSON object"]),
    ('{"cmd":"status"}{"cmd":"top"}', ("bad_json",), ["one JSON object"]),
    ('["status"]', ("bad_json", "bad_argument"), []),
    ('{"cmd":"top","bogus":1}', ("bad_argument", "too_many_arguments"), ["bogus"]),
    ('{"cmd":"status","seconds":5}', ("bad_argument", "too_many_arguments"), ["seconds"]),
]


def has_words(message, words):
    return all(w in message for w in words)


async def status_works(cl, timeout=10):
    try:
        st = await cl.command("status", "status", timeout)
    except Closed as e:
        return False, "closed: %r %r" % (e.code, e.reason)
    return (st is not None and st.get("type") == "status"), short(st)


# ------------------------------------------------------------------ main app

async def main_app(c, app, spy_status_keys):
    url = app.url
    c.section("hello")
    cl, hello = await connect_hello(url, "main")
    if not c.ok(hello is not None, "a client gets hello first", short(cl.messages())):
        return
    log("  hello: %s" % short(hello, 600))
    first = cl.history[0][1]
    c.eq(first.get("type"), "hello", "the very first message is hello")
    for key in ("version", "pid", "python_version", "command_line", "rate", "interval_ms", "history",
                "data_dir", "commands"):
        c.ok(key in hello, "hello has %r" % key)
    c.eq(hello.get("pid"), app.pid, "hello.pid is the app's")
    c.eq(hello.get("interval_ms"), INTERVAL_MS, "hello.interval_ms is SPY_INTERVAL")
    c.ok(os.path.realpath(str(hello.get("data_dir"))) == os.path.realpath(app.data_dir),
         "hello.data_dir is SPY_DATA_DIR", "%r vs %r" % (hello.get("data_dir"), app.data_dir))
    c.ok(str(hello.get("python_version", "")).startswith("3.11"), "hello.python_version %r" % hello.get("python_version"))
    c.ok("uvicorn" in json.dumps(hello.get("command_line")), "hello.command_line is uvicorn's (%s)"
         % short(hello.get("command_line"), 120))
    cmds = hello.get("commands") or []
    c.ok(all(x in cmds for x in wsclient.COMMANDS), "hello.commands names every command",
         "missing: %s" % [x for x in wsclient.COMMANDS if x not in cmds])

    c.section("live pushes")
    push = await cl.expect("top", timeout=5, skip_pushes=False)
    c.ok(push is not None and is_push(push), "a live top push arrives within 5 s (every %d ms)" % INTERVAL_MS,
         short(push))
    if push:
        c.eq(push.get("limit"), 50, "default push limit")
        c.eq(push.get("window"), 5, "default push window (s)")
        for key in ("idle", "samples", "idle_samples", "rate", "effective_rate", "rows", "threads"):
            c.ok(key in push, "push has %r" % key)
        rows = push.get("rows") or []
        if rows:
            c.ok(all(set(r) >= {"function", "file", "line", "own", "total", "own_pct", "total_pct"} for r in rows),
                 "push rows have function/file/line/own/total/own_pct/total_pct", short(rows[0]))
        th = push.get("threads") or []
        c.ok(th and all(set(t) >= {"tid", "name", "samples", "idle", "gil"} for t in th),
             "push threads have tid/name/samples/idle/gil", short(th[:2]))
        c.ok(not any(str(t.get("name", "")).startswith("spy-") for t in th), "the agent's own threads are not listed",
             short([t.get("name") for t in th]))
    t0 = time.monotonic()
    n0 = len([m for m in cl.messages("top") if is_push(m)])
    await asyncio.sleep(2.0)
    while True:  # drain
        try:
            await cl.recv(0.05)
        except asyncio.TimeoutError:
            break
    n = len([m for m in cl.messages("top") if is_push(m)]) - n0
    took = time.monotonic() - t0
    c.ok(n >= 3, "pushes keep coming (%d in %.1f s at SPY_INTERVAL=%d ms)" % (n, took, INTERVAL_MS))

    c.section("status, help, dump, top")
    st = await cl.command("status", "status")
    if c.ok(st is not None and st.get("type") == "status", "status answers", short(st)):
        missing = [k for k in spy_status_keys if k not in st]
        c.ok(not missing, "status has every key of spyagent.status() (%d keys)" % len(spy_status_keys),
             "missing %s" % missing)
        for key in ("clients", "frames_dropped", "recording"):
            c.ok(key in st, "status has %r" % key)
        c.ok(isinstance(st.get("clients"), int) and st["clients"] >= 1, "status.clients >= 1 (%r)" % st.get("clients"))
        c.eq(st.get("recording", "absent"), None, "status.recording is null without a recording")
        c.eq(st.get("pid"), app.pid, "status.pid")
    hp = await cl.command("help", "help")
    if c.ok(hp is not None and hp.get("type") == "help", "help answers", short(hp)):
        text = json.dumps(hp)
        c.ok(all(x in text for x in wsclient.COMMANDS), "help lists every command",
             "missing: %s\n%s" % ([x for x in wsclient.COMMANDS if x not in text], short(hp, 1500)))
    dp = await cl.command("dump", "dump")
    if c.ok(dp is not None and dp.get("type") == "dump", "dump answers", short(dp)):
        threads = dp.get("threads") or []
        c.ok(len(threads) >= 1, "dump lists threads (%d)" % len(threads))
        keys = {"tid", "thread_id", "name", "gil", "idle", "truncated", "frames"}
        c.ok(all(set(t) >= keys for t in threads), "dump threads have %s" % sorted(keys),
             short(threads[:1], 600))
        frames = [f for t in threads for f in (t.get("frames") or [])]
        c.ok(frames and all(set(f) >= {"function", "file", "line"} for f in frames), "dump frames have function/file/line")
        c.ok(any("uvicorn" in str(f.get("file")) or "asyncio" in str(f.get("file")) for f in frames),
             "dump shows the event loop's frames", short([f.get("function") for f in frames[:30]]))
    tp = await cl.command("top 3 window 5 idle", "top")
    if c.ok(tp is not None and tp.get("type") == "top", "`top 3 window 5 idle` answers top", short(tp)):
        c.eq(tp.get("live"), False, "reply top has live false")
        c.eq(tp.get("limit"), 3, "top limit")
        c.eq(tp.get("window"), 5, "top window")
        c.eq(tp.get("idle"), True, "top idle")
        c.ok(len(tp.get("rows") or []) <= 3, "at most 3 rows (%d)" % len(tp.get("rows") or []))
    tp = await cl.command("top", "top")
    if c.ok(tp is not None and tp.get("type") == "top", "`top` answers", short(tp)):
        c.eq(tp.get("live"), False, "top: live false")
        c.eq(tp.get("limit"), 20, "top default limit")
        c.eq(tp.get("window"), 0, "top default window (since start)")
        c.ok(len(tp.get("rows") or []) <= 20, "at most 20 rows")
        fns = [r.get("function") for r in tp.get("rows") or []]
        c.ok("cpu_work" in fns or "json_work" in fns, "the app's endpoints are in top", short(fns))
    tp = await cl.command({"cmd": "top", "limit": 4, "window": 2, "idle": False, "id": "t1"}, "top")
    if c.ok(tp is not None and tp.get("type") == "top", "JSON top answers", short(tp)):
        c.eq(tp.get("id"), "t1", "JSON top: id echoed")
        c.eq((tp.get("limit"), tp.get("window"), tp.get("idle")), (4, 2, False), "JSON top: limit, window, idle")

    c.section("ids")
    for cmd, want in (({"cmd": "status", "id": 7}, "status"), ({"cmd": "help", "id": "abc"}, "help"),
                      ({"cmd": "dump", "id": 0}, "dump"), ({"cmd": "nope", "id": 9}, "error"),
                      ({"cmd": "top", "limit": 0, "id": "e2"}, "error")):
        r = await cl.command(cmd, want)
        c.ok(r is not None and r.get("type") == want and r.get("id") == cmd["id"] and type(r.get("id")) is type(cmd["id"]),
             "%s -> %s with id %r" % (json.dumps(cmd), want, cmd["id"]), short(r))

    c.section("bad input: an error reply, and the connection keeps working")
    for cmd, codes, words in BAD_INPUTS:
        try:
            r = await cl.command(cmd, "error", 5)
        except Closed as e:
            c.ok(False, "%r: error reply" % cmd, "connection closed %r %r" % (e.code, e.reason))
            cl, hello = await connect_hello(url, "main-again")
            continue
        if r is not None and r.get("type") == "record_started":
            await cl.command("record stop", "record_done", 10)
        good = (r is not None and r.get("type") == "error" and r.get("error") in codes
                and isinstance(r.get("message"), str) and len(r["message"]) >= 10 and has_words(r["message"], words))
        c.ok(good, "%-36s -> error %-18s %s" % (cmd, "/".join(codes), ("| " + r.get("message", "")) if r else ""),
             "got %s (message must contain %s)" % (short(r), words))
        fine, detail = await status_works(cl)
        if not c.ok(fine, "  ... and `status` still answers on that connection", detail):
            cl, hello = await connect_hello(url, "main-again")

    c.section("recording: one at a time")
    r = await cl.command({"cmd": "record", "seconds": 60, "id": "rec"}, "record_started")
    started = c.ok(r is not None and r.get("type") == "record_started", "record 60 (JSON) starts", short(r))
    if started:
        c.eq(r.get("seconds"), 60, "record_started.seconds")
        c.eq(sorted(r.get("formats") or []), ["collapsed", "svg"], "default formats svg collapsed")
        c.eq(r.get("id"), "rec", "record_started echoes id")
        r2 = await cl.command("record 5", "error")
        c.ok(r2 is not None and r2.get("error") == "busy" and "60" in r2.get("message", ""),
             "a second record -> busy, naming the running one (60 s)", short(r2))
        other, _ = await connect_hello(url, "other")
        r3 = await other.command("record 10 speedscope", "error")
        c.ok(r3 is not None and r3.get("error") == "busy", "a record from another client -> busy too", short(r3))
        st = await other.command("status", "status")
        rec = (st or {}).get("recording")
        c.ok(isinstance(rec, dict) and rec.get("seconds") == 60 and set(rec) >= {"seconds", "elapsed", "formats", "samples"},
             "status.recording describes it (seconds, elapsed, formats, samples)", short(rec))
        await other.close()
        prog = await cl.expect("record_progress", 4)
        c.ok(prog is not None and prog.get("type") == "record_progress" and set(prog) >= {"elapsed", "seconds", "samples"},
             "record_progress arrives (elapsed, seconds, samples)", short(prog))
        done = await cl.command("record stop", "record_done", 15)
        paths = wsclient.check_record_done(c, done, app.data_dir, app.pid, ["svg", "collapsed"], "record stop")
        stop_paths = dict(paths)
        if done and done.get("type") == "record_done":
            c.ok(done.get("duration", 99) < 30, "it ended early (duration %r s)" % done.get("duration"))
            wsclient.check_record_files(c, paths, done.get("samples"), "record stop")
    else:
        stop_paths = {}
    r = await cl.command("record stop", "error")
    c.ok(r is not None and r.get("error") == "not_recording", "record stop with none running -> not_recording",
         short(r))
    r = await cl.command({"cmd": "record", "action": "stop"}, "error")
    c.ok(r is not None and r.get("error") == "not_recording", "JSON record stop with none running -> not_recording",
         short(r))
    t0 = time.monotonic()
    done = await cl.command("record last 2", ("record_done", "record_started"), 10)
    took = time.monotonic() - t0
    c.ok(done is not None and done.get("type") == "record_done" and took < 5,
         "record last 2 answers record_done at once (%.2f s)" % took, short(done))
    if done and done.get("type") == "record_done":
        paths = wsclient.check_record_done(c, done, app.data_dir, app.pid, ["svg", "collapsed"], "record last 2")
        c.ok(done.get("samples", 0) > 0, "record last 2 has samples (%r)" % done.get("samples"))
        wsclient.check_record_files(c, paths, done.get("samples"), "record last 2")
        if stop_paths:
            # written within a second or so of the stopped recording's files: same timestamp in the name
            kept = all(os.path.isfile(p) for p in stop_paths.values())
            distinct = not (set(stop_paths.values()) & set(paths.values()))
            c.ok(kept and distinct, "a recording written in the same second does not overwrite the previous one",
                 "stop: %s\nlast: %s" % (sorted(stop_paths.values()), sorted(paths.values())))
    await asyncio.sleep(1.1)  # file names have one-second resolution
    done = await cl.command({"cmd": "record", "last": 2, "formats": ["speedscope"]}, "record_done", 10)
    if c.ok(done is not None and done.get("type") == "record_done", "JSON record last 2 speedscope", short(done)):
        paths = wsclient.check_record_done(c, done, app.data_dir, app.pid, ["speedscope"], "record last speedscope")
        wsclient.check_record_files(c, paths, done.get("samples"), "record last speedscope")

    c.section("live, pause, resume")
    r = await cl.command("live 5 window all noidle", "live")
    c.ok(r is not None and r.get("type") == "live", "`live 5 window all noidle` -> live", short(r))
    p = await cl.expect("top", 5, skip_pushes=False)
    c.ok(p is not None and is_push(p) and p.get("limit") == 5 and p.get("window") == 0 and p.get("idle") is False
         and len(p.get("rows") or []) <= 5, "the next push covers limit 5, window 0 (all), idle false",
         short({k: (p or {}).get(k) for k in ("live", "limit", "window", "idle")}))
    r = await cl.command({"cmd": "live", "limit": 7, "window": 3, "idle": True}, "live")
    c.ok(r is not None and r.get("type") == "live", "JSON live -> live", short(r))
    p = await cl.expect("top", 5, skip_pushes=False)
    c.ok(p is not None and is_push(p) and (p.get("limit"), p.get("window"), p.get("idle")) == (7, 3, True),
         "the next push covers limit 7, window 3, idle", short({k: (p or {}).get(k) for k in ("live", "limit", "window", "idle")}))
    r = await cl.command("pause", "paused")
    c.ok(r is not None and r.get("type") == "paused", "pause -> paused", short(r))
    n_before = len(cl.history)
    quiet_until = time.monotonic() + 8 * INTERVAL_MS / 1000.0
    pushes = 0
    while time.monotonic() < quiet_until:
        try:
            m = await cl.recv(max(0.01, quiet_until - time.monotonic()))
            if is_push(m):
                pushes += 1
        except asyncio.TimeoutError:
            break
    c.eq(pushes, 0, "no pushes for %.1f s while paused" % (8 * INTERVAL_MS / 1000.0))
    fine, detail = await status_works(cl)
    c.ok(fine, "commands still answered while paused", detail)
    r = await cl.command("resume", "resumed")
    c.ok(r is not None and r.get("type") == "resumed", "resume -> resumed", short(r))
    p = await cl.expect("top", 5, skip_pushes=False)
    c.ok(p is not None and is_push(p), "pushes come again after resume", short(p))

    c.section("rate, reset")
    r = await cl.command("rate 250", "rate")
    c.ok(r is not None and r.get("type") == "rate", "rate 250 -> rate", short(r))
    st = await cl.command("status", "status")
    c.eq((st or {}).get("rate"), 250, "status.rate after rate 250")
    _, http_st = app.http_get("/_spy/status")
    c.eq(http_st.get("rate"), 250, "spyagent.status()['rate'] in the app after rate 250")
    r = await cl.command({"cmd": "rate", "hz": 100, "id": 3}, "rate")
    c.ok(r is not None and r.get("type") == "rate" and r.get("id") == 3, "JSON rate 100 -> rate with id", short(r))
    before = await cl.command("top", "top")
    r = await cl.command("reset", "reset")
    c.ok(r is not None and r.get("type") == "reset", "reset -> reset", short(r))
    after = await cl.command("top", "top")
    s1, s2 = (before or {}).get("samples"), (after or {}).get("samples")
    c.ok(isinstance(s1, int) and isinstance(s2, int) and s2 < s1 and s1 > 0,
         "the live aggregate starts again: top samples %r before reset, %r after" % (s1, s2))
    await cl.close()


REFUSED_ORIGIN = "closed 4003 origin not allowed (SPY_ORIGINS adds origins)"


async def handshake(url, origin):
    """How the agent answers a handshake with this Origin: 'accepted', 'HTTP <code>' or what else happened."""
    import websockets.exceptions as wx
    try:
        cl = await Client.open(url, "origin", origin=origin)
    except wx.InvalidStatusCode as e:
        return "HTTP %s" % e.status_code
    except wx.InvalidMessage:
        return "connection dropped without an HTTP response"
    except Exception as e:
        return repr(e)
    try:
        m = await cl.recv(5)
        got = "accepted" if m.get("type") in ("hello", "auth_required") else "accepted, then %s" % short(m)
    except Closed as e:
        # a browser cannot see an HTTP status on a failed handshake, but it
        # does see a close code: the agent refuses origins with 4003
        got = "closed %s %s" % (e.code, e.reason) if e.code == 4003 else "accepted, then %r" % e
    except asyncio.TimeoutError as e:
        got = "accepted, then %r" % e
    await cl.close()
    return got


async def origins(c, app):
    c.section("Origin")
    for origin in ("http://evil.example", "http://127.0.0.1.evil.example", "http://localhost.evil.example",
                   "https://evil.example:443", "http://127.0.0.1:8080.evil.example", "file://"):
        c.eq(await handshake(app.url, origin), REFUSED_ORIGIN, "Origin %s refused at once" % origin)
    for origin in ("null", "http://127.0.0.1:8080", "http://localhost:3000", "https://localhost", "http://[::1]:9000",
                   "http://127.0.0.1"):
        c.eq(await handshake(app.url, origin), "accepted", "Origin %s accepted" % origin)


async def abuse(c, app):
    c.section("abuse closes only that client")
    bystander, hello = await connect_hello(app.url, "bystander")
    c.ok(hello is not None, "a bystander client connects")

    # exactly 4096 bytes: not too large (an error reply for the unknown member)
    body = '{"cmd":"status","pad":"%s"}'
    msg = body % ("x" * (4096 - len(body % "")))
    assert len(msg) == 4096
    cl, _ = await connect_hello(app.url, "4096")
    try:
        r = await cl.command(msg, ("error", "status"), 5)
        c.ok(r is not None, "a 4096-byte message is not too large (reply %s)" % (r or {}).get("type"), short(r))
    except Closed as e:
        c.ok(False, "a 4096-byte message is not too large", "closed %r %r" % (e.code, e.reason))
    await cl.close()

    for size in (4097, 10 * 1024):
        cl, _ = await connect_hello(app.url, "big")
        await cl.send("status " + "x" * (size - 7))
        closed = await cl.wait_closed(10)
        c.ok(closed is not None and closed[0] == 1009 and closed[1],
             "a %d-byte message closes that client with 1009 and a reason (%r)" % (size, closed), cl.close_detail)
        fine, detail = await status_works(bystander)
        c.ok(fine, "  ... the bystander still gets status", detail)

    cl, _ = await connect_hello(app.url, "flooder")
    cl.throttle = 0
    for i in range(200):
        try:
            await cl.send("status")
        except Closed:
            break
    replies = 0
    closed = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            m = await cl.recv(deadline - time.monotonic())
            if m.get("type") == "status":
                replies += 1
        except Closed as e:
            closed = (e.code, e.reason)
            break
        except asyncio.TimeoutError:
            break
    c.ok(closed is not None and closed[0] == 4008 and closed[1],
         "200 commands in a burst close the flooder with 4008 and a reason (%r; %d status replies first)"
         % (closed, replies), cl.close_detail)
    c.ok(replies <= 60, "the flooder got at most ~50 replies (%d)" % replies)
    fine, detail = await status_works(bystander)
    c.ok(fine, "  ... the bystander still gets status", detail)

    # 50 commands spread over 2 s are fine
    cl, _ = await connect_hello(app.url, "steady")
    ok = 0
    try:
        for i in range(40):
            r = await cl.command("status", "status", 5)
            ok += 1 if r is not None else 0
            await asyncio.sleep(0.05)
        c.eq(ok, 40, "40 commands at 20 per second are all answered")
    except Closed as e:
        c.ok(False, "40 commands at 20 per second are all answered", "closed %r %r after %d" % (e.code, e.reason, ok))
    await cl.close()

    raw = wsclient.RawClient(app.ws_port)
    c.eq(raw.status, 101, "raw client handshake")
    if raw.status == 101:
        raw.recv_frame(5)  # hello
        raw.send_frame(0x1, b"status \xff\xfe\xc3")
        code, reason, _ = raw.wait_close(10)
        c.ok(code == 1007, "invalid UTF-8 in a text frame closes that client with 1007 (%r %r)" % (code, reason))
    raw.close()
    fine, detail = await status_works(bystander)
    c.ok(fine, "  ... the bystander still gets status", detail)
    await bystander.close()
    status, _ = app.http_get("/health")
    c.eq(status, 200, "the app still answers HTTP after the abuse")
    c.ok(app.alive(), "the app is alive")


# ------------------------------------------------------------------ token app

async def token_checks(c, app):
    c.section("SPY_TOKEN")
    base = app.url

    async def refused(url, first=None, what=""):
        cl = await Client.open(url, "tok")
        try:
            m = await cl.recv(5)
        except (Closed, asyncio.TimeoutError) as e:
            m = {"type": "(nothing: %r)" % e}
        c.eq(m.get("type"), "auth_required", "%s: first message is auth_required, not hello" % what)
        if first is not None:
            await cl.send(first)
        closed, seen = None, []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                seen.append((await cl.recv(deadline - time.monotonic())).get("type"))
            except Closed as e:
                closed = (e.code, e.reason)
                break
            except asyncio.TimeoutError:
                break
        c.ok(closed is not None and closed[0] == 4001 and closed[1] == "bad token",
             "%s: closed with 4001 'bad token' (%r)" % (what, closed))
        c.ok(not seen, "%s: nothing else was sent (%s)" % (what, seen))
        await cl.close()

    await refused(base, "status", "no token, then status")
    await refused(base, "auth wrong-token-123", "auth with a wrong token")
    await refused(base, json.dumps({"cmd": "auth", "token": TOKEN + "x"}), "JSON auth with a wrong token")
    await refused(base, "auth " + TOKEN[:-1], "auth with a token missing its last character")
    # a wrong token in the URL
    try:
        cl = await Client.open(base + "?token=nope-nope-nope", "tok")
        first = None
        try:
            first = await cl.recv(5)
            closed = await cl.wait_closed(10)
        except Closed as e:
            closed = (e.code, e.reason)
        c.ok(closed is not None and closed[0] == 4001 and (first is None or first.get("type") != "hello"),
             "?token=wrong: no hello, closed with 4001 (%r, first %s)" % (closed, short(first)))
    except Exception as e:
        c.ok(False, "?token=wrong: closed with 4001", "refused at the handshake: %r" % e)

    cl, hello = await connect_hello(base + "?token=" + TOKEN, "tok")
    c.ok(hello is not None, "?token=RIGHT: hello", short(cl.messages()))
    fine, detail = await status_works(cl)
    c.ok(fine, "?token=RIGHT: status answers", detail)
    await cl.close()
    for first in ("auth " + TOKEN, json.dumps({"cmd": "auth", "token": TOKEN})):
        cl = await Client.open(base, "tok")
        m = await cl.recv(5)
        c.eq(m.get("type"), "auth_required", "auth_required before authenticating")
        await cl.send(first)
        hello = await cl.expect("hello", 5)
        c.ok(hello is not None and hello.get("type") == "hello", "%s as first message: hello" % first.replace(TOKEN, "TOKEN"),
             short(hello))
        fine, detail = await status_works(cl)
        c.ok(fine, "  ... then status answers", detail)
        await cl.close()
    # SPY_ORIGINS adds an origin (with the token); others still refused
    c.eq(await handshake(base + "?token=" + TOKEN, "http://viewer.example"), "accepted",
         "Origin http://viewer.example from SPY_ORIGINS accepted")
    c.eq(await handshake(base + "?token=" + TOKEN, "http://evil.example"), REFUSED_ORIGIN,
         "Origin http://evil.example still refused with SPY_ORIGINS set")


# ------------------------------------------------------------------ startup refusals

def refusals(c):
    c.section("SPY_WS_HOST=0.0.0.0 without SPY_TOKEN")
    app = wsclient.AgentApp("anyhost", env={"SPY_WS_HOST": "0.0.0.0"}).start()
    try:
        c.ok(app.wait_http(60), "the app serves HTTP", app.describe())
        line = app.wait_line(r"^spyagent:.*(0\.0\.0\.0|SPY_WS_HOST)", 10)
        time.sleep(1.0)
        lines = [l for l in app.agent_lines() if "0.0.0.0" in l or "SPY_WS_HOST" in l or "SPY_TOKEN" in l]
        c.ok(line is not None and len(lines) == 1, "one stderr line about it", app.stderr()[-2000:])
        if line:
            log("        | " + line)
            c.ok("SPY_TOKEN" in line, "the line says SPY_TOKEN is needed")
        for host in ("127.0.0.1",):
            try:
                s = socket.create_connection((host, app.ws_port), timeout=2)
                s.close()
                listening = True
            except OSError:
                listening = False
            c.ok(not listening, "nothing listens on the WebSocket port (%s:%d)" % (host, app.ws_port))
        try:
            status, body = app.http_get("/cpu?n=1000")
            c.eq(status, 200, "requests still served")
        except OSError as e:
            c.ok(False, "requests still served", repr(e))
        try:
            _, st = app.http_get("/_spy/status")
            c.note("agent still sampling without its server: running=%r samples=%r" % (st.get("running"), st.get("samples")))
        except (OSError, ValueError):
            pass
        c.ok(app.alive(), "the app is alive")
    finally:
        app.kill()

    c.section("SPY_WS_PORT already taken")
    hog = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hog.bind(("127.0.0.1", 0))
    hog.listen(1)
    port = hog.getsockname()[1]
    app = wsclient.AgentApp("porttaken", ws_port=port).start()
    try:
        c.ok(app.wait_http(60), "the app serves HTTP with its WebSocket port taken", app.describe())
        line = app.wait_line(r"^spyagent:.*\b%d\b" % port, 10)
        time.sleep(1.0)
        lines = [l for l in app.agent_lines() if str(port) in l]
        c.ok(line is not None and len(lines) == 1 and "SPY_WS_PORT" in line,
             "one stderr line naming port %d and SPY_WS_PORT" % port, app.stderr()[-2000:])
        if line:
            log("        | " + line)
        noise = [l for l in app.stderr().splitlines() if l.strip() and not l.startswith(("spyagent:", "INFO:"))]
        c.ok(not noise, "no other noise on stderr (lws logs etc.)", "\n".join(noise[:20]))
        try:
            status, _ = app.http_get("/cpu?n=1000")
            c.eq(status, 200, "requests still served")
        except OSError as e:
            c.ok(False, "requests still served", repr(e))
        c.ok(app.alive(), "the app is alive")
    finally:
        app.kill()
        hog.close()


def main():
    python = sys.argv[1] if len(sys.argv) > 1 else wsclient.APP_PYTHON
    wsclient.APP_PYTHON = python
    harness.require_library()
    wsclient.require_websockets()
    c = Checks("test_ws_protocol")
    probe = harness.run([python, "-c", "import fastapi, uvicorn"], env=harness.clean_env(), timeout=60)
    if probe.rc != 0:
        log("SKIP: %s has no fastapi/uvicorn" % python)
        sys.exit(harness.SKIP)

    app = wsclient.start_app(c, "main", python=python, interval_ms=INTERVAL_MS)
    load = wsclient.Load(app.base, threads=2, seconds=240, paths=("/cpu?n=100000", "/json?n=3000")).start()
    try:
        _, spy_status = app.http_get("/_spy/status")
        time.sleep(1.0)
        wsclient.run_async(main_app(c, app, sorted(spy_status)), 180)
        wsclient.run_async(origins(c, app), 60)
        wsclient.run_async(abuse(c, app), 90)
    except asyncio.TimeoutError:
        c.ok(False, "the protocol checks finished in time", app.describe())
    finally:
        ok, failures = load.stop()
        c.ok(ok > 0 and not failures, "HTTP load: %d requests answered, %d failures" % (ok, len(failures)),
             "\n".join(failures[:5]))
        rc = app.terminate(15)
        c.ok(rc == 0, "the app exits 0 on SIGTERM (%s)" % harness.describe_rc(rc), app.describe() if rc != 0 else "")
        bad = harness.agent_error_lines(app.stderr())
        c.ok(not bad, "no agent errors on stderr", "\n".join(bad))
        app.kill()

    app = wsclient.start_app(c, "token", python=python,
                             env={"SPY_TOKEN": TOKEN, "SPY_ORIGINS": "http://viewer.example"})
    try:
        wsclient.run_async(token_checks(c, app), 120)
    except asyncio.TimeoutError:
        c.ok(False, "the token checks finished in time", app.describe())
    finally:
        app.kill()

    refusals(c)
    c.finish()


if __name__ == "__main__":
    main()
