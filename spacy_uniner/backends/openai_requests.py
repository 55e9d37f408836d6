"""The request side of the OpenAI-compatible backend: distinct prompts grouped by passage,
sent from a thread pool; the tokenizer probe; the coded errors of failed requests."""

from __future__ import annotations

import math
import re
import warnings
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Sequence, Union

from tqdm import tqdm

from .. import protocol
from ..errors import Errors, Warnings

# Tokenized here and by the server before the first token-id prompt: protocol words,
# digits, punctuation and non-ASCII text, so that two different vocabularies disagree.
PROBE = protocol.query_suffix("city") + ' ["Zürich", "São Paulo", "東京", 2023]'
# Tokenize endpoints relative to the server root: llama.cpp and vLLM, llama-cpp-python.
TOKENIZE_PATHS = ("/tokenize", "/extras/tokenize")
# Context overflow as worded by vLLM, llama.cpp's server, llama-cpp-python and OpenAI.
CONTEXT_EXCEEDED = re.compile(
    r"context length|context window|context size|maximum context|max_model_len|exceed_context",
    re.I,
)
# Upper-bound-leaning token estimate used without a tokenizer: runs of ASCII letters
# cost one token per 3 letters (LLaMA's BPE averages ~4), a single space nothing (it is
# merged into the next word), every other character one token per UTF-8 byte (digits are
# split one by one; rare non-ASCII characters fall back to bytes).
_PIECES = re.compile(r"[A-Za-z]+| |.", re.S)


def estimate_tokens(text: str) -> int:
    """A conservative token count for LLaMA-style tokenizers (see ``_PIECES``)."""
    total = 0
    for match in _PIECES.finditer(text):
        piece = match.group()
        if piece == " ":
            continue
        if piece.isascii() and piece.isalpha():
            total += math.ceil(len(piece) / 3)
        else:
            total += len(piece.encode("utf8"))
    return total


class BackendRequestError(RuntimeError):
    """A prompt that still failed after the client's retries (or failed permanently).
    ``answers`` holds the answers received before it, by prompt index."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index
        self.answers: Dict[int, str] = {}


@dataclass
class Prompt:
    """One distinct prompt: what is sent, its passage group (request order, llama.cpp slot)
    and the positions of the answers it fills."""

    prompt: Union[str, List[int]]
    group: int
    indices: List[int]


def distinct_prompts(prompts: Sequence[tuple[str, str]], encode: Callable[[str], Any]) -> List[Prompt]:
    """The distinct prompts as ``encode`` sends them, grouped by passage (stable), so that
    the queries of one passage follow each other."""
    distinct: Dict[Any, Prompt] = {}
    groups: Dict[str, int] = {}
    for i, (prefix, suffix) in enumerate(prompts):
        sent = encode(prefix + suffix)
        key = tuple(sent) if isinstance(sent, list) else sent
        if key in distinct:
            distinct[key].indices.append(i)
        else:
            distinct[key] = Prompt(sent, groups.setdefault(prefix, len(groups)), [i])
    return sorted(distinct.values(), key=lambda p: p.group)


def send_all(
    items: List[Prompt], complete: Callable[[Prompt], str], concurrency: int, progress: bool
) -> Dict[int, str]:
    """``complete(item)`` for every item, ``concurrency`` at a time, submitted in order; the
    answers by prompt index. After a failure no more are started and the first one is
    raised, with the answers received as its ``answers``."""
    answers: Dict[int, str] = {}
    failure: Exception | None = None
    bar = tqdm(total=len(items), desc="complete", unit="prompt", disable=not progress)
    with bar, ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures: Dict[Future, Prompt] = {pool.submit(complete, item): item for item in items}
        for future in as_completed(futures):
            if future.cancelled():
                continue
            try:
                text = future.result()
            except Exception as e:  # any error stops the batch: start no more requests
                if failure is None:
                    failure = e
                    for other in futures:
                        other.cancel()
                continue
            answers.update((i, text) for i in futures[future].indices)
            bar.update()
    if failure is not None:
        if isinstance(failure, BackendRequestError):
            failure.answers = answers
        raise failure
    return answers


def check_tokenizer(tokenizer: Any, name: str, base_url: str, model: str, api_key: str, timeout: float) -> bool:
    """Compare the ids of :data:`PROBE` here and on the server (E153 if they differ, W151
    without a /tokenize endpoint); False if the server is unreachable (not checked yet)."""
    import httpx

    root = re.sub(r"/v1/?$", "", base_url.rstrip("/"))
    body = {
        "model": model,
        "prompt": PROBE,
        "content": PROBE,
        "input": PROBE,
        "add_special_tokens": False,
        "add_special": False,
    }  # vLLM, llama.cpp, llama-cpp-python
    served = None
    for path in TOKENIZE_PATHS:
        try:
            response = httpx.post(
                root + path, json=body, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout
            )
        except httpx.HTTPError:
            return False  # an unreachable server is reported by the first request (E150)
        if response.status_code == 200:
            served = response.json().get("tokens")
            break
    if not isinstance(served, list):
        warnings.warn(Warnings.W151.format(base_url=base_url, tokenizer=name), stacklevel=2)
        return True
    local = tokenizer(PROBE, add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    if served[:1] == [bos] and local[:1] != [bos]:
        served = served[1:]  # llama-cpp-python's endpoint always adds BOS
    if served != local:
        raise ValueError(Errors.E153.format(tokenizer=name, base_url=base_url, probe=PROBE, local=local, served=served))
    return True


def rejects_ids(detail: str) -> bool:
    """A server that validates ``prompt`` as text only (llama-cpp-python, with a 500)."""
    detail = detail.lower()
    return "prompt" in detail and "string" in detail


def no_retry_for_rejected_ids(response: Any) -> None:
    """An httpx response hook: the 500 of a server that takes no token ids is permanent, so
    the client is told not to retry it (``x-should-retry``, which the client honours)."""
    if response.status_code >= 500:
        response.read()
        if rejects_ids(response.text):
            response.headers["x-should-retry"] = "false"


def coded_error(error: Exception, item: Prompt, total: int, attempts: int, backend: Any) -> BackendRequestError:
    """The coded error for a request given up on (``backend``: the OpenAICompatibleBackend);
    what users meet gets its own code, the rest is E101."""
    import openai

    index, status, detail = item.indices[0], getattr(error, "status_code", None), _detail(error)
    cause = backend.scrub(f"{type(error).__name__}: {error}")
    fields = dict(index=index, total=total, attempts=attempts, base_url=backend.base_url, model=backend.model)
    if isinstance(error, openai.APIConnectionError) and not isinstance(error, openai.APITimeoutError):
        message = Errors.E150.format(**fields, cause=cause)
    elif status == 404 and "model" in detail.lower():
        message = Errors.E151.format(**fields, cause=cause, served=backend.served_models())
    elif status in (400, 413, 422) and CONTEXT_EXCEEDED.search(detail):
        n = len(item.prompt) if isinstance(item.prompt, list) else estimate_tokens(item.prompt)
        message = Errors.E152.format(**fields, tokens=n, max_new_tokens=backend.max_new_tokens, cause=cause)
    elif isinstance(item.prompt, list) and status in (400, 422, 500) and rejects_ids(detail):
        cause = backend.scrub(f"{type(error).__name__}: {detail}")
        message = Errors.E154.format(base_url=backend.base_url, cause=cause)
    else:
        message = Errors.E101.format(**fields, cause=cause)
    return BackendRequestError(message, index)


def _detail(error: Exception) -> str:
    """The error's message, with the response body when the message leaves it out (FastAPI's
    422 ``detail`` lists, for one)."""
    body = getattr(error, "body", None)
    if body is None or (isinstance(body, dict) and "message" in body):
        return str(error)
    return f"{error} {body}"
