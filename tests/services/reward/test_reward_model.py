"""The reward_model plugin against a direct forward of the same local checkpoint."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from yatt.errors import ConfigError
from yatt.services.reward.plugins.base import FunctionSpec, RewardContext, RewardSample
from yatt.services.reward.plugins.registry import build
from yatt.services.reward.plugins.reward_model import RewardModel, RewardModelOptions

pytestmark = [pytest.mark.unit, pytest.mark.timeout(120)]

TEXTS = [
    ("What is 7+12?", " 19"),
    ("Say hello.", " Hello world! This is a tiny language model for tests."),
    ("What is 2*3?", " The answer is 6, computed step by step."),
    ("", "yes"),
]


def direct_scores(path: Path) -> list[float]:
    """One unpadded forward per text: the reference the batched plugin must reproduce."""
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True).eval()
    out = []
    with torch.inference_mode():
        for prompt, completion in TEXTS:
            ids = tok(prompt + completion, return_tensors="pt")
            out.append(float(model(**ids).logits[0, 0]))
    return out


async def test_batched_scores_match_direct_forward(reward_model_dir: Path) -> None:
    torch.set_num_threads(1)
    executor = ThreadPoolExecutor(1)
    fn = RewardModel(
        RewardModelOptions(path=str(reward_model_dir), batch_size=3), RewardContext(executor)
    )
    await fn.start()
    samples = [RewardSample(id=str(i), prompt=p, completion=c) for i, (p, c) in enumerate(TEXTS)]
    results = await fn.score(samples)
    await fn.close()
    executor.shutdown()
    expected = direct_scores(reward_model_dir)
    got = [r.total for r in results]
    # Padding inside a batch of 3 (and a batch of 1) must not change any score.
    assert got == pytest.approx(expected, abs=1e-5)
    assert max(expected) - min(expected) > 1e-3  # the texts really score differently


def test_path_must_be_a_local_directory(tmp_path: Path) -> None:
    spec = FunctionSpec(name="reward_model", options={"path": str(tmp_path / "nope")})
    with pytest.raises(
        ConfigError, match=r"functions\.0\.options\.path: .* is not a local directory"
    ):
        build(spec, RewardContext(), "functions.0")
