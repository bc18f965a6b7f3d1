"""Do reports on a real FastAPI recording tell a person where the time went?

    test_reports.py [PYTHON]      (default /usr/bin/python3.11: FastAPI, uvicorn)
    SPYCTL=path                   (default build/spyctl/spyctl)
    SPY_REPORTS_OUT=dir           where the HTML report and its screenshot go

tests/targets/report_app.py (an sqlite3 endpoint, a cache endpoint, a
JSON-heavy endpoint, a CPU endpoint) runs under uvicorn with the agent
preloaded and 8 client threads loading all four endpoints; over the
WebSocket, `record 5 collapsed speedscope svg`.  Then `spyctl report` on
each file:
  - every format gives the same figures (samples, categories, endpoints,
    top functions): the round trip loses nothing a report shows;
  - each endpoint is in the per-endpoint table, sync ones (threadpool) and
    async ones (event loop) told apart;
  - each endpoint's samples land in its category.  Tolerance: at least 60%
    of an endpoint's samples in its category, because the rest is honest
    work of other kinds under the same handler (FastAPI validating
    arguments, the endpoint's own lines such as building keys or SQL
    parameters, which count as `other`); and the category's total is at
    least 60% and at most 125% (+2% of all samples) of that endpoint's
    samples, the excess being the same kind of work outside endpoints
    (e.g. FastAPI encoding every response is serialisation);
  - the advice names the functions that did the work;
  - bad files (empty, truncated, binary, 200 MB of one line, an SVG from
    another tool) each give their one-line error, exit status 1, quickly;
    bad flags exit 2;
  - `spyctl convert --to pprof` decodes with protoc against profile.proto;
  - the HTML report is self-contained and renders in headless Chromium
    (a screenshot is written for a person to look at);
  - `spyctl diff` of two formats of the same recording shows no change;
  - a second recording while an async endpoint calls time.sleep: the
    report counts those off-CPU samples as blocking the event loop and the
    advice names the endpoint (the recording keeps them though it leaves
    idle samples out).
The app runs on uvicorn's loop of choice (uvloop when installed) or the
one SPY_TEST_LOOP names (tests/meson.build runs both).
"""

import asyncio
import gzip
import os
import re
import subprocess
import sys
import time

import harness
from harness import Checks, log
import wsclient
from wsclient import Client

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SPYCTL = os.environ.get("SPYCTL") or os.path.join(REPO, "build", "spyctl", "spyctl")
PROTO_DIR = os.path.join(REPO, "tests", "data")
CHROMIUM = "/usr/bin/chromium"

ENDPOINTS = {
    # function: (path, kind, category, function the advice must name)
    "orders_report": ("/db", "sync", "database", "OrderRepository.total_for"),
    "cached_prices": ("/cache", "async", "cache", "TTLCache.get"),
    "json_roundtrip": ("/json", "async", "serialization", "_iterencode"),
    "crunch": ("/cpu", "sync", "other", "crunch"),
}


def spyctl(*args, timeout=60):
    t0 = time.monotonic()
    r = subprocess.run([SPYCTL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace"), \
        time.monotonic() - t0


def num(s):
    return int(s.replace(",", ""))


def parse_report(text):
    """The figures of a text report, as a dict."""
    out = {"categories": {}, "endpoints": {}, "functions": [], "advice": []}
    section = None
    for line in text.splitlines():
        m = re.match(r"Samples\s+([\d,]+)", line)
        if m:
            out["samples"] = num(m.group(1))
        m = re.match(r"Functions\s+([\d,]+) unique", line)
        if m:
            out["nfunctions"] = num(m.group(1))
        if line.startswith("Categories"):
            section = "cat"
        elif line.startswith("Top "):
            section = "fn"
        elif line.startswith("Endpoints"):
            section = "ep"
        elif line.startswith("Threads"):
            section = "th"
        elif line.startswith("Advice"):
            section = "adv"
        elif section == "cat":
            m = re.match(r"\s+(\w+)\s+([\d,]+)\s+([\d.]+)%", line)
            if m:
                out["categories"][m.group(1)] = num(m.group(2))
        elif section == "fn":
            m = re.match(r"\s+([\d,]+)\s+[\d.]+%\s+([\d,]+)\s+[\d.]+%\s+(\S+)\s+(.*)$", line)
            if m:
                out["functions"].append((m.group(4), num(m.group(1)), num(m.group(2)), m.group(3)))
        elif section == "ep":
            m = re.match(r"\s+([\d,]+)\s+[\d.]+%\s+(sync|async)\s+(\w+)\s+([\d.]+)%\s+(\S+) \((.*?)\)\s+\[(.*)\]$",
                         line)
            if m:
                out["endpoints"][m.group(5)] = {"samples": num(m.group(1)), "kind": m.group(2),
                                                "category": m.group(3), "share": float(m.group(4)),
                                                "where": m.group(6), "hottest": m.group(7)}
        elif section == "adv":
            m = re.match(r"\s+\d+\. (.*?): ([\d.]+)% of active samples", line)
            if m:
                out["advice"].append({"title": m.group(1), "share": float(m.group(2)), "fns": []})
            m = re.match(r"\s+(?:From:)?\s+(\S+) \(.*\) \([\d.]+%\)$", line)
            if m and out["advice"]:
                out["advice"][-1]["fns"].append(m.group(1))
    return out


def comparable(rep):
    """What every format must agree on (threads and timing are not in collapsed stacks)."""
    return {k: rep.get(k) for k in ("samples", "nfunctions", "categories", "endpoints", "functions", "advice")}


async def record(url, formats, seconds=5, report=False):
    cl = await Client.open(url, "reports", timeout=10)
    try:
        hello = await cl.expect("hello", 10)
        if hello is None:
            return None
        done = await cl.command("record %d " % seconds + " ".join(formats), "record_done", timeout=40)
        if done is not None and report:
            # and the agent's own report of that recording (it still has the idle flags)
            rep = await cl.command("report", ("report", "error"), timeout=30)
            done["live_report"] = (rep or {}).get("text", "")
        return done
    finally:
        await cl.close()


def bad_files(c, tmp):
    c.section("bad files")
    paths = {}
    paths["empty"] = os.path.join(tmp, "empty.txt")
    open(paths["empty"], "w").close()
    paths["binary"] = os.path.join(tmp, "binary.dat")
    with open(paths["binary"], "wb") as f:
        f.write(bytes(range(256)) * 64)
    paths["huge line"] = os.path.join(tmp, "oneline.txt")
    with open(paths["huge line"], "wb") as f:
        chunk = b"main;handler;compute" * 52429
        for _ in range(200):
            f.write(chunk)
    paths["other svg"] = os.path.join(tmp, "other.svg")
    with open(paths["other svg"], "w") as f:
        f.write('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
                '<g><title>a circle</title><circle cx="50" cy="50" r="40"/></g></svg>\n')
    paths["truncated json"] = os.path.join(tmp, "cut.speedscope.json")
    paths["truncated svg"] = os.path.join(tmp, "cut.svg")
    return paths


def main():
    python = harness.python_from_argv(sys.argv) if len(sys.argv) > 1 else "/usr/bin/python3.11"
    c = Checks("reports")
    if not os.access(SPYCTL, os.X_OK):
        c.abort("spyctl not built at %s (set SPYCTL)" % SPYCTL)
    out_dir = os.environ.get("SPY_REPORTS_OUT") or os.path.join(REPO, "build", "reports-test")
    os.makedirs(out_dir, exist_ok=True)

    c.section("record the FastAPI app under load")
    port = harness.free_port()
    c.note("uvicorn --loop %s" % harness.uvicorn_loop())
    app = wsclient.AgentApp("report_app", kind="script", script="report_app.py", args=[port, harness.uvicorn_loop()],
                            python=python,
                            env={"SPY_RATE": "400", "SPY_CPU_BUDGET": "0"})
    app.http_port = port
    sleep_files = {}
    app.start()
    try:
        if not c.ok(app.wait_http(60), "the app answers HTTP on port %d" % port, app.describe()):
            c.finish()
        if not c.ok(app.wait_port(30), "the agent listens on ws port %d" % app.ws_port, app.describe()):
            c.finish()
        for fn, (path, _, _, _) in ENDPOINTS.items():
            status, _ = app.http_get(path, timeout=30)
            c.eq(status, 200, "GET %s answers" % path)
        # /db twice as often: on uvloop, which parses HTTP in C, the async
        # endpoints take a larger share and /db alone hovered at the 5%
        # advice threshold
        load = wsclient.Load(app.base, threads=8, seconds=90,
                             paths=tuple(p for (p, _, _, _) in ENDPOINTS.values()) + ("/db",)).start()
        time.sleep(1.0)
        done = wsclient.run_async(record(app.url, ["collapsed", "speedscope", "svg"]), 60)
        ok, failures = load.stop()
        c.ok(ok > 20 and not failures, "load: %d requests answered, %d failures" % (ok, len(failures)),
             "\n".join(failures[:5]))
        files = wsclient.check_record_done(c, done, app.data_dir, app.pid, ["collapsed", "speedscope", "svg"],
                                           "record 5")
        c.section("time.sleep inside async def")
        time.sleep(1.1)                # the next file gets another second in its name
        sleeper = wsclient.Load(app.base, threads=1, seconds=60, paths=("/sleep?ms=200",)).start()
        time.sleep(0.5)
        slept = wsclient.run_async(record(app.url, ["collapsed"], 3, report=True), 60)
        ok, failures = sleeper.stop()
        c.ok(ok >= 5 and not failures, "/sleep answered %d times, %d failures" % (ok, len(failures)))
        sleep_files = wsclient.check_record_done(c, slept, app.data_dir, app.pid, ["collapsed"], "record 3")
    finally:
        app.terminate()
        app.kill()
    if len(files) != 3:
        c.finish()

    if sleep_files.get("collapsed"):
        live = slept.get("live_report", "")
        blocked = re.search(r"^Loop blocked\s+([\d,]+) samples off the CPU", live, re.M)
        c.ok(blocked is not None and num(blocked.group(1)) > 0,
             "the agent's report counts samples off the CPU blocking the loop (%s)" % (
                 blocked.group(0) if blocked else "none"), live[:3000])
        for what, text in (("agent's report", live), ("spyctl report of the file", None)):
            if text is None:
                rc, text, err, _ = spyctl("report", sleep_files["collapsed"])
                log(text)
            rep = parse_report(text)
            ep = rep["endpoints"].get("sleepy")
            # in the file only if the recorder kept the off-CPU samples
            c.ok(ep is not None and ep["kind"] == "async" and ep["samples"] > 0,
                 "%s: sleepy is an async endpoint with samples: %r" % (what, ep))
            loop = [a for a in rep["advice"] if a["title"] == "Blocking work on the event loop"]
            c.ok(loop and "sleepy" in loop[0]["fns"], "%s: the advice on blocking the event loop names sleepy" % what,
                 "advice: %r" % rep["advice"])

    c.section("spyctl report on each format")
    reports = {}
    for fmt, path in sorted(files.items()):
        rc, text, err, secs = spyctl("report", path, "--top", "15")
        c.ok(rc == 0 and not err, "spyctl report %s: exit 0 in %.2f s" % (fmt, secs), err)
        reports[fmt] = parse_report(text)
        if fmt == "collapsed":
            log(text)
    base = comparable(reports["collapsed"])
    c.eq(base["samples"], done.get("samples"), "the report counts record_done's samples")
    for fmt in ("speedscope", "svg"):
        other = comparable(reports[fmt])
        diff = [k for k in base if base[k] != other[k]]
        c.ok(not diff, "%s gives the same figures as collapsed stacks" % fmt,
             "\n".join("%s: %r\n vs %r" % (k, base[k], other[k]) for k in diff))

    c.section("endpoints, categories, advice")
    rep = reports["collapsed"]
    total = rep["samples"] or 1
    for fn, (path, kind, cat, named) in ENDPOINTS.items():
        ep = rep["endpoints"].get(fn)
        if not c.ok(ep is not None, "endpoint %s (%s) is in the per-endpoint table" % (fn, path),
                    "table: %r" % rep["endpoints"]):
            continue
        c.ok(re.search(r"(^|/)report_app\.py:\d+$", ep["where"]) is not None, "%s is located in report_app.py (%s)" % (fn, ep["where"]))
        c.eq(ep["kind"], kind, "%s runs %s" % (fn, "in the threadpool" if kind == "sync" else "on the event loop"))
        c.ok(ep["category"] == cat and ep["share"] >= 60.0,
             "%s: %.1f%% of its %d samples are %s (>= 60%%)" % (fn, ep["share"], ep["samples"], ep["category"]),
             "expected category %s" % cat)
        if cat != "other":
            got = rep["categories"].get(cat, 0)
            lo, hi = 0.6 * ep["samples"], 1.25 * ep["samples"] + 0.02 * total
            c.ok(lo <= got <= hi, "category %s has %d samples, within [%d, %d] of %s's %d" % (
                cat, got, lo, hi, fn, ep["samples"]))
        adv = [a for a in rep["advice"] if any(named in f for f in a["fns"])]
        c.ok(adv, "the advice names %s (for %s)" % (named, fn), "advice: %r" % rep["advice"])
    titles = {a["title"]: a for a in rep["advice"]}
    for t, named in (("Database work", "OrderRepository.total_for"), ("Cache work", "TTLCache."),
                     ("Your own code (CPU)", "crunch")):
        a = titles.get(t)
        c.ok(a is not None and any(named in f for f in a["fns"]), "advice \"%s\" cites %s" % (t, named),
             "advice: %r" % rep["advice"])
    loop = titles.get("Blocking work on the event loop")
    c.ok(loop is not None and any(("TTLCache" in f or "cached_prices" in f or "_iterencode" in f
                                   or "json_roundtrip" in f) for f in loop["fns"]),
         "advice on blocking the event loop cites the async endpoints' work", "advice: %r" % rep["advice"])

    c.section("bad files and flags")
    tmp = app.tmp
    paths = bad_files(c, tmp)
    with open(files["speedscope"], "rb") as f:
        data = f.read()
    with open(paths["truncated json"], "wb") as f:
        f.write(data[:len(data) // 2])
    with open(files["svg"], "rb") as f:
        data = f.read()
    with open(paths["truncated svg"], "wb") as f:
        f.write(data[:len(data) // 2])
    expect = {
        "empty": "empty file",
        "binary": "binary data",
        "huge line": "longer than",
        "other svg": "not a flame graph",
        "truncated json": "truncated JSON",
        "truncated svg": "truncated SVG",
    }
    for what, path in sorted(paths.items()):
        rc, text, err, secs = spyctl("report", path)
        lines = err.strip().splitlines()
        c.ok(rc == 1 and len(lines) == 1 and path in err and expect[what] in err and secs < 5,
             "%s: exit 1 in %.2f s: %s" % (what, secs, err.strip()[:160]), "rc %d, stderr %r" % (rc, err))
    for args in (["report"], ["report", files["svg"], "--format", "pdf"], ["report", files["svg"], "--top", "0"],
                 ["frobnicate"], ["convert", files["svg"], "--to", "gif", "--output", "/tmp/x"],
                 ["report", files["svg"], "--bogus"]):
        rc, text, err, secs = spyctl(*args)
        c.ok(rc == 2 and len(err.strip().splitlines()) == 1, "spyctl %s: exit 2, one line: %s" % (
            " ".join(a if a not in files.values() else "FILE" for a in args), err.strip()), "rc %d" % rc)
    rc, text, err, _ = spyctl("--help")
    c.ok(rc == 0 and "spyctl report FILE" in text, "spyctl --help prints the usage")

    c.section("pprof")
    pb = os.path.join(out_dir, "profile.pb.gz")
    rc, text, err, _ = spyctl("convert", files["collapsed"], "--to", "pprof", "--output", pb)
    c.ok(rc == 0 and os.path.isfile(pb), "spyctl convert --to pprof writes %s" % pb, err)
    if os.path.isfile(pb):
        raw = gzip.decompress(open(pb, "rb").read())
        r = subprocess.run(["protoc", "--decode", "perftools.profiles.Profile", "-I", PROTO_DIR, "profile.proto"],
                           input=raw, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        dec = r.stdout.decode("utf-8", "replace")
        c.ok(r.returncode == 0, "protoc decodes it as perftools.profiles.Profile", r.stderr.decode()[:500])
        strings = re.findall(r'string_table: "(.*)"', dec)
        values = [int(v) for v in re.findall(r"^\s+value: (\d+)", dec, re.M)]
        c.ok(strings[:3] == ["", "samples", "count"], "string_table starts \"\", samples, count", strings[:5])
        c.eq(sum(values), rep["samples"], "pprof sample values sum to the samples")
        c.ok("crunch" in strings and "OrderRepository.total_for" in strings,
             "pprof functions include crunch and OrderRepository.total_for")

    c.section("HTML report")
    html = os.path.join(out_dir, "report.html")
    rc, text, err, secs = spyctl("report", files["svg"], "--format", "html", "--output", html)
    c.ok(rc == 0 and os.path.isfile(html), "spyctl report --format html in %.2f s" % secs, err)
    if os.path.isfile(html):
        doc = open(html, encoding="utf-8").read()
        c.ok(not re.search(r'(src|href)="(https?:)?//', doc), "the HTML fetches nothing (no http src/href)")
        for fn in ENDPOINTS:
            c.ok(fn in doc, "the HTML names endpoint %s" % fn)
        shot = os.path.join(out_dir, "report.png")
        if os.access(CHROMIUM, os.X_OK):
            r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                "--screenshot=" + shot, "--window-size=1280,4200", "file://" + html],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            c.ok(os.path.isfile(shot) and os.path.getsize(shot) > 20000,
                 "headless Chromium renders it: %s" % shot, r.stderr.decode()[-500:])
        else:
            c.note("no %s: screenshot skipped" % CHROMIUM)

    c.section("diff")
    rc, text, err, _ = spyctl("diff", files["collapsed"], files["svg"])
    c.ok(rc == 0 and "no change" in text.lower(), "diff of one recording in two formats: no change", text[-800:] + err)
    rc, text, err, _ = spyctl("diff", files["collapsed"], files["svg"], "--format", "html",
                              "--output", os.path.join(out_dir, "diff.html"))
    c.ok(rc == 0, "diff --format html writes diff.html", err)
    c.finish()


if __name__ == "__main__":
    main()
