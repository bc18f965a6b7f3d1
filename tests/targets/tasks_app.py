"""Target: a FastAPI service whose requests wait, for the task wall-time view.

    LD_PRELOAD=.../libspyagent.so python3.11 -m uvicorn tasks_app:app \
        --port PORT --app-dir tests/targets --loop asyncio|uvloop

Routes (each route function has its own name, so a stack names its route):
  GET /sleep    route_sleep: awaits h1, which awaits h2, which awaits
                asyncio.sleep(0.2)
  GET /burn     route_burn: ~20 ms of CPU in a synchronous helper, burn_cpu()
  GET /gather   route_gather: asyncio.gather of three g_part() coroutines, each
                asyncio.sleep(0.1) (gather runs each in a task of its own)
  GET /mw/sleep route_mw: behind a BaseHTTPMiddleware (a mounted sub-app):
                awaits mw_h1 -> mw_h2 -> asyncio.sleep(0.2)
  GET /sync     route_sync: a plain def route (threadpool) in time.sleep(0.1)
  GET /block    route_block: time.sleep(0.3) inside async def (blocks the loop)
  GET /health   readiness probe
  GET /stats    server-side ground truth: requests finished per path and their
                summed durations, counted by a pure ASGI middleware (the
                outermost layer), since the last /stats/reset, and the
                seconds h1 and mw_h1 took (their await chains, timed in
                the app)
  GET /stats/reset
Needs Debian's python3-fastapi and python3-uvicorn (and python3-uvloop for
--loop uvloop).
"""

import asyncio
import time

from fastapi import FastAPI
from starlette.middleware.base import BaseHTTPMiddleware


# seconds spent in h1 and mw_h1 (their whole await chains), by the app's clock
WAITED = {"h1": 0.0, "mw_h1": 0.0}


async def h2():
    await asyncio.sleep(0.2)


async def h1():
    t0 = time.monotonic()
    await h2()
    WAITED["h1"] += time.monotonic() - t0


async def mw_h2():
    await asyncio.sleep(0.2)


async def mw_h1():
    t0 = time.monotonic()
    await mw_h2()
    WAITED["mw_h1"] += time.monotonic() - t0


async def g_part():
    await asyncio.sleep(0.1)


def burn_cpu(ms=20.0):
    end = time.thread_time() + ms / 1000.0
    acc = 0
    while time.thread_time() < end:
        for i in range(2000):
            acc = (acc + i * i) % 1000003
    return acc


inner = FastAPI()


@inner.get("/sleep")
async def route_mw():
    await mw_h1()
    return {"ok": True}


async def pass_through(request, call_next):
    return await call_next(request)


inner.add_middleware(BaseHTTPMiddleware, dispatch=pass_through)

api = FastAPI()
api.mount("/mw", inner)


@api.get("/health")
async def health():
    return {"ok": True}


@api.get("/sleep")
async def route_sleep():
    await h1()
    return {"ok": True}


@api.get("/burn")
async def route_burn():
    return {"acc": burn_cpu()}


@api.get("/gather")
async def route_gather():
    await asyncio.gather(g_part(), g_part(), g_part())
    return {"ok": True}


@api.get("/sync")
def route_sync():
    time.sleep(0.1)
    return {"ok": True}


@api.get("/block")
async def route_block():
    time.sleep(0.3)
    return {"ok": True}


class Timing(object):
    """Pure ASGI middleware: per path, requests finished and seconds spent."""

    def __init__(self, app):
        self.app = app
        self.counts = {}
        self.seconds = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith(("/stats", "/health")):
            if scope["type"] == "http" and scope["path"] == "/stats/reset":
                self.counts.clear()
                self.seconds.clear()
                for k in WAITED:
                    WAITED[k] = 0.0
            if scope["type"] == "http" and scope["path"].startswith("/stats"):
                await self.reply(send, {"counts": self.counts, "seconds": self.seconds, "waited": WAITED})
                return
            await self.app(scope, receive, send)
            return
        path = scope["path"]           # before the routers rewrite the scope (Mount does)
        t0 = time.monotonic()
        await self.app(scope, receive, send)
        self.counts[path] = self.counts.get(path, 0) + 1
        self.seconds[path] = self.seconds.get(path, 0.0) + time.monotonic() - t0

    @staticmethod
    async def reply(send, obj):
        import json
        body = json.dumps(obj).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


app = Timing(api)
