#!/usr/bin/env python3
"""Throughput of a CPU-bound pure-Python loop without the agent, with it at
100 Hz and with it at 1000 Hz (SPY_CPU_BUDGET=0, so the agent never slows
itself down).

Each run is a fresh process (targets/loop.py) pinned with ``taskset -c CPU``
to one core, so the sampler thread competes with the loop for that core and
its cost shows up as lost throughput. The loop sits --depth frames deep and
counts work units finished in --seconds of wall time after a warm-up. Rounds
are interleaved (none, 100, 1000, none, 100, 1000, ...); medians and the loss
against the baseline are reported, both per wall second (the headline) and
per CPU second of the whole process (robust when something else shares the
core, whose share of the core is also shown). Not a test: no thresholds.

    python3 tests/bench/bench_throughput.py --build build [--rounds 7] [--seconds 3]
"""

import os
import shutil
import sys

import benchlib as bl


def parse_args():
    p = bl.arg_parser(__doc__.split("\n")[0], rounds=7, python="/usr/bin/python3.11")
    p.add_argument("--seconds", type=bl.positive_float(0.2, 600), default=3.0,
                   help="measured wall time per run (default: 3)")
    p.add_argument("--warmup", type=bl.positive_float(0, 60), default=0.5,
                   help="unmeasured warm-up per run (default: 0.5)")
    p.add_argument("--depth", type=bl.positive_int(4, 900), default=20,
                   help="stack depth of the loop in frames (default: 20)")
    p.add_argument("--rates", type=bl.int_list(1, 10000), default=[100, 1000],
                   help="comma-separated SPY_RATE values to compare (default: 100,1000)")
    p.add_argument("--cpu", type=bl.positive_int(0, 4095), default=0,
                   help="core to pin to with taskset (default: 0)")
    args = bl.parse_args(p)
    if not shutil.which("taskset"):
        p.error("taskset not found (Debian package util-linux)")
    if args.cpu not in os.sched_getaffinity(0):
        p.error("--cpu %d is not available to this process (allowed: %s)"
                % (args.cpu, sorted(os.sched_getaffinity(0))))
    return args


def main():
    args = parse_args()
    target = os.path.join(bl.TARGETS, "loop.py")
    configs = [("no agent", None)] + [("agent %d Hz" % r, r) for r in args.rates]
    wall, cpu, share, agent = {}, {}, {}, {}
    for rnd in range(1, args.rounds + 1):
        for name, rate in configs:
            if rate is None:
                env = bl.clean_env()
            else:
                env = args.build.env(rate=rate, cpu_budget=0)
                env["BENCH_AGENT"] = "1"
            cmd = ["taskset", "-c", str(args.cpu), args.python, target,
                   str(args.seconds), str(args.depth), str(args.warmup)]
            res, err = bl.run_target(cmd, env, timeout=args.seconds + args.warmup + 60)
            if err is None and rate is not None and not (res.get("agent") or {}).get("running"):
                err = "agent not running: %s" % res.get("agent")
            if err is None and rate is not None and not res["agent"].get("samples"):
                err = "agent running but took no samples: %s" % res.get("agent")
            if err is not None:
                bl.log("round %d %s: ERROR %s" % (rnd, name, err))
                continue
            wall.setdefault(name, []).append(res["per_wall_s"])
            cpu.setdefault(name, []).append(res["per_cpu_s"])
            share.setdefault(name, []).append(res["cpu"] / res["wall"] * 100.0)
            if rate is not None:
                agent.setdefault(name, []).append(res["agent"])
            a = res.get("agent") or {}
            bl.log("round %d %-14s %10.0f units/s wall %10.0f units/cpu-s  core share %5.1f %%  %s"
                   % (rnd, name, res["per_wall_s"], res["per_cpu_s"] or 0, share[name][-1],
                      "" if not a else "eff. rate %s, samples %s, sampler cpu %ss, cost %s us"
                      % (a.get("effective_rate"), a.get("samples"),
                         a.get("sampler_cpu_seconds"), a.get("sample_cost_us"))))

    base_wall = bl.median(wall.get(configs[0][0], []))
    base_cpu = bl.median(cpu.get(configs[0][0], []))
    rows = []
    for name, rate in configs:
        w = bl.median(wall.get(name, []))
        c = bl.median(cpu.get(name, []))
        eff = bl.median([a.get("effective_rate") for a in agent.get(name, [])
                         if isinstance(a.get("effective_rate"), (int, float))])
        rows.append([name, bl.fmt(w and w / 1000, 1),
                     "—" if rate is None else bl.fmt(bl.loss_pct(base_wall, w), 2, " %"),
                     "—" if rate is None else bl.fmt(bl.loss_pct(base_cpu, c), 2, " %"),
                     "—" if rate is None else bl.fmt(eff, 0),
                     bl.fmt(bl.median(share.get(name, [])), 1, " %"),
                     "%d/%d" % (len(wall.get(name, [])), args.rounds)])
    print("### Throughput of a CPU-bound pure-Python loop\n")
    print("%s, one core (`taskset -c %d`), loop %d frames deep, %g s per run, "
          "median of %d interleaved rounds, SPY_CPU_BUDGET=0. %s.\n"
          % (bl.python_version(args.python), args.cpu, args.depth, args.seconds,
             args.rounds, bl.machine_line()))
    print(bl.markdown_table(
        ["Configuration", "k units/s", "loss (wall)", "loss (CPU)", "effective Hz",
         "core share", "runs"], rows))
    complete = all(wall.get(name) for name, _ in configs)
    print("\n*loss (CPU)* divides by the CPU time of the whole process (loop and sampler), "
          "so it holds up when something else shares the core; *core share* is that CPU "
          "time over wall time (well under 100 % means the core was not ours alone).")
    print()
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
