"""Process-wide logging: every line carries time, level, job, role, instance and pid.

`YATT_LOG_FORMAT=json` writes one JSON object per line (for log shippers); the default is text.
The job and instance are often known only after the config loads: `set_log_context` fills them in.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

# What every record is stamped with; updated in place so handlers never need re-installing.
_CONTEXT: dict[str, str] = {"job": "-", "role": "yatt", "instance": "-"}
TEXT_FORMAT = (
    "%(asctime)s %(levelname)s %(job)s/%(role)s/%(instance)s[%(process)d] %(name)s: %(message)s"
)


class ContextFilter(logging.Filter):
    """Adds job, role and instance to each record (a record's own values win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _CONTEXT.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, job, role, instance, pid, logger, msg (+ exc)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "job": getattr(record, "job", _CONTEXT["job"]),
            "role": getattr(record, "role", _CONTEXT["role"]),
            "instance": getattr(record, "instance", _CONTEXT["instance"]),
            "pid": record.process,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def set_log_context(
    job: str | None = None, role: str | None = None, instance: str | None = None
) -> None:
    """Sets the job / role / instance stamped on every following line (None keeps the value)."""
    for key, value in (("job", job), ("role", role), ("instance", instance)):
        if value is not None:
            _CONTEXT[key] = value


def log_context() -> dict[str, str]:
    return dict(_CONTEXT)


def setup_logging(
    role: str = "yatt",
    level: str | None = None,
    *,
    job: str | None = None,
    instance: str | None = None,
    fmt: str | None = None,
) -> None:
    """Installs one stderr handler; fmt is "text" or "json" (default: env YATT_LOG_FORMAT)."""
    level = level or os.environ.get("YATT_LOG_LEVEL", "INFO")
    fmt = (fmt or os.environ.get("YATT_LOG_FORMAT", "text")).lower()
    set_log_context(job=job, role=role, instance=instance)
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
