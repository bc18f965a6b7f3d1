#!/usr/bin/env python3
"""Event-loop blocks in a plain asyncio program (tests/targets/blocks_asyncio.py).

    test_blocks_asyncio.py PYTHON

A coroutine calls time.sleep(0.3) three times, 0.2 s apart, while another
task awaits short sleeps.  The agent (LD_PRELOAD) must report exactly three
blocks of at least 250 ms, each with the stack that held the loop
(hold_the_loop, blocker, innermost first), the running task's name
(blocker-task) and no endpoint; the
`blocks` command over the WebSocket and spyagent.blocks() inside the
program agree.  With SPY_BLOCK_MS=1000 there are none.
"""
import asyncio
import json
import os
import subprocess
import sys
import time

import harness
import wsclient
from harness import log

# Under ASan the sampler is slow enough for SPY_CPU_BUDGET to lower its
# rate, and a block's length is only good to one sampling interval: keep
# 100 Hz there so the >= 250 ms check measures the detector, not the budget.
RATE_ENV = {"SPY_CPU_BUDGET": 0} if harness.ASAN_RUNTIME else {}

BLOCKS = 3


def run_program(c, python, extra):
    port = harness.free_port()
    env = harness.preload_env(dict(RATE_ENV, SPY_WS_PORT=port, **extra))
    cmd = [python, os.path.join(harness.SPY_TARGETS, "blocks_asyncio.py"), str(BLOCKS)]
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, start_new_session=True)
    inside, answer = None, None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            if line.startswith("BLOCKS "):
                inside = json.loads(line[7:])
            if line.strip() == "DONE":
                break

        async def ask():
            cl, hello = await wsclient.connect_hello("ws://127.0.0.1:%d/" % port, "blocks")
            if hello is None:
                return None
            b = await cl.command("blocks", "blocks")
            s = await cl.command("status", "status")
            await cl.close()
            return b, s
        answer = wsclient.run_async(ask(), 30)
        p.stdin.write("\n")
        p.stdin.flush()
        p.wait(20)
    finally:
        if p.poll() is None:
            harness.kill_group(p)
            p.wait(10)
    err = p.stderr.read()
    return p.returncode, inside, answer, err


def main():
    python = harness.python_from_argv(sys.argv)
    label = harness.label_of(python)
    c = harness.Checks("blocks-asyncio-%s" % label)
    harness.require_library()
    wsclient.require_websockets()

    c.section("SPY_BLOCK_MS unset (100 ms), Python %s" % label)
    rc, inside, answer, err = run_program(c, python, {})
    c.eq(rc, 0, "the program ran to its end")
    c.ok(answer is not None, "the agent answered blocks and status", err[-600:])
    if answer is None:
        c.finish()
    blocks, status = answer
    listed = blocks.get("blocks", [])
    for b in listed:
        log("  block: %d ms endpoint=%s thread=%s frames=%s" % (
            b.get("duration_ms", -1), b.get("endpoint"), b.get("thread"), [f["function"] for f in b["frames"]][:5]))
    c.eq(len(listed), BLOCKS, "one block per time.sleep(0.3) in a coroutine")
    c.eq(blocks.get("total"), BLOCKS, "blocks.total")
    c.eq(status.get("blocks"), BLOCKS, "status.blocks")
    for b in listed:
        names = [f["function"] for f in b["frames"]]
        c.ok(b["duration_ms"] >= 250 and names[:2] == ["hold_the_loop", "blocker"]
             and b["endpoint"] is None and b["thread"] == "MainThread" and b["task"] == "blocker-task"
             and b["frames"][0]["file"].endswith("blocks_asyncio.py"),
             "a %d ms block held by hold_the_loop < blocker, on MainThread, in task blocker-task, no endpoint"
             % b["duration_ms"],
             json.dumps(b)[:600])
    key = lambda b: (round(b["at"], 6), b["duration_ms"])
    c.ok(inside is not None and [key(b) for b in inside] == [key(b) for b in listed],
         "spyagent.blocks() inside the program lists the same blocks", "%s" % (inside,))
    bad = harness.agent_error_lines(err)
    c.ok(not bad, "no agent errors on stderr", "\n".join(bad[:5]))

    c.section("SPY_BLOCK_MS=1000, Python %s" % label)
    rc, inside, answer, err = run_program(c, python, {"SPY_BLOCK_MS": 1000})
    c.eq(rc, 0, "the program ran to its end")
    c.ok(answer is not None and answer[0].get("blocks") == [] and answer[1].get("block_ms") == 1000,
         "no block of 300 ms under SPY_BLOCK_MS=1000", str(answer)[:400])
    c.finish()


if __name__ == "__main__":
    main()
