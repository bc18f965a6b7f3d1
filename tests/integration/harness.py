"""Shared helpers for spyagent's integration tests.

Every test is a standalone script run by the harness interpreter (Debian's
python3.11 under meson).  It runs real interpreters on the scripts in
tests/targets/, with the agent loaded by LD_PRELOAD or by `import spyagent`,
and checks what a person would look at.

Where things are comes from the environment meson gives each test, with
fallbacks to the usual layout so a test can be run by hand from the repo:

    SPY_LIB         absolute path of libspyagent.so   (build/agent/libspyagent.so)
    SPY_MODULE_DIR  directory holding spyagent.so      (build/agent)
    SPY_TARGETS     directory of the target scripts    (tests/targets)
    SPY_PYTHONS     comma-separated interpreters the tests run against
                    (else: every CPython 3.9-3.13 under pyenv + /usr/bin/python3.11)

These variables are for the harness only: they are removed from the
environment of every process a test starts, so the agent never sees them.

Conventions: every wait is bounded; a test exits 0 on pass, 1 on failure,
77 (meson's "skip") when what it needs is absent; its last line is
`PASS <name>` or `FAIL <name>: <n> check(s) failed`.
"""

import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

SPY_LIB = os.path.abspath(os.environ.get("SPY_LIB") or os.path.join(REPO, "build", "agent", "libspyagent.so"))
SPY_MODULE_DIR = os.path.abspath(os.environ.get("SPY_MODULE_DIR") or os.path.join(REPO, "build", "agent"))
SPY_TARGETS = os.path.abspath(os.environ.get("SPY_TARGETS") or os.path.join(REPO, "tests", "targets"))

RESULT_MARKER = "SPYTEST-RESULT "
SKIP = 77

# Variables of the harness itself (SPY_LIB, SPY_PYTHONS, ...: all SPY_*) and
# anything that would change how the agent or the interpreter behaves are never
# inherited by the processes under test; each test adds what it means to set.
_SCRUB_PREFIXES = ("SPY_",)
_SCRUB_VARS = ("LD_PRELOAD", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONWARNINGS",
               "PYTHONDEVMODE", "PYTHONFAULTHANDLER", "PYTHONTRACEMALLOC", "PYENV_VERSION",
               "PYTHONSAFEPATH", "PYTHONINSPECT", "PYTHONDONTWRITEBYTECODE")


def log(msg=""):
    print(msg, flush=True)


# ---------------------------------------------------------------- interpreters

def version_of(python, timeout=30):
    """(major, minor, micro) of an interpreter, by running it."""
    r = run([python, "-c", "import sys; print('%d %d %d' % sys.version_info[:3])"],
            env=clean_env(), timeout=timeout)
    if r.rc != 0 or r.timed_out:
        raise RuntimeError("cannot run %s: %s" % (python, r.describe()))
    return tuple(int(x) for x in r.stdout.split())


def label_of(python):
    """The label used in test names: the interpreter's version, e.g. '3.12.1'."""
    return "%d.%d.%d" % version_of(python)


def pyenv_root():
    root = os.environ.get("PYENV_ROOT")
    if root and os.path.isdir(root):
        return root
    try:
        out = subprocess.run(["pyenv", "root"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             universal_newlines=True, timeout=20).stdout.strip()
        if out and os.path.isdir(out):
            return out
    except (OSError, subprocess.SubprocessError):
        pass
    guess = os.path.expanduser("~/.pyenv")
    return guess if os.path.isdir(guess) else None


def pyenv_interpreters():
    """[(version tuple, path)] of every CPython under pyenv's versions/ (any version)."""
    root = pyenv_root()
    found = []
    if not root:
        return found
    vdir = os.path.join(root, "versions")
    for name in sorted(os.listdir(vdir)):
        parts = name.split(".")
        if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
            continue  # pypy, miniconda, virtualenvs ...
        major, minor = int(parts[0]), int(parts[1])
        exe = os.path.join(vdir, name, "bin", "python%d.%d" % (major, minor))
        if os.access(exe, os.X_OK):
            micro = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 0
            found.append(((major, minor, micro), exe))
    return found


def supported_interpreters():
    """Interpreters the tests run against: from meson, else discovered."""
    env = os.environ.get("SPY_PYTHONS")
    if env:
        return [p for p in env.split(",") if p]
    found = [exe for (v, exe) in pyenv_interpreters() if (3, 9) <= v[:2] <= (3, 13)]
    if os.access("/usr/bin/python3.11", os.X_OK):
        found.append("/usr/bin/python3.11")
    return found


def unsupported_interpreters():
    """pyenv CPythons older than 3.9 (the agent has no table for them)."""
    return [(v, exe) for (v, exe) in pyenv_interpreters() if v[:2] < (3, 9)]


def python_from_argv(argv, index=1):
    if len(argv) <= index:
        sys.exit("usage: %s PYTHON ..." % os.path.basename(argv[0]))
    py = argv[index]
    if not os.access(py, os.X_OK):
        sys.exit("interpreter %r is not executable" % py)
    return py


# ---------------------------------------------------------------- environments

def clean_env(extra=None):
    """os.environ without our variables, LD_PRELOAD or Python knobs, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if k not in _SCRUB_VARS and not k.startswith(_SCRUB_PREFIXES)}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ in tests/targets
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _agent_defaults(env):
    """Every agent a test starts gets its own WebSocket port and data
    directory, so tests running side by side never collide."""
    if "SPY_WS_PORT" not in env:
        env["SPY_WS_PORT"] = str(free_port())
    if "SPY_DATA_DIR" not in env:
        env["SPY_DATA_DIR"] = _data_dir()
    return env


_DATA_DIR = []


def _data_dir():
    """One scratch data directory per test process, removed at its exit."""
    if not _DATA_DIR:
        import atexit
        import shutil
        import tempfile
        _DATA_DIR.append(tempfile.mkdtemp(prefix="spy-test-data-"))
        atexit.register(shutil.rmtree, _DATA_DIR[0], True)
    return _DATA_DIR[0]


# In the sanitizer build the ASan runtime must be the first object loaded
# into a process that loads the (instrumented) agent.
ASAN_RUNTIME = os.environ.get("SPY_ASAN_RUNTIME", "")


def preload_env(extra=None, module=True):
    """Environment that loads the agent with LD_PRELOAD (and can `import spyagent`)."""
    env = clean_env(extra)
    env["LD_PRELOAD"] = (ASAN_RUNTIME + ":" if ASAN_RUNTIME else "") + SPY_LIB
    if module:
        env["PYTHONPATH"] = SPY_MODULE_DIR
    return _agent_defaults(env)


def import_env(extra=None):
    """Environment in which `import spyagent` works, with no LD_PRELOAD."""
    env = clean_env(extra)
    env["PYTHONPATH"] = SPY_MODULE_DIR
    if ASAN_RUNTIME:
        env["LD_PRELOAD"] = ASAN_RUNTIME
    return _agent_defaults(env)


def require_library():
    """Exit with a clear message when the agent has not been built."""
    missing = [p for p in (SPY_LIB, os.path.join(SPY_MODULE_DIR, "spyagent.so")) if not os.path.exists(p)]
    if missing:
        log("FAIL: agent not built: missing %s (run `ninja -C build`)" % ", ".join(missing))
        sys.exit(1)


# ---------------------------------------------------------------- processes

class Result(object):
    def __init__(self, cmd, rc, stdout, stderr, elapsed, timed_out):
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed = elapsed
        self.timed_out = timed_out

    def stderr_lines(self):
        return [l for l in self.stderr.splitlines() if l.strip()]

    def describe(self, tail=40):
        return describe_process(self.cmd, self.rc, self.stdout, self.stderr, self.elapsed,
                                self.timed_out, tail)


def _tail(text, n):
    lines = text.splitlines()
    if len(lines) > n:
        lines = ["... (%d lines before)" % (len(lines) - n)] + lines[-n:]
    return "\n".join("      | " + l for l in lines) if lines else "      | (empty)"


def describe_rc(rc):
    if rc is None:
        return "still running"
    if rc < 0:
        try:
            return "killed by %s" % signal.Signals(-rc).name
        except ValueError:
            return "killed by signal %d" % -rc
    return "exit code %d" % rc


def describe_process(cmd, rc, stdout, stderr, elapsed, timed_out, tail=40):
    state = "TIMED OUT after %.1fs (killed)" % elapsed if timed_out else "%s after %.1fs" % (describe_rc(rc), elapsed)
    return ("    command: %s\n    result:  %s\n    stdout:\n%s\n    stderr:\n%s"
            % (" ".join(cmd) if isinstance(cmd, (list, tuple)) else cmd, state,
               _tail(stdout or "", tail), _tail(stderr or "", tail)))


def kill_group(proc):
    """SIGKILL the process group of a child we started with start_new_session."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run(cmd, env=None, timeout=60, input=None, cwd=None):
    """Run cmd to completion or until timeout; never raises on failure or hang."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                            errors="replace", start_new_session=True)
    timed_out = False
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            out, err = "", "(output lost: process group did not die)"
    # The child may have left descendants behind (forks): never leave them running.
    kill_group(proc)
    return Result(cmd, proc.returncode, out or "", err or "", time.monotonic() - t0, timed_out)


def find_result(text, marker=RESULT_MARKER):
    """The JSON object printed on the (last) line starting with marker, or None."""
    found = None
    for line in text.splitlines():
        if line.startswith(marker):
            found = line[len(marker):]
    if found is None:
        return None
    return json.loads(found)


def print_result(obj, marker=RESULT_MARKER):
    """For targets: print obj on the marker line (one line of JSON)."""
    sys.stdout.write(marker + json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------- checks

class Checks(object):
    """Collects named checks; prints each; finish() prints PASS/FAIL and exits."""

    def __init__(self, name):
        self.name = name
        self.failed = []
        self.passed = 0
        self.notes = []

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            log("  ok    %s" % what)
        else:
            self.failed.append(what)
            log("  FAIL  %s" % what)
            if detail:
                for line in str(detail).splitlines():
                    log("        " + line)
        return bool(cond)

    def eq(self, got, want, what):
        return self.ok(got == want, "%s: %r" % (what, want) if got == want else what,
                       "expected %r\n got      %r" % (want, got))

    def note(self, msg):
        self.notes.append(msg)
        log("  note  %s" % msg)

    def section(self, title):
        log("")
        log("== %s" % title)

    def process_ok(self, r, what, want_rc=0):
        """The process finished by itself (no hang) with the wanted exit code."""
        good = (not r.timed_out) and r.rc == want_rc
        self.ok(good, "%s: exits with code %d" % (what, want_rc), "" if good else r.describe())
        return good

    def finish(self):
        log("")
        if self.failed:
            log("FAIL %s: %d check(s) failed (%d passed):" % (self.name, len(self.failed), self.passed))
            for f in self.failed:
                log("    - " + f)
            sys.exit(1)
        log("PASS %s (%d checks)" % (self.name, self.passed))
        sys.exit(0)

    def abort(self, msg, result=None):
        """Stop now: what follows cannot be checked."""
        self.failed.append(msg)
        log("  FAIL  %s" % msg)
        if result is not None:
            log(result.describe())
        self.finish()


def agent_error_lines(stderr):
    """Lines on stderr that look like trouble from the agent or the interpreter."""
    bad = []
    words = ("error", "fatal", "crash", "segfault", "fault", "abort", "warn", "fail", "bug")
    for line in stderr.splitlines():
        low = line.lower()
        if "spyagent" in low and any(w in low for w in words):
            bad.append(line)
        elif "fatal python error" in low or "segmentation fault" in low or "core dumped" in low:
            bad.append(line)
    return bad


def uvicorn_loop():
    """The event loop uvicorn is told to run (--loop): SPY_TEST_LOOP (asyncio or
    uvloop, set by tests/meson.build), else uvicorn's own choice, "auto", which
    is uvloop when python3-uvloop is installed (scripts/deps.sh installs it)."""
    return os.environ.get("SPY_TEST_LOOP") or "auto"
