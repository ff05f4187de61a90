"""The supervised warm-start: AdamW on prompt/completion rows, loss on completion tokens only.

float32 on CPU, deterministic by seed; the output is a Hugging Face directory rollout can serve.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from yatt.errors import AlreadyExists, InvalidArgument
from yatt.models.load import load_causal_lm, load_tokenizer
from yatt.sft.config import SFTConfig

IGNORE = -100


@dataclass(frozen=True)
class Example:
    """One tokenized row: the full sequence and where the completion starts."""

    input_ids: tuple[int, ...]
    prompt_len: int


@dataclass
class SFTResult:
    out: Path
    steps: int
    rows: int
    wall_s: float
    losses: list[float] = field(default_factory=list)


def read_rows(cfg: SFTConfig) -> list[tuple[str, str]]:
    """(prompt, completion) pairs of the JSONL file; InvalidArgument naming a bad row or column."""
    path = Path(cfg.data)
    if not path.is_file():
        raise InvalidArgument(f"data: {path} does not exist")
    rows = []
    with path.open() as f:
        for i, line in enumerate(f):
            if not line.strip():
                continue
            record = json.loads(line)
            for column in (cfg.prompt_column, cfg.completion_column):
                if not isinstance(record.get(column), str):
                    raise InvalidArgument(f"data: row {i} of {path} has no string {column!r}")
            rows.append((record[cfg.prompt_column], record[cfg.completion_column]))
    if not rows:
        raise InvalidArgument(f"data: {path} has no rows")
    return rows


def encode(
    rows: Sequence[tuple[str, str]], tokenizer: PreTrainedTokenizerBase, max_len: int
) -> list[Example]:
    """Prompt and completion tokenized apart, as rollout sees them (prompt ids, then sampled ids)."""
    eos = tokenizer.eos_token_id
    out = []
    for prompt, completion in rows:
        p = tokenizer(prompt).input_ids
        c = tokenizer(completion).input_ids + [eos]
        if len(p) >= max_len:
            continue  # no completion token would survive truncation
        out.append(Example(tuple((p + c)[:max_len]), len(p)))
    if not out:
        raise InvalidArgument(f"every prompt is at least max_len={max_len} tokens")
    return out


def collate(batch: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded input_ids/attention_mask and labels that are IGNORE outside completions."""
    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    for i, e in enumerate(batch):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        mask[i, :n] = 1
        labels[i, e.prompt_len : n] = ids[i, e.prompt_len : n]
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def completion_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean next-token cross-entropy over the batch's completion tokens."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].flatten(0, 1).float(),
        batch["labels"][:, 1:].flatten(),
        ignore_index=IGNORE,
    )


def lr_at(step: int, total: int, cfg: SFTConfig) -> float:
    """Linear warmup, then constant or cosine decay to 10% of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    done = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, done))))


def batch_order(n_rows: int, steps: int, batch_size: int, seed: int) -> list[list[int]]:
    """Row indices per step: seeded shuffled epochs, concatenated, cut into batches."""
    gen = torch.Generator().manual_seed(seed)
    needed, order = steps * batch_size, list[int]()
    while len(order) < needed:
        order.extend(torch.randperm(n_rows, generator=gen).tolist())
    return [order[s * batch_size : (s + 1) * batch_size] for s in range(steps)]


def _prepare_out(cfg: SFTConfig) -> Path:
    out = Path(cfg.out)
    if out.resolve() == Path(cfg.model).resolve():
        raise InvalidArgument("out must differ from model: the start point would be overwritten")
    if out.exists() and any(out.iterdir()) and not cfg.overwrite:
        raise AlreadyExists(f"{out} is not empty; set overwrite=true to replace it")
    return out


def run_sft(cfg: SFTConfig, on_step: Callable[[int, float], None] | None = None) -> SFTResult:
    """Trains, saves model + tokenizer (+ sft.json) to cfg.out, and returns the loss curve."""
    out = _prepare_out(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    tokenizer = load_tokenizer(cfg.model)
    model = load_causal_lm(cfg.model, torch.float32)
    model.requires_grad_(True).train()
    examples = encode(read_rows(cfg), tokenizer, cfg.max_len)
    steps = cfg.steps or max(1, math.ceil(cfg.epochs * len(examples) / cfg.batch_size))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    losses: list[float] = []
    start = time.perf_counter()
    with _progress(cfg.progress, steps) as advance:
        for step, rows in enumerate(batch_order(len(examples), steps, cfg.batch_size, cfg.seed)):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, steps, cfg)
            loss = completion_loss(model, collate([examples[i] for i in rows], pad_id))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            losses.append(loss.item())
            advance(losses[-1])
            if on_step is not None:
                on_step(step, losses[-1])
    wall_s = time.perf_counter() - start
    _save(model.eval(), tokenizer, out, cfg, losses, wall_s)
    return SFTResult(out=out, steps=steps, rows=len(examples), wall_s=wall_s, losses=losses)


def _save(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    out: Path,
    cfg: SFTConfig,
    losses: list[float],
    wall_s: float,
) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    summary = {
        "config": cfg.model_dump(),
        "steps": len(losses),
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "wall_s": round(wall_s, 3),
    }
    (out / "sft.json").write_text(json.dumps(summary, indent=2) + "\n")


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[float], None]]:
    """A rich bar with the running loss, or nothing when disabled (tests, logs)."""
    if not enabled:
        yield lambda loss: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]sft"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("loss {task.fields[loss]}"),
    )
    with Progress(*columns) as bar:
        task = bar.add_task("sft", total=total, loss="-")
        yield lambda loss: bar.update(task, advance=1, loss=f"{loss:.4f}")
