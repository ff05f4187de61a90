"""A small generated corpus (arithmetic prompts with answers plus plain text) for tokenizers.

It needs no download, so `yatt init-model` works offline and is reproducible from a seed.
"""

from __future__ import annotations

import random

OPS = ("+", "-", "*")

_TEXT = (
    "The answer is a number.",
    "Compute the result and write only the number.",
    "Question: what is the sum of the two numbers?",
    "A trainer improves the policy from rewards given to its samples.",
    "The reward model scores each completion, and the reference model keeps it close.",
    "Rollout workers generate text while the trainer updates the weights.",
    "Think step by step, then give the final answer after the equals sign.",
    "Small models learn simple arithmetic when the reward is exact.",
    "Each prompt is sampled several times, and the group shares a baseline.",
    "Tokens are pieces of text; the model predicts the next one.",
    "Hello world! This is a tiny language model for tests.",
    "Yes. No. Maybe. Correct. Wrong. The end.",
)
_WORDS = (
    "the a model number answer sum difference product result value step token reward policy "
    "sample batch train test good bad fast slow small large first last next one two three four "
    "five six seven eight nine ten is are was be has have can will add subtract multiply equals"
).split()


def arithmetic_problem(rng: random.Random, max_operand: int = 99) -> tuple[str, str]:
    """A prompt like "12+7=" and its answer "19"."""
    a, b = rng.randint(0, max_operand), rng.randint(0, max_operand)
    op = rng.choice(OPS)
    value = a + b if op == "+" else a - b if op == "-" else a * b
    return f"{a}{op}{b}=", str(value)


def training_corpus(seed: int = 0, lines: int = 4000) -> list[str]:
    """Lines for tokenizer training: arithmetic equations, fixed sentences, random word strings."""
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(lines):
        kind = i % 4
        if kind < 2:
            prompt, answer = arithmetic_problem(rng)
            out.append(prompt + answer if kind == 0 else f"Q: {prompt} A: {answer}")
        elif kind == 2:
            out.append(rng.choice(_TEXT))
        else:
            words = [rng.choice(_WORDS) for _ in range(rng.randint(3, 12))]
            out.append(" ".join(words).capitalize() + rng.choice((".", "?", "!")))
    return out
