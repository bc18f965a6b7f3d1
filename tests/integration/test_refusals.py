"""Refusals at attach, with an agent whose offset tables are wrong.

A test-only build of the agent (tests/refusals/corrupt) makes one entry of
every table deliberately wrong, the one SPYTEST_CORRUPT names:

  strings  the str state bits: no _Py_DebugOffsets entry describes them, so
           on every interpreter the checks at attach (a str-keyed lookup of
           sys.__dict__['modules']) must fail: one `spyagent:` line naming
           the version and what did not match, no samples, and the program
           runs to its end with its own output and exit code;
  link     the thread-state link (PyThreadState.next): 3.9-3.12 must refuse
           it the same way (PyThreadState_Next() disagrees); on 3.13 the
           interpreter's _Py_DebugOffsets describes that field, so the agent
           must use the interpreter's value, say so in one line, and sample;
  lines    the code objects' first line: nothing at attach can see it, only
           the walk of the thread that starts the agent compared with the
           frames CPython reports (`import spyagent`, with the GIL): 3.9-3.12
           must refuse naming a frame and both lines; 3.13 corrects it from
           _Py_DebugOffsets and samples.

strings and link run under LD_PRELOAD, lines with `import spyagent`, with
every interpreter in SPY_PYTHONS.
"""
import json
import os
import sys

import harness

IMPORT_PROGRAM = r"""
import json, sys, time
def nested(n):
    if n == 0:
        import spyagent
        t = time.time()
        while time.time() - t < 3.0:
            sum(range(1000))
        return spyagent.status()["samples"]
    return nested(n - 1)
samples = nested(5)
print("app done " + json.dumps({"samples": samples}), flush=True)
sys.exit(3)
"""

PROGRAM = r"""
import json, sys, time
def work():
    t = time.time()
    while time.time() - t < 3.0:
        sum(range(1000))
work()
import spyagent
print("app done " + json.dumps({"samples": spyagent.status()["samples"]}), flush=True)
sys.exit(3)
"""


def run_with(build_dir, which, python, preload):
    env = harness.clean_env({"SPYTEST_CORRUPT": which})
    if preload:
        env["LD_PRELOAD"] = (harness.ASAN_RUNTIME + ":" if harness.ASAN_RUNTIME else "") + \
            os.path.join(build_dir, "libspyagent.so")
    elif harness.ASAN_RUNTIME:
        env["LD_PRELOAD"] = harness.ASAN_RUNTIME
    env["PYTHONPATH"] = build_dir
    env = harness._agent_defaults(env)
    return harness.run([python, "-c", PROGRAM if preload else IMPORT_PROGRAM], env=env, timeout=60)


def samples_of(r):
    for line in r.stdout.splitlines():
        if line.startswith("app done "):
            return json.loads(line[len("app done "):])["samples"]
    return None


def main():
    d = os.environ.get("SPY_CORRUPT_AGENT")
    builds = {"strings": d, "link": d, "lines": d}
    c = harness.Checks("test_refusals")
    for name, d in builds.items():
        if not d or not os.path.exists(os.path.join(d, "spyagent.so")):
            c.abort("the corrupt-table build is missing (%s)" % d)
    for python in harness.supported_interpreters():
        major, minor, micro = harness.version_of(python)
        label = "%d.%d.%d" % (major, minor, micro)
        for name, d in sorted(builds.items()):
            c.section("%s, table with a wrong %s entry" % (label, name))
            r = run_with(d, name, python, preload=name != "lines")
            c.process_ok(r, "%s %s: the program runs to its end" % (label, name), want_rc=3)
            samples = samples_of(r)
            c.ok(samples is not None, "%s %s: the program's own output is intact" % (label, name), r.describe())
            lines = [l for l in r.stderr_lines() if l.strip()]
            corrected = name in ("link", "lines") and minor >= 13
            if corrected:
                field = "thread_state.next" if name == "link" else "code_object.firstlineno"
                ok = (len(lines) == 1 and lines[0].startswith("spyagent:") and "_Py_DebugOffsets differs" in lines[0]
                      and field in lines[0])
                c.ok(ok, "%s %s: one line saying the interpreter's _Py_DebugOffsets was used" % (label, name),
                     r.stderr)
                c.ok(samples is not None and samples > 0, "%s %s: the agent samples with the corrected table (%s samples)"
                     % (label, name, samples))
            else:
                want = {"link": "PyThreadState_Next", "strings": "sys.__dict__['modules']",
                        "lines": ") is at line "}[name]
                ok = (len(lines) == 1 and lines[0].startswith("spyagent:") and ("Python %s" % label) in lines[0]
                      and "does not match the offset table" in lines[0] and want in lines[0]
                      and "the agent is off" in lines[0] and (name != "lines" or "the offsets read line" in lines[0]))
                c.ok(ok, "%s %s: one line naming the version and %s" % (label, name, want), r.stderr)
                c.ok(samples == 0, "%s %s: nothing was sampled (%s samples)" % (label, name, samples))
            if lines:
                harness.log("        the line: %s" % lines[0])
    c.finish()


if __name__ == "__main__":
    main()
