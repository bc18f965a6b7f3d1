"""spyagent demo app: a small FastAPI service whose endpoints each spend their
time in a different way, so that a profile of it has something to show.

Run it (Debian's Python has fastapi and uvicorn):

    /usr/bin/python3.11 -m uvicorn main:app --app-dir examples

and profile it by preloading the agent:

    LD_PRELOAD=build/agent/libspyagent.so \\
        /usr/bin/python3.11 -m uvicorn main:app --app-dir examples

Drive it with ``python3 examples/load.py --url http://127.0.0.1:8000``.

Endpoints and where their time goes:

    GET /cpu    sync  (threadpool)  pure-Python number crunching, ~5-20 ms
    GET /json   async (event loop)  building and json.dumps-ing a big document
    GET /db     sync  (threadpool)  sqlite3 queries, including an N+1 loop
    GET /cache  sync  (threadpool)  functools.lru_cache and a hand-made dict cache
    GET /sleep  async (event loop)  asyncio.sleep: waiting, not working
    GET /hash   sync  (threadpool)  hashlib.pbkdf2_hmac: time inside a C call
    GET /       async               this list

Only the standard library and FastAPI are used. Functions are deliberately
small and named for what they do, so each shows up as its own row in
``spyagent.top()`` and as its own box in a flame graph.
"""

import asyncio
import functools
import hashlib
import json
import random
import sqlite3
import threading
import time

from fastapi import FastAPI, Query

app = FastAPI(
    title="spyagent demo",
    description="Endpoints that each spend time differently, for profiling.",
)


# --------------------------------------------------------------------------
# GET /cpu: pure-Python CPU work on a threadpool thread
# --------------------------------------------------------------------------

def is_prime(n):
    """Trial division; slow on purpose so the loop shows in profiles."""
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    d = 3
    while d * d <= n:
        if n % d == 0:
            return False
        d += 2
    return True


def count_primes(limit):
    """Count the primes below ``limit`` one by one."""
    return sum(1 for n in range(limit) if is_prime(n))


def fib(n):
    """Naive recursive Fibonacci: deep, narrow, very recognisable stacks."""
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def mandelbrot_rows(width, height, max_iter):
    """Iterations per point of a small Mandelbrot grid (float arithmetic)."""
    total = 0
    for y in range(height):
        ci = 2.0 * y / height - 1.0
        for x in range(width):
            c = complex(3.0 * x / width - 2.0, ci)
            z = 0j
            for i in range(max_iter):
                z = z * z + c
                if abs(z) > 2.0:
                    break
            total += i
    return total


@app.get("/cpu")
def cpu(scale: int = Query(1, ge=1, le=20, description="work multiplier")):
    """Pure-Python CPU work: primes, recursion and floats (~5-20 ms at scale=1).

    A plain ``def`` endpoint, so FastAPI runs it on its threadpool and it holds
    the GIL for its whole duration.
    """
    started = time.perf_counter()
    primes = count_primes(15000 * scale)
    f = fib(20 + min(scale, 6))
    m = mandelbrot_rows(48 * scale, 24, 60)
    return {
        "primes": primes,
        "fib": f,
        "mandelbrot": m,
        "ms": round((time.perf_counter() - started) * 1000, 2),
    }


# --------------------------------------------------------------------------
# GET /json: building and serialising a document on the event loop
# --------------------------------------------------------------------------

def make_order(i, rnd):
    """One order with a few nested line items."""
    return {
        "id": i,
        "customer": "customer-%d" % rnd.randrange(1000),
        "status": rnd.choice(("new", "paid", "shipped", "returned")),
        "items": [
            {"sku": "SKU-%05d" % rnd.randrange(100000),
             "qty": rnd.randrange(1, 5),
             "price": round(rnd.uniform(1, 500), 2),
             "tags": ["tag%d" % rnd.randrange(20) for _ in range(3)]}
            for _ in range(rnd.randrange(1, 6))
        ],
    }


def build_document(n):
    """A report-like document: ``n`` orders plus a computed summary."""
    rnd = random.Random(n)
    orders = [make_order(i, rnd) for i in range(n)]
    revenue = sum(it["qty"] * it["price"] for o in orders for it in o["items"])
    return {"orders": orders, "summary": {"count": n, "revenue": round(revenue, 2)}}


@app.get("/json")
async def json_endpoint(n: int = Query(300, ge=1, le=20000, description="orders")):
    """Build a nested document of ``n`` orders and ``json.dumps`` it.

    An ``async def`` endpoint: the work runs on the event loop thread and
    blocks it, which is exactly what a profile should make visible.
    """
    doc = build_document(n)
    text = json.dumps(doc, indent=1, sort_keys=True)
    return {"orders": n, "bytes": len(text)}


# --------------------------------------------------------------------------
# GET /db: sqlite3, including the classic N+1 query pattern
# --------------------------------------------------------------------------

# A shared-cache in-memory database: every connection in this process that
# opens this URI sees the same data, and nothing is left on disk. The keeper
# connection holds it alive for the life of the process.
DB_URI = "file:spyagent_demo?mode=memory&cache=shared"
_db_keeper = sqlite3.connect(DB_URI, uri=True, check_same_thread=False)
_db_local = threading.local()


def seed_database(conn, customers=500, orders=5000):
    """Create and fill the tables once, at import time."""
    rnd = random.Random(42)
    conn.executescript(
        """
        CREATE TABLE IF NOT EXISTS customers (
            id INTEGER PRIMARY KEY, name TEXT, country TEXT);
        CREATE TABLE IF NOT EXISTS orders (
            id INTEGER PRIMARY KEY, customer_id INTEGER, amount REAL, day INTEGER);
        """
    )
    if conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0]:
        return
    conn.executemany(
        "INSERT INTO customers VALUES (?, ?, ?)",
        [(i, "customer-%d" % i, rnd.choice(("DE", "FR", "US", "JP", "BR")))
         for i in range(customers)],
    )
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?)",
        [(i, rnd.randrange(customers), round(rnd.uniform(1, 900), 2), rnd.randrange(365))
         for i in range(orders)],
    )
    conn.commit()


seed_database(_db_keeper)


def db_connection():
    """One connection per threadpool thread (sqlite3 objects are per-thread)."""
    conn = getattr(_db_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(DB_URI, uri=True)
        _db_local.conn = conn
    return conn


def revenue_by_country(conn):
    """One aggregate query: the efficient way."""
    return conn.execute(
        "SELECT c.country, COUNT(*), ROUND(SUM(o.amount), 2) "
        "FROM orders o JOIN customers c ON c.id = o.customer_id "
        "GROUP BY c.country ORDER BY 3 DESC"
    ).fetchall()


def recent_orders(conn, limit):
    """The N in N+1: fetch a page of orders..."""
    return conn.execute(
        "SELECT id, customer_id, amount FROM orders ORDER BY day DESC, id LIMIT ?",
        (limit,),
    ).fetchall()


def customer_name(conn, customer_id):
    """...the +1: one query per order to look up its customer."""
    row = conn.execute("SELECT name FROM customers WHERE id = ?", (customer_id,)).fetchone()
    return row[0] if row else None


@app.get("/db")
def db(limit: int = Query(200, ge=1, le=5000, description="orders in the N+1 loop")):
    """sqlite3 work: one aggregate query, then an N+1 loop over recent orders."""
    conn = db_connection()
    by_country = revenue_by_country(conn)
    orders = recent_orders(conn, limit)
    named = [(oid, customer_name(conn, cid), amount) for oid, cid, amount in orders]
    return {
        "countries": [{"country": c, "orders": n, "revenue": r} for c, n, r in by_country],
        "orders": len(named),
        "first": named[:3],
    }


# --------------------------------------------------------------------------
# GET /cache: functools.lru_cache next to a hand-made dict cache
# --------------------------------------------------------------------------

def expensive_score(key):
    """The work both caches avoid repeating (a few hundred multiplications)."""
    h = key
    for i in range(500):
        h = (h * 1103515245 + 12345 + i) & 0x7FFFFFFF
    return h


@functools.lru_cache(maxsize=256)
def score_lru(key):
    """``expensive_score`` behind ``functools.lru_cache`` (bounded, LRU)."""
    return expensive_score(key)


_dict_cache = {}
_dict_cache_lock = threading.Lock()
_DICT_CACHE_MAX = 256


def score_dict(key):
    """``expensive_score`` behind a plain dict, cleared when it gets full."""
    with _dict_cache_lock:
        if key in _dict_cache:
            return _dict_cache[key]
    value = expensive_score(key)
    with _dict_cache_lock:
        if len(_dict_cache) >= _DICT_CACHE_MAX:
            _dict_cache.clear()
        _dict_cache[key] = value
    return value


@app.get("/cache")
def cache(
    lookups: int = Query(200, ge=1, le=10000, description="lookups per cache"),
    keys: int = Query(400, ge=1, le=1000000, description="distinct keys to draw from"),
):
    """Look up random keys in both caches; with more keys than cache slots,
    some lookups miss and pay for ``expensive_score``."""
    rnd = random.Random()
    wanted = [rnd.randrange(keys) for _ in range(lookups)]
    total = 0
    for k in wanted:
        total += score_lru(k)
    for k in wanted:
        total += score_dict(k)
    info = score_lru.cache_info()
    return {
        "lookups": lookups,
        "checksum": total & 0xFFFF,
        "lru": {"hits": info.hits, "misses": info.misses, "size": info.currsize},
        "dict": {"size": len(_dict_cache)},
    }


# --------------------------------------------------------------------------
# GET /sleep: waiting on the event loop, which costs no CPU
# --------------------------------------------------------------------------

@app.get("/sleep")
async def sleep(ms: int = Query(50, ge=0, le=10000, description="milliseconds")):
    """``await asyncio.sleep``: the request takes time but no CPU, so a
    CPU-only profile should not blame it."""
    await asyncio.sleep(ms / 1000.0)
    return {"slept_ms": ms}


# --------------------------------------------------------------------------
# GET /hash: time spent inside one C call
# --------------------------------------------------------------------------

@app.get("/hash")
def hash_endpoint(
    iterations: int = Query(20000, ge=1, le=1000000, description="PBKDF2 iterations"),
):
    """``hashlib.pbkdf2_hmac``: the time is in C (OpenSSL), attributed to the
    Python line that called it."""
    salt = b"spyagent-demo-salt"
    key = hashlib.pbkdf2_hmac("sha256", b"correct horse battery staple", salt, iterations)
    return {"iterations": iterations, "key": key.hex()[:16]}


# --------------------------------------------------------------------------
# GET /: what is here
# --------------------------------------------------------------------------

ENDPOINTS = {
    "/cpu": "sync: pure-Python CPU work (primes, fib, mandelbrot), ~5-20 ms",
    "/json": "async: build a nested document and json.dumps it",
    "/db": "sync: sqlite3 aggregate query plus an N+1 query loop",
    "/cache": "sync: functools.lru_cache and a dict cache with misses",
    "/sleep": "async: asyncio.sleep, waiting without CPU",
    "/hash": "sync: hashlib.pbkdf2_hmac, time inside a C call",
}


@app.get("/")
async def index():
    """List the endpoints and what each one exercises."""
    return {"app": "spyagent demo", "endpoints": ENDPOINTS}
