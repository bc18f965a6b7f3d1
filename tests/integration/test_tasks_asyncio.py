"""Task wall time of a plain asyncio program, on one interpreter (issue 12).

    test_tasks_asyncio.py PYTHON

tests/targets/tasks_chain.py runs N tasks waiting in worker -> middle ->
leaf_wait -> asyncio.sleep under the preloaded agent.  Over a window of W
seconds (from `reset` to `flame tasks`) the stacks ending that chain must
hold N x W task-seconds (+-15 %), and the main task's (waiting in gather)
1 x W; frames in order, innermost first; the task view holds nothing else
of the program; status reports the tasks.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import wsclient  # noqa: E402
from harness import log  # noqa: E402

N = 20
WINDOW = 4.0


def stacks_of(flame):
    out = []

    def walk(node, path):
        here = path + [node.get("function", node.get("name"))]
        if node.get("self", 0) > 0 and len(here) > 1:
            out.append((here[1:], node["self"]))
        for ch in node.get("children", []):
            walk(ch, here)

    walk(flame["root"], [])
    return out


async def scenario(c, app):
    import asyncio
    cl, hello = await wsclient.connect_hello(app.url, "tasks")
    c.ok(hello is not None, "hello received")
    st = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        st = await cl.command("status", "status")
        if st and st.get("tasks", 0) >= N + 1:
            break
        await asyncio.sleep(0.2)
    c.ok(st and st.get("tasks", 0) == N + 1, "status: %d tasks pending (N + 1 = %d)" % (st and st.get("tasks", 0),
                                                                                        N + 1), wsclient.short(st))
    await cl.command("reset", "reset")
    t0 = time.monotonic()
    await asyncio.sleep(WINDOW)
    t1 = time.monotonic()
    flame = await cl.command("flame tasks", "flame", timeout=20)
    window = t1 - t0
    stacks = stacks_of(flame) if flame else []
    c.ok(stacks, "flame tasks has stacks")
    tail = ["worker", "middle", "leaf_wait", "sleep"]
    chain = sum(v for p, v in stacks if p[-4:] == tail)
    want = N * window * 1000
    c.ok(abs(chain - want) <= 0.15 * want, "worker -> middle -> leaf_wait -> sleep: %d task-ms = %d tasks x %.2f s "
         "(%+.1f %%)" % (chain, N, window, 100.0 * (chain - want) / want))
    main_ms = sum(v for p, v in stacks if p and p[0] == "main")
    c.ok(abs(main_ms - window * 1000) <= 0.15 * window * 1000,
         "the main task waits in gather: %d task-ms over %.2f s" % (main_ms, window))
    bad = [p for p, _ in stacks
           if "middle" in p and not (p.index("middle") > 0 and p[p.index("middle") - 1] == "worker")]
    c.ok(not bad, "frames in order: worker, middle, leaf_wait, sleep", "\n".join(" > ".join(p) for p in bad[:3]))
    other = [(p, v) for p, v in stacks if p and p[0] not in ("worker", "main")]
    c.ok(not other, "no other task stack", "\n".join("%s: %d" % (" > ".join(p), v) for p, v in other[:3]))
    # live pushes follow the view the client chose
    for view in ("tasks", "cpu"):
        reply = await cl.command("live 10 %s" % view, "live")
        c.ok(reply and reply.get("view") == view, "live %s: the reply names the view" % view, wsclient.short(reply))
        push = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                m = await cl.recv(deadline - time.monotonic())
            except asyncio.TimeoutError:
                break
            if wsclient.is_push(m) and m.get("view") == view:
                push = m
                break
        names = [r["function"] for r in push["rows"]] if push else []
        c.ok(push and push.get("unit") == ("ms" if view == "tasks" else "samples")
             and (view == "cpu" or "leaf_wait" in names),
             "a live push in the %s view follows (%s)" % (view, ", ".join(names[:4])))

    # the CPU view counts samples, one per tick and thread: task-ms never leak into it
    top = await cl.command({"cmd": "top", "limit": 50, "idle": True}, "top")
    st = await cl.command("status", "status")
    ticks = st["samples"] if st else 0
    c.ok(top and top.get("view") == "cpu" and top.get("unit") == "samples"
         and 0 < top["samples"] <= ticks * max(1, st.get("threads", 1)),
         "the CPU view holds thread samples only: %s samples, %s ticks" % (top and top.get("samples"), ticks))
    await cl.close()


def main():
    python = harness.python_from_argv(sys.argv)
    label = harness.label_of(python)
    name = "tasks-asyncio-%s" % label
    c = harness.Checks(name)
    harness.require_library()
    if wsclient.websockets is None:
        log("SKIP: python3-websockets is not installed")
        sys.exit(harness.SKIP)
    # no CPU budget: the task rate stays at its default 20 Hz, so the window's
    # edges (up to a snapshot interval each) stay small beside it (a budget
    # that lowers the rate is test_tasks_stress's)
    app = wsclient.AgentApp(name, kind="script", script="tasks_chain.py", args=(N, 40), python=python,
                            env={"SPY_CPU_BUDGET": 0})
    app.start()
    try:
        if not c.ok(app.wait_port(30), "the agent listens", app.describe()):
            c.finish()
        wsclient.run_async(scenario(c, app), 120)
    finally:
        app.kill()
        bad = harness.agent_error_lines(app.stderr())
        c.ok(not bad, "no agent error on stderr", "\n".join(bad))
    c.finish()


if __name__ == "__main__":
    main()
