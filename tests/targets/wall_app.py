"""Target: a FastAPI service whose requests wait in different ways.

    LD_PRELOAD=.../libspyagent.so PYTHONPATH=.../build/agent \
        python3.11 -m uvicorn wall_app:app --port PORT --app-dir tests/targets

Endpoints (each times itself: GET /_stats):
  GET /slow     slow_route: awaits outer_helper -> inner_helper ->
                asyncio.sleep(0.2): waiting, awaiting sleep
  GET /cpu      cpu_route: burns ~20 ms of CPU in a sync helper (burn):
                on the CPU in burn (or ready while another burns)
  GET /gather   gather_route: gathers three asyncio.sleep(0.1)
  GET /block    block_route: time.sleep(0.3) inside async def: blocks the
                event loop
  GET /health   readiness probe
  GET /_stats   per route: requests and [start, end] (time.time()) of each
                finished request, measured inside the route function
Needs Debian's python3-fastapi and python3-uvicorn.
"""

import asyncio
import time

from fastapi import FastAPI

app = FastAPI()
_stats = {}


def _done(name, t0):
    _stats.setdefault(name, []).append((t0, time.time()))


async def inner_helper():
    await asyncio.sleep(0.2)


async def outer_helper():
    await inner_helper()


@app.get("/slow")
async def slow_route():
    t0 = time.time()
    await outer_helper()
    _done("slow_route", t0)
    return {"ok": True}


def burn(ms):
    end = time.process_time() + ms / 1000.0
    x = 0
    while time.process_time() < end:
        x += 1
    return x


@app.get("/cpu")
async def cpu_route():
    t0 = time.time()
    x = burn(20)
    _done("cpu_route", t0)
    return {"x": x}


@app.get("/gather")
async def gather_route():
    t0 = time.time()
    await asyncio.gather(asyncio.sleep(0.1), asyncio.sleep(0.1), asyncio.sleep(0.1))
    _done("gather_route", t0)
    return {"ok": True}


@app.get("/block")
async def block_route():
    t0 = time.time()
    time.sleep(0.3)
    _done("block_route", t0)
    return {"ok": True}


@app.get("/health")
async def health():
    return {"ok": True}


@app.get("/_stats")
def stats():
    return {name: {"requests": len(v), "spans": v} for name, v in _stats.items()}
