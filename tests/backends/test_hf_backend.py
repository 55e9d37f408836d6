"""End to end through the Hugging Face backend with a tiny random-weight LLaMA."""

import json
import subprocess
import sys

import pytest
import spacy

from spacy_uniner import protocol
from spacy_uniner.answers import parse_answer
from spacy_uniner.backends.hf import HuggingFaceBackend

from conftest import FIXTURES, read_jsonl

TYPES = ["person", "organization", "location"]

# Equalities here prove a mechanism; `exact_torch` pins what makes them exact on any CPU
# (fp32, one thread, deterministic algorithms).
pytestmark = pytest.mark.usefixtures("exact_torch")


@pytest.fixture(scope="module")
def passages(shared_dir):
    rows = read_jsonl(FIXTURES / "uniner_prompts.jsonl")
    return list(dict.fromkeys(row["text"] for row in rows if row["text"]))[:12]


def backend(path, **kwargs):
    return HuggingFaceBackend(str(path), max_new_tokens=kwargs.pop("max_new_tokens", 10), **kwargs)


def test_batched_generation_equals_one_prompt_at_a_time(tiny_llama_dir, passages):
    prompts = [(protocol.passage_prefix(p), protocol.query_suffix(t)) for p in passages for t in TYPES]
    batched = backend(tiny_llama_dir, batch_size=7).generate(prompts)
    single = backend(tiny_llama_dir, batch_size=1)
    sequential = [single.generate([prompt])[0] for prompt in prompts]
    assert batched == sequential
    assert len(set(batched)) > 1  # the random model does say different things


def test_prompts_are_tokenized_like_the_reference(tiny_llama_dir):
    """The model sees exactly the fixture prompt: no truncation, stop tokens include </s>."""
    model = backend(tiny_llama_dir)
    prompt = read_jsonl(FIXTURES / "uniner_prompts.jsonl")[0]["prompt"]
    ids = model.tokenizer(prompt)["input_ids"]
    assert model.tokenizer.decode(ids) == prompt
    assert model.tokenizer.convert_tokens_to_ids("</s>") in model.stop_token_ids


def test_component_end_to_end_matches_backend(tiny_llama_dir, passages):
    nlp = spacy.blank("en")
    config = {"labels": TYPES, "model": {"name": str(tiny_llama_dir), "max_new_tokens": 10, "batch_size": 5}}
    ner = nlp.add_pipe("universal_ner", config=config)
    docs = list(nlp.pipe(passages, batch_size=4))
    assert ner.stats["queries"] == len(passages) * len(TYPES)
    direct = backend(tiny_llama_dir, batch_size=1)
    for doc in docs:
        raw = direct.generate([(protocol.passage_prefix(doc.text), protocol.query_suffix(t)) for t in TYPES])
        assert doc._.uniner_answers == {t: parse_answer(r).mentions for t, r in zip(TYPES, raw)}
        assert all(span.label_ in TYPES for span in doc.spans["uniner"])


def test_long_document_is_windowed_within_max_input_length(tiny_llama_dir, passages):
    nlp = spacy.blank("en")
    config = {
        "labels": ["person"],
        "max_input_length": 160,
        "window_overlap": 10,
        "model": {"name": str(tiny_llama_dir), "max_new_tokens": 4},
    }
    ner = nlp.add_pipe("universal_ner", config=config)
    text = " ".join(passages)
    model = ner.model
    assert model.count_tokens([protocol.inference_prompt(text, "person")])[0] > 160
    seen = []
    original = model.generate
    model.generate = lambda prompts: seen.extend(prompts) or original(prompts)
    nlp(text)
    lengths = [len(model.tokenizer(p + s)["input_ids"]) for p, s in seen]
    assert len(seen) > 1 and max(lengths) <= 160


def test_bad_model_path_names_the_problem(tmp_path):
    nlp = spacy.blank("en")
    with pytest.raises(OSError, match="E009"):
        nlp.add_pipe("universal_ner", config={"labels": ["x"], "model": {"name": str(tmp_path / "missing")}})


def test_bad_backend_settings_are_rejected(tiny_llama_dir):
    with pytest.raises(ValueError, match="E010"):
        HuggingFaceBackend(str(tiny_llama_dir), torch_dtype="float8")
    with pytest.raises(ValueError, match="E008"):
        HuggingFaceBackend(str(tiny_llama_dir), batch_size=0)


def test_to_disk_and_spacy_load_in_new_process(tiny_llama_dir, passages, tmp_path):
    nlp = spacy.blank("en")
    config = {"labels": {"PER": "person"}, "model": {"name": str(tiny_llama_dir), "max_new_tokens": 8}}
    ner = nlp.add_pipe("universal_ner", config=config)
    ner.set_labels({"PER": "person", "ORG": "organization"})
    nlp.to_disk(tmp_path / "pipeline")
    assert not list((tmp_path / "pipeline").rglob("*.safetensors"))  # weights are referenced
    expected = [nlp(text)._.uniner_answers for text in passages[:3]]
    script = (
        "import json, sys, spacy\n"
        "nlp = spacy.load(sys.argv[1])\n"
        "ner = nlp.get_pipe('universal_ner')\n"
        "texts = json.loads(sys.argv[2])\n"
        "print(json.dumps({'labels': ner.labels, 'model': nlp.config['components']['universal_ner']['model'],"
        " 'answers': [nlp(t)._.uniner_answers for t in texts]}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "pipeline"), json.dumps(passages[:3])],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded["labels"] == {"PER": "person", "ORG": "organization"}
    assert loaded["model"]["name"] == str(tiny_llama_dir)
    assert loaded["model"]["max_new_tokens"] == 8
    assert loaded["answers"] == expected
