"""benchmarks/student_rivals.py: rival type names asked in a pass of their own at decoding."""

from __future__ import annotations

import math

import pytest
import srsly
from typer.testing import CliRunner

from spacy_uniner.data.docs import to_docbin

from conftest import day_docs, load_benchmark, pool_folder

pytestmark = pytest.mark.usefixtures("exact_torch")
TEXT = "Ann Lee of Acme met Bo Chen in Paris ."


@pytest.fixture(scope="module")
def rivals():
    return load_benchmark("student_rivals")


def _pool(path, docs_by_source):
    """A pool folder: train.spacy of (source, [(label, token start, end)]) docs, a hierarchy and synonyms."""
    pool_folder(path, TEXT, docs_by_source)
    srsly.write_json(path / "hierarchy.json", {"city": "location"})
    srsly.write_json(path / "synonyms.json", {"location": ["place"]})
    return path


def test_rival_names_by_sources_then_passages_without_broad_names(rivals, tmp_path):
    pool = _pool(
        tmp_path / "pool",
        [
            ("a", [("location", 8, 9), ("city", 0, 1)]),
            ("b", [("city", 8, 9), ("place", 0, 1)]),
            ("c", [("location", 8, 9), ("Food", 3, 4)]),
            ("c", [("Food", 3, 4), ("drug", 5, 6)]),
            ("c", [("Food", 3, 4)]),
        ],
    )
    assert rivals.rival_names(pool, 10) == ["city", "Food", "drug"]  # location and its synonym place are broad
    assert rivals.rival_names(pool, 2) == ["city", "Food"]


def test_related_names_are_synonyms_and_broader_or_finer_names(rivals):
    related = rivals.related_names({"politician": "person", "city": "location"}, {"Person": ["people"]})
    assert related["politician"] == {"person"}
    assert related["person"] == {"politician", "people"}
    assert related["people"] == {"person"} and related["city"] == {"location"}


def test_a_candidate_is_dropped_when_an_unrelated_rival_outscores_it(rivals, shipped_student):
    pipe = shipped_student.get_pipe("universal_ner_span")
    doc = shipped_student.make_doc(TEXT)
    asked = {"PER": "person"}
    names = ["city", "Person", "company", "politician"]  # Person is asked, politician related
    cache = rivals.RivalCandidates(shipped_student, names, {"person": {"politician"}})
    plain = pipe.candidates(pipe.span_scores([doc], [asked])[0], asked, floor=0.01)
    scores = pipe.span_scores([doc], [{f"r{i}": t for i, t in enumerate(names)}])[0]
    row = {(int(s), int(e)): r for r, (s, e) in enumerate(zip(scores.starts, scores.ends))}
    assert plain and cache.source(0, 0.0)([doc], [asked], 0.01)[0] == plain
    for size, margin in [(4, 0.0), (4, 2.0), (1, 0.0), (4, -3.0)]:
        columns = [i for i in (0, 2) if i < size]  # city, company
        expected = [
            c
            for c in plain
            if max(float(scores.logits[row[c[0], c[1]], i]) for i in columns) <= math.log(c[3] / (1 - c[3])) + margin
        ]
        assert cache.source(size, margin)([doc], [asked], 0.01)[0] == expected
    assert cache.source(4, 100.0)([doc], [asked], 0.01)[0] == plain
    assert cache.source(4, -100.0)([doc], [asked], 0.01)[0] == []


def test_command_scores_variants_against_no_rivals(rivals, shipped_student, tmp_path):
    pool = _pool(tmp_path / "pool", [("a", [("city", 8, 9)]), ("b", [("company", 3, 4)])])
    docs = [*day_docs(shipped_student, 3, source="a"), *day_docs(shipped_student, 3, source="b")]
    to_docbin(docs).to_disk(tmp_path / "dev.spacy")
    base = [str(tmp_path / "dev.spacy"), str(pool), "v=shipped", "--min-docs", "3"]
    out = tmp_path / "r.json"
    result = CliRunner().invoke(rivals.app, [*base, "--sizes", "2", "--margins", "1000", "--output", str(out)])
    assert result.exit_code == 0, result.output
    records = srsly.read_json(out)
    assert records["v rivals 2 margin 1000"] == records["v"] and "+0.00 [+0.00, +0.00]" in result.output
    bad = CliRunner().invoke(rivals.app, [*base, "--sizes", "x"])
    assert bad.exit_code != 0 and "--sizes lists no number" in bad.output
    missing = CliRunner().invoke(rivals.app, [str(tmp_path / "dev.spacy"), str(tmp_path), "v=shipped"])
    assert missing.exit_code != 0 and "no train.spacy" in missing.output
