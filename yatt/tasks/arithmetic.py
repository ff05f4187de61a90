"""Arithmetic problems ("3+5=" -> "8") with a difficulty knob, written as JSONL for SFT and RL.

Deterministic by seed; the columns are the controller's prompt/metadata and the SFT completion.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from yatt.errors import InvalidArgument

OPS = ("+", "-", "*")


@dataclass(frozen=True)
class ArithmeticSpec:
    """How hard the problems are: operand range, operators, and whether answers may be negative."""

    min_operand: int = 0
    max_operand: int = 9
    ops: tuple[str, ...] = ("+",)
    # With False, "a-b" is written larger-first so every answer is a non-negative number.
    allow_negative: bool = False

    def __post_init__(self) -> None:
        if self.min_operand < 0 or self.max_operand < self.min_operand:
            raise InvalidArgument(
                f"operand range [{self.min_operand}, {self.max_operand}] must be non-negative "
                "and non-empty"
            )
        bad = [op for op in self.ops if op not in OPS]
        if not self.ops or bad:
            raise InvalidArgument(f"ops {list(self.ops)}: choose from {list(OPS)}")

    @property
    def space(self) -> int:
        """How many distinct problems the spec can produce."""
        width = self.max_operand - self.min_operand + 1
        return width * width * len(self.ops)


@dataclass(frozen=True)
class Problem:
    """One row: the prompt, its reference answer, and the SFT target (the answer; SFT adds EOS)."""

    prompt: str
    answer: str
    completion: str


def solve(a: int, op: str, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


def problems(spec: ArithmeticSpec, seed: int) -> Iterator[Problem]:
    """An endless deterministic stream of problems drawn uniformly (with repeats) from the spec."""
    rng = random.Random(seed)
    while True:
        a = rng.randint(spec.min_operand, spec.max_operand)
        b = rng.randint(spec.min_operand, spec.max_operand)
        op = rng.choice(spec.ops)
        if op == "-" and not spec.allow_negative and b > a:
            a, b = b, a
        answer = str(solve(a, op, b))
        yield Problem(prompt=f"{a}{op}{b}=", answer=answer, completion=answer)


def generate(spec: ArithmeticSpec, n: int, seed: int) -> list[Problem]:
    """The first n problems of the stream for seed."""
    stream = problems(spec, seed)
    return [next(stream) for _ in range(n)]


def write_jsonl(rows: list[Problem], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for row in rows:
            f.write(json.dumps(asdict(row)) + "\n")
    return path


def read_jsonl(path: str | Path) -> list[dict]:
    """Rows of a JSONL file as dicts (blank lines skipped)."""
    with Path(path).open() as f:
        return [json.loads(line) for line in f if line.strip()]


def write_task(out: str | Path, spec: ArithmeticSpec, train: int, test: int, seed: int) -> Path:
    """Writes train.jsonl, test.jsonl and task.json (the spec and seed) under out.

    Train and test come from separate seeded streams; in small spaces (single digits give 100
    problems) they overlap, which is fine: the test measures skill, not memorisation.
    """
    if train <= 0 or test < 0:
        raise InvalidArgument(f"need train > 0 and test >= 0 rows, got {train} and {test}")
    out = Path(out)
    write_jsonl(generate(spec, train, seed), out / "train.jsonl")
    write_jsonl(generate(spec, test, seed + 1_000_003), out / "test.jsonl")
    meta = {"task": "arithmetic", "seed": seed, "train": train, "test": test, **asdict(spec)}
    (out / "task.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out
