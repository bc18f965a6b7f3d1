"""Shared helpers for the spyagent benchmarks in tests/bench/.

The benchmarks are separate commands, not part of the test suite: they print
numbers (a Markdown table on stdout, progress on stderr) and never pass or
fail on a threshold. Each one runs its variants side by side in one
invocation, in interleaved rounds (A, B, C, A, B, C, ...), so that drift in
the machine's load hits every variant alike, and reports medians.

Standard library only; runs on CPython 3.9+.
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TARGETS = os.path.join(HERE, "targets")

LIB_NAME = "libspyagent.so"


class Build:
    """Where a build of the agent lives: the preload library and the module dir."""

    def __init__(self, build_dir):
        self.dir = os.path.abspath(build_dir)
        self.agent_dir = os.path.join(self.dir, "agent")
        self.lib = os.path.join(self.agent_dir, LIB_NAME)

    def env(self, rate=None, cpu_budget=None, base=None):
        """Environment for a target with the agent preloaded.

        ``rate``/``cpu_budget`` become SPY_RATE/SPY_CPU_BUDGET when not None.
        PYTHONPATH points at the build so ``import spyagent`` finds the same
        object that was preloaded (the target reads status through it).
        """
        env = clean_env(base)
        env["LD_PRELOAD"] = self.lib
        env["PYTHONPATH"] = self.agent_dir
        if rate is not None:
            env["SPY_RATE"] = str(rate)
        if cpu_budget is not None:
            env["SPY_CPU_BUDGET"] = str(cpu_budget)
        return env


def clean_env(base=None):
    """A copy of the environment without anything that would load or tune an
    agent (LD_PRELOAD, PYTHONPATH, SPY_*), for the no-agent baseline."""
    env = dict(os.environ if base is None else base)
    for key in list(env):
        if key in ("LD_PRELOAD", "PYTHONPATH", "PYTHONHOME") or key.startswith("SPY_"):
            del env[key]
    return env


def arg_parser(description, rounds=None, rounds_help="interleaved rounds", rate=None,
               rate_help="SPY_RATE for the agent runs", python=None, python_help="interpreter"):
    """An ArgumentParser with the options every benchmark shares: --build,
    and, when given a default, --rounds, --rate and --python.  Read it with
    parse_args(), which also checks --build and --python."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--build", default="build",
                   help="meson build directory holding agent/%s (default: ./build)" % LIB_NAME)
    if rounds is not None:
        p.add_argument("--rounds", type=positive_int(1, 100), default=rounds,
                       help="%s (default: %d)" % (rounds_help, rounds))
    if rate is not None:
        p.add_argument("--rate", type=positive_int(1, 10000), default=rate,
                       help="%s (default: %d)" % (rate_help, rate))
    if python is not None:
        p.add_argument("--python", default=python, help="%s (default: %s)" % (python_help, python))
    return p


def parse_args(parser):
    """Parse the command line; --build becomes a Build, and a --python that
    is not an executable is refused (exit 2 with the reason)."""
    args = parser.parse_args()
    args.build = check_build(parser, args.build)
    if getattr(args, "python", None) is not None and not os.access(args.python, os.X_OK):
        parser.error("--python %s is not an executable" % args.python)
    return args


def check_build(parser, build_dir):
    """Validate --build; exits 2 with a clear message when the library is missing."""
    build = Build(build_dir)
    if not os.path.isdir(build.dir):
        parser.error("--build %s: no such directory (run: meson setup build && ninja -C build)"
                     % build_dir)
    if not os.path.isfile(build.lib):
        parser.error("--build %s: %s not found; build the agent first (ninja -C %s)"
                     % (build_dir, os.path.relpath(build.lib), build_dir))
    return build


def positive_int(lo, hi):
    """argparse type: an int in [lo, hi]."""
    def conv(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("expected an integer, got %r" % text)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError("must be between %d and %d, got %d" % (lo, hi, v))
        return v
    return conv


def positive_float(lo, hi):
    """argparse type: a float in [lo, hi] (NaN and infinities refused)."""
    def conv(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError("expected a number, got %r" % text)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError("must be between %g and %g, got %r" % (lo, hi, text))
        return v
    return conv


def int_list(lo, hi):
    """argparse type: comma-separated ints, each in [lo, hi]."""
    one = positive_int(lo, hi)

    def conv(text):
        items = [s.strip() for s in text.split(",") if s.strip()]
        if not items:
            raise argparse.ArgumentTypeError("expected a comma-separated list, got %r" % text)
        return [one(s) for s in items]
    return conv


def find_pythons():
    """Every CPython 3.9-3.13 under pyenv (newest patch of each minor), plus
    Debian's /usr/bin/python3.11. Returns [(label, path)]."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = []
    for minor in range(9, 14):
        best = None
        for d in glob.glob(os.path.join(root, "versions", "3.%d.*" % minor)):
            name = os.path.basename(d)
            parts = name.split(".")
            if len(parts) != 3 or not parts[2].isdigit():
                continue            # skip 3.13.0t, dev builds, virtualenvs
            exe = os.path.join(d, "bin", "python3")
            if os.access(exe, os.X_OK) and (best is None or int(parts[2]) > best[0]):
                best = (int(parts[2]), name, exe)
        if best:
            found.append(("%s (pyenv)" % best[1], best[2]))
    if os.access("/usr/bin/python3.11", os.X_OK):
        found.append(("%s (Debian)" % python_version("/usr/bin/python3.11"), "/usr/bin/python3.11"))
    return found


def python_version(exe):
    out = subprocess.run([exe, "-c", "import platform; print(platform.python_version())"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         universal_newlines=True, env=clean_env(), timeout=30)
    return out.stdout.strip() or "?"


def run_target(cmd, env, timeout):
    """Run a target that prints one JSON object on its last stdout line.

    Returns (result_dict, None) or (None, error_text). Never raises for the
    target's own failures, so one bad round does not lose the others.
    """
    try:
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timed out after %ss" % timeout
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-3:]
        return None, "exit %s: %s" % (proc.returncode, " | ".join(tail))
    try:
        return json.loads(lines[-1]), None
    except ValueError:
        return None, "unparsable output: %r" % lines[-1][:200]


def thread_names(pid):
    """Names (comm) of a process's threads, e.g. to see that spy-sampler runs."""
    names = []
    for comm in glob.glob("/proc/%d/task/*/comm" % pid):
        try:
            with open(comm) as f:
                names.append(f.read().strip())
        except OSError:
            pass
    return names


def read_status_kb(pid, field):
    """A field of /proc/PID/status in kB (VmRSS, VmHWM, ...), or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=1, suffix=""):
    """Format a number for a table cell; None (no data) becomes 'n/a'."""
    if value is None:
        return "n/a"
    return "%.*f%s" % (digits, value, suffix)


def loss_pct(base, other):
    """How much slower ``other`` is than ``base``, in percent (negative = faster)."""
    if not base or other is None:
        return None
    return (base - other) / base * 100.0


def markdown_table(headers, rows, align=None):
    """A GitHub Markdown table; ``align`` is a string of 'l'/'r' per column."""
    align = align or "l" + "r" * (len(headers) - 1)
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def log(*args):
    """Progress goes to stderr, so stdout stays a clean Markdown report."""
    print(*args, file=sys.stderr, flush=True)


def machine_line():
    """One line describing where the numbers came from."""
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d CPU(s), kernel %s" % (cpu, os.cpu_count() or 0, os.uname().release)
