"""benchmarks/read_pool.py runs and finds both readers give the same docs."""

from __future__ import annotations

import subprocess
import sys

import spacy
from spacy.tokens import Span

from spacy_uniner.data.docs import SOURCE_KEY, to_docbin

from conftest import ROOT


def test_read_pool_benchmark_prints_the_table(tmp_path):
    nlp = spacy.blank("en")
    docs = []
    for i in range(30):
        doc = nlp(f"Ada Lovelace met Charles Babbage in London in {1830 + i}.")
        doc.ents = [Span(doc, 0, 2, label="person"), Span(doc, 6, 7, label="city")]
        doc.user_data[SOURCE_KEY] = f"s{i % 3}"
        docs.append(doc)
    to_docbin(docs).to_disk(tmp_path / "pool.spacy")
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "read_pool.py"), str(tmp_path / "pool.spacy"), "--limit", "20"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "read_docbin" in run.stdout and "DocBin.get_docs (baseline)" in run.stdout
    assert "Same docs, entities and user data: True" in run.stdout
