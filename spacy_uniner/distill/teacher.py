"""The LLM teacher: the paper's annotation prompts sent through the ``openai`` client.

Any OpenAI-compatible server works (OpenAI, Azure, vLLM, llama.cpp server): set the
model, the ``base_url`` and the environment variable that holds the key. Requests run
concurrently in a thread pool; transient failures are retried by the ``openai`` client and
counted at its HTTP boundary (:mod:`spacy_uniner.retry`), and every answer is appended to
a :class:`ResponseCache` by a single writer, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Literal, Mapping

import openai
from tqdm import tqdm

from ..cache import ResponseCache, hash_key
from ..credentials import api_key_from_env
from ..errors import Errors, Warnings
from ..retry import RequestCounter, openai_client
from .teacher_output import TeacherOutputError, parse_teacher_output

Variant = Literal["type", "definition"]

SYSTEM_MESSAGE = "You are a helpful information extraction system."
TYPE_INSTRUCTION = (
    "Given a passage, your task is to extract all entities and identify their entity types. "
    "The output should be in a list of tuples of the following format: "
    '[("entity 1", "type of entity 1"), ... ].'
)
DEFINITION_INSTRUCTION = (
    "Given a paragraph, your task is to extract all entities and concepts, and define their "
    "type using a short sentence. The output should be in the following format: "
    '[("entity", "definition of entity type in a short sentence"), ... ]'
)
INSTRUCTIONS: dict[str, str] = {"type": TYPE_INSTRUCTION, "definition": DEFINITION_INSTRUCTION}
PASSAGE_LINE = "\nPassage: "


def teacher_messages(passage: str, variant: Variant = "type") -> list[dict[str, str]]:
    """Chat messages asking the teacher for the (entity, type) pairs of one passage."""
    if variant not in INSTRUCTIONS:
        raise ValueError(Errors.E501.format(variant=variant, choices=sorted(INSTRUCTIONS)))
    return [
        {"role": "system", "content": SYSTEM_MESSAGE},
        {"role": "user", "content": INSTRUCTIONS[variant] + PASSAGE_LINE + passage},
    ]


@dataclass
class TeacherConfig:
    """Who the teacher is and how hard to push it. The key itself is never stored."""

    model: str = "gpt-3.5-turbo-0301"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    variant: Variant = "type"
    temperature: float = 0.0
    max_tokens: int = 1024
    timeout: float = 60.0
    concurrency: int = 8
    max_retries: int = 6
    max_passages: int | None = None
    max_total_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.variant not in INSTRUCTIONS:
            raise ValueError(Errors.E501.format(variant=self.variant, choices=sorted(INSTRUCTIONS)))
        if self.concurrency < 1:
            raise ValueError(Errors.E008.format(name="concurrency", what="a positive integer", value=self.concurrency))
        if self.max_retries < 0:
            raise ValueError(Errors.E008.format(name="max_retries", what="an integer >= 0", value=self.max_retries))

    def params(self) -> dict[str, Any]:
        """Generation parameters: part of the cache key."""
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}


def make_client(config: TeacherConfig, counter: RequestCounter) -> openai.OpenAI:
    """An ``openai`` client that retries ``config.max_retries`` times, its requests counted by
    ``counter``; the key comes from the environment variable ``config.api_key_env`` (empty:
    send a placeholder, for local servers)."""
    key = api_key_from_env(config.api_key_env, config.base_url)
    return openai_client(
        api_key=key, base_url=config.base_url, timeout=config.timeout, max_retries=config.max_retries, counter=counter
    )


@dataclass
class AnnotateSummary:
    """Counts of one annotation run."""

    passages: int = 0
    repeated_passages: int = 0
    cached: int = 0
    requested: int = 0
    http_requests: int = 0
    retries: int = 0
    retry_reasons: Counter = field(default_factory=Counter)
    kept: int = 0
    malformed: int = 0
    failed: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    not_started: int = 0
    budget_stop: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["retry_reasons"] = dict(self.retry_reasons)
        data["seconds"] = round(self.seconds, 2)
        return data


@dataclass
class _Outcome:
    text: str | None = None
    finish_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    retry_reasons: list[str] = field(default_factory=list)
    error: str | None = None


class Teacher:
    """Annotates passages through an OpenAI-compatible chat API, caching every answer."""

    def __init__(self, config: TeacherConfig):
        self.config = config
        self.http = RequestCounter()
        self.client = make_client(config, self.http)

    def key(self, passage: str) -> str:
        """Hash of everything that determines the teacher's answer: prompt, model, parameters."""
        cfg = self.config
        messages = teacher_messages(passage, cfg.variant)
        return hash_key({"messages": messages, "model": cfg.model, "params": cfg.params()})

    def annotate(
        self,
        passages: Iterable[Mapping[str, str]],
        cache: ResponseCache,
        progress: bool = True,
    ) -> AnnotateSummary:
        """Request every passage (``{"id", "text"}`` rows) that the cache lacks, within budget."""
        cfg = self.config
        summary = AnnotateSummary()
        pending: list[tuple[str, Mapping[str, str]]] = []
        queued: set[str] = set()
        for i, row in enumerate(passages):
            if not isinstance(row.get("text"), str):
                raise ValueError(Errors.E502.format(index=i, id=row.get("id")))
            summary.passages += 1
            key = self.key(row["text"])
            if key in cache:
                summary.cached += 1
            elif key in queued:
                summary.repeated_passages += 1
            else:
                queued.add(key)
                pending.append((key, row))
        if cfg.max_passages is not None and len(pending) > cfg.max_passages:
            summary.not_started = len(pending) - cfg.max_passages
            summary.budget_stop = f"max_passages={cfg.max_passages}"
            pending = pending[: cfg.max_passages]
        start = time.perf_counter()
        todo = iter(pending)
        in_flight: dict[Future, tuple[str, Mapping[str, str]]] = {}
        bar = tqdm(total=len(pending), desc="teacher", unit="psg", disable=not progress)
        pool = ThreadPoolExecutor(max_workers=cfg.concurrency)

        def submit_next() -> None:
            if cfg.max_total_tokens is not None:
                used = summary.prompt_tokens + summary.completion_tokens
                if used >= cfg.max_total_tokens:
                    summary.budget_stop = f"max_total_tokens={cfg.max_total_tokens}"
                    return
            item = next(todo, None)
            if item is not None:
                in_flight[pool.submit(self._request, item[1]["text"])] = item

        try:
            for _ in range(cfg.concurrency):
                submit_next()
            while in_flight:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    key, row = in_flight.pop(future)
                    self._record(key, row, future.result(), cache, summary)
                    bar.update(1)
                    elapsed = max(time.perf_counter() - start, 1e-9)
                    bar.set_postfix(
                        tok_in=summary.prompt_tokens,
                        tok_out=summary.completion_tokens,
                        tok_s=f"{(summary.prompt_tokens + summary.completion_tokens) / elapsed:.0f}",
                        retries=summary.retries,
                        bad=summary.malformed + summary.failed,
                        refresh=False,
                    )
                    submit_next()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
        summary.not_started += sum(1 for _ in todo)
        summary.seconds = time.perf_counter() - start
        return summary

    def collect(self, passages: Iterable[Mapping[str, str]], cache: ResponseCache) -> tuple[list[dict[str, Any]], int]:
        """The cached records of ``passages`` in their order, and how many have none."""
        records, missing = [], 0
        for row in passages:
            record = cache.get(self.key(row["text"]))
            if record is None:
                missing += 1
            else:
                records.append({**record, "id": row.get("id", record.get("id"))})
        return records, missing

    def _record(
        self,
        key: str,
        row: Mapping[str, str],
        outcome: _Outcome,
        cache: ResponseCache,
        summary: AnnotateSummary,
    ) -> None:
        summary.requested += 1
        summary.http_requests += outcome.attempts
        summary.retries += len(outcome.retry_reasons)
        summary.retry_reasons.update(outcome.retry_reasons)
        summary.prompt_tokens += outcome.usage.get("prompt_tokens", 0)
        summary.completion_tokens += outcome.usage.get("completion_tokens", 0)
        if outcome.text is None:
            summary.failed += 1
            summary.failures.append({"id": str(row.get("id", "")), "error": outcome.error or ""})
            warnings.warn(Warnings.W501.format(id=row.get("id"), error=outcome.error), stacklevel=2)
            return
        error = None
        try:
            parse_teacher_output(outcome.text)
        except TeacherOutputError as err:
            truncated = " (finish_reason=length)" if outcome.finish_reason == "length" else ""
            error = f"unparseable{truncated}: {err}"
            summary.malformed += 1
        else:
            summary.kept += 1
        cache.append(
            {
                "key": key,
                "id": row.get("id"),
                "text": row["text"],
                "variant": self.config.variant,
                "model": self.config.model,
                "params": self.config.params(),
                "response": outcome.text,
                "finish_reason": outcome.finish_reason,
                "usage": outcome.usage,
                "attempts": outcome.attempts,
                "error": error,
            }
        )

    def _request(self, passage: str) -> _Outcome:
        """One passage: call the API (the client retries transient failures)."""
        cfg = self.config
        outcome = _Outcome()
        with self.http.call() as attempts:
            try:
                response = self.client.chat.completions.create(
                    model=cfg.model,
                    messages=teacher_messages(passage, cfg.variant),
                    temperature=cfg.temperature,
                    max_tokens=cfg.max_tokens,
                )
            except Exception as err:  # failed after the client's retries, or unreadable: counted
                outcome.error = f"{type(err).__name__}: {_short(err)}"
                response = None
        outcome.attempts = len(attempts)
        outcome.retry_reasons = attempts[:-1]
        if response is None:
            return outcome
        if response.usage is not None:
            outcome.usage = {
                "prompt_tokens": response.usage.prompt_tokens or 0,
                "completion_tokens": response.usage.completion_tokens or 0,
            }
        choice = response.choices[0] if response.choices else None
        outcome.text = (choice.message.content if choice else None) or ""
        outcome.finish_reason = choice.finish_reason if choice else None
        return outcome


def _short(err: Exception, limit: int = 200) -> str:
    text = str(err)
    return text if len(text) <= limit else text[:limit] + "..."
