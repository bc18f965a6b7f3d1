"""Target: N asyncio tasks waiting in a chain of coroutines, for the task view.

    python tasks_chain.py N SECONDS

Each of the N worker tasks loops `worker -> middle -> leaf_wait ->
asyncio.sleep(0.05)` for SECONDS; the main task (asyncio.run's) waits in
gather meanwhile.  So at any moment N + 1 tasks are pending: N in the
chain (waiting, or ready for a moment when a sleep ends) and the main one.
Prints "workers started" once they run.
"""

import asyncio
import sys
import time


async def leaf_wait():
    await asyncio.sleep(0.05)


async def middle():
    await leaf_wait()


async def worker(until):
    while time.monotonic() < until:
        await middle()


async def main(n, seconds):
    until = time.monotonic() + seconds
    tasks = [asyncio.ensure_future(worker(until)) for _ in range(n)]
    print("workers started", flush=True)
    await asyncio.gather(*tasks)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
