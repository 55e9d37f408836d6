"""benchmarks/student_topic.py: the passage's closeness to each type name added at decoding."""

from __future__ import annotations

import numpy
import pytest
import srsly
from spacy.tokens import Span
from typer.testing import CliRunner

from spacy_uniner.data.docs import LABELS_ATTR, SOURCE_KEY, to_docbin

from conftest import load_benchmark

pytestmark = pytest.mark.usefixtures("exact_torch")
TEXT = "The senator Ann Lee won the election and spoke to parliament ."


@pytest.fixture(scope="module")
def topic():
    return load_benchmark("student_topic")


@pytest.fixture(scope="module")
def embed(topic):
    return topic.SentenceEmbedder(topic.DEFAULT_ENCODER)


def test_embeddings_are_unit_vectors_cached_and_put_politics_near_politician(embed):
    vectors = embed([TEXT, "politician", "athlete", TEXT]).numpy()
    assert numpy.allclose(numpy.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert numpy.array_equal(vectors[0], vectors[3]) and len(embed._cache) == 3
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.1


def test_the_topic_term_is_added_to_each_asked_names_logits(topic, embed, shipped_student):
    pipe = shipped_student.get_pipe("universal_ner_span")
    doc = shipped_student.make_doc(TEXT)
    asked = {"P": "politician", "A": "athlete"}
    cache = topic.TopicCandidates(shipped_student, embed)
    scores = pipe.span_scores([doc], [asked])[0]
    plain = pipe.candidates(scores, asked, floor=0.01)
    assert cache.source(0.0)([doc], [asked], 0.01)[0] == plain
    cos = (embed(["politician", "athlete"]) @ embed([TEXT])[0]).numpy()
    shifted = numpy.asarray(scores.logits) + 5.0 * cos[None, :]
    expected = pipe.candidates(topic.SpanScores(scores.starts, scores.ends, shifted), asked, floor=0.01)
    found = cache.source(5.0)([doc], [asked], 0.01)[0]
    assert found == expected and found != plain
    ann = [c for c in found if (c[0], c[1]) == (2, 4)]
    before = {c[2]: c[3] for c in plain if (c[0], c[1]) == (2, 4)}
    assert ann and all(c[3] > before.get(c[2], 0.0) for c in ann if c[2] == "P")


def test_command_scores_each_weight_against_none(topic, shipped_student, tmp_path):
    docs = []
    for source in ("a", "b"):
        for i in range(3):
            doc = shipped_student.make_doc(f"{TEXT[:-2]} on day {i} .")
            doc.ents = [Span(doc, 2, 4, label="politician")]
            doc._.set(LABELS_ATTR, ["politician", "athlete"])
            doc.user_data[SOURCE_KEY] = source
            docs.append(doc)
    to_docbin(docs).to_disk(tmp_path / "dev.spacy")
    base = [str(tmp_path / "dev.spacy"), "v=shipped", "--min-docs", "3"]
    result = CliRunner().invoke(topic.app, [*base, "--alphas", "1e-9,8", "--output", str(tmp_path / "t.json")])
    assert result.exit_code == 0, result.output
    records = srsly.read_json(tmp_path / "t.json")
    assert set(records) == {"v", "v topic 1e-09", "v topic 8"}
    assert records["v topic 1e-09"]["score"] == records["v"]["score"] and "+0.00" in result.output
    for bad in ("0", "x", " , "):
        failed = CliRunner().invoke(topic.app, [*base, "--alphas", bad])
        assert failed.exit_code != 0 and "--alphas" in failed.output


def test_the_relative_term_is_the_names_closeness_less_its_neighbours(topic, embed, shipped_student):
    cache = topic.TopicCandidates(shipped_student, embed, {"politician": ["athlete", "scientist"]})
    term = cache.topic(TEXT, ["politician", "city"])
    cos = (embed(["politician", "athlete", "scientist"]) @ embed([TEXT])[0]).numpy()
    assert term[0] == pytest.approx(cos[0] - (cos[1] + cos[2]) / 2, abs=1e-6) and term[0] > 0
    assert term[1] == 0.0  # no neighbours: no term
    plain = topic.TopicCandidates(shipped_student, embed).topic(TEXT, ["politician", "city"])
    assert plain[0] == pytest.approx(cos[0], abs=1e-6) and plain[1] != 0.0


def test_the_centred_term_removes_the_passage_and_name_means(topic, embed, shipped_student):
    names, passages = ["politician", "athlete", "city"], ["A match was won .", "Rain fell all day ."]
    cache = topic.TopicCandidates(shipped_student, embed, reference=(names, passages))
    term = cache.topic(TEXT, ["politician", "river"])
    n, q, p, a = (embed(x) for x in (names, passages, [TEXT], ["politician", "river"]))
    expected = (a @ p[0]) - (n @ p[0]).mean() - (q @ a.T).mean(0) + (q @ n.T).mean()
    assert numpy.allclose(term, expected.numpy(), atol=1e-6)
    on_reference = numpy.stack([cache.topic(text, names) for text in passages])
    assert on_reference.mean() == pytest.approx(0.0, abs=1e-6)  # centred on its own reference
    assert numpy.allclose(on_reference.mean(0), 0.0, atol=1e-6) and numpy.allclose(on_reference.mean(1), 0.0, atol=1e-6)
