"""host_id(): equal for two processes exactly when they can share /dev/shm segments.

machine-id and boot id tell hosts (and reboots) apart; the /dev/shm device and pid namespace
tell apart containers on one host that each have their own /dev/shm or pids. Stdlib only.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path

from yatt.transport.segments import SHM_DIR


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


@cache
def host_id() -> str:
    try:
        shm_dev = str(os.stat(SHM_DIR).st_dev)
    except OSError:
        shm_dev = "no-shm"
    try:
        pid_ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        pid_ns = ""
    parts = [
        _read("/etc/machine-id"),
        _read("/proc/sys/kernel/random/boot_id"),
        shm_dev,
        pid_ns,
    ]
    return hashlib.blake2b("|".join(parts).encode(), digest_size=12).hexdigest()
