"""Target of test_task_reader.py: plain asyncio programs of the issue's shapes.

    task_shapes.py MODE LOOP DIR
      MODE  import   a thread of this process reads the tasks with spyagent.tasks()
            preload  the test reads them with the WebSocket `tasks` command
            fork     import, then fork: the child runs phase A on a loop of its own
      LOOP  asyncio | uvloop
      DIR   a directory for the go files the test creates (preload mode)

Phase A: a task awaiting two helper coroutines then asyncio.sleep
("route-task", named by the user), a gather of three sleeps, a task awaiting
another task, default-named sleepers; the main task awaits a worker thread.
While every task is suspended, the worker thread prints Python's own view of
every task (SPYTEST-TRUTH-A: id, coroutine chain from cr_await with
function/file/line innermost first, what the task's _fut_waiter is, who awaits
it) and, in import mode, what spyagent.tasks() read (SPYTEST-READ-A).
Names are printed after the read (SPYTEST-NAMES): get_name() turns 3.12's
int names into str, and the read must format them itself.

Phase B: a task burning CPU in a sync helper (burn() under cpu_route()) holds
the loop while a task created just before it has not started, a task whose
future the burner completed waits for the loop to run it, and a task that
yields with asyncio.sleep(0) waits for its next turn (both "ready"); the
main task awaits the burner.  SPYTEST-TRUTH-B says what is expected; the tasks are read
(by a thread here, or by the test) while burn() runs; then burn() ends.
"""

import asyncio
import json
import os
import sys
import threading
import time

MODE, LOOP, DIR = sys.argv[1], sys.argv[2], sys.argv[3]
if MODE in ("import", "fork"):
    import spyagent

LONG = 120.0


def say(tag, obj):
    print("%s %s" % (tag, json.dumps(obj)), flush=True)


def name_of(code):
    return getattr(code, "co_qualname", code.co_name)


def chain(task):
    """Coroutine frames of a task, innermost first, following cr_await."""
    frames = []
    c = task.get_coro()
    for _ in range(200):
        frame = getattr(c, "cr_frame", None) or getattr(c, "gi_frame", None)
        if frame is None:
            break
        frames.append([name_of(frame.f_code), frame.f_code.co_filename, frame.f_lineno])
        c = getattr(c, "cr_await", None) if hasattr(c, "cr_await") else getattr(c, "gi_yieldfrom", None)
        if c is None:
            break
    return frames[::-1]


def type_name(obj):
    if obj is None:
        return None
    t = type(obj)
    return t.__name__ if t.__module__ not in ("_asyncio", "asyncio.futures", "asyncio.tasks") \
        or t.__name__ == "_GatheringFuture" else "_asyncio." + t.__name__


def truth(loop):
    for _ in range(50):
        try:
            tasks = list(asyncio.all_tasks(loop))
            break
        except RuntimeError:        # the set changed while we iterated
            time.sleep(0.01)
    out = {}
    for t in tasks:
        w = t._fut_waiter
        out[hex(id(t))] = {"frames": chain(t), "awaiting": type_name(w),
                           "waiter": hex(id(w)) if isinstance(w, asyncio.Task) else None}
    for tid, info in out.items():
        info["awaited_by"] = next((other for other, o in out.items() if o["waiter"] == tid), None)
    return out


def read_until(want_ids, tag, running=None, timeout=30.0):
    """spyagent.tasks() until every task in want_ids is there (the roots are
    found within about a second) and, if given, the task `running` runs."""
    deadline = time.monotonic() + timeout
    got = []
    while time.monotonic() < deadline:
        got = spyagent.tasks()
        states = {t["id"]: t["state"] for t in got}
        if set(want_ids) <= set(states) and (running is None or states[running] == "running"):
            break
        time.sleep(0.05)
    say(tag, got)


def wait_file(path, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)


async def h2():
    await asyncio.sleep(LONG)


async def h1():
    await h2()


async def route():
    await h1()


async def sleeper():
    await asyncio.sleep(LONG)


async def gathered():
    await asyncio.gather(sleeper(), sleeper(), sleeper())


async def waits_for(task):
    await task


async def not_started():
    await asyncio.sleep(LONG)


def burn(stop):
    n = 0
    deadline = time.monotonic() + 90
    while not stop.is_set() and time.monotonic() < deadline:    # BURN-LOOP
        n += 1                                                  # BURN-BODY
        if n % 1000 == 0 and os.path.exists(os.path.join(DIR, "stop-b")):
            stop.set()
    return n


async def yielder():
    while True:
        await asyncio.sleep(0)


async def cpu_route(stop, fut):
    fut.set_result(None)        # its waiter is ready from now on, but the loop is held
    return burn(stop)                                           # CPU-CALL


def phase_a(loop):
    time.sleep(0.3)                 # the main task reaches its await
    t = truth(loop)
    say("SPYTEST-TRUTH-A", t)
    if MODE == "import":
        read_until(t.keys(), "SPYTEST-READ-A")
    else:
        wait_file(os.path.join(DIR, "go-a"))


def phase_b_reader(want, stop):
    read_until(want, "SPYTEST-READ-B", running=want[0])
    stop.set()


async def main():
    loop = asyncio.get_running_loop()
    keep = [asyncio.create_task(route(), name="route-task"), asyncio.create_task(gathered())]
    keep.append(asyncio.create_task(waits_for(keep[0]), name="waiter"))
    keep += [asyncio.create_task(sleeper()) for _ in range(2)]
    await asyncio.sleep(0.3)
    await loop.run_in_executor(None, phase_a, loop)
    say("SPYTEST-NAMES", {hex(id(t)): t.get_name() for t in asyncio.all_tasks()})

    stop = threading.Event()
    me = asyncio.current_task()
    fut = loop.create_future()
    ready = asyncio.create_task(waits_for(fut), name="ready-waiter")
    spinner = asyncio.create_task(yielder(), name="yielder")
    await asyncio.sleep(0.05)
    burner = asyncio.create_task(cpu_route(stop, fut), name="burner")
    created = asyncio.create_task(not_started(), name="created")
    say("SPYTEST-TRUTH-B", {"main": hex(id(me)), "burner": hex(id(burner)), "created": hex(id(created)),
                            "ready": hex(id(ready)), "yielder": hex(id(spinner)),
                            "created_frames": chain(created), "file": __file__})
    if MODE == "import":
        threading.Thread(target=phase_b_reader, args=([hex(id(burner)), hex(id(created))], stop),
                         daemon=True).start()
    n = await burner                                            # MAIN-AWAIT
    created.cancel()
    spinner.cancel()
    for t in keep:
        t.cancel()
    say("SPYTEST-DONE", {"burned": n})


async def child_main():
    """In a fork child: its own loop and tasks, read from a thread."""
    kids = [asyncio.create_task(route(), name="child-%d" % i) for i in range(3)]
    await asyncio.sleep(0.3)
    await asyncio.get_running_loop().run_in_executor(None, phase_a, asyncio.get_running_loop())
    for t in kids:
        t.cancel()


if LOOP == "uvloop":
    import uvloop
    uvloop.install()
if MODE == "fork":
    # the parent reads its tasks, ends its loop, forks; the child runs a
    # loop of its own: the roots must follow it into the child
    import spyagent
    MODE = "import"
    asyncio.run(main())
    pid = os.fork()
    if pid == 0:
        print("SPYTEST-CHILD", flush=True)
        asyncio.run(child_main())
        sys.stdout.flush()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    say("SPYTEST-CHILD-EXIT", {"status": status})
else:
    asyncio.run(main())
