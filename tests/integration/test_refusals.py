"""Refusals at attach, with agents built with a wrong offset table.

Two test-only builds of the agent (tests/refusals/) each carry one entry of
every table deliberately wrong:

  strings  the str state bits: no _Py_DebugOffsets entry describes them, so
           on every interpreter the checks at attach (a str-keyed lookup of
           sys.__dict__['modules']) must fail: one `spyagent:` line naming
           the version and what did not match, no samples, and the program
           runs to its end with its own output and exit code;
  link     the thread-state link (PyThreadState.next): 3.9-3.12 must refuse
           it the same way (PyThreadState_Next() disagrees); on 3.13 the
           interpreter's _Py_DebugOffsets describes that field, so the agent
           must use the interpreter's value, say so in one line, and sample.

Run with every interpreter in SPY_PYTHONS, under LD_PRELOAD.
"""
import json
import os
import sys

import harness

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


def run_with(build_dir, python):
    env = harness.clean_env()
    env["LD_PRELOAD"] = (harness.ASAN_RUNTIME + ":" if harness.ASAN_RUNTIME else "") + \
        os.path.join(build_dir, "libspyagent.so")
    env["PYTHONPATH"] = build_dir
    env = harness._agent_defaults(env)
    return harness.run([python, "-c", PROGRAM], env=env, timeout=60)


def samples_of(r):
    for line in r.stdout.splitlines():
        if line.startswith("app done "):
            return json.loads(line[len("app done "):])["samples"]
    return None


def main():
    builds = {"strings": os.environ.get("SPY_CORRUPT_STRINGS"), "link": os.environ.get("SPY_CORRUPT_LINK")}
    c = harness.Checks("test_refusals")
    for name, d in builds.items():
        if not d or not os.path.exists(os.path.join(d, "spyagent.so")):
            c.abort("the corrupt-table build %r is missing (%s)" % (name, d))
    for python in harness.supported_interpreters():
        major, minor, micro = harness.version_of(python)
        label = "%d.%d.%d" % (major, minor, micro)
        for name, d in sorted(builds.items()):
            c.section("%s, table with a wrong %s entry" % (label, name))
            r = run_with(d, python)
            c.process_ok(r, "%s %s: the program runs to its end" % (label, name), want_rc=3)
            samples = samples_of(r)
            c.ok(samples is not None, "%s %s: the program's own output is intact" % (label, name), r.describe())
            lines = [l for l in r.stderr_lines() if l.strip()]
            corrected = name == "link" and minor >= 13
            if corrected:
                ok = (len(lines) == 1 and lines[0].startswith("spyagent:") and "_Py_DebugOffsets differs" in lines[0]
                      and "thread_state.next" in lines[0])
                c.ok(ok, "%s %s: one line saying the interpreter's _Py_DebugOffsets was used" % (label, name),
                     r.stderr)
                c.ok(samples is not None and samples > 0, "%s %s: the agent samples with the corrected table (%s samples)"
                     % (label, name, samples))
            else:
                want = "PyThreadState_Next" if name == "link" else "sys.__dict__['modules']"
                ok = (len(lines) == 1 and lines[0].startswith("spyagent:") and ("Python %s" % label) in lines[0]
                      and "does not match the offset table" in lines[0] and want in lines[0]
                      and "the agent is off" in lines[0])
                c.ok(ok, "%s %s: one line naming the version and %s" % (label, name, want), r.stderr)
                c.ok(samples == 0, "%s %s: nothing was sampled (%s samples)" % (label, name, samples))
            if lines:
                harness.log("        the line: %s" % lines[0])
    c.finish()


if __name__ == "__main__":
    main()
