"""Experience validation, the ledger, batching and config rules: pure functions, no DeepSpeed."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from trainer_helpers import VOCAB, make_experience

from yatt.errors import ConfigError, InvalidArgument
from yatt.services.trainer.batching import collate, plan_step
from yatt.services.trainer.config import TrainerConfig
from yatt.services.trainer.experience import Requirements, parse_shard_id, validate
from yatt.services.trainer.ledger import Ledger

GRPO = {"model": "m", "algorithm": {"name": "grpo"}}

pytestmark = pytest.mark.unit

REQ = Requirements(job="default", vocab_size=VOCAB, needs_advantages=True, needs_ref_logprobs=True)


def test_valid_experience_passes() -> None:
    validate(make_experience("0/1"), REQ)


def _bad(**change: object):
    exp = make_experience("0/1")
    for name, value in change.items():
        if name in ("job", "shard_id", "epoch", "num_samples", "weight_version"):
            exp.header = dataclasses.replace(exp.header, **{name: value})
        else:
            setattr(exp, name, value)
    return exp


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"loss_mask": torch.zeros(4, 9)}, "mismatched lengths"),
        ({"rewards": torch.zeros(3)}, "mismatched lengths"),
        ({"rewards": torch.tensor([0.0, float("nan"), 0.0, 0.0])}, "rewards contains NaN or inf"),
        ({"rewards": torch.tensor([0.0, float("inf"), 0.0, 0.0])}, "rewards contains NaN or inf"),
        ({"input_ids": torch.zeros(4, 10, dtype=torch.int32)}, "input_ids must be int64"),
        (
            {"old_logprobs": torch.zeros(4, 10, dtype=torch.float64)},
            "old_logprobs must be torch.float32",
        ),
        ({"job": "other"}, "unknown job 'other'"),
        ({"epoch": 3}, "shard of epoch 0 sent with header epoch 3"),
        ({"shard_id": "zero/1"}, "is not '<epoch>/<idx>'"),
        ({"num_samples": 5}, "header says 5 samples"),
        ({"advantages": None}, "needs advantages"),
        ({"ref_logprobs": None}, "needs ref_logprobs"),
        ({"input_ids": torch.full((4, 10), VOCAB)}, "input_ids outside"),
    ],
)
def test_bad_experience_names_the_reason(change: dict, reason: str) -> None:
    with pytest.raises(InvalidArgument, match=reason.replace("(", r"\(").replace(")", r"\)")):
        validate(_bad(**change), REQ)


def test_loss_mask_must_stay_inside_attention() -> None:
    exp = make_experience("0/1")
    exp.attention_mask[0, -1] = 0
    with pytest.raises(InvalidArgument, match="attention_mask pads"):
        validate(exp, REQ)


def test_parse_shard_id() -> None:
    assert parse_shard_id("3/17") == (3, 17)


def test_ledger_round_trip_and_commit() -> None:
    ledger = Ledger()
    ledger.add_pending("0/1", 0)
    ledger.add_pending("1/2", 1)
    assert "0/1" in ledger and "0/9" not in ledger
    assert ledger.state_of("1/2") == "accepted, waiting for the next step"
    assert ledger.commit(5) == ["0/1", "1/2"]
    assert ledger.state_of("0/1") == "applied at step 5" and ledger.epoch == 1
    again = Ledger.from_dict(ledger.to_dict())
    assert again == ledger


def test_collate_pads_and_plans_the_normalizer() -> None:
    a = make_experience("0/1", completion_len=6)
    b = make_experience("0/2", completion_len=3, n=2)
    batch = collate([a, b])
    assert batch.input_ids.shape == (6, 10)
    assert batch.attention_mask[4:, 7:].sum() == 0 and batch.loss_mask[4:, 7:].sum() == 0
    plan = plan_step(batch, "token_mean")
    assert plan.normalizer == float(a.loss_mask.sum() + b.loss_mask.sum())
    assert plan_step(batch, "seq_mean").normalizer == 6.0
    parts = batch.split(2)
    assert [p.num_samples for p in parts] == [3, 3]
    assert torch.equal(torch.cat([p.input_ids for p in parts]), batch.input_ids)


def test_config_derives_grad_accum_and_refuses_bad_batches() -> None:
    cfg = TrainerConfig(
        model="m",
        world_size=2,
        deepspeed={"micro_batch": 2, "global_batch_samples": 8},
        algorithm={"name": "grpo"},
    )
    assert cfg.grad_accum == 2
    from yatt.config import load_config

    with pytest.raises(ConfigError, match="multiple of"):
        load_config(TrainerConfig, data={**GRPO, "deepspeed": {"global_batch_samples": 7}})
    with pytest.raises(ConfigError, match="algorithm.name ppo needs a critic"):
        load_config(TrainerConfig, data={"model": "m", "algorithm": {"name": "ppo"}})
    with pytest.raises(ConfigError, match="zero_stage"):
        load_config(TrainerConfig, data={**GRPO, "deepspeed": {"zero_stage": 4}})
