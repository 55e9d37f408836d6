"""Paper-scale inference speed: a LLaMA-7B-shaped model with the released tokenizer, no download.

    python benchmarks/gpu.py build-model training/llama7b-random --tokenizer PATH/tokenizer.model
    python benchmarks/gpu.py run --data assets/data/uniner_eval/CrossNER_AI.json \\
        --tokenizer PATH/tokenizer.model --output benchmarks/results/gpu.json

``build-model`` writes a LLaMA-1-style folder (the released config: hidden 4096, 32 layers,
32 heads, intermediate 11008, vocab 32000; random bf16 weights; the sentencepiece
``tokenizer.model`` given). ``run`` builds it when ``--model`` is not given, loads it through
the ``spacy_uniner.HuggingFaceBackend`` path a user of UniNER-7B runs, and times CrossNER AI
passages x their 13 types with answers capped at ``--max-new-tokens`` (random weights never
stop; a trained model's answers are a few tokens long):

  (a) one prompt at a time (the reference protocol), (b) batched per query, (c) shared prefix.

It prints one table: passages/s, prompt and generated tokens/s, peak GPU memory, and the
decode bandwidth achieved (weights + KV cache read per decode step) against the device's
peak. ``--shape tiny`` runs the same on a CPU in seconds (used by the test-suite).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
import typer
from wasabi import msg

from spacy_uniner import protocol
from spacy_uniner.answers import parse_answer
from spacy_uniner.backends.hf import HuggingFaceBackend
from spacy_uniner.data.readers import read_uniner_eval
from spacy_uniner.random_llama import build_llama1_folder

SHAPES = {
    "7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32),
    "tiny": dict(hidden_size=64, intermediate_size=172, num_hidden_layers=2, num_attention_heads=4),
}
# Peak memory bandwidth in GB/s by device name (vendor data sheets).
PEAK_BANDWIDTH = {
    "H200": 4800,
    "H100 SXM": 3350,
    "H100 PCIe": 2000,
    "H100": 3350,
    "A100-SXM4-80GB": 2039,
    "A100-SXM4-40GB": 1555,
    "A100": 1555,
    "L40S": 864,
    "A10G": 600,
    "L4": 300,
}

app = typer.Typer(no_args_is_help=True)


@app.command("build-model")
def build_model(
    output: Path = typer.Argument(..., help="Folder to write"),
    tokenizer: Path = typer.Option(..., help="LLaMA sentencepiece tokenizer.model"),
    shape: str = typer.Option("7b", help="7b (the released config) or tiny"),
    dtype: str = typer.Option("bfloat16"),
) -> Path:
    """Write a random-weight LLaMA-1-style checkpoint folder."""
    if shape not in SHAPES:
        raise typer.BadParameter(f"unknown shape {shape!r}; choose from {sorted(SHAPES)}")
    if not tokenizer.exists():
        raise typer.BadParameter(f"tokenizer.model not found at {tokenizer}")
    start = time.perf_counter()
    device = "cuda" if torch.cuda.is_available() and shape == "7b" else "cpu"
    build_llama1_folder(output, tokenizer, dtype=dtype, device=device, **SHAPES[shape])
    msg.good(f"Wrote {output} ({shape}, {dtype}) in {time.perf_counter() - start:.0f}s")
    return output


def _time(backend: HuggingFaceBackend, prompts: List[Tuple[str, str]], one_at_a_time: bool) -> Dict[str, float]:
    cuda = backend.model.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    backend.prompt_tokens = backend.generated_tokens = 0
    start = time.perf_counter()
    answers = [backend.generate([p])[0] for p in prompts] if one_at_a_time else backend.generate(prompts)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "answers": answers,
        "prompt_tokens": backend.prompt_tokens,
        "generated_tokens": backend.generated_tokens,
        "peak_gb": torch.cuda.max_memory_allocated() / 1e9 if cuda else float("nan"),
    }


def decode_bandwidth(backend: HuggingFaceBackend, prompt: str, rows: int, steps: int = 16) -> Tuple[float, float]:
    """(seconds per decode step, GB/s read) for ``rows`` sequences decoding after ``prompt``:
    every step reads all weights plus the KV cache."""
    from transformers import DynamicCache

    model, device = backend.model, backend.model.device
    ids = torch.tensor([backend.tokenizer(prompt).input_ids] * rows, device=device)
    cache = DynamicCache()
    with torch.inference_mode():
        out = model(input_ids=ids, past_key_values=cache, use_cache=True)
        step = out.logits[:, -1:].argmax(-1)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            step = model(input_ids=step, past_key_values=cache, use_cache=True).logits[:, -1:].argmax(-1)
        if device.type == "cuda":
            torch.cuda.synchronize()
    per_step = (time.perf_counter() - start) / steps
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    config = model.config
    kv_per_token = (
        2 * config.num_hidden_layers * config.num_key_value_heads * (config.hidden_size // config.num_attention_heads)
    )
    kv_bytes = kv_per_token * rows * (ids.shape[1] + steps / 2) * next(model.parameters()).element_size()
    return per_step, (weight_bytes + kv_bytes) / per_step / 1e9


def peak_bandwidth() -> Optional[float]:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    for key, value in PEAK_BANDWIDTH.items():
        if key.replace(" ", "").lower() in name.replace(" ", "").lower():
            return float(value)
    return None


@app.command("run")
def run(
    data: Path = typer.Option(..., help="UniNER eval file (CrossNER_AI.json)"),
    tokenizer: Path = typer.Option(..., help="LLaMA sentencepiece tokenizer.model"),
    model: Optional[Path] = typer.Option(None, help="A folder from build-model (built when missing)"),
    shape: str = typer.Option("7b"),
    passages: int = typer.Option(64, help="Passages for (b) and (c)"),
    reference_passages: int = typer.Option(8, help="Passages for (a), the slow one-at-a-time baseline"),
    max_new_tokens: int = typer.Option(4, help="Answer cap: random weights never stop"),
    batch_size: int = typer.Option(128, help="Rows per forward pass for (b) and (c)"),
    dtype: str = typer.Option("bfloat16"),
    work_dir: Path = typer.Option(Path("training/bench-gpu")),
    output: Optional[Path] = typer.Option(None, help="Write the figures as JSON"),
) -> dict:
    """Time (a) one prompt at a time, (b) batched per query and (c) shared prefix."""
    import spacy

    total = time.perf_counter()
    if model is None:
        model = work_dir / f"llama-{shape}-random"
        if not (model / "config.json").exists():
            build_model(model, tokenizer=tokenizer, shape=shape, dtype=dtype)
    docs, queries = read_uniner_eval(data, spacy.blank("en").vocab)
    types = sorted({q.label for q in queries})
    texts = [doc.text for doc in docs][:passages]
    prompts = [(protocol.passage_prefix(t), protocol.query_suffix(k)) for t in texts for k in types]
    n_ref = min(reference_passages, len(texts))
    common = dict(torch_dtype=dtype, max_new_tokens=max_new_tokens, max_batch_tokens=1 << 22)
    start = time.perf_counter()
    backend = HuggingFaceBackend(str(model), batch_size=1, prefix_sharing=False, **common)
    load_seconds = time.perf_counter() - start
    modes = [
        ("(a) one prompt at a time", 1, False, True, n_ref),
        ("(b) batched per query", batch_size, False, False, len(texts)),
        ("(c) shared prefix", batch_size, True, False, len(texts)),
    ]
    results = []
    for name, rows, sharing, single, n_passages in modes:
        backend.batch_size, backend.prefix_sharing = rows, sharing
        chosen = prompts[: n_passages * len(types)]
        _time(backend, chosen[: len(types)], single)  # warm-up (kernels, allocator)
        figures = _time(backend, chosen, single)
        results.append({"method": name, "passages": n_passages, **figures})
        msg.info(f"{name}: {n_passages} passages in {figures['seconds']:.1f}s")
    reference = [parse_answer(a).mentions for a in results[0]["answers"]]
    for result in results:
        answers = [parse_answer(a).mentions for a in result.pop("answers")[: len(reference)]]
        result["same_as_a"] = sum(x == y for x, y in zip(answers, reference)) / max(1, len(reference))
    step_1, bw_1 = decode_bandwidth(backend, prompts[0][0] + prompts[0][1], rows=1)
    step_n, bw_n = decode_bandwidth(backend, prompts[0][0] + prompts[0][1], rows=min(batch_size, 64))
    peak = peak_bandwidth()
    base = results[0]["passages"] / results[0]["seconds"]
    table = [
        (
            r["method"],
            r["passages"],
            f"{r['passages'] / r['seconds']:.2f}",
            f"{r['passages'] / r['seconds'] / base:.1f}x",
            f"{r['prompt_tokens'] / r['seconds']:.0f}",
            f"{r['generated_tokens'] / r['seconds']:.0f}",
            f"{r['peak_gb']:.1f}",
            f"{r['same_as_a']:.0%}",
        )
        for r in results
    ]
    msg.table(
        table,
        header=(
            "method",
            "passages",
            "passages/s",
            "vs (a)",
            "prompt tok/s",
            "generated tok/s",
            "peak GPU GB",
            "answers = (a)",
        ),
        divider=True,
    )
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    of_peak = lambda bw: f"{bw / peak:.0%} of {peak:.0f} GB/s" if peak else "peak unknown"  # noqa: E731
    msg.table(
        [
            ("1 row", f"{step_1 * 1e3:.1f}", f"{bw_1:.1f}", of_peak(bw_1)),
            (f"{min(batch_size, 64)} rows", f"{step_n * 1e3:.1f}", f"{bw_n:.1f}", of_peak(bw_n)),
        ],
        header=("decode", "ms/step", "GB/s read", "of device peak"),
        divider=True,
    )
    summary = {
        "device": device,
        "shape": shape,
        "dtype": dtype,
        "types": len(types),
        "max_new_tokens": max_new_tokens,
        "load_seconds": load_seconds,
        "results": results,
        "decode": {
            "rows_1": {"ms_per_step": step_1 * 1e3, "gb_per_s": bw_1},
            "rows_n": {"rows": min(batch_size, 64), "ms_per_step": step_n * 1e3, "gb_per_s": bw_n},
        },
        "peak_bandwidth_gb_per_s": peak,
        "total_seconds": time.perf_counter() - total,
    }
    print(json.dumps({k: summary[k] for k in ("device", "shape", "dtype", "load_seconds", "total_seconds")}))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    app()
