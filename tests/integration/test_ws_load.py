"""Does the WebSocket server hold up to many clients coming and going?

    test_ws_load.py [PYTHON]     (default /usr/bin/python3.11)
    SPY_WS_LOAD_SECONDS=N        length of the churn (default 30)

tests/targets/fastapi_app.py under uvicorn (LD_PRELOAD, SPY_INTERVAL=100 so
pushes are frequent) under HTTP load.  For SPY_WS_LOAD_SECONDS, 50 clients
connect, read hello, sometimes ask `status`, and disconnect (some politely,
some by dropping the TCP connection), in a loop; one more client connects
and never reads (a small receive buffer; it asks for the biggest pushes,
`live 1000 window all idle`), and one steady client asks
`status` every second.  Afterwards: the app still answers HTTP; status shows
the sampler's effective rate as before and samples still increasing; the
never-reading client was dropped or its pushes counted in frames_dropped;
the steady client was never disconnected; the app's fd count and RSS did not
grow without bound (warm-up vs end, generous slack, numbers printed).
"""

import asyncio
import os
import random
import sys
import time

import harness
from harness import Checks, log
import wsclient
from wsclient import Client, Closed, short

CHURNERS = 50
INTERVAL_MS = 100


class Stats(object):
    def __init__(self):
        self.connects = 0
        self.hellos = 0
        self.statuses = 0
        self.failures = []


async def churner(k, url, until, stats):
    rnd = random.Random(k)
    while time.monotonic() < until:
        cl = None
        try:
            cl = await Client.open(url, "churn%d" % k, timeout=10)
            stats.connects += 1
            hello = await cl.expect("hello", 10)
            if hello is None:
                stats.failures.append("churn%d: no hello" % k)
            else:
                stats.hellos += 1
            if rnd.random() < 0.5:
                st = await cl.command("status", "status", 10)
                if st is None or st.get("type") != "status":
                    stats.failures.append("churn%d: status -> %s" % (k, short(st)))
                else:
                    stats.statuses += 1
            if rnd.random() < 0.3:
                await asyncio.sleep(rnd.random() * 0.5)  # get a push or two
            if rnd.random() < 0.3:
                cl.ws.transport.abort()  # vanish without a close handshake
            else:
                await cl.close()
        except Closed as e:
            stats.failures.append("churn%d: closed by the server %r %r" % (k, e.code, e.reason))
        except Exception as e:
            stats.failures.append("churn%d: %r" % (k, e))
            await asyncio.sleep(0.1)
        finally:
            if cl is not None:
                try:
                    cl.ws.transport.abort()
                except Exception:
                    pass


async def steady(url, until, log_):
    cl, hello = await wsclient.connect_hello(url, "steady")
    if hello is None:
        log_.append("no hello")
        return []
    lat = []
    try:
        while time.monotonic() < until:
            t0 = time.monotonic()
            st = await cl.command("status", "status", 10)
            if st is None:
                log_.append("status timed out")
            else:
                lat.append((time.monotonic() - t0) * 1000)
            await asyncio.sleep(1.0)
    except Closed as e:
        log_.append("steady client disconnected: %r %r" % (e.code, e.reason))
    await cl.close()
    return lat


async def one_status(url):
    cl, hello = await wsclient.connect_hello(url, "probe")
    st = await cl.command("status", "status", 10)
    await cl.close()
    return st


def main():
    python = sys.argv[1] if len(sys.argv) > 1 else wsclient.APP_PYTHON
    harness.require_library()
    wsclient.require_websockets()
    seconds = float(os.environ.get("SPY_WS_LOAD_SECONDS") or 30)
    c = Checks("test_ws_load")
    # The CPU budget is off so the rate is the sampler's own doing: with the
    # default 1 % budget the effective rate follows how loaded the machine
    # is (an ASan build under 50 churning clients lowered it legitimately).
    # 52 clients at once: more than the default SPY_MAX_CLIENTS (32)
    app = wsclient.start_app(c, "load", python=python, interval_ms=INTERVAL_MS,
                             env={"SPY_CPU_BUDGET": "0", "SPY_MAX_CLIENTS": "64"})
    load = wsclient.Load(app.base, threads=2, seconds=seconds + 120).start()
    raw = None
    try:
        time.sleep(2.0)
        st0 = wsclient.run_async(one_status(app.url), 20)
        c.ok(st0 is not None, "status before the churn", short(st0))
        st0 = st0 or {}
        log("  before: rate %s effective_rate %s samples %s clients %s frames_dropped %s" % (
            st0.get("rate"), st0.get("effective_rate"), st0.get("samples"), st0.get("clients"),
            st0.get("frames_dropped")))
        fd0, rss0 = app.fd_count(), app.rss_kb()

        raw = wsclient.RawClient(app.ws_port, rcvbuf=4096)
        c.eq(raw.status, 101, "the never-reading client connects")
        # the biggest pushes there are, so its queue fills up within the churn
        raw.send_text("live 1000 window all idle")

        stats = Stats()
        samples = {}
        until = time.monotonic() + seconds

        async def churn():
            async def sampler():
                # fd and RSS after warm-up (a third of the way) and at the end of the churn
                await asyncio.sleep(min(5.0, seconds / 3))
                samples["warm"] = (app.fd_count(), app.rss_kb())
                await asyncio.sleep(max(0.0, until - time.monotonic() - 0.5))
                samples["late"] = (app.fd_count(), app.rss_kb())
            steady_log = []
            tasks = [churner(k, app.url, until, stats) for k in range(CHURNERS)]
            res = await asyncio.gather(steady(app.url, until, steady_log), sampler(), *tasks)
            return res[0], steady_log

        log("  churn: %d clients for %.0f s" % (CHURNERS, seconds))
        t0 = time.monotonic()
        lat, steady_log = wsclient.run_async(churn(), seconds + 120)
        took = time.monotonic() - t0
        log("  %d connections, %d hellos, %d status replies in %.1f s; %d failures"
            % (stats.connects, stats.hellos, stats.statuses, took, len(stats.failures)))
        c.ok(stats.connects >= CHURNERS * 2, "clients connected many times (%d)" % stats.connects)
        c.ok(len(stats.failures) <= max(1, stats.connects // 100),
             "at most 1%% of the connections failed (%d of %d)" % (len(stats.failures), stats.connects),
             "\n".join(stats.failures[:10]))
        c.ok(not steady_log, "the steady client was never disconnected and always answered", "\n".join(steady_log))
        if lat:
            lat.sort()
            log("  steady client's status latency: median %.1f ms, max %.1f ms (%d)" % (lat[len(lat) // 2], lat[-1], len(lat)))
            c.ok(lat[-1] < 5000, "status always answered within 5 s under churn (max %.1f ms)" % lat[-1])

        time.sleep(2.0)  # let the server notice the vanished clients
        try:
            status, _ = app.http_get("/health")
            c.eq(status, 200, "the app still answers /health")
            status, _ = app.http_get("/cpu?n=1000")
            c.eq(status, 200, "the app still answers /cpu")
        except OSError as e:
            c.ok(False, "the app still answers HTTP", repr(e))
        st1 = wsclient.run_async(one_status(app.url), 20) or {}
        time.sleep(1.0)
        st2 = wsclient.run_async(one_status(app.url), 20) or {}
        log("  after: rate %s effective_rate %s samples %s -> %s clients %s frames_dropped %s" % (
            st1.get("rate"), st1.get("effective_rate"), st1.get("samples"), st2.get("samples"), st1.get("clients"),
            st1.get("frames_dropped")))
        c.eq(st1.get("rate"), st0.get("rate"), "the configured rate is unchanged")
        e0, e1 = st0.get("effective_rate") or 0, st1.get("effective_rate") or 0
        c.ok(e0 > 0 and e1 == e0 == st0.get("rate"),
             "the effective rate held at the configured rate (%s before, %s after)" % (e0, e1))
        c.ok((st2.get("samples") or 0) > (st1.get("samples") or 0) > (st0.get("samples") or 0),
             "samples still increasing (%s, %s, %s)" % (st0.get("samples"), st1.get("samples"), st2.get("samples")))
        clients = st1.get("clients")
        c.ok(isinstance(clients, int) and clients <= 3,
             "the churned clients are gone (status.clients %r: the probe, maybe the never-reader)" % clients)

        # the never-reading client: dropped, or its pushes counted
        dropped = st2.get("frames_dropped") or 0
        code, reason, texts = raw.wait_close(5)
        log("  never-reader: frames_dropped %s; reading now: close %r %r after %d text frames" % (
            dropped, code, reason, texts))
        c.ok(dropped > 0 or code != "timeout",
             "the never-reading client was dropped or its frames counted in frames_dropped (%s)" % dropped)
        raw.close()
        raw = None

        time.sleep(1.0)
        fd_end, rss_end = app.fd_count(), app.rss_kb()
        warm = samples.get("warm", (None, None))
        late = samples.get("late", (None, None))
        log("  fds: before %s, warm-up %s, late churn %s, after %s" % (fd0, warm[0], late[0], fd_end))
        log("  RSS KiB: before %s, warm-up %s, late churn %s, after %s" % (rss0, warm[1], late[1], rss_end))
        if None not in (fd0, fd_end):
            c.ok(fd_end <= fd0 + 8, "fds back near the start after the churn (%d -> %d)" % (fd0, fd_end))
        if None not in (warm[0], late[0]):
            c.ok(late[0] <= warm[0] + 60, "fds did not grow during the churn (%d warm, %d late)" % (warm[0], late[0]))
        if None not in (warm[1], rss_end):
            slack = max(64 * 1024, warm[1] // 2)
            c.ok(rss_end <= warm[1] + slack, "RSS did not grow without bound (%d KiB warm, %d KiB end, slack %d)"
                 % (warm[1], rss_end, slack))
        c.ok(app.alive(), "the app is alive")
    finally:
        if raw is not None:
            raw.close()
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
