"""Helpers of the transport tests: start rollout processes, greedy outputs, weight variants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml

from yatt.process.handle import ProcessHandle
from yatt.services.rollout.client import RolloutClient
from yatt.services.rollout.core import GenerateRequest, PromptRequest
from yatt.services.rollout.engines.base import PromptInput, SamplingParams

READY = "serving on"
# Every job of these tests is named so; the leak check in conftest looks at these segments only.
JOB = "xport"
PROMPTS = [[5, 9, 23, 7], [11, 3, 3, 40, 2]]
GREEDY = SamplingParams(temperature=0.0, max_new_tokens=8)


def rollout_process(model: Path, path: Path, **extra: Any) -> ProcessHandle:
    config = {"model": {"path": str(model)}, "threads": 1, **extra}
    path.write_text(yaml.safe_dump(config))
    return ProcessHandle.python(
        "-m", "yatt.services.rollout", "--config", str(path), name=path.stem
    ).start()


def endpoint_of(proc: ProcessHandle, timeout: float = 120) -> str:
    return proc.wait_for_line(READY, timeout=timeout).rsplit(" ", 1)[-1]


def greedy_request() -> GenerateRequest:
    prompts = [PromptRequest(f"p{i}", token_ids=tuple(ids)) for i, ids in enumerate(PROMPTS)]
    return GenerateRequest(prompts, GREEDY)


async def remote_greedy(rollout: RolloutClient) -> dict[str, tuple[list[int], list[float]]]:
    """prompt id -> (token ids, log-probs) from a rollout process; bit-exact floats."""
    out = [c async for c in rollout.generate(greedy_request(), timeout_s=60)]
    return {c.prompt_id: (c.token_ids, c.logprobs) for c in out}


def local_greedy(
    engine: Any, weights: dict[str, torch.Tensor]
) -> dict[str, tuple[list[int], list[float]]]:
    """The same request on the in-process engine with `weights`; its own weights are restored."""
    saved = {k: v.clone() for k, v in engine.model.state_dict().items()}
    try:
        engine.load_weights(weights)
        prompts = [PromptInput(f"p{i}", tuple(ids)) for i, ids in enumerate(PROMPTS)]
        samples = list(engine.generate(prompts, GREEDY))
    finally:
        engine.model.load_state_dict(saved)
    # Through float32 like the proto carries them, so the comparison is exact.
    return {
        s.prompt_id: (list(s.token_ids), torch.tensor(s.logprobs, dtype=torch.float32).tolist())
        for s in samples
    }


def scaled(engine: Any, scale: float) -> dict[str, torch.Tensor]:
    """The engine's distinct parameters times scale (a new "version" with visible effect)."""
    return {n: p.detach() * scale for n, p in engine.model.named_parameters()}
