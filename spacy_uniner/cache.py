"""An append-only JSONL cache of model responses that survives being killed.

Each record is one line, written with a single ``write`` and then flushed and fsynced,
so a record is either on disk whole or (at worst) is a torn final line. Opening the
cache drops a torn final line with a warning; every other line must be valid JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from pathlib import Path
from typing import Any, BinaryIO

from .errors import Errors, Warnings


def hash_key(payload: Any) -> str:
    """SHA-256 hex digest of ``payload`` as canonical JSON (sorted keys, UTF-8)."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf8")).hexdigest()


class ResponseCache:
    """Records (dicts with a ``"key"``) in a JSONL file; appends are thread-safe and durable.

    ``torn_lines`` counts the torn final line dropped on open (0 or 1) and
    ``repeated_keys`` the lines skipped because an earlier line had the same key.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.records: dict[str, dict[str, Any]] = {}
        self.torn_lines = 0
        self.repeated_keys = 0
        self._file: BinaryIO | None = None
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            self.torn_lines = 1
            warnings.warn(Warnings.W101.format(path=self.path, size=len(data) - complete))
            with self.path.open("r+b") as f:
                f.truncate(complete)
                f.flush()
                os.fsync(f.fileno())
        for lineno, line in enumerate(data[:complete].split(b"\n"), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key = record["key"]
            except (ValueError, TypeError, KeyError) as err:
                raise ValueError(Errors.E103.format(path=self.path, line=lineno, error=err)) from None
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

    def append(self, record: dict[str, Any], *, exist_ok: bool = False) -> None:
        """Write one record durably. A key already cached is never written again: it is
        an error, or skipped when ``exist_ok``."""
        key = record["key"]
        line = json.dumps(record, ensure_ascii=False).encode("utf8") + b"\n"
        with self._lock:
            if key in self.records:
                if exist_ok:
                    return
                raise ValueError(Errors.E106.format(path=self.path, key=key))
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("ab")
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())
            self.records[key] = record

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> "ResponseCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
