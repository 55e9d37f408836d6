"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 with injected faults.

The server implements ``/v1/completions``: it reads the passage and entity type from the
raw UniversalNER prompt and answers with the known mentions found in the passage. Faults
(429 with Retry-After, 5xx, a hang past the client timeout, a dropped connection, 4xx) are
served to requests in arrival order, or permanently for chosen prompts. The answer cache
is the component's ``cache`` block (``spacy_uniner.DiskCache.v1``) around this backend.
"""

import json
import logging
import multiprocessing
import pickle
import re
import threading
import time
from collections import Counter, deque

import pytest
import spacy
import srsly
from local_server import JSONHandler, LocalServer

from spacy_uniner import protocol
from spacy_uniner.backends.openai_compat import BackendRequestError, OpenAICompatibleBackend, estimate_tokens
from spacy_uniner.cache import ANSWERS_FILE, DiskCache

PASSAGE = re.compile(r"USER: Text: (.*) ASSISTANT: I've read this text\.</s>", re.S)
QUESTION = re.compile(r"USER: What describes (.*) in the text\? ASSISTANT:$")
KNOWN = {
    "person": ["Barack Obama", "Tim Cook", "Ada Lovelace", "Grace Hopper"],
    "organization": ["Apple", "NASA", "Navy"],
    "location": ["Cupertino", "Paris", "London"],
}
TEXTS = [
    "Barack Obama met Tim Cook in Cupertino.",
    "Ada Lovelace was born in London.",
    "NASA and Apple opened offices in Paris.",
    "Grace Hopper served in the Navy.",
    "Nobody is named here.",
    "Tim Cook flew from Paris to London with Barack Obama.",
]
LABELS = list(KNOWN)
SECRET = "sk-test-7c1f0e9a2b8d4e6f"


class FakeCompletionsServer(LocalServer):
    """A threaded ``/v1/completions`` server that logs every request it receives."""

    def __init__(self, delay: float = 0.02):
        self.delay = delay
        self.faults: deque = deque()  # served to the next requests, in arrival order
        self.permanent: dict = {}  # passage substring -> fault for every request about it
        self.log: list = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.release = threading.Event()
        self.lock = threading.Lock()
        super().__init__(_Handler)

    def outcomes(self) -> Counter:
        return Counter(entry["outcome"] for entry in self.log)

    def fault_for(self, prompt: str):
        for needle, fault in self.permanent.items():
            if needle in prompt:
                return fault
        return self.faults.popleft() if self.faults else None


class _Handler(JSONHandler):
    def do_POST(self):
        fake = self.server.fake
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with fake.lock:
            fault = fake.fault_for(body["prompt"])
            entry = {
                "time": time.monotonic(),
                "prompt": body["prompt"],
                "model": body["model"],
                "params": {k: body.get(k) for k in ("max_tokens", "temperature", "stop")},
                "auth": self.headers.get("Authorization"),
                "outcome": fault or "ok",
            }
            fake.log.append(entry)
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            time.sleep(fake.delay)
            if fault == "hang":
                fake.release.wait(10)
                self.close_connection = True
            elif fault == "drop":
                self.close_connection = True
            elif fault is not None:
                status = int(fault)
                # A careless server that echoes the request's credentials in its error.
                message = f"injected {status} for {self.headers.get('Authorization')}"
                headers = {"Retry-After": "1"} if status == 429 else {}
                self._send(status, {"error": {"message": message, "type": "injected"}}, headers)
            else:
                self._send(200, _completion(body, entry))
        finally:
            with fake.lock:
                fake.in_flight -= 1


def _completion(body, entry):
    passage = PASSAGE.search(body["prompt"]).group(1)
    entity_type = QUESTION.search(body["prompt"]).group(1)
    text = " " + json.dumps([m for m in KNOWN.get(entity_type, []) if m in passage])
    entry["usage"] = {"prompt_tokens": len(body["prompt"].split()), "completion_tokens": len(text.split())}
    choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
    return {
        "id": "cmpl-test",
        "object": "text_completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [choice],
        "usage": {**entry["usage"], "total_tokens": sum(entry["usage"].values())},
    }


@pytest.fixture
def server():
    fake = FakeCompletionsServer().start()
    yield fake
    fake.release.set()
    fake.stop()


@pytest.fixture(autouse=True)
def no_openai_env(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def model_config(server, **settings):
    return {
        "@uniner_backends": "spacy_uniner.OpenAICompatible.v1",
        "base_url": server.url,
        "model": "Universal-NER/UniNER-7B-type",
        "concurrency": 4,
        "timeout": 2.0,
        **settings,
    }


def make_nlp(server, labels=LABELS, cache=None, **settings):
    nlp = spacy.blank("en")
    config = {"labels": labels, "model": model_config(server, **settings)}
    if cache is not None:
        config["cache"] = {"@uniner_caches": "spacy_uniner.DiskCache.v1", "path": cache}
    nlp.add_pipe("universal_ner", config=config)
    return nlp


def expected_ents(text, labels=LABELS):
    return sorted((m, label) for label in labels for m in KNOWN[label] if m in text)


def found_ents(doc):
    return sorted((e.text, e.label_) for e in doc.ents)


def served(server):
    return [entry for entry in server.log if entry["outcome"] == "ok"]


def test_every_doc_gets_its_entities_despite_faults(server):
    server.faults.extend(["429", "500", "hang", "drop", "503", "502"])
    nlp = make_nlp(server)
    docs = list(nlp.pipe(TEXTS, batch_size=3))
    assert [found_ents(doc) for doc in docs] == [expected_ents(text) for text in TEXTS]
    model = nlp.get_pipe("universal_ner").model
    n_prompts = len(TEXTS) * len(LABELS)
    assert len(served(server)) == n_prompts  # each prompt answered exactly once
    assert server.outcomes() == Counter({"ok": n_prompts, "429": 1, "500": 1, "hang": 1, "drop": 1, "503": 1, "502": 1})
    # The client retried; its requests were counted as they crossed its HTTP boundary.
    assert model.stats["requests"] == len(server.log)
    assert model.stats["retries"] == len(server.log) - n_prompts
    assert model.stats["failures"] == 0
    assert {k: model.stats[f"http_{k}"] for k in (200, 429, 500, 502, 503)} == {
        200: n_prompts,
        429: 1,
        500: 1,
        502: 1,
        503: 1,
    }
    assert model.stats["retry_no_response"] == 2  # the hang (client timeout) and the drop
    assert model.stats["prompt_tokens"] == sum(e["usage"]["prompt_tokens"] for e in served(server))
    assert model.stats["completion_tokens"] == sum(e["usage"]["completion_tokens"] for e in served(server))
    assert server.max_in_flight > 1
    assert {e["auth"] for e in server.log} == {"Bearer EMPTY"}  # placeholder key for local servers
    assert {json.dumps(e["params"]) for e in server.log} == {
        json.dumps({"max_tokens": 256, "temperature": 0, "stop": ["</s>"]})
    }
    # The raw protocol string is sent, byte for byte.
    assert {e["prompt"] for e in server.log} == {
        protocol.inference_prompt(text, label) for text in TEXTS for label in LABELS
    }


def test_retry_after_is_honoured(server):
    server.faults.append("429")
    backend = OpenAICompatibleBackend("m", base_url=server.url, timeout=2.0)
    prompt = (protocol.passage_prefix(TEXTS[0]), protocol.query_suffix("person"))
    assert backend.generate([prompt]) == [json.dumps(["Barack Obama", "Tim Cook"])]
    limited, retried = server.log
    assert limited["outcome"] == "429" and retried["outcome"] == "ok"
    assert retried["time"] - limited["time"] >= 1.0  # Retry-After: 1, the client's backoff 0.5 s
    assert backend.stats["retry_429"] == 1


def test_second_run_is_served_from_the_cache(server, tmp_path):
    cache = str(tmp_path / "cache")
    first = [found_ents(doc) for doc in make_nlp(server, cache=cache).pipe(TEXTS)]
    n_prompts = len(TEXTS) * len(LABELS)
    assert len(server.log) == n_prompts
    assert len(list(srsly.read_jsonl(tmp_path / "cache" / ANSWERS_FILE))) == n_prompts

    nlp = make_nlp(server, cache=cache)
    assert [found_ents(doc) for doc in nlp.pipe(TEXTS)] == first
    assert len(server.log) == n_prompts  # no HTTP request at all
    ner = nlp.get_pipe("universal_ner")
    assert ner.cache.stats["hits"] == n_prompts and ner.model.stats["requests"] == 0

    # Another model, other generation settings or another prompt miss the cache.
    list(make_nlp(server, cache=cache, model="other-model").pipe(TEXTS))
    assert len(server.log) == 2 * n_prompts
    assert {e["model"] for e in server.log[n_prompts:]} == {"other-model"}
    list(make_nlp(server, cache=cache, max_new_tokens=64).pipe(TEXTS))
    assert len(server.log) == 3 * n_prompts
    nlp = make_nlp(server, labels=LABELS + ["programming language"], cache=cache)
    list(nlp.pipe(TEXTS))
    assert len(server.log) == 3 * n_prompts + len(TEXTS)
    assert nlp.get_pipe("universal_ner").cache.stats == {"hits": n_prompts, "misses": len(TEXTS)}
    assert len(list(srsly.read_jsonl(tmp_path / "cache" / ANSWERS_FILE))) == len(server.log)


def test_answers_received_before_a_failure_are_cached(server, tmp_path):
    server.permanent["Nobody"] = "400"
    nlp = make_nlp(server, cache=str(tmp_path), concurrency=1)
    with pytest.raises(BackendRequestError, match=r"\[E101\].*BadRequestError"):
        next(nlp.pipe(TEXTS))  # one batch: every doc's queries in one call
    answered = len(served(server))
    assert 0 < answered < len(TEXTS) * len(LABELS)
    assert len(list(srsly.read_jsonl(tmp_path / ANSWERS_FILE))) == answered
    del server.permanent["Nobody"]
    docs = list(make_nlp(server, cache=str(tmp_path)).pipe(TEXTS))
    assert [found_ents(doc) for doc in docs] == [expected_ents(text) for text in TEXTS]
    assert len(served(server)) == len(TEXTS) * len(LABELS)  # the rerun asked only for the rest


def test_api_key_is_sent_but_never_stored_or_logged(server, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("UNINER_TEST_KEY", SECRET)
    server.faults.extend(["500", "drop"])
    server.permanent["Nobody"] = "401"
    nlp = make_nlp(server, api_key_env="UNINER_TEST_KEY", cache=str(tmp_path / "cache"), max_retries=2)
    failed = []
    nlp.set_error_handler(lambda name, proc, docs, e: failed.append((docs, e)))
    docs = list(nlp.pipe(TEXTS, batch_size=2))
    assert {e["auth"] for e in server.log} == {f"Bearer {SECRET}"}
    # The batch with the prompt the server refuses goes to the error handler, named and scrubbed.
    assert [doc.text for doc in failed[0][0]] == TEXTS[4:6] and len(failed) == 1
    error = str(failed[0][1])
    assert "[E101]" in error and "AuthenticationError" in error and "Bearer ***" in error
    assert [doc.text for doc in docs] == TEXTS[:4]
    assert [found_ents(doc) for doc in docs] == [expected_ents(text) for text in TEXTS[:4]]
    nlp.to_disk(tmp_path / "pipeline")
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == ANSWERS_FILE for p in written)
    for path in written:
        assert SECRET not in path.read_text(encoding="utf8", errors="replace"), path
    assert "Retrying request" in caplog.text  # the openai client's own retry log
    assert SECRET not in caplog.text
    assert SECRET not in error


def test_pipeline_round_trip_keeps_the_endpoint_settings(server, tmp_path):
    nlp = make_nlp(server, max_new_tokens=32)
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    model = loaded.get_pipe("universal_ner").model
    assert isinstance(model, OpenAICompatibleBackend)
    assert model.base_url == server.url and model.max_new_tokens == 32
    assert found_ents(loaded(TEXTS[0])) == expected_ents(TEXTS[0])


def test_pipeline_pickles_with_its_cache_and_counts(server, tmp_path):
    cache = str(tmp_path / "cache")
    nlp = make_nlp(server, cache=cache)
    first = [found_ents(doc) for doc in nlp.pipe(TEXTS[:3])]
    copy = pickle.loads(pickle.dumps(nlp))  # no client, lock or open file travels
    ner = copy.get_pipe("universal_ner")
    assert ner.model.stats["requests"] == 3 * len(LABELS)  # the counts travel
    assert [found_ents(doc) for doc in copy.pipe(TEXTS)] == [expected_ents(text) for text in TEXTS]
    assert ner.cache.stats["hits"] == 3 * len(LABELS) and first == [expected_ents(t) for t in TEXTS[:3]]
    assert len(server.log) == len(TEXTS) * len(LABELS)  # the copy asked only the new prompts
    assert len(list(srsly.read_jsonl(tmp_path / "cache" / ANSWERS_FILE))) == len(server.log)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork start method")
def test_forked_workers_open_their_own_connections(server):
    """Forked workers that shared the parent's keep-alive connections read each other's responses."""
    nlp = make_nlp(server)
    assert [found_ents(doc) for doc in nlp.pipe(TEXTS)] == [expected_ents(text) for text in TEXTS]  # connections open
    method = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("fork", force=True)
    try:
        docs = list(nlp.pipe(TEXTS * 4, n_process=2, batch_size=2))
    finally:
        multiprocessing.set_start_method(method, force=True)
    assert [found_ents(doc) for doc in docs] == [expected_ents(text) for text in TEXTS * 4]


def test_permanently_failing_server_raises_a_clear_error(server):
    server.permanent[""] = "500"
    nlp = make_nlp(server, max_retries=2, concurrency=2)
    with pytest.raises(BackendRequestError, match=r"\[E101\] Prompt \d of 3 failed after 3 attempt\(s\)") as info:
        nlp(TEXTS[0])
    assert server.url in str(info.value) and "InternalServerError" in str(info.value)
    model = nlp.get_pipe("universal_ner").model
    assert model.stats["requests"] == len(server.log)
    assert model.stats["failures"] >= 1 and "ok" not in server.outcomes()
    assert max(Counter(e["prompt"] for e in server.log).values()) == 3  # 1 + max_retries


def test_client_errors_are_not_retried(server):
    server.faults.append("400")
    backend = OpenAICompatibleBackend("m", base_url=server.url)
    prompt = (protocol.passage_prefix(TEXTS[0]), protocol.query_suffix("person"))
    with pytest.raises(
        BackendRequestError, match=r"Prompt 0 of 1 failed after 1 attempt\(s\).*BadRequestError.*injected 400"
    ):
        backend.generate([prompt])
    assert len(server.log) == 1 and backend.stats["retries"] == 0


def test_duplicate_prompts_are_asked_once(server):
    backend = OpenAICompatibleBackend("m", base_url=server.url)
    a = (protocol.passage_prefix(TEXTS[1]), protocol.query_suffix("location"))
    b = (protocol.passage_prefix(TEXTS[1]), protocol.query_suffix("person"))
    assert backend.generate([a, b, a]) == ['["London"]', '["Ada Lovelace"]', '["London"]']
    assert len(server.log) == 2 and backend.stats["duplicate_prompts"] == 1
    assert backend.generate([]) == []


def test_torn_final_cache_line_is_dropped_and_corrupt_lines_are_errors(server, tmp_path):
    prompts = [(protocol.passage_prefix(t), protocol.query_suffix("person")) for t in TEXTS[:3]]
    backend = OpenAICompatibleBackend("m", base_url=server.url)
    answers = DiskCache(tmp_path).generate(backend, prompts)
    path = tmp_path / ANSWERS_FILE
    with path.open("a", encoding="utf8") as f:
        f.write('{"key": "0123", "text": "[\\"Ti')
    with pytest.warns(UserWarning, match=r"\[W101\].*torn final line"):
        cache = DiskCache(tmp_path)
    assert cache.generate(backend, prompts) == answers and len(server.log) == 3
    extra = (protocol.passage_prefix(TEXTS[3]), protocol.query_suffix("person"))
    cache.generate(backend, [extra])
    assert len(list(srsly.read_jsonl(path))) == 4  # the next record starts on its own line

    path.write_text("not json\n" + path.read_text(encoding="utf8"), encoding="utf8")
    with pytest.raises(ValueError, match=r"\[E103\].*line 1"):
        DiskCache(tmp_path)


def test_token_counts_from_a_tokenizer_or_a_conservative_estimate(server, tiny_llama_dir):
    from transformers import AutoTokenizer

    texts = [protocol.inference_prompt(TEXTS[0], "person"), "Zürich, 東京 and São Paulo."]
    backend = OpenAICompatibleBackend("m", base_url=server.url, tokenizer=str(tiny_llama_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_llama_dir))
    assert backend.count_tokens(texts) == [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    # Without a tokenizer: letters 3 per token, single spaces free, other characters per byte.
    assert estimate_tokens("Tim Cook") == 3
    assert estimate_tokens("in 2023!") == 6
    assert estimate_tokens("東京\n") == 7
    assert OpenAICompatibleBackend("m", base_url=server.url).count_tokens(["Tim Cook"]) == [3]


def test_settings_are_validated(server, monkeypatch):
    with pytest.raises(ValueError, match="E102.*OPENAI_API_KEY"):
        OpenAICompatibleBackend("gpt-3.5-turbo-instruct")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    assert OpenAICompatibleBackend("m").base_url == server.url
    for settings, code in (
        ({"concurrency": 0}, "E008"),
        ({"max_new_tokens": -1}, "E008"),
        ({"max_retries": -1}, "E008"),
        ({"timeout": 0}, "E008"),
        ({"stop": "</s>"}, "E104"),
        ({"stop": [""]}, "E104"),
    ):
        with pytest.raises(ValueError, match=code):
            OpenAICompatibleBackend("m", **settings)
