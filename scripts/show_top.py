"""show_top.py URL — print a running demo app's live top like `py-spy top`,
from its /_spy/top and /_spy/status routes (examples/demo_app.py)."""

import json
import os
import sys
import urllib.request


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: show_top.py http://127.0.0.1:8000")
    base = sys.argv[1].rstrip("/")
    st = get(base + "/_spy/status")
    rows = get(base + "/_spy/top?limit=15&window=10")
    print(f"pid {st['pid']}  Python {st['python_version']}  rate {st['effective_rate']}/{st['rate']} Hz  "
          f"samples {st['samples']}  dropped {st['dropped']}  threads {st['threads']}  "
          f"sample cost {st['sample_cost_us']:.1f} us  sampler CPU {st['sampler_cpu_seconds']:.3f} s")
    print(f"{'%Own':>6} {'%Total':>7} {'Own':>6} {'Total':>6}  Function (file:line)  [last 10 s, idle excluded]")
    for r in rows:
        where = r["file"]
        if where.startswith(os.getcwd() + os.sep):
            where = os.path.relpath(where)
        print(f"{r['own_pct']:6.1f} {r['total_pct']:7.1f} {r['own']:6d} {r['total']:6d}  {r['function']} ({where}:{r['line']})")


if __name__ == "__main__":
    main()
