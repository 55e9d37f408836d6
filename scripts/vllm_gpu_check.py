"""The OpenAI-compatible backend against a real vLLM server on one GPU, with no download.

    python scripts/vllm_gpu_check.py --tokenizer PATH/tokenizer.model [--model DIR]

Needs vLLM (in this environment, or in its own: ``--vllm PATH/bin/vllm``; its wheels pin
their own torch and transformers) and a GPU with room for two bf16 7B models (~14 GB
each: an 80 GB H100 or an H200). In about 5 minutes it

1. writes the random-weight LLaMA-7B-shaped folder of ``benchmarks/gpu.py build-model``
   (skipped when ``--model`` holds one);
2. runs the ``universal_ner`` component over a few docs with the Hugging Face backend
   (greedy, bf16) and keeps every raw answer, then frees the GPU;
3. starts ``vllm serve DIR --enable-prefix-caching`` on 127.0.0.1 and runs the component
   through ``spacy_uniner.OpenAICompatible.v1``, prompts as token ids (the default) and as
   text, comparing each answer with the Hugging Face one;
4. checks that the ids vLLM evaluated (``return_token_ids``, else ``echo`` with
   ``return_tokens_as_token_ids``) are ``tokenizer(prompt).input_ids``;
5. runs ``benchmarks/server_prefix.py`` (queries of a passage grouped vs shuffled; vLLM
   reports the prefix-cache hits in ``usage.prompt_tokens_details.cached_tokens``).

Random bf16 weights give near-tied logits, and vLLM's and PyTorch's bf16 kernels round
differently, so answers may part after a few tokens: the table gives equal answers and the
mean length of the common token prefix. The token-id check is exact, and decides the exit code.
"""

from __future__ import annotations

import gc
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import httpx
import typer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llamacpp_check import LABELS, TEXTS, openai_config, run_component  # noqa: E402

from spacy_uniner import protocol  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/models", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(2)
    sys.exit(f"vLLM did not start; the end of {log}:\n{log.read_text(errors='replace')[-4000:]}")


def common_prefix(a: List[int], b: List[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def evaluated_ids(url: str, prompt: Any, max_tokens: int = 1) -> Dict[str, Any]:
    """vLLM's prompt ids for ``prompt`` (ids or text): ``prompt_token_ids`` when the server
    returns them, else parsed from the echoed ``token_id:N`` logprob tokens."""
    body = {"model": "uniner", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "return_token_ids": True}
    response = httpx.post(f"{url}/completions", json=body, timeout=120)
    response.raise_for_status()
    data = response.json()
    choice = data["choices"][0]
    ids = choice.get("prompt_token_ids") or data.get("prompt_token_ids")
    if ids is None:
        body.update(echo=True, logprobs=0, return_tokens_as_token_ids=True, max_tokens=1)
        body.pop("return_token_ids")
        response = httpx.post(f"{url}/completions", json=body, timeout=120)
        response.raise_for_status()
        data = response.json()
        tokens = data["choices"][0]["logprobs"]["tokens"]
        ids = [int(t.split(":", 1)[1]) for t in tokens[: data["usage"]["prompt_tokens"]]]
    return {"ids": ids, "prompt_tokens": data["usage"]["prompt_tokens"]}


def main(
    tokenizer: Path = typer.Option(..., help="LLaMA sentencepiece tokenizer.model"),
    model: Path = typer.Option(ROOT / "training" / "llama7b-random", help="Model folder (built when missing)"),
    max_new_tokens: int = typer.Option(16),
    gpu_memory_utilization: float = typer.Option(0.45),
    token_prompts: int = typer.Option(12),
    vllm: str = typer.Option("vllm", help="The vllm command (e.g. from its own virtual environment)"),
) -> None:
    if not (model / "config.json").exists():
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "gpu.py"),
                "build-model",
                str(model),
                "--tokenizer",
                str(tokenizer),
            ],
            check=True,
        )

    import torch

    start = time.monotonic()
    reference = run_component(
        {
            "@uniner_backends": "spacy_uniner.HuggingFace.v1",
            "name": str(model),
            "torch_dtype": "bfloat16",
            "device": "cuda",
            "max_new_tokens": max_new_tokens,
            "stop_at_list_end": False,
        }
    )
    if "error" in reference:
        sys.exit(f"Hugging Face backend failed: {reference['error']}")
    gc.collect()
    torch.cuda.empty_cache()
    print(f"Hugging Face answers in {time.monotonic() - start:.0f} s")

    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    log = Path(f"vllm-{port}.log").resolve()
    vllm = shutil.which(vllm) or sys.exit(f"the vllm command {vllm!r} is not installed")
    cmd = [
        vllm,
        "serve",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--served-model-name",
        "uniner",
        "--dtype",
        "bfloat16",
        "--max-model-len",
        "2048",
        "--enable-prefix-caching",
        "--enable-prompt-tokens-details",
        "--enforce-eager",
        "--gpu-memory-utilization",
        str(gpu_memory_utilization),
    ]
    start = time.monotonic()
    with log.open("w") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    failed = False
    try:
        wait_for(url, process, log, 420)
        print(f"vLLM up in {time.monotonic() - start:.0f} s: {' '.join(cmd)}")
        from spacy_uniner.backends.loading import load_tokenizer

        tok = load_tokenizer(str(model))
        ref_ids = [tok(a, add_special_tokens=False).input_ids for a in reference["answers"]]
        n = len(reference["answers"])
        print(
            f"\nAnswers vs the Hugging Face backend (greedy, bf16): {len(TEXTS)} docs x {len(LABELS)} types "
            f"= {n}, max_new_tokens {max_new_tokens}"
        )
        print(f"{'run':<28}{'equal answers':>15}{'mean common prefix (tokens)':>30}")
        for name, settings in (("vLLM, token ids (default)", {}), ("vLLM, text", {"prompt_format": "text"})):
            out = run_component(openai_config(url, model, max_new_tokens, concurrency=16, **settings))
            if "error" in out:
                print(f"{name:<28}  {out['error']}")
                failed = True
                continue
            equal = sum(a == b for a, b in zip(out["answers"], reference["answers"]))
            prefix = [
                common_prefix(tok(a, add_special_tokens=False).input_ids, r) for a, r in zip(out["answers"], ref_ids)
            ]
            print(f"{name:<28}{f'{equal}/{n}':>15}{sum(prefix) / n:>30.1f}")

        prompts = [protocol.inference_prompt(t, label) for t in TEXTS for label in LABELS][:token_prompts]
        checks = {"token ids": 0, "text": 0, "usage": 0}
        for text in prompts:
            ids = tok(text).input_ids
            sent = evaluated_ids(url, ids)
            checks["token ids"] += sent["ids"] == ids
            checks["usage"] += sent["prompt_tokens"] == len(ids)
            checks["text"] += evaluated_ids(url, text)["ids"] == ids
        k = len(prompts)
        print(
            f"\nIds vLLM evaluated vs tokenizer(prompt).input_ids, {k} prompts: token-id prompts "
            f"{checks['token ids']}/{k} (usage.prompt_tokens == len(ids) {checks['usage']}/{k}), "
            f"text prompts {checks['text']}/{k}"
        )
        failed |= checks["token ids"] != k or checks["usage"] != k
        print()
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "server_prefix.py"),
                "--base-url",
                url,
                "--tokenizer",
                str(model),
                "--passages",
                "32",
                "--types",
                "8",
                "--concurrency",
                "32",
                "--max-new-tokens",
                "4",
            ],
            check=True,
        )
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
    raise typer.Exit(1 if failed else 0)


if __name__ == "__main__":
    typer.run(main)
