"""Target: many asyncio tasks at once and a fast churn of short ones.

    python tasks_stress.py SLEEPERS RATE SECONDS

SLEEPERS tasks wait for the whole run in sleeper -> nap -> asyncio.sleep;
meanwhile about RATE short tasks a second are created (in batches every
10 ms), each awaiting asyncio.sleep(0) once and ending.  At the end every
task is cancelled and one line is printed:
    SPYTEST-RESULT {"sleepers": .., "created": .., "seconds": ..}
"""

import asyncio
import json
import sys
import time


async def nap():
    await asyncio.sleep(3600)


async def sleeper():
    await nap()


async def short():
    await asyncio.sleep(0)


async def main(sleepers, rate, seconds):
    long_lived = [asyncio.ensure_future(sleeper()) for _ in range(sleepers)]
    print("sleepers started", flush=True)
    live = set()
    created = 0
    t0 = time.monotonic()
    batch = max(1, rate // 100)
    while time.monotonic() - t0 < seconds:
        tick = time.monotonic()
        for _ in range(batch):
            t = asyncio.ensure_future(short())
            live.add(t)
            t.add_done_callback(live.discard)
        created += batch
        await asyncio.sleep(max(0.0, 0.01 - (time.monotonic() - tick)))
    elapsed = time.monotonic() - t0
    for t in long_lived:
        t.cancel()
    await asyncio.gather(*long_lived, return_exceptions=True)
    print("SPYTEST-RESULT " + json.dumps({"sleepers": sleepers, "created": created, "seconds": elapsed}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
