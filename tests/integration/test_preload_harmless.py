"""Is LD_PRELOAD of the agent invisible to programs that are not its business?

    test_preload_harmless.py

Runs each command twice, without and with LD_PRELOAD=libspyagent.so, and
checks that stdout, the exit code and (empty) stderr are the same:
  - /bin/true, sh -c 'echo ok', sh -c 'exit 3', env (its output compared
    without the LD_PRELOAD line itself: the agent must add nothing to the
    environment of a process that is not Python);
  - every supported interpreter: -c 'print(1)', sys.exit(4), os._exit(5),
    an uncaught SystemExit, a single-threaded program that forks (3.12+ warns
    on stderr when a process with more than one OS thread forks),
    SIGTERM to a sleeping interpreter with a handler (exit 7) and without one
    (killed by SIGTERM);
  - every unsupported CPython under pyenv (older than 3.9): the program still
    works and the agent says so in exactly one stderr line starting with
    `spyagent:` (3.8; older ones may also get no line at all).
Nothing may hang: every run has a timeout.
"""

import os
import re
import select
import signal
import subprocess
import time

import harness
from harness import Checks, log

SIGTERM_SCRIPT = r"""
import signal, sys, time
%s
sys.stdout.write("ready\n"); sys.stdout.flush()
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    time.sleep(0.05)
sys.exit(9)
"""
WITH_HANDLER = "signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(7))"
WITHOUT_HANDLER = "pass"


def compare(c, what, cmd, want_rc=None, filter_stdout=None, timeout=60, filter_stderr=None):
    """Run cmd without and with the agent; same stdout, rc, and empty stderr.
    filter_stderr takes out of the agent's run's stderr what is documented."""
    plain = harness.run(cmd, env=harness.clean_env(), timeout=timeout)
    pre = harness.run(cmd, env=harness.preload_env(module=False), timeout=timeout)
    out_plain, out_pre = plain.stdout, pre.stdout
    if filter_stdout:
        out_plain, out_pre = filter_stdout(out_plain), filter_stdout(out_pre)
    problems = []
    if plain.timed_out or pre.timed_out:
        problems.append("timed out: without agent %s, with agent %s" % (plain.timed_out, pre.timed_out))
    if want_rc is not None and plain.rc != want_rc:
        problems.append("the test itself is wrong: without the agent the exit code is %r, not %r" % (plain.rc, want_rc))
    if pre.rc != plain.rc:
        problems.append("exit code with agent %s, without %s" % (harness.describe_rc(pre.rc), harness.describe_rc(plain.rc)))
    if out_pre != out_plain:
        problems.append("stdout differs:\n  without agent: %r\n  with agent:    %r" % (out_plain[:2000], out_pre[:2000]))
    err_pre = filter_stderr(pre.stderr) if filter_stderr else pre.stderr
    if err_pre != plain.stderr:
        problems.append("stderr differs:\n  without agent: %r\n  with agent:    %r" % (plain.stderr[:2000], pre.stderr[:2000]))
    c.ok(not problems, "%s: same stdout, %s, same stderr with the agent preloaded"
         % (what, harness.describe_rc(plain.rc)), "\n".join(problems))


def sigterm_case(c, python, label, handler, want_rc):
    """Start a sleeping interpreter with the agent, SIGTERM it, expect want_rc."""
    code = SIGTERM_SCRIPT % (WITH_HANDLER if handler else WITHOUT_HANDLER)
    what = "%s SIGTERM to a sleeping interpreter %s a handler" % (label, "with" if handler else "without")
    proc = subprocess.Popen([python, "-c", code], env=harness.preload_env(module=False), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        # Wait (bounded) for "ready": the handler is installed by then.
        ready = b""
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30 and b"ready\n" not in ready:
            r, _, _ = select.select([proc.stdout], [], [], 0.1)
            if r:
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break  # EOF: it died
                ready += chunk
        if b"ready\n" not in ready:
            harness.kill_group(proc)
            proc.wait(10)
            c.ok(False, what, "never printed 'ready' (%s)\nstderr: %r"
                 % (harness.describe_rc(proc.returncode), proc.stderr.read()))
            return
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = None
            harness.kill_group(proc)
            proc.wait(10)
        err = proc.stderr.read().decode("utf-8", "replace")
        good = rc == want_rc and err == ""
        c.ok(good, "%s: %s within 10 s, empty stderr" % (what, harness.describe_rc(want_rc)),
             "got %s, stderr %r" % ("a hang (killed)" if rc is None else harness.describe_rc(rc), err))
    finally:
        if proc.poll() is None:
            harness.kill_group(proc)
            proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def main():
    harness.require_library()
    c = Checks("test_preload_harmless")

    c.section("programs that are not Python")
    compare(c, "/bin/true", ["/bin/true"], want_rc=0)
    compare(c, "sh -c 'echo ok'", ["sh", "-c", "echo ok"], want_rc=0)
    compare(c, "sh -c 'exit 3'", ["sh", "-c", "exit 3"], want_rc=3)
    compare(c, "env", ["env"], want_rc=0,
            filter_stdout=lambda out: "\n".join(sorted(
                l for l in out.splitlines()
                # what the harness itself adds to the agent's environment
                if not l.startswith(("LD_PRELOAD=", "SPY_WS_PORT=", "SPY_DATA_DIR=")))))
    compare(c, "sh running sh (echo nested; exit 2)", ["sh", "-c", "sh -c 'echo nested; exit 2'"], want_rc=2)

    for python in harness.supported_interpreters():
        label = harness.label_of(python)
        c.section("Python %s (%s)" % (label, python))
        compare(c, "%s -c 'print(1)'" % label, [python, "-c", "print(1)"], want_rc=0)
        compare(c, "%s sys.exit(4)" % label, [python, "-c", "import sys; print('bye'); sys.exit(4)"], want_rc=4)
        compare(c, "%s os._exit(5)" % label, [python, "-c", "import os, sys; sys.stdout.write('bye\\n'); sys.stdout.flush(); os._exit(5)"],
                want_rc=5)
        compare(c, "%s uncaught exception" % label, [python, "-c", "raise SystemExit('no such luck')"], want_rc=1)
        # CPython 3.12+ counts the process's OS threads when os.fork() is
        # called from __main__ and warns if there is more than one; the
        # sampler is a thread, so that warning (and only it) is expected.
        # The README says so.
        filt = None
        if harness.version_of(python) >= (3, 12):
            filt = lambda err: re.sub(r"(?m)^.*DeprecationWarning: This process \(pid=\d+\) is multi-threaded, "
                                      r"use of fork\(\) may lead to deadlocks in the child\.\n(  .*\n)?", "", err)
        compare(c, "%s single-threaded fork" % label,
                [python, "-c", "import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)\n"
                 "print('child', os.waitpid(pid, 0)[1])"], want_rc=0, filter_stderr=filt)
        sigterm_case(c, python, label, True, 7)
        sigterm_case(c, python, label, False, -signal.SIGTERM)

    c.section("unsupported interpreters")
    old = harness.unsupported_interpreters()
    if not old:
        c.note("no CPython older than 3.9 under pyenv: skipped")
    for version, python in old:
        label = "%d.%d.%d" % version
        plain = harness.run([python, "-c", "print(1)"], env=harness.clean_env(), timeout=60)
        pre = harness.run([python, "-c", "print(1)"], env=harness.preload_env(module=False), timeout=60)
        lines = pre.stderr_lines()
        problems = []
        if pre.timed_out:
            problems.append("hung")
        if pre.stdout != plain.stdout or pre.rc != plain.rc:
            problems.append("stdout %r rc %s, without the agent %r rc %s" % (pre.stdout, pre.rc, plain.stdout, plain.rc))
        # The contract names 3.8: one line.  Older ones may not even look like
        # a Python the agent knows (no _PyRuntime before 3.7): silence is fine.
        strict = version[:2] == (3, 8)
        one_line = len(lines) == 1 and lines[0].startswith("spyagent:")
        if not (one_line or (not strict and not lines)):
            problems.append("stderr should be %s, got %r"
                            % ("one line starting with 'spyagent:'" if strict else
                               "empty or one line starting with 'spyagent:'", pre.stderr))
        c.ok(not problems, "%s (unsupported): program works, %s on stderr"
             % (label, "one 'spyagent:' line" if strict else "at most one 'spyagent:' line"), "\n".join(problems))
        if len(lines) == 1:
            log("        the line: %s" % lines[0])
    c.finish()


if __name__ == "__main__":
    main()
