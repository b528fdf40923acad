#!/usr/bin/env python3
"""Optuna's TPE sampler on the interacting landscape of benches/passes.rs.

Issue #14 asks how our planner's search compares, at the same trial budget,
with Optuna's TPE sampler started from the same defaults. This script:

1. reimplements `interacting_model` of src/engine/landscape.rs in Python and
   checks it against the sample points the Rust bench exported
   (`EXPORT=file.json cargo bench --profile dev --bench passes`): any point
   whose crash/hang verdict differs, or whose accuracy or tok/s differs by
   more than 1e-9 relative, aborts with exit code 1, so the two sides are
   known to search the same landscape;
2. for each seed runs an Optuna study over the same categorical candidates
   (the built-in space; a default value that is not among its parameter's
   candidates is added in front, as our planner's plan does), with the
   defaults enqueued as the first trial, the same noise model (5 eval runs
   per trial, each with 2 % relative noise on tok/s and 0.003 absolute on
   accuracy; a trial reports their means), and the trial budget our default
   search used on average (from the export);
3. reports, like the Rust bench, the TRUE (noise-free) tok/s gap of the
   chosen configuration to the brute-force best, the share of seeds within
   1 % and 0.5 % (and truly above the bar), and how many chosen
   configurations are truly under the bar.

Feasibility: a trial whose mean accuracy is under the bar (0.88) is
infeasible through Optuna's constraints (`Trial.set_constraint`, which
Optuna 5 has in place of the deprecated `constraints_func`; constraint =
bar - mean accuracy, feasible when <= 0), which TPE is built to use. A
configuration that crashes or hangs at start-up is, in the `*-fail`
variants, a FAILED trial (the objective returns NaN): it counts towards the
budget (it was started, as in our planner) but TPE learns nothing from it,
since Optuna's samplers ignore failed trials, and TPE then often proposes
the same crashing configuration again and again. The `*-infeasible`
variants report it as a complete trial of 0 tok/s that violates the
constraint, so TPE learns to avoid it. The `mv-penalty` variant uses no
constraints: -10000 for a crash, tok/s - 10000 under the bar; it ranks the
trials as the constraints do, so it gives the same numbers as
`mv-infeasible` (TPE only uses the ranking of the best ~10 %).

The chosen configuration is what a user of Optuna would pick: the trial
with the highest measured (noisy) mean tok/s among those measured feasible
(the defaults when none is).

Usage: benches/optuna_tpe.py EXPORT.json [--seeds N] [--variants a,b,...]
[--budget-scale X]. Runs in about 15 s per variant per 50 seeds. benches/compare_search.sh runs both sides.
"""

import argparse
import json
import math
import random
import sys
import time

THRESHOLD = 0.88
RUNS = 5
TPS_REL_SD = 0.02
ACC_ABS_SD = 0.003
PENALTY = 10000.0

# Sampler (mv: multivariate=True, ind: plain independent TPE) and how a
# crash or hang is told to Optuna (fail: a FAILED trial, which TPE ignores;
# infeasible: a complete trial of 0 tok/s violating the accuracy constraint;
# penalty: no constraints, -PENALTY for a crash and tok/s - PENALTY under the
# bar).
VARIANTS = {
    "mv-fail": "multivariate TPE, under the bar infeasible, crash failed",
    "ind-fail": "independent TPE, under the bar infeasible, crash failed",
    "mv-infeasible": "multivariate TPE, under the bar and crash infeasible",
    "ind-infeasible": "independent TPE, under the bar and crash infeasible",
    "mv-penalty": "multivariate TPE, penalty for under the bar and crash",
}


def _num(s):
    """`str::parse::<f64>().unwrap_or(0.0)` for the values of the space."""
    try:
        v = float(s)
    except ValueError:
        return 0.0
    return v


def interacting_model(get):
    """Python twin of `interacting_model` in src/engine/landscape.rs.

    Returns ("serves", accuracy, tps), ("crashes",) or ("hangs",). Written
    operation by operation in the Rust order so the floating-point results
    agree to the last bits (both sides call the C library's pow and log).
    """
    gmu = _num(get("GPU_MEMORY_UTILIZATION"))
    tokens = _num(get("VLLM_MAX_NUM_BATCHED_TOKENS"))
    seqs = _num(get("VLLM_MAX_NUM_SEQS"))
    length = _num(get("MAX_MODEL_LEN"))
    mnt = _num(get("MAX_NEW_TOKENS"))
    if gmu >= 0.985 and tokens >= 196608.0:
        return ("crashes",)
    room = 1024.0 * (1.0 + (gmu - 0.97) * 8.0) * math.pow(1024.0 / length, 0.7)
    if seqs >= 1536.0 and room < 700.0:
        return ("hangs",)
    tps = math.pow(min(seqs, room) / 1024.0, 0.3)
    if seqs > room:
        tps *= math.pow(room / seqs, 0.6)
    ln = math.log(tokens / (192.0 * seqs))
    tps *= 1.0 - 0.06 * (ln * ln)
    tps *= 1.0 + (gmu - 0.97) * 0.4
    acc = 0.902
    if length <= 768.0:
        tps *= 1.01
        acc -= 0.02 if mnt >= 64.0 else 0.001

    def eff(name, table):
        nonlocal tps, acc
        v = get(name)
        for x, t, a in table:
            if x == v:
                tps *= 1.0 + t
                acc += a
                return

    eff("STOP_ON_DOUBLE_NEWLINE", [("1", 0.04, -0.004)])
    eff("OUTPUT_TRIM_EXAMPLES", [("0", -0.01, 0.001)])
    eff(
        "OUTPUT_MAX_SENTENCES",
        [("3", 0.07, -0.025), ("4", 0.03, -0.005), ("8", -0.02, 0.001)],
    )
    eff(
        "MAX_NEW_TOKENS",
        [("32", 0.12, -0.04), ("48", 0.05, -0.006), ("80", -0.05, 0.002)],
    )
    eff("MAX_NEW_TOKENS_CODE", [("160", 0.008, 0.0), ("128", 0.012, -0.02)])
    eff("MAX_NEW_TOKENS_CODE_SOFT", [("64", 0.003, 0.0)])
    eff("HARD_CODE_MIN_HITS", [("2", 0.01, 0.0)])
    eff("REPETITION_PENALTY", [("1.00", 0.01, -0.008), ("1.02", 0.005, -0.001)])
    eff("FREQUENCY_PENALTY", [("0.00", 0.005, 0.0)])
    return ("serves", acc, 4000.0 * tps)


def interacting_truth(params):
    """`interacting_truth`: a missing parameter reads as the empty string."""
    return interacting_model(lambda n: params.get(n, ""))


def rel_diff(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def check_against_rust(doc):
    """Fails loudly unless every exported point agrees within 1e-9."""
    bad = []
    worst = 0.0
    points = doc["points"]
    for i, pt in enumerate(points):
        mine = interacting_truth(pt["params"])
        theirs = pt["truth"]
        if isinstance(theirs, str):
            if mine != (theirs,):
                bad.append(f"point {i}: Rust says {theirs}, Python {mine}")
        elif mine[0] != "serves":
            bad.append(f"point {i}: Rust says serves {theirs}, Python {mine}")
        else:
            da = rel_diff(mine[1], theirs["accuracy"])
            dt = rel_diff(mine[2], theirs["tps"])
            worst = max(worst, da, dt)
            if da > 1e-9 or dt > 1e-9:
                bad.append(
                    f"point {i}: accuracy {mine[1]!r} vs {theirs['accuracy']!r}, "
                    f"tok/s {mine[2]!r} vs {theirs['tps']!r}"
                )
    best = interacting_truth(doc["best"])
    if best[0] != "serves" or rel_diff(best[2], doc["best_tps"]) > 1e-9:
        bad.append(f"brute-force best: Rust {doc['best_tps']!r} tok/s, Python {best}")
    if bad:
        print(
            f"FAIL: the Python landscape differs from the Rust one at {len(bad)} "
            "point(s):",
            file=sys.stderr,
        )
        for b in bad[:20]:
            print("  " + b, file=sys.stderr)
        sys.exit(1)
    kinds = {}
    for pt in points:
        k = pt["truth"] if isinstance(pt["truth"], str) else "serves"
        kinds[k] = kinds.get(k, 0) + 1
    print(
        f"landscape check: {len(points)} exported points agree within 1e-9 "
        f"({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}; "
        f"largest relative difference {worst:.1e}), and so does the "
        f"brute-force best {doc['best_tps']:.1f} tok/s"
    )


def run_study(doc, choices, seed, variant, budget):
    """One Optuna study; returns (true accuracy, true tps) of its choice."""
    import optuna

    defaults = doc["defaults"]
    rng = random.Random(seed)
    sampling, crash = variant.split("-")
    constrained = crash != "penalty"

    def objective(trial):
        params = dict(defaults)
        for name, vs in choices:
            params[name] = trial.suggest_categorical(name, vs)
        t = interacting_truth(params)
        if t[0] != "serves":
            # A crash or start-up timeout.
            if crash == "fail":
                # A failed trial: TPE never sees it.
                return float("nan")
            if crash == "infeasible":
                # A trial TPE sees as infeasible (nothing served).
                trial.set_user_attr("acc", 0.0)
                trial.set_constraint("accuracy", THRESHOLD)
                return 0.0
            trial.set_user_attr("acc", 0.0)
            return -PENALTY
        _, acc, tps = t
        accs = [acc + rng.gauss(0.0, 1.0) * ACC_ABS_SD for _ in range(RUNS)]
        tpss = [tps * (1.0 + rng.gauss(0.0, 1.0) * TPS_REL_SD) for _ in range(RUNS)]
        m_acc = sum(accs) / RUNS
        m_tps = sum(tpss) / RUNS
        trial.set_user_attr("acc", m_acc)
        trial.set_user_attr("tps", m_tps)
        if constrained:
            trial.set_constraint("accuracy", THRESHOLD - m_acc)
        if not constrained and m_acc < THRESHOLD:
            return m_tps - PENALTY
        return m_tps

    sampler = optuna.samplers.TPESampler(
        seed=seed,
        multivariate=sampling == "mv",
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.enqueue_trial({name: defaults[name] for name, _ in choices})
    study.optimize(objective, n_trials=budget)
    chosen, best_tps = None, -math.inf
    for t in study.trials:
        if t.state != optuna.trial.TrialState.COMPLETE:
            continue
        if t.user_attrs["acc"] >= THRESHOLD and t.user_attrs["tps"] > best_tps:
            chosen, best_tps = t, t.user_attrs["tps"]
    params = dict(defaults)
    if chosen is not None:
        params.update(chosen.params)
    failed = sum(1 for t in study.trials if t.user_attrs.get("acc", 0.0) == 0.0)
    truth = interacting_truth(params)
    return truth[1], truth[2], len(study.trials), failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("export", help="the JSON written by the Rust bench's EXPORT")
    ap.add_argument("--seeds", type=int, help="default: as many as the Rust bench ran")
    ap.add_argument(
        "--variants",
        default="mv-fail,ind-fail,mv-infeasible,ind-infeasible",
        help="comma-separated TPE variants: " + "; ".join(f"{k} = {v}" for k, v in VARIANTS.items()),
    )
    ap.add_argument(
        "--budget-scale",
        type=float,
        default=1.0,
        help="trials per study as a multiple of the exported budget",
    )
    args = ap.parse_args()
    with open(args.export) as f:
        doc = json.load(f)
    check_against_rust(doc)

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    import warnings

    # The constraints_func and multivariate options are experimental
    # in Optuna; their warnings would drown the table.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    defaults = doc["defaults"]
    choices = []
    for name, vs in doc["space"]:
        vs = list(vs)
        if defaults[name] not in vs:
            vs.insert(0, defaults[name])
        choices.append((name, vs))
    seeds = args.seeds if args.seeds is not None else doc["seeds"]
    budget = max(1, round(doc["budget"] * args.budget_scale))
    best = doc["best_tps"]
    one_pass = doc["one_pass_trials"]
    print(
        f"Optuna {optuna.__version__} TPE, {seeds} seeds, {budget} trials per study "
        f"(our default search's mean {doc['budget']:.1f}"
        + (f" x {args.budget_scale}" if args.budget_scale != 1.0 else "")
        + f"), {TPS_REL_SD * 100:g}% tok/s and {ACC_ABS_SD} accuracy noise per run, "
        f"{RUNS} runs"
    )
    print(
        f"{'search':<32} {'mean gap':>8} {'worst':>8} {'<=1 %':>8} {'<=0.5 %':>8} {'under':>6} "
        f"{'trials':>7} {'x 1 pass':>9} {'failed':>9}"
    )
    for variant in args.variants.split(","):
        if variant not in VARIANTS:
            sys.exit(f"--variants: unknown variant {variant!r}")
        gap = within1 = within05 = under = trials = failed = 0
        worst = 0.0
        t0 = time.time()
        for seed in range(seeds):
            acc, tps, n, nf = run_study(doc, choices, seed, variant, budget)
            g = (1.0 - tps / best) * 100.0
            gap += g
            worst = max(worst, g)
            within1 += g <= 1.0 and acc >= THRESHOLD
            within05 += g <= 0.5 and acc >= THRESHOLD
            under += acc < THRESHOLD
            trials += n
            failed += nf
        print(
            f"{'TPE ' + variant:<32} {gap / seeds:>7.2f}% {worst:>7.2f}% {within1 / seeds * 100:>7.0f}% "
            f"{within05 / seeds * 100:>7.0f}% {under:>6} {trials / seeds:>7.1f} "
            f"{trials / seeds / one_pass:>8.2f}x {failed / seeds:>9.1f}",
            flush=True,
        )
        print(
            f"  ({variant}: {time.time() - t0:.0f} s)",
            file=sys.stderr,
            flush=True,
        )


if __name__ == "__main__":
    main()
