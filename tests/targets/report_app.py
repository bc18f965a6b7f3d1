"""Target: a FastAPI service with one endpoint per kind of work, for the
report tests (tests/integration/test_reports.py).

    python3.11 report_app.py PORT [LOOP]   (uvicorn on 127.0.0.1:PORT; LOOP: auto,
                                            asyncio or uvloop, as uvicorn --loop)

Endpoints:
  GET /health       readiness probe
  GET /db           orders_report(): a sync endpoint (threadpool) that runs
                    sqlite3 queries through OrderRepository, one query per
                    customer (an N+1 pattern) on a table without an index
  GET /cache        cached_prices(): an async endpoint (event loop) doing
                    thousands of lookups in a pure-Python TTLCache
  GET /json         json_roundtrip(): an async endpoint that encodes and
                    decodes a large document with the json module
  GET /cpu          crunch(): a sync endpoint burning CPU in pure Python
  GET /sleep        sleepy(): an async endpoint calling time.sleep, which
                    blocks the event loop without using the CPU
Needs Debian's python3-fastapi and python3-uvicorn.
"""

import json
import os
import sqlite3
import sys
import tempfile
import threading
import time

from fastapi import FastAPI

app = FastAPI()

DB_PATH = os.path.join(tempfile.mkdtemp(prefix="report-app-"), "shop.db")


def _setup_db():
    con = sqlite3.connect(DB_PATH)
    con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, amount REAL, note TEXT)")
    con.executemany("INSERT INTO orders (customer, amount, note) VALUES (?, ?, ?)",
                    ((i % 500, (i * 37) % 1000 / 10.0, "order-%d" % i) for i in range(60000)))
    con.commit()
    con.close()


class OrderRepository(object):
    """Data access: one connection per thread."""

    _local = threading.local()

    def _con(self):
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = sqlite3.connect(DB_PATH)
        return con

    def customers(self, limit):
        return [r[0] for r in self._con().execute(
            "SELECT DISTINCT customer FROM orders ORDER BY customer LIMIT ?", (limit,))]

    def total_for(self, customer):
        row = self._con().execute(
            "SELECT COUNT(*), SUM(amount) FROM orders WHERE customer = ? AND note LIKE '%1%'",
            (customer,)).fetchone()
        return row[1] or 0.0


class TTLCache(object):
    """A small pure-Python cache with expiry."""

    def __init__(self, ttl):
        self.ttl = ttl
        self.data = {}

    def get(self, key):
        entry = self.data.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires < time.monotonic():
            del self.data[key]
            return None
        return value

    def put(self, key, value):
        self.data[key] = (value, time.monotonic() + self.ttl)

    def key_for(self, product, region):
        return "price:%s:%s" % (product, region)

    def get_or_load(self, product, region, load):
        key = self.key_for(product, region)
        value = self.get(key)
        if value is None:
            value = load(product)
            self.put(key, value)
            return value, False
        return value, True


repo = OrderRepository()
prices = TTLCache(ttl=60.0)


@app.get("/health")
async def health():
    return {"ok": True}


@app.get("/db")
def orders_report(customers: int = 25):
    totals = {}
    for c in repo.customers(customers):
        totals[c] = repo.total_for(c)
    return {"customers": len(totals), "sum": round(sum(totals.values()), 2)}


@app.get("/cache")
async def cached_prices(n: int = 40000):
    hits = sum(prices.get_or_load(i % 400, i % 7, _price)[1] for i in range(n))
    return {"lookups": n, "hits": hits}


def _price(product):
    return product * 0.5


@app.get("/json")
async def json_roundtrip(n: int = 700):
    doc = {"items": [{"id": i, "name": "item-%d" % i, "tags": ["a", "b", "c"], "price": i * 1.5,
                      "nested": {"x": i, "y": [i, i + 1]}} for i in range(n)]}
    text = json.dumps(doc, indent=1, sort_keys=True)
    back = json.loads(text)
    text2 = json.dumps(back, indent=1, sort_keys=True)
    return {"bytes": len(text) + len(text2)}


@app.get("/cpu")
def crunch(n: int = 150000):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i * i) % 1000003
    return {"result": acc}


@app.get("/sleep")
async def sleepy(ms: int = 200):
    time.sleep(ms / 1000.0)        # a synchronous wait inside async def: the loop stalls
    return {"slept_ms": ms}


if __name__ == "__main__":
    import uvicorn

    _setup_db()
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                loop=sys.argv[2] if len(sys.argv) > 2 else "auto")
