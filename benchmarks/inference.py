"""Inference speed of the UniversalNER query strategies on CrossNER AI passages.

Compares, on the same random-weight LLaMA and the same (passage, type) queries:
  (a) reference: one prompt at a time through ``model.generate`` (the released script);
  (b) batched: all queries batched through ``model.generate`` with left padding;
  (c) shared prefix: each passage prefilled once for its 13 types, early stop, compaction.
and checks that the three give the same answers. With ``--spacy-llm`` (needs
``pip install spacy-llm``) it also times spacy-llm's ``spacy.NER.v3`` task on the same model,
registered as a custom spacy-llm model (one few-shot prompt per passage for all types; its
answers are not comparable, only its speed).

    python benchmarks/inference.py --data assets/uniner_eval/CrossNER_AI.json
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Iterable, List, Tuple

import spacy
import torch
import typer
from wasabi import msg

from spacy_uniner import protocol
from spacy_uniner.answers import parse_answer
from spacy_uniner.backends.hf import HuggingFaceBackend
from spacy_uniner.data.readers import read_uniner_eval
from spacy_uniner.random_llama import build_tiny_model

SIZES = {
    "tiny": dict(hidden_size=320, num_layers=4, num_heads=4, intermediate_size=1024),
    "small": dict(hidden_size=768, num_layers=12, num_heads=12, intermediate_size=2048),
}


def run(backend: HuggingFaceBackend, prompts: List[Tuple[str, str]], one_at_a_time: bool):
    start = time.perf_counter()
    if one_at_a_time:
        answers = [backend.generate([prompt])[0] for prompt in prompts]
    else:
        answers = backend.generate(prompts)
    return answers, time.perf_counter() - start


def time_spacy_llm(model_dir: Path, texts: List[str], types: List[str], max_new_tokens: int, dtype: str) -> float:
    """Seconds spacy-llm's ``spacy.NER.v3`` takes on ``texts`` with the same local model."""
    from spacy_llm.registry import registry as llm_registry

    @llm_registry.llm_models("benchmark.LocalHF.v1")
    def local_hf(
        path: str, max_new_tokens: int, torch_dtype: str
    ) -> Callable[[Iterable[Iterable[str]]], Iterable[Iterable[str]]]:
        backend = HuggingFaceBackend(
            path, max_new_tokens=max_new_tokens, torch_dtype=torch_dtype, batch_size=1, prefix_sharing=False
        )

        def run(prompts: Iterable[Iterable[str]]) -> Iterable[Iterable[str]]:
            for doc_prompts in prompts:
                yield [backend.generate([(prompt, "")])[0] for prompt in doc_prompts]

        return run

    nlp = spacy.blank("en")
    nlp.add_pipe(
        "llm",
        config={
            "task": {"@llm_tasks": "spacy.NER.v3", "labels": types},
            "model": {
                "@llm_models": "benchmark.LocalHF.v1",
                "path": str(model_dir),
                "max_new_tokens": max_new_tokens,
                "torch_dtype": dtype,
            },
        },
    )
    start = time.perf_counter()
    list(nlp.pipe(texts))
    return time.perf_counter() - start


def main(
    data: Path = typer.Option(..., help="UniNER eval file, e.g. CrossNER_AI.json"),
    sizes: str = typer.Option("tiny,small", help="Comma-separated random-weight model sizes ('' for none)"),
    trained: List[Path] = typer.Option([], help="Trained model folders (answers stop early)"),
    passages: int = typer.Option(12, help="Passages per size"),
    max_new_tokens: int = typer.Option(16, help="Random weights never stop: their answers run this long"),
    batch_size: int = typer.Option(64),
    dtype: str = typer.Option("float32"),
    work_dir: Path = typer.Option(Path("training/bench-inference")),
    spacy_llm: bool = typer.Option(False, "--spacy-llm", help="Also time spacy-llm's spacy.NER.v3"),
) -> None:
    nlp = spacy.blank("en")
    docs, queries = read_uniner_eval(data, nlp.vocab)
    types = sorted({q.label for q in queries})
    texts = [doc.text for doc in docs]
    rows = []
    models = [
        (size, build_tiny_model(texts, work_dir / size, vocab_size=4000, **SIZES[size]))
        for size in sizes.split(",")
        if size
    ]
    models += [(path.name, path) for path in trained]
    for size, model_dir in models:
        chosen = texts[:passages]
        prompts = [(protocol.passage_prefix(t), protocol.query_suffix(k)) for t in chosen for k in types]
        common = dict(max_new_tokens=max_new_tokens, torch_dtype=dtype)
        ref = HuggingFaceBackend(str(model_dir), batch_size=1, prefix_sharing=False, **common)
        n_params = sum(p.numel() for p in ref.model.parameters()) / 1e6
        results = {
            "(a) one prompt at a time": (ref, True),
            "(b) batched per query": (
                HuggingFaceBackend(str(model_dir), batch_size=batch_size, prefix_sharing=False, **common),
                False,
            ),
            "(c) shared prefix": (HuggingFaceBackend(str(model_dir), batch_size=batch_size, **common), False),
        }
        baseline_answers, baseline_time = None, None
        for name, (backend, single) in results.items():
            answers, seconds = run(backend, prompts, single)
            prefill = backend.decoder.prefill_tokens if backend.prefix_sharing else backend.prompt_tokens
            if baseline_answers is None:
                baseline_answers, baseline_time = answers, seconds
            same = [parse_answer(a).mentions for a in answers] == [parse_answer(a).mentions for a in baseline_answers]
            rows.append(
                (
                    f"{size} ({n_params:.0f}M)",
                    name,
                    len(chosen) / seconds,
                    len(prompts) / seconds,
                    prefill,
                    baseline_time / seconds,
                    "yes" if same else "NO",
                )
            )
            msg.info(f"{size} {name}: {seconds:.1f}s")
        if spacy_llm:
            seconds = time_spacy_llm(model_dir, chosen, types, max_new_tokens, dtype)
            rows.append(
                (
                    f"{size} ({n_params:.0f}M)",
                    "spacy-llm spacy.NER.v3",
                    len(chosen) / seconds,
                    float("nan"),
                    "-",
                    baseline_time / seconds,
                    "n/a",
                )
            )
            msg.info(f"{size} spacy-llm: {seconds:.1f}s")
    header = ("model", "method", "passages/s", "queries/s", "prefill tokens", "speed-up vs (a)", "same answers")
    msg.table(
        [(m, n, f"{p:.2f}", f"{q:.1f}", str(t), f"{s:.1f}x", same) for m, n, p, q, t, s, same in rows],
        header=header,
        divider=True,
    )
    print(
        json.dumps(
            {
                "types": len(types),
                "passages": passages,
                "max_new_tokens": max_new_tokens,
                "threads": torch.get_num_threads(),
                "dtype": dtype,
            }
        )
    )


if __name__ == "__main__":
    typer.run(main)
