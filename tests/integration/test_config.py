"""Does a bad setting get one clear message, and leave the program alone?

    test_config.py

For every supported interpreter, with LD_PRELOAD:
  - each bad environment value (SPY_RATE=fast, SPY_RATE=0, SPY_RATE=20000,
    SPY_ENABLED=maybe, SPY_LOG=loud, and a few more) gives exactly one stderr
    line starting with `spyagent:` that names the variable and the value (and,
    where the contract says what is accepted, says that); the program's
    stdout and exit code are what they are without the agent; the agent is
    off (status()['running'] is False, also after `import spyagent`);
    SPY_CATEGORIES (a missing file, /dev/zero, JSON nested too deep) and
    SPY_DATA_DIR (a plain file, a path under one) are checked at start in
    the same way;
  - good values take effect: SPY_RATE=250 shows in status()['rate'];
    SPY_ENABLED=0 leaves the agent off without a word; SPY_PORT (the old
    tool's app port) is ignored.
And through the Python API, without LD_PRELOAD: start(rate='fast') and other
bad keyword values raise ValueError naming the key and the value, leave the
agent off, and start(rate=250) then works.
"""

import atexit
import json
import os
import shutil
import tempfile

import harness
from harness import Checks

# Files for the settings that name files: a JSON file nested too deep for
# any parser, and a plain file where a directory is wanted.
_FILES = tempfile.mkdtemp(prefix="spy-test-config-")
atexit.register(shutil.rmtree, _FILES, True)
DEEP_JSON = os.path.join(_FILES, "deep.json")
with open(DEEP_JSON, "w") as _f:
    _f.write("[" * 5000 + "]" * 5000)
A_FILE = os.path.join(_FILES, "not-a-directory")
with open(A_FILE, "w") as _f:
    _f.write("x\n")

APP = r"""
import json, sys
print("app output line 1")
import spyagent
st = spyagent.status()
print("SPY " + json.dumps({"running": st["running"], "rate": st["rate"]}))
print("app output line 2")
sys.exit(3)
"""

# (variable, value, words the message must contain besides the two)
BAD_ENV = [
    ("SPY_RATE", "fast", ["10000"]),
    ("SPY_RATE", "0", ["10000"]),
    ("SPY_RATE", "20000", ["10000"]),
    ("SPY_RATE", "-5", ["10000"]),
    ("SPY_ENABLED", "maybe", []),
    ("SPY_LOG", "loud", ["quiet", "info", "debug"]),
    ("SPY_CPU_BUDGET", "lots", []),
    ("SPY_WS_PORT", "99999", []),
    ("SPY_MAX_CLIENTS", "0", ["1 to 200"]),
    ("SPY_TASK_RATE", "fast", ["0 (off) to 1000"]),
    ("SPY_TASK_CAP", "1", ["2 to 4096"]),
    # files the settings name are checked at start, not at the first report
    ("SPY_CATEGORIES", os.path.join(_FILES, "missing.json"), ["No such file", "agent is off"]),
    ("SPY_CATEGORIES", "/dev/zero", ["not a regular file", "agent is off"]),
    ("SPY_CATEGORIES", DEEP_JSON, ["not valid JSON", "agent is off"]),
    ("SPY_DATA_DIR", A_FILE, ["not a directory", "agent is off"]),
    ("SPY_DATA_DIR", os.path.join(A_FILE, "sub"), ["agent is off"]),
]

API_BAD = [
    ({"rate": "fast"}, "rate", "fast"),
    ({"rate": 0}, "rate", "0"),
    ({"rate": 20000}, "rate", "20000"),
    ({"log": "loud"}, "log", "loud"),
    ({"enabled": "maybe"}, "enabled", "maybe"),
    ({"cpu_budget": "lots"}, "cpu_budget", "lots"),
]

API_SCRIPT = r"""
import json, sys
import spyagent
out = {"bad": [], "before": spyagent.status()["running"]}
spyagent.stop()  # in case importing started it: begin from "off"
for kwargs in json.loads(sys.argv[1]):
    try:
        r = spyagent.start(**kwargs)
        out["bad"].append({"kwargs": kwargs, "returned": repr(r)})
        spyagent.stop()
    except Exception as e:
        out["bad"].append({"kwargs": kwargs, "exc": type(e).__name__, "msg": str(e)})
    out["bad"][-1]["running_after"] = spyagent.status()["running"]
try:
    out["unknown_key"] = {"returned": repr(spyagent.start(no_such_setting=1))}
    spyagent.stop()
except Exception as e:
    out["unknown_key"] = {"exc": type(e).__name__, "msg": str(e)}
out["good_started"] = spyagent.start(rate=250)
st = spyagent.status()
out["good_status"] = {"running": st["running"], "rate": st["rate"]}
out["second_start"] = spyagent.start(rate=250)
spyagent.stop()
out["after_stop"] = spyagent.status()["running"]
print("SPYTEST-RESULT " + json.dumps(out))
"""


def app_baseline(python):
    """What the app prints and returns with the agent only imported, not preloaded."""
    return harness.run([python, "-c", APP], env=harness.import_env(), timeout=60)


def spy_line(stdout):
    for line in stdout.splitlines():
        if line.startswith("SPY "):
            return json.loads(line[4:])
    return None


def strip_spy(stdout):
    return [l for l in stdout.splitlines() if not l.startswith("SPY ")]


def check_env(c, python, label, base):
    # Every bad value with LD_PRELOAD; one of them also with `import spyagent`
    # alone (importing reads the same environment).
    cases = [(var, value, accepted, "preload") for var, value, accepted in BAD_ENV]
    cases.append(("SPY_RATE", "fast", ["10000"], "import"))
    for var, value, accepted, how in cases:
        env = harness.preload_env({var: value}) if how == "preload" else harness.import_env({var: value})
        r = harness.run([python, "-c", APP], env=env, timeout=60)
        lines = r.stderr_lines()
        what = "%s %s=%s (%s)" % (label, var, value, "LD_PRELOAD" if how == "preload" else "import only")
        problems = []
        if r.timed_out:
            problems.append("hung")
        if r.rc != base.rc:
            problems.append("exit code %s, without the agent %s" % (harness.describe_rc(r.rc), harness.describe_rc(base.rc)))
        if strip_spy(r.stdout) != strip_spy(base.stdout):
            problems.append("app output %r, without the agent %r" % (strip_spy(r.stdout), strip_spy(base.stdout)))
        spy = spy_line(r.stdout)
        if not spy or spy.get("running") is not False:
            problems.append("status() says %r, expected running False" % spy)
        if len(lines) != 1:
            problems.append("%d stderr lines, expected exactly one: %r" % (len(lines), r.stderr))
        elif not lines[0].startswith("spyagent:"):
            problems.append("stderr line does not start with 'spyagent:': %r" % lines[0])
        else:
            missing = [w for w in [var, value] + accepted if w not in lines[0]]
            if missing:
                problems.append("the message %r does not mention %s" % (lines[0], missing))
        c.ok(not problems, "%s: one 'spyagent:' line naming it, agent off, app unchanged" % what, "\n".join(problems))
        if len(lines) == 1:
            c.note("    %s" % lines[0])


def check_good_env(c, python, label, base):
    cases = [
        ({"SPY_RATE": "250"}, True, 250, "SPY_RATE=250 is the rate"),
        ({"SPY_ENABLED": "0"}, False, None, "SPY_ENABLED=0 leaves the agent off"),
        ({"SPY_ENABLED": "1", "SPY_LOG": "quiet"}, True, None, "SPY_ENABLED=1 SPY_LOG=quiet runs"),
        ({"SPY_PORT": "8000"}, True, None, "SPY_PORT=8000 (the old tool's app port) is ignored"),
    ]
    for extra, running, rate, what in cases:
        r = harness.run([python, "-c", APP], env=harness.preload_env(extra), timeout=60)
        spy = spy_line(r.stdout)
        problems = []
        if r.timed_out or r.rc != base.rc:
            problems.append("exit %s, without the agent %s" % (harness.describe_rc(r.rc), harness.describe_rc(base.rc)))
        if strip_spy(r.stdout) != strip_spy(base.stdout):
            problems.append("app output %r" % strip_spy(r.stdout))
        if not spy or spy.get("running") is not running:
            problems.append("status() says %r, expected running %s" % (spy, running))
        elif rate is not None and spy.get("rate") != rate:
            problems.append("status()['rate'] is %r, expected %r" % (spy.get("rate"), rate))
        if r.stderr.strip():
            problems.append("stderr not empty: %r" % r.stderr)
        c.ok(not problems, "%s %s, no message" % (label, what), "\n".join(problems))


def check_api(c, python, label):
    r = harness.run([python, "-c", API_SCRIPT, json.dumps([k for k, _, _ in API_BAD])],
                    env=harness.import_env(), timeout=60)
    res = harness.find_result(r.stdout)
    if not c.ok(r.rc == 0 and res is not None, "%s API script ran" % label, r.describe()):
        return
    if res["before"]:
        c.note("%s: importing spyagent started the agent by itself" % label)
    for (kwargs, key, value), got in zip(API_BAD, res["bad"]):
        what = "%s start(%s) raises ValueError naming %r and %r, agent stays off" % (
            label, ", ".join("%s=%r" % kv for kv in kwargs.items()), key, value)
        problems = []
        if got.get("exc") != "ValueError":
            problems.append("got %r" % got)
        else:
            missing = [w for w in (key, value) if w not in got["msg"]]
            if missing:
                problems.append("message %r does not mention %s" % (got["msg"], missing))
        if got.get("running_after") is not False:
            problems.append("agent running after the failed start()")
        c.ok(not problems, what, "\n".join(problems))
    unk = res["unknown_key"]
    c.ok(unk.get("exc") in ("ValueError", "TypeError") and "no_such_setting" in unk.get("msg", ""),
         "%s start(no_such_setting=1) is refused, naming the key" % label, repr(unk))
    c.eq(res["good_started"], True, "%s start(rate=250) returns True" % label)
    c.eq(res["good_status"], {"running": True, "rate": 250}, "%s status() after start(rate=250)" % label)
    c.eq(res["second_start"], False, "%s a second start() returns False" % label)
    c.eq(res["after_stop"], False, "%s running after stop()" % label)


def main():
    harness.require_library()
    c = Checks("test_config")
    for python in harness.supported_interpreters():
        label = harness.label_of(python)
        c.section("Python %s (%s)" % (label, python))
        base = app_baseline(python)
        if not c.ok(base.rc == 3 and spy_line(base.stdout) is not None and not base.stderr,
                    "%s app without the agent: exit code 3, status() readable, empty stderr" % label, base.describe()):
            continue
        if spy_line(base.stdout)["running"]:
            c.note("%s: importing spyagent (no LD_PRELOAD) started the agent by itself" % label)
        check_env(c, python, label, base)
        check_good_env(c, python, label, base)
        check_api(c, python, label)
    c.finish()


if __name__ == "__main__":
    main()
