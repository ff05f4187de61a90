"""Placement: the dynamic policy vs the best static split of the same slots, on a shifting
workload (a rollout-heavy phase, then a reward-heavy one: a generative judge switched on).

`python -m bench.placement sim [--slots 16 32 64] [--quick]`: the real placement core
(estimator + policy) driving a discrete-event model of the pipeline (placement/simulate.py).
The run on real processes (placement, workers, controllers, etcd, sim engines) is pending: it
needs the controller/trainer launch path; tests/placement/test_placement_workload.py shows moves
on real workers meanwhile. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from yatt.placement.config import PlacementConfig, load_placement_config  # noqa: E402
from yatt.placement.simulate import STAGES, Phase, SimResult, WorkloadModel, simulate  # noqa: E402

GOAL = 1.25
# Seconds one slot spends per item (a prompt group) in each role. Relative sizes follow the
# rates bench.rollout measures on the tiny model (rollout dominates; a rule reward is ~10% of
# it; a generative judge costs more than the rollout it grades); pass --phase to change them.
DEFAULT_PHASES = (
    Phase(0.5, {"rollout": 2.0, "reward": 0.2, "reference": 0.3}),
    Phase(0.5, {"rollout": 2.0, "reward": 3.0, "reference": 0.3}),
)


def placement_config(
    slots: int, policy: str, split: dict[str, int], **params: float
) -> PlacementConfig:
    return load_placement_config(
        data={
            "job": "bench",
            "slots": slots,
            "roles": {r: {"initial": n} for r, n in split.items()},
            "policy": {"name": policy, "params": params if policy != "static" else {}},
        }
    )


def splits(slots: int) -> list[dict[str, int]]:
    out = []
    for a, b in itertools.combinations(range(1, slots), 2):
        counts = (a, b - a, slots - b)
        out.append(dict(zip(STAGES, counts, strict=True)))
    return out


def fluid_time(model: WorkloadModel, split: dict[str, int], slots: int) -> float:
    """Lower bound of a static split's makespan: each phase runs at its bottleneck's pace."""
    items = model.items_per_slot * slots
    return sum(
        p.fraction * items * max(p.seconds[r] / split[r] for r in STAGES) for p in model.phases
    )


def best_static(
    model: WorkloadModel, slots: int, candidates: int, seed: int
) -> tuple[dict[str, int], SimResult]:
    """Simulates the `candidates` splits with the best fluid bound; returns the fastest."""
    ranked = sorted(splits(slots), key=lambda s: fluid_time(model, s, slots))[:candidates]
    results = [(s, simulate(model, s, placement_config(slots, "static", s), seed)) for s in ranked]
    return min(results, key=lambda r: r[1].makespan)


def run_sim(args: argparse.Namespace) -> dict:
    model = WorkloadModel(
        phases=DEFAULT_PHASES,
        items_per_slot=40 if args.quick else args.items_per_slot,
        switch_s=args.switch_s,
        tick_s=1.0,
    )
    console = Console()
    console.print(f"model: {model}")
    table = Table(title="dynamic vs best static split (simulated time, seconds)")
    for col in ("slots", "policy", "split (rollout/reward/reference)", "wall s", "idle rollout",
                "idle reward", "idle reference", "moves", "switching"):  # fmt: skip
        table.add_column(col, justify="right")
    rows = []
    for slots in args.slots:
        start = time.perf_counter()
        split, static = best_static(model, slots, args.candidates, args.seed)
        params = {
            "threshold": args.threshold,
            "cooldown_s": args.cooldown_s,
            "min_wait_s": 1.0,
            "max_utilization": 0.9,
            "max_moves": max(1, slots // 4),
        }
        dynamic = simulate(
            model, split, placement_config(slots, "queue_balance", split, **params), args.seed
        )
        speedup = static.makespan / dynamic.makespan
        for name, res in (("static", static), ("dynamic", dynamic)):
            final = "/".join(str(res.final[r]) for r in STAGES)
            table.add_row(
                str(slots), name, final if name == "dynamic" else "/".join(str(split[r]) for r in STAGES),
                f"{res.makespan:.0f}", *(f"{res.idle[r]:.0%}" for r in STAGES),
                str(res.moves), f"{res.switch_fraction:.1%}",
            )  # fmt: skip
        rows.append({"slots": slots, "static_split": split, "static_s": static.makespan,
                     "dynamic_s": dynamic.makespan, "speedup": speedup, "moves": dynamic.moves,
                     "static_idle": static.idle, "dynamic_idle": dynamic.idle,
                     "bench_s": time.perf_counter() - start, "params": params})  # fmt: skip
    console.print(table)
    for row in rows:
        verdict = "meets" if row["speedup"] >= GOAL else "misses"
        console.print(
            f"{row['slots']} slots: dynamic {row['speedup']:.2f}x faster than the best static split "
            f"{row['static_split']} ({verdict} the {GOAL}x goal)"
        )
    return {
        "bench": "placement-sim",
        "model": {
            "phases": [p.__dict__ for p in model.phases],
            "items_per_slot": model.items_per_slot,
            "in_flight_per_slot": model.in_flight_per_slot,
            "cv": model.cv,
            "switch_s": model.switch_s,
            "tick_s": model.tick_s,
        },  # fmt: skip
        "results": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    sim = sub.add_parser("sim", help="policy-level simulation with the real placement core")
    sim.add_argument("--slots", type=int, nargs="+", default=[16, 32, 64])
    sim.add_argument("--items-per-slot", type=int, default=100)
    sim.add_argument("--switch-s", type=float, default=20.0, help="seconds a role switch takes")
    sim.add_argument("--threshold", type=float, default=0.2)
    sim.add_argument("--cooldown-s", type=float, default=10.0)
    sim.add_argument("--candidates", type=int, default=12, help="static splits simulated")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run_sim(args), default=str))


if __name__ == "__main__":
    main()
