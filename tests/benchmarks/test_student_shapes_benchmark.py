"""benchmarks/student_shapes.py context: every query also asks context names, dropped before decoding."""

from __future__ import annotations

import pytest
import srsly
from spacy.tokens import Span
from typer.testing import CliRunner

from spacy_uniner.data.docs import LABELS_ATTR, SOURCE_KEY, to_docbin

from conftest import load_benchmark

pytestmark = pytest.mark.usefixtures("exact_torch")


@pytest.fixture(scope="module")
def shapes():
    return load_benchmark("student_shapes")


def _dev(nlp, path):
    docs = []
    for source in ("a", "b"):
        for i in range(3):
            doc = nlp.make_doc(f"Ann Lee of Acme met Bo Chen in Paris on day {i} .")
            doc.ents = [Span(doc, 0, 2, label="person"), Span(doc, 3, 4, label="company"), Span(doc, 8, 9, "city")]
            doc._.set(LABELS_ATTR, ["person", "company", "city"])
            doc.user_data[SOURCE_KEY] = source
            docs.append(doc)
    to_docbin(docs).to_disk(path)
    return docs


def test_context_names_are_asked_and_never_answered(shapes, shipped_student):
    doc = shipped_student.make_doc("Ann Lee of Acme met Bo Chen in Paris .")
    asked = {"person": "person", "city": "city"}
    found = shapes._with_context(shipped_student, ["organization", "City"])([doc], [asked], 0.01)[0]
    pipe = shipped_student.get_pipe("universal_ner_span")
    full = {**asked, "context organization": "organization"}  # "City" is asked already
    expected = [c for c in pipe.candidates(pipe.span_scores([doc], [full])[0], full, floor=0.01) if c[2] in asked]
    assert found == expected and {c[2] for c in found} == {"person", "city"}
    plain = pipe.candidates(pipe.span_scores([doc], [asked])[0], asked, floor=0.01)
    assert [c[:3] for c in plain][:3] and [c[3] for c in plain] != [c[3] for c in found]  # the context changes scores


def test_context_command_scores_both_side_by_side(shapes, shipped_student, tmp_path):
    _dev(shipped_student, tmp_path / "dev.spacy")
    base = ["context", str(tmp_path / "dev.spacy"), "v=shipped", "--min-docs", "3"]
    same_args = ["--protocol", "all", "--context", "Person,city", "--output", str(tmp_path / "same.json")]
    same = CliRunner().invoke(shapes.app, [*base, *same_args])
    assert same.exit_code == 0, same.output
    records = srsly.read_json(tmp_path / "same.json")
    assert records["v"] == records["v+context"]  # all types together asks every context name already
    assert "difference +0.00" in same.output
    other = CliRunner().invoke(shapes.app, [*base, "--context", "organization", "--output", str(tmp_path / "o.json")])
    assert other.exit_code == 0, other.output
    records = srsly.read_json(tmp_path / "o.json")
    assert set(records["v+context"]) == set(records["v"]) and "v + context" in other.output
    bad = CliRunner().invoke(shapes.app, [*base, "--context", " , "])
    assert bad.exit_code != 0 and "--context names no type" in bad.output


def test_white_space_keeps_entities_and_the_command_scores_both_views(shapes, shipped_student, tmp_path):
    import random

    docs = _dev(shipped_student, tmp_path / "dev.spacy")
    spaced = shapes.with_white_space(docs[0], 1.0, random.Random(0))
    assert [t.text for t in spaced if t.is_space] == ["  "] * (len(docs[0]) - 2)  # not inside Ann Lee, not last
    two = shapes.with_white_space(shipped_student.make_doc("Ann left . Bo stayed ."), 0.0, random.Random(0))
    assert [t.text for t in two] == ["Ann", "left", ".", "\n", "Bo", "stayed", "."]
    assert [(e.text, e.label_) for e in spaced.ents] == [(e.text, e.label_) for e in docs[0].ents]
    assert spaced._.get(LABELS_ATTR) == docs[0]._.get(LABELS_ATTR) and spaced.user_data[SOURCE_KEY] == "a"
    result = CliRunner().invoke(shapes.app, ["whitespace", str(tmp_path / "dev.spacy"), "v=shipped", "--min-docs", "3"])
    assert result.exit_code == 0, result.output
    assert "v: as is" in result.output and "with white space" in result.output
    bad = CliRunner().invoke(shapes.app, ["whitespace", str(tmp_path / "dev.spacy"), "--rate", "2"])
    assert bad.exit_code != 0 and "--rate is 2.0" in bad.output


def test_joined_passages_keep_their_offsets_in_each_join(shapes, shipped_student):
    passages = [shipped_student.make_doc(t) for t in ("Ann Lee met Bo .", "Bo left  Paris .", "The end")]
    for join in shapes.JOINS:
        doc, offsets = shapes._joined(passages, join)
        assert [doc.text[o : o + len(p.text)] for o, p in zip(offsets, passages)] == [p.text for p in passages]
        assert doc.has_annotation("SENT_START") == (join == "sents")
        blank_lines = [t.i for t in doc if t.text == "\n\n"]
        assert len(blank_lines) == (2 if join == "paras" else 0)
    doc, _ = shapes._joined(passages, "sents")
    assert [s.text.strip() for s in doc.sents] == [p.text for p in passages]


def test_codes_command_asks_the_codes_as_written_as_a_list_and_as_tried(shapes, shipped_student, shared_dir, tmp_path):
    args = ["codes", str(shared_dir / "data"), "v=shipped", "--datasets", "conllpp", "--limit", "12"]
    result = CliRunner().invoke(shapes.app, [*args, "--try", "PER=human", "--output", str(tmp_path / "c.json")])
    assert result.exit_code == 0, result.output
    records = srsly.read_json(tmp_path / "c.json")["conllpp"]
    assert set(records) == {"as written", "list of labels", "PER as 'human'"}
    assert records["list of labels"]["f1"] > records["as written"]["f1"]
    assert set(records["as written"]["per_code"]) <= {"PER", "ORG", "LOC", "MISC"}
    for bad in ("GPE=country", "PER=", "PER"):
        failed = CliRunner().invoke(shapes.app, [*args, "--try", bad])
        assert failed.exit_code != 0 and "CODE=TEXT" in failed.output
    unknown = CliRunner().invoke(shapes.app, [*args[:3], "--datasets", "nothing_here"])
    assert unknown.exit_code != 0 and "dev split" in unknown.output


def test_processes_command_reads_alike_in_one_process_and_in_workers(shapes, shipped_student, tmp_path):
    _dev(shipped_student, tmp_path / "dev.spacy")
    args = ["processes", str(tmp_path / "dev.spacy"), "v=shipped", "--source", "a", "--limit", "6", "--batch-size", "2"]
    result = CliRunner().invoke(shapes.app, args)
    assert result.exit_code == 0, result.output
    ways = ("one process", "forked", "spawned")
    rows = [line.split() for line in result.output.splitlines() if line.startswith(ways)]
    assert [r[0] for r in rows] == ["one", "forked", "spawned"][: len(rows)] and len(rows) >= 2
    assert all(r[-1] == "yes" for r in rows)  # the workers find what one process finds
