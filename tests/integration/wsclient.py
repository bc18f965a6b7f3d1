"""Helpers for the WebSocket tests (test_ws_*.py): an app under the agent, a
protocol client over Debian's python3-websockets 10.4 (asyncio: 10.4 has no
`websockets.sync`), a raw-socket client for what a polite library will not
send (invalid UTF-8, a client that never reads), bounded HTTP load, and
checks of the files a recording writes.

Everything here is bounded in time.  The protocol is docs/PROTOCOL.md.
"""

import asyncio
import base64
import json
import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import harness
from harness import log

try:
    import websockets
    import websockets.exceptions
except ImportError:  # the tests that need it skip
    websockets = None

# Debian's interpreter: the one with fastapi, uvicorn and websockets.
APP_PYTHON = "/usr/bin/python3.11"

COMMANDS = ("help", "status", "top", "live", "pause", "resume", "dump", "record", "rate", "reset", "auth")
ERROR_CODES = ("unknown_command", "bad_argument", "missing_argument", "too_many_arguments", "bad_json",
               "busy", "not_recording", "auth")
# A recording's files; the task view's own files (asyncio task wall time)
# have ".tasks" before the extension.
FILE_NAME_RE = re.compile(r"^(?P<prog>.+)-(?P<pid>\d+)-(?P<stamp>\d{8}-\d{6})(?:[-.]\d+)?(?P<view>\.tasks)?"
                          r"(?P<ext>\.svg|\.collapsed\.txt|\.speedscope\.json|\.blocks\.json)$")
EXT_OF_FORMAT = {"svg": ".svg", "collapsed": ".collapsed.txt", "speedscope": ".speedscope.json"}


def require_websockets():
    if websockets is None:
        log("SKIP: the interpreter running this test has no `websockets` (Debian: python3-websockets)")
        raise SystemExit(harness.SKIP)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def short(obj, n=300):
    s = obj if isinstance(obj, str) else json.dumps(obj, sort_keys=True)
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


# ---------------------------------------------------------------- the app

class AgentApp(object):
    """A process with the agent preloaded and its WebSocket server on ws_port.

    kind="uvicorn": tests/targets/fastapi_app.py under uvicorn on http_port.
    kind="script":  python tests/targets/<script> [args].
    """

    def __init__(self, name, kind="uvicorn", script=None, args=(), env=None, ws_port=None, python=APP_PYTHON,
                 data_dir=None, interval_ms=None):
        self.name = name
        self.kind = kind
        self.python = python
        self.ws_port = ws_port or free_port()
        self.http_port = free_port() if kind == "uvicorn" else None
        self.tmp = tempfile.mkdtemp(prefix="spy-ws-%s-" % name)
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        extra = {"SPY_WS_PORT": self.ws_port, "SPY_DATA_DIR": self.data_dir}
        if interval_ms:
            extra["SPY_INTERVAL"] = interval_ms
        extra.update(env or {})
        self.env = harness.preload_env({k: v for k, v in extra.items() if v is not None})
        for k, v in extra.items():
            if v is None:
                self.env.pop(k, None)
        if kind == "uvicorn":
            self.cmd = [python, "-m", "uvicorn", "fastapi_app:app", "--host", "127.0.0.1", "--port",
                        str(self.http_port), "--app-dir", harness.SPY_TARGETS, "--loop", harness.uvicorn_loop()]
        else:
            self.cmd = [python, os.path.join(harness.SPY_TARGETS, script)] + [str(a) for a in args]
        self.out_path = os.path.join(self.tmp, "stdout")
        self.err_path = os.path.join(self.tmp, "stderr")
        self.proc = None
        self.t0 = None

    @property
    def pid(self):
        return self.proc.pid

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.http_port

    @property
    def url(self):
        return "ws://127.0.0.1:%d/" % self.ws_port

    def start(self):
        log("starting %s: %s (SPY_WS_PORT=%d, SPY_DATA_DIR=%s%s)" % (
            self.name, " ".join(self.cmd), self.ws_port, self.data_dir,
            "".join(", %s=%s" % (k, v) for k, v in sorted(self.env.items())
                    if k.startswith("SPY_") and k not in ("SPY_WS_PORT", "SPY_DATA_DIR"))))
        self.t0 = time.monotonic()
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(self.cmd, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         cwd=self.tmp, start_new_session=True)
        return self

    def stdout(self):
        return read_text(self.out_path)

    def stderr(self):
        return read_text(self.err_path)

    def agent_lines(self):
        return [l for l in self.stderr().splitlines() if l.startswith("spyagent:")]

    def describe(self):
        rc = self.proc.poll() if self.proc else None
        return harness.describe_process(self.cmd, rc, self.stdout(), self.stderr(),
                                        time.monotonic() - (self.t0 or time.monotonic()), False)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def http_get(self, path, timeout=10):
        with urllib.request.urlopen(self.base + path, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read().decode("utf-8"))

    def wait_http(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive():
            try:
                status, body = self.http_get("/health", timeout=2)
                if status == 200:
                    return True
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        return False

    def wait_port(self, timeout=30, port=None):
        """True once something accepts TCP connections on the WebSocket port."""
        port = port or self.ws_port
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive():
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=1)
                s.close()
                return True
            except OSError:
                time.sleep(0.1)
        return False

    def wait_line(self, pattern, timeout=10):
        """The first stderr line matching the regex, waiting for it (bounded)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.stderr().splitlines():
                if rx.search(line):
                    return line
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)

    def terminate(self, timeout=15, sig=signal.SIGTERM):
        """Send sig to the app (not its group), wait; returns the exit code or None."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc is not None:
            harness.kill_group(self.proc)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def fd_count(self):
        try:
            return len(os.listdir("/proc/%d/fd" % self.pid))
        except OSError:
            return None

    def rss_kb(self):
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None


def start_app(c, name, **kw):
    """Start an AgentApp and wait for HTTP (uvicorn) and the WebSocket port; abort on failure."""
    app = AgentApp(name, **kw).start()
    if app.kind == "uvicorn":
        if not c.ok(app.wait_http(60), "%s: the app answers HTTP on port %d" % (name, app.http_port), app.describe()):
            app.kill()
            c.finish()
    if not c.ok(app.wait_port(30), "%s: the agent listens on ws port %d" % (name, app.ws_port), app.describe()):
        app.kill()
        c.finish()
    return app


# ---------------------------------------------------------------- HTTP load

class Load(object):
    """Threads sending GET requests to the app until stop() or the deadline."""

    def __init__(self, base, threads=3, seconds=120, paths=("/cpu?n=200000", "/json?n=5000")):
        self.base = base
        self.nthreads = threads
        self.deadline = time.monotonic() + seconds
        self.paths = paths
        self.stop_event = threading.Event()
        self.ok = 0
        self.failures = []
        self.lock = threading.Lock()
        self.threads = []

    def _run(self, k):
        i = k
        while not self.stop_event.is_set() and time.monotonic() < self.deadline:
            path = self.paths[i % len(self.paths)]
            i += 1
            try:
                with urllib.request.urlopen(self.base + path, timeout=30) as resp:
                    resp.read()
                    good = resp.status == 200
                with self.lock:
                    if good:
                        self.ok += 1
                    else:
                        self.failures.append("%s: HTTP %d" % (path, resp.status))
            except (OSError, ValueError) as e:
                with self.lock:
                    self.failures.append("%s: %r" % (path, e))
                time.sleep(0.1)

    def start(self):
        for k in range(self.nthreads):
            t = threading.Thread(target=self._run, args=(k,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(40)
        return self.ok, self.failures


# ---------------------------------------------------------------- asyncio client

class Closed(Exception):
    """The server closed the connection: code and reason (None if no close frame)."""

    def __init__(self, code, reason, exc=None):
        Exception.__init__(self, "connection closed: code %r reason %r" % (code, reason))
        self.code = code
        self.reason = reason
        self.exc = exc


def close_of(exc):
    rcvd = getattr(exc, "rcvd", None)
    if rcvd is not None:
        return rcvd.code, rcvd.reason
    return None, None


def is_push(msg):
    return msg.get("type") == "top" and msg.get("live") is True


class Client(object):
    """One WebSocket connection speaking the agent's protocol."""

    def __init__(self, ws, name):
        self.ws = ws
        self.name = name
        self.history = []  # (monotonic time, message) of everything received
        self.close_detail = None  # how the connection ended, as websockets tells it
        self.sends = []  # times of the last sends (throttle)
        self.throttle = 40  # at most this many sends in any second (the agent closes at 50); 0: off

    @classmethod
    async def open(cls, url, name="client", origin=None, headers=None, timeout=10):
        ws = await websockets.connect(url, origin=origin, extra_headers=headers, open_timeout=timeout,
                                      ping_interval=None, close_timeout=2, max_size=None, max_queue=None)
        return cls(ws, name)

    async def recv(self, timeout=10):
        """The next message (a dict); Closed when the server closed; asyncio.TimeoutError."""
        try:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
        except websockets.exceptions.ConnectionClosed as e:
            code, reason = close_of(e)
            self.close_detail = "%s: %s" % (type(e).__name__, e)
            raise Closed(code, reason, e)
        msg = json.loads(raw) if isinstance(raw, str) else {"type": "(binary)", "bytes": len(raw)}
        if not isinstance(msg, dict):
            msg = {"type": "(not an object)", "value": msg}
        self.history.append((time.monotonic(), msg))
        return msg

    async def send(self, cmd):
        data = cmd if isinstance(cmd, str) else json.dumps(cmd)
        if self.throttle:
            now = time.monotonic()
            self.sends = [t for t in self.sends if now - t < 1.0]
            if len(self.sends) >= self.throttle:
                await asyncio.sleep(1.0 - (now - self.sends[0]) + 0.01)
            self.sends.append(time.monotonic())
        try:
            await self.ws.send(data)
        except websockets.exceptions.ConnectionClosed as e:
            code, reason = close_of(e)
            raise Closed(code, reason, e)

    async def expect(self, types, timeout=10, skip_pushes=True):
        """Read until a message whose type is in types (or an error); skips live pushes.

        Returns the message, or None on timeout."""
        if isinstance(types, str):
            types = (types,)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                msg = await self.recv(left)
            except asyncio.TimeoutError:
                return None
            t = msg.get("type")
            if skip_pushes and is_push(msg):
                continue
            if t in types or t == "error":
                return msg
            # anything else (record_progress, a late reply): kept in history, skipped

    async def command(self, cmd, types, timeout=10):
        await self.send(cmd)
        return await self.expect(types, timeout)

    async def wait_closed(self, timeout=10):
        """Read (discarding) until the server closes; returns (code, reason) or None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                await self.recv(left)
            except Closed as e:
                return (e.code, e.reason)
            except asyncio.TimeoutError:
                return None

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), 5)
        except Exception:
            pass

    def messages(self, type_=None):
        return [m for (_, m) in self.history if type_ is None or m.get("type") == type_]


async def connect_hello(url, name="client", timeout=10, **kw):
    """Open a client and read its hello; returns (client, hello or None)."""
    cl = await Client.open(url, name, timeout=timeout, **kw)
    hello = await cl.expect("hello", timeout)
    return cl, hello


def run_async(coro, timeout):
    """asyncio.run with an overall bound."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


# ---------------------------------------------------------------- raw socket client

class RawClient(object):
    """A minimal RFC 6455 client over a plain socket, for frames a library won't send."""

    def __init__(self, port, path="/", headers=None, timeout=10, rcvbuf=None, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % port, "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf and time.monotonic() < deadline:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        first = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = first.split()
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        self.status_line = first

    def send_frame(self, opcode, payload, fin=True):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send_text(self, text):
        self.send_frame(0x1, text.encode("utf-8") if isinstance(text, str) else text)

    def _read(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError()
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self, timeout=10):
        """(opcode, payload); raises EOFError on EOF, socket.timeout on timeout."""
        deadline = time.monotonic() + timeout
        b0, b1 = self._read(2, deadline)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2, deadline))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8, deadline))[0]
        if b1 & 0x80:
            self._read(4, deadline)  # servers never mask; tolerate it
        return b0 & 0x0F, self._read(n, deadline)

    def wait_close(self, timeout=10):
        """Read frames until a close frame or EOF: (code, reason, n_text_frames); code None on EOF."""
        deadline = time.monotonic() + timeout
        texts = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return ("timeout", None, texts)
            try:
                op, payload = self.recv_frame(left)
            except EOFError:
                return (None, None, texts)
            except socket.timeout:
                return ("timeout", None, texts)
            except OSError as e:
                return (None, repr(e), texts)
            if op == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                return (code, payload[2:].decode("utf-8", "replace"), texts)
            if op == 0x1:
                texts += 1

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------- recordings

def check_svg(path):
    """None if the file is a well-formed SVG document, else what is wrong."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        return "not well-formed XML: %s" % e
    if not root.tag.endswith("svg"):
        return "root element is %r, not svg" % root.tag
    return None


def parse_collapsed(path):
    """(sum of counts, number of lines, [bad lines]) of a collapsed-stacks file."""
    total, lines, bad = 0, 0, []
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            lines += 1
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit() or int(count) <= 0:
                bad.append(line)
                continue
            total += int(count)
    return total, lines, bad


def check_speedscope(path):
    """(document or None, what is wrong or None)."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        return None, "not JSON: %s" % e
    if not isinstance(doc, dict) or "speedscope" not in str(doc.get("$schema", "")):
        return doc, "no speedscope $schema (got %r)" % (doc.get("$schema") if isinstance(doc, dict) else type(doc))
    if not isinstance(doc.get("profiles"), list) or not doc["profiles"]:
        return doc, "no profiles"
    if not isinstance(doc.get("shared", {}).get("frames"), list):
        return doc, "no shared.frames"
    return doc, None


def speedscope_samples(doc):
    """Samples in a speedscope document: the sum of the sampled profiles' weights (or their sample counts);
    the task view's profiles ("task wall time: ...", milliseconds) are not samples."""
    n = 0
    for p in doc.get("profiles", []):
        if p.get("type") == "sampled" and not str(p.get("name", "")).startswith("task wall time: "):
            w = p.get("weights")
            n += int(sum(w)) if isinstance(w, list) and len(w) == len(p.get("samples", [])) else len(p.get("samples", []))
    return n


def check_record_done(c, done, data_dir, pid, formats, what):
    """Checks of a record_done message and its files; returns {format: path} of the CPU view's files.  The
    task view's files ("view": "tasks", written when the span has asyncio task wall time) are checked too:
    only svg and collapsed, named PROGRAM-PID-STAMP.tasks.EXT, and they are not returned."""
    out = {}
    if not c.ok(isinstance(done, dict) and done.get("type") == "record_done", "%s: record_done arrives" % what,
                "got %s" % short(done)):
        return out
    c.ok(not done.get("error"), "%s: record_done has no error" % what, "error: %r" % done.get("error"))
    for key in ("files", "samples", "duration", "unique_stacks"):
        c.ok(key in done, "%s: record_done has %r" % (what, key), short(done))
    files = done.get("files") or []
    got = sorted(f.get("format") for f in files if isinstance(f, dict) and "view" not in f)
    c.eq(got, sorted(formats), "%s: files of the formats" % what)
    tasks = sorted(f.get("format") for f in files if isinstance(f, dict) and "view" in f)
    c.ok(all(f.get("view") == "tasks" for f in files if isinstance(f, dict) and "view" in f)
         and all(t in formats and t in ("svg", "collapsed") for t in tasks),
         "%s: task view files only for svg and collapsed asked for (%s)" % (what, tasks or "none"), short(done))
    for f in files:
        if not isinstance(f, dict):
            continue
        path = str(f.get("path"))
        fmt = f.get("format")
        view = f.get("view")
        if view is None:
            out[fmt] = path
        else:
            fmt = "%s (%s view)" % (fmt, view)
        exists = os.path.isfile(path)
        c.ok(os.path.isabs(path) and exists, "%s: %s file exists at an absolute path (%s)" % (what, fmt, path))
        if not exists:
            continue
        c.ok(os.path.realpath(os.path.dirname(path)) == os.path.realpath(data_dir),
             "%s: %s file is in SPY_DATA_DIR" % (what, fmt), "dir %s vs %s" % (os.path.dirname(path), data_dir))
        m = FILE_NAME_RE.match(os.path.basename(path))
        ext = EXT_OF_FORMAT.get(f.get("format"))
        c.ok(m is not None and m.group("pid") == str(pid) and m.group("ext") == ext
             and (m.group("view") is not None) == (view is not None),
             "%s: %s file name is PROGRAM-%d-YYYYmmdd-HHMMSS%s%s" % (what, fmt, pid, ".tasks" if view else "", ext),
             os.path.basename(path))
        c.eq(f.get("bytes"), os.path.getsize(path), "%s: %s 'bytes' is the file's size" % (what, fmt))
    if done.get("blocks_file") is not None:
        # the event-loop blocks seen during the recording, beside its files
        bpath = str(done["blocks_file"])
        c.ok(os.path.isfile(bpath) and bpath.endswith(".blocks.json")
             and os.path.realpath(os.path.dirname(bpath)) == os.path.realpath(data_dir),
             "%s: the blocks file named by record_done is in SPY_DATA_DIR" % what, bpath)
    leftovers = [n for n in os.listdir(data_dir) if not FILE_NAME_RE.match(n)] if os.path.isdir(data_dir) else []
    c.ok(not leftovers, "%s: no temporary or stray files in SPY_DATA_DIR" % what, "%s" % leftovers)
    return out


def check_record_files(c, paths, samples, what):
    """Parse each written file; collapsed counts must sum to samples."""
    if "svg" in paths and os.path.isfile(paths["svg"]):
        err = check_svg(paths["svg"])
        c.ok(err is None, "%s: the SVG parses as XML <svg> (%d bytes)" % (what, os.path.getsize(paths["svg"])), err)
    if "collapsed" in paths and os.path.isfile(paths["collapsed"]):
        total, lines, bad = parse_collapsed(paths["collapsed"])
        c.ok(not bad and lines > 0, "%s: collapsed file has %d lines `a;b;c N`" % (what, lines),
             "bad lines: %s" % bad[:5])
        c.eq(total, samples, "%s: collapsed counts sum to record_done.samples" % what)
    if "speedscope" in paths and os.path.isfile(paths["speedscope"]):
        doc, err = check_speedscope(paths["speedscope"])
        c.ok(err is None, "%s: speedscope JSON with $schema parses" % what, err)
        if doc is not None and err is None:
            n = speedscope_samples(doc)
            if n:
                c.ok(n == samples, "%s: speedscope has %d samples (record_done.samples %s)" % (what, n, samples))
