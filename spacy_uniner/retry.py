"""The retry policy shared by the clients of OpenAI-compatible servers.

Transient failures (429, 408, 409, 5xx, timeouts, dropped connections) are retried with
capped exponential backoff and jitter, waiting at least as long as the server's
``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date) asks, within the cap.
"""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime
from typing import Mapping, NamedTuple

RETRY_STATUS = frozenset({408, 409, 429})


class Verdict(NamedTuple):
    """Whether to retry an error, a short reason (e.g. ``"429"``, ``"timeout"``) and the
    server's Retry-After in seconds, if any."""

    retryable: bool
    reason: str
    retry_after: float | None


def classify(error: Exception) -> Verdict:
    """The retry verdict for an exception raised by the ``openai`` client."""
    import openai  # imported on use, like the backends that need it

    if isinstance(error, openai.APITimeoutError):
        return Verdict(True, "timeout", None)
    if isinstance(error, openai.APIConnectionError):
        return Verdict(True, "connection", None)
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        retryable = status in RETRY_STATUS or status >= 500
        return Verdict(retryable, str(status), retry_after_seconds(error.response.headers))
    return Verdict(False, type(error).__name__, None)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    if headers.get("retry-after-ms"):
        try:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def backoff_delay(
    retry: int, backoff: float, max_backoff: float, retry_after: float | None = None
) -> float:
    """Seconds before retry number ``retry`` (0 for the first): ``backoff * 2**retry``
    capped at ``max_backoff`` with jitter, but no less than ``retry_after`` (also capped)."""
    delay = min(max_backoff, backoff * 2**retry) * random.uniform(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay, min(retry_after, max_backoff))
    return delay
