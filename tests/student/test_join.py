"""The reader's join step: passages annotated alike read together as one doc without
sentence boundaries, none lost, none joined across sources, type lists or partial docs."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import spacy
from spacy.tokens import Span

from spacy_uniner.data.docs import LABELS_ATTR, PARTIAL_KEY, SOURCE_KEY, to_docbin
from spacy_uniner.student.corpus import StudentCorpus
from spacy_uniner.student.join import MAX_WAIT, join_passages


def passages(nlp, n, source="wiki", types=("person", "city"), partial=False):
    docs = []
    for i in range(n):
        doc = nlp.make_doc(f"Ann{source}{i} lives in Paris{i} .")
        doc.ents = [Span(doc, 0, 1, label="person"), Span(doc, 3, 4, label="city")]
        doc._.set(LABELS_ATTR, list(types))
        doc.user_data[SOURCE_KEY] = source
        if partial:
            doc.user_data[PARTIAL_KEY] = True
        docs.append(doc)
    return docs


def mentions(docs):
    return Counter((e.text, e.label_) for doc in docs for e in doc.ents)


def test_joined_docs_keep_every_passage_and_mention_once():
    nlp = spacy.blank("en")
    docs = passages(nlp, 30, "wiki") + passages(nlp, 30, "bio", types=("city", "person"))
    docs += passages(nlp, 10, "llm", types=("person", "city", "dish"))
    docs += passages(nlp, 10, "ufet", partial=True)
    random.Random(1).shuffle(docs)
    out = list(join_passages(rate=0.5, max_passages=4, max_words=16)(docs, random.Random(0)))
    assert mentions(out) == mentions(docs)
    assert sorted(t.text for d in out for t in d) == sorted(t.text for d in docs for t in d)
    joined = [d for d in out if len(d) > 5]
    assert joined and len(out) < len(docs)
    for doc in joined:
        assert len(doc) <= 16 and not doc.has_annotation("SENT_START")
        members = doc.text.split(" . ")
        assert len({m.split()[0].rstrip("0123456789") for m in members}) == 1  # one source
        assert doc.user_data[SOURCE_KEY] in {"wiki", "bio", "llm"}  # never a partial doc
        assert doc._.get(LABELS_ATTR) in (["person", "city"], ["city", "person"], ["person", "city", "dish"])


def test_rate_zero_reads_every_doc_alone_in_order():
    nlp = spacy.blank("en")
    docs = passages(nlp, 12)
    assert list(join_passages(rate=0.0)(docs, random.Random(0))) == docs


def test_a_waiting_doc_is_read_after_at_most_max_wait_docs():
    nlp = spacy.blank("en")
    lone = passages(nlp, 1, "rare")
    others = passages(nlp, MAX_WAIT + 5, "llm", partial=True)  # never joined
    out = list(join_passages(rate=1.0)(lone + others, random.Random(0)))
    assert len(out) == len(others) + 1
    assert out.index(lone[0]) <= MAX_WAIT + 1


def test_the_reader_joins_before_its_augmenters(tmp_path):
    nlp = spacy.blank("en")
    to_docbin(passages(nlp, 20)).to_disk(tmp_path / "train.spacy")
    corpus = StudentCorpus(tmp_path / "train.spacy", join=join_passages(rate=1.0, max_passages=2), gold_preproc=True)
    examples = list(corpus(nlp))
    assert len(examples) == 10
    for eg in examples:
        assert len(eg.reference.ents) == 4 and eg.predicted.text == eg.reference.text
        assert eg.predicted._.get(LABELS_ATTR) == ["person", "city"]


@pytest.mark.parametrize(
    "settings,match",
    [
        ({"rate": 1.5}, "E310.*`rate`"),
        ({"max_passages": 1}, "E310.*`max_passages`"),
        ({"max_words": 0}, "E310.*`max_words`"),
    ],
)
def test_join_settings_are_checked(settings, match):
    with pytest.raises(ValueError, match=match):
        join_passages(**settings)


def test_a_join_that_is_no_callable_is_refused(tmp_path):
    nlp = spacy.blank("en")
    to_docbin(passages(nlp, 2)).to_disk(tmp_path / "train.spacy")
    with pytest.raises(TypeError, match="E311"):
        StudentCorpus(tmp_path / "train.spacy", join=0.2)
