"""Training data: reference loss masking, truncation, per-epoch query order, config loading."""

from __future__ import annotations

import os
from unittest import mock

import pytest
import srsly

from spacy_uniner import protocol
from spacy_uniner.training import (
    ConversationDataset,
    PaddingCollator,
    encode,
    load_config,
    read_conversations,
)
from spacy_uniner.training.config import apply_effective_batch_size, parse_overrides
from spacy_uniner.training.data import IGNORE_INDEX

from conftest import FIXTURES, ROOT, read_jsonl, target_runs

CONFIGS = ROOT / "configs"


@pytest.fixture(scope="module")
def fixture_rows(shared_dir):
    return read_jsonl(FIXTURES / "uniner_train_conversations.jsonl")


@pytest.fixture(scope="module")
def llama_tokenizer(tiny_llama_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_llama_dir)


@pytest.fixture(scope="module")
def sentencepiece_style_tokenizer(fixture_rows):
    """LLaMA-like: metaspace pieces (``▁word``), BOS prepended, ``</s>`` as EOS."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>", "<s>", "</s>"])
    tok.train_from_iterator([r["training_text"] for r in fixture_rows], trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


@pytest.fixture(scope="module")
def qwen_style_tokenizer(fixture_rows):
    """Qwen2-like: byte-level BPE whose EOS is ``<|endoftext|>``; ``</s>`` is plain text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([r["training_text"] for r in fixture_rows], trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def masked_text(encoded, tokenizer) -> str:
    kept = [t for t, label in zip(encoded.input_ids, encoded.labels) if label == IGNORE_INDEX]
    return tokenizer.decode(kept, skip_special_tokens=True)


def test_unmasked_tokens_are_exactly_the_assistant_turns(fixture_rows, llama_tokenizer):
    tok = llama_tokenizer
    for row in fixture_rows:
        encoded = encode(row["conversations"], tok)
        assert tok.decode(encoded.input_ids) == row["training_text"]
        answers = [turn["value"] for turn in row["conversations"] if turn["from"] == "gpt"]
        assert answers[0] == protocol.READ_ACK
        decoded = [tok.decode(run) for run in target_runs(encoded)]
        assert decoded == [f" {a}</s>" for a in answers]
        for run in target_runs(encoded):
            assert run[-1] == tok.eos_token_id
        prompt = masked_text(encoded, tok)
        assert prompt.startswith(protocol.SYSTEM + " USER: " + row["conversations"][0]["value"])
        assert prompt.count("ASSISTANT:") == len(answers)
        assert not any(a in prompt for a in answers if a != "[]")
        assert encoded.straddling == 0 and encoded.turns == len(answers)


def test_sentencepiece_style_tokenizer_masks_bos_and_keeps_answer_pieces(fixture_rows, sentencepiece_style_tokenizer):
    tok = sentencepiece_style_tokenizer
    for row in fixture_rows:
        encoded = encode(row["conversations"], tok)
        assert encoded.input_ids[0] == tok.bos_token_id and encoded.labels[0] == IGNORE_INDEX
        answers = [turn["value"] for turn in row["conversations"] if turn["from"] == "gpt"]
        decoded = [tok.decode(run).lstrip() for run in target_runs(encoded)]
        assert decoded == [f"{a}</s>" for a in answers]
        # the space before each answer is inside its first piece, as with LLaMA's "▁["
        firsts = tok.convert_ids_to_tokens([run[0] for run in target_runs(encoded)])
        assert all(piece.startswith("▁") for piece in firsts)


def test_turn_end_becomes_eos_for_tokenizers_without_a_special_closing_tag(fixture_rows, qwen_style_tokenizer):
    tok = qwen_style_tokenizer
    assert tok.convert_tokens_to_ids("</s>") is None
    for row in fixture_rows:
        encoded = encode(row["conversations"], tok)
        answers = [turn["value"] for turn in row["conversations"] if turn["from"] == "gpt"]
        runs = target_runs(encoded)
        assert [tok.decode(run) for run in runs] == [f" {a}<|endoftext|>" for a in answers]
        assert encoded.input_ids.count(tok.eos_token_id) == len(answers)
        assert "</s>" not in tok.decode(encoded.input_ids)


def test_truncation_drops_whole_trailing_turns(fixture_rows, llama_tokenizer):
    tok = llama_tokenizer
    row = max(fixture_rows, key=lambda r: len(r["conversations"]))
    full = encode(row["conversations"], tok)
    answers = [turn["value"] for turn in row["conversations"] if turn["from"] == "gpt"]
    ends = [i for i, t in enumerate(full.input_ids) if t == tok.eos_token_id]
    assert len(ends) == len(answers) >= 3
    for max_length in range(ends[0] + 1, len(full.input_ids) + 1):
        encoded = encode(row["conversations"], tok, max_length=max_length)
        assert len(encoded.input_ids) <= max_length
        assert encoded.input_ids[-1] == tok.eos_token_id
        kept = sum(end < max_length for end in ends)
        assert encoded.turns == kept and encoded.turns_dropped == len(answers) - kept
        assert [tok.decode(run) for run in target_runs(encoded)] == [f" {a}</s>" for a in answers[:kept]]
    assert encode(row["conversations"], tok, max_length=ends[0]) is None


def test_dataset_drops_conversations_whose_first_answer_does_not_fit(fixture_rows, llama_tokenizer):
    records = [{"id": "short", "conversations": protocol.conversation("Paris.", [("city", ["Paris"])])}]
    records += [{"id": "long", "conversations": row["conversations"]} for row in fixture_rows]
    first_end = encode(records[0]["conversations"], llama_tokenizer).input_ids.index(llama_tokenizer.eos_token_id)
    with pytest.warns(UserWarning) as caught:
        dataset = ConversationDataset(records, llama_tokenizer, max_length=first_end + 1, progress=False)
    messages = [str(w.message) for w in caught]
    assert any(m.startswith(f"[W701] Dropped {len(fixture_rows)} of {len(records)} conversations") for m in messages)
    assert any(m.startswith("[W702] 1 conversations exceed max_length") for m in messages)  # the short one
    assert len(dataset) == 1 and dataset.stats["too_long"] == len(fixture_rows)
    assert dataset.stats["turns"] == 1 and dataset.stats["turns_dropped"] == 1
    with pytest.raises(ValueError, match="No training conversation fits"):
        with pytest.warns(UserWarning):
            ConversationDataset(records, llama_tokenizer, max_length=2, progress=False)


def test_query_order_is_reshuffled_per_epoch_and_reproducible(llama_tokenizer):
    turns = [(f"type {i}", [f"mention {i}"]) for i in range(8)]
    records = [{"id": "a", "conversations": protocol.conversation("A passage.", turns)}]
    dataset = ConversationDataset(records, llama_tokenizer, seed=3, progress=False)

    def answers_at(epoch):
        dataset.set_epoch(epoch)
        item = dataset[0]
        encoded = type("E", (), {"input_ids": item["input_ids"], "labels": item["labels"]})
        return [llama_tokenizer.decode(run) for run in target_runs(encoded)]

    orders = [answers_at(epoch) for epoch in range(4)]
    assert all(order[0] == f" {protocol.READ_ACK}</s>" for order in orders)
    assert all(sorted(order) == sorted(orders[0]) for order in orders)
    assert len({tuple(order) for order in orders}) > 1
    assert answers_at(2) == orders[2]
    unshuffled = ConversationDataset(records, llama_tokenizer, shuffle=False, progress=False)
    unshuffled.set_epoch(1)
    assert unshuffled[0]["input_ids"] == encode(records[0]["conversations"], llama_tokenizer).input_ids


def test_collator_pads_right_and_masks_padding():
    import torch

    batch = PaddingCollator(pad_token_id=0)(
        [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [8]}]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert PaddingCollator(0, pad_to_multiple_of=8)([{"input_ids": [1], "labels": [1]}])[
        "input_ids"
    ].shape == torch.Size([1, 8])


def test_read_conversations_json_and_jsonl_and_names_bad_records(tmp_path):
    record = {"id": "x1", "conversations": protocol.conversation("Paris.", [("city", ["Paris"])])}
    srsly.write_json(tmp_path / "train.json", [record])
    srsly.write_jsonl(tmp_path / "train.jsonl", [record])
    assert read_conversations(tmp_path / "train.json") == read_conversations(tmp_path / "train.jsonl") == [record]
    bad = {"id": "x2", "conversations": record["conversations"][:3]}
    srsly.write_jsonl(tmp_path / "odd.jsonl", [record, bad])
    with pytest.raises(ValueError, match=r"record 1 \(id 'x2'\).*end with a gpt turn"):
        read_conversations(tmp_path / "odd.jsonl")
    swapped = {
        "id": "x3",
        "conversations": record["conversations"][1:] + record["conversations"][:1],
    }
    srsly.write_jsonl(tmp_path / "swapped.jsonl", [swapped])
    with pytest.raises(ValueError, match="id 'x3'.*turn 0 is from 'gpt'"):
        read_conversations(tmp_path / "swapped.jsonl")
    srsly.write_jsonl(tmp_path / "flat.jsonl", [{"text": "Paris."}])
    with pytest.raises(ValueError, match="non-empty 'conversations' list"):
        read_conversations(tmp_path / "flat.jsonl")
    with pytest.raises(FileNotFoundError):
        read_conversations(tmp_path / "missing.json")


def test_config_overrides_are_typed_and_unknown_keys_rejected(tmp_path):
    overrides = parse_overrides(
        [
            "--training.learning_rate",
            "1e-4",
            "--training.output_dir=out",
            "--model.lora.r",
            "8",
            "--model.name_or_path",
            "base",
            "--data.max-length",
            "512",
            "--training.use_cpu",
        ]
    )
    config = load_config(CONFIGS / "train_tiny.yml", overrides)
    assert config.training.learning_rate == 1e-4 and isinstance(config.training.learning_rate, float)
    assert config.training.output_dir == "out" and config.training.use_cpu is True
    assert config.model.lora.r == 8 and config.model.lora.alpha == 32
    assert config.data.max_length == 512
    with pytest.raises(ValueError, match=r"Unknown setting\(s\) data.max_len\b"):
        load_config(CONFIGS / "train_tiny.yml", {"data.max_len": 10})
    with pytest.raises(ValueError, match="training.num_train_epochs: expected float, got 'many'"):
        load_config(CONFIGS / "train_tiny.yml", {"training.num_train_epochs": "many"})
    with pytest.raises(ValueError, match="model.lora needs a pretrained base"):
        load_config(CONFIGS / "train_tiny.yml", {"model.lora.r": 8})
    with pytest.raises(ValueError, match="output_dir is not set"):
        load_config(None, {"data.train_file": "x.json"})
    with pytest.raises(ValueError, match="overrides look like"):
        parse_overrides(["learning_rate=3"])


def test_paper_config_and_effective_batch():
    # TrainingArguments exports FSDP settings to the environment: keep them out of other tests
    with mock.patch.dict(os.environ):
        config = load_config(CONFIGS / "train_paper_7b.yml", {"training.use_cpu": True})
    args = config.training
    assert (args.num_train_epochs, args.learning_rate, args.warmup_ratio, args.weight_decay) == (
        3,
        2e-5,
        0.04,
        0.0,
    )
    assert args.lr_scheduler_type.value == "cosine" and args.bf16
    assert config.data.max_length == 1024 and config.effective_batch_size == 256
    assert args.fsdp_config["transformer_layer_cls_to_wrap"] == ["LlamaDecoderLayer"]
    assert args.fsdp_config["activation_checkpointing"] and [o.value for o in args.fsdp] == [
        "full_shard",
        "auto_wrap",
    ]
    apply_effective_batch_size(args, 256)  # one CPU process here; 8 GPUs under torchrun
    assert args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size == 256
    with pytest.raises(ValueError, match="not a multiple"):
        apply_effective_batch_size(args, 255)
