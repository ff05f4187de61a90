"""Checkpoint layout on disk: DeepSpeed's files plus trainer state, committed atomically.

Every rank writes into checkpoints/.tmp/<tag>; rank 0 then adds trainer_state.json, renames the
directory into place and only then rewrites `latest`, so a crash never leaves a half checkpoint
that resume would pick.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from yatt.errors import ConfigError
from yatt.services.trainer.journal import atomic_write_bytes, fsync_dir

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"
LATEST = "latest"
# TEST HOOK ONLY (tests/faults): seconds to sleep after a checkpoint's files are written and
# synced but before it is renamed into place, so a test can SIGKILL the trainer mid-checkpoint.
# Unset (the default) in any real run.
PAUSE_ENV = "YATT_TEST_CHECKPOINT_PAUSE_S"


def tag_for(step: int) -> str:
    return f"step-{step:08d}"


@dataclass(frozen=True)
class CheckpointRef:
    root: Path
    tag: str

    @property
    def path(self) -> Path:
        return self.root / self.tag


def staging_root(root: Path) -> Path:
    return root / ".tmp"


def rng_state() -> dict[str, Any]:
    """Every RNG's state as tensors and plain values, so it loads with `weights_only=True`."""
    legacy = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state(legacy=True))
    kind, keys, pos, has_gauss, cached = legacy
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": [version, list(internal), gauss_next],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_rng(directory: Path, rank: int) -> None:
    torch.save(rng_state(), directory / f"rng-rank{rank}.pt")


def load_rng(directory: Path, rank: int) -> None:
    """Restores this rank's RNGs; weights_only, so a planted file cannot run code."""
    path = directory / f"rng-rank{rank}.pt"
    if path.is_file():
        set_rng_state(torch.load(path, weights_only=True))


def _fsync_tree(path: Path) -> None:
    for dirpath, _, files in os.walk(path):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as f:
                os.fsync(f.fileno())
        fsync_dir(Path(dirpath))


def commit(root: Path, tag: str, state: dict[str, Any], keep: int) -> Path:
    """Rank 0, after every rank wrote its part into the staging dir: publish it atomically."""
    staged = staging_root(root) / tag
    (staged / STATE_FILE).write_text(json.dumps(state, indent=1, sort_keys=True))
    _fsync_tree(staged)
    pause = float(os.environ.get(PAUSE_ENV) or 0)
    if pause > 0:
        log.warning(
            "checkpoint %s staged, not committed; pausing %.1fs (%s)", tag, pause, PAUSE_ENV
        )
        time.sleep(pause)
    # The same step again (after a replay, or a Checkpoint RPC reusing the tag): the new copy
    # goes in under a fresh name and `latest` moves to it before the old copy is removed, so a
    # crash at any point leaves `latest` naming a whole checkpoint.
    final = _unused_name(root, tag)
    os.replace(staged, final)
    fsync_dir(root)
    atomic_write_bytes(root / LATEST, final.name.encode())
    for old in root.glob(f"{tag}*"):
        if old != final and old.is_dir() and old.name.partition(".")[0] == tag:
            shutil.rmtree(old, ignore_errors=True)
    prune(root, keep)
    return final


def _unused_name(root: Path, tag: str) -> Path:
    """root/tag, or root/tag.N for the first N not taken."""
    candidate, n = root / tag, 0
    while candidate.exists():
        n += 1
        candidate = root / f"{tag}.{n}"
    return candidate


def prune(root: Path, keep: int) -> None:
    tags = sorted(p.name for p in root.glob("step-*") if p.is_dir())
    latest = read_latest(root)
    for tag in tags[:-keep]:
        if tag != latest:
            shutil.rmtree(root / tag, ignore_errors=True)


def read_latest(root: Path) -> str | None:
    path = root / LATEST
    if not path.is_file():
        return None
    tag = path.read_text().strip()
    return tag if (root / tag / STATE_FILE).is_file() else None


def resolve_resume(resume: str, root: Path) -> CheckpointRef | None:
    """auto -> newest committed checkpoint or None; never -> None; else that directory."""
    if resume == "never":
        return None
    if resume == "auto":
        tag = read_latest(root)
        return None if tag is None else CheckpointRef(root, tag)
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise ConfigError(f"resume: {resume} is not a trainer checkpoint (no {STATE_FILE})")
    return CheckpointRef(path.parent, path.name)


def read_state(ref: CheckpointRef) -> dict[str, Any]:
    return json.loads((ref.path / STATE_FILE).read_text())
