#!/usr/bin/env python3
"""Cost of one sample, in microseconds, for one thread at stack depth 10/50/150.

For every CPython 3.9-3.13 found under pyenv, plus Debian's /usr/bin/python3.11,
and every depth, a fresh target (targets/deep_busy.py) runs under
LD_PRELOAD=libspyagent.so with SPY_RATE=1000 SPY_CPU_BUDGET=0: one thread
recurses to the depth and spins in pure Python, and after --seconds reads
spyagent.status() from inside its deepest frame. The number reported is
status()['sample_cost_us'] (the agent's own mean time for one walk of all
Python threads over recent samples). A second table gives the sampler
thread's CPU time divided by the number of samples, which also counts the
stack store and the sleeps between ticks.

Rounds are interleaved (round 1: every Python x every depth, round 2: ...)
and the medians are reported. Not a test: no thresholds.

    python3 tests/bench/bench_sample_cost.py --build build [--rounds 5] [--seconds 3]
"""

import os
import sys

import benchlib as bl

DEFAULT_DEPTHS = [10, 50, 150]


def parse_args():
    p = bl.arg_parser(__doc__.split("\n")[0], rounds=5,
                      rounds_help="interleaved rounds per (python, depth); median reported",
                      rate=1000, rate_help="SPY_RATE for the targets")
    p.add_argument("--seconds", type=bl.positive_float(0.5, 600), default=3.0,
                   help="how long each target samples before reading status (default: 3)")
    p.add_argument("--depths", type=bl.int_list(3, 900), default=DEFAULT_DEPTHS,
                   help="comma-separated stack depths in frames (default: 10,50,150)")
    p.add_argument("--pythons", default=None,
                   help="comma-separated interpreter paths (default: pyenv 3.9-3.13 "
                        "and /usr/bin/python3.11)")
    args = bl.parse_args(p)
    if args.pythons:
        pythons = []
        for exe in [s.strip() for s in args.pythons.split(",") if s.strip()]:
            if not os.access(exe, os.X_OK):
                p.error("--pythons: %s is not an executable" % exe)
            pythons.append(("%s (%s)" % (bl.python_version(exe), exe), exe))
        args.pythons = pythons
    else:
        args.pythons = bl.find_pythons()
    if not args.pythons:
        p.error("no Python interpreters found; pass --pythons")
    return args


def main():
    args = parse_args()
    target = os.path.join(bl.TARGETS, "deep_busy.py")
    env = args.build.env(rate=args.rate, cpu_budget=0)
    cost = {}       # (label, depth) -> [sample_cost_us]
    cpu = {}        # (label, depth) -> [sampler cpu us per sample]
    info = {}       # label -> (read_method, effective_rate, samples) of the last round
    errors = {}
    for rnd in range(1, args.rounds + 1):
        for label, exe in args.pythons:
            for depth in args.depths:
                key = (label, depth)
                res, err = bl.run_target([exe, target, str(depth), str(args.seconds)],
                                         env, timeout=args.seconds + 60)
                if err is None and res.get("sample_cost_us") is None:
                    err = "status() has no sample_cost_us: %s" % sorted(res)
                if err is None and not res.get("running"):
                    err = "agent not running (Python %s, read method %s)" % (
                        res.get("python_version"), res.get("read_method"))
                if err is None and not res.get("samples"):
                    err = "agent running but took no samples in %g s" % args.seconds
                if err is not None:
                    errors.setdefault(key, err)
                    bl.log("round %d %s depth %d: ERROR %s" % (rnd, label, depth, err))
                    continue
                c = float(res["sample_cost_us"])
                cost.setdefault(key, []).append(c)
                samples = res.get("samples") or 0
                per = None
                if samples and res.get("sampler_cpu_seconds") is not None:
                    per = float(res["sampler_cpu_seconds"]) / samples * 1e6
                    cpu.setdefault(key, []).append(per)
                info[label] = (res.get("read_method"), res.get("effective_rate"))
                bl.log("round %d %-22s depth %3d (seen %s): %.2f us/sample, "
                       "sampler cpu %s us/sample, %s samples, eff. rate %s, read %s"
                       % (rnd, label, depth, res.get("depth_seen"), c, bl.fmt(per, 2),
                          samples, res.get("effective_rate"), res.get("read_method")))

    heads = ["Python"] + ["depth %d" % d for d in args.depths] + ["read method"]
    rows, rows_cpu = [], []
    for label, _ in args.pythons:
        method = (info.get(label) or ("n/a",))[0]
        rows.append([label] + [bl.fmt(bl.median(cost.get((label, d), [])), 1)
                               for d in args.depths] + [method])
        rows_cpu.append([label] + [bl.fmt(bl.median(cpu.get((label, d), [])), 1)
                                   for d in args.depths])
    print("### Cost of one sample (µs), one thread\n")
    print("`status()['sample_cost_us']`: median of %d interleaved rounds, SPY_RATE=%d, "
          "SPY_CPU_BUDGET=0, %g s per run. %s.\n"
          % (args.rounds, args.rate, args.seconds, bl.machine_line()))
    print(bl.markdown_table(heads, rows, "l" + "r" * len(args.depths) + "l"))
    print("\nSampler thread CPU time per sample (µs; includes the stack store and "
          "timer overhead):\n")
    print(bl.markdown_table(heads[:-1], rows_cpu))
    if errors:
        print("\nFailed runs (first error per cell):\n")
        for (label, depth), err in sorted(errors.items()):
            print("- %s, depth %d: %s" % (label, depth, err))
    print()
    complete = all(cost.get((label, d)) for label, _ in args.pythons for d in args.depths)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
