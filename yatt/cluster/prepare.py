"""Before a local run: the task data and a warm-started policy, built once and reused."""

from __future__ import annotations

import logging
from pathlib import Path

from yatt.cluster.config import UpConfig

log = logging.getLogger(__name__)


def prepare_task(cfg: UpConfig, run_dir: Path) -> Path | None:
    """Writes the bundled task under run_dir/task; returns its train.jsonl (None: kind none)."""
    if cfg.task.kind == "none":
        return None
    from yatt.tasks.arithmetic import ArithmeticSpec, write_task

    spec = ArithmeticSpec(
        min_operand=cfg.task.min_operand, max_operand=cfg.task.max_operand, ops=tuple(cfg.task.ops)
    )
    out = write_task(run_dir / "task", spec, cfg.task.train, cfg.task.test, cfg.task.seed)
    return out / "train.jsonl"


def prepare_model(cfg: UpConfig, train_data: Path | None) -> Path:
    """The policy directory: reused if present, else init-model (+ a short SFT on train_data)."""
    path = Path(cfg.model.path)
    if (path / "config.json").is_file():
        log.info("using existing model %s", path)
        return path
    from yatt.models.init import init_model

    if cfg.model.sft is None or train_data is None:
        return init_model(cfg.model.preset, path, seed=cfg.model.seed)
    from yatt.sft.config import SFTConfig
    from yatt.sft.trainer import run_sft

    base = path.with_name(path.name + "-init")
    init_model(cfg.model.preset, base, seed=cfg.model.seed, force=True)
    sft = cfg.model.sft
    run_sft(
        SFTConfig(
            model=str(base), data=str(train_data), out=str(path),
            steps=sft.steps, batch_size=sft.batch_size, lr=sft.lr, max_len=sft.max_len,
            overwrite=True,
        )
    )  # fmt: skip
    return path
