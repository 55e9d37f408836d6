"""The teacher client against a local OpenAI-compatible server (the gold teacher).

Everything goes through the real ``openai`` client and real HTTP on 127.0.0.1; faults
(429, 500, timeouts, malformed answers) are injected by the server, retried by the client
and counted at its HTTP boundary.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest
import srsly

from spacy_uniner.cache import ResponseCache
from spacy_uniner.distill.gold_teacher import (
    GoldTeacher,
    GoldTeacherServer,
    load_annotations,
    load_definitions,
)
from spacy_uniner.distill.teacher import Teacher, TeacherConfig, teacher_messages
from spacy_uniner.distill.teacher_output import parse_teacher_output

from conftest import ROOT

EMBEDDED = ROOT / "assets" / "embedded"
SECRET = "sk-test-0123456789-never-on-disk"


@pytest.fixture(scope="module")
def annotations():
    return load_annotations(EMBEDDED / "pilener_sample.jsonl")


@pytest.fixture(scope="module")
def passages(annotations):
    return [{"id": f"p{i}", "text": text} for i, text in enumerate(annotations)]


def _config(base_url: str, **kwargs) -> TeacherConfig:
    defaults = dict(model="gold", base_url=base_url, timeout=5.0)
    return TeacherConfig(**(defaults | kwargs))


def test_prompts_are_the_papers():
    system, user = teacher_messages("Some text.")
    assert system == {"role": "system", "content": "You are a helpful information extraction system."}
    assert user["content"] == (
        "Given a passage, your task is to extract all entities and identify their entity types. "
        "The output should be in a list of tuples of the following format: "
        '[("entity 1", "type of entity 1"), ... ].\nPassage: Some text.'
    )
    definition = teacher_messages("Some text.", "definition")[1]["content"]
    assert definition.startswith(
        "Given a paragraph, your task is to extract all entities and concepts, and define their type "
        'using a short sentence. The output should be in the following format: [("entity", '
        '"definition of entity type in a short sentence"), ... ]'
    )
    with pytest.raises(ValueError, match="Unknown prompt variant"):
        teacher_messages("x", "types")


def test_missing_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("UNINER_TEST_NO_KEY", raising=False)
    with pytest.raises(ValueError, match="UNINER_TEST_NO_KEY"):
        Teacher(TeacherConfig(api_key_env="UNINER_TEST_NO_KEY"))


def test_round_trip_with_injected_faults(tmp_path, annotations, passages):
    faults = {"429": 0.15, "500": 0.1, "timeout": 0.03, "malformed": 0.05}
    gold = GoldTeacher(annotations, faults=faults, seed=3, timeout_delay=3.0)
    config = _config("", concurrency=8, timeout=1.5, max_retries=12)
    with GoldTeacherServer(gold) as server, ResponseCache(tmp_path / "cache.jsonl") as cache:
        config.base_url = server.base_url
        teacher = Teacher(config)
        summary = teacher.annotate(passages, cache, progress=False)
    served = dict(gold.stats)
    records = list(srsly.read_jsonl(tmp_path / "cache.jsonl"))

    # every passage kept exactly once; malformed answers kept with an error, and counted
    assert summary.failed == 0, summary.failures
    assert summary.requested == len(passages)
    assert sorted(r["text"] for r in records) == sorted(annotations)
    assert len({r["key"] for r in records}) == len(records) == len(passages)
    bad = [r for r in records if r["error"]]
    assert len(bad) == summary.malformed == len(gold.malformed_passages) > 0
    assert all(r["error"].startswith("unparseable") for r in bad)
    assert summary.kept == len(passages) - len(bad)
    for record in records:
        if not record["error"]:
            assert parse_teacher_output(record["response"]) == annotations[record["text"]]
    # every injected fault was retried by the client, and only those
    injected = {k: served.get(f"injected_{k}", 0) for k in ("429", "500", "timeout")}
    assert all(injected.values())
    assert summary.retry_reasons["429"] == injected["429"]
    assert summary.retry_reasons["500"] == injected["500"]
    # a loaded machine can add genuine client timeouts to the injected ones; the server
    # may never have received a request whose client gave up before it was read
    genuine = summary.retry_reasons["no_response"] - injected["timeout"]
    assert 0 <= genuine <= 10
    assert summary.retries == sum(summary.retry_reasons.values())
    assert summary.http_requests == len(passages) + summary.retries
    assert summary.http_requests - genuine <= served["requests"] <= summary.http_requests
    # the per-passage counts add up to the client's totals
    assert (teacher.http.counts["requests"], teacher.http.counts["retries"]) == (
        summary.http_requests,
        summary.retries,
    )
    assert summary.prompt_tokens > 0 and summary.completion_tokens > 0
    print(
        f"fault-injected run: {len(passages)} passages, {summary.http_requests} requests, "
        f"{summary.retries} retries {dict(summary.retry_reasons)}, {len(records)} records kept "
        f"({summary.kept} parsed, {summary.malformed} malformed with error), {summary.failed} failed"
    )


def test_resume_redoes_only_missing_and_budgets(tmp_path, annotations, passages):
    gold = GoldTeacher(annotations)
    with GoldTeacherServer(gold) as server:
        config = _config(server.base_url, max_passages=40)
        with ResponseCache(tmp_path / "cache.jsonl") as cache:
            first = Teacher(config).annotate(passages, cache, progress=False)
        assert (first.requested, first.not_started, first.budget_stop) == (
            40,
            len(passages) - 40,
            "max_passages=40",
        )

        config.max_passages = None
        config.max_total_tokens = 2000
        with ResponseCache(tmp_path / "cache.jsonl") as cache:
            second = Teacher(config).annotate(passages, cache, progress=False)
        assert second.cached == 40
        assert second.budget_stop == "max_total_tokens=2000"
        assert 0 < second.requested < len(passages) - 40
        # stops submitting once over budget; at most `concurrency` requests were in flight then
        assert second.prompt_tokens + second.completion_tokens >= 2000

        config.max_total_tokens = None
        with ResponseCache(tmp_path / "cache.jsonl") as cache:
            third = Teacher(config).annotate(passages + passages[-5:], cache, progress=False)
            records, missing = Teacher(config).collect(passages, cache)
        assert third.cached == 40 + second.requested
        assert third.repeated_passages == 5
        assert third.requested == len(passages) - third.cached
        assert gold.stats["requests"] == len(passages)
    assert missing == 0 and [r["id"] for r in records] == [p["id"] for p in passages]
    lines = (tmp_path / "cache.jsonl").read_text(encoding="utf8").splitlines()
    assert len(lines) == len({json.loads(line)["key"] for line in lines}) == len(passages)


def test_cache_key_covers_model_and_parameters(tmp_path, annotations, passages):
    gold = GoldTeacher(annotations)
    with GoldTeacherServer(gold) as server, ResponseCache(tmp_path / "cache.jsonl") as cache:
        Teacher(_config(server.base_url)).annotate(passages[:3], cache, progress=False)
        other_model = Teacher(_config(server.base_url, model="gold-2"))
        assert other_model.annotate(passages[:3], cache, progress=False).requested == 3
        other_params = Teacher(_config(server.base_url, max_tokens=512))
        assert other_params.annotate(passages[:3], cache, progress=False).requested == 3
        definition = Teacher(_config(server.base_url, variant="definition"))
        assert definition.key(passages[0]["text"]) != other_params.key(passages[0]["text"])
    assert len(cache) == 9


def test_torn_final_line_is_dropped(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_text('{"key": "a", "response": "[]"}\n{"key": "b", "resp', encoding="utf8")
    with pytest.warns(UserWarning, match=r"^\[W101\]"), ResponseCache(path) as cache:
        assert cache.torn_lines == 1 and len(cache) == 1
        cache.append({"key": "b", "response": "[]"})
        with pytest.raises(ValueError, match="already holds"):
            cache.append({"key": "b", "response": "[]"})
    assert [json.loads(line)["key"] for line in path.read_text().splitlines()] == ["a", "b"]
    path.write_text('{"key": "a"}\nnot json\n{"key": "b"}\n', encoding="utf8")
    with pytest.raises(ValueError, match=r"cache.jsonl:2: corrupt"):
        ResponseCache(path)


def test_permanent_errors_fail_without_retry(tmp_path, annotations):
    gold = GoldTeacher(annotations)
    rows = [{"id": "unknown", "text": "A passage the gold teacher never saw."}]
    with GoldTeacherServer(gold) as server, ResponseCache(tmp_path / "cache.jsonl") as cache:
        with pytest.warns(UserWarning, match=r"^\[W501\] Passage 'unknown' failed \(NotFoundError"):
            summary = Teacher(_config(server.base_url)).annotate(rows, cache, progress=False)
    assert (summary.failed, summary.retries, len(cache)) == (1, 0, 0)
    assert "NotFoundError" in summary.failures[0]["error"]


def test_definition_variant(tmp_path, annotations, passages):
    definitions = load_definitions(EMBEDDED / "pilener_definitions.json")
    gold = GoldTeacher(annotations, definitions=definitions)
    with GoldTeacherServer(gold) as server, ResponseCache(tmp_path / "cache.jsonl") as cache:
        Teacher(_config(server.base_url, variant="definition")).annotate(passages[:20], cache, progress=False)
    for record in cache.records.values():
        expected = [(m, definitions[t]) for m, t in annotations[record["text"]]]
        assert parse_teacher_output(record["response"]) == expected


def test_gold_teacher_answers_a_plain_openai_client(annotations):
    text, pairs = next(iter(annotations.items()))
    with GoldTeacherServer(GoldTeacher(annotations)) as server:
        client = openai.OpenAI(api_key="unused", base_url=server.base_url, max_retries=0)
        response = client.chat.completions.create(model="gold", messages=teacher_messages(text), temperature=0)
        assert parse_teacher_output(response.choices[0].message.content) == pairs
        # a chunk of a stored passage gets the pairs that fall inside it
        chunk = text[: len(text) // 2]
        response = client.chat.completions.create(model="gold", messages=teacher_messages(chunk))
        assert parse_teacher_output(response.choices[0].message.content) == [(m, t) for m, t in pairs if m in chunk]
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="gold", messages=[{"role": "user", "content": "hi"}])


def _cache_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_kill_and_resume(tmp_path, annotations, passages):
    """SIGKILL a running ``annotate`` mid-run, restart it: nothing lost, nothing twice."""
    srsly.write_jsonl(tmp_path / "passages.jsonl", passages)
    cache_path = tmp_path / "cache.jsonl"
    gold = GoldTeacher(annotations, delay=0.02)
    env = dict(os.environ, UNINER_TEST_KEY=SECRET)
    with GoldTeacherServer(gold) as server:
        cmd = [
            sys.executable, "-m", "spacy_uniner", "annotate",
            str(tmp_path / "passages.jsonl"), str(tmp_path / "out.jsonl"),
            "--cache", str(cache_path), "--base-url", server.base_url, "--model", "gold",
            "--api-key-env", "UNINER_TEST_KEY", "--concurrency", "4", "--no-progress",
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while _cache_lines(cache_path) < 60 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        killed_log = proc.communicate()[0].decode()
        assert proc.returncode == -signal.SIGKILL
        requests_before = gold.stats["requests"]
        with ResponseCache(cache_path) as cache:
            cached_at_kill = len(cache)
        assert 60 <= cached_at_kill < len(passages)
        assert not (tmp_path / "out.jsonl").exists()

        resumed = subprocess.run(
            cmd + ["--summary", str(tmp_path / "summary.json")], env=env, capture_output=True, text=True
        )
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        requests_after = gold.stats["requests"] - requests_before
    summary = srsly.read_json(tmp_path / "summary.json")
    assert summary["cached"] == cached_at_kill
    assert summary["requested"] == requests_after == len(passages) - cached_at_kill
    out = list(srsly.read_jsonl(tmp_path / "out.jsonl"))
    assert [r["id"] for r in out] == [p["id"] for p in passages]
    lines = cache_path.read_text(encoding="utf8").splitlines()
    assert len(lines) == len({json.loads(line)["key"] for line in lines}) == len(passages)
    for path in (cache_path, tmp_path / "out.jsonl", tmp_path / "summary.json"):
        assert SECRET not in path.read_text(encoding="utf8")
    assert SECRET not in killed_log + resumed.stdout + resumed.stderr
    print(
        f"kill-and-resume: {len(passages)} passages; killed with {cached_at_kill} cached after "
        f"{requests_before} requests; resume requested {requests_after}; "
        f"{len(lines)} cache lines, {len(out)} records, 0 duplicates"
    )
