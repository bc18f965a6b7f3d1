"""A plain asyncio program for the event-loop blocking tests: a coroutine
that blocks its loop with time.sleep(0.3) N times, 0.2 s apart (awaited),
while another task keeps awaiting short sleeps.  Prints READY once the loop
runs, then (when spyagent can be imported) BLOCKS and spyagent.blocks() as
JSON, and DONE; waits for a line on stdin before it exits, so
the test can ask the agent while it is still there.

    python blocks_asyncio.py N
"""
import asyncio
import sys
import time


def hold_the_loop():
    time.sleep(0.3)


async def blocker(n):
    for _ in range(n):
        await asyncio.sleep(0.2)
        hold_the_loop()


async def ticker(stop):
    while not stop.is_set():
        await asyncio.sleep(0.01)


async def main(n):
    stop = asyncio.Event()
    t = asyncio.ensure_future(ticker(stop))
    print("READY", flush=True)
    await asyncio.sleep(1.0)   # the agent finds the task registries while the loop idles
    await asyncio.get_event_loop().create_task(blocker(n), name="blocker-task")
    await asyncio.sleep(0.5)
    stop.set()
    await t
    await asyncio.sleep(0.3)   # let the sampler see the loop back in its selector
    try:
        import json
        import spyagent
        print("BLOCKS " + json.dumps(spyagent.blocks()), flush=True)
    except ImportError:
        pass
    print("DONE", flush=True)
    await asyncio.get_event_loop().run_in_executor(None, sys.stdin.readline)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
