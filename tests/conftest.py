"""Shared fixtures: the reference protocol files, a tiny random-weight LLaMA and the shipped span student."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]  # the repository
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"
DATA = SHARED / "data"


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/NAME.py`` as a module (the scripts are not part of the package)."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.skip(f"shared data folder not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def tiny_llama_dir(shared_dir, tmp_path_factory) -> Path:
    """A ~100k-parameter LLaMA with random weights and a BPE tokenizer trained here."""
    from spacy_uniner.random_llama import build_tiny_model

    texts = [row["text"] for row in read_jsonl(FIXTURES / "uniner_prompts.jsonl")]
    texts += ["Barack Obama met Tim Cook in Cupertino.", "Zürich, 東京 and São Paulo."]
    return build_tiny_model(texts, tmp_path_factory.mktemp("tiny-llama"), vocab_size=600)


@pytest.fixture(scope="session")
def llama1_dir(shared_dir, tmp_path_factory) -> Path:
    """A LLaMA-1-style checkpoint folder: the released models' sentencepiece tokenizer
    (``tokenizer.model``, ``LlamaTokenizer``, no ``tokenizer.json``), random tiny weights."""
    from spacy_uniner.random_llama import build_llama1_folder

    tokenizer_model = FIXTURES / "llama_tokenizer" / "tokenizer.model"
    if not tokenizer_model.exists():
        pytest.skip(f"LLaMA tokenizer fixture not found at {tokenizer_model}")
    return build_llama1_folder(tmp_path_factory.mktemp("llama1"), tokenizer_model)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread: tiny models run fastest so, and the CPU cores are shared."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def shipped_student(one_torch_thread):
    """The shipped span student as a new user gets it: ``spacy.blank("en")`` plus
    ``add_pipe("universal_ner_span")``, no labels (each test asks its own)."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("universal_ner_span")
    return nlp


@pytest.fixture(scope="module")
def exact_torch(one_torch_thread):
    """What makes an equality of two computations exact on any CPU: fp32 models (the tiny
    test models are saved in fp32), one intra-op thread (no split-dependent reduction
    order) and deterministic algorithms. Tests that prove a mechanism by equality (batched
    equals one at a time, shared prefix equals per query, resumed equals uninterrupted)
    use it; learning tests assert margins instead."""
    import torch

    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(deterministic)


def target_runs(encoded) -> list[list[int]]:
    """The maximal runs of consecutive unmasked (trained) tokens of an encoded conversation."""
    from spacy_uniner.training.data import IGNORE_INDEX

    runs, current = [], []
    for token, label in zip(encoded.input_ids, encoded.labels):
        if label != IGNORE_INDEX:
            assert label == token
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    return runs + ([current] if current else [])


def span_module(seed: int, pretrained=None, max_width: int = 12):
    """A span student's torch module over the packaged encoder (fp32, frozen vocabulary), its
    heads seeded with ``seed``, from ``pretrained`` weights if given; and its ``base_vocab``."""
    import spacy
    import torch

    import spacy_uniner.pipes.span.component  # noqa: F401

    torch.manual_seed(seed)
    nlp = spacy.blank("en")
    model = {
        "@architectures": "spacy_uniner.SpanTypeMatcher.v1",
        "pretrained": pretrained,
        "freeze_vocab": True,
        "encoder_dtype": "float32",
        "max_width": max_width,
    }
    nlp.add_pipe("universal_ner_span", config={"labels": ["person"], "model": model})
    nlp.initialize()
    shim = nlp.get_pipe("universal_ner_span").model.shims[0]
    return shim._model, shim.cfg["base_vocab"]


def day_docs(nlp, n: int, *, source=None, label: str = "person", both: bool = False, types=None) -> list:
    """``n`` docs "Ann Lee met Bo Chen in Paris on day i .": Ann Lee (and, with ``both``, Bo
    Chen) a ``label``, Paris a ``city``; asked ``types`` (default: the label and ``city``),
    from pool ``source`` when given."""
    from spacy.tokens import Span

    from spacy_uniner.data.docs import LABELS_ATTR, SOURCE_KEY

    docs = []
    for i in range(n):
        doc = nlp.make_doc(f"Ann Lee met Bo Chen in Paris on day {i} .")
        people = [Span(doc, 0, 2, label=label)] + ([Span(doc, 3, 5, label=label)] if both else [])
        doc.ents = [*people, Span(doc, 6, 7, label="city")]
        doc._.set(LABELS_ATTR, list(types) if types is not None else [label, "city"])
        if source is not None:
            doc.user_data[SOURCE_KEY] = source
        docs.append(doc)
    return docs


def pool_folder(path, text: str, docs_by_source):
    """A pool folder whose ``train.spacy`` holds one doc of ``text`` per ``(source, [(label,
    token start, end), ...])``, each asked its labels; returns ``path``."""
    import spacy
    from spacy.tokens import Span

    from spacy_uniner.data.docs import LABELS_ATTR, SOURCE_KEY, to_docbin

    nlp = spacy.blank("en")
    docs = []
    for source, ents in docs_by_source:
        doc = nlp.make_doc(text)
        doc.ents = [Span(doc, s, e, label=label) for label, s, e in ents]
        doc._.set(LABELS_ATTR, [label for label, _, _ in ents])
        doc.user_data[SOURCE_KEY] = source
        docs.append(doc)
    path.mkdir()
    to_docbin(docs).to_disk(path / "train.spacy")
    return path
