"""Process-wide logging: one line per record with time, level, role and pid."""

from __future__ import annotations

import logging
import os


def setup_logging(role: str = "yatt", level: str | None = None) -> None:
    level = level or os.environ.get("YATT_LOG_LEVEL", "INFO")
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s %(levelname)s {role}[%(process)d] %(name)s: %(message)s",
        force=True,
    )
