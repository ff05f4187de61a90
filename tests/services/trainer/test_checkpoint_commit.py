"""Committing a checkpoint under a tag that already exists never leaves `latest` without one.

Before: the old copy was deleted, then the new one renamed in; a crash between the two left
`latest` naming a missing directory, so resume started from the base model.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from yatt.services.trainer import checkpoint as ckpt

pytestmark = pytest.mark.unit


def stage(root: Path, tag: str, payload: str) -> None:
    staged = ckpt.staging_root(root) / tag
    staged.mkdir(parents=True)
    (staged / "weights.bin").write_text(payload)


def test_recommitting_a_tag_replaces_it_and_latest_follows(tmp_path: Path) -> None:
    stage(tmp_path, "step-00000002", "first")
    ckpt.commit(tmp_path, "step-00000002", {"step": 2}, keep=3)
    stage(tmp_path, "step-00000002", "second")
    final = ckpt.commit(tmp_path, "step-00000002", {"step": 2, "again": True}, keep=3)
    latest = ckpt.read_latest(tmp_path)
    assert latest == final.name
    assert (tmp_path / latest / "weights.bin").read_text() == "second"
    # The superseded copy of the same step is gone; nothing is left in staging.
    assert [p.name for p in tmp_path.glob("step-*")] == [final.name]
    assert not list(ckpt.staging_root(tmp_path).iterdir())
    ref = ckpt.resolve_resume("auto", tmp_path)
    assert ref is not None and ckpt.read_state(ref) == {"step": 2, "again": True}


def test_a_crash_while_recommitting_keeps_the_old_checkpoint_resumable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage(tmp_path, "step-00000004", "old")
    ckpt.commit(tmp_path, "step-00000004", {"step": 4}, keep=3)
    stage(tmp_path, "step-00000004", "new")
    real_replace = os.replace

    def crash_on_directory_rename(src: str | Path, dst: str | Path) -> None:
        if Path(src).is_dir():  # the process dies where the new copy would move in
            raise OSError("killed")
        real_replace(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", crash_on_directory_rename)
    with pytest.raises(OSError, match="killed"):
        ckpt.commit(tmp_path, "step-00000004", {"step": 4}, keep=3)
    ref = ckpt.resolve_resume("auto", tmp_path)
    assert ref is not None, "latest names no complete checkpoint"
    assert (ref.path / "weights.bin").read_text() == "old"


def test_rng_state_round_trips_through_a_weights_only_load(tmp_path: Path) -> None:
    import random

    import numpy as np
    import torch

    ckpt.save_rng(tmp_path, 0)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.rand(5), np.random.rand(5), random.random()  # move every generator on
    ckpt.load_rng(tmp_path, 0)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(again[0], expected[0])
    assert np.array_equal(again[1], expected[1]) and again[2] == expected[2]


class _RunsCode:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("a checkpoint ran code",))


def test_a_planted_rng_file_is_refused_not_executed(tmp_path: Path) -> None:
    import pickle

    import torch

    torch.save({"torch": _RunsCode()}, tmp_path / "rng-rank0.pt")
    with pytest.raises(pickle.UnpicklingError):
        ckpt.load_rng(tmp_path, 0)
