"""TrainerCore with real DeepSpeed on CPU (gloo, one rank, in this process): ZeRO 1/2/3 steps,
PPO critics, refusals that leave state unchanged, checkpoint + journal replay after a crash."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from trainer_helpers import make_experience, tiny_model_dir, trainer_config

from yatt.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from yatt.models.load import load_causal_lm
from yatt.models.logprobs import token_logprobs
from yatt.services.trainer.core import TrainerCore
from yatt.services.trainer.modules import ActorCritic, policy_forward
from yatt.services.trainer.ranks import RankGroup

pytestmark = [pytest.mark.unit, pytest.mark.timeout(120)]


def make_core(model_dir: Path, out: Path, **over: object) -> TrainerCore:
    torch.set_num_threads(1)
    core = TrainerCore(
        trainer_config(model_dir, out, **over), RankGroup(trainer_config(model_dir, out, **over))
    )
    core.restore()
    return core


def changed(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> int:
    assert a.keys() == b.keys()
    return sum(not torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_zero_stage_steps_and_changes_weights(model_dir: Path, tmp_path: Path, stage: int) -> None:
    core = make_core(model_dir, tmp_path, deepspeed={"zero_stage": stage}, checkpoint_every=0)
    engine = core.group.worker.engines.policy
    assert type(engine).__name__ == "DeepSpeedEngine"
    assert engine.zero_optimization_stage() == stage
    before = core.snapshot()
    first = core.push(make_experience("0/0", seed=1))
    assert (first.stepped, first.step, first.pending_samples) == (False, 0, 4)
    second = core.push(make_experience("0/1", seed=2))
    assert (second.stepped, second.step, second.weight_version, second.pending_samples) == (
        True,
        1,
        1,
        0,
    )
    after = core.snapshot()
    assert after.version == 1 and changed(before.tensors, after.tensors) == len(before.tensors)
    m = core.last_metrics
    for key in ("loss", "kl", "entropy", "clip_frac", "grad_norm", "reward_mean", "tokens_per_s"):
        assert key in m and m[key] == m[key], key  # present and not NaN
    assert m["samples"] == 8 and m["shards"] == 2 and m["grad_norm"] > 0


def test_policy_forward_matches_token_logprobs(model_dir: Path) -> None:
    lm = load_causal_lm(model_dir)
    exp = make_experience("0/0")
    want = token_logprobs(lm, exp.input_ids, exp.attention_mask)
    with torch.no_grad():
        got = policy_forward(ActorCritic(lm, value_head=False), exp.input_ids, exp.attention_mask)
    assert torch.equal(got.logprobs[:, 1:], want) and bool((got.logprobs[:, 0] == 0).all())


@pytest.mark.parametrize("critic", ["value_head", "separate"])
def test_ppo_with_critic_steps(model_dir: Path, tmp_path: Path, critic: str) -> None:
    critic_cfg: dict[str, object] = {"kind": critic}
    if critic == "separate":
        critic_cfg["model"] = str(tiny_model_dir(tmp_path / "critic"))
    core = make_core(
        model_dir, tmp_path / "out", algorithm={"name": "ppo", "kl_coef": 0.01, "kl_placement": "reward"},
        critic=critic_cfg, checkpoint_every=0,
    )  # fmt: skip
    engines = core.group.worker.engines
    head = (engines.critic.module if critic == "separate" else engines.policy.module).value_head
    head_before = head.proj.weight.detach().clone()
    for i in range(2):
        exp = make_experience(f"0/{i}", seed=i)
        exp.advantages = None  # the trainer computes them with GAE
        core.push(exp)
    assert core.step == 1
    assert "value_loss" in core.last_metrics and core.last_metrics["value_loss"] > 0
    assert not torch.equal(head.proj.weight.detach(), head_before)


def test_refusals_leave_state_unchanged(model_dir: Path, tmp_path: Path) -> None:
    core = make_core(model_dir, tmp_path, algorithm={"max_staleness": 1}, checkpoint_every=0)
    core.push(make_experience("0/0", seed=0))
    core.push(make_experience("0/1", seed=1))
    core.push(make_experience("0/2", seed=2, version=1))
    core.push(make_experience("0/3", seed=3, version=1))
    core.push(make_experience("1/0", seed=4, version=2))  # pending, epoch 1
    assert (core.version, core.pending_samples) == (2, 4)
    weights = core.snapshot().tensors
    state = core.state()
    journal = sorted(os.listdir(tmp_path / "journal"))

    bad_reward = make_experience("1/1", version=2)
    bad_reward.rewards[0] = float("nan")
    refusals = [
        (make_experience("0/1", version=2), AlreadyExists, "applied at step 1"),
        (make_experience("1/0", version=2), AlreadyExists, "waiting for the next step"),
        (make_experience("1/1", version=0), FailedPrecondition, "at most 1 versions"),
        (make_experience("1/1", version=3), InvalidArgument, "newer than"),
        (bad_reward, InvalidArgument, "rewards contains NaN"),
        (make_experience("1/1", version=2, job="x"), InvalidArgument, "unknown job"),
        (make_experience("1/1", version=2, epoch=0), InvalidArgument, "header epoch 0"),
    ]
    window = make_experience("3/0", version=2)
    refusals_after_epoch_3 = [(make_experience("1/5", version=2), InvalidArgument, "epoch_window")]
    for exp, error, reason in refusals:
        with pytest.raises(error, match=reason):
            core.push(exp)
    assert core.state() == state
    assert sorted(os.listdir(tmp_path / "journal")) == journal
    assert changed(weights, core.snapshot().tensors) == 0
    core.push(window)
    for exp, error, reason in refusals_after_epoch_3:
        with pytest.raises(error, match=reason):
            core.push(exp)


def test_restart_resumes_checkpoint_and_replays_journal(model_dir: Path, tmp_path: Path) -> None:
    over = {"deepspeed": {"zero_stage": 2}, "checkpoint_every": 2}
    a = make_core(model_dir, tmp_path, **over)
    for i in range(7):
        a.push(make_experience(f"0/{i}", seed=i, version=a.version))
    assert (a.step, a.pending_samples) == (3, 4)
    assert a.last_checkpoint is not None and a.last_checkpoint.endswith("step-00000002")
    # A save that died half way must not be picked by resume.
    (tmp_path / "checkpoints" / ".tmp" / "step-00000009").mkdir(parents=True)
    weights = a.snapshot()

    b = make_core(model_dir, tmp_path, **over)  # as after a crash: same config, fresh process state
    assert (b.step, b.version, b.pending_samples) == (3, 3, 4)
    assert changed(weights.tensors, b.snapshot().tensors) == 0  # step 3 replayed bit-exactly
    for i in range(7):
        with pytest.raises(AlreadyExists):
            b.push(make_experience(f"0/{i}", seed=i, version=b.version))
    assert b.push(make_experience("0/7", seed=7, version=3)).stepped
    assert b.step == 4
