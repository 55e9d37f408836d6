"""benchmarks/nested_dev.py: dev passages asked their types plus the broader names of their fine ones."""

from __future__ import annotations

import subprocess
import sys

import spacy
import srsly
from spacy.tokens import DocBin, Span

from spacy_uniner.data.docs import LABELS_ATTR, MENTIONS_ONLY, PARTIAL_KEY, SOURCE_KEY, to_docbin

from conftest import ROOT


def _doc(nlp, source: str, types, partial: bool = False):
    doc = nlp("Ada Lovelace wrote notes in London.")
    doc.ents = [Span(doc, 0, 2, label="writer"), Span(doc, 5, 6, label="city")]
    doc.user_data[SOURCE_KEY] = source
    if partial:
        doc.user_data[PARTIAL_KEY] = MENTIONS_ONLY
    doc._.set(LABELS_ATTR, list(types))
    return doc


def test_nested_dev_asks_the_broader_names_and_keeps_the_gold(tmp_path):
    nlp = spacy.blank("en")
    docs = [_doc(nlp, "nested", ["writer", "city"]) for _ in range(3)]
    docs += [_doc(nlp, "flat", ["person", "location", "writer", "city"]) for _ in range(3)]  # asks both already
    docs += [_doc(nlp, "partial", ["writer", "city"], partial=True) for _ in range(3)]
    docs += [_doc(nlp, "small", ["writer"])]
    to_docbin(docs).to_disk(tmp_path / "dev.spacy")
    srsly.write_json(tmp_path / "hierarchy.json", {"writer": "person", "city": "location"})
    script = str(ROOT / "benchmarks" / "nested_dev.py")
    out = tmp_path / "nested.spacy"
    args = [str(tmp_path / "dev.spacy"), str(tmp_path / "hierarchy.json"), str(out), "--min-docs", "2"]
    run = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, check=True)
    assert "Wrote 3 passages" in run.stdout
    found = list(DocBin().from_disk(out).get_docs(nlp.vocab))
    assert {d.user_data[SOURCE_KEY] for d in found} == {"nested"}  # flat: nothing to add; partial; too few
    for doc in found:
        assert list(doc._.get(LABELS_ATTR)) == ["writer", "city", "person", "location"]
        assert [(e.text, e.label_) for e in doc.ents] == [("Ada Lovelace", "writer"), ("London", "city")]
