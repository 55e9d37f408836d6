"""The component's ``cache`` block (``spacy_uniner.DiskCache.v1``) around any backend.

With the Hugging Face backend on a tiny random-weight LLaMA here; with the OpenAI-compatible
backend on a fault-injecting server in ``tests/backends/test_openai_backend.py``.
"""

import pytest
import spacy
import srsly

from spacy_uniner import protocol
from spacy_uniner.cache import ANSWERS_FILE, DiskCache

from conftest import FIXTURES, read_jsonl

TEXTS = ["Barack Obama met Tim Cook in Cupertino.", "Zürich, 東京 and São Paulo."]
LABELS = ["person", "location"]


def make_nlp(model, cache=None, labels=LABELS):
    nlp = spacy.blank("en")
    config = {"labels": labels, "model": model}
    if cache is not None:
        config["cache"] = {"@uniner_caches": "spacy_uniner.DiskCache.v1", "path": str(cache)}
    nlp.add_pipe("universal_ner", config=config)
    return nlp


def hf_model(path, **settings):
    return {"@uniner_backends": "spacy_uniner.HuggingFace.v1", "name": str(path), "max_new_tokens": 8, **settings}


@pytest.fixture(scope="module")
def texts(shared_dir):
    rows = read_jsonl(FIXTURES / "uniner_prompts.jsonl")
    return list(dict.fromkeys(row["text"] for row in rows if row["text"]))[:4]


def run(nlp, texts):
    with pytest.warns(UserWarning, match=r"\[W001\]"):  # the random model's answers are no lists
        list(nlp.pipe(texts))
    return nlp.get_pipe("universal_ner")


@pytest.mark.usefixtures("exact_torch")
def test_hf_backend_answers_come_from_disk_on_the_second_run(tiny_llama_dir, texts, tmp_path):
    n_prompts = len(texts) * len(LABELS)
    first = run(make_nlp(hf_model(tiny_llama_dir), tmp_path), texts)
    assert first.cache.stats == {"hits": 0, "misses": n_prompts}
    records = list(srsly.read_jsonl(tmp_path / ANSWERS_FILE))
    assert len(records) == n_prompts and all(set(r) == {"key", "text"} for r in records)

    ner = run(make_nlp(hf_model(tiny_llama_dir), tmp_path), texts)
    assert ner.model.prompt_tokens == 0  # nothing reached the model
    assert ner.cache.stats == {"hits": n_prompts, "misses": 0}
    prompts = [(protocol.passage_prefix(text), protocol.query_suffix(label)) for text in texts for label in LABELS]
    fresh = ner.model.generate(prompts)
    assert ner.cache.generate(ner.model, prompts) == fresh and len(set(fresh)) > 1  # the model's raw answers
    assert ner.cache.stats["misses"] == 0

    # A new question is a miss; other backend settings are misses.
    ner = run(make_nlp(hf_model(tiny_llama_dir), tmp_path, labels=LABELS + ["organization"]), texts)
    assert ner.cache.stats == {"hits": n_prompts, "misses": len(texts)}
    ner = run(make_nlp(hf_model(tiny_llama_dir, torch_dtype="float32"), tmp_path), texts)
    assert ner.cache.stats == {"hits": 0, "misses": n_prompts}
    ner = run(make_nlp(hf_model(tiny_llama_dir, max_new_tokens=3), tmp_path), texts)
    assert ner.cache.stats == {"hits": 0, "misses": n_prompts}  # generation settings are in the key


def test_no_cache_by_default(tiny_llama_dir):
    assert make_nlp(hf_model(tiny_llama_dir)).get_pipe("universal_ner").cache is None


class Flaky:
    """A backend that answers the first ``ok`` prompts, then fails with what it got."""

    config = {"name": "flaky"}

    def __init__(self, ok):
        self.ok = ok
        self.asked = []

    def generate(self, prompts):
        self.asked.extend(prompts)
        if len(prompts) <= self.ok:
            return [f"[{prefix!r}]" for prefix, _ in prompts]
        error = RuntimeError("the server went away")
        error.answers = {i: f"[{prompts[i][0]!r}]" for i in range(self.ok)}
        raise error


def test_answers_a_backend_got_before_failing_are_kept(tmp_path):
    prompts = [(protocol.passage_prefix(text), protocol.query_suffix(label)) for text in TEXTS for label in LABELS]
    backend = Flaky(ok=3)
    with pytest.raises(RuntimeError, match="went away"):
        DiskCache(tmp_path).generate(backend, prompts)
    cache = DiskCache(tmp_path)
    backend.asked.clear()
    assert cache.generate(backend, prompts) == [f"[{prefix!r}]" for prefix, _ in prompts]
    assert backend.asked == prompts[3:]  # only the prompt that failed was asked again
    assert cache.stats == {"hits": 3, "misses": 1}
