"""Every shipped `yatt up` example loads, with the algorithm on the job and nowhere else; the
old split keys are refused with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from yatt.cluster.config import UpConfig
from yatt.config import load_config
from yatt.config.algorithm import GRPO
from yatt.errors import ConfigError

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_loads(path: Path) -> None:
    cfg = load_config(UpConfig, path)
    assert cfg.job.algorithm == GRPO(kl_coef=0.01, max_staleness=1)  # the demo's behaviour


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["trainer.loss.kl_coef=0.01"], r"trainer\.loss: the job owns the algorithm"),
        (["trainer.max_staleness=1"], r"trainer\.max_staleness: the job owns the algorithm"),
        (["job.controller.max_staleness=1"], r"now algorithm\.max_staleness"),
        (["job.algorithm.advantage=grpo"], r"'advantage' is now algorithm\.name"),
    ],
)
def test_old_keys_are_refused_by_name(sets: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(UpConfig, EXAMPLES / "demo.yaml", sets)
