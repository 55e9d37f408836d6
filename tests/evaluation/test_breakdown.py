"""Span errors by kind: each wrong prediction and each missed mention has exactly one kind,
and the counts agree with spaCy's span scores in both protocols."""

from __future__ import annotations

import pytest
import spacy
import srsly
from spacy.tokens import Span
from typer.testing import CliRunner

from spacy_uniner.__main__ import app
from spacy_uniner.data.catalogue import load_dataset
from spacy_uniner.evaluation.breakdown import SpanErrors
from spacy_uniner.evaluation.evaluate import evaluate_dataset, predicted_spans

from conftest import DATA

pytestmark = pytest.mark.usefixtures("exact_torch")


def _spans(doc, triples):
    return [Span(doc, start, end, label) for start, end, label in triples]


def test_each_error_has_one_kind():
    doc = spacy.blank("en")("Ada Lovelace met Charles Babbage in London in 1833 at the Royal Society .")
    gold = _spans(doc, [(0, 2, "writer"), (3, 5, "scientist"), (6, 7, "city"), (11, 14, "organisation")])
    predicted = _spans(
        doc,
        [
            (0, 2, "writer"),  # correct
            (0, 2, "person"),  # a broader name on the writer's words
            (3, 4, "scientist"),  # part of its type's mention
            (6, 8, "country"),  # overlaps only the city
            (8, 9, "date"),  # overlaps nothing
        ],
    )
    errors = SpanErrors()
    errors.add(predicted, gold)
    assert errors.correct == 1
    assert dict(errors.false_positives) == {"wrong_type": 1, "boundary": 1, "other_type_overlap": 1, "spurious": 1}
    # the scientist is overlapped by its type, the city's words were not predicted exactly, the
    # organisation not at all
    assert dict(errors.false_negatives) == {"boundary": 1, "missed": 2}
    assert errors.to_dict()["confusions"] == [["person", "writer", 1]]
    assert errors.f1 == pytest.approx(2 * 1 / (2 + 4 + 3))
    assert errors.f1_without_wrong_type == pytest.approx(2 * 1 / (2 + 3 + 3))
    # a gold mention predicted only under another type is that kind of miss
    other = SpanErrors()
    other.add(_spans(doc, [(6, 7, "country")]), _spans(doc, [(6, 7, "city")]))
    assert dict(other.false_negatives) == {"other_type": 1} and dict(other.false_positives) == {"wrong_type": 1}
    assert other.to_dict()["f1"] == other.to_dict()["f1_without_wrong_type"] == 0.0


@pytest.mark.parametrize("protocol", ["all", "single"])
def test_counts_agree_with_span_scores(protocol, shared_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("universal_ner_span", config={"model": {"encoder_dtype": "float32"}})
    ds = load_dataset("uniner_crossner_music", data_dir=DATA, vocab=nlp.vocab)
    result = evaluate_dataset(nlp, ds, limit=8, protocol=protocol)
    errors = result.span_errors
    predicted = sum(len(predicted_spans(eg.predicted)) for eg in result.examples)
    gold = sum(len(eg.reference.ents) for eg in result.examples)
    assert errors.correct + sum(errors.false_positives.values()) == predicted
    assert errors.correct + sum(errors.false_negatives.values()) == gold
    assert 0 < errors.correct < predicted
    assert errors.f1 == pytest.approx(result.spans["ents_f"])
    assert errors.f1_without_wrong_type >= errors.f1
    assert sum(errors.confusions.values()) == errors.false_positives["wrong_type"]
    assert result.scores()["span_errors"] == errors.to_dict()


def test_report_shows_span_errors(tmp_path, shared_dir):
    ds = load_dataset("uniner_crossner_ai", data_dir=DATA)
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    other = {label: ds.labels[(i + 1) % len(ds.labels)] for i, label in enumerate(ds.labels)}
    ents = [e for d in ds.docs[:6] for e in d.ents]
    # every other mention under another of the dataset's types
    patterns = [{"label": other[e.label_] if i % 2 else e.label_, "pattern": e.text} for i, e in enumerate(ents)]
    ruler.add_patterns(patterns)
    nlp.to_disk(tmp_path / "ruler")
    out = tmp_path / "out"
    args = ["evaluate", str(tmp_path / "ruler"), "uniner_crossner_ai", str(out), "--data-dir", str(DATA)]
    result = CliRunner().invoke(app, [*args, "--limit", "6"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    errors = srsly.read_json(out / "metrics.json")["datasets"]["uniner_crossner_ai"]["span_errors"]
    assert errors["correct"] > 0 and errors["false_positives"]["wrong_type"] > 0
    assert errors["false_negatives"]["other_type"] > 0
    assert errors["f1_without_wrong_type"] > errors["f1"]
    table = (out / "metrics.md").read_text()
    assert "## Span errors" in table and "| FP wrong type |" in table
    pred, gold, n = errors["confusions"][0]
    assert pred != gold and f"{pred} → {gold} {n}" in table
