"""Readers of the partially annotated open-type sources (UFET crowd typing, Pile-NER guideline
examples) and FabNER's BIOES train split, on real lines of the shared data; expected values
are recomputed from the raw lines here, independently of the readers."""

from __future__ import annotations

import json

import pytest
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from spacy_uniner.data.catalogue import load_catalogue
from spacy_uniner.data.docs import (
    LABELS_ATTR,
    MENTIONS_ONLY,
    PARTIAL_KEY,
    doc_types,
    is_partial,
    only_mentions_known,
    to_docbin,
)
from spacy_uniner.data.readers import PRONOUNS, QUERIED_TYPES_KEY, bio_spans, read_definitions, read_with_stats

from conftest import DATA

UFET = DATA / "raw" / "ufet_crowd" / "train.json"
GUIDELINES = DATA / "raw" / "pilener_guidelines"


def _lines(path, numbers):
    with path.open(encoding="utf8") as f:
        lines = f.readlines()
    return [lines[i] for i in numbers]


def test_ufet_lists_only_the_typed_mention_types(shared_dir, tmp_path):
    # 0-15: single mentions (pronouns among them, underscores in types); 241 and 377: one sentence.
    raw = _lines(UFET, [*range(16), 241, 377])
    path = tmp_path / "ufet.json"
    path.write_text("".join(raw), encoding="utf8")
    docs, _, stats = read_with_stats(path, "ufet_json", Vocab())
    rows = [json.loads(line) for line in raw]
    kept = [r for r in rows if r["mention_span"].lower() not in PRONOUNS]
    assert 0 < stats.pronouns == len(rows) - len(kept)
    expected = {
        (" ".join(r["left_context_token"] + [r["mention_span"]] + r["right_context_token"]), r["mention_span"], t)
        for r in kept
        for t in {t.replace("_", " ") for t in r["y_str"]}
    }
    expected = {(text.replace("-LRB-", "(").replace("-RRB-", ")"), m, t) for text, m, t in expected}
    got = {(d.text, e.text, e.label_) for d in docs for e in d.ents}
    assert got == expected and any(" " in t for *_, t in got) and not any("_" in t for *_, t in got)
    for doc in docs:
        # Only the typed mentions are known: another mention of a listed type may be unannotated.
        assert is_partial(doc) and only_mentions_known(doc) and doc.user_data[PARTIAL_KEY] == MENTIONS_ONLY
        # Only the annotated types are listed, each with all of its mentions in this doc.
        assert sorted(doc.user_data[QUERIED_TYPES_KEY]) == sorted({e.label_ for e in doc.ents})
    # The sentence with two typed mentions: each doc may label both, never one span twice.
    shared = [d for d in docs if "their mutual funds" in d.text]
    assert {e.text for d in shared for e in d.ents} == {"the weekend", "their mutual funds"}
    assert any(len(d.ents) == 2 for d in shared)
    # A type of one mention is asked once per sentence.
    per_text = {}
    for d in docs:
        for t in d.user_data[QUERIED_TYPES_KEY]:
            per_text.setdefault((d.text, t), 0)
            per_text[(d.text, t)] += 1
    assert set(per_text.values()) == {1}


def test_guideline_sentences_positive_and_negative(shared_dir, tmp_path):
    positives = json.loads((GUIDELINES / "positive_examples.json").read_text(encoding="utf8"))
    negatives = json.loads((GUIDELINES / "negative_examples.json").read_text(encoding="utf8"))
    keys = list(positives)[:3]
    (tmp_path / "pos.json").write_text(json.dumps({k: positives[k] for k in keys}), encoding="utf8")
    (tmp_path / "neg.json").write_text(json.dumps({k: negatives[k] for k in keys}), encoding="utf8")
    pos_docs, _, pos_stats = read_with_stats(tmp_path / "pos.json", "pilener_guidelines", Vocab())
    neg_docs, _, _ = read_with_stats(tmp_path / "neg.json", "pilener_guidelines", Vocab())
    sentences = [(k, s) for k in keys for s in positives[k]["positive_adv_sentences"]]
    assert len(pos_docs) + pos_stats.unaligned >= len(sentences) and pos_docs
    by_text = {d.text: d for d in pos_docs}
    for key, item in sentences:
        doc = by_text.get(item["sentence"])
        if doc is None:  # an occurrence not in the sentence: the type is left out
            assert any(m not in item["sentence"] for m in item["positive occurrences"])
            continue
        assert doc_types(doc) == [] and doc.user_data[QUERIED_TYPES_KEY] == [key] and is_partial(doc)
        assert not only_mentions_known(doc)  # every occurrence of the keyed type is listed
        assert {e.text for e in doc.ents} == set(item["positive occurrences"])
        assert {e.label_ for e in doc.ents} == {key}
    # Negative sentences: the keyed type listed, no mention (a known negative for it only).
    assert len(neg_docs) == sum(len(negatives[k]["negative_sentences"]) for k in keys)
    for doc in neg_docs:
        assert not doc.ents and len(doc.user_data[QUERIED_TYPES_KEY]) == 1 and is_partial(doc)
    definitions = read_definitions(tmp_path / "pos.json", "pilener_guidelines")
    assert definitions == {k: positives[k]["annotation_guidelines"]["Definition"] for k in keys}
    assert read_definitions(tmp_path / "pos.json", "bio") == {}


def test_fabner_train_bioes_with_natural_names(shared_dir, tmp_path):
    spec = load_catalogue()["fabner_train"]
    blocks = (DATA / spec.files("train")[0].path).read_text(encoding="utf8").split("\n\n")[:40]
    path = tmp_path / "fabner.txt"
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf8")
    docs, _, stats = read_with_stats(path, "bio", Vocab(), spec.label_map)
    tags = [[line.split("\t")[1] for line in block.splitlines()] for block in blocks]
    starts = sum(t[:2] in ("B-", "S-") for sentence in tags for t in sentence)
    assert len(docs) == 40 and stats.n_mentions == starts and not stats.dropped_tags
    assert {e.label_ for d in docs for e in d.ents} <= set(spec.labels)
    assert len(bio_spans(["S-MATE", "B-MANP", "I-MANP", "E-MANP", "O"])) == 2


def test_partial_flag_survives_docbin_round_trip():
    vocab = Vocab()
    doc = Doc(vocab, words=["Ann", "met", "Bo"])
    doc.user_data[PARTIAL_KEY] = True
    doc._.set(LABELS_ATTR, ["politician"])
    plain = Doc(vocab, words=["Ann", "met", "Bo"])
    plain._.set(LABELS_ATTR, ["person"])
    back = list(DocBin().from_bytes(to_docbin([doc, plain]).to_bytes()).get_docs(Vocab()))
    assert [is_partial(d) for d in back] == [True, False]
    assert [doc_types(d) for d in back] == [["politician"], ["person"]]


def test_bad_partial_source_files(tmp_path):
    bad = tmp_path / "ufet.json"
    bad.write_text('{"mention_span": "Dublin", "y_str": ["city"]}\n', encoding="utf8")
    with pytest.raises(ValueError, match=r"\[E817\].*ufet.json:1.*left_context_token"):
        read_with_stats(bad, "ufet_json", Vocab())
    bad = tmp_path / "guide.json"
    bad.write_text('{"person": {"named_entity": "person", "sentences": []}}', encoding="utf8")
    with pytest.raises(ValueError, match=r"\[E822\].*'person'"):
        read_with_stats(bad, "pilener_guidelines", Vocab())
    bad.write_text('{"person": {"negative_sentences": [{"text": "x"}]}}', encoding="utf8")
    with pytest.raises(ValueError, match=r"\[E822\]"):
        read_with_stats(bad, "pilener_guidelines", Vocab())
