"""Benchmark target: N asyncio tasks pending while the agent snapshots them.

    python pending_tasks.py N SECONDS [WARMUP]

N tasks wait in sleeper -> nap -> asyncio.sleep for the whole run (the main
task waits in asyncio.sleep too, so with N = 0 the loop still runs).  After
WARMUP seconds (default 2) it measures, over SECONDS, the CPU time of the
agent's threads (those named spy-*, from /proc/self/task) and prints one
JSON line: that CPU as a share of one core, and spyagent.status()'s task
figures at the end.
"""

import asyncio
import glob
import json
import os
import sys
import time

import spyagent

TICKS = os.sysconf("SC_CLK_TCK")


def agent_cpu():
    total = 0
    for task in glob.glob("/proc/self/task/*"):
        try:
            with open(task + "/comm") as f:
                if not f.read().startswith("spy-"):
                    continue
            with open(task + "/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])      # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / TICKS


async def nap():
    await asyncio.sleep(3600)


async def sleeper():
    await nap()


async def main(n, seconds, warmup):
    tasks = [asyncio.ensure_future(sleeper()) for _ in range(n)]
    await asyncio.sleep(warmup)
    st0 = spyagent.status()
    c0, w0 = agent_cpu(), time.monotonic()
    await asyncio.sleep(seconds)
    c1, w1 = agent_cpu(), time.monotonic()
    st = spyagent.status()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    out = {k: st[k] for k in ("tasks", "tasks_walked", "task_cost_us", "task_rate", "task_effective_rate",
                              "effective_rate", "sample_cost_us")}
    out["agent_cpu_pct"] = 100.0 * (c1 - c0) / (w1 - w0)
    out["sampler_cpu_pct"] = 100.0 * (st["sampler_cpu_seconds"] - st0["sampler_cpu_seconds"]) / (w1 - w0)
    out["snapshots_per_s"] = (st["task_snapshots"] - st0["task_snapshots"]) / (w1 - w0)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 2.0))
