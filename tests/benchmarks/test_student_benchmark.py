"""benchmarks/student.py scores through the package: its figures are `evaluate`'s."""

from __future__ import annotations

import pytest
import spacy
import srsly
from typer.testing import CliRunner

from spacy_uniner.__main__ import app

from conftest import DATA, load_benchmark

LIMIT = 20
DATASET = "uniner_crossner_ai"

pytestmark = pytest.mark.usefixtures("exact_torch")


@pytest.fixture(scope="module")
def benchmark():
    return load_benchmark("student")


@pytest.fixture(scope="module")
def shipped_dir(shared_dir, tmp_path_factory):
    """The shipped student saved as a pipeline folder (what `student pipeline` writes)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("universal_ner_span")
    path = tmp_path_factory.mktemp("shipped")
    nlp.to_disk(path)
    return path


def test_benchmark_and_evaluate_give_the_same_figures(tmp_path, benchmark, shipped_dir):
    """The compare table's scores of a student (`score-student`, the shipped student as a
    new user adds it) equal `python -m spacy_uniner evaluate` on the saved student, in
    both protocols (the benchmark once asked the types sorted, `evaluate` in the file's
    order: the student reads a call's type names together, so its scores differed)."""
    row_path = tmp_path / "row.json"
    args = ["score-student", "shipped", str(row_path), "--data-dir", str(DATA)]
    result = CliRunner().invoke(benchmark.app, [*args, "--datasets", DATASET, "--limit", str(LIMIT)])
    assert result.exit_code == 0, result.output
    row = srsly.read_json(row_path)
    out = tmp_path / "eval"
    args = ["evaluate", str(shipped_dir), DATASET, str(out), "--data-dir", str(DATA), "--limit", str(LIMIT)]
    result = CliRunner().invoke(app, [*args, "--protocol", "both"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    metrics = srsly.read_json(out / "metrics.json")["datasets"][DATASET]
    assert row["threshold"] == 0.5 and row["dev_span_f1"] is None
    for protocol in ("all", "single"):
        got, expected = row["datasets"][DATASET][protocol], metrics["protocols"][protocol]
        assert got["passages"] == metrics["passages"] == LIMIT
        assert got["queries"] == expected["queries"] == LIMIT * 13
        assert got["string_f1"] == pytest.approx(100 * expected["string"]["f"], abs=1e-6)  # as metrics.json rounds
        assert got["span_f1"] == pytest.approx(100 * expected["spans"]["ents_f"], abs=1e-6)  # as metrics.json rounds
    assert row["datasets"][DATASET]["all"]["string_f1"] > 20

    row["unseen_types"] = {"all": {}, "single": {}}
    table = benchmark.compare_table({"shipped": row})
    all_f1, single_f1 = (f"{row['datasets'][DATASET][p]['string_f1']:.1f}" for p in ("all", "single"))
    assert f"| shipped (first {LIMIT} per file) | {all_f1} / {single_f1} |" in table.splitlines()[2]
