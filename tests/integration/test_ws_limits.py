"""Can WebSocket clients take the app's file descriptors?

    test_ws_limits.py [PYTHON]

Every connection to the agent is a descriptor of the app.  Checks, against
real apps under LD_PRELOAD with real clients (python3-websockets, raw
sockets):

1. uvicorn with SPY_MAX_CLIENTS=4: four clients get hello and keep working;
   six more are each closed with 1013 and a reason naming the limit, without
   a hello; the app serves HTTP meanwhile; once one client leaves, a new
   one is served.
2. tests/targets/fd_app.py with RLIMIT_NOFILE 128 (so at most 128/16 = 8
   clients even though SPY_MAX_CLIENTS is 32): eight clients, the ninth is
   refused with 1013.
3. the app with only 12 descriptors free (fewer than 1/8 of 128): 40
   connections at once are all refused; the app can still open its 10 files
   and serve HTTP; spy-server's CPU time stays small while they come in.
4. the app with no descriptor free: 20 connections wait in the listen queue
   (accept() fails with EMFILE); spy-server does not spin on them (its CPU
   time, from /proc/PID/task/TID/stat, stays a small part of the time they
   wait); when the app frees descriptors, a new client is served again.
"""

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request

import harness
from harness import Checks, log
from wsclient import AgentApp, Client, Closed, connect_hello, require_websockets, run_async

CLK_TCK = os.sysconf("SC_CLK_TCK")
WATCH_SECONDS = 3.0


def server_tid(pid):
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if f.read().strip() == "spy-server":
                    return int(tid)
        except OSError:
            pass
    return None


def cpu_seconds(pid, tid):
    with open("/proc/%d/task/%d/stat" % (pid, tid)) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK      # utime + stime


def cpu_while(pid, seconds):
    """CPU seconds the spy-server thread used over `seconds` of wall time."""
    tid = server_tid(pid)
    if tid is None:
        return None
    before = cpu_seconds(pid, tid)
    time.sleep(seconds)
    return cpu_seconds(pid, tid) - before


async def open_many(url, n, timeout=10):
    """n clients opened one after another: [(client, hello)] and [(code, reason) of refusals]."""
    served, refused = [], []
    for i in range(n):
        cl = await Client.open(url, "c%d" % i, timeout=timeout)
        try:
            msg = await cl.recv(timeout)
        except Closed as e:
            refused.append((e.code, e.reason))
            continue
        except asyncio.TimeoutError:
            refused.append(("timeout", None))
            continue
        if msg.get("type") == "hello":
            served.append((cl, msg))
        else:
            refused.append(("first message %r" % msg.get("type"), None))
    return served, refused


async def close_all(clients):
    for cl, _ in clients:
        await cl.close()


def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status == 200
    except OSError:
        return False


def raw_connections(port, n, handshake=True):
    """n TCP connections to the agent's port, each sending a WebSocket
    handshake (or nothing); those refused are simply closed."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
            if handshake:
                s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        except OSError:
            pass
        socks.append(s)
    return socks


def close_socks(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def part_cap(c, python):
    c.section("1. SPY_MAX_CLIENTS=4 under uvicorn")
    app = AgentApp("limits", python=python, env={"SPY_MAX_CLIENTS": 4})
    try:
        app.start()
        app.wait_http()
        app.wait_port()

        async def go():
            served, refused = await open_many(app.url, 10)
            c.eq(len(served), 4, "clients served")
            c.eq(len(refused), 6, "clients refused")
            c.ok(all(code == 1013 and reason and "too many clients" in reason and "4 at most" in reason
                     for code, reason in refused),
                 "each refusal is a close with 1013 and a reason naming the limit", repr(refused[:3]))
            c.ok(http_ok(app.base + "/health"), "the app serves HTTP meanwhile")
            if served:
                st = await served[0][0].command("status", "status")
                c.eq((st or {}).get("clients"), 4, "a served client still gets answers: status.clients")
                await served[0][0].close()
                await asyncio.sleep(0.5)
                again, refused2 = await open_many(app.url, 1)
                c.ok(len(again) == 1, "once one client left, a new one is served", repr(refused2))
                await close_all(again)
            await close_all(served[1:])

        run_async(go(), 120)
        c.ok(app.alive(), "the app is still running")
        bad = [l for l in app.agent_lines() if "error" in l.lower()]
        c.ok(not bad, "no agent errors on stderr", "\n".join(bad))
    finally:
        app.kill()


class FdApp(object):
    def __init__(self, python, limit):
        self.ws_port = harness.free_port()
        self.http_port = harness.free_port()
        env = harness.preload_env({"SPY_WS_PORT": self.ws_port})
        self.proc = subprocess.Popen([python, os.path.join(harness.SPY_TARGETS, "fd_app.py"), str(limit),
                                      str(self.http_port)], env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                                     start_new_session=True)
        self.url = "ws://127.0.0.1:%d/" % self.ws_port

    def say(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def http_ok(self):
        return http_ok("http://127.0.0.1:%d/" % self.http_port)

    def stop(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
        except OSError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        harness.kill_group(self.proc)
        err = self.proc.stderr.read()
        self.proc.wait()
        return err


def part_fds(c, python):
    app = FdApp(python, 128)
    try:
        ready = app.proc.stdout.readline().strip()
        if not c.ok(ready == "ready", "fd_app.py started", ready):
            return
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", app.ws_port)) == 0:
                    break
            time.sleep(0.1)

        c.section("2. RLIMIT_NOFILE 128: at most 128/16 = 8 clients")

        async def share():
            served, refused = await open_many(app.url, 9)
            c.eq(len(served), 8, "clients served")
            c.ok(len(refused) == 1 and refused[0][0] == 1013 and "8 at most" in (refused[0][1] or ""),
                 "the ninth is closed with 1013 naming the limit", repr(refused))
            await close_all(served)

        run_async(share(), 120)
        time.sleep(0.5)

        c.section("3. 12 descriptors free (fewer than 1/8 of 128)")
        log("  %s" % app.say("fill 12"))
        tid = server_tid(app.proc.pid)
        before = cpu_seconds(app.proc.pid, tid) if tid else None
        t0 = time.monotonic()
        socks = raw_connections(app.ws_port, 40)
        time.sleep(WATCH_SECONDS)
        used = cpu_seconds(app.proc.pid, tid) - before if tid else None
        wall = time.monotonic() - t0
        log("  spy-server used %s s of CPU in %.1f s while 40 connections came" % (used, wall))
        c.ok(used is not None and used < wall / 10, "spy-server's CPU stays a small part of the time (%s s in %.1f s)"
             % (used, wall))
        c.eq(app.say("open 10"), "opened 10", "the app can still open its 10 files")
        c.ok(app.http_ok(), "the app still serves HTTP")
        close_socks(socks)
        time.sleep(0.5)

        c.section("4. no descriptor free: connections wait, nothing spins")
        log("  %s" % app.say("release 100"))
        log("  %s" % app.say("fill 0"))
        socks = raw_connections(app.ws_port, 20)
        used = cpu_while(app.proc.pid, WATCH_SECONDS)
        log("  spy-server used %s s of CPU in %.1f s with 20 connections pending" % (used, WATCH_SECONDS))
        c.ok(used is not None and used < WATCH_SECONDS / 10,
             "spy-server does not spin on a failing accept (%s s in %.1f s)" % (used, WATCH_SECONDS))
        close_socks(socks)
        log("  %s" % app.say("release 60"))

        async def back():
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    cl, hello = await connect_hello(app.url, "back", timeout=5)
                except Exception:
                    hello = None
                    cl = None
                if cl:
                    await cl.close()
                if hello:
                    return True
                await asyncio.sleep(0.5)
            return False

        c.ok(run_async(back(), 60), "with descriptors free again, a new client is served")
    finally:
        err = app.stop()
        bad = harness.agent_error_lines(err)
        c.ok(not bad, "no agent errors on fd_app.py's stderr", "\n".join(bad))


def main():
    python = sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/python3.11"
    require_websockets()
    harness.require_library()
    c = Checks("test_ws_limits")
    part_cap(c, python)
    part_fds(c, python)
    c.finish()


if __name__ == "__main__":
    main()
