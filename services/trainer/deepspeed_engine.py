"""DeepSpeed set-up on one rank: the process group (gloo on CPU, nccl on GPU) and the ZeRO
engines that train_step drives (ranks.RankGroup is the TrainingEngine built from them).

On CPU it needs DS_ACCELERATOR=cpu (set here before deepspeed is imported) and builds its comm op
once into TORCH_EXTENSIONS_DIR; every rank calls build_engines with the same config.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

import torch

from yatt.services.trainer.config import TrainerConfig
from yatt.services.trainer.step_modules import StepModules

log = logging.getLogger(__name__)


def prefer_cpu_accelerator() -> None:
    """DeepSpeed picks its accelerator at import; without CUDA it must be told to use the CPU."""
    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")


def init_distributed(rank: int, world_size: int, master_port: int, cfg: TrainerConfig) -> None:
    """Joins (or creates) the default process group; a no-op when it already exists."""
    import torch.distributed as dist

    if dist.is_initialized():
        return
    prefer_cpu_accelerator()
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
        LOCAL_SIZE=str(world_size),
        MASTER_ADDR=os.environ.get("MASTER_ADDR", "127.0.0.1"),
        MASTER_PORT=str(master_port),
    )
    import deepspeed

    backend = cfg.deepspeed.backend
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(rank % torch.cuda.device_count())
    deepspeed.init_distributed(
        dist_backend=backend,
        auto_mpi_discovery=False,
        timeout=timedelta(seconds=cfg.deepspeed.timeout_s),
    )


def ds_config(cfg: TrainerConfig, lr: float | None = None) -> dict[str, Any]:
    ds = cfg.deepspeed
    out: dict[str, Any] = {
        "train_micro_batch_size_per_gpu": ds.micro_batch,
        "gradient_accumulation_steps": cfg.grad_accum,
        "train_batch_size": ds.global_batch_samples,
        "gradient_clipping": ds.grad_clip,
        "zero_optimization": {"stage": ds.zero_stage},
        "bf16": {"enabled": ds.precision == "bfloat16"},
        "fp16": {"enabled": False},
        "steps_per_print": 2**31 - 1,
        "wall_clock_breakdown": False,
    }
    if ds.optimizer == "deepspeed_adamw":
        out["optimizer"] = {
            "type": "AdamW",
            "params": {"lr": lr or ds.lr, "betas": list(ds.betas), "weight_decay": ds.weight_decay},
        }
    return out


def _initialize(module: torch.nn.Module, cfg: TrainerConfig, lr: float) -> Any:
    import deepspeed

    ds = cfg.deepspeed
    kw: dict[str, Any] = {}
    params = [p for p in module.parameters() if p.requires_grad]
    if ds.optimizer == "torch_adamw":
        kw["optimizer"] = torch.optim.AdamW(
            params, lr=lr, betas=ds.betas, weight_decay=ds.weight_decay
        )
    else:
        kw["model_parameters"] = params
    engine, *_ = deepspeed.initialize(model=module, config=ds_config(cfg, lr), **kw)
    return engine


def build_deepspeed_modules(cfg: TrainerConfig) -> StepModules:
    """Loads the policy (and critic) from local directories and wraps them in DeepSpeed."""
    from yatt.services.trainer.modules import load_trained_modules

    policy, critic = load_trained_modules(cfg)
    modules = StepModules(
        _initialize(policy, cfg, cfg.deepspeed.lr),
        None if critic is None else _initialize(critic, cfg, cfg.critic.lr or cfg.deepspeed.lr),
    )
    log.info(
        "DeepSpeed ZeRO-%d engine ready (rank %d/%d, grad_accum %d)",
        cfg.deepspeed.zero_stage,
        torch.distributed.get_rank(),
        torch.distributed.get_world_size(),
        cfg.grad_accum,
    )
    return modules
