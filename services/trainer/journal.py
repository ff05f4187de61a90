"""Write-ahead journal of accepted experience: a push is acknowledged only once it is on disk.

After a crash the trainer reloads the last checkpoint and replays the journal entries it does
not cover, so every acknowledged shard is applied exactly once even across SIGKILL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import torch

from yatt.services.trainer.experience import Experience, ExperienceHeader


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Writes data to path so that a reader sees the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class Journal:
    """Entries are numbered files seq.pt in one directory, in acceptance order."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.last_seq = max((seq for seq, _ in self._files()), default=0)
        self._shard_files: dict[str, Path] = {}

    def _files(self) -> list[tuple[int, Path]]:
        out = []
        for path in self.root.glob("*.pt"):
            if path.stem.isdigit():
                out.append((int(path.stem), path))
        return sorted(out)

    def append(self, exp: Experience) -> int:
        """Durably records exp; returns its sequence number."""
        seq = self.last_seq + 1
        path = self.root / f"{seq:012d}.pt"
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save({"header": asdict(exp.header), "tensors": exp.tensors()}, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(self.root)
        self.last_seq = seq
        self._shard_files[exp.shard_id] = path
        return seq

    def entries(self) -> Iterator[tuple[int, Experience]]:
        for seq, path in self._files():
            data = torch.load(path, weights_only=True)
            header = ExperienceHeader(**data["header"])
            exp = Experience(header=header, **data["tensors"])
            self._shard_files[exp.shard_id] = path
            yield seq, exp

    def discard(self, shard_ids: list[str]) -> None:
        """Drops entries a checkpoint now covers."""
        for shard_id in shard_ids:
            path = self._shard_files.pop(shard_id, None)
            if path is not None:
                path.unlink(missing_ok=True)

    def clear(self) -> None:
        for _, path in self._files():
            path.unlink()
        self._shard_files.clear()
        self.last_seq = 0
