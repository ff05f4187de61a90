"""Names of shared-memory weight segments and the janitor that frees those of dead owners.

Stdlib only: the reaper child process imports this without torch. A segment is
/dev/shm/yatt-<job>-<owner pid>-v<version> (or -spare<n> while pooled for reuse).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

SHM_DIR = Path(os.environ.get("YATT_SHM_DIR", "/dev/shm"))
NAME = re.compile(r"^yatt-(?P<job>[A-Za-z0-9_.]+)-(?P<pid>\d+)-(?P<tag>v\d+|spare\d+)$")


def safe_job(job: str) -> str:
    """The job as it appears in a segment name ('-' would make the owner pid ambiguous)."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", job) or "_"


def owner_prefix(job: str, pid: int | None = None) -> str:
    return f"yatt-{safe_job(job)}-{os.getpid() if pid is None else pid}-"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or no pid could be this large
        return False
    except PermissionError:  # alive, another user's
        return True
    # A zombie has exited: its segments are garbage although the pid still answers.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def owned_segments(prefix: str, shm_dir: Path = SHM_DIR) -> list[Path]:
    try:
        return [p for p in shm_dir.iterdir() if p.name.startswith(prefix) and NAME.match(p.name)]
    except FileNotFoundError:
        return []


def owned_by_me(path: Path) -> bool:
    """Whether this user owns path (a segment of another user is never ours to judge)."""
    try:
        return path.lstat().st_uid == os.getuid()
    except OSError:
        return False


def remove(paths: list[Path]) -> list[Path]:
    removed = []
    for p in paths:
        try:
            p.unlink()
            removed.append(p)
        except (FileNotFoundError, PermissionError):
            pass
    return removed


def sweep_dead(shm_dir: Path = SHM_DIR) -> list[Path]:
    """Unlinks this user's yatt segments whose owner process is gone (after a SIGKILL).

    Assumes one pid namespace per /dev/shm, which holds unless containers share /dev/shm
    across pid namespaces (then run the trainer and its rollouts in one pid namespace).
    """
    try:
        names = [p for p in shm_dir.iterdir() if p.name.startswith("yatt-")]
    except FileNotFoundError:
        return []
    dead = []
    for p in names:
        m = NAME.match(p.name)
        if m and owned_by_me(p) and not pid_alive(int(m["pid"])):
            dead.append(p)
    return remove(dead)
