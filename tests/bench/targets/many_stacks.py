"""Target for bench_rss.py: several threads walking random paths through
many distinct functions, so the agent sees many frames and stacks.

    python many_stacks.py THREADS FUNCTIONS MODULES SEED

FUNCTIONS functions are generated across MODULES synthetic source files.
Each thread repeatedly builds a random call chain (3-40 functions deep),
descends it, does ~0.1 ms of pure-Python work at the bottom and sleeps
~2 ms there, so the process keeps a modest CPU load while nearly every
sample of every thread lands on a new deep stack: the set of distinct
stacks grows without end. The main thread waits on stdin: on "status" it
prints one JSON line (spyagent.status() when BENCH_AGENT=1, else {}), on
"quit" or end of input it stops the workers and exits. Deterministic for a
given SEED, so a run with the agent and one without do the same work.
"""

import json
import os
import random
import sys
import threading
import time

TEMPLATE = '''
def {name}(chain, i, stop):
    if i < len(chain):
        return FUNCS[chain[i]](chain, i + 1, stop)
    return leaf_{name}(stop)

def leaf_{name}(stop):
    x = {k}
    for j in range(200):
        x = (x * 7 + j) % 10007
    SLEEP(0.002)
    return x
'''


def make_functions(count, modules):
    funcs = []
    per_module = (count + modules - 1) // modules
    for m in range(modules):
        names = ["f_%d_%d" % (m, k) for k in range(per_module) if len(funcs) + k < count]
        src = "".join(TEMPLATE.format(name=n, k=len(funcs) + i) for i, n in enumerate(names))
        ns = {"FUNCS": funcs, "SLEEP": time.sleep}
        exec(compile(src, "gen/module_%03d.py" % m, "exec"), ns)
        funcs.extend(ns[n] for n in names)
    return funcs


def worker(funcs, seed, stop):
    rnd = random.Random(seed)
    while not stop.is_set():
        chain = [rnd.randrange(len(funcs)) for _ in range(rnd.randint(3, 40))]
        funcs[chain[0]](chain, 1, stop)


def main():
    threads, functions, modules, seed = (int(a) for a in sys.argv[1:5])
    funcs = make_functions(functions, modules)
    stop = threading.Event()
    workers = [threading.Thread(target=worker, args=(funcs, seed + t, stop),
                                name="walker-%d" % t) for t in range(threads)]
    for t in workers:
        t.start()
    print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "status":
            out = {}
            if os.environ.get("BENCH_AGENT") == "1":
                import spyagent
                out = spyagent.status()
            print(json.dumps(out, default=str), flush=True)
        elif cmd == "quit":
            break
    stop.set()
    for t in workers:
        t.join()


if __name__ == "__main__":
    main()
