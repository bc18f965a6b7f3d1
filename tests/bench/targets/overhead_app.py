"""FastAPI app for bench_overhead.py: four routes that each keep the server
busy in a different way, and a thread pool that holds a fixed number of
idle Python threads, so that the sampler has something realistic to walk.

    taskset -c 0 /usr/bin/python3.11 -m uvicorn overhead_app:app \\
        --app-dir tests/bench/targets --host 127.0.0.1 --port 8000

Routes:

    GET /cpu    async  CPU in the event-loop thread at ~40 frames: a recursion
                       30 deep under the ASGI stack, then a pure-Python loop
                       of ~1-2 ms (CPU_LOOPS iterations)
    GET /json   async  builds JSON_ITEMS pydantic models and returns them
                       (validation and JSON serialization)
    GET /await  async  await asyncio.sleep(0.005) and a little work
    GET /sync   def    a little work in anyio's thread pool

At startup the thread pool's limit is raised to 40 tokens and the pool is
filled with POOL_THREADS worker threads (default 34: with the main thread
~35 Python threads), which then wait idle in the pool, as after a burst of
traffic on a service with sync routes. anyio retires a worker that has been
idle for 10 s; the app raises that to an hour so that the number of threads
stays the same for the whole life of a benchmark server, whatever the route.

Environment (all optional): OVERHEAD_POOL_THREADS (0-40, default 34).
"""

import asyncio
import os
import sys
import threading
from typing import List

import anyio
import anyio.to_thread
from fastapi import FastAPI
from pydantic import BaseModel

RECURSION = 30          # frames of recursion under the endpoint in /cpu
CPU_LOOPS = 20000       # iterations of the pure-Python loop in /cpu
JSON_ITEMS = 50         # models in the /json reply
POOL_LIMIT = 40         # anyio's default thread limiter, in tokens


def _pool_threads():
    text = os.environ.get("OVERHEAD_POOL_THREADS", "34")
    try:
        n = int(text)
    except ValueError:
        n = -1
    if not 0 <= n <= POOL_LIMIT:
        sys.exit("overhead_app: OVERHEAD_POOL_THREADS must be an integer from 0 to %d, got %r"
                 % (POOL_LIMIT, text))
    return n


POOL_THREADS = _pool_threads()

app = FastAPI(title="spyagent overhead benchmark target")


@app.on_event("startup")
async def fill_thread_pool():
    """Raise the pool's limit and start POOL_THREADS workers that stay idle.

    A barrier makes every job wait for all the others, so anyio has to start
    one worker per job; once released they all go back to the idle pool.
    """
    anyio.to_thread.current_default_thread_limiter().total_tokens = POOL_LIMIT
    try:
        from anyio._backends import _asyncio as backend
        backend.WorkerThread.MAX_IDLE_TIME = 3600
    except (ImportError, AttributeError):
        print("overhead_app: cannot raise anyio's idle-worker timeout; idle pool threads "
              "may be retired after 10 s", file=sys.stderr)
    if POOL_THREADS:
        barrier = threading.Barrier(POOL_THREADS)
        await asyncio.gather(*(anyio.to_thread.run_sync(barrier.wait, 30)
                               for _ in range(POOL_THREADS)))


# ------------------------------------------------------------------ /cpu

def descend(levels):
    """One Python frame per level; the deepest one does the work."""
    if levels > 0:
        return descend(levels - 1)
    return crunch(CPU_LOOPS)


def crunch(n):
    """A short pure-Python loop (integer arithmetic, no C calls to speak of)."""
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1000003
    return acc


@app.get("/cpu")
async def cpu():
    return {"result": descend(RECURSION)}


# ------------------------------------------------------------------ /json

class Item(BaseModel):
    id: int
    name: str
    price: float
    tags: List[str]
    in_stock: bool


@app.get("/json", response_model=List[Item])
async def json_items():
    return [Item(id=i, name="item-%d" % i, price=i * 1.25, tags=["t%d" % (i % 7), "bench"],
                 in_stock=i % 3 != 0)
            for i in range(JSON_ITEMS)]


# ----------------------------------------------------------------- /await

@app.get("/await")
async def await_route():
    await asyncio.sleep(0.005)
    return {"total": sum(i * i for i in range(50))}


# ------------------------------------------------------------------ /sync

@app.get("/sync")
def sync_route():
    return {"total": sum(i * i for i in range(200))}
