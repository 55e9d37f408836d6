"""Token-id prompts, passage-grouped requests and the coded errors of the OpenAI backend.

A fake server on 127.0.0.1 records what it is sent; ``/tokenize`` answers with a given
tokenizer's ids, as llama.cpp's and vLLM's servers do. The model is a LLaMA-1-style folder
(``build_llama1_folder``) with the real LLaMA tokenizer.
"""

import json
import socket
import time

import pytest
from local_server import JSONHandler, LocalServer

from spacy_uniner import protocol
from spacy_uniner.backends.openai_compat import BackendRequestError, OpenAICompatibleBackend

from conftest import FIXTURES, read_jsonl

ROWS = read_jsonl(FIXTURES / "uniner_prompts.jsonl")
LLAMA_CPP_CONTEXT = {  # llama.cpp's server, status 400
    "error": {
        "code": 400,
        "message": "request (2100 tokens) exceeds the available context size (2048 tokens), try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": 2100,
        "n_ctx": 2048,
    }
}
VLLM_CONTEXT = {  # vLLM, status 400
    "object": "error",
    "message": "This model's maximum context length is 2048 tokens. However, you requested "
    "2356 tokens (2100 in the messages, 256 in the completion). Please reduce the length of "
    "the messages or completion.",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}
VLLM_NO_MODEL = {
    "object": "error",
    "message": "The model `uniner` does not exist.",
    "type": "NotFoundError",
    "param": None,
    "code": 404,
}
TEXT_ONLY = {  # llama-cpp-python's server validates `prompt` as text, and answers 500
    "error": {
        "message": "4 validation errors:\n  {'type': 'string_type', 'loc': ('body', 'prompt', 'str'), "
        "'msg': 'Input should be a valid string', 'input': [1, 319, 6901]}",
        "type": "internal_server_error",
        "param": None,
        "code": None,
    }
}


class FakeServer(LocalServer):
    """``/v1/completions``, ``/v1/models`` and ``/tokenize``; every request body is logged."""

    def __init__(self, tokenizer=None):
        self.tokenizer = tokenizer  # answers /tokenize; None: no such endpoint (404)
        self.completion_error = None  # (status, payload) for every completion request
        self.log: list = []
        self.tokenize_calls = 0
        super().__init__(_Handler)


class _Handler(JSONHandler):
    def do_GET(self):
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "uniner-7b", "object": "model"}]})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self):
        fake = self.server.fake
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/tokenize" and fake.tokenizer is not None:
            fake.tokenize_calls += 1
            ids = fake.tokenizer(body["content"], add_special_tokens=body["add_special"])["input_ids"]
            return self._send(200, {"tokens": ids})
        if self.path != "/v1/completions":
            return self._send(404, {"error": {"message": "File Not Found", "type": "not_found_error"}})
        fake.log.append(body)
        if fake.completion_error is not None:
            return self._send(*fake.completion_error)
        time.sleep(0.01)
        n = len(body["prompt"]) if isinstance(body["prompt"], list) else len(body["prompt"].split())
        usage = {
            "prompt_tokens": n,
            "completion_tokens": 1,
            "total_tokens": n + 1,
            "prompt_tokens_details": {"cached_tokens": n - 20},
        }
        choice = {"index": 0, "text": " []", "finish_reason": "stop", "logprobs": None}
        self._send(
            200,
            {
                "id": "cmpl",
                "object": "text_completion",
                "created": 0,
                "model": body["model"],
                "choices": [choice],
                "usage": usage,
                "timings": {"prompt_n": 20},
            },
        )


@pytest.fixture(scope="module")
def llama_tokenizer(llama1_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(llama1_dir))


@pytest.fixture
def server(llama_tokenizer):
    fake = FakeServer(llama_tokenizer).start()
    yield fake
    fake.stop()


def backend_for(server, **settings):
    settings = {"concurrency": 4, "timeout": 5.0, "max_retries": 1, **settings}
    return OpenAICompatibleBackend(settings.pop("model", "uniner-7b"), base_url=server.url, **settings)


def fixture_prompts():
    prompts = [(protocol.passage_prefix(r["text"]), protocol.query_suffix(r["entity_type"])) for r in ROWS]
    assert [p + s for p, s in prompts] == [r["prompt"] for r in ROWS]  # byte-exact protocol
    return prompts


def test_token_ids_sent_are_the_tokenizers_for_every_fixture_prompt(server, llama1_dir, llama_tokenizer):
    backend = backend_for(server, tokenizer=str(llama1_dir))
    assert backend.generate(fixture_prompts()) == ["[]"] * len(ROWS)
    sent = {tuple(body["prompt"]) for body in server.log}
    expected = {tuple(llama_tokenizer(r["prompt"]).input_ids) for r in ROWS}
    assert sent == expected and len(server.log) == len(expected)
    for row in ROWS:  # BOS, and each `</s>` as the EOS id (not the pieces of "<", "/", "s", ">")
        ids = llama_tokenizer(row["prompt"]).input_ids
        assert ids[0] == 1 and ids.count(2) == row["prompt"].count("</s>") >= 1
    assert server.tokenize_calls == 1  # the tokenizer is checked once, before the first prompt
    assert backend.stats["prompt_tokens"] == sum(len(ids) for ids in sent)
    assert backend.stats["evaluated_prompt_tokens"] == 20 * len(sent)  # llama.cpp's timings
    assert backend.stats["cached_prompt_tokens"] == sum(len(ids) - 20 for ids in sent)


def test_the_model_folder_is_the_default_tokenizer_and_text_stays_an_option(server, llama1_dir):
    prompts = fixture_prompts()[:5]
    backend_for(server, model=str(llama1_dir)).generate(prompts)
    assert all(isinstance(body["prompt"], list) for body in server.log)
    del server.log[:]
    text = backend_for(server, model=str(llama1_dir), prompt_format="text")
    assert text.tokenizer is None and text.generate(prompts) == ["[]"] * 5
    assert sorted(body["prompt"] for body in server.log) == sorted(p + s for p, s in prompts)
    del server.log[:]
    # A name that does not load locally (a GGUF alias, an API model) falls back to text.
    with pytest.warns(UserWarning, match=r"\[W150\] No tokenizer for 'uniner-7b'"):
        backend_for(server, model="uniner-7b").generate(prompts)
    assert sorted(body["prompt"] for body in server.log) == sorted(p + s for p, s in prompts)


def test_queries_go_out_grouped_by_passage_and_pinned_to_a_llamacpp_slot(server, llama1_dir):
    texts = [r["text"] for r in ROWS[:3]]
    types = ["person", "location", "organization"]
    interleaved = [(protocol.passage_prefix(t), protocol.query_suffix(e)) for e in types for t in texts]
    backend = backend_for(
        server, tokenizer=str(llama1_dir), concurrency=1, llamacpp_slots=2, extra_body={"repeat_penalty": 1.0}
    )
    backend.generate(interleaved)
    prefixes = [backend.encode(protocol.passage_prefix(t)) for t in texts]
    order = [[body["prompt"][: len(ids)] == ids for ids in prefixes].index(True) for body in server.log]
    assert order == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert [body["id_slot"] for body in server.log] == [0, 0, 0, 1, 1, 1, 0, 0, 0]
    assert {(body["cache_prompt"], body["repeat_penalty"]) for body in server.log} == {(True, 1.0)}


def test_a_tokenizer_that_is_not_the_served_models_is_an_error(server, tiny_llama_dir, llama1_dir):
    backend = backend_for(server, tokenizer=str(tiny_llama_dir))
    with pytest.raises(ValueError, match=r"\[E153\].*tiny-llama.*Set `tokenizer`"):
        backend.generate(fixture_prompts()[:1])
    assert server.log == []  # nothing was sent
    server.tokenizer = None  # no /tokenize endpoint: the check is skipped, and says so
    with pytest.warns(UserWarning, match=r"\[W151\].*no /tokenize endpoint"):
        assert backend_for(server, tokenizer=str(llama1_dir)).generate(fixture_prompts()[:1]) == ["[]"]


def test_server_errors_users_meet_are_coded(server, llama1_dir):
    prompts = fixture_prompts()[:1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    unreachable = OpenAICompatibleBackend(
        "m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, prompt_format="text"
    )
    with pytest.raises(BackendRequestError, match=rf"\[E150\].*127.0.0.1:{port}.*2 attempt"):
        unreachable.generate(prompts)

    backend = backend_for(server, tokenizer=str(llama1_dir), model="uniner")
    server.completion_error = (404, VLLM_NO_MODEL)
    with pytest.raises(BackendRequestError, match=r"\[E151\].*'uniner'.*serves: 'uniner-7b'"):
        backend.generate(prompts)
    for payload in (LLAMA_CPP_CONTEXT, VLLM_CONTEXT):
        server.completion_error = (400, payload)
        n = len(backend.encode(prompts[0][0] + prompts[0][1]))
        with pytest.raises(BackendRequestError, match=rf"\[E152\] Prompt 0 \({n} prompt tokens.*max_input_length"):
            backend.generate(prompts)
    server.completion_error = (500, TEXT_ONLY)
    with pytest.raises(BackendRequestError, match=r"(?s)\[E154\].*token ids.*valid string.*prompt_format = \"text\""):
        backend.generate(prompts)
    # None retried, not even the 500 (the client is told so); E151 also listed the models.
    assert backend.stats["requests"] == len(server.log) + 1 == 5 and backend.stats["retries"] == 0


def test_prompt_format_settings_are_validated(server):
    with pytest.raises(ValueError, match=r"\[E155\]"):
        backend_for(server, prompt_format="ids")
    with pytest.raises(OSError, match=r"\[E156\].*'uniner-7b'"):
        backend_for(server, prompt_format="tokens")
    with pytest.raises(ValueError, match=r"\[E008\].*llamacpp_slots"):
        backend_for(server, llamacpp_slots=-1)
