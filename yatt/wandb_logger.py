"""Optional Weights & Biases logging of trainer step metrics.

Active only when the `wandb` package imports and a project is configured (argument or env
WANDB_PROJECT); otherwise every call is a no-op, so nothing depends on wandb being there.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


def _import_wandb() -> Any | None:
    try:
        return importlib.import_module("wandb")
    except ImportError:
        return None


class WandbLogger:
    """Logs numeric step metrics to one wandb run; a no-op when wandb is absent or unconfigured."""

    def __init__(self, run: Any | None = None) -> None:
        self._run = run

    @property
    def enabled(self) -> bool:
        return self._run is not None

    @classmethod
    def create(
        cls,
        job: str,
        config: Mapping[str, Any] | None = None,
        project: str | None = None,
        enabled: bool | None = None,
    ) -> WandbLogger:
        """Starts a run named after the job when wandb imports and a project is set.

        enabled=False forces it off; None decides from the project (argument or WANDB_PROJECT).
        """
        project = project or os.environ.get("WANDB_PROJECT")
        if enabled is False or (enabled is None and not project):
            return cls()
        wandb = _import_wandb()
        if wandb is None:
            log.info("wandb is not installed; step metrics go to etcd and Prometheus only")
            return cls()
        try:
            run = wandb.init(project=project, name=job, config=dict(config or {}), reinit=True)
        except Exception as exc:  # a bad key or no network must not stop training
            log.warning("wandb disabled: %s", exc)
            return cls()
        return cls(run)

    def log_step(self, step: int, metrics: Mapping[str, Any]) -> None:
        """Logs the numeric entries of metrics at step."""
        if self._run is None:
            return
        values = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
        try:
            self._run.log(values, step=step)
        except Exception as exc:
            log.warning("wandb log failed: %s", exc)

    def finish(self) -> None:
        if self._run is not None:
            try:
                self._run.finish()
            finally:
                self._run = None
