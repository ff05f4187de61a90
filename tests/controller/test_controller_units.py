"""Controller pieces without servers: job config checks, dataset validation, experience tensors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from yatt.config import load_config
from yatt.controller.config import JobConfig
from yatt.controller.dataset import PromptDataset
from yatt.controller.experience import experience_tensors
from yatt.controller.sample import Sample
from yatt.errors import ConfigError

pytestmark = pytest.mark.unit


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def data(tmp_path: Path) -> Path:
    rows = [{"prompt": f"{i}+1=", "answer": str(i + 1)} for i in range(10)]
    return write_jsonl(tmp_path / "p.jsonl", rows)


def job(data: Path, *sets: str) -> JobConfig:
    return load_config(
        JobConfig,
        data={"job": "t", "data": {"path": str(data), "metadata_columns": ["answer"]}},
        overrides=list(sets),
    )


def test_shards_cover_every_row_once(data: Path) -> None:
    cfg = job(data, "data.shard_size=4")
    dataset = PromptDataset(cfg.data)
    dataset.validate()
    refs = dataset.shard_refs()
    assert [(r["start"], r["end"]) for r in refs] == [(0, 4), (4, 8), (8, 10)]
    rows = dataset.rows(8, 10)
    assert [r.id for r in rows] == ["8", "9"]
    assert rows[1].text == "9+1=" and rows[1].metadata == {"answer": "10"}


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["algorithm.advantage=grpo"], r"algorithm: .*'advantage' is now algorithm\.name"),
        (["algorithm.name=ppo2"], r"algorithm: .*'ppo2'"),
        (["algorithm.kl_coef=0.1"], r"algorithm: .*'name' is required"),
        (["algorithm.name=grpo", "algorithm.clip_low=1.5"], r"algorithm\.grpo\.clip_low"),
        (["controller.max_staleness=1"], r"now algorithm\.max_staleness"),
        (["sampling.n=1"], r"sampling\.n must be >= 2 for grpo"),
        (["data.shard_size=0"], r"data\.shard_size"),
        (["job=bad name"], r"job: String should match"),
        (["rewards=[]"], "at least one reward role"),
        (
            ["use_reference=false", "algorithm.name=grpo", "algorithm.kl_coef=0.1"],
            "needs use_reference",
        ),
        (["controller.shards_inflight=2"], r"controller\.shards_inflight: unknown key"),
    ],
)
def test_bad_job_config_names_the_key(data: Path, sets: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        job(data, *sets)


def test_bad_datasets_are_refused_with_key_or_row(tmp_path: Path, data: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.metadata_columns\[0\]: column 'answer'"):
        PromptDataset(job(write_jsonl(tmp_path / "a.jsonl", [{"prompt": "x"}])).data).validate()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ConfigError, match="data.path"):
        PromptDataset(job(empty).data).validate()
    blank = write_jsonl(
        tmp_path / "b.jsonl", [{"prompt": "1", "answer": "1"}, {"prompt": " ", "answer": "2"}]
    )
    with pytest.raises(ConfigError, match="row 1 .* empty prompt"):
        PromptDataset(job(blank).data).validate()
    with pytest.raises(ConfigError, match="does not exist"):
        PromptDataset(job(tmp_path / "missing.jsonl").data)
    with pytest.raises(ConfigError, match="must end in one of"):
        PromptDataset(job(tmp_path / "x.csv").data)


def sample(group: int, index: int, prompt: list[int], tokens: list[int], reward: float) -> Sample:
    return Sample(
        prompt_id=str(group),
        index=index,
        group=group,
        prompt_text="",
        metadata={},
        payload=b"",
        prompt_token_ids=prompt,
        token_ids=tokens,
        logprobs=[-0.5] * len(tokens),
        text="",
        weight_version=3,
        finish_reason="stop",
        reward=reward,
        ref_logprobs=[-0.25] * len(tokens),
    )


def test_experience_tensors_are_token_aligned(data: Path) -> None:
    samples = [
        sample(0, 0, [5, 6], [7, 8, 9], 1.0),
        sample(0, 1, [5, 6], [7], 0.0),
        sample(1, 0, [4], [3, 2], 1.0),
        sample(1, 1, [4], [3], 1.0),
    ]
    t = experience_tensors(samples, job(data, "sampling.n=2"))
    assert t["input_ids"].shape == (4, 5)
    assert t["input_ids"][0].tolist() == [5, 6, 7, 8, 9]
    assert t["attention_mask"][1].tolist() == [1, 1, 1, 0, 0]
    assert t["loss_mask"][1].tolist() == [0, 0, 1, 0, 0]
    assert t["old_logprobs"][0].tolist() == [0, 0, -0.5, -0.5, -0.5]
    assert t["ref_logprobs"][2].tolist() == [0, -0.25, -0.25, 0, 0]
    # GRPO: group 0 rewards (1, 0) -> +-1/std; group 1 has no variance -> 0
    adv = t["advantages"]
    assert adv[0, 2].item() > 0 and adv[1, 2].item() < 0
    assert torch.all(adv[2:] == 0)
    assert torch.all(adv * (1 - t["loss_mask"]) == 0)
    assert set(t) == {
        "input_ids",
        "attention_mask",
        "loss_mask",
        "old_logprobs",
        "ref_logprobs",
        "advantages",
        "rewards",
    }
    assert t["rewards"].tolist() == [1.0, 0.0, 1.0, 1.0]
