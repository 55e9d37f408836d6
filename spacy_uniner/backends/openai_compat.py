"""OpenAI-compatible backend: vLLM, llama.cpp server, or any ``/v1/completions`` endpoint.

The UniversalNER prompt goes to the completions API (not chat). With a tokenizer (the
``tokenizer`` setting, else the ``model`` name when it loads locally) each prompt is sent
as the token ids the model's own tokenizer gives it, ``tokenizer(prompt).input_ids``, so the
turn separator reaches the model as its EOS id whatever the server's text handling; before
the first request the server's ``/tokenize`` endpoint is asked for the ids of a probe
string, and a different tokenizer is an error. Without one, or with
``prompt_format="text"``, the byte-exact protocol string is sent.

Requests go out grouped by passage, ``concurrency`` at a time, so a server's prefix cache
serves the shared passage prefix; with ``llamacpp_slots`` the queries of a passage are also
pinned to one llama.cpp slot (:mod:`.openai_requests`). Transient failures are retried by
the ``openai`` client and counted at its HTTP boundary (:mod:`spacy_uniner.retry`). The
API key is read from an environment variable and never stored. Answers are cached by the
component's ``cache`` setting, as for any backend.
"""

from __future__ import annotations

import os
import warnings
from functools import partial
from typing import Any, Dict, List, Optional, Sequence

from .. import protocol
from ..credentials import PLACEHOLDER_KEY, api_key_from_env
from ..errors import Errors, Warnings
from ..registry import registry
from ..retry import RequestCounter, openai_client
from .loading import load_tokenizer
from .openai_requests import (
    BackendRequestError,
    Prompt,
    check_tokenizer,
    coded_error,
    distinct_prompts,
    estimate_tokens,
    no_retry_for_rejected_ids,
    send_all,
)

__all__ = ["OpenAICompatibleBackend", "BackendRequestError", "estimate_tokens", "make_openai_backend"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
PROMPT_FORMATS = ("auto", "tokens", "text")


class OpenAICompatibleBackend:
    """Greedy completions from an OpenAI-compatible server, many requests in flight.

    The settings are those of :func:`make_openai_backend`. ``stats`` counts HTTP
    ``requests`` (retries included), ``retries`` and their ``retry_<reason>``, one
    ``http_<status>`` per response, ``duplicate_prompts`` (asked once per call),
    ``failures`` (prompts given up on), the ``prompt_tokens``/``completion_tokens`` the
    server reported in ``usage``, the ``cached_prompt_tokens`` it reported as served from its
    prefix cache and, from llama.cpp's ``timings``, the ``evaluated_prompt_tokens`` it computed.
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
        tokenizer: Optional[str] = None,
        prompt_format: str = "auto",
        llamacpp_slots: int = 0,
        extra_body: Optional[Dict[str, Any]] = None,
        stop: Sequence[str] = (protocol.TURN_END,),
        progress: bool = False,
    ) -> None:
        for key, value, least in (
            ("max_new_tokens", max_new_tokens, 1),
            ("concurrency", concurrency, 1),
            ("max_retries", max_retries, 0),
            ("llamacpp_slots", llamacpp_slots, 0),
        ):
            if not isinstance(value, int) or value < least:
                what = "a positive integer" if least else "an integer >= 0"
                raise ValueError(Errors.E008.format(name=key, what=what, value=value))
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(Errors.E008.format(name="timeout", what="a number > 0", value=timeout))
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
        self.timeout = float(timeout)
        self.llamacpp_slots = llamacpp_slots
        self.extra_body = dict(extra_body or {})
        self.stop = list(stop)
        self.progress = progress
        self.tokenizer_name = tokenizer if tokenizer is not None else model
        self.tokenizer = self._load_tokenizer(tokenizer, prompt_format)
        self.send_tokens = self.tokenizer is not None and prompt_format != "text"
        self._tokenizer_checked = False
        self.http = RequestCounter()
        self.stats = self.http.counts
        self._make_client = partial(
            openai_client,
            api_key=key,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=max_retries,
            counter=self.http,
            on_response=[no_retry_for_rejected_ids] if self.send_tokens else [],
        )
        self._client, self._client_pid = self._make_client(), os.getpid()
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
        }

    def __getstate__(self) -> Dict[str, Any]:
        """Pickled without the client (its connections and locks); the copy opens its own."""
        return {**self.__dict__, "_client": None, "_client_pid": None}

    @property
    def client(self) -> Any:
        """This process's ``openai`` client: a forked worker (``nlp.pipe(n_process=2)``) opens
        its own connections, since sharing the parent's keep-alive sockets mixes responses."""
        if self._client_pid != os.getpid():
            self._client, self._client_pid = self._make_client(), os.getpid()
        return self._client

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
        warnings.warn(Warnings.W150.format(model=self.model), stacklevel=2)
        return None

    @property
    def config(self) -> Dict[str, Any]:
        return dict(self._settings)

    @property
    def params(self) -> Dict[str, Any]:
        """The generation settings sent with every prompt."""
        return {"max_tokens": self.max_new_tokens, "temperature": 0, "stop": self.stop}

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
        items = distinct_prompts(prompts, self.encode if self.send_tokens else lambda text: text)
        self.http.add("duplicate_prompts", len(prompts) - len(items))
        if items and self.send_tokens and not self._tokenizer_checked:
            self._tokenizer_checked = check_tokenizer(
                self.tokenizer, self.tokenizer_name, self.base_url, self.model, self.client.api_key, self.timeout
            )
        complete = partial(self._complete, total=len(prompts))
        answers = send_all(items, complete, self.concurrency, self.progress)
        return [answers[i] for i in range(len(prompts))]

    def _complete(self, item: Prompt, total: int) -> str:
        """One prompt's answer; the client retries transient failures."""
        import openai

        try:
            with self.http.call() as attempts:
                response = self.client.completions.create(
                    model=self.model, prompt=item.prompt, extra_body=self._extra_body(item), **self.params
                )
        except openai.APIError as e:
            self.http.add("failures")
            raise coded_error(e, item, total, len(attempts), self) from None
        if not response.choices:
            self.http.add("failures")
            cause = "the response has no choices"
            raise BackendRequestError(
                Errors.E101.format(
                    index=item.indices[0],
                    total=total,
                    attempts=len(attempts),
                    base_url=self.base_url,
                    model=self.model,
                    cause=cause,
                ),
                item.indices[0],
            )
        usage = response.usage
        if usage is not None:
            self.http.add("prompt_tokens", usage.prompt_tokens or 0)
            self.http.add("completion_tokens", usage.completion_tokens or 0)
            details = getattr(usage, "prompt_tokens_details", None)
            self.http.add("cached_prompt_tokens", getattr(details, "cached_tokens", None) or 0)
        timings = (response.model_extra or {}).get("timings")
        if isinstance(timings, dict) and "prompt_n" in timings:
            self.http.add("evaluated_prompt_tokens", int(timings["prompt_n"]))
        return response.choices[0].text.strip()

    def _extra_body(self, item: Prompt) -> Optional[Dict[str, Any]]:
        """``extra_body``, plus the llama.cpp slot of the prompt's passage."""
        if not self.llamacpp_slots:
            return self.extra_body or None
        return {**self.extra_body, "cache_prompt": True, "id_slot": item.group % self.llamacpp_slots}

    def served_models(self) -> str:
        """The model names the server lists, for E151."""
        try:
            return ", ".join(repr(m.id) for m in self.client.models.list()) or "none listed"
        except Exception as e:  # the listing only decorates the error being raised
            return f"unknown ({type(e).__name__} from GET /models)"

    def scrub(self, text: str) -> str:
        """``text`` without the API key."""
        return text.replace(self._secret, "***") if self._secret else text


@registry.uniner_backends("spacy_uniner.OpenAICompatible.v1")
def make_openai_backend(
    model: str = "Universal-NER/UniNER-7B-type",
    base_url: Optional[str] = None,
    api_key_env: str = "OPENAI_API_KEY",
    max_new_tokens: int = 256,
    concurrency: int = 8,
    max_retries: int = 5,
    timeout: float = 120.0,
    tokenizer: Optional[str] = None,
    prompt_format: str = "auto",
    llamacpp_slots: int = 0,
    extra_body: Optional[Dict[str, Any]] = None,
    stop: Sequence[str] = (protocol.TURN_END,),
    progress: bool = False,
) -> OpenAICompatibleBackend:
    """A served model behind an OpenAI-compatible completions endpoint (greedy decoding).

    model (str): the served model name.
    base_url (Optional[str]): the API root with its ``/v1``; default ``$OPENAI_BASE_URL``,
        else OpenAI.
    api_key_env (str): the environment variable holding the key; unset with a ``base_url``
        sends ``EMPTY``, which local servers accept.
    max_new_tokens (int): answer cap (the paper's 256).
    concurrency (int): requests in flight.
    max_retries (int): retries per request by the ``openai`` client (429, 408, 409, 5xx,
        timeouts, dropped connections; ``Retry-After`` honoured).
    timeout (float): seconds per request.
    tokenizer (Optional[str]): hub name or folder of the served model's tokenizer, to send
        token ids; default: the ``model`` name when it loads locally.
    prompt_format (str): ``auto`` (ids with a tokenizer, else text), ``tokens`` or ``text``.
    llamacpp_slots (int): the ``--parallel`` of a llama.cpp server: pins each passage's
        queries to one slot (``id_slot``, ``cache_prompt``).
    extra_body (Optional[dict]): server-specific request fields, e.g.
        ``{"repeat_penalty": 1.0}`` for llama-cpp-python.
    stop (Sequence[str]): stop strings (the protocol's turn end).
    progress (bool): a tqdm bar over prompts.
    """
    return OpenAICompatibleBackend(
        model,
        base_url=base_url,
        api_key_env=api_key_env,
        max_new_tokens=max_new_tokens,
        concurrency=concurrency,
        max_retries=max_retries,
        timeout=timeout,
        tokenizer=tokenizer,
        prompt_format=prompt_format,
        llamacpp_slots=llamacpp_slots,
        extra_body=extra_body,
        stop=stop,
        progress=progress,
    )
