"""Target: fork while asyncio tasks are pending (issue 12).

    python tasks_fork.py TASKS      (with the agent preloaded and importable)

Starts TASKS sleeping tasks, waits until the agent's task snapshots list
them, then forks from inside the running main task.  The child does not
run the inherited loop (its selector is shared with the parent); it checks
synchronously that its own agent keeps taking task snapshots (the count
grows) and still lists every task it inherited (TASKS + the main task),
then leaves with os._exit.  The parent goes on with its tasks for a while,
checks its own snapshots still grow, waits for the child (bounded), reads
spyagent.top(tasks=True)'s row for nap and prints one line:
    SPYTEST-RESULT {"child_status": N, "parent": {...}, "nap": [row]}
"""

import asyncio
import json
import os
import sys
import time
import warnings

import spyagent

warnings.simplefilter("ignore", DeprecationWarning)   # 3.12+: fork with threads


async def nap():
    await asyncio.sleep(3600)


def snapshots_grow(want_tasks, timeout=20.0):
    """Wait (blocking) until task_snapshots grows by 5 with want_tasks listed."""
    st0 = spyagent.status()
    deadline = time.monotonic() + timeout
    st = st0
    while time.monotonic() < deadline:
        st = spyagent.status()
        if st["task_snapshots"] >= st0["task_snapshots"] + 5 and st["tasks"] >= want_tasks:
            return True, st
        time.sleep(0.05)
    return False, st


async def main(n):
    tasks = [asyncio.ensure_future(nap()) for _ in range(n)]
    deadline = time.monotonic() + 30
    while spyagent.status()["tasks"] < n + 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    pid = os.fork()
    if pid == 0:
        ok, st = snapshots_grow(n + 1)
        print("SPYTEST-CHILD " + json.dumps({"ok": ok, "tasks": st["tasks"], "snapshots": st["task_snapshots"]}),
              flush=True)
        os._exit(0 if ok else 1)
    await asyncio.sleep(1.0)
    ok, st = snapshots_grow(n + 1)
    status = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            break
        await asyncio.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        status = -1
    # the task view from Python: nap's wall time, all of it waiting
    nap_row = [r for r in spyagent.top(20, tasks=True) if r["function"] == "nap"]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print("SPYTEST-RESULT " + json.dumps({"child_status": status, "parent": {
        "ok": ok, "tasks": st["tasks"], "snapshots": st["task_snapshots"]}, "nap": nap_row[:1]}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
