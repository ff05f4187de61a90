"""The arithmetic task generator: deterministic by seed, correct answers, the difficulty knob,
files the controller and `yatt sft` can read, and answers the exact_answer reward accepts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from yatt.errors import InvalidArgument
from yatt.tasks.arithmetic import ArithmeticSpec, generate, read_jsonl, solve, write_task
from yatt.tasks.evaluate import EvalResult, is_correct

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


def _parse(prompt: str) -> tuple[int, str, int]:
    body = prompt.removesuffix("=")
    for op in "+-*":
        left, sep, right = body.partition(op)
        if sep:
            return int(left), op, int(right)
    raise AssertionError(prompt)


def test_same_seed_same_problems_other_seed_other_problems() -> None:
    spec = ArithmeticSpec(max_operand=99, ops=("+", "-", "*"))
    assert generate(spec, 50, seed=3) == generate(spec, 50, seed=3)
    assert generate(spec, 50, seed=3) != generate(spec, 50, seed=4)


@pytest.mark.parametrize("negative", [False, True])
def test_answers_are_right_and_respect_the_spec(negative: bool) -> None:
    spec = ArithmeticSpec(
        min_operand=2, max_operand=12, ops=("+", "-", "*"), allow_negative=negative
    )
    rows = generate(spec, 500, seed=0)
    seen_ops = set()
    for row in rows:
        a, op, b = _parse(row.prompt)
        seen_ops.add(op)
        assert 2 <= a <= 12 and 2 <= b <= 12
        assert row.answer == row.completion == str(solve(a, op, b))
        assert is_correct(row.completion, row.answer)
    assert seen_ops == {"+", "-", "*"}
    has_negative = any(row.answer.startswith("-") for row in rows)
    assert has_negative is negative


def test_single_digit_addition_covers_its_small_space() -> None:
    spec = ArithmeticSpec()
    assert spec.space == 100
    prompts = {row.prompt for row in generate(spec, 2000, seed=0)}
    assert len(prompts) == 100


@pytest.mark.parametrize(
    "kwargs",
    [{"min_operand": 5, "max_operand": 4}, {"min_operand": -1}, {"ops": ("/",)}, {"ops": ()}],
)
def test_bad_specs_are_refused(kwargs: dict) -> None:
    with pytest.raises(InvalidArgument):
        ArithmeticSpec(**kwargs)


def test_written_files_have_the_columns_and_the_spec(tmp_path: Path) -> None:
    out = write_task(tmp_path / "t", ArithmeticSpec(max_operand=19), train=30, test=7, seed=5)
    train, test = read_jsonl(out / "train.jsonl"), read_jsonl(out / "test.jsonl")
    assert len(train) == 30 and len(test) == 7
    assert set(train[0]) == {"prompt", "answer", "completion"}
    assert train != test[: len(train)]
    meta = json.loads((out / "task.json").read_text())
    assert meta["max_operand"] == 19 and meta["seed"] == 5 and meta["ops"] == ["+"]
    with pytest.raises(InvalidArgument, match="train > 0"):
        write_task(tmp_path / "u", ArithmeticSpec(), train=0, test=1, seed=0)


def test_the_controller_dataset_reads_the_task(tmp_path: Path) -> None:
    from yatt.controller.config import DataConfig
    from yatt.controller.dataset import PromptDataset

    out = write_task(tmp_path, ArithmeticSpec(), train=20, test=0, seed=0)
    data = PromptDataset(DataConfig(path=str(out / "train.jsonl"), metadata_columns=["answer"]))
    data.validate()
    rows = data.rows(0, 3)
    assert rows[0].text.endswith("=") and rows[0].metadata["answer"].isdigit()


def test_scoring_uses_the_reward_plugins_parsing() -> None:
    assert is_correct("19", "19") and is_correct(" 19", "19") and is_correct("-3", "-3")
    assert is_correct("so 7+5=12", "12")
    assert not is_correct("18", "19") and not is_correct("", "19") and not is_correct("x19", "19")
    result = EvalResult(samples=4, temperature=1.0, correct=(0, 2, 4, 1))
    assert result.accuracy == pytest.approx(7 / 16)
    assert result.mixed_fraction == pytest.approx(2 / 4)


def test_make_task_command_writes_the_files(tmp_path: Path) -> None:
    import typer

    from yatt.commands.make_task import make_task

    app = typer.Typer()
    app.command()(make_task)
    runner = CliRunner()
    args = ["arithmetic", "--out", str(tmp_path), "--train", "12", "--test", "3", "--ops", "+-"]
    result = runner.invoke(app, [*args, "--max-operand", "5", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "wrote 12 train / 3 test" in result.output
    assert len(read_jsonl(tmp_path / "train.jsonl")) == 12
    bad = runner.invoke(app, ["arithmetic", "--out", str(tmp_path / "x"), "--ops", "/"])
    assert bad.exit_code == 1 and "ops" in bad.output


def test_the_shipped_sft_example_config_loads() -> None:
    from yatt.config import load_config
    from yatt.sft.config import SFTConfig

    path = Path(__file__).parents[2] / "examples" / "arith" / "sft.yaml"
    cfg = load_config(SFTConfig, path)
    assert cfg.steps == 100 and cfg.threads == 1 and cfg.data.endswith("train.jsonl")
