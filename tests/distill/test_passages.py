"""Passages: chunking to a token budget, de-duplication, seeded sampling, corpus readers."""

from __future__ import annotations

import gzip
import json
from collections import Counter

import pytest
import srsly

from spacy_uniner.distill.passages import (
    PassageStats,
    chunk_text,
    hf_token_spans,
    read_documents,
    sample_passages,
    whitespace_spans,
)


def _doc(n_sentences: int, words: int = 9, tag: str = "") -> str:
    return " ".join(" ".join(f"w{tag}{s}_{i}" for i in range(words - 1)) + f" end{tag}{s}." for s in range(n_sentences))


def test_chunks_respect_budget_keep_every_token_and_cut_at_sentences():
    text = _doc(60)  # 540 tokens, sentences of 9
    passages = chunk_text(text, whitespace_spans(text), 256)
    assert all(len(p.split()) <= 256 for p in passages)
    assert " ".join(passages).split() == text.split()
    assert all(p.endswith(".") for p in passages)  # cut after a sentence end, not mid-sentence
    assert len(passages) == 3


def test_chunks_without_sentence_ends_cut_hard_and_keep_line_breaks():
    text = " ".join(f"t{i}" for i in range(600))
    passages = chunk_text(text, whitespace_spans(text), 256)
    assert [len(p.split()) for p in passages] == [256, 256, 88]
    text = "a b c d e f\ng h i j k l"  # a line break in the second half of the window
    assert chunk_text(text, whitespace_spans(text), 8) == ["a b c d e f", "g h i j k l"]
    text = "a b\nc d e f g h i j k l"  # too early in the window: a hard cut instead
    assert chunk_text(text, whitespace_spans(text), 8) == ["a b\nc d e f g h", "i j k l"]


def test_hf_tokenizer_budget(tiny_llama_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    text = _doc(40) + " Zürich, 東京 and São Paulo."
    passages = chunk_text(text, hf_token_spans(str(tiny_llama_dir))(text), 64)
    assert len(passages) > 1
    assert all(len(tokenizer(p, add_special_tokens=False)["input_ids"]) <= 64 for p in passages)
    assert " ".join(passages).split() == text.split()


def test_dedupe_and_stats():
    docs = [
        _doc(3, tag="a"),
        _doc(3, tag="a"),
        "",
        _doc(3, tag="b").replace(" ", "  "),
        _doc(3, tag="b"),
        "x",
    ]
    stats = PassageStats()
    rows = sample_passages(docs, 100, max_tokens=256, min_tokens=2, stats=stats)
    assert [r["id"] for r in rows] == ["0-0", "3-0"]
    assert (stats.documents, stats.empty_documents, stats.passages) == (6, 1, 5)
    assert (stats.short_passages, stats.duplicates, stats.unique, stats.sampled) == (1, 2, 2, 2)


def test_sampling_is_seeded_and_uniform():
    docs = [_doc(1, tag=str(d)) for d in range(20)]
    assert sample_passages(docs, 5, seed=1) == sample_passages(docs, 5, seed=1)
    assert sample_passages(docs, 5, seed=1) != sample_passages(docs, 5, seed=2)
    picks = Counter(r["id"] for seed in range(2000) for r in sample_passages(docs, 5, seed=seed))
    assert len(picks) == 20
    # each passage is kept with probability 5/20; 2000 runs: sd ~ 0.0097
    assert all(abs(count / 2000 - 0.25) < 0.045 for count in picks.values())


def test_read_documents_formats(tmp_path):
    srsly.write_jsonl(tmp_path / "a.jsonl", [{"text": "one"}, {"text": "two", "meta": {}}])
    with gzip.open(tmp_path / "b.jsonl.gz", "wt", encoding="utf8") as f:
        f.write(json.dumps({"text": "three"}) + "\n\n")
    (tmp_path / "c.txt").write_text("four\nfive", encoding="utf8")
    (tmp_path / "ignored.csv").write_text("x", encoding="utf8")
    stats = PassageStats()
    assert list(read_documents([tmp_path], stats)) == ["one", "two", "three", "four\nfive"]
    assert stats.files == ["a.jsonl", "b.jsonl.gz", "c.txt"]

    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"body": "x"}\n', encoding="utf8")
    with pytest.raises(ValueError, match=r"bad.jsonl:2: expected an object with a 'text'"):
        list(read_documents([tmp_path / "bad.jsonl"]))
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        list(read_documents([tmp_path / "missing.jsonl"]))
