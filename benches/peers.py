#!/usr/bin/env python3
"""Peers side by side (issue #21): Optuna TPE, Optuna GP and SMAC3 on the
landscapes, noise and cost of benches/pooled.rs.

The landscapes are not reimplemented here: the Rust example
`examples/landscape.rs` serves their truths over a line protocol (one JSON
object of parameters in, one JSON line out) and first prints the search
space (each parameter's base value first, as the planner's plan has it),
the base configuration, the brute-force best meeting the bar and the plain
5-run pass's mean GPU time. One server runs per landscape per worker.

For each landscape, budget factor (x the plain pass's mean GPU-seconds, as
benches/pooled.rs) and seed, each peer searches the same categorical space,
the base configuration as its first trial. A trial costs what the benches'
cost model says: start 60 s + 5 eval runs x 30 s when it serves, 20 s when it
crashes, 600 s when it hangs; a trial is started while a full serving trial
still fits in the budget. Each run of a serving trial gets 2 % relative
tok/s noise and 0.003 absolute accuracy noise (Python's `random.Random`,
seeded with the seed); the peer is told the 5-run means.

- tpe: `optuna.samplers.TPESampler(multivariate=True)`; accuracy under the
  bar is infeasible through `Trial.set_constraint` (bar - mean accuracy);
  a crash or hang is a complete trial of 0 tok/s with the constraint of an
  accuracy of 0 (benches/optuna_tpe.py's `mv-infeasible`).
- gp: `optuna.samplers.GPSampler(deterministic_objective=False)`, the same
  objective and constraints (needs torch and scipy).
- smac: SMAC3's `AlgorithmConfigurationFacade` (random forest, the default
  configuration as its initial design, intensification over seeds with
  `deterministic=False`), through ask/tell; cost = -mean tok/s when the mean
  accuracy meets the bar, else 0 (as is a crash or hang: the penalty of
  serving nothing).

The chosen configuration is what a user would pick from the trials: the
configuration with the highest mean measured tok/s among those whose mean
measured accuracy (over all of its trials' runs: a peer may run one
configuration more than once, SMAC's intensification does) meets the bar;
the base when none does. Reported like benches/pooled.rs: the gap of its
TRUE tok/s to the brute-force best (and to the best 0.0005 over the bar),
mean and worst over the seeds, and how many seeds chose a configuration
truly under the bar.

Usage:
  peers.py run --bin target/release/examples/landscape --out RESULTS.jsonl
      [--seeds 100] [--max-seeds gp=20,smac=20] [--peers tpe,gp,smac]
      [--landscapes separable,interacting,demo] [--factors 0.6,1,2]
      [--jobs 2] [--deadline UNIX_TIME]
  peers.py report RESULTS.jsonl... [--rust POOLED_OUTPUT.md]   (Markdown tables)

`run` appends one JSON line per (peer, landscape, factor, seed) and skips
those already in RESULTS.jsonl, so a run can stop (--deadline: no new study
starts after it) and resume; seeds go in increasing order across all cells.
"""

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

RUNS = 5
PEERS = {
    "tpe": "Optuna TPE (multivariate, constraints)",
    "gp": "Optuna GPSampler (constraints)",
    "smac": "SMAC3 AC facade (RF, intensification)",
}

_bin = None
_servers = {}


class Server:
    """One `examples/landscape` process and a cache of its answers."""

    def __init__(self, binary, landscape):
        self.proc = subprocess.Popen(
            [binary, landscape],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.header = json.loads(self.proc.stdout.readline())
        self.cache = {}

    def truth(self, params):
        key = tuple(sorted(params.items()))
        if key not in self.cache:
            self.proc.stdin.write(json.dumps(params) + "\n")
            self.proc.stdin.flush()
            ans = json.loads(self.proc.stdout.readline())
            if "error" in ans:
                raise RuntimeError(f"landscape server: {ans['error']}")
            self.cache[key] = ans
        return self.cache[key]


def server(landscape):
    if landscape not in _servers:
        _servers[landscape] = Server(_bin, landscape)
    return _servers[landscape]


def _init_worker(binary):
    global _bin
    _bin = binary
    warnings.filterwarnings("ignore")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def search(srv, budget, seed, ask, tell):
    """Runs trials until the budget is spent; returns the choice's truth and
    what was spent. `ask()` gives the searched parameters; `tell(acc, tps)`
    gets the 5-run means, or (None, None) for a crash or hang."""
    h = srv.header
    cost, bar, noise = h["cost"], h["bar"], h["noise"]
    full = cost["start_s"] + RUNS * cost["eval_run_s"]
    rng = random.Random(seed)
    spent, trials = 0.0, 0
    pooled = {}  # config key -> [params, sum acc, sum tps, runs]
    while budget - spent >= full:
        params = ask()
        trials += 1
        t = srv.truth(params)
        if not t["serves"]:
            spent += cost["crash_s"] if t["kind"] == "crash" else cost["hang_s"]
            tell(None, None)
            continue
        accs = [t["accuracy"] + rng.gauss(0.0, 1.0) * noise["acc_abs_sd"] for _ in range(RUNS)]
        tpss = [t["tps"] * (1.0 + rng.gauss(0.0, 1.0) * noise["tps_rel_sd"]) for _ in range(RUNS)]
        spent += full
        key = tuple(sorted(params.items()))
        p = pooled.setdefault(key, [params, 0.0, 0.0, 0])
        p[1] += sum(accs)
        p[2] += sum(tpss)
        p[3] += RUNS
        tell(sum(accs) / RUNS, sum(tpss) / RUNS)
    chosen, best = {}, -math.inf
    for params, acc, tps, n in pooled.values():
        if acc / n >= bar and tps / n > best:
            chosen, best = params, tps / n
    t = srv.truth(chosen)
    acc, tps = (t["accuracy"], t["tps"]) if t["serves"] else (0.0, 0.0)
    return acc, tps, trials, spent


def run_optuna(srv, budget, seed, kind):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    h = srv.header
    bar = h["bar"]
    if kind == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True)
    else:
        sampler = optuna.samplers.GPSampler(seed=seed, deterministic_objective=False)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.enqueue_trial({n: vs[0] for n, vs in h["space"]})
    cur = {}

    def ask():
        cur["t"] = study.ask()
        return {n: cur["t"].suggest_categorical(n, vs) for n, vs in h["space"]}

    def tell(acc, tps):
        t = cur["t"]
        if acc is None:
            t.set_constraint("accuracy", bar)
            study.tell(t, 0.0)
        else:
            t.set_constraint("accuracy", bar - acc)
            study.tell(t, tps)

    return search(srv, budget, seed, ask, tell)


def run_smac(srv, budget, seed):
    from ConfigSpace import Categorical, ConfigurationSpace
    from smac import AlgorithmConfigurationFacade, Scenario
    from smac.runhistory.dataclasses import TrialValue

    h = srv.header
    bar = h["bar"]
    cs = ConfigurationSpace(seed=seed)
    for n, vs in h["space"]:
        cs.add(Categorical(n, vs, default=vs[0]))
    out = tempfile.mkdtemp(prefix="peers-smac-")
    try:
        scenario = Scenario(
            cs,
            deterministic=False,
            n_trials=100000,
            seed=seed,
            output_directory=os.path.join(out, "smac"),
        )

        def target(config, seed: int = 0) -> float:  # never called: ask/tell
            raise RuntimeError("ask/tell only")

        smac = AlgorithmConfigurationFacade(
            scenario, target, overwrite=True, logging_level=40
        )
        cur = {}

        def ask():
            cur["info"] = smac.ask()
            return {n: str(cur["info"].config[n]) for n, _ in h["space"]}

        def tell(acc, tps):
            c = -tps if acc is not None and acc >= bar else 0.0
            smac.tell(cur["info"], TrialValue(cost=c))

        return search(srv, budget, seed, ask, tell)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def one(task):
    peer, landscape, factor, seed = task
    srv = server(landscape)
    budget = factor * srv.header["plain_gpu_s"]
    t0 = time.time()
    if peer == "smac":
        acc, tps, trials, spent = run_smac(srv, budget, seed)
    else:
        acc, tps, trials, spent = run_optuna(srv, budget, seed, peer)
    return {
        "peer": peer,
        "landscape": landscape,
        "factor": factor,
        "seed": seed,
        "acc": acc,
        "tps": tps,
        "trials": trials,
        "gpu_s": spent,
        "wall_s": round(time.time() - t0, 3),
    }


def cmd_run(args):
    from multiprocessing import Pool

    binary = os.path.abspath(args.bin)
    done = set()
    if os.path.exists(args.out):
        with open(args.out) as f:
            for line in f:
                r = json.loads(line)
                done.add((r["peer"], r["landscape"], r["factor"], r["seed"]))
    max_seeds = {}
    for kv in filter(None, args.max_seeds.split(",")):
        k, v = kv.split("=")
        max_seeds[k] = int(v)
    peers = args.peers.split(",")
    for p in peers:
        if p not in PEERS:
            sys.exit(f"unknown peer {p!r} (known: {', '.join(PEERS)})")
    landscapes = args.landscapes.split(",")
    factors = [float(f) for f in args.factors.split(",")]
    tasks = [
        (p, l, f, s)
        for s in range(args.seeds)
        for p in peers
        if s < max_seeds.get(p, args.seeds)
        for l in landscapes
        for f in factors
        if (p, l, f, s) not in done
    ]
    print(f"{len(tasks)} studies to run ({len(done)} already done)", file=sys.stderr)
    # The headers (brute force, plain pass) once, before the workers start.
    for l in landscapes:
        srv = Server(binary, l)
        srv.proc.stdin.close()
        h = srv.header
        print(
            f"{l}: best {h['best_tps']:.1f} tok/s, plain pass {h['plain_gpu_s']:.0f} GPU-s",
            file=sys.stderr,
        )

    def pending():
        for t in tasks:
            if args.deadline and time.time() > args.deadline:
                print("deadline reached: no new studies", file=sys.stderr)
                return
            yield t

    t0 = time.time()
    with open(args.out, "a") as f, Pool(args.jobs, _init_worker, (binary,)) as pool:
        for i, r in enumerate(pool.imap_unordered(one, pending())):
            f.write(json.dumps(r) + "\n")
            f.flush()
            if (i + 1) % 50 == 0:
                print(f"  {i + 1}/{len(tasks)} studies, {time.time() - t0:.0f} s", file=sys.stderr)


def rust_rows(path):
    """benches/pooled.rs's Markdown output: landscape -> (seeds, [(factor or
    None, cells)]) with cells (search, budget, mean gap, worst gap, mean gap
    0.8805, worst 0.8805, under, GPU time)."""
    out, cur = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if " landscape: brute-force best" in line:
                seeds = line.rsplit(",", 1)[1].split()[0]
                cur = out.setdefault(line.split()[0], (seeds, []))[1]
            elif cur is not None and line.startswith("| ") and not line.startswith("| search"):
                cells = [c.strip() for c in line.strip("|").split("|")]
                budget = cells[1]
                factor = None
                if budget.endswith("x") or "x (" in budget:
                    factor = float(budget.split("x")[0])
                if cells[0].startswith("plain pass") or "own budget" in cells[0]:
                    factor = None
                cur.append((factor, cells))
    return out


def cmd_report(args):
    rows = []
    for path in args.results:
        with open(path) as f:
            rows += [json.loads(line) for line in f]
    # Per peer, only the seeds it finished in every cell (a run stopped by
    # its deadline leaves the last seed partly done).
    cells = {}
    for r in rows:
        cells.setdefault(r["peer"], {}).setdefault(r["seed"], set()).add((r["landscape"], r["factor"]))
    every = {(r["landscape"], r["factor"]) for r in rows}
    rows = [r for r in rows if cells[r["peer"]][r["seed"]] == every]
    rust = rust_rows(args.rust) if args.rust else {}
    binary = os.path.abspath(args.bin)
    order = list(PEERS)
    for l in ["separable", "interacting", "demo"]:
        lr = [r for r in rows if r["landscape"] == l]
        if not lr and l not in rust:
            continue
        srv = Server(binary, l)
        srv.proc.stdin.close()
        h = srv.header
        best, reach, bar, plain = h["best_tps"], h["reachable_tps"], h["bar"], h["plain_gpu_s"]
        print(
            f"\n{l} landscape: brute-force best {best:.1f} tok/s (accuracy >= {bar}), "
            f"{reach:.1f} (>= {bar + 0.0005:g}); plain pass {plain:.0f} GPU-s"
        )
        print(
            "| search | budget | seeds | mean gap | worst gap | mean gap (0.8805) | worst (0.8805) "
            "| under the bar | GPU time | trials |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        rseeds, rrows = rust.get(l, ("", []))

        def print_rust(factor):
            for fac, c in rrows:
                if fac == factor:
                    print(f"| {c[0]} | {c[1]} | {rseeds} (0-{int(rseeds) - 1}) | " + " | ".join(c[2:]) + " | |")

        print_rust(None)
        for f in sorted({r["factor"] for r in lr} | {fac for fac, _ in rrows if fac is not None}):
            print_rust(f)
            for p in order:
                c = [r for r in lr if r["peer"] == p and r["factor"] == f]
                if not c:
                    continue
                n = len(c)
                gaps = [(1.0 - r["tps"] / best) * 100.0 for r in c]
                gr = [(1.0 - r["tps"] / reach) * 100.0 for r in c]
                under = sum(r["acc"] < bar for r in c)
                ss = sorted(r["seed"] for r in c)
                seed_txt = f"{n} ({ss[0]}-{ss[-1]})" if ss == list(range(ss[0], ss[-1] + 1)) else str(n)
                print(
                    f"| {PEERS[p]} | {f:g}x | {seed_txt} | {sum(gaps) / n:.2f} % | {max(gaps):.2f} % "
                    f"| {sum(gr) / n:.2f} % | {max(gr):.2f} % | {under} "
                    f"| {sum(r['gpu_s'] for r in c) / n / plain:.2f}x "
                    f"| {sum(r['trials'] for r in c) / n:.1f} |"
                )
        wall = {}
        for r in lr:
            wall.setdefault(r["peer"], []).append(r["wall_s"])
        if wall:
            print(
                "\nwall time per study: "
                + ", ".join(f"{p} {sum(w) / len(w):.1f} s" for p, w in sorted(wall.items()))
            )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--bin", default="target/release/examples/landscape")
    r.add_argument("--out", required=True)
    r.add_argument("--seeds", type=int, default=100)
    r.add_argument("--max-seeds", default="", help="per-peer caps, e.g. gp=20,smac=20")
    r.add_argument("--peers", default="tpe,gp,smac")
    r.add_argument("--landscapes", default="separable,interacting,demo")
    r.add_argument("--factors", default="0.6,1,2")
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--deadline", type=float, default=0.0, help="Unix time: no study starts after it")
    p = sub.add_parser("report")
    p.add_argument("results", nargs="+")
    p.add_argument("--bin", default="target/release/examples/landscape")
    p.add_argument("--rust", help="benches/pooled.rs's output, merged into the tables")
    args = ap.parse_args()
    if args.cmd == "run":
        cmd_run(args)
    else:
        cmd_report(args)


if __name__ == "__main__":
    main()
