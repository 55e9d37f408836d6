"""The OpenAI-compatible backend against real llama.cpp servers (run by llamacpp_check.sh).

    python scripts/llamacpp_check.py build OUT --tokenizer tokenizer.model --convert convert_hf_to_gguf.py
    python scripts/llamacpp_check.py check --model OUT/tiny --llama-server URL \\
        --llama-cpp-python URL --slot-dir DIR

``build`` writes random-weight LLaMA-1-style folders with the given sentencepiece tokenizer
(``tiny``: float32, for the equality check; ``bench``: larger, float16, for the prefix-cache
benchmark) and converts each to GGUF with llama.cpp's own converter, at its dtype.

``answers`` compares only the answers, for another served model. ``check`` runs the
``universal_ner`` component over the same docs with the Hugging Face backend (greedy) and
with ``spacy_uniner.OpenAICompatible.v1`` against llama.cpp's ``llama-server`` and
llama-cpp-python's server, and compares every raw answer. It then
checks the ids each server evaluated against ``tokenizer(prompt).input_ids``:
``llama-server`` saves the slot (``/slots/0?action=save``, its KV-cache file holds the
tokens) and llama-cpp-python's ``/extras/tokenize`` runs the tokenization its completions
use. Exits non-zero when a token-id run differs from Hugging Face.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import httpx
import typer

from spacy_uniner import protocol

TEXTS = [
    "Barack Obama met Tim Cook in Cupertino on 3 May 2021.",
    "Ada Lovelace wrote the first program for the Analytical Engine in London.",
    "The MICR E13B font was shown to the American Bankers Association ( ABA ) in July 1956 .",
    "Zürich, 東京 and São Paulo host offices of Nestlé and Toyota.",
    "NASA launched the James Webb Space Telescope on an Ariane 5 rocket.",
    "When Siri on an iOS device is asked Do you have a pet ? , one of the responses is I used to have an AIBO .",
]
LABELS = ["person", "organization", "location", "date"]
SHAPES = {
    "tiny": dict(dtype="float32", outtype="f32"),
    "bench": dict(
        dtype="float16",
        outtype="f16",
        hidden_size=512,
        intermediate_size=1376,
        num_hidden_layers=8,
        num_attention_heads=8,
    ),
}

app = typer.Typer(no_args_is_help=True)


@app.command()
def build(
    output: Path = typer.Argument(..., help="Folder for the model folders and GGUF files"),
    tokenizer: Path = typer.Option(..., help="LLaMA sentencepiece tokenizer.model"),
    convert: Path = typer.Option(..., help="llama.cpp's convert_hf_to_gguf.py"),
) -> None:
    """Random LLaMA-1-style folders and their GGUF conversions."""
    from spacy_uniner.random_llama import build_llama1_folder

    for name, shape in SHAPES.items():
        settings = dict(shape)
        outtype = settings.pop("outtype")
        folder = output / name
        gguf = output / f"{name}-{outtype}.gguf"
        if not gguf.exists():
            build_llama1_folder(folder, tokenizer, **settings)
            cmd = [sys.executable, str(convert), str(folder), "--outfile", str(gguf), "--outtype", outtype]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
        print(f"{gguf} ({gguf.stat().st_size / 1e6:.1f} MB)")


def run_component(model_config: Dict[str, Any]) -> Dict[str, Any]:
    """The component over TEXTS: raw answers in query order, entities, backend stats; or the error."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("universal_ner", config={"labels": LABELS, "model": model_config})
    backend = nlp.get_pipe("universal_ner").model
    answers: List[str] = []
    generate = backend.generate

    def recording(prompts):
        out = generate(prompts)
        answers.extend(out)
        return out

    backend.generate = recording
    try:
        docs = list(nlp.pipe(TEXTS))
    except Exception as e:  # reported in the table: the coded error a user would meet
        return {"error": str(e).splitlines()[0][:160]}
    ents = [[(e.text, e.label_) for e in doc.ents] for doc in docs]
    return {"answers": answers, "ents": ents, "stats": dict(getattr(backend, "stats", {}))}


def hf_config(model_dir: Path, max_new_tokens: int) -> Dict[str, Any]:
    """The Hugging Face backend on the folder the GGUF came from: the reference answers."""
    return {
        "@uniner_backends": "spacy_uniner.HuggingFace.v1",
        "name": str(model_dir),
        "torch_dtype": "float32",
        "device": "cpu",
        "max_new_tokens": max_new_tokens,
        "stop_at_list_end": False,
    }


def openai_config(url: str, model_dir: Path, max_new_tokens: int, **settings) -> Dict[str, Any]:
    return {
        "@uniner_backends": "spacy_uniner.OpenAICompatible.v1",
        "base_url": url,
        "model": "uniner",
        "tokenizer": str(model_dir),
        "max_new_tokens": max_new_tokens,
        "concurrency": 1,
        "max_retries": 0,
        **settings,
    }


def saved_slot_tokens(root: str, slot_dir: Path, name: str) -> List[int]:
    """The tokens in llama-server's slot 0, from its saved state file: magic, version, n and n
    int32 that are the token ids, or (newer servers) -1, a format version, a count and the ids."""
    response = httpx.post(f"{root}/slots/0?action=save", json={"filename": name}, timeout=60)
    response.raise_for_status()
    data = (slot_dir / name).read_bytes()
    (n,) = struct.unpack_from("<I", data, 8)
    packed = list(struct.unpack_from(f"<{n}i", data, 12))
    if packed[:1] == [-1]:
        return packed[3 : 3 + packed[2]]
    return packed


def token_check_llama_server(url: str, model_dir: Path, slot_dir: Path, limit: int) -> Dict[str, Any]:
    """Per prompt: slot tokens after a token-id request and after a text request, vs HF ids."""
    from spacy_uniner.backends.openai_compat import OpenAICompatibleBackend

    root = re.sub(r"/v1/?$", "", url)
    prompts = [(protocol.passage_prefix(t), protocol.query_suffix(label)) for t in TEXTS for label in LABELS][:limit]
    result = {"prompts": len(prompts), "tokens_equal": 0, "text_equal": 0, "usage_equal": 0}
    for fmt in ("tokens", "text"):
        backend = OpenAICompatibleBackend(
            "uniner",
            base_url=url,
            tokenizer=str(model_dir),
            prompt_format=fmt,
            max_new_tokens=1,
            concurrency=1,
            llamacpp_slots=1,
            max_retries=0,
        )
        for i, (prefix, suffix) in enumerate(prompts):
            ids = backend.encode(prefix + suffix)
            before = backend.stats["prompt_tokens"]
            backend.generate([(prefix, suffix)])
            saved = saved_slot_tokens(root, slot_dir, f"{fmt}-{i}.bin")
            result[f"{fmt}_equal"] += saved[: len(ids)] == ids
            if fmt == "tokens":
                result["usage_equal"] += backend.stats["prompt_tokens"] - before == len(ids)
            elif saved[: len(ids)] != ids and "text_example" not in result:
                n = next(k for k, (a, b) in enumerate(zip(saved, ids)) if a != b)
                result["text_example"] = {"position": n, "server": saved[n : n + 3], "hf": ids[n : n + 3]}
    return result


def token_check_llama_cpp_python(url: str, model_dir: Path, limit: int) -> Dict[str, Any]:
    """Per prompt: the ids llama-cpp-python's completions use for the text prompt, vs HF ids."""
    from spacy_uniner.backends.loading import load_tokenizer

    tokenizer = load_tokenizer(str(model_dir))
    root = re.sub(r"/v1/?$", "", url)
    texts = [protocol.inference_prompt(t, label) for t in TEXTS for label in LABELS][:limit]
    equal = 0
    for text in texts:
        response = httpx.post(f"{root}/extras/tokenize", json={"input": text}, timeout=60)
        response.raise_for_status()
        equal += response.json()["tokens"] == tokenizer(text).input_ids
    return {"prompts": len(texts), "text_equal": equal}


def error_codes(url: str, model_dir: Path, work: Path, **settings) -> Dict[str, str]:
    """The codes a user meets from this server: a prompt past its context, a wrong tokenizer."""
    from spacy_uniner.backends.openai_compat import OpenAICompatibleBackend
    from spacy_uniner.random_llama import train_tokenizer

    other = work / "other-tokenizer"
    if not other.exists():
        train_tokenizer(TEXTS, vocab_size=400).save_pretrained(other)
    long_doc = [(protocol.passage_prefix(" ".join(["word"] * 2100)), protocol.query_suffix("person"))]
    short_doc = [(protocol.passage_prefix(TEXTS[0]), protocol.query_suffix("person"))]
    codes = {}
    cases = (("context exceeded", model_dir, long_doc, settings), ("other tokenizer", other, short_doc, {}))
    for case, tokenizer, prompts, extra in cases:  # the tokenizer is checked for token-id prompts
        backend = OpenAICompatibleBackend(
            "uniner", base_url=url, tokenizer=str(tokenizer), max_new_tokens=16, max_retries=0, **extra
        )
        try:
            backend.generate(prompts)
            codes[case] = "no error"
        except Exception as e:  # the code is what is checked
            found = re.search(r"\[E\d{3}\]", str(e))
            codes[case] = found.group() if found else f"{type(e).__name__} (uncoded)"
    return codes


@app.command()
def check(
    model: Path = typer.Option(..., help="The HF folder the GGUF was converted from"),
    llama_server: str = typer.Option(..., help="llama-server base URL (…/v1)"),
    llama_cpp_python: Optional[str] = typer.Option(None, help="llama-cpp-python server base URL (…/v1)"),
    slot_dir: Path = typer.Option(..., help="llama-server's --slot-save-path"),
    max_new_tokens: int = typer.Option(16),
    token_prompts: int = typer.Option(12, help="Prompts in the token-id check"),
    output: Optional[Path] = typer.Option(None, help="Write the results as JSON"),
) -> None:
    """Answers vs the Hugging Face backend, and the ids each server evaluated."""
    reference = run_component(hf_config(model, max_new_tokens))
    runs = {"llama-server, token ids (default)": openai_config(llama_server, model, max_new_tokens)}
    runs["llama-server, text"] = openai_config(llama_server, model, max_new_tokens, prompt_format="text")
    if llama_cpp_python:
        repeat = {"repeat_penalty": 1.0}
        runs["llama-cpp-python, text, repeat_penalty 1.0"] = openai_config(
            llama_cpp_python, model, max_new_tokens, prompt_format="text", extra_body=repeat
        )
        runs["llama-cpp-python, text, server defaults"] = openai_config(
            llama_cpp_python, model, max_new_tokens, prompt_format="text"
        )
        runs["llama-cpp-python, token ids"] = openai_config(llama_cpp_python, model, max_new_tokens)
    n = len(reference["answers"])
    print(
        f"Answers vs the Hugging Face backend (greedy, float32): {len(TEXTS)} docs x {len(LABELS)} "
        f"types = {n} answers, max_new_tokens {max_new_tokens}"
    )
    print(f"{'run':<44}{'equal answers':>15}{'equal ents':>12}")
    results: Dict[str, Any] = {"reference_answers": reference["answers"], "runs": {}}
    failed = False
    for name, config in runs.items():
        out = run_component(config)
        results["runs"][name] = out
        if "error" in out:
            print(f"{name:<44}  {out['error']}")
            continue
        equal = sum(a == b for a, b in zip(out["answers"], reference["answers"]))
        ents = sum(a == b for a, b in zip(out["ents"], reference["ents"]))
        print(f"{name:<44}{f'{equal}/{n}':>15}{f'{ents}/{len(TEXTS)}':>12}")
        failed |= "token ids" in name and "llama-server" in name and equal != n
    server = token_check_llama_server(llama_server, model, slot_dir, token_prompts)
    results["llama_server_ids"] = server
    k = server["prompts"]
    print(f"\nIds evaluated vs tokenizer(prompt).input_ids, {k} prompts")
    print(
        f"llama-server, token ids: saved slot tokens equal {server['tokens_equal']}/{k}, "
        f"usage.prompt_tokens == len(ids) {server['usage_equal']}/{k}"
    )
    print(
        f"llama-server, text:      saved slot tokens equal {server['text_equal']}/{k}"
        + (f" (first difference: {server['text_example']})" if "text_example" in server else "")
    )
    failed |= server["tokens_equal"] != k or server["usage_equal"] != k
    if llama_cpp_python:
        lcp = token_check_llama_cpp_python(llama_cpp_python, model, token_prompts)
        results["llama_cpp_python_ids"] = lcp
        print(f"llama-cpp-python, text:  /extras/tokenize ids equal {lcp['text_equal']}/{lcp['prompts']}")
    print("\nCoded errors from the real servers")
    servers = {"llama-server": (llama_server, {})}
    if llama_cpp_python:
        servers["llama-cpp-python"] = (llama_cpp_python, {"prompt_format": "text"})
    for name, (url, settings) in servers.items():
        codes = error_codes(url, model, slot_dir.parent, **settings)
        results[f"{name}_errors"] = codes
        print(f"{name:<18}" + ", ".join(f"{case}: {code}" for case, code in codes.items()))
        failed |= codes["context exceeded"] != "[E152]"
    if output is not None:
        output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf8")
    raise typer.Exit(1 if failed else 0)


@app.command()
def answers(
    model: Path = typer.Option(..., help="The HF folder the GGUF was converted from"),
    url: str = typer.Option(..., help="Server base URL (…/v1) serving its GGUF"),
    max_new_tokens: int = typer.Option(16),
) -> None:
    """Answers through the server (token ids) vs the Hugging Face backend, as a count."""
    reference = run_component(hf_config(model, max_new_tokens))
    out = run_component(openai_config(url, model, max_new_tokens))
    if "error" in out:
        sys.exit(out["error"])
    pairs = list(zip(out["answers"], reference["answers"]))
    equal = sum(a == b for a, b in pairs)
    print(f"{model.name}: {equal}/{len(pairs)} answers equal to the Hugging Face backend's")
    for a, b in pairs:
        if a != b:
            n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            print(f"  differs after {n} characters: server {a!r}, Hugging Face {b!r}")


if __name__ == "__main__":
    app()
