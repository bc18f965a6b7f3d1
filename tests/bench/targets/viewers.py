"""N WebSocket clients that connect to an agent and read every message,
like N viewers left open on a dashboard, until killed or SECONDS pass.

    python3 viewers.py PORT N SECONDS

Prints "connected N" once all are in, and at the end how many messages they
read. Debian's python3-websockets."""

import asyncio
import sys

import websockets


async def viewer(url, counts, i):
    for _ in range(100):
        try:
            async with websockets.connect(url, ping_interval=None, max_size=None) as ws:
                counts[i] = 0
                async for _ in ws:
                    counts[i] += 1
            return
        except OSError:
            await asyncio.sleep(0.1)


async def main():
    port, n, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    url = "ws://127.0.0.1:%d/" % port
    counts = {}
    tasks = [asyncio.ensure_future(viewer(url, counts, i)) for i in range(n)]
    for _ in range(200):
        if len(counts) == n:
            break
        await asyncio.sleep(0.05)
    print("connected %d" % len(counts), flush=True)
    await asyncio.sleep(seconds)
    for t in tasks:
        t.cancel()
    print("messages read: %d" % sum(counts.values()), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
