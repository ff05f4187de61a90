"""TrainerCore's exactly-once logic on the plain-torch engine (no DeepSpeed, one process):
journal replay after a re-open is bit-exact, the ledger refuses applied and pending shards,
staleness and bad input are refused with nothing changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from trainer_helpers import make_experience, trainer_config

from yatt.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from yatt.services.trainer.core import TrainerCore
from yatt.services.trainer.engine_api import build_engine
from yatt.services.trainer.torch_engine import TorchEngine

pytestmark = [pytest.mark.unit, pytest.mark.timeout(120)]


def open_core(model_dir: Path, out: Path, **over: object) -> TrainerCore:
    """A core as a fresh process would open it: same config, state only from out/."""
    torch.set_num_threads(1)
    cfg = trainer_config(model_dir, out, engine="torch", **over)
    core = TrainerCore(cfg, build_engine(cfg))
    assert isinstance(core.engine, TorchEngine)
    core.restore()
    return core


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def push_all(core: TrainerCore, count: int) -> None:
    for i in range(count):
        core.push(make_experience(f"0/{i}", seed=i, version=core.version))


def test_steps_and_changes_every_weight(model_dir: Path, tmp_path: Path) -> None:
    core = open_core(model_dir, tmp_path, checkpoint_every=0)
    before = core.snapshot()
    assert not core.push(make_experience("0/0", seed=1)).stepped
    result = core.push(make_experience("0/1", seed=2))
    assert (result.stepped, result.step, result.weight_version) == (True, 1, 1)
    after = core.snapshot()
    assert all(not torch.equal(before.tensors[k], after.tensors[k]) for k in before.tensors)
    m = core.last_metrics
    assert m["samples"] == 8 and m["shards"] == 2 and m["grad_norm"] > 0 and m["loss"] == m["loss"]


def test_replay_without_checkpoint_is_bit_exact(model_dir: Path, tmp_path: Path) -> None:
    a = open_core(model_dir, tmp_path, checkpoint_every=0)
    push_all(a, 5)
    assert (a.step, a.pending_samples) == (2, 4)
    b = open_core(model_dir, tmp_path, checkpoint_every=0)  # the journal alone, from the model
    assert (b.step, b.version, b.pending_samples) == (2, 2, 4)
    assert_same_weights(a.snapshot().tensors, b.snapshot().tensors)
    assert b.state().ledger == a.state().ledger


def test_replay_after_checkpoint_is_bit_exact(model_dir: Path, tmp_path: Path) -> None:
    a = open_core(model_dir, tmp_path, checkpoint_every=2)
    push_all(a, 7)
    assert (a.step, a.pending_samples) == (3, 4)
    assert a.last_checkpoint is not None and a.last_checkpoint.endswith("step-00000002")
    # The journal keeps only what the checkpoint does not cover.
    assert len(list(a.journal.entries())) == 3
    b = open_core(model_dir, tmp_path, checkpoint_every=2)
    assert (b.step, b.version, b.pending_samples) == (3, 3, 4)
    assert_same_weights(a.snapshot().tensors, b.snapshot().tensors)
    for i in range(7):  # applied or pending before the restart: refused after it
        with pytest.raises(AlreadyExists):
            b.push(make_experience(f"0/{i}", seed=i, version=b.version))
    a_next = a.push(make_experience("0/7", seed=7, version=3))
    b_next = b.push(make_experience("0/7", seed=7, version=3))
    assert a_next == b_next and a_next.step == 4
    assert_same_weights(a.snapshot().tensors, b.snapshot().tensors)


def test_refusals_leave_state_unchanged(model_dir: Path, tmp_path: Path) -> None:
    core = open_core(model_dir, tmp_path, algorithm={"max_staleness": 1}, checkpoint_every=0)
    push_all(core, 4)
    core.push(make_experience("1/0", seed=4, version=2))  # pending, epoch 1
    assert (core.version, core.pending_samples) == (2, 4)
    state, weights = core.state(), core.snapshot().tensors
    journal = sorted(os.listdir(tmp_path / "journal"))
    bad_reward = make_experience("1/1", version=2)
    bad_reward.rewards[0] = float("nan")
    bad_ids = make_experience("1/1", version=2)
    bad_ids.input_ids[0, 0] = 10_000
    refusals = [
        (make_experience("0/1", version=2), AlreadyExists, "applied at step 1"),
        (make_experience("1/0", version=2), AlreadyExists, "waiting for the next step"),
        (make_experience("1/1", version=0), FailedPrecondition, "at most 1 versions"),
        (make_experience("1/1", version=3), InvalidArgument, "newer than"),
        (bad_reward, InvalidArgument, "rewards contains NaN"),
        (bad_ids, InvalidArgument, "outside \\[0, 256\\)"),
        (make_experience("1/1", version=2, job="x"), InvalidArgument, "unknown job"),
        (make_experience("1/1", version=2, epoch=0), InvalidArgument, "header epoch 0"),
    ]
    for exp, error, reason in refusals:
        with pytest.raises(error, match=reason):
            core.push(exp)
    assert core.state() == state
    assert sorted(os.listdir(tmp_path / "journal")) == journal
    assert_same_weights(weights, core.snapshot().tensors)
    core.push(make_experience("3/0", version=2))
    with pytest.raises(InvalidArgument, match="epoch_window"):
        core.push(make_experience("1/5", version=2))


def test_flush_steps_what_is_pending_and_survives_reopen(model_dir: Path, tmp_path: Path) -> None:
    a = open_core(model_dir, tmp_path, checkpoint_every=0)
    push_all(a, 1)
    assert a.flush() and (a.step, a.pending_samples) == (1, 0)
    assert not a.flush()
    a.checkpoint("job done")
    b = open_core(model_dir, tmp_path, checkpoint_every=0)
    assert (b.step, b.pending_samples, len(b.ledger.applied)) == (1, 0, 1)
    assert_same_weights(a.snapshot().tensors, b.snapshot().tensors)


def test_checkpoint_of_another_engine_is_refused(model_dir: Path, tmp_path: Path) -> None:
    a = open_core(model_dir, tmp_path, checkpoint_every=1)
    push_all(a, 2)
    state_file = Path(a.last_checkpoint or "") / "trainer_state.json"
    state_file.write_text(state_file.read_text().replace('"torch"', '"deepspeed"'))
    with pytest.raises(InvalidArgument, match="written by engine deepspeed"):
        open_core(model_dir, tmp_path, checkpoint_every=1)


def test_torch_engine_never_imports_deepspeed(model_dir: Path, tmp_path: Path) -> None:
    """A fresh interpreter: what this module tests runs where DeepSpeed is not installed."""
    script = (
        "import sys; from trainer_helpers import trainer_config; "
        "from yatt.services.trainer.core import TrainerCore; "
        "from yatt.services.trainer.engine_api import build_engine; "
        f"cfg = trainer_config({str(model_dir)!r}, {str(tmp_path)!r}, engine='torch'); "
        "TrainerCore(cfg, build_engine(cfg)).restore(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'deepspeed'))"
    )
    here = Path(__file__).parent
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=here, capture_output=True, text=True, timeout=100
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
