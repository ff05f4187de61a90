"""The prompt dataset: loaded with `datasets`, validated, split into shard references.

A shard is (path, row range, epoch); only the controller that owns it reads its rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yatt.controller.config import DataConfig
from yatt.errors import ConfigError

FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


@dataclass(frozen=True)
class PromptRow:
    """One prompt of a shard with the metadata its reward functions need."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    payload: bytes = b""


def _load(path: str) -> Any:
    import datasets

    datasets.disable_progress_bars()
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"data.path: {path} must end in one of {sorted(FORMATS)}")
    if not Path(path).is_file():
        raise ConfigError(f"data.path: {path} does not exist")
    try:
        return datasets.load_dataset(FORMATS[suffix], data_files=path, split="train")
    except Exception as exc:  # datasets raises many types for a bad file
        raise ConfigError(f"data.path: cannot read {path}: {exc}") from None


class PromptDataset:
    """Rows of the dataset named by a DataConfig, checked before anything runs."""

    def __init__(self, cfg: DataConfig) -> None:
        self.cfg = cfg
        self.path = str(Path(cfg.path).resolve())
        self._rows = _load(self.path)
        if cfg.max_prompts is not None:
            self._rows = self._rows.select(range(min(cfg.max_prompts, len(self._rows))))

    def __len__(self) -> int:
        return len(self._rows)

    def validate(self) -> None:
        """Refuses an empty file, missing columns and empty prompts, naming the key or row."""
        if len(self._rows) == 0:
            raise ConfigError(f"data.path: {self.path} has no rows")
        columns = set(self._rows.column_names)
        wanted = {"data.prompt_column": self.cfg.prompt_column}
        wanted |= {
            f"data.metadata_columns[{i}]": c for i, c in enumerate(self.cfg.metadata_columns)
        }
        if self.cfg.payload_column:
            wanted["data.payload_column"] = self.cfg.payload_column
        for key, column in wanted.items():
            if column not in columns:
                raise ConfigError(
                    f"{key}: column {column!r} not in {self.path} ({sorted(columns)})"
                )
        for i, text in enumerate(self._rows[self.cfg.prompt_column]):
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f"data.path: row {i} of {self.path} has an empty prompt")

    def shard_refs(self) -> list[dict[str, Any]]:
        """Row ranges of shard_size prompts (the last may be shorter); the same every epoch."""
        size = self.cfg.shard_size
        return [
            {"path": self.path, "start": start, "end": min(start + size, len(self))}
            for start in range(0, len(self), size)
        ]

    def rows(self, start: int, end: int) -> list[PromptRow]:
        batch = self._rows.select(range(start, end))
        out = []
        for offset, record in enumerate(batch):
            payload = record.get(self.cfg.payload_column) if self.cfg.payload_column else b""
            out.append(
                PromptRow(
                    id=str(start + offset),
                    text=record[self.cfg.prompt_column],
                    metadata={c: record[c] for c in self.cfg.metadata_columns},
                    payload=bytes(payload or b""),
                )
            )
        return out
