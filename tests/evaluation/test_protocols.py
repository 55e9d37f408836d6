"""The two evaluation protocols: all of a dataset's types in one call, or each type alone
(the paper's), scored as the paper scores one type per query."""

from __future__ import annotations

import json

import pytest
import spacy
import srsly
from typer.testing import CliRunner

from spacy_uniner.__main__ import app
from spacy_uniner.data.catalogue import load_dataset
from spacy_uniner.data.docs import copy_tokens
from spacy_uniner.data.metric import normalize_answer, string_prf
from spacy_uniner.evaluation.evaluate import evaluate_dataset, protocols

from conftest import DATA

LIMIT = 20

pytestmark = pytest.mark.usefixtures("exact_torch")


@pytest.fixture(scope="module")
def student(shared_dir):
    """The shipped student as a new user adds it, in fp32 (exact on any CPU)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("universal_ner_span", config={"model": {"encoder_dtype": "float32"}})
    return nlp


def test_single_protocol_scores_each_type_alone_like_the_paper(student):
    ds = load_dataset("uniner_crossner_politics", data_dir=DATA, vocab=student.vocab)
    result = evaluate_dataset(student, ds, limit=LIMIT, protocol="single")
    pipe = student.get_pipe("universal_ner_span")
    # By hand: one call per (passage, type) query of the file; its answer is the call's
    # entities, scored against that query's gold answer as the released evaluator does.
    queries = [q for q in ds.queries if q.doc_index < LIMIT]
    preds, found = [], set()
    for q in queries:
        doc = pipe(copy_tokens(ds.docs[q.doc_index], student.vocab), labels=[q.label])
        preds.append(json.dumps([e.text for e in doc.ents]))
        found |= {(q.doc_index, e.start, e.end, e.label_) for e in doc.ents}
    expected = string_prf(preds, [q.gold for q in queries])
    assert result.n_queries == len(queries) == LIMIT * len(ds.labels)
    assert (result.string.n_correct, result.string.n_pred, result.string.n_gold) == (
        expected.n_correct,
        expected.n_pred,
        expected.n_gold,
    )
    assert 0 < expected.n_correct < expected.n_pred
    # span F1 of the union of the per-type answers against the gold entities
    gold = {(i, e.start, e.end, e.label_) for i, d in enumerate(ds.docs[:LIMIT]) for e in d.ents}
    p, r = len(gold & found) / len(found), len(gold & found) / len(gold)
    assert result.spans["ents_f"] == pytest.approx(2 * p * r / (p + r))
    # the same student asked all types at once answers otherwise
    together = evaluate_dataset(student, ds, limit=LIMIT, protocol="all")
    assert together.string.n_pred != result.string.n_pred


def test_single_protocol_keeps_overlapping_answers_of_two_types(student):
    ds = load_dataset("uniner_crossner_politics", data_dir=DATA, vocab=student.vocab)
    pipe = student.get_pipe("universal_ner_span")
    pipe.threshold = 0.05  # many candidates: answers of two types overlap somewhere
    try:
        result = evaluate_dataset(student, ds, limit=5, protocol="single")
    finally:
        pipe.threshold = 0.5
    groups = [eg.predicted.spans["uniner_single"] for eg in result.examples]
    assert any(a.label_ != b.label_ and a.start < b.end and b.start < a.end for g in groups for a in g for b in g)
    # each type's answer is that type's mentions, whatever another type's answer covers
    for eg, group in zip(result.examples, groups):
        for label, answer in eg.predicted._.uniner_answers.items():
            assert set(answer) == {normalize_answer(s.text) for s in group if s.label_ == label}


def test_unknown_protocol_is_a_coded_error(tmp_path, student):
    with pytest.raises(ValueError, match=r"\[E830\].*'each'.*all, single, both"):
        protocols("each")
    ds = load_dataset("uniner_crossner_ai", data_dir=DATA, vocab=student.vocab)
    with pytest.raises(ValueError, match=r"\[E830\]"):
        evaluate_dataset(student, ds, limit=1, protocol="both")
    result = CliRunner().invoke(app, ["evaluate", "x", "uniner_crossner_ai", str(tmp_path), "--protocol", "each"])
    assert result.exit_code == 1 and "[E830]" in result.output


def test_both_protocols_reported_side_by_side(tmp_path, shared_dir):
    """A rule-based pipeline ignores the asked types: per type alone it answers the same."""
    ds = load_dataset("uniner_crossner_ai", data_dir=DATA)
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": e.label_, "pattern": e.text} for d in ds.docs[:6] for e in d.ents[::2]])
    nlp.to_disk(tmp_path / "ruler")
    out = tmp_path / "out"
    args = ["evaluate", str(tmp_path / "ruler"), "uniner_crossner_ai", str(out), "--data-dir", str(DATA)]
    result = CliRunner().invoke(app, [*args, "--limit", "6", "--protocol", "both"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    metrics = srsly.read_json(out / "metrics.json")
    assert metrics["protocols"] == metrics["meta"]["protocols"] == ["all", "single"]
    entry = metrics["datasets"]["uniner_crossner_ai"]
    both = entry["protocols"]
    assert entry["string"] == both["all"]["string"] and 0 < both["all"]["string"]["f"] < 1
    assert both["single"]["string"] == both["all"]["string"]
    assert both["single"]["spans"]["ents_f"] == pytest.approx(both["all"]["spans"]["ents_f"])
    assert metrics["overall"]["protocols"]["single"]["string_f"] == both["single"]["string"]["f"]
    table = (out / "metrics.md").read_text()
    assert "| F1 (all) | span F1 (all) | P (single) | R (single) | F1 (single) |" in table
    f1 = f"{100 * both['all']['string']['f']:.1f}"
    assert f"| {f1} | {100 * both['all']['spans']['ents_f']:.1f} |" in table
    single = list(srsly.read_jsonl(out / "predictions" / "uniner_crossner_ai.single.jsonl"))
    assert [r["pred"] for r in single] == [
        r["pred"] for r in srsly.read_jsonl(out / "predictions" / "uniner_crossner_ai.jsonl")
    ]
    assert (out / "errors" / "uniner_crossner_ai.single.html").exists()
