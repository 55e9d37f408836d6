"""An append-only JSONL cache of teacher responses that survives being killed.

Each record is one line, written with a single ``write`` and then flushed and fsynced,
so a record is either on disk whole or (at worst) is a torn final line. Opening the
cache drops a torn final line; every other line must be valid JSON.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

logger = logging.getLogger(__name__)


def request_key(messages: Sequence[Mapping[str, str]], model: str, params: Mapping[str, Any]) -> str:
    """Hash of everything that determines the teacher's answer: prompt, model, parameters."""
    payload = json.dumps(
        {"messages": list(messages), "model": model, "params": dict(params)},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf8")).hexdigest()


class ResponseCache:
    """Records keyed by :func:`request_key`; one writer, appended and fsynced per record."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.records: dict[str, dict[str, Any]] = {}
        self.torn_lines = 0
        self.repeated_keys = 0
        self._file = None
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            self.torn_lines = 1
            logger.warning(
                "%s: dropping a torn final line (%d bytes) left by an interrupted run",
                self.path,
                len(data) - complete,
            )
            with self.path.open("r+b") as f:
                f.truncate(complete)
                f.flush()
                os.fsync(f.fileno())
        for lineno, line in enumerate(data[:complete].splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key = record["key"]
            except (json.JSONDecodeError, TypeError, KeyError) as err:
                raise ValueError(f"{self.path}:{lineno}: corrupt cache record ({err})") from None
            if key in self.records:
                self.repeated_keys += 1
                continue
            self.records[key] = record

    def __contains__(self, key: object) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.records.get(key)

    def append(self, record: dict[str, Any]) -> None:
        """Write one record durably. A key already cached is an error, never a duplicate."""
        key = record["key"]
        if key in self.records:
            raise ValueError(f"cache already holds a record for key {key}")
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        line = json.dumps(record, ensure_ascii=False).encode("utf8") + b"\n"
        self._file.write(line)
        self._file.flush()
        os.fsync(self._file.fileno())
        self.records[key] = record

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "ResponseCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
