"""The released checkpoints' LLaMA-1 folder layout and exact tokenization, offline.

The folder (``llama1_dir``) holds the real LLaMA sentencepiece ``tokenizer.model`` with a
``tokenizer_config.json`` naming ``LlamaTokenizer`` and no ``tokenizer.json``, as
``yahma/llama-7b-hf`` and ``Universal-NER/UniNER-7B-*`` ship it; only the weights are
random. The ids are read where the model receives them: a forward pre-hook on the
``transformers`` model.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import spacy
import srsly

from spacy_uniner import protocol
from spacy_uniner.backends.hf import HuggingFaceBackend
from spacy_uniner.training import TRAINING_RECORD, encode
from spacy_uniner.training.data import IGNORE_INDEX

from conftest import FIXTURES, ROOT, read_jsonl, target_runs

# Equalities here prove a mechanism; `exact_torch` pins what makes them exact on any CPU
# (fp32, one thread, deterministic algorithms).
pytestmark = pytest.mark.usefixtures("exact_torch")


@pytest.fixture(scope="module")
def reference_prompts(shared_dir):
    return [row["prompt"] for row in read_jsonl(FIXTURES / "uniner_prompts.jsonl")]


@pytest.fixture(scope="module")
def backend(llama1_dir):
    return HuggingFaceBackend(str(llama1_dir), torch_dtype="float32", device="cpu", max_new_tokens=1)


class ReceivedIds:
    """Records the unpadded rows of ``input_ids`` of every forward call of a model."""

    def __init__(self, model):
        self.calls: list[list[list[int]]] = []
        self.handle = model.register_forward_pre_hook(self._record, with_kwargs=True)

    def _record(self, module, args, kwargs):
        ids, mask = kwargs["input_ids"], kwargs.get("attention_mask")
        rows = []
        for i, row in enumerate(ids.tolist()):
            if mask is not None and mask.shape[1] == ids.shape[1]:
                row = [t for t, m in zip(row, mask[i].tolist()) if m]
            rows.append(row)
        self.calls.append(rows)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def split(prompt: str) -> tuple[str, str]:
    cut = prompt.index(protocol.TURN_END) + len(protocol.TURN_END)
    return prompt[:cut], prompt[cut:]


def test_folder_is_llama1_style_and_tokenizes_turn_ends_as_eos(llama1_dir, backend):
    assert (llama1_dir / "tokenizer.model").exists() and not (llama1_dir / "tokenizer.json").exists()
    assert srsly.read_json(llama1_dir / "tokenizer_config.json")["tokenizer_class"] == "LlamaTokenizer"
    tok = backend.tokenizer
    assert len(tok) == 32000 and tok.eos_token_id == 2 and tok.bos_token_id == 1
    # `</s>` inside the prompt text is the EOS token, not the characters < / s >
    assert tok(protocol.READ_ACK + protocol.TURN_END, add_special_tokens=False).input_ids[-1] == 2
    assert backend.stop_token_ids == [2]


def test_reference_ids_agree_with_the_slow_sentencepiece_tokenizer(llama1_dir, backend, reference_prompts):
    from transformers import LlamaTokenizer

    slow = LlamaTokenizer.from_pretrained(llama1_dir)
    for prompt in reference_prompts:
        assert backend.tokenizer(prompt).input_ids == slow(prompt).input_ids


@pytest.mark.parametrize("prefix_sharing", [True, False], ids=["shared-prefix", "per-query"])
def test_model_receives_the_reference_ids_for_every_fixture_prompt(backend, reference_prompts, prefix_sharing):
    """One prompt at a time, so every forward call belongs to one prompt: with one new token,
    the shared-prefix path runs prefix then question, the per-query path the whole prompt."""
    backend.prefix_sharing = prefix_sharing
    checked = 0
    for prompt in reference_prompts:
        with ReceivedIds(backend.model) as received:
            backend.generate([split(prompt)])
        ids = [t for call in received.calls for row in call for t in row]
        assert ids == backend.tokenizer(prompt).input_ids, prompt
        checked += 1
    assert checked == len(reference_prompts) == 127


def test_batched_per_query_rows_are_the_reference_ids(backend, reference_prompts):
    backend.prefix_sharing = False
    with ReceivedIds(backend.model) as received:
        backend.generate([split(p) for p in reference_prompts])
    rows = sorted(tuple(row) for call in received.calls for row in call)
    assert rows == sorted(tuple(backend.tokenizer(p).input_ids) for p in reference_prompts)


@pytest.mark.parametrize("prefix_sharing", [True, False])
def test_windows_are_cut_exactly_at_max_input_length_in_llama_tokens(llama1_dir, reference_prompts, prefix_sharing):
    texts = list(dict.fromkeys(row["text"] for row in read_jsonl(FIXTURES / "uniner_prompts.jsonl")))
    text = " ".join(texts[:4])
    nlp = spacy.blank("en")
    model = {"name": str(llama1_dir), "max_new_tokens": 1, "prefix_sharing": False, "device": "cpu"}
    ner = nlp.add_pipe("universal_ner", config={"labels": ["person"], "model": model, "window_overlap": 0})
    tok = ner.model.tokenizer
    length = len(tok(protocol.inference_prompt(text, "person")).input_ids)
    for limit, windows in ((length, 1), (length - 1, 2)):
        ner.max_input_length = limit
        with ReceivedIds(ner.model.model) as received:
            nlp(text)
        prompts = [row for call in received.calls for row in call]
        assert len(prompts) == windows, (limit, [len(p) for p in prompts])
        assert max(len(p) for p in prompts) <= limit
    # a prompt of exactly the limit is one window: the count is the model's, BOS included
    assert len(prompts[0]) + len(prompts[1]) > length


def test_training_masks_all_but_each_answer_and_its_eos(shared_dir, backend):
    tok = backend.tokenizer
    rows = read_jsonl(FIXTURES / "uniner_train_conversations.jsonl")
    assert len(rows) == 3
    for row in rows:
        encoded = encode(row["conversations"], tok)
        assert encoded.input_ids[0] == tok.bos_token_id and encoded.labels[0] == IGNORE_INDEX
        assert encoded.input_ids == tok(row["training_text"]).input_ids
        runs = target_runs(encoded)
        answers = [turn["value"] for turn in row["conversations"] if turn["from"] == "gpt"]
        assert [tok.decode(run).strip() for run in runs] == [f"{a}</s>" for a in answers]
        assert all(run[-1] == tok.eos_token_id for run in runs)
        assert all(tok.convert_ids_to_tokens(run[0]).startswith("▁") for run in runs)


@pytest.mark.filterwarnings("ignore:mtime may not be reliable")
def test_train_cli_fine_tunes_the_folder_and_the_component_loads_the_result(llama1_dir, tmp_path):
    records = [
        {"id": "p0", "conversations": protocol.conversation("Tim Cook lives in Tokyo.", [("person", ["Tim Cook"])])}
    ]
    srsly.write_jsonl(tmp_path / "train.jsonl", records)
    args = [
        "train",
        str(ROOT / "configs" / "train_tiny.yml"),
        str(tmp_path / "out"),
        "--train-file",
        str(tmp_path / "train.jsonl"),
        "--model.name_or_path",
        str(llama1_dir),
        "--training.max_steps",
        "2",
        "--training.use_cpu",
        "--training.disable_tqdm",
        "true",
        "--training.save_strategy",
        "no",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "spacy_uniner", *args], capture_output=True, text=True, timeout=600, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    record = srsly.read_json(tmp_path / "out" / TRAINING_RECORD)
    assert record["result"]["global_step"] == 2 and record["config"]["model"]["name_or_path"] == str(llama1_dir)
    nlp = spacy.blank("en")
    model = {"name": str(tmp_path / "out"), "max_new_tokens": 2}
    ner = nlp.add_pipe("universal_ner", config={"labels": ["person"], "model": model})
    nlp("Tim Cook lives in Tokyo.")
    assert len(ner.model.tokenizer) == 32000 and ner.stats["queries"] == 1


BLOCK_TOKENIZER_LIBS = """
import sys
sys.modules["sentencepiece"] = None
sys.modules["google.protobuf"] = None
import spacy
from spacy_uniner.training import load_config
from spacy_uniner.training.model import load_causal_lm
folder, config = sys.argv[1], sys.argv[2]
model = {"name": folder}
for name, load in [
    ("component", lambda: spacy.blank("en").add_pipe("universal_ner", config={"labels": ["x"], "model": model})),
    ("train", lambda: load_causal_lm(load_config(config, {"model.name_or_path": folder}).model, [], 0)),
]:
    try:
        load()
        print(name, "loaded")
    except ImportError as e:
        print(name, type(e).__name__, e)
"""


def test_missing_tokenizer_libraries_give_a_coded_error_naming_package_and_folder(llama1_dir):
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_TOKENIZER_LIBS, str(llama1_dir), str(ROOT / "configs" / "train_tiny.yml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith(("component", "train"))]
    assert len(lines) == 2, result.stdout + result.stderr
    for line in lines:
        assert "ImportError [E013]" in line and str(llama1_dir) in line
        assert "pip install" in line and ("protobuf" in line or "sentencepiece" in line)
