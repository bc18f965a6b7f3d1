"""Target: everything that makes a GIL-free stack walker's life hard, at once.

    python stress.py SECONDS

For SECONDS, concurrently:
  - thread churn: threads started and ending all the time (short lives, a few
    at once, each doing a little of everything below);
  - generators: nested generator pipelines and generator expressions;
  - exceptions: raised deep in a call chain and caught, with tracebacks built;
  - recursion 900 frames deep, repeatedly, unwinding by return and by raise;
  - coroutines: an asyncio loop in its own thread with many tasks, async
    generators, and tasks being cancelled;
  - long C calls holding the GIL (sum over a big range, sorted);
  - a reader thread calling spyagent.top(), dump() and status() in a loop,
    so the API runs while the sampler does.

Then it prints one JSON line (marker SPYTEST-RESULT) with status(), counts of
what was done, and the size of a final top() and dump().  Exit code 0 means
every worker finished and joined; any exception in a worker makes it 1.
CPython 3.9+, standard library only.  Every loop is bounded by the deadline.
"""

import asyncio
import json
import os
import sys
import threading
import time

MARKER = "SPYTEST-RESULT "
DEPTH = 900

errors = []
counts = {}
counts_lock = threading.Lock()


def bump(key, n=1):
    with counts_lock:
        counts[key] = counts.get(key, 0) + n


def guarded(func):
    """Run func, recording any exception as a failure of the target."""
    def wrapper(*args):
        try:
            func(*args)
        except BaseException as e:  # noqa: B902 - a stress target reports everything
            import traceback
            errors.append("%s: %s\n%s" % (func.__name__, e, traceback.format_exc()))
    wrapper.__name__ = func.__name__
    return wrapper


# ------------------------------------------------------------------ recursion

def recurse(n):
    if n == 0:
        return 0
    return recurse(n - 1) + 1


class Deep(Exception):
    pass


def recurse_raise(n):
    if n == 0:
        raise Deep("bottom")
    return recurse_raise(n - 1)


def deep_work():
    assert recurse(DEPTH) == DEPTH
    try:
        recurse_raise(DEPTH)
    except Deep:
        pass
    bump("deep")


# ------------------------------------------------------------------ generators

def numbers(n):
    for i in range(n):
        yield i


def squares(gen):
    for x in gen:
        yield x * x


def evens(gen):
    for x in gen:
        if x % 2 == 0:
            yield x


def delegating(n):
    yield from evens(squares(numbers(n)))


def generator_work():
    total = sum(delegating(2000))
    total += sum(x for x in (y * 3 for y in range(500)) if x & 1)
    g = numbers(10 ** 6)
    next(g)
    g.close()  # a suspended generator torn down mid-way
    bump("generators")
    return total


# ------------------------------------------------------------------ exceptions

class Boom(ValueError):
    pass


def level3(i):
    if i % 3 == 0:
        raise Boom(i)
    if i % 3 == 1:
        return {}["missing"]
    return 1 // 0


def level2(i):
    try:
        return level3(i)
    finally:
        pass


def level1(i):
    return level2(i)


def exception_work():
    caught = 0
    for i in range(200):
        try:
            level1(i)
        except (Boom, KeyError, ZeroDivisionError) as e:
            caught += 1
            _ = e.__traceback__
        try:
            try:
                raise KeyError(i)
            except KeyError as e:
                raise RuntimeError("chained") from e
        except RuntimeError:
            caught += 1
    bump("exceptions", caught)


# ------------------------------------------------------------------ C calls

def long_c_call():
    sum(range(3 * 10 ** 6))
    sorted(range(200000, 0, -1))
    bump("c_calls")


# ------------------------------------------------------------------ threads

def short_lived(i):
    if i % 4 == 0:
        deep_work()
    elif i % 4 == 1:
        generator_work()
    elif i % 4 == 2:
        exception_work()
    else:
        time.sleep(0.001)
    bump("short_threads")


@guarded
def churn(deadline):
    i = 0
    live = []
    while time.monotonic() < deadline:
        live = [t for t in live if t.is_alive()]
        if len(live) < 6:
            t = threading.Thread(target=guarded(short_lived), args=(i,), name="churn-%d" % i, daemon=True)
            t.start()
            live.append(t)
            i += 1
        else:
            time.sleep(0.0005)
    for t in live:
        t.join(30)
        if t.is_alive():
            errors.append("thread %s did not finish" % t.name)


def tiny(i):
    sum(range(i % 100))
    bump("tiny_threads")


@guarded
def churn_light(deadline):
    """Threads that live for a moment: start, a few bytecodes, gone."""
    i = 0
    live = []
    while time.monotonic() < deadline:
        live = [t for t in live if t.is_alive()]
        if len(live) < 10:
            t = threading.Thread(target=tiny, args=(i,), name="tiny-%d" % i, daemon=True)
            t.start()
            live.append(t)
            i += 1
        else:
            time.sleep(0.0002)
    for t in live:
        t.join(30)
        if t.is_alive():
            errors.append("thread %s did not finish" % t.name)


@guarded
def mixed(deadline):
    k = 0
    while time.monotonic() < deadline:
        (deep_work, generator_work, exception_work, long_c_call)[k % 4]()
        k += 1


# ------------------------------------------------------------------ asyncio

async def agen(n):
    for i in range(n):
        await asyncio.sleep(0)
        yield i


async def coro_leaf(i):
    await asyncio.sleep(0)
    s = 0
    async for x in agen(20):
        s += x
    if i % 7 == 0:
        raise Boom(i)
    return s


async def coro_mid(i):
    try:
        return await coro_leaf(i)
    except Boom:
        return -1


async def sleeper_task():
    await asyncio.sleep(10)


async def async_main(deadline):
    rounds = 0
    while time.monotonic() < deadline:
        results = await asyncio.gather(*(coro_mid(i) for i in range(50)))
        assert len(results) == 50
        doomed = [asyncio.ensure_future(sleeper_task()) for _ in range(10)]
        await asyncio.sleep(0)
        for t in doomed:
            t.cancel()
        await asyncio.gather(*doomed, return_exceptions=True)
        rounds += 1
    bump("async_rounds", rounds)


@guarded
def asyncio_thread(deadline):
    asyncio.run(async_main(deadline))


# ------------------------------------------------------------------ API reader

@guarded
def api_reader(deadline, spyagent):
    n = 0
    while time.monotonic() < deadline:
        rows = spyagent.top(20)
        assert isinstance(rows, list)
        d = spyagent.dump()
        assert isinstance(d, list)
        st = spyagent.status()
        assert isinstance(st, dict)
        n += 1
        time.sleep(0.02)
    bump("api_reads", n)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    sys.setrecursionlimit(max(sys.getrecursionlimit(), DEPTH + 200))
    sys.setswitchinterval(0.0005)  # more GIL hand-offs: faster thread churn, more interleavings
    threading.stack_size(16 * 1024 * 1024)  # room for 900 frames on 3.9/3.10 in any thread
    import spyagent  # the agent LD_PRELOAD already started
    t0 = time.monotonic()
    deadline = t0 + seconds
    workers = [
        threading.Thread(target=churn, args=(deadline,), name="churn"),
        threading.Thread(target=mixed, args=(deadline,), name="mixed-1"),
        threading.Thread(target=churn_light, args=(deadline,), name="churn-light"),
        threading.Thread(target=asyncio_thread, args=(deadline,), name="asyncio"),
        threading.Thread(target=api_reader, args=(deadline, spyagent), name="api-reader"),
    ]
    for t in workers:
        t.start()
    # The main thread does its share too.
    guarded(mixed)(deadline)
    for t in workers:
        t.join(max(60.0, seconds))
        if t.is_alive():
            errors.append("worker %s did not finish" % t.name)
    result = {
        "seconds": time.monotonic() - t0,
        "counts": counts,
        "errors": errors,
        "status": spyagent.status(),
        "top_rows": len(spyagent.top(50)),
        "dump_threads": len(spyagent.dump()),
        "pid": os.getpid(),
    }
    sys.stdout.write(MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
