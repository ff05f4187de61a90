"""TrainerCore: admits experience (ledger, validation, staleness), steps when the global batch
is full, versions the weights, checkpoints and restores. No gRPC here; calls are serialised by
the caller (one engine thread), and every refusal happens before any state changes.

Exactly once across crashes: a push is acknowledged only after it is in the journal; a restart
loads the newest checkpoint and replays the journal entries it does not cover, so shards pending
or applied after that checkpoint are applied again, once, in the same order and batches.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yatt.config.algorithm import AlgorithmSpec
from yatt.errors import AlreadyExists, FailedPrecondition, InvalidArgument, Unavailable
from yatt.services.trainer import checkpoint as ckpt
from yatt.services.trainer.batching import collate, plan_step
from yatt.services.trainer.config import TrainerConfig, check_critic
from yatt.services.trainer.engine_api import TrainingEngine
from yatt.services.trainer.experience import Experience, Requirements, parse_shard_id, validate
from yatt.services.trainer.journal import Journal
from yatt.services.trainer.ledger import Ledger
from yatt.services.trainer.losses.settings import LossSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushResult:
    stepped: bool
    step: int
    weight_version: int
    pending_samples: int


@dataclass(frozen=True)
class TrainerState:
    step: int
    weight_version: int
    pending_samples: int
    applied_shards: int
    epoch: int
    last_metrics: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    # applied (shard id -> step), pending (ids), epoch, samples_trained: what Status reports.
    ledger: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckpointInfo:
    path: str
    step: int
    weight_version: int


@dataclass(frozen=True)
class WeightSnapshot:
    """A consistent copy of the policy weights at one version (CPU tensors, name order)."""

    version: int
    tensors: dict[str, Any]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors.values())


class TrainerCore:
    def __init__(self, cfg: TrainerConfig, engine: TrainingEngine) -> None:
        self.cfg = cfg
        self.engine = engine
        out = Path(cfg.out_dir)
        self.ckpt_root = out / "checkpoints"
        self.ckpt_root.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(out / "journal")
        self.ledger = Ledger()
        self.pending: list[Experience] = []
        self.step = 0
        self.version = 0
        # Samples in every step so far: equals the applied shards' sizes unless one was applied twice.
        self.samples_trained = 0
        self.last_metrics: dict[str, Any] = {}
        self.last_checkpoint: str | None = None
        self.vocab_size = engine.vocab_size
        # The job's algorithm: from cfg for a bare trainer, else configure() once the job's
        # config is read from etcd. Until then pushes are refused and the journal waits.
        self.algorithm: AlgorithmSpec | None = None
        self.loss = LossSettings()
        self.requirements = Requirements(cfg.job, self.vocab_size, True, False)
        self._replay_waiting = False
        if cfg.algorithm is not None:
            self.configure(cfg.algorithm)

    def configure(self, spec: AlgorithmSpec) -> None:
        """Adopts the job's algorithm (once; the job's config never changes) and replays the
        journal if restore() had to leave it for now."""
        if self.algorithm is not None:
            if spec != self.algorithm:
                raise FailedPrecondition(f"job {self.cfg.job!r}: its algorithm changed under us")
            return
        try:
            check_critic(spec, self.cfg.critic)
        except ValueError as exc:
            raise FailedPrecondition(str(exc)) from None
        self.algorithm = spec
        self.loss = LossSettings.from_spec(spec, self.cfg.tis_cap)
        self.requirements = Requirements(
            job=self.cfg.job,
            vocab_size=self.vocab_size,
            needs_advantages=not self.loss.uses_critic,
            needs_ref_logprobs=self.loss.needs_ref_logprobs,
        )
        log.info("algorithm %s: %s", spec.name, spec.model_dump(mode="json"))
        if self._replay_waiting:
            self._replay_waiting = False
            self._replay()

    # -- admission -------------------------------------------------------------------------

    @property
    def pending_samples(self) -> int:
        return sum(e.num_samples for e in self.pending)

    def check(self, exp: Experience) -> None:
        """Every reason to refuse exp, in the order a controller should see them."""
        h = exp.header
        if h.job != self.cfg.job:
            raise InvalidArgument(f"unknown job {h.job!r} (this trainer serves {self.cfg.job!r})")
        if self.algorithm is None:
            raise Unavailable(
                f"job {self.cfg.job!r}: its algorithm is not known yet (the trainer reads it "
                "from the job's config in etcd, written when the job is submitted)"
            )
        parse_shard_id(h.shard_id)
        where = self.ledger.state_of(h.shard_id)
        if where is not None:
            raise AlreadyExists(f"shard {h.shard_id} already taken ({where})")
        validate(exp, self.requirements)
        window = self.cfg.epoch_window
        if window is not None and h.epoch < self.ledger.epoch - window:
            raise InvalidArgument(
                f"shard {h.shard_id} is for epoch {h.epoch}, but the trainer is at epoch "
                f"{self.ledger.epoch} (epoch_window {window})"
            )
        if h.weight_version > self.version:
            raise InvalidArgument(
                f"shard {h.shard_id} claims weight version {h.weight_version}, "
                f"newer than the trainer's {self.version}"
            )
        staleness = self.algorithm.max_staleness
        if h.weight_version < self.version - staleness:
            raise FailedPrecondition(
                f"shard {h.shard_id} was sampled with version {h.weight_version}; the trainer is at "
                f"{self.version} and accepts at most {staleness} versions of staleness"
            )

    def push(self, exp: Experience) -> PushResult:
        """Admits one shard; steps when the global batch is full. Raises before any change."""
        self.check(exp)
        self.journal.append(exp)
        stepped = self._accept(exp)
        return PushResult(stepped, self.step, self.version, self.pending_samples)

    def _accept(self, exp: Experience) -> bool:
        self.ledger.add_pending(exp.shard_id, exp.header.epoch)
        self.pending.append(exp)
        if self.pending_samples < self.cfg.deepspeed.global_batch_samples:
            return False
        self._step()
        return True

    # -- stepping --------------------------------------------------------------------------

    def _step(self) -> None:
        start = time.perf_counter()
        batch = collate(self.pending)
        plan = plan_step(batch, self.loss.aggregation)
        metrics: dict[str, Any] = self.engine.step(batch, plan, self.loss)
        elapsed = time.perf_counter() - start
        self.step += 1
        self.version += 1
        self.samples_trained += plan.total_samples
        applied = self.ledger.commit(self.step)
        self.pending = []
        metrics.update(
            step=self.step,
            weight_version=self.version,
            reward_mean=float(batch.rewards.float().mean()),
            samples=plan.total_samples,
            shards=len(applied),
            tokens=plan.total_tokens,
            step_time_s=elapsed,
            tokens_per_s=plan.total_tokens / max(elapsed, 1e-9),
        )
        if self.cfg.verify_ranks:
            digests = self.engine.digests()
            metrics["rank_digests"] = digests
            if len(set(digests)) != 1:
                raise RuntimeError(f"step {self.step}: ranks diverged: {digests}")
        self.last_metrics = metrics
        self._record(metrics)
        log.info(
            "step %d: loss %.4f kl %.4f entropy %.3f clip %.3f grad_norm %.3f reward %.3f (%.0f tok/s)",
            self.step, metrics["loss"], metrics.get("kl", 0.0), metrics.get("entropy", 0.0),
            metrics.get("clip_frac", 0.0), metrics["grad_norm"], metrics["reward_mean"],
            metrics["tokens_per_s"],
        )  # fmt: skip
        every = self.cfg.checkpoint_every
        if every and self.step % every == 0:
            self.checkpoint()

    def _record(self, metrics: dict[str, Any]) -> None:
        """Appends the step's metrics to out_dir/metrics.jsonl (plots and summaries read it)."""
        line = {k: v for k, v in metrics.items() if k != "rank_digests"}
        line["time"] = time.time()
        with open(Path(self.cfg.out_dir) / "metrics.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")

    def flush(self) -> bool:
        """Steps with the pending shards although the global batch is not full (the job is
        done, so no more will come); False if nothing is pending or too little for one sample
        per micro-batch on every rank (those stay pending, in the ledger's pending list)."""
        if self.pending_samples < self.engine.world_size * self.cfg.grad_accum:
            return False
        log.info("flushing %d pending samples (%d shards)", self.pending_samples, len(self.pending))
        self._step()
        return True

    # -- checkpoints -----------------------------------------------------------------------

    def checkpoint(self, label: str = "") -> CheckpointInfo:
        """Saves the engine's state plus ledger, step, version; then trims the journal."""
        tag = ckpt.tag_for(self.step)
        self.engine.save(self.ckpt_root, tag)
        state = {
            "step": self.step,
            "weight_version": self.version,
            "ledger": self.ledger.to_dict(),
            "journal_seq": self.journal.last_seq,
            "samples_trained": self.samples_trained,
            "last_metrics": {k: v for k, v in self.last_metrics.items() if k != "rank_digests"},
            "world_size": self.engine.world_size,
            "engine": self.cfg.engine,
            "zero_stage": self.cfg.deepspeed.zero_stage,
            "label": label,
            "time": time.time(),
        }
        path = ckpt.commit(self.ckpt_root, tag, state, self.cfg.keep_checkpoints)
        self.journal.discard(list(self.ledger.applied))
        self.last_checkpoint = str(path)
        log.info("checkpoint %s (step %d, version %d)", path, self.step, self.version)
        return CheckpointInfo(str(path), self.step, self.version)

    def restore(self) -> None:
        """Loads the checkpoint that cfg.resume names, then replays the journal past it."""
        if self.cfg.resume == "never":
            self.journal.clear()
        ref = ckpt.resolve_resume(self.cfg.resume, self.ckpt_root)
        if ref is not None:
            state = ckpt.read_state(ref)
            self._check_resumable(ref, state)
            self.engine.load(ref.root, ref.tag)
            self.step = int(state["step"])
            self.version = int(state["weight_version"])
            self.samples_trained = int(state.get("samples_trained", 0))
            self.ledger = Ledger.from_dict(state["ledger"])
            self.ledger.pending = []  # rebuilt from the journal below, in order
            self.last_metrics = dict(state.get("last_metrics", {}))
            self.journal.last_seq = max(self.journal.last_seq, int(state["journal_seq"]))
            self.last_checkpoint = str(ref.path)
            log.info("resumed from %s: step %d, version %d", ref.path, self.step, self.version)
        if self.algorithm is None:  # stepping needs the loss settings: configure() replays
            self._replay_waiting = True
            return
        self._replay()

    def _replay(self) -> None:
        """Accepts the journal's shards not in the ledger again, in order (the same steps)."""
        replayed = 0
        for _, exp in self.journal.entries():
            if exp.shard_id in self.ledger.applied:
                self.journal.discard([exp.shard_id])
                continue
            self._accept(exp)
            replayed += 1
        if replayed:
            log.info("replayed %d journaled shards: step %d, %d samples pending",
                     replayed, self.step, self.pending_samples)  # fmt: skip

    def _check_resumable(self, ref: ckpt.CheckpointRef, state: dict[str, Any]) -> None:
        """A checkpoint holds one engine's files for one world size; refuse any other."""
        if state.get("world_size", 1) != self.engine.world_size:
            raise InvalidArgument(
                f"checkpoint {ref.path} was written by {state['world_size']} ranks, "
                f"this trainer has {self.engine.world_size}"
            )
        # Checkpoints from before the engine choice are all DeepSpeed's.
        written_by = state.get("engine", "deepspeed")
        if written_by != self.cfg.engine:
            raise InvalidArgument(
                f"checkpoint {ref.path} was written by engine {written_by}, "
                f"this trainer runs {self.cfg.engine}"
            )

    # -- weights and status ----------------------------------------------------------------

    def snapshot(self) -> WeightSnapshot:
        return WeightSnapshot(self.version, self.engine.gather())

    def state(self) -> TrainerState:
        return TrainerState(
            step=self.step,
            weight_version=self.version,
            pending_samples=self.pending_samples,
            applied_shards=len(self.ledger.applied),
            epoch=self.ledger.epoch,
            last_metrics=dict(self.last_metrics),
            checkpoint=self.last_checkpoint,
            ledger={**self.ledger.to_dict(), "samples_trained": self.samples_trained},
        )
