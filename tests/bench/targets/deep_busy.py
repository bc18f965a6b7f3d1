"""Target for bench_sample_cost.py: one thread, a stack of exactly DEPTH
Python frames, busy in pure Python at the bottom.

    python deep_busy.py DEPTH SECONDS

Run it under LD_PRELOAD with PYTHONPATH pointing at the agent build: after
SECONDS of busy looping at full depth it reads spyagent.status() from inside
the deepest frame and prints one JSON line (the status plus the depth it
really had, as traceback.extract_stack() counts it).
"""

import json
import sys
import time
import traceback


def descend(levels, seconds):
    """One frame per level; the last level calls busy()."""
    if levels > 0:
        return descend(levels - 1, seconds)
    return busy(seconds)


def busy(seconds):
    """Spin in pure Python for ``seconds``, then report from this frame."""
    deadline = time.monotonic() + seconds
    x = 0
    while time.monotonic() < deadline:
        for i in range(1000):
            x = (x + i * i) % 1000003
    return report(len(traceback.extract_stack()))


def report(depth_seen):
    import spyagent     # the module of the preloaded agent (same object)
    status = spyagent.status()
    status["depth_seen"] = depth_seen
    status["python"] = sys.version.split()[0]
    return status


def main():
    depth = int(sys.argv[1])
    seconds = float(sys.argv[2])
    if depth < 3:
        sys.exit("DEPTH must be >= 3")
    # <module> + main + (depth - 3) x descend + busy == depth frames.
    status = descend(depth - 4, seconds)
    print(json.dumps(status, default=str))


if __name__ == "__main__":
    main()
