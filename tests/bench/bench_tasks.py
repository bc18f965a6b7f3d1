#!/usr/bin/env python3
"""Cost of asyncio task snapshots (issue 12).

Two tables, from targets/pending_tasks.py (N tasks waiting in a 3-deep
coroutine chain) under LD_PRELOAD=libspyagent.so:

1. Cost per task per snapshot: status()['task_cost_us'] (mean wall time of
   a snapshot) for N = 10, 100, 1000, 5000 pending tasks at SPY_TASK_RATE=20
   with no CPU budget, with the default cap (64: list all, walk 64) and
   with the cap at its maximum, 4096 (walk every task up to 4096); divided by N it is the cost per
   listed task, and the difference between the two caps over the extra
   tasks walked is the cost per walked task.
2. Agent CPU (the spy-* threads, % of one core) at default settings
   (SPY_TASK_RATE=20, SPY_TASK_CAP=64, SPY_CPU_BUDGET=1) with 1,000 pending
   tasks against the same program with none; and with 1,000 tasks and no
   budget, to show what 20 Hz costs before the budget steps in.

Interleaved rounds, medians.  Not a test: no thresholds.

    python3 tests/bench/bench_tasks.py --build build [--rounds 5] [--seconds 8]
"""

import os
import statistics
import sys

import benchlib as bl

COUNTS = [10, 100, 1000, 5000]


def main():
    p = bl.arg_parser(__doc__.split("\n")[0], rounds=5, python="/usr/bin/python3.11")
    p.add_argument("--seconds", type=bl.positive_float(1, 600), default=8.0,
                   help="measured seconds per run, after 2 s of warm-up (default: 8)")
    args = bl.parse_args(p)
    target = os.path.join(bl.TARGETS, "pending_tasks.py")

    cost_runs = [(n, cap) for n in COUNTS for cap in (64, 4096)]
    cpu_runs = [("no tasks, defaults", 0, None), ("1,000 tasks, defaults", 1000, None),
                ("1,000 tasks, SPY_CPU_BUDGET=0", 1000, 0)]
    cost, cpu, info, errors = {}, {}, {}, {}
    for rnd in range(1, args.rounds + 1):
        for n, cap in cost_runs:
            env = args.build.env(cpu_budget=0)
            env["SPY_TASK_RATE"] = "20"
            env["SPY_TASK_CAP"] = str(cap)
            res, err = bl.run_target([args.python, target, str(n), str(min(args.seconds, 4.0))], env, 120)
            if err:
                errors.setdefault((n, cap), err)
                bl.log("round %d: %d tasks cap %d: ERROR %s" % (rnd, n, cap, err))
                continue
            cost.setdefault((n, cap), []).append(res["task_cost_us"])
            info[(n, cap)] = res
            bl.log("round %d: %d tasks cap %d: %.1f us per snapshot (%d listed, %d walked)"
                   % (rnd, n, cap, res["task_cost_us"], res["tasks"], res["tasks_walked"]))
        for label, n, budget in cpu_runs:
            env = args.build.env(cpu_budget=budget)
            res, err = bl.run_target([args.python, target, str(n), str(args.seconds)], env, args.seconds + 60)
            if err:
                errors.setdefault(label, err)
                bl.log("round %d: %s: ERROR %s" % (rnd, label, err))
                continue
            cpu.setdefault(label, []).append(res)
            bl.log("round %d: %s: agent %.2f %% of a core, %.1f snapshots/s"
                   % (rnd, label, res["agent_cpu_pct"], res["snapshots_per_s"]))

    print("## Task snapshot cost (SPY_TASK_RATE=20, no budget; %s, %d rounds, medians)\n" % (args.python, args.rounds))
    print("| pending tasks | cap | tasks walked | µs per snapshot | µs per listed task |")
    print("|---:|---:|---:|---:|---:|")
    for n, cap in cost_runs:
        if (n, cap) not in cost:
            print("| %d | %d | – | error: %s | – |" % (n, cap, errors.get((n, cap))))
            continue
        m = statistics.median(cost[(n, cap)])
        print("| %d | %d | %d | %.1f | %.3f |" % (n, cap, info[(n, cap)]["tasks_walked"], m, m / max(1, n + 1)))
    walked = []
    for n in COUNTS:
        a, b = cost.get((n, 64)), cost.get((n, 4096))
        if a and b and info[(n, 4096)]["tasks_walked"] > info[(n, 64)]["tasks_walked"]:
            extra = info[(n, 4096)]["tasks_walked"] - info[(n, 64)]["tasks_walked"]
            walked.append("%d tasks: %.2f µs per extra task walked" % (n, (statistics.median(b)
                                                                            - statistics.median(a)) / extra))
    if walked:
        print("\nWalking a task (reading its chain and interning its stack): " + "; ".join(walked) + ".")

    print("\n## Agent CPU with pending tasks (%s, %.0f s measured, %d rounds, medians)\n" % (args.python, args.seconds,
                                                                                          args.rounds))
    print("| program | agent CPU (% of a core) | sampler CPU | task snapshots/s | tick rate |")
    print("|---|---:|---:|---:|---:|")
    for label, n, budget in cpu_runs:
        rs = cpu.get(label)
        if not rs:
            print("| %s | error: %s | | | |" % (label, errors.get(label)))
            continue
        print("| %s | %.2f | %.2f | %.1f | %d |" % (
            label, statistics.median(r["agent_cpu_pct"] for r in rs),
            statistics.median(r["sampler_cpu_pct"] for r in rs),
            statistics.median(r["snapshots_per_s"] for r in rs), statistics.median(r["effective_rate"] for r in rs)))
    return 1 if errors and not cost and not cpu else 0


if __name__ == "__main__":
    sys.exit(main())
