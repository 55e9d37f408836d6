"""OpenAI-compatible backend: vLLM, llama.cpp server, or any ``/v1/completions`` endpoint.

The raw UniversalNER prompt goes to the completions API (not chat), so the server sees the
byte-exact protocol string. Prompts are sent ``concurrency`` at a time; transient failures
(429, 408, 409, 5xx, timeouts, dropped connections) are retried with exponential backoff and
jitter, honouring ``Retry-After`` (:mod:`spacy_uniner.retry`). With ``cache_dir`` every answer
is appended to a JSONL :class:`~spacy_uniner.cache.ResponseCache` keyed by (model, prompt,
generation settings), so a rerun over the same docs sends nothing. The API key is read from
an environment variable and never stored.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from tqdm import tqdm

from ..cache import ResponseCache, hash_key
from ..credentials import PLACEHOLDER_KEY, api_key_from_env
from ..errors import Errors
from ..registry import registry
from ..retry import backoff_delay, classify

logger = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
CACHE_FILE = "completions.jsonl"

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


class OpenAICompatibleBackend:
    """Greedy completions from an OpenAI-compatible server, many requests in flight.

    ``stats`` counts HTTP ``requests`` (retries included), ``retries``, ``cache_hits``,
    ``duplicate_prompts`` (asked once per call), ``failures`` (prompts given up on) and the
    ``prompt_tokens``/``completion_tokens`` the server reported in ``usage``.
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
        stop: Sequence[str] = ("</s>",),
        progress: bool = False,
    ) -> None:
        for key, value in (("max_new_tokens", max_new_tokens), ("concurrency", concurrency)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(Errors.E008.format(name=key, value=value))
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(
                Errors.E105.format(name="max_retries", condition="an integer >= 0", value=max_retries)
            )
        for key, value in (("backoff", backoff), ("max_backoff", max_backoff), ("timeout", timeout)):
            if not isinstance(value, (int, float)) or value < 0 or (key == "timeout" and value == 0):
                condition = "a number > 0" if key == "timeout" else "a number >= 0"
                raise ValueError(Errors.E105.format(name=key, condition=condition, value=value))
        if isinstance(stop, str) or not all(isinstance(s, str) and s for s in stop):
            raise ValueError(Errors.E104.format(value=stop))
        explicit_url = base_url or os.environ.get("OPENAI_BASE_URL")
        self.base_url = explicit_url or OPENAI_BASE_URL
        key = api_key_from_env(api_key_env, explicit_url or None)
        self._secret = key if key != PLACEHOLDER_KEY else None
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.stop = list(stop)
        self.progress = progress
        self.cache_dir = str(cache_dir) if cache_dir is not None else None
        import openai  # imported on use: only this backend needs it

        self.client = openai.OpenAI(
            api_key=key, base_url=self.base_url, timeout=float(timeout), max_retries=0
        )
        self.cache = ResponseCache(Path(cache_dir) / CACHE_FILE) if cache_dir is not None else None
        self.tokenizer = None
        if tokenizer is not None:
            from transformers import AutoTokenizer

            try:
                self.tokenizer = AutoTokenizer.from_pretrained(tokenizer)
            except (OSError, ValueError) as e:
                raise OSError(Errors.E009.format(name=tokenizer, error=e)) from e
        self.stats: Counter = Counter()
        self._lock = threading.Lock()
        self._settings = {
            "model": model,
            "base_url": self.base_url,
            "api_key_env": api_key_env,
            "max_new_tokens": max_new_tokens,
            "stop": self.stop,
            "tokenizer": tokenizer,
            "cache_dir": self.cache_dir,
        }

    @property
    def config(self) -> Dict[str, Any]:
        return dict(self._settings)

    @property
    def params(self) -> Dict[str, Any]:
        """The generation settings sent with every prompt (part of the cache key)."""
        return {"max_tokens": self.max_new_tokens, "temperature": 0, "stop": self.stop}

    def cache_key(self, prompt: str) -> str:
        return hash_key({"model": self.model, "prompt": prompt, "params": self.params})

    def count_tokens(self, texts: List[str]) -> List[int]:
        """Tokenizer counts when ``tokenizer`` is set, else :func:`estimate_tokens`."""
        if self.tokenizer is None:
            return [estimate_tokens(text) for text in texts]
        encoded = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def generate(self, prompts: Sequence[tuple[str, str]]) -> List[str]:
        texts = [prefix + suffix for prefix, suffix in prompts]
        answers = [""] * len(texts)
        pending: Dict[str, List[int]] = {}
        for i, text in enumerate(texts):
            key = self.cache_key(text)
            record = self.cache.get(key) if self.cache is not None else None
            if record is not None:
                answers[i] = record["text"].strip()
                self.stats["cache_hits"] += 1
            elif key in pending:
                pending[key].append(i)
                self.stats["duplicate_prompts"] += 1
            else:
                pending[key] = [i]
        if pending:
            self._fetch(texts, pending, answers)
        return answers

    def _fetch(self, texts: List[str], pending: Dict[str, List[int]], answers: List[str]) -> None:
        """Ask for every pending prompt; after a failure, start no more and raise it."""
        failure: Optional[Exception] = None
        bar = tqdm(total=len(pending), desc="complete", unit="prompt", disable=not self.progress)
        with bar, ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures: Dict[Future, str] = {
                pool.submit(self._complete, key, indices[0], texts): key for key, indices in pending.items()
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
                for i in pending[futures[future]]:
                    answers[i] = text
                bar.update()
        if failure is not None:
            raise failure

    def _complete(self, key: str, index: int, texts: List[str]) -> str:
        """One prompt's answer; it is cached before it is returned."""
        response = self._request(texts[index], index, len(texts))
        if not response.choices:
            raise self._failure(index, len(texts), 1, "the response has no choices")
        choice = response.choices[0]
        if response.usage is not None:
            self._count("prompt_tokens", response.usage.prompt_tokens or 0)
            self._count("completion_tokens", response.usage.completion_tokens or 0)
        if self.cache is not None:
            record = {
                "key": key,
                "model": self.model,
                "text": choice.text,
                "finish_reason": choice.finish_reason,
            }
            self.cache.append(record, exist_ok=True)
        return choice.text.strip()

    def _request(self, prompt: str, index: int, total: int) -> Any:
        """Call the completions API, retrying transient failures with backoff and jitter."""
        import openai

        attempt = 0
        while True:
            attempt += 1
            self._count("requests")
            try:
                return self.client.completions.create(model=self.model, prompt=prompt, **self.params)
            except openai.APIError as e:
                cause = self._describe(e)
                verdict = classify(e)
                if not verdict.retryable or attempt > self.max_retries:
                    raise self._failure(index, total, attempt, cause) from None
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

    def _failure(self, index: int, total: int, attempts: int, cause: str) -> BackendRequestError:
        self._count("failures")
        message = Errors.E101.format(
            index=index,
            total=total,
            attempts=attempts,
            base_url=self.base_url,
            model=self.model,
            cause=cause,
        )
        return BackendRequestError(message, index)

    def _describe(self, error: Exception) -> str:
        """The error as text, without the API key."""
        cause = f"{type(error).__name__}: {error}"
        return cause.replace(self._secret, "***") if self._secret else cause

    def _count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.stats[name] += amount


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
    stop: Sequence[str] = ("</s>",),
    progress: bool = False,
) -> OpenAICompatibleBackend:
    """A served model behind an OpenAI-compatible completions endpoint (greedy decoding)."""
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
        stop=stop,
        progress=progress,
    )
