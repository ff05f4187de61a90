"""TrainerCore with real DeepSpeed on CPU (gloo, one rank, in this process): ZeRO 1/2/3 steps,
PPO critics, checkpoint + journal replay after a crash, the torch engine's step against it.
(Refusals are engine-independent: test_trainer_exactly_once.py runs them on the torch engine.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from trainer_helpers import deepspeed_modules, make_experience, tiny_model_dir, trainer_config

from yatt.errors import AlreadyExists
from yatt.models.load import load_causal_lm
from yatt.models.logprobs import token_logprobs
from yatt.services.trainer.core import TrainerCore
from yatt.services.trainer.engine_api import build_engine
from yatt.services.trainer.modules import ActorCritic, policy_forward

pytestmark = [pytest.mark.unit, pytest.mark.timeout(120)]


def make_core(model_dir: Path, out: Path, **over: object) -> TrainerCore:
    torch.set_num_threads(1)
    cfg = trainer_config(model_dir, out, **over)
    core = TrainerCore(cfg, build_engine(cfg))
    core.restore()
    return core


def changed(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> int:
    assert a.keys() == b.keys()
    return sum(not torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_zero_stage_steps_and_changes_weights(model_dir: Path, tmp_path: Path, stage: int) -> None:
    core = make_core(model_dir, tmp_path, deepspeed={"zero_stage": stage}, checkpoint_every=0)
    engine = deepspeed_modules(core).policy
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
    modules = deepspeed_modules(core)
    trained = modules.critic if critic == "separate" and modules.critic else modules.policy
    head = trained.module.value_head
    head_before = head.proj.weight.detach().clone()
    for i in range(2):
        exp = make_experience(f"0/{i}", seed=i)
        exp.advantages = None  # the trainer computes them with GAE
        core.push(exp)
    assert core.step == 1
    assert "value_loss" in core.last_metrics and core.last_metrics["value_loss"] > 0
    assert not torch.equal(head.proj.weight.detach(), head_before)


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


def test_torch_engine_steps_like_deepspeed(model_dir: Path, tmp_path: Path) -> None:
    """Same train_step and losses: one step of engine torch matches DeepSpeed ZeRO-1 on one rank."""
    cores = [
        make_core(model_dir, tmp_path / engine, engine=engine, checkpoint_every=0)
        for engine in ("deepspeed", "torch")
    ]
    for core in cores:
        core.push(make_experience("0/0", seed=1))
        assert core.push(make_experience("0/1", seed=2)).stepped
    ds, plain = (core.snapshot().tensors for core in cores)
    for name in ds:
        torch.testing.assert_close(plain[name], ds[name], rtol=0, atol=1e-5, msg=name)
    for key in ("loss", "kl", "grad_norm"):
        assert cores[1].last_metrics[key] == pytest.approx(cores[0].last_metrics[key], rel=1e-4)
