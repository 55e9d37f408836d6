"""The GPU speed script runs end to end on a CPU with a tiny shape, so it cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import DATA, FIXTURES, ROOT


def test_gpu_benchmark_runs_on_cpu_with_a_tiny_shape(shared_dir, tmp_path):
    out = tmp_path / "gpu.json"
    args = [
        sys.executable,
        str(ROOT / "benchmarks" / "gpu.py"),
        "run",
        "--data",
        str(DATA / "uniner_eval" / "CrossNER_AI.json"),
        "--tokenizer",
        str(FIXTURES / "llama_tokenizer" / "tokenizer.model"),
        "--shape",
        "tiny",
        "--dtype",
        "float32",
        "--passages",
        "3",
        "--reference-passages",
        "1",
        "--batch-size",
        "16",
        "--work-dir",
        str(tmp_path),
        "--output",
        str(out),
    ]
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(c) shared prefix" in result.stdout and "of device peak" in result.stdout
    summary = json.loads(out.read_text())
    methods = [r["method"] for r in summary["results"]]
    assert methods == ["(a) one prompt at a time", "(b) batched per query", "(c) shared prefix"]
    for r in summary["results"]:
        assert r["seconds"] > 0 and r["prompt_tokens"] > 0 and r["generated_tokens"] > 0
    # 13 CrossNER AI types; (a) on 1 passage, (b) and (c) on 3
    assert [r["passages"] for r in summary["results"]] == [1, 3, 3] and summary["types"] == 13
    assert summary["decode"]["rows_1"]["ms_per_step"] > 0
