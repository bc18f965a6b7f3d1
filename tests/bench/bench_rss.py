#!/usr/bin/env python3
"""Resident memory added by the agent: VmRSS of a target with several threads
and many distinct functions and stacks, with the agent at 1000 Hz
(SPY_CPU_BUDGET=0) and without it.

Each round starts the two targets (targets/many_stacks.py, same seed, same
work) at the same moment, side by side, and reads VmRSS from
/proc/PID/status of both once a second. The table gives the medians over
rounds of VmRSS after a short settle time and at the end of --seconds, the
difference (what the agent adds) and how much the agent's process grew
between the two (a bounded stack store should stop growing). Not a test: no
thresholds.

    python3 tests/bench/bench_rss.py --build build [--seconds 60] [--rounds 1]
"""

import json
import os
import subprocess
import sys
import time

import benchlib as bl


def parse_args():
    p = bl.arg_parser(__doc__.split("\n")[0], rounds=1, rounds_help="rounds; each runs both targets side by side",
                      rate=1000, rate_help="SPY_RATE for the agent target", python="/usr/bin/python3.11")
    p.add_argument("--seconds", type=bl.positive_float(5, 3600), default=60.0,
                   help="how long the targets run before the final reading (default: 60)")
    p.add_argument("--threads", type=bl.positive_int(1, 256), default=8,
                   help="worker threads in the target (default: 8)")
    p.add_argument("--functions", type=bl.positive_int(10, 200000), default=2000,
                   help="distinct generated functions (default: 2000)")
    p.add_argument("--modules", type=bl.positive_int(1, 10000), default=50,
                   help="synthetic source files the functions are spread over (default: 50)")
    args = bl.parse_args(p)
    if args.modules > args.functions:
        p.error("--modules (%d) must not exceed --functions (%d)" % (args.modules, args.functions))
    return args


class Target:
    def __init__(self, args, env, seed):
        cmd = [args.python, os.path.join(bl.TARGETS, "many_stacks.py"),
               str(args.threads), str(args.functions), str(args.modules), str(seed)]
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     universal_newlines=True, bufsize=1)
        line = self.proc.stdout.readline()
        if not line.startswith("{"):
            self.proc.kill()
            raise RuntimeError("target did not start (exit %s)" % self.proc.wait())

    def rss(self):
        return bl.read_status_kb(self.proc.pid, "VmRSS")

    def hwm(self):
        return bl.read_status_kb(self.proc.pid, "VmHWM")

    def status(self):
        self.proc.stdin.write("status\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline() or "null")

    def stop(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(15)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        return self.proc.returncode


def one_round(args, rnd, seed):
    settle = min(5.0, args.seconds / 4)
    agent_env = args.build.env(rate=args.rate, cpu_budget=0)
    agent_env["BENCH_AGENT"] = "1"
    none = Target(args, bl.clean_env(), seed)
    try:
        agent = Target(args, agent_env, seed)
    except RuntimeError:
        none.stop()
        raise
    out = {}
    try:
        if "spy-sampler" not in bl.thread_names(agent.proc.pid):
            time.sleep(0.5)     # the agent starts its threads once Python is initialised
        if "spy-sampler" not in bl.thread_names(agent.proc.pid):
            raise RuntimeError("agent target has no spy-sampler thread")
        start = time.monotonic()
        next_log = 0.0
        settled = False
        while True:
            elapsed = time.monotonic() - start
            if not settled and elapsed >= settle:
                out["none_settle"], out["agent_settle"] = none.rss(), agent.rss()
                settled = True
            if elapsed >= args.seconds:
                break
            if elapsed >= next_log:
                bl.log("round %d t=%3.0fs VmRSS kB: no agent %s, agent %s"
                       % (rnd, elapsed, none.rss(), agent.rss()))
                next_log += 10.0
            time.sleep(min(1.0, args.seconds - elapsed))
        out["none_end"], out["agent_end"] = none.rss(), agent.rss()
        out["none_hwm"], out["agent_hwm"] = none.hwm(), agent.hwm()
        out["status"] = agent.status()
        for p in (none.proc, agent.proc):
            if p.poll() is not None:
                raise RuntimeError("a target died during the run (exit %s)" % p.returncode)
    finally:
        rc = (none.stop(), agent.stop())
        if any(rc):
            bl.log("round %d: targets exited %s (no agent, agent)" % (rnd, rc))
    st = out["status"] or {}
    bl.log("round %d end: VmRSS no agent %s kB, agent %s kB (%+d kB); samples %s, dropped %s, "
           "overflow %s, effective rate %s, sample cost %s us"
           % (rnd, out["none_end"], out["agent_end"], out["agent_end"] - out["none_end"],
              st.get("samples"), st.get("dropped"), st.get("overflow"),
              st.get("effective_rate"), st.get("sample_cost_us")))
    return out


def main():
    args = parse_args()
    rounds = []
    for rnd in range(1, args.rounds + 1):
        try:
            rounds.append(one_round(args, rnd, seed=rnd))
        except (RuntimeError, OSError, ValueError) as e:
            bl.log("round %d: ERROR %s" % (rnd, e))

    def med(key):
        return bl.median([r[key] for r in rounds])

    def mib(kb):
        return None if kb is None else kb / 1024.0

    def diff(a, b):
        return bl.median([r[a] - r[b] for r in rounds])

    settle = min(5.0, args.seconds / 4)
    rows = [
        ["no agent", bl.fmt(mib(med("none_settle"))), bl.fmt(mib(med("none_end"))),
         bl.fmt(mib(med("none_hwm"))), bl.fmt(mib(diff("none_end", "none_settle"))), "—"],
        ["agent %d Hz" % args.rate, bl.fmt(mib(med("agent_settle"))),
         bl.fmt(mib(med("agent_end"))), bl.fmt(mib(med("agent_hwm"))),
         bl.fmt(mib(diff("agent_end", "agent_settle"))),
         bl.fmt(mib(diff("agent_end", "none_end")))],
    ]
    samples = bl.median([(r["status"] or {}).get("samples") for r in rounds])
    dropped = bl.median([(r["status"] or {}).get("dropped") for r in rounds])
    overflow = bl.median([(r["status"] or {}).get("overflow") for r in rounds])
    print("### Resident memory added by the agent\n")
    print("%s, %d worker threads walking random chains (3-40 deep) through %d functions "
          "in %d files, %g s per run, SPY_RATE=%d, SPY_CPU_BUDGET=0, both targets side by "
          "side, median of %d round(s); agent samples %s, dropped %s, store overflow %s. %s.\n"
          % (bl.python_version(args.python), args.threads, args.functions, args.modules,
             args.seconds, args.rate, len(rounds), bl.fmt(samples, 0), bl.fmt(dropped, 0),
             bl.fmt(overflow, 0),
             bl.machine_line()))
    print(bl.markdown_table(
        ["Configuration", "VmRSS at %g s (MiB)" % settle, "VmRSS at %g s (MiB)" % args.seconds,
         "VmHWM (MiB)", "growth (MiB)", "added by agent (MiB)"], rows))
    print()
    return 0 if rounds else 1


if __name__ == "__main__":
    sys.exit(main())
