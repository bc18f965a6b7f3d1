"""A process that has the agent loaded can always `import spyagent`.

    test_import_preloaded.py PYTHON
    test_import_preloaded.py --spyctl-start PYTHON   (needs SPYCTL; PYTHON with uvicorn)

With LD_PRELOAD and no PYTHONPATH (nothing on sys.path leads to
spyagent.so), under PYTHON:
  - `import spyagent` works and status() says the agent runs, as a built-in
    module (sys.builtin_module_names);
  - with SPY_ENABLED=0 it still imports (the agent is loaded, just off),
    quietly;
  - a Python the app starts (subprocess, inheriting LD_PRELOAD) imports it
    too;
  - with PYTHONPATH to the build directory as well, the same module answers.
With --spyctl-start: `spyctl --start` runs tests/targets/fastapi_app.py
(which does `import spyagent`) with no PYTHONPATH: the app starts, serves
HTTP and its agent answers.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import harness
from harness import Checks, log

SCRIPT = r"""
import json, subprocess, sys
import spyagent
st = spyagent.status()
child = subprocess.run([sys.executable, "-c", "import spyagent; print(spyagent.status()['pid'])"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
print("SPYTEST-RESULT " + json.dumps({
    "running": st["running"], "pid": st["pid"],
    "builtin": "spyagent" in sys.builtin_module_names,
    "child_rc": child.returncode, "child_out": child.stdout.strip(), "child_err": child.stderr[-500:]}))
"""


def check_interpreter(c, python):
    label = harness.label_of(python)
    c.section("Python %s: LD_PRELOAD, no PYTHONPATH" % label)
    cases = [("LD_PRELOAD alone", harness.preload_env({"SPY_RATE": 100}, module=False), True),
             ("LD_PRELOAD, SPY_ENABLED=0", harness.preload_env({"SPY_ENABLED": 0}, module=False), False),
             ("LD_PRELOAD and PYTHONPATH", harness.preload_env({"SPY_RATE": 100}), True)]
    for what, env, running in cases:
        r = harness.run([python, "-c", SCRIPT], env=env, timeout=60)
        res = harness.find_result(r.stdout)
        if not c.ok(r.rc == 0 and res is not None, "%s %s: import spyagent works" % (label, what), r.describe()):
            continue
        c.eq(res["running"], running, "%s %s: status()['running']" % (label, what))
        c.ok(res["builtin"], "%s %s: spyagent is a built-in module" % (label, what))
        c.ok(res["child_rc"] == 0 and res["child_out"].isdigit() and int(res["child_out"]) != res["pid"],
             "%s %s: a Python it starts imports it too" % (label, what), repr(res))
        bad = harness.agent_error_lines(r.stderr)
        c.ok(not bad and "ModuleNotFoundError" not in r.stderr, "%s %s: nothing on stderr about it" % (label, what),
             r.stderr[-1500:])


def check_spyctl_start(c, python):
    c.section("spyctl --start, no PYTHONPATH: the app imports spyagent")
    spyctl = os.environ.get("SPYCTL", "")
    if not os.access(spyctl, os.X_OK):
        c.abort("SPYCTL is not set to the built spyctl")
    tmp = tempfile.mkdtemp(prefix="spy-import-start-")
    port, ws_port = harness.free_port(), harness.free_port()
    env = harness.clean_env({"SPY_WS_PORT": ws_port, "SPY_DATA_DIR": os.path.join(tmp, "data"),
                             "SPY_AGENT_LIB": harness.SPY_LIB})
    if harness.ASAN_RUNTIME:
        env["LD_PRELOAD"] = harness.ASAN_RUNTIME
    err_path = os.path.join(tmp, "spyctl.err")
    with open(os.path.join(tmp, "spyctl.out"), "w") as out, open(err_path, "w") as err:
        p = subprocess.Popen([spyctl, "--start", "--port", str(port), "--app", "fastapi_app:app", "--python", python,
                              "--timeout", "60", "--", "--app-dir", harness.SPY_TARGETS],
                             env=env, stdout=out, stderr=err, start_new_session=True, cwd=tmp)
    try:
        deadline, up = time.monotonic() + 90, False
        while time.monotonic() < deadline and p.poll() is None and not up:
            with open(err_path) as f:
                up = "agent answers" in f.read()
            time.sleep(0.2)
        with open(err_path) as f:
            text = f.read()
        c.ok(up, "spyctl --start: the app starts and its agent answers", text[-3000:])
        c.ok("ModuleNotFoundError" not in text, "no ModuleNotFoundError", text[-3000:])
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/_spy/status" % port, timeout=10) as r:
                st = json.loads(r.read().decode())
        except (OSError, ValueError) as e:
            st = {"error": repr(e)}
        c.eq(st.get("running"), True, "the app's GET /_spy/status (spyagent.status()) says running")
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(45)
        except subprocess.TimeoutExpired:
            pass
        harness.kill_group(p)


def main():
    harness.require_library()
    if len(sys.argv) > 2 and sys.argv[1] == "--spyctl-start":
        python = harness.python_from_argv(sys.argv, 2)
        c = Checks("test_import_preloaded --spyctl-start")
        check_spyctl_start(c, python)
    else:
        python = harness.python_from_argv(sys.argv, 1)
        c = Checks("test_import_preloaded %s" % harness.label_of(python))
        check_interpreter(c, python)
    c.finish()


if __name__ == "__main__":
    main()
