"""`student self-label`: the shipped student adds its confident answers to the passages of
the named sources only, never over a gold mention, and the new pool trains like any other."""

from __future__ import annotations

import pytest
import srsly
from spacy.tokens import DocBin, Span

from spacy_uniner.data.docs import LABELS_ATTR, PARTIAL_KEY, SOURCE_KEY, to_docbin
from spacy_uniner.student.self_label import self_label_pool

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXT = "Barack Obama visited Paris and met Angela Merkel in Berlin."


def write_pool(path, nlp):
    docs = []
    for source, partial in [("llm", False), ("llm", False), ("wiki", False), ("llm", True)]:
        doc = nlp.make_doc(TEXT)
        doc.ents = [Span(doc, 0, 2, label="person")]  # Obama only: the rest is missed
        doc._.set(LABELS_ATTR, ["person", "city"])
        doc.user_data[SOURCE_KEY] = source
        if partial:
            doc.user_data[PARTIAL_KEY] = True
        docs.append(doc)
    path.mkdir()
    to_docbin(docs).to_disk(path / "train.spacy")
    to_docbin(docs[:1]).to_disk(path / "dev.spacy")
    srsly.write_json(path / "hierarchy.json", {})
    return docs


def test_confident_answers_are_added_to_the_named_sources_only(tmp_path, shipped_student):
    write_pool(tmp_path / "pool", shipped_student)
    summary = self_label_pool(tmp_path / "pool", tmp_path / "out", shipped_student, ["llm"], min_score=0.6)
    docs = list(DocBin().from_disk(tmp_path / "out" / "train.spacy").get_docs(shipped_student.vocab))
    ents = [[(e.text, e.label_) for e in d.ents] for d in docs]
    assert ents[0] == ents[1] and len(ents[0]) > 1  # the repeated passage, asked once, gains mentions
    assert ents[0][0] == ("Barack Obama", "person")  # gold kept, never overlapped
    assert {label for _, label in ents[0]} == {"person"}  # only types it has mentions of (city scores 0.6+)
    assert ents[2] == ents[3] == [("Barack Obama", "person")]  # other source; partial doc
    assert summary["mentions_added"] == {"llm": 2 * (len(ents[0]) - 1)}
    assert summary["docs_with_added_mentions"] == {"llm": 2} and summary["docs"] == 4
    assert (tmp_path / "out" / "dev.spacy").exists() and (tmp_path / "out" / "hierarchy.json").exists()
    assert list(docs[0]._.get(LABELS_ATTR)) == ["person", "city"]


def test_a_higher_min_score_adds_no_more(tmp_path, shipped_student):
    write_pool(tmp_path / "pool", shipped_student)
    low = self_label_pool(tmp_path / "pool", tmp_path / "low", shipped_student, ["llm"], min_score=0.3)
    high = self_label_pool(tmp_path / "pool", tmp_path / "high", shipped_student, ["llm"], min_score=0.99)
    assert high["mentions_added"].get("llm", 0) <= low["mentions_added"]["llm"]


def test_bad_settings_are_refused(tmp_path, shipped_student):
    write_pool(tmp_path / "pool", shipped_student)
    with pytest.raises(ValueError, match="E629"):
        self_label_pool(tmp_path / "pool", tmp_path / "out", shipped_student, ["llm"], min_score=1.5)
    with pytest.raises(ValueError, match="E309"):
        self_label_pool(tmp_path / "pool", tmp_path / "out", shipped_student, ["nowhere"], min_score=0.9)
    with pytest.raises(FileNotFoundError, match="E301"):
        self_label_pool(tmp_path / "missing", tmp_path / "out", shipped_student, ["llm"], min_score=0.9)
