"""Does a child forked from a non-main thread end when its thread does?

    test_fork_thread.py PYTHON

A child forked from a thread other than the main one has that thread as
its only thread; when it ends (sys.exit in it, or just returning), the
thread returns without calling exit(), and the process ends because no
thread is left.  The agent's own threads (spy-sampler, spy-leaf, and
spy-server/spy-leaves in a child that took over the port) must not keep it
alive.  Runs tests/targets/fork_thread.py under PYTHON, each mode first
without the agent (the baseline: the child ends) and then with LD_PRELOAD:
  exit      the child leaves with sys.exit(0): it ends, exit code 0;
  thread    the child's forking thread returns while a thread it started
            runs on for 1.5 s: the process lives until that thread has
            written its file, then ends;
  takeover  the parent leaves; the child's agent takes over the port; the
            child leaves with sys.exit(0): it ends, and nothing of it is
            left running.
"""

import os
import sys
import tempfile
import time

import harness
from harness import Checks, log


def gone(pid):
    """The process ended (no longer exists, or is a zombie nobody reaped)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state in ("Z", "X")
    except (OSError, IndexError):
        return True


def run_parent_waits(c, python, mode, env, tag):
    with tempfile.TemporaryDirectory(prefix="spy-fork-thread-") as tmp:
        path = os.path.join(tmp, "late-writer.txt")
        r = harness.run([python, os.path.join(harness.SPY_TARGETS, "fork_thread.py"), mode, path],
                        env=env, timeout=90)
        if not c.process_ok(r, "%s %s: the parent" % (mode, tag)):
            return
        res = harness.find_result(r.stdout)
        if not c.ok(res is not None, "%s %s: the parent printed its result" % (mode, tag), r.describe()):
            return
        log("  %s %s: %s" % (mode, tag, res))
        c.ok(not res["hung"], "%s %s: the child ended by itself (%.2f s)" % (mode, tag, res["seconds"]),
             "the child was still alive after 30 s and was killed\n" + r.describe())
        c.eq(res["child"], {"exit": 0}, "%s %s: the child's exit status" % (mode, tag))
        if mode == "thread":
            c.ok(os.path.exists(path), "%s %s: the child lived until its last thread was done" % (mode, tag),
                 "late-writer.txt was never written: the process ended under its running thread")
        bad = harness.agent_error_lines(r.stderr)
        c.ok(not bad, "%s %s: no agent errors on stderr" % (mode, tag), "\n".join(bad))


def run_takeover(c, python, env, tag):
    cmd = [python, os.path.join(harness.SPY_TARGETS, "fork_thread.py"), "takeover"]
    # stdout closes when the child ends: run() waits for that, 60 s at most
    r = harness.run(cmd, env=env, timeout=60)
    log("  takeover %s: stdout %r, %.1f s" % (tag, r.stdout, r.elapsed))
    pids = [int(l.split()[1]) for l in r.stdout.splitlines() if l.startswith("child ")]
    if not c.ok(pids, "takeover %s: the child started" % tag, r.describe()):
        return
    if "LD_PRELOAD" in env:
        c.ok("serving" in r.stdout.split(), "takeover %s: the child's agent took over the port" % tag, r.describe())
    c.ok(not r.timed_out, "takeover %s: the child ended by itself (%.1f s)" % (tag, r.elapsed),
         "still running after 60 s; killed\n" + r.describe())
    deadline = time.monotonic() + 10
    while not gone(pids[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    c.ok(gone(pids[0]), "takeover %s: the child's process is gone" % tag)
    bad = harness.agent_error_lines(r.stderr)
    c.ok(not bad, "takeover %s: no agent errors on stderr" % tag, "\n".join(bad))


def main():
    python = harness.python_from_argv(sys.argv, 1)
    harness.require_library()
    label = harness.label_of(python)
    c = Checks("test_fork_thread %s" % label)
    plain = harness.clean_env()
    for mode in ("exit", "thread"):
        c.section("%s: baseline without the agent" % mode)
        run_parent_waits(c, python, mode, plain, "without the agent")
        c.section("%s: with LD_PRELOAD" % mode)
        run_parent_waits(c, python, mode, harness.preload_env({"SPY_RATE": 200}), "with the agent")
    c.section("takeover: baseline without the agent")
    run_takeover(c, python, harness.clean_env({"SPY_WS_PORT": harness.free_port()}), "without the agent")
    c.section("takeover: with LD_PRELOAD")
    run_takeover(c, python, harness.preload_env({"SPY_RATE": 200}), "with the agent")
    c.finish()


if __name__ == "__main__":
    main()
