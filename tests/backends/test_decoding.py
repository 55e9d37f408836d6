"""Shared-prefix decoding gives the answers of plain per-query greedy decoding."""

import pytest

from spacy_uniner import protocol
from spacy_uniner.backends.decoding import encode_queries, plan_chunks
from spacy_uniner.backends.hf import HuggingFaceBackend

from conftest import FIXTURES, read_jsonl

LABEL_SETS = [
    ["person"],
    ["organization", "location", "programming language", "music genre"],
    ["award", "chemical compound", "astronomical object"],
]

# Equalities here prove a mechanism; `exact_torch` pins what makes them exact on any CPU
# (fp32, one thread, deterministic algorithms).
pytestmark = pytest.mark.usefixtures("exact_torch")


@pytest.fixture(scope="module")
def prompts(shared_dir):
    rows = read_jsonl(FIXTURES / "uniner_prompts.jsonl")
    passages = list(dict.fromkeys(row["text"] for row in rows if row["text"]))[:15]
    return [
        (protocol.passage_prefix(p), protocol.query_suffix(t))
        for i, p in enumerate(passages)
        for t in LABEL_SETS[i % len(LABEL_SETS)]
    ]


@pytest.fixture(scope="module")
def reference(tiny_llama_dir, prompts):
    plain = HuggingFaceBackend(str(tiny_llama_dir), max_new_tokens=12, prefix_sharing=False, batch_size=6)
    return plain.generate(prompts)


@pytest.mark.parametrize("batch_size,max_batch_tokens", [(64, 65536), (5, 65536), (64, 900)])
def test_shared_prefix_equals_per_query_generation(tiny_llama_dir, prompts, reference, batch_size, max_batch_tokens):
    shared = HuggingFaceBackend(
        str(tiny_llama_dir),
        max_new_tokens=12,
        batch_size=batch_size,
        max_batch_tokens=max_batch_tokens,
        stop_at_list_end=False,
    )
    assert shared.generate(prompts) == reference
    # each passage was encoded once per chunk it landed in, not once per question
    assert shared.decoder.prefill_tokens < shared.prompt_tokens


def test_split_follows_the_whole_prompt_tokenization(tiny_llama_dir, prompts):
    backend = HuggingFaceBackend(str(tiny_llama_dir), max_new_tokens=2)
    for query, (prefix, suffix) in zip(encode_queries(backend.tokenizer, prompts), prompts):
        assert list(query.prefix) + query.suffix == backend.tokenizer(prefix + suffix)["input_ids"]
        assert query.suffix


def test_chunks_respect_row_and_token_bounds(tiny_llama_dir, prompts):
    backend = HuggingFaceBackend(str(tiny_llama_dir), max_new_tokens=2)
    queries = encode_queries(backend.tokenizer, prompts)
    chunks = plan_chunks(queries, max_rows=4, max_tokens=700, max_new_tokens=10)
    assert sorted(q.index for c in chunks for q in c) == list(range(len(prompts)))
    for chunk in chunks:
        width = max(len(q.prefix) for q in chunk) + max(len(q.suffix) for q in chunk) + 10
        assert len(chunk) <= 4 and (len(chunk) == 1 or len(chunk) * width <= 700)


def test_rows_stop_when_their_list_is_complete(tiny_llama_dir):
    decoder = HuggingFaceBackend(str(tiny_llama_dir), max_new_tokens=2).decoder
    tok = decoder.tokenizer
    done = tok('["Paris"]', add_special_tokens=False)["input_ids"]
    open_list = tok('["Par]is', add_special_tokens=False)["input_ids"]
    assert decoder._finished(done, 256)
    assert not decoder._finished(open_list, 256)
    assert decoder._finished([tok.eos_token_id], 256)
