"""The paper's string metric against the reference evaluator's outputs, and the scorer."""

from __future__ import annotations

import json

import pytest
import spacy
from spacy.tokens import Doc, Span
from spacy.training import Example

from spacy_uniner.data.docs import GOLD_SPANS_KEY
from spacy_uniner.data.metric import (
    PRF,
    normalize_answer,
    normalize_items,
    parse_reference_answer,
    string_prf,
)
from spacy_uniner.pipes.scorer import score_uniner

from conftest import FIXTURES, read_jsonl

PARSER_LINES = read_jsonl(FIXTURES / "uniner_metric_parser.jsonl") if FIXTURES.exists() else []
CASE_LINES = read_jsonl(FIXTURES / "uniner_metric_cases.jsonl") if FIXTURES.exists() else []


@pytest.mark.parametrize("row", PARSER_LINES, ids=lambda r: r["output"][:30])
def test_parser_matches_reference(row):
    assert parse_reference_answer(row["output"]) == row["parsed"]


@pytest.mark.parametrize("row", CASE_LINES, ids=lambda r: str(len(r["preds"])))
def test_micro_prf_matches_reference_floats(row):
    prf = string_prf(row["preds"], row["golds"])
    assert (prf.precision, prf.recall, prf.f1) == (row["precision"], row["recall"], row["f1"])


def test_fixtures_present(shared_dir):
    assert len(PARSER_LINES) == 13 and len(CASE_LINES) == 30


def test_normalisation_and_parser_details():
    assert normalize_answer("  The  U.S.A.,\tan Apple ") == "usa apple"
    assert normalize_answer("theatre anatomy") == "theatre anatomy"  # articles are whole words
    assert parse_reference_answer('[["A", "B."]]') == []  # the non-greedy match stops at the first "]"
    assert normalize_items([["X", "Y."], ("x", "y"), "The Z"]) == [("x", "y"), "z"]
    assert parse_reference_answer("[1]") == []  # the reference drops the whole answer on any error
    assert parse_reference_answer(' ["x"]') == []  # anchored at the start


def test_prf_zero_division_and_length_check():
    assert PRF().f1 == 0.0
    with pytest.raises(ValueError, match="2 predictions for 1 gold"):
        string_prf(["[]", "[]"], ["[]"])


def _example(nlp, answers=None):
    words = "Barack Obama visited the Paris office of IBM in Paris .".split()
    gold = Doc(nlp.vocab, words=words)
    gold_spans = [
        Span(gold, 0, 2, "person"),
        Span(gold, 4, 5, "location"),
        Span(gold, 7, 8, "organization"),
        Span(gold, 9, 10, "location"),
    ]
    gold.spans[GOLD_SPANS_KEY] = gold_spans
    gold.ents = gold_spans
    pred = Doc(nlp.vocab, words=words)
    pred.ents = [Span(pred, 1, 2, "person"), Span(pred, 9, 10, "location"), Span(pred, 7, 8, "product")]
    if answers is not None:
        pred._.uniner_answers = answers
    return Example(pred, gold)


def test_scorer_string_metric_equals_reference_on_json_strings():
    import spacy_uniner.pipes.universal_ner  # noqa: F401  (registers doc._.uniner_answers)

    nlp = spacy.blank("en")
    golds = ['["Barack Obama"]', '["Paris", "Paris"]', '["IBM"]', "[]"]
    labels = ["person", "location", "organization", "product"]
    # without raw answers the predicted ents are scored
    ents_preds = ['["Obama"]', '["Paris"]', "[]", '["IBM"]']
    scores = score_uniner([_example(nlp)])
    expected = string_prf(ents_preds, golds)
    assert scores["uniner_f"] == expected.f1 and scores["uniner_p"] == expected.precision
    # raw answers, when present, are what the paper scores
    answers = {"person": ["barack obama", "The Barack Obama"], "location": ["Paris"]}
    scores = score_uniner([_example(nlp, answers)])
    raw_preds = [json.dumps(answers.get(label, [])) for label in labels[:2]] + ["[]", '["IBM"]']
    expected = string_prf(raw_preds, golds)
    assert (scores["uniner_p"], scores["uniner_r"]) == (expected.precision, expected.recall)
    assert scores["ents_f"] == pytest.approx(2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4))


def test_copy_tokens_keeps_words_and_spaces_only():
    import spacy

    from spacy_uniner.data.docs import copy_tokens

    nlp = spacy.blank("en")
    doc = nlp("Tim Cook  visited Tokyo. Then he left.")
    doc.ents = [doc.char_span(0, 8, label="person")]
    copy = copy_tokens(doc)
    assert copy.text == doc.text and not copy.ents and copy.vocab is doc.vocab
    part = copy_tokens(doc[0:6], spacy.blank("en").vocab)
    assert part.text == "Tim Cook  visited Tokyo." and part.vocab is not doc.vocab
