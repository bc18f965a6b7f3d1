"""Target: a threaded program that forks again and again.

    python fork_app.py [FORKS]

Two busy threads and a sleeping one run while the main thread forks FORKS
(default 50) times, one child at a time.  Children, by turns:
  - do a little Python work and leave with os._exit(0);
  - do a little work, start and join a thread of their own, and exit
    normally (sys.exit(0): atexit handlers and interpreter finalisation run);
  - take spyagent.dump() and check it shows only the forking thread, then
    exit normally (exit code 3 if the dump is wrong, 4 if dump() raised).
The parent waits for each child with a bounded poll (a child still alive after
30 s is killed and reported), then prints one JSON line (marker
SPYTEST-RESULT) with every child's exit status and the parent's status().
CPython 3.9+, standard library only.
"""

import json
import os
import signal
import sys
import threading
import time
import warnings

MARKER = "SPYTEST-RESULT "
CHILD_TIMEOUT = 30.0

# 3.12+ warns about fork() in a multi-threaded process; that is the point here.
warnings.simplefilter("ignore", DeprecationWarning)

STOP = threading.Event()


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


def spin():
    x = 0
    while not STOP.is_set():
        for i in range(1000):
            x += i
    return x


def nap():
    while not STOP.is_set():
        time.sleep(0.01)


def child_work(n):
    total = 0
    for i in range(20000 + n * 100):
        total += i * i
    return total


def child_main(n):
    """Runs in the child; returns the exit code it wants."""
    child_work(n)
    kind = n % 3
    if kind == 0:
        os._exit(0)
    if kind == 1:
        t = threading.Thread(target=child_work, args=(n,), name="child-thread")
        t.start()
        t.join(20)
        return 0
    try:
        import spyagent
        threads = spyagent.dump()
    except Exception as e:  # reported through the exit code and stderr
        sys.stderr.write("child %d: dump() raised %r\n" % (n, e))
        return 4
    names = [t.get("name") for t in threads]
    if len(threads) != 1 or threads[0].get("thread_id") != threading.get_ident():
        sys.stderr.write("child %d: dump() shows threads %r, expected only the forking thread\n" % (n, names))
        return 3
    return 0


def wait_child(pid):
    deadline = time.monotonic() + CHILD_TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status, False
        if time.monotonic() > deadline:
            show_hung(pid)
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            return status, True
        time.sleep(0.002)


def describe_status(status):
    if os.WIFEXITED(status):
        return {"exit": os.WEXITSTATUS(status)}
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    return {"raw": status}


def main():
    forks = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    threads = [threading.Thread(target=spin, name="spin-1", daemon=True),
               threading.Thread(target=spin, name="spin-2", daemon=True),
               threading.Thread(target=nap, name="nap", daemon=True)]
    for t in threads:
        t.start()
    time.sleep(0.2)  # let the agent see the threads
    children = []
    for n in range(forks):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = child_main(n)
            finally:
                if code != 0:
                    os._exit(code)
            sys.exit(code)
        status, killed = wait_child(pid)
        entry = describe_status(status)
        entry["n"] = n
        entry["hung"] = killed
        children.append(entry)
    STOP.set()
    for t in threads:
        t.join(10)
    import spyagent
    result = {"children": children, "status": spyagent.status(), "pid": os.getpid()}
    sys.stdout.write(MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
