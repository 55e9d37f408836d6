"""A "gold teacher": a local OpenAI-compatible server answering from stored annotations.

This is a stand-in for the LLM teacher, for tests and offline runs: it serves
``POST /v1/chat/completions`` on 127.0.0.1 and answers the paper's teacher prompt for a
passage with that passage's stored (entity, type) annotations, written in the teacher's
format ``[("entity", "type"), ...]``. It knows only the passages it was given and never
calls a model. The shipped sample holds real ChatGPT annotations of Pile passages
(Pile-NER-type), so its answers are what the real teacher said, restricted to the types
that the sample kept for each passage.

Fault injection (for tests of the client): transient 429/500 answers and timeouts per
request, and malformed answers per passage, all decided by a seeded hash so that a run
is reproducible whatever the request order. ``GET /stats`` returns the served counts.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Mapping, Sequence

import srsly

from ..errors import Errors
from .teacher import INSTRUCTIONS, PASSAGE_LINE
from .teacher_output import Pair

TRANSIENT_FAULTS = ("429", "500", "timeout")
FAULT_KINDS = TRANSIENT_FAULTS + ("malformed",)
_DEFINITION = re.compile(r'"Definition":\s*"((?:[^"\\]|\\.)*)"')


def load_annotations(path: str | Path) -> dict[str, list[Pair]]:
    """Passage text -> (entity, type) pairs, from either of two JSONL layouts.

    * ``{"text": ..., "entities": [["mention", "type"], ...]}`` per passage (the shipped sample);
    * the SLIMER re-formatting of Pile-NER-type: ``{"doc_question_pairID": "<doc>:<q>",
      "tagName", "input", "output"}`` per (passage, type) query, grouped here by passage
      and ordered by first occurrence in the passage.
    """
    path = Path(path)
    grouped: dict[str, list[Pair]] = defaultdict(list)
    for lineno, row in enumerate(srsly.read_jsonl(path), 1):
        if not isinstance(row, dict):
            raise ValueError(Errors.E503.format(path=path, line=lineno))
        if "text" in row and "entities" in row:
            grouped[row["text"]].extend((str(m), str(t)) for m, t in row["entities"])
        elif {"doc_question_pairID", "tagName", "input", "output"} <= row.keys():
            mentions = json.loads(row["output"])
            grouped[row["input"]].extend((str(m), row["tagName"]) for m in mentions)
        else:
            raise ValueError(Errors.E504.format(path=path, line=lineno, keys=sorted(row)))
    return {text: _in_passage_order(text, pairs) for text, pairs in grouped.items()}


def load_definitions(path: str | Path) -> dict[str, str]:
    """Type -> definition, from a flat JSON object or SLIMER's ``all_423_NE_definitions.json``
    (whose ``gpt_answer`` holds a JSON-ish ``{"Definition": ..., "Guidelines": ...}``)."""
    data = srsly.read_json(path)
    if not isinstance(data, dict):
        raise ValueError(Errors.E505.format(path=path))
    definitions = {}
    for etype, value in data.items():
        if isinstance(value, str):
            definitions[etype] = value
            continue
        answer = value.get("gpt_answer", "") if isinstance(value, dict) else ""
        match = _DEFINITION.search(answer)
        if match is None:
            raise ValueError(Errors.E506.format(path=path, etype=etype))
        definitions[etype] = json.loads(f'"{match.group(1)}"')
    return definitions


def _in_passage_order(text: str, pairs: list[Pair]) -> list[Pair]:
    unique = list(dict.fromkeys(pairs))
    return sorted(unique, key=lambda pair: text.find(pair[0]) % (len(text) + 1))


def format_answer(pairs: Sequence[Pair]) -> str:
    """The teacher's answer format: ``[("entity 1", "type of entity 1"), ...]``."""
    items = (f"({json.dumps(m, ensure_ascii=False)}, {json.dumps(t, ensure_ascii=False)})" for m, t in pairs)
    return "[" + ", ".join(items) + "]"


def _unit(*parts: object) -> float:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode("utf8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class GoldTeacher:
    """Answers teacher prompts from stored annotations; optionally injects faults."""

    def __init__(
        self,
        annotations: Mapping[str, Sequence[Pair]],
        definitions: Mapping[str, str] | None = None,
        faults: Mapping[str, float] | None = None,
        seed: int = 0,
        delay: float = 0.0,
        timeout_delay: float = 2.0,
        model: str = "gold-teacher",
    ):
        faults = dict(faults or {})
        unknown = set(faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(Errors.E507.format(kinds=sorted(unknown), choices=FAULT_KINDS))
        transient = {kind: faults[kind] for kind in TRANSIENT_FAULTS if kind in faults}
        if sum(transient.values()) >= 1.0:
            raise ValueError(Errors.E508.format(rates=transient, total=sum(transient.values())))
        self.annotations = {text: list(pairs) for text, pairs in annotations.items()}
        self._folded = {" ".join(text.split()): text for text in self.annotations}
        self.definitions = dict(definitions or {})
        self.faults = faults
        self.seed = seed
        self.delay = delay
        self.timeout_delay = timeout_delay
        self.model = model
        self.stats: Counter[str] = Counter()
        self._attempts: Counter[str] = Counter()
        self.malformed_passages: set[str] = set()
        self._lock = threading.Lock()

    def lookup(self, passage: str) -> list[Pair] | None:
        """Stored pairs of a passage; a chunk of a stored passage gets the pairs it contains."""
        if passage in self.annotations:
            return self.annotations[passage]
        folded = self._folded.get(" ".join(passage.split()))
        if folded is not None:
            return self.annotations[folded]
        for text, pairs in self.annotations.items():
            if passage in text:
                return [(m, t) for m, t in pairs if m in passage]
        return None

    def respond(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any], float]:
        """HTTP status, JSON body and delay (seconds) for one chat completion request."""
        messages = body.get("messages") or []
        user = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), None)
        variant = next(
            (v for v, instr in INSTRUCTIONS.items() if isinstance(user, str) and user.startswith(instr + PASSAGE_LINE)),
            None,
        )
        if variant is None:
            return self._error(400, "The last user message is not a teacher annotation prompt.")
        passage = user[len(INSTRUCTIONS[variant] + PASSAGE_LINE) :]
        with self._lock:
            self.stats["requests"] += 1
            attempt = self._attempts[passage]
            self._attempts[passage] += 1
        fault = self._transient_fault(passage, attempt)
        if fault == "429":
            return self._error(429, "Rate limit reached (injected).", kind="rate_limit_exceeded")
        if fault == "500":
            return self._error(500, "Internal server error (injected).", kind="server_error")
        pairs = self.lookup(passage)
        if pairs is None:
            return self._error(404, "Passage not in the gold teacher's annotations.", kind="not_found")
        if variant == "definition":
            missing = sorted({t for _, t in pairs} - self.definitions.keys())
            if missing:
                return self._error(422, f"No stored definition for types {missing}.")
            pairs = [(m, self.definitions[t]) for m, t in pairs]
        answer = format_answer(pairs)
        if _unit(self.seed, "malformed", passage) < self.faults.get("malformed", 0.0):
            answer = self._malformed(answer, passage)
            self._count("malformed")
            with self._lock:
                self.malformed_passages.add(passage)
        self._count("http_200")
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        completion = {
            "id": f"chatcmpl-gold-{hashlib.blake2b(passage.encode('utf8'), digest_size=6).hexdigest()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(answer.split()),
                "total_tokens": prompt_tokens + len(answer.split()),
            },
        }
        return 200, completion, self.timeout_delay if fault == "timeout" else self.delay

    def _transient_fault(self, passage: str, attempt: int) -> str | None:
        u = _unit(self.seed, "transient", passage, attempt)
        edge = 0.0
        for kind in TRANSIENT_FAULTS:
            edge += self.faults.get(kind, 0.0)
            if u < edge:
                self._count(f"injected_{kind}")
                return kind
        return None

    @staticmethod
    def _malformed(answer: str, passage: str) -> str:
        variants = (
            answer[: max(3, len(answer) // 2)].rstrip("]") + ", (",  # cut off mid-list
            "I'm sorry, I cannot identify entities in this passage.",
            '{"entities": "none found"}',
        )
        return variants[int(_unit("style", passage) * len(variants))]

    def _error(self, status: int, message: str, kind: str = "invalid_request_error"):
        self._count(f"http_{status}")
        return status, {"error": {"message": message, "type": kind, "code": status}}, self.delay

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "GoldTeacherServer"

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, {"error": {"message": f"Unknown path {self.path}", "code": 404}})
            return
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            self._send(400, {"error": {"message": "Request body is not JSON", "code": 400}})
            return
        status, payload, delay = self.server.teacher.respond(body)
        if delay:
            time.sleep(delay)
        self._send(status, payload)

    def do_GET(self) -> None:  # noqa: N802
        teacher = self.server.teacher
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": teacher.model, "object": "model"}]})
        elif self.path.rstrip("/") == "/stats":
            with teacher._lock:
                self._send(200, dict(teacher.stats))
        else:
            self._send(404, {"error": {"message": f"Unknown path {self.path}", "code": 404}})

    def _send(self, status: int, payload: Mapping[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (an injected timeout): nothing to answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # request lines are not logged (they could carry headers of a real deployment)


class GoldTeacherServer(ThreadingHTTPServer):
    """The gold teacher on ``host:port`` (port 0: any free port), served from a thread."""

    daemon_threads = True

    def __init__(self, teacher: GoldTeacher, host: str = "127.0.0.1", port: int = 0):
        super().__init__((host, port), _Handler)
        self.teacher = teacher
        self._thread: threading.Thread | None = None

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (timeouts, killed processes) are expected, not errors."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> "GoldTeacherServer":
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
