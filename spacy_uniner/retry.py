"""Retries of requests to OpenAI-compatible servers: done by the ``openai`` client, counted here.

The client retries 408, 409, 429, 5xx, timeouts and dropped connections with exponential
backoff and jitter, honouring ``retry-after-ms``, ``Retry-After`` and ``x-should-retry``.
:class:`RequestCounter` sees every attempt at the client's httpx boundary (event hooks),
so the reliability figures count what went over the wire.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from typing import Any, Callable, Iterator, Sequence

NO_RESPONSE = "no_response"  # a timeout or a dropped connection: no status was received


class RequestCounter:
    """Counts the HTTP requests of one ``openai`` client in :attr:`counts`.

    ``requests`` (retries included), ``retries``, ``http_<status>`` per response, and
    ``retry_<reason>`` per retry, where the reason is the status of the attempt before it
    or :data:`NO_RESPONSE`. Retries are recognised inside :meth:`call`, which also gives
    the outcomes of one client call's attempts.
    """

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self._lock = threading.Lock()
        self._local = threading.local()

    def __getstate__(self) -> dict:
        return {"counts": self.counts}

    def __setstate__(self, state: dict) -> None:
        self.__init__()
        self.counts = state["counts"]

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.counts[name] += amount

    @contextlib.contextmanager
    def call(self) -> Iterator[list[str]]:
        """The outcomes (status or :data:`NO_RESPONSE`) of the attempts this thread sends in
        the block: the client retries in the calling thread, so one call's attempts."""
        self._local.attempts = attempts = []
        try:
            yield attempts
        finally:
            self._local.attempts = None

    def event_hooks(self, on_response: Sequence[Callable[[Any], None]] = ()) -> dict[str, list]:
        """httpx ``event_hooks`` that count; ``on_response`` hooks run after counting."""
        return {"request": [self._on_request], "response": [self._on_response, *on_response]}

    def _on_request(self, request: Any) -> None:
        attempts = getattr(self._local, "attempts", None)
        with self._lock:
            self.counts["requests"] += 1
            if attempts:  # an earlier attempt of the same call: the client retries it
                self.counts["retries"] += 1
                self.counts[f"retry_{attempts[-1]}"] += 1
        if attempts is not None:
            attempts.append(NO_RESPONSE)

    def _on_response(self, response: Any) -> None:
        self.add(f"http_{response.status_code}")
        attempts = getattr(self._local, "attempts", None)
        if attempts:
            attempts[-1] = str(response.status_code)


def openai_client(
    *,
    api_key: str,
    base_url: str | None,
    timeout: float,
    max_retries: int,
    counter: RequestCounter,
    on_response: Sequence[Callable[[Any], None]] = (),
) -> Any:
    """An ``openai.OpenAI`` client that retries on its own, its requests counted by ``counter``."""
    import openai  # imported on use, like the backends that need it

    http_client = openai.DefaultHttpxClient(event_hooks=counter.event_hooks(on_response))
    return openai.OpenAI(
        api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries, http_client=http_client
    )
