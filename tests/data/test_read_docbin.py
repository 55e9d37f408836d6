"""Reading .spacy files: `read_docbin` gives what `DocBin.get_docs` gives, user data included."""

from __future__ import annotations

import numpy
import spacy
from spacy.tokens import DocBin, Span

from spacy_uniner.data.docs import LABELS_ATTR, SOURCE_KEY, read_docbin, to_docbin


def _docs(nlp):
    docs = []
    for i, text in enumerate(["Ada Lovelace wrote notes on the Engine.", "Nothing here.", "Paris is in France."]):
        doc = nlp(text)
        if i != 1:
            doc.ents = [Span(doc, 0, 2 if i == 0 else 1, label="person" if i == 0 else "city")]
        doc.user_data[SOURCE_KEY] = f"source-{i}"
        doc.user_data["vector"] = numpy.arange(3, dtype="float32") * i  # decoded by srsly's numpy hook
        doc._.set(LABELS_ATTR, ["person", "city"])
        docs.append(doc)
    return docs


def test_read_docbin_equals_get_docs(tmp_path):
    nlp = spacy.blank("en")
    to_docbin(_docs(nlp)).to_disk(tmp_path / "docs.spacy")
    expected = list(DocBin().from_disk(tmp_path / "docs.spacy").get_docs(nlp.vocab))
    found = list(read_docbin(tmp_path / "docs.spacy", nlp.vocab))
    assert len(found) == len(expected) == 3
    for a, b in zip(found, expected):
        assert [t.text for t in a] == [t.text for t in b]
        assert [(e.start, e.end, e.label_) for e in a.ents] == [(e.start, e.end, e.label_) for e in b.ents]
        assert a.user_data.keys() == b.user_data.keys() and a.user_data[SOURCE_KEY] == b.user_data[SOURCE_KEY]
        assert list(a._.get(LABELS_ATTR)) == list(b._.get(LABELS_ATTR)) == ["person", "city"]
        assert isinstance(a.user_data["vector"], numpy.ndarray)
        assert numpy.array_equal(a.user_data["vector"], b.user_data["vector"])
    assert found[0].user_data["vector"].tolist() == [0.0, 0.0, 0.0] and found[2].user_data["vector"][2] == 4.0


def test_read_docbin_without_user_data(tmp_path):
    nlp = spacy.blank("en")
    docbin = DocBin(store_user_data=False)
    for doc in _docs(nlp):
        docbin.add(doc)
    docbin.to_disk(tmp_path / "plain.spacy")
    found = list(read_docbin(tmp_path / "plain.spacy", nlp.vocab))
    assert [d.text for d in found] == [d.text for d in _docs(nlp)]
    assert all(SOURCE_KEY not in d.user_data for d in found)
