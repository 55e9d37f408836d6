"""OpenAI-compatible backend: vLLM, llama.cpp server, or any ``/v1/completions`` endpoint.

The UniversalNER prompt goes to the completions API (not chat). With a tokenizer (the
``tokenizer`` setting, else the ``model`` name when it loads locally) each prompt is sent
as the token ids the model's own tokenizer gives it, ``tokenizer(prompt).input_ids``, so the
turn separator ``</s>`` reaches the model as its EOS id whatever the server's text handling;
before the first request the server's ``/tokenize`` endpoint (llama.cpp, vLLM,
llama-cpp-python) is asked for the ids of a probe string, and a different tokenizer is an
error. Without one, or with ``prompt_format="text"``, the byte-exact protocol string is sent.

Requests go out grouped by passage, so the queries of one passage follow each other and a
server's prefix cache (llama.cpp's ``cache_prompt``, vLLM's automatic prefix caching)
serves the shared passage prefix; with ``llamacpp_slots`` the queries of a passage are also
pinned to one llama.cpp slot (``id_slot``). Prompts are sent ``concurrency`` at a time;
transient failures (429, 408, 409, 5xx, timeouts, dropped connections) are retried with
exponential backoff and jitter, honouring ``Retry-After`` (:mod:`spacy_uniner.retry`). With
``cache_dir`` every answer is appended to a JSONL :class:`~spacy_uniner.cache.ResponseCache`
keyed by (model, prompt or its ids, generation settings), so a rerun over the same docs
sends nothing. The API key is read from an environment variable and never stored.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
import warnings
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from tqdm import tqdm

from ..cache import ResponseCache, hash_key
from ..credentials import PLACEHOLDER_KEY, api_key_from_env
from ..errors import Errors, Warnings
from ..registry import registry
from ..retry import backoff_delay, classify
from .loading import load_tokenizer

logger = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
CACHE_FILE = "completions.jsonl"
PROMPT_FORMATS = ("auto", "tokens", "text")
# Tokenized here and by the server before the first token-id prompt: protocol words,
# digits, punctuation and non-ASCII text, so that two different vocabularies disagree.
PROBE = 'USER: What describes city in the text? ASSISTANT: ["Zürich", "São Paulo", "東京", 2023]'
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
    """A prompt that still failed after all retries (or failed permanently)."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


@dataclass
class _Prompt:
    """One distinct prompt to send: what goes in the request, its passage group, and the
    positions of the answers it fills."""

    key: str
    prompt: Union[str, List[int]]
    group: int
    indices: List[int]


class OpenAICompatibleBackend:
    """Greedy completions from an OpenAI-compatible server, many requests in flight.

    ``prompt_format`` is ``"auto"`` (token ids when a tokenizer loads, else text),
    ``"tokens"`` or ``"text"``. ``llamacpp_slots`` (the ``--parallel`` of a llama.cpp
    server) pins the queries of each passage to one slot with ``cache_prompt``.
    ``extra_body`` adds server-specific fields to every request (and to the cache key), e.g.
    ``{"repeat_penalty": 1.0}`` for llama-cpp-python, whose server otherwise penalises
    repeats (1.1) before its greedy pick.

    ``stats`` counts HTTP ``requests`` (retries included), ``retries``, ``cache_hits``,
    ``duplicate_prompts`` (asked once per call), ``failures`` (prompts given up on), the
    ``prompt_tokens``/``completion_tokens`` the server reported in ``usage``, the
    ``cached_prompt_tokens`` it reported as served from its prefix cache, and, from
    llama.cpp's ``timings``, the ``evaluated_prompt_tokens`` it computed.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: Optional[str] = None,
        api_key_env: str = "OPENAI_API_KEY",
        max_new_tokens: int = 256,
        concurrency: int = 8,
        max_retries: int = 5,
        timeout: float = 120.0,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        cache_dir: Optional[Union[str, Path]] = None,
        tokenizer: Optional[str] = None,
        prompt_format: str = "auto",
        llamacpp_slots: int = 0,
        extra_body: Optional[Dict[str, Any]] = None,
        stop: Sequence[str] = ("</s>",),
        progress: bool = False,
    ) -> None:
        for key, value in (("max_new_tokens", max_new_tokens), ("concurrency", concurrency)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(Errors.E008.format(name=key, value=value))
        for key, value in (("max_retries", max_retries), ("llamacpp_slots", llamacpp_slots)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(Errors.E105.format(name=key, condition="an integer >= 0", value=value))
        for key, value in (("backoff", backoff), ("max_backoff", max_backoff), ("timeout", timeout)):
            if not isinstance(value, (int, float)) or value < 0 or (key == "timeout" and value == 0):
                condition = "a number > 0" if key == "timeout" else "a number >= 0"
                raise ValueError(Errors.E105.format(name=key, condition=condition, value=value))
        if isinstance(stop, str) or not all(isinstance(s, str) and s for s in stop):
            raise ValueError(Errors.E104.format(value=stop))
        if prompt_format not in PROMPT_FORMATS:
            raise ValueError(Errors.E155.format(value=prompt_format))
        explicit_url = base_url or os.environ.get("OPENAI_BASE_URL")
        self.base_url = explicit_url or OPENAI_BASE_URL
        key = api_key_from_env(api_key_env, explicit_url or None)
        self._secret = key if key != PLACEHOLDER_KEY else None
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = float(timeout)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.llamacpp_slots = llamacpp_slots
        self.extra_body = dict(extra_body or {})
        self.stop = list(stop)
        self.progress = progress
        self.cache_dir = str(cache_dir) if cache_dir is not None else None
        import openai  # imported on use: only this backend needs it

        self.client = openai.OpenAI(
            api_key=key, base_url=self.base_url, timeout=self.timeout, max_retries=0
        )
        self.cache = ResponseCache(Path(cache_dir) / CACHE_FILE) if cache_dir is not None else None
        self.tokenizer_name = tokenizer if tokenizer is not None else model
        self.tokenizer = self._load_tokenizer(tokenizer, prompt_format)
        self.send_tokens = self.tokenizer is not None and prompt_format != "text"
        self._tokenizer_checked = False
        self.stats: Counter = Counter()
        self._lock = threading.Lock()
        self._settings = {
            "model": model,
            "base_url": self.base_url,
            "api_key_env": api_key_env,
            "max_new_tokens": max_new_tokens,
            "stop": self.stop,
            "tokenizer": tokenizer,
            "prompt_format": prompt_format,
            "llamacpp_slots": llamacpp_slots,
            "extra_body": extra_body,
            "cache_dir": self.cache_dir,
        }

    def _load_tokenizer(self, name: Optional[str], prompt_format: str) -> Any:
        """The given tokenizer; else, unless prompts go as text, the model's if it is local."""
        if name is not None:
            return load_tokenizer(name)
        if prompt_format == "text":
            return None
        try:
            return load_tokenizer(self.model, local_files_only=True)
        except OSError as e:
            if prompt_format == "tokens":
                raise OSError(Errors.E156.format(name=self.model)) from e
        warnings.warn(Warnings.W150.format(model=self.model))
        return None

    @property
    def config(self) -> Dict[str, Any]:
        return dict(self._settings)

    @property
    def params(self) -> Dict[str, Any]:
        """The generation settings sent with every prompt (part of the cache key)."""
        return {"max_tokens": self.max_new_tokens, "temperature": 0, "stop": self.stop}

    def cache_key(self, prompt: Union[str, List[int]]) -> str:
        field = "prompt_ids" if isinstance(prompt, list) else "prompt"
        key = {"model": self.model, field: prompt, "params": self.params}
        if self.extra_body:
            key["extra_body"] = self.extra_body
        return hash_key(key)

    def encode(self, text: str) -> List[int]:
        """The ids the model was trained on for ``text``: its tokenizer, special tokens added."""
        return list(self.tokenizer(text)["input_ids"])

    def count_tokens(self, texts: List[str], add_special_tokens: bool = False) -> List[int]:
        """Tokenizer counts when a tokenizer is loaded, else :func:`estimate_tokens` (plus
        one for BOS with ``add_special_tokens``)."""
        if self.tokenizer is None:
            return [estimate_tokens(text) + int(add_special_tokens) for text in texts]
        encoded = self.tokenizer(texts, add_special_tokens=add_special_tokens)["input_ids"]
        return [len(ids) for ids in encoded]

    def generate(self, prompts: Sequence[tuple[str, str]]) -> List[str]:
        answers = [""] * len(prompts)
        pending: Dict[str, _Prompt] = {}
        groups: Dict[str, int] = {}
        for i, (prefix, suffix) in enumerate(prompts):
            prompt = self.encode(prefix + suffix) if self.send_tokens else prefix + suffix
            key = self.cache_key(prompt)
            record = self.cache.get(key) if self.cache is not None else None
            if record is not None:
                answers[i] = record["text"].strip()
                self.stats["cache_hits"] += 1
            elif key in pending:
                pending[key].indices.append(i)
                self.stats["duplicate_prompts"] += 1
            else:
                pending[key] = _Prompt(key, prompt, groups.setdefault(prefix, len(groups)), [i])
        if pending:
            if self.send_tokens and not self._tokenizer_checked:
                self._check_tokenizer()
            # Grouped by passage (stable): a passage's queries follow each other.
            order = sorted(pending.values(), key=lambda p: p.group)
            self._fetch(order, answers, len(prompts))
        return answers

    def _check_tokenizer(self) -> None:
        """Compare the ids of :data:`PROBE` here and on the server (E153 if they differ)."""
        import httpx

        root = re.sub(r"/v1/?$", "", self.base_url.rstrip("/"))
        body = {"model": self.model, "prompt": PROBE, "content": PROBE, "input": PROBE,
                "add_special_tokens": False, "add_special": False}  # vLLM, llama.cpp, llama-cpp-python
        headers = {"Authorization": f"Bearer {self.client.api_key}"}
        served = None
        for path in TOKENIZE_PATHS:
            try:
                response = httpx.post(root + path, json=body, headers=headers, timeout=self.timeout)
            except httpx.HTTPError:
                return  # an unreachable server is reported by the first request (E150)
            if response.status_code == 200:
                served = response.json().get("tokens")
                break
        self._tokenizer_checked = True
        if not isinstance(served, list):
            warnings.warn(Warnings.W151.format(base_url=self.base_url, tokenizer=self.tokenizer_name))
            return
        local = self.tokenizer(PROBE, add_special_tokens=False)["input_ids"]
        bos = self.tokenizer.bos_token_id
        if served[:1] == [bos] and local[:1] != [bos]:
            served = served[1:]  # llama-cpp-python's endpoint always adds BOS
        if served != local:
            raise ValueError(
                Errors.E153.format(
                    tokenizer=self.tokenizer_name,
                    base_url=self.base_url,
                    probe=PROBE,
                    local=local,
                    served=served,
                )
            )

    def _fetch(self, order: List[_Prompt], answers: List[str], total: int) -> None:
        """Ask for every pending prompt in ``order``; after a failure, start no more and raise it."""
        failure: Optional[Exception] = None
        bar = tqdm(total=len(order), desc="complete", unit="prompt", disable=not self.progress)
        with bar, ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures: Dict[Future, _Prompt] = {
                pool.submit(self._complete, item, total): item for item in order
            }
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
                for i in futures[future].indices:
                    answers[i] = text
                bar.update()
        if failure is not None:
            raise failure

    def _complete(self, item: _Prompt, total: int) -> str:
        """One prompt's answer; it is cached before it is returned."""
        response = self._request(item, total)
        if not response.choices:
            raise self._failure(Errors.E101, item.indices[0], total, 1, "the response has no choices")
        choice = response.choices[0]
        usage = response.usage
        if usage is not None:
            self._count("prompt_tokens", usage.prompt_tokens or 0)
            self._count("completion_tokens", usage.completion_tokens or 0)
            details = getattr(usage, "prompt_tokens_details", None)
            self._count("cached_prompt_tokens", getattr(details, "cached_tokens", None) or 0)
        timings = (response.model_extra or {}).get("timings")
        if isinstance(timings, dict) and "prompt_n" in timings:
            self._count("evaluated_prompt_tokens", int(timings["prompt_n"]))
        if self.cache is not None:
            record = {
                "key": item.key,
                "model": self.model,
                "text": choice.text,
                "finish_reason": choice.finish_reason,
            }
            self.cache.append(record, exist_ok=True)
        return choice.text.strip()

    def _extra_body(self, item: _Prompt) -> Optional[Dict[str, Any]]:
        """``extra_body``, plus the llama.cpp slot of the prompt's passage."""
        if not self.llamacpp_slots:
            return self.extra_body or None
        return {**self.extra_body, "cache_prompt": True, "id_slot": item.group % self.llamacpp_slots}

    def _request(self, item: _Prompt, total: int) -> Any:
        """Call the completions API, retrying transient failures with backoff and jitter."""
        import openai

        index = item.indices[0]
        attempt = 0
        while True:
            attempt += 1
            self._count("requests")
            try:
                return self.client.completions.create(
                    model=self.model, prompt=item.prompt, extra_body=self._extra_body(item), **self.params
                )
            except openai.APIError as e:
                cause = self._describe(e)
                verdict = classify(e)
                if not verdict.retryable or attempt > self.max_retries or self._rejects_ids(e, item):
                    raise self._permanent(e, item, total, attempt, cause) from None
                delay = backoff_delay(attempt - 1, self.backoff, self.max_backoff, verdict.retry_after)
                self._count("retries")
                logger.info(
                    "Prompt %d: attempt %d/%d failed (%s); retrying in %.2f s",
                    index,
                    attempt,
                    self.max_retries + 1,
                    cause,
                    delay,
                )
                time.sleep(delay)

    def _permanent(
        self, error: Exception, item: _Prompt, total: int, attempts: int, cause: str
    ) -> BackendRequestError:
        """The coded error for a request given up on: what users meet gets its own code."""
        import openai

        index = item.indices[0]
        status = getattr(error, "status_code", None)
        detail = _detail(error).lower()
        if isinstance(error, openai.APIConnectionError) and not isinstance(error, openai.APITimeoutError):
            return self._failure(Errors.E150, index, total, attempts, cause)
        if status == 404 and "model" in detail:
            message = Errors.E151.format(
                base_url=self.base_url, model=self.model, cause=cause, served=self._served_models()
            )
            return self._failed(message, index)
        if status in (400, 413, 422) and CONTEXT_EXCEEDED.search(detail):
            n = len(item.prompt) if isinstance(item.prompt, list) else estimate_tokens(item.prompt)
            message = Errors.E152.format(
                index=index,
                tokens=n,
                max_new_tokens=self.max_new_tokens,
                base_url=self.base_url,
                cause=cause,
            )
            return self._failed(message, index)
        if self._rejects_ids(error, item):
            cause = self._describe(f"{type(error).__name__}: {_detail(error)}")
            return self._failed(Errors.E154.format(base_url=self.base_url, cause=cause), index)
        return self._failure(Errors.E101, index, total, attempts, cause)

    @staticmethod
    def _rejects_ids(error: Exception, item: _Prompt) -> bool:
        """A server that validates ``prompt`` as text only (llama-cpp-python answers 500)."""
        detail = _detail(error).lower()
        return (
            isinstance(item.prompt, list)
            and getattr(error, "status_code", None) in (400, 422, 500)
            and "prompt" in detail
            and "string" in detail
        )

    def _served_models(self) -> str:
        """The model names the server lists, for E151."""
        try:
            return ", ".join(repr(m.id) for m in self.client.models.list()) or "none listed"
        except Exception as e:  # the listing only decorates the error being raised
            return f"unknown ({type(e).__name__} from GET /models)"

    def _failure(self, template: str, index: int, total: int, attempts: int, cause: str) -> BackendRequestError:
        message = template.format(
            index=index,
            total=total,
            attempts=attempts,
            base_url=self.base_url,
            model=self.model,
            cause=cause,
        )
        return self._failed(message, index)

    def _failed(self, message: str, index: int) -> BackendRequestError:
        self._count("failures")
        return BackendRequestError(message, index)

    def _describe(self, error: Union[Exception, str]) -> str:
        """The error as text, without the API key."""
        cause = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return cause.replace(self._secret, "***") if self._secret else cause

    def _count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.stats[name] += amount


def _detail(error: Exception) -> str:
    """The error's message, with the response body when the message leaves it out (FastAPI's
    422 ``detail`` lists, for one)."""
    body = getattr(error, "body", None)
    if body is None or (isinstance(body, dict) and "message" in body):
        return str(error)
    return f"{error} {body}"


@registry.uniner_backends("spacy_uniner.OpenAICompatible.v1")
def make_openai_backend(
    model: str = "Universal-NER/UniNER-7B-type",
    base_url: Optional[str] = None,
    api_key_env: str = "OPENAI_API_KEY",
    max_new_tokens: int = 256,
    concurrency: int = 8,
    max_retries: int = 5,
    timeout: float = 120.0,
    backoff: float = 1.0,
    max_backoff: float = 60.0,
    cache_dir: Optional[str] = None,
    tokenizer: Optional[str] = None,
    prompt_format: str = "auto",
    llamacpp_slots: int = 0,
    extra_body: Optional[Dict[str, Any]] = None,
    stop: Sequence[str] = ("</s>",),
    progress: bool = False,
) -> OpenAICompatibleBackend:
    """A served model behind an OpenAI-compatible completions endpoint (greedy decoding).

    Prompts go as token ids of ``tokenizer`` (default: the ``model`` name, when it loads
    locally) unless ``prompt_format`` is ``"text"``; see :class:`OpenAICompatibleBackend`.
    """
    return OpenAICompatibleBackend(
        model,
        base_url=base_url,
        api_key_env=api_key_env,
        max_new_tokens=max_new_tokens,
        concurrency=concurrency,
        max_retries=max_retries,
        timeout=timeout,
        backoff=backoff,
        max_backoff=max_backoff,
        cache_dir=cache_dir,
        tokenizer=tokenizer,
        prompt_format=prompt_format,
        llamacpp_slots=llamacpp_slots,
        extra_body=extra_body,
        stop=stop,
        progress=progress,
    )
