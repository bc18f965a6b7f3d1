"""Target: a child forked from a thread other than the main one, which then
ends the way such a child does: its only thread returns (no exit() call).

    python fork_thread.py MODE [FILE]

MODE:
  exit      the child does a little work and leaves with sys.exit(0);
  thread    the child starts a thread that sleeps 1.5 s and then writes
            FILE, and returns at once: the process must live until that
            thread is done, then end;
  takeover  the parent leaves right after the fork (os._exit) while the
            child waits until it serves the agent's port itself
            (SPY_WS_PORT accepts connections), prints "serving" and
            leaves with sys.exit(0).

For exit and thread the parent waits for the child (at most 30 s, then
kills it) and prints one JSON line (marker SPYTEST-RESULT):
{"child": {"exit": N} | {"signal": N}, "hung": bool, "seconds": S}.
For takeover the child prints "child PID" and "serving"; whoever runs this
sees the child end when stdout closes.  CPython 3.9+, standard library only.
"""

import json
import os
import socket
import sys
import threading
import time
import warnings

MARKER = "SPYTEST-RESULT "
CHILD_TIMEOUT = 30.0

# 3.12+ warns about fork() in a multi-threaded process; that is the point here.
warnings.simplefilter("ignore", DeprecationWarning)


def show_hung(pid):
    """Before a hung child is killed: every thread's stack, from gdb when the
    machine has it, on stderr (what the test prints when a check fails)."""
    import shutil
    import subprocess
    if not shutil.which("gdb"):
        return
    try:
        r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        sys.stderr.write("hung child %d, its threads:\n%s\n" % (pid, r.stdout.decode(errors="replace")))
    except (OSError, subprocess.SubprocessError) as e:
        sys.stderr.write("hung child %d: gdb failed: %s\n" % (pid, e))


def port_served(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def late_writer(path):
    time.sleep(1.5)
    with open(path, "w") as f:
        f.write("done\n")


def in_child(mode, path, parent):
    sum(i * i for i in range(100000))
    if mode == "thread":
        threading.Thread(target=late_writer, args=(path,), name="late-writer").start()
        return                     # the forking thread ends; late-writer goes on
    if mode == "takeover":
        port = int(os.environ["SPY_WS_PORT"])
        sys.stdout.write("child %d\n" % os.getpid())
        sys.stdout.flush()
        # without the agent nothing will serve the port: just leave
        deadline = time.monotonic() + (30 if "spyagent" in os.environ.get("LD_PRELOAD", "") else 0)
        while time.monotonic() < deadline and (os.getppid() == parent or not port_served(port)):
            time.sleep(0.1)
        sys.stdout.write("serving\n" if port_served(port) else "not serving\n")
        sys.stdout.flush()
    sys.exit(0)


def wait_child(pid):
    t0 = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status, False, time.monotonic() - t0
        if time.monotonic() - t0 > CHILD_TIMEOUT:
            show_hung(pid)
            os.kill(pid, 9)
            _, status = os.waitpid(pid, 0)
            return status, True, time.monotonic() - t0
        time.sleep(0.01)


def forker(mode, path, out):
    parent = os.getpid()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        in_child(mode, path, parent)
        return
    if mode == "takeover":
        time.sleep(0.5)            # the child's agent links up to ours first
        os._exit(0)
    status, hung, seconds = wait_child(pid)
    if os.WIFEXITED(status):
        out["child"] = {"exit": os.WEXITSTATUS(status)}
    else:
        out["child"] = {"signal": os.WTERMSIG(status)}
    out["hung"] = hung
    out["seconds"] = round(seconds, 2)


def main():
    mode = sys.argv[1]
    path = sys.argv[2] if len(sys.argv) > 2 else os.devnull
    out = {}
    t = threading.Thread(target=forker, args=(mode, path, out), name="forker")
    t.start()
    t.join()
    if mode != "takeover":
        sys.stdout.write(MARKER + json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
