"""The `vllm` engine: vLLM's LLM engine driven token-ids-in, token-ids-out, weights swapped in place.

vLLM runs in this process (no engine-core or worker subprocess): start-up is ~10x faster on CPU and
weight updates hand tensors over by reference instead of serializing them between processes.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from yatt.errors import ConfigError, InvalidArgument
from yatt.services.rollout.engines.base import (
    GeneratedSample,
    PromptInput,
    RolloutEngine,
    SamplingParams,
)

GIB = 1 << 30
_request_counter = itertools.count()


def _configure_process() -> None:
    # Read when the engine is built: the engine core then runs in-process (see module docstring);
    # forced, since load_weights passes a function and tensors by reference.
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    os.environ.setdefault("VLLM_DO_NOT_TRACK", "1")


def _reload_on_worker(worker: Any, weights: list[tuple[str, torch.Tensor]]) -> None:
    """Runs inside the vLLM worker: reloads checkpoint-format weights, then refreshes tied heads."""
    worker.reload_weights(weights_iterator=iter(weights), is_checkpoint_format=True)
    from vllm.model_executor.layers.vocab_parallel_embedding import UnquantizedEmbeddingMethod

    # vLLM's CPU backend packs an embedding-shaped GEMM (a tied lm_head) into a oneDNN handle at
    # load time; reload_weights refreshes the shared tensor but not that packed copy, so the head
    # would keep the old weights. Re-running its post-load step repacks it from the new tensor.
    for module in worker.model_runner.get_model().modules():
        method = getattr(module, "quant_method", None)
        if isinstance(method, UnquantizedEmbeddingMethod) and hasattr(module, "cpu_linear"):
            method.process_weights_after_loading(module)


class VLLMEngine(RolloutEngine):
    """vLLM's `LLM` on a local Hugging Face directory; one generate() call at a time.

    Log-probs are vLLM's "processed" ones: temperature-scaled (untempered for greedy), equal to
    the hf engine's without top-k/top-p; with them, vLLM renormalizes over the kept tokens.
    """

    name = "vllm"

    def __init__(
        self,
        model_path: str,
        dtype: str = "float32",
        max_model_len: int | None = None,
        kv_cache_gib: float = 1.0,
        max_batch: int = 256,
        enforce_eager: bool = True,
        enable_prefix_caching: bool = True,
        seed: int = 0,
    ) -> None:
        if not (Path(model_path) / "config.json").is_file():
            # vLLM would take a missing directory for a hub name and try to download it.
            raise ConfigError(f"model path {str(model_path)!r} is not a local model directory")
        _configure_process()
        from vllm import LLM

        self._llm = LLM(
            model=str(model_path),
            dtype=dtype,
            max_model_len=max_model_len,
            kv_cache_memory_bytes=int(kv_cache_gib * GIB),
            max_num_seqs=max_batch,  # rows decoded together, as in the hf engine
            enforce_eager=enforce_eager,
            enable_prefix_caching=enable_prefix_caching,
            seed=seed,
            logprobs_mode="processed_logprobs",
            distributed_executor_backend="uni",
            disable_log_stats=True,
        )
        self._engine = self._llm.llm_engine
        # One step loop at a time: concurrent generate() calls would steal each other's outputs.
        self._lock = threading.Lock()
        config = self._engine.model_config
        self._max_model_len = int(config.max_model_len)
        self._vocab_size = int(config.get_vocab_size())
        self._param_names = self._checkpoint_names()

    @property
    def max_model_len(self) -> int:
        return self._max_model_len

    @property
    def vocab_size(self) -> int:
        return self._vocab_size

    def _checkpoint_names(self) -> set[str] | None:
        """HF names the model loads from; None when vLLM renames too much to check here."""
        config = self._engine.model_config.hf_config
        with torch.device("meta"):
            from transformers import AutoModelForCausalLM

            try:
                model = AutoModelForCausalLM.from_config(config)
            except (ValueError, KeyError):
                return None
        # Tied names (lm_head.weight) may be sent too; vLLM's loader skips them.
        return {name for name, _ in model.named_parameters(remove_duplicate=False)}

    def load_weights(self, weights: Mapping[str, torch.Tensor]) -> None:
        if self._param_names is not None:
            unknown = sorted(set(weights) - self._param_names)
            if unknown:
                raise InvalidArgument(f"unexpected tensors: {unknown[:10]}")
        items = [(name, t.detach()) for name, t in weights.items()]
        with self._lock:  # never while a generate() holds requests in the engine
            self._llm.collective_rpc(_reload_on_worker, args=(items,))
            # Cached prefixes hold keys/values computed with the old weights.
            self._llm.reset_prefix_cache()

    def close(self) -> None:
        with self._lock:
            llm, self._llm = self._llm, None
            if llm is not None:
                llm.llm_engine.engine_core.shutdown()

    def _validate(self, prompts: Sequence[PromptInput], params: SamplingParams) -> None:
        for p in prompts:
            if not p.token_ids:
                raise InvalidArgument(f"prompt {p.id!r} has no tokens")
            if min(p.token_ids) < 0 or max(p.token_ids) >= self._vocab_size:
                raise InvalidArgument(
                    f"prompt {p.id!r} has token ids outside [0, {self._vocab_size})"
                )
            if len(p.token_ids) + params.max_new_tokens > self._max_model_len:
                raise InvalidArgument(
                    f"prompt {p.id!r}: {len(p.token_ids)} prompt tokens + max_new_tokens "
                    f"{params.max_new_tokens} exceed max_model_len {self._max_model_len}"
                )

    def _vllm_params(self, params: SamplingParams, seed: int | None) -> Any:
        from vllm import SamplingParams as VllmSamplingParams
        from vllm.sampling_params import RequestOutputKind

        return VllmSamplingParams(
            n=1,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=params.top_k,  # 0 disables top-k in vLLM too
            max_tokens=params.max_new_tokens,
            stop_token_ids=list(params.stop_token_ids),
            # Stop strings need vLLM to detokenize as it goes; they end a sample early (saving
            # compute), and core.py still trims the text. The stopping token stays in token_ids.
            stop=list(params.stop),
            include_stop_str_in_output=True,
            detokenize=bool(params.stop),
            seed=seed,
            logprobs=0,  # the sampled token's log-prob only
            output_kind=RequestOutputKind.FINAL_ONLY,
        )

    def generate(
        self, prompts: Sequence[PromptInput], params: SamplingParams
    ) -> Iterator[GeneratedSample]:
        """Each of the n samples is its own vLLM request (prefix caching shares the prompt), so
        samples stream out one by one as they finish. Sample j of prompt i is seeded with
        seed + i*n + j: reproducible, and no two samples share a random stream."""
        if params.n < 1:
            raise InvalidArgument(f"n must be >= 1, got {params.n}")
        self._validate(prompts, params)
        with self._lock:
            yield from self._generate(prompts, params)

    def _generate(
        self, prompts: Sequence[PromptInput], params: SamplingParams
    ) -> Iterator[GeneratedSample]:
        from vllm.inputs import TokensPrompt

        rendered = self._llm.renderer.render_cmpl(
            [TokensPrompt(prompt_token_ids=list(p.token_ids)) for p in prompts]
        )
        call = next(_request_counter)
        pending: dict[str, tuple[PromptInput, int]] = {}
        for i, (prompt, engine_input) in enumerate(zip(prompts, rendered, strict=True)):
            for j in range(params.n):
                seed = None if params.seed is None else params.seed + i * params.n + j
                request_id = f"y{call}-{i}-{j}"
                self._engine.add_request(request_id, engine_input, self._vllm_params(params, seed))
                pending[request_id] = (prompt, j)
        try:
            while pending:
                for output in self._engine.step():
                    if not output.finished:
                        continue
                    prompt, index = pending.pop(output.request_id)
                    yield self._sample(prompt, index, output)
        finally:
            if pending:  # the caller stopped early: leave the engine empty for the next call
                self._engine.abort_request(list(pending))

    @staticmethod
    def _sample(prompt: PromptInput, index: int, output: Any) -> GeneratedSample:
        completion = output.outputs[0]
        token_ids = list(completion.token_ids)
        logprobs = [
            float(step[token].logprob)
            for step, token in zip(completion.logprobs or [], token_ids, strict=True)
        ]
        return GeneratedSample(
            prompt_id=prompt.id,
            index=index,
            prompt_token_ids=list(prompt.token_ids),
            token_ids=token_ids,
            logprobs=logprobs,
            finish_reason="length" if completion.finish_reason == "length" else "stop",
        )
