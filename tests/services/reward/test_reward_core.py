"""RewardCore and the registry: weighted sums, components, validation, plugin discovery."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from yatt.errors import ConfigError, InvalidArgument
from yatt.services.reward.core import RewardCore
from yatt.services.reward.plugins import registry
from yatt.services.reward.plugins.base import FunctionSpec, RewardSample

pytestmark = pytest.mark.unit

EXACT = FunctionSpec(name="exact_answer", weight=2.0)
FORMAT = FunctionSpec(
    name="regex_format", weight=0.5, label="format", options={"pattern": r".*\\boxed\{.+\}.*"}
)
LENGTH = FunctionSpec(
    name="length_penalty", weight=1.0, options={"unit": "chars", "max_length": 20}
)


def sample(i: int, completion: str, answer: str = "19") -> RewardSample:
    return RewardSample(
        id=f"s{i}", prompt="7+12=", completion=completion, metadata={"answer": answer}
    )


async def test_weighted_total_and_components() -> None:
    core = RewardCore([EXACT, FORMAT, LENGTH])
    await core.start()
    try:
        results = await core.score(
            [sample(0, "\\boxed{19}"), sample(1, "it is 18"), sample(2, "x" * 30 + " 19")]
        )
    finally:
        await core.close()
    # "\boxed{19}": exact 1, format 1, 10 chars -> length -0.5; total 2*1 + 0.5*1 - 0.5.
    assert results[0].components == {"exact_answer": 1.0, "format": 1.0, "length_penalty": -0.5}
    assert results[0].total == pytest.approx(2.0)
    # "it is 18": wrong, no box, 8 chars -> -0.4.
    assert results[1].components == {"exact_answer": 0.0, "format": 0.0, "length_penalty": -0.4}
    assert results[1].total == pytest.approx(-0.4)
    # 33 chars: capped at -1; right answer, no box.
    assert results[2].total == pytest.approx(2.0 - 1.0)
    assert results[0].details["exact_answer"] == {"extracted": "19", "reference": "19"}
    assert core.components == ["exact_answer", "format", "length_penalty"]


async def test_nested_weighted_sum_prefixes_components() -> None:
    inner = FunctionSpec(
        name="weighted_sum", weight=3.0, label="rules",
        options={"functions": [EXACT.model_dump(), FORMAT.model_dump()]},
    )  # fmt: skip
    core = RewardCore([inner])
    [result] = await core.score([sample(0, "\\boxed{19}")])
    # inner total = 2*1 + 0.5*1 = 2.5; outer = 3 * 2.5.
    assert result.total == pytest.approx(7.5)
    assert result.components == {"rules": 2.5, "rules.exact_answer": 1.0, "rules.format": 1.0}
    await core.close()


def test_unknown_plugin_lists_known_ones() -> None:
    with pytest.raises(ConfigError) as err:
        RewardCore([EXACT, FunctionSpec(name="exactt_answer")])
    msg = str(err.value)
    assert msg.startswith("functions.1.name: unknown reward function 'exactt_answer'; known: ")
    for name in registry.BUILTINS:
        assert name in msg


def test_nested_errors_name_the_full_key() -> None:
    bad = FunctionSpec(
        name="weighted_sum", options={"functions": [{"name": "length_penalty", "options": {}}]}
    )
    with pytest.raises(
        ConfigError, match=r"functions\.0\.options\.functions\.0\.options: max_length"
    ):
        RewardCore([EXACT, bad.model_copy(update={"label": "x"})][1:])
    with pytest.raises(ConfigError, match=r"functions\.1: component 'exact_answer' appears twice"):
        RewardCore([EXACT, EXACT])
    with pytest.raises(ConfigError, match=r"functions\.0\.options: colour: unknown key"):
        RewardCore([FunctionSpec(name="exact_answer", options={"colour": 1})])


async def test_batch_validation() -> None:
    core = RewardCore([EXACT, LENGTH], max_batch=2)
    with pytest.raises(InvalidArgument, match="empty batch"):
        await core.score([])
    with pytest.raises(InvalidArgument, match="3 samples, at most 2"):
        await core.score([sample(i, "19") for i in range(3)])
    no_answer = RewardSample(id="b", prompt="p", completion="19", metadata={})
    with pytest.raises(InvalidArgument, match=r"samples\.1\.metadata: missing 'answer'"):
        await core.score([sample(0, "19"), no_answer])
    # Still scores afterwards: 2 * 1 - 2/20.
    assert (await core.score([sample(0, "19")]))[0].total == pytest.approx(1.9)
    await core.close()


def test_entry_points_extend_and_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real installed distribution (dist-info on sys.path) declaring two yatt.rewards plugins.
    (tmp_path / "team_rewards.py").write_text(
        textwrap.dedent(
            """
            from yatt.services.reward.plugins.base import RewardFunction, RewardResult

            class Constant(RewardFunction):
                name = "constant"
                async def score(self, samples):
                    return [RewardResult(total=0.25) for _ in samples]

            class NotAPlugin:
                pass
            """
        )
    )
    info = tmp_path / "team_rewards-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: team-rewards\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[yatt.rewards]\nconstant = team_rewards:Constant\n"
        "exact_answer = team_rewards:Constant\nbroken = team_rewards:NotAPlugin\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "team_rewards", raising=False)
    table = registry.known()
    assert table["constant"] == "team_rewards:Constant"
    assert table["exact_answer"] == "team_rewards:Constant"  # entry points override built-ins
    assert table["judge"] == registry.BUILTINS["judge"]
    assert registry.load_plugin("constant").__name__ == "Constant"
    with pytest.raises(ConfigError, match="is not a RewardFunction subclass"):
        registry.load_plugin("broken")
