"""Both components in forked workers (``nlp.pipe(n_process=2)``, Linux's default start
method) after they ran on two torch threads: without the fork handlers the children hang."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from conftest import FIXTURES, read_jsonl

pytestmark = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="no fork start method on this platform"
)

TEXTS = ["Barack Obama visited Paris and met Angela Merkel.", "Tim Cook presented the iPhone in Cupertino."]
FORK_WARNING = "The current process just got forked"


def run_forked(tmp_path, make_nlp: str) -> dict:
    """Run a script that builds a pipeline (``make_nlp``), reads ``TEXTS`` on two torch
    threads, then again with ``n_process=2`` forked; its JSON report."""
    script = textwrap.dedent(
        """
        import json, multiprocessing, os, spacy, torch
        if __name__ == "__main__":
            multiprocessing.set_start_method("fork", force=True)
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
            torch.set_num_threads(2)
            nlp = spacy.blank("en")
        """
    ) + textwrap.indent(textwrap.dedent(make_nlp), " " * 4)
    script += textwrap.indent(
        textwrap.dedent(
            f"""
            texts = {TEXTS!r} * 4
            def ents(docs):
                return [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in docs]
            alone = ents(nlp.pipe(texts))
            forked = ents(nlp.pipe(texts, n_process=2, batch_size=2))
            report = {{"alone": alone, "forked": forked, "env": os.environ.get("TOKENIZERS_PARALLELISM")}}
            print(json.dumps(report))
            """
        ),
        " " * 4,
    )
    (tmp_path / "run.py").write_text(script, encoding="utf8")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "TOKENIZERS_PARALLELISM")}
    run = subprocess.Popen(
        [sys.executable, str(tmp_path / "run.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its hung workers go with it
    )
    try:
        stdout, stderr = run.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        run.communicate()
        pytest.fail("the workers hung")
    assert run.returncode == 0, stderr[-2000:]
    assert FORK_WARNING not in stderr
    return json.loads(stdout.strip().splitlines()[-1])


def test_span_student_in_forked_workers(tmp_path):
    report = run_forked(
        tmp_path, 'nlp.add_pipe("universal_ner_span", config={"labels": ["person", "city", "company", "product"]})\n'
    )
    assert report["forked"] == report["alone"]
    assert any(report["alone"])
    assert report["env"] is None  # the parent's environment is left as it was


def test_llm_component_in_forked_workers(shared_dir, tmp_path):
    """A random LLaMA wide enough for torch to split its matrix products across threads."""
    from spacy_uniner.random_llama import build_tiny_model

    texts = [row["text"] for row in read_jsonl(FIXTURES / "uniner_prompts.jsonl")]
    model = build_tiny_model(texts, tmp_path / "llama", vocab_size=600, hidden_size=512, num_heads=8)
    config = {"labels": ["person"], "model": {"name": str(model), "max_new_tokens": 8}}
    report = run_forked(tmp_path, f"nlp.add_pipe('universal_ner', config={config!r})\n")
    assert report["forked"] == report["alone"]
    assert len(report["forked"]) == 8


def test_forked_children_read_with_one_thread():
    import torch

    from spacy_uniner.forking import fork_safe_torch

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        fork_safe_torch()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report and leave at once
            os.write(write, json.dumps([torch.get_num_threads(), os.environ.get("TOKENIZERS_PARALLELISM")]).encode())
            os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        child = json.loads(os.read(read, 1000))
        os.close(read)
    finally:
        torch.set_num_threads(threads)
    user_value = os.environ.get("TOKENIZERS_PARALLELISM")
    assert child == [1, user_value or "false"]
    assert os.environ.get("TOKENIZERS_PARALLELISM") == user_value
