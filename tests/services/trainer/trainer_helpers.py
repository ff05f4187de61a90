"""Builders shared by the trainer tests: a tiny Qwen2 directory, experience shards, configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from yatt.models.init import build_model
from yatt.models.presets import ModelPreset
from yatt.services.trainer.config import TrainerConfig
from yatt.services.trainer.core import TrainerCore
from yatt.services.trainer.experience import Experience, ExperienceHeader
from yatt.services.trainer.step_modules import StepModules

VOCAB = 256
# ~60k parameters: big enough to exercise every ZeRO path, small enough for 2 shared cores.
PRESET = ModelPreset("test", 32, 2, 2, 2, 64, VOCAB, 64, tie_word_embeddings=True)


def tiny_model_dir(path: Path) -> Path:
    build_model(PRESET, VOCAB, eos_id=0, pad_id=1, seed=0).save_pretrained(path)
    return path


def make_experience(
    shard_id: str,
    *,
    version: int = 0,
    n: int = 4,
    prompt_len: int = 4,
    completion_len: int = 6,
    job: str = "default",
    seed: int = 0,
    epoch: int | None = None,
) -> Experience:
    g = torch.Generator().manual_seed(seed)
    t = prompt_len + completion_len
    ids = torch.randint(2, VOCAB, (n, t), generator=g)
    attn = torch.ones(n, t, dtype=torch.int64)
    loss_mask = torch.zeros(n, t)
    loss_mask[:, prompt_len:] = 1.0
    # Ragged completions: the last sample ends two tokens early (right padding).
    attn[-1, -2:] = 0
    loss_mask[-1, -2:] = 0
    ids[-1, -2:] = 1
    # Near log(1/VOCAB): what a random tiny model assigns, so IS weights stay moderate.
    old = -(5.0 + torch.rand(n, t, generator=g)) * loss_mask
    rewards = torch.randn(n, generator=g)
    adv = ((rewards - rewards.mean()) / (rewards.std() + 1e-6)).unsqueeze(1) * loss_mask
    header = ExperienceHeader(
        job=job,
        shard_id=shard_id,
        epoch=int(shard_id.split("/")[0]) if epoch is None else epoch,
        weight_version=version,
        num_samples=n,
    )
    return Experience(
        header=header,
        input_ids=ids,
        attention_mask=attn,
        loss_mask=loss_mask,
        old_logprobs=old,
        rewards=rewards,
        ref_logprobs=old + 0.1 * loss_mask,
        advantages=adv,
    )


# A bare trainer (no registration.job) carries its algorithm itself: GRPO with a KL loss term,
# strictly on-policy unless a test says otherwise.
ALGORITHM: dict[str, Any] = {"name": "grpo", "kl_coef": 0.01, "max_staleness": 0}


def trainer_config(model_dir: Path, out_dir: Path, **over: Any) -> TrainerConfig:
    """over: TrainerConfig keys; `algorithm` is merged into ALGORITHM."""
    ds = {"zero_stage": 1, "micro_batch": 2, "global_batch_samples": 8, "lr": 1e-2}
    ds.update(over.pop("deepspeed", {}))
    data: dict[str, Any] = {
        "model": str(model_dir),
        "out_dir": str(out_dir),
        "deepspeed": ds,
        "algorithm": {**ALGORITHM, **over.pop("algorithm", {})},
        **over,
    }
    return TrainerConfig.model_validate(data)


def deepspeed_modules(core: TrainerCore) -> StepModules:
    """Rank 0's DeepSpeed engines behind core, for tests that look inside them."""
    from yatt.services.trainer.ranks import RankGroup

    assert isinstance(core.engine, RankGroup)
    return core.engine.rank.modules
