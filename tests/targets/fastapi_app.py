"""Target: a small FastAPI service with CPU-heavy endpoints.

    LD_PRELOAD=.../libspyagent.so PYTHONPATH=.../build/agent \
        python3.11 -m uvicorn fastapi_app:app --port PORT --app-dir tests/targets

Endpoints:
  GET /health        readiness probe
  GET /cpu?n=N       cpu_work(): a sync endpoint (runs in the threadpool) that
                     burns CPU in pure Python
  GET /json?n=N      json_work(): an async endpoint (runs on the event loop)
                     that builds a payload in pure Python
  GET /_spy/top      spyagent.top(limit) from the agent that LD_PRELOAD started
                     (stands in for the WebSocket server until it exists)
  GET /_spy/status   spyagent.status()
  GET /_spy/expect    name, file and first line (co_firstlineno) of the two
                     endpoint functions, from their code objects
  GET /spawn?seconds=S  start another Python (this interpreter, sleeping S
                     seconds) with the app's environment; returns its pid
Needs Debian's python3-fastapi and python3-uvicorn.
"""

import subprocess
import sys

from fastapi import FastAPI

import spyagent

app = FastAPI()


@app.get("/health")
async def health():
    return {"ok": True}


@app.get("/cpu")
def cpu_work(n: int = 200000):
    acc = 0
    for i in range(n):
        acc = (acc + i * i) % 1000003
    return {"result": acc}


@app.get("/json")
async def json_work(n: int = 3000):
    items = []
    for i in range(n):
        items.append({"id": i, "name": "item-%d" % i, "even": i % 2 == 0})
    return {"count": len(items), "last": items[-1]}


@app.get("/_spy/top")
def spy_top(limit: int = 50):
    return spyagent.top(limit)


@app.get("/_spy/status")
def spy_status():
    return spyagent.status()


@app.get("/_spy/expect")
def spy_expect():
    out = {}
    for func in (cpu_work, json_work):
        code = func.__code__
        out[code.co_name] = {"function": getattr(code, "co_qualname", code.co_name),
                             "file": code.co_filename, "line": code.co_firstlineno}
    return out


_spawned = []


@app.get("/spawn")
def spawn(seconds: float = 30.0):
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(%r)" % seconds])
    _spawned.append(p)
    return {"pid": p.pid}
