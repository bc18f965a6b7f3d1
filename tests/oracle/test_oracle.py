"""test_oracle.py LIBRARY — run by the interpreter under test.

Parks threads with stacks of every kind the reader must follow (deep
recursion across data-stack chunks, generators, a coroutine, methods and
non-ASCII names, a threading.Thread with a non-ASCII name), then calls
spy_oracle_compare() in LIBRARY (tests/oracle/compare.c) with the GIL
released: the agent's table-driven reader and the oracle compiled against
this interpreter's headers must report the same threads, frames, code
objects, lines and thread names.  Exits 0 if they agree, 1 if not.
"""
import asyncio
import ctypes
import os
import sys
import threading
import time

park = threading.Event()
ready = []


def parked(tag):
    ready.append(tag)
    park.wait()


def deep(n, tag):
    a, b, c, d, e, f, g, h = range(8)  # locals make frames bigger: more chunks
    if n == 0:
        parked(tag)
        return a + b + c + d + e + f + g + h
    return deep(n - 1, tag) + 1


def gen(tag):
    yield parked(tag)


def run_gen(tag):
    for _ in gen(tag):
        pass


async def coro(tag):
    parked(tag)


def run_coro(tag):
    asyncio.run(coro(tag))


class Wörker:
    def métier_日本(self, tag):
        parked(tag)


def méthode(tag):
    Wörker().métier_日本(tag)


def main():
    # In the sanitizer build the ASan runtime must be loaded first (as the
    # harness does for the integration tests): start again with it.
    asan = os.environ.get("SPY_ASAN_RUNTIME", "")
    if asan and asan not in os.environ.get("LD_PRELOAD", ""):
        os.environ["LD_PRELOAD"] = asan
        os.execv(sys.executable, [sys.executable] + sys.argv)
    lib = ctypes.CDLL(sys.argv[1])
    lib.spy_oracle_compare.argtypes = [ctypes.c_char_p, ctypes.c_size_t,
                                       ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)]
    jobs = [
        ("deep", lambda: deep(180, "deep")),
        ("gen", lambda: run_gen("gen")),
        ("coro", lambda: run_coro("coro")),
        ("Nébuleuse-𝄞", lambda: méthode("Nébuleuse-𝄞")),
        ("shallow", lambda: parked("shallow")),
    ]
    threads = [threading.Thread(target=fn, name=name) for name, fn in jobs]
    for t in threads:
        t.start()
    while len(ready) < len(jobs):
        time.sleep(0.01)
    time.sleep(0.3)  # from ready.append to park.wait() takes a few instructions
    err = ctypes.create_string_buffer(512)
    nthreads, nframes = ctypes.c_int(), ctypes.c_int()
    failures = []
    for attempt in range(3):
        rc = lib.spy_oracle_compare(err, len(err), ctypes.byref(nthreads), ctypes.byref(nframes))
        if rc == 0:
            break
        failures.append(err.value.decode(errors="replace"))
        time.sleep(0.2)
    timing = None
    if rc == 0 and os.environ.get("SPY_ORACLE_TIME"):
        # not a check: how long one fresh walk takes with each reader
        lib.spy_oracle_time.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double)]
        a, b = ctypes.c_double(), ctypes.c_double()
        if lib.spy_oracle_time(int(os.environ["SPY_ORACLE_TIME"]), ctypes.byref(a), ctypes.byref(b)) == 0:
            timing = (a.value / 1000, b.value / 1000)
    park.set()
    for t in threads:
        t.join()
    if timing:
        print("time %s: one fresh walk of every thread: tables %.1f us, oracle %.1f us"
              % (sys.version.split()[0], timing[0], timing[1]))
    if rc != 0:
        print("FAIL %s: the table reader and the oracle differ: %s" % (sys.version.split()[0], "; ".join(failures)))
        return 1
    if nthreads.value < len(jobs) + 1 or nframes.value < 180:
        print("FAIL %s: only %d threads, %d frames compared" % (sys.version.split()[0], nthreads.value, nframes.value))
        return 1
    print("ok %s: %d threads, %d frames identical in both readers (attempt %d)"
          % (sys.version.split()[0], nthreads.value, nframes.value, len(failures) + 1))
    return 0


sys.exit(main())
