"""Target for test_budget.py: one busy thread with a deep stack for a
number of seconds (argv[1]), then the agent's status on the result line
(prefix "SPYTEST-RESULT ", as tests/integration/harness.py reads it)."""

import json
import sys
import time

import spyagent


def deep(n, until):
    if n:
        return deep(n - 1, until)
    x = 0
    while time.monotonic() < until:
        x += 1
    return x


def main():
    seconds = float(sys.argv[1])
    deep(60, time.monotonic() + seconds)
    sys.stdout.write("SPYTEST-RESULT " + json.dumps({"status": spyagent.status()}) + "\n")


if __name__ == "__main__":
    main()
