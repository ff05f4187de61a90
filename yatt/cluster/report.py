"""After a local run: metrics.jsonl, TensorBoard events, PNG plots, the final HF checkpoint and
summary.json in the run directory."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yatt.cluster.config import UpConfig
from yatt.cluster.local import LocalCluster
from yatt.cluster.timeline import PlacementRecord, read_record
from yatt.cluster.timeline import draw as draw_timeline

if TYPE_CHECKING:
    from yatt.jobs import JobProgress

log = logging.getLogger(__name__)


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Trainer step metrics, one per step (a replayed step after a restart keeps its last line)."""
    if not path.exists():
        return []
    by_step: dict[int, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            by_step[int(row["step"])] = row
    return [by_step[s] for s in sorted(by_step)]


def tenth_means(values: list[float]) -> tuple[float, float]:
    """Mean of the first and of the last tenth (at least one value each)."""
    if not values:
        return float("nan"), float("nan")
    k = max(1, len(values) // 10)
    return sum(values[:k]) / k, sum(values[-k:]) / k


def write_tensorboard(rows: list[dict[str, Any]], out: Path) -> None:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard not installed: the PNGs and JSONL still exist
        log.info("tensorboard not installed; skipping event files")
        return
    writer = SummaryWriter(str(out))
    for row in rows:
        for key, value in row.items():
            if isinstance(value, (int, float)) and key not in ("step", "time"):
                writer.add_scalar(f"train/{key}", value, row["step"])
    writer.close()


def write_plots(
    rows: list[dict[str, Any]], placement: PlacementRecord | None, out: Path
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    written = []
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    axes[0].plot(steps, [r.get("reward_mean", 0.0) for r in rows], marker=".")
    axes[0].set(title="reward per step", xlabel="step", ylabel="mean reward")
    axes[1].plot(steps, [r.get("kl", 0.0) for r in rows], marker=".", color="tab:red")
    axes[1].set(title="KL(policy || reference)", xlabel="step")
    axes[2].plot(steps, [r.get("tokens_per_s", 0.0) for r in rows], marker=".", color="tab:green")
    axes[2].set(title="trainer throughput", xlabel="step", ylabel="tokens/s")
    fig.tight_layout()
    written.append(out / "training.png")
    fig.savefig(written[-1], dpi=90)
    plt.close(fig)
    n_slots = len(placement.final) if placement is not None else 0
    fig, ax = plt.subplots(figsize=(10, max(2.5, 1.2 + 0.5 * n_slots)))
    if placement is not None and placement.final:
        draw_timeline(ax, placement)
    else:
        ax.text(0.5, 0.5, "fixed roles: placement was off", ha="center", va="center")
        ax.set(title="placement timeline", xlabel="seconds since the job started")
    fig.tight_layout()
    written.append(out / "placement.png")
    fig.savefig(written[-1], dpi=90)
    plt.close(fig)
    return written


async def export_final(cluster: LocalCluster, model: Path, out: Path) -> int:
    """The trainer's newest weights saved as a Hugging Face model (with the tokenizer)."""
    from yatt.models.load import load_causal_lm, load_tokenizer
    from yatt.services.trainer.client import TrainerClient

    async with TrainerClient.connect(cluster.endpoints["trainer"]) as trainer:
        snapshot = await trainer.get_weights(timeout_s=300)
    policy = load_causal_lm(str(model))
    policy.load_state_dict(snapshot.tensors, strict=False)
    policy.save_pretrained(out)
    load_tokenizer(str(model)).save_pretrained(out)
    return snapshot.version


async def read_job(
    cluster: LocalCluster, cfg: UpConfig, started_at: float
) -> tuple[JobProgress, PlacementRecord | None]:
    """The job's final shard ledger and, with placement on, its slot history."""
    from yatt.config.common import EtcdConfig
    from yatt.coordination.client import connect
    from yatt.jobs import read_progress

    client = await connect(EtcdConfig(endpoint=cluster.etcd_endpoint))
    try:
        progress = await read_progress(client, cfg.job.job)
    finally:
        await client.close()
    if not cfg.placement.enabled:
        return progress, None
    record = await read_record(cluster.etcd_endpoint, cfg.job.job, started_at, time.time())
    return progress, record


def write_report(
    cluster: LocalCluster,
    cfg: UpConfig,
    run_dir: Path,
    model: Path,
    wall_s: float,
    started_at: float | None = None,
) -> dict[str, Any]:
    """Writes the run directory's report; started_at: Unix time the job was submitted."""
    progress, placement = asyncio.run(
        read_job(cluster, cfg, started_at if started_at is not None else time.time() - wall_s)
    )
    trainer_dir = run_dir / "trainer"
    rows = read_metrics(trainer_dir / "metrics.jsonl")
    if (trainer_dir / "metrics.jsonl").exists():
        shutil.copy(trainer_dir / "metrics.jsonl", run_dir / "metrics.jsonl")
    write_tensorboard(rows, run_dir / "tensorboard")
    plots = write_plots(rows, placement, run_dir)
    version = asyncio.run(export_final(cluster, model, run_dir / "final"))
    first, last = tenth_means([float(r.get("reward_mean", 0.0)) for r in rows])
    summary: dict[str, Any] = {
        "job": cfg.job.job,
        "steps": len(rows),
        "samples": int(sum(r.get("samples", 0) for r in rows)),
        "reward_first": round(first, 4),
        "reward_last": round(last, 4),
        "wall_s": round(wall_s, 1),
        "moves": len(placement.moves) if placement is not None else 0,
        "shards": {"done": progress.shards_done, "total": progress.shards_total},
        "weight_version": version,
        "final_model": str(run_dir / "final"),
        "plots": [str(p) for p in plots],
    }
    if placement is not None:
        summary["placement"] = placement.summary()
    test = run_dir / "task" / "test.jsonl"
    if test.exists():
        from yatt.tasks.evaluate import evaluate

        summary["accuracy_before"] = round(evaluate(model, test).accuracy, 4)
        summary["accuracy_after"] = round(evaluate(run_dir / "final", test).accuracy, 4)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2), flush=True)
    return summary
