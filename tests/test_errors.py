"""The error catalogue: coded messages, one template per code, one channel for warnings."""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path
from string import Formatter

import pytest
import srsly
from spacy.errors import filter_warning

from spacy_uniner import protocol
from spacy_uniner.cache import ResponseCache
from spacy_uniner.data.catalogue import load_catalogue, load_dataset, select
from spacy_uniner.distill.passages import chunk_bounds, read_documents
from spacy_uniner.distill.teacher import TeacherConfig, teacher_messages
from spacy_uniner.errors import Errors, Warnings
from spacy_uniner.training.config import load_config, parse_overrides
from spacy_uniner.training.data import read_conversations

PACKAGE = Path(__file__).resolve().parents[1] / "spacy_uniner"

CODED_EXCEPTIONS = {
    "ValueError",
    "TypeError",
    "KeyError",
    "FileNotFoundError",
    "OSError",
    "ImportError",
    "RuntimeError",
}


def entries():
    for cls, prefix in ((Errors, "E"), (Warnings, "W")):
        for code, raw in vars(cls).items():
            if not code.startswith("__"):
                yield cls, prefix, code, raw


def literal_text(template: str) -> str:
    """The template without its ``{...}`` fields, white space folded."""
    return " ".join("".join(text for text, *_ in Formatter().parse(template)).split())


def checked_modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        yield rel, ast.parse(path.read_text(encoding="utf8"))


def is_literal_message(node: ast.expr) -> bool:
    """A message written in place: a string, an f-string, or one formatted with % or .format."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return is_literal_message(node.left)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return is_literal_message(node.func.value)
    return False


def call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return f"{getattr(func.value, 'id', '')}.{func.attr}"
    return getattr(func, "id", "")


@pytest.mark.parametrize("cls,prefix,code,raw", list(entries()), ids=[e[2] for e in entries()])
def test_every_message_renders_with_its_own_code_once(cls, prefix, code, raw):
    assert re.fullmatch(rf"{prefix}\d{{3}}", code)
    assert isinstance(raw, str) and not re.search(r"\[[EW]\d{3}\]", raw), "code written by hand"
    rendered = getattr(cls, code)
    assert rendered == f"[{code}] {raw}" and rendered.count(code) == 1


def test_no_two_codes_share_a_template():
    seen: dict[str, str] = {}
    shared = []
    for _, _, code, raw in entries():
        text = literal_text(raw).lower()
        if text in seen:
            shared.append(f"{seen[text]} and {code}: {raw!r}")
        seen.setdefault(text, code)
    assert not shared, "\n".join(shared)


def test_raised_messages_come_from_the_catalogue():
    uncoded = []
    for rel, tree in checked_modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                name = call_name(node.exc).rpartition(".")[2]
                if name in CODED_EXCEPTIONS and is_literal_message(node.exc.args[0]):
                    uncoded.append(f"{rel}:{node.lineno}: raise {name}")
    assert not uncoded, "\n".join(uncoded)


def test_warnings_are_coded_and_go_through_warnings_warn():
    wrong = []
    for rel, tree in checked_modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = call_name(node)
            if name.endswith((".warning", ".warn")) and name.split(".")[0] in ("logger", "logging"):
                wrong.append(f"{rel}:{node.lineno}: {name} (use warnings.warn)")
            elif name == "warnings.warn" and node.args and is_literal_message(node.args[0]):
                wrong.append(f"{rel}:{node.lineno}: uncoded warnings.warn")
    assert not wrong, "\n".join(wrong)


def test_missing_files_name_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^\[E701\] Config file not found: .*configs/train_tiny"):
        load_config(tmp_path / "nope.yml")
    with pytest.raises(FileNotFoundError, match=r"^\[E711\] Training data not found: .*build-data"):
        read_conversations(tmp_path / "nope.json")
    with pytest.raises(FileNotFoundError, match=r"^\[E805\]"):
        load_catalogue(tmp_path / "datasets.yml")
    with pytest.raises(FileNotFoundError, match=r"^\[E514\] Corpus file not found"):
        list(read_documents([tmp_path / "corpus.jsonl"]))


def test_unknown_datasets_are_coded_value_errors(tmp_path):
    path = tmp_path / "datasets.yml"
    entry = {"domain": "general", "format": "conll", "splits": {"test": ["t.txt"]}, "tags": ["toy"]}
    srsly.write_yaml(path, {"datasets": {"tiny": entry}})
    catalogue = load_catalogue(path)
    with pytest.raises(ValueError, match=r"^\[E808\] Unknown dataset 'nope'; the catalogue has: tiny"):
        load_dataset("nope", catalogue=catalogue)
    with pytest.raises(ValueError, match=r"^\[E801\] Dataset 'tiny' has no split 'dev'; it has: test"):
        load_dataset("tiny", "dev", catalogue=catalogue)
    with pytest.raises(ValueError, match=r"^\[E807\] .*'nope'.*tags toy"):
        select(["nope"], catalogue)
    with pytest.raises(FileNotFoundError, match=r"^\[E809\] tiny/test: missing .*weasel run fetch-data"):
        load_dataset("tiny", data_dir=tmp_path, catalogue=catalogue)


def test_config_and_input_errors_carry_codes(tmp_path):
    with pytest.raises(ValueError, match=r"^\[E707\]"):
        parse_overrides(["training.learning_rate", "1e-4"])
    path = tmp_path / "train.yml"
    srsly.write_yaml(path, {"training": {"output_dir": str(tmp_path)}, "modle": {}})
    with pytest.raises(ValueError, match=r"^\[E710\] Unknown setting\(s\) modle\. Did you mean model\?"):
        load_config(path)
    with pytest.raises(ValueError, match=r"^\[E008\] `max_tokens` must be a positive integer, got 0"):
        chunk_bounds("a b", [(0, 1), (2, 3)], 0)
    with pytest.raises(ValueError, match=r"^\[E501\] Unknown prompt variant 'nope'"):
        teacher_messages("text", "nope")
    with pytest.raises(ValueError, match=r"^\[E008\] `max_retries` must be an integer >= 0"):
        TeacherConfig(max_retries=-1)
    with pytest.raises(ValueError, match=r"^\[E014\] Conversation turn 0 is from 'gpt'"):
        protocol.training_segments([{"from": "gpt", "value": "[]"}])


def test_warnings_are_spacy_filterable(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_text('{"key": "a", "text": "x"}\n{"key": "b", "te', encoding="utf8")
    with pytest.warns(UserWarning, match=r"^\[W101\] .*torn final line"):
        ResponseCache(path).close()
    path.write_text(path.read_text(encoding="utf8") + '{"key": "c", "te', encoding="utf8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        filter_warning("ignore", error_msg="[W101]")
        ResponseCache(path).close()
