"""Rollout throughput: the gRPC service (separate process) vs the same engine in-process, and the
hf engine vs transformers' model.generate(use_cache=True) on the same batch.

`python -m bench.rollout [--quick]`; prints a table and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from yatt.models.init import init_model  # noqa: E402
from yatt.models.load import load_tokenizer  # noqa: E402
from yatt.process.handle import ProcessHandle  # noqa: E402
from yatt.services.rollout.engines import build_engine  # noqa: E402
from yatt.services.rollout.engines.base import PromptInput, SamplingParams  # noqa: E402


def make_prompts(tokenizer, count: int) -> list[PromptInput]:  # noqa: ANN001
    texts = [f"Q: {i}+{3 * i + 1}= A:" if i % 2 else f"{i}*{i % 7}=" for i in range(count)]
    return [PromptInput(f"p{i}", tuple(tokenizer(t).input_ids)) for i, t in enumerate(texts)]


def interleaved(fns: dict[str, Callable[[], int]], rounds: int) -> dict[str, tuple[float, int]]:
    """{label: (best seconds, tokens)}: one warm-up each, then rounds of A, B, A, B...

    Interleaving and taking the best run keep other processes on a shared CPU from biasing one
    side of a ratio (a median over back-to-back runs of one side does not).
    """
    for fn in fns.values():
        fn()
    best = {label: (float("inf"), 0) for label in fns}
    for _ in range(rounds):
        for label, fn in fns.items():
            start = time.perf_counter()
            tokens = fn()
            best[label] = (min(best[label][0], time.perf_counter() - start), tokens)
    return best


def in_process(engine, prompts, params) -> int:  # noqa: ANN001
    return sum(len(s.token_ids) for s in engine.generate(prompts, params))


def hf_generate(engine, prompts, params) -> int:  # noqa: ANN001
    """transformers' own loop on the same left-padded batch, same sampling settings."""
    model = engine.model
    width = max(len(p.token_ids) for p in prompts)
    pad = model.config.pad_token_id
    ids = torch.tensor([[pad] * (width - len(p.token_ids)) + list(p.token_ids) for p in prompts])
    mask = (
        torch.arange(width)[None, :]
        >= torch.tensor([width - len(p.token_ids) for p in prompts])[:, None]
    ).long()
    greedy = params.temperature == 0
    kwargs = (
        {}
        if greedy
        else dict(temperature=params.temperature, top_k=params.top_k or None, top_p=params.top_p)
    )
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids, attention_mask=mask, do_sample=not greedy, use_cache=True,
            max_new_tokens=params.max_new_tokens, num_return_sequences=params.n, **kwargs,
        )  # fmt: skip
    new = out[:, width:]
    eos = model.config.eos_token_id
    # Count like the engine: tokens up to and including EOS.
    done = (new == eos).int().cumsum(-1)
    return int(((done == 0) | ((done == 1) & (new == eos))).sum())


async def grpc_run(endpoint: str, prompts, params) -> int:  # noqa: ANN001
    from yatt.protos import common_pb2, rollout_pb2, rollout_pb2_grpc
    from yatt.rpc.channel import make_channel
    from yatt.services.rollout import convert

    request = rollout_pb2.GenerateRequest(
        prompts=[common_pb2.Prompt(id=p.id, token_ids=list(p.token_ids)) for p in prompts],
        params=convert.params_to_proto(params),
    )
    async with make_channel(endpoint) as channel:
        stub = rollout_pb2_grpc.RolloutServiceStub(channel)
        return sum([len(c.token_ids) async for c in stub.Generate(request, timeout=600)])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rollout")
    parser.add_argument("--quick", action="store_true", help="tiny model, small batch (< 1 min)")
    parser.add_argument(
        "--preset", default=None, help="model preset (default: tiny quick, small full)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both sides")
    args = parser.parse_args()
    preset = args.preset or ("tiny" if args.quick else "small")
    prompts_n, n, max_new, rounds = (16, 4, 48, 4) if args.quick else (32, 8, 128, 4)
    torch.set_num_threads(args.threads)
    console = Console(stderr=True)

    model_dir = Path(tempfile.mkdtemp(prefix="yatt-bench-")) / preset
    init_model(preset, model_dir, seed=0)
    engine = build_engine("hf", str(model_dir), max_batch=prompts_n * n)
    prompts = make_prompts(load_tokenizer(model_dir), prompts_n)
    sampled = SamplingParams(
        temperature=1.0, top_k=50, top_p=0.95, max_new_tokens=max_new, n=n, seed=0
    )
    greedy = SamplingParams(temperature=0.0, max_new_tokens=max_new, n=1)

    proc = ProcessHandle.python(
        "-m", "yatt.cli", "serve", "rollout", "--set", f"model.path={model_dir}",
        "--set", f"threads={args.threads}", "--set", f"max_batch={prompts_n * n}", name="rollout",
    ).start()  # fmt: skip
    try:
        endpoint = proc.wait_for_line("yatt rollout serving on", timeout=120).rsplit(" ", 1)[-1]
        service = interleaved(
            {
                "hf engine, in-process (sampled)": lambda: in_process(engine, prompts, sampled),
                "hf engine via gRPC service (sampled)": lambda: asyncio.run(
                    grpc_run(endpoint, prompts, sampled)
                ),
            },
            rounds,
        )
    finally:
        proc.stop()
    versus = interleaved(
        {
            "model.generate (sampled)": lambda: hf_generate(engine, prompts, sampled),
            "hf engine, in-process (greedy)": lambda: in_process(engine, prompts, greedy),
            "model.generate (greedy)": lambda: hf_generate(engine, prompts, greedy),
            "hf engine, in-process (sampled) ": lambda: in_process(engine, prompts, sampled),
        },
        rounds,
    )
    rows = {**service, **versus}
    rate = {label: tokens / seconds for label, (seconds, tokens) in rows.items()}
    local = rate["hf engine, in-process (sampled)"]
    remote = rate["hf engine via gRPC service (sampled)"]
    gen_sampled = rate["model.generate (sampled)"]
    ours_sampled = rate["hf engine, in-process (sampled) "]
    ours_greedy = rate["hf engine, in-process (greedy)"]
    gen_greedy = rate["model.generate (greedy)"]

    table = Table(
        title=f"rollout: {preset} model, {prompts_n} prompts x n={n}, {max_new} new tokens, {args.threads} thread(s)"
    )
    for col in ("path", "best s", "tokens", "tokens/s"):
        table.add_column(col, justify="left" if col == "path" else "right")
    for label, (seconds, tokens) in rows.items():
        table.add_row(label, f"{seconds:.3f}", str(tokens), f"{tokens / seconds:,.0f}")
    console.print(table)
    result = {
        "bench": "rollout",
        "ratio": round(remote / local, 3),
        "goal": 0.9,
        "engine_over_generate_sampled": round(ours_sampled / gen_sampled, 3),
        "engine_over_generate_greedy": round(ours_greedy / gen_greedy, 3),
        "tokens_per_s": {"grpc": round(remote), "in_process": round(local),
                         "generate_sampled": round(gen_sampled), "greedy": round(ours_greedy),
                         "generate_greedy": round(gen_greedy)},
        "preset": preset, "prompts": prompts_n, "n": n, "max_new_tokens": max_new,
        "threads": args.threads, "cpu_count": os.cpu_count(),
    }  # fmt: skip
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
