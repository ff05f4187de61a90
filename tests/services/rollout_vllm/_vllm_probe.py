"""Drives the vllm engine under .venv-vllm and prints one JSON line of results for the tests.

Run as `.venv-vllm/bin/python _vllm_probe.py MODEL_A MODEL_B`; transformers in the same venv is
the reference that vLLM's greedy output must match, before and after a weight swap to MODEL_B.
"""

from __future__ import annotations

import json
import math
import sys
import time


def hf_greedy(path: str, prompts: list[list[int]], k: int) -> list[dict]:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, local_files_only=True)
    out = []
    with torch.inference_mode():
        for ids in prompts:
            gen = model.generate(
                torch.tensor([ids]),
                max_new_tokens=k,
                do_sample=False,
                output_scores=True,
                return_dict_in_generate=True,
                pad_token_id=model.config.pad_token_id,
            )
            tokens = gen.sequences[0, len(ids) :].tolist()
            lps = [
                torch.log_softmax(s[0].float(), -1)[t].item()
                for s, t in zip(gen.scores, tokens, strict=True)
            ]
            out.append({"tokens": tokens, "logprobs": lps})
    return out


def samples(engine, prompts, params) -> list[dict]:
    return [
        {
            "prompt_id": s.prompt_id,
            "index": s.index,
            "prompt": s.prompt_token_ids,
            "tokens": s.token_ids,
            "logprobs": s.logprobs,
            "finish": s.finish_reason,
        }
        for s in engine.generate(prompts, params)
    ]


def main(model_a: str, model_b: str) -> dict:
    import torch
    from safetensors.torch import load_file

    from yatt.errors import InvalidArgument
    from yatt.services.rollout.engines import build_engine
    from yatt.services.rollout.engines.base import PromptInput, SamplingParams

    res: dict = {}
    t0 = time.perf_counter()
    engine = build_engine("vllm", model_a, kv_cache_gib=0.25)
    res["startup_s"] = time.perf_counter() - t0
    res["vocab_size"] = engine.vocab_size
    res["max_model_len"] = engine.max_model_len

    ids = [[5, 6, 7, 8], [9, 10], [11, 12, 13]]
    prompts = [PromptInput(id=f"p{i}", token_ids=tuple(t)) for i, t in enumerate(ids)]
    sampled = SamplingParams(temperature=1.0, max_new_tokens=12, n=2, seed=7)
    res["sampled"] = samples(engine, prompts, sampled)
    res["sampled_again"] = samples(engine, prompts, sampled)
    res["all_finite"] = all(math.isfinite(x) for s in res["sampled"] for x in s["logprobs"])

    greedy = SamplingParams(temperature=0.0, max_new_tokens=12)
    res["greedy_a"] = samples(engine, prompts, greedy)
    res["hf_a"] = hf_greedy(model_a, ids, 12)

    # A stop string equal to the text of the first 3 greedy tokens ends the sample at token 3.
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_a, local_files_only=True)
    first = min(res["greedy_a"], key=lambda s: s["prompt_id"])
    stop = tokenizer.decode(first["tokens"][:3])
    stopped = SamplingParams(temperature=0.0, max_new_tokens=12, stop=(stop,))
    res["stop_string"] = samples(engine, prompts[:1], stopped)

    weights = load_file(f"{model_b}/model.safetensors")
    t0 = time.perf_counter()
    engine.load_weights(weights)
    res["load_weights_s"] = time.perf_counter() - t0
    res["greedy_b"] = samples(engine, prompts, greedy)
    res["hf_b"] = hf_greedy(model_b, ids, 12)

    try:
        engine.load_weights({"no.such.tensor": torch.zeros(1)})
        res["bad_weights"] = "accepted"
    except InvalidArgument as e:
        res["bad_weights"] = str(e)
    try:
        list(engine.generate([PromptInput(id="x", token_ids=(engine.vocab_size,))], greedy))
        res["bad_ids"] = "accepted"
    except InvalidArgument as e:
        res["bad_ids"] = str(e)

    # A caller that stops reading early must leave the engine clean for the next call.
    stream = engine.generate(prompts, SamplingParams(max_new_tokens=32, n=4, seed=1))
    next(stream)
    stream.close()
    res["after_abort"] = samples(engine, prompts[:1], greedy)

    many = [PromptInput(id=f"b{i}", token_ids=(20 + i, 21, 22, 23)) for i in range(32)]
    t0 = time.perf_counter()
    out = samples(engine, many, SamplingParams(temperature=1.0, max_new_tokens=64, seed=0))
    dt = time.perf_counter() - t0
    res["bench_tokens"] = sum(len(s["tokens"]) for s in out)
    res["tokens_per_s"] = res["bench_tokens"] / dt
    engine.close()
    return res


if __name__ == "__main__":  # vLLM may spawn helpers, which re-import this file
    print("YATT_RESULT " + json.dumps(main(sys.argv[1], sys.argv[2])), flush=True)
