"""`yatt sft` on a tiny real model: completion-only labels, a falling loss, a reproducible run,
a saved directory that from_pretrained loads, and the recommended warm-start reaching accuracy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from typer.testing import CliRunner

from yatt.errors import AlreadyExists, InvalidArgument
from yatt.models.init import init_model
from yatt.models.load import load_tokenizer
from yatt.sft.config import SFTConfig
from yatt.sft.trainer import IGNORE, collate, encode, run_sft
from yatt.tasks.arithmetic import ArithmeticSpec, write_task
from yatt.tasks.evaluate import evaluate

os.environ.setdefault("OMP_NUM_THREADS", "1")
pytestmark = [pytest.mark.unit, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_model("tiny", tmp_path_factory.mktemp("tiny"), seed=0)


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_task(tmp_path_factory.mktemp("arith"), ArithmeticSpec(), 2000, 100, seed=0)


def _cfg(tiny: Path, task: Path, out: Path, **kw: object) -> SFTConfig:
    base = {"model": str(tiny), "data": str(task / "train.jsonl"), "out": str(out)}
    return SFTConfig(**{**base, "progress": False, "threads": 1, **kw})


def test_labels_cover_only_the_completion_and_eos(tiny: Path) -> None:
    tok = load_tokenizer(tiny)
    examples = encode([("3+4=", "7"), ("12+30=", "42")], tok, max_len=64)
    batch = collate(examples, tok.pad_token_id)
    for i, (prompt, completion) in enumerate([("3+4=", "7"), ("12+30=", "42")]):
        p = tok(prompt).input_ids
        target = tok(completion).input_ids + [tok.eos_token_id]
        labels = batch["labels"][i]
        assert (labels[: len(p)] == IGNORE).all()
        assert labels[len(p) : len(p) + len(target)].tolist() == target
        assert (labels[len(p) + len(target) :] == IGNORE).all()
        assert batch["attention_mask"][i].sum() == len(p) + len(target)
    assert encode([("3+4=", "7")], tok, max_len=8)
    with pytest.raises(InvalidArgument, match="max_len"):
        encode([("3+4=", "7")], tok, max_len=3)


def test_recommended_warm_start_learns_and_saves_a_loadable_model(
    tiny: Path, task: Path, tmp_path: Path
) -> None:
    before = evaluate(tiny, task / "test.jsonl")
    result = run_sft(_cfg(tiny, task, tmp_path / "sft", steps=100, batch_size=32, lr=3e-3))
    assert result.steps == 100 and len(result.losses) == 100
    first, last = sum(result.losses[:10]) / 10, sum(result.losses[-10:]) / 10
    assert last < 0.3 * first, (first, last)  # measured: ~5.3 -> ~0.6
    model = AutoModelForCausalLM.from_pretrained(result.out, local_files_only=True)
    assert model.dtype == torch.float32
    assert AutoTokenizer.from_pretrained(result.out, local_files_only=True).eos_token_id is not None
    assert json.loads((result.out / "sft.json").read_text())["steps"] == 100
    after = evaluate(result.out, task / "test.jsonl")
    # Measured 0.0 before and ~0.4 after (seed 0); the bound leaves room for the platform.
    assert before.accuracy == 0.0 and after.accuracy >= 0.15, (before, after)


def test_same_seed_same_weights_other_seed_other_order(
    tiny: Path, task: Path, tmp_path: Path
) -> None:
    a = run_sft(_cfg(tiny, task, tmp_path / "a", steps=6, seed=1))
    b = run_sft(_cfg(tiny, task, tmp_path / "b", steps=6, seed=1))
    c = run_sft(_cfg(tiny, task, tmp_path / "c", steps=6, seed=2))
    assert a.losses == b.losses
    assert (a.out / "model.safetensors").read_bytes() == (b.out / "model.safetensors").read_bytes()
    assert a.losses[1:] != c.losses[1:]


def test_bad_inputs_are_refused_before_training(tiny: Path, task: Path, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep")
    with pytest.raises(AlreadyExists, match="overwrite"):
        run_sft(_cfg(tiny, task, tmp_path / "full", steps=1))
    with pytest.raises(InvalidArgument, match="must differ"):
        run_sft(_cfg(tiny, task, tiny, steps=1, overwrite=True))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "1+1=", "answer": "2"}\n')
    with pytest.raises(InvalidArgument, match="row 0 .* 'completion'"):
        run_sft(_cfg(tiny, task, tmp_path / "o", steps=1, data=str(bad)))


def test_sft_command_takes_flags_and_set(tiny: Path, task: Path, tmp_path: Path) -> None:
    import typer

    from yatt.commands.sft import sft

    app = typer.Typer()
    app.command()(sft)
    out = tmp_path / "cli"
    args = ["--model", str(tiny), "--data", str(task / "train.jsonl"), "--out", str(out)]
    args += ["--steps", "3", "--set", "progress=false", "--set", "batch_size=4"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "sft: 3 steps" in result.output
    saved = json.loads((out / "sft.json").read_text())
    assert saved["config"]["batch_size"] == 4 and saved["steps"] == 3
