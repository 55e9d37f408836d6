"""Answers on disk: an append-only JSONL store that survives being killed, and the
``spacy_uniner.DiskCache.v1`` block that puts it in front of any backend.

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
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO, Protocol, Sequence, runtime_checkable

from .errors import Errors, Warnings
from .registry import registry

ANSWERS_FILE = "answers.jsonl"


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
            warnings.warn(Warnings.W101.format(path=self.path, size=len(data) - complete), stacklevel=2)
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

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its open file and lock: the copy opens the file when it appends."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_file", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _file=None, _lock=threading.Lock())

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


@runtime_checkable
class Cache(Protocol):
    """What the ``universal_ner`` component's ``cache`` setting takes."""

    def generate(self, backend: Any, prompts: Sequence[tuple[str, str]]) -> list[str]: ...


class DiskCache:
    """A backend's answers on disk: answered prompts are read back, only the others are
    sent to ``backend.generate``, and their answers are appended to ``answers.jsonl``.

    A record is keyed by the backend's ``config`` (and its generation ``params`` where it
    has them) and the prompt text; a config never holds an API key. A backend that fails
    part-way may attach the answers it got as ``error.answers`` ({prompt index: answer}):
    they are stored before the error is raised, so a rerun asks only for the rest.
    ``stats`` counts ``hits`` (prompts answered from disk) and ``misses`` (prompts sent).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.store = ResponseCache(self.path / ANSWERS_FILE)
        self.stats: Counter = Counter()

    def generate(self, backend: Any, prompts: Sequence[tuple[str, str]]) -> list[str]:
        identity = {"backend": backend.config, "params": getattr(backend, "params", None)}
        keys = [hash_key({**identity, "prompt": prefix + suffix}) for prefix, suffix in prompts]
        missing = {key: prompt for key, prompt in zip(keys, prompts) if key not in self.store}
        self.stats["hits"] += sum(key in self.store for key in keys)
        self.stats["misses"] += len(missing)
        if missing:
            todo = list(missing)
            try:
                answers = backend.generate(list(missing.values()))
            except Exception as error:
                self._add(todo, getattr(error, "answers", {}))
                raise
            if len(answers) != len(todo):
                raise ValueError(Errors.E011.format(got=len(answers), expected=len(todo)))
            self._add(todo, dict(enumerate(answers)))
        return [self.store.records[key]["text"] for key in keys]

    def _add(self, keys: list[str], answers: dict[int, str]) -> None:
        for i, text in answers.items():
            self.store.append({"key": keys[i], "text": text}, exist_ok=True)


@registry.uniner_caches("spacy_uniner.DiskCache.v1")
def make_disk_cache(path: str) -> DiskCache:
    """Answers of the component's backend on disk, so a rerun sends only new prompts.

    path (str): folder of the cache (``answers.jsonl``); created on the first answer.
    """
    return DiskCache(path)
