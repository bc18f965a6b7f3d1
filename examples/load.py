#!/usr/bin/env python3
"""A small load generator for the demo app, standard library only.

    python3 examples/load.py --url http://127.0.0.1:8000 --seconds 30 \\
        --concurrency 4 --paths /cpu,/json,/db

Each of ``--concurrency`` threads loops over ``--paths`` (round robin, each
thread starting at a different path) sending GET requests with urllib until
``--seconds`` have passed or ``--requests`` requests have been sent in total,
whichever comes first. At the end it prints requests per second, latency
percentiles per path and error counts. It exits 0 when every request got a
2xx answer, 1 when some failed, 2 when the flags are wrong.
"""

import argparse
import collections
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_PATHS = "/cpu,/json,/db,/cache,/sleep,/hash"


def parse_args(argv):
    """Parse and validate the flags; any problem exits 2 with a clear message."""
    p = argparse.ArgumentParser(
        description="Send GET requests to the spyagent demo app for a bounded time.")
    p.add_argument("--url", default="http://127.0.0.1:8000",
                   help="base URL of the app (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=30.0,
                   help="how long to send requests, 0 < s <= 86400 (default: %(default)s)")
    p.add_argument("--concurrency", type=int, default=4,
                   help="number of client threads, 1..256 (default: %(default)s)")
    p.add_argument("--paths", default=DEFAULT_PATHS,
                   help="comma-separated paths, each starting with '/' "
                        "(default: %(default)s)")
    p.add_argument("--requests", type=int, default=0,
                   help="stop after this many requests in total; 0 = no limit "
                        "besides --seconds (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="per-request timeout in seconds, 0 < t <= 600 (default: %(default)s)")
    args = p.parse_args(argv)

    url = urllib.parse.urlsplit(args.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        p.error("--url must look like http://HOST:PORT, got %r" % args.url)
    try:
        url.port
    except ValueError:
        p.error("--url has an invalid port: %r" % args.url)
    if url.query or url.fragment:
        p.error("--url must be a base URL without '?query' or '#fragment', got %r" % args.url)
    args.url = args.url.rstrip("/")

    if not (0 < args.seconds <= 86400):
        p.error("--seconds must be > 0 and <= 86400, got %s" % args.seconds)
    if not (1 <= args.concurrency <= 256):
        p.error("--concurrency must be between 1 and 256, got %d" % args.concurrency)
    if args.requests < 0:
        p.error("--requests must be >= 0 (0 = unlimited), got %d" % args.requests)
    if not (0 < args.timeout <= 600):
        p.error("--timeout must be > 0 and <= 600, got %s" % args.timeout)

    paths = [s.strip() for s in args.paths.split(",") if s.strip()]
    if not paths:
        p.error("--paths needs at least one path, e.g. --paths /cpu,/json")
    for path in paths:
        if not path.startswith("/") or any(c.isspace() for c in path):
            p.error("--paths entries must start with '/' and contain no spaces, got %r" % path)
    args.paths = paths
    return args


class Stats:
    """Counters shared by the client threads, guarded by one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = collections.defaultdict(list)   # path -> [seconds] (2xx only)
        self.errors = collections.Counter()              # (path, kind) -> count
        self.sent = 0

    def claim(self, limit):
        """Reserve the right to send one more request; False when the limit is reached."""
        with self.lock:
            if limit and self.sent >= limit:
                return False
            self.sent += 1
            return True

    def ok(self, path, seconds):
        with self.lock:
            self.latencies[path].append(seconds)

    def error(self, path, kind):
        with self.lock:
            self.errors[(path, kind)] += 1


def fetch(url, timeout):
    """GET ``url``; return None on a 2xx answer, else a short error kind."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read()
            return None if 200 <= resp.status < 300 else "HTTP %d" % resp.status
    except urllib.error.HTTPError as e:
        return "HTTP %d" % e.code
    except urllib.error.URLError as e:
        return "URLError: %s" % (e.reason,)
    except (OSError, ValueError) as e:     # timeouts, resets, bad responses
        return type(e).__name__


def client(index, args, stats, deadline):
    """One client thread: round robin over the paths until time or count runs out."""
    i = index
    while time.monotonic() < deadline and stats.claim(args.requests):
        path = args.paths[i % len(args.paths)]
        i += 1
        t0 = time.monotonic()
        err = fetch(args.url + path, args.timeout)
        if err is None:
            stats.ok(path, time.monotonic() - t0)
        else:
            stats.error(path, err)
            time.sleep(0.05)    # do not spin on a dead server


def percentile_ms(sorted_values, q):
    """The q-quantile (nearest rank) in milliseconds, or '-' when there is no data."""
    if not sorted_values:
        return "-"
    k = min(len(sorted_values) - 1, int(round(q * (len(sorted_values) - 1))))
    return "%.1f" % (sorted_values[k] * 1000)


def report(args, stats, elapsed):
    """Print the summary table; return the number of failed requests."""
    ok_total = sum(len(v) for v in stats.latencies.values())
    err_total = sum(stats.errors.values())
    total = ok_total + err_total
    print("load: %s, %d thread(s), %.1f s, %d request(s)" %
          (args.url, args.concurrency, elapsed, total))
    print("%-12s %8s %8s %9s %9s %9s" % ("path", "ok", "errors", "p50 ms", "p90 ms", "p99 ms"))
    for path in args.paths:
        lat = sorted(stats.latencies.get(path, []))
        errs = sum(n for (p, _), n in stats.errors.items() if p == path)
        print("%-12s %8d %8d %9s %9s %9s" % (
            path, len(lat), errs,
            percentile_ms(lat, 0.50), percentile_ms(lat, 0.90), percentile_ms(lat, 0.99)))
    rate = ok_total / elapsed if elapsed > 0 else 0.0
    print("requests/s: %.1f (successful)   errors: %d" % (rate, err_total))
    for (path, kind), n in sorted(stats.errors.items()):
        print("  error %s %s: %d" % (path, kind, n))
    return err_total


def main(argv=None):
    args = parse_args(argv)
    stats = Stats()
    start = time.monotonic()
    deadline = start + args.seconds
    threads = [threading.Thread(target=client, args=(i, args, stats, deadline),
                                name="load-%d" % i, daemon=True)
               for i in range(args.concurrency)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            # A request in flight at the deadline may take up to --timeout.
            t.join(max(0.0, deadline - time.monotonic()) + args.timeout + 1)
    except KeyboardInterrupt:
        print("interrupted; partial results:", file=sys.stderr)
    elapsed = time.monotonic() - start
    return 1 if report(args, stats, elapsed) else 0


if __name__ == "__main__":
    sys.exit(main())
