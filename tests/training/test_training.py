"""Fine-tuning end to end on tiny models: learning, the saved folder, resume, LoRA, CLI."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
import srsly
from weasel.util import get_checksum

from spacy_uniner import protocol
from spacy_uniner.training import TRAINING_RECORD, load_config, train

from conftest import ROOT

PASSAGES = [
    (
        "Barack Obama visited Paris in 2015.",
        {"person": ["Barack Obama"], "city": ["Paris"], "date": ["2015"]},
    ),
    (
        "Angela Merkel met Emmanuel Macron in Berlin.",
        {"person": ["Angela Merkel", "Emmanuel Macron"], "city": ["Berlin"], "date": []},
    ),
    (
        "Tim Cook opened a store in Tokyo on Friday.",
        {"person": ["Tim Cook"], "city": ["Tokyo"], "date": ["Friday"]},
    ),
    ("Marie Curie moved to Warsaw.", {"person": ["Marie Curie"], "city": ["Warsaw"], "date": []}),
]
TINY_SHAPE = {"vocab_size": 300, "hidden_size": 64, "num_layers": 2, "num_heads": 4}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def train_file(tmp_path_factory) -> Path:
    records = [
        {"id": f"p{i}", "conversations": protocol.conversation(text, list(answers.items()))}
        for i, (text, answers) in enumerate(PASSAGES)
    ]
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    srsly.write_jsonl(path, records)
    return path


def tiny_config(train_file: Path, output_dir: Path, model=None, **training):
    overrides = {
        "data.train_file": str(train_file),
        "model.scratch": TINY_SHAPE,
        "training.output_dir": str(output_dir),
        "training.use_cpu": True,
        "training.disable_tqdm": True,
        "training.learning_rate": 3e-3,
        "training.lr_scheduler_type": "constant",
        "training.warmup_ratio": 0.0,
        "training.per_device_train_batch_size": 2,
        "training.save_strategy": "no",
        "training.seed": 7,
    }
    overrides.update({f"training.{k}": v for k, v in training.items()})
    overrides.update({f"model.{k}": v for k, v in (model or {}).items()})
    return load_config(ROOT / "configs" / "train_tiny.yml", overrides)


def state_dict(path: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path).state_dict()


class StopBelowLoss:
    """Ends training once the logged loss is below ``bound`` (the step cap still applies)."""

    def __new__(cls, bound: float):
        from transformers import TrainerCallback

        class _Stop(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs and logs.get("loss", float("inf")) < bound:
                    control.should_training_stop = True

        return _Stop()


def test_memorised_passages_are_tagged_by_the_component(train_file, tmp_path):
    """Real learning, with a margin that holds on any CPU: train until the loss is below a
    bound (at most 400 steps), then the saved folder, loaded by path in `universal_ner`,
    recalls the memorised mentions. No exact loss curve or step count is assumed."""
    import spacy

    out = train(
        tiny_config(train_file, tmp_path / "model", max_steps=400, logging_steps=5, per_device_train_batch_size=4),
        callbacks=[StopBelowLoss(0.01)],
    )
    losses = [e["loss"] for e in srsly.read_json(out / TRAINING_RECORD)["result"]["log_history"] if "loss" in e]
    assert min(losses) < 0.01, f"did not memorise within 400 steps: {losses[-5:]}"
    nlp = spacy.blank("en")
    nlp.add_pipe("universal_ner", config={"labels": ["person", "city", "date"], "model": {"name": str(out)}})
    expected, found = set(), set()
    for i, (text, answers) in enumerate(PASSAGES):
        doc = nlp(text)
        expected |= {(i, mention, label) for label, mentions in answers.items() for mention in mentions}
        found |= {(i, ent.text, ent.label_) for ent in doc.ents}
    assert len(found & expected) >= len(expected) - 1, (sorted(expected - found), sorted(found - expected))
    assert len(found - expected) <= 1


def test_output_folder_records_config_data_hash_and_versions(train_file, tmp_path):
    from transformers import AutoTokenizer, TrainerCallback

    class DataEpochs(TrainerCallback):
        seen: ClassVar[list] = []

        def on_step_begin(self, args, state, control, train_dataloader=None, **kwargs):
            self.seen.append(train_dataloader.dataset.epoch)

    # 4 conversations, 2 per step: the query order is reshuffled every 2 steps
    out = train(tiny_config(train_file, tmp_path / "model", max_steps=6), callbacks=[DataEpochs()])
    assert DataEpochs.seen == [0, 0, 1, 1, 2, 2]
    record = srsly.read_json(out / TRAINING_RECORD)
    assert record["data"]["md5"] == get_checksum(train_file)
    assert record["data"]["conversations"] == len(PASSAGES)
    assert record["data"]["turns"] == sum(len(a) + 1 for _, a in PASSAGES)
    assert record["seed"] == 7 and record["config"]["training"]["seed"] == 7
    assert record["config"]["model"]["scratch"]["hidden_size"] == TINY_SHAPE["hidden_size"]
    assert record["result"]["global_step"] == 6
    assert {"torch", "transformers", "spacy_uniner"} <= set(record["versions"])
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.eos_token == "</s>" and len(tokenizer) <= TINY_SHAPE["vocab_size"]


@pytest.mark.usefixtures("exact_torch")  # fp32, one thread, deterministic: torch.equal holds on any CPU
def test_resuming_from_a_checkpoint_reproduces_the_uninterrupted_run(train_file, tmp_path):
    import torch

    # 2 conversations per step, 2 steps per epoch: step 3 is mid-epoch, after one reshuffle
    settings = {"max_steps": 6, "save_strategy": "steps", "save_steps": 3, "save_total_limit": None}
    full = train(tiny_config(train_file, tmp_path / "full", **settings))
    resumed = train(
        tiny_config(train_file, tmp_path / "resumed", **settings),
        resume_from_checkpoint=full / "checkpoint-3",
    )
    assert srsly.read_json(resumed / TRAINING_RECORD)["result"]["global_step"] == 6
    a, b = state_dict(full), state_dict(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    start = state_dict(full / "checkpoint-3")
    assert not all(torch.equal(a[k], start[k]) for k in a)
    with pytest.raises(FileNotFoundError, match="No checkpoint-N folder"):
        train(tiny_config(train_file, tmp_path / "empty"), resume_from_checkpoint=True)


def test_lora_adapters_are_merged_into_a_plain_model_folder(train_file, tiny_llama_dir, tmp_path):
    import torch

    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}
    model = {"name_or_path": str(tiny_llama_dir), "lora": lora}
    config = tiny_config(train_file, tmp_path / "lora", model=model, max_steps=3, learning_rate=1e-2)
    out = train(config)
    assert (out / "adapter" / "adapter_config.json").exists()
    base, merged = state_dict(tiny_llama_dir), state_dict(out)
    assert merged.keys() == base.keys()  # no peft wrappers left
    changed = {k for k in base if not torch.equal(base[k], merged[k])}
    assert changed and all(("q_proj" in k or "v_proj" in k) for k in changed)
    assert "peft" in srsly.read_json(out / TRAINING_RECORD)["versions"]


@pytest.mark.filterwarnings("ignore:mtime may not be reliable")
def test_cli_trains_with_dotted_overrides(train_file, tmp_path):
    import typer
    from typer.testing import CliRunner

    from spacy_uniner.training.cli import register

    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    config = ROOT / "configs" / "train_tiny.yml"
    args = [
        "train",
        str(config),
        str(tmp_path / "cli"),
        "--train-file",
        str(train_file),
        "--training.max_steps",
        "2",
        "--training.use_cpu",
        "--training.disable_tqdm",
        "true",
        "--model.scratch.hidden_size",
        "32",
        "--model.scratch.vocab_size",
        "300",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    record = srsly.read_json(tmp_path / "cli" / TRAINING_RECORD)
    assert record["config"]["model"]["scratch"]["hidden_size"] == 32
    assert record["result"]["global_step"] == 2
    bad = CliRunner().invoke(app, args + ["--training.learning_rat", "1"])
    assert bad.exit_code == 1 and "training.learning_rat" in bad.output
