"""Rollout logic without gRPC: validates requests, runs the engine off the event loop, streams
completions stamped with the policy version, and switches weight versions atomically.

Text is handled here (tokenize prompts, detokenize, trim at stop strings); engines see token ids.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch

from yatt.errors import FailedPrecondition, InvalidArgument, Unavailable
from yatt.models.load import DTYPES, load_tokenizer
from yatt.models.weights import WeightSpec, spec_from_dir
from yatt.services.rollout.config import RolloutConfig
from yatt.services.rollout.engines import build_engine
from yatt.services.rollout.engines.base import (
    GeneratedSample,
    PromptInput,
    RolloutEngine,
    SamplingParams,
)
from yatt.services.rollout.stops import trim_at_stop
from yatt.services.rollout.versioning import VersionLock
from yatt.transport.base import Delivery, WeightReceiver
from yatt.transport.manifest import WeightManifest
from yatt.transport.registry import build_receiver, offered


@dataclass(frozen=True)
class PromptRequest:
    """A prompt as a caller sends it: token_ids win over text when both are given."""

    id: str
    text: str = ""
    token_ids: tuple[int, ...] = ()
    payload: bytes = b""


@dataclass(frozen=True)
class GenerateRequest:
    prompts: Sequence[PromptRequest]
    params: SamplingParams | None = None  # None: the service's default sampling
    min_version: int = 0


@dataclass
class Completion:
    prompt_id: str
    index: int
    text: str
    prompt_token_ids: list[int]
    token_ids: list[int]
    logprobs: list[float]
    weight_version: int
    finish_reason: str


@dataclass(frozen=True)
class RolloutInfo:
    engine: str
    model: str
    weight_version: int
    max_model_len: int
    vocab_size: int


@dataclass
class WeightStage:
    """Tensors of one incoming version, checked one by one against the model's spec."""

    spec: WeightSpec
    version: int | None = None
    tensor_count: int | None = None
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    received: int = 0
    nbytes: int = 0

    def add(self, version: int, tensor_count: int, name: str, tensor: torch.Tensor) -> None:
        if self.version is None:
            self.version, self.tensor_count = version, tensor_count
        elif (version, tensor_count) != (self.version, self.tensor_count):
            raise InvalidArgument(
                f"tensor {name!r}: version/tensor_count {version}/{tensor_count} differ from the "
                f"stream's {self.version}/{self.tensor_count}"
            )
        canonical = self.spec.check_one(name, tuple(tensor.shape), tensor.dtype)
        if canonical in self.tensors and canonical != name:
            return  # a tied alias (lm_head.weight) of a tensor already received
        if canonical in self.tensors:
            raise InvalidArgument(f"tensor {name!r} sent twice")
        self.tensors[canonical] = tensor
        self.received += 1
        self.nbytes += tensor.numel() * tensor.element_size()


class RolloutCore:
    """One engine behind a version lock; generation runs in worker threads."""

    @classmethod
    def from_config(cls, cfg: RolloutConfig, **hooks: Any) -> RolloutCore:
        """Loads tokenizer and engine from cfg.model.path (slow: call it off the event loop)."""
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        options = {"dtype": cfg.model.dtype, "max_batch": cfg.max_batch, **cfg.engine_options}
        engine = build_engine(cfg.engine, cfg.model.path, **options)
        default = SamplingParams(**cfg.sampling.model_dump())
        return cls(
            engine,
            load_tokenizer(cfg.model.path),
            spec_from_dir(cfg.model.path, DTYPES[cfg.model.dtype]),
            cfg.model.path,
            default,
            concurrency=cfg.engine_concurrency,
            max_rows=cfg.max_samples_per_request,
            **hooks,
        )

    def __init__(
        self,
        engine: RolloutEngine,
        tokenizer: Any,
        spec: WeightSpec,
        model_name: str,
        default_params: SamplingParams,
        *,
        concurrency: int = 1,
        max_rows: int = 4096,
        on_tokens: Callable[[int], None] | None = None,
        on_version: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.engine = engine
        self.tokenizer = tokenizer
        self.spec = spec
        self.model_name = model_name
        self.default_params = default_params
        self.max_rows = max_rows
        self.on_tokens = on_tokens
        self.on_version = on_version
        self.version = 0
        self._lock = VersionLock()
        self._receivers: dict[str, WeightReceiver] = {}
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="rollout-engine")
        # Manifest loads wait on another process (a segment, a rendezvous): one at a time, on a
        # thread of their own, so a slow one never holds the threads other RPCs need.
        self._receive_executor = ThreadPoolExecutor(1, thread_name_prefix="rollout-receive")
        self._receiving: asyncio.Future[Any] | None = None

    def info(self) -> RolloutInfo:
        return RolloutInfo(
            self.engine.name,
            self.model_name,
            self.version,
            self.engine.max_model_len,
            self.engine.vocab_size,
        )

    # -- generation -------------------------------------------------------------------------

    def prepare(self, request: GenerateRequest) -> tuple[list[PromptInput], SamplingParams]:
        """Tokenizes and validates; InvalidArgument names the first problem found."""
        params = request.params or self.default_params
        check_params(params, self.engine.vocab_size)
        if not request.prompts:
            raise InvalidArgument("prompts: empty; send at least one prompt")
        if len(request.prompts) * params.n > self.max_rows:
            raise InvalidArgument(
                f"{len(request.prompts)} prompts x n={params.n} exceeds {self.max_rows} samples"
            )
        seen: set[str] = set()
        out: list[PromptInput] = []
        for p in request.prompts:
            if p.id in seen:
                raise InvalidArgument(f"prompt id {p.id!r} appears twice")
            seen.add(p.id)
            ids = p.token_ids
            if not ids and p.text:
                ids = tuple(self.tokenizer(p.text).input_ids)
            if not ids:
                raise InvalidArgument(f"prompt {p.id!r}: neither text nor token_ids")
            bad = [t for t in ids if not 0 <= t < self.engine.vocab_size]
            if bad:
                raise InvalidArgument(
                    f"prompt {p.id!r}: token ids {bad[:5]} outside the vocabulary "
                    f"[0, {self.engine.vocab_size})"
                )
            if len(ids) + params.max_new_tokens > self.engine.max_model_len:
                raise InvalidArgument(
                    f"prompt {p.id!r}: {len(ids)} prompt tokens + max_new_tokens "
                    f"{params.max_new_tokens} exceed the model's {self.engine.max_model_len}"
                )
            out.append(PromptInput(p.id, tuple(ids), p.payload))
        return out, params

    async def generate(self, request: GenerateRequest) -> AsyncIterator[Completion]:
        """Streams completions as the engine finishes them, each stamped with its version."""
        if request.min_version > self.version:
            raise FailedPrecondition(
                f"min_version {request.min_version} is newer than the served {self.version}"
            )
        prompts, params = await asyncio.to_thread(self.prepare, request)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Completion | None] = asyncio.Queue()
        cancelled = threading.Event()

        def emit(c: Completion) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, c)

        job = loop.run_in_executor(self._executor, self._run, prompts, params, emit, cancelled)
        job.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (item := await queue.get()) is not None:
                if self.on_tokens is not None:
                    self.on_tokens(len(item.token_ids))
                yield item
            await job  # re-raises what the engine raised
        finally:
            cancelled.set()  # the caller went away: stop decoding at the next finished sample

    def _run(
        self,
        prompts: list[PromptInput],
        params: SamplingParams,
        emit: Callable[[Completion], None],
        cancelled: threading.Event,
    ) -> None:
        with self._lock.read():
            version = self.version
            samples = self.engine.generate(prompts, params)
            try:
                for sample in samples:
                    if cancelled.is_set():
                        return
                    emit(self._complete(sample, params, version))
            finally:
                close = getattr(samples, "close", None)
                if close is not None:
                    close()

    def _complete(self, s: GeneratedSample, params: SamplingParams, version: int) -> Completion:
        text = self.tokenizer.decode(s.token_ids, skip_special_tokens=True)
        token_ids, logprobs, finish = s.token_ids, s.logprobs, s.finish_reason
        if params.stop:
            text, keep, hit = trim_at_stop(text, token_ids, params.stop, self._decode)
            if hit:
                token_ids, logprobs, finish = token_ids[:keep], logprobs[:keep], "stop"
        return Completion(
            s.prompt_id, s.index, text, s.prompt_token_ids, token_ids, logprobs, version, finish
        )

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    # -- weights ----------------------------------------------------------------------------

    def stage_weights(self) -> WeightStage:
        return WeightStage(self.spec)

    async def commit_weights(self, stage: WeightStage) -> Delivery:
        """Switches to the staged version once no request holds the old weights."""
        if stage.version is None:
            raise InvalidArgument("weight stream is empty")
        self.spec.check_complete(set(stage.tensors))
        if stage.received != stage.tensor_count:
            raise InvalidArgument(
                f"weight stream declared tensor_count {stage.tensor_count}, carried {stage.received}"
            )
        await asyncio.to_thread(self._switch, stage)
        if self.on_version is not None:
            await self.on_version(stage.version)
        return Delivery(stage.version, stage.received, stage.nbytes)

    async def load_from_manifest(self, manifest: WeightManifest) -> Delivery:
        """A version whose bytes came another way (shm, nccl): verified whole, then switched to.

        The receiver's tensors (e.g. views of a shared segment) are released once the engine
        has copied them, so the trainer may free the segment.
        """
        if manifest.version <= self.version:
            raise FailedPrecondition(
                f"weight version {manifest.version} is not newer than the served {self.version}"
            )
        receiver = self._receivers.get(manifest.transport)
        if receiver is None:
            receiver = self._receivers[manifest.transport] = build_receiver(manifest.transport)
        transports = offered()
        if manifest.transport not in transports:
            raise InvalidArgument(
                f"this rollout does not receive weights over {manifest.transport!r} "
                f"(it offers {', '.join(transports)})"
            )
        if self._receiving is not None and not self._receiving.done():
            raise Unavailable("another weight load is in progress; retry when it is done")
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(self._receive_executor, receiver.receive, manifest)
        self._receiving = job
        # Shielded: a caller that gives up leaves the load marked busy until its thread ends.
        tensors = await asyncio.shield(job)
        try:
            stage = self.stage_weights()
            for name, tensor in tensors.items():
                stage.add(manifest.version, len(manifest.entries), name, tensor)
            del tensors
            return await self.commit_weights(stage)
        finally:
            receiver.release(manifest.version)

    def _switch(self, stage: WeightStage) -> None:
        assert stage.version is not None, "an empty stage never reaches a switch"
        with self._lock.write():
            if stage.version <= self.version:
                raise FailedPrecondition(
                    f"weight version {stage.version} is not newer than the served {self.version}"
                )
            self.engine.load_weights(stage.tensors)
            self.version = stage.version

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._receive_executor.shutdown(wait=False, cancel_futures=True)
        self.engine.close()


# Below this, temperature-scaled logits can overflow float32 (use 0 for greedy).
MIN_TEMPERATURE = 1e-5


def check_params(p: SamplingParams, vocab_size: int) -> None:
    """InvalidArgument for sampling settings no engine could honour."""
    if p.n < 1:
        raise InvalidArgument(f"n must be >= 1, got {p.n}")
    if p.max_new_tokens < 1:
        raise InvalidArgument(f"max_new_tokens must be >= 1, got {p.max_new_tokens}")
    if not math.isfinite(p.temperature) or p.temperature < 0:
        raise InvalidArgument(f"temperature must be finite and >= 0, got {p.temperature}")
    if 0 < p.temperature < MIN_TEMPERATURE:
        # logits / 1e-45 overflow to inf and sampling fails on NaN probabilities.
        raise InvalidArgument(
            f"temperature must be 0 (greedy) or >= {MIN_TEMPERATURE}, got {p.temperature}"
        )
    if not 0 < p.top_p <= 1:
        raise InvalidArgument(f"top_p must be in (0, 1], got {p.top_p}")
    if p.top_k < 0:
        raise InvalidArgument(f"top_k must be >= 0, got {p.top_k}")
    if any(not s for s in p.stop):
        raise InvalidArgument("stop strings must not be empty")
    bad = [t for t in p.stop_token_ids if not 0 <= t < vocab_size]
    if bad:
        raise InvalidArgument(f"stop_token_ids {bad[:5]} outside the vocabulary [0, {vocab_size})")
