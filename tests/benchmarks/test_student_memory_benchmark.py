"""benchmarks/student_memory.py: the types other sources gave a span's words, at decoding."""

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
def memory_benchmark():
    return load_benchmark("student_memory")


def test_memory_counts_types_by_source_and_leaves_the_own_source_out(memory_benchmark, shipped_student, tmp_path):
    pool = pool_folder(
        tmp_path / "pool",
        TEXT,
        [("a", [("person", 0, 2), ("city", 8, 9)]), ("a", [("person", 0, 2)]), ("b", [("writer", 0, 2)])],
    )
    memory = memory_benchmark.read_memory(pool / "train.spacy")
    assert memory["ann lee"] == {"a": {"person": 2}, "b": {"writer": 1}} and memory["paris"] == {"a": {"city": 1}}
    cache = memory_benchmark.MemoryCandidates(shipped_student, memory, {}, min_share=0.0)
    assert cache.affinity("Paris", "city", "a") is None  # only its own source has it
    assert cache.affinity("Ann Lee", "writer", "a") == pytest.approx(1.0, abs=1e-5)
    assert cache.affinity("Ann Lee", "person", "b") == pytest.approx(1.0, abs=1e-5)
    below = memory_benchmark.MemoryCandidates(shipped_student, memory, {}, min_share=0.5)
    assert below.affinity("Ann Lee", "writer", "") < 1.0  # writer is 1 of 3: under the share


def test_penalty_lowers_only_low_affinities_and_shift_also_raises(memory_benchmark, shipped_student, tmp_path):
    pool = pool_folder(tmp_path / "pool", TEXT, [("a", [("city", 0, 2)]), ("a", [("city", 8, 9)])])
    memory = memory_benchmark.read_memory(pool / "train.spacy")
    pipe = shipped_student.get_pipe("universal_ner_span")
    doc = shipped_student.make_doc(TEXT)
    asked = {"PER": "person", "LOC": "city"}
    cache = memory_benchmark.MemoryCandidates(shipped_student, memory, {TEXT: "dev"}, min_share=0.0)
    plain = pipe.candidates(pipe.span_scores([doc], [asked])[0], asked, floor=0.01)
    assert plain and cache.source(0.0, 0.0, False)([doc], [asked], 0.01)[0] == plain
    penalised = cache.source(4.0, 0.9, False)([doc], [asked], 0.01)[0]
    for start, end, label, p in plain:
        affinity = cache.affinity(doc[start:end].text, asked[label], "dev")
        gap = 0.0 if affinity is None else min(affinity - 0.9, 0.0)
        q = 1 / (1 + math.exp(-(math.log(p / (1 - p)) + 4.0 * gap)))
        assert ((start, end, label, pytest.approx(q, rel=1e-6)) in penalised) == (q >= 0.01)
    paris = [c for c in plain if (c[0], c[1], c[2]) == (8, 9, "LOC")]
    raised = [c for c in cache.source(4.0, 0.5, True)([doc], [asked], 0.01)[0] if (c[0], c[1], c[2]) == (8, 9, "LOC")]
    assert paris and raised and raised[0][3] > paris[0][3]  # city is Paris's memory type: above the center


def test_command_scores_variants_against_no_memory(memory_benchmark, shipped_student, tmp_path):
    pool = pool_folder(tmp_path / "pool", TEXT, [("a", [("city", 8, 9)]), ("b", [("person", 0, 2)])])
    docs = [*day_docs(shipped_student, 3, source="a"), *day_docs(shipped_student, 3, source="b")]
    to_docbin(docs).to_disk(tmp_path / "dev.spacy")
    base = [str(tmp_path / "dev.spacy"), str(pool), "v=shipped", "--min-docs", "3"]
    out = tmp_path / "m.json"
    result = CliRunner().invoke(
        memory_benchmark.app, [*base, "--weights", "2", "--centers", "-1", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    records = srsly.read_json(out)
    assert records["v penalty 2 at -1"] == records["v"]  # every affinity is at least -1: nothing lowered
    bad = CliRunner().invoke(memory_benchmark.app, [*base, "--weights", "x"])
    assert bad.exit_code != 0 and "--weights" in bad.output
    missing = CliRunner().invoke(memory_benchmark.app, [str(tmp_path / "dev.spacy"), str(tmp_path), "v=shipped"])
    assert missing.exit_code != 0 and "no train.spacy" in missing.output
