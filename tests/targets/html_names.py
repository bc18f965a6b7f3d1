"""Target: functions, a file name and a thread whose names are HTML, for the
viewer's escaping check (tests/viewer/test_viewer.mjs).

    LD_PRELOAD=.../libspyagent.so python3.11 tests/targets/html_names.py [SECONDS]

A worker thread named `<b onmouseover=...>` keeps calling a function whose
name (co_name and co_qualname) is `<img src=x onerror=...>` from a file named
`<script>...</script>.py`, so all three reach the agent's top, dump and flame
messages.  Every payload sets `window.__pwned`, which a page that inserts
them as text never does.  Prints "ready" once the worker runs, exits after
SECONDS (default 120).
"""

import sys
import threading
import time

FUNC = "<img src=x onerror=window.__pwned=1>"
FILE = "<script>window.__pwned=2</script>.py"
THREAD = "<b onmouseover=window.__pwned=3>worker</b>"

src = "def hostile(n):\n    acc = 0\n    for i in range(n):\n        acc = (acc + i * i) % 1000003\n    return acc\n"
namespace = {}
exec(compile(src, FILE, "exec"), namespace)
hostile = namespace["hostile"]
code = hostile.__code__.replace(co_name=FUNC)
if hasattr(code, "co_qualname"):
    code = code.replace(co_qualname=FUNC)
hostile.__code__ = code

stop = threading.Event()


def work():
    while not stop.is_set():
        hostile(20000)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 120.0
    t = threading.Thread(target=work, name=THREAD, daemon=True)
    t.start()
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    t.join(5)


if __name__ == "__main__":
    main()
