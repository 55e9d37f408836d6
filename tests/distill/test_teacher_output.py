"""Parsing and filtering of the teacher's ``[("entity", "type"), ...]`` answers."""

from __future__ import annotations

import re

import pytest
import srsly

from spacy_uniner.distill.gold_teacher import format_answer, load_annotations
from spacy_uniner.distill.teacher_output import (
    TeacherOutputError,
    filter_pairs,
    is_else_type,
    parse_teacher_output,
)

from conftest import ROOT

EMBEDDED = ROOT / "assets" / "embedded" / "pilener_sample.jsonl"


@pytest.mark.parametrize(
    "answer,expected",
    [
        ('[("Barack Obama", "person"), ("Paris", "city")]', [("Barack Obama", "person"), ("Paris", "city")]),
        ("[('Barack Obama', 'person'), ('Paris', 'city')]", [("Barack Obama", "person"), ("Paris", "city")]),
        ('[["Paris", "city"]]', [("Paris", "city")]),
        ("[]", []),
        ('```python\n[("Paris", "city")]\n```', [("Paris", "city")]),
        ('```\n[("Paris", "city")]\n```\nThese are all the entities.', [("Paris", "city")]),
        ('Here are the entities:\n[("Paris", "city")]\nLet me know if you need more.', [("Paris", "city")]),
        ('[("McDonald\'s", "company")]', [("McDonald's", "company")]),
        ('[("the \\"Big\\" one", "nickname")]', [('the "Big" one', "nickname")]),
        (
            '[("the "Big" one", "nickname"), ("Paris", "city")]',
            [('the "Big" one', "nickname"), ("Paris", "city")],
        ),
        (
            "[(\u201cParis\u201d, \u201ccity\u201d), (\u2018Rome\u2019, \u2018city\u2019)]",
            [("Paris", "city"), ("Rome", "city")],
        ),
        (
            '[("[1]", "citation"), ("a (b)", "thing")] trailing ] text',
            [("[1]", "citation"), ("a (b)", "thing")],
        ),
        ('[(2015, "date")]', [("2015", "date")]),
        ('[("Paris", "city"),\n ("Rome", "city"),\n]', [("Paris", "city"), ("Rome", "city")]),
    ],
)
def test_parse_variants(answer, expected):
    assert parse_teacher_output(answer) == expected


@pytest.mark.parametrize(
    "answer,problem",
    [
        ("There are no entities in this passage.", "no '['"),
        ('[("Paris", "city"), ("Ro', "never closed"),
        ('[("Paris", "city", "France")]', "not an (entity, type) pair"),
        ('[("Paris", "city"), garbage here]', "unreadable"),
        ('{"entities": "none found"}', "no '['"),
        ("[1, 2]", "not an (entity, type) pair"),
    ],
)
def test_parse_rejects(answer, problem):
    with pytest.raises(TeacherOutputError, match=re.escape(problem)):
        parse_teacher_output(answer)


def test_else_types():
    for etype in ("None", "NA", "N/A", "misc", "MISC", "Else", " else. "):
        assert is_else_type(etype)
    for etype in ("person", "miscellaneous object", "nation"):
        assert not is_else_type(etype)


def test_filter_pairs_counts_every_drop():
    passage = "Barack Obama visited Paris in 2015."
    pairs = [
        ("Barack Obama", "person"),
        ("  Paris ", " city "),
        ("", "person"),
        ("2015", ""),
        ("2015", "MISC"),
        ("London", "city"),
        ("barack obama", "person"),
        ("Barack Obama", "person"),
        ("Barack Obama", "politician"),
    ]
    kept, dropped = filter_pairs(pairs, passage)
    assert kept == [("Barack Obama", "person"), ("Paris", "city"), ("Barack Obama", "politician")]
    assert dropped == {
        "empty_mention": 1,
        "empty_type": 1,
        "else_type": 1,
        "absent_mention": 2,
        "duplicate": 1,
    }
    assert len(kept) + sum(dropped.values()) == len(pairs)


def test_teacher_format_round_trips_on_real_annotations():
    """Every shipped ChatGPT annotation, written in the teacher's format, parses back."""
    annotations = load_annotations(EMBEDDED)
    assert len(annotations) == len(list(srsly.read_jsonl(EMBEDDED)))
    for text, pairs in annotations.items():
        assert parse_teacher_output(format_answer(pairs)) == pairs
        kept, dropped = filter_pairs(pairs, text)
        assert kept == pairs and not dropped
