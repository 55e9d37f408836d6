"""Shared fixtures: the reference protocol files and a tiny random-weight LLaMA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures"
DATA = SHARED / "data"


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.skip(f"shared data folder not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    """A ~100k-parameter LLaMA with random weights and a BPE tokenizer trained here."""
    from spacy_uniner.tiny import build_tiny_model

    texts = [row["text"] for row in read_jsonl(FIXTURES / "uniner_prompts.jsonl")]
    texts += ["Barack Obama met Tim Cook in Cupertino.", "Zürich, 東京 and São Paulo."]
    return build_tiny_model(texts, tmp_path_factory.mktemp("tiny-llama"), vocab_size=600)
