"""benchmarks/student_typing.py: each fine type asked alone, on its own and its siblings' mentions."""

from __future__ import annotations

import itertools

import numpy
import pytest
import srsly
import typer
from spacy.tokens import Span
from typer.testing import CliRunner

from spacy_uniner.data.docs import LABELS_ATTR, MENTIONS_ONLY, PARTIAL_KEY, SOURCE_KEY, to_docbin

from conftest import load_benchmark

pytestmark = pytest.mark.usefixtures("exact_torch")

TEXTS = [
    ("The striker Lionel Messi scored twice .", (2, 4), "athlete"),
    ("The senator Ann Lee voted against the bill .", (2, 4), "politician"),
    ("Coach Bo Chen praised the goalkeeper Tim Ray .", (1, 3), "athlete"),
    ("Prime minister Ed Park met the runner Usain Bolt .", (2, 4), "politician"),
]


@pytest.fixture(scope="module")
def typing():
    return load_benchmark("student_typing")


def _docs(nlp, source="s", partial=False):
    docs = []
    for text, (start, end), label in TEXTS:
        doc = nlp.make_doc(text)
        ents = [Span(doc, start, end, label=label)]
        if "runner" in text:
            ents.append(Span(doc, 7, 9, label="athlete"))
        if "goalkeeper" in text:
            ents.append(Span(doc, 6, 8, label="athlete"))
        doc.ents = ents
        doc.user_data[SOURCE_KEY] = source
        if partial:
            doc.user_data[PARTIAL_KEY] = MENTIONS_ONLY
        doc._.set(LABELS_ATTR, ["athlete", "politician", "city"])
        docs.append(doc)
    return docs


def test_groups_keep_full_sources_and_types_with_enough_mentions(typing, shipped_student):
    parents = {"athlete": "person", "politician": "person", "city": "location"}
    docs = _docs(shipped_student) + _docs(shipped_student, "partial", partial=True)
    groups = typing.sibling_groups(docs, parents, min_mentions=2, max_docs=10)
    assert [(g.source, g.broader, g.types, len(g.docs)) for g in groups] == [
        ("s", "person", ["athlete", "politician"], 4)
    ]
    assert typing.sibling_groups(docs, parents, min_mentions=3, max_docs=10) == []  # two politicians only
    assert len(typing.sibling_groups(docs, parents, min_mentions=2, max_docs=2)[0].docs) == 2


def test_auc_is_the_pairwise_share_and_resampling_counts_passages(typing, shipped_student):
    parents = {"athlete": "person", "politician": "person"}
    group = typing.sibling_groups(_docs(shipped_student), parents, min_mentions=2, max_docs=10)[0]
    pipe = shipped_student.get_pipe("universal_ner_span")
    logits = typing.mention_logits(shipped_student, group, "athlete")
    scores = pipe.span_scores(group.docs, [{"athlete": "athlete"}] * len(group.docs))
    for doc_scores, row, gold in zip(scores, logits, group.gold):  # each mention's own candidate score
        found = {(s, e): p for s, e, _, p in pipe.candidates(doc_scores, {"athlete": "athlete"}, floor=0.0)}
        assert [1 / (1 + numpy.exp(-x)) for x in row] == pytest.approx([found[(s, e)] for s, e, _ in gold], abs=1e-6)
    wins, own, sibling = typing.pair_matrix(*typing.split_scores(group, "athlete", logits))
    weights = numpy.asarray([[1, 1, 1, 1], [2, 0, 1, 1], [0, 0, 4, 0]], dtype=float)

    def brute(counts):
        flat = [(x, t) for n, row, gold in zip(counts, logits, group.gold) for _ in range(int(n))
                for x, (_, _, t) in zip(row, gold)]  # fmt: skip
        pos = [x for x, t in flat if t == "athlete"]
        neg = [x for x, t in flat if t != "athlete"]
        if not pos or not neg:
            return numpy.nan
        return sum((p > n) + 0.5 * (p == n) for p, n in itertools.product(pos, neg)) / (len(pos) * len(neg))

    got = typing.weighted_auc(wins, own, sibling, weights)
    assert got[:2] == pytest.approx([brute(w) for w in weights[:2]])
    assert numpy.isnan(got[2])  # only athletes: no pair


def test_command_prints_each_type_and_refuses_a_view_without_siblings(typing, shipped_student, tmp_path):
    to_docbin(_docs(shipped_student)).to_disk(tmp_path / "dev.spacy")
    srsly.write_json(tmp_path / "h.json", {"athlete": "person", "politician": "person"})
    args = [str(tmp_path / "dev.spacy"), str(tmp_path / "h.json"), "a=shipped", "b=shipped"]
    app = typer.Typer()
    app.command()(typing.main)
    run = CliRunner().invoke(
        app, [*args, "--min-mentions", "2", "--resamples", "50", "--output", str(tmp_path / "o.json")]
    )
    assert run.exit_code == 0, run.output
    out = srsly.read_json(tmp_path / "o.json")
    assert out["macro_auc"]["a"] == out["macro_auc"]["b"]
    assert [t["type"] for t in out["types"]["a"]] == ["athlete", "politician"]
    assert "+0.000 [+0.000, +0.000]" in run.output  # the same student: every resample ties
    bad = CliRunner().invoke(app, [*args, "--min-mentions", "5"])
    words = " ".join(bad.output.replace("│", " ").split())  # the error box wraps its lines
    assert bad.exit_code == 2 and "no source of" in words and "lower --min-mentions" in words


def test_topic_variants_add_the_weighted_cosine_to_each_students_logits(typing, shipped_student, tmp_path):
    docs = _docs(shipped_student)
    to_docbin(docs).to_disk(tmp_path / "dev.spacy")
    srsly.write_json(tmp_path / "h.json", {"athlete": "person", "politician": "person"})
    args = [str(tmp_path / "dev.spacy"), str(tmp_path / "h.json"), "a=shipped", "--min-mentions", "2"]
    app = typer.Typer()
    app.command()(typing.main)
    out_path = str(tmp_path / "o.json")
    run = CliRunner().invoke(app, [*args, "--resamples", "20", "--topic", "1e-12,50", "--output", out_path])
    assert run.exit_code == 0, run.output
    out = srsly.read_json(out_path)
    assert set(out["macro_auc"]) == {"a", "a + topic 1e-12", "a + topic 50", "topic alone"}
    assert out["macro_auc"]["a + topic 1e-12"] == out["macro_auc"]["a"]
    assert all(t["found"] is None for t in out["types"]["topic alone"])
    group = typing.sibling_groups(docs, {"athlete": "person", "politician": "person"}, 2, 200)[0]
    terms = typing.topic_terms(typing.SentenceEmbedder(typing.DEFAULT_ENCODER), group, "athlete")
    assert [len(t) for t in terms] == [len(g) for g in group.gold] and len({row[0] for row in terms}) > 1
    for bad in ("0", "x"):
        failed = CliRunner().invoke(app, [*args, "--topic", bad])
        assert failed.exit_code == 2 and "--topic" in failed.output
