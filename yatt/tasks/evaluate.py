"""Accuracy of a model directory on a task JSONL: greedy, or sampled n times per prompt.

Scored with yatt.tasks.answers, the exact_answer reward plugin's own parsing, so it measures
what RL's reward sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from yatt.models.load import load_causal_lm, load_tokenizer
from yatt.tasks.answers import extract, same_answer
from yatt.tasks.arithmetic import read_jsonl


@dataclass(frozen=True)
class EvalResult:
    """correct[i] counts right samples of prompt i out of `samples`."""

    samples: int
    temperature: float
    correct: tuple[int, ...]

    @property
    def accuracy(self) -> float:
        return sum(self.correct) / max(1, len(self.correct) * self.samples)

    @property
    def mixed_fraction(self) -> float:
        """Share of prompts whose group has both right and wrong samples (GRPO learns from these)."""
        mixed = sum(0 < c < self.samples for c in self.correct)
        return mixed / max(1, len(self.correct))


def is_correct(completion: str, answer: str) -> bool:
    """The exact_answer plugin's verdict with its default options."""
    given = extract(completion, "auto")
    return given is not None and same_answer(given, answer, rel_tol=1e-6, abs_tol=1e-9)


def complete(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    samples: int = 1,
    temperature: float = 0.0,
    max_new_tokens: int = 8,
    batch_size: int = 128,
    seed: int = 0,
) -> list[list[str]]:
    """`samples` completions per prompt, EOS-stopped, decoded; temperature 0 gives one greedy one."""
    tokenizer.padding_side = "left"  # generation continues from the last column
    torch.manual_seed(seed)
    sampling = temperature > 0
    samples = samples if sampling else 1
    out: list[list[str]] = []
    with torch.inference_mode():
        for start in range(0, len(prompts), batch_size):
            chunk = list(prompts[start : start + batch_size])
            enc = tokenizer(chunk, return_tensors="pt", padding=True)
            gen = model.generate(  # type: ignore[operator]  # HF's stubs type it as a Tensor
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=sampling,
                num_return_sequences=samples,
                # Pure temperature sampling, as rollout does; HF would add top_k=50 by default.
                **({"temperature": temperature, "top_k": 0, "top_p": 1.0} if sampling else {}),
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            texts = tokenizer.batch_decode(
                gen[:, enc.input_ids.shape[1] :], skip_special_tokens=True
            )
            out.extend(texts[i * samples : (i + 1) * samples] for i in range(len(chunk)))
    return out


def evaluate_model(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict],
    samples: int = 1,
    temperature: float = 0.0,
    **kwargs: int,
) -> EvalResult:
    """Scores every row's completions against its "answer" column."""
    texts = complete(model, tokenizer, [r["prompt"] for r in rows], samples, temperature, **kwargs)
    correct = tuple(
        sum(is_correct(t, str(r["answer"])) for t in group)
        for r, group in zip(rows, texts, strict=True)
    )
    return EvalResult(
        samples=len(texts[0]) if texts else 1, temperature=temperature, correct=correct
    )


def evaluate(
    model_dir: str | Path,
    data: str | Path,
    limit: int | None = None,
    samples: int = 1,
    temperature: float = 0.0,
    **kwargs: int,
) -> EvalResult:
    """Loads model_dir (float32) and scores the first `limit` rows of the task JSONL."""
    rows = read_jsonl(data)[:limit]
    model, tokenizer = load_causal_lm(model_dir), load_tokenizer(model_dir)
    return evaluate_model(model, tokenizer, rows, samples, temperature, **kwargs)
