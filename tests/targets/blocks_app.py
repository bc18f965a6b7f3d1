"""A FastAPI app for the event-loop blocking tests (test_blocks.py).

Routes, each counted server-side (GET /counts):
  /block      async def calling time.sleep(0.3): blocks the event loop
  /await      async def awaiting two helpers, then asyncio.sleep(0.2)
  /cpu        async def burning ~20 ms of CPU in a sync helper
  /threadpool plain def sleeping 0.3 s (FastAPI runs it in its threadpool)
"""
import asyncio
import threading
import time

from fastapi import FastAPI

app = FastAPI()
counts = {"block": 0, "await": 0, "cpu": 0, "threadpool": 0}
lock = threading.Lock()


def count(name):
    with lock:
        counts[name] += 1


@app.get("/block")
async def blocking_route():
    count("block")
    time.sleep(0.3)
    return {"ok": True}


async def inner_helper():
    await asyncio.sleep(0.2)


async def outer_helper():
    await inner_helper()


@app.get("/await")
async def awaiting_route():
    count("await")
    await outer_helper()
    return {"ok": True}


def burn(ms):
    end = time.perf_counter() + ms / 1000.0
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


@app.get("/cpu")
async def cpu_route():
    count("cpu")
    return {"n": burn(20)}


@app.get("/threadpool")
def threadpool_route():
    count("threadpool")
    time.sleep(0.3)
    return {"ok": True}


@app.get("/health")
async def health():
    return {"ok": True}


@app.get("/counts")
async def get_counts():
    with lock:
        return dict(counts)


@app.get("/agent")
async def agent_view():
    """What spyagent.blocks() and spyagent.status() say, from inside."""
    import spyagent
    st = spyagent.status()
    return {"blocks": spyagent.blocks(), "total": st["blocks"], "block_ms": st["block_ms"]}
