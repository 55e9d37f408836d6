"""The student's training reader: negatives, synonyms, mention replacement, parents, case."""

from __future__ import annotations

import pytest
import spacy
from spacy.tokens import DocBin, Span

from spacy_uniner.data.docs import LABELS_ATTR, to_docbin
from spacy_uniner.student.corpus import StudentCorpus, create_student_corpus, dev_examples


def negatives_of(eg) -> list:
    present = {e.label_ for e in eg.reference.ents}
    return [t for t in eg.reference._.get(LABELS_ATTR) if t not in present]


def test_corpus_samples_frequent_negatives_and_synonyms(tmp_path):
    nlp = spacy.blank("en")
    docs = []
    for i in range(30):
        doc = nlp.make_doc("Ann met Bo in Paris")
        label = "person" if i < 20 else "animal"
        doc.ents = [Span(doc, 0, 1, label=label), Span(doc, 4, 5, label="city" if i % 2 else "town")]
        docs.append(doc)
    to_docbin(docs).to_disk(tmp_path / "train.spacy")
    (tmp_path / "syn.json").write_text('{"city": ["urban area"]}')
    corpus = create_student_corpus(
        tmp_path / "train.spacy",
        negatives=1,
        synonyms=tmp_path / "syn.json",
        synonym_rate=1.0,
        related_negatives=True,  # every mention here carries every type somewhere
        seed=1,
    )
    examples = list(corpus(nlp))
    assert len(examples) == 30
    for eg in examples:
        negatives = negatives_of(eg)
        assert len(negatives) == 1 and negatives[0] in {"person", "animal", "town", "urban area"}
    for eg in examples:
        assert "city" not in eg.reference._.get(LABELS_ATTR)
        assert eg.predicted._.get(LABELS_ATTR) == eg.reference._.get(LABELS_ATTR)
        labels = {e.label_ for e in eg.reference.ents}
        assert labels <= set(eg.reference._.get(LABELS_ATTR))
    assert sum("urban area" in {e.label_ for e in eg.reference.ents} for eg in examples) == 15


def test_corpus_replaces_mentions_within_their_type(tmp_path):
    nlp = spacy.blank("en")
    people, cities = ["Ann Lee", "Bo", "Maria de la Cruz"], ["Paris", "New York"]
    docs = []
    for i in range(12):
        doc = nlp.make_doc(f"Yesterday {people[i % 3]} flew to {cities[i % 2]}, happily.")
        person = doc.char_span(10, 10 + len(people[i % 3]))
        city_start = doc.text.index(cities[i % 2])
        doc.ents = [
            Span(doc, person.start, person.end, label="person"),
            doc.char_span(city_start, city_start + len(cities[i % 2]), label="city"),
        ]
        docs.append(doc)
    moved = nlp.make_doc("Bo lives in Paris")
    moved.ents = [Span(moved, 0, 1, label="person")]
    moved.spans["other"] = [Span(moved, 0, 1, label="person"), Span(moved, 3, 4, label="city")]
    kept = nlp.make_doc("Bo lives in Paris")
    kept.ents = [Span(kept, 0, 1, label="person")]
    kept.spans["other"] = [Span(kept, 0, 2, label="event")]  # crosses the mention: it stays
    to_docbin(docs + [moved, kept]).to_disk(tmp_path / "train.spacy")
    corpus = create_student_corpus(tmp_path / "train.spacy", mention_replace_rate=1.0, gold_preproc=True, seed=3)
    examples = list(corpus(nlp))
    assert len(examples) == 14
    changed = 0
    for eg, doc in zip(examples[:12], docs):
        ref = eg.reference
        assert [t.text for t in eg.predicted] == [t.text for t in ref]
        assert [e.label_ for e in ref.ents] == ["person", "city"]
        person, city = ref.ents
        assert person.text in people and city.text in cities
        assert ref[: person.start].text == "Yesterday" and ref[person.end : city.start].text == "flew to"
        assert ref[city.end :].text == ", happily."
        changed += ref.text != doc.text
    assert changed >= 6
    ref = examples[12].reference
    assert [(s.text, s.label_) for s in ref.spans["other"]] == [(ref.ents[0].text, "person"), ("Paris", "city")]
    assert ref.text.endswith(" lives in Paris") and ref.ents[0].text in people
    ref = examples[13].reference
    assert ref.text == "Bo lives in Paris" and [s.text for s in ref.spans["other"]] == ["Bo lives"]
    with pytest.raises(ValueError, match="mention_replace_rate"):
        create_student_corpus(tmp_path / "train.spacy", mention_replace_rate=1.5)


def test_corpus_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="E301"):
        StudentCorpus(tmp_path / "missing.spacy")
    nlp = spacy.blank("en")
    DocBin(docs=[nlp.make_doc("no types")]).to_disk(tmp_path / "bad.spacy")
    with pytest.raises(ValueError, match="E302"):
        list(StudentCorpus(tmp_path / "bad.spacy")(nlp))
    with pytest.raises(ValueError, match="negatives"):
        create_student_corpus(tmp_path / "bad.spacy", negatives=-1)


def related_corpus(tmp_path, hierarchy='{"politician": "person", "musician": "person"}', **settings):
    """Obama is a person in one source and a politician in another; Ann is only a person."""
    nlp = spacy.blank("en")
    docs = []
    for i in range(40):
        text, label = [("Obama spoke", "person"), ("Obama won", "politician"), ("Ann ate rice", "person")][i % 3]
        doc = nlp.make_doc(text)
        doc.ents = [Span(doc, 0, 1, label=label)]
        docs.append(doc)
    for label in ("dish", "city", "award", "band", "planet", "disease"):
        doc = nlp.make_doc(f"a {label} here")
        doc.ents = [Span(doc, 1, 2, label=label)]
        docs.append(doc)
    to_docbin(docs).to_disk(tmp_path / "train.spacy")
    (tmp_path / "hierarchy.json").write_text(hierarchy)
    return nlp, create_student_corpus(
        tmp_path / "train.spacy", negatives=6, hierarchy=tmp_path / "hierarchy.json", **settings
    )


def test_negatives_never_name_what_the_mentions_could_be(tmp_path):
    nlp, corpus = related_corpus(tmp_path, seed=0)
    seen = {"Obama spoke": set(), "Ann ate rice": set(), "Obama won": set()}
    for _ in range(5):  # each pass draws new negatives
        for eg in corpus(nlp):
            if eg.reference.text in seen:
                seen[eg.reference.text].update(negatives_of(eg))
    # Obama is labelled `politician` elsewhere; politician is a finer `person` (hierarchy).
    assert "politician" not in seen["Obama spoke"] and "politician" not in seen["Ann ate rice"]
    assert "person" not in seen["Obama won"]  # the broader name of a positive
    assert {"dish", "city"} <= seen["Ann ate rice"]  # unrelated types are still drawn
    _, allowed = related_corpus(tmp_path, seed=0, related_negatives=True)
    also = set()
    for _ in range(5):
        for eg in allowed(nlp):
            if eg.reference.text == "Obama won":
                also.update(negatives_of(eg))
    assert "person" not in also  # hierarchy relatives are never negatives
    _, flat = related_corpus(tmp_path, hierarchy="{}", seed=0, related_negatives=True)
    drawn = set()
    for _ in range(5):
        for eg in flat(nlp):
            if eg.reference.text == "Ann ate rice":
                drawn.update(negatives_of(eg))
    assert "politician" in drawn  # without either rule it would be drawn


def test_parent_is_asked_with_its_fine_type_which_keeps_the_mentions(tmp_path):
    nlp, corpus = related_corpus(tmp_path, seed=0, parent_rate=1.0)
    examples = [eg for eg in corpus(nlp) if eg.reference.text == "Obama won"]
    assert examples
    for eg in examples:
        assert "person" in eg.reference._.get(LABELS_ATTR)
        assert [(e.text, e.label_) for e in eg.reference.ents] == [("Obama", "politician")]
    _, never = related_corpus(tmp_path, seed=0)
    assert all("person" not in eg.reference._.get(LABELS_ATTR) for eg in never(nlp) if eg.reference.text == "Obama won")
    with pytest.raises(ValueError, match="parent_rate"):
        create_student_corpus(tmp_path / "train.spacy", parent_rate=2.0)


def test_lowercase_keeps_mentions_and_types(tmp_path):
    nlp = spacy.blank("en")
    doc = nlp.make_doc("Ann Lee flew to New York")
    doc.ents = [Span(doc, 0, 2, label="person"), Span(doc, 4, 6, label="city")]
    doc.spans["extra"] = [Span(doc, 4, 6, label="place")]
    to_docbin([doc] * 4).to_disk(tmp_path / "train.spacy")
    lowered = list(create_student_corpus(tmp_path / "train.spacy", lowercase_rate=1.0, gold_preproc=True)(nlp))
    for eg in lowered:
        assert eg.reference.text == "ann lee flew to new york" == eg.predicted.text
        assert [(e.text, e.label_) for e in eg.reference.ents] == [("ann lee", "person"), ("new york", "city")]
        assert [(s.text, s.label_) for s in eg.reference.spans["extra"]] == [("new york", "place")]
        assert eg.reference._.get(LABELS_ATTR) == ["person", "city"]
    kept = list(create_student_corpus(tmp_path / "train.spacy", gold_preproc=True)(nlp))
    assert all(eg.reference.text == doc.text for eg in kept)
    with pytest.raises(ValueError, match="lowercase_rate"):
        create_student_corpus(tmp_path / "train.spacy", lowercase_rate=-0.1)


def test_dev_examples_ask_positives_then_as_many_known_negatives(tmp_path):
    """Some pool passages list hundreds of types; dev asks them as training does."""
    nlp = spacy.blank("en")
    doc = nlp.make_doc("Ann met Bo in Paris")
    doc.ents = [Span(doc, 0, 1, label="person"), Span(doc, 4, 5, label="city")]
    doc._.set(LABELS_ATTR, ["person", "city"] + [f"type {i}" for i in range(300)])
    many = nlp.make_doc("x " * 5)
    many.ents = [Span(many, i, i + 1, label=f"type {i}") for i in range(5)]
    many._.set(LABELS_ATTR, [f"type {i}" for i in range(40)])
    to_docbin([doc, many]).to_disk(tmp_path / "dev.spacy")
    first, second = dev_examples(tmp_path / "dev.spacy", nlp, max_types=25)
    asked = first.reference._.get(LABELS_ATTR)
    assert asked[:2] == ["person", "city"] and len(asked) == 4 and set(asked[2:]) < set(doc._.get(LABELS_ATTR))
    assert len(second.reference._.get(LABELS_ATTR)) == 10  # 5 positives, 5 known negatives
    again = dev_examples(tmp_path / "dev.spacy", nlp, max_types=25)
    assert [eg.reference._.get(LABELS_ATTR) for eg in again] == [asked, second.reference._.get(LABELS_ATTR)]
