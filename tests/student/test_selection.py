"""Choosing a release on the pool's dev split: all annotated types asked, sources averaged."""

from __future__ import annotations

import pytest
import srsly
import typer
from spacy.scorer import get_ner_prf
from spacy.training import Example

import spacy_uniner.pipes.span.component  # noqa: F401
from spacy_uniner.data.docs import LABELS_ATTR, SOURCE_KEY, to_docbin
from spacy_uniner.student.cli import student_select
from spacy_uniner.student.selection import all_types_examples, named_student, shared_threshold, source_scores

from conftest import day_docs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _docs(nlp, source: str, n: int, label: str, extra_types=()):
    return day_docs(nlp, n, source=source, label=label, both=True, types=[*extra_types, label, "city"])


def test_every_annotated_type_is_asked_positives_first(shipped_student, tmp_path):
    many = [f"kind {i}" for i in range(60)]
    to_docbin(_docs(shipped_student, "a", 1, "person", extra_types=many)).to_disk(tmp_path / "dev.spacy")
    (eg,) = all_types_examples(tmp_path / "dev.spacy", shipped_student, max_types=50)
    asked = eg.predicted._.get(LABELS_ATTR)
    assert len(asked) == 50 and set(asked[:2]) == {"person", "city"}
    (eg,) = all_types_examples(tmp_path / "dev.spacy", shipped_student, max_types=100)
    assert len(eg.predicted._.get(LABELS_ATTR)) == 62


def test_macro_average_weights_sources_alike_and_matches_the_pipe(shipped_student, tmp_path):
    """Source b's type name gives no hits, so its F1 is 0 and the macro is half of a's,
    whatever their sizes; the chosen threshold applied to the pipe gives the same F1s."""
    docs = (
        _docs(shipped_student, "a", 4, "person")
        + _docs(shipped_student, "b", 12, "enzyme")
        + _docs(shipped_student, "c", 2, "person")
    )
    to_docbin(docs).to_disk(tmp_path / "dev.spacy")
    examples = all_types_examples(tmp_path / "dev.spacy", shipped_student)
    scores = source_scores(shipped_student, examples, min_docs=3)
    assert set(scores.by_source) == {"a", "b"}  # c has 2 docs
    f_a, f_b = (scores.by_source[s][scores.threshold] for s in ("a", "b"))
    assert f_a > 0.5
    assert scores.macro_f1 == pytest.approx((f_a + f_b) / 2)
    assert scores.macro_f1 == max(scores.macro_by_threshold.values())
    pipe = shipped_student.get_pipe("universal_ner_span")
    pipe.threshold = scores.threshold
    try:
        for source, expected in (("a", f_a), ("b", f_b)):
            egs = [eg for eg in examples if eg.reference.user_data[SOURCE_KEY] == source]
            predicted = list(shipped_student.pipe(eg.predicted.copy() for eg in egs))
            found = get_ner_prf([Example(p, eg.reference) for p, eg in zip(predicted, egs)])["ents_f"]
            assert found == pytest.approx(expected)
    finally:
        pipe.threshold = 0.5
    with pytest.raises(ValueError, match="E626"):
        source_scores(shipped_student, examples, min_docs=100)


def test_select_command_writes_the_scores(shipped_student, tmp_path):
    to_docbin(_docs(shipped_student, "a", 3, "person")).to_disk(tmp_path / "dev.spacy")
    shipped_student.to_disk(tmp_path / "pipeline")
    candidates = ["v=shipped", f"w={tmp_path / 'pipeline'}"]
    student_select(tmp_path / "dev.spacy", candidates, 50, 1, "both", tmp_path / "s.json", 0, "", 0)
    result = srsly.read_json(tmp_path / "s.json")
    assert set(result) == {"v", "w"}
    for protocol in ("all types", "each type alone"):
        assert result["v"][protocol]["macro_span_f1"] > 0.5
        # The saved pipeline (fp16 weights, as shipped) scores what the shipped student scores.
        assert result["v"][protocol]["macro_span_f1"] == pytest.approx(result["w"][protocol]["macro_span_f1"])
    assert result["v"]["score"] == min(result["v"][p]["macro_span_f1"] for p in ("all types", "each type alone"))
    # the one threshold for both protocols: the best lower-of-two over the grid, never above `score`
    record = result["v"]
    lower = {
        t: min(record[p]["by_threshold"]["a"][t] for p in ("all types", "each type alone"))
        for t in record["all types"]["by_threshold"]["a"]
    }
    assert record["shared_score"] == pytest.approx(max(lower.values())) and record["shared_score"] <= record["score"]
    assert lower[str(record["shared_threshold"])] == pytest.approx(record["shared_score"])
    assert shared_threshold([record]) == (record["shared_threshold"], pytest.approx(record["shared_score"]))
    # and at the candidate's own threshold (the shipped student's 0.5), as users run it
    assert record["released_threshold"] == 0.5 and record["released_score"] == pytest.approx(lower["0.5"])
    with pytest.raises(ValueError, match="E636"):
        shared_threshold([{"score": 0.5}])
    for protocol in ("all types", "each type alone"):  # every threshold's F1, the chosen one among them
        record = result["v"][protocol]
        assert record["by_threshold"]["a"][str(record["threshold"])] == record["sources"]["a"]
        assert len(record["by_threshold"]["a"]) > 10
    with pytest.raises(typer.BadParameter, match="E627"):
        student_select(tmp_path / "dev.spacy", candidates, 50, 1, "every", None, 0, "", 0)
    with pytest.raises(typer.BadParameter, match="E628"):
        student_select(tmp_path / "dev.spacy", candidates, 50, 1, "all", None, 0, "a,nowhere", 0)


def test_a_peer_source_is_decoded_and_averaged_like_the_student(shipped_student, tmp_path):
    """A peer model's candidates go through the same decoder and macro average: a peer that
    answers the gold scores 1 on every source, one that answers nothing scores 0;
    ``max_docs`` scores each source's first docs only."""
    docs = _docs(shipped_student, "a", 4, "person") + _docs(shipped_student, "b", 6, "enzyme")
    to_docbin(docs).to_disk(tmp_path / "dev.spacy")
    examples = all_types_examples(tmp_path / "dev.spacy", shipped_student)
    gold = {(eg.predicted.text, tuple(eg.predicted._.get(LABELS_ATTR))): eg.reference for eg in examples}
    seen = []

    def oracle(docs, label_maps, floor):
        seen.append(len(docs))
        return [
            [(e.start, e.end, e.label_, 0.9) for e in gold[d.text, tuple(d._.get(LABELS_ATTR))].ents if e.label_ in m]
            for d, m in zip(docs, label_maps)
        ]

    for single in (False, True):
        scores = source_scores(shipped_student, examples, min_docs=3, single_type=single, source=oracle)
        assert scores.by_source["a"][scores.threshold] == 1.0 and scores.macro_f1 == 1.0
        assert scores.threshold == min(scores.macro_by_threshold)  # ties go to the lowest
        assert all(f == 1.0 for t, f in scores.macro_by_threshold.items() if t <= 0.9)
        assert max(scores.macro_by_threshold) > 0.9 and scores.macro_by_threshold[max(scores.macro_by_threshold)] == 0.0
    assert source_scores(shipped_student, examples, min_docs=3, source=lambda d, m, f: [[] for _ in d]).macro_f1 == 0.0
    seen.clear()
    source_scores(shipped_student, examples, min_docs=3, source=oracle, max_docs=2)
    assert sum(seen) == 4  # two docs of each source
    # A skipped source is neither scored nor averaged: a peer right only on "b" scores 1 without "a".
    only_b = lambda d, m, f: [c if "enzyme" in mm.values() else [] for c, mm in zip(oracle(d, m, f), m)]  # noqa: E731
    assert source_scores(shipped_student, examples, min_docs=3, source=only_b).macro_f1 == pytest.approx(0.5)
    skipped = source_scores(shipped_student, examples, min_docs=3, source=only_b, skip=["a"])
    assert set(skipped.by_source) == {"b"} and skipped.macro_f1 == 1.0


def test_named_student_reads_name_and_pipeline():
    assert named_student("v11=shipped") == ("v11", "shipped")
    assert named_student("training/pipe-v10") == ("training/pipe-v10", "training/pipe-v10")
    assert named_student("a=b=dir") == ("a=b", "dir")  # the pipeline is after the last "="
