"""Prefix-cache use of a running server: the queries of a passage sent together vs shuffled.

    python benchmarks/server_prefix.py --base-url http://127.0.0.1:8080/v1 --tokenizer MODEL_DIR \\
        --slots 2 --concurrency 2

Each arm asks every (passage, entity type) query of its own passages (arms never share a
passage, so no arm profits from what another left in the cache), through the
``spacy_uniner.OpenAICompatible.v1`` backend with the same concurrency:

* ``shuffled``: the queries shuffled across passages, each sent as soon as a worker is free;
* ``grouped``: the same shuffled list handed to the backend in one call: it sends the
  queries of a passage one after another;
* ``grouped+slot``: as ``grouped``, each passage pinned to one llama.cpp slot (``id_slot``).

Each arm runs ``--repeats`` times, interleaved with the others, on fresh passages each time.
It prints passages/s (median and range) and the prompt tokens the server was sent and
actually evaluated:
llama.cpp's server reports them in ``timings.prompt_n``; for llama-cpp-python's server give
``--server-log`` (its ``--verbose`` log): the ``prompt eval time = ... / N tokens`` lines.
Answers are capped at ``--max-new-tokens`` so that prompt processing is what is timed.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional

import httpx
import typer

from spacy_uniner import protocol
from spacy_uniner.backends.openai_compat import OpenAICompatibleBackend

TYPES = ["person", "organization", "location", "date", "product", "event", "country", "miscellaneous"]
PROMPT_EVAL = re.compile(r"prompt eval time =\s*[\d.]+ ms /\s*(\d+) tokens")
DEFAULT_DATA = Path(__file__).resolve().parents[1] / "assets/embedded/data/uniner_eval/CrossNER_AI.json"


def passages(path: Path, n: int) -> List[str]:
    """The first ``n`` distinct passages of a UniNER conversation file (``Text: ...`` first turn)."""
    seen: Dict[str, None] = {}
    for record in json.loads(path.read_text(encoding="utf8")):
        seen.setdefault(record["conversations"][0]["value"].removeprefix("Text: "), None)
    texts = list(seen)
    if len(texts) < n:
        raise typer.BadParameter(f"{path} has {len(texts)} distinct passages, {n} are needed")
    return texts[:n]


def erase_slots(base_url: str, slots: int) -> None:
    """Empty llama.cpp's slots between arms (other servers have no such endpoint)."""
    root = re.sub(r"/v1/?$", "", base_url.rstrip("/"))
    for slot in range(slots):
        try:
            httpx.post(f"{root}/slots/{slot}?action=erase", timeout=30)
        except httpx.HTTPError:
            return


def log_size(path: Optional[Path]) -> int:
    return path.stat().st_size if path is not None and path.exists() else 0


def evaluated_in_log(path: Path, start: int) -> int:
    with path.open("rb") as f:
        f.seek(start)
        text = f.read().decode("utf8", errors="replace")
    return sum(int(n) for n in PROMPT_EVAL.findall(text))


def run_arm(arm: str, prompts: List[tuple], settings: Dict[str, Any], slots: int) -> Dict[str, Any]:
    """Send one arm's prompts; its seconds and the backend's token counts."""
    backend = OpenAICompatibleBackend(**settings, llamacpp_slots=slots if arm == "grouped+slot" else 0, max_retries=0)
    start = time.perf_counter()
    if arm == "shuffled":
        with ThreadPoolExecutor(backend.concurrency) as pool:
            list(pool.map(lambda p: backend.generate([p]), prompts))
    else:
        backend.generate(prompts)
    return {"seconds": time.perf_counter() - start, **backend.stats}


def main(
    base_url: str = typer.Option(..., help="The server's OpenAI base URL, ending in /v1"),
    tokenizer: str = typer.Option(..., help="The served model's tokenizer (folder or hub name)"),
    model: str = typer.Option("uniner", help="Model name sent in requests"),
    data: Path = typer.Option(DEFAULT_DATA, help="UniNER conversation JSON; its distinct passages are used"),
    passages_per_run: int = typer.Option(8, "--passages", help="Passages per arm and repeat"),
    n_types: int = typer.Option(4, "--types", help="Entity types asked per passage"),
    repeats: int = typer.Option(3, help="Runs per arm, interleaved; passages/s is their median"),
    max_new_tokens: int = typer.Option(4),
    concurrency: int = typer.Option(2),
    slots: int = typer.Option(0, help="The llama.cpp server's --parallel; 0 skips the grouped+slot arm"),
    prompt_format: str = typer.Option("tokens", help="tokens or text"),
    extra_body: str = typer.Option("{}", help="JSON object added to every request"),
    server_log: Optional[Path] = typer.Option(None, help="llama-cpp-python --verbose log to count evaluated tokens"),
    seed: int = typer.Option(0),
    output: Optional[Path] = typer.Option(None, help="Write the rows as JSON"),
) -> None:
    arms = ["shuffled", "grouped"] + (["grouped+slot"] if slots else [])
    texts = passages(data, passages_per_run * len(arms) * repeats)
    types = TYPES[:n_types]
    settings = dict(
        model=model,
        base_url=base_url,
        tokenizer=tokenizer,
        prompt_format=prompt_format,
        max_new_tokens=max_new_tokens,
        concurrency=concurrency,
        extra_body=json.loads(extra_body),
    )
    runs: Dict[str, List[Dict[str, Any]]] = {arm: [] for arm in arms}
    for r in range(repeats):
        for a, arm in enumerate(arms):
            k = (r * len(arms) + a) * passages_per_run
            prompts = [
                (protocol.passage_prefix(t), protocol.query_suffix(e))
                for t in texts[k : k + passages_per_run]
                for e in types
            ]
            random.Random(seed + k).shuffle(prompts)
            erase_slots(base_url, max(slots, 1))
            start_log = log_size(server_log)
            run = run_arm(arm, prompts, settings, slots)
            if server_log is not None:
                time.sleep(0.5)  # let the server flush its log
                run["evaluated"], run["source"] = evaluated_in_log(server_log, start_log), "server log"
            elif run.get("evaluated_prompt_tokens"):
                run["evaluated"], run["source"] = run["evaluated_prompt_tokens"], "timings.prompt_n"
            else:
                run["evaluated"] = run.get("prompt_tokens", 0) - run.get("cached_prompt_tokens", 0)
                run["source"] = "usage: prompt - cached"
            runs[arm].append(run)
    rows = []
    for arm, done in runs.items():
        rates = sorted(passages_per_run / run["seconds"] for run in done)
        rows.append(
            {
                "arm": arm,
                "queries": sum(passages_per_run * n_types for _ in done),
                "passages_per_s_median": round(statistics.median(rates), 3),
                "passages_per_s_range": [round(rates[0], 3), round(rates[-1], 3)],
                "prompt_tokens_sent": sum(run.get("prompt_tokens", 0) for run in done),
                "prompt_tokens_evaluated": sum(run["evaluated"] for run in done),
                "cached_prompt_tokens_reported": sum(run.get("cached_prompt_tokens", 0) for run in done),
                "evaluated_from": done[0]["source"],
            }
        )
    print(
        f"{base_url}: {repeats} x {passages_per_run} passages x {n_types} types per arm (no passage "
        f"twice), concurrency {concurrency}, max_new_tokens {max_new_tokens}, prompts as {prompt_format}"
    )
    print(
        f"{'arm':<14}{'queries':>8}{'passages/s (median, range)':>30}{'prompt tok sent':>17}"
        f"{'evaluated':>11}{'%':>5}{'cached (usage)':>16}  evaluated from"
    )
    for r in rows:
        rate = f"{r['passages_per_s_median']} ({r['passages_per_s_range'][0]}-{r['passages_per_s_range'][1]})"
        share = 100 * r["prompt_tokens_evaluated"] / max(r["prompt_tokens_sent"], 1)
        print(
            f"{r['arm']:<14}{r['queries']:>8}{rate:>30}{r['prompt_tokens_sent']:>17}"
            f"{r['prompt_tokens_evaluated']:>11}{share:>5.0f}{r['cached_prompt_tokens_reported']:>16}"
            f"  {r['evaluated_from']}"
        )
    if output is not None:
        output.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf8")


if __name__ == "__main__":
    typer.run(main)
